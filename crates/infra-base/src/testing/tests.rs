//! The suites can fail: deliberately broken ports make the cases panic, and the runners
//! report it. (That the suites pass on the in-memory ports is checked by
//! `tests/conformance_memory.rs`.)

use std::collections::HashSet;
use std::time::Duration;

use async_trait::async_trait;

use super::*;
use crate::redis::{Command, Pipeline, Reply, SetOptions};
use crate::resilience::Idempotency;
use crate::vector::{
    CollectionInfo, CollectionSpec, EnsureOutcome, PayloadUpdate, Point, PointId, PointSelector,
    Record, ScoredPoint, ScrollPage, ScrollRequest, SearchQuery,
};

/// A Redis port whose `get` forgets everything, and whose `ping` can hang.
#[derive(Default)]
struct Forgetful {
    inner: MemoryRedis,
    hang: bool,
}

#[async_trait]
impl RedisPort for Forgetful {
    async fn ping(&self) -> InfraResult<()> {
        if self.hang {
            std::future::pending::<()>().await;
        }
        self.inner.ping().await
    }
    async fn get(&self, _key: &str) -> InfraResult<Option<Vec<u8>>> {
        Ok(None)
    }
    async fn set(&self, key: &str, value: &[u8], options: SetOptions) -> InfraResult<bool> {
        self.inner.set(key, value, options).await
    }
    async fn del(&self, keys: &[String]) -> InfraResult<u64> {
        self.inner.del(keys).await
    }
    async fn exists(&self, key: &str) -> InfraResult<bool> {
        self.inner.exists(key).await
    }
    async fn expire(&self, key: &str, ttl: Duration) -> InfraResult<bool> {
        self.inner.expire(key, ttl).await
    }
    async fn incr_by(&self, key: &str, delta: i64, ttl: Option<Duration>) -> InfraResult<i64> {
        self.inner.incr_by(key, delta, ttl).await
    }
    async fn mget(&self, keys: &[String]) -> InfraResult<Vec<Option<Vec<u8>>>> {
        self.inner.mget(keys).await
    }
    async fn publish(&self, channel: &str, message: &[u8]) -> InfraResult<u64> {
        self.inner.publish(channel, message).await
    }
    async fn command(&self, command: &Command, idempotency: Idempotency) -> InfraResult<Reply> {
        self.inner.command(command, idempotency).await
    }
    async fn pipeline(&self, pipeline: &Pipeline) -> InfraResult<Vec<Reply>> {
        self.inner.pipeline(pipeline).await
    }
}

/// A vector port that reuses drifted collections and returns search results worst first.
#[derive(Default)]
struct Careless {
    inner: MemoryVector,
}

#[async_trait]
impl VectorPort for Careless {
    async fn ping(&self) -> InfraResult<()> {
        self.inner.ping().await
    }
    async fn ensure_collection(&self, spec: &CollectionSpec) -> InfraResult<EnsureOutcome> {
        match self.inner.ensure_collection(spec).await {
            Err(err) if err.kind() == ErrorKind::Conflict => Ok(EnsureOutcome::AlreadyExists),
            other => other,
        }
    }
    async fn collection_info(&self, name: &str) -> InfraResult<CollectionInfo> {
        self.inner.collection_info(name).await
    }
    async fn delete_collection(&self, name: &str) -> InfraResult<bool> {
        self.inner.delete_collection(name).await
    }
    async fn upsert(&self, collection: &str, points: Vec<Point>) -> InfraResult<()> {
        self.inner.upsert(collection, points).await
    }
    async fn get(
        &self,
        collection: &str,
        ids: &[PointId],
        with_vector: bool,
    ) -> InfraResult<Vec<Record>> {
        self.inner.get(collection, ids, with_vector).await
    }
    async fn delete_points(&self, collection: &str, selector: &PointSelector) -> InfraResult<()> {
        self.inner.delete_points(collection, selector).await
    }
    async fn update_vectors(
        &self,
        collection: &str,
        points: &[crate::vector::PointVectors],
    ) -> InfraResult<()> {
        self.inner.update_vectors(collection, points).await
    }
    async fn search(&self, collection: &str, query: &SearchQuery) -> InfraResult<Vec<ScoredPoint>> {
        let mut hits = self.inner.search(collection, query).await?;
        hits.reverse();
        Ok(hits)
    }
    async fn query(
        &self,
        collection: &str,
        request: &crate::vector::QueryRequest,
    ) -> InfraResult<Vec<ScoredPoint>> {
        let mut hits = self.inner.query(collection, request).await?;
        hits.reverse();
        Ok(hits)
    }
    async fn count_points(
        &self,
        collection: &str,
        request: &crate::vector::CountRequest,
    ) -> InfraResult<u64> {
        self.inner.count_points(collection, request).await
    }
    async fn facet(
        &self,
        collection: &str,
        request: &crate::vector::FacetRequest,
    ) -> InfraResult<Vec<crate::vector::FacetHit>> {
        self.inner.facet(collection, request).await
    }
    async fn scroll(&self, collection: &str, request: &ScrollRequest) -> InfraResult<ScrollPage> {
        self.inner.scroll(collection, request).await
    }
    async fn update_payload(
        &self,
        collection: &str,
        selector: &PointSelector,
        update: &PayloadUpdate,
    ) -> InfraResult<()> {
        self.inner
            .update_payload(collection, selector, update)
            .await
    }
    async fn list_collections(&self) -> InfraResult<Vec<String>> {
        self.inner.list_collections().await
    }

    async fn update_aliases(&self, changes: &[crate::vector::AliasChange]) -> InfraResult<()> {
        self.inner.update_aliases(changes).await
    }

    async fn list_aliases(&self) -> InfraResult<Vec<crate::vector::Alias>> {
        self.inner.list_aliases().await
    }
}

fn only<P: ?Sized>(cases: Vec<ConformanceCase<P>>, name: &str) -> Vec<ConformanceCase<P>> {
    let selected: Vec<_> = cases.into_iter().filter(|c| c.name == name).collect();
    assert_eq!(selected.len(), 1, "no case named {name}");
    selected
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_that_forgets_fails_set_then_get_and_its_keys_are_cleaned_up() {
    let forgetful = Arc::new(Forgetful::default());
    let prefix = unique_prefix();
    let port: Arc<dyn RedisPort> = forgetful.clone();
    let case_prefix = prefix.clone();
    let joined =
        tokio::spawn(async move { redis_suite::set_then_get(port, &case_prefix).await }).await;
    let err = joined.expect_err("set_then_get must fail on a port whose get forgets");
    assert!(err.is_panic());
    let message = panic_message(err.into_panic().as_ref());
    assert!(
        message.contains("expected \"hello\", read no value"),
        "{message}"
    );
    let key = format!("{{{prefix}}}:plain");
    assert!(
        !forgetful.inner.exists(&key).await.unwrap(),
        "a failing case must still delete its keys"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_cases_reports_failures_by_name_and_passes_the_rest() {
    let port: Arc<dyn RedisPort> = Arc::new(Forgetful::default());
    let cases: Vec<_> = redis_cases()
        .into_iter()
        .filter(|c| ["ping", "set_then_get", "empty_key_lists"].contains(&c.name))
        .collect();
    let outcomes = run_cases(&cases, &port, Duration::from_secs(30)).await;
    let summary: Vec<(&str, bool)> = outcomes.iter().map(|o| (o.name, o.passed())).collect();
    assert_eq!(
        summary,
        [
            ("ping", true),
            ("set_then_get", false),
            ("empty_key_lists", true)
        ]
    );
    let failure = outcomes[1].failure.as_deref().unwrap();
    assert!(failure.starts_with("get \"{conf"), "{failure}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_cases_stops_a_hung_case_at_the_timeout() {
    let port: Arc<dyn RedisPort> = Arc::new(Forgetful {
        hang: true,
        ..Forgetful::default()
    });
    let outcomes = run_cases(
        &only(redis_cases(), "ping"),
        &port,
        Duration::from_millis(50),
    )
    .await;
    let failure = outcomes[0].failure.as_deref().unwrap();
    assert!(failure.contains("did not finish within 50ms"), "{failure}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_careless_vector_port_fails_drift_and_ordering_cases() {
    let careless = Arc::new(Careless::default());
    let port: Arc<dyn VectorPort> = careless.clone();
    let cases: Vec<_> = vector_cases()
        .into_iter()
        .filter(|c| {
            [
                "ensure_collection_conflicts_on_dimension_drift",
                "ensure_collection_conflicts_on_distance_drift",
                "search_orders_by_euclid",
                "upsert_then_get",
            ]
            .contains(&c.name)
        })
        .collect();
    let outcomes = run_cases(&cases, &port, Duration::from_secs(30)).await;
    let failures: Vec<(&str, &str)> = outcomes
        .iter()
        .filter_map(|o| o.failure.as_deref().map(|f| (o.name, f)))
        .collect();
    assert_eq!(failures.len(), 3, "{failures:?}");
    assert!(
        failures[0].1.contains("expected a conflict"),
        "{failures:?}"
    );
    assert!(failures[2].1.contains("ids best first"), "{failures:?}");

    // A failing case still deletes its collections.
    let prefix = unique_prefix();
    let case_prefix = prefix.clone();
    let port: Arc<dyn VectorPort> = careless.clone();
    let joined = tokio::spawn(async move {
        vector_suite::ensure_collection_conflicts_on_distance_drift(port, &case_prefix).await;
    })
    .await;
    assert!(joined.unwrap_err().is_panic());
    let info = careless
        .inner
        .collection_info(&format!("{prefix}_drift"))
        .await;
    assert_eq!(info.unwrap_err().kind(), ErrorKind::NotFound);
}

#[test]
fn block_on_case_propagates_a_failing_case() {
    let result = std::panic::catch_unwind(|| {
        block_on_case(async {
            let port: Arc<dyn RedisPort> = Arc::new(Forgetful::default());
            redis_suite::set_then_get(port, &unique_prefix()).await;
        });
    });
    assert!(result.is_err());
}

#[test]
#[should_panic(expected = "must be non-empty ASCII letters")]
fn prefixes_with_braces_are_refused() {
    block_on_case(async {
        redis_suite::ping(Arc::new(MemoryRedis::new()), "{tagged}").await;
    });
}

#[test]
fn case_tables_have_unique_names_in_suite_order() {
    let redis: Vec<_> = redis_cases().iter().map(|c| c.name).collect();
    let vector: Vec<_> = vector_cases().iter().map(|c| c.name).collect();
    for names in [&redis, &vector] {
        assert_eq!(names.iter().collect::<HashSet<_>>().len(), names.len());
        assert_eq!(names[0], "ping");
    }
    assert!(redis.len() >= 20 && vector.len() >= 25);
    assert!(format!("{:?}", redis_cases()[0]).contains("ping"));
}

#[test]
fn prefixes_are_unique_and_valid_everywhere() {
    let a = unique_prefix();
    assert_ne!(a, unique_prefix());
    check_prefix(&a);
    crate::vector::validate_collection_name(&format!("{a}_bf_manhattan"), "test").unwrap();
}

#[test]
fn panic_messages_are_extracted_from_any_payload() {
    assert_eq!(panic_message(&"static"), "static");
    assert_eq!(panic_message(&String::from("owned")), "owned");
    assert_eq!(
        panic_message(&42_u8),
        "the case panicked with a non-text payload"
    );
}
