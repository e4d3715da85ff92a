//! [`Resilient`] as a [`VectorPort`]: which calls are retried.

use async_trait::async_trait;

use super::Idempotency::Idempotent;
use super::Resilient;
use crate::error::InfraResult;
use crate::vector::{
    CollectionInfo, CollectionSpec, EnsureOutcome, Filter, Point, PointId, Record, ScoredPoint,
    SearchQuery, VectorPort,
};

/// Every [`VectorPort`] call of the wrapped port runs under the policy.
///
/// Every method is idempotent (collections are created if absent, points are upserted and
/// deleted by id), so every method is retried on transient errors. A retry after an attempt
/// that timed out but was applied reports the state that attempt left: `ensure_collection`
/// may answer [`EnsureOutcome::AlreadyExists`] for a collection this call created, and
/// `delete_collection` may answer `false`. `upsert` keeps its points for the retries: while
/// more than one attempt is allowed, every attempt but the last sends a clone of them.
#[async_trait]
impl<P: VectorPort + ?Sized> VectorPort for Resilient<P> {
    async fn ping(&self) -> InfraResult<()> {
        self.policy
            .run("ping", Idempotent, || self.inner.ping())
            .await
    }

    async fn ensure_collection(&self, spec: &CollectionSpec) -> InfraResult<EnsureOutcome> {
        let policy = &self.policy;
        policy
            .run("ensure_collection", Idempotent, || {
                self.inner.ensure_collection(spec)
            })
            .await
    }

    async fn collection_info(&self, name: &str) -> InfraResult<CollectionInfo> {
        let policy = &self.policy;
        policy
            .run("collection_info", Idempotent, || {
                self.inner.collection_info(name)
            })
            .await
    }

    async fn delete_collection(&self, name: &str) -> InfraResult<bool> {
        let policy = &self.policy;
        policy
            .run("delete_collection", Idempotent, || {
                self.inner.delete_collection(name)
            })
            .await
    }

    async fn upsert(&self, collection: &str, points: Vec<Point>) -> InfraResult<()> {
        // The last attempt `run` may make takes the points; earlier ones send clones.
        let mut attempts_left = self.policy.max_attempts(Idempotent);
        let mut points = Some(points);
        self.policy
            .run("upsert", Idempotent, || {
                attempts_left = attempts_left.saturating_sub(1);
                let batch = if attempts_left == 0 {
                    points.take()
                } else {
                    points.clone()
                };
                self.inner.upsert(collection, batch.unwrap_or_default())
            })
            .await
    }

    async fn get(
        &self,
        collection: &str,
        ids: &[PointId],
        with_vector: bool,
    ) -> InfraResult<Vec<Record>> {
        let policy = &self.policy;
        policy
            .run("get", Idempotent, || {
                self.inner.get(collection, ids, with_vector)
            })
            .await
    }

    async fn delete(&self, collection: &str, ids: &[PointId]) -> InfraResult<()> {
        self.policy
            .run("delete", Idempotent, || self.inner.delete(collection, ids))
            .await
    }

    async fn search(&self, collection: &str, query: &SearchQuery) -> InfraResult<Vec<ScoredPoint>> {
        self.policy
            .run("search", Idempotent, || {
                self.inner.search(collection, query)
            })
            .await
    }

    async fn count(&self, collection: &str, filter: &Filter) -> InfraResult<u64> {
        self.policy
            .run("count", Idempotent, || self.inner.count(collection, filter))
            .await
    }
}

#[cfg(all(test, feature = "mock"))]
mod tests {
    use std::time::Duration;

    use std::sync::Arc;

    use super::*;
    use crate::error::{ErrorKind, InfraError};
    use crate::resilience::{
        BreakerConfig, BreakerState, Resilience, ResilientVector, RetryPolicy,
    };
    use crate::vector::{Condition, Distance, MockVectorPort};

    fn policy() -> Resilience {
        Resilience::new("qdrant").with_retry(
            RetryPolicy::new(3, Duration::from_millis(10), Duration::from_secs(1))
                .with_jitter(false),
        )
    }

    fn unavailable(operation: &'static str) -> InfraError {
        InfraError::new(
            ErrorKind::Unavailable,
            "qdrant",
            operation,
            "connection reset",
        )
    }

    fn points() -> Vec<Point> {
        vec![Point::new(1, vec![0.1, 0.2]), Point::new(2, vec![0.3, 0.4])]
    }

    #[tokio::test(start_paused = true)]
    async fn search_forwards_arguments_and_results_unchanged() {
        let query = SearchQuery::new(vec![0.5, 0.5], 3)
            .filter(Filter::default())
            .score_threshold(0.25)
            .with_vector(true);
        let hits = vec![ScoredPoint {
            id: PointId::from(7),
            score: 0.9,
            payload: None,
            vector: Some(vec![0.5, 0.5]),
        }];
        let mut mock = MockVectorPort::new();
        let (expected_query, expected_hits) = (query.clone(), hits.clone());
        mock.expect_search()
            .withf(move |collection, q| collection == "items" && *q == expected_query)
            .times(1)
            .returning(move |_, _| Ok(expected_hits.clone()));
        let vector = ResilientVector::new(Arc::new(mock), policy());
        assert_eq!(vector.search("items", &query).await.unwrap(), hits);
    }

    #[tokio::test(start_paused = true)]
    async fn upsert_sends_the_same_points_on_every_attempt() {
        let mut mock = MockVectorPort::new();
        let mut failures = 2;
        mock.expect_upsert()
            .withf(|collection, batch| collection == "items" && *batch == points())
            .times(3)
            .returning(move |_, _| {
                if failures > 0 {
                    failures -= 1;
                    Err(unavailable("upsert"))
                } else {
                    Ok(())
                }
            });
        let vector: Arc<dyn VectorPort> = Arc::new(ResilientVector::new(Arc::new(mock), policy()));
        vector.upsert("items", points()).await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn upsert_without_retries_moves_the_points() {
        let mut mock = MockVectorPort::new();
        mock.expect_upsert()
            .withf(|_, batch| *batch == points())
            .times(1)
            .returning(|_, _| Err(unavailable("upsert")));
        let vector =
            ResilientVector::new(Arc::new(mock), policy().with_retry(RetryPolicy::no_retry()));
        let err = vector.upsert("items", points()).await.unwrap_err();
        assert_eq!(
            (err.kind(), err.operation()),
            (ErrorKind::Unavailable, "upsert")
        );
    }

    #[tokio::test(start_paused = true)]
    async fn ensure_collection_and_count_forward_their_arguments() {
        let spec = CollectionSpec::new("items", 2, Distance::Cosine);
        let filter = Filter::default().must(Condition::keyword("kind", "book"));
        let mut mock = MockVectorPort::new();
        let expected_spec = spec.clone();
        mock.expect_ensure_collection()
            .withf(move |s| *s == expected_spec)
            .times(1)
            .returning(|_| Ok(EnsureOutcome::AlreadyExists));
        let expected_filter = filter.clone();
        mock.expect_count()
            .withf(move |c, f| c == "items" && *f == expected_filter)
            .times(1)
            .returning(|_, _| Ok(12));
        let vector = ResilientVector::new(Arc::new(mock), policy());
        assert_eq!(
            vector.ensure_collection(&spec).await.unwrap(),
            EnsureOutcome::AlreadyExists
        );
        assert_eq!(vector.count("items", &filter).await.unwrap(), 12);
    }

    #[tokio::test(start_paused = true)]
    async fn not_found_is_not_retried_and_does_not_open_the_breaker() {
        let mut mock = MockVectorPort::new();
        mock.expect_collection_info().times(3).returning(|_| {
            Err(InfraError::new(
                ErrorKind::NotFound,
                "qdrant",
                "collection_info",
                "no such collection",
            ))
        });
        let breaker = BreakerConfig {
            failure_threshold: 1,
            open_for: Duration::from_secs(5),
        };
        let vector = ResilientVector::new(Arc::new(mock), policy().with_breaker(breaker));
        for _ in 0..3 {
            let err = vector.collection_info("missing").await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::NotFound);
        }
        assert_eq!(vector.breaker_state(), Some(BreakerState::Closed));
    }
}
