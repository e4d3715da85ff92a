//! Tests of `related`, as a user writes them in their own crate: mocks to pin down the
//! calls, in-memory fakes to test behaviour end to end. No server is needed.

use std::sync::Arc;

use infra_base::testing::{MemoryRedis, MemoryVector};
use infra_base::{
    BaseService, CollectionSpec, Condition, Distance, ErrorKind, Filter, InfraError, MockRedisPort,
    MockVectorPort, Payload, Point, PointId, ScoredPoint, VectorPort,
};
use serde_json::json;
use testing_with_mocks::{Article, CACHE_TTL, COLLECTION, Related, Source, cache_key, related};

fn article() -> Article {
    Article {
        id: 7,
        topic: "rust".to_owned(),
        vector: vec![1.0, 0.0, 0.0],
    }
}

fn hit(id: u64, score: f32) -> ScoredPoint {
    ScoredPoint {
        id: PointId::Num(id),
        score,
        payload: None,
        vectors: None,
    }
}

fn unavailable(operation: &'static str) -> InfraError {
    InfraError::new(
        ErrorKind::Unavailable,
        "redis",
        operation,
        "connection refused",
    )
}

// ---------------------------------------------------------------------------------------
// Mocks: which calls happen, with which arguments.

#[tokio::test]
async fn a_miss_searches_the_topic_and_caches_the_answer_with_the_ttl() {
    let key = cache_key(&article());
    let mut redis = MockRedisPort::new();
    let expected_key = key.clone();
    redis
        .expect_get()
        .withf(move |k| k == expected_key)
        .times(1)
        .returning(|_| Ok(None));
    redis
        .expect_set()
        .withf(move |k, value, options| {
            let stored: Related = serde_json::from_slice(value).expect("JSON is stored");
            k == key && stored.ids == [3, 9] && options.ttl == Some(CACHE_TTL)
        })
        .times(1)
        .returning(|_, _, _| Ok(true));
    let mut vectors = MockVectorPort::new();
    vectors
        .expect_search()
        .withf(|collection, query| {
            collection == COLLECTION
                && query.limit == 3
                && query.filter == Filter::default().must(Condition::keyword("topic", "rust"))
        })
        .times(1)
        // The article finds itself first; it is left out of the answer.
        .returning(|_, _| Ok(vec![hit(7, 1.0), hit(3, 0.9), hit(9, 0.8)]));
    let service = BaseService::new("test")
        .with_redis(Arc::new(redis))
        .with_vector(Arc::new(vectors));

    let (answer, source) = related(&service, &article(), 2).await.unwrap();

    assert_eq!(source, Source::Computed);
    assert_eq!(answer.ids, [3, 9]);
}

#[tokio::test]
async fn a_hit_answers_from_the_cache_without_searching() {
    let cached = Related {
        article: 7,
        ids: vec![4, 2],
    };
    let bytes = serde_json::to_vec(&cached).unwrap();
    let mut redis = MockRedisPort::new();
    redis
        .expect_get()
        .times(1)
        .returning(move |_| Ok(Some(bytes.clone())));
    redis.expect_set().never();
    let mut vectors = MockVectorPort::new();
    vectors.expect_search().never();
    let service = BaseService::new("test")
        .with_redis(Arc::new(redis))
        .with_vector(Arc::new(vectors));

    let (answer, source) = related(&service, &article(), 2).await.unwrap();

    assert_eq!(source, Source::Cache);
    assert_eq!(answer, cached);
}

#[tokio::test]
async fn redis_down_is_a_bypass_not_a_failure() {
    let mut redis = MockRedisPort::new();
    redis
        .expect_get()
        .times(1)
        .returning(|_| Err(unavailable("get")));
    redis.expect_set().never();
    let mut vectors = MockVectorPort::new();
    vectors
        .expect_search()
        .times(1)
        .returning(|_, _| Ok(vec![hit(5, 0.7)]));
    let service = BaseService::new("test")
        .with_redis(Arc::new(redis))
        .with_vector(Arc::new(vectors));

    let (answer, source) = related(&service, &article(), 2).await.unwrap();

    assert_eq!(source, Source::Bypass(Some(ErrorKind::Unavailable)));
    assert_eq!(answer.ids, [5]);
}

#[tokio::test]
async fn vector_errors_reach_the_caller_unchanged() {
    let mut vectors = MockVectorPort::new();
    vectors.expect_search().times(1).returning(|_, _| {
        Err(InfraError::new(
            ErrorKind::InvalidInput,
            "qdrant",
            "search",
            "vector has dimension 3, the collection expects 4",
        ))
    });
    // No Redis port at all: the answer is never cached.
    let service = BaseService::new("test").with_vector(Arc::new(vectors));

    let err = related(&service, &article(), 2).await.unwrap_err();

    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert_eq!(err.operation(), "search");
}

#[tokio::test]
async fn without_a_vector_port_the_call_is_not_configured() {
    let err = related(&BaseService::new("test"), &article(), 2)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotConfigured);
}

// ---------------------------------------------------------------------------------------
// In-memory fakes: the ports' real contracts, no server.

/// Six articles on two axes: ids 1..=3 about rust, 4..=6 about redis.
async fn fake_vectors() -> Arc<MemoryVector> {
    let vectors = Arc::new(MemoryVector::new());
    vectors
        .ensure_collection(&CollectionSpec::new(COLLECTION, 3, Distance::Cosine))
        .await
        .unwrap();
    let points = (1..=6u64)
        .map(|id| {
            let (topic, axis) = if id <= 3 { ("rust", 0) } else { ("redis", 1) };
            let mut vector = vec![0.1 * id as f32; 3];
            vector[axis] = 1.0;
            let mut payload = Payload::new();
            payload.insert("topic".to_owned(), json!(topic));
            Point::new(id, vector).with_payload(payload)
        })
        .collect();
    vectors.upsert(COLLECTION, points).await.unwrap();
    vectors
}

#[tokio::test]
async fn with_fakes_the_second_call_is_cached_and_the_key_expires() {
    let redis = Arc::new(MemoryRedis::new());
    let service = BaseService::new("test")
        .with_redis(redis.clone())
        .with_vector(fake_vectors().await);
    let article = Article {
        id: 1,
        topic: "rust".to_owned(),
        vector: vec![1.0, 0.1, 0.1],
    };

    let (first, source) = related(&service, &article, 5).await.unwrap();
    assert_eq!(source, Source::Computed);
    // Only the other rust articles, never article 1 itself nor a redis one.
    let mut ids = first.ids.clone();
    ids.sort_unstable();
    assert_eq!(ids, [2, 3]);

    let (second, source) = related(&service, &article, 5).await.unwrap();
    assert_eq!(source, Source::Cache);
    assert_eq!(second, first);

    let ttl = redis.ttl(&cache_key(&article)).expect("the answer expires");
    assert!(!ttl.is_zero() && ttl <= CACHE_TTL, "ttl {ttl:?}");
}

#[tokio::test]
async fn with_fakes_a_failing_redis_is_bypassed_and_a_healed_one_used_again() {
    let redis = Arc::new(MemoryRedis::new());
    let service = BaseService::new("test")
        .with_redis(redis.clone())
        .with_vector(fake_vectors().await);
    let article = Article {
        id: 4,
        topic: "redis".to_owned(),
        vector: vec![0.1, 1.0, 0.1],
    };

    redis.fail_with(Some(ErrorKind::Timeout));
    let (answer, source) = related(&service, &article, 5).await.unwrap();
    assert_eq!(source, Source::Bypass(Some(ErrorKind::Timeout)));
    assert_eq!(answer.ids.len(), 2);

    redis.fail_with(None);
    let (_, source) = related(&service, &article, 5).await.unwrap();
    assert_eq!(source, Source::Computed);
    let (_, source) = related(&service, &article, 5).await.unwrap();
    assert_eq!(source, Source::Cache);
}

#[tokio::test]
async fn a_cached_value_of_an_older_shape_is_replaced() {
    let redis = Arc::new(MemoryRedis::new());
    let service = BaseService::new("test")
        .with_redis(redis.clone())
        .with_vector(fake_vectors().await);
    let article = Article {
        id: 2,
        topic: "rust".to_owned(),
        vector: vec![1.0, 0.2, 0.2],
    };
    let key = cache_key(&article);
    infra_base::RedisPort::set(&*redis, &key, b"[1,2,3]", Default::default())
        .await
        .unwrap();

    let (answer, source) = related(&service, &article, 5).await.unwrap();

    assert_eq!(source, Source::Computed);
    assert!(!answer.ids.contains(&2));
    let (_, source) = related(&service, &article, 5).await.unwrap();
    assert_eq!(source, Source::Cache);
}
