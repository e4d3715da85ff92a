//! [`EdgeVectorStore`]: the data directory, its collections, and the port on top.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard};

use async_trait::async_trait;
use infra_base::vector::validate_collection_name;
use infra_base::{
    CollectionInfo, CollectionSpec, ComponentHealth, EnsureOutcome, ErrorKind, Filter, InfraError,
    InfraResult, Lifecycle, Point, PointId, Record, ScoredPoint, SearchQuery, VECTOR_BACKEND,
    VectorPort,
};
use infra_config::{QdrantMode, QdrantSettings};

use crate::collection::{Collection, CollectionStats, DirGuard, MARKER_FILE};
use crate::error::{closed, error, io_error, join_error, not_found, not_initialized};
use crate::options::EdgeStoreOptions;

/// Sub-directory of the data directory that holds one directory per collection.
const COLLECTIONS_DIR: &str = "collections";
/// Sub-directory where deleted collections are moved before they are removed; emptied
/// when the store opens.
const TRASH_DIR: &str = "trash";
/// The file locked while a store has the data directory open.
const LOCK_FILE: &str = ".lock";

/// The embedded vector store: a [`VectorPort`] (and [`Lifecycle`]) over qdrant-edge, in
/// process, on disk, with no server.
///
/// Each collection is one qdrant-edge shard in its own directory,
/// `<path>/collections/<name>/`. [`init`](Lifecycle::init) creates or opens the data
/// directory and every collection in it; [`close`](Lifecycle::close) flushes and releases
/// them. The store is cheap to clone (an `Arc`), and every engine call runs on tokio's
/// blocking pool, never on an async worker.
///
/// Semantics are the port's: ids are u64 or UUIDs, payloads JSON objects, filters map
/// one-to-one onto Qdrant's, scores are cosine similarity (vectors normalized on write),
/// dot product, or Euclidean/Manhattan distances (smallest first), exactly as a Qdrant
/// server returns them.
///
/// Durability and indexing are tuned with [`EdgeStoreOptions`]; by default every write is
/// on disk when it returns and collections get an HNSW index in the background once they
/// outgrow Qdrant's indexing threshold.
#[derive(Clone)]
pub struct EdgeVectorStore {
    inner: Arc<Inner>,
}

struct Inner {
    root: PathBuf,
    options: EdgeStoreOptions,
    state: RwLock<State>,
    /// Serializes structural changes: init, create, delete, close.
    admin: Mutex<()>,
    /// The background flush task, while the store is open.
    flusher: Mutex<Option<tokio::task::AbortHandle>>,
    /// A temporary data directory owned by the store (and by each collection, which
    /// background tasks may hold longer), removed after the last shard is dropped.
    temp: Option<DirGuard>,
}

enum State {
    Idle,
    Open(Open),
    Closed,
}

struct Open {
    collections: HashMap<String, Arc<Collection>>,
    /// Holds the data directory's lock; dropped after the collections.
    _lock: fs::File,
}

fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs blocking engine work on tokio's blocking pool.
async fn blocking<T, F>(operation: &'static str, f: F) -> InfraResult<T>
where
    T: Send + 'static,
    F: FnOnce() -> InfraResult<T> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| join_error(operation, e))?
}

impl std::fmt::Debug for EdgeVectorStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &*read(&self.inner.state) {
            State::Idle => "idle",
            State::Open(_) => "open",
            State::Closed => "closed",
        };
        f.debug_struct("EdgeVectorStore")
            .field("path", &self.inner.root)
            .field("state", &state)
            .field("options", &self.inner.options)
            .finish()
    }
}

impl EdgeVectorStore {
    /// A store in the data directory `path` with default options. Nothing is touched
    /// until [`init`](Lifecycle::init).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self::with_options(path, EdgeStoreOptions::default())
    }

    /// A store in the data directory `path` with `options`. Nothing is touched until
    /// [`init`](Lifecycle::init).
    pub fn with_options(path: impl Into<PathBuf>, options: EdgeStoreOptions) -> Self {
        Self::build(path.into(), options, None)
    }

    /// A store in the configured data directory (`SOCIAL_QDRANT__PATH`), with default
    /// options.
    ///
    /// Fails as [`NotConfigured`](ErrorKind::NotConfigured) when the settings select a
    /// remote server (`mode = remote`): that is the remote adapter's job.
    pub fn from_settings(settings: &QdrantSettings) -> InfraResult<Self> {
        if settings.mode != QdrantMode::Embedded {
            return Err(error(
                ErrorKind::NotConfigured,
                "init",
                "the embedded vector store needs qdrant.mode = embedded; \
                 a remote Qdrant server is served by the remote adapter",
            ));
        }
        Ok(Self::new(settings.path.clone()))
    }

    /// Opens (creating if needed) the store in the data directory `path`: [`new`](Self::new)
    /// then [`init`](Lifecycle::init).
    pub async fn open(path: impl Into<PathBuf>) -> InfraResult<Self> {
        let store = Self::new(path);
        store.init().await?;
        Ok(store)
    }

    /// Opens a store in a fresh temporary directory, removed when the last clone of the
    /// store is dropped: for tests, and for services that want a scratch index. Needs the
    /// `temporary` feature (which brings in tempfile).
    #[cfg(feature = "temporary")]
    pub async fn temporary(options: EdgeStoreOptions) -> InfraResult<Self> {
        let temp = blocking("init", || {
            tempfile::Builder::new()
                .prefix("infra-qdrant-edge-")
                .tempdir()
                .map_err(|e| {
                    io_error(
                        "init",
                        "create a temporary directory in",
                        &std::env::temp_dir(),
                        e,
                    )
                })
        })
        .await?;
        let root = temp.path().to_path_buf();
        let store = Self::build(root, options, Some(Arc::new(temp)));
        store.init().await?;
        Ok(store)
    }

    fn build(root: PathBuf, options: EdgeStoreOptions, temp: Option<DirGuard>) -> Self {
        Self {
            inner: Arc::new(Inner {
                root,
                options,
                state: RwLock::new(State::Idle),
                admin: Mutex::new(()),
                flusher: Mutex::new(None),
                temp,
            }),
        }
    }

    /// The data directory.
    pub fn path(&self) -> &Path {
        &self.inner.root
    }

    /// The options the store was built with.
    pub fn options(&self) -> &EdgeStoreOptions {
        &self.inner.options
    }

    /// The names of the collections, sorted.
    pub fn list_collections(&self) -> InfraResult<Vec<String>> {
        let state = read(&self.inner.state);
        let open = open_state(&state, "list_collections")?;
        let mut names: Vec<String> = open.collections.keys().cloned().collect();
        names.sort_unstable();
        Ok(names)
    }

    /// Writes everything to disk (waiting for running optimizations). Only needed with
    /// [`EdgeStoreOptions::flush_on_write`] off.
    pub async fn flush(&self) -> InfraResult<()> {
        const OP: &str = "flush";
        let collections: Vec<Arc<Collection>> = {
            let state = read(&self.inner.state);
            open_state(&state, OP)?
                .collections
                .values()
                .cloned()
                .collect()
        };
        blocking(OP, move || {
            for c in collections {
                match c.flush() {
                    // Deleted meanwhile: nothing left to flush.
                    Err(err) if err.kind() == ErrorKind::NotFound => {}
                    other => other?,
                }
            }
            Ok(())
        })
        .await
    }

    /// Runs the optimizers of a collection now and waits for them: builds the HNSW index
    /// of segments above the indexing threshold, merges small segments and vacuums deleted
    /// points. Returns whether anything changed. Reads and writes continue meanwhile.
    pub async fn optimize(&self, collection: &str) -> InfraResult<bool> {
        const OP: &str = "optimize";
        let c = self.inner.collection(collection, OP)?;
        blocking(OP, move || c.optimize(true)).await
    }

    /// Storage statistics of a collection (points, segments, indexed vectors).
    pub async fn collection_stats(&self, collection: &str) -> InfraResult<CollectionStats> {
        const OP: &str = "collection_stats";
        let c = self.inner.collection(collection, OP)?;
        blocking(OP, move || c.stats()).await
    }

    /// Starts the background flush task, unless it runs or the options want none. It holds
    /// the store weakly and ends when the store is closed or dropped.
    fn start_flusher(&self) {
        let Some(interval) = self.inner.options.flush_interval else {
            return;
        };
        let mut flusher = lock(&self.inner.flusher);
        if flusher.as_ref().is_some_and(|h| !h.is_finished()) {
            return;
        }
        let weak = Arc::downgrade(&self.inner);
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                let dirty: Vec<Arc<Collection>> = {
                    let Some(inner) = weak.upgrade() else { return };
                    let state = read(&inner.state);
                    let State::Open(open) = &*state else { return };
                    open.collections
                        .values()
                        .filter(|c| c.is_dirty())
                        .cloned()
                        .collect()
                };
                if dirty.is_empty() {
                    continue;
                }
                let outcome = tokio::task::spawn_blocking(move || {
                    for c in dirty {
                        match c.flush_if_dirty() {
                            Ok(()) => {}
                            // Deleted or closed meanwhile.
                            Err(err)
                                if matches!(
                                    err.kind(),
                                    ErrorKind::NotFound | ErrorKind::Unavailable
                                ) => {}
                            Err(err) => tracing::warn!(collection = %c.name,
                                error = %err.chain(), "background flush failed"),
                        }
                    }
                })
                .await;
                if let Err(err) = outcome {
                    tracing::warn!(error = %err, "background flush task failed");
                }
            }
        });
        *flusher = Some(task.abort_handle());
    }

    /// Starts a background optimization when the collection received enough writes.
    fn after_write(c: &Arc<Collection>) {
        if c.optimization_due() {
            let c = Arc::clone(c);
            drop(tokio::task::spawn_blocking(move || {
                if let Err(err) = c.optimize(false) {
                    tracing::warn!(collection = %c.name, kind = %err.kind(), error = %err.chain(),
                        "background optimization of an embedded vector collection failed");
                }
            }));
        }
    }
}

fn open_state<'a>(state: &'a State, operation: &'static str) -> InfraResult<&'a Open> {
    match state {
        State::Open(open) => Ok(open),
        State::Idle => Err(not_initialized(operation)),
        State::Closed => Err(closed(operation)),
    }
}

impl Inner {
    fn collections_dir(&self) -> PathBuf {
        self.root.join(COLLECTIONS_DIR)
    }

    fn trash_dir(&self) -> PathBuf {
        self.root.join(TRASH_DIR)
    }

    /// The open collection `name`, after checking the store's state and the name.
    fn collection(&self, name: &str, operation: &'static str) -> InfraResult<Arc<Collection>> {
        let state = read(&self.state);
        let open = open_state(&state, operation)?;
        validate_collection_name(name, operation)?;
        open.collections
            .get(name)
            .cloned()
            .ok_or_else(|| not_found(name, operation))
    }

    fn check_open(&self, operation: &'static str) -> InfraResult<()> {
        open_state(&read(&self.state), operation).map(|_| ())
    }

    /// Creates or opens the data directory and loads every collection.
    fn open(&self) -> InfraResult<()> {
        const OP: &str = "init";
        let _admin = lock(&self.admin);
        if matches!(*read(&self.state), State::Open(_)) {
            return self.ping();
        }
        let collections_dir = self.collections_dir();
        let trash_dir = self.trash_dir();
        for dir in [&collections_dir, &trash_dir] {
            fs::create_dir_all(dir)
                .map_err(|e| io_error(OP, "create the data directory", dir, e))?;
        }
        let lock_path = self.root.join(LOCK_FILE);
        let lock_file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| io_error(OP, "create the lock file", &lock_path, e))?;
        match lock_file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(error(
                    ErrorKind::Unavailable,
                    OP,
                    format!(
                        "the data directory {} is in use by another embedded vector store \
                         (in this or another process)",
                        self.root.display()
                    ),
                ));
            }
            Err(fs::TryLockError::Error(e)) => {
                return Err(io_error(OP, "lock", &lock_path, e));
            }
        }
        probe_writable(&collections_dir)?;
        empty_trash(&trash_dir);

        let mut collections = HashMap::new();
        let entries = fs::read_dir(&collections_dir)
            .map_err(|e| io_error(OP, "read the data directory", &collections_dir, e))?;
        for entry in entries {
            let entry =
                entry.map_err(|e| io_error(OP, "read the data directory", &collections_dir, e))?;
            let dir = entry.path();
            if !dir.is_dir() {
                continue;
            }
            let Some(name) = entry
                .file_name()
                .to_str()
                .filter(|n| validate_collection_name(n, OP).is_ok())
                .map(str::to_owned)
            else {
                tracing::warn!(path = %dir.display(),
                    "ignoring a directory that is not named like a collection");
                continue;
            };
            if !dir.join(MARKER_FILE).is_file() {
                tracing::warn!(path = %dir.display(),
                    "removing the leftover of an interrupted collection creation");
                self.discard(&dir, &name);
                continue;
            }
            let collection =
                Collection::load(dir, &self.options)?.with_dir_guard(self.temp.clone());
            if collection.name != name {
                return Err(error(
                    ErrorKind::Internal,
                    OP,
                    format!(
                        "the collection in {} is named {} in its {MARKER_FILE}",
                        collections_dir.join(&name).display(),
                        collection.name
                    ),
                ));
            }
            collections.insert(name, Arc::new(collection));
        }
        tracing::info!(path = %self.root.display(), collections = collections.len(),
            "embedded vector store opened");
        *self.state.write().unwrap_or_else(PoisonError::into_inner) = State::Open(Open {
            collections,
            _lock: lock_file,
        });
        Ok(())
    }

    /// The cheap check behind `ping` and `health`: the store is open and its directory is
    /// still there.
    fn ping(&self) -> InfraResult<()> {
        const OP: &str = "ping";
        self.check_open(OP)?;
        let dir = self.collections_dir();
        match fs::metadata(&dir) {
            Ok(meta) if meta.is_dir() => Ok(()),
            Ok(_) => Err(error(
                ErrorKind::Unavailable,
                OP,
                format!("{} is not a directory", dir.display()),
            )),
            Err(e) => Err(io_error(OP, "read the data directory", &dir, e)),
        }
    }

    fn ensure(&self, spec: &CollectionSpec) -> InfraResult<EnsureOutcome> {
        const OP: &str = "ensure_collection";
        let _admin = lock(&self.admin);
        {
            let state = read(&self.state);
            if let Some(existing) = open_state(&state, OP)?.collections.get(&spec.name) {
                spec.check_existing(existing.dimension, existing.distance)?;
                return Ok(EnsureOutcome::AlreadyExists);
            }
        }
        let dir = self.collections_dir().join(&spec.name);
        if fs::symlink_metadata(&dir).is_ok() {
            // Not a loaded collection: the leftover of a failed creation or deletion.
            self.discard(&dir, &spec.name);
        }
        let collection = match Collection::create(dir.clone(), spec, &self.options) {
            Ok(c) => c.with_dir_guard(self.temp.clone()),
            Err(err) => {
                self.discard(&dir, &spec.name);
                return Err(err);
            }
        };
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        let State::Open(open) = &mut *state else {
            // Unreachable: state changes take the admin lock we hold.
            return Err(closed(OP));
        };
        open.collections
            .insert(spec.name.clone(), Arc::new(collection));
        tracing::debug!(collection = %spec.name, dimension = spec.dimension,
            distance = %spec.distance, "embedded vector collection created");
        Ok(EnsureOutcome::Created)
    }

    fn delete(&self, name: &str) -> InfraResult<bool> {
        const OP: &str = "delete_collection";
        let _admin = lock(&self.admin);
        let removed = {
            let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
            match &mut *state {
                State::Open(open) => open.collections.remove(name),
                State::Idle => return Err(not_initialized(OP)),
                State::Closed => return Err(closed(OP)),
            }
        };
        let Some(collection) = removed else {
            return Ok(false);
        };
        // Waits for operations in flight, then drops the shard.
        if let Err(err) = collection.release(true, OP) {
            tracing::error!(collection = %name, error = %err.chain(),
                "closing a deleted embedded vector collection failed; removing it anyway");
        }
        let dir = self.collections_dir().join(name);
        let trashed = self
            .trash_dir()
            .join(format!("{name}-{}", uuid::Uuid::new_v4().simple()));
        match fs::rename(&dir, &trashed) {
            Ok(()) => {
                if let Err(e) = fs::remove_dir_all(&trashed) {
                    tracing::warn!(path = %trashed.display(), error = %e,
                        "cannot remove a deleted collection now; it is removed at the next start");
                }
            }
            Err(_) => fs::remove_dir_all(&dir)
                .map_err(|e| io_error(OP, "remove the collection directory", &dir, e))?,
        }
        tracing::debug!(collection = %name, "embedded vector collection deleted");
        Ok(true)
    }

    /// Moves a directory that is not a loaded collection out of the way, best effort.
    fn discard(&self, dir: &Path, name: &str) {
        let trashed = self
            .trash_dir()
            .join(format!("{name}-{}", uuid::Uuid::new_v4().simple()));
        let removed = fs::rename(dir, &trashed)
            .and_then(|()| fs::remove_dir_all(&trashed))
            .or_else(|_| fs::remove_dir_all(dir));
        if let Err(e) = removed {
            tracing::warn!(path = %dir.display(), error = %e, "cannot remove a stale collection directory");
        }
    }

    fn close(&self) {
        let _admin = lock(&self.admin);
        let previous = std::mem::replace(
            &mut *self.state.write().unwrap_or_else(PoisonError::into_inner),
            State::Closed,
        );
        let State::Open(open) = previous else {
            return;
        };
        for collection in open.collections.values() {
            if let Err(err) = collection.release(false, "close") {
                tracing::error!(collection = %collection.name, error = %err.chain(),
                    "closing an embedded vector collection failed");
            }
        }
        drop(open);
        tracing::info!(path = %self.root.display(), "embedded vector store closed");
    }
}

/// Checks that the collections directory accepts new files, so that an unwritable data
/// directory fails `init` with its path rather than the first write.
fn probe_writable(dir: &Path) -> InfraResult<()> {
    let probe = dir.join(format!(".probe-{}", uuid::Uuid::new_v4().simple()));
    fs::write(&probe, b"")
        .and_then(|()| fs::remove_file(&probe))
        .map_err(|e| io_error("init", "write to the data directory", dir, e))
}

fn empty_trash(trash: &Path) {
    let Ok(entries) = fs::read_dir(trash) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let removed = if path.is_dir() {
            fs::remove_dir_all(&path)
        } else {
            fs::remove_file(&path)
        };
        if let Err(e) = removed {
            tracing::warn!(path = %path.display(), error = %e, "cannot empty the trash");
        }
    }
}

fn info_error(err: InfraError) -> InfraError {
    err.with_operation("collection_info")
}

#[async_trait]
impl VectorPort for EdgeVectorStore {
    async fn ping(&self) -> InfraResult<()> {
        self.inner.check_open("ping")?;
        let inner = Arc::clone(&self.inner);
        blocking("ping", move || inner.ping()).await
    }

    async fn ensure_collection(&self, spec: &CollectionSpec) -> InfraResult<EnsureOutcome> {
        const OP: &str = "ensure_collection";
        self.inner.check_open(OP)?;
        spec.validate()?;
        let inner = Arc::clone(&self.inner);
        let spec = spec.clone();
        blocking(OP, move || inner.ensure(&spec)).await
    }

    async fn collection_info(&self, name: &str) -> InfraResult<CollectionInfo> {
        const OP: &str = "collection_info";
        let c = self.inner.collection(name, OP)?;
        blocking(OP, move || {
            let points_count = c.count(&Filter::default()).map_err(info_error)?;
            Ok(CollectionInfo {
                name: c.name.clone(),
                dimension: c.dimension,
                distance: c.distance,
                points_count,
            })
        })
        .await
    }

    async fn delete_collection(&self, name: &str) -> InfraResult<bool> {
        const OP: &str = "delete_collection";
        self.inner.check_open(OP)?;
        validate_collection_name(name, OP)?;
        let inner = Arc::clone(&self.inner);
        let name = name.to_owned();
        blocking(OP, move || inner.delete(&name)).await
    }

    async fn upsert(&self, collection: &str, points: Vec<Point>) -> InfraResult<()> {
        const OP: &str = "upsert";
        let c = self.inner.collection(collection, OP)?;
        let task = Arc::clone(&c);
        blocking(OP, move || task.upsert(points)).await?;
        Self::after_write(&c);
        Ok(())
    }

    async fn get(
        &self,
        collection: &str,
        ids: &[PointId],
        with_vector: bool,
    ) -> InfraResult<Vec<Record>> {
        const OP: &str = "get";
        let c = self.inner.collection(collection, OP)?;
        let ids = ids.to_vec();
        blocking(OP, move || c.get(&ids, with_vector)).await
    }

    async fn delete(&self, collection: &str, ids: &[PointId]) -> InfraResult<()> {
        const OP: &str = "delete";
        let c = self.inner.collection(collection, OP)?;
        let task = Arc::clone(&c);
        let ids = ids.to_vec();
        blocking(OP, move || task.delete(&ids)).await?;
        Self::after_write(&c);
        Ok(())
    }

    async fn search(&self, collection: &str, query: &SearchQuery) -> InfraResult<Vec<ScoredPoint>> {
        const OP: &str = "search";
        let c = self.inner.collection(collection, OP)?;
        query.validate(c.dimension)?;
        let query = query.clone();
        blocking(OP, move || c.search(&query)).await
    }

    async fn count(&self, collection: &str, filter: &Filter) -> InfraResult<u64> {
        const OP: &str = "count";
        let c = self.inner.collection(collection, OP)?;
        let filter = filter.clone();
        blocking(OP, move || c.count(&filter)).await
    }
}

#[async_trait]
impl Lifecycle for EdgeVectorStore {
    /// Creates or opens the data directory (a clear error naming it when it cannot be
    /// created, written or locked) and opens every collection in it. Idempotent; after
    /// `close`, opens the store again.
    async fn init(&self) -> InfraResult<()> {
        self.inner.options.validate()?;
        let inner = Arc::clone(&self.inner);
        blocking("init", move || inner.open()).await?;
        self.start_flusher();
        Ok(())
    }

    /// Checks that the store is open and its directory present, timed.
    async fn health(&self) -> ComponentHealth {
        ComponentHealth::measure(self.ping()).await
    }

    /// Waits for operations in flight, flushes and releases every collection and the data
    /// directory's lock. Later calls fail as `Unavailable`. Idempotent.
    async fn close(&self) {
        if let Some(flusher) = lock(&self.inner.flusher).take() {
            flusher.abort();
        }
        let inner = Arc::clone(&self.inner);
        if let Err(err) = tokio::task::spawn_blocking(move || inner.close()).await {
            tracing::error!(backend = VECTOR_BACKEND, error = %err, "closing the embedded vector store failed");
        }
    }
}
