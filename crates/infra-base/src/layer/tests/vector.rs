//! The resilience layer around every VectorPort method: which calls are retried.

use std::time::Duration;

use std::sync::Arc;

use crate::error::{ErrorKind, InfraError};
use crate::layer::Layered;
use crate::resilience::{BreakerConfig, BreakerState, Resilience, RetryPolicy};
use crate::vector::{
    CollectionSpec, EnsureOutcome, Filter, PayloadUpdate, Point, PointId, PointSelector,
    ScoredPoint, ScrollPage, ScrollRequest, SearchQuery, VectorPort, WriteOptions, WriteOrdering,
};
use crate::vector::{Condition, Distance, MockVectorPort};

fn policy() -> Resilience {
    Resilience::new("qdrant").with_retry(
        RetryPolicy::new(3, Duration::from_millis(10), Duration::from_secs(1)).with_jitter(false),
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
        vectors: Some(vec![0.5, 0.5].into()),
    }];
    let mut mock = MockVectorPort::new();
    let (expected_query, expected_hits) = (query.clone(), hits.clone());
    mock.expect_search()
        .withf(move |collection, q| collection == "items" && *q == expected_query)
        .times(1)
        .returning(move |_, _| Ok(expected_hits.clone()));
    let vector = Layered::new(Arc::new(mock), policy());
    assert_eq!(vector.search("items", &query).await.unwrap(), hits);
}

#[tokio::test(start_paused = true)]
async fn query_forwards_the_request_unchanged_and_is_retried_as_a_read() {
    use crate::vector::{Fusion, Prefetch, Query, QueryRequest};
    let stage = Prefetch::new(Query::Nearest(vec![0.5, 0.5].into()), Some("dense"), 5);
    let request = QueryRequest::fusion(Fusion::Dbsf, vec![stage], 3).offset(1);
    let hits = vec![ScoredPoint {
        id: PointId::from(7),
        score: 0.5,
        payload: None,
        vectors: None,
    }];
    let mut mock = MockVectorPort::new();
    let (expected_request, expected_hits) = (request.clone(), hits.clone());
    let mut failures = 1;
    mock.expect_query()
        .withf(move |collection, r| collection == "items" && *r == expected_request)
        .times(2)
        .returning(move |_, _| {
            if failures > 0 {
                failures -= 1;
                return Err(unavailable("query"));
            }
            Ok(expected_hits.clone())
        });
    let vector = Layered::new(Arc::new(mock), policy());
    assert_eq!(vector.query("items", &request).await.unwrap(), hits);
}

#[tokio::test(start_paused = true)]
async fn facet_forwards_the_request_unchanged_and_is_retried_as_a_read() {
    use crate::vector::{FacetHit, FacetRequest, FacetValue};
    let request = FacetRequest::new("color")
        .filter(Filter::default().must(Condition::integer("size", 3)))
        .limit(2)
        .exact(true);
    let hits = vec![FacetHit {
        value: FacetValue::from("red"),
        count: 2,
    }];
    let mut mock = MockVectorPort::new();
    let (expected_request, expected_hits) = (request.clone(), hits.clone());
    let mut failures = 1;
    mock.expect_facet()
        .withf(move |collection, r| collection == "items" && *r == expected_request)
        .times(2)
        .returning(move |_, _| {
            if failures > 0 {
                failures -= 1;
                return Err(unavailable("facet"));
            }
            Ok(expected_hits.clone())
        });
    let vector = Layered::new(Arc::new(mock), policy());
    assert_eq!(vector.facet("items", &request).await.unwrap(), hits);
}

#[tokio::test(start_paused = true)]
async fn batches_and_groups_go_to_the_inner_port_once_each_and_are_retried_as_reads() {
    use crate::vector::{GroupId, GroupsRequest, PointGroup, QueryRequest};
    let requests = vec![
        QueryRequest::nearest(vec![1.0, 0.0], 2),
        QueryRequest::nearest(vec![0.0, 1.0], 1),
    ];
    let groups = GroupsRequest::new(QueryRequest::nearest(vec![1.0, 0.0], 3), "doc", 2);
    let answer = vec![PointGroup {
        id: GroupId::Keyword("a".into()),
        hits: Vec::new(),
        lookup: None,
    }];
    let mut mock = MockVectorPort::new();
    let expected_requests = requests.clone();
    let mut batch_failures = 1;
    mock.expect_query_batch()
        .withf(move |collection, r| collection == "items" && r == expected_requests.as_slice())
        .times(2)
        .returning(move |_, r| {
            if batch_failures > 0 {
                batch_failures -= 1;
                return Err(unavailable("query_batch"));
            }
            Ok(vec![Vec::new(); r.len()])
        });
    let (expected_groups, expected_answer) = (groups.clone(), answer.clone());
    let mut group_failures = 1;
    mock.expect_query_groups()
        .withf(move |collection, r| collection == "items" && *r == expected_groups)
        .times(2)
        .returning(move |_, _| {
            if group_failures > 0 {
                group_failures -= 1;
                return Err(unavailable("query_groups"));
            }
            Ok(expected_answer.clone())
        });
    // No `expect_query`: the layer must not fall back to the trait's defaults.
    let vector = Layered::new(Arc::new(mock), policy());
    assert_eq!(
        vector.query_batch("items", &requests).await.unwrap().len(),
        2
    );
    assert_eq!(vector.query_groups("items", &groups).await.unwrap(), answer);
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
    let vector: Arc<dyn VectorPort> = Arc::new(Layered::new(Arc::new(mock), policy()));
    vector.upsert("items", points()).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn upsert_with_options_forwards_them_with_the_same_points_on_every_attempt() {
    let options = WriteOptions::no_wait().with_ordering(WriteOrdering::Strong);
    let mut mock = MockVectorPort::new();
    let mut failures = 1;
    mock.expect_upsert_with()
        .withf(move |collection, batch, sent| {
            collection == "items" && *batch == points() && *sent == options
        })
        .times(2)
        .returning(move |_, _, _| {
            if failures > 0 {
                failures -= 1;
                Err(unavailable("upsert"))
            } else {
                Ok(())
            }
        });
    mock.expect_upsert().never();
    let vector: Arc<dyn VectorPort> = Arc::new(Layered::new(Arc::new(mock), policy()));
    vector
        .upsert_with("items", points(), &options)
        .await
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn upsert_without_retries_moves_the_points() {
    let mut mock = MockVectorPort::new();
    mock.expect_upsert()
        .withf(|_, batch| *batch == points())
        .times(1)
        .returning(|_, _| Err(unavailable("upsert")));
    let vector = Layered::new(Arc::new(mock), policy().with_retry(RetryPolicy::no_retry()));
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
    mock.expect_count_points()
        .withf(move |c, r| c == "items" && r.filter == expected_filter && r.exact)
        .times(1)
        .returning(|_, _| Ok(12));
    let vector = Layered::new(Arc::new(mock), policy());
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
    let vector = Layered::new(Arc::new(mock), policy().with_breaker(breaker));
    for _ in 0..3 {
        let err = vector.collection_info("missing").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
    }
    assert_eq!(vector.layer().breaker_state(), Some(BreakerState::Closed));
}

#[tokio::test(start_paused = true)]
async fn delete_by_ids_runs_once_through_the_layer_as_delete_points_and_is_retried() {
    let mut mock = MockVectorPort::new();
    let mut failures = 1;
    mock.expect_delete_points()
        .withf(|c, s| c == "items" && *s == PointSelector::Ids(vec![PointId::from(4)]))
        .times(2)
        .returning(move |_, _| {
            if failures > 0 {
                failures -= 1;
                Err(unavailable("delete_points"))
            } else {
                Ok(())
            }
        });
    let vector = Layered::new(Arc::new(mock), policy());
    vector.delete("items", &[PointId::from(4)]).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn scroll_payload_updates_and_listing_forward_and_are_retried() {
    let request =
        ScrollRequest::new(2).filter(Filter::default().must(Condition::keyword("k", "v")));
    let page = ScrollPage {
        points: Vec::new(),
        next_page_offset: Some(PointId::from(9)),
    };
    let selector = PointSelector::Filter(Filter::default());
    let update = PayloadUpdate::DeleteKeys(vec!["a".into()]);
    let mut mock = MockVectorPort::new();
    let (expected_request, expected_page) = (request.clone(), page.clone());
    let mut scroll_failures = 1;
    mock.expect_scroll()
        .withf(move |c, r| c == "items" && *r == expected_request)
        .times(2)
        .returning(move |_, _| {
            if scroll_failures > 0 {
                scroll_failures -= 1;
                return Err(unavailable("scroll"));
            }
            Ok(expected_page.clone())
        });
    let (expected_selector, expected_update) = (selector.clone(), update.clone());
    let mut update_failures = 1;
    mock.expect_update_payload()
        .withf(move |c, s, u| c == "items" && *s == expected_selector && *u == expected_update)
        .times(2)
        .returning(move |_, _, _| {
            if update_failures > 0 {
                update_failures -= 1;
                return Err(unavailable("update_payload"));
            }
            Ok(())
        });
    mock.expect_list_collections()
        .times(1)
        .returning(|| Ok(vec!["items".to_owned()]));
    let vector = Layered::new(Arc::new(mock), policy());
    assert_eq!(vector.scroll("items", &request).await.unwrap(), page);
    vector
        .update_payload("items", &selector, &update)
        .await
        .unwrap();
    assert_eq!(vector.list_collections().await.unwrap(), ["items"]);
}

#[test]
fn every_vector_descriptor_is_listed_once_and_point_writes_are_idempotent() {
    use crate::layer::Access;
    use crate::resilience::Idempotency;
    use crate::vector::ops;
    let names: std::collections::HashSet<_> = ops::ALL.iter().map(|op| op.name).collect();
    assert_eq!(names.len(), ops::ALL.len(), "a descriptor name is repeated");
    for op in [
        &ops::SCROLL,
        &ops::LIST_COLLECTIONS,
        &ops::QUERY,
        &ops::FACET,
    ] {
        assert_eq!(op.access, Access::Read, "{op}");
    }
    for op in [&ops::DELETE_POINTS, &ops::UPDATE_PAYLOAD] {
        assert_eq!(
            (op.access, op.idempotency),
            (Access::Write, Idempotency::Idempotent),
            "{op}"
        );
        assert!(ops::ALL.contains(&op), "{op} is listed");
    }
}
