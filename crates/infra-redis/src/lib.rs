//! The production Redis adapter: [`RedisPort`](infra_base::RedisPort) and
//! [`Lifecycle`](infra_base::Lifecycle) over a bounded [deadpool] pool of redis-rs
//! multiplexed connections.
//!
//! Use it at a service's composition root when the settings enable Redis
//! (`SOCIAL_REDIS__*`): [`build`] once per process, hand [`Redis::port`] to the services and
//! register [`Redis::component`]. Services themselves depend on `infra-base`'s
//! `RedisPort`, never on this crate; code that needs a socket of its own (transactions,
//! blocking commands) uses [`RedisAdapter::exclusive`].
//!
//! - **Modes**: standalone, Redis Cluster (multi-slot `MGET`/`DEL` are split per slot by
//!   redis-rs) and Sentinel (the primary is looked up through the sentinels whenever a
//!   connection is opened, so the adapter follows a failover without being rebuilt).
//! - **Security**: user name, password and database from the settings; TLS through rustls
//!   with certificate and host name verification, a private CA file and an optional client
//!   certificate. Errors and logs never contain the URL, the password, keys or values.
//! - **Bounded**: pool size, pool wait/create/recycle timeouts, connect and per-command
//!   timeouts all come from [`RedisSettings`](infra_config::RedisSettings), each with a
//!   bounded default.
//! - **Errors**: one mapping function ([`map_redis_error`]): refused/reset/closed ->
//!   `Unavailable`, timeouts -> `Timeout`, pool wait timeout -> `PoolExhausted`,
//!   `NOAUTH`/`WRONGPASS` and failed TLS verification -> `Auth` (never retried), wrong type
//!   or non-integer -> `InvalidInput`, the rest -> `Internal`.
//! - **General commands**: [`RedisPort::command`](infra_base::RedisPort::command) and
//!   [`RedisPort::pipeline`](infra_base::RedisPort::pipeline) (plain or `MULTI`/`EXEC`)
//!   run on the same shared connection as every port call, after infra-base's
//!   [`validate_command`](infra_base::redis::validate_command) (blocking and
//!   connection-state commands go to [`RedisAdapter::exclusive`] instead). `NOSCRIPT` is
//!   recognized by [`is_noscript`](infra_base::redis::is_noscript) (so
//!   [`eval_script`](infra_base::RedisPortExt::eval_script) falls back to `EVAL`), a
//!   cluster's `CROSSSLOT` is `InvalidInput` naming hash tags.
//! - **Pub/sub**: [`RedisAdapter`] is also a
//!   [`RedisSubscriber`](infra_base::RedisSubscriber)
//!   ([`Redis::subscriber`](infra_base::Built::subscriber)):
//!   each subscription on a connection of its own, pinged, reconnected with the retry
//!   backoff and resubscribed (a `Gap` event tells the consumer what was lost), bounded by
//!   its buffer (`Lagged`), ended when the component closes; sharded channels
//!   (`SSUBSCRIBE`) in cluster mode. `docs/pubsub.md` has the contract.
//! - **Layers**: [`build`] wraps the adapter in infra-base's standard layers
//!   ([`PortLayers`](infra_base::layer::PortLayers): tracing, metrics, and the settings'
//!   retry and circuit-breaker policy from
//!   [`Resilience::from_settings`](infra_base::resilience::Resilience::from_settings)). Each attempt is bounded by
//!   `command_timeout` in the adapter itself (redis-rs's response timeout on the command,
//!   the pool's create timeout capped at it when a checkout opens a connection), so the
//!   policy arms no timer of its own: one timer per call, not two.
//!
//! # Architecture: shared multiplexed connections, exclusive holders on demand
//!
//! Port calls do not hold a pooled connection for their duration. They send their command on
//! a clone of a pooled *multiplexed* connection, pipelined with every other in-flight call on
//! that socket (redis-rs matches replies to requests in its driver task). The adapter keeps
//! one such connection hot and uses it without a pool checkout while it is healthy; the pool
//! (deadpool's managed core, with a manager whose recycle step does no I/O) bounds the number
//! of sockets (`pool.max_size`), replaces broken connections, and hands out *exclusive*
//! connections to code that needs a socket of its own ([`RedisAdapter::exclusive`],
//! [`RedisAdapter::with_connection`]); those are bounded by the pool size and fail with
//! `PoolExhausted` after `pool.wait_timeout`.
//!
//! Why not deadpool-redis' `Pool` with one checkout per command: its manager sends
//! `UNWATCH` + `PING` on every checkout, one extra round trip per command (see
//! `docs/architecture.md`, "One shared multiplexed Redis connection for port calls"), its
//! cluster and sentinel managers take neither TLS certificates nor timeouts, and even
//! without the round trip a checkout per command costs more than the command (a semaphore,
//! a mutex and two timers). See [`RedisAdapter`] for cancellation safety. `cargo xtask
//! bench` (the `infra-bench` harness, scenario 1) compares the adapter and the resilient
//! port with raw redis-rs; `docs/benchmarks.md`.
//!
//! # Example
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use infra_base::{Components, RedisPort, SetOptions};
//! use infra_config::SettingsLoader;
//!
//! let settings = SettingsLoader::from_pairs([
//!     ("SOCIAL_REDIS__URL", "redis://127.0.0.1:6379/0"),
//!     ("SOCIAL_REDIS__COMMAND_TIMEOUT", "500ms"),
//! ])
//! .load()?;
//!
//! // Once per process, at the composition root.
//! let redis = infra_redis::build(&settings.redis)?;
//! let components = Components::new().with(redis.component());
//! components.init_all().await?; // connects, authenticates, PINGs
//!
//! // Services only see `Arc<dyn RedisPort>`.
//! let port = redis.port();
//! port.set("session:1", b"alice", SetOptions::with_ttl(Duration::from_secs(60))).await?;
//! assert_eq!(port.get("session:1").await?, Some(b"alice".to_vec()));
//! let hits = port.incr_by("hits:2024-06-01", 1, Some(Duration::from_secs(86_400))).await?;
//! assert!(hits >= 1);
//!
//! // A socket of one's own, for a transaction.
//! let (count, _): (i64, bool) = redis
//!     .adapter()
//!     .with_connection(|conn| {
//!         Box::pin(async move {
//!             infra_redis::redis::pipe().atomic().incr("jobs", 1).expire("jobs", 60).query_async(conn).await
//!         })
//!     })
//!     .await?;
//! assert!(count >= 1);
//!
//! components.close_all().await; // closes the pool; later calls fail as Unavailable
//! # Ok(()) }
//! ```

mod adapter;
mod command;
mod config;
mod error;
mod exclusive;
mod factory;
mod pool;
mod pubsub;
mod shared;

pub use adapter::{PoolStatus, RedisAdapter};
pub use error::map_redis_error;
pub use exclusive::{ConnectionFuture, ExclusiveConnection};
pub use factory::{COMPONENT_NAME, Redis, build};
pub use pubsub::SUBSCRIPTION_PING_INTERVAL;

/// The redis-rs crate this adapter is built on, for code that uses
/// [`RedisAdapter::exclusive`] (same version, so its traits match).
pub use redis;
