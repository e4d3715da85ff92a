//! Tier 1: the catalog on in-memory ports and mocks.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use infra_base::testing::{MemoryRedis, MemoryVector};
use infra_base::{
    BaseService, Condition, Distance, EnsureOutcome, ErrorKind, Filter, InfraError, InfraResult,
    MockRedisPort, MockVectorPort, Payload, PointId, REDIS_BACKEND, RedisPort, ScoredPoint,
    SetOptions, VectorPort,
};
use serde_json::json;

use super::*;

fn payload(value: serde_json::Value) -> Payload {
    match value {
        serde_json::Value::Object(map) => map,
        other => panic!("not a JSON object: {other}"),
    }
}

fn item(id: u64, vector: &[f32], color: &str) -> ItemInput {
    ItemInput {
        id: PointId::Num(id),
        vector: Some(vector.to_vec()),
        vectors: None,
        payload: payload(json!({ "color": color })),
        sparse: std::collections::BTreeMap::new(),
    }
}

struct Fixture {
    catalog: CatalogService,
    redis: Arc<MemoryRedis>,
    vectors: Arc<MemoryVector>,
}

fn fixture() -> Fixture {
    let redis = Arc::new(MemoryRedis::new());
    let vectors = Arc::new(MemoryVector::new());
    let base = BaseService::new("catalog-test")
        .with_redis(redis.clone())
        .with_vector(vectors.clone());
    Fixture {
        catalog: CatalogService::new(base, CacheConfig::default()),
        redis,
        vectors,
    }
}

fn collection(name: &str, dimension: usize) -> NewCollection {
    NewCollection::new(name, dimension, Distance::Cosine)
}

async fn seeded(catalog: &CatalogService) {
    let outcome = catalog
        .create_collection(collection("items", 2))
        .await
        .unwrap();
    assert_eq!(outcome, EnsureOutcome::Created);
    catalog
        .upsert_items(
            "items",
            vec![
                item(1, &[1.0, 0.0], "red"),
                item(2, &[0.0, 1.0], "blue"),
                item(3, &[0.7, 0.7], "red"),
            ],
        )
        .await
        .unwrap();
}

/// The key the request's answer is cached under now (at the collection's generation).
async fn cached_key(f: &Fixture, collection: &str, request: &SearchRequest) -> String {
    f.catalog
        .search_cache()
        .entry_key(collection, &request.to_query())
        .await
        .expect("the collection has a generation")
}

fn ids(hits: &[ScoredPoint]) -> Vec<PointId> {
    hits.iter().map(|h| h.id).collect()
}

#[tokio::test]
async fn search_misses_then_hits_then_a_write_invalidates() {
    let f = fixture();
    seeded(&f.catalog).await;
    let request = SearchRequest::new(vec![1.0, 0.1]);

    let first = f.catalog.search("items", &request).await.unwrap();
    assert_eq!(first.cache, CacheStatus::Miss);
    assert_eq!(ids(&first.hits)[0], PointId::Num(1));

    let second = f.catalog.search("items", &request).await.unwrap();
    assert_eq!(second.cache, CacheStatus::Hit);
    assert_eq!(second.hits, first.hits, "a hit returns the stored answer");

    // The cached entry lives for the TTL.
    let key = cached_key(&f, "items", &request).await;
    let ttl = f.redis.ttl(&key).expect("the answer is stored with a TTL");
    assert!(
        ttl <= DEFAULT_CACHE_TTL && ttl > DEFAULT_CACHE_TTL / 2,
        "{ttl:?}"
    );

    // A write to the collection: the next search sees it.
    f.catalog
        .upsert_items("items", vec![item(4, &[1.0, 0.1], "green")])
        .await
        .unwrap();
    let third = f.catalog.search("items", &request).await.unwrap();
    assert_eq!(third.cache, CacheStatus::Miss);
    assert_eq!(ids(&third.hits)[0], PointId::Num(4));
    assert_eq!(
        f.catalog.search("items", &request).await.unwrap().cache,
        CacheStatus::Hit
    );

    // Deleting an item invalidates too.
    f.catalog
        .delete_item("items", PointId::Num(4))
        .await
        .unwrap();
    let fourth = f.catalog.search("items", &request).await.unwrap();
    assert_eq!(fourth.cache, CacheStatus::Miss);
    assert!(!ids(&fourth.hits).contains(&PointId::Num(4)));

    let counters = f.catalog.cache_stats();
    assert_eq!((counters.hits, counters.misses), (2, 3), "{counters:?}");
    assert_eq!(counters.bypasses, 0);
    assert_eq!(counters.errors, 0);
    // create (new collection) + 2 upserts + 1 delete.
    assert_eq!(counters.invalidations, 4);
}

#[tokio::test]
async fn merging_a_payload_and_deleting_by_filter_invalidate_cached_searches() {
    let f = fixture();
    seeded(&f.catalog).await;
    let request = SearchRequest::new(vec![1.0, 0.1]);
    assert_eq!(
        f.catalog.search("items", &request).await.unwrap().cache,
        CacheStatus::Miss
    );

    f.catalog
        .merge_item_payload("items", PointId::Num(1), payload(json!({ "price": 5 })))
        .await
        .unwrap();
    let merged = f.catalog.search("items", &request).await.unwrap();
    assert_eq!(merged.cache, CacheStatus::Miss, "the merge invalidated");
    let top = merged.hits[0].payload.clone().unwrap();
    assert_eq!(top.get("price"), Some(&json!(5)), "the new key is set");
    assert_eq!(
        top.get("color"),
        Some(&json!("red")),
        "the other keys are kept"
    );

    let missing = f
        .catalog
        .merge_item_payload("items", PointId::Num(99), payload(json!({ "price": 1 })))
        .await
        .unwrap_err();
    assert_eq!(missing.kind(), ErrorKind::NotFound, "{missing}");

    let red = Filter::default().must(Condition::keyword("color", "red"));
    f.catalog.delete_items_matching("items", red).await.unwrap();
    let after = f.catalog.search("items", &request).await.unwrap();
    assert_eq!(after.cache, CacheStatus::Miss, "the deletion invalidated");
    assert_eq!(
        ids(&after.hits),
        vec![PointId::Num(2)],
        "only the blue item is left"
    );
}

#[tokio::test]
async fn queries_are_cached_apart_from_searches_and_invalidated_by_writes() {
    use infra_base::{QueryRequest, VectorInput};
    let f = fixture();
    seeded(&f.catalog).await;
    let like_one = QueryRequest::nearest(VectorInput::Point(PointId::Num(1)), 2);
    let first = f.catalog.query("items", &like_one).await.unwrap();
    assert_eq!(first.cache, CacheStatus::Miss);
    assert_eq!(
        ids(&first.hits),
        vec![PointId::Num(3), PointId::Num(2)],
        "more like item 1, without item 1"
    );
    let second = f.catalog.query("items", &like_one).await.unwrap();
    assert_eq!(second.cache, CacheStatus::Hit);
    assert_eq!(second.hits, first.hits);
    // The same vector as a search is another entry.
    let search = f
        .catalog
        .search("items", &SearchRequest::new(vec![1.0, 0.0]))
        .await
        .unwrap();
    assert_eq!(search.cache, CacheStatus::Miss);

    f.catalog
        .upsert_items("items", vec![item(4, &[0.9, 0.1], "green")])
        .await
        .unwrap();
    let after = f.catalog.query("items", &like_one).await.unwrap();
    assert_eq!(after.cache, CacheStatus::Miss, "the write invalidated");
    assert_eq!(ids(&after.hits)[0], PointId::Num(4));

    let too_many = QueryRequest::nearest(vec![1.0, 0.0], MAX_SEARCH_LIMIT + 1);
    assert_invalid(f.catalog.query("items", &too_many).await, "limit");
}

/// An answer that depends on a second collection is never cached: a write to that
/// collection invalidates only its own entries.
#[tokio::test]
async fn queries_reading_another_collection_bypass_the_cache() {
    use infra_base::{LookupLocation, QueryRequest, VectorInput};
    let f = fixture();
    seeded(&f.catalog).await;
    f.catalog
        .create_collection(collection("probes", 2))
        .await
        .unwrap();
    f.catalog
        .upsert_items("probes", vec![item(9, &[0.0, 1.0], "any")])
        .await
        .unwrap();
    let like_probe = QueryRequest::nearest(VectorInput::Point(PointId::Num(9)), 1)
        .lookup_from(LookupLocation::new("probes"));
    for _ in 0..2 {
        let outcome = f.catalog.query("items", &like_probe).await.unwrap();
        assert_eq!(outcome.cache, CacheStatus::Bypass, "never cached");
        assert_eq!(
            ids(&outcome.hits),
            vec![PointId::Num(2)],
            "nearest to [0, 1]"
        );
    }
    f.catalog
        .upsert_items("probes", vec![item(9, &[1.0, 0.0], "any")])
        .await
        .unwrap();
    let after = f.catalog.query("items", &like_probe).await.unwrap();
    assert_eq!(
        ids(&after.hits),
        vec![PointId::Num(1)],
        "the probe's new vector is used at once"
    );
    // A lookup in a prefetch stage makes the answer depend on the probes as well.
    let stage = infra_base::Prefetch::new(
        infra_base::Query::Nearest(VectorInput::Point(PointId::Num(9))),
        None,
        1,
    )
    .lookup_from(LookupLocation::new("probes"));
    let over_stage = QueryRequest {
        prefetch: vec![stage],
        ..QueryRequest::nearest(vec![1.0, 0.0], 1)
    };
    for _ in 0..2 {
        let outcome = f.catalog.query("items", &over_stage).await.unwrap();
        assert_eq!(outcome.cache, CacheStatus::Bypass, "never cached either");
        assert_eq!(ids(&outcome.hits), vec![PointId::Num(1)]);
    }
}

#[tokio::test]
async fn pages_of_items_walk_the_matching_items_once() {
    let f = fixture();
    seeded(&f.catalog).await;
    let mut request = PageRequest {
        filter: Filter::default().must(Condition::keyword("color", "red")),
        limit: 1,
        cursor: None,
        with_vector: false,
    };
    let mut seen = Vec::new();
    loop {
        let page = f.catalog.list_items("items", &request).await.unwrap();
        assert!(page.points.len() <= 1, "a page holds at most the limit");
        seen.extend(page.points.iter().map(|r| r.id));
        match page.next_page_offset {
            Some(next) => request.cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, vec![PointId::Num(1), PointId::Num(3)]);
}

#[tokio::test]
async fn other_collections_and_other_queries_are_cached_apart() {
    let f = fixture();
    seeded(&f.catalog).await;
    f.catalog
        .create_collection(collection("other", 2))
        .await
        .unwrap();
    f.catalog
        .upsert_items("other", vec![item(9, &[1.0, 0.0], "red")])
        .await
        .unwrap();
    let request = SearchRequest::new(vec![1.0, 0.0]);
    assert_eq!(
        f.catalog.search("items", &request).await.unwrap().cache,
        CacheStatus::Miss
    );
    let other = f.catalog.search("other", &request).await.unwrap();
    assert_eq!(other.cache, CacheStatus::Miss);
    assert_eq!(ids(&other.hits), [PointId::Num(9)]);

    let filtered = SearchRequest {
        filter: Filter::default().must(Condition::keyword("color", "blue")),
        ..request.clone()
    };
    let blue = f.catalog.search("items", &filtered).await.unwrap();
    assert_eq!(blue.cache, CacheStatus::Miss);
    assert_eq!(ids(&blue.hits), [PointId::Num(2)]);

    // Writing to `other` leaves `items`' entries valid.
    f.catalog
        .upsert_items("other", vec![item(10, &[0.0, 1.0], "blue")])
        .await
        .unwrap();
    assert_eq!(
        f.catalog.search("items", &request).await.unwrap().cache,
        CacheStatus::Hit
    );
    assert_eq!(
        f.catalog.search("other", &request).await.unwrap().cache,
        CacheStatus::Miss
    );
}

#[tokio::test]
async fn a_hit_never_reaches_the_vector_store() {
    let mut vectors = MockVectorPort::new();
    let answer = vec![ScoredPoint {
        id: PointId::Num(5),
        score: 0.9,
        payload: Some(payload(json!({ "k": "v" }))),
        vectors: None,
    }];
    let returned = answer.clone();
    vectors
        .expect_search()
        .times(1)
        .returning(move |_, _| Ok(returned.clone()));
    let base = BaseService::new("catalog-test")
        .with_redis(Arc::new(MemoryRedis::new()))
        .with_vector(Arc::new(vectors));
    let catalog = CatalogService::new(base, CacheConfig::default());
    let request = SearchRequest::new(vec![0.5, 0.5, 0.5]);
    let miss = catalog.search("items", &request).await.unwrap();
    let hit = catalog.search("items", &request).await.unwrap();
    assert_eq!(
        (miss.cache, hit.cache),
        (CacheStatus::Miss, CacheStatus::Hit)
    );
    assert_eq!(hit.hits, answer);
}

fn unavailable(operation: &'static str) -> InfraError {
    InfraError::new(
        ErrorKind::Unavailable,
        REDIS_BACKEND,
        operation,
        "connection refused",
    )
}

#[tokio::test]
async fn a_failing_redis_is_bypassed_and_the_search_still_answered() {
    let mut redis = MockRedisPort::new();
    redis.expect_get().returning(|_| Err(unavailable("get")));
    // Only invalidations write (the generation key): a bypassed search must not try to
    // store its answer.
    redis
        .expect_set()
        .withf(|key, _, _| key.ends_with(":gen"))
        .returning(|_, _, _| Err(unavailable("set")));
    let vectors = Arc::new(MemoryVector::new());
    let base = BaseService::new("catalog-test")
        .with_redis(Arc::new(redis))
        .with_vector(vectors.clone());
    let catalog = CatalogService::new(base, CacheConfig::default());

    // Writes succeed although the cache cannot be invalidated.
    seeded(&catalog).await;
    let request = SearchRequest::new(vec![0.0, 1.0]);
    for _ in 0..3 {
        let outcome = catalog.search("items", &request).await.unwrap();
        assert_eq!(outcome.cache, CacheStatus::Bypass);
        assert_eq!(ids(&outcome.hits)[0], PointId::Num(2));
    }
    let counters = catalog.cache_stats();
    assert_eq!(counters.bypasses, 3, "{counters:?}");
    assert_eq!(counters.hits + counters.misses, 0);
    // create + upsert, and maybe their first retries, which go on in the background.
    assert!(counters.invalidation_failures >= 2, "{counters:?}");
    assert!(counters.errors >= 2, "{counters:?}");
}

#[tokio::test]
async fn no_redis_port_means_bypass() {
    let vectors = Arc::new(MemoryVector::new());
    let base = BaseService::new("catalog-test").with_vector(vectors);
    let catalog = CatalogService::new(base, CacheConfig::default());
    seeded(&catalog).await;
    let outcome = catalog
        .search("items", &SearchRequest::new(vec![1.0, 0.0]))
        .await
        .unwrap();
    assert_eq!(outcome.cache, CacheStatus::Bypass);
    assert_eq!(outcome.hits.len(), 3);
    assert_eq!(catalog.cache_stats().errors, 0, "absent is not a failure");
}

/// A Redis that never answers.
struct Hung;

#[async_trait]
impl RedisPort for Hung {
    async fn ping(&self) -> InfraResult<()> {
        std::future::pending().await
    }
    async fn get(&self, _: &str) -> InfraResult<Option<Vec<u8>>> {
        std::future::pending().await
    }
    async fn set(&self, _: &str, _: &[u8], _: SetOptions) -> InfraResult<bool> {
        std::future::pending().await
    }
    async fn del(&self, _: &[String]) -> InfraResult<u64> {
        std::future::pending().await
    }
    async fn exists(&self, _: &str) -> InfraResult<bool> {
        std::future::pending().await
    }
    async fn expire(&self, _: &str, _: Duration) -> InfraResult<bool> {
        std::future::pending().await
    }
    async fn incr_by(&self, _: &str, _: i64, _: Option<Duration>) -> InfraResult<i64> {
        std::future::pending().await
    }
    async fn mget(&self, _: &[String]) -> InfraResult<Vec<Option<Vec<u8>>>> {
        std::future::pending().await
    }
    async fn publish(&self, _: &str, _: &[u8]) -> InfraResult<u64> {
        std::future::pending().await
    }
    async fn command(
        &self,
        _: &infra_base::Command,
        _: infra_base::resilience::Idempotency,
    ) -> InfraResult<infra_base::Reply> {
        std::future::pending().await
    }
    async fn pipeline(&self, _: &infra_base::Pipeline) -> InfraResult<Vec<infra_base::Reply>> {
        std::future::pending().await
    }
}

#[tokio::test(start_paused = true)]
async fn a_hung_redis_costs_at_most_the_cache_timeout() {
    let vectors = Arc::new(MemoryVector::new());
    let base = BaseService::new("catalog-test")
        .with_redis(Arc::new(Hung))
        .with_vector(vectors);
    let config = CacheConfig {
        op_timeout: Duration::from_millis(200),
        ..CacheConfig::default()
    };
    let catalog = CatalogService::new(base, config.clone());
    let started = tokio::time::Instant::now();
    // Each write waits for its invalidation's first attempt only (it times out; retries
    // go on in the background).
    seeded(&catalog).await;
    assert_eq!(started.elapsed(), Duration::from_millis(400));

    // This process does not read the collection while its invalidation is retried.
    let started = tokio::time::Instant::now();
    let request = SearchRequest::new(vec![1.0, 0.0]);
    let outcome = catalog.search("items", &request).await.unwrap();
    assert_eq!(outcome.cache, CacheStatus::Bypass);
    assert_eq!(started.elapsed(), Duration::ZERO);

    // Another catalog on the same ports reads the generation: one timeout.
    let other = CatalogService::new(catalog.base().clone(), config);
    let started = tokio::time::Instant::now();
    let outcome = other.search("items", &request).await.unwrap();
    assert_eq!(outcome.cache, CacheStatus::Bypass);
    assert_eq!(started.elapsed(), Duration::from_millis(200));
}

#[tokio::test(start_paused = true)]
async fn the_cache_recovers_when_redis_does_without_serving_what_a_write_changed() {
    let f = fixture();
    seeded(&f.catalog).await;
    let request = SearchRequest::new(vec![1.0, 0.0]);
    assert_eq!(
        f.catalog.search("items", &request).await.unwrap().cache,
        CacheStatus::Miss
    );
    f.redis.fail_with(Some(ErrorKind::Unavailable));
    assert_eq!(
        f.catalog.search("items", &request).await.unwrap().cache,
        CacheStatus::Bypass
    );
    // A write while Redis is down cannot invalidate at once...
    f.catalog
        .upsert_items("items", vec![item(7, &[1.0, 0.0], "red")])
        .await
        .unwrap();
    assert_eq!(f.catalog.cache_stats().invalidation_failures, 1);
    f.redis.fail_with(None);
    // ... so until a retry succeeds this process does not read the old entry.
    let meanwhile = f.catalog.search("items", &request).await.unwrap();
    assert_eq!(meanwhile.cache, CacheStatus::Bypass);
    assert!(ids(&meanwhile.hits).contains(&PointId::Num(7)));
    // The retry (50 ms, then doubling) replaces the generation: cached again, and fresh.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        f.catalog.cache_stats().invalidations,
        3,
        "create, upsert, then the retry"
    );
    let fresh = f.catalog.search("items", &request).await.unwrap();
    assert_eq!(fresh.cache, CacheStatus::Miss);
    assert!(ids(&fresh.hits).contains(&PointId::Num(7)));
    assert_eq!(
        f.catalog.search("items", &request).await.unwrap().cache,
        CacheStatus::Hit
    );
}

#[tokio::test]
async fn an_unreadable_entry_is_a_miss_and_is_overwritten() {
    let f = fixture();
    seeded(&f.catalog).await;
    let request = SearchRequest::new(vec![1.0, 0.0]);
    let key = cached_key(&f, "items", &request).await;
    f.redis
        .set(&key, b"not json", SetOptions::default())
        .await
        .unwrap();
    assert_eq!(
        f.catalog.search("items", &request).await.unwrap().cache,
        CacheStatus::Miss
    );
    assert_eq!(
        f.catalog.search("items", &request).await.unwrap().cache,
        CacheStatus::Hit
    );
}

#[tokio::test]
async fn large_answers_are_not_cached() {
    let f = fixture();
    f.catalog
        .create_collection(collection("wide", 4096))
        .await
        .unwrap();
    let items: Vec<ItemInput> = (0..40u64)
        .map(|id| ItemInput {
            id: PointId::Num(id),
            vector: Some(vec![0.25; 4096]),
            vectors: None,
            payload: Payload::new(),
            sparse: std::collections::BTreeMap::new(),
        })
        .collect();
    f.catalog.upsert_items("wide", items).await.unwrap();
    let request = SearchRequest {
        limit: 40,
        with_vector: true,
        ..SearchRequest::new(vec![0.5; 4096])
    };
    for _ in 0..2 {
        let outcome = f.catalog.search("wide", &request).await.unwrap();
        assert_eq!(outcome.cache, CacheStatus::Miss);
        assert_eq!(outcome.hits.len(), 40);
    }
    assert_eq!(f.catalog.cache_stats().too_large, 2);
}

/// A catalog whose ports panic on any call: validation must refuse before reaching them.
fn untouchable() -> CatalogService {
    let base = BaseService::new("catalog-test")
        .with_redis(Arc::new(MockRedisPort::new()))
        .with_vector(Arc::new(MockVectorPort::new()));
    CatalogService::new(base, CacheConfig::default())
}

#[track_caller]
fn assert_invalid<T: std::fmt::Debug>(result: InfraResult<T>, mentions: &str) {
    let err = result.expect_err("the request must be refused");
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    assert_eq!(err.backend(), CATALOG_BACKEND);
    assert!(
        err.message().contains(mentions),
        "{:?} should mention {mentions:?}",
        err.message()
    );
}

#[tokio::test]
async fn invalid_collections_are_refused_before_any_port_call() {
    let catalog = untouchable();
    for (name, dimension, mentions) in [
        ("", 3, "collection name"),
        ("a/b", 3, "collection name"),
        ("..", 3, "collection name"),
        (&*"x".repeat(256), 3, "collection name"),
        ("ok", 0, "dimension 0"),
        ("ok", 65_537, "dimension 65537"),
    ] {
        assert_invalid(
            catalog.create_collection(collection(name, dimension)).await,
            mentions,
        );
    }
    assert_invalid(catalog.collection_info("a b").await, "collection name");
    assert_invalid(catalog.delete_collection("a:b").await, "collection name");

    let mut sparse = collection("ok", 3);
    sparse.sparse_vectors.insert(
        "x".repeat(MAX_SERVICE_VECTOR_NAME_LEN + 1),
        SparseParams::default(),
    );
    assert_invalid(
        catalog.create_collection(sparse).await,
        "sparse vector name",
    );
    for (hnsw, mentions) in [
        (HnswParams::new(MAX_HNSW_M + 1, 100), "hnsw m"),
        (HnswParams::new(16, 3), "ef_construct"),
        (
            HnswParams::new(16, MAX_HNSW_EF_CONSTRUCT + 1),
            "ef_construct",
        ),
    ] {
        let tuned = NewCollection {
            hnsw: Some(hnsw),
            ..collection("ok", 3)
        };
        assert_invalid(catalog.create_collection(tuned).await, mentions);
    }
}

#[tokio::test]
async fn invalid_pages_payload_merges_and_filter_deletions_are_refused_before_any_port_call() {
    let catalog = untouchable();
    for limit in [0, MAX_PAGE_SIZE + 1] {
        let request = PageRequest {
            filter: Filter::default(),
            limit,
            cursor: None,
            with_vector: false,
        };
        assert_invalid(catalog.list_items("items", &request).await, "limit");
    }
    assert_invalid(
        catalog
            .merge_item_payload("items", PointId::Num(1), Payload::new())
            .await,
        "empty payload",
    );
    assert_invalid(
        catalog
            .delete_items_matching("items", Filter::default())
            .await,
        "empty filter",
    );
    assert_invalid(
        catalog
            .delete_items_matching("bad name!", Filter::default())
            .await,
        "invalid collection name",
    );
}

#[tokio::test]
async fn invalid_batches_are_refused_before_any_port_call() {
    let catalog = untouchable();
    let too_many: Vec<ItemInput> = (0..=MAX_BATCH as u64)
        .map(|id| item(id, &[1.0], "x"))
        .collect();
    let cases: Vec<(&str, Vec<ItemInput>, &str)> = vec![
        ("items", vec![], "a batch of 0 items"),
        ("items", too_many, "a batch of 1001 items"),
        (
            "items",
            vec![item(1, &[1.0, 0.0], "a"), item(1, &[0.0, 1.0], "b")],
            "repeats the id 1",
        ),
        (
            "items",
            vec![item(1, &[1.0, 0.0], "a"), item(2, &[1.0], "b")],
            "the vector of item 1 has dimension 1, item 0 dimension 2",
        ),
        ("items", vec![item(1, &[], "a")], "0 components"),
        (
            "items",
            vec![item(1, &[f32::NAN], "a")],
            "not a finite number",
        ),
        (
            "items",
            vec![item(1, &[1.0, f32::INFINITY], "a")],
            "not a finite number",
        ),
        ("bad name", vec![item(1, &[1.0], "a")], "collection name"),
    ];
    for (name, items, mentions) in cases {
        assert_invalid(catalog.upsert_items(name, items).await, mentions);
    }
}

#[tokio::test]
async fn invalid_searches_are_refused_before_any_port_call() {
    let catalog = untouchable();
    let base = SearchRequest::new(vec![1.0, 0.0]);
    let cases = [
        (
            SearchRequest {
                limit: 0,
                ..base.clone()
            },
            "limit 0",
        ),
        (
            SearchRequest {
                limit: MAX_SEARCH_LIMIT + 1,
                ..base.clone()
            },
            "limit 1001",
        ),
        (
            SearchRequest {
                score_threshold: Some(f32::NAN),
                ..base.clone()
            },
            "score_threshold",
        ),
        (SearchRequest::new(vec![]), "0 components"),
        (SearchRequest::new(vec![f32::NEG_INFINITY]), "finite"),
    ];
    for (request, mentions) in cases {
        assert_invalid(catalog.search("items", &request).await, mentions);
    }
    assert_invalid(catalog.search("", &base).await, "collection name");
}

#[tokio::test]
async fn a_wrong_dimension_is_refused_by_the_store_and_nothing_is_written() {
    let f = fixture();
    seeded(&f.catalog).await;
    let err = f
        .catalog
        .upsert_items("items", vec![item(9, &[1.0, 0.0, 0.0], "red")])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.message().contains("dimension 3"), "{err}");
    assert_eq!(
        f.vectors.count("items", &Filter::default()).await.unwrap(),
        3
    );
    let err = f
        .catalog
        .search("items", &SearchRequest::new(vec![1.0]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    // The writes of `seeded`, and the refused one (a refusal invalidates too: harmless).
    assert_eq!(f.catalog.cache_stats().invalidations, 3);
}

#[tokio::test]
async fn unknown_collections_and_items_are_not_found() {
    let f = fixture();
    let request = SearchRequest::new(vec![1.0, 0.0]);
    for err in [
        f.catalog.search("nope", &request).await.unwrap_err(),
        f.catalog
            .upsert_items("nope", vec![item(1, &[1.0], "x")])
            .await
            .unwrap_err(),
        f.catalog
            .get_item("nope", PointId::Num(1), false)
            .await
            .unwrap_err(),
        f.catalog.collection_info("nope").await.unwrap_err(),
        f.catalog.delete_collection("nope").await.unwrap_err(),
        f.catalog
            .delete_item("nope", PointId::Num(1))
            .await
            .unwrap_err(),
    ] {
        assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    }
    seeded(&f.catalog).await;
    let err = f
        .catalog
        .get_item("items", PointId::Num(99), false)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(err.message(), "item 99 does not exist in collection items");
    // Deleting a missing item of an existing collection is idempotent.
    f.catalog
        .delete_item("items", PointId::Num(99))
        .await
        .unwrap();
}

#[tokio::test]
async fn items_round_trip_and_collections_are_idempotent_or_conflict() {
    let f = fixture();
    seeded(&f.catalog).await;
    let record = f
        .catalog
        .get_item("items", PointId::Num(2), true)
        .await
        .unwrap();
    assert_eq!(record.payload, payload(json!({ "color": "blue" })));
    assert_eq!(record.vector(), Some(&[0.0, 1.0][..]));
    assert!(
        f.catalog
            .get_item("items", PointId::Num(2), false)
            .await
            .unwrap()
            .vectors
            .is_none()
    );
    assert_eq!(
        f.catalog
            .create_collection(collection("items", 2))
            .await
            .unwrap(),
        EnsureOutcome::AlreadyExists
    );
    let err = f
        .catalog
        .create_collection(collection("items", 3))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    let info = f.catalog.collection_info("items").await.unwrap();
    assert_eq!((info.dimension, info.distance), (2, Distance::Cosine));
    f.catalog.delete_collection("items").await.unwrap();
    assert_eq!(
        f.catalog.collection_info("items").await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

#[tokio::test]
async fn missing_or_failing_vector_store_is_a_dependency_failure() {
    let catalog = CatalogService::new(
        BaseService::new("catalog-test").with_redis(Arc::new(MemoryRedis::new())),
        CacheConfig::default(),
    );
    let err = catalog
        .search("items", &SearchRequest::new(vec![1.0]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotConfigured);

    let f = fixture();
    seeded(&f.catalog).await;
    f.vectors.fail_with(Some(ErrorKind::Unavailable));
    let err = f
        .catalog
        .search("items", &SearchRequest::new(vec![0.3, 0.3]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert!(err.kind().is_dependency_failure());
}

/// A vector store whose writes are applied `land_after` after they are sent, whether or not
/// the caller still waits for them (a server that received the request); the caller gives
/// up after `give_up` with a `Timeout`. Reads are immediate.
struct LateWrites {
    inner: Arc<MemoryVector>,
    land_after: Duration,
    give_up: Duration,
    /// When each write was applied.
    landed: Arc<std::sync::Mutex<Vec<tokio::time::Instant>>>,
}

impl LateWrites {
    async fn late<T: Send + 'static>(
        &self,
        apply: impl Future<Output = InfraResult<T>> + Send + 'static,
    ) -> InfraResult<T> {
        let (delay, landed) = (self.land_after, Arc::clone(&self.landed));
        let task = tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let result = apply.await;
            landed.lock().unwrap().push(tokio::time::Instant::now());
            result
        });
        match tokio::time::timeout(self.give_up, task).await {
            Ok(joined) => joined.expect("the write task"),
            Err(_) => Err(InfraError::new(
                ErrorKind::Timeout,
                "qdrant",
                "upsert",
                "no answer in time",
            )),
        }
    }
}

#[async_trait]
impl VectorPort for LateWrites {
    async fn ping(&self) -> InfraResult<()> {
        self.inner.ping().await
    }
    async fn ensure_collection(
        &self,
        spec: &infra_base::CollectionSpec,
    ) -> InfraResult<EnsureOutcome> {
        self.inner.ensure_collection(spec).await
    }
    async fn collection_info(&self, name: &str) -> InfraResult<infra_base::CollectionInfo> {
        self.inner.collection_info(name).await
    }
    async fn delete_collection(&self, name: &str) -> InfraResult<bool> {
        self.inner.delete_collection(name).await
    }
    async fn upsert(&self, collection: &str, points: Vec<infra_base::Point>) -> InfraResult<()> {
        let (inner, collection) = (Arc::clone(&self.inner), collection.to_owned());
        self.late(async move { inner.upsert(&collection, points).await })
            .await
    }
    async fn get(
        &self,
        collection: &str,
        ids: &[PointId],
        with_vector: bool,
    ) -> InfraResult<Vec<infra_base::Record>> {
        self.inner.get(collection, ids, with_vector).await
    }
    async fn delete_points(
        &self,
        collection: &str,
        selector: &infra_base::PointSelector,
    ) -> InfraResult<()> {
        let (inner, collection, selector) = (
            Arc::clone(&self.inner),
            collection.to_owned(),
            selector.clone(),
        );
        self.late(async move { inner.delete_points(&collection, &selector).await })
            .await
    }
    async fn update_vectors(
        &self,
        collection: &str,
        points: &[infra_base::PointVectors],
    ) -> InfraResult<()> {
        let (inner, collection, points) = (
            Arc::clone(&self.inner),
            collection.to_owned(),
            points.to_vec(),
        );
        self.late(async move { inner.update_vectors(&collection, &points).await })
            .await
    }
    async fn search(
        &self,
        collection: &str,
        query: &infra_base::SearchQuery,
    ) -> InfraResult<Vec<ScoredPoint>> {
        self.inner.search(collection, query).await
    }
    async fn query(
        &self,
        collection: &str,
        request: &infra_base::QueryRequest,
    ) -> InfraResult<Vec<ScoredPoint>> {
        self.inner.query(collection, request).await
    }
    async fn count_points(
        &self,
        collection: &str,
        request: &infra_base::CountRequest,
    ) -> InfraResult<u64> {
        self.inner.count_points(collection, request).await
    }
    async fn facet(
        &self,
        collection: &str,
        request: &infra_base::FacetRequest,
    ) -> InfraResult<Vec<infra_base::FacetHit>> {
        self.inner.facet(collection, request).await
    }
    async fn scroll(
        &self,
        collection: &str,
        request: &infra_base::ScrollRequest,
    ) -> InfraResult<infra_base::ScrollPage> {
        self.inner.scroll(collection, request).await
    }
    async fn update_payload(
        &self,
        collection: &str,
        selector: &infra_base::PointSelector,
        update: &infra_base::PayloadUpdate,
    ) -> InfraResult<()> {
        let (inner, collection, selector, update) = (
            Arc::clone(&self.inner),
            collection.to_owned(),
            selector.clone(),
            update.clone(),
        );
        self.late(async move { inner.update_payload(&collection, &selector, &update).await })
            .await
    }
    async fn list_collections(&self) -> InfraResult<Vec<String>> {
        self.inner.list_collections().await
    }

    async fn update_aliases(&self, changes: &[infra_base::vector::AliasChange]) -> InfraResult<()> {
        self.inner.update_aliases(changes).await
    }

    async fn list_aliases(&self) -> InfraResult<Vec<infra_base::vector::Alias>> {
        self.inner.list_aliases().await
    }
}

/// One search a reader made: when it started, what it saw, how the cache took part.
#[derive(Debug)]
struct Seen {
    started: tokio::time::Instant,
    ids: Vec<PointId>,
    cache: CacheStatus,
}

/// A catalog over [`LateWrites`] (writes land after 1 s, callers give up after 300 ms)
/// with items 1 and 2, and a 3 s uncertainty window.
async fn late_catalog() -> (Arc<CatalogService>, Arc<LateWrites>) {
    let vectors = Arc::new(MemoryVector::new());
    vectors
        .ensure_collection(&infra_base::CollectionSpec::new(
            "items",
            2,
            Distance::Cosine,
        ))
        .await
        .unwrap();
    vectors
        .upsert(
            "items",
            vec![
                infra_base::Point::new(PointId::Num(1), vec![1.0, 0.0]),
                infra_base::Point::new(PointId::Num(2), vec![0.0, 1.0]),
            ],
        )
        .await
        .unwrap();
    let late = Arc::new(LateWrites {
        inner: Arc::clone(&vectors),
        land_after: Duration::from_secs(1),
        give_up: Duration::from_millis(300),
        landed: Arc::default(),
    });
    let base = BaseService::new("catalog-test")
        .with_redis(Arc::new(MemoryRedis::new()))
        .with_vector(late.clone());
    let config = CacheConfig {
        ttl_jitter: 0.0,
        early_refresh: false,
        uncertain_write_window: Duration::from_secs(3),
        ..CacheConfig::default()
    };
    let catalog = Arc::new(CatalogService::new(base, config));

    (catalog, late)
}

/// Four readers searching `items` every 30 ms until `stop`, recording what they saw.
fn spawn_readers(
    catalog: &Arc<CatalogService>,
    stop: &Arc<std::sync::atomic::AtomicBool>,
) -> tokio::task::JoinSet<Vec<Seen>> {
    let mut readers = tokio::task::JoinSet::new();
    for reader in 0..4_u64 {
        let (catalog, stop) = (Arc::clone(catalog), Arc::clone(stop));
        readers.spawn(async move {
            let mut seen = Vec::new();
            tokio::time::sleep(Duration::from_millis(7 * reader)).await;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let started = tokio::time::Instant::now();
                let outcome = catalog
                    .search("items", &SearchRequest::new(vec![1.0, 0.0]))
                    .await
                    .unwrap();
                seen.push(Seen {
                    started,
                    ids: ids(&outcome.hits),
                    cache: outcome.cache,
                });
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
            seen
        });
    }
    readers
}

/// Issue 14: writes that time out or are cancelled mid-flight, and land later, while
/// readers search; no search that starts after a write became visible misses it.
#[tokio::test(start_paused = true)]
async fn no_stale_answer_after_a_write_that_timed_out_or_was_cancelled_lands() {
    let (catalog, late) = late_catalog().await;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut readers = spawn_readers(&catalog, &stop);

    // The readers fill the cache.
    tokio::time::sleep(Duration::from_millis(200)).await;
    // A write that times out (and lands 700 ms later).
    let err = catalog
        .upsert_items("items", vec![item(99, &[1.0, 0.01], "new")])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    tokio::time::sleep(Duration::from_secs(4)).await;
    // A write whose caller goes away mid-flight (a client disconnecting), landing later.
    let cancelled = tokio::time::timeout(
        Duration::from_millis(100),
        catalog.delete_item("items", PointId::Num(2)),
    )
    .await;
    assert!(cancelled.is_err(), "the delete was cancelled mid-flight");
    tokio::time::sleep(Duration::from_secs(5)).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);

    let landed = late.landed.lock().unwrap().clone();
    assert_eq!(landed.len(), 2, "both writes landed");
    let (upsert_landed, delete_landed) = (landed[0], landed[1]);
    let mut seen = Vec::new();
    while let Some(reader) = readers.join_next().await {
        seen.extend(reader.unwrap());
    }
    let mut after = [0, 0];
    for search in &seen {
        if search.started > upsert_landed {
            after[0] += 1;
            assert!(
                search.ids.contains(&PointId::Num(99)),
                "a search {:?} after the upsert landed missed it ({}): {:?}",
                search.started - upsert_landed,
                search.cache,
                search.ids
            );
        }
        if search.started > delete_landed {
            after[1] += 1;
            assert!(
                !search.ids.contains(&PointId::Num(2)),
                "a search {:?} after the delete landed still saw the item ({})",
                search.started - delete_landed,
                search.cache
            );
        }
    }
    // The test means something: searches ran after each landing, and the cache served
    // hits before the first write and again after the windows.
    assert!(after[0] > 50 && after[1] > 50, "{after:?}");
    let hits_before = seen
        .iter()
        .filter(|s| s.started < upsert_landed && s.cache == CacheStatus::Hit)
        .count();
    let hits_at_the_end = seen
        .iter()
        .filter(|s| {
            s.started > delete_landed + Duration::from_secs(3) && s.cache == CacheStatus::Hit
        })
        .count();
    assert!(
        hits_before > 0 && hits_at_the_end > 0,
        "{hits_before} {hits_at_the_end}"
    );
    assert!(
        seen.iter().any(|s| s.cache == CacheStatus::Bypass),
        "the windows bypassed"
    );
}

fn named_item(id: u64, vectors: &[(&str, &[f32])]) -> ItemInput {
    ItemInput {
        id: PointId::Num(id),
        vector: None,
        vectors: Some(
            vectors
                .iter()
                .map(|(name, v)| ((*name).to_owned(), v.to_vec()))
                .collect(),
        ),
        payload: Payload::new(),
        sparse: std::collections::BTreeMap::new(),
    }
}

#[tokio::test]
async fn a_collection_of_named_vectors_is_written_read_and_searched_by_name() {
    let f = fixture();
    let request = NewCollection::named("media")
        .with_vector("text", NamedVectorParams::new(2, Distance::Cosine))
        .with_vector("image", NamedVectorParams::new(3, Distance::Euclid));
    let outcome = f.catalog.create_collection(request.clone()).await.unwrap();
    assert_eq!(outcome, EnsureOutcome::Created);
    let info = f.catalog.collection_info("media").await.unwrap();
    assert_eq!(info.vectors.dense.len(), 2);
    assert_eq!(info.vectors.dense["image"].dimension, 3);
    assert_eq!(info.vectors.dense["image"].distance, Distance::Euclid);
    assert!(info.vectors.unnamed().is_none());
    // The same declaration again is accepted; another dimension for a name is a conflict.
    let again = f.catalog.create_collection(request).await.unwrap();
    assert_eq!(again, EnsureOutcome::AlreadyExists);
    let other = NewCollection::named("media")
        .with_vector("text", NamedVectorParams::new(4, Distance::Cosine));
    let err = f.catalog.create_collection(other).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");

    let items = vec![
        named_item(1, &[("text", &[1.0, 0.0]), ("image", &[0.0, 0.0, 9.0])]),
        named_item(2, &[("text", &[0.0, 1.0]), ("image", &[0.0, 0.0, 1.0])]),
        // Only one of the two: the other stays empty.
        named_item(3, &[("text", &[0.9, 0.1])]),
    ];
    assert_eq!(f.catalog.upsert_items("media", items).await.unwrap(), 3);

    let record = f
        .catalog
        .get_item("media", PointId::Num(1), true)
        .await
        .unwrap();
    let vectors = record.vectors.expect("asked with vectors");
    assert_eq!(
        vectors.get("image").and_then(infra_base::Vector::as_dense),
        Some(&[0.0, 0.0, 9.0][..])
    );
    assert!(vectors.unnamed_dense().is_none());

    // Each name ranks by its own vectors: item 1 is nearest by text, item 2 by image.
    let by_text = SearchRequest {
        using: Some("text".to_owned()),
        ..SearchRequest::new(vec![1.0, 0.0])
    };
    let hits = f.catalog.search("media", &by_text).await.unwrap().hits;
    let ids: Vec<PointId> = hits.iter().map(|h| h.id).collect();
    assert_eq!(ids, [PointId::Num(1), PointId::Num(3), PointId::Num(2)]);
    let by_image = SearchRequest {
        using: Some("image".to_owned()),
        ..SearchRequest::new(vec![0.0, 0.0, 0.0])
    };
    let hits = f.catalog.search("media", &by_image).await.unwrap().hits;
    let ids: Vec<PointId> = hits.iter().map(|h| h.id).collect();
    assert_eq!(
        ids,
        [PointId::Num(2), PointId::Num(1)],
        "item 3 has no image vector"
    );

    // A search by a name the collection lacks, or by the unnamed vector, is refused by the
    // store with the vectors it has.
    let unnamed = f
        .catalog
        .search("media", &SearchRequest::new(vec![1.0, 0.0]))
        .await;
    let err = unnamed.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    // An item whose vector has another dimension than its name declares is refused.
    let wrong = named_item(4, &[("image", &[1.0, 0.0])]);
    let err = f
        .catalog
        .upsert_items("media", vec![wrong])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
}

#[tokio::test]
async fn a_collection_of_sparse_vectors_only_takes_items_with_sparse_vectors_only() {
    let f = fixture();
    let mut request = NewCollection::named("words");
    request
        .sparse_vectors
        .insert("bm25".to_owned(), SparseParams::default().idf());
    f.catalog.create_collection(request).await.unwrap();
    let mut item = named_item(1, &[]);
    item.vectors = None;
    item.sparse.insert(
        "bm25".to_owned(),
        SparseVector::new(vec![3, 7], vec![1.0, 2.0]),
    );
    assert_eq!(
        f.catalog.upsert_items("words", vec![item]).await.unwrap(),
        1
    );
    let record = f
        .catalog
        .get_item("words", PointId::Num(1), true)
        .await
        .unwrap();
    let stored = record.vectors.expect("asked with vectors");
    assert!(
        stored
            .get("bm25")
            .and_then(infra_base::Vector::as_sparse)
            .is_some()
    );
}

#[tokio::test]
async fn collections_and_items_with_vectors_in_no_form_or_both_are_refused_before_any_port_call() {
    let catalog = untouchable();
    let text = NamedVectorParams::new(2, Distance::Cosine);
    let half = NewCollection {
        distance: None,
        ..collection("ok", 3)
    };
    let both = collection("ok", 3).with_vector("text", text);
    let empty = NewCollection {
        vectors: Some(std::collections::BTreeMap::new()),
        ..NewCollection::named("ok")
    };
    let bad_name = NewCollection::named("ok").with_vector("a b", text);
    let mut tuned = text;
    tuned.hnsw = Some(HnswParams::new(MAX_HNSW_M + 1, 100));
    let bad_hnsw = NewCollection::named("ok").with_vector("text", tuned);
    for (request, mentions) in [
        (half, "expected both or neither"),
        (both, "exclude each other"),
        (empty, "declares no named vector"),
        (bad_name, "vector name \"a b\""),
        (bad_hnsw, "hnsw m of vector \"text\""),
    ] {
        assert_invalid(catalog.create_collection(request).await, mentions);
    }

    let mut both = item(1, &[1.0], "a");
    both.vectors = named_item(1, &[("text", &[1.0])]).vectors;
    let mut none = item(1, &[1.0], "a");
    none.vector = None;
    let empty = named_item(1, &[]);
    let cases = [
        (vec![both], "item 0 has both vector and vectors"),
        (vec![none], "item 0 has no vector"),
        (vec![empty], "item 0 has no vector"),
        (
            vec![
                named_item(1, &[("text", &[1.0, 0.0])]),
                named_item(2, &[("text", &[1.0])]),
            ],
            "vector \"text\" of item 1 has dimension 1, item 0 dimension 2",
        ),
        (vec![named_item(1, &[("", &[1.0])])], "vector name \"\""),
        (
            vec![named_item(1, &[("text", &[f32::NAN])])],
            "not a finite number",
        ),
    ];
    for (items, mentions) in cases {
        assert_invalid(catalog.upsert_items("items", items).await, mentions);
    }

    let bad_using = SearchRequest {
        using: Some("no/slash".to_owned()),
        ..SearchRequest::new(vec![1.0])
    };
    assert_invalid(catalog.search("items", &bad_using).await, "vector name");
}

/// A query by a point that does not exist is a body the route cannot process (422), not a
/// missing route resource: only a missing collection is NotFound (404).
#[tokio::test]
async fn a_query_naming_a_missing_point_is_invalid_input_and_a_missing_collection_not_found() {
    use infra_base::{QueryRequest, VectorInput};

    let f = fixture();
    seeded(&f.catalog).await;
    let like_missing = QueryRequest::nearest(VectorInput::Point(PointId::Num(648)), 1);
    let err = f.catalog.query("items", &like_missing).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    assert!(err.message().contains("648"), "{}", err.message());
    assert!(
        err.message().contains("collection items itself exists"),
        "{}",
        err.message()
    );
    let err = f.catalog.query("nowhere", &like_missing).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    let by_vector = QueryRequest::nearest(vec![1.0, 0.0], 1);
    let err = f.catalog.query("nowhere", &by_vector).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
}
