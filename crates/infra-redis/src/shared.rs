//! The shared-connection machinery: how port calls share pooled multiplexed connections
//! with each other and with exclusive holders, and how a connection that can no longer be
//! trusted is replaced.
//!
//! # Invariants
//!
//! 1. **A port call never holds a pool checkout.** It *leases* a clone of a pooled
//!    multiplexed connection ([`SharedConnections::lease`]): from a hot slot
//!    ([`HotSlots`], no checkout) while that connection is healthy and unclaimed, else from
//!    one checkout that is returned at once and becomes the hot connection. The pool's size
//!    bounds sockets, not concurrent calls.
//! 2. **One lane owner at a time.** Each pooled connection has one [`ConnState`] whose
//!    `lane` word says who may use it: any number of port calls ([`ShareGuard`]s) or one
//!    exclusive holder ([`ClaimGuard`]), never both. A claim stops new shares at once and
//!    waits until the existing ones have finished, so a `MULTI`/`EXEC` on an exclusive
//!    connection never interleaves with a port call's command.
//! 3. **A connection marked broken is never handed out again.** [`ConnState::mark_broken`]
//!    is one-way; the hot slots forget the connection (its socket closes with the last
//!    clone) and the pool's recycle step refuses it, so the next checkout opens a
//!    replacement. It is marked after an unrecoverable error, a `READONLY` reply (a
//!    failover), a command timeout, a failed probe, or a discarded exclusive holder.
//! 4. **A cancelled call cannot shift replies.** A [`Lease`] dropped with its command in
//!    flight sends `PING <nonce>` on the same connection ([`probe`]) and marks it broken
//!    unless exactly the nonce comes back within the command timeout: if a request was
//!    lost on the way, every later reply would otherwise answer an earlier request. At most
//!    one probe per connection runs at a time, and it holds a share like a port call.
//! 5. **No timer of our own.** Every wait of a port call is bounded by redis-rs (response
//!    timeout) or deadpool (wait and create timeouts, the latter capped at the command
//!    timeout for port calls), so a call arms no extra timer.
//! 6. **Closing is final.** After [`SharedConnections::close`] no lease succeeds: the hot
//!    slots are cleared, and a checkout racing the close clears the slot it filled.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use deadpool::managed::Timeouts;
use infra_base::{ErrorKind, InfraError, InfraResult, REDIS_BACKEND};
use redis::{Cmd, FromRedisValue, RedisError, Value};
use tokio::sync::Notify;

use crate::error::{Failure, call_failed as failed};
use crate::pool::{Conn, Pool};

/// The pool, the hot slots and the closed flag: everything a port call needs to get a
/// connection (see the module docs for the invariants).
pub(crate) struct SharedConnections {
    pool: Pool,
    /// Connections port calls use without a pool checkout.
    hot: Arc<HotSlots>,
    closed: AtomicBool,
    /// The pool's timeouts for a port call's checkout: opening a connection is bounded by
    /// the command timeout too (invariant 5).
    port_checkout: Timeouts,
}

impl SharedConnections {
    /// `hot_slots` clones are kept for port calls (at least one).
    pub(crate) fn new(pool: Pool, hot_slots: usize, port_checkout: Timeouts) -> Self {
        Self {
            pool,
            hot: Arc::new(HotSlots::new(hot_slots)),
            closed: AtomicBool::new(false),
            port_checkout,
        }
    }

    /// The pool, for exclusive checkouts, start-up and its status.
    pub(crate) fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The hot slots, which an exclusive holder clears of a connection it discards.
    pub(crate) fn hot(&self) -> &Arc<HotSlots> {
        &self.hot
    }

    /// Closes the pool and drops the hot clones; returns whether this call closed it.
    pub(crate) fn close(&self) -> bool {
        if self.closed.swap(true, Ordering::Relaxed) {
            return false;
        }
        self.pool.close();
        self.hot.clear();
        true
    }

    /// A shared use of a pooled connection (see [`Lease`]).
    ///
    /// Fast path: a clone of a pooled connection kept in a hot slot, used while it is healthy
    /// and no exclusive holder has claimed it. No pool checkout,
    /// so a port call costs a clone and two atomic operations on top of redis-rs itself.
    /// Slow path (first use, broken connection, connection taken by an exclusive holder):
    /// a pool checkout, which may wait for a connection (up to the wait timeout, then
    /// `PoolExhausted`) or open one, and whose connection becomes the slot's new hot
    /// connection. Opening is bounded by the command timeout as well as the create
    /// timeout, like the command that follows (redis-rs's response timeout): every stage of
    /// a port call has its deadline in redis-rs or deadpool, with no timer of the adapter's
    /// own, and the resilience policy needs none either ([`build`](crate::build)).
    pub(crate) async fn lease(&self, operation: &'static str) -> InfraResult<Lease> {
        match self.hot_lease() {
            Ok(lease) => Ok(lease),
            // Boxed: deadpool's checkout future is ~10 KiB; inlined, it would make every
            // port call's future that large, and moving it (into async_trait's box) would
            // cost more than the command itself.
            Err(slot) => Box::pin(self.cold_lease(operation, slot)).await,
        }
    }

    /// The fast path of [`lease`](Self::lease), without a future: a lease on the hot
    /// connection of the slot this call picked, or that slot (to fill by a checkout) when
    /// it holds no usable connection or the connections are closed.
    fn hot_lease(&self) -> Result<Lease, usize> {
        let slot = self.hot.pick();
        if !self.closed.load(Ordering::Relaxed)
            && let Some((conn, share)) = self.hot.lease(slot)
        {
            return Ok(Lease::new(conn, share));
        }
        Err(slot)
    }

    async fn cold_lease(&self, operation: &'static str, slot: usize) -> InfraResult<Lease> {
        let object = self
            .pool
            .timeout_get(&self.port_checkout)
            .await
            .map_err(|err| failed(operation, Failure::Pool(err)))?;
        // Never claimed: an exclusive holder keeps its object checked out, so it cannot be
        // the one just handed to us.
        let share = object.state.try_share().ok_or_else(|| {
            InfraError::new(
                ErrorKind::Internal,
                REDIS_BACKEND,
                operation,
                "a pooled connection was claimed twice",
            )
        })?;
        let hot = Hot {
            conn: object.conn.clone(),
            state: Arc::clone(&object.state),
        };
        // `object` goes back to the pool now, while the lease keeps using the connection.
        drop(object);
        self.hot.store(slot, hot.clone());
        if self.closed.load(Ordering::Relaxed) {
            self.hot.clear();
        }
        Ok(Lease::new(hot.conn, share))
    }

    /// Sends one command on a shared connection and converts its reply.
    pub(crate) async fn query<T: FromRedisValue>(
        &self,
        operation: &'static str,
        cmd: &Cmd,
    ) -> InfraResult<T> {
        // The hot path inline: awaiting `lease` would add a state machine to every call.
        let mut lease = match self.hot_lease() {
            Ok(lease) => lease,
            Err(slot) => Box::pin(self.cold_lease(operation, slot)).await?,
        };
        lease.in_flight = true;
        let result = cmd.query_async(&mut lease.conn).await;
        lease.in_flight = false;
        result.map_err(|err| self.command_failed(operation, lease.share.state(), err))
    }

    /// Maps a command's error, and marks its connection for replacement when the error
    /// says the connection is unusable (closed, protocol error, `READONLY` after failover).
    pub(crate) fn command_failed(
        &self,
        operation: &'static str,
        state: &Arc<ConnState>,
        err: RedisError,
    ) -> InfraError {
        if discard_after(&err) || err.is_timeout() {
            self.discard(state, operation);
        }
        failed(operation, Failure::Redis(err))
    }

    /// Marks a shared connection for replacement (once) and stops handing it out.
    fn discard(&self, state: &Arc<ConnState>, operation: &'static str) {
        if state.mark_broken() {
            self.hot.forget(state);
            tracing::debug!(
                backend = REDIS_BACKEND,
                operation,
                "redis connection marked broken; the pool will replace it"
            );
        }
    }
}

/// A shared use of a pooled connection: a clone of its handle, and a registration that
/// keeps exclusive holders off it until the command is done.
///
/// A lease dropped while its command is in flight (the call's future was cancelled: a
/// timeout around it, a client that went away) probes the connection, see [`probe`].
pub(crate) struct Lease {
    pub(crate) conn: Conn,
    pub(crate) share: ShareGuard,
    /// Set while a command sent on `conn` awaits its reply.
    pub(crate) in_flight: bool,
}

impl Lease {
    fn new(conn: Conn, share: ShareGuard) -> Self {
        Self {
            conn,
            share,
            in_flight: false,
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if self.in_flight {
            probe(self.conn.clone(), Arc::clone(self.share.state()));
        }
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

/// Checks, after a call was cancelled mid-command, that the connection still pairs every
/// reply with its request; marks it broken otherwise.
///
/// redis-rs matches replies to requests in the order it sent them, and discards the reply
/// of a request whose caller went away: on a working socket a cancelled call is harmless.
/// But when a request is lost on the way (a proxy or middlebox that swallowed it while the
/// network misbehaved), its reply never comes, and every later reply on that socket goes
/// to an earlier request: later calls time out forever, or get another command's reply.
/// The probe sends `PING <nonce>` on the same connection (in a task: the caller is gone)
/// and expects the nonce back within the command timeout (the connection's response
/// timeout); anything else (a timeout, another reply, an error) marks the connection
/// broken, so that the pool replaces it. A call that fails with a timeout marks its
/// connection directly ([`RedisAdapter::command_failed`]).
fn probe(mut conn: Conn, state: Arc<ConnState>) {
    static NONCE: AtomicU64 = AtomicU64::new(0);
    if state.is_broken() || !state.start_probe() {
        // Already condemned, or a probe of an earlier cancellation is running and will
        // catch a shifted reply just as well.
        return;
    }
    // The probe is a port call like any other: it keeps exclusive holders (MULTI/EXEC)
    // off the connection until its reply is in. The cancelled lease still holds its own
    // share here, so a claim cannot have completed; one may have started, and then the
    // connection is not trusted rather than probed under it.
    let (Some(share), Ok(runtime)) = (state.try_share(), tokio::runtime::Handle::try_current())
    else {
        // Claimed meanwhile, or no runtime to probe on (a call dropped during shutdown).
        state.mark_broken();
        state.end_probe();
        return;
    };
    let nonce = format!(
        "infra-redis-probe-{}",
        NONCE.fetch_add(1, Ordering::Relaxed)
    );
    runtime.spawn(async move {
        let reply: Result<Value, RedisError> =
            redis::cmd("PING").arg(&nonce).query_async(&mut conn).await;
        let echoed = reply.is_ok_and(|value| echoes(&value, &nonce));
        if !echoed && state.mark_broken() {
            tracing::debug!(
                backend = REDIS_BACKEND,
                operation = "probe",
                "a cancelled call left the redis connection without a matching reply; \
                 marked broken, the pool will replace it"
            );
        }
        drop(share);
        state.end_probe();
    });
}

/// Whether `value` is the reply to `PING nonce`: the nonce, or (should a cluster route it
/// to several nodes and return every reply) a list of nothing but the nonce.
fn echoes(value: &Value, nonce: &str) -> bool {
    match value {
        Value::BulkString(bytes) => bytes.as_slice() == nonce.as_bytes(),
        Value::SimpleString(text) => text == nonce,
        Value::Array(items) => !items.is_empty() && items.iter().all(|v| echoes(v, nonce)),
        _ => false,
    }
}

/// Whether a command error means the connection must be replaced.
fn discard_after(err: &RedisError) -> bool {
    err.is_unrecoverable_error()
        || err.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::ReadOnly)
}

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

    #[test]
    fn only_the_nonce_itself_is_a_probe_reply() {
        let nonce = "infra-redis-probe-7";
        let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        assert!(echoes(&bulk(nonce), nonce));
        assert!(echoes(&Value::SimpleString(nonce.to_owned()), nonce));
        assert!(echoes(&Value::Array(vec![bulk(nonce), bulk(nonce)]), nonce));
        // Another command's reply, shifted onto the probe: not trusted.
        assert!(!echoes(&bulk("infra-redis-probe-6"), nonce));
        assert!(!echoes(&bulk("value-1"), nonce));
        assert!(!echoes(&Value::SimpleString("PONG".to_owned()), nonce));
        assert!(!echoes(&Value::Okay, nonce));
        assert!(!echoes(&Value::Nil, nonce));
        assert!(!echoes(&Value::Array(vec![]), nonce));
        assert!(!echoes(&Value::Array(vec![bulk(nonce), Value::Nil]), nonce));
    }
}
