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
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use deadpool::managed::{self, Metrics, RecycleError, RecycleResult};
use infra_base::REDIS_BACKEND;
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::sentinel::SentinelClient;
use redis::{AsyncConnectionConfig, Cmd, Pipeline, RedisError, RedisFuture, Value};
use tokio::sync::Mutex;

use crate::config::Target;
use crate::error::map_redis_error;
use crate::shared::ConnState;

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

/// The pool type.
pub(crate) type Pool = managed::Pool<Manager>;
/// A checked-out pooled connection.
pub(crate) type Object = managed::Object<Manager>;
