//! Tier 1: the catalog on in-memory ports and mocks.

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
        vector: vector.to_vec(),
        payload: payload(json!({ "color": color })),
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
    NewCollection {
        name: name.to_owned(),
        dimension,
        distance: Distance::Cosine,
    }
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
    let cache = &f.catalog.cache;
    let generation = f
        .redis
        .get(&cache.generation_key(collection))
        .await
        .unwrap()
        .map_or(0, |v| String::from_utf8(v).unwrap().parse().unwrap());
    cache.search_key(collection, generation, &request.to_query())
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

    let counters = f.catalog.cache_counters();
    assert_eq!((counters.hits, counters.misses), (2, 3), "{counters:?}");
    assert_eq!(counters.bypasses, 0);
    assert_eq!(counters.errors, 0);
    // create (new collection) + 2 upserts + 1 delete.
    assert_eq!(counters.invalidations, 4);
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
        vector: None,
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
    redis
        .expect_incr_by()
        .returning(|_, _, _| Err(unavailable("incr_by")));
    // No `set` expectation: a bypassed search must not try to store its answer.
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
    let counters = catalog.cache_counters();
    assert_eq!(counters.bypasses, 3, "{counters:?}");
    assert_eq!(counters.hits + counters.misses, 0);
    assert_eq!(counters.invalidation_failures, 2, "create + upsert");
    assert_eq!(counters.errors, 5, "3 reads + 2 invalidations");
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
    assert_eq!(
        catalog.cache_counters().errors,
        0,
        "absent is not a failure"
    );
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
    let catalog = CatalogService::new(base, config);
    let started = tokio::time::Instant::now();
    seeded(&catalog).await; // two invalidations time out
    assert_eq!(started.elapsed(), Duration::from_millis(400));

    let started = tokio::time::Instant::now();
    let outcome = catalog
        .search("items", &SearchRequest::new(vec![1.0, 0.0]))
        .await
        .unwrap();
    assert_eq!(outcome.cache, CacheStatus::Bypass);
    assert_eq!(started.elapsed(), Duration::from_millis(200));
}

#[tokio::test]
async fn the_cache_recovers_when_redis_does() {
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
    // A write while Redis is down cannot invalidate...
    f.catalog
        .upsert_items("items", vec![item(7, &[1.0, 0.0], "red")])
        .await
        .unwrap();
    assert_eq!(f.catalog.cache_counters().invalidation_failures, 1);
    f.redis.fail_with(None);
    // ... so the old entry is served until its TTL: the documented bound.
    let stale = f.catalog.search("items", &request).await.unwrap();
    assert_eq!(stale.cache, CacheStatus::Hit);
    // The next write invalidates again.
    f.catalog
        .upsert_items("items", vec![item(8, &[0.0, 1.0], "red")])
        .await
        .unwrap();
    let fresh = f.catalog.search("items", &request).await.unwrap();
    assert_eq!(fresh.cache, CacheStatus::Miss);
    assert!(ids(&fresh.hits).contains(&PointId::Num(7)));
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
            vector: vec![0.25; 4096],
            payload: Payload::new(),
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
    assert_eq!(f.catalog.cache_counters().too_large, 2);
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
            "item 1 has a vector of dimension 1",
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
    // Only the successful writes of `seeded` bumped the generation.
    assert_eq!(f.catalog.cache_counters().invalidations, 2);
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
    assert_eq!(record.vector.as_deref(), Some(&[0.0, 1.0][..]));
    assert!(
        f.catalog
            .get_item("items", PointId::Num(2), false)
            .await
            .unwrap()
            .vector
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
