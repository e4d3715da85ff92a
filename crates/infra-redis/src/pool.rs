//! The deadpool manager: pooled objects are redis-rs *multiplexed* connections.
//!
//! deadpool-redis' own managers send `UNWATCH` + `PING` on every checkout (one extra round
//! trip per pooled operation), and its cluster and sentinel managers take neither TLS
//! certificates nor connect/response timeouts. This manager uses deadpool's generic core
//! (the engine deadpool-redis is built on) with:
//!
//! - `create`: connect (TLS, `AUTH`/`HELLO`, `SELECT` happen inside redis-rs) under the
//!   configured connect and response timeouts; for sentinel mode, ask the sentinels for the
//!   current primary first, so a replacement connection follows a failover;
//! - `recycle`: no I/O at all: a connection is refused when it was marked broken (an
//!   unrecoverable error, a `READONLY` reply, a discarded exclusive holder), so the pool
//!   replaces it with a fresh one on the next checkout.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Instant;

use deadpool::managed::{self, Metrics, RecycleError, RecycleResult};
use infra_base::REDIS_BACKEND;
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::sentinel::SentinelClient;
use redis::{AsyncConnectionConfig, Cmd, Pipeline, RedisError, RedisFuture, Value};
use tokio::sync::{Mutex, Notify};

use crate::config::Target;
use crate::error::map_redis_error;

/// A connection of any mode; cloning is cheap and clones share the underlying socket(s).
#[derive(Clone)]
pub(crate) enum Conn {
    /// Standalone or sentinel-discovered primary.
    Single(MultiplexedConnection),
    /// Redis Cluster (one multiplexed connection per node, routed by redis-rs).
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(conn) => conn.req_packed_command(cmd),
            Conn::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(conn) => conn.req_packed_commands(cmd, offset, count),
            Conn::Cluster(conn) => conn.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(conn) => conn.get_db(),
            Conn::Cluster(conn) => conn.get_db(),
        }
    }
}

/// What the pool holds: a connection and its shared state.
pub(crate) struct Pooled {
    pub(crate) conn: Conn,
    pub(crate) state: Arc<ConnState>,
}

impl fmt::Debug for Pooled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pooled")
            .field("broken", &self.state.is_broken())
            .finish_non_exhaustive()
    }
}

/// State shared by a pooled connection and every in-flight command using it.
#[derive(Debug, Default)]
pub(crate) struct ConnState {
    broken: AtomicBool,
    /// Set while a connection probe (after a cancelled call) is in flight: one at a time.
    probing: AtomicBool,
    /// Who uses the connection: any number of port calls, or one exclusive holder.
    /// Bit 0 is the exclusive claim; the rest counts shared users in steps of [`SHARED`].
    lane: AtomicUsize,
    /// Woken when the last shared user leaves a claimed connection.
    drained: Notify,
}

const EXCLUSIVE: usize = 1;
const SHARED: usize = 2;

impl ConnState {
    pub(crate) fn is_broken(&self) -> bool {
        self.broken.load(Ordering::Relaxed)
    }

    /// Marks the connection for replacement; returns whether it was healthy until now.
    ///
    /// Counts the replacement in
    /// [`SHARED_CONNECTION_REPLACEMENTS`](infra_base::telemetry::SHARED_CONNECTION_REPLACEMENTS).
    pub(crate) fn mark_broken(&self) -> bool {
        let was_healthy = !self.broken.swap(true, Ordering::Relaxed);
        if was_healthy {
            metrics::counter!(
                infra_base::telemetry::SHARED_CONNECTION_REPLACEMENTS,
                infra_base::telemetry::labels::DB_SYSTEM => infra_base::REDIS_BACKEND,
            )
            .increment(1);
        }
        was_healthy
    }

    /// Claims the right to probe the connection; `false` when a probe is already running.
    pub(crate) fn start_probe(&self) -> bool {
        !self.probing.swap(true, Ordering::Acquire)
    }

    /// Ends the probe claimed by [`start_probe`](Self::start_probe).
    pub(crate) fn end_probe(&self) {
        self.probing.store(false, Ordering::Release);
    }

    /// Registers a port call on the connection; `None` when an exclusive holder has claimed
    /// it. Two atomic operations in all (this and the guard's drop).
    pub(crate) fn try_share(self: &Arc<Self>) -> Option<ShareGuard> {
        let previous = self.lane.fetch_add(SHARED, Ordering::AcqRel);
        let guard = ShareGuard(Arc::clone(self));
        (previous & EXCLUSIVE == 0).then_some(guard)
    }

    /// Claims the connection for one holder and waits until the port calls still using it
    /// (clones taken before it came back to the pool) have finished. Cancelling the wait
    /// releases the claim.
    pub(crate) async fn claim(self: &Arc<Self>) -> ClaimGuard {
        let previous = self.lane.fetch_or(EXCLUSIVE, Ordering::AcqRel);
        debug_assert_eq!(
            previous & EXCLUSIVE,
            0,
            "one claim at a time per connection"
        );
        let guard = ClaimGuard(Arc::clone(self));
        loop {
            let drained = self.drained.notified();
            tokio::pin!(drained);
            drained.as_mut().enable();
            if self.lane.load(Ordering::Acquire) == EXCLUSIVE {
                return guard;
            }
            drained.await;
        }
    }
}

/// A port call's registration on a connection (see [`ConnState::try_share`]).
#[derive(Debug)]
pub(crate) struct ShareGuard(Arc<ConnState>);

impl ShareGuard {
    pub(crate) fn state(&self) -> &Arc<ConnState> {
        &self.0
    }
}

impl Drop for ShareGuard {
    fn drop(&mut self) {
        let previous = self.0.lane.fetch_sub(SHARED, Ordering::AcqRel);
        if previous == SHARED | EXCLUSIVE {
            // The last port call left a claimed connection: wake its holder.
            self.0.drained.notify_one();
        }
    }
}

/// An exclusive holder's claim on a connection (see [`ConnState::claim`]).
#[derive(Debug)]
pub(crate) struct ClaimGuard(Arc<ConnState>);

impl Drop for ClaimGuard {
    fn drop(&mut self) {
        self.0.lane.fetch_and(!EXCLUSIVE, Ordering::AcqRel);
    }
}

enum Source {
    Standalone(redis::Client),
    Cluster(ClusterClient),
    /// `SentinelClient` needs `&mut` to look the primary up; creations are serialized.
    Sentinel(Mutex<SentinelClient>),
}

/// Creates and recycles [`Pooled`] connections for one deployment.
pub(crate) struct Manager {
    source: Source,
    config: AsyncConnectionConfig,
    endpoint: Arc<str>,
    /// Whether the last connection attempt succeeded, so that an outage logs one warning
    /// (and its end one info line) instead of one per attempt.
    reachable: AtomicBool,
}

impl fmt::Debug for Manager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Manager")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl Manager {
    pub(crate) fn new(target: Target, config: AsyncConnectionConfig, endpoint: Arc<str>) -> Self {
        let source = match target {
            Target::Standalone(client) => Source::Standalone(client),
            Target::Cluster(client) => Source::Cluster(client),
            Target::Sentinel(client) => Source::Sentinel(Mutex::new(client)),
        };
        Self {
            source,
            config,
            endpoint,
            reachable: AtomicBool::new(true),
        }
    }

    async fn connect(&self) -> Result<Conn, RedisError> {
        match &self.source {
            Source::Standalone(client) => client
                .get_multiplexed_async_connection_with_config(&self.config)
                .await
                .map(Conn::Single),
            Source::Cluster(client) => client.get_async_connection().await.map(Conn::Cluster),
            Source::Sentinel(client) => client
                .lock()
                .await
                .get_async_connection_with_config(&self.config)
                .await
                .map(Conn::Single),
        }
    }
}

impl managed::Manager for Manager {
    type Type = Pooled;
    type Error = RedisError;

    async fn create(&self) -> Result<Pooled, RedisError> {
        let started = Instant::now();
        let result = self.connect().await;
        let latency_ms = started.elapsed().as_secs_f64() * 1e3;
        match &result {
            Ok(_) => {
                if self.reachable.swap(true, Ordering::Relaxed) {
                    tracing::debug!(
                        backend = REDIS_BACKEND,
                        operation = "connect",
                        endpoint = %self.endpoint,
                        latency_ms,
                        "redis connection opened"
                    );
                } else {
                    tracing::info!(
                        backend = REDIS_BACKEND,
                        operation = "connect",
                        endpoint = %self.endpoint,
                        latency_ms,
                        "redis reachable again"
                    );
                }
            }
            Err(err) => {
                let mapped = map_redis_error(err.clone(), "connect");
                if self.reachable.swap(false, Ordering::Relaxed) {
                    tracing::warn!(
                        backend = REDIS_BACKEND,
                        operation = "connect",
                        endpoint = %self.endpoint,
                        kind = %mapped.kind(),
                        latency_ms,
                        error = %mapped.chain(),
                        "redis connection failed"
                    );
                } else {
                    tracing::debug!(
                        backend = REDIS_BACKEND,
                        operation = "connect",
                        endpoint = %self.endpoint,
                        kind = %mapped.kind(),
                        latency_ms,
                        error = %mapped.chain(),
                        "redis connection failed again"
                    );
                }
            }
        }
        result.map(|conn| Pooled {
            conn,
            state: Arc::default(),
        })
    }

    async fn recycle(&self, obj: &mut Pooled, _: &Metrics) -> RecycleResult<RedisError> {
        // No round trip: multiplexed connections are checked by the commands that use them.
        if obj.state.is_broken() {
            Err(RecycleError::message("connection marked broken"))
        } else {
            Ok(())
        }
    }
}

/// A clone of a pooled connection kept for port calls.
#[derive(Clone)]
pub(crate) struct Hot {
    pub(crate) conn: Conn,
    pub(crate) state: Arc<ConnState>,
}

/// Clones of pooled connections that port calls use without a pool checkout, while the
/// connection is healthy and no exclusive holder has claimed it.
///
/// The pooled object itself stays idle in the pool; these clones share its socket.
pub(crate) struct HotSlots {
    slots: Box<[RwLock<Option<Hot>>]>,
    next: AtomicUsize,
}

impl HotSlots {
    pub(crate) fn new(count: usize) -> Self {
        Self {
            slots: (0..count.max(1)).map(|_| RwLock::new(None)).collect(),
            next: AtomicUsize::new(0),
        }
    }

    /// The slot for the next call (round robin when there are several).
    pub(crate) fn pick(&self) -> usize {
        if self.slots.len() > 1 {
            self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len()
        } else {
            0
        }
    }

    /// The fast path: a clone of the slot's connection, registered as a shared use.
    pub(crate) fn lease(&self, slot: usize) -> Option<(Conn, ShareGuard)> {
        let hot = self.slots[slot]
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let hot = hot.as_ref()?;
        if hot.state.is_broken() {
            return None;
        }
        let share = hot.state.try_share()?;
        Some((hot.conn.clone(), share))
    }

    pub(crate) fn store(&self, slot: usize, hot: Hot) {
        *self.slots[slot]
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(hot);
    }

    /// Drops the clones of one connection, so that discarding it closes its socket now.
    pub(crate) fn forget(&self, state: &Arc<ConnState>) {
        for slot in &self.slots {
            let mut slot = slot.write().unwrap_or_else(PoisonError::into_inner);
            if slot
                .as_ref()
                .is_some_and(|hot| Arc::ptr_eq(&hot.state, state))
            {
                *slot = None;
            }
        }
    }

    /// Drops every clone.
    pub(crate) fn clear(&self) {
        for slot in &self.slots {
            *slot.write().unwrap_or_else(PoisonError::into_inner) = None;
        }
    }
}

/// The pool type.
pub(crate) type Pool = managed::Pool<Manager>;
/// A checked-out pooled connection.
pub(crate) type Object = managed::Object<Manager>;

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_claim_waits_for_shared_users_and_excludes_new_ones() {
        let state = Arc::new(ConnState::default());
        let first = state.try_share().expect("free connection");
        let second = state.try_share().expect("shared by many");
        let claim = tokio::spawn({
            let state = Arc::clone(&state);
            async move { state.claim().await }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(!claim.is_finished(), "the claim waits for shared users");
        assert!(
            state.try_share().is_none(),
            "no new shared use once claimed"
        );
        drop(first);
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(!claim.is_finished());
        drop(second);
        let guard = tokio::time::timeout(Duration::from_secs(1), claim)
            .await
            .expect("the last shared user wakes the claim")
            .unwrap();
        assert!(state.try_share().is_none());
        drop(guard);
        assert!(state.try_share().is_some(), "released claim");
    }

    #[tokio::test]
    async fn a_cancelled_claim_is_released() {
        let state = Arc::new(ConnState::default());
        let share = state.try_share().unwrap();
        let waited = tokio::time::timeout(Duration::from_millis(5), state.claim()).await;
        assert!(waited.is_err());
        drop(share);
        assert!(state.try_share().is_some());
        let _claim = state.claim().await;
    }

    #[test]
    fn broken_is_reported_once() {
        let state = ConnState::default();
        assert!(!state.is_broken());
        assert!(state.mark_broken());
        assert!(!state.mark_broken());
        assert!(state.is_broken());
    }
}
