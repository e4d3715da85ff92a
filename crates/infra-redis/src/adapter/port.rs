//! The [`RedisCalls`] (and so [`RedisPort`](infra_base::RedisPort)) and [`Lifecycle`] impls
//! of [`RedisAdapter`]: each port method builds its command ([`crate::command`]) and sends it on a shared connection
//! ([`crate::shared`]).

use std::time::{Duration, Instant};

use async_trait::async_trait;
use infra_base::redis::{Command, Pipeline, RedisCalls, Reply, validate_command};
use infra_base::resilience::Idempotency;
use infra_base::{ComponentHealth, InfraResult, Lifecycle, REDIS_BACKEND, SetOptions};
use infra_config::RedisMode;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{RedisError, Value};

use super::RedisAdapter;
use crate::command::{
    CommandValue, INTEGER_ARG, first_server_error, set_command, sized_cmd, to_cmd, to_reply,
    total_len, ttl_millis,
};
use crate::error::{Failure, map_startup_error};
use crate::pool::Conn;

/// Plain futures ([`RedisCalls`]): the adapter is a [`RedisPort`](infra_base::RedisPort)
/// through them, and the factory's layers wrap them with one allocation per call.
impl RedisCalls for RedisAdapter {
    async fn ping(&self) -> InfraResult<()> {
        self.ping_once("ping").await
    }

    async fn get(&self, key: &str) -> InfraResult<Option<Vec<u8>>> {
        self.shared
            .conns
            .query("get", sized_cmd(b"GET", 1, key.len()).arg(key))
            .await
    }

    async fn set(&self, key: &str, value: &[u8], options: SetOptions) -> InfraResult<bool> {
        let cmd = set_command(key, value, options)?;
        let reply: Value = self.shared.conns.query("set", &cmd).await?;
        Ok(!matches!(reply, Value::Nil))
    }

    async fn del(&self, keys: &[String]) -> InfraResult<u64> {
        if keys.is_empty() {
            return Ok(0);
        }
        // In cluster mode redis-rs splits a multi-slot DEL per slot and sums the counts.
        self.shared
            .conns
            .query(
                "del",
                sized_cmd(b"DEL", keys.len(), total_len(keys)).arg(keys),
            )
            .await
    }

    async fn exists(&self, key: &str) -> InfraResult<bool> {
        let count: u64 = self
            .shared
            .conns
            .query("exists", sized_cmd(b"EXISTS", 1, key.len()).arg(key))
            .await?;
        Ok(count > 0)
    }

    async fn expire(&self, key: &str, ttl: Duration) -> InfraResult<bool> {
        let millis = ttl_millis(ttl, "expire")?;
        self.shared
            .conns
            .query(
                "expire",
                sized_cmd(b"PEXPIRE", 2, key.len() + INTEGER_ARG)
                    .arg(key)
                    .arg(millis),
            )
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
                .shared
                .conns
                .query(
                    OPERATION,
                    sized_cmd(b"INCRBY", 2, key.len() + INTEGER_ARG)
                        .arg(key)
                        .arg(delta),
                )
                .await;
        };
        let millis = ttl_millis(ttl, OPERATION)?;
        // Boxed: the script's invocation would make every call's future larger than
        // glibc's per-thread cache serves (see `every_port_call_future_stays_small`).
        Box::pin(self.incr_by_with_ttl(key, delta, millis, OPERATION)).await
    }

    async fn mget(&self, keys: &[String]) -> InfraResult<Vec<Option<Vec<u8>>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        // In cluster mode redis-rs splits a multi-slot MGET per slot and restores the order.
        self.shared
            .conns
            .query(
                "mget",
                sized_cmd(b"MGET", keys.len(), total_len(keys)).arg(keys),
            )
            .await
    }

    async fn publish(&self, channel: &str, message: &[u8]) -> InfraResult<u64> {
        self.shared
            .conns
            .query(
                "publish",
                sized_cmd(b"PUBLISH", 2, channel.len() + message.len())
                    .arg(channel)
                    .arg(message),
            )
            .await
    }

    /// Sends the command on the shared connection, like every port call; refused commands
    /// ([`validate_command`]) never reach the server. The idempotency is the layers' business
    /// (retries); the adapter sends each call once.
    async fn command(&self, command: &Command, idempotency: Idempotency) -> InfraResult<Reply> {
        const OPERATION: &str = "command";
        let _ = idempotency;
        validate_command(command, OPERATION)?;
        if command.name_bytes() == b"SCAN" && self.shared.mode == RedisMode::Cluster {
            // Boxed: inline, the cluster walk's state would make every call's future (and
            // its allocation) several times larger than a plain query's.
            return Box::pin(self.cluster_scan(command, OPERATION)).await;
        }
        let CommandValue(value) = self.shared.conns.query(OPERATION, &to_cmd(command)).await?;
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
            self.refuse_cluster_scan_in_pipeline(command, OPERATION)?;
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
        let mut lease = self.shared.conns.lease(OPERATION).await?;
        lease.in_flight = true;
        let result: Result<Vec<Value>, RedisError> = pipe.query_async(&mut lease.conn).await;
        lease.in_flight = false;
        let values = result.map_err(|err| {
            self.shared.conns.command_failed(
                OPERATION,
                lease.share.state(),
                first_server_error(err),
            )
        })?;
        values
            .into_iter()
            .map(|value| to_reply(value, OPERATION))
            .collect()
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
            .conns
            .pool()
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
    /// call ends, and every later call fails as `Unavailable`. Every subscription's stream
    /// ends (its connection closes) and later subscriptions fail as `Unavailable`.
    /// Idempotent.
    async fn close(&self) {
        if !self.shared.conns.close() {
            return;
        }
        let subscriptions = self.shared.pubsub.close();
        tracing::info!(
            backend = REDIS_BACKEND,
            operation = "close",
            endpoint = %self.shared.endpoint,
            subscriptions,
            "redis client closed"
        );
    }
}

impl RedisAdapter {
    /// `INCRBY` that sets the key's expiry when it creates it, in one script.
    async fn incr_by_with_ttl(
        &self,
        key: &str,
        delta: i64,
        millis: u64,
        operation: &'static str,
    ) -> InfraResult<i64> {
        let mut lease = self.shared.conns.lease(operation).await?;
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
        result.map_err(|err| {
            self.shared
                .conns
                .command_failed(operation, lease.share.state(), err)
        })
    }
}

/// `SCAN` on a cluster: a cursor belongs to one node, and redis-rs would send each `SCAN`
/// (a command without a key) to a random node. The adapter walks the primaries one after
/// the other instead, in the order of their addresses: the cursor it answers is
/// `<primary index>:<node cursor>` (opaque to the caller; `0` when the last primary is
/// done), and each call asks the cluster for its primaries (`CLUSTER NODES`) first, so a
/// walk costs one more round trip per batch. A failover or resharding during a walk
/// loses Redis' guarantee that every key present throughout is returned.
impl RedisAdapter {
    async fn cluster_scan(&self, command: &Command, operation: &'static str) -> InfraResult<Reply> {
        let invalid_cursor = || {
            infra_base::InfraError::new(
                infra_base::ErrorKind::InvalidInput,
                REDIS_BACKEND,
                operation,
                "invalid SCAN cursor for a cluster: give 0, then the cursor the previous call \
                 answered (<primary index>:<node cursor>)",
            )
        };
        let cursor = command
            .args()
            .next()
            .and_then(|c| std::str::from_utf8(c).ok())
            .ok_or_else(invalid_cursor)?;
        let (mut index, node_cursor) = match cursor.split_once(':') {
            None if cursor == "0" => (0_usize, "0".to_owned()),
            Some((index, node)) => (
                index.parse().map_err(|_| invalid_cursor())?,
                node.to_owned(),
            ),
            None => return Err(invalid_cursor()),
        };
        let mut lease = self.shared.conns.lease(operation).await?;
        let Conn::Cluster(conn) = &mut lease.conn else {
            return Err(infra_base::InfraError::new(
                infra_base::ErrorKind::Internal,
                REDIS_BACKEND,
                operation,
                "a cluster adapter holds a connection that is not a cluster connection",
            ));
        };
        lease.in_flight = true;
        let nodes = conn
            .route_command(
                redis::cmd("CLUSTER").arg("NODES").clone(),
                RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random),
            )
            .await;
        let primaries = match nodes {
            Ok(value) => primaries(&value),
            Err(err) => {
                lease.in_flight = false;
                return Err(self
                    .shared
                    .conns
                    .command_failed(operation, lease.share.state(), err));
            }
        };
        let Some((host, port)) = primaries.get(index).cloned() else {
            lease.in_flight = false;
            return Err(invalid_cursor());
        };
        let mut scan = redis::cmd("SCAN");
        scan.arg(node_cursor.as_str());
        for arg in command.args().skip(1) {
            scan.arg(arg);
        }
        let result = conn
            .route_command(
                scan,
                RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress { host, port }),
            )
            .await;
        lease.in_flight = false;
        let value = result.map_err(|err| {
            self.shared
                .conns
                .command_failed(operation, lease.share.state(), err)
        })?;
        let mut parts = to_reply(value, operation)?.into_array()?;
        if parts.len() != 2 {
            return Err(infra_base::InfraError::new(
                infra_base::ErrorKind::Internal,
                REDIS_BACKEND,
                operation,
                "SCAN answered something else than [cursor, keys]",
            ));
        }
        let keys = parts.pop().unwrap_or(Reply::Nil);
        let node_next = parts.pop().unwrap_or(Reply::Nil).into_string()?;
        let next = if node_next == "0" {
            index += 1;
            if index < primaries.len() {
                format!("{index}:0")
            } else {
                "0".to_owned()
            }
        } else {
            format!("{index}:{node_next}")
        };
        Ok(Reply::Array(vec![Reply::Bulk(next.into_bytes()), keys]))
    }
}

/// The reachable primaries of a `CLUSTER NODES` reply (`id host:port@bus flags master ...`
/// per line), sorted by address so that every call numbers them alike.
fn primaries(nodes: &Value) -> Vec<(String, u16)> {
    let text = match nodes {
        Value::BulkString(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        Value::VerbatimString { text, .. } | Value::SimpleString(text) => text.clone(),
        _ => return Vec::new(),
    };
    let mut primaries: Vec<(String, u16)> = text
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let address = fields.nth(1)?;
            let flags = fields.next()?;
            let flags: Vec<&str> = flags.split(',').collect();
            if !flags.contains(&"master")
                || flags
                    .iter()
                    .any(|f| matches!(*f, "fail" | "noaddr" | "handshake"))
            {
                return None;
            }
            let address = address.split('@').next()?;
            let (host, port) = address.rsplit_once(':')?;
            Some((host.to_owned(), port.parse().ok()?))
        })
        .collect();
    primaries.sort();
    primaries
}

#[cfg(test)]
mod tests {
    #[test]
    fn cluster_nodes_give_the_reachable_primaries_in_address_order() {
        let nodes = "\
a1 127.0.0.1:7001@17001 myself,master - 0 0 1 connected 0-5460
b2 127.0.0.1:7004@17004 slave a1 0 0 1 connected
c3 127.0.0.1:7000@17000 master - 0 0 2 connected 5461-10922
d4 127.0.0.1:7002@17002 master,fail - 0 0 3 disconnected
e5 ::1:7003@17003 master - 0 0 4 connected 10923-16383
";
        let value = redis::Value::BulkString(nodes.as_bytes().to_vec());
        assert_eq!(
            super::primaries(&value),
            [
                ("127.0.0.1".to_owned(), 7000),
                ("127.0.0.1".to_owned(), 7001),
                ("::1".to_owned(), 7003),
            ]
        );
        assert!(super::primaries(&redis::Value::Nil).is_empty());
    }

    use infra_base::ErrorKind;
    use infra_config::RedisSettings;

    // Not `RedisCalls`: the adapter's calls are tested as the `RedisPort` it is.
    use infra_base::RedisPort;

    use super::{Command, Duration, Idempotency, Lifecycle, Pipeline, RedisAdapter, SetOptions};

    fn unreachable_adapter() -> RedisAdapter {
        // Port 1 on loopback: nothing listens there; nothing must even be attempted.
        let settings = RedisSettings {
            port: 1,
            ..RedisSettings::default()
        };
        RedisAdapter::from_settings(&settings).unwrap()
    }

    /// Every port call allocates its future (the layers' and the adapter's call together,
    /// boxed once), so its size is a cost paid per call: beyond 1 KiB glibc's allocator
    /// leaves its per-thread cache for its slow path (about 440 more instructions per call,
    /// measured with callgrind when the cluster `SCAN` walk was inline in `command` and made
    /// its future 1,760 bytes). Rare paths are boxed on their own instead.
    #[test]
    fn every_port_call_future_stays_small() {
        const LIMIT: usize = 1024;
        let settings = RedisSettings {
            port: 1,
            ..RedisSettings::default()
        };
        // The port services get: the adapter in the standard layers.
        let redis = crate::build(&settings).unwrap().port();
        let keys = vec!["a".to_owned()];
        let pipeline = Pipeline::new(Idempotency::Idempotent).with(Command::new("GET").arg("k"));
        let command = Command::new("SCAN").arg(0);
        let ttl = Some(Duration::from_secs(1));
        let sizes = [
            ("ping", size_of_val(&*redis.ping())),
            ("get", size_of_val(&*redis.get("k"))),
            (
                "set",
                size_of_val(&*redis.set("k", b"v", SetOptions::default())),
            ),
            ("del", size_of_val(&*redis.del(&keys))),
            ("exists", size_of_val(&*redis.exists("k"))),
            (
                "expire",
                size_of_val(&*redis.expire("k", Duration::from_secs(1))),
            ),
            ("incr_by", size_of_val(&*redis.incr_by("k", 1, ttl))),
            ("mget", size_of_val(&*redis.mget(&keys))),
            ("publish", size_of_val(&*redis.publish("c", b"m"))),
            (
                "command",
                size_of_val(&*redis.command(&command, Idempotency::Idempotent)),
            ),
            ("pipeline", size_of_val(&*redis.pipeline(&pipeline))),
        ];
        let large: Vec<_> = sizes.iter().filter(|(_, size)| *size > LIMIT).collect();
        assert!(
            large.is_empty(),
            "futures over {LIMIT} B: {large:?} of {sizes:?}"
        );
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
