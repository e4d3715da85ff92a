//! Tuning of the embedded store: durability, indexing and storage placement.

use std::time::Duration;

use infra_base::{ErrorKind, InfraError, InfraResult, VECTOR_BACKEND};

/// How the embedded store writes, indexes and places data. The defaults suit a service:
/// writes flushed to disk within a second, Qdrant's indexing threshold and HNSW parameters
/// with automatic indexing, vectors in RAM and payloads on disk.
///
/// ```
/// use infra_qdrant_edge::EdgeStoreOptions;
///
/// // Every write on disk before it returns; index collections above 512 KiB of vectors.
/// let options = EdgeStoreOptions::default()
///     .flush_on_write(true)
///     .indexing_threshold_kb(Some(512));
/// assert!(options.flush_on_write);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
// Independent switches, each documented, mirroring the engine's own configuration.
#[allow(clippy::struct_excessive_bools)]
pub struct EdgeStoreOptions {
    /// Flush every write to disk before it returns (default `false`).
    ///
    /// qdrant-edge 0.7 writes a write-ahead log but does not replay it when a collection is
    /// opened, so a write survives a crash of the process only once its collection is
    /// flushed. A flush syncs every file of the collection: tens of milliseconds on a
    /// typical disk, so per-write flushing suits rare, precious writes. While an
    /// optimization runs, the flush of a write is left to the end of the optimization.
    pub flush_on_write: bool,
    /// Flush the collections written to since the last flush this often, in the background
    /// (default 1 s; `None`: only [`EdgeVectorStore::flush`](crate::EdgeVectorStore::flush),
    /// the end of each optimization and `close` flush). A crash loses at most this much of
    /// the latest writes. Qdrant servers flush segments every 5 s, with their WAL covering
    /// the rest.
    pub flush_interval: Option<Duration>,
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
        Self {
            flush_on_write: false,
            flush_interval: Some(Duration::from_secs(1)),
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
    fn validation_refuses_unusable_values() {
        assert!(EdgeStoreOptions::default().validate().is_ok());
        let zero = EdgeStoreOptions::default().flush_interval(Some(Duration::ZERO));
        assert_eq!(zero.validate().unwrap_err().kind(), ErrorKind::InvalidInput);
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
