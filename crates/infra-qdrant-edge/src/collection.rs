//! One collection: an edge shard in its own directory, and the locks that make it safe to
//! share between threads.
//!
//! Every method here blocks (file system, CPU) and is called from
//! `tokio::task::spawn_blocking`, never from an async worker.
//!
//! # Locking
//!
//! qdrant-edge synchronizes reads, updates and optimizations internally, except for
//! `EdgeShard::flush`, which `try_lock`s the WAL and the segment holder and *panics* when
//! either is busy (its `Drop` flushes too). So:
//!
//! - `slot` (`RwLock`): every operation holds it shared for its duration; `close` and
//!   `delete_collection` take it exclusively to take the shard out, so no operation is in
//!   flight when the shard is flushed, dropped and its directory removed;
//! - `writer` (`Mutex`, holding the journal): serializes updates with flushes and journal
//!   appends (updates are serialized by the engine's WAL lock anyway, so this costs no
//!   concurrency);
//! - `optimizing` (`Mutex`): held while the optimizers run (reads and updates continue);
//!   a flush waits for it, or, after a write, is replaced by an append to the journal.
//!
//! Lock order: `slot`, then `optimizing`, then `writer`; `writer` holders only `try_lock`
//! `optimizing`, so no cycle exists.
//!
//! # The journal
//!
//! While the optimizers run, the engine keeps some changes in memory only (a point deleted
//! from a segment being optimized is only marked so in a proxy) until the optimized
//! segment replaces the old ones, and a flush cannot be taken. A write made meanwhile is
//! appended to `infra-journal.jsonl` in the collection's directory (synced before it
//! returns with `flush_on_write`), one JSON line per port write. Invariant: **when the
//! journal exists, it holds every write made since its first line**, in order; it is
//! removed only by a successful flush. Replaying it (each upsert or delete again, in
//! order, on whatever state the crash left) therefore gives every point it names its last
//! written state. It is replayed, flushed and removed when the collection is opened; a
//! torn last line is a write that was never acknowledged and is skipped.

use std::collections::HashSet;
use std::fs;
use std::io::{self, Write as _};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, TryLockError};

use infra_base::vector::{OrderDirection, StartFrom};
use infra_base::{
    CollectionName, CollectionSpec, Distance, ErrorKind, FieldIndex, Filter, HnswParams,
    PayloadUpdate, Point, PointId, PointSelector, PointVectors, Record, ScoredPoint, ScrollPage,
    ScrollRequest, SearchQuery, UNNAMED_VECTOR, Vector, VectorSchema,
};
use qdrant_edge::{
    CountRequest, DEFAULT_VECTOR_NAME, DeletePayloadOp, Direction, EdgeConfig,
    EdgeOptimizersConfig, EdgeShard, EdgeSparseVectorParams, EdgeVectorParams, HnswIndexConfig,
    Modifier, NamedQuery, OperationError, OrderByInterface, PayloadOps, PointInsertOperations,
    PointOperations, PointStructPersisted, PointVectorsPersisted, QueryEnum, SearchParams,
    SearchRequest, SetPayloadOp, UpdateOperation, UpdateVectorsOp, VectorInternal,
    VectorOperations, WithPayloadInterface, WithVector,
};
use serde::{Deserialize, Serialize};

use crate::convert::{
    edge_distance, edge_filter, edge_hnsw, edge_payload, edge_quantization, edge_sparse,
    edge_vectors, payload_path, point_id, port_id, port_payload, port_schema, port_vectors,
};
use crate::error::{engine_error, error, io_error, not_found};
use crate::index;
use crate::options::EdgeStoreOptions;

/// The file that marks a collection directory as complete and records its spec (with the
/// payload indexes created through the port, re-created on load if a crash lost them
/// before a flush). It is written last when a collection is created, so a directory
/// without it is the leftover of an interrupted creation.
pub(crate) const MARKER_FILE: &str = "infra-collection.json";

/// The journal of writes made while the collection could not be flushed (see the module
/// docs).
pub(crate) const JOURNAL_FILE: &str = "infra-journal.jsonl";

/// Keeps a temporary data directory (a `tempfile::TempDir` with the `temporary` feature)
/// alive while it is held; removed when the last holder drops it.
pub(crate) type DirGuard = Arc<dyn std::any::Any + Send + Sync>;

/// The contents of [`MARKER_FILE`].
#[derive(Debug, Serialize, Deserialize)]
struct Marker {
    name: String,
    /// The unnamed vector's dimension and distance (absent for named vectors only; the
    /// engine's configuration has every vector).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dimension: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    distance: Option<Distance>,
    format: u32,
    /// The spec's HNSW parameters, over the store's options (absent before they existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hnsw: Option<HnswParams>,
    /// Payload indexes (absent in markers written before indexes existed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    indexes: Vec<FieldIndex>,
}

const MARKER_FORMAT: u32 = 1;

/// Bytes per stored vector component (f32).
const COMPONENT_BYTES: u64 = 4;

/// What became of a collection's shard.
enum Slot {
    Open(Box<EdgeShard>),
    Deleted,
    Closed,
}

/// One port write, as the journal records it: by ids only. A write by filter is resolved
/// to the ids it matches under the writer lock before it is applied (see
/// [`Collection::write`]), so that replaying the journal on whatever state a crash left
/// changes exactly the points the write changed, not the points the filter matches then.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Change {
    Upsert(Vec<Point>),
    Vectors(Vec<PointVectors>),
    Delete(Vec<PointId>),
    Payload {
        ids: Vec<PointId>,
        update: PayloadUpdate,
    },
}

impl Change {
    /// Points written.
    fn len(&self) -> u64 {
        match self {
            Change::Upsert(points) => points.len() as u64,
            Change::Vectors(points) => points.len() as u64,
            Change::Delete(ids) | Change::Payload { ids, .. } => ids.len() as u64,
        }
    }

    /// Whether the write changes nothing (an empty id list).
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn into_update(self, operation: &'static str) -> infra_base::InfraResult<UpdateOperation> {
        Ok(match self {
            Change::Upsert(points) => {
                let points = points
                    .into_iter()
                    .map(|p| PointStructPersisted {
                        id: point_id(p.id),
                        vector: edge_vectors(p.vectors),
                        payload: Some(edge_payload(p.payload)),
                    })
                    .collect();
                UpdateOperation::PointOperation(PointOperations::UpsertPoints(
                    PointInsertOperations::PointsList(points),
                ))
            }
            Change::Vectors(points) => {
                let points = points
                    .into_iter()
                    .map(|p| PointVectorsPersisted {
                        id: point_id(p.id),
                        vector: edge_vectors(p.vectors),
                    })
                    .collect();
                UpdateOperation::VectorOperation(VectorOperations::UpdateVectors(UpdateVectorsOp {
                    points,
                    update_filter: None,
                }))
            }
            Change::Delete(ids) => {
                let ids = ids.into_iter().map(point_id).collect();
                UpdateOperation::PointOperation(PointOperations::DeletePoints { ids })
            }
            Change::Payload { ids, update } => {
                let points: Vec<_> = ids.into_iter().map(point_id).collect();
                let set = |payload: infra_base::Payload, points| SetPayloadOp {
                    payload: edge_payload(payload),
                    points: Some(points),
                    filter: None,
                    key: None,
                };
                UpdateOperation::PayloadOperation(match update {
                    PayloadUpdate::Set(payload) => PayloadOps::SetPayload(set(payload, points)),
                    PayloadUpdate::Overwrite(payload) => {
                        PayloadOps::OverwritePayload(set(payload, points))
                    }
                    PayloadUpdate::DeleteKeys(keys) => PayloadOps::DeletePayload(DeletePayloadOp {
                        keys: keys
                            .iter()
                            .map(|key| payload_path(key, operation))
                            .collect::<infra_base::InfraResult<_>>()?,
                        points: Some(points),
                        filter: None,
                    }),
                    PayloadUpdate::Clear => PayloadOps::ClearPayload { points },
                })
            }
        })
    }
}

/// The ids, each once, if every one exists; `NotFound` naming the first missing one.
fn check_ids_exist(
    shard: &EdgeShard,
    ids: &[PointId],
    operation: &'static str,
) -> infra_base::InfraResult<Vec<PointId>> {
    let mut seen = HashSet::with_capacity(ids.len());
    let unique: Vec<PointId> = ids.iter().copied().filter(|id| seen.insert(*id)).collect();
    let edge_ids: Vec<_> = unique.iter().copied().map(point_id).collect();
    let found = shard
        .retrieve(
            &edge_ids,
            Some(WithPayloadInterface::Bool(false)),
            Some(WithVector::Bool(false)),
        )
        .map_err(|e| engine_error(operation, e))?;
    let found: HashSet<PointId> = found.into_iter().map(|r| port_id(r.id)).collect();
    if let Some(missing) = unique.iter().find(|id| !found.contains(id)) {
        return Err(error(
            ErrorKind::NotFound,
            operation,
            format!("no point with id {missing} found"),
        ));
    }
    Ok(unique)
}

/// Page size of the internal scrolls that resolve a filter to ids.
const RESOLVE_PAGE: usize = 4096;

/// The ids of the points matching `filter` now (the caller holds the writer lock).
fn matching_ids(
    shard: &EdgeShard,
    filter: &Filter,
    operation: &'static str,
) -> infra_base::InfraResult<Vec<PointId>> {
    let filter = edge_filter(filter, operation)?;
    let mut ids = Vec::new();
    let mut offset = None;
    loop {
        let (records, next) = shard
            .scroll(qdrant_edge::ScrollRequest {
                offset,
                limit: Some(RESOLVE_PAGE),
                filter: filter.clone(),
                with_payload: Some(WithPayloadInterface::Bool(false)),
                with_vector: WithVector::Bool(false),
                order_by: None,
            })
            .map_err(|e| engine_error(operation, e))?;
        ids.extend(records.into_iter().map(|r| port_id(r.id)));
        match next {
            Some(next) => offset = Some(next),
            None => return Ok(ids),
        }
    }
}

/// The open journal file.
struct Journal {
    file: fs::File,
    path: PathBuf,
    /// Appended to since the last sync.
    unsynced: bool,
}

impl Journal {
    /// Creates the journal (replacing a stale one: a journal is only dropped after a flush
    /// made its contents durable) and makes its directory entry durable.
    fn create(dir: &Path) -> io::Result<Self> {
        let path = dir.join(JOURNAL_FILE);
        let file = fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&path)?;
        sync_dir(dir);
        Ok(Self {
            file,
            path,
            unsynced: false,
        })
    }

    /// Appends one line, synced when `sync`; on failure the file is cut back to where it
    /// was, so that no torn line is followed by later ones.
    fn append(&mut self, line: &[u8], sync: bool) -> io::Result<()> {
        let before = self.file.metadata()?.len();
        let written = self
            .file
            .write_all(line)
            .and_then(|()| if sync { self.file.sync_data() } else { Ok(()) });
        match written {
            Ok(()) => {
                self.unsynced = !sync;
                Ok(())
            }
            Err(err) => {
                let _ = self.file.set_len(before);
                Err(err)
            }
        }
    }

    fn sync(&mut self) -> io::Result<()> {
        if self.unsynced {
            self.file.sync_data()?;
            self.unsynced = false;
        }
        Ok(())
    }

    /// Removes the journal; on failure it is returned, to stay in use.
    fn remove(self) -> Result<(), (Self, io::Error)> {
        match fs::remove_file(&self.path) {
            Ok(()) => {
                if let Some(dir) = self.path.parent() {
                    sync_dir(dir);
                }
                Ok(())
            }
            Err(err) => Err((self, err)),
        }
    }
}

/// Makes a directory's entries durable; not every platform can sync a directory.
fn sync_dir(dir: &Path) {
    if let Ok(dir) = fs::File::open(dir) {
        let _ = dir.sync_all();
    }
}

/// A collection and its shard.
pub(crate) struct Collection {
    pub(crate) name: CollectionName,
    /// The collection's vectors, as the engine's configuration has them.
    pub(crate) vectors: VectorSchema,
    /// The spec's HNSW parameters, kept for the marker.
    hnsw: Option<HnswParams>,
    dir: PathBuf,
    slot: RwLock<Slot>,
    /// Serializes writes and flushes; holds the journal while there is one.
    writer: Mutex<Option<Journal>>,
    optimizing: Mutex<()>,
    /// Written since the last flush.
    dirty: AtomicBool,
    /// Points written (upserted or deleted) since the optimizers last ran.
    unoptimized: AtomicU64,
    /// Points whose vectors fill the indexing threshold: when `unoptimized` reaches it,
    /// an automatic optimization is due.
    optimize_after: Option<u64>,
    flush_on_write: bool,
    /// The store's temporary data directory, if it has one, kept until the shard is
    /// dropped (fields drop in order): a background task may hold the collection longer
    /// than the store.
    dir_guard: Option<DirGuard>,
}

impl std::fmt::Debug for Collection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collection")
            .field("name", &self.name)
            .field("vectors", &self.vectors)
            .field("dir", &self.dir)
            .field("temporary", &self.dir_guard.is_some())
            .finish_non_exhaustive()
    }
}

/// Statistics of one collection's storage, for operators and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct CollectionStats {
    /// Number of points (exact).
    pub points: u64,
    /// Number of storage segments.
    pub segments: usize,
    /// Number of vectors in an HNSW index (the rest are searched by brute force).
    pub indexed_vectors: usize,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn try_lock<T>(mutex: &Mutex<T>) -> Option<MutexGuard<'_, T>> {
    match mutex.try_lock() {
        Ok(guard) => Some(guard),
        Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
        Err(TryLockError::WouldBlock) => None,
    }
}

/// Flushes a shard, turning the engine's panic on failure into an error.
fn flush_shard(shard: &EdgeShard, operation: &'static str) -> infra_base::InfraResult<()> {
    catch_unwind(AssertUnwindSafe(|| shard.flush())).map_err(|_| {
        error(
            ErrorKind::Internal,
            operation,
            "the embedded vector engine failed to flush to disk",
        )
    })
}

impl Collection {
    fn new(
        name: CollectionName,
        vectors: VectorSchema,
        hnsw: Option<HnswParams>,
        dir: PathBuf,
        shard: EdgeShard,
        options: &EdgeStoreOptions,
    ) -> Self {
        // `Some(0)` turns indexing off, and with it the automatic optimization.
        let threshold_kb = options
            .indexing_threshold_kb
            .unwrap_or(DEFAULT_INDEXING_THRESHOLD_KB);
        // The dense components a point holds at most (sparse vectors count as one).
        let components: usize =
            vectors.dense.values().map(|v| v.dimension).sum::<usize>() + vectors.sparse.len();
        let optimize_after = (options.auto_optimize && threshold_kb > 0).then(|| {
            (threshold_kb as u64 * 1024 / (components.max(1) as u64 * COMPONENT_BYTES)).max(1)
        });
        Self {
            name,
            vectors,
            hnsw,
            dir,
            slot: RwLock::new(Slot::Open(Box::new(shard))),
            writer: Mutex::new(None),
            optimizing: Mutex::new(()),
            dirty: AtomicBool::new(false),
            unoptimized: AtomicU64::new(0),
            optimize_after,
            flush_on_write: options.flush_on_write,
            dir_guard: None,
        }
    }

    /// Keeps the store's temporary directory alive as long as the collection.
    pub(crate) fn with_dir_guard(mut self, guard: Option<DirGuard>) -> Self {
        self.dir_guard = guard;
        self
    }

    /// The engine configuration of a new collection: the spec's vectors and tuning over
    /// the store's options.
    fn edge_config(spec: &CollectionSpec, options: &EdgeStoreOptions) -> EdgeConfig {
        let hnsw = edge_hnsw(hnsw_config(options), spec.hnsw.as_ref());
        let mut config = EdgeConfig::builder()
            .on_disk_payload(spec.on_disk_payload.unwrap_or(options.payload_on_disk))
            .hnsw_config(hnsw)
            .optimizers(optimizers_config(options));
        if let Some(quantization) = spec.quantization {
            config = config.quantization_config(edge_quantization(quantization));
        }
        for (name, params) in &spec.vectors.dense {
            let mut vector =
                EdgeVectorParams::builder(params.dimension, edge_distance(params.distance))
                    .on_disk(params.on_disk.unwrap_or(options.vectors_on_disk));
            if let Some(own) = &params.hnsw {
                vector = vector.hnsw_config(edge_hnsw(hnsw, Some(own)));
            }
            if let Some(quantization) = params.quantization {
                vector = vector.quantization_config(edge_quantization(quantization));
            }
            // The unnamed vector is the engine's `""` too.
            let name = if name == UNNAMED_VECTOR {
                DEFAULT_VECTOR_NAME
            } else {
                name
            };
            config = config.vector(name, vector.build());
        }
        for (name, params) in &spec.vectors.sparse {
            let mut sparse = EdgeSparseVectorParams::builder();
            if params.idf {
                sparse = sparse.modifier(Modifier::Idf);
            }
            if let Some(on_disk) = params.on_disk {
                sparse = sparse.on_disk(on_disk);
            }
            config = config.sparse_vector(name.as_str(), sparse.build());
        }
        config.build()
    }

    /// The marker of this collection, with the engine's `indexes`.
    fn marker(&self, indexes: Vec<FieldIndex>) -> Marker {
        let unnamed = self.vectors.unnamed();
        Marker {
            name: self.name.to_string(),
            dimension: unnamed.map(|v| v.dimension),
            distance: unnamed.map(|v| v.distance),
            format: MARKER_FORMAT,
            hnsw: self.hnsw,
            indexes,
        }
    }

    /// Creates the collection `name` (the spec's, parsed) in `dir`, which must not exist.
    pub(crate) fn create(
        dir: PathBuf,
        name: CollectionName,
        spec: &CollectionSpec,
        options: &EdgeStoreOptions,
    ) -> infra_base::InfraResult<Self> {
        const OP: &str = "ensure_collection";
        fs::create_dir(&dir)
            .map_err(|e| io_error(OP, "create the collection directory", &dir, e))?;
        let shard = EdgeShard::new(&dir, Self::edge_config(spec, options))
            .map_err(|e| engine_error(OP, e))?;
        if !spec.indexes.is_empty() {
            let declared: Vec<&FieldIndex> = spec.indexes.iter().collect();
            index::create(&shard, &declared, OP)?;
            flush_shard(&shard, OP)?;
        }
        let vectors = port_schema(&shard.config());
        let indexes = index::shard_indexes(&shard).0;
        let collection = Self::new(name, vectors, spec.hnsw, dir, shard, options);
        write_marker(&collection.dir, &collection.marker(indexes))
            .map_err(|e| io_error(OP, "write", &collection.dir.join(MARKER_FILE), e))?;
        Ok(collection)
    }

    /// Opens the complete collection in `dir` (see [`MARKER_FILE`]).
    pub(crate) fn load(dir: PathBuf, options: &EdgeStoreOptions) -> infra_base::InfraResult<Self> {
        const OP: &str = "init";
        let marker_path = dir.join(MARKER_FILE);
        let text = fs::read(&marker_path).map_err(|e| io_error(OP, "read", &marker_path, e))?;
        let marker: Marker = serde_json::from_slice(&text).map_err(|e| {
            error(
                ErrorKind::Internal,
                OP,
                format!("cannot parse {}", marker_path.display()),
            )
            .with_source(e)
        })?;
        let name = CollectionName::try_from(marker.name.as_str()).map_err(|e| {
            error(
                ErrorKind::Internal,
                OP,
                format!("{} records an invalid name", marker_path.display()),
            )
            .with_source(e)
        })?;
        let shard = EdgeShard::load(&dir, None).map_err(|e| {
            let err = engine_error(OP, e);
            let message = format!(
                "cannot open collection {} in {}: {}",
                marker.name,
                dir.display(),
                err.message()
            );
            error(err.kind(), OP, message).with_source(err)
        })?;
        let vectors = port_schema(&shard.config());
        if let (Some(dimension), Some(distance)) = (marker.dimension, marker.distance) {
            let engine = vectors.unnamed().map(|v| (v.dimension, v.distance));
            if engine != Some((dimension, distance)) {
                return Err(error(
                    ErrorKind::Internal,
                    OP,
                    format!(
                        "collection {} in {}: {MARKER_FILE} records an unnamed vector of \
                         dimension {dimension} and distance {distance}, the engine has {vectors}",
                        marker.name,
                        dir.display(),
                    ),
                ));
            }
        }
        // The store's options, then the spec's HNSW parameters, are the truth for tunables:
        // apply them to existing shards.
        let optimizers = optimizers_config(options);
        if shard.config().optimizers != optimizers {
            shard
                .set_optimizers_config(optimizers)
                .map_err(|e| engine_error(OP, e))?;
        }
        let hnsw = edge_hnsw(hnsw_config(options), marker.hnsw.as_ref());
        if shard.config().hnsw_config != hnsw {
            shard
                .set_hnsw_config(hnsw)
                .map_err(|e| engine_error(OP, e))?;
        }
        if !marker.indexes.is_empty() {
            // Indexes created after the last flush are lost with the engine's WAL.
            let mut recorded = CollectionSpec::named(name.as_str());
            recorded.indexes = marker.indexes;
            let lost = index::missing(&recorded, &shard)?;
            if !lost.is_empty() {
                index::create(&shard, &lost, OP)?;
                flush_shard(&shard, OP)?;
                tracing::info!(collection = %name, indexes = lost.len(),
                    "re-created payload indexes lost before a flush");
            }
        }
        let collection = Self::new(name, vectors, marker.hnsw, dir, shard, options);
        collection.replay_journal()?;
        Ok(collection)
    }

    /// Creates the indexes `spec` declares that the collection lacks (`Conflict`, nothing
    /// created, when one has another type), flushes them (or, while an optimization runs,
    /// leaves the flush to it), and records them in the marker.
    pub(crate) fn ensure_indexes(&self, spec: &CollectionSpec) -> infra_base::InfraResult<()> {
        const OP: &str = "ensure_collection";
        self.with_shard(OP, |shard| {
            let mut journal = lock(&self.writer);
            let missing = index::missing(spec, shard)?;
            if missing.is_empty() {
                return Ok(());
            }
            index::create(shard, &missing, OP)?;
            self.dirty.store(true, Ordering::Release);
            if try_lock(&self.optimizing).is_some() {
                self.flush_locked(shard, &mut journal, OP)?;
            }
            let marker = self.marker(index::shard_indexes(shard).0);
            write_marker(&self.dir, &marker)
                .map_err(|e| io_error(OP, "write", &self.dir.join(MARKER_FILE), e))?;
            tracing::debug!(collection = %self.name, created = missing.len(),
                "embedded payload indexes created");
            Ok(())
        })
    }

    /// The payload indexes the engine reports (types the port models), sorted by field.
    pub(crate) fn indexes(&self) -> infra_base::InfraResult<Vec<FieldIndex>> {
        self.with_shard("collection_info", |shard| Ok(index::shard_indexes(shard).0))
    }

    /// Replays, flushes and removes the journal a crash left behind, if any.
    fn replay_journal(&self) -> infra_base::InfraResult<()> {
        const OP: &str = "init";
        let path = self.dir.join(JOURNAL_FILE);
        let text = match fs::read(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io_error(OP, "read", &path, e)),
        };
        let lines: Vec<&[u8]> = text.split(|b| *b == b'\n').collect();
        let last = lines.len() - 1;
        let mut replayed = 0_usize;
        self.with_shard(OP, |shard| {
            for (index, line) in lines.iter().enumerate() {
                if line.is_empty() {
                    continue;
                }
                match serde_json::from_slice::<Change>(line) {
                    Ok(change) => {
                        let by_ids =
                            matches!(change, Change::Payload { .. } | Change::Vectors(_));
                        match shard.update(change.into_update(OP)?) {
                            Ok(()) => {}
                            // A payload or vector update of a point that a later line
                            // deletes, and whose deletion the crash left applied: that line
                            // replays it (the engine updated the batch's other points).
                            Err(OperationError::PointIdError { .. }) if by_ids => {}
                            Err(e) => return Err(engine_error(OP, e)),
                        }
                        replayed += 1;
                    }
                    // Cut short by the crash: a write that never returned.
                    Err(_) if index == last => {
                        tracing::warn!(collection = %self.name,
                            "skipping the torn last line of the journal (a write that was never acknowledged)");
                    }
                    Err(e) => {
                        return Err(error(
                            ErrorKind::Internal,
                            OP,
                            format!(
                                "line {} of {} cannot be read back",
                                index + 1,
                                path.display()
                            ),
                        )
                        .with_source(e));
                    }
                }
            }
            flush_shard(shard, OP)
        })?;
        fs::remove_file(&path).map_err(|e| io_error(OP, "remove", &path, e))?;
        sync_dir(&self.dir);
        tracing::info!(collection = %self.name, writes = replayed,
            "replayed the journal of writes made during an interrupted optimization");
        Ok(())
    }

    /// Runs `f` on the open shard, holding the slot shared.
    pub(crate) fn with_shard<T>(
        &self,
        operation: &'static str,
        f: impl FnOnce(&EdgeShard) -> infra_base::InfraResult<T>,
    ) -> infra_base::InfraResult<T> {
        let slot = self.slot.read().unwrap_or_else(PoisonError::into_inner);
        match &*slot {
            Slot::Open(shard) => f(shard),
            Slot::Deleted => Err(not_found(&self.name, operation)),
            Slot::Closed => Err(crate::error::closed(operation)),
        }
    }

    /// Applies a write; then, with `flush_on_write`, flushes it, or, while an optimization
    /// runs, appends it to the journal (synced with `flush_on_write`). A journal that
    /// exists receives every write until a flush removes it.
    ///
    /// `change` builds the write under the writer lock, so a write by filter resolves to
    /// the ids it matches with no other write in between, and is applied and journaled by
    /// those ids. A write that resolves to no point changes nothing and is not applied.
    fn write(
        &self,
        operation: &'static str,
        change: impl FnOnce(&EdgeShard) -> infra_base::InfraResult<Change>,
    ) -> infra_base::InfraResult<()> {
        self.with_shard(operation, |shard| {
            let mut journal = lock(&self.writer);
            let change = change(shard)?;
            if change.is_empty() {
                return Ok(());
            }
            let idle = try_lock(&self.optimizing);
            let flush = idle.is_some() && self.flush_on_write;
            let append = !flush && (idle.is_none() || journal.is_some());
            let line = if append {
                let mut line = serde_json::to_vec(&change).map_err(|e| {
                    error(ErrorKind::Internal, operation, "cannot journal the write").with_source(e)
                })?;
                line.push(b'\n');
                Some(line)
            } else {
                None
            };
            let points = change.len();
            shard
                .update(change.into_update(operation)?)
                .map_err(|e| engine_error(operation, e))?;
            self.dirty.store(true, Ordering::Release);
            self.unoptimized.fetch_add(points, Ordering::Relaxed);
            if flush {
                return self.flush_locked(shard, &mut journal, operation);
            }
            if let Some(line) = line {
                let open =
                    match journal.as_mut() {
                        Some(open) => open,
                        None => journal.insert(Journal::create(&self.dir).map_err(|e| {
                            io_error(operation, "create the journal in", &self.dir, e)
                        })?),
                    };
                open.append(&line, self.flush_on_write)
                    .map_err(|e| io_error(operation, "append to", &open.path, e))?;
            }
            Ok(())
        })
    }

    /// Flushes the shard (the caller holds `optimizing` or knows no optimization runs, and
    /// holds `writer`), then removes the journal, whose writes are now in the segments.
    fn flush_locked(
        &self,
        shard: &EdgeShard,
        journal: &mut Option<Journal>,
        operation: &'static str,
    ) -> infra_base::InfraResult<()> {
        flush_shard(shard, operation)?;
        self.dirty.store(false, Ordering::Release);
        if let Some(open) = journal.take()
            && let Err((open, err)) = open.remove()
        {
            // Kept, and still appended to: replaying a longer complete log is harmless.
            tracing::warn!(collection = %self.name, error = %err,
                "cannot remove the journal after a flush; it stays in use");
            *journal = Some(open);
        }
        Ok(())
    }

    /// Inserts or replaces points; the whole batch is validated first.
    pub(crate) fn upsert(&self, points: Vec<Point>) -> infra_base::InfraResult<()> {
        const OP: &str = "upsert";
        for point in &points {
            self.vectors.check_vectors(&point.vectors, OP)?;
        }
        if points.is_empty() {
            return Ok(());
        }
        self.write(OP, |_| Ok(Change::Upsert(points)))
    }

    /// Replaces some vectors of existing points; every entry is validated and every id
    /// must exist (checked under the writer lock, so nothing is changed when one is
    /// missing).
    pub(crate) fn update_vectors(&self, points: &[PointVectors]) -> infra_base::InfraResult<()> {
        const OP: &str = "update_vectors";
        for point in points {
            point.validate(&self.vectors, OP)?;
        }
        self.write(OP, |shard| {
            let ids: Vec<PointId> = points.iter().map(|p| p.id).collect();
            check_ids_exist(shard, &ids, OP)?;
            Ok(Change::Vectors(points.to_vec()))
        })
    }

    /// Deletes points by id or by filter.
    pub(crate) fn delete(&self, selector: &PointSelector) -> infra_base::InfraResult<()> {
        const OP: &str = "delete_points";
        match selector {
            PointSelector::Ids(ids) if ids.is_empty() => {
                // Still report a deleted or closed collection.
                self.with_shard(OP, |_| Ok(()))
            }
            PointSelector::Ids(ids) => self.write(OP, |_| Ok(Change::Delete(ids.clone()))),
            PointSelector::Filter(filter) => self.write(OP, |shard| {
                Ok(Change::Delete(matching_ids(shard, filter, OP)?))
            }),
        }
    }

    /// Updates the payloads of the selected points. By ids, every id must exist (checked
    /// under the writer lock, so nothing is changed when one is missing: the engine would
    /// update the others, then fail).
    pub(crate) fn update_payload(
        &self,
        selector: &PointSelector,
        update: &PayloadUpdate,
    ) -> infra_base::InfraResult<()> {
        const OP: &str = "update_payload";
        update.validate()?;
        self.write(OP, |shard| {
            let ids = match selector {
                PointSelector::Ids(ids) => check_ids_exist(shard, ids, OP)?,
                PointSelector::Filter(filter) => matching_ids(shard, filter, OP)?,
            };
            Ok(Change::Payload {
                ids,
                update: update.clone(),
            })
        })
    }

    /// One page of a scroll; the request must be validated.
    pub(crate) fn scroll(&self, request: &ScrollRequest) -> infra_base::InfraResult<ScrollPage> {
        const OP: &str = "scroll";
        let order_by = match &request.order_by {
            Some(order_by) => Some(OrderByInterface::Struct(qdrant_edge::OrderBy {
                key: payload_path(&order_by.key, OP)?,
                direction: Some(match order_by.direction {
                    OrderDirection::Asc => Direction::Asc,
                    OrderDirection::Desc => Direction::Desc,
                }),
                start_from: order_by.start_from.map(|start| match start {
                    StartFrom::Integer(value) => qdrant_edge::StartFrom::Integer(value),
                    StartFrom::Float(value) => qdrant_edge::StartFrom::Float(value),
                }),
            })),
            None => None,
        };
        let edge_request = qdrant_edge::ScrollRequest {
            offset: request.offset.map(point_id),
            limit: Some(request.limit),
            filter: edge_filter(&request.filter, OP)?,
            with_payload: Some(WithPayloadInterface::Bool(request.with_payload)),
            with_vector: WithVector::Bool(request.with_vector),
            order_by,
        };
        self.with_shard(OP, |shard| {
            let (records, next) = shard
                .scroll(edge_request)
                .map_err(|e| engine_error(OP, e))?;
            Ok(ScrollPage {
                points: records
                    .into_iter()
                    .map(|r| Record {
                        id: port_id(r.id),
                        payload: if request.with_payload {
                            port_payload(r.payload)
                        } else {
                            infra_base::Payload::new()
                        },
                        vectors: if request.with_vector {
                            port_vectors(r.vector)
                        } else {
                            None
                        },
                    })
                    .collect(),
                next_page_offset: next.map(port_id),
            })
        })
    }

    /// Reads points in request order, each once, skipping missing ones.
    pub(crate) fn get(
        &self,
        ids: &[PointId],
        with_vector: bool,
    ) -> infra_base::InfraResult<Vec<Record>> {
        const OP: &str = "get";
        let mut seen = HashSet::with_capacity(ids.len());
        let ids: Vec<_> = ids
            .iter()
            .filter(|id| seen.insert(**id))
            .copied()
            .map(point_id)
            .collect();
        self.with_shard(OP, |shard| {
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            let records = shard
                .retrieve(
                    &ids,
                    Some(WithPayloadInterface::Bool(true)),
                    Some(WithVector::Bool(with_vector)),
                )
                .map_err(|e| engine_error(OP, e))?;
            Ok(records
                .into_iter()
                .map(|r| Record {
                    id: port_id(r.id),
                    payload: port_payload(r.payload),
                    vectors: if with_vector {
                        port_vectors(r.vector)
                    } else {
                        None
                    },
                })
                .collect())
        })
    }

    /// Nearest points, best first. The query must be validated.
    ///
    /// The engine post-processes scores like a Qdrant server (cosine similarity, dot product,
    /// Euclidean and Manhattan distances), so they are returned as they are. The score
    /// threshold is applied here with the port's inclusive comparison
    /// ([`Distance::passes_threshold`]); the engine's is strict.
    ///
    /// An exact search on a collection of more than `exact_max_points` points is refused
    /// as `InvalidInput`.
    pub(crate) fn search(
        &self,
        query: &SearchQuery,
        exact_max_points: u64,
    ) -> infra_base::InfraResult<Vec<ScoredPoint>> {
        const OP: &str = "search";
        let filter = edge_filter(&query.filter, OP)?;
        let request = SearchRequest {
            query: QueryEnum::Nearest(NamedQuery {
                query: match &query.vector {
                    Vector::Dense(v) => VectorInternal::Dense(v.clone()),
                    Vector::Sparse(v) => VectorInternal::Sparse(edge_sparse(v)),
                },
                using: Some(query.vector_name().to_owned()).filter(|n| n != UNNAMED_VECTOR),
            }),
            filter,
            params: Some(SearchParams {
                exact: query.exact,
                ..SearchParams::default()
            }),
            limit: query.limit,
            offset: 0,
            with_payload: Some(WithPayloadInterface::Bool(query.with_payload)),
            with_vector: Some(WithVector::Bool(query.with_vector)),
            score_threshold: None,
        };
        let distance = query.distance(&self.vectors).unwrap_or(Distance::Dot);
        self.with_shard(OP, |shard| {
            if query.exact {
                let points = shard.info().points_count as u64;
                if points > exact_max_points {
                    return Err(error(
                        ErrorKind::InvalidInput,
                        OP,
                        format!(
                            "exact search is refused on collection {} of about {points} \
                             points: at most {exact_max_points} \
                             (SOCIAL_QDRANT__EXACT_SEARCH_MAX_POINTS); search without exact",
                            self.name
                        ),
                    ));
                }
            }
            let hits = shard.search(request).map_err(|e| engine_error(OP, e))?;
            Ok(hits
                .into_iter()
                .filter(|hit| {
                    query
                        .score_threshold
                        .is_none_or(|t| distance.passes_threshold(hit.score, t))
                })
                .take(query.limit)
                .map(|hit| ScoredPoint {
                    id: port_id(hit.id),
                    score: hit.score,
                    payload: query.with_payload.then(|| port_payload(hit.payload)),
                    vectors: if query.with_vector {
                        port_vectors(hit.vector)
                    } else {
                        None
                    },
                })
                .collect())
        })
    }

    /// Counts the points matching `filter`, exactly or from the engine's cardinality
    /// estimate.
    pub(crate) fn count(&self, filter: &Filter, exact: bool) -> infra_base::InfraResult<u64> {
        const OP: &str = "count";
        let filter = edge_filter(filter, OP)?;
        self.with_shard(OP, |shard| {
            let count = shard
                .count(CountRequest { filter, exact })
                .map_err(|e| engine_error(OP, e))?;
            Ok(count as u64)
        })
    }

    /// Storage statistics.
    pub(crate) fn stats(&self) -> infra_base::InfraResult<CollectionStats> {
        const OP: &str = "collection_stats";
        let points = self
            .count(&Filter::default(), true)
            .map_err(|e| e.with_operation(OP))?;
        self.with_shard(OP, |shard| {
            let info = shard.info();
            Ok(CollectionStats {
                points,
                segments: info.segments_count,
                indexed_vectors: info.indexed_vectors_count,
            })
        })
    }

    /// Writes everything to disk, waiting for a running optimization to finish.
    pub(crate) fn flush(&self) -> infra_base::InfraResult<()> {
        const OP: &str = "flush";
        self.with_shard(OP, |shard| {
            let _optimizing = lock(&self.optimizing);
            let mut journal = lock(&self.writer);
            self.flush_locked(shard, &mut journal, OP)
        })
    }

    /// Whether the shard is still open (neither deleted nor closed).
    pub(crate) fn is_open(&self) -> bool {
        matches!(
            *self.slot.read().unwrap_or_else(PoisonError::into_inner),
            Slot::Open(_)
        )
    }

    /// Whether the collection was written to since it was last flushed.
    pub(crate) fn is_dirty(&self) -> bool {
        self.dirty.load(Ordering::Acquire)
    }

    /// The background flush: flushes when dirty; while an optimization runs (which
    /// flushes when it ends), syncs the journal instead.
    pub(crate) fn flush_if_dirty(&self) -> infra_base::InfraResult<()> {
        const OP: &str = "flush";
        self.with_shard(OP, |shard| {
            let Some(_optimizing) = try_lock(&self.optimizing) else {
                if let Some(open) = lock(&self.writer).as_mut() {
                    open.sync()
                        .map_err(|e| io_error(OP, "sync", &open.path, e))?;
                }
                return Ok(());
            };
            let mut journal = lock(&self.writer);
            if !self.dirty.load(Ordering::Acquire) {
                return Ok(());
            }
            self.flush_locked(shard, &mut journal, OP)
        })
    }

    /// Whether enough points were written since the last optimization for the automatic
    /// optimization to run.
    pub(crate) fn optimization_due(&self) -> bool {
        self.optimize_after
            .is_some_and(|after| self.unoptimized.load(Ordering::Relaxed) >= after)
    }

    /// Runs the optimizers (indexing, merging, vacuum) until they have nothing left to do.
    ///
    /// Whether the engine changed anything; with `wait == false`, `None` at once when an
    /// optimization is already running. Reads and writes continue meanwhile; the shard is
    /// flushed at the end.
    pub(crate) fn optimize(&self, wait: bool) -> infra_base::InfraResult<Option<bool>> {
        const OP: &str = "optimize";
        self.with_shard(OP, |shard| {
            let _optimizing = if wait {
                lock(&self.optimizing)
            } else {
                match try_lock(&self.optimizing) {
                    Some(guard) => guard,
                    None => return Ok(None),
                }
            };
            self.unoptimized.store(0, Ordering::Relaxed);
            let started = std::time::Instant::now();
            let optimized = catch_unwind(AssertUnwindSafe(|| shard.optimize()))
                .map_err(|_| {
                    error(
                        ErrorKind::Internal,
                        OP,
                        "the embedded vector engine panicked while optimizing",
                    )
                })?
                .map_err(|e| engine_error(OP, e))?;
            let mut journal = lock(&self.writer);
            self.flush_locked(shard, &mut journal, OP)?;
            tracing::debug!(
                collection = %self.name,
                optimized,
                elapsed_ms = started.elapsed().as_secs_f64() * 1e3,
                "embedded vector collection optimized"
            );
            Ok(Some(optimized))
        })
    }

    /// Flushes and releases the shard; later operations fail as `NotFound` (deleted) or
    /// `Unavailable` (closed). Waits for operations in flight. Returns the directory.
    pub(crate) fn release(
        &self,
        deleted: bool,
        operation: &'static str,
    ) -> infra_base::InfraResult<&Path> {
        let mut slot = self.slot.write().unwrap_or_else(PoisonError::into_inner);
        let next = if deleted { Slot::Deleted } else { Slot::Closed };
        let Slot::Open(shard) = std::mem::replace(&mut *slot, next) else {
            return Ok(&self.dir);
        };
        let flushed = if deleted {
            Ok(())
        } else {
            self.flush_locked(&shard, &mut lock(&self.writer), operation)
        };
        // The engine flushes again when dropped, and panics if that fails.
        let dropped = catch_unwind(AssertUnwindSafe(move || drop(shard)));
        flushed?;
        dropped.map_err(|_| {
            error(
                ErrorKind::Internal,
                operation,
                "the embedded vector engine failed to close a collection",
            )
        })?;
        Ok(&self.dir)
    }
}

/// A collection dropped while still open (its store dropped without `close`, or the last
/// handle held by a background task) is released as `close` releases it: flushed, its
/// journal removed, the shard dropped. The engine's own `Drop` flushes again and panics
/// when that fails (its directory removed, the disk full), on whichever thread drops it
/// last; [`Collection::release`] contains that, and the failure is logged here. What the
/// flush would have written is lost, as in a crash: writes acknowledged under
/// `flush_on_write` are on disk already.
impl Drop for Collection {
    fn drop(&mut self) {
        if let Err(err) = self.release(false, "drop") {
            tracing::error!(collection = %self.name, dir = %self.dir.display(), error = %err,
                "a collection dropped without close could not be flushed; its unflushed \
                 writes are lost (close the store before dropping it)");
        }
    }
}

fn hnsw_config(options: &EdgeStoreOptions) -> HnswIndexConfig {
    let defaults = HnswIndexConfig::default();
    HnswIndexConfig {
        m: options.hnsw_m.unwrap_or(defaults.m),
        ef_construct: options.hnsw_ef_construct.unwrap_or(defaults.ef_construct),
        full_scan_threshold: options
            .full_scan_threshold_kb
            .unwrap_or(defaults.full_scan_threshold),
        ..defaults
    }
}

/// qdrant-edge's default indexing threshold (KiB), used when the options set none.
const DEFAULT_INDEXING_THRESHOLD_KB: usize = 10_000;

fn optimizers_config(options: &EdgeStoreOptions) -> EdgeOptimizersConfig {
    EdgeOptimizersConfig {
        indexing_threshold: options.indexing_threshold_kb,
        ..EdgeOptimizersConfig::default()
    }
}

/// Writes the marker atomically.
fn write_marker(dir: &Path, marker: &Marker) -> io::Result<()> {
    write_json_atomically(dir, MARKER_FILE, marker)
}

/// Writes `value` as `dir/file` atomically: a temporary file, synced, renamed into place,
/// and the directory synced, so a crash leaves the old file or the new one.
pub(crate) fn write_json_atomically(
    dir: &Path,
    file: &str,
    value: &impl serde::Serialize,
) -> io::Result<()> {
    let tmp = dir.join(format!("{file}.tmp"));
    let mut out = fs::File::create(&tmp)?;
    out.write_all(&serde_json::to_vec_pretty(value).map_err(io::Error::other)?)?;
    out.sync_all()?;
    drop(out);
    fs::rename(&tmp, dir.join(file))?;
    sync_dir(dir);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "infra-qdrant-edge-journal-{}",
            uuid::Uuid::new_v4()
        ));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn copy_dir(from: &Path, to: &Path) {
        fs::create_dir_all(to).unwrap();
        for entry in fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy_dir(&entry.path(), &target);
            } else {
                fs::copy(entry.path(), target).unwrap();
            }
        }
    }

    /// A new dot-product collection of dimension 2 named after its directory.
    fn create_in(dir: &Path, options: &EdgeStoreOptions) -> Collection {
        let name = dir.file_name().unwrap().to_str().unwrap();
        let spec = CollectionSpec::new(name, 2, Distance::Dot);
        Collection::create(
            dir.to_path_buf(),
            spec.collection_name().unwrap(),
            &spec,
            options,
        )
        .unwrap()
    }

    fn ids(c: &Collection, wanted: &[u64]) -> Vec<PointId> {
        let wanted: Vec<PointId> = wanted.iter().copied().map(PointId::from).collect();
        c.get(&wanted, false)
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect()
    }

    /// While an optimization holds the collection, writes go to the journal (the engine
    /// cannot flush); a copy of the directory taken then, as a crash would leave it, opens
    /// with those writes replayed, a delete included; a flush removes the journal.
    #[test]
    fn writes_during_an_optimization_are_journaled_and_replayed() {
        let root = scratch();
        let dir = root.join("c");
        let options = EdgeStoreOptions::default();
        let spec = CollectionSpec::new("c", 2, Distance::Dot);
        let name = spec.collection_name().unwrap();
        let c = Collection::create(dir.clone(), name, &spec, &options).unwrap();
        c.upsert(vec![
            Point::new(1, vec![1.0, 0.0]),
            Point::new(2, vec![0.0, 1.0]),
        ])
        .unwrap();
        assert!(!dir.join(JOURNAL_FILE).exists(), "flushed, not journaled");
        {
            let _optimizing = lock(&c.optimizing);
            c.upsert(vec![Point::new(3, vec![1.0, 1.0])]).unwrap();
            c.delete(&PointSelector::Ids(vec![PointId::from(1)]))
                .unwrap();
            assert!(dir.join(JOURNAL_FILE).is_file());
            copy_dir(&dir, &root.join("crashed"));
        }
        // The last line of a journal may be torn by the crash: it is skipped.
        let mut journal = fs::OpenOptions::new()
            .append(true)
            .open(root.join("crashed").join(JOURNAL_FILE))
            .unwrap();
        journal.write_all(br#"{"upsert":[{"id":9,"vec"#).unwrap();
        drop(journal);

        let reopened = Collection::load(root.join("crashed"), &options).unwrap();
        assert_eq!(ids(&reopened, &[1, 2, 3, 9]), vec![2.into(), 3.into()]);
        assert!(!root.join("crashed").join(JOURNAL_FILE).exists());

        c.flush().unwrap();
        assert!(
            !dir.join(JOURNAL_FILE).exists(),
            "a flush removes the journal"
        );
        drop(reopened);
        drop(c);
        let _ = fs::remove_dir_all(root);
    }

    /// Writes by filter are journaled by the ids they matched, so a replay changes those
    /// points and not the points the filter matches at replay time; payload updates are
    /// replayed, and one on a point a later line deletes is skipped.
    #[test]
    fn filter_writes_are_journaled_by_ids_and_payload_updates_replay() {
        use infra_base::{Condition, PayloadUpdate};
        use serde_json::json;

        let root = scratch();
        let dir = root.join("c");
        let options = EdgeStoreOptions::default();
        let c = create_in(&dir, &options);
        let tagged = |id: u64, color: &str| {
            Point::new(id, vec![1.0, 0.0])
                .with_payload(json!({ "color": color }).as_object().cloned().unwrap())
        };
        c.upsert(vec![tagged(1, "red"), tagged(2, "blue"), tagged(3, "red")])
            .unwrap();
        let red = Filter::default().must(Condition::keyword("color", "red"));
        {
            let _optimizing = lock(&c.optimizing);
            let set = PayloadUpdate::Set(json!({"seen": true}).as_object().cloned().unwrap());
            c.update_payload(&PointSelector::Filter(red.clone()), &set)
                .unwrap();
            c.update_payload(
                &PointSelector::Ids(vec![PointId::from(2)]),
                &PayloadUpdate::Clear,
            )
            .unwrap();
            c.delete(&PointSelector::Filter(red)).unwrap();
            c.delete(&PointSelector::Ids(vec![PointId::from(2)]))
                .unwrap();
            let journal = fs::read_to_string(dir.join(JOURNAL_FILE)).unwrap();
            let lines: Vec<&str> = journal.lines().collect();
            assert_eq!(
                lines,
                [
                    r#"{"payload":{"ids":[1,3],"update":{"set":{"seen":true}}}}"#,
                    r#"{"payload":{"ids":[2],"update":"clear"}}"#,
                    r#"{"delete":[1,3]}"#,
                    r#"{"delete":[2]}"#,
                ],
                "writes by filter are journaled by the ids they matched"
            );
            copy_dir(&dir, &root.join("crashed"));
        }
        let crashed = Collection::load(root.join("crashed"), &options).unwrap();
        assert!(
            ids(&crashed, &[1, 2, 3]).is_empty(),
            "every delete replayed"
        );
        drop(crashed);
        c.flush().unwrap();
        drop(c);

        // As if the crash left a later delete applied: point 5 is already gone when the
        // update of its payload replays, and the delete that follows replays it.
        let other = root.join("other");
        drop(create_in(&other, &options));
        fs::write(
            other.join(JOURNAL_FILE),
            "{\"payload\":{\"ids\":[5],\"update\":\"clear\"}}\n{\"delete\":[5]}\n",
        )
        .unwrap();
        let replayed = Collection::load(other, &options).unwrap();
        assert!(ids(&replayed, &[5]).is_empty());
        drop(replayed);
        let _ = fs::remove_dir_all(root);
    }

    /// Vector updates are journaled by ids and replayed (one of a point that a later line
    /// deletes is skipped), and a journal line written before named vectors existed
    /// (`"vector"`: the unnamed one) still replays.
    #[test]
    fn vector_updates_and_older_journal_lines_replay() {
        use infra_base::Vectors;

        let root = scratch();
        let dir = root.join("c");
        let options = EdgeStoreOptions::default();
        let c = create_in(&dir, &options);
        c.upsert(vec![Point::new(1, vec![1.0, 0.0])]).unwrap();
        {
            let _optimizing = lock(&c.optimizing);
            let update = PointVectors::new(1, Vectors::unnamed(vec![0.0, 3.0]));
            c.update_vectors(&[update]).unwrap();
            let journal = fs::read_to_string(dir.join(JOURNAL_FILE)).unwrap();
            assert_eq!(
                journal.lines().collect::<Vec<_>>(),
                [r#"{"vectors":[{"id":1,"vectors":{"":[0.0,3.0]}}]}"#]
            );
            copy_dir(&dir, &root.join("crashed"));
        }
        let crashed = Collection::load(root.join("crashed"), &options).unwrap();
        let records = crashed.get(&[PointId::from(1)], true).unwrap();
        assert_eq!(records[0].vector(), Some(&[0.0, 3.0][..]));
        drop(crashed);
        c.flush().unwrap();
        drop(c);

        let other = root.join("other");
        drop(create_in(&other, &options));
        fs::write(
            other.join(JOURNAL_FILE),
            concat!(
                "{\"upsert\":[{\"id\":7,\"vector\":[2.0,0.0],\"payload\":{}}]}\n",
                "{\"vectors\":[{\"id\":5,\"vectors\":{\"\":[1.0,1.0]}}]}\n",
                "{\"delete\":[5]}\n",
            ),
        )
        .unwrap();
        let replayed = Collection::load(other, &options).unwrap();
        let records = replayed
            .get(&[PointId::from(5), PointId::from(7)], true)
            .unwrap();
        assert_eq!(records.len(), 1, "point 5 stays deleted");
        assert_eq!(records[0].vector(), Some(&[2.0, 0.0][..]));
        drop(replayed);
        let _ = fs::remove_dir_all(root);
    }

    /// A journal damaged before its last line cannot be replayed safely: loading fails
    /// (and the store quarantines the collection).
    #[test]
    fn a_journal_damaged_in_the_middle_fails_the_load() {
        let root = scratch();
        let dir = root.join("c");
        let options = EdgeStoreOptions::default();
        drop(create_in(&dir, &options));
        fs::write(dir.join(JOURNAL_FILE), "not json\n{\"delete\":[1]}\n").unwrap();
        let err = Collection::load(dir, &options).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Internal);
        assert!(err.message().contains("line 1"), "{}", err.message());
        let _ = fs::remove_dir_all(root);
    }
}
