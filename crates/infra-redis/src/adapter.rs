//! [`RedisAdapter`]: the [`RedisPort`] and [`Lifecycle`] over the pool.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use deadpool::managed::Timeouts;
use infra_base::redis::{Command, Pipeline, Reply, validate_command};
use infra_base::resilience::Idempotency;
use infra_base::{
    ComponentHealth, ErrorKind, InfraError, InfraResult, Lifecycle, REDIS_BACKEND, RedisPort,
    SetCondition, SetOptions,
};
use infra_config::{RedisMode, RedisSettings};
use redis::{Cmd, FromRedisValue, RedisError, Script, Value};

use crate::command::{to_cmd, to_reply};
use crate::config::{self, ClientPlan};
use crate::error::{Failure, map_error, map_startup_error};
use crate::exclusive::{ConnectionFuture, ExclusiveConnection};
use crate::pool::{Conn, ConnState, Hot, HotSlots, Manager, Pool, ShareGuard};

/// How many pooled connections port calls use without a checkout. One multiplexed
/// connection carries the traffic of many tasks (redis-rs batches their requests into few
/// writes); more only add sockets and smaller batches.
const HOT_SLOTS: usize = 1;

/// `INCRBY` that sets a TTL only when it creates the key, atomically (one key, so it is
/// valid in a cluster: the script runs on the key's node).
const INCR_WITH_TTL: &str = r"
local created = redis.call('EXISTS', KEYS[1]) == 0
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
if created then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return value
";

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
    pool: Pool,
    mode: RedisMode,
    endpoint: Arc<str>,
    tls: bool,
    max_size: usize,
    wait_timeout: Duration,
    command_timeout: Duration,
    /// The pool's timeouts for a port call's checkout: opening a connection is bounded by
    /// the command timeout too (see [`RedisAdapter::lease`]).
    port_checkout: Timeouts,
    incr_with_ttl: Script,
    closed: AtomicBool,
    /// Connections port calls use without a pool checkout (see [`RedisAdapter::lease`]).
    hot: Arc<HotSlots>,
}

impl fmt::Debug for RedisAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = self.shared.pool.status();
        f.debug_struct("RedisAdapter")
            .field("mode", &self.shared.mode)
            .field("endpoint", &self.shared.endpoint)
            .field("tls", &self.shared.tls)
            .field("pool_size", &status.size)
            .field("pool_max_size", &status.max_size)
            .finish_non_exhaustive()
    }
}

/// A shared use of a pooled connection: a clone of its handle, and a registration that
/// keeps exclusive holders off it until the command is done.
///
/// A lease dropped while its command is in flight (the call's future was cancelled: a
/// timeout around it, a client that went away) probes the connection, see [`probe`].
struct Lease {
    conn: Conn,
    share: ShareGuard,
    /// Set while a command sent on `conn` awaits its reply.
    in_flight: bool,
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
            connection,
            pool,
            command_timeout,
            ..
        } = plan;
        let endpoint: Arc<str> = endpoint.into();
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
                pool: built,
                mode,
                endpoint,
                tls,
                max_size: pool.max_size,
                wait_timeout: pool.wait_timeout(),
                command_timeout,
                port_checkout: Timeouts {
                    create: pool.timeouts.create.map(|t| t.min(command_timeout)),
                    ..pool.timeouts
                },
                incr_with_ttl: Script::new(INCR_WITH_TTL),
                closed: AtomicBool::new(false),
                hot: Arc::new(HotSlots::new(HOT_SLOTS.min(pool.max_size))),
            }),
        })
    }

    /// The deployment mode.
    pub fn mode(&self) -> RedisMode {
        self.shared.mode
    }

    /// Where the adapter connects (`host:port`, or the cluster seeds / sentinels), without
    /// credentials: safe to log.
    pub fn endpoint(&self) -> &str {
        &self.shared.endpoint
    }

    /// The pool's size and use.
    pub fn pool_status(&self) -> PoolStatus {
        let status = self.shared.pool.status();
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
            .pool
            .get()
            .await
            .map_err(|err| failed(OPERATION, Failure::Pool(err), started))?;
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
                    started,
                )
            })?;
        self.record_pool_metrics();
        Ok(ExclusiveConnection::new(
            object,
            guard,
            Arc::clone(&self.shared.hot),
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
        let started = Instant::now();
        let mut conn = self.exclusive().await?;
        let result = f(&mut conn).await;
        drop(conn);
        result.map_err(|err| failed(OPERATION, Failure::Redis(err), started))
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
    async fn lease(&self, operation: &'static str, started: Instant) -> InfraResult<Lease> {
        let slot = self.shared.hot.pick();
        if !self.shared.closed.load(Ordering::Relaxed)
            && let Some((conn, share)) = self.shared.hot.lease(slot)
        {
            return Ok(Lease::new(conn, share));
        }
        // Boxed: deadpool's checkout future is ~10 KiB; inlined, it would make every port
        // call's future that large, and moving it (into async_trait's box) would cost more
        // than the command itself.
        Box::pin(self.cold_lease(operation, started, slot)).await
    }

    async fn cold_lease(
        &self,
        operation: &'static str,
        started: Instant,
        slot: usize,
    ) -> InfraResult<Lease> {
        let object = self
            .shared
            .pool
            .timeout_get(&self.shared.port_checkout)
            .await
            .map_err(|err| failed(operation, Failure::Pool(err), started))?;
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
        self.shared.hot.store(slot, hot.clone());
        if self.shared.closed.load(Ordering::Relaxed) {
            self.shared.hot.clear();
        }
        Ok(Lease::new(hot.conn, share))
    }

    /// Sends one command on a shared connection and converts its reply.
    async fn query<T: FromRedisValue>(&self, operation: &'static str, cmd: &Cmd) -> InfraResult<T> {
        let started = Instant::now();
        let mut lease = self.lease(operation, started).await?;
        lease.in_flight = true;
        let result = cmd.query_async(&mut lease.conn).await;
        lease.in_flight = false;
        result.map_err(|err| self.command_failed(operation, lease.share.state(), err, started))
    }

    /// Maps a command's error, and marks its connection for replacement when the error
    /// says the connection is unusable (closed, protocol error, `READONLY` after failover).
    fn command_failed(
        &self,
        operation: &'static str,
        state: &Arc<ConnState>,
        err: RedisError,
        started: Instant,
    ) -> InfraError {
        if discard_after(&err) || err.is_timeout() {
            discard(&self.shared, state, operation);
        }
        failed(operation, Failure::Redis(err), started)
    }

    async fn ping_once(&self, operation: &'static str) -> InfraResult<()> {
        let reply: Value = self.query(operation, &redis::cmd("PING")).await?;
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

/// Maps a failure of a port call and logs it at debug (no key, no value).
fn failed(operation: &'static str, failure: Failure, started: Instant) -> InfraError {
    let err = map_error(failure, operation, None);
    tracing::debug!(
        backend = REDIS_BACKEND,
        operation,
        kind = %err.kind(),
        latency_ms = started.elapsed().as_secs_f64() * 1e3,
        error = %err.chain(),
        "redis call failed"
    );
    err
}

/// Marks a shared connection for replacement (once) and stops handing it out.
fn discard(shared: &Shared, state: &Arc<ConnState>, operation: &'static str) {
    if state.mark_broken() {
        shared.hot.forget(state);
        tracing::debug!(
            backend = REDIS_BACKEND,
            operation,
            "redis connection marked broken; the pool will replace it"
        );
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

fn invalid(operation: &'static str, message: &str) -> InfraError {
    InfraError::new(ErrorKind::InvalidInput, REDIS_BACKEND, operation, message)
}

/// A TTL in whole milliseconds, sub-millisecond parts rounded up; zero is refused before
/// anything is sent (`PEXPIRE key 0` would delete the key).
fn ttl_millis(ttl: Duration, operation: &'static str) -> InfraResult<u64> {
    if ttl.is_zero() {
        return Err(invalid(operation, "ttl must be greater than zero"));
    }
    u64::try_from(ttl.as_nanos().div_ceil(1_000_000))
        .ok()
        .filter(|ms| i64::try_from(*ms).is_ok())
        .ok_or_else(|| invalid(operation, "ttl is too large"))
}

/// `SET key value [PX ms] [NX|XX]`.
fn set_command(key: &str, value: &[u8], options: SetOptions) -> InfraResult<Cmd> {
    let mut cmd = redis::cmd("SET");
    cmd.arg(key).arg(value);
    if let Some(ttl) = options.ttl {
        cmd.arg("PX").arg(ttl_millis(ttl, "set")?);
    }
    match options.condition {
        SetCondition::Always => {}
        SetCondition::IfAbsent => {
            cmd.arg("NX");
        }
        SetCondition::IfPresent => {
            cmd.arg("XX");
        }
    }
    Ok(cmd)
}

#[async_trait]
impl RedisPort for RedisAdapter {
    async fn ping(&self) -> InfraResult<()> {
        self.ping_once("ping").await
    }

    async fn get(&self, key: &str) -> InfraResult<Option<Vec<u8>>> {
        self.query("get", redis::cmd("GET").arg(key)).await
    }

    async fn set(&self, key: &str, value: &[u8], options: SetOptions) -> InfraResult<bool> {
        let cmd = set_command(key, value, options)?;
        let reply: Value = self.query("set", &cmd).await?;
        Ok(!matches!(reply, Value::Nil))
    }

    async fn del(&self, keys: &[String]) -> InfraResult<u64> {
        if keys.is_empty() {
            return Ok(0);
        }
        // In cluster mode redis-rs splits a multi-slot DEL per slot and sums the counts.
        self.query("del", redis::cmd("DEL").arg(keys)).await
    }

    async fn exists(&self, key: &str) -> InfraResult<bool> {
        let count: u64 = self.query("exists", redis::cmd("EXISTS").arg(key)).await?;
        Ok(count > 0)
    }

    async fn expire(&self, key: &str, ttl: Duration) -> InfraResult<bool> {
        let millis = ttl_millis(ttl, "expire")?;
        self.query("expire", redis::cmd("PEXPIRE").arg(key).arg(millis))
            .await
    }

    async fn incr_by(
        &self,
        key: &str,
        delta: i64,
        ttl_on_create: Option<Duration>,
    ) -> InfraResult<i64> {
        const OPERATION: &str = "incr_by";
        let Some(ttl) = ttl_on_create else {
            return self
                .query(OPERATION, redis::cmd("INCRBY").arg(key).arg(delta))
                .await;
        };
        let millis = ttl_millis(ttl, OPERATION)?;
        let started = Instant::now();
        let mut lease = self.lease(OPERATION, started).await?;
        lease.in_flight = true;
        // EVALSHA, then EVAL once if the server does not know the script yet.
        let result = self
            .shared
            .incr_with_ttl
            .key(key)
            .arg(delta)
            .arg(millis)
            .invoke_async(&mut lease.conn)
            .await;
        lease.in_flight = false;
        result.map_err(|err| self.command_failed(OPERATION, lease.share.state(), err, started))
    }

    async fn mget(&self, keys: &[String]) -> InfraResult<Vec<Option<Vec<u8>>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        // In cluster mode redis-rs splits a multi-slot MGET per slot and restores the order.
        self.query("mget", redis::cmd("MGET").arg(keys)).await
    }

    async fn publish(&self, channel: &str, message: &[u8]) -> InfraResult<u64> {
        self.query("publish", redis::cmd("PUBLISH").arg(channel).arg(message))
            .await
    }

    /// Sends the command on the shared connection, like every port call; refused commands
    /// ([`validate_command`]) never reach the server. The idempotency is the layers' business
    /// (retries); the adapter sends each call once.
    async fn command(&self, command: &Command, idempotency: Idempotency) -> InfraResult<Reply> {
        const OPERATION: &str = "command";
        let _ = idempotency;
        validate_command(command, OPERATION)?;
        let value: Value = self.query(OPERATION, &to_cmd(command)).await?;
        to_reply(value, OPERATION)
    }

    /// Sends the pipeline (inside `MULTI`/`EXEC` when atomic) on the shared connection in
    /// one write; redis-rs keeps its replies together. The replies of every command are
    /// read even when some are errors, and the first error (in pipeline order) is the
    /// call's error.
    async fn pipeline(&self, pipeline: &Pipeline) -> InfraResult<Vec<Reply>> {
        const OPERATION: &str = "pipeline";
        for command in pipeline.commands() {
            validate_command(command, OPERATION)?;
        }
        if pipeline.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::Pipeline::with_capacity(pipeline.len());
        if pipeline.is_atomic() {
            pipe.atomic();
        }
        // Error replies come back as values, so that each is mapped by its own code
        // (redis-rs would otherwise fold them into one pipeline error without one).
        pipe.ignore_errors();
        for command in pipeline.commands() {
            pipe.add_command(to_cmd(command));
        }
        let started = Instant::now();
        let mut lease = self.lease(OPERATION, started).await?;
        lease.in_flight = true;
        let result: Result<Vec<Value>, RedisError> = pipe.query_async(&mut lease.conn).await;
        lease.in_flight = false;
        let values = result.map_err(|err| {
            self.command_failed(
                OPERATION,
                lease.share.state(),
                first_server_error(err),
                started,
            )
        })?;
        values
            .into_iter()
            .map(|value| to_reply(value, OPERATION))
            .collect()
    }
}

/// The first server error of a failed pipeline or transaction (an `EXECABORT` carries the
/// errors of the commands refused when queued), so that it is mapped by its own code;
/// any other error as it is.
fn first_server_error(err: RedisError) -> RedisError {
    if err.kind() != redis::ErrorKind::Server(redis::ServerErrorKind::ExecAbort) {
        return err;
    }
    match err.clone().into_server_errors() {
        Some(errors) if !errors.is_empty() => RedisError::from(errors[0].1.clone()),
        _ => err,
    }
}

#[async_trait]
impl Lifecycle for RedisAdapter {
    /// Opens a pooled connection (TLS, `AUTH`, `SELECT`; in sentinel mode after asking the
    /// sentinels for the primary) and sends `PING`. Errors name the endpoint (`host:port`,
    /// never credentials): `Auth` for refused credentials, `Unavailable` for a refused or
    /// failed connection, `Timeout` when it takes too long.
    async fn init(&self) -> InfraResult<()> {
        const OPERATION: &str = "init";
        let started = Instant::now();
        let failed = |failure: Failure| {
            map_startup_error(failure, OPERATION, &self.shared.endpoint, self.shared.tls)
        };
        let object = self
            .shared
            .pool
            .get()
            .await
            .map_err(|err| failed(Failure::Pool(err)))?;
        let mut conn = object.conn.clone();
        drop(object);
        redis::cmd("PING")
            .query_async::<Value>(&mut conn)
            .await
            .map_err(|err| failed(Failure::Redis(err)))?;
        tracing::info!(
            backend = REDIS_BACKEND,
            operation = OPERATION,
            mode = %self.shared.mode,
            endpoint = %self.shared.endpoint,
            tls = self.shared.tls,
            pool_max_size = self.shared.max_size,
            latency_ms = started.elapsed().as_secs_f64() * 1e3,
            "redis connected"
        );
        Ok(())
    }

    /// One `PING` (on every primary in cluster mode), timed.
    /// One `PING`, with the pool's use as details (`poolMaxSize`, `poolSize`, `poolInUse`,
    /// `poolWaiting`), which are also recorded as gauges.
    async fn health(&self) -> ComponentHealth {
        let health = ComponentHealth::measure(self.ping_once("health")).await;
        let pool = self.record_pool_metrics();
        health
            .with_detail("poolMaxSize", pool.max_size)
            .with_detail("poolSize", pool.size)
            .with_detail("poolInUse", pool.in_use())
            .with_detail("poolWaiting", pool.waiting)
    }

    /// Closes the pool: idle connections close now, connections in use close when their
    /// call ends, and every later call fails as `Unavailable`. Idempotent.
    async fn close(&self) {
        if self.shared.closed.swap(true, Ordering::Relaxed) {
            return;
        }
        self.shared.pool.close();
        self.shared.hot.clear();
        tracing::info!(
            backend = REDIS_BACKEND,
            operation = "close",
            endpoint = %self.shared.endpoint,
            "redis client closed"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_are_whole_milliseconds_rounded_up() {
        assert_eq!(ttl_millis(Duration::from_micros(1), "set").unwrap(), 1);
        assert_eq!(ttl_millis(Duration::from_micros(1500), "set").unwrap(), 2);
        assert_eq!(ttl_millis(Duration::from_mins(1), "set").unwrap(), 60_000);
        let zero = ttl_millis(Duration::ZERO, "expire").unwrap_err();
        assert_eq!(zero.kind(), ErrorKind::InvalidInput);
        assert_eq!(zero.operation(), "expire");
        let huge = ttl_millis(Duration::MAX, "set").unwrap_err();
        assert_eq!(huge.kind(), ErrorKind::InvalidInput);
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

    fn args(cmd: &Cmd) -> Vec<String> {
        cmd.args_iter()
            .map(|arg| match arg {
                redis::Arg::Simple(bytes) => String::from_utf8_lossy(bytes).into_owned(),
                _ => "<cursor>".to_owned(),
            })
            .collect()
    }

    #[test]
    fn set_commands() {
        let plain = set_command("k", b"v", SetOptions::default()).unwrap();
        assert_eq!(
            args(&plain),
            ["SET", "k", "v"],
            "no KEEPTTL: a plain SET clears the TTL"
        );
        let nx = set_command(
            "k",
            b"v",
            SetOptions::with_ttl(Duration::from_millis(1500)).if_absent(),
        )
        .unwrap();
        assert_eq!(args(&nx), ["SET", "k", "v", "PX", "1500", "NX"]);
        let xx = set_command("k", b"v", SetOptions::default().if_present()).unwrap();
        assert_eq!(args(&xx), ["SET", "k", "v", "XX"]);
        assert!(set_command("k", b"v", SetOptions::with_ttl(Duration::ZERO)).is_err());
    }

    fn unreachable_adapter() -> RedisAdapter {
        // Port 1 on loopback: nothing listens there; nothing must even be attempted.
        let settings = RedisSettings {
            port: 1,
            ..RedisSettings::default()
        };
        RedisAdapter::from_settings(&settings).unwrap()
    }

    #[tokio::test]
    async fn validation_happens_before_any_connection() {
        let redis = unreachable_adapter();
        let zero = Duration::ZERO;
        let cases = [
            redis
                .set("k", b"v", SetOptions::with_ttl(zero))
                .await
                .map(|_| ()),
            redis.expire("k", zero).await.map(|_| ()),
            redis.incr_by("k", 1, Some(zero)).await.map(|_| ()),
        ];
        for result in cases {
            assert_eq!(result.unwrap_err().kind(), ErrorKind::InvalidInput);
        }
        assert_eq!(
            redis.mget(&[]).await.unwrap(),
            Vec::<Option<Vec<u8>>>::new()
        );
        assert_eq!(redis.del(&[]).await.unwrap(), 0);
        assert_eq!(redis.pool_status().size, 0, "nothing connected");
    }

    #[tokio::test]
    async fn unreachable_server_is_unavailable_and_init_names_it() {
        let redis = unreachable_adapter();
        let err = redis.get("k").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unavailable, "{}", err.chain());
        assert!(!err.message().contains("127.0.0.1"), "{err}");
        let err = redis.init().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unavailable);
        assert_eq!(
            err.to_string(),
            "redis init: 127.0.0.1:1: connection refused"
        );
        let health = redis.health().await;
        assert_eq!(health.status, infra_base::HealthStatus::Fail);
        assert_eq!(
            health.output.as_deref(),
            Some("unavailable: connection refused")
        );
    }

    #[tokio::test]
    async fn closed_adapter_is_unavailable() {
        let redis = unreachable_adapter();
        redis.close().await;
        redis.close().await;
        let err = redis.get("k").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unavailable);
        assert_eq!(err.message(), "the Redis client has been closed");
        let err = redis.exclusive().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unavailable);
    }
}
