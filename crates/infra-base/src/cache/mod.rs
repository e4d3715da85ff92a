//! [`Cache`]: `get_or_compute` over any [`RedisPort`], with single flight, stampede
//! protection, early refresh and generation-based invalidation.
//!
//! ```
//! # #[cfg(feature = "testing")]
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use std::sync::Arc;
//! use std::time::Duration;
//! use infra_base::cache::{Cache, CacheConfig, Outcome, WriteOutcome};
//! use infra_base::testing::MemoryRedis;
//! use infra_base::InfraError;
//!
//! let cache = Cache::new(Arc::new(MemoryRedis::new()), CacheConfig::new("users", "app:v1"));
//! let users = cache.namespace("users");
//! let load = || async { Ok::<_, InfraError>(vec!["alice".to_owned()]) };
//! let first = users.get_or_compute("all", Duration::from_secs(60), load).await?;
//! assert_eq!((first.value.len(), first.outcome), (1, Outcome::Miss));
//! let again = users.get_or_compute("all", Duration::from_secs(60), load).await?;
//! assert_eq!(again.outcome, Outcome::Hit);
//!
//! // After a write: every entry of the namespace is gone at once.
//! users.invalidate(WriteOutcome::Known)?.first_attempt().await;
//! let after = users.get_or_compute("all", Duration::from_secs(60), load).await?;
//! assert_eq!(after.outcome, Outcome::Miss);
//! # Ok::<(), InfraError>(())
//! # }).unwrap();
//! ```
//!
//! # Contract
//!
//! [`Namespace::get_or_compute`]`(key, ttl, compute)` returns the value cached under
//! `key`, or runs `compute`, stores its value for `ttl` and returns it. Around that:
//!
//! - **Single flight, in process.** Concurrent calls for one key (in one namespace and
//!   generation) run one computation: the first caller leads (reads Redis, computes,
//!   stores), the others wait for it and receive a copy of the same result, value or error
//!   ([`Fetched::joined`]). A leader that is cancelled or panics does not wedge the key: a
//!   waiting caller takes over with its own `compute`, and later callers start afresh.
//!   A flight is only joined while it runs, never after an invalidation made in this
//!   process (the flight key carries an epoch that every invalidation bumps), and never
//!   across generations.
//! - **Stampede protection across instances** ([`CacheConfig::lease`], optional). On a
//!   miss the leader takes a short lease (`SET NX PX` on a lease key). An instance that
//!   finds the lease taken polls for the value until it appears (a hit), the lease is gone,
//!   or [`LeaseConfig::wait`] has passed, and then computes anyway: a lease bounds waiting,
//!   it never blocks. The holder deletes the lease when it is done (if its lease expired
//!   first, it may delete a newer holder's lease: one extra computation, never a wrong
//!   value).
//! - **Early refresh** ([`CacheConfig::early_refresh_beta`], XFetch). Each entry records
//!   how long it took to compute and when it expires; a hit may recompute before expiry
//!   with the probability of [`should_refresh_early`], so a hot key is refreshed by about
//!   one caller instead of missed by all of them at once. The refreshing caller gets the
//!   new value.
//! - **TTL jitter** ([`CacheConfig::ttl_jitter`]): each entry's TTL is shortened by a
//!   random fraction (never lengthened), so entries stored together expire apart and a
//!   TTL stays an upper bound on an entry's age.
//! - **Negative caching**: [`Namespace::get_or_compute_optional`]'s `compute` may return
//!   `None`; it is cached for [`CacheConfig::negative_ttl`] (not at all when `None`).
//! - **Size cap** ([`CacheConfig::max_value_bytes`]): a larger value is returned but not
//!   stored, and counted.
//! - **Codec**: JSON by default ([`Json`]); any [`Codec`] with [`Namespace::with_codec`].
//!   Undecodable bytes are a miss and get overwritten.
//! - **Invalidation by generation.** Every value key contains its namespace's current
//!   generation; [`Namespace::invalidate`] replaces the generation, so every entry of the
//!   namespace becomes unreachable at once (and expires by its TTL). See below.
//! - **Redis failures never fail a caller** (unless [`CacheConfig::on_redis_error`] is
//!   [`OnRedisError::Fail`]): a Redis call that fails or takes longer than
//!   [`CacheConfig::op_timeout`] makes the call compute without the cache
//!   ([`Outcome::Bypass`]); it is counted (`infra_cache_errors_total`) and logged at `warn`
//!   at most once per [`WARN_EVERY`]. Storing is always best effort.
//!
//! Errors of `compute` are returned to the caller (and to every caller that waited for it)
//! and never cached.
//!
//! # Keys
//!
//! ```text
//! {prefix}:{namespace}:gen                   the generation; no TTL
//! {prefix}:{namespace}:v:{generation}:{key}  an entry; expires after its (jittered) TTL
//! {prefix}:{namespace}:l:{generation}:{key}  a lease; expires after LeaseConfig::wait
//! ```
//!
//! A namespace is 1-256 characters without `:`, whitespace or control characters (so the
//! layout is unambiguous); a key is any text (hash long ones). No command spans two keys,
//! so the layout works on a Redis cluster unchanged. An entry is an envelope: a version
//! byte, a kind byte (value or none), the computation time and the expiry (milliseconds),
//! then the codec's bytes.
//!
//! # Generations: why a random token and not a counter
//!
//! The generation is 64 random bits, replaced by `SET` on every invalidation, rather than
//! a counter bumped by `INCR`. A counter can go backwards: under an eviction policy that
//! may evict keys without a TTL (`allkeys-lru`, `allkeys-lfu`, `allkeys-random`), an
//! evicted counter restarts at 0, and the entries stored under generations 1, 2, ... come
//! back to life while they live. Remembering the highest generation seen in process does
//! not close that hole (another instance that saw less recreates it lower). A token never
//! comes back: a missing generation key is recreated (`SET NX`) with a fresh token, which
//! orphans every older entry: an eviction costs misses, never a stale answer. And `SET` of
//! a fresh token is idempotent where `INCR` is not, so the resilience layer may retry it
//! after a lost reply. The generation key has no TTL; with `volatile-*` eviction policies
//! it is never evicted at all.
//!
//! # Invalidation after a write
//!
//! [`Namespace::invalidate`] runs in a task of its own (a caller that is cancelled, such as
//! an HTTP handler whose client went away, cannot stop it) and returns an
//! [`InvalidationHandle`] to wait for its first attempt. What it does depends on what the
//! writer knows ([`WriteOutcome`]):
//!
//! - [`WriteOutcome::Known`] (the write succeeded, or was refused): the generation is
//!   replaced. A failed attempt is retried with exponential backoff
//!   ([`CacheConfig::invalidation_backoff`]) for as long as entries may live
//!   ([`CacheConfig::invalidation_retry_for`], at least the longest TTL this process
//!   stored with); meanwhile, this process bypasses the namespace.
//! - [`WriteOutcome::Unknown`] (a timeout, a cancellation, a transport error, an open
//!   circuit after an earlier attempt: the write may still be applied later): the new
//!   generation carries an uncertainty deadline, now +
//!   [`CacheConfig::uncertain_write_window`]. Until then every instance bypasses the
//!   namespace: it neither reads nor stores entries, so nothing computed before a late write
//!   lands can be cached. At the deadline the generation is replaced again (the delayed
//!   second invalidation), orphaning anything stored by an instance whose clock ran
//!   behind.
//!
//! **Guarantee.** Once the first attempt of an invalidation succeeded, no call that starts
//! afterwards returns a value computed before the write became visible, provided the
//! write became visible before the invalidation (a known outcome) or within the
//! uncertainty window (an unknown one); in this process this also holds while the
//! invalidation is still being retried. What it does not cover: another instance reads
//! stale entries until a failed invalidation succeeds (at most the TTL), a write that
//! lands after its window may be hidden by entries stored in between for their TTL, and
//! instances' clocks must agree to well within the window (the deadline is wall-clock
//! time; each process reads it as its start time plus its monotonic clock, so it never
//! jumps).
//!
//! # Metrics
//!
//! `infra_cache_requests_total`, `infra_cache_computes_total`, `infra_cache_errors_total`,
//! `infra_cache_values_not_stored_total` and `infra_cache_invalidations_total`, each with a
//! `cache_name` label ([`CacheConfig::name`]: a fixed name per cache, never a key or a
//! namespace) and one small closed label (see [`crate::telemetry`]). [`Cache::stats`]
//! gives the same counts for this instance.

mod codec;
mod flight;
mod format;
#[cfg(all(test, feature = "testing"))]
mod tests;

use std::any::TypeId;
use std::collections::HashMap;
use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use metrics::Counter;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::error::{ErrorKind, InfraError, InfraResult};
use crate::redis::{REDIS_BACKEND, RedisPort, SetOptions};
use crate::telemetry::{self, labels};

pub use codec::{Codec, Json};
pub use format::should_refresh_early;

use flight::{Flights, Shared};
use format::{Envelope, Generation};

/// The backend named by errors the cache raises itself (a bad namespace, a zero TTL).
pub const CACHE_BACKEND: &str = "cache";

/// Failures of the cache's Redis calls are logged at `warn` at most this often (with the
/// number of failures in between; at `debug` otherwise).
pub const WARN_EVERY: Duration = Duration::from_secs(10);

/// Longest namespace, in bytes.
pub const MAX_NAMESPACE_LEN: usize = 256;

/// What a lookup does when Redis fails or does not answer within the operation timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnRedisError {
    /// Compute without the cache ([`Outcome::Bypass`]), count and log it (the default).
    #[default]
    Compute,
    /// Return the Redis error to the caller (converted with `From<InfraError>`), for
    /// callers that would rather fail than put the computation's load on its backend.
    /// Storing stays best effort.
    Fail,
}

/// Stampede protection across instances: a lease on a missing key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseConfig {
    /// The lease's lifetime, and the longest another instance waits for its holder's
    /// value before computing anyway.
    pub wait: Duration,
    /// How often a waiting instance looks for the value.
    pub poll: Duration,
}

impl Default for LeaseConfig {
    /// A 500 ms lease, polled every 20 ms.
    fn default() -> Self {
        Self {
            wait: Duration::from_millis(500),
            poll: Duration::from_millis(20),
        }
    }
}

/// How a [`Cache`] behaves. Build one with [`CacheConfig::new`] and change fields.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheConfig {
    /// The `cache_name` label of the cache's metrics: a fixed name (`"search"`), never
    /// derived from data, so the label stays bounded.
    pub name: String,
    /// The first part of every key (`"my-service:v1"`); include a version to change when
    /// the stored format changes, and whatever tells apart deployments that share a Redis
    /// database.
    pub prefix: String,
    /// Longest one Redis call may take, retries included (default 1 s).
    pub op_timeout: Duration,
    /// What a lookup does when Redis fails (default [`OnRedisError::Compute`]).
    pub on_redis_error: OnRedisError,
    /// Each TTL is multiplied by a random factor in `[1 - ttl_jitter, 1]` (default 0.1);
    /// clamped to `0.0..=0.9`.
    pub ttl_jitter: f64,
    /// How long a computed "none" is cached; `None` (the default) caches no "none".
    pub negative_ttl: Option<Duration>,
    /// Largest stored entry in bytes (the envelope included); larger values are returned
    /// but not stored (default 1 MiB).
    pub max_value_bytes: usize,
    /// XFetch's `beta`: 1.0 (the default) is the paper's optimum, larger refreshes
    /// earlier, 0.0 turns early refresh off. Negative or non-finite values count as 0.
    pub early_refresh_beta: f64,
    /// Stampede protection across instances (default `None`: none).
    pub lease: Option<LeaseConfig>,
    /// After a write whose outcome is unknown, how long every instance bypasses the
    /// namespace before the second invalidation (default 10 s). Make it longer than a
    /// write the service gave up on may take to land.
    pub uncertain_write_window: Duration,
    /// How long a failed invalidation is retried (default 1 min; at least the longest TTL
    /// this process stored with is used).
    pub invalidation_retry_for: Duration,
    /// The first and the largest delay between invalidation attempts (default 50 ms and
    /// 2 s; delays double, with equal jitter).
    pub invalidation_backoff: (Duration, Duration),
}

impl CacheConfig {
    /// The defaults, with a metrics name and a key prefix.
    pub fn new(name: impl Into<String>, prefix: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            prefix: prefix.into(),
            op_timeout: Duration::from_secs(1),
            on_redis_error: OnRedisError::Compute,
            ttl_jitter: 0.1,
            negative_ttl: None,
            max_value_bytes: 1024 * 1024,
            early_refresh_beta: 1.0,
            lease: None,
            uncertain_write_window: Duration::from_secs(10),
            invalidation_retry_for: Duration::from_mins(1),
            invalidation_backoff: (Duration::from_millis(50), Duration::from_secs(2)),
        }
    }

    /// The same settings with out-of-range numbers brought into range.
    fn sanitized(mut self) -> Self {
        self.ttl_jitter = if self.ttl_jitter.is_finite() {
            self.ttl_jitter.clamp(0.0, 0.9)
        } else {
            0.0
        };
        if !(self.early_refresh_beta.is_finite() && self.early_refresh_beta > 0.0) {
            self.early_refresh_beta = 0.0;
        }
        self.op_timeout = self.op_timeout.max(Duration::from_millis(1));
        let (first, max) = self.invalidation_backoff;
        let first = first.max(Duration::from_millis(1));
        self.invalidation_backoff = (first, max.max(first));
        if let Some(lease) = &mut self.lease {
            lease.poll = lease.poll.max(Duration::from_millis(1));
            lease.wait = lease.wait.max(Duration::from_millis(1));
        }
        self
    }
}

/// Where a value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Read from Redis; nothing was computed.
    Hit,
    /// Computed (a miss, or an early refresh) and stored when it fit.
    Miss,
    /// Computed without the cache: Redis failed, or the namespace is within an
    /// invalidation's uncertainty window; nothing was read or stored.
    Bypass,
}

impl Outcome {
    /// `hit`, `miss` or `bypass`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Hit => "hit",
            Outcome::Miss => "miss",
            Outcome::Bypass => "bypass",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A value and how it was obtained.
#[derive(Debug, Clone, PartialEq)]
pub struct Fetched<T> {
    /// The value.
    pub value: T,
    /// How the call that produced it used the cache.
    pub outcome: Outcome,
    /// Whether this caller waited for another caller's flight (then `outcome` is that
    /// caller's).
    pub joined: bool,
}

/// What the writer knows about the write that makes a namespace's entries stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    /// It was applied, or certainly not (a refusal): one invalidation.
    Known,
    /// It may be applied later (a timeout, a cancellation, a transport error): an
    /// uncertainty window and a second invalidation.
    Unknown,
}

/// An error that every caller of a flight can receive a copy of.
///
/// Implemented for every `Clone` error, and for [`InfraError`] (its copies keep the kind,
/// backend, operation, message and `retry_after`; the source chain becomes text).
pub trait ShareError {
    /// A copy for another caller.
    #[must_use]
    fn share(&self) -> Self;
}

impl<E: Clone> ShareError for E {
    fn share(&self) -> Self {
        self.clone()
    }
}

impl ShareError for InfraError {
    fn share(&self) -> Self {
        let mut copy = InfraError::new(
            self.kind(),
            self.backend(),
            self.operation(),
            self.message(),
        );
        if let Some(after) = self.retry_after() {
            copy = copy.with_retry_after(after);
        }
        if let Some(source) = self.source() {
            copy = copy.with_source(SourceText(chain_text(source)));
        }
        copy
    }
}

/// A source chain kept as text.
#[derive(Debug)]
struct SourceText(String);

impl fmt::Display for SourceText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl StdError for SourceText {}

fn chain_text(error: &(dyn StdError + 'static)) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(err) = next {
        text.push_str(": ");
        text.push_str(&err.to_string());
        next = err.source();
    }
    text
}

/// What a cache did since it was built; [`Cache::stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Calls answered from Redis.
    pub hits: u64,
    /// Calls that computed and stored (misses and early refreshes).
    pub misses: u64,
    /// Calls that computed without the cache.
    pub bypasses: u64,
    /// Calls that waited for another caller's flight.
    pub joined: u64,
    /// Computations run.
    pub computes: u64,
    /// Computations run before expiry (XFetch).
    pub early_refreshes: u64,
    /// Redis calls that failed or timed out, and stored bytes that could not be read.
    pub errors: u64,
    /// Values not stored because they exceed [`CacheConfig::max_value_bytes`].
    pub too_large: u64,
    /// Values not stored because the codec could not encode them.
    pub not_encodable: u64,
    /// Generations replaced (an invalidation's attempts that succeeded).
    pub invalidations: u64,
    /// Invalidation attempts that failed (and were retried).
    pub invalidation_failures: u64,
    /// Invalidations given up after [`CacheConfig::invalidation_retry_for`].
    pub invalidations_abandoned: u64,
}

/// The cache's counters, mirrored in metrics.
#[derive(Debug, Default)]
struct Stats {
    hits: AtomicU64,
    misses: AtomicU64,
    bypasses: AtomicU64,
    joined: AtomicU64,
    computes: AtomicU64,
    early_refreshes: AtomicU64,
    errors: AtomicU64,
    too_large: AtomicU64,
    not_encodable: AtomicU64,
    invalidations: AtomicU64,
    invalidation_failures: AtomicU64,
    invalidations_abandoned: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// The Redis call a failure is counted under (the `cache_operation` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CacheOp {
    Generation,
    Read,
    Write,
    Lease,
    Invalidate,
    Decode,
}

impl CacheOp {
    const ALL: [CacheOp; 6] = [
        CacheOp::Generation,
        CacheOp::Read,
        CacheOp::Write,
        CacheOp::Lease,
        CacheOp::Invalidate,
        CacheOp::Decode,
    ];

    const fn as_str(self) -> &'static str {
        match self {
            CacheOp::Generation => "generation",
            CacheOp::Read => "read",
            CacheOp::Write => "write",
            CacheOp::Lease => "lease",
            CacheOp::Invalidate => "invalidate",
            CacheOp::Decode => "decode",
        }
    }
}

/// Why a computation ran (the `reason` label of `infra_cache_computes_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reason {
    Miss,
    EarlyRefresh,
    Bypass,
}

/// The metric handles, registered once per cache.
#[derive(Debug)]
struct Metrics {
    /// hit, miss, bypass, joined.
    requests: [Counter; 4],
    /// miss, early_refresh, bypass.
    computes: [Counter; 3],
    /// In [`CacheOp::ALL`] order.
    errors: [Counter; 6],
    /// too_large, encode.
    not_stored: [Counter; 2],
    /// done, failed, abandoned.
    invalidations: [Counter; 3],
}

impl Metrics {
    fn new(name: &str) -> Self {
        let counter = |metric: &'static str, label: &'static str, value: &'static str| metrics::counter!(metric, labels::CACHE_NAME => name.to_owned(), label => value);
        Self {
            requests: ["hit", "miss", "bypass", "joined"]
                .map(|v| counter(telemetry::CACHE_OUTCOMES, labels::OUTCOME, v)),
            computes: ["miss", "early_refresh", "bypass"]
                .map(|v| counter(telemetry::CACHE_COMPUTES, labels::REASON, v)),
            errors: CacheOp::ALL.map(|op| {
                counter(
                    telemetry::CACHE_ERRORS,
                    labels::CACHE_OPERATION,
                    op.as_str(),
                )
            }),
            not_stored: ["too_large", "encode"]
                .map(|v| counter(telemetry::CACHE_NOT_STORED, labels::REASON, v)),
            invalidations: ["done", "failed", "abandoned"]
                .map(|v| counter(telemetry::CACHE_INVALIDATIONS, labels::OUTCOME, v)),
        }
    }
}

/// Rate-limits the warnings of a failing Redis and notices its recovery.
#[derive(Debug, Default)]
struct Health {
    degraded: AtomicBool,
    last_warn: Mutex<Option<Instant>>,
    suppressed: AtomicU64,
}

/// Wall-clock milliseconds that never jump: the system time at start plus the monotonic
/// (tokio) time since, so a paused test clock moves it too.
#[derive(Debug)]
struct Clock {
    wall_at_start_ms: u64,
    start: Instant,
}

impl Clock {
    fn new() -> Self {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Self {
            wall_at_start_ms: millis(wall),
            start: Instant::now(),
        }
    }

    fn now_ms(&self) -> u64 {
        self.wall_at_start_ms
            .saturating_add(millis(self.start.elapsed()))
    }
}

/// Whole milliseconds, saturating.
fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `get_or_compute` over a [`RedisPort`]; see the [module docs](self) for the contract.
///
/// Cheap to clone (the state is shared): clones share flights, counters and pending
/// invalidations. Build one per cache and process, not per call.
#[derive(Clone)]
pub struct Cache {
    inner: Arc<Inner>,
}

struct Inner {
    redis: Arc<dyn RedisPort>,
    config: CacheConfig,
    flights: Flights,
    /// Bumped by every invalidation made in this process: part of every flight key.
    epoch: AtomicU64,
    /// Namespaces this process bypasses, with how many invalidations hold them.
    pending: Mutex<HashMap<String, u32>>,
    /// The longest TTL stored with, in milliseconds.
    max_ttl_ms: AtomicU64,
    clock: Clock,
    stats: Stats,
    metrics: Metrics,
    health: Health,
}

impl fmt::Debug for Cache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("config", &self.inner.config)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Cache {
    /// A cache over `redis`, behaving as `config` says (numbers out of range are brought
    /// into range, as each field documents). Registers its metrics: install the recorder
    /// first.
    pub fn new(redis: Arc<dyn RedisPort>, config: CacheConfig) -> Self {
        let config = config.sanitized();
        let metrics = Metrics::new(&config.name);
        Self {
            inner: Arc::new(Inner {
                redis,
                config,
                flights: Flights::default(),
                epoch: AtomicU64::new(0),
                pending: Mutex::default(),
                max_ttl_ms: AtomicU64::new(0),
                clock: Clock::new(),
                stats: Stats::default(),
                metrics,
                health: Health::default(),
            }),
        }
    }

    /// The configuration in effect.
    pub fn config(&self) -> &CacheConfig {
        &self.inner.config
    }

    /// The entries of `name`: where values are read, computed and invalidated. A name is
    /// checked when it is used (1-256 characters, no `:`, whitespace or control
    /// characters).
    pub fn namespace<'a>(&'a self, name: &'a str) -> Namespace<'a> {
        Namespace {
            cache: self,
            name,
            codec: Json,
        }
    }

    /// What the cache did so far.
    pub fn stats(&self) -> CacheStats {
        let s = &self.inner.stats;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        CacheStats {
            hits: get(&s.hits),
            misses: get(&s.misses),
            bypasses: get(&s.bypasses),
            joined: get(&s.joined),
            computes: get(&s.computes),
            early_refreshes: get(&s.early_refreshes),
            errors: get(&s.errors),
            too_large: get(&s.too_large),
            not_encodable: get(&s.not_encodable),
            invalidations: get(&s.invalidations),
            invalidation_failures: get(&s.invalidation_failures),
            invalidations_abandoned: get(&s.invalidations_abandoned),
        }
    }

    /// Whether this process bypasses `namespace` now, because an invalidation of it is in
    /// its uncertainty window or still being retried.
    pub fn is_bypassed(&self, namespace: &str) -> bool {
        lock(&self.inner.pending).contains_key(namespace)
    }
}

/// The entries of one namespace of a [`Cache`], with the [`Codec`] of its values.
#[derive(Debug, Clone, Copy)]
pub struct Namespace<'a, C = Json> {
    cache: &'a Cache,
    name: &'a str,
    codec: C,
}

impl<'a, C> Namespace<'a, C> {
    /// The namespace's name.
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// The same namespace, its values encoded by `codec`.
    pub fn with_codec<D>(self, codec: D) -> Namespace<'a, D> {
        Namespace {
            cache: self.cache,
            name: self.name,
            codec,
        }
    }

    /// The value of `key`: cached, or computed by `compute` and stored for `ttl` (see the
    /// [module docs](self) for everything around it).
    ///
    /// # Errors
    ///
    /// `compute`'s error (shared with every caller that waited for it); an
    /// [`InvalidInput`](ErrorKind::InvalidInput) for a bad namespace or a zero TTL; a
    /// Redis error only with [`OnRedisError::Fail`].
    pub async fn get_or_compute<T, E, F, Fut>(
        &self,
        key: &str,
        ttl: Duration,
        compute: F,
    ) -> Result<Fetched<T>, E>
    where
        C: Codec<T>,
        T: Clone + Send + Sync + 'static,
        E: From<InfraError> + ShareError + Send + Sync + 'static,
        F: FnOnce() -> Fut + Send,
        Fut: Future<Output = Result<T, E>> + Send,
    {
        let fetched = self
            .cache
            .inner
            .fetch(self.name, &self.codec, key, ttl, false, || async move {
                compute().await.map(Some)
            })
            .await?;
        match fetched.value {
            Some(value) => Ok(Fetched {
                value,
                outcome: fetched.outcome,
                joined: fetched.joined,
            }),
            // Unreachable: negative entries are misses here, and the compute never says none.
            None => Err(E::from(InfraError::new(
                ErrorKind::Internal,
                CACHE_BACKEND,
                "get_or_compute",
                "the cache produced no value",
            ))),
        }
    }

    /// As [`get_or_compute`](Self::get_or_compute), for a `compute` that may find nothing:
    /// its `None` is cached for [`CacheConfig::negative_ttl`] (not at all without one).
    ///
    /// # Errors
    ///
    /// As [`get_or_compute`](Self::get_or_compute).
    pub async fn get_or_compute_optional<T, E, F, Fut>(
        &self,
        key: &str,
        ttl: Duration,
        compute: F,
    ) -> Result<Fetched<Option<T>>, E>
    where
        C: Codec<T>,
        T: Clone + Send + Sync + 'static,
        E: From<InfraError> + ShareError + Send + Sync + 'static,
        F: FnOnce() -> Fut + Send,
        Fut: Future<Output = Result<Option<T>, E>> + Send,
    {
        self.cache
            .inner
            .fetch(self.name, &self.codec, key, ttl, true, compute)
            .await
    }

    /// The Redis key under which `key`'s entry is stored now, for inspection and tests:
    /// `None` while the namespace has no generation yet. Reads the generation, creates
    /// nothing.
    ///
    /// # Errors
    ///
    /// A bad namespace, or the Redis error.
    pub async fn entry_key(&self, key: &str) -> InfraResult<Option<String>> {
        check_namespace(self.name, "entry_key")?;
        let inner = &self.cache.inner;
        let stored = inner
            .call(
                CacheOp::Generation,
                inner.redis.get(&inner.generation_key(self.name)),
            )
            .await?;
        Ok(stored
            .as_deref()
            .and_then(Generation::decode)
            .map(|generation| inner.value_key(self.name, &generation.token, key)))
    }

    /// Invalidates every entry of the namespace after a write, in a task of its own (see
    /// "Invalidation after a write" in the [module docs](self)). Dropping the handle does
    /// not stop it. Must be called within a tokio runtime.
    ///
    /// # Errors
    ///
    /// [`InvalidInput`](ErrorKind::InvalidInput) for a bad namespace;
    /// [`Internal`](ErrorKind::Internal) outside a tokio runtime.
    pub fn invalidate(&self, outcome: WriteOutcome) -> InfraResult<InvalidationHandle> {
        check_namespace(self.name, "invalidate")?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            InfraError::new(
                ErrorKind::Internal,
                CACHE_BACKEND,
                "invalidate",
                "an invalidation must be started within a tokio runtime",
            )
        })?;
        let (first_tx, first_rx) = oneshot::channel();
        let inner = Arc::clone(&self.cache.inner);
        let namespace = self.name.to_owned();
        let task = runtime.spawn(async move {
            inner.invalidation(namespace, outcome, first_tx).await;
        });
        Ok(InvalidationHandle {
            first: Some(first_rx),
            task,
        })
    }
}

/// A running invalidation ([`Namespace::invalidate`]). Dropping it does not stop it.
#[derive(Debug)]
pub struct InvalidationHandle {
    first: Option<oneshot::Receiver<bool>>,
    task: JoinHandle<()>,
}

impl InvalidationHandle {
    /// Waits for the first attempt: `true` when it replaced the generation, `false` when it
    /// failed (the task goes on retrying, and this process bypasses the namespace
    /// meanwhile). Later calls answer `false` at once.
    pub async fn first_attempt(&mut self) -> bool {
        match self.first.take() {
            Some(first) => first.await.unwrap_or(false),
            None => false,
        }
    }

    /// Waits until the invalidation is over: every retry, and the second invalidation
    /// after an unknown outcome.
    pub async fn finished(self) {
        let _ = self.task.await;
    }
}

/// Refuses a namespace that would make the key layout ambiguous.
fn check_namespace(name: &str, operation: &'static str) -> InfraResult<()> {
    let bad_char = name
        .chars()
        .find(|c| *c == ':' || c.is_whitespace() || c.is_control());
    if name.is_empty() || name.len() > MAX_NAMESPACE_LEN || bad_char.is_some() {
        return Err(InfraError::new(
            ErrorKind::InvalidInput,
            CACHE_BACKEND,
            operation,
            format!(
                "a cache namespace of {} bytes{}: expected 1-{MAX_NAMESPACE_LEN} bytes without \
                 ':', whitespace or control characters",
                name.len(),
                if bad_char.is_some() {
                    " with a forbidden character"
                } else {
                    ""
                }
            ),
        ));
    }
    Ok(())
}

/// What a flight shares: the value (or none) and its outcome, or the error.
type FlightResult<T, E> = Result<(Option<T>, Outcome), E>;

/// Whether a lease was taken on a miss.
enum Lease {
    /// No lease configured, or Redis failed to answer.
    None,
    /// This caller holds it.
    Held,
    /// Another instance holds it.
    Busy,
}

/// Holds a namespace bypassed in this process while it lives.
struct PendingGuard<'a> {
    inner: &'a Inner,
    namespace: &'a str,
}

impl<'a> PendingGuard<'a> {
    fn new(inner: &'a Inner, namespace: &'a str) -> Self {
        *lock(&inner.pending)
            .entry(namespace.to_owned())
            .or_default() += 1;
        inner.bump_epoch();
        Self { inner, namespace }
    }
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        let mut pending = lock(&self.inner.pending);
        if let Some(count) = pending.get_mut(self.namespace) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                pending.remove(self.namespace);
            }
        }
        drop(pending);
        self.inner.bump_epoch();
    }
}

impl Inner {
    fn prefix(&self) -> &str {
        &self.config.prefix
    }

    fn generation_key(&self, namespace: &str) -> String {
        format!("{}:{namespace}:gen", self.prefix())
    }

    fn value_key(&self, namespace: &str, generation: &str, key: &str) -> String {
        format!("{}:{namespace}:v:{generation}:{key}", self.prefix())
    }

    fn lease_key(&self, namespace: &str, generation: &str, key: &str) -> String {
        format!("{}:{namespace}:l:{generation}:{key}", self.prefix())
    }

    fn bump_epoch(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }

    fn is_pending(&self, namespace: &str) -> bool {
        lock(&self.pending).contains_key(namespace)
    }

    /// Counts a finished call.
    fn count_request(&self, outcome: Outcome, joined: bool) {
        let (stat, index) = if joined {
            (&self.stats.joined, 3)
        } else {
            match outcome {
                Outcome::Hit => (&self.stats.hits, 0),
                Outcome::Miss => (&self.stats.misses, 1),
                Outcome::Bypass => (&self.stats.bypasses, 2),
            }
        };
        bump(stat);
        self.metrics.requests[index].increment(1);
    }

    /// The whole of one call: checks, generation, single flight.
    async fn fetch<T, E, C, F, Fut>(
        &self,
        namespace: &str,
        codec: &C,
        key: &str,
        ttl: Duration,
        negative: bool,
        compute: F,
    ) -> Result<Fetched<Option<T>>, E>
    where
        C: Codec<T>,
        T: Clone + Send + Sync + 'static,
        E: From<InfraError> + ShareError + Send + Sync + 'static,
        F: FnOnce() -> Fut + Send,
        Fut: Future<Output = Result<Option<T>, E>> + Send,
    {
        check_namespace(namespace, "get_or_compute")?;
        if ttl.is_zero() {
            return Err(E::from(InfraError::new(
                ErrorKind::InvalidInput,
                CACHE_BACKEND,
                "get_or_compute",
                "ttl must be greater than zero",
            )));
        }
        self.max_ttl_ms.fetch_max(millis(ttl), Ordering::Relaxed);
        // Read the epoch before anything that an invalidation may change.
        let epoch = self.epoch.load(Ordering::Acquire);
        if self.is_pending(namespace) {
            return self.alone(compute).await;
        }
        let generation = match self.generation(namespace).await {
            Ok(generation) => Some(generation),
            Err(err) if self.config.on_redis_error == OnRedisError::Fail => {
                return Err(E::from(err));
            }
            Err(_) => None,
        };
        if generation
            .as_ref()
            .is_some_and(|g| g.is_uncertain(self.clock.now_ms()))
        {
            // Within an uncertainty window: no flight either, since a flight that started
            // before the late write landed must not answer a caller that came after.
            return self.alone(compute).await;
        }
        let types = TypeId::of::<(T, E)>();
        let flight_key = match &generation {
            Some(g) => format!(
                "{epoch}|{types:?}|{negative}|{}",
                self.value_key(namespace, &g.token, key)
            ),
            None => format!("{epoch}|{types:?}|{negative}|bypass|{namespace}|{key}"),
        };
        let ticket = self.flights.join(flight_key);
        let (shared, led) = ticket
            .run(|| async move {
                let result: FlightResult<T, E> = self
                    .lead(namespace, codec, key, ttl, negative, generation, compute)
                    .await;
                Arc::new(result) as Shared
            })
            .await;
        drop(ticket);
        match shared.downcast_ref::<FlightResult<T, E>>() {
            Some(Ok((value, outcome))) => {
                self.count_request(*outcome, !led);
                Ok(Fetched {
                    value: value.clone(),
                    outcome: *outcome,
                    joined: !led,
                })
            }
            Some(Err(err)) => Err(err.share()),
            // Unreachable: the flight key names the types.
            None => Err(E::from(InfraError::new(
                ErrorKind::Internal,
                CACHE_BACKEND,
                "get_or_compute",
                "a cache flight answered a value of another type",
            ))),
        }
    }

    /// Computes for this caller alone, without reading or storing.
    async fn alone<T, E, F, Fut>(&self, compute: F) -> Result<Fetched<Option<T>>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<T>, E>>,
    {
        let (value, _) = self.compute(compute, Reason::Bypass).await?;
        self.count_request(Outcome::Bypass, false);
        Ok(Fetched {
            value,
            outcome: Outcome::Bypass,
            joined: false,
        })
    }

    /// Runs `compute`, counted, and measures it.
    async fn compute<T, E, F, Fut>(
        &self,
        compute: F,
        reason: Reason,
    ) -> Result<(Option<T>, Duration), E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<T>, E>>,
    {
        bump(&self.stats.computes);
        let index = match reason {
            Reason::Miss => 0,
            Reason::EarlyRefresh => {
                bump(&self.stats.early_refreshes);
                1
            }
            Reason::Bypass => 2,
        };
        self.metrics.computes[index].increment(1);
        let started = Instant::now();
        let value = compute().await?;
        Ok((value, started.elapsed()))
    }

    /// The leader's work: read, maybe wait for another instance, compute, store.
    #[allow(clippy::too_many_arguments)]
    async fn lead<T, E, C, F, Fut>(
        &self,
        namespace: &str,
        codec: &C,
        key: &str,
        ttl: Duration,
        negative: bool,
        generation: Option<Generation>,
        compute: F,
    ) -> FlightResult<T, E>
    where
        C: Codec<T>,
        E: From<InfraError>,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<T>, E>>,
    {
        let Some(generation) = generation else {
            let (value, _) = self.compute(compute, Reason::Bypass).await?;
            return Ok((value, Outcome::Bypass));
        };
        let value_key = self.value_key(namespace, &generation.token, key);
        match self.call(CacheOp::Read, self.redis.get(&value_key)).await {
            Err(err) => {
                if self.config.on_redis_error == OnRedisError::Fail {
                    return Err(E::from(err));
                }
                let (value, _) = self.compute(compute, Reason::Bypass).await?;
                return Ok((value, Outcome::Bypass));
            }
            Ok(Some(bytes)) => {
                if let Some((value, envelope)) = self.read_entry(codec, &bytes, negative) {
                    let refresh = self.config.early_refresh_beta > 0.0
                        && should_refresh_early(
                            self.clock.now_ms(),
                            envelope.expires_at_ms,
                            Duration::from_millis(u64::from(envelope.compute_ms)),
                            self.config.early_refresh_beta,
                            1.0 - fastrand::f64(),
                        );
                    if !refresh {
                        return Ok((value, Outcome::Hit));
                    }
                    let (value, took) = self.compute(compute, Reason::EarlyRefresh).await?;
                    self.store(codec, &value_key, value.as_ref(), ttl, took)
                        .await;
                    return Ok((value, Outcome::Miss));
                }
            }
            Ok(None) => {}
        }
        let lease_key = self.lease_key(namespace, &generation.token, key);
        let lease = self.take_lease(&lease_key).await;
        if matches!(lease, Lease::Busy)
            && let Some(value) = self
                .wait_for_holder(codec, &value_key, &lease_key, negative)
                .await
        {
            return Ok((value, Outcome::Hit));
        }
        let computed = self.compute(compute, Reason::Miss).await;
        if let Ok((value, took)) = &computed {
            self.store(codec, &value_key, value.as_ref(), ttl, *took)
                .await;
        }
        if matches!(lease, Lease::Held) {
            let _ = self
                .call(CacheOp::Lease, self.redis.del(&[lease_key]))
                .await;
        }
        let (value, _) = computed?;
        Ok((value, Outcome::Miss))
    }

    /// Decodes a stored entry; `None` (counted unless it is a negative entry read by a
    /// caller that takes none) when it is not usable.
    fn read_entry<'b, T, C: Codec<T>>(
        &self,
        codec: &C,
        bytes: &'b [u8],
        negative: bool,
    ) -> Option<(Option<T>, Envelope<'b>)> {
        let Some(envelope) = Envelope::decode(bytes) else {
            self.undecodable("not an entry of this cache's format");
            return None;
        };
        match envelope.payload {
            None if negative => Some((None, envelope)),
            None => None,
            Some(payload) => match codec.decode(payload) {
                Ok(value) => Some((Some(value), envelope)),
                Err(err) => {
                    self.undecodable(&err);
                    None
                }
            },
        }
    }

    fn undecodable(&self, error: &str) {
        bump(&self.stats.errors);
        self.metrics.errors[5].increment(1);
        tracing::debug!(error, "cached entry unreadable; treated as a miss");
    }

    /// Stores a computed value (or none) with a jittered TTL, best effort.
    async fn store<T, C: Codec<T>>(
        &self,
        codec: &C,
        value_key: &str,
        value: Option<&T>,
        ttl: Duration,
        took: Duration,
    ) {
        let (ttl, payload) = match value {
            Some(value) => match codec.encode(value) {
                Ok(bytes) => (ttl, Some(bytes)),
                Err(error) => {
                    bump(&self.stats.not_encodable);
                    self.metrics.not_stored[1].increment(1);
                    tracing::debug!(error, "value not cached: the codec cannot encode it");
                    return;
                }
            },
            None => match self.config.negative_ttl {
                Some(negative_ttl) => (negative_ttl, None),
                None => return,
            },
        };
        let ttl = self.jittered(ttl);
        let bytes = Envelope {
            payload: payload.as_deref(),
            compute_ms: u32::try_from(took.as_millis()).unwrap_or(u32::MAX),
            expires_at_ms: self.clock.now_ms().saturating_add(millis(ttl)),
        }
        .encode();
        if bytes.len() > self.config.max_value_bytes {
            bump(&self.stats.too_large);
            self.metrics.not_stored[0].increment(1);
            tracing::debug!(bytes = bytes.len(), "value too large to cache");
            return;
        }
        let _ = self
            .call(
                CacheOp::Write,
                self.redis.set(value_key, &bytes, SetOptions::with_ttl(ttl)),
            )
            .await;
    }

    /// `ttl` shortened by a random fraction of at most [`CacheConfig::ttl_jitter`], never
    /// below a millisecond.
    fn jittered(&self, ttl: Duration) -> Duration {
        let jitter = self.config.ttl_jitter;
        if jitter <= 0.0 {
            return ttl;
        }
        ttl.mul_f64(1.0 - jitter * fastrand::f64())
            .max(Duration::from_millis(1))
    }

    /// Takes the lease of a missing key, when leases are configured.
    async fn take_lease(&self, lease_key: &str) -> Lease {
        let Some(lease) = self.config.lease else {
            return Lease::None;
        };
        let token = format!("{:016x}", fastrand::u64(..));
        let options = SetOptions::with_ttl(lease.wait).if_absent();
        match self
            .call(
                CacheOp::Lease,
                self.redis.set(lease_key, token.as_bytes(), options),
            )
            .await
        {
            Ok(true) => Lease::Held,
            Ok(false) => Lease::Busy,
            Err(_) => Lease::None,
        }
    }

    /// Waits for the lease holder's value: `Some` when it appeared, `None` when the lease
    /// is gone without one, the wait is over, or Redis failed.
    async fn wait_for_holder<T, C: Codec<T>>(
        &self,
        codec: &C,
        value_key: &str,
        lease_key: &str,
        negative: bool,
    ) -> Option<Option<T>> {
        let lease = self.config.lease?;
        let deadline = Instant::now() + lease.wait;
        loop {
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            tokio::time::sleep_until((now + lease.poll).min(deadline)).await;
            let bytes = self
                .call(CacheOp::Read, self.redis.get(value_key))
                .await
                .ok()?;
            if let Some(bytes) = bytes {
                return self
                    .read_entry(codec, &bytes, negative)
                    .map(|(value, _)| value);
            }
            let held = self
                .call(CacheOp::Lease, self.redis.exists(lease_key))
                .await
                .ok()?;
            if !held {
                return None;
            }
        }
    }

    /// The namespace's generation, created (with a fresh token) when missing.
    async fn generation(&self, namespace: &str) -> InfraResult<Generation> {
        let key = self.generation_key(namespace);
        let stored = self.call(CacheOp::Generation, self.redis.get(&key)).await?;
        if let Some(bytes) = stored {
            if let Some(generation) = Generation::decode(&bytes) {
                return Ok(generation);
            }
            // Not a generation of ours: replacing it orphans whatever it named.
            let fresh = Generation::fresh(None);
            self.call(
                CacheOp::Generation,
                self.redis
                    .set(&key, fresh.encode().as_bytes(), SetOptions::default()),
            )
            .await?;
            return Ok(fresh);
        }
        // First use, or evicted: a fresh token, so no older entry can be read again.
        let fresh = Generation::fresh(None);
        let created = self
            .call(
                CacheOp::Generation,
                self.redis.set(
                    &key,
                    fresh.encode().as_bytes(),
                    SetOptions::default().if_absent(),
                ),
            )
            .await?;
        if created {
            return Ok(fresh);
        }
        // Created meanwhile by another caller (or by this one's retried SET NX).
        let stored = self.call(CacheOp::Generation, self.redis.get(&key)).await?;
        stored
            .as_deref()
            .and_then(Generation::decode)
            .ok_or_else(|| {
                InfraError::new(
                    ErrorKind::Internal,
                    CACHE_BACKEND,
                    "generation",
                    "the namespace's generation changed while it was created",
                )
            })
    }

    /// Replaces the namespace's generation once; `true` on success.
    async fn replace_generation(&self, namespace: &str, window: Option<Duration>) -> bool {
        let until = window.map(|w| self.clock.now_ms().saturating_add(millis(w)));
        let fresh = Generation::fresh(until);
        let key = self.generation_key(namespace);
        let done = self
            .call(
                CacheOp::Invalidate,
                self.redis
                    .set(&key, fresh.encode().as_bytes(), SetOptions::default()),
            )
            .await
            .is_ok();
        if done {
            bump(&self.stats.invalidations);
            self.metrics.invalidations[0].increment(1);
            self.bump_epoch();
        } else {
            bump(&self.stats.invalidation_failures);
            self.metrics.invalidations[1].increment(1);
        }
        done
    }

    /// Replaces the generation, retrying with backoff until `deadline`. The first
    /// attempt's result goes to `first`; after a failed first attempt, `bypass` holds
    /// the namespace bypassed in this process.
    async fn replace_with_retries<'a>(
        &'a self,
        namespace: &'a str,
        window: Option<Duration>,
        deadline: Instant,
        first: &mut Option<oneshot::Sender<bool>>,
        bypass: &mut Option<PendingGuard<'a>>,
    ) -> bool {
        let (mut delay, max_delay) = self.config.invalidation_backoff;
        loop {
            let done = self.replace_generation(namespace, window).await;
            if let Some(first) = first.take() {
                let _ = first.send(done);
            }
            if done {
                return true;
            }
            if bypass.is_none() {
                *bypass = Some(PendingGuard::new(self, namespace));
            }
            // Equal jitter: [delay/2, delay].
            let wait = delay.mul_f64(0.5 + 0.5 * fastrand::f64());
            if Instant::now() + wait >= deadline {
                bump(&self.stats.invalidations_abandoned);
                self.metrics.invalidations[2].increment(1);
                tracing::warn!(
                    namespace,
                    "cache invalidation abandoned: its entries have expired by now"
                );
                return false;
            }
            tokio::time::sleep(wait).await;
            delay = (delay * 2).min(max_delay);
        }
    }

    /// The task of [`Namespace::invalidate`].
    async fn invalidation(
        self: Arc<Self>,
        namespace: String,
        outcome: WriteOutcome,
        first: oneshot::Sender<bool>,
    ) {
        let retry_for = self
            .config
            .invalidation_retry_for
            .max(Duration::from_millis(
                self.max_ttl_ms.load(Ordering::Relaxed),
            ));
        let mut first = Some(first);
        let mut bypass = None;
        match outcome {
            WriteOutcome::Known => {
                let deadline = Instant::now() + retry_for;
                self.bump_epoch();
                self.replace_with_retries(&namespace, None, deadline, &mut first, &mut bypass)
                    .await;
            }
            WriteOutcome::Unknown => {
                let window = self.config.uncertain_write_window;
                // This process bypasses the namespace from now until the second
                // invalidation, whatever Redis does.
                bypass = Some(PendingGuard::new(&self, &namespace));
                let deadline = Instant::now() + retry_for + window;
                let mut unused = None;
                if self
                    .replace_with_retries(
                        &namespace,
                        Some(window),
                        deadline,
                        &mut first,
                        &mut unused,
                    )
                    .await
                {
                    tokio::time::sleep(window).await;
                    let mut none = None;
                    self.replace_with_retries(&namespace, None, deadline, &mut none, &mut unused)
                        .await;
                }
            }
        }
        drop(bypass);
    }

    /// Runs one Redis call under the operation timeout, counting and logging a failure.
    async fn call<T>(
        &self,
        operation: CacheOp,
        call: impl Future<Output = InfraResult<T>>,
    ) -> InfraResult<T> {
        match tokio::time::timeout(self.config.op_timeout, call).await {
            Ok(Ok(value)) => {
                self.recovered();
                Ok(value)
            }
            Ok(Err(err)) => {
                self.failed(operation, err.kind().as_str(), &err.chain());
                Err(err)
            }
            Err(_) => {
                let message = format!(
                    "no answer within {}",
                    humantime::format_duration(self.config.op_timeout)
                );
                self.failed(operation, "timeout", &message);
                Err(InfraError::new(
                    ErrorKind::Timeout,
                    REDIS_BACKEND,
                    operation.as_str(),
                    message,
                ))
            }
        }
    }

    /// Counts a failure and logs it: at `warn` when none was logged for [`WARN_EVERY`]
    /// (with how many were not), else at `debug`.
    fn failed(&self, operation: CacheOp, kind: &str, error: &str) {
        bump(&self.stats.errors);
        let index = CacheOp::ALL
            .iter()
            .position(|op| *op == operation)
            .unwrap_or(0);
        self.metrics.errors[index].increment(1);
        self.health.degraded.store(true, Ordering::Relaxed);
        let now = Instant::now();
        let warn = {
            let mut last = lock(&self.health.last_warn);
            let due = last.is_none_or(|at| now.duration_since(at) >= WARN_EVERY);
            if due {
                *last = Some(now);
            }
            due
        };
        let (cache, operation) = (self.config.name.as_str(), operation.as_str());
        if !warn {
            self.health.suppressed.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(cache, operation, kind, error, "cache call failed");
            return;
        }
        let suppressed = self.health.suppressed.swap(0, Ordering::Relaxed);
        tracing::warn!(
            cache,
            operation,
            kind,
            error,
            suppressed,
            "cache call failed: computing without the cache (an invalidation is retried)"
        );
    }

    fn recovered(&self) {
        if self.health.degraded.swap(false, Ordering::Relaxed) {
            tracing::info!(cache = %self.config.name, "cache available again");
        }
    }
}
