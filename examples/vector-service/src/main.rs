//! A service that keeps vectors in the embedded store, using only `infra-config`,
//! `infra-base` and `infra-qdrant-edge`: no Qdrant server, no Redis, no HTTP.
//!
//! It shows:
//!
//! 1. **Settings** from the usual `SOCIAL_*` keys through `infra_config::SettingsLoader`;
//!    `SOCIAL_QDRANT__PATH` names the data directory (without it the example uses a fresh
//!    directory under the system's temporary directory and removes it at the end).
//! 2. **The port** built with `infra_qdrant_edge::build` (a layered `VectorPort` over an
//!    on-disk, in-process engine) and opened through its `Component`.
//! 3. **Ingest** a small generated corpus (200 articles in 4 topics, 16-dimensional
//!    vectors) with `VectorPortExt::upsert_in_batches`, then **count** and **search with a
//!    payload filter** (`Filter` + `Condition::keyword`).
//! 4. **Close and reopen** the same directory: the points, their payloads and the search
//!    results are still there (`close` flushes; one process at a time holds the directory).
//!
//! ```sh
//! cargo run                                   # a scratch directory, removed afterwards
//! SOCIAL_QDRANT__PATH=./data/qdrant cargo run  # a directory of yours, kept
//! ```
//!
//! Every step checks what it prints: the program exits 1 when a count, a search result or
//! a reopened point is not what was written, 0 otherwise.

use std::path::Path;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use infra_base::{
    CollectionSpec, Components, Condition, Distance, Filter, Payload, Point, PointId, SearchQuery,
    VectorPort, VectorPortExt,
};
use infra_config::{QdrantMode, QdrantSettings, SettingsLoader};
use infra_qdrant_edge::EmbeddedQdrant;
use serde_json::json;

/// The collection the example writes.
const COLLECTION: &str = "articles";

/// How many articles the corpus has.
const ARTICLES: u64 = 200;

/// Their vectors' dimension.
const DIMENSION: usize = 16;

/// The corpus' topics; article `i` is about `TOPICS[i % 4]`.
const TOPICS: [&str; 4] = ["rust", "redis", "qdrant", "http"];

/// The article whose vector is the query.
const PROBE: u64 = 42;

/// A deterministic pseudo-random stream (xorshift64*), so every run writes the same corpus.
struct Noise(u64);

impl Noise {
    /// A value in [-1, 1).
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let bits = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40; // 24 bits
        #[allow(clippy::cast_precision_loss)] // 24 bits fit an f32 exactly
        let unit = bits as f32 / (1u64 << 24) as f32;
        unit * 2.0 - 1.0
    }
}

/// The generated corpus: article `i` points mostly along its topic's axis, plus noise.
fn corpus() -> Vec<Point> {
    let mut noise = Noise(0x9E37_79B9_7F4A_7C15);
    (0..ARTICLES)
        .map(|i| {
            let topic = usize::try_from(i % 4).unwrap_or(0);
            let mut vector: Vec<f32> = (0..DIMENSION).map(|_| noise.next() * 0.3).collect();
            vector[topic] += 1.0;
            let mut payload = Payload::new();
            payload.insert("title".to_owned(), json!(format!("article {i}")));
            payload.insert("topic".to_owned(), json!(TOPICS[topic]));
            payload.insert("year".to_owned(), json!(2019 + i % 6));
            Point::new(i, vector).with_payload(payload)
        })
        .collect()
}

/// Fails with `message` unless `condition` holds.
fn expect(condition: bool, message: impl FnOnce() -> String) -> Result<(), String> {
    if condition { Ok(()) } else { Err(message()) }
}

/// Builds and opens the store of `settings`.
async fn open(settings: &QdrantSettings) -> Result<(EmbeddedQdrant, Components), String> {
    let store = infra_qdrant_edge::build(settings)
        .map_err(|e| format!("cannot build the embedded store: {e}"))?;
    let components = Components::new().with(store.component());
    components
        .init_all()
        .await
        .map_err(|e| format!("cannot open {}: {e}", settings.path.display()))?;
    Ok((store, components))
}

/// The filtered search the example runs before and after reopening: the articles of the
/// probe's topic nearest to the probe's vector. Checks that every hit is of that topic and
/// that the probe itself comes first.
async fn search_probe(port: &dyn VectorPort, probe: &Point) -> Result<Vec<PointId>, String> {
    let topic = probe
        .payload
        .get("topic")
        .and_then(|t| t.as_str())
        .unwrap_or_default()
        .to_owned();
    let vector = probe.vectors.unnamed_dense().unwrap_or_default().to_vec();
    let query = SearchQuery::new(vector, 5)
        .filter(Filter::default().must(Condition::keyword("topic", topic.clone())));
    let hits = port
        .search(COLLECTION, &query)
        .await
        .map_err(|e| format!("search failed: {e}"))?;
    for hit in &hits {
        let payload = hit.payload.as_ref();
        let title = payload
            .and_then(|p| p.get("title")?.as_str())
            .unwrap_or("?");
        let hit_topic = payload
            .and_then(|p| p.get("topic")?.as_str())
            .unwrap_or("?");
        println!(
            "    {:>4}  score {:.3}  {title} ({hit_topic})",
            hit.id, hit.score
        );
        expect(hit_topic == topic, || {
            format!("the filter asked for topic {topic}, the search returned {hit_topic}")
        })?;
    }
    expect(hits.len() == 5, || {
        format!("expected 5 hits, got {}", hits.len())
    })?;
    expect(hits[0].id == probe.id, || {
        format!(
            "the nearest point to article {}'s own vector should be itself, got {}",
            probe.id, hits[0].id
        )
    })?;
    Ok(hits.iter().map(|hit| hit.id).collect())
}

async fn run(settings: &QdrantSettings) -> Result<(), String> {
    let corpus = corpus();
    let probe = corpus
        .iter()
        .find(|point| point.id == PointId::Num(PROBE))
        .cloned()
        .ok_or("the corpus has no probe article")?;
    let topic_filter = Filter::default().must(Condition::keyword("topic", "qdrant"));

    println!("open {} (embedded store)", settings.path.display());
    let (store, components) = open(settings).await?;
    let port = store.port();
    // Start from an empty collection, whatever an earlier run left in this directory.
    port.delete_collection(COLLECTION)
        .await
        .map_err(|e| format!("cannot delete {COLLECTION}: {e}"))?;
    port.ensure_collection(&CollectionSpec::new(
        COLLECTION,
        DIMENSION,
        Distance::Cosine,
    ))
    .await
    .map_err(|e| format!("cannot create {COLLECTION}: {e}"))?;
    port.upsert_in_batches(COLLECTION, corpus, 64)
        .await
        .map_err(|e| format!("ingest failed: {e}"))?;
    let total = port
        .count(COLLECTION, &Filter::default())
        .await
        .map_err(|e| format!("count failed: {e}"))?;
    let about_qdrant = port
        .count(COLLECTION, &topic_filter)
        .await
        .map_err(|e| format!("count failed: {e}"))?;
    println!("  ingested {total} articles, {about_qdrant} about qdrant");
    expect(total == ARTICLES, || {
        format!("expected {ARTICLES} points, counted {total}")
    })?;
    expect(about_qdrant == ARTICLES / 4, || {
        format!(
            "expected {} qdrant articles, counted {about_qdrant}",
            ARTICLES / 4
        )
    })?;
    println!("  search near article {PROBE}, topic = qdrant:");
    let before = search_probe(&*port, &probe).await?;

    // close() waits for operations in flight, flushes and releases the directory's lock.
    components.close_all().await;
    drop((port, store));
    println!("closed; reopen {}", settings.path.display());

    let (store, components) = open(settings).await?;
    let port = store.port();
    let total = port
        .count(COLLECTION, &Filter::default())
        .await
        .map_err(|e| format!("count after reopening failed: {e}"))?;
    println!("  found {total} articles");
    expect(total == ARTICLES, || {
        format!("after reopening, expected {ARTICLES} points, counted {total}")
    })?;
    let record = port
        .get_one(COLLECTION, PointId::Num(PROBE), false)
        .await
        .map_err(|e| format!("get after reopening failed: {e}"))?
        .ok_or_else(|| format!("article {PROBE} is missing after reopening"))?;
    println!(
        "  article {PROBE}: {}",
        serde_json::Value::Object(record.payload.clone())
    );
    expect(record.payload == probe.payload, || {
        format!(
            "article {PROBE} came back with another payload: {:?}",
            record.payload
        )
    })?;
    println!("  the same search:");
    let after = search_probe(&*port, &probe).await?;
    expect(after == before, || {
        format!("the search answered {before:?} before closing and {after:?} after")
    })?;
    components.close_all().await;
    Ok(())
}

async fn main_result() -> Result<(), String> {
    let mut settings = SettingsLoader::new()
        .load()
        .map_err(|e| format!("the settings were refused:\n{e}"))?;
    if settings.qdrant.mode != QdrantMode::Embedded {
        return Err(
            "this example uses the embedded store: unset SOCIAL_QDRANT__MODE or set it to \
             embedded"
                .to_owned(),
        );
    }
    // `.env` was exported into the environment by the loader, so this sees it too.
    let scratch = std::env::var_os("SOCIAL_QDRANT__PATH").is_none();
    if scratch {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        settings.qdrant.path =
            std::env::temp_dir().join(format!("vector-service-{}-{nanos}", std::process::id()));
    }
    let result = run(&settings.qdrant).await;
    if scratch {
        remove_scratch(&settings.qdrant.path);
    }
    result
}

/// Removes the scratch directory; a failure is reported, not fatal.
fn remove_scratch(path: &Path) {
    match std::fs::remove_dir_all(path) {
        Ok(()) => println!("removed the scratch directory {}", path.display()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => eprintln!("could not remove {}: {err}", path.display()),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    match main_result().await {
        Ok(()) => {
            println!(
                "vector-service: OK ({ARTICLES} articles ingested, found by a filtered search, \
                 and found again after reopening)"
            );
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("vector-service: FAILED: {message}");
            ExitCode::FAILURE
        }
    }
}
