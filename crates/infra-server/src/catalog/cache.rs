//! [`SearchCache`]: the catalog's search answers, cached in Redis with infra-base's
//! [`Cache`] (single flight, stampede lease, early refresh, generation-based invalidation).
//!
//! # Keys
//!
//! One cache namespace per collection; the key of an answer is the SHA-256 of the
//! canonical JSON of the whole search (vector, limit, threshold, filter, payload/vector
//! flags, exact), or of `query:` and the whole universal query, so the two never share an
//! entry. With the prefix [`CacheConfig::namespace`]:
//!
//! ```text
//! {namespace}:{collection}:gen                        the collection's generation, no TTL
//! {namespace}:{collection}:v:{generation}:{sha256}    an answer, expires after its TTL
//! {namespace}:{collection}:l:{generation}:{sha256}    a lease while one instance computes it
//! ```
//!
//! The namespace is [`CACHE_NAMESPACE`] followed by the identity of the vector store
//! (`composition::store_identity`: a hash of the remote endpoint, or of the embedded
//! store's path and the process), so two deployments on different stores that share a
//! Redis database never read each other's answers. Collection names are `[A-Za-z0-9_.-]`,
//! so the layout is unambiguous.
//!
//! # Freshness
//!
//! Every write to a collection invalidates its answers after the store answered, in a task
//! that a client disconnecting cannot cancel; a write cancelled mid-flight invalidates too
//! (from a drop guard). A write whose outcome is unknown (timeout, transport error, open
//! circuit, cancellation) opens an uncertainty window
//! ([`CacheConfig::uncertain_write_window`]) during which no instance caches the
//! collection, then invalidates again. A failed invalidation is retried with backoff, and
//! this process bypasses the collection until it succeeds. The guarantees and their limits
//! are those of [`infra_base::cache`] ("Invalidation after a write").
//!
//! # Failures
//!
//! Redis never fails a search: an absent port, an error or a call slower than
//! [`CacheConfig::op_timeout`] makes the search a `bypass` (answered by the vector store,
//! not cached), counted and logged at `warn` at most once per [`WARN_EVERY`]. The adapter's
//! own timeouts, retries and circuit breaker bound each call further; with the breaker open
//! a bypass costs microseconds.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use infra_base::cache::{Cache, CacheStats, LeaseConfig, Outcome, WriteOutcome};
use infra_base::{ErrorKind, InfraResult, QueryRequest, RedisPort, ScoredPoint, SearchQuery};
use serde::Serialize;
use sha2::{Digest, Sha256};

pub use infra_base::cache::WARN_EVERY;

/// First part of every key the catalog writes; bump the version when the value format
/// changes. The store identity follows it.
pub const CACHE_NAMESPACE: &str = "infra-server:v2";

/// The `cache_name` label of the search cache's metrics.
pub const CACHE_NAME: &str = "search";

/// How long a cached search answer lives by default (`SOCIAL_CACHE__TTL`).
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_mins(1);

/// Longest a single cache operation may take, retries included, before the search bypasses
/// the cache; the composition root uses `SOCIAL_REDIS__COMMAND_TIMEOUT` (same default).
pub const DEFAULT_CACHE_OP_TIMEOUT: Duration = Duration::from_secs(1);

/// Answers whose stored form is larger than this are not cached by default
/// (`SOCIAL_CACHE__MAX_VALUE_SIZE`).
pub const MAX_CACHED_BYTES: usize = 1024 * 1024;

/// How the search cache behaves; the composition root builds it from `SOCIAL_CACHE__*`.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheConfig {
    /// Lifetime of a cached answer (default [`DEFAULT_CACHE_TTL`]).
    pub ttl: Duration,
    /// Longest one Redis call may take, retries included, before the search goes without
    /// the cache (default [`DEFAULT_CACHE_OP_TIMEOUT`]).
    pub op_timeout: Duration,
    /// Key prefix: [`CACHE_NAMESPACE`] and the store identity (default
    /// [`CACHE_NAMESPACE`] alone, for tests).
    pub namespace: String,
    /// Largest random part of a TTL cut off, as a fraction (default 0.1).
    pub ttl_jitter: f64,
    /// Largest stored answer in bytes (default [`MAX_CACHED_BYTES`]).
    pub max_value_bytes: usize,
    /// Whether hot answers are recomputed shortly before they expire (default true).
    pub early_refresh: bool,
    /// How long an instance waits for another's computation of a missing answer; `None`
    /// computes at once (default 500 ms).
    pub lease_wait: Option<Duration>,
    /// How long a collection is not cached after a write of unknown outcome (default
    /// 10 s).
    pub uncertain_write_window: Duration,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            ttl: DEFAULT_CACHE_TTL,
            op_timeout: DEFAULT_CACHE_OP_TIMEOUT,
            namespace: CACHE_NAMESPACE.to_owned(),
            ttl_jitter: 0.1,
            max_value_bytes: MAX_CACHED_BYTES,
            early_refresh: true,
            lease_wait: Some(Duration::from_millis(500)),
            uncertain_write_window: Duration::from_secs(10),
        }
    }
}

impl CacheConfig {
    /// The configuration of infra-base's [`Cache`].
    fn cache_config(&self) -> infra_base::cache::CacheConfig {
        infra_base::cache::CacheConfig {
            op_timeout: self.op_timeout,
            ttl_jitter: self.ttl_jitter,
            max_value_bytes: self.max_value_bytes,
            early_refresh_beta: if self.early_refresh { 1.0 } else { 0.0 },
            lease: self.lease_wait.map(|wait| LeaseConfig {
                wait,
                ..LeaseConfig::default()
            }),
            uncertain_write_window: self.uncertain_write_window,
            invalidation_retry_for: self.ttl,
            ..infra_base::cache::CacheConfig::new(CACHE_NAME, self.namespace.clone())
        }
    }
}

/// How a search used the cache; sent as the `x-cache` response header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheStatus {
    /// Answered from Redis; the vector store was not asked.
    Hit,
    /// Not in Redis: answered by the vector store (once for concurrent identical searches)
    /// and stored for the TTL.
    Miss,
    /// Redis not configured or failing, the collection within an invalidation's
    /// uncertainty window, or a query reading another collection (`lookup_from`): answered
    /// by the vector store, nothing cached.
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

impl From<Outcome> for CacheStatus {
    fn from(outcome: Outcome) -> Self {
        match outcome {
            Outcome::Hit => CacheStatus::Hit,
            Outcome::Miss => CacheStatus::Miss,
            Outcome::Bypass => CacheStatus::Bypass,
        }
    }
}

impl std::fmt::Display for CacheStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The catalog's search cache; see the [module docs](self).
#[derive(Debug)]
pub struct SearchCache {
    config: CacheConfig,
    cache: Option<Cache>,
}

/// The canonical form of a query that is hashed into its key: every field that changes the
/// answer, in a fixed order.
#[derive(Serialize)]
struct Fingerprint<'a> {
    /// Untagged: a dense vector is the list of numbers keys were always made of.
    vector: &'a infra_base::Vector,
    /// Absent for the unnamed vector, so those keys are unchanged.
    #[serde(skip_serializing_if = "Option::is_none")]
    using: Option<&'a str>,
    limit: usize,
    score_threshold: Option<f32>,
    filter: &'a infra_base::Filter,
    with_payload: bool,
    with_vector: bool,
    exact: bool,
}

impl SearchCache {
    /// A cache behaving as `config` says, over `redis` (without a port every search is a
    /// bypass).
    pub fn new(redis: Option<Arc<dyn RedisPort>>, config: CacheConfig) -> Self {
        let cache = redis.map(|redis| Cache::new(redis, config.cache_config()));
        Self { config, cache }
    }

    /// The configuration.
    pub fn config(&self) -> &CacheConfig {
        &self.config
    }

    /// What the cache did so far (all zero without Redis).
    pub fn stats(&self) -> CacheStats {
        self.cache.as_ref().map(Cache::stats).unwrap_or_default()
    }

    /// The key of `query` within its collection: the SHA-256 of its canonical JSON, in hex.
    pub fn fingerprint(query: &SearchQuery) -> String {
        let fingerprint = Fingerprint {
            vector: &query.vector,
            using: query.using.as_deref(),
            limit: query.limit,
            score_threshold: query.score_threshold,
            filter: &query.filter,
            with_payload: query.with_payload,
            with_vector: query.with_vector,
            exact: query.exact,
        };
        // Serializing plain numbers, strings and the filter cannot fail.
        digest_hex(&serde_json::to_vec(&fingerprint).unwrap_or_default())
    }

    /// The key of a universal `query` within its collection: the SHA-256 of `query:` and
    /// its canonical JSON, in hex (apart from every search's key).
    pub fn query_fingerprint(request: &QueryRequest) -> String {
        let mut canonical = b"query:".to_vec();
        // A request is plain data (numbers, strings, vectors, filters): it serializes.
        canonical.extend(serde_json::to_vec(request).unwrap_or_default());
        digest_hex(&canonical)
    }

    /// The Redis key of `query`'s answer in `collection` now (`None` without Redis or
    /// before the collection's first cached search).
    pub async fn entry_key(&self, collection: &str, query: &SearchQuery) -> Option<String> {
        let cache = self.cache.as_ref()?;
        cache
            .namespace(collection)
            .entry_key(&Self::fingerprint(query))
            .await
            .ok()
            .flatten()
    }

    /// The answer whose key is `fingerprint` ([`fingerprint`](Self::fingerprint) or
    /// [`query_fingerprint`](Self::query_fingerprint)): cached, or computed by `search`
    /// (once for concurrent identical searches in this process) and cached.
    pub(crate) async fn search<F, Fut>(
        &self,
        collection: &str,
        fingerprint: &str,
        search: F,
    ) -> InfraResult<(Vec<ScoredPoint>, CacheStatus)>
    where
        F: FnOnce() -> Fut + Send,
        Fut: Future<Output = InfraResult<Vec<ScoredPoint>>> + Send,
    {
        let Some(cache) = &self.cache else {
            return Ok((search().await?, CacheStatus::Bypass));
        };
        let fetched = cache
            .namespace(collection)
            .get_or_compute(fingerprint, self.config.ttl, search)
            .await?;
        Ok((fetched.value, fetched.outcome.into()))
    }

    /// Invalidates `collection`'s answers after a write whose result is `result`, and
    /// waits for the first attempt (bounded by the operation timeout); retries and the
    /// second invalidation of an unknown outcome go on in their task.
    pub(crate) async fn after_write<T>(&self, collection: &str, result: &InfraResult<T>) {
        if let Some(mut handle) = self.invalidate(collection, write_outcome(result)) {
            handle.first_attempt().await;
        }
    }

    /// Starts an invalidation of `collection` (none without Redis).
    fn invalidate(
        &self,
        collection: &str,
        outcome: WriteOutcome,
    ) -> Option<infra_base::cache::InvalidationHandle> {
        let cache = self.cache.as_ref()?;
        match cache.namespace(collection).invalidate(outcome) {
            Ok(handle) => Some(handle),
            Err(err) => {
                tracing::warn!(collection, error = %err, "search cache not invalidated");
                None
            }
        }
    }

    /// A guard to hold while a write to `collection` runs: dropped before
    /// [`WriteGuard::done`] (the write was cancelled mid-flight, so its outcome is
    /// unknown), it starts an invalidation of unknown outcome.
    pub(crate) fn guard<'a>(&'a self, collection: &'a str) -> WriteGuard<'a> {
        WriteGuard {
            cache: self,
            collection,
            armed: true,
        }
    }
}

/// SHA-256 of `bytes`, in lower-case hex.
fn digest_hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let digest = Sha256::digest(bytes);
    let mut hex = String::with_capacity(64);
    for byte in &digest {
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

/// What the catalog knows about a write from its result: applied or refused (a known
/// outcome), or possibly applied later (unknown).
pub(crate) fn write_outcome<T>(result: &InfraResult<T>) -> WriteOutcome {
    match result {
        Ok(_) => WriteOutcome::Known,
        Err(err) => match err.kind() {
            // Refused before anything was written (the ports' contract).
            ErrorKind::InvalidInput
            | ErrorKind::NotFound
            | ErrorKind::Conflict
            | ErrorKind::Unsupported
            | ErrorKind::NotConfigured
            | ErrorKind::Auth => WriteOutcome::Known,
            // A timeout, a transport error, an open circuit after an earlier attempt, a
            // pool or internal error: the write may have been sent, and may land later.
            _ => WriteOutcome::Unknown,
        },
    }
}

/// See [`SearchCache::guard`].
pub(crate) struct WriteGuard<'a> {
    cache: &'a SearchCache,
    collection: &'a str,
    armed: bool,
}

impl WriteGuard<'_> {
    /// The write finished: its result decides the invalidation, not this guard.
    pub(crate) fn done(mut self) {
        self.armed = false;
    }
}

impl Drop for WriteGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            tracing::debug!(
                collection = self.collection,
                "write cancelled mid-flight: invalidating its collection as of unknown outcome"
            );
            let _ = self
                .cache
                .invalidate(self.collection, WriteOutcome::Unknown);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use infra_base::{Condition, Filter, InfraError};

    #[test]
    fn every_field_of_the_query_changes_the_key() {
        let base = SearchQuery::new(vec![1.0, 0.0], 3);
        let key = SearchCache::fingerprint;
        let variants = [
            SearchQuery::new(vec![1.0, 0.5], 3),
            SearchQuery::new(vec![1.0, 0.0], 4),
            base.clone().score_threshold(0.5),
            base.clone()
                .filter(Filter::default().must(Condition::keyword("a", "b"))),
            base.clone().with_payload(false),
            base.clone().with_vector(true),
            base.clone().exact(true),
            base.clone().using("image"),
            SearchQuery::sparse(
                "words",
                infra_base::SparseVector::new(vec![0], vec![1.0]),
                3,
            ),
        ];
        let mut keys: Vec<String> = variants.iter().map(key).collect();
        keys.push(key(&base));
        let count = keys.len();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), count, "{keys:?}");
        assert_eq!(key(&base), key(&base.clone()), "the key is deterministic");
        assert_eq!(key(&base).len(), 64);
        assert!(key(&base).bytes().all(|b| b.is_ascii_hexdigit()));
    }

    #[test]
    fn statuses_render_as_header_values() {
        assert_eq!(CacheStatus::Hit.to_string(), "hit");
        assert_eq!(CacheStatus::Miss.as_str(), "miss");
        assert_eq!(CacheStatus::Bypass.as_str(), "bypass");
        assert_eq!(CacheStatus::from(Outcome::Bypass), CacheStatus::Bypass);
    }

    #[test]
    fn only_refusals_are_writes_of_known_outcome() {
        assert_eq!(write_outcome(&Ok(())), WriteOutcome::Known);
        for kind in ErrorKind::ALL {
            let result: InfraResult<()> = Err(InfraError::new(kind, "qdrant", "upsert", "x"));
            let expected = if matches!(
                kind,
                ErrorKind::InvalidInput
                    | ErrorKind::NotFound
                    | ErrorKind::Conflict
                    | ErrorKind::Unsupported
                    | ErrorKind::NotConfigured
                    | ErrorKind::Auth
            ) {
                WriteOutcome::Known
            } else {
                WriteOutcome::Unknown
            };
            assert_eq!(write_outcome(&result), expected, "{kind}");
        }
    }

    #[test]
    fn settings_become_the_base_cache_configuration() {
        let config = CacheConfig {
            ttl: Duration::from_secs(30),
            early_refresh: false,
            lease_wait: None,
            namespace: "infra-server:v2:abc".to_owned(),
            ..CacheConfig::default()
        };
        let base = config.cache_config();
        assert_eq!(
            (base.name.as_str(), base.prefix.as_str()),
            (CACHE_NAME, "infra-server:v2:abc")
        );
        assert!(base.early_refresh_beta <= 0.0, "off");
        assert!(base.lease.is_none());
        assert_eq!(base.invalidation_retry_for, Duration::from_secs(30));
        let defaults = CacheConfig::default().cache_config();
        assert_eq!(
            defaults.lease.map(|l| l.wait),
            Some(Duration::from_millis(500))
        );
        assert_eq!(defaults.max_value_bytes, MAX_CACHED_BYTES);
    }
}
