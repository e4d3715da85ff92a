//! [`SearchCache`]: cache-aside of search results in Redis, invalidated by a per-collection
//! generation counter.
//!
//! # Keys
//!
//! ```text
//! {namespace}:{collection}:gen                      integer, no TTL: bumped (INCR) by every write
//! {namespace}:{collection}:search:{gen}:{sha256}    JSON hits, expire after the cache TTL
//! ```
//!
//! A search reads the collection's generation (a missing key is generation 0), then the
//! entry keyed by that generation and the SHA-256 of the canonical JSON of the whole query
//! (vector, limit, threshold, filter, payload/vector flags, exact): two round trips, no
//! scan. A write bumps the generation *after* the vector store applied it, so a search that
//! raced the write can only have stored its (possibly old) answer under the old generation,
//! which no reader asks for any more; old entries simply expire. Collection names are
//! `[A-Za-z0-9_.-]`, so the `:`-separated layout is unambiguous.
//!
//! # Failures
//!
//! Redis never fails a search: an absent port, an error or a call slower than
//! [`CacheConfig::op_timeout`] makes the search a `bypass` (answered by the vector store,
//! not cached), is counted, and logged at `warn` at most once per [`WARN_EVERY`] (with the
//! number of failures in between; `debug` otherwise); the first success afterwards is
//! logged at `info`. A failed invalidation is logged and counted too: entries of the old
//! generation may then be served until they expire (at most the TTL). The adapter's own
//! timeouts, retries and circuit breaker bound each call further; with the breaker open a
//! bypass costs microseconds.
//!
//! With an eviction policy that may evict keys without a TTL (`allkeys-*`), a generation
//! key evicted while old entries survive could let those entries be served again, for at
//! most the TTL; the generation key is read by every search, so LRU keeps it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use infra_base::{InfraError, RedisPort, ScoredPoint, SearchQuery, SetOptions};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::time::Instant;

/// Prefix of every key the catalog writes; bump the version when the value format changes.
pub const CACHE_NAMESPACE: &str = "infra-server:v1";

/// How long a cached search answer lives (no configuration key yet: see the crate docs).
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_mins(1);

/// Longest a single cache operation may take, retries included, before the search bypasses
/// the cache; the composition root uses `SOCIAL_REDIS__COMMAND_TIMEOUT` (same default).
pub const DEFAULT_CACHE_OP_TIMEOUT: Duration = Duration::from_secs(1);

/// Answers whose JSON is larger than this are not cached (a big `limit` with vectors).
pub const MAX_CACHED_BYTES: usize = 1024 * 1024;

/// Cache failures are logged at `warn` at most this often.
pub const WARN_EVERY: Duration = Duration::from_secs(10);

/// The operation name of an invalidation (`INCR` of the generation).
const INVALIDATE: &str = "incr_by";

/// How the search cache behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheConfig {
    /// Lifetime of a cached answer (default [`DEFAULT_CACHE_TTL`]).
    pub ttl: Duration,
    /// Longest one Redis call may take, retries included, before the search goes without
    /// the cache (default [`DEFAULT_CACHE_OP_TIMEOUT`]).
    pub op_timeout: Duration,
    /// Key prefix (default [`CACHE_NAMESPACE`]).
    pub namespace: String,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            ttl: DEFAULT_CACHE_TTL,
            op_timeout: DEFAULT_CACHE_OP_TIMEOUT,
            namespace: CACHE_NAMESPACE.to_owned(),
        }
    }
}

/// How a search used the cache; sent as the `x-cache` response header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheStatus {
    /// Answered from Redis; the vector store was not asked.
    Hit,
    /// Not in Redis: answered by the vector store and stored for the TTL.
    Miss,
    /// Redis not configured or failing: answered by the vector store, nothing cached.
    Bypass,
}

impl CacheStatus {
    /// `hit`, `miss` or `bypass`.
    pub const fn as_str(self) -> &'static str {
        match self {
            CacheStatus::Hit => "hit",
            CacheStatus::Miss => "miss",
            CacheStatus::Bypass => "bypass",
        }
    }
}

impl std::fmt::Display for CacheStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the cache did since the service started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CacheCounters {
    /// Searches answered from Redis.
    pub hits: u64,
    /// Searches not found in Redis (then stored).
    pub misses: u64,
    /// Searches that went without the cache.
    pub bypasses: u64,
    /// Redis calls that failed or timed out (reads, writes and invalidations).
    pub errors: u64,
    /// Generations bumped after writes.
    pub invalidations: u64,
    /// Invalidations that failed (old entries may live until their TTL).
    pub invalidation_failures: u64,
    /// Answers not stored because they exceed [`MAX_CACHED_BYTES`].
    pub too_large: u64,
}

#[derive(Debug, Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    bypasses: AtomicU64,
    errors: AtomicU64,
    invalidations: AtomicU64,
    invalidation_failures: AtomicU64,
    too_large: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Rate-limits the warnings of a failing cache and notices its recovery.
#[derive(Debug, Default)]
struct Health {
    degraded: AtomicBool,
    last_warn: Mutex<Option<Instant>>,
    suppressed: AtomicU64,
}

/// The result of [`SearchCache::lookup`].
#[derive(Debug)]
pub(crate) struct Lookup {
    /// The cached answer, on a hit.
    pub(crate) hits: Option<Vec<ScoredPoint>>,
    /// Where to store the answer, on a miss; `None` when the cache is bypassed.
    pub(crate) key: Option<String>,
}

impl Lookup {
    pub(crate) fn status(&self) -> CacheStatus {
        match (&self.hits, &self.key) {
            (Some(_), _) => CacheStatus::Hit,
            (None, Some(_)) => CacheStatus::Miss,
            (None, None) => CacheStatus::Bypass,
        }
    }

    fn bypass() -> Self {
        Self {
            hits: None,
            key: None,
        }
    }
}

/// Cache-aside of search answers; see the [module docs](self) for keys and failures.
#[derive(Debug)]
pub struct SearchCache {
    config: CacheConfig,
    counters: Arc<Counters>,
    health: Health,
}

/// The canonical form of a query that is hashed into its key: every field that changes the
/// answer, in a fixed order.
#[derive(Serialize)]
struct Fingerprint<'a> {
    vector: &'a [f32],
    limit: usize,
    score_threshold: Option<f32>,
    filter: &'a infra_base::Filter,
    with_payload: bool,
    with_vector: bool,
    exact: bool,
}

impl SearchCache {
    /// A cache behaving as `config` says.
    pub fn new(config: CacheConfig) -> Self {
        Self {
            config,
            counters: Arc::default(),
            health: Health::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &CacheConfig {
        &self.config
    }

    /// A snapshot of the counters.
    pub fn counters(&self) -> CacheCounters {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        CacheCounters {
            hits: get(&c.hits),
            misses: get(&c.misses),
            bypasses: get(&c.bypasses),
            errors: get(&c.errors),
            invalidations: get(&c.invalidations),
            invalidation_failures: get(&c.invalidation_failures),
            too_large: get(&c.too_large),
        }
    }

    /// The generation key of `collection`.
    pub fn generation_key(&self, collection: &str) -> String {
        format!("{}:{collection}:gen", self.config.namespace)
    }

    /// The key of `query`'s answer in `collection` at `generation`.
    pub fn search_key(&self, collection: &str, generation: i64, query: &SearchQuery) -> String {
        let fingerprint = Fingerprint {
            vector: &query.vector,
            limit: query.limit,
            score_threshold: query.score_threshold,
            filter: &query.filter,
            with_payload: query.with_payload,
            with_vector: query.with_vector,
            exact: query.exact,
        };
        // Serializing plain numbers, strings and the filter cannot fail.
        let canonical = serde_json::to_vec(&fingerprint).unwrap_or_default();
        let digest = Sha256::digest(&canonical);
        let mut hex = String::with_capacity(64);
        for byte in &digest {
            use std::fmt::Write as _;
            let _ = write!(hex, "{byte:02x}");
        }
        format!(
            "{}:{collection}:search:{generation}:{hex}",
            self.config.namespace
        )
    }

    /// Looks `query` up: a hit, a miss (with the key to store the answer under) or a bypass.
    pub(crate) async fn lookup(
        &self,
        redis: Option<&Arc<dyn RedisPort>>,
        collection: &str,
        query: &SearchQuery,
    ) -> Lookup {
        let Some(redis) = redis else {
            bump(&self.counters.bypasses);
            return Lookup::bypass();
        };
        let gen_key = self.generation_key(collection);
        let Some(generation) = self.call("get", collection, redis.get(&gen_key)).await else {
            bump(&self.counters.bypasses);
            return Lookup::bypass();
        };
        let generation = parse_generation(generation.as_deref());
        let key = self.search_key(collection, generation, query);
        match self.call("get", collection, redis.get(&key)).await {
            None => {
                bump(&self.counters.bypasses);
                Lookup::bypass()
            }
            Some(Some(bytes)) => match serde_json::from_slice::<Vec<ScoredPoint>>(&bytes) {
                Ok(hits) => {
                    bump(&self.counters.hits);
                    Lookup {
                        hits: Some(hits),
                        key: Some(key),
                    }
                }
                Err(err) => {
                    // Not ours (or an old format): answer from the store and overwrite it.
                    tracing::debug!(error = %err, "cached search answer unreadable; treated as a miss");
                    bump(&self.counters.misses);
                    Lookup {
                        hits: None,
                        key: Some(key),
                    }
                }
            },
            Some(None) => {
                bump(&self.counters.misses);
                Lookup {
                    hits: None,
                    key: Some(key),
                }
            }
        }
    }

    /// Stores an answer under `key` for the TTL (best effort).
    pub(crate) async fn store(
        &self,
        redis: Option<&Arc<dyn RedisPort>>,
        collection: &str,
        key: &str,
        hits: &[ScoredPoint],
    ) {
        let Some(redis) = redis else { return };
        let Ok(bytes) = serde_json::to_vec(hits) else {
            return;
        };
        if bytes.len() > MAX_CACHED_BYTES {
            bump(&self.counters.too_large);
            tracing::debug!(bytes = bytes.len(), "search answer too large to cache");
            return;
        }
        let options = SetOptions::with_ttl(self.config.ttl);
        let _ = self
            .call("set", collection, redis.set(key, &bytes, options))
            .await;
    }

    /// Bumps `collection`'s generation so that no cached answer of it is read again.
    pub(crate) async fn invalidate(&self, redis: Option<&Arc<dyn RedisPort>>, collection: &str) {
        let Some(redis) = redis else { return };
        let key = self.generation_key(collection);
        if self
            .call(INVALIDATE, collection, redis.incr_by(&key, 1, None))
            .await
            .is_some()
        {
            bump(&self.counters.invalidations);
        } else {
            bump(&self.counters.invalidation_failures);
        }
    }

    /// Runs one Redis call under the operation timeout; `None` (counted and logged) when it
    /// fails or times out.
    async fn call<T>(
        &self,
        operation: &'static str,
        collection: &str,
        call: impl Future<Output = Result<T, InfraError>>,
    ) -> Option<T> {
        match tokio::time::timeout(self.config.op_timeout, call).await {
            Ok(Ok(value)) => {
                self.recovered();
                Some(value)
            }
            Ok(Err(err)) => {
                self.failed(operation, collection, err.kind().as_str(), &err.chain());
                None
            }
            Err(_) => {
                let detail = format!(
                    "no answer within {}",
                    humantime::format_duration(self.config.op_timeout)
                );
                self.failed(operation, collection, "timeout", &detail);
                None
            }
        }
    }

    /// Counts a failure and logs it: at `warn` when none was logged for [`WARN_EVERY`]
    /// (with how many were not), else at `debug`.
    fn failed(&self, operation: &'static str, collection: &str, kind: &str, error: &str) {
        bump(&self.counters.errors);
        self.health.degraded.store(true, Ordering::Relaxed);
        let now = Instant::now();
        let warn = {
            let mut last = self
                .health
                .last_warn
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let due = last.is_none_or(|at| now.duration_since(at) >= WARN_EVERY);
            if due {
                *last = Some(now);
            }
            due
        };
        if !warn {
            self.health.suppressed.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(
                operation,
                collection,
                kind,
                error,
                "search cache call failed"
            );
            return;
        }
        let suppressed = self.health.suppressed.swap(0, Ordering::Relaxed);
        if operation == INVALIDATE {
            tracing::warn!(
                operation, collection, kind, error, suppressed,
                ttl = %humantime::format_duration(self.config.ttl),
                "search cache not invalidated after a write: the collection's cached answers \
                 may be served until they expire"
            );
        } else {
            tracing::warn!(
                operation,
                collection,
                kind,
                error,
                suppressed,
                "search cache unavailable: searches bypass the cache"
            );
        }
    }

    fn recovered(&self) {
        if self.health.degraded.swap(false, Ordering::Relaxed) {
            tracing::info!("search cache available again");
        }
    }
}

/// A generation as stored by `INCR`: decimal text; anything else counts as 0.
fn parse_generation(value: Option<&[u8]>) -> i64 {
    value
        .and_then(|bytes| std::str::from_utf8(bytes).ok())
        .and_then(|text| text.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use infra_base::{Condition, Filter};

    #[test]
    fn keys_follow_the_documented_layout() {
        let cache = SearchCache::new(CacheConfig::default());
        assert_eq!(cache.generation_key("items"), "infra-server:v1:items:gen");
        let key = cache.search_key("items", 7, &SearchQuery::new(vec![1.0, 0.0], 3));
        let (prefix, hash) = key.rsplit_once(':').unwrap();
        assert_eq!(prefix, "infra-server:v1:items:search:7");
        assert_eq!(hash.len(), 64);
        assert!(hash.bytes().all(|b| b.is_ascii_hexdigit()));
    }

    #[test]
    fn every_field_of_the_query_changes_the_key() {
        let cache = SearchCache::new(CacheConfig::default());
        let base = SearchQuery::new(vec![1.0, 0.0], 3);
        let key = |q: &SearchQuery| cache.search_key("c", 1, q);
        let variants = [
            SearchQuery::new(vec![1.0, 0.5], 3),
            SearchQuery::new(vec![1.0, 0.0], 4),
            base.clone().score_threshold(0.5),
            base.clone()
                .filter(Filter::default().must(Condition::keyword("a", "b"))),
            base.clone().with_payload(false),
            base.clone().with_vector(true),
            base.clone().exact(true),
        ];
        let mut keys: Vec<String> = variants.iter().map(key).collect();
        keys.push(key(&base));
        keys.push(cache.search_key("c", 2, &base));
        keys.push(cache.search_key("d", 1, &base));
        let count = keys.len();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), count, "{keys:?}");
        assert_eq!(key(&base), key(&base.clone()), "the key is deterministic");
    }

    #[test]
    fn generations_parse_leniently() {
        assert_eq!(parse_generation(None), 0);
        assert_eq!(parse_generation(Some(b"42")), 42);
        assert_eq!(parse_generation(Some(b"x")), 0);
    }

    #[test]
    fn statuses_render_as_header_values() {
        assert_eq!(CacheStatus::Hit.to_string(), "hit");
        assert_eq!(CacheStatus::Miss.as_str(), "miss");
        assert_eq!(CacheStatus::Bypass.as_str(), "bypass");
    }
}
