//! Conformance cases of [`VectorPort::query_batch`] and [`VectorPort::query_groups`], on
//! ten points whose dot product with `[0, 1]` is a tenth of their id (distinct scores, so
//! every order is determined).

use std::sync::Arc;

use serde_json::json;

use super::{assert_hits, create, hit_ids, num_ids, numbered_points, scoped};
use crate::error::ErrorKind;
use crate::testing::{expect_kind, ok};
use crate::vector::{
    CollectionSpec, Condition, Distance, Filter, GroupId, GroupsRequest, MAX_QUERY_BATCH,
    PayloadIndex, PayloadSelector, Point, PointGroup, PointId, QueryRequest, VectorPort,
    WithLookup,
};

/// Points 1 to 10 with a `doc` of strings, an integer and an array, and one without.
async fn grouped_collection(store: &dyn VectorPort, name: &str) {
    // A keyword index on the grouped field, as Qdrant's strict mode asks.
    let spec = CollectionSpec::new(name, 2, Distance::Dot).with_index("doc", PayloadIndex::Keyword);
    ok(store.ensure_collection(&spec).await, "ensure_collection");
    let docs = [
        json!({"doc": "d", "title": "one"}),
        json!({"title": "two"}),
        json!({"doc": "e", "title": "three"}),
        json!({"doc": 3, "title": "four"}),
        json!({"doc": "a", "title": "five"}),
        json!({"doc": ["b", "c"], "title": "six"}),
        json!({"doc": "c", "title": "seven"}),
        json!({"doc": "a", "title": "eight"}),
        json!({"doc": "b", "title": "nine"}),
        json!({"doc": "a", "title": "ten"}),
    ];
    ok(store.upsert(name, numbered_points(docs)).await, "upsert");
}

/// `(group, ids)` of each group, in the order returned.
fn shape(groups: &[PointGroup]) -> Vec<(GroupId, Vec<PointId>)> {
    groups
        .iter()
        .map(|g| (g.id.clone(), hit_ids(&g.hits)))
        .collect()
}

fn keyword(value: &str) -> GroupId {
    GroupId::Keyword(value.to_owned())
}

/// A batch answers each query as `query` alone does, in the order given.
pub async fn query_batch_answers_each_query_in_order(port: Arc<dyn VectorPort>, prefix: &str) {
    scoped(port, prefix, |store, names| async move {
        let name = names.collection("batch");
        grouped_collection(&*store, &name).await;
        let requests = vec![
            QueryRequest::nearest(vec![0.0, 1.0], 2),
            QueryRequest::nearest(vec![0.0, -1.0], 3)
                .filter(Filter::default().must(Condition::keyword("doc", "a"))),
            QueryRequest::nearest(vec![0.0, 1.0], 1).offset(4),
        ];
        let answers = ok(store.query_batch(&name, &requests).await, "query_batch");
        assert_eq!(answers.len(), 3, "one answer per query");
        assert_hits(&answers[0], &[(10, 1.0), (9, 0.9)], "the first query");
        assert_hits(
            &answers[1],
            &[(5, -0.5), (8, -0.8), (10, -1.0)],
            "the second query, filtered",
        );
        assert_hits(&answers[2], &[(6, 0.6)], "the third query, with an offset");
        for (request, answer) in requests.iter().zip(&answers) {
            let alone = ok(store.query(&name, request).await, "query");
            assert_eq!(
                hit_ids(&alone),
                hit_ids(answer),
                "a batch answers as query does"
            );
        }
        assert!(
            ok(store.query_batch(&name, &[]).await, "an empty batch").is_empty(),
            "an empty batch answers nothing"
        );
    })
    .await;
}

/// Groups hold the best points of each string or integer value, best group first; a
/// point with an array is in the group of each value, a point without the field in none;
/// payloads follow the selector.
pub async fn query_groups_keeps_the_best_points_per_value(port: Arc<dyn VectorPort>, prefix: &str) {
    scoped(port, prefix, |store, names| async move {
        let name = names.collection("groups");
        grouped_collection(&*store, &name).await;
        let by_doc = |groups: usize, size: usize| {
            GroupsRequest::new(QueryRequest::nearest(vec![0.0, 1.0], groups), "doc", size)
        };
        let groups = ok(
            store.query_groups(&name, &by_doc(3, 2)).await,
            "query_groups",
        );
        assert_eq!(
            shape(&groups),
            vec![
                (keyword("a"), num_ids(&[10, 8])),
                (keyword("b"), num_ids(&[9, 6])),
                (keyword("c"), num_ids(&[7, 6])),
            ],
            "three groups of two, best first; point 6 is in b and in c"
        );
        assert_hits(&groups[0].hits, &[(10, 1.0), (8, 0.8)], "scores in group a");

        let everything = ok(
            store.query_groups(&name, &by_doc(10, 5)).await,
            "query_groups",
        );
        assert_eq!(
            shape(&everything),
            vec![
                (keyword("a"), num_ids(&[10, 8, 5])),
                (keyword("b"), num_ids(&[9, 6])),
                (keyword("c"), num_ids(&[7, 6])),
                (GroupId::Integer(3), num_ids(&[4])),
                (keyword("e"), num_ids(&[3])),
                (keyword("d"), num_ids(&[1])),
            ],
            "every value once, integers too; point 2 has no doc and is in no group"
        );

        let filtered = by_doc(2, 1);
        let filtered = GroupsRequest {
            query: filtered
                .query
                .filter(Filter::default().must_not(Condition::keyword("doc", "a")))
                .with_payload(PayloadSelector::Include(vec!["title".into()])),
            ..filtered
        };
        let groups = ok(store.query_groups(&name, &filtered).await, "query_groups");
        assert_eq!(
            shape(&groups),
            vec![(keyword("b"), num_ids(&[9])), (keyword("c"), num_ids(&[7]))],
            "the filter applies before grouping"
        );
        let payload = groups[0].hits[0].payload.clone().unwrap_or_default();
        assert_eq!(
            payload.get("title"),
            Some(&json!("nine")),
            "the selected key is returned"
        );
        assert!(
            !payload.contains_key("doc"),
            "a key the selector leaves out is not returned, even the grouped one"
        );
    })
    .await;
}

/// With `with_lookup`, each group carries the record of another collection whose id is
/// the group's value, with the payload keys asked for and no vectors; a value that
/// collection lacks leaves the group without one, and a lookup collection that does not
/// exist is `NotFound`.
pub async fn query_groups_with_lookup_joins_records(port: Arc<dyn VectorPort>, prefix: &str) {
    scoped(port, prefix, |store, names| async move {
        let chunks = names.collection("chunks");
        let spec =
            CollectionSpec::new(&chunks, 2, Distance::Dot).with_index("doc", PayloadIndex::Integer);
        ok(store.ensure_collection(&spec).await, "ensure_collection");
        let docs = [1, 3, 1, 2, 1, 2].map(|doc| json!({"doc": doc}));
        ok(store.upsert(&chunks, numbered_points(docs)).await, "upsert");
        let documents = names.collection("documents");
        create(&*store, &documents, 2, Distance::Dot).await;
        let document = |id: u64, title: &str| {
            Point::new(id, vec![1.0, 0.0])
                .with_payload(super::payload(json!({"title": title, "body": "long text"})))
        };
        ok(
            store
                .upsert(
                    &documents,
                    vec![document(1, "first"), document(2, "second")],
                )
                .await,
            "upsert of the documents",
        );

        let request = GroupsRequest::new(QueryRequest::nearest(vec![0.0, 1.0], 3), "doc", 1)
            .with_lookup(
                WithLookup::new(&documents)
                    .with_payload(PayloadSelector::Include(vec!["title".into()])),
            );
        let groups = ok(store.query_groups(&chunks, &request).await, "query_groups");
        assert_eq!(
            shape(&groups),
            vec![
                (GroupId::Integer(2), num_ids(&[6])),
                (GroupId::Integer(1), num_ids(&[5])),
                (GroupId::Integer(3), num_ids(&[2])),
            ],
            "the best point of each document"
        );
        let looked_up: Vec<Option<(PointId, Option<serde_json::Value>, bool)>> = groups
            .iter()
            .map(|g| {
                g.lookup.as_ref().map(|record| {
                    (
                        record.id,
                        record.payload.get("title").cloned(),
                        record.payload.contains_key("body") || record.vectors.is_some(),
                    )
                })
            })
            .collect();
        assert_eq!(
            looked_up,
            vec![
                Some((PointId::Num(2), Some(json!("second")), false)),
                Some((PointId::Num(1), Some(json!("first")), false)),
                None,
            ],
            "documents 2 and 1 joined with their title only; document 3 does not exist"
        );

        let without = GroupsRequest::new(QueryRequest::nearest(vec![0.0, 1.0], 3), "doc", 1);
        let groups = ok(store.query_groups(&chunks, &without).await, "query_groups");
        assert!(
            groups.iter().all(|g| g.lookup.is_none()),
            "no record without with_lookup"
        );

        let nowhere = without.with_lookup(WithLookup::new(names.collection("absent")));
        expect_kind(
            store.query_groups(&chunks, &nowhere).await,
            ErrorKind::NotFound,
            "a lookup collection that does not exist",
        );
    })
    .await;
}

/// Invalid grouping, an invalid query in a batch, a batch too large and a missing
/// collection are refused.
pub async fn invalid_groups_and_batches_are_refused(port: Arc<dyn VectorPort>, prefix: &str) {
    scoped(port, prefix, |store, names| async move {
        let name = names.collection("refused");
        create(&*store, &name, 2, Distance::Dot).await;
        let query = QueryRequest::nearest(vec![0.0, 1.0], 2);
        for (request, what) in [
            (GroupsRequest::new(query.clone(), "doc", 0), "group_size 0"),
            (
                GroupsRequest::new(query.clone(), "", 1),
                "an empty group_by",
            ),
            (
                GroupsRequest::new(query.clone().offset(1), "doc", 1),
                "an offset",
            ),
            (
                GroupsRequest::new(QueryRequest::nearest(vec![0.0, 1.0, 2.0], 2), "doc", 1),
                "a vector of the wrong dimension",
            ),
        ] {
            expect_kind(
                store.query_groups(&name, &request).await,
                ErrorKind::InvalidInput,
                &format!("query_groups with {what}"),
            );
        }
        let wrong = QueryRequest::nearest(vec![0.0, 1.0, 2.0], 2);
        expect_kind(
            store.query_batch(&name, &[query.clone(), wrong]).await,
            ErrorKind::InvalidInput,
            "a batch with a query of the wrong dimension",
        );
        expect_kind(
            store
                .query_batch(&name, &vec![query.clone(); MAX_QUERY_BATCH + 1])
                .await,
            ErrorKind::InvalidInput,
            "a batch of too many queries",
        );
        let absent = names.collection("absent");
        expect_kind(
            store
                .query_batch(&absent, std::slice::from_ref(&query))
                .await,
            ErrorKind::NotFound,
            "a batch on a missing collection",
        );
        expect_kind(
            store
                .query_groups(&absent, &GroupsRequest::new(query, "doc", 1))
                .await,
            ErrorKind::NotFound,
            "groups of a missing collection",
        );
    })
    .await;
}
