//! [`RedisAdapter`]: construction, the pool's status and exclusive connections. How port
//! calls share connections is [`crate::shared`]'s business; the [`RedisPort`] and
//! [`Lifecycle`] impls are in [`port`].

mod port;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use deadpool::managed::Timeouts;
use infra_base::{ErrorKind, InfraError, InfraResult, REDIS_BACKEND};
#[cfg(doc)]
use infra_base::{Lifecycle, RedisPort};
use infra_config::{RedisMode, RedisSettings};
use redis::{Script, Value};

use crate::command::INCR_WITH_TTL;
use crate::config::{self, ClientPlan};
use crate::error::{Failure, call_failed as failed};
use crate::exclusive::{ConnectionFuture, ExclusiveConnection};
use crate::pool::{Manager, Pool};
use crate::pubsub::PubSub;
use crate::shared::SharedConnections;

/// How many pooled connections port calls use without a checkout. One multiplexed
/// connection carries the traffic of many tasks (redis-rs batches their requests into few
/// writes); more only add sockets and smaller batches.
const HOT_SLOTS: usize = 1;

/// The production [`RedisPort`]: a bounded deadpool pool of redis-rs multiplexed
/// connections, in standalone, cluster or sentinel mode, with TLS and timeouts from
/// [`RedisSettings`].
///
/// # How connections are used
///
/// - **Port calls share connections.** A call sends its command on a clone of a pooled
///   multiplexed connection; many calls are in flight on one socket at once (redis-rs
///   pipelines them and matches replies in its driver task), so the pool's `max_size` bounds
///   the number of sockets, not the number of concurrent calls. The clone comes from a
///   *hot* connection the adapter keeps, without a pool checkout, as long as that
///   connection is healthy and no exclusive holder has claimed it; otherwise the call checks
///   a connection out of the pool (opening one if needed, waiting at most
///   `pool.wait_timeout`), clones it, returns it at once, and that connection becomes the
///   hot one. The pool's recycle step does no I/O: a connection that failed (closed, protocol
///   error, `READONLY` after a failover) is marked and replaced on the next checkout.
/// - **Exclusive holders get a socket of their own.** [`exclusive`](Self::exclusive) and
///   [`with_connection`](Self::with_connection) keep one pooled connection checked out
///   until released; no port call uses it meanwhile. At most `pool.max_size` holders exist
///   at once; one more waits up to `pool.wait_timeout` and then fails with
///   [`ErrorKind::PoolExhausted`]. A holder that gets the hot connection first waits for the
///   port calls already in flight on it (at most the command timeout); port calls then move
///   to another pooled connection. When every connection is held, port calls fail with
///   `PoolExhausted` too.
///
/// # Subscriptions
///
/// The adapter is also a [`RedisSubscriber`](infra_base::RedisSubscriber): each
/// subscription gets a connection of its own (never a pooled one, never the shared one),
/// and a task that reconnects and subscribes again after a loss, with the settings' retry
/// backoff. Subscriptions do not count against `pool.max_size`. See `docs/pubsub.md` for
/// the delivery contract, and [`crate::build`]'s `subscriber()`.
///
/// # Cancellation safety
///
/// Dropping a port call's future (or timing it out) never desynchronizes a connection:
/// redis-rs sends each request as one message to the connection's driver task, which writes
/// it and matches every reply to its request in order; a reply whose caller went away is
/// discarded by the driver (`aio/multiplexed_connection.rs`: `Pipeline::send_recv`,
/// `PipelineSink::send_result`). An [`ExclusiveConnection`] dropped while a command is in
/// flight, after an I/O error or timeout, or inside `MULTI`/`WATCH` is closed instead of
/// going back to the pool.
///
/// # Timeouts
///
/// Every wait is bounded by a setting: the pool checkout (`pool.wait_timeout`), opening a
/// connection (`connect_timeout`, and `pool.create_timeout` for the whole handshake), and
/// each command's reply (`command_timeout`).
///
/// Cloning is cheap; clones share the pool.
#[derive(Clone)]
pub struct RedisAdapter {
    shared: Arc<Shared>,
}

struct Shared {
    /// The pool and the hot connections port calls use.
    conns: SharedConnections,
    mode: RedisMode,
    endpoint: Arc<str>,
    tls: bool,
    max_size: usize,
    wait_timeout: Duration,
    command_timeout: Duration,
    incr_with_ttl: Script,
    /// Subscriptions: their own connections, closed with the adapter.
    pubsub: Arc<PubSub>,
}

impl fmt::Debug for RedisAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = self.shared.conns.pool().status();
        f.debug_struct("RedisAdapter")
            .field("mode", &self.shared.mode)
            .field("endpoint", &self.shared.endpoint)
            .field("tls", &self.shared.tls)
            .field("pool_size", &status.size)
            .field("pool_max_size", &status.max_size)
            .finish_non_exhaustive()
    }
}

/// The state of the pool, for metrics and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStatus {
    /// The most connections the pool opens.
    pub max_size: usize,
    /// Connections currently open (idle or in use).
    pub size: usize,
    /// Idle connections ready for a checkout.
    pub available: usize,
    /// Callers waiting for a connection.
    pub waiting: usize,
}

impl PoolStatus {
    /// Connections open and not idle.
    pub fn in_use(&self) -> usize {
        self.size.saturating_sub(self.available)
    }
}

impl RedisAdapter {
    /// Builds the adapter from validated settings: parses the URLs, reads the TLS files and
    /// creates the pool. It does not connect; call [`Lifecycle::init`] to connect and verify,
    /// or let the first call connect.
    ///
    /// # Errors
    ///
    /// `NotConfigured` when Redis is disabled; `InvalidInput` when a URL cannot be used or
    /// a TLS file cannot be read or holds no PEM data.
    pub fn from_settings(settings: &RedisSettings) -> InfraResult<Self> {
        let plan = config::plan(settings)?;
        Self::from_plan(plan)
    }

    fn from_plan(plan: ClientPlan) -> InfraResult<Self> {
        let ClientPlan {
            mode,
            endpoint,
            tls,
            target,
            pubsub,
            retry_base_delay,
            retry_max_delay,
            connection,
            pool,
            connect_timeout,
            command_timeout,
            ..
        } = plan;
        let endpoint: Arc<str> = endpoint.into();
        let pubsub = Arc::new(PubSub::new(
            pubsub,
            Arc::clone(&endpoint),
            connect_timeout,
            command_timeout,
            retry_base_delay,
            retry_max_delay,
        ));
        let manager = Manager::new(target, connection, Arc::clone(&endpoint));
        let built = Pool::builder(manager)
            .max_size(pool.max_size)
            .timeouts(pool.timeouts)
            .runtime(deadpool::Runtime::Tokio1)
            // The most recently returned connection is reused first: port calls concentrate
            // on few sockets, so redis-rs batches more requests per write.
            .queue_mode(deadpool::managed::QueueMode::Lifo)
            .build()
            .map_err(|err| {
                InfraError::new(
                    ErrorKind::Internal,
                    REDIS_BACKEND,
                    "build",
                    "the connection pool cannot be built",
                )
                .with_source(err)
            })?;
        Ok(Self {
            shared: Arc::new(Shared {
                conns: SharedConnections::new(
                    built,
                    HOT_SLOTS.min(pool.max_size),
                    Timeouts {
                        create: pool.timeouts.create.map(|t| t.min(command_timeout)),
                        ..pool.timeouts
                    },
                ),
                mode,
                endpoint,
                tls,
                max_size: pool.max_size,
                wait_timeout: pool.wait_timeout(),
                command_timeout,
                incr_with_ttl: Script::new(INCR_WITH_TTL),
                pubsub,
            }),
        })
    }

    /// What the adapter's subscriptions share.
    pub(crate) fn pubsub(&self) -> &Arc<PubSub> {
        &self.shared.pubsub
    }

    /// The deployment mode.
    pub fn mode(&self) -> RedisMode {
        self.shared.mode
    }

    /// Refuses `SCAN` inside a pipeline on a cluster: a pipeline goes to one node, and
    /// the cluster's `SCAN` walks every primary in turn (see `command`), one call each.
    pub(crate) fn refuse_cluster_scan_in_pipeline(
        &self,
        command: &infra_base::redis::Command,
        operation: &'static str,
    ) -> infra_base::InfraResult<()> {
        if self.shared.mode == RedisMode::Cluster && command.name() == "SCAN" {
            return Err(infra_base::InfraError::new(
                infra_base::ErrorKind::InvalidInput,
                infra_base::REDIS_BACKEND,
                operation,
                "SCAN is not allowed in a pipeline on a Redis Cluster (a pipeline goes to one \
                 node): send it with RedisPort::command, which walks every primary",
            ));
        }
        Ok(())
    }

    /// Where the adapter connects (`host:port`, or the cluster seeds / sentinels), without
    /// credentials: safe to log.
    pub fn endpoint(&self) -> &str {
        &self.shared.endpoint
    }

    /// The pool's size and use.
    pub fn pool_status(&self) -> PoolStatus {
        let status = self.shared.conns.pool().status();
        PoolStatus {
            max_size: status.max_size,
            size: status.size,
            available: status.available,
            waiting: status.waiting,
        }
    }

    /// Samples the pool's use into the pool gauges
    /// ([`POOL_CONNECTIONS`](infra_base::telemetry::POOL_CONNECTIONS) by state,
    /// [`POOL_MAX`](infra_base::telemetry::POOL_MAX),
    /// [`POOL_PENDING`](infra_base::telemetry::POOL_PENDING)): at every health check and
    /// exclusive checkout.
    fn record_pool_metrics(&self) -> PoolStatus {
        use infra_base::telemetry::{POOL_CONNECTIONS, POOL_MAX, POOL_PENDING, labels};
        let pool = self.pool_status();
        let gauge = |value: usize| f64::from(u32::try_from(value).unwrap_or(u32::MAX));
        metrics::gauge!(POOL_CONNECTIONS, labels::DB_SYSTEM => REDIS_BACKEND, labels::STATE => "idle")
            .set(gauge(pool.available));
        metrics::gauge!(POOL_CONNECTIONS, labels::DB_SYSTEM => REDIS_BACKEND, labels::STATE => "used")
            .set(gauge(pool.in_use()));
        metrics::gauge!(POOL_MAX, labels::DB_SYSTEM => REDIS_BACKEND).set(gauge(pool.max_size));
        metrics::gauge!(POOL_PENDING, labels::DB_SYSTEM => REDIS_BACKEND).set(gauge(pool.waiting));
        pool
    }

    /// Checks a connection out of the pool for this caller alone, until the returned
    /// [`ExclusiveConnection`] is dropped.
    ///
    /// Use it for what needs a socket of its own: `MULTI`/`EXEC` sent as separate commands,
    /// `WATCH`, blocking commands (`BLPOP`), or a sequence that must not interleave with
    /// other callers on the same socket. Plain commands are better sent through the
    /// [`RedisPort`] methods, which share connections. The connection implements
    /// [`redis::aio::ConnectionLike`], so every redis-rs command works on it; turn its errors
    /// into [`InfraError`]s with [`map_redis_error`](crate::map_redis_error).
    ///
    /// # Errors
    ///
    /// `PoolExhausted` when `pool.max_size` holders already exist and none is released within
    /// `pool.wait_timeout`; `Unavailable`, `Timeout` or `Auth` when a new connection cannot be
    /// opened; `Unavailable` after [`close`](Lifecycle::close).
    pub async fn exclusive(&self) -> InfraResult<ExclusiveConnection> {
        const OPERATION: &str = "exclusive";
        let started = Instant::now();
        let object = self
            .shared
            .conns
            .pool()
            .get()
            .await
            .map_err(|err| failed(OPERATION, Failure::Pool(err)))?;
        // Port calls that cloned this connection before it came back to the pool may still
        // be in flight; they finish within the command timeout.
        let state = Arc::clone(&object.state);
        let budget = self
            .shared
            .wait_timeout
            .saturating_sub(started.elapsed())
            .max(self.shared.command_timeout);
        let guard = tokio::time::timeout(budget, state.claim())
            .await
            .map_err(|_| {
                failed(
                    OPERATION,
                    Failure::Pool(deadpool::managed::PoolError::Timeout(
                        deadpool::managed::TimeoutType::Wait,
                    )),
                )
            })?;
        self.record_pool_metrics();
        Ok(ExclusiveConnection::new(
            object,
            guard,
            Arc::clone(self.shared.conns.hot()),
        ))
    }

    /// Runs `f` on an [`exclusive`](Self::exclusive) connection and maps its error.
    ///
    /// The connection goes back to the pool when `f` succeeds and leaves it clean. If `f`
    /// fails with an I/O error or a timeout, leaves a `MULTI` or `WATCH` open, or its future
    /// is dropped before it finishes (a cancelled request, a `tokio::time::timeout` around
    /// this call), the connection is closed instead, so that no later caller can receive a
    /// reply meant for `f`. `f` returns a boxed future because it borrows the connection:
    ///
    /// ```no_run
    /// # async fn demo(adapter: &infra_redis::RedisAdapter) -> infra_base::InfraResult<()> {
    /// // SET + PEXPIRE as one transaction, on a connection no one else uses meanwhile.
    /// let (set, expired): (String, bool) = adapter
    ///     .with_connection(|conn| {
    ///         Box::pin(async move {
    ///             infra_redis::redis::pipe()
    ///                 .atomic()
    ///                 .set("greeting", "hello")
    ///                 .pexpire("greeting", 60_000)
    ///                 .query_async(conn)
    ///                 .await
    ///         })
    ///     })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// Those of [`exclusive`](Self::exclusive), and `f`'s redis-rs error mapped by
    /// [`map_redis_error`](crate::map_redis_error).
    pub async fn with_connection<T, F>(&self, f: F) -> InfraResult<T>
    where
        F: for<'c> FnOnce(&'c mut ExclusiveConnection) -> ConnectionFuture<'c, T>,
    {
        const OPERATION: &str = "with_connection";
        let mut conn = self.exclusive().await?;
        let result = f(&mut conn).await;
        drop(conn);
        result.map_err(|err| failed(OPERATION, Failure::Redis(err)))
    }

    async fn ping_once(&self, operation: &'static str) -> InfraResult<()> {
        let reply: Value = self
            .shared
            .conns
            .query(operation, &redis::cmd("PING"))
            .await?;
        match reply {
            // A cluster answers one PONG per primary.
            Value::SimpleString(_)
            | Value::BulkString(_)
            | Value::Okay
            | Value::Array(_)
            | Value::Map(_) => Ok(()),
            _ => Err(InfraError::new(
                ErrorKind::Internal,
                REDIS_BACKEND,
                operation,
                "unexpected reply to PING",
            )),
        }
    }
}
