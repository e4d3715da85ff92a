//! The Redis port: what a service may ask of a key-value store, bytes in and bytes out.
//!
//! [`RedisPort`] keeps the required methods few and general so that every adapter (pooled,
//! cluster, sentinel, an in-memory fake, a mock) implements the same contract. Typed
//! conveniences live in extension traits implemented for every port, one per data type
//! ([`RedisPortExt`], [`RedisKeysExt`], [`RedisStringsExt`], [`RedisHashesExt`],
//! [`RedisSetsExt`], [`RedisSortedSetsExt`], [`RedisListsExt`], [`RedisStreamsExt`]):
//! `use infra_base::redis::prelude::*` brings them all.
//!
//! Beyond the string methods, [`RedisPort::command`] and [`RedisPort::pipeline`] send any
//! [`Command`] that is safe on a shared connection ([`validate_command`] says which are
//! not), answered as [`Reply`]s, through the same layers (tracing, metrics, resilience) as
//! every other call. The extension traits build typed helpers on them (hashes, sets, sorted
//! sets, lists, streams, `SCAN` as a stream, [`Script`]s with
//! [`eval_script`](RedisPortExt::eval_script)). In a cluster, keys used together need one
//! slot: [`cluster`] has the rules, [`hash_tag`] and [`key_slot`].
//!
//! Two primitives are built on scripts, each with a written contract: [`lock`]
//! ([`RedisLock`]: a lease with a random token, fencing tokens and automatic extension) and
//! [`rate_limit`] ([`RateLimiter`]: GCRA on the server's clock, one round trip per check).
//!
//! Subscriptions are a trait of their own, [`RedisSubscriber`] ([`pubsub`]): a bounded
//! stream of messages per subscription, on connections of their own, with its delivery
//! contract (at most once, gaps after reconnections, lag when the consumer is slow).

mod calls;
pub mod cluster;
mod command;
pub mod ext;
pub mod lock;
pub mod ops;
pub mod prelude;
pub mod pubsub;
pub mod rate_limit;
mod reply;
mod script;

use std::time::Duration;

use async_trait::async_trait;

use crate::error::InfraResult;
use crate::resilience::Idempotency;

pub use calls::RedisCalls;
pub use cluster::{hash_tag, key_slot};
pub use command::{ArgBuf, Args, Command, Pipeline, ToArg, validate_command};
pub use ext::{
    AutoClaim, BUSYGROUP_MESSAGE, GetExExpiry, KeyScan, KeyTtl, KeyType, PendingEntry,
    PendingRange, PendingSummary, RedisHashesExt, RedisKeysExt, RedisListsExt, RedisPortExt,
    RedisSetsExt, RedisSortedSetsExt, RedisStreamsExt, RedisStringsExt, ScanOptions,
    ScoreComparison, StreamEntry, StreamTrim, XAddOptions, XReadGroupOptions, ZAddOptions,
    ZAddUpdate, ZRange, busygroup_error, is_busygroup,
};
pub use lock::{LockGuard, LockOptions, RedisLock};
#[cfg(feature = "mock")]
pub use pubsub::MockRedisSubscriber;
pub use pubsub::{
    Message, PubSubEvent, RedisSubscriber, SubscribeOptions, Subscription, SubscriptionFeed, Topics,
};
pub use rate_limit::{RateLimit, RateLimitDecision, RateLimiter};
pub use reply::Reply;
pub use script::{NOSCRIPT_MESSAGE, Script, is_noscript, noscript_error};

/// The backend name used in errors raised by Redis adapters.
pub const REDIS_BACKEND: &str = "redis";

/// A TTL as the port sends it: whole milliseconds, sub-millisecond parts rounded up. Zero is
/// [`InvalidInput`](crate::ErrorKind::InvalidInput) before anything is sent (`PEXPIRE key
/// 0` would delete the key), and so is a TTL beyond Redis' range. The one rule every
/// adapter and helper applies.
///
/// ```
/// use std::time::Duration;
/// use infra_base::redis::ttl_millis;
///
/// assert_eq!(ttl_millis(Duration::from_micros(1500), "set")?, 2);
/// assert!(ttl_millis(Duration::ZERO, "set").is_err());
/// # Ok::<(), infra_base::InfraError>(())
/// ```
pub fn ttl_millis(ttl: Duration, operation: &'static str) -> InfraResult<u64> {
    let invalid = |message: &str| {
        crate::InfraError::new(
            crate::ErrorKind::InvalidInput,
            REDIS_BACKEND,
            operation,
            message,
        )
    };
    if ttl.is_zero() {
        return Err(invalid("ttl must be greater than zero"));
    }
    u64::try_from(ttl.as_nanos().div_ceil(1_000_000))
        .ok()
        .filter(|ms| i64::try_from(*ms).is_ok())
        .ok_or_else(|| invalid("ttl is too large"))
}

/// When a `SET` may write, mirroring Redis' `NX` / `XX` flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SetCondition {
    /// Always write (plain `SET`).
    #[default]
    Always,
    /// Write only if the key does not exist (`NX`): locks, idempotency keys.
    IfAbsent,
    /// Write only if the key already exists (`XX`).
    IfPresent,
}

/// Options of [`RedisPort::set`].
///
/// ```
/// use std::time::Duration;
/// use infra_base::SetOptions;
///
/// let opts = SetOptions::with_ttl(Duration::from_secs(60)).if_absent();
/// assert_eq!(opts.ttl, Some(Duration::from_secs(60)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SetOptions {
    /// Expiry of the key; `None` keeps it until deleted. Sub-millisecond parts are rounded
    /// up to the next millisecond; a zero TTL is refused as [`InvalidInput`](crate::ErrorKind::InvalidInput).
    pub ttl: Option<Duration>,
    /// When the write happens.
    pub condition: SetCondition,
}

impl SetOptions {
    /// A plain write that expires after `ttl`.
    pub fn with_ttl(ttl: Duration) -> Self {
        Self {
            ttl: Some(ttl),
            condition: SetCondition::Always,
        }
    }

    /// Writes only if the key does not exist yet (`NX`).
    #[must_use]
    pub fn if_absent(mut self) -> Self {
        self.condition = SetCondition::IfAbsent;
        self
    }

    /// Writes only if the key exists already (`XX`).
    #[must_use]
    pub fn if_present(mut self) -> Self {
        self.condition = SetCondition::IfPresent;
        self
    }
}

/// What a service may ask of Redis.
///
/// Contract every implementation keeps (checked by the conformance suite in
/// `infra_base::testing`, feature `testing`):
/// - values are opaque bytes; a missing key reads as `None`, never as an error;
/// - a zero TTL is refused with [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput);
///   TTLs have millisecond precision;
/// - failures are [`InfraError`](crate::InfraError)s whose kind says whether to retry;
/// - methods are cancellation safe: dropping a future never corrupts later calls.
///
/// Use it as `Arc<dyn RedisPort>`; see `MockRedisPort` (feature `mock`) for tests. An
/// adapter implements [`RedisCalls`] instead (and is a `RedisPort` through it), so that its
/// calls are boxed once, not once more inside the layers.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait RedisPort: Send + Sync + 'static {
    /// Checks that the server answers (`PING`).
    async fn ping(&self) -> InfraResult<()>;

    /// Reads a key; `None` when it does not exist.
    async fn get(&self, key: &str) -> InfraResult<Option<Vec<u8>>>;

    /// Writes a key. Returns `false` when the [`SetCondition`] prevented the write.
    async fn set(&self, key: &str, value: &[u8], options: SetOptions) -> InfraResult<bool>;

    /// Deletes keys; returns how many existed.
    async fn del(&self, keys: &[String]) -> InfraResult<u64>;

    /// Whether a key exists.
    async fn exists(&self, key: &str) -> InfraResult<bool>;

    /// Sets a key's expiry; `false` when the key does not exist.
    async fn expire(&self, key: &str, ttl: Duration) -> InfraResult<bool>;

    /// Adds `delta` to an integer key (a missing key counts as 0) and returns the new value.
    ///
    /// When the call creates the key and `ttl_on_create` is given, the key expires after it:
    /// a fixed-window counter for rate limits. An existing key keeps its expiry. A key that
    /// does not hold an integer is [`InvalidInput`](crate::ErrorKind::InvalidInput). Not
    /// idempotent: resilience layers never retry it.
    async fn incr_by(
        &self,
        key: &str,
        delta: i64,
        ttl_on_create: Option<Duration>,
    ) -> InfraResult<i64>;

    /// Reads several keys at once, in order; missing keys read as `None`.
    async fn mget(&self, keys: &[String]) -> InfraResult<Vec<Option<Vec<u8>>>>;

    /// Publishes a message on a channel; returns how many subscribers received it.
    /// Not idempotent: resilience layers never retry it.
    async fn publish(&self, channel: &str, message: &[u8]) -> InfraResult<u64>;

    /// Sends one command and returns its reply: the general path for everything the
    /// methods above do not cover (hashes, sets, sorted sets, streams, scripts, ...).
    ///
    /// `idempotency` is the caller's statement of whether the command may be sent again
    /// after a transient failure (a timeout may hide a command that was applied): only
    /// [`Idempotency::Idempotent`] calls are retried by the resilience layer.
    ///
    /// Every implementation first checks the command with [`validate_command`]: blocking
    /// commands (`BLPOP`, ...) and commands that change the connection (`SUBSCRIBE`,
    /// `MULTI`, `SELECT`, ...) are [`InvalidInput`](crate::ErrorKind::InvalidInput), since
    /// the command shares its connection with other calls. An error reply of the server is
    /// an error of the kind its adapter maps it to (`WRONGTYPE` is `InvalidInput`,
    /// `NOSCRIPT` is recognized by [`is_noscript`], a cluster's `CROSSSLOT` is
    /// `InvalidInput`); an implementation that cannot run a command (the in-memory fake)
    /// refuses it as `InvalidInput`, never answering something else.
    async fn command(&self, command: &Command, idempotency: Idempotency) -> InfraResult<Reply>;

    /// Sends every command of `pipeline` in one round trip and returns their replies, in
    /// order; an [`atomic`](Pipeline::atomic) pipeline runs as a `MULTI`/`EXEC`
    /// transaction. An empty pipeline sends nothing and answers no reply.
    ///
    /// Every command is checked as by [`command`](Self::command) before anything is sent.
    /// When a command answers with an error, the call fails with that error (the first
    /// one); in a plain pipeline the other commands have still run, in a transaction the
    /// commands Redis accepted before `EXEC` have run too (Redis has no rollback). In a
    /// cluster every key of a pipeline must hash to one slot. Retried as a whole only when
    /// the pipeline's [`idempotency`](Pipeline::idempotency) allows it.
    async fn pipeline(&self, pipeline: &Pipeline) -> InfraResult<Vec<Reply>>;
}
