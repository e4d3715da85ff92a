//! [`EdgeVectorStore`]: the data directory, its collections, and the port on top.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard};
use std::time::Duration;

use async_trait::async_trait;
use infra_base::vector::{Alias, AliasChange, resolve_lookup};
use infra_base::{
    CollectionInfo, CollectionName, CollectionSpec, ComponentHealth, CountRequest, EnsureOutcome,
    ErrorKind, FacetHit, FacetRequest, Filter, HealthStatus, InfraError, InfraResult, Lifecycle,
    PayloadUpdate, Point, PointId, PointSelector, PointVectors, QueryRequest, Record, ScoredPoint,
    ScrollPage, ScrollRequest, SearchQuery, VECTOR_BACKEND, VectorPort,
};
use infra_config::{QdrantMode, QdrantSettings};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::collection::{
    Collection, CollectionStats, DirGuard, MARKER_FILE, write_json_atomically,
};
use crate::error::{closed, error, io_error, join_error, not_found, not_initialized};
use crate::options::EdgeStoreOptions;

/// Sub-directory of the data directory that holds one directory per collection.
const COLLECTIONS_DIR: &str = "collections";
/// Sub-directory where deleted collections are moved before they are removed; emptied
/// when the store opens.
const TRASH_DIR: &str = "trash";
/// The file locked while a store has the data directory open.
const LOCK_FILE: &str = ".lock";
/// The aliases (alias -> collection), as JSON, in the data directory's root.
const ALIASES_FILE: &str = "aliases.json";

/// Bytes kept free, below the platform's path limit, for the paths the engine builds inside
/// a collection's directory (`segments/<uuid>/...`, `wal/...`, `temp_segments/...`;
/// at most about 80 bytes with qdrant-edge 0.7, as in
/// `segments/<uuid>/vector_storage/vectors/chunk_0.mmap`; kept with a wide margin).
const ENGINE_PATH_RESERVE: usize = 220;

/// The longest path the platform opens (`PATH_MAX` on Linux, `MAXPATHLEN` on macOS, the
/// classic `MAX_PATH` on Windows).
const MAX_PATH_LEN: usize = if cfg!(target_os = "linux") {
    4096
} else if cfg!(windows) {
    260
} else {
    1024
};

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
/// Durability, limits and indexing are tuned with [`EdgeStoreOptions`]; by default every
/// write is on disk when it returns, at most 32 engine calls run at once, and collections
/// get an HNSW index in the background once they outgrow Qdrant's indexing threshold.
#[derive(Clone)]
pub struct EdgeVectorStore {
    inner: Arc<Inner>,
}

struct Inner {
    root: PathBuf,
    options: EdgeStoreOptions,
    /// Slots of engine calls running at once (`max_concurrent_calls`).
    slots: Arc<Semaphore>,
    /// The one permit of background optimizations: at most one collection optimizes at a
    /// time, whatever the number of collections (the engine already uses several threads
    /// inside one optimization), so bursts of writes to many collections cannot occupy
    /// every core and the blocking pool with index builds.
    optimizer: Arc<Semaphore>,
    /// Background optimizations running now and the most seen at once (tests read it).
    #[cfg(test)]
    optimizations: (
        std::sync::atomic::AtomicUsize,
        std::sync::atomic::AtomicUsize,
    ),
    /// The last background flush failure of each collection whose latest flush failed.
    flush_failures: Mutex<BTreeMap<CollectionName, String>>,
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
    collections: HashMap<CollectionName, Arc<Collection>>,
    /// Collections that failed to load at `init`: left on disk untouched, refused for use.
    quarantined: BTreeMap<CollectionName, Quarantined>,
    /// Alias -> collection, as in [`ALIASES_FILE`].
    aliases: BTreeMap<String, String>,
    /// Holds the data directory's lock; dropped after the collections.
    _lock: fs::File,
}

/// A collection that failed to load.
struct Quarantined {
    dir: PathBuf,
    /// Why, client-safe (the engine's details are logged).
    reason: String,
}

impl Open {
    /// A collection whose name differs from `name` only in case, loaded or quarantined:
    /// on a case-insensitive file system both would be one directory.
    fn case_twin(&self, name: &CollectionName) -> Option<&CollectionName> {
        let folded = name.folded();
        self.collections
            .keys()
            .chain(self.quarantined.keys())
            .find(|other| *other != name && other.folded() == folded)
    }
}

fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs blocking work on tokio's blocking pool, outside the engine slots (the cheap
/// checks of `ping`, directory handling at `init` and `close`).
async fn blocking<T, F>(operation: &'static str, f: F) -> InfraResult<T>
where
    T: Send + 'static,
    F: FnOnce() -> InfraResult<T> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| join_error(operation, e))?
}

impl Inner {
    /// Runs one engine call on tokio's blocking pool, in one of the `max_concurrent_calls`
    /// slots. With `bounded`, the call's timeout covers the wait for a slot and the work: a
    /// call still waiting for a slot at its deadline fails as `PoolExhausted` and never
    /// starts (nor does one that got its slot too late, behind a saturated blocking pool);
    /// one whose work outlives the deadline fails as `Timeout`, and the work finishes in the
    /// background, still holding its slot, so that timed-out work never piles up beyond the
    /// slots.
    async fn run<T, F>(&self, operation: &'static str, bounded: bool, f: F) -> InfraResult<T>
    where
        T: Send + 'static,
        F: FnOnce() -> InfraResult<T> + Send + 'static,
    {
        let limit = self.options.call_timeout.filter(|_| bounded);
        let deadline = limit.map(|limit| Instant::now() + limit);
        let acquire = Arc::clone(&self.slots).acquire_owned();
        let permit = match deadline {
            Some(deadline) => tokio::time::timeout_at(deadline, acquire)
                .await
                .map_err(|_| self.busy(operation, limit.unwrap_or_default()))?,
            None => acquire.await,
        }
        .map_err(|_| closed(operation))?;
        let work = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                return Err(error(
                    ErrorKind::Timeout,
                    operation,
                    "the call's deadline passed before the embedded vector engine could start it",
                ));
            }
            f()
        });
        let joined = match deadline {
            Some(deadline) => tokio::time::timeout_at(deadline, work).await.map_err(|_| {
                error(
                    ErrorKind::Timeout,
                    operation,
                    format!(
                        "the embedded vector engine did not finish within {}",
                        humantime_secs(limit.unwrap_or_default())
                    ),
                )
            })?,
            None => work.await,
        };
        joined.map_err(|e| join_error(operation, e))?
    }

    fn busy(&self, operation: &'static str, waited: Duration) -> InfraError {
        error(
            ErrorKind::PoolExhausted,
            operation,
            format!(
                "all {} embedded vector engine slots (SOCIAL_QDRANT__MAX_CONCURRENT_CALLS) \
                 stayed busy for {}; the call was not started",
                self.options.max_concurrent_calls,
                humantime_secs(waited)
            ),
        )
    }
}

/// A duration for messages: `1.5s`, `250ms`.
fn humantime_secs(d: Duration) -> String {
    if d >= Duration::from_secs(1) {
        format!("{}s", d.as_secs_f64())
    } else {
        format!("{}ms", d.as_millis())
    }
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

    /// A store in the configured data directory (`SOCIAL_QDRANT__PATH`), with the options
    /// of the settings ([`EdgeStoreOptions::from_settings`]).
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
        Ok(Self::with_options(
            settings.path.clone(),
            EdgeStoreOptions::from_settings(settings),
        ))
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
                slots: Arc::new(Semaphore::new(options.max_concurrent_calls.max(1))),
                optimizer: Arc::new(Semaphore::new(1)),
                #[cfg(test)]
                optimizations: Default::default(),
                flush_failures: Mutex::default(),
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

    /// The names of the collections, sorted (what
    /// [`VectorPort::list_collections`] answers, without the engine slot).
    fn collection_names(&self) -> InfraResult<Vec<String>> {
        let state = read(&self.inner.state);
        let open = open_state(&state, "list_collections")?;
        let mut names: Vec<String> = open.collections.keys().map(ToString::to_string).collect();
        names.sort_unstable();
        Ok(names)
    }

    /// The collections that failed to load at `init`, sorted, each with why: they are left
    /// on disk untouched, every operation on them is refused, and health reports them.
    /// Repair or move a collection's directory away, then restart.
    pub fn quarantined_collections(&self) -> InfraResult<Vec<(String, String)>> {
        let state = read(&self.inner.state);
        let open = open_state(&state, "quarantined_collections")?;
        Ok(open
            .quarantined
            .iter()
            .map(|(name, q)| (name.to_string(), q.reason.clone()))
            .collect())
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
        self.inner
            .run(OP, false, move || {
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
        self.inner
            .run(OP, false, move || c.optimize(true).map(|o| o == Some(true)))
            .await
    }

    /// Storage statistics of a collection (points, segments, indexed vectors).
    pub async fn collection_stats(&self, collection: &str) -> InfraResult<CollectionStats> {
        const OP: &str = "collection_stats";
        let c = self.inner.collection(collection, OP)?;
        self.inner.run(OP, true, move || c.stats()).await
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
                let Some(inner) = weak.upgrade() else { return };
                let outcome = tokio::task::spawn_blocking(move || {
                    for c in dirty {
                        let result = c.flush_if_dirty();
                        let mut failures = lock(&inner.flush_failures);
                        match result {
                            Ok(()) => {
                                failures.remove(&c.name);
                            }
                            // Deleted or closed meanwhile.
                            Err(err)
                                if matches!(
                                    err.kind(),
                                    ErrorKind::NotFound | ErrorKind::Unavailable
                                ) && !c.is_open() =>
                            {
                                failures.remove(&c.name);
                            }
                            Err(err) => {
                                tracing::warn!(collection = %c.name,
                                    error = %err.chain(), "background flush failed");
                                failures.insert(c.name.clone(), err.message().to_owned());
                            }
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

    /// Starts a background optimization when the collection received enough writes and no
    /// other background optimization runs. The task then optimizes, one after the other,
    /// every other collection that became due meanwhile, so a collection whose writes
    /// stopped while another optimized is not left unindexed.
    fn after_write(inner: &Arc<Inner>, c: &Arc<Collection>) {
        if !c.optimization_due() {
            return;
        }
        let Ok(permit) = Arc::clone(&inner.optimizer).try_acquire_owned() else {
            return;
        };
        let inner = Arc::clone(inner);
        let mut next = Some(Arc::clone(c));
        drop(tokio::task::spawn_blocking(move || {
            let _permit = permit;
            // Stops when an optimization did not run (an explicit `optimize` holds the
            // collection): that one resets the collection's count itself.
            while let Some(c) = next.take() {
                if inner.optimize_in_background(&c) {
                    next = inner.next_due();
                }
            }
        }));
    }
}

impl Inner {
    /// Optimizes `c` unless an optimization of it already runs; whether this one ran.
    #[cfg_attr(
        not(test),
        expect(clippy::unused_self, reason = "tests count through self")
    )]
    fn optimize_in_background(&self, c: &Collection) -> bool {
        #[cfg(test)]
        {
            use std::sync::atomic::Ordering::SeqCst;
            let (running, peak) = &self.optimizations;
            peak.fetch_max(running.fetch_add(1, SeqCst) + 1, SeqCst);
        }
        let ran = match c.optimize(false) {
            Ok(ran) => ran.is_some(),
            Err(err) => {
                tracing::warn!(collection = %c.name, kind = %err.kind(), error = %err.chain(),
                    "background optimization of an embedded vector collection failed");
                false
            }
        };
        #[cfg(test)]
        self.optimizations
            .0
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        ran
    }

    /// An open collection whose automatic optimization is due, if any.
    fn next_due(&self) -> Option<Arc<Collection>> {
        let state = read(&self.state);
        let State::Open(open) = &*state else {
            return None;
        };
        open.collections
            .values()
            .find(|c| c.optimization_due())
            .map(Arc::clone)
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
        let name = CollectionName::parse(name, operation)?;
        if let Some(c) = open.collections.get(&name) {
            return Ok(Arc::clone(c));
        }
        if let Some(q) = open.quarantined.get(&name) {
            return Err(quarantined(&name, q, operation));
        }
        if let Some(c) = open
            .aliases
            .get(name.as_str())
            .and_then(|target| open.collections.get(target.as_str()))
        {
            return Ok(Arc::clone(c));
        }
        Err(not_found(&name, operation))
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

        let (collections, quarantine) = self.load_collections(&collections_dir)?;
        let aliases = self.load_aliases()?;
        tracing::info!(path = %self.root.display(), collections = collections.len(),
            quarantined = quarantine.len(), "embedded vector store opened");
        lock(&self.flush_failures).clear();
        *self.state.write().unwrap_or_else(PoisonError::into_inner) = State::Open(Open {
            collections,
            quarantined: quarantine,
            aliases,
            _lock: lock_file,
        });
        Ok(())
    }

    /// The aliases saved in [`ALIASES_FILE`] (none when it does not exist).
    fn load_aliases(&self) -> InfraResult<BTreeMap<String, String>> {
        const OP: &str = "init";
        let path = self.root.join(ALIASES_FILE);
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                error(
                    ErrorKind::Internal,
                    OP,
                    format!(
                        "{} is not a JSON object of alias -> collection ({e}): restore it \
                         or remove it (the aliases are then lost)",
                        path.display()
                    ),
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(io_error(OP, "read the aliases", &path, e)),
        }
    }

    /// Applies alias changes all together, or none: the new map is saved first, then
    /// replaces the old one.
    fn update_aliases(&self, changes: &[AliasChange]) -> InfraResult<()> {
        const OP: &str = "update_aliases";
        let _admin = lock(&self.admin);
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        let open = match &mut *state {
            State::Open(open) => open,
            State::Idle => return Err(not_initialized(OP)),
            State::Closed => return Err(closed(OP)),
        };
        let next = AliasChange::apply_all(changes, &open.aliases, |name| {
            CollectionName::try_from(name).is_ok_and(|name| {
                open.collections.contains_key(&name) || open.quarantined.contains_key(&name)
            })
        })?;
        self.save_aliases(&next, OP)?;
        open.aliases = next;
        Ok(())
    }

    fn save_aliases(
        &self,
        aliases: &BTreeMap<String, String>,
        operation: &'static str,
    ) -> InfraResult<()> {
        write_json_atomically(&self.root, ALIASES_FILE, aliases).map_err(|e| {
            io_error(
                operation,
                "save the aliases",
                &self.root.join(ALIASES_FILE),
                e,
            )
        })
    }

    /// Loads every collection of the collections directory; one that fails to load is
    /// quarantined (left untouched, logged), never an error of the whole store.
    #[allow(clippy::type_complexity)]
    fn load_collections(
        &self,
        collections_dir: &Path,
    ) -> InfraResult<(
        HashMap<CollectionName, Arc<Collection>>,
        BTreeMap<CollectionName, Quarantined>,
    )> {
        const OP: &str = "init";
        let mut collections = HashMap::new();
        let mut quarantine = BTreeMap::new();
        let entries = fs::read_dir(collections_dir)
            .map_err(|e| io_error(OP, "read the data directory", collections_dir, e))?;
        for entry in entries {
            let entry =
                entry.map_err(|e| io_error(OP, "read the data directory", collections_dir, e))?;
            let dir = entry.path();
            if !dir.is_dir() {
                continue;
            }
            let Some(name) = entry
                .file_name()
                .to_str()
                .and_then(|n| CollectionName::try_from(n).ok())
            else {
                tracing::warn!(path = %dir.display(),
                    "ignoring a directory that is not named like a collection");
                continue;
            };
            if !dir.join(MARKER_FILE).is_file() {
                tracing::warn!(path = %dir.display(),
                    "removing the leftover of an interrupted collection creation");
                self.discard(&dir);
                continue;
            }
            let loaded = Collection::load(dir.clone(), &self.options).and_then(|c| {
                if c.name == name {
                    Ok(c.with_dir_guard(self.temp.clone()))
                } else {
                    Err(error(
                        ErrorKind::Internal,
                        OP,
                        format!("the collection is named {} in its {MARKER_FILE}", c.name),
                    ))
                }
            });
            match loaded {
                Ok(collection) => {
                    collections.insert(name, Arc::new(collection));
                }
                Err(err) => {
                    tracing::error!(collection = %name, path = %dir.display(),
                        kind = %err.kind(), error = %err.chain(),
                        "an embedded vector collection failed to load: quarantined (left on \
                         disk untouched, refused for use); repair or move its directory away, \
                         then restart");
                    quarantine.insert(
                        name,
                        Quarantined {
                            dir,
                            reason: err.message().to_owned(),
                        },
                    );
                }
            }
        }
        Ok((collections, quarantine))
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
        let name = spec.collection_name()?;
        let _admin = lock(&self.admin);
        {
            let state = read(&self.state);
            let open = open_state(&state, OP)?;
            if let Some(existing) = open.collections.get(&name) {
                spec.check_existing(&existing.vectors)?;
                let existing = Arc::clone(existing);
                drop(state);
                existing.ensure_indexes(spec)?;
                return Ok(EnsureOutcome::AlreadyExists);
            }
            if let Some(q) = open.quarantined.get(&name) {
                return Err(quarantined(&name, q, OP));
            }
            if let Some(target) = open.aliases.get(name.as_str()) {
                return Err(error(
                    ErrorKind::Conflict,
                    OP,
                    format!("{name} is an alias of {target}, not a collection"),
                ));
            }
            if let Some(twin) = open.case_twin(&name) {
                return Err(error(
                    ErrorKind::Conflict,
                    OP,
                    format!(
                        "collection {name} differs only in case from the existing collection \
                         {twin}: the embedded store refuses such names, which would share one \
                         directory on a case-insensitive file system"
                    ),
                ));
            }
            let held = open.collections.len() + open.quarantined.len();
            if held >= self.options.max_collections {
                return Err(error(
                    ErrorKind::Conflict,
                    OP,
                    format!(
                        "the embedded store holds {held} collections, its maximum \
                         (SOCIAL_QDRANT__MAX_COLLECTIONS={}): delete one, or raise the limit",
                        self.options.max_collections
                    ),
                ));
            }
        }
        let dir = self.collections_dir().join(name.as_str());
        check_path_len(&dir, OP)?;
        if fs::symlink_metadata(&dir).is_ok() {
            // Not a loaded or quarantined collection, nor one of another case (refused
            // above): the leftover of a failed creation or deletion.
            self.discard(&dir);
        }
        let collection = match Collection::create(dir.clone(), name.clone(), spec, &self.options) {
            Ok(c) => c.with_dir_guard(self.temp.clone()),
            Err(err) => {
                self.discard(&dir);
                return Err(err);
            }
        };
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        let State::Open(open) = &mut *state else {
            // Unreachable: state changes take the admin lock we hold.
            return Err(closed(OP));
        };
        open.collections.insert(name.clone(), Arc::new(collection));
        tracing::debug!(collection = %name, vectors = %spec.vectors,
            "embedded vector collection created");
        Ok(EnsureOutcome::Created)
    }

    fn delete(&self, name: &CollectionName) -> InfraResult<bool> {
        const OP: &str = "delete_collection";
        let _admin = lock(&self.admin);
        let removed = {
            let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
            match &mut *state {
                State::Open(open) => {
                    if let Some(q) = open.quarantined.get(name) {
                        return Err(quarantined(name, q, OP));
                    }
                    let removed = open.collections.remove(name);
                    if removed.is_some() {
                        // As Qdrant does, the collection's aliases go with it.
                        let before = open.aliases.len();
                        open.aliases.retain(|_, target| target != name.as_str());
                        if open.aliases.len() != before
                            && let Err(err) = self.save_aliases(&open.aliases, OP)
                        {
                            // An alias left on disk names a missing collection: NotFound.
                            tracing::warn!(collection = %name, error = %err.chain(),
                                "cannot save the aliases of a deleted collection");
                        }
                    }
                    removed
                }
                State::Idle => return Err(not_initialized(OP)),
                State::Closed => return Err(closed(OP)),
            }
        };
        let Some(collection) = removed else {
            return Ok(false);
        };
        lock(&self.flush_failures).remove(name);
        // Waits for operations in flight, then drops the shard.
        if let Err(err) = collection.release(true, OP) {
            tracing::error!(collection = %name, error = %err.chain(),
                "closing a deleted embedded vector collection failed; removing it anyway");
        }
        let dir = self.collections_dir().join(name.as_str());
        let trashed = self.trash_entry();
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

    /// A fresh path in the trash: a UUID, never the collection's name, so that a name of
    /// the longest length still fits the file system's limit on one path component.
    fn trash_entry(&self) -> PathBuf {
        self.trash_dir()
            .join(uuid::Uuid::new_v4().simple().to_string())
    }

    /// Moves a directory that is not a loaded collection out of the way, best effort.
    fn discard(&self, dir: &Path) {
        let trashed = self.trash_entry();
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

/// Refuses a collection directory whose engine files would have paths longer than the
/// platform opens (the data directory's own length counts: a relative one is resolved).
fn check_path_len(dir: &Path, operation: &'static str) -> InfraResult<()> {
    let len = std::path::absolute(dir)
        .map_or_else(|_| dir.as_os_str().len(), |abs| abs.as_os_str().len());
    if len + ENGINE_PATH_RESERVE > MAX_PATH_LEN {
        return Err(error(
            ErrorKind::InvalidInput,
            operation,
            format!(
                "the collection name is too long for this data directory: the collection's \
                 directory path would be {len} bytes, and the engine's files need it at most \
                 {} bytes; choose a shorter name (or a shorter SOCIAL_QDRANT__PATH)",
                MAX_PATH_LEN - ENGINE_PATH_RESERVE
            ),
        ));
    }
    Ok(())
}

/// The error of an operation on a quarantined collection.
fn quarantined(name: &CollectionName, q: &Quarantined, operation: &'static str) -> InfraError {
    error(
        ErrorKind::Internal,
        operation,
        format!(
            "collection {name} failed to load when the store opened and is quarantined \
             ({}): its directory {} is left untouched; repair or move it away, then restart",
            q.reason,
            q.dir.display()
        ),
    )
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

/// The embedded store is one shard on one node: more shards, replicas or a write
/// consistency above 1 are [`Unsupported`](ErrorKind::Unsupported), naming the parameter.
fn refuse_sharding(spec: &CollectionSpec) -> InfraResult<()> {
    for (parameter, value) in spec.sharding() {
        if let Some(n) = value.filter(|n| *n > 1) {
            return Err(error(
                ErrorKind::Unsupported,
                "ensure_collection",
                format!(
                    "{parameter} {n} is not supported by the embedded vector store, which keeps \
                     one shard on one node: expected 1 or none"
                ),
            ));
        }
    }
    Ok(())
}

fn info_error(err: InfraError) -> InfraError {
    err.with_operation("collection_info")
}

#[async_trait]
impl VectorPort for EdgeVectorStore {
    async fn ping(&self) -> InfraResult<()> {
        self.inner.check_open("ping")?;
        let inner = Arc::clone(&self.inner);
        // A stat of the data directory, outside the engine slots: a saturated engine is
        // busy, not down.
        blocking("ping", move || inner.ping()).await
    }

    async fn ensure_collection(&self, spec: &CollectionSpec) -> InfraResult<EnsureOutcome> {
        const OP: &str = "ensure_collection";
        self.inner.check_open(OP)?;
        spec.validate()?;
        refuse_sharding(spec)?;
        let inner = Arc::clone(&self.inner);
        let spec = spec.clone();
        self.inner.run(OP, true, move || inner.ensure(&spec)).await
    }

    async fn collection_info(&self, name: &str) -> InfraResult<CollectionInfo> {
        const OP: &str = "collection_info";
        let c = self.inner.collection(name, OP)?;
        self.inner
            .run(OP, true, move || {
                let points_count = c.count(&Filter::default(), true).map_err(info_error)?;
                Ok(CollectionInfo::new(
                    c.name.as_str(),
                    c.vectors.clone(),
                    points_count,
                    c.indexes()?,
                ))
            })
            .await
    }

    async fn delete_collection(&self, name: &str) -> InfraResult<bool> {
        const OP: &str = "delete_collection";
        self.inner.check_open(OP)?;
        let name = CollectionName::parse(name, OP)?;
        let inner = Arc::clone(&self.inner);
        self.inner.run(OP, true, move || inner.delete(&name)).await
    }

    async fn upsert(&self, collection: &str, points: Vec<Point>) -> InfraResult<()> {
        const OP: &str = "upsert";
        let c = self.inner.collection(collection, OP)?;
        let task = Arc::clone(&c);
        self.inner
            .run(OP, true, move || task.upsert(points))
            .await?;
        Self::after_write(&self.inner, &c);
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
        self.inner
            .run(OP, true, move || c.get(&ids, with_vector))
            .await
    }

    async fn delete_points(&self, collection: &str, selector: &PointSelector) -> InfraResult<()> {
        const OP: &str = "delete_points";
        let c = self.inner.collection(collection, OP)?;
        let task = Arc::clone(&c);
        let selector = selector.clone();
        self.inner
            .run(OP, true, move || task.delete(&selector))
            .await?;
        Self::after_write(&self.inner, &c);
        Ok(())
    }

    async fn update_vectors(&self, collection: &str, points: &[PointVectors]) -> InfraResult<()> {
        const OP: &str = "update_vectors";
        let c = self.inner.collection(collection, OP)?;
        let task = Arc::clone(&c);
        let points = points.to_vec();
        self.inner
            .run(OP, true, move || task.update_vectors(&points))
            .await?;
        Self::after_write(&self.inner, &c);
        Ok(())
    }

    async fn search(&self, collection: &str, query: &SearchQuery) -> InfraResult<Vec<ScoredPoint>> {
        const OP: &str = "search";
        let c = self.inner.collection(collection, OP)?;
        query.validate(&c.vectors)?;
        if query.exact && !self.inner.options.exact_search {
            return Err(error(
                ErrorKind::InvalidInput,
                OP,
                "exact search is turned off (SOCIAL_QDRANT__EXACT_SEARCH=false): search \
                 without exact",
            ));
        }
        let query = query.clone();
        let max = self.inner.options.exact_search_max_points;
        self.inner
            .run(OP, true, move || c.search(&query, max))
            .await
    }

    async fn query(
        &self,
        collection: &str,
        request: &QueryRequest,
    ) -> InfraResult<Vec<ScoredPoint>> {
        const OP: &str = "query";
        let c = self.inner.collection(collection, OP)?;
        request.validate(&c.vectors)?;
        // Ids read from another collection become inline vectors first (Qdrant does this
        // above its shards; the engine is one shard).
        if let Some(resolved) = resolve_lookup(self, collection, request).await? {
            return self.query(collection, &resolved).await;
        }
        let request = request.clone();
        let (exact, max) = (
            self.inner.options.exact_search,
            self.inner.options.exact_search_max_points,
        );
        self.inner
            .run(OP, true, move || c.query(&request, exact, max))
            .await
    }

    async fn count_points(&self, collection: &str, request: &CountRequest) -> InfraResult<u64> {
        const OP: &str = "count";
        let c = self.inner.collection(collection, OP)?;
        request.validate()?;
        let request = request.clone();
        self.inner
            .run(OP, true, move || c.count(&request.filter, request.exact))
            .await
    }

    async fn facet(&self, collection: &str, request: &FacetRequest) -> InfraResult<Vec<FacetHit>> {
        const OP: &str = "facet";
        let c = self.inner.collection(collection, OP)?;
        request.validate()?;
        let request = request.clone();
        self.inner.run(OP, true, move || c.facet(&request)).await
    }

    async fn scroll(&self, collection: &str, request: &ScrollRequest) -> InfraResult<ScrollPage> {
        const OP: &str = "scroll";
        let c = self.inner.collection(collection, OP)?;
        request.validate()?;
        let request = request.clone();
        self.inner.run(OP, true, move || c.scroll(&request)).await
    }

    async fn update_payload(
        &self,
        collection: &str,
        selector: &PointSelector,
        update: &PayloadUpdate,
    ) -> InfraResult<()> {
        const OP: &str = "update_payload";
        let c = self.inner.collection(collection, OP)?;
        update.validate()?;
        let task = Arc::clone(&c);
        let (selector, update) = (selector.clone(), update.clone());
        self.inner
            .run(OP, true, move || task.update_payload(&selector, &update))
            .await?;
        Self::after_write(&self.inner, &c);
        Ok(())
    }

    async fn list_collections(&self) -> InfraResult<Vec<String>> {
        self.collection_names()
    }

    async fn update_aliases(&self, changes: &[AliasChange]) -> InfraResult<()> {
        const OP: &str = "update_aliases";
        self.inner.check_open(OP)?;
        let inner = Arc::clone(&self.inner);
        let changes = changes.to_vec();
        self.inner
            .run(OP, true, move || inner.update_aliases(&changes))
            .await
    }

    async fn list_aliases(&self) -> InfraResult<Vec<Alias>> {
        let state = read(&self.inner.state);
        let open = open_state(&state, "list_aliases")?;
        Ok(open
            .aliases
            .iter()
            .map(|(alias, collection)| Alias {
                alias: alias.clone(),
                collection: collection.clone(),
            })
            .collect())
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

    /// Checks that the store is open and its directory present, timed. Passing, it is
    /// still `warn` while a collection is quarantined (detail `quarantined`: their names)
    /// or the latest background flush of a collection failed (detail `flushFailures`:
    /// collection to error).
    async fn health(&self) -> ComponentHealth {
        let mut health = ComponentHealth::measure(self.ping()).await;
        if health.status != HealthStatus::Pass {
            return health;
        }
        let quarantined: Vec<String> = {
            let state = read(&self.inner.state);
            match &*state {
                State::Open(open) => open.quarantined.keys().map(ToString::to_string).collect(),
                _ => Vec::new(),
            }
        };
        let failures = lock(&self.inner.flush_failures).clone();
        let mut problems = Vec::new();
        if !quarantined.is_empty() {
            problems.push(format!(
                "{} collection(s) failed to load and are quarantined: {}",
                quarantined.len(),
                quarantined.join(", ")
            ));
            health = health.with_detail("quarantined", quarantined);
        }
        if !failures.is_empty() {
            problems.push(format!(
                "the background flush of {} collection(s) failed: {}",
                failures.len(),
                failures
                    .keys()
                    .map(CollectionName::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            let details: serde_json::Map<String, serde_json::Value> = failures
                .into_iter()
                .map(|(name, message)| (name.to_string(), message.into()))
                .collect();
            health = health.with_detail("flushFailures", details);
        }
        if !problems.is_empty() {
            health.status = HealthStatus::Warn;
            health.output = Some(problems.join("; "));
        }
        health
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use infra_base::Distance;

    use super::*;

    fn scratch() -> PathBuf {
        std::env::temp_dir().join(format!("infra-qdrant-edge-unit-{}", uuid::Uuid::new_v4()))
    }

    /// With every slot taken, a bounded call waits for one within its timeout, then fails
    /// as `PoolExhausted` without ever running; the slot's holder is unaffected, and later
    /// calls run.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_call_that_gets_no_slot_before_its_deadline_never_starts() {
        let options = EdgeStoreOptions::default()
            .max_concurrent_calls(1)
            .call_timeout(Some(Duration::from_millis(100)));
        let store = EdgeVectorStore::with_options(scratch(), options);
        let (release, released) = std::sync::mpsc::channel::<()>();
        let (started, has_started) = tokio::sync::oneshot::channel::<()>();
        let inner = Arc::clone(&store.inner);
        let holder = tokio::spawn(async move {
            inner
                .run("optimize", false, move || {
                    let _ = started.send(());
                    let _ = released.recv();
                    Ok(())
                })
                .await
        });
        has_started.await.unwrap();

        let ran = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&ran);
        let err = store
            .inner
            .run("search", true, move || {
                flag.store(true, Ordering::SeqCst);
                Ok(())
            })
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::PoolExhausted, "{err:?}");
        assert!(
            err.message().contains("MAX_CONCURRENT_CALLS"),
            "{}",
            err.message()
        );

        release.send(()).unwrap();
        holder.await.unwrap().unwrap();
        // Every slot free again means no work is left running or queued.
        let all = store.inner.slots.acquire_many(1).await.unwrap();
        drop(all);
        assert!(
            !ran.load(Ordering::SeqCst),
            "the refused call must never run"
        );
        store.inner.run("search", true, || Ok(())).await.unwrap();
    }

    /// However many calls arrive at once, no more than `max_concurrent_calls` run.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn running_engine_calls_never_exceed_the_slots() {
        let options = EdgeStoreOptions::default().max_concurrent_calls(2);
        let store = EdgeVectorStore::with_options(scratch(), options);
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let mut calls = tokio::task::JoinSet::new();
        for _ in 0..12 {
            let inner = Arc::clone(&store.inner);
            let (running, most) = (Arc::clone(&running), Arc::clone(&most));
            calls.spawn(async move {
                inner
                    .run("get", false, move || {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(5));
                        running.fetch_sub(1, Ordering::SeqCst);
                        Ok(())
                    })
                    .await
            });
        }
        while let Some(done) = calls.join_next().await {
            done.unwrap().unwrap();
        }
        let most = most.load(Ordering::SeqCst);
        assert!((1..=2).contains(&most), "{most} calls ran at once");
    }

    /// A failed background flush shows in health as `warn` with the collection and the
    /// error, until a flush of it succeeds.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn background_flush_failures_show_in_health() {
        let dir = scratch();
        let store = EdgeVectorStore::new(&dir);
        store.init().await.unwrap();
        assert_eq!(store.health().await.status, HealthStatus::Pass);
        let name = CollectionName::try_from("items").unwrap();
        lock(&store.inner.flush_failures).insert(name, "disk full".to_owned());
        let health = store.health().await;
        assert_eq!(health.status, HealthStatus::Warn);
        assert!(
            health.output.as_deref().unwrap().contains("items"),
            "{health:?}"
        );
        assert_eq!(
            health.details["flushFailures"]["items"],
            serde_json::json!("disk full")
        );
        store.close().await;
        let _ = fs::remove_dir_all(dir);
    }

    /// Writes that make four collections due at once start one background optimization at
    /// a time; every collection is optimized in the end, also those whose writes stopped
    /// while another one optimized.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn background_optimizations_run_one_at_a_time_across_collections() {
        const COLLECTIONS: usize = 4;
        let dir = scratch();
        let options = EdgeStoreOptions::default()
            .flush_on_write(false)
            .indexing_threshold_kb(Some(1));
        let store = EdgeVectorStore::with_options(&dir, options);
        store.init().await.unwrap();
        let mut writes = tokio::task::JoinSet::new();
        for i in 0..COLLECTIONS {
            let name = format!("c{i}");
            store
                .ensure_collection(&CollectionSpec::new(&name, 4, Distance::Cosine))
                .await
                .unwrap();
            let store = store.clone();
            writes.spawn(async move {
                // 1 KiB fills at 64 points of dimension 4: 200 points make it due.
                let points = (0..200_u16)
                    .map(|id| Point::new(u64::from(id), vec![1.0, f32::from(id), 0.5, 0.25]))
                    .collect();
                store.upsert(&name, points).await.unwrap();
            });
        }
        writes.join_all().await;

        let deadline = Instant::now() + Duration::from_mins(1);
        while store.inner.next_due().is_some() || store.inner.optimizer.available_permits() == 0 {
            assert!(
                Instant::now() < deadline,
                "background optimizations never finished"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let peak = store.inner.optimizations.1.load(Ordering::SeqCst);
        assert_eq!(peak, 1, "{peak} background optimizations ran at once");
        store.close().await;
        let _ = fs::remove_dir_all(dir);
    }
}
