//! The embedded store's own limits and safety rules, which a Qdrant server does not share
//! (so they are not conformance cases): the collection limit, the exact-search gate, names
//! that differ only in case, names too long for the data directory, and the quarantine of
//! collections that fail to load.

use std::fs;
use std::path::{Path, PathBuf};

use infra_base::{
    CollectionSpec, Distance, ErrorKind, Filter, HealthStatus, InfraResult, Lifecycle, Point,
    SearchQuery, VectorPort,
};
use infra_qdrant_edge::{EdgeStoreOptions, EdgeVectorStore};

fn spec(name: &str) -> CollectionSpec {
    CollectionSpec::new(name, 2, Distance::Dot)
}

fn expect_kind<T: std::fmt::Debug>(result: InfraResult<T>, kind: ErrorKind) -> String {
    let err = result.expect_err("the call must fail");
    assert_eq!(err.kind(), kind, "{}", err.chain());
    err.message().to_owned()
}

/// A fresh data directory under the system's temporary directory.
fn scratch() -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("infra-qdrant-edge-safety-{}", uuid::Uuid::new_v4()));
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// Every file under `dir` with its contents, to show that nothing was touched.
fn contents(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(next) = stack.pop() {
        for entry in fs::read_dir(&next).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push((path.clone(), fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creating_more_collections_than_the_limit_is_a_conflict() {
    let store = EdgeVectorStore::temporary(EdgeStoreOptions::default().max_collections(2))
        .await
        .unwrap();
    for name in ["a", "b"] {
        store.ensure_collection(&spec(name)).await.unwrap();
    }
    let message = expect_kind(
        store.ensure_collection(&spec("c")).await,
        ErrorKind::Conflict,
    );
    assert!(
        message.contains("SOCIAL_QDRANT__MAX_COLLECTIONS"),
        "{message}"
    );
    assert!(store.collection_info("c").await.is_err());
    // Existing ones are still ensured, and deleting one makes room.
    store.ensure_collection(&spec("a")).await.unwrap();
    assert!(store.delete_collection("b").await.unwrap());
    store.ensure_collection(&spec("c")).await.unwrap();
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exact_search_is_gated_by_a_setting_and_the_collection_size() {
    let points: Vec<Point> = (0..5u8)
        .map(|i| Point::new(u64::from(i), vec![1.0, f32::from(i)]))
        .collect();
    let exact = SearchQuery::new(vec![1.0, 0.0], 3).exact(true);
    let approximate = SearchQuery::new(vec![1.0, 0.0], 3);

    let off = EdgeVectorStore::temporary(EdgeStoreOptions::default().exact_search(false))
        .await
        .unwrap();
    off.ensure_collection(&spec("items")).await.unwrap();
    off.upsert("items", points.clone()).await.unwrap();
    let message = expect_kind(off.search("items", &exact).await, ErrorKind::InvalidInput);
    assert!(message.contains("SOCIAL_QDRANT__EXACT_SEARCH"), "{message}");
    assert_eq!(off.search("items", &approximate).await.unwrap().len(), 3);
    off.close().await;

    let small = EdgeVectorStore::temporary(EdgeStoreOptions::default().exact_search_max_points(4))
        .await
        .unwrap();
    small.ensure_collection(&spec("items")).await.unwrap();
    small.upsert("items", points[..4].to_vec()).await.unwrap();
    assert_eq!(small.search("items", &exact).await.unwrap().len(), 3);
    small.upsert("items", points[4..].to_vec()).await.unwrap();
    let message = expect_kind(small.search("items", &exact).await, ErrorKind::InvalidInput);
    assert!(message.contains("EXACT_SEARCH_MAX_POINTS"), "{message}");
    assert_eq!(small.search("items", &approximate).await.unwrap().len(), 3);
    small.close().await;
}

/// `Items` next to `items` would be one directory on a case-insensitive file system (and
/// creating it used to discard the live collection there): refused, whatever the file
/// system, and the existing collection keeps its points.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_that_differ_only_in_case_are_refused() {
    let store = EdgeVectorStore::temporary(EdgeStoreOptions::default())
        .await
        .unwrap();
    store.ensure_collection(&spec("items")).await.unwrap();
    store
        .upsert("items", vec![Point::new(1, vec![1.0, 0.0])])
        .await
        .unwrap();
    for twin in ["Items", "ITEMS", "iTeMs"] {
        let message = expect_kind(
            store.ensure_collection(&spec(twin)).await,
            ErrorKind::Conflict,
        );
        assert!(message.contains("differs only in case"), "{message}");
        expect_kind(store.collection_info(twin).await, ErrorKind::NotFound);
    }
    assert_eq!(store.count("items", &Filter::default()).await.unwrap(), 1);
    assert_eq!(
        store.list_collections().await.unwrap(),
        vec!["items".to_owned()]
    );
    store.close().await;
}

/// A name of the longest length is created, used and deleted (the trash entry does not
/// carry the name, so it stays within one path component's limit) and leaves nothing
/// behind; in a data directory so deep that the engine's paths would pass the platform's
/// limit, creation is refused up front rather than failing half-way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_names_never_break_creation_or_deletion() {
    let root = scratch();
    let longest = "n".repeat(255);
    let store = EdgeVectorStore::open(root.join("data")).await.unwrap();
    store.ensure_collection(&spec(&longest)).await.unwrap();
    store
        .upsert(&longest, vec![Point::new(1, vec![1.0, 0.0])])
        .await
        .unwrap();
    assert!(store.delete_collection(&longest).await.unwrap());
    assert_eq!(
        fs::read_dir(root.join("data/collections")).unwrap().count(),
        0
    );
    assert_eq!(fs::read_dir(root.join("data/trash")).unwrap().count(), 0);
    store.close().await;

    if cfg!(target_os = "linux") {
        // About 3,900 bytes of directories: a short name fits, the longest does not.
        let mut deep = root.join("deep");
        while deep.as_os_str().len() < 3_600 {
            deep.push("d".repeat(200));
        }
        let store = EdgeVectorStore::open(&deep).await.unwrap();
        let message = expect_kind(
            store.ensure_collection(&spec(&longest)).await,
            ErrorKind::InvalidInput,
        );
        assert!(message.contains("too long"), "{message}");
        store.ensure_collection(&spec("short")).await.unwrap();
        assert!(store.delete_collection("short").await.unwrap());
        store.close().await;
    }
    let _ = fs::remove_dir_all(root);
}

/// A collection whose files are damaged does not stop the store from opening: it is
/// quarantined (left on disk byte for byte, reported by health, refused for every use,
/// its name not reusable), and the other collections work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collection_that_fails_to_load_is_quarantined() {
    let root = scratch();
    let store = EdgeVectorStore::open(&root).await.unwrap();
    for name in ["good", "broken"] {
        store.ensure_collection(&spec(name)).await.unwrap();
        store
            .upsert(name, vec![Point::new(1, vec![1.0, 0.0])])
            .await
            .unwrap();
    }
    store.close().await;
    let broken = root.join("collections/broken");
    fs::write(broken.join("edge_config.json"), b"{ not json").unwrap();
    let before = contents(&broken);

    let store = EdgeVectorStore::open(&root).await.unwrap();
    assert_eq!(
        store.list_collections().await.unwrap(),
        vec!["good".to_owned()]
    );
    let quarantined = store.quarantined_collections().unwrap();
    assert_eq!(quarantined.len(), 1);
    assert_eq!(quarantined[0].0, "broken");
    assert_eq!(store.count("good", &Filter::default()).await.unwrap(), 1);

    let health = store.health().await;
    assert_eq!(health.status, HealthStatus::Warn, "{health:?}");
    assert!(
        health.output.as_deref().unwrap().contains("broken"),
        "{health:?}"
    );
    assert_eq!(health.details["quarantined"], serde_json::json!(["broken"]));

    let query = SearchQuery::new(vec![1.0, 0.0], 1);
    let refusals = [
        store.count("broken", &Filter::default()).await.map(drop),
        store.search("broken", &query).await.map(drop),
        store
            .upsert("broken", vec![Point::new(2, vec![0.0, 1.0])])
            .await,
        store.collection_info("broken").await.map(drop),
        store.delete_collection("broken").await.map(drop),
        store.ensure_collection(&spec("broken")).await.map(drop),
        store.ensure_collection(&spec("BROKEN")).await.map(drop),
    ];
    for refusal in refusals {
        let err = refusal.unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::Internal | ErrorKind::Conflict),
            "{}",
            err.chain()
        );
        if err.kind() == ErrorKind::Internal {
            assert!(err.message().contains("quarantined"), "{}", err.message());
        }
    }
    store.close().await;
    assert_eq!(
        contents(&broken),
        before,
        "a quarantined collection is left untouched"
    );

    // Moved away by the operator: the next start is clean, and the name is free again.
    fs::rename(&broken, root.join("broken.saved")).unwrap();
    let store = EdgeVectorStore::open(&root).await.unwrap();
    assert_eq!(store.health().await.status, HealthStatus::Pass);
    store.ensure_collection(&spec("broken")).await.unwrap();
    store.close().await;
    let _ = fs::remove_dir_all(root);
}
