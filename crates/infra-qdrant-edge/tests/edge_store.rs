//! Behaviour of the embedded store beyond the port's conformance suite: persistence,
//! recall against brute force, concurrency, lifecycle and the data directory.
//!
//! Timings and recall are printed (`cargo test -p infra-qdrant-edge -- --nocapture`).

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use infra_base::{
    CollectionSpec, Condition, Distance, EnsureOutcome, ErrorKind, FieldIndex, Filter,
    HealthStatus, HnswParams, InfraResult, Lifecycle, Payload, PayloadIndex, Point, PointId,
    PointVectors, Quantization, Range, ScrollRequest, SearchQuery, SparseParams, SparseVector,
    TextTokenizer, Vector, VectorParams, VectorPort, VectorPortExt, Vectors, vector::OrderBy,
};
use infra_config::{QdrantMode, QdrantSettings};
use infra_qdrant_edge::{EdgeStoreOptions, EdgeVectorStore};
use serde_json::{Value, json};
use tokio::task::JoinSet;
use uuid::Uuid;

fn payload(value: Value) -> Payload {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

fn random_vector(rng: &mut fastrand::Rng, dimension: usize) -> Vec<f32> {
    (0..dimension).map(|_| rng.f32() * 2.0 - 1.0).collect()
}

fn expect_kind<T: std::fmt::Debug>(result: InfraResult<T>, kind: ErrorKind) -> String {
    match result {
        Ok(value) => panic!("expected a {kind} error, got Ok({value:?})"),
        Err(err) => {
            assert_eq!(err.kind(), kind, "{}", err.chain());
            err.message().to_owned()
        }
    }
}

fn spec(name: &str, dimension: usize, distance: Distance) -> CollectionSpec {
    CollectionSpec::new(name, dimension, distance)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_survives_close_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let uuid = Uuid::from_u128(0xfeed_beef);
    {
        let store = EdgeVectorStore::open(dir.path()).await.unwrap();
        store
            .ensure_collection(&spec("items", 3, Distance::Cosine))
            .await
            .unwrap();
        store
            .ensure_collection(&spec("docs.v2", 2, Distance::Euclid))
            .await
            .unwrap();
        store
            .ensure_collection(&spec("doomed", 2, Distance::Dot))
            .await
            .unwrap();
        let points = vec![
            Point::new(1, vec![3.0, 4.0, 0.0]).with_payload(payload(json!({"color": "red"}))),
            Point::new(2, vec![0.0, 0.0, 2.0]).with_payload(payload(json!({"color": "blue"}))),
            Point::new(uuid, vec![1.0, 1.0, 1.0])
                .with_payload(payload(json!({"color": "red", "nested": {"n": 7}}))),
            Point::new(4, vec![1.0, 0.0, 0.0]),
        ];
        store.upsert("items", points).await.unwrap();
        store.delete("items", &[PointId::Num(4)]).await.unwrap();
        store
            .upsert("docs.v2", vec![Point::new(9, vec![1.0, 2.0])])
            .await
            .unwrap();
        store
            .upsert("doomed", vec![Point::new(1, vec![1.0, 2.0])])
            .await
            .unwrap();
        assert!(store.delete_collection("doomed").await.unwrap());
        store.close().await;
    }

    let store = EdgeVectorStore::open(dir.path()).await.unwrap();
    assert_eq!(
        store.list_collections().await.unwrap(),
        ["docs.v2", "items"],
        "collections found on reopen (a deleted one stays deleted)"
    );
    let info = store.collection_info("items").await.unwrap();
    assert_eq!(
        (info.dimension, info.distance, info.points_count),
        (3, Distance::Cosine, 3)
    );
    let info = store.collection_info("docs.v2").await.unwrap();
    assert_eq!(
        (info.dimension, info.distance, info.points_count),
        (2, Distance::Euclid, 1)
    );
    assert_eq!(
        store
            .ensure_collection(&spec("items", 3, Distance::Cosine))
            .await
            .unwrap(),
        EnsureOutcome::AlreadyExists
    );
    expect_kind(
        store
            .ensure_collection(&spec("items", 4, Distance::Cosine))
            .await,
        ErrorKind::Conflict,
    );

    let ids = [PointId::Num(1), PointId::Num(4), PointId::Uuid(uuid)];
    let records = store.get("items", &ids, true).await.unwrap();
    let got: Vec<PointId> = records.iter().map(|r| r.id).collect();
    assert_eq!(got, [PointId::Num(1), PointId::Uuid(uuid)]);
    assert_eq!(records[0].payload, payload(json!({"color": "red"})));
    assert_eq!(records[0].vector(), Some(&[0.6, 0.8, 0.0][..]));
    assert_eq!(
        records[1].payload,
        payload(json!({"color": "red", "nested": {"n": 7}}))
    );

    let red = Filter::default().must(Condition::keyword("color", "red"));
    assert_eq!(store.count("items", &red).await.unwrap(), 2);
    let hits = store
        .search(
            "items",
            &SearchQuery::new(vec![0.0, 0.0, 1.0], 10).filter(red),
        )
        .await
        .unwrap();
    let hit_ids: Vec<PointId> = hits.iter().map(|h| h.id).collect();
    assert_eq!(hit_ids, [PointId::Uuid(uuid), PointId::Num(1)]);
    assert!((hits[0].score - 1.0 / 3f32.sqrt()).abs() < 1e-5);

    // Writes after a reopen keep working and are kept too.
    store
        .upsert("items", vec![Point::new(5, vec![0.0, 1.0, 0.0])])
        .await
        .unwrap();
    store.close().await;
    let store = EdgeVectorStore::open(dir.path()).await.unwrap();
    assert_eq!(
        store.count("items", &Filter::default()).await.unwrap(),
        4,
        "points written after a reopen survive the next one"
    );
    store.close().await;
}

/// An initialized store at `path` whose collection `items` (dimension 2, dot product)
/// holds `point`.
async fn store_with_point(path: &Path, options: EdgeStoreOptions, point: Point) -> EdgeVectorStore {
    let store = EdgeVectorStore::with_options(path, options);
    store.init().await.unwrap();
    store
        .ensure_collection(&spec("items", 2, Distance::Dot))
        .await
        .unwrap();
    store.upsert("items", vec![point]).await.unwrap();
    store
}

/// A flushed write is on disk: a copy of the directory taken right then (as a crash
/// would leave it) opens with the point in it. With `flush_on_write` every write is
/// flushed before it returns; otherwise `flush` (or the background flush) does it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flushed_writes_survive_without_close() {
    for flush_on_write in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let options = EdgeStoreOptions::default()
            .flush_on_write(flush_on_write)
            .flush_interval(None);
        let point = Point::new(7, vec![1.0, 2.0]).with_payload(payload(json!({"k": "v"})));
        let store = store_with_point(&dir.path().join("live"), options, point).await;
        if !flush_on_write {
            store.flush().await.unwrap();
        }
        let copy = snapshot(&dir.path().join("live"), dir.path());

        let reopened = EdgeVectorStore::open(&copy).await.unwrap();
        let records = reopened.get("items", &[7.into()], true).await.unwrap();
        assert_eq!(
            records.len(),
            1,
            "the flushed point is in the copy (flush_on_write {flush_on_write})"
        );
        assert_eq!(records[0].payload, payload(json!({"k": "v"})));
        assert_eq!(records[0].vector(), Some(&[1.0, 2.0][..]));
        reopened.close().await;
        store.close().await;
    }
}

/// The background flush writes a collection to disk within its interval.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_flush_persists_writes() {
    let dir = tempfile::tempdir().unwrap();
    let options = EdgeStoreOptions::default().flush_interval(Some(Duration::from_millis(50)));
    let point = Point::new(7, vec![1.0, 2.0]);
    let store = store_with_point(&dir.path().join("live"), options, point).await;
    // Generous: the flush is due after 50 ms, a slow machine may take longer.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let copy = snapshot(&dir.path().join("live"), dir.path());
        // A copy taken while the flush writes may not open: try again.
        if let Ok(reopened) = EdgeVectorStore::open(&copy).await {
            let found = reopened.count("items", &Filter::default()).await;
            reopened.close().await;
            if found.is_ok_and(|n| n == 1) {
                break;
            }
        }
        assert!(Instant::now() < deadline, "the background flush never ran");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    store.close().await;
}

/// A copy of `live` in a new directory under `parent`, as a crash would leave it. The WAL
/// creates its segment files ahead of time in a thread of its own (qdrant-edge's
/// `wal/segment_creator.rs`), so a copy can miss a file that changed meanwhile: such a copy
/// is discarded and taken again.
fn snapshot(live: &Path, parent: &Path) -> std::path::PathBuf {
    let mut last_error = None;
    for _ in 0..50 {
        let copy = parent.join(format!("copy{}", Uuid::new_v4().simple()));
        match copy_dir(live, &copy) {
            Ok(()) => return copy,
            Err(err) => last_error = Some(err),
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!(
        "no stable copy of {} in 50 tries: {last_error:?}",
        live.display()
    );
}

/// Copies a directory tree; fails when a file vanishes meanwhile (a flush renames files).
fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// Brute-force cosine reference: every point's similarity to `query`, best first.
fn reference_top(points: &[Vec<f32>], query: &[f32]) -> Vec<(u64, f64)> {
    let norm = |v: &[f32]| v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let qn = norm(query);
    let mut scored: Vec<(u64, f64)> = points
        .iter()
        .zip(0u64..)
        .map(|(p, id)| {
            let dot: f64 = p
                .iter()
                .zip(query)
                .map(|(a, b)| f64::from(*a) * f64::from(*b))
                .sum();
            (id, dot / (norm(p) * qn))
        })
        .collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1));
    scored
}

/// 10,000 points of dimension 32 searched with 200 random queries: exact search equals
/// brute force on every query (recall 1.0), also with a filter; the HNSW index built by
/// `optimize` is measured against brute force.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exact_and_hnsw_recall_on_ten_thousand_points() {
    const POINTS: u64 = 10_000;
    const DIMENSION: usize = 32;
    const QUERIES: usize = 200;
    const K: usize = 10;
    // 10,000 x 32 x 4 bytes = 1,250 KiB: above the indexing threshold, so `optimize`
    // indexes it, and above the full-scan threshold, so approximate searches use the graph.
    // The graph uses Qdrant's default parameters (m 16, ef_construct 100).
    let options = EdgeStoreOptions::default()
        .indexing_threshold_kb(Some(500))
        .full_scan_threshold_kb(Some(16))
        .auto_optimize(false);
    let store = EdgeVectorStore::temporary(options).await.unwrap();
    store
        .ensure_collection(&spec("recall", DIMENSION, Distance::Cosine))
        .await
        .unwrap();

    let mut rng = fastrand::Rng::with_seed(0x00c0_ffee);
    let vectors: Vec<Vec<f32>> = (0..POINTS)
        .map(|_| random_vector(&mut rng, DIMENSION))
        .collect();
    let points: Vec<Point> = vectors
        .iter()
        .zip(0u64..)
        .map(|(v, id)| Point::new(id, v.clone()).with_payload(payload(json!({"group": id % 4}))))
        .collect();
    let started = Instant::now();
    store
        .upsert_in_batches("recall", points, 500)
        .await
        .unwrap();
    let upsert_time = started.elapsed();
    assert_eq!(
        store.count("recall", &Filter::default()).await.unwrap(),
        POINTS
    );

    let queries: Vec<Vec<f32>> = (0..QUERIES)
        .map(|_| random_vector(&mut rng, DIMENSION))
        .collect();
    let references: Vec<Vec<(u64, f64)>> =
        queries.iter().map(|q| reference_top(&vectors, q)).collect();

    let started = Instant::now();
    assert!(
        store.optimize("recall").await.unwrap(),
        "optimize must index"
    );
    let optimize_time = started.elapsed();
    let stats = store.collection_stats("recall").await.unwrap();
    assert_eq!(stats.points, POINTS);
    assert_eq!(
        stats.indexed_vectors,
        usize::try_from(POINTS).unwrap(),
        "every vector is in the HNSW index after optimize: {stats:?}"
    );

    let started = Instant::now();
    let exact = measure_recall(&store, &queries, &references, K, true).await;
    let exact_time = started.elapsed();
    let started = Instant::now();
    let hnsw = measure_recall(&store, &queries, &references, K, false).await;
    let hnsw_time = started.elapsed();
    println!(
        "recall@{K} over {QUERIES} queries, {POINTS} points of dimension {DIMENSION} (cosine): \
         exact {exact:.4} ({exact_time:?}), HNSW {hnsw:.4} ({hnsw_time:?}); \
         upsert in batches of 500 {upsert_time:?}, optimize (HNSW build) {optimize_time:?}; \
         {stats:?}; {}",
        disk_usage(store.path())
    );
    assert!((exact - 1.0).abs() < f64::EPSILON, "exact recall {exact}");
    assert!(hnsw > 0.9, "HNSW recall {hnsw} is below the sane floor");

    check_filtered_exact(&store, &queries[..20], &references, K).await;
    store.close().await;
}

/// A filtered exact search returns the filtered brute-force top-k, in order.
async fn check_filtered_exact(
    store: &EdgeVectorStore,
    queries: &[Vec<f32>],
    references: &[Vec<(u64, f64)>],
    k: usize,
) {
    let filter = Filter::default().must(Condition::integer("group", 2));
    for (query, reference) in queries.iter().zip(references) {
        let query = SearchQuery::new(query.clone(), k)
            .filter(filter.clone())
            .exact(true)
            .with_payload(false);
        let hits = store.search("recall", &query).await.unwrap();
        let want: Vec<u64> = reference
            .iter()
            .filter(|(id, _)| id % 4 == 2)
            .take(k)
            .map(|(id, _)| *id)
            .collect();
        let got: Vec<u64> = hits
            .iter()
            .map(|h| match h.id {
                PointId::Num(n) => n,
                PointId::Uuid(u) => panic!("unexpected id {u}"),
            })
            .collect();
        assert_eq!(got, want, "filtered exact search");
    }
}

/// Bytes on disk under `dir` (allocated blocks, so sparse files count what they use), and
/// in its `wal` directories.
fn disk_usage(dir: &Path) -> String {
    fn walk(dir: &Path, in_wal: bool, total: &mut u64, wal: &mut u64) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                walk(&path, in_wal || entry.file_name() == "wal", total, wal);
            } else {
                #[cfg(unix)]
                let bytes = std::os::unix::fs::MetadataExt::blocks(&meta) * 512;
                #[cfg(not(unix))]
                let bytes = meta.len();
                *total += bytes;
                if in_wal {
                    *wal += bytes;
                }
            }
        }
    }
    let (mut total, mut wal) = (0, 0);
    walk(dir, false, &mut total, &mut wal);
    format!(
        "{:.1} MiB on disk, of which WAL {:.1} MiB",
        to_mib(total),
        to_mib(wal)
    )
}

#[allow(clippy::cast_precision_loss)] // display only
fn to_mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Recall@k of `queries` averaged: the share of each reference top-k found. A hit whose
/// reference score ties the k-th best (within f32 rounding) counts as found.
async fn measure_recall(
    store: &EdgeVectorStore,
    queries: &[Vec<f32>],
    references: &[Vec<(u64, f64)>],
    k: usize,
    exact: bool,
) -> f64 {
    let mut found = 0usize;
    for (query, reference) in queries.iter().zip(references) {
        let hits = store
            .search(
                "recall",
                &SearchQuery::new(query.clone(), k)
                    .exact(exact)
                    .with_payload(false),
            )
            .await
            .unwrap();
        assert_eq!(hits.len(), k);
        let kth = reference[k - 1].1;
        let scores: std::collections::HashMap<u64, f64> = reference.iter().copied().collect();
        let mut seen = HashSet::new();
        for hit in &hits {
            let PointId::Num(id) = hit.id else {
                panic!("unexpected id {}", hit.id)
            };
            assert!(seen.insert(id), "id {id} returned twice");
            let expected = scores[&id];
            assert!(
                (f64::from(hit.score) - expected).abs() < 1e-4,
                "score of {id}: {} vs {expected}",
                hit.score
            );
            if expected >= kth - 1e-6 {
                found += 1;
            }
        }
        assert!(
            hits.windows(2).all(|w| w[0].score >= w[1].score),
            "hits best first"
        );
    }
    #[allow(clippy::cast_precision_loss)] // small counts
    let recall = found as f64 / (queries.len() * k) as f64;
    recall
}

const WRITERS: u64 = 6;
const READERS: u64 = 6;
const READER_ROUNDS: u64 = 15;
const BATCHES: u64 = 20;
const BATCH: u64 = 25;
const CONCURRENT_DIMENSION: usize = 8;

/// Upserts batches into collection `a` or `b`, reading each write back at once, then
/// deletes the last point of every batch.
async fn writer_task(store: Arc<EdgeVectorStore>, writer: u64) {
    let collection = if writer.is_multiple_of(2) { "a" } else { "b" };
    let mut rng = fastrand::Rng::with_seed(writer);
    for batch in 0..BATCHES {
        let points = (0..BATCH)
            .map(|i| {
                let id = writer * 1_000_000 + batch * 1_000 + i;
                Point::new(id, random_vector(&mut rng, CONCURRENT_DIMENSION))
                    .with_payload(payload(json!({"writer": writer, "batch": batch})))
            })
            .collect();
        store.upsert(collection, points).await.unwrap();
        let id = PointId::Num(writer * 1_000_000 + batch * 1_000);
        let records = store.get(collection, &[id], false).await.unwrap();
        assert_eq!(records.len(), 1, "a written point is readable at once");
    }
    let ids: Vec<PointId> = (0..BATCHES)
        .map(|batch| PointId::Num(writer * 1_000_000 + batch * 1_000 + BATCH - 1))
        .collect();
    store.delete(collection, &ids).await.unwrap();
}

/// Counts and filtered searches on both collections; every hit must match the filter.
async fn reader_task(store: Arc<EdgeVectorStore>, reader: u64) {
    let mut rng = fastrand::Rng::with_seed(1000 + reader);
    let filter = Filter::default().must(Condition::range(
        "batch",
        Range {
            lt: Some(10.0),
            ..Range::default()
        },
    ));
    for _ in 0..READER_ROUNDS {
        for collection in ["a", "b"] {
            let count = store.count(collection, &Filter::default()).await.unwrap();
            assert!(count <= WRITERS * BATCHES * BATCH);
            let query = SearchQuery::new(random_vector(&mut rng, CONCURRENT_DIMENSION), 5)
                .filter(filter.clone());
            let hits = store.search(collection, &query).await.unwrap();
            assert!(hits.len() <= 5);
            assert!(
                hits.iter().all(|h| h
                    .payload
                    .as_ref()
                    .and_then(|p| p.get("batch"))
                    .and_then(Value::as_u64)
                    .is_some_and(|b| b < 10)),
                "filtered hits match the filter: {hits:?}"
            );
        }
    }
}

/// Creates, writes and deletes scratch collections.
async fn churn_task(store: Arc<EdgeVectorStore>) {
    for round in 0..5 {
        let name = format!("scratch{round}");
        store
            .ensure_collection(&spec(&name, 4, Distance::Euclid))
            .await
            .unwrap();
        store
            .upsert(&name, vec![Point::new(1, vec![0.0; 4])])
            .await
            .unwrap();
        assert!(store.delete_collection(&name).await.unwrap());
    }
}

/// Readers and writers on two collections from many tasks, with background optimizations
/// and flushes running and collections created and deleted meanwhile: no error, no lost
/// write, every read consistent.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_readers_and_writers() {
    // Small thresholds, so that background optimizations and flushes run during the test.
    let options = EdgeStoreOptions::default()
        .indexing_threshold_kb(Some(16))
        .flush_interval(Some(Duration::from_millis(20)));
    let store = Arc::new(EdgeVectorStore::temporary(options).await.unwrap());
    for name in ["a", "b"] {
        store
            .ensure_collection(&spec(name, CONCURRENT_DIMENSION, Distance::Dot))
            .await
            .unwrap();
    }
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for writer in 0..WRITERS {
        tasks.spawn(writer_task(Arc::clone(&store), writer));
    }
    for reader in 0..READERS {
        tasks.spawn(reader_task(Arc::clone(&store), reader));
    }
    tasks.spawn(churn_task(Arc::clone(&store)));
    while let Some(joined) = tasks.join_next().await {
        joined.unwrap();
    }
    let elapsed = started.elapsed();

    let mut total = 0;
    for name in ["a", "b"] {
        total += store.count(name, &Filter::default()).await.unwrap();
    }
    assert_eq!(total, WRITERS * BATCHES * (BATCH - 1), "no write lost");
    store.optimize("a").await.unwrap();
    let stats = [
        store.collection_stats("a").await.unwrap(),
        store.collection_stats("b").await.unwrap(),
    ];
    println!(
        "{WRITERS} writers x {BATCHES} batches of {BATCH}, {READERS} readers x \
         {READER_ROUNDS} rounds of count+search on both, 5 create/delete cycles: \
         {elapsed:?}; stats {stats:?}"
    );
    assert!(
        stats[0].indexed_vectors > 0,
        "the optimizers indexed collection a: {stats:?}"
    );
    assert_eq!(
        store.list_collections().await.unwrap(),
        ["a", "b"],
        "scratch collections are gone"
    );
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_init_health_close() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested").join("data");
    let store = EdgeVectorStore::new(&path);
    let message = expect_kind(store.ping().await, ErrorKind::Unavailable);
    assert!(message.contains("init"), "{message}");
    expect_kind(store.collection_info("items").await, ErrorKind::Unavailable);
    assert_eq!(store.health().await.status, HealthStatus::Fail);

    store.init().await.unwrap();
    assert!(
        path.join("collections").is_dir(),
        "init creates the directory"
    );
    store.init().await.unwrap();
    let health = store.health().await;
    assert_eq!(health.status, HealthStatus::Pass, "{health:?}");
    assert!(health.latency.is_some());
    store
        .ensure_collection(&spec("items", 2, Distance::Dot))
        .await
        .unwrap();
    store
        .upsert("items", vec![Point::new(1, vec![1.0, 0.0])])
        .await
        .unwrap();

    let held = store.clone();
    store.close().await;
    store.close().await;
    let message = expect_kind(held.ping().await, ErrorKind::Unavailable);
    assert!(message.contains("closed"), "{message}");
    expect_kind(
        held.search("items", &SearchQuery::new(vec![1.0, 0.0], 1))
            .await,
        ErrorKind::Unavailable,
    );
    expect_kind(
        held.ensure_collection(&spec("other", 2, Distance::Dot))
            .await,
        ErrorKind::Unavailable,
    );
    expect_kind(
        held.delete_collection("items").await,
        ErrorKind::Unavailable,
    );
    let health = held.health().await;
    assert_eq!(health.status, HealthStatus::Fail);
    assert!(
        health
            .output
            .as_deref()
            .is_some_and(|o| o.starts_with("unavailable")),
        "{health:?}"
    );

    // init after close opens the store again, with its data.
    store.init().await.unwrap();
    assert_eq!(store.count("items", &Filter::default()).await.unwrap(), 1);
    store.close().await;
}

/// A store dropped without `close` while its directory is gone (removed under it) does
/// not panic: the engine flushes in its `Drop` and panics when that fails, and the
/// collection's own `Drop` contains it (and logs it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_dropped_without_close_after_its_directory_is_removed_does_not_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    let options = EdgeStoreOptions::default()
        .flush_on_write(false)
        .flush_interval(None);
    let store = store_with_point(&path, options, Point::new(1, vec![1.0, 0.0])).await;
    std::fs::remove_dir_all(&path).unwrap();
    let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(store)));
    assert!(dropped.is_ok(), "dropping the store panicked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_directory_is_opened_by_one_store_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let first = EdgeVectorStore::open(dir.path()).await.unwrap();
    let second = EdgeVectorStore::new(dir.path());
    let message = expect_kind(second.init().await, ErrorKind::Unavailable);
    assert!(
        message.contains("in use") && message.contains(&dir.path().display().to_string()),
        "{message}"
    );
    first.close().await;
    second.init().await.unwrap();
    second.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_fails_with_the_path_when_the_directory_cannot_be_created() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"not a directory").unwrap();
    let path = file.join("data");
    let store = EdgeVectorStore::new(&path);
    let message = expect_kind(store.init().await, ErrorKind::Unavailable);
    assert!(
        message.contains(&file.display().to_string()),
        "the error names the path: {message}"
    );
    assert_eq!(store.health().await.status, HealthStatus::Fail);
}

/// A read-only data directory fails `init` up front, naming the path. Root ignores
/// permissions, so for root the directory is made unusable another way (its `collections`
/// entry is a file): the test asserts something for every user, never skips.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_fails_with_the_path_when_the_directory_is_read_only() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    std::fs::create_dir(&path).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o555)).unwrap();
    let permissions_enforced = std::fs::write(path.join("probe"), b"").is_err();
    if !permissions_enforced {
        // Root: make the directory unusable in a way permissions cannot bypass.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::remove_file(path.join("probe")).unwrap();
        std::fs::write(path.join("collections"), b"a file").unwrap();
    }
    let store = EdgeVectorStore::new(&path);
    let message = expect_kind(store.init().await, ErrorKind::Unavailable);
    assert!(
        message.contains(&path.display().to_string()),
        "the message names the path: {message}"
    );
    if permissions_enforced {
        assert!(message.contains("not writable"), "{message}");
    }
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leftovers_of_interrupted_creations_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    let store = EdgeVectorStore::open(dir.path()).await.unwrap();
    store.close().await;
    // A collection directory without its marker, as a crash during creation leaves it.
    let leftover = dir.path().join("collections").join("items");
    std::fs::create_dir_all(leftover.join("segments")).unwrap();
    std::fs::write(leftover.join("edge_config.json"), b"{}").unwrap();

    let store = EdgeVectorStore::open(dir.path()).await.unwrap();
    assert!(store.list_collections().await.unwrap().is_empty());
    assert!(!leftover.exists(), "the leftover is removed");
    assert_eq!(
        store
            .ensure_collection(&spec("items", 2, Distance::Dot))
            .await
            .unwrap(),
        EnsureOutcome::Created
    );
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_settings_uses_the_configured_path_in_embedded_mode() {
    let dir = tempfile::tempdir().unwrap();
    let settings = QdrantSettings {
        path: dir.path().join("qdrant"),
        ..QdrantSettings::default()
    };
    let store = EdgeVectorStore::from_settings(&settings).unwrap();
    assert_eq!(store.path(), settings.path);
    store.init().await.unwrap();
    assert!(settings.path.join("collections").is_dir());
    store.close().await;

    let remote = QdrantSettings {
        mode: QdrantMode::Remote,
        ..QdrantSettings::default()
    };
    let err = EdgeVectorStore::from_settings(&remote).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotConfigured);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn score_threshold_is_inclusive_and_engine_errors_are_mapped() {
    let store = EdgeVectorStore::temporary(EdgeStoreOptions::default())
        .await
        .unwrap();
    store
        .ensure_collection(&spec("t", 2, Distance::Euclid))
        .await
        .unwrap();
    store
        .upsert(
            "t",
            vec![Point::new(1, vec![3.0, 4.0]), Point::new(2, vec![6.0, 8.0])],
        )
        .await
        .unwrap();
    // Distances from the origin are exactly 5 and 10.
    let hits = store
        .search(
            "t",
            &SearchQuery::new(vec![0.0, 0.0], 10).score_threshold(5.0),
        )
        .await
        .unwrap();
    assert_eq!(hits.len(), 1, "a distance equal to the threshold is kept");
    assert!((hits[0].score - 5.0).abs() < 1e-6);

    // An unparsable payload path is refused by the translation.
    let bad = Filter::default().must(Condition::keyword("a..b", "x"));
    expect_kind(store.count("t", &bad).await, ErrorKind::InvalidInput);
    store.close().await;
}

/// Informational: what a durable write costs compared with a buffered one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_latency_with_and_without_flush() {
    for flush in [true, false] {
        let store = EdgeVectorStore::temporary(EdgeStoreOptions::default().flush_on_write(flush))
            .await
            .unwrap();
        store
            .ensure_collection(&spec("w", 16, Distance::Dot))
            .await
            .unwrap();
        let mut rng = fastrand::Rng::with_seed(7);
        let started = Instant::now();
        for id in 0..200u64 {
            store
                .upsert("w", vec![Point::new(id, random_vector(&mut rng, 16))])
                .await
                .unwrap();
        }
        let per_write = started.elapsed() / 200;
        println!("single-point upsert with flush_on_write={flush}: {per_write:?} per write");
        assert!(per_write < Duration::from_secs(1));
        store.close().await;
    }
}

/// Aliases are saved in the data directory: they survive close and reopen, and deleting a
/// collection takes its aliases with it, on disk too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aliases_survive_reopen_and_go_with_their_collection() {
    use infra_base::vector::{Alias, AliasChange};

    let dir = tempfile::tempdir().unwrap();
    {
        let store = EdgeVectorStore::open(dir.path()).await.unwrap();
        for name in ["items_v1", "items_v2"] {
            store
                .ensure_collection(&spec(name, 2, Distance::Dot))
                .await
                .unwrap();
        }
        store
            .update_aliases(&[
                AliasChange::create("items", "items_v2"),
                AliasChange::create("old", "items_v1"),
            ])
            .await
            .unwrap();
        store.close().await;
    }
    let store = EdgeVectorStore::open(dir.path()).await.unwrap();
    let alias = |alias: &str, collection: &str| Alias {
        alias: alias.to_owned(),
        collection: collection.to_owned(),
    };
    assert_eq!(
        store.list_aliases().await.unwrap(),
        vec![alias("items", "items_v2"), alias("old", "items_v1")]
    );
    assert_eq!(store.count("items", &Filter::default()).await.unwrap(), 0);
    let err = expect_kind(
        store
            .ensure_collection(&spec("items", 2, Distance::Dot))
            .await,
        ErrorKind::Conflict,
    );
    assert!(err.contains("is an alias of items_v2"), "{err}");

    assert!(store.delete_collection("items_v1").await.unwrap());
    store.close().await;
    let store = EdgeVectorStore::open(dir.path()).await.unwrap();
    assert_eq!(
        store.list_aliases().await.unwrap(),
        vec![alias("items", "items_v2")]
    );
    store.close().await;
}

/// The ids of a scroll of `collection` descending by `rank`.
async fn by_rank_desc(store: &EdgeVectorStore, collection: &str, limit: usize) -> Vec<PointId> {
    let request = ScrollRequest::new(limit).order_by(OrderBy::desc("rank"));
    let page = store.scroll(collection, &request).await.unwrap();
    page.points.into_iter().map(|r| r.id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payload_indexes_survive_optimization_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let options = EdgeStoreOptions::default()
        .indexing_threshold_kb(Some(1))
        .flush_on_write(false);
    let spec = spec("ranked", 4, Distance::Dot).with_index("rank", PayloadIndex::Integer);
    let expected = vec![
        FieldIndex::new("rank", PayloadIndex::Integer),
        FieldIndex::new("title", PayloadIndex::text(TextTokenizer::Prefix)),
    ];
    let top: Vec<PointId> = [499_u64, 498, 497].map(PointId::Num).to_vec();
    {
        let store = EdgeVectorStore::with_options(dir.path(), options.clone());
        store.init().await.unwrap();
        store.ensure_collection(&spec).await.unwrap();
        let later = spec
            .clone()
            .with_index("title", PayloadIndex::text(TextTokenizer::Prefix));
        assert_eq!(
            store.ensure_collection(&later).await.unwrap(),
            EnsureOutcome::AlreadyExists
        );
        let points = (0..500_u64)
            .map(|id| {
                let rank = i64::try_from(id).unwrap();
                Point::new(id, vec![1.0, 0.5, 0.25, 0.125])
                    .with_payload(payload(json!({"rank": rank, "title": "x"})))
            })
            .collect();
        store.upsert("ranked", points).await.unwrap();
        store.optimize("ranked").await.unwrap();
        let info = store.collection_info("ranked").await.unwrap();
        assert_eq!(info.indexes, expected, "indexes kept by the optimizers");
        assert_eq!(by_rank_desc(&store, "ranked", 3).await, top);
        store.close().await;
    }
    let store = EdgeVectorStore::with_options(dir.path(), options);
    store.init().await.unwrap();
    let info = store.collection_info("ranked").await.unwrap();
    assert_eq!(info.indexes, expected, "indexes kept across a reopen");
    assert_eq!(by_rank_desc(&store, "ranked", 3).await, top);
    store.close().await;
}

/// An index the marker records but the engine lost (created after the last flush, then a
/// crash) is created again when the collection is opened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn indexes_recorded_in_the_marker_are_recreated_on_open() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = EdgeVectorStore::open(dir.path()).await.unwrap();
        store
            .ensure_collection(&spec("lost", 2, Distance::Dot))
            .await
            .unwrap();
        let points = vec![
            Point::new(1, vec![1.0, 0.0]).with_payload(payload(json!({"rank": 2}))),
            Point::new(2, vec![0.0, 1.0]).with_payload(payload(json!({"rank": 9}))),
        ];
        store.upsert("lost", points).await.unwrap();
        store.close().await;
    }
    let marker_path = dir.path().join("collections/lost/infra-collection.json");
    let mut marker: Value = serde_json::from_slice(&std::fs::read(&marker_path).unwrap()).unwrap();
    marker["indexes"] = json!([{"field": "rank", "type": "integer"}]);
    std::fs::write(&marker_path, serde_json::to_vec(&marker).unwrap()).unwrap();
    let store = EdgeVectorStore::open(dir.path()).await.unwrap();
    let info = store.collection_info("lost").await.unwrap();
    assert_eq!(
        info.indexes,
        [FieldIndex::new("rank", PayloadIndex::Integer)]
    );
    assert_eq!(
        by_rank_desc(&store, "lost", 10).await,
        [PointId::Num(2), PointId::Num(1)]
    );
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn named_sparse_and_tuned_collections_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let spec = CollectionSpec::named("hybrid")
        .with_vector(
            "image",
            VectorParams::dense(2, Distance::Cosine)
                .on_disk(true)
                .with_quantization(Quantization::binary()),
        )
        .with_vector("title", VectorParams::dense(3, Distance::Dot))
        .with_sparse("words", SparseParams::default().idf())
        .with_hnsw(HnswParams::new(8, 64))
        .with_quantization(Quantization::scalar_int8())
        .on_disk_payload(false);
    let words = SparseVector::new(vec![9, 2], vec![0.5, 1.0]);
    {
        let store = EdgeVectorStore::open(dir.path()).await.unwrap();
        store.ensure_collection(&spec).await.unwrap();
        let points = vec![
            Point::with_vectors(
                1,
                Vectors::new()
                    .with("image", vec![3.0, 4.0])
                    .with("title", vec![1.0, 0.0, 0.0])
                    .with("words", words.clone()),
            ),
            Point::with_vectors(2, Vectors::new().with("image", vec![0.0, 1.0])),
        ];
        store.upsert("hybrid", points).await.unwrap();
        let update = [PointVectors::new(
            2,
            Vectors::new().with("title", vec![0.0, 2.0, 0.0]),
        )];
        store.update_vectors("hybrid", &update).await.unwrap();
        store.close().await;
    }
    let marker_path = dir.path().join("collections/hybrid/infra-collection.json");
    let marker: Value = serde_json::from_slice(&std::fs::read(&marker_path).unwrap()).unwrap();
    assert_eq!(
        marker["hnsw"],
        json!({"m": 8, "ef_construct": 64}),
        "{marker}"
    );
    assert!(
        marker.get("dimension").is_none(),
        "no unnamed vector: {marker}"
    );

    let store = EdgeVectorStore::open(dir.path()).await.unwrap();
    let info = store.collection_info("hybrid").await.unwrap();
    assert_eq!(info.vectors, spec.vectors.reported());
    assert_eq!((info.dimension, info.points_count), (0, 2));
    assert_eq!(
        store.ensure_collection(&spec).await.unwrap(),
        EnsureOutcome::AlreadyExists
    );
    let records = store
        .get("hybrid", &[PointId::Num(1), PointId::Num(2)], true)
        .await
        .unwrap();
    let one = records[0].vectors.clone().unwrap();
    assert_eq!(one.get("image"), Some(&Vector::Dense(vec![0.6, 0.8])));
    assert_eq!(one.get("words"), Some(&Vector::Sparse(words.sorted())));
    let two = records[1].vectors.clone().unwrap();
    assert_eq!(two.get("title"), Some(&Vector::Dense(vec![0.0, 2.0, 0.0])));
    assert_eq!(two.get("words"), None);
    let hits = store
        .search(
            "hybrid",
            &SearchQuery::new(vec![0.0, 1.0, 0.0], 2).using("title"),
        )
        .await
        .unwrap();
    let ids: Vec<PointId> = hits.iter().map(|h| h.id).collect();
    assert_eq!(ids, [PointId::Num(2), PointId::Num(1)]);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharding_beyond_one_node_is_unsupported() {
    let dir = tempfile::tempdir().unwrap();
    let store = EdgeVectorStore::open(dir.path()).await.unwrap();
    let base = spec("sharded", 2, Distance::Dot);
    for (sharding, parameter) in [
        ((2, 1, 1), "shard_number 2"),
        ((1, 3, 1), "replication_factor 3"),
        ((1, 1, 2), "write_consistency_factor 2"),
    ] {
        let (shards, replicas, consistency) = sharding;
        let message = expect_kind(
            store
                .ensure_collection(&base.clone().with_sharding(shards, replicas, consistency))
                .await,
            ErrorKind::Unsupported,
        );
        assert!(message.contains(parameter), "{message}");
    }
    assert!(store.list_collections().await.unwrap().is_empty());
    assert_eq!(
        store
            .ensure_collection(&base.with_sharding(1, 1, 1))
            .await
            .unwrap(),
        EnsureOutcome::Created
    );
    store.close().await;
}
