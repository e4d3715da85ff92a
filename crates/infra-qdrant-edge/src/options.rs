//! Tuning of the embedded store: durability, limits, indexing and storage placement.

use std::time::Duration;

use infra_base::{ErrorKind, InfraError, InfraResult, VECTOR_BACKEND};
use infra_config::QdrantSettings;

/// How the embedded store writes, indexes and places data, and what it refuses. The
/// defaults suit a service and match the defaults of the `SOCIAL_QDRANT__*` keys: every
/// write on disk before it returns, at most 32 engine calls at once, each bounded by 5 s,
/// at most 100 collections, exact search on collections of up to 100,000 points,
/// Qdrant's indexing threshold and HNSW parameters with automatic indexing, vectors in RAM
/// and payloads on disk.
///
/// ```
/// use std::time::Duration;
/// use infra_qdrant_edge::EdgeStoreOptions;
///
/// // Faster writes, of which a crash may lose the last 200 ms; index collections above
/// // 512 KiB of vectors.
/// let options = EdgeStoreOptions::default()
///     .flush_on_write(false)
///     .flush_interval(Some(Duration::from_millis(200)))
///     .indexing_threshold_kb(Some(512));
/// assert!(!options.flush_on_write);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
// Independent switches, each documented, mirroring the engine's own configuration.
#[allow(clippy::struct_excessive_bools)]
pub struct EdgeStoreOptions {
    /// Flush every write to disk before it returns (default `true`,
    /// `SOCIAL_QDRANT__FLUSH_ON_WRITE`): a crash loses no acknowledged write.
    ///
    /// qdrant-edge 0.7 writes a write-ahead log but does not replay it when a collection is
    /// opened, so a write survives a crash of the process only once its collection is
    /// flushed. A flush syncs the collection's files: milliseconds to tens of milliseconds
    /// on a typical disk. `false` trades the writes of the last
    /// [`flush_interval`](Self::flush_interval) for faster writes. While an optimization
    /// runs the engine cannot flush, so a write is appended to the collection's journal
    /// instead (synced before the write returns when this is `true`), and replayed if the
    /// process dies before the optimization ends.
    pub flush_on_write: bool,
    /// Flush the collections written to since the last flush this often, in the background
    /// (default 1 s, `SOCIAL_QDRANT__FLUSH_INTERVAL`; `None`: only
    /// [`EdgeVectorStore::flush`](crate::EdgeVectorStore::flush), the end of each
    /// optimization and `close` flush). With [`flush_on_write`](Self::flush_on_write) off,
    /// a crash loses at most this much of the latest writes. A failed background flush
    /// turns the store's health to `warn` until a flush of that collection succeeds.
    pub flush_interval: Option<Duration>,
    /// Longest time one call may take, waiting for an engine slot included (default 5 s,
    /// `SOCIAL_QDRANT__TIMEOUT`; `None`: unbounded). A call still waiting for a slot at its
    /// deadline fails as `PoolExhausted` and never starts; one whose engine work outlives it
    /// fails as `Timeout` while the work finishes in the background, holding its slot.
    pub call_timeout: Option<Duration>,
    /// Engine calls running at once on tokio's blocking pool (default 32,
    /// `SOCIAL_QDRANT__MAX_CONCURRENT_CALLS`); others wait for a slot. Background
    /// optimizations and flushes (one at a time per collection) do not take slots.
    pub max_concurrent_calls: usize,
    /// The most collections the store holds, quarantined ones included (default 100,
    /// `SOCIAL_QDRANT__MAX_COLLECTIONS`); creating one more fails as `Conflict`.
    pub max_collections: usize,
    /// Whether a search may ask for exact (brute-force) scoring (default `true`,
    /// `SOCIAL_QDRANT__EXACT_SEARCH`); otherwise such a search is `InvalidInput`.
    pub exact_search: bool,
    /// The largest collection, in points, an exact search may scan (default 100,000,
    /// `SOCIAL_QDRANT__EXACT_SEARCH_MAX_POINTS`); on a larger one it is `InvalidInput`.
    pub exact_search_max_points: u64,
    /// Size (KiB of vectors) above which a segment gets an HNSW index when the optimizers
    /// run; `None` is Qdrant's default (10,000 KiB, about 80,000 vectors of dimension 32 or
    /// 6,500 of dimension 384); `Some(0)` never indexes. Below it, search is exact (brute
    /// force). Applies to every collection, from the next optimization.
    pub indexing_threshold_kb: Option<usize>,
    /// Run the optimizers in the background once a collection received enough writes to
    /// fill the indexing threshold since they last ran (default `true`). Without it, call
    /// [`EdgeVectorStore::optimize`](crate::EdgeVectorStore::optimize).
    pub auto_optimize: bool,
    /// HNSW: edges per node (`None`: Qdrant's 16). Applies from the next optimization
    /// (changing it rebuilds existing indexes).
    pub hnsw_m: Option<usize>,
    /// HNSW: neighbours considered while building, at least 4 (`None`: Qdrant's 100).
    /// Higher is more accurate and slower to build. Applies like [`hnsw_m`](Self::hnsw_m).
    pub hnsw_ef_construct: Option<usize>,
    /// Below this size (KiB of vectors a query may match), an indexed segment is searched
    /// exactly rather than through the graph (`None`: Qdrant's 10,000). Applies like
    /// [`hnsw_m`](Self::hnsw_m).
    pub full_scan_threshold_kb: Option<usize>,
    /// Keep vectors in memory-mapped files instead of RAM (default `false`). Applies to
    /// collections created from now on.
    pub vectors_on_disk: bool,
    /// Keep payloads in memory-mapped files instead of RAM (default `true`). Applies to
    /// collections created from now on.
    pub payload_on_disk: bool,
}

impl Default for EdgeStoreOptions {
    fn default() -> Self {
        let settings = QdrantSettings::default();
        Self {
            flush_on_write: settings.flush_on_write,
            flush_interval: Some(settings.flush_interval),
            call_timeout: Some(settings.timeout),
            max_concurrent_calls: settings.max_concurrent_calls,
            max_collections: settings.max_collections,
            exact_search: settings.exact_search,
            exact_search_max_points: settings.exact_search_max_points,
            indexing_threshold_kb: None,
            auto_optimize: true,
            hnsw_m: None,
            hnsw_ef_construct: None,
            full_scan_threshold_kb: None,
            vectors_on_disk: false,
            payload_on_disk: true,
        }
    }
}

impl EdgeStoreOptions {
    /// The options of the `SOCIAL_QDRANT__*` settings: durability (`FLUSH_ON_WRITE`,
    /// `FLUSH_INTERVAL`), limits (`TIMEOUT`, `MAX_CONCURRENT_CALLS`, `MAX_COLLECTIONS`,
    /// `EXACT_SEARCH`, `EXACT_SEARCH_MAX_POINTS`); the rest keeps its default.
    pub fn from_settings(settings: &QdrantSettings) -> Self {
        Self {
            flush_on_write: settings.flush_on_write,
            flush_interval: Some(settings.flush_interval),
            call_timeout: Some(settings.timeout),
            max_concurrent_calls: settings.max_concurrent_calls,
            max_collections: settings.max_collections,
            exact_search: settings.exact_search,
            exact_search_max_points: settings.exact_search_max_points,
            ..Self::default()
        }
    }

    /// Sets [`call_timeout`](Self::call_timeout).
    #[must_use]
    pub fn call_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.call_timeout = timeout;
        self
    }

    /// Sets [`max_concurrent_calls`](Self::max_concurrent_calls).
    #[must_use]
    pub fn max_concurrent_calls(mut self, calls: usize) -> Self {
        self.max_concurrent_calls = calls;
        self
    }

    /// Sets [`max_collections`](Self::max_collections).
    #[must_use]
    pub fn max_collections(mut self, collections: usize) -> Self {
        self.max_collections = collections;
        self
    }

    /// Sets [`exact_search`](Self::exact_search).
    #[must_use]
    pub fn exact_search(mut self, yes: bool) -> Self {
        self.exact_search = yes;
        self
    }

    /// Sets [`exact_search_max_points`](Self::exact_search_max_points).
    #[must_use]
    pub fn exact_search_max_points(mut self, points: u64) -> Self {
        self.exact_search_max_points = points;
        self
    }

    /// Sets [`flush_on_write`](Self::flush_on_write).
    #[must_use]
    pub fn flush_on_write(mut self, yes: bool) -> Self {
        self.flush_on_write = yes;
        self
    }

    /// Sets [`flush_interval`](Self::flush_interval).
    #[must_use]
    pub fn flush_interval(mut self, interval: Option<Duration>) -> Self {
        self.flush_interval = interval;
        self
    }

    /// Sets [`hnsw_m`](Self::hnsw_m).
    #[must_use]
    pub fn hnsw_m(mut self, m: Option<usize>) -> Self {
        self.hnsw_m = m;
        self
    }

    /// Sets [`hnsw_ef_construct`](Self::hnsw_ef_construct).
    #[must_use]
    pub fn hnsw_ef_construct(mut self, ef: Option<usize>) -> Self {
        self.hnsw_ef_construct = ef;
        self
    }

    /// Sets [`full_scan_threshold_kb`](Self::full_scan_threshold_kb).
    #[must_use]
    pub fn full_scan_threshold_kb(mut self, kib: Option<usize>) -> Self {
        self.full_scan_threshold_kb = kib;
        self
    }

    /// Sets [`indexing_threshold_kb`](Self::indexing_threshold_kb).
    #[must_use]
    pub fn indexing_threshold_kb(mut self, kib: Option<usize>) -> Self {
        self.indexing_threshold_kb = kib;
        self
    }

    /// Sets [`auto_optimize`](Self::auto_optimize).
    #[must_use]
    pub fn auto_optimize(mut self, yes: bool) -> Self {
        self.auto_optimize = yes;
        self
    }

    /// Sets [`vectors_on_disk`](Self::vectors_on_disk).
    #[must_use]
    pub fn vectors_on_disk(mut self, yes: bool) -> Self {
        self.vectors_on_disk = yes;
        self
    }

    /// Sets [`payload_on_disk`](Self::payload_on_disk).
    #[must_use]
    pub fn payload_on_disk(mut self, yes: bool) -> Self {
        self.payload_on_disk = yes;
        self
    }
}

impl EdgeStoreOptions {
    /// Refuses values the engine cannot use (checked by `init`).
    pub(crate) fn validate(&self) -> InfraResult<()> {
        let invalid = |message: String| {
            Err(InfraError::new(
                ErrorKind::InvalidInput,
                VECTOR_BACKEND,
                "init",
                message,
            ))
        };
        if self.flush_interval.is_some_and(|d| d.is_zero()) {
            return invalid("flush_interval must be more than 0 (or None)".to_owned());
        }
        if self.call_timeout.is_some_and(|d| d.is_zero()) {
            return invalid("call_timeout must be more than 0 (or None)".to_owned());
        }
        if self.max_concurrent_calls == 0 {
            return invalid("max_concurrent_calls must be at least 1".to_owned());
        }
        if self.max_collections == 0 {
            return invalid("max_collections must be at least 1".to_owned());
        }
        if let Some(ef) = self.hnsw_ef_construct.filter(|ef| *ef < 4) {
            return invalid(format!(
                "hnsw_ef_construct {ef} is too small: expected at least 4"
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_become_options_and_defaults_agree() {
        let settings = QdrantSettings {
            flush_on_write: false,
            flush_interval: Duration::from_millis(250),
            timeout: Duration::from_secs(2),
            max_concurrent_calls: 3,
            max_collections: 7,
            exact_search: false,
            exact_search_max_points: 9,
            ..QdrantSettings::default()
        };
        let options = EdgeStoreOptions::from_settings(&settings);
        assert_eq!(
            options,
            EdgeStoreOptions::default()
                .flush_on_write(false)
                .flush_interval(Some(Duration::from_millis(250)))
                .call_timeout(Some(Duration::from_secs(2)))
                .max_concurrent_calls(3)
                .max_collections(7)
                .exact_search(false)
                .exact_search_max_points(9)
        );
        assert_eq!(
            EdgeStoreOptions::from_settings(&QdrantSettings::default()),
            EdgeStoreOptions::default()
        );
        assert!(
            EdgeStoreOptions::default().flush_on_write,
            "durable by default"
        );
    }

    #[test]
    fn validation_refuses_unusable_values() {
        assert!(EdgeStoreOptions::default().validate().is_ok());
        let zero = EdgeStoreOptions::default().flush_interval(Some(Duration::ZERO));
        assert_eq!(zero.validate().unwrap_err().kind(), ErrorKind::InvalidInput);
        let none = EdgeStoreOptions::default().max_concurrent_calls(0);
        assert!(
            none.validate()
                .unwrap_err()
                .message()
                .contains("at least 1")
        );
        let small = EdgeStoreOptions::default().hnsw_ef_construct(Some(3));
        assert!(
            small
                .validate()
                .unwrap_err()
                .message()
                .contains("at least 4")
        );
    }
}
