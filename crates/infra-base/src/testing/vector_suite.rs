//! The vector conformance cases: one function per behaviour of [`VectorPort`].
//!
//! Every case has the same shape, `async fn case(port: Arc<dyn VectorPort>, prefix: &str)`
//! (see [`redis_suite`](super::redis_suite) for why). Collections are named
//! `{prefix}_{what}` and deleted at the end of the case, even when it fails.
//!
//! The cases hold against a real Qdrant: scores are compared with a tolerance, expected
//! orders never depend on how equal scores are broken, cosine vectors are expected back
//! normalized, and exact counts come from [`VectorPort::count`], never from
//! `points_count`, which may lag.
// Every case panics on a contract violation by design; the module docs say so once.
#![allow(clippy::missing_panics_doc)]

use std::collections::{BTreeSet, HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::task::JoinSet;
use uuid::Uuid;

#[path = "vector_facet_suite.rs"]
mod facet;
#[path = "vector_groups_suite.rs"]
mod groups;
#[path = "vector_query_suite.rs"]
mod query;
pub use facet::*;
pub use groups::*;
pub use query::*;

use super::{check_prefix, expect_kind, guarded, join_all, ok};
use crate::error::{ErrorKind, InfraResult};
use crate::vector::{
    Alias, AliasChange, CollectionSpec, Condition, CountRequest, Distance, EnsureOutcome,
    FieldIndex, Filter, HnswParams, MAX_DIMENSION, MAX_FILTER_DEPTH, MAX_SCROLL_LIMIT,
    MAX_SEARCH_LIMIT, OrderBy, Payload, PayloadIndex, PayloadUpdate, Point, PointId, PointSelector,
    PointVectors, Quantization, Range, ScoredPoint, ScrollRequest, SearchQuery, SparseParams,
    SparseVector, StartFrom, TextTokenizer, Vector, VectorParams, VectorPort, VectorPortExt,
    Vectors, WriteOptions, WriteOrdering,
};

/// The collections of one case, all deleted at the end.
#[derive(Clone)]
struct Names {
    prefix: Arc<str>,
    used: Arc<Mutex<Vec<String>>>,
}

impl Names {
    fn collection(&self, what: &str) -> String {
        let name = format!("{}_{what}", self.prefix);
        self.used
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(name.clone());
        name
    }
}

/// Runs a case body with its collection names, then deletes the collections.
async fn scoped<F, Fut>(port: Arc<dyn VectorPort>, prefix: &str, body: F)
where
    F: FnOnce(Arc<dyn VectorPort>, Names) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    check_prefix(prefix);
    let names = Names {
        prefix: prefix.into(),
        used: Arc::default(),
    };
    let used = Arc::clone(&names.used);
    let cleanup_port = Arc::clone(&port);
    let cleanup = async move {
        let mut names = std::mem::take(&mut *used.lock().unwrap_or_else(PoisonError::into_inner));
        names.sort_unstable();
        names.dedup();
        for name in names {
            let _ = cleanup_port.delete_collection(&name).await;
        }
    };
    guarded(body(port, names), cleanup).await;
}

/// Creates a collection that must not exist yet.
async fn create(store: &dyn VectorPort, name: &str, dimension: usize, distance: Distance) {
    let spec = CollectionSpec::new(name, dimension, distance);
    let outcome = ok(store.ensure_collection(&spec).await, "ensure_collection");
    assert_eq!(
        outcome,
        EnsureOutcome::Created,
        "ensure_collection of the new collection {name} must create it"
    );
}

fn payload(value: Value) -> Payload {
    match value {
        Value::Object(map) => map,
        other => panic!("suite bug: a payload must be a JSON object, not {other}"),
    }
}

fn num_ids(ids: &[u64]) -> Vec<PointId> {
    ids.iter().copied().map(PointId::Num).collect()
}

fn hit_ids(hits: &[ScoredPoint]) -> Vec<PointId> {
    hits.iter().map(|h| h.id).collect()
}

/// Scores are f32 computed in different orders by different engines.
fn close_enough(actual: f64, expected: f64) -> bool {
    (actual - expected).abs() <= 1e-4 * expected.abs().max(1.0)
}

#[track_caller]
fn assert_close(actual: f32, expected: f64, what: &str) {
    assert!(
        close_enough(f64::from(actual), expected),
        "{what}: expected {expected}, got {actual}"
    );
}

#[track_caller]
fn assert_vector(actual: Option<&[f32]>, expected: &[f32], what: &str) {
    let Some(actual) = actual else {
        panic!("{what}: expected the vector {expected:?}, got none");
    };
    assert!(
        actual.len() == expected.len()
            && actual
                .iter()
                .zip(expected)
                .all(|(a, e)| close_enough(f64::from(*a), f64::from(*e))),
        "{what}: expected the vector {expected:?}, got {actual:?}"
    );
}

/// A small collection whose search order is unambiguous for `distance`.
struct OrderFixture {
    query: Vec<f32>,
    points: Vec<(u64, [f32; 2])>,
    /// `(id, score)`, best first.
    expected: [(u64, f64); 4],
}

fn order_fixture(distance: Distance) -> OrderFixture {
    match distance {
        Distance::Cosine => OrderFixture {
            query: vec![2.0, 0.0],
            points: vec![
                (1, [3.0, 0.0]),
                (2, [1.0, 1.0]),
                (3, [0.0, 5.0]),
                (4, [-1.0, 0.2]),
            ],
            expected: [
                (1, 1.0),
                (2, std::f64::consts::FRAC_1_SQRT_2),
                (3, 0.0),
                (4, -1.0 / 1.04_f64.sqrt()),
            ],
        },
        Distance::Dot => OrderFixture {
            query: vec![1.0, 2.0],
            points: vec![
                (1, [3.0, 1.0]),
                (2, [1.0, 1.0]),
                (3, [0.0, -1.0]),
                (4, [10.0, 0.0]),
            ],
            expected: [(4, 10.0), (1, 5.0), (2, 3.0), (3, -2.0)],
        },
        Distance::Euclid => OrderFixture {
            query: vec![1.0, 1.0],
            points: vec![
                (1, [4.0, 5.0]),
                (2, [2.0, 1.0]),
                (3, [1.0, 3.0]),
                (4, [7.0, 9.0]),
            ],
            expected: [(2, 1.0), (3, 2.0), (1, 5.0), (4, 10.0)],
        },
        Distance::Manhattan => OrderFixture {
            query: vec![1.0, 1.0],
            points: vec![
                (1, [4.0, 5.0]),
                (2, [2.0, 1.0]),
                (3, [-1.0, -1.0]),
                (4, [1.0, -9.0]),
            ],
            expected: [(2, 1.0), (3, 4.0), (1, 7.0), (4, 10.0)],
        },
    }
}

impl OrderFixture {
    fn points(&self) -> Vec<Point> {
        self.points
            .iter()
            .map(|(id, v)| Point::new(*id, v.to_vec()).with_payload(payload(json!({"n": id}))))
            .collect()
    }
}

/// Checks ids (exactly, in order) and scores (with tolerance) against `expected`.
async fn search_orders(port: Arc<dyn VectorPort>, prefix: &str, distance: Distance) {
    scoped(port, prefix, move |store, names| async move {
        let fixture = order_fixture(distance);
        let name = names.collection(&distance.to_string());
        create(&*store, &name, 2, distance).await;
        ok(store.upsert(&name, fixture.points()).await, "upsert");
        let what = format!("{distance} search");
        let hits = ok(
            store
                .search(&name, &SearchQuery::new(fixture.query.clone(), 10))
                .await,
            "search",
        );
        assert_hits(&hits, &fixture.expected, &what);
        for hit in &hits {
            let PointId::Num(n) = hit.id else {
                panic!("{what}: unexpected id {}", hit.id)
            };
            assert_eq!(
                hit.payload,
                Some(payload(json!({"n": n}))),
                "{what}: payloads are returned by default"
            );
            assert_eq!(
                hit.vectors, None,
                "{what}: vectors are not returned by default"
            );
        }
        let top = ok(
            store
                .search(
                    &name,
                    &SearchQuery::new(fixture.query.clone(), 2).exact(true),
                )
                .await,
            "search",
        );
        assert_hits(
            &top,
            &fixture.expected[..2],
            &format!("{what} with limit 2"),
        );
    })
    .await;
}

/// Points 1, 2, … with these payloads and vectors `[1, id / 10]` (dimension 2).
fn numbered_points(payloads: impl IntoIterator<Item = Value>) -> Vec<Point> {
    payloads
        .into_iter()
        .zip(1u64..)
        .map(|(p, id)| {
            let y = f32::from(u8::try_from(id).unwrap_or(0)) / 10.0;
            Point::new(id, vec![1.0, y]).with_payload(payload(p))
        })
        .collect()
}

/// Six points with varied payloads for the filter cases (dot distance, dimension 2).
fn filter_points() -> Vec<Point> {
    let payloads = [
        json!({"color": "red", "size": 1, "price": 10.0, "in_stock": true,
               "tags": ["new", "sale"], "address": {"city": "Oslo", "zip": 100}}),
        json!({"color": "blue", "size": 2, "price": 20.5, "in_stock": false,
               "tags": ["sale"], "address": {"city": "Paris", "zip": 200}}),
        json!({"color": "red", "size": 3, "price": 30.0, "in_stock": false,
               "tags": [], "address": {"city": "Oslo", "zip": 300}}),
        json!({"color": "green", "size": 2, "price": 5.25, "in_stock": true,
               "tags": ["new"], "address": {"city": "Rome", "zip": 400}}),
        json!({"size": 5, "price": 50}),
        json!({"color": ["red", "green"], "size": [1, 7], "tags": "new"}),
    ];
    numbered_points(payloads)
}

async fn filter_collection(store: &dyn VectorPort, names: &Names) -> String {
    let name = names.collection("filters");
    create(store, &name, 2, Distance::Dot).await;
    ok(store.upsert(&name, filter_points()).await, "upsert");
    name
}

/// Checks that both `count` and `search` select exactly `expected` with `filter`.
async fn check_filter(
    store: &dyn VectorPort,
    name: &str,
    filter: Filter,
    expected: &[u64],
    what: &str,
) {
    let count = ok(store.count(name, &filter).await, "count");
    assert_eq!(
        count,
        expected.len() as u64,
        "{what}: count with the filter"
    );
    let query = SearchQuery::new(vec![1.0, 0.0], 100).filter(filter);
    let hits = ok(store.search(name, &query).await, "search");
    let got: BTreeSet<PointId> = hits.iter().map(|h| h.id).collect();
    assert_eq!(got.len(), hits.len(), "{what}: search returned an id twice");
    let want: BTreeSet<PointId> = num_ids(expected).into_iter().collect();
    assert_eq!(got, want, "{what}: ids found by search with the filter");
}

fn range(gt: Option<f64>, gte: Option<f64>, lt: Option<f64>, lte: Option<f64>) -> Range {
    Range { gt, gte, lt, lte }
}

/// The store answers.
pub async fn ping(port: Arc<dyn VectorPort>, prefix: &str) {
    scoped(port, prefix, |store, _| async move {
        ok(store.ping().await, "ping");
    })
    .await;
}

/// `ensure_collection` creates once, then reports `AlreadyExists` for the same spec.
pub async fn ensure_collection_is_idempotent(port: Arc<dyn VectorPort>, prefix: &str) {
    scoped(port, prefix, |store, names| async move {
        let name = names.collection("items");
        create(&*store, &name, 4, Distance::Cosine).await;
        let spec = CollectionSpec::new(&name, 4, Distance::Cosine);
        for _ in 0..2 {
            assert_eq!(
                ok(store.ensure_collection(&spec).await, "ensure_collection"),
                EnsureOutcome::AlreadyExists,
                "ensure_collection of an existing collection with the same spec"
            );
        }
    })
    .await;
}

/// The error text of a drift `Conflict`, lowercased and without the collection name.
#[track_caller]
fn conflict_text<T: std::fmt::Debug>(result: InfraResult<T>, name: &str) -> String {
    match result {
        Ok(value) => panic!("ensure_collection with drift: expected a conflict, got Ok({value:?})"),
        Err(err) => {
            assert_eq!(
                err.kind(),
                ErrorKind::Conflict,
                "ensure_collection with drift: expected a conflict, got: {}",
                err.chain()
            );
            err.message().replace(name, "").to_lowercase()
        }
    }
}

/// An existing collection with another dimension is a `Conflict` naming both dimensions,
/// and is left unchanged.
pub async fn ensure_collection_conflicts_on_dimension_drift(
    port: Arc<dyn VectorPort>,
    prefix: &str,
) {
    scoped(port, prefix, |store, names| async move {
        let name = names.collection("drift");
        create(&*store, &name, 12, Distance::Cosine).await;
        let drifted = CollectionSpec::new(&name, 17, Distance::Cosine);
        let text = conflict_text(store.ensure_collection(&drifted).await, &name);
        assert!(
            text.contains("12") && text.contains("17"),
            "the conflict must name the existing (12) and requested (17) dimensions: {text:?}"
        );
        let info = ok(store.collection_info(&name).await, "collection_info");
        assert_eq!(
            info.dimension, 12,
            "a conflicting ensure must not change the collection"
        );
    })
    .await;
}

/// An existing collection with another distance is a `Conflict` naming both distances, and
/// is left unchanged.
pub async fn ensure_collection_conflicts_on_distance_drift(
    port: Arc<dyn VectorPort>,
    prefix: &str,
) {
    scoped(port, prefix, |store, names| async move {
        let name = names.collection("drift");
        create(&*store, &name, 4, Distance::Cosine).await;
        let drifted = CollectionSpec::new(&name, 4, Distance::Dot);
        let text = conflict_text(store.ensure_collection(&drifted).await, &name);
        assert!(
            text.contains("cosine") && text.contains("dot"),
            "the conflict must name the existing (cosine) and requested (dot) distances: {text:?}"
        );
        let info = ok(store.collection_info(&name).await, "collection_info");
        assert_eq!(
            info.distance,
            Distance::Cosine,
            "a conflicting ensure must not change the collection"
        );
    })
    .await;
}

/// Invalid names and dimensions are `InvalidInput` for every operation (saying what a name
/// accepts), and create nothing.
pub async fn invalid_collection_names_and_specs(port: Arc<dyn VectorPort>, prefix: &str) {
    scoped(port, prefix, |store, names| async move {
        let long = "x".repeat(256);
        for bad in ["", "a/b", "..", "has space", long.as_str()] {
            expect_kind(
                store
                    .ensure_collection(&CollectionSpec::new(bad, 4, Distance::Dot))
                    .await,
                ErrorKind::InvalidInput,
                &format!("ensure_collection named {bad:?}"),
            );
        }
        let name = names.collection("dims");
        for dimension in [0, MAX_DIMENSION + 1] {
            expect_kind(
                store
                    .ensure_collection(&CollectionSpec::new(&name, dimension, Distance::Dot))
                    .await,
                ErrorKind::InvalidInput,
                &format!("ensure_collection with dimension {dimension}"),
            );
        }
        expect_kind(
            store.collection_info(&name).await,
            ErrorKind::NotFound,
            "a refused ensure_collection must not create the collection",
        );

        let bad = "a/b";
        let what = |op: &str| format!("{op} on the invalid collection name {bad:?}");
        let kind = ErrorKind::InvalidInput;
        expect_kind(
            store.collection_info(bad).await,
            kind,
            &what("collection_info"),
        );
        expect_kind(
            store.delete_collection(bad).await,
            kind,
            &what("delete_collection"),
        );
        let point = Point::new(1, vec![1.0; 4]);
        expect_kind(store.upsert(bad, vec![point]).await, kind, &what("upsert"));
        expect_kind(
            store.get(bad, &num_ids(&[1]), false).await,
            kind,
            &what("get"),
        );
        expect_kind(
            store.delete(bad, &num_ids(&[1])).await,
            kind,
            &what("delete"),
        );
        let query = SearchQuery::new(vec![1.0; 4], 1);
        expect_kind(store.search(bad, &query).await, kind, &what("search"));
        // Every adapter checks names with `CollectionName`'s one rule, whose refusal says
        // what is accepted.
        let err = store
            .search(bad, &query)
            .await
            .expect_err("an invalid name is refused");
        assert!(
            err.message().contains("expected 1-255 ASCII letters"),
            "the refusal of an invalid collection name must say what is accepted: {}",
            err.message()
        );
        expect_kind(
            store.count(bad, &Filter::default()).await,
            kind,
            &what("count"),
        );
        expect_kind(
            store.scroll(bad, &ScrollRequest::new(1)).await,
            kind,
            &what("scroll"),
        );
        expect_kind(
            store
                .delete_points(bad, &PointSelector::Filter(Filter::default()))
                .await,
            kind,
            &what("delete_points"),
        );
        expect_kind(
            store
                .update_payload(
                    bad,
                    &PointSelector::Ids(num_ids(&[1])),
                    &PayloadUpdate::Clear,
                )
                .await,
            kind,
            &what("update_payload"),
        );
    })
    .await;
}

/// `collection_info` reports name, dimension and distance (each distance maps back to
/// itself) and an empty new collection.
pub async fn collection_info_describes_collection(port: Arc<dyn VectorPort>, prefix: &str) {
    scoped(port, prefix, |store, names| async move {
        let specs = [
            (Distance::Cosine, 3),
            (Distance::Dot, 5),
            (Distance::Euclid, 7),
            (Distance::Manhattan, 9),
        ];
        for (distance, dimension) in specs {
            let name = names.collection(&distance.to_string());
            create(&*store, &name, dimension, distance).await;
            let info = ok(store.collection_info(&name).await, "collection_info");
            assert_eq!(info.name, name, "collection_info name");
            assert_eq!(
                info.dimension, dimension,
                "collection_info dimension of {name}"
            );
            assert_eq!(
                info.distance, distance,
                "collection_info distance of {name}"
            );
            assert_eq!(
                info.points_count, 0,
                "points_count of a new collection {name}"
            );
        }
    })
    .await;
}

/// Every operation on a collection that does not exist is `NotFound` (deleting it is
/// `false`).
pub async fn unknown_collection_is_not_found(port: Arc<dyn VectorPort>, prefix: &str) {
    scoped(port, prefix, |store, names| async move {
        let name = names.collection("missing");
        let what = |op: &str| format!("{op} on a collection that does not exist");
        let kind = ErrorKind::NotFound;
        expect_kind(
            store.collection_info(&name).await,
            kind,
            &what("collection_info"),
        );
        let point = Point::new(1, vec![1.0; 4]);
        expect_kind(
            store.upsert(&name, vec![point]).await,
            kind,
            &what("upsert"),
        );
        expect_kind(
            store.get(&name, &num_ids(&[1]), false).await,
            kind,
            &what("get"),
        );
        expect_kind(
            store.delete(&name, &num_ids(&[1])).await,
            kind,
            &what("delete"),
        );
        let query = SearchQuery::new(vec![1.0; 4], 1);
        expect_kind(store.search(&name, &query).await, kind, &what("search"));
        expect_kind(
            store.count(&name, &Filter::default()).await,
            kind,
            &what("count"),
        );
        expect_kind(
            store.scroll(&name, &ScrollRequest::new(1)).await,
            kind,
            &what("scroll"),
        );
        expect_kind(
            store
                .delete_points(&name, &PointSelector::Filter(Filter::default()))
                .await,
            kind,
            &what("delete_points by filter"),
        );
        for update in [
            PayloadUpdate::Set(payload(json!({"a": 1}))),
            PayloadUpdate::Overwrite(payload(json!({"a": 1}))),
            PayloadUpdate::DeleteKeys(vec!["a".into()]),
            PayloadUpdate::Clear,
        ] {
            expect_kind(
                store
                    .update_payload(&name, &PointSelector::Filter(Filter::default()), &update)
                    .await,
                kind,
                &what(update.qdrant_name()),
            );
        }
        assert!(
            !ok(store.delete_collection(&name).await, "delete_collection"),
            "{}",
            what("delete_collection must return false")
        );
    })
    .await;
}

/// `delete_collection` returns `true` then `false`, and removes the points with it.
pub async fn delete_collection_reports_existence(port: Arc<dyn VectorPort>, prefix: &str) {
    scoped(port, prefix, |store, names| async move {
        let name = names.collection("doomed");
        create(&*store, &name, 2, Distance::Dot).await;
        ok(
            store
                .upsert(&name, vec![Point::new(1, vec![1.0, 0.0])])
                .await,
            "upsert",
        );
        assert!(
            ok(store.delete_collection(&name).await, "delete_collection"),
            "deleting an existing collection must return true"
        );
        expect_kind(
            store.collection_info(&name).await,
            ErrorKind::NotFound,
            "collection_info after delete_collection",
        );
        assert!(
            !ok(store.delete_collection(&name).await, "delete_collection"),
            "deleting a deleted collection must return false"
        );
        create(&*store, &name, 2, Distance::Dot).await;
        assert_eq!(
            ok(store.count(&name, &Filter::default()).await, "count"),
            0,
            "a re-created collection must not keep the deleted points"
        );
    })
    .await;
}

/// `get` answers in request order, skips missing ids, returns a repeated id once, and
/// returns vectors only when asked; payloads round-trip exactly.
pub async fn upsert_then_get(port: Arc<dyn VectorPort>, prefix: &str) {
    scoped(port, prefix, |store, names| async move {
        let name = names.collection("items");
        create(&*store, &name, 3, Distance::Dot).await;
        let rich = payload(json!({
            "name": "one", "n": -7, "f": 1.5, "ok": true, "none": null,
            "text": "\u{fc}n\u{ef}code \u{2713}",
            "nested": {"list": [1, "two", {"three": 3.25}], "empty": {}},
        }));
        let points = vec![
            Point::new(1, vec![0.1, 0.2, 0.3]).with_payload(rich.clone()),
            Point::new(2, vec![-1.0, 0.0, 2.5]),
            Point::new(3, vec![4.0, 5.0, 6.0]).with_payload(payload(json!({"n": 3}))),
        ];
        ok(store.upsert(&name, points.clone()).await, "upsert");

        let ids = num_ids(&[3, 99, 1, 3, 2]);
        let records = ok(store.get(&name, &ids, false).await, "get");
        let got: Vec<PointId> = records.iter().map(|r| r.id).collect();
        assert_eq!(
            got,
            num_ids(&[3, 1, 2]),
            "get must answer in request order, skip missing ids and return repeats once"
        );
        assert_eq!(records[1].payload, rich, "a payload read back by get");
        assert_eq!(
            records[2].payload,
            Payload::new(),
            "an empty payload read back by get"
        );
        assert!(
            records.iter().all(|r| r.vectors.is_none()),
            "get without vectors must not return them"
        );

        let records = ok(store.get(&name, &num_ids(&[2, 1]), true).await, "get");
        assert_eq!(records.len(), 2, "get of two existing points");
        assert_vector(
            records[0].vector(),
            points[1].vectors.unnamed_dense().unwrap_or_default(),
            "vector of point 2",
        );
        assert_vector(
            records[1].vector(),
            points[0].vectors.unnamed_dense().unwrap_or_default(),
            "vector of point 1",
        );
        assert!(
            ok(store.get(&name, &num_ids(&[99]), true).await, "get").is_empty(),
            "get of a missing id"
        );
        assert_eq!(ok(store.count(&name, &Filter::default()).await, "count"), 3);
    })
    .await;
}

/// Upserting an existing id replaces its vector and its whole payload (no merge).
pub async fn upsert_replaces_existing_point(port: Arc<dyn VectorPort>, prefix: &str) {
    scoped(port, prefix, |store, names| async move {
        let name = names.collection("items");
        create(&*store, &name, 2, Distance::Dot).await;
        let first = Point::new(1, vec![1.0, 0.0]).with_payload(payload(json!({"a": 1, "b": 2})));
        ok(store.upsert(&name, vec![first]).await, "upsert");
        let second = Point::new(1, vec![0.0, 3.0]).with_payload(payload(json!({"c": 3})));
        ok(store.upsert(&name, vec![second]).await, "upsert");

        let records = ok(store.get(&name, &num_ids(&[1]), true).await, "get");
        assert_eq!(records.len(), 1, "get of the replaced point");
        assert_eq!(
            records[0].payload,
            payload(json!({"c": 3})),
            "an upsert must replace the payload, not merge it"
        );
        assert_vector(records[0].vector(), &[0.0, 3.0], "the replaced vector");
        assert_eq!(ok(store.count(&name, &Filter::default()).await, "count"), 1);
        let hits = ok(
            store
                .search(&name, &SearchQuery::new(vec![0.0, 1.0], 5))
                .await,
            "search",
        );
        assert_eq!(
            hit_ids(&hits),
            num_ids(&[1]),
            "search after a replacing upsert"
        );
        assert_close(hits[0].score, 3.0, "search scores the replaced vector");
    })
    .await;
}

/// Cosine collections store unit vectors: reads and searches return them normalized, and
/// scores are cosine similarities.
pub async fn cosine_vectors_are_normalized(port: Arc<dyn VectorPort>, prefix: &str) {
    scoped(port, prefix, |store, names| async move {
        let name = names.collection("cosine");
        create(&*store, &name, 2, Distance::Cosine).await;
        let points = vec![
            Point::new(1, vec![3.0, 4.0]),
            Point::new(2, vec![0.0, -2.0]),
        ];
        ok(store.upsert(&name, points).await, "upsert");
        let records = ok(store.get(&name, &num_ids(&[1, 2]), true).await, "get");
        assert_eq!(records.len(), 2, "get of two points");
        assert_vector(
            records[0].vector(),
            &[0.6, 0.8],
            "cosine vector read by get",
        );
        assert_vector(
            records[1].vector(),
            &[0.0, -1.0],
            "cosine vector read by get",
        );

        let query = SearchQuery::new(vec![6.0, 8.0], 2).with_vector(true);
        let hits = ok(store.search(&name, &query).await, "search");
        assert_hits(
            &hits,
            &[(1, 1.0), (2, -0.8)],
            "cosine search with a non-unit query",
        );
        assert_vector(
            hits[0].vector(),
            &[0.6, 0.8],
            "cosine vector read by search",
        );
    })
    .await;
}

/// Numeric ids (including 0 and ids above 2^53) and UUID ids are stored and returned
/// exactly, and can be mixed in one collection.
pub async fn numeric_and_uuid_ids(port: Arc<dyn VectorPort>, prefix: &str) {
    scoped(port, prefix, |store, names| async move {
        let name = names.collection("ids");
        create(&*store, &name, 2, Distance::Dot).await;
        let random = Uuid::new_v4();
        let fixed = Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        let ids = [
            PointId::Num(0),
            PointId::Num((1 << 53) + 1),
            PointId::Uuid(random),
            PointId::Uuid(fixed),
        ];
        let points = ids
            .iter()
            .zip([1.0, 0.9, 0.8, 0.7])
            .map(|(id, x)| {
                Point::new(*id, vec![x, 0.0]).with_payload(payload(json!({"id": id.to_string()})))
            })
            .collect();
        ok(store.upsert(&name, points).await, "upsert");

        let records = ok(store.get(&name, &ids, false).await, "get");
        let got: Vec<PointId> = records.iter().map(|r| r.id).collect();
        assert_eq!(got, ids, "numeric and UUID ids read back by get");
        for record in &records {
            assert_eq!(
                record.payload.get("id"),
                Some(&Value::String(record.id.to_string())),
                "the payload stored with id {}",
                record.id
            );
        }
        let hits = ok(
            store
                .search(&name, &SearchQuery::new(vec![1.0, 0.0], 10))
                .await,
            "search",
        );
        assert_eq!(
            hit_ids(&hits),
            ids,
            "numeric and UUID ids returned by search"
        );

        ok(
            store.delete(&name, &[PointId::Uuid(random)]).await,
            "delete",
        );
        assert_eq!(ok(store.count(&name, &Filter::default()).await, "count"), 3);
        assert!(
            ok(
                store.get(&name, &[PointId::Uuid(random)], false).await,
                "get"
            )
            .is_empty(),
            "a deleted UUID id"
        );
    })
    .await;
}

/// `delete` removes the given points (ignoring ids that do not exist) for every read.
pub async fn delete_points(port: Arc<dyn VectorPort>, prefix: &str) {
    scoped(port, prefix, |store, names| async move {
        let name = names.collection("items");
        create(&*store, &name, 2, Distance::Dot).await;
        let points = (1..=5u8)
            .map(|i| Point::new(u64::from(i), vec![f32::from(i), 1.0]))
            .collect();
        ok(store.upsert(&name, points).await, "upsert");
        ok(store.delete(&name, &num_ids(&[2, 4, 99])).await, "delete");
        assert_eq!(
            ok(store.count(&name, &Filter::default()).await, "count"),
            3,
            "count after deleting two of five points"
        );
        let records = ok(
            store.get(&name, &num_ids(&[1, 2, 3, 4, 5]), false).await,
            "get",
        );
        let got: Vec<PointId> = records.iter().map(|r| r.id).collect();
        assert_eq!(got, num_ids(&[1, 3, 5]), "get after delete");
        let hits = ok(
            store
                .search(&name, &SearchQuery::new(vec![1.0, 0.0], 10))
                .await,
            "search",
        );
        assert_eq!(hit_ids(&hits), num_ids(&[5, 3, 1]), "search after delete");
        ok(
            store.delete(&name, &num_ids(&[2])).await,
            "delete of a deleted id",
        );
        assert_eq!(ok(store.count(&name, &Filter::default()).await, "count"), 3);
    })
    .await;
}

/// Vectors of the wrong dimension or with non-finite components are `InvalidInput`, for
/// upserts (nothing of the batch is written) and searches.
pub async fn wrong_vectors_are_invalid_input(port: Arc<dyn VectorPort>, prefix: &str) {
    scoped(port, prefix, |store, names| async move {
        let name = names.collection("items");
        create(&*store, &name, 3, Distance::Dot).await;
        ok(
            store
                .upsert(&name, vec![Point::new(1, vec![1.0, 0.0, 0.0])])
                .await,
            "upsert",
        );

        let batches = [
            (
                "a batch with one vector of dimension 2",
                vec![
                    Point::new(2, vec![1.0, 0.0, 0.0]),
                    Point::new(3, vec![1.0, 0.0]),
                ],
            ),
            (
                "a NaN component",
                vec![Point::new(4, vec![1.0, f32::NAN, 0.0])],
            ),
            (
                "an infinite component",
                vec![Point::new(5, vec![f32::INFINITY, 0.0, 0.0])],
            ),
            (
                "replacing a point with dimension 4",
                vec![Point::new(1, vec![0.0; 4])],
            ),
        ];
        for (what, batch) in batches {
            expect_kind(
                store.upsert(&name, batch).await,
                ErrorKind::InvalidInput,
                &format!("upsert of {what}"),
            );
        }
        assert_eq!(
            ok(store.count(&name, &Filter::default()).await, "count"),
            1,
            "refused upserts must write nothing"
        );
        let records = ok(
            store.get(&name, &num_ids(&[1, 2, 3, 4, 5]), true).await,
            "get",
        );
        assert_eq!(records.len(), 1, "refused upserts must write no point");
        assert_vector(records[0].vector(), &[1.0, 0.0, 0.0], "the untouched point");

        for (what, vector) in [
            ("dimension 2", vec![1.0, 0.0]),
            ("dimension 4", vec![1.0, 0.0, 0.0, 0.0]),
            ("a NaN component", vec![f32::NAN, 0.0, 0.0]),
        ] {
            expect_kind(
                store.search(&name, &SearchQuery::new(vector, 5)).await,
                ErrorKind::InvalidInput,
                &format!("search with a query vector of {what}"),
            );
        }
    })
    .await;
}

/// A zero or too large limit and a non-finite threshold are `InvalidInput`; the largest
/// limit is accepted.
pub async fn invalid_search_limit_is_invalid_input(port: Arc<dyn VectorPort>, prefix: &str) {
    scoped(port, prefix, |store, names| async move {
        let name = names.collection("items");
        create(&*store, &name, 2, Distance::Dot).await;
        let points = vec![Point::new(1, vec![1.0, 0.0]), Point::new(2, vec![0.0, 1.0])];
        ok(store.upsert(&name, points).await, "upsert");
        for limit in [0, MAX_SEARCH_LIMIT + 1] {
            expect_kind(
                store
                    .search(&name, &SearchQuery::new(vec![1.0, 0.0], limit))
                    .await,
                ErrorKind::InvalidInput,
                &format!("search with limit {limit}"),
            );
        }
        let nan = SearchQuery::new(vec![1.0, 0.0], 5).score_threshold(f32::NAN);
        expect_kind(
            store.search(&name, &nan).await,
            ErrorKind::InvalidInput,
            "search with a NaN score threshold",
        );
        let largest = SearchQuery::new(vec![1.0, 0.0], MAX_SEARCH_LIMIT);
        let hits = ok(
            store.search(&name, &largest).await,
            "search with the largest limit",
        );
        assert_eq!(
            hits.len(),
            2,
            "search with the largest limit returns every point"
        );
    })
    .await;
}

/// Cosine search: best similarity first, scores are cosine similarities.
pub async fn search_orders_by_cosine(port: Arc<dyn VectorPort>, prefix: &str) {
    search_orders(port, prefix, Distance::Cosine).await;
}

/// Dot search: largest dot product first, scores are raw dot products.
pub async fn search_orders_by_dot(port: Arc<dyn VectorPort>, prefix: &str) {
    search_orders(port, prefix, Distance::Dot).await;
}

/// Euclid search: smallest L2 distance first, scores are the distances.
pub async fn search_orders_by_euclid(port: Arc<dyn VectorPort>, prefix: &str) {
    search_orders(port, prefix, Distance::Euclid).await;
}

/// Manhattan search: smallest L1 distance first, scores are the distances.
pub async fn search_orders_by_manhattan(port: Arc<dyn VectorPort>, prefix: &str) {
    search_orders(port, prefix, Distance::Manhattan).await;
}

/// `score_threshold` keeps scores at least the threshold for similarities and at most the
/// threshold for distances.
pub async fn score_threshold_follows_distance(port: Arc<dyn VectorPort>, prefix: &str) {
    scoped(port, prefix, |store, names| async move {
        for distance in [
            Distance::Cosine,
            Distance::Dot,
            Distance::Euclid,
            Distance::Manhattan,
        ] {
            let fixture = order_fixture(distance);
            let name = names.collection(&distance.to_string());
            create(&*store, &name, 2, distance).await;
            ok(store.upsert(&name, fixture.points()).await, "upsert");
            let scores = fixture.expected.map(|(_, s)| s);
            let beyond = if distance.higher_is_better() {
                1.0
            } else {
                -1.0
            };
            let thresholds = [
                (f64::midpoint(scores[1], scores[2]), 2),
                (scores[0] + beyond * 0.5, 0),
                (scores[3] - beyond, 4),
            ];
            for (threshold, kept) in thresholds {
                #[allow(clippy::cast_possible_truncation)] // small fixture numbers
                let threshold = threshold as f32;
                let query = SearchQuery::new(fixture.query.clone(), 10).score_threshold(threshold);
                let hits = ok(store.search(&name, &query).await, "search");
                assert_hits(
                    &hits,
                    &fixture.expected[..kept],
                    &format!("{distance} search with score_threshold {threshold}"),
                );
            }
        }
    })
    .await;
}

/// Keyword, integer and bool matches, exact and case-sensitive, any element of an array.
pub async fn filter_match_values(port: Arc<dyn VectorPort>, prefix: &str) {
    scoped(port, prefix, |store, names| async move {
        let name = filter_collection(&*store, &names).await;
        let cases = [
            (
                Condition::keyword("color", "red"),
                &[1, 3, 6][..],
                "keyword color = red",
            ),
            (
                Condition::keyword("color", "Red"),
                &[],
                "keyword matches are case-sensitive",
            ),
            (
                Condition::keyword("color", "purple"),
                &[],
                "keyword without a match",
            ),
            (Condition::integer("size", 2), &[2, 4], "integer size = 2"),
            (Condition::integer("size", 7), &[6], "integer in an array"),
            (
                Condition::boolean("in_stock", false),
                &[2, 3],
                "bool in_stock = false",
            ),
            (
                Condition::boolean("in_stock", true),
                &[1, 4],
                "bool in_stock = true",
            ),
        ];
        for (condition, expected, what) in cases {
            check_filter(
                &*store,
                &name,
                Filter::default().must(condition),
                expected,
                what,
            )
            .await;
        }
    })
    .await;
}

/// Ranges with each bound (exclusive and inclusive), on integers and floats.
pub async fn filter_ranges(port: Arc<dyn VectorPort>, prefix: &str) {
    scoped(port, prefix, |store, names| async move {
        let name = filter_collection(&*store, &names).await;
        let cases = [
            (
                "price",
                range(Some(10.0), None, None, None),
                &[2, 3, 5][..],
                "price > 10",
            ),
            (
                "price",
                range(None, Some(10.0), None, None),
                &[1, 2, 3, 5],
                "price >= 10",
            ),
            (
                "price",
                range(None, None, Some(10.0), None),
                &[4],
                "price < 10",
            ),
            (
                "price",
                range(None, None, None, Some(10.0)),
                &[1, 4],
                "price <= 10",
            ),
            (
                "price",
                range(None, Some(5.25), Some(30.0), None),
                &[1, 2, 4],
                "5.25 <= price < 30",
            ),
            (
                "size",
                range(None, Some(6.0), None, None),
                &[6],
                "size >= 6 (in an array)",
            ),
            (
                "size",
                range(Some(1.0), None, None, Some(3.0)),
                &[2, 3, 4],
                "1 < size <= 3",
            ),
        ];
        for (key, bounds, expected, what) in cases {
            let filter = Filter::default().must(Condition::range(key, bounds));
            check_filter(&*store, &name, filter, expected, what).await;
        }
    })
    .await;
}

/// `must`, `should` and `must_not` combine as in Qdrant (a missing field never matches).
pub async fn filter_combinations(port: Arc<dyn VectorPort>, prefix: &str) {
    scoped(port, prefix, |store, names| async move {
        let name = filter_collection(&*store, &names).await;
        let red = || Condition::keyword("color", "red");
        let cases = [
            (
                Filter::default()
                    .must(red())
                    .must(Condition::integer("size", 3)),
                &[3][..],
                "two must conditions",
            ),
            (
                Filter::default()
                    .must(red())
                    .must_not(Condition::boolean("in_stock", false)),
                &[1, 6],
                "must and must_not (a missing field does not match must_not)",
            ),
            (
                Filter::default()
                    .should(Condition::integer("size", 1))
                    .should(Condition::integer("size", 2)),
                &[1, 2, 4, 6],
                "should alone",
            ),
            (
                Filter::default()
                    .must(red())
                    .should(Condition::integer("size", 1))
                    .should(Condition::integer("size", 3)),
                &[1, 3, 6],
                "must and should",
            ),
            (
                Filter::default().must_not(red()),
                &[2, 4, 5],
                "must_not alone",
            ),
            (
                Filter::default()
                    .must(Condition::range(
                        "price",
                        range(None, Some(5.0), None, None),
                    ))
                    .should(red())
                    .should(Condition::keyword("color", "blue"))
                    .must_not(Condition::keyword("tags", "sale")),
                &[3],
                "must, should and must_not together",
            ),
        ];
        for (filter, expected, what) in cases {
            check_filter(&*store, &name, filter, expected, what).await;
        }
    })
    .await;
}

/// Dotted paths reach into nested objects; a condition on an array holds when it holds for
/// any element.
pub async fn filter_nested_paths_and_arrays(port: Arc<dyn VectorPort>, prefix: &str) {
    scoped(port, prefix, |store, names| async move {
        let name = filter_collection(&*store, &names).await;
        let oslo = || Condition::keyword("address.city", "Oslo");
        let new = || Condition::keyword("tags", "new");
        let cases = [
            (
                Filter::default().must(oslo()),
                &[1, 3][..],
                "nested keyword",
            ),
            (
                Filter::default().must(Condition::range(
                    "address.zip",
                    range(None, Some(200.0), Some(400.0), None),
                )),
                &[2, 3],
                "nested range",
            ),
            (
                Filter::default().must(new()),
                &[1, 4, 6],
                "keyword in an array or a scalar",
            ),
            (
                Filter::default().must(Condition::keyword("tags", "sale")),
                &[1, 2],
                "keyword in arrays",
            ),
            (
                Filter::default().must_not(new()),
                &[2, 3, 5],
                "must_not on an array",
            ),
            (
                Filter::default().must(Condition::keyword("color", "green")),
                &[4, 6],
                "keyword equal to a scalar or in an array",
            ),
            (
                Filter::default()
                    .must(oslo())
                    .must_not(Condition::keyword("tags", "sale")),
                &[3],
                "nested path with must_not on an array",
            ),
        ];
        for (filter, expected, what) in cases {
            check_filter(&*store, &name, filter, expected, what).await;
        }
    })
    .await;
}

/// `count` is exact, with an empty filter (every point) and with a filter, right after
/// writes.
pub async fn count_with_and_without_filter(port: Arc<dyn VectorPort>, prefix: &str) {
    scoped(port, prefix, |store, names| async move {
        let name = names.collection("filters");
        create(&*store, &name, 2, Distance::Dot).await;
        let all = Filter::default();
        let red = Filter::default().must(Condition::keyword("color", "red"));
        assert_eq!(
            ok(store.count(&name, &all).await, "count"),
            0,
            "count of a new collection"
        );
        ok(store.upsert(&name, filter_points()).await, "upsert");
        assert_eq!(
            ok(store.count(&name, &all).await, "count"),
            6,
            "count of every point"
        );
        assert_eq!(
            ok(store.count(&name, &red).await, "count"),
            3,
            "count with a filter"
        );
        let none = Filter::default().must(Condition::keyword("color", "purple"));
        assert_eq!(
            ok(store.count(&name, &none).await, "count"),
            0,
            "count matching nothing"
        );
        ok(store.delete(&name, &num_ids(&[1])).await, "delete");
        assert_eq!(
            ok(store.count(&name, &red).await, "count"),
            2,
            "count after a delete"
        );
    })
    .await;
}

/// An approximate count (Qdrant's cardinality estimate) is exact without a filter and never
/// more than the collection holds with one; it refuses what an exact count refuses.
pub async fn approximate_count_is_an_estimate(port: Arc<dyn VectorPort>, prefix: &str) {
    scoped(port, prefix, |store, names| async move {
        let name = filter_collection(&*store, &names).await;
        let all = CountRequest::approximate(Filter::default());
        assert_eq!(
            ok(store.count_points(&name, &all).await, "count"),
            6,
            "an approximate count without a filter counts every point"
        );
        let red = Filter::default().must(Condition::keyword("color", "red"));
        let estimate = ok(
            store
                .count_points(&name, &CountRequest::approximate(red.clone()))
                .await,
            "count",
        );
        assert!(
            estimate <= 6,
            "an estimate never exceeds the collection's 6 points, got {estimate}"
        );
        assert_eq!(
            ok(
                store.count_points(&name, &CountRequest::exact(red)).await,
                "count"
            ),
            3,
            "an exact count through count_points"
        );
        let too_deep = (0..MAX_FILTER_DEPTH).fold(
            Filter::default().must(Condition::keyword("color", "red")),
            |inner, _| Filter::default().must(Condition::group(inner)),
        );
        expect_kind(
            store
                .count_points(&name, &CountRequest::approximate(too_deep))
                .await,
            ErrorKind::InvalidInput,
            "an approximate count with a filter nested too deep",
        );
        expect_kind(
            store.count_points(&names.collection("absent"), &all).await,
            ErrorKind::NotFound,
            "an approximate count of a missing collection",
        );
    })
    .await;
}

/// `with_payload(false)` gives `payload: None`, `with_vector(true)` gives the vectors.
pub async fn search_payload_and_vector_flags(port: Arc<dyn VectorPort>, prefix: &str) {
    scoped(port, prefix, |store, names| async move {
        let name = names.collection("items");
        create(&*store, &name, 2, Distance::Dot).await;
        let fixture = order_fixture(Distance::Dot);
        ok(store.upsert(&name, fixture.points()).await, "upsert");
        let base = SearchQuery::new(fixture.query.clone(), 10);

        let hits = ok(
            store.search(&name, &base.clone().with_payload(false)).await,
            "search",
        );
        assert_eq!(hits.len(), 4, "search of every point");
        assert!(
            hits.iter()
                .all(|h| h.payload.is_none() && h.vectors.is_none()),
            "search without payload or vector must return neither: {hits:?}"
        );

        let query = base.with_payload(true).with_vector(true);
        let hits = ok(store.search(&name, &query).await, "search");
        assert_hits(&hits, &fixture.expected, "search with payload and vector");
        let vectors: HashMap<PointId, [f32; 2]> = fixture
            .points
            .iter()
            .map(|(id, v)| (PointId::Num(*id), *v))
            .collect();
        for hit in &hits {
            let PointId::Num(n) = hit.id else {
                panic!("unexpected id {}", hit.id)
            };
            assert_eq!(
                hit.payload,
                Some(payload(json!({"n": n}))),
                "payload of point {n}"
            );
            assert_vector(
                hit.vector(),
                &vectors[&hit.id],
                &format!("vector of point {n}"),
            );
        }
    })
    .await;
}

/// The reference score of a point, computed in f64 from the raw vectors.
fn reference_score(distance: Distance, query: &[f32], vector: &[f32]) -> f64 {
    let pairs = || {
        query
            .iter()
            .zip(vector)
            .map(|(a, b)| (f64::from(*a), f64::from(*b)))
    };
    match distance {
        Distance::Cosine => {
            let norm = |v: &[f32]| v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
            pairs().map(|(a, b)| a * b).sum::<f64>() / (norm(query) * norm(vector))
        }
        Distance::Dot => pairs().map(|(a, b)| a * b).sum(),
        Distance::Euclid => pairs().map(|(a, b)| (a - b).powi(2)).sum::<f64>().sqrt(),
        Distance::Manhattan => pairs().map(|(a, b)| (a - b).abs()).sum(),
    }
}

/// Checks a search against a brute-force reference without depending on how near-equal
/// scores are ordered: right length, no duplicates, every id a real match with its score,
/// and the score at each rank equal to the reference's score at that rank.
#[track_caller]
fn assert_matches_reference(
    hits: &[ScoredPoint],
    reference: &[(PointId, f64)],
    limit: usize,
    what: &str,
) {
    assert_eq!(
        hits.len(),
        limit.min(reference.len()),
        "{what}: number of results"
    );
    let scores: HashMap<PointId, f64> = reference.iter().copied().collect();
    let mut seen = HashSet::new();
    for (rank, hit) in hits.iter().enumerate() {
        assert!(
            seen.insert(hit.id),
            "{what}: point {} returned twice",
            hit.id
        );
        let Some(expected) = scores.get(&hit.id) else {
            panic!("{what}: point {} does not match the query's filter", hit.id);
        };
        assert_close(
            hit.score,
            *expected,
            &format!("{what}: score of point {}", hit.id),
        );
        assert_close(
            hit.score,
            reference[rank].1,
            &format!("{what}: score at rank {rank}"),
        );
    }
}

/// Exact search on a few hundred random points equals a brute-force reference, for every
/// distance, with and without a filter.
pub async fn exact_search_matches_brute_force(port: Arc<dyn VectorPort>, prefix: &str) {
    const POINTS: u64 = 300;
    const DIMENSION: usize = 8;
    scoped(port, prefix, |store, names| async move {
        let distances = [
            Distance::Cosine,
            Distance::Dot,
            Distance::Euclid,
            Distance::Manhattan,
        ];
        for (seed, distance) in (0x5eed_u64..).zip(distances) {
            let mut rng = fastrand::Rng::with_seed(seed);
            let mut vector =
                || -> Vec<f32> { (0..DIMENSION).map(|_| rng.f32() * 2.0 - 1.0).collect() };
            let points: Vec<Point> = (0..POINTS)
                .map(|i| {
                    Point::new(i, vector())
                        .with_payload(payload(json!({"group": i % 3, "rank": i})))
                })
                .collect();
            let name = names.collection(&format!("bf_{distance}"));
            create(&*store, &name, DIMENSION, distance).await;
            ok(
                store.upsert_in_batches(&name, points.clone(), 100).await,
                "upsert_in_batches",
            );
            assert_eq!(
                ok(store.count(&name, &Filter::default()).await, "count"),
                POINTS
            );

            let filtered =
                Filter::default()
                    .must(Condition::integer("group", 1))
                    .must(Condition::range(
                        "rank",
                        range(None, None, Some(200.0), None),
                    ));
            let queries = [
                (vector(), 10, Filter::default()),
                (vector(), 10, Filter::default()),
                (vector(), 1, Filter::default()),
                (vector(), 25, filtered.clone()),
                (vector(), 300, Filter::default()),
            ];
            for (n, (query_vector, limit, filter)) in queries.into_iter().enumerate() {
                let mut reference: Vec<(PointId, f64)> = points
                    .iter()
                    .filter(|p| filter.matches(p.id, &p.payload))
                    .map(|p| {
                        (
                            p.id,
                            reference_score(
                                distance,
                                &query_vector,
                                p.vectors.unnamed_dense().unwrap_or_default(),
                            ),
                        )
                    })
                    .collect();
                reference.sort_by(|a, b| {
                    if distance.higher_is_better() {
                        b.1.total_cmp(&a.1)
                    } else {
                        a.1.total_cmp(&b.1)
                    }
                });
                let query = SearchQuery::new(query_vector, limit)
                    .filter(filter)
                    .exact(true);
                let hits = ok(store.search(&name, &query).await, "search");
                let what = format!("{distance} exact search #{n} (seed {seed:#x}, limit {limit})");
                assert_matches_reference(&hits, &reference, limit, &what);
            }
        }
    })
    .await;
}

/// `upsert_with` without waiting returns once the server accepted the write, which is then
/// applied (read back within seconds); a waited write with another ordering is visible at
/// once; invalid points are refused whatever the options. Qdrant documents `wait=false`
/// as acknowledging before the write is applied and ordering as a replica-level choice,
/// so this case polls rather than expecting the first read to see the unwaited write.
pub async fn upsert_with_options_is_applied(port: Arc<dyn VectorPort>, prefix: &str) {
    scoped(port, prefix, |store, names| async move {
        let name = names.collection("bulk");
        create(&*store, &name, 2, Distance::Dot).await;
        let bulk: Vec<Point> = (1..=50)
            .map(|i: u16| {
                Point::new(u64::from(i), vec![1.0, f32::from(i)])
                    .with_payload(payload(json!({"i": i})))
            })
            .collect();
        let unwaited = WriteOptions::no_wait().with_ordering(WriteOrdering::Strong);
        ok(
            store.upsert_with(&name, bulk, &unwaited).await,
            "upsert_with(wait = false, strong)",
        );
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let count = ok(store.count(&name, &Filter::default()).await, "count");
            if count == 50 {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "an unwaited upsert of 50 points left {count} after 10 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let records = ok(store.get(&name, &num_ids(&[7]), true).await, "get");
        assert_eq!(records.len(), 1, "a point of the unwaited batch");
        assert_eq!(records[0].payload, payload(json!({"i": 7})));
        assert_vector(records[0].vector(), &[1.0, 7.0], "its vector");

        let waited = WriteOptions::default().with_ordering(WriteOrdering::Medium);
        let point = Point::new(51, vec![0.0, 1.0]);
        ok(
            store.upsert_with(&name, vec![point], &waited).await,
            "upsert_with(wait = true, medium)",
        );
        let records = ok(store.get(&name, &num_ids(&[51]), false).await, "get");
        assert_eq!(
            records.len(),
            1,
            "a waited upsert is visible to the next read"
        );

        for options in [unwaited, waited] {
            expect_kind(
                store
                    .upsert_with(&name, vec![Point::new(52, vec![1.0, 0.0, 0.0])], &options)
                    .await,
                ErrorKind::InvalidInput,
                "upsert_with of a vector of dimension 3 in a collection of dimension 2",
            );
        }
        let count = ok(store.count(&name, &Filter::default()).await, "count");
        assert_eq!(count, 51, "a refused batch writes nothing");
    })
    .await;
}

/// Concurrent upserts from many tasks are all applied.
pub async fn concurrent_upserts(port: Arc<dyn VectorPort>, prefix: &str) {
    const TASKS: u64 = 8;
    const PER_TASK: u64 = 25;
    scoped(port, prefix, |store, names| async move {
        let name = names.collection("concurrent");
        create(&*store, &name, 4, Distance::Dot).await;
        let mut tasks = JoinSet::new();
        for task in 0..TASKS {
            let store = Arc::clone(&store);
            let name = name.clone();
            tasks.spawn(async move {
                for i in 0..PER_TASK {
                    let id = task * 1000 + i;
                    let point = Point::new(id, vec![1.0, 0.5, 0.25, 0.125])
                        .with_payload(payload(json!({"task": task, "i": i})));
                    ok(store.upsert(&name, vec![point]).await, "upsert");
                }
            });
        }
        join_all(tasks).await;
        let total = TASKS * PER_TASK;
        assert_eq!(
            ok(store.count(&name, &Filter::default()).await, "count"),
            total,
            "every concurrent upsert must be applied"
        );
        let ids: Vec<PointId> = (0..TASKS)
            .flat_map(|task| (0..PER_TASK).map(move |i| PointId::Num(task * 1000 + i)))
            .collect();
        let records = ok(store.get(&name, &ids, false).await, "get");
        assert_eq!(
            records.len(),
            ids.len(),
            "get of every concurrently written point"
        );
        for record in records {
            let PointId::Num(id) = record.id else {
                panic!("unexpected id {}", record.id)
            };
            let expected = payload(json!({"task": id / 1000, "i": id % 1000}));
            assert_eq!(record.payload, expected, "payload of point {id}");
        }
    })
    .await;
}

/// The ids of every page of a scroll of `name` with `filter` and pages of `limit`, page by
/// page, checking each page: at most `limit` points, ids ascending, a cursor on every page
/// but the last (a walk that does not end within `max_pages` fails).
async fn scroll_ids(
    store: &dyn VectorPort,
    name: &str,
    filter: &Filter,
    limit: usize,
    max_pages: usize,
) -> Vec<Vec<PointId>> {
    let mut pages = Vec::new();
    let mut offset = None;
    loop {
        assert!(
            pages.len() < max_pages,
            "scroll with pages of {limit} did not end after {max_pages} pages"
        );
        let request = ScrollRequest::new(limit)
            .filter(filter.clone())
            .offset(offset);
        let page = ok(store.scroll(name, &request).await, "scroll");
        let ids: Vec<PointId> = page.points.iter().map(|r| r.id).collect();
        assert!(
            ids.len() <= limit,
            "a scroll page has at most limit ({limit}) points, got {ids:?}"
        );
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "a scroll page is sorted by ascending id: {ids:?}"
        );
        if let Some(first) = ids.first() {
            assert!(
                offset.is_none_or(|o| o <= *first),
                "a page starts at its offset {offset:?} or after, got {first}"
            );
        }
        pages.push(ids);
        match page.next_page_offset {
            Some(next) => offset = Some(next),
            None => return pages,
        }
    }
}

/// Scrolling with a filter, page by page, visits every matching point exactly once (ids of
/// both kinds), and `scroll_all` walks the same pages.
pub async fn scroll_pages_cover_matching_points_once(port: Arc<dyn VectorPort>, prefix: &str) {
    scoped(port, prefix, |store, names| async move {
        let name = names.collection("scroll");
        create(&*store, &name, 2, Distance::Dot).await;
        let mut points: Vec<Point> = (1..=23u64)
            .map(|i| {
                let group = if i % 3 == 0 { "a" } else { "b" };
                Point::new(i, vec![1.0, 0.0]).with_payload(payload(json!({"group": group})))
            })
            .collect();
        for (i, group) in [(1u128, "b"), (2, "a"), (3, "b"), (4, "b")] {
            let id = Uuid::from_u128(0x5f0c_0000_0000_4000_8000_0000_0000_0000 + i);
            points.push(
                Point::new(id, vec![0.0, 1.0]).with_payload(payload(json!({"group": group}))),
            );
        }
        ok(store.upsert(&name, points.clone()).await, "upsert");
        let b = Filter::default().must(Condition::keyword("group", "b"));
        let expected: BTreeSet<PointId> = points
            .iter()
            .filter(|p| b.matches(p.id, &p.payload))
            .map(|p| p.id)
            .collect();
        assert_eq!(
            expected.len(),
            19,
            "suite bug: the fixture has 19 points of b"
        );

        for limit in [1, 4, 7, 19, 100] {
            let pages = scroll_ids(&*store, &name, &b, limit, expected.len() + 2).await;
            let all: Vec<PointId> = pages.iter().flatten().copied().collect();
            let unique: BTreeSet<PointId> = all.iter().copied().collect();
            assert_eq!(
                unique.len(),
                all.len(),
                "pages of {limit}: a point was returned twice: {pages:?}"
            );
            assert_eq!(
                unique, expected,
                "pages of {limit}: the points of the filter"
            );
            assert!(
                all.windows(2).all(|w| w[0] < w[1]),
                "pages of {limit}: the walk is sorted by ascending id: {pages:?}"
            );
        }

        // The helper walks the same pages, with the request's payload and vector flags.
        let request = ScrollRequest::new(5)
            .filter(b.clone())
            .with_payload(false)
            .with_vector(true);
        let mut pages = store.scroll_all(&name, request);
        let mut walked = Vec::new();
        while let Some(page) = ok(pages.next_page().await, "scroll_all") {
            for record in page.points {
                assert!(
                    record.payload.is_empty(),
                    "scroll without payloads returned {:?}",
                    record.payload
                );
                assert!(
                    record.vectors.is_some(),
                    "scroll with vectors returned none for {}",
                    record.id
                );
                walked.push(record.id);
            }
        }
        assert_eq!(
            walked,
            expected.iter().copied().collect::<Vec<_>>(),
            "scroll_all visits every matching point once, by ascending id"
        );
        assert!(
            ok(pages.next_page().await, "scroll_all after the end").is_none(),
            "scroll_all ends after the last page"
        );

        let with_payload = ok(
            store
                .scroll(&name, &ScrollRequest::new(1).offset(Some(PointId::Num(3))))
                .await,
            "scroll",
        );
        assert_eq!(with_payload.points.len(), 1, "a page of one point");
        assert_eq!(
            with_payload.points[0].id,
            PointId::Num(3),
            "the page starts at its offset"
        );
        assert_eq!(
            with_payload.points[0].payload,
            payload(json!({"group": "a"})),
            "scroll returns payloads by default"
        );
        assert!(
            with_payload.points[0].vectors.is_none(),
            "scroll returns no vectors by default"
        );
    })
    .await;
}

/// The last page has no cursor: when the points fit the limit exactly, when one page is
/// full and the next has the rest, and on an empty collection or filter.
pub async fn scroll_last_page_has_no_cursor(port: Arc<dyn VectorPort>, prefix: &str) {
    scoped(port, prefix, |store, names| async move {
        let name = names.collection("scroll");
        create(&*store, &name, 2, Distance::Dot).await;
        let empty = ok(store.scroll(&name, &ScrollRequest::new(10)).await, "scroll");
        assert!(
            empty.points.is_empty() && empty.next_page_offset.is_none(),
            "the scroll of an empty collection: {empty:?}"
        );
        ok(store.upsert(&name, filter_points()).await, "upsert");
        let all = Filter::default();
        for (limit, expected) in [
            (6, vec![num_ids(&[1, 2, 3, 4, 5, 6])]),
            (10, vec![num_ids(&[1, 2, 3, 4, 5, 6])]),
            (5, vec![num_ids(&[1, 2, 3, 4, 5]), num_ids(&[6])]),
            (3, vec![num_ids(&[1, 2, 3]), num_ids(&[4, 5, 6])]),
        ] {
            let pages = scroll_ids(&*store, &name, &all, limit, 4).await;
            assert_eq!(pages, expected, "the pages of {limit}");
        }
        let page = ok(store.scroll(&name, &ScrollRequest::new(5)).await, "scroll");
        assert_eq!(
            page.next_page_offset,
            Some(PointId::Num(6)),
            "the cursor of a full page is the first id of the next page"
        );
        let red = Filter::default().must(Condition::keyword("color", "red"));
        let pages = scroll_ids(&*store, &name, &red, 2, 4).await;
        assert_eq!(
            pages,
            vec![num_ids(&[1, 3]), num_ids(&[6])],
            "the pages of 2 with a filter"
        );
        let none = Filter::default().must(Condition::keyword("color", "purple"));
        let page = ok(
            store
                .scroll(&name, &ScrollRequest::new(2).filter(none))
                .await,
            "scroll",
        );
        assert!(
            page.points.is_empty() && page.next_page_offset.is_none(),
            "the scroll of a filter matching nothing: {page:?}"
        );
    })
    .await;
}

/// Invalid scroll limits are `InvalidInput`, and so is `order_by` on a field without any
/// index, or with an offset.
pub async fn scroll_refuses_invalid_requests(port: Arc<dyn VectorPort>, prefix: &str) {
    scoped(port, prefix, |store, names| async move {
        let name = names.collection("scroll");
        create(&*store, &name, 2, Distance::Dot).await;
        ok(store.upsert(&name, filter_points()).await, "upsert");
        for limit in [0, MAX_SCROLL_LIMIT + 1] {
            expect_kind(
                store.scroll(&name, &ScrollRequest::new(limit)).await,
                ErrorKind::InvalidInput,
                &format!("scroll with limit {limit}"),
            );
        }
        let ordered = ScrollRequest::new(3).order_by(OrderBy::asc("size"));
        let err = store
            .scroll(&name, &ordered)
            .await
            .expect_err("order_by without a range index is refused");
        assert_eq!(
            err.kind(),
            ErrorKind::InvalidInput,
            "order_by without a range index: {}",
            err.chain()
        );
        assert!(
            err.message().to_lowercase().contains("range index"),
            "the refusal of order_by names the missing range index: {}",
            err.message()
        );
        expect_kind(
            store
                .scroll(&name, &ordered.offset(Some(PointId::Num(2))))
                .await,
            ErrorKind::InvalidInput,
            "scroll with order_by and an offset",
        );
        let mut pages =
            store.scroll_all(&name, ScrollRequest::new(3).order_by(OrderBy::desc("size")));
        expect_kind(
            pages.next_page().await,
            ErrorKind::InvalidInput,
            "scroll_all with order_by",
        );
    })
    .await;
}

/// `delete_points` by filter removes exactly the matching points; by ids it is `delete`.
pub async fn delete_points_by_filter(port: Arc<dyn VectorPort>, prefix: &str) {
    scoped(port, prefix, |store, names| async move {
        let name = filter_collection(&*store, &names).await;
        let red = Filter::default().must(Condition::keyword("color", "red"));
        ok(
            store
                .delete_points(&name, &PointSelector::Filter(red.clone()))
                .await,
            "delete_points by filter",
        );
        assert_eq!(
            ok(store.count(&name, &Filter::default()).await, "count"),
            3,
            "count after deleting the three red points"
        );
        assert_eq!(ok(store.count(&name, &red).await, "count"), 0, "red left");
        let records = ok(
            store.get(&name, &num_ids(&[1, 2, 3, 4, 5, 6]), false).await,
            "get",
        );
        let got: Vec<PointId> = records.iter().map(|r| r.id).collect();
        assert_eq!(got, num_ids(&[2, 4, 5]), "the points left after the delete");
        ok(
            store
                .delete_points(&name, &PointSelector::Filter(red))
                .await,
            "delete_points by a filter matching nothing",
        );
        ok(
            store
                .delete_points(&name, &PointSelector::Ids(num_ids(&[4, 99])))
                .await,
            "delete_points by ids",
        );
        let records = ok(store.get(&name, &num_ids(&[2, 4, 5]), false).await, "get");
        let got: Vec<PointId> = records.iter().map(|r| r.id).collect();
        assert_eq!(
            got,
            num_ids(&[2, 5]),
            "the points left after deleting by ids"
        );
        ok(
            store
                .delete_points(&name, &PointSelector::Filter(Filter::default()))
                .await,
            "delete_points by the empty filter",
        );
        assert_eq!(
            ok(store.count(&name, &Filter::default()).await, "count"),
            0,
            "the empty filter selects every point"
        );
    })
    .await;
}

/// Three points with payloads for the payload update cases; `update` applies to points 1
/// and 2, by ids or by a filter (`kind == "x"`), and point 3 must stay as it is.
async fn check_payload_update(
    store: &dyn VectorPort,
    names: &Names,
    update: PayloadUpdate,
    expected: [Value; 2],
) {
    let original = [
        json!({"kind": "x", "size": 1, "color": "red", "address": {"city": "Oslo", "zip": 100}}),
        json!({"kind": "x", "size": 2, "tags": ["a"]}),
        json!({"kind": "y", "size": 3, "color": "blue", "address": {"city": "Rome", "zip": 400}}),
    ];
    let x = Filter::default().must(Condition::keyword("kind", "x"));
    for (what, selector) in [
        ("ids", PointSelector::Ids(num_ids(&[1, 2]))),
        ("filter", PointSelector::Filter(x)),
    ] {
        let name = names.collection(&format!("payload_{what}"));
        create(store, &name, 2, Distance::Dot).await;
        let points: Vec<Point> = original
            .iter()
            .zip(1u8..)
            .map(|(p, id)| {
                Point::new(u64::from(id), vec![f32::from(id), 1.0]).with_payload(payload(p.clone()))
            })
            .collect();
        ok(store.upsert(&name, points.clone()).await, "upsert");
        let label = format!("{} by {what}", update.qdrant_name());
        ok(
            store.update_payload(&name, &selector, &update).await,
            &label,
        );
        let records = ok(store.get(&name, &num_ids(&[1, 2, 3]), true).await, "get");
        assert_eq!(records.len(), 3, "{label}: the points are still there");
        for (record, want) in records.iter().zip(&expected) {
            assert_eq!(
                Value::Object(record.payload.clone()),
                *want,
                "{label}: the payload of point {}",
                record.id
            );
        }
        assert_eq!(
            Value::Object(records[2].payload.clone()),
            original[2],
            "{label}: a point that is not selected keeps its payload"
        );
        for (record, point) in records.iter().zip(&points) {
            assert_vector(
                record.vector(),
                point.vectors.unnamed_dense().unwrap_or_default(),
                &format!("{label}: the vector of point {}", record.id),
            );
        }
    }
}

/// `set_payload` replaces the top-level keys given (a nested object as a whole) and keeps
/// the others, by ids and by filter.
pub async fn set_payload_merges_keys(port: Arc<dyn VectorPort>, prefix: &str) {
    scoped(port, prefix, |store, names| async move {
        let update = PayloadUpdate::Set(payload(
            json!({"size": 9, "address": {"city": "Bergen"}, "new": true}),
        ));
        let expected = [
            json!({"kind": "x", "size": 9, "color": "red", "address": {"city": "Bergen"},
                   "new": true}),
            json!({"kind": "x", "size": 9, "tags": ["a"], "address": {"city": "Bergen"},
                   "new": true}),
        ];
        check_payload_update(&*store, &names, update, expected).await;
    })
    .await;
}

/// `overwrite_payload` replaces the whole payload, by ids and by filter.
pub async fn overwrite_payload_replaces_it(port: Arc<dyn VectorPort>, prefix: &str) {
    scoped(port, prefix, |store, names| async move {
        let update = PayloadUpdate::Overwrite(payload(json!({"only": "this"})));
        let expected = [json!({"only": "this"}), json!({"only": "this"})];
        check_payload_update(&*store, &names, update, expected).await;
    })
    .await;
}

/// `delete_payload` removes the keys given (top-level and nested paths), ignores absent
/// ones and keeps the rest, by ids and by filter.
pub async fn delete_payload_keys_removes_them(port: Arc<dyn VectorPort>, prefix: &str) {
    scoped(port, prefix, |store, names| async move {
        let keys = ["color", "address.zip", "tags", "absent"];
        let update = PayloadUpdate::DeleteKeys(keys.map(String::from).to_vec());
        let expected = [
            json!({"kind": "x", "size": 1, "address": {"city": "Oslo"}}),
            json!({"kind": "x", "size": 2}),
        ];
        check_payload_update(&*store, &names, update, expected).await;
    })
    .await;
}

/// `clear_payload` empties the payload and keeps the point, by ids and by filter.
pub async fn clear_payload_empties_it(port: Arc<dyn VectorPort>, prefix: &str) {
    scoped(port, prefix, |store, names| async move {
        let expected = [json!({}), json!({})];
        check_payload_update(&*store, &names, PayloadUpdate::Clear, expected).await;
    })
    .await;
}

/// `list_collections` is sorted, names a created collection and no longer a deleted one.
pub async fn list_collections_follows_create_and_delete(port: Arc<dyn VectorPort>, prefix: &str) {
    scoped(port, prefix, |store, names| async move {
        let kept = names.collection("listed_kept");
        let gone = names.collection("listed_gone");
        create(&*store, &kept, 2, Distance::Dot).await;
        create(&*store, &gone, 2, Distance::Cosine).await;
        let listed = ok(store.list_collections().await, "list_collections");
        assert!(
            listed.contains(&kept) && listed.contains(&gone),
            "list_collections names both created collections: {listed:?}"
        );
        assert!(
            listed.windows(2).all(|w| w[0] < w[1]),
            "list_collections is sorted, each name once: {listed:?}"
        );
        assert!(ok(
            store.delete_collection(&gone).await,
            "delete_collection"
        ));
        let listed = ok(store.list_collections().await, "list_collections");
        assert!(
            listed.contains(&kept) && !listed.contains(&gone),
            "list_collections after deleting {gone}: {listed:?}"
        );
    })
    .await;
}

/// Five points for the condition cases (dot distance, dimension 2): colors and numbers
/// as scalars and arrays, an optional field that is `null`, missing, a value or `[]`, a
/// datetime with and without an offset, geo points (Berlin, Paris, New York) and an
/// array of objects.
fn condition_points() -> Vec<Point> {
    let payloads = [
        json!({"color": "red", "n": 1, "tags": ["a", "b"], "opt": null,
               "at": "2024-05-01T12:00:00Z", "place": {"lon": 13.405, "lat": 52.52},
               "diet": [{"food": "meat", "likes": false}, {"food": "veggies", "likes": true}]}),
        json!({"color": "blue", "n": 2, "tags": [],
               "at": "2024-05-02T00:00:00Z", "place": {"lon": 2.3522, "lat": 48.8566},
               "diet": [{"food": "meat", "likes": true}]}),
        json!({"color": "green", "n": 3, "tags": ["a"], "opt": "x",
               "at": "2024-04-30T23:59:59Z", "place": {"lon": -74.006, "lat": 40.7128},
               "diet": []}),
        json!({"color": ["red", "green"], "n": [1, 5], "opt": [],
               "at": "2024-05-01T14:00:00+02:00"}),
        json!({"other": true}),
    ];
    numbered_points(payloads)
}

/// Runs `cases` against a fresh collection of [`condition_points`].
async fn check_conditions(
    port: Arc<dyn VectorPort>,
    prefix: &str,
    cases: Vec<(Filter, Vec<u64>, &'static str)>,
) {
    scoped(port, prefix, |store, names| async move {
        let name = names.collection("conditions");
        create(&*store, &name, 2, Distance::Dot).await;
        ok(store.upsert(&name, condition_points()).await, "upsert");
        for (filter, expected, what) in cases {
            check_filter(&*store, &name, filter, &expected, what).await;
        }
    })
    .await;
}

/// A `Filter` is a condition (a nested group), and `min_should` requires a number of its
/// conditions, alongside `should`.
pub async fn filter_groups_and_min_should(port: Arc<dyn VectorPort>, prefix: &str) {
    let color = |c: &str| Condition::keyword("color", c);
    let n = |v| Condition::integer("n", v);
    let cases = vec![
        (
            Filter::default().must(Condition::group(
                Filter::default().should(color("red")).should(color("blue")),
            )),
            vec![1, 2, 4],
            "must of a should group",
        ),
        (
            Filter::default().must_not(Condition::group(
                Filter::default().must(n(1)).must(color("red")),
            )),
            vec![2, 3, 5],
            "must_not of a must group",
        ),
        (
            Filter::default().min_should([color("red"), n(1), Condition::keyword("tags", "a")], 2),
            vec![1, 4],
            "min_should 2 of 3",
        ),
        (
            Filter::default()
                .should(color("green"))
                .min_should([n(3), Condition::keyword("tags", "a")], 2),
            vec![3],
            "should and min_should both hold",
        ),
        (
            Filter::default().should(Condition::group(
                Filter::default().must(Condition::group(Filter::default().must(color("blue")))),
            )),
            vec![2],
            "groups nested three deep",
        ),
    ];
    check_conditions(port, prefix, cases).await;
}

/// `match any` holds when the value (or an element) is listed; `match except` when the
/// field has a value (or an element) that is not. The except cases also require the field
/// to exist, since Qdrant documents except only for points that have it.
pub async fn filter_match_any_and_except(port: Arc<dyn VectorPort>, prefix: &str) {
    let missing_or_empty = |key: &str| Condition::is_empty(key);
    let cases = vec![
        (
            Filter::default().must(Condition::any_keywords("color", ["red", "blue"])),
            vec![1, 2, 4],
            "any of keywords, scalar or in an array",
        ),
        (
            Filter::default().must(Condition::any_integers("n", [2, 5])),
            vec![2, 4],
            "any of integers",
        ),
        (
            Filter::default().must(Condition::any_keywords("color", ["purple"])),
            vec![],
            "any matching nothing",
        ),
        (
            Filter::default()
                .must(Condition::except_keywords("color", ["red"]))
                .must_not(missing_or_empty("color")),
            vec![2, 3, 4],
            "except a keyword: an array with another element matches",
        ),
        (
            Filter::default()
                .must(Condition::except_keywords("color", ["red", "green"]))
                .must_not(missing_or_empty("color")),
            vec![2],
            "except keywords: an array of listed values does not match",
        ),
        (
            Filter::default()
                .must(Condition::except_integers("n", [1]))
                .must_not(missing_or_empty("n")),
            vec![2, 3, 4],
            "except an integer",
        ),
    ];
    check_conditions(port, prefix, cases).await;
}

/// `is_empty` holds for a missing field, `null` and `[]`; `is_null` only for `null`.
pub async fn filter_is_empty_and_is_null(port: Arc<dyn VectorPort>, prefix: &str) {
    let cases = vec![
        (
            Filter::default().must(Condition::is_empty("opt")),
            vec![1, 2, 4, 5],
            "is_empty: null, missing or []",
        ),
        (
            Filter::default().must(Condition::is_null("opt")),
            vec![1],
            "is_null: only null",
        ),
        (
            Filter::default().must_not(Condition::is_empty("opt")),
            vec![3],
            "not is_empty: a value",
        ),
        (
            Filter::default().must_not(Condition::is_null("opt")),
            vec![2, 3, 4, 5],
            "not is_null: missing, a value or []",
        ),
        (
            Filter::default().must(Condition::is_empty("tags")),
            vec![2, 4, 5],
            "is_empty on an array field",
        ),
    ];
    check_conditions(port, prefix, cases).await;
}

/// `has_id` selects points by id, alone, negated and combined with payload conditions.
pub async fn filter_has_id(port: Arc<dyn VectorPort>, prefix: &str) {
    let cases = vec![
        (
            Filter::default().must(Condition::has_id([2u64, 4, 99])),
            vec![2, 4],
            "has_id with an unknown id",
        ),
        (
            Filter::default().must_not(Condition::has_id([1u64])),
            vec![2, 3, 4, 5],
            "must_not has_id",
        ),
        (
            Filter::default()
                .must(Condition::has_id([1u64, 2]))
                .must(Condition::keyword("color", "blue")),
            vec![2],
            "has_id and a match",
        ),
    ];
    check_conditions(port, prefix, cases).await;
}

/// `values_count` counts an array's elements and a scalar as one value.
pub async fn filter_values_count(port: Arc<dyn VectorPort>, prefix: &str) {
    let count = |gt, gte, lt| crate::vector::ValuesCount {
        gt,
        gte,
        lt,
        lte: None,
    };
    let cases = vec![
        (
            Filter::default().must(Condition::values_count("tags", count(None, Some(2), None))),
            vec![1],
            "at least two tags",
        ),
        (
            Filter::default().must(Condition::values_count("tags", count(Some(0), None, None))),
            vec![1, 3],
            "more than zero tags",
        ),
        (
            Filter::default().must(Condition::values_count(
                "tags",
                count(None, Some(1), Some(2)),
            )),
            vec![3],
            "exactly one tag",
        ),
        (
            Filter::default().must(Condition::values_count("color", count(None, Some(2), None))),
            vec![4],
            "a scalar counts one",
        ),
    ];
    check_conditions(port, prefix, cases).await;
}

/// `datetime_range` compares instants: an offset in the payload or in a bound is
/// applied, bounds are inclusive or exclusive as asked.
pub async fn filter_datetime_range(port: Arc<dyn VectorPort>, prefix: &str) {
    let range = |gt: Option<&str>, gte: Option<&str>, lt: Option<&str>, lte: Option<&str>| {
        crate::vector::DatetimeRange {
            gt: gt.map(Into::into),
            gte: gte.map(Into::into),
            lt: lt.map(Into::into),
            lte: lte.map(Into::into),
        }
    };
    let at = |r| Filter::default().must(Condition::datetime_range("at", r));
    let cases = vec![
        (
            at(range(
                None,
                Some("2024-05-01T00:00:00Z"),
                Some("2024-05-02T00:00:00Z"),
                None,
            )),
            vec![1, 4],
            "within May 1st (UTC), one with an offset",
        ),
        (
            at(range(Some("2024-05-01T12:00:00Z"), None, None, None)),
            vec![2],
            "gt is exclusive",
        ),
        (
            at(range(None, None, None, Some("2024-05-01T12:00:00Z"))),
            vec![1, 3, 4],
            "lte is inclusive",
        ),
        (
            at(range(None, None, Some("2024-05-01T01:00:00+01:00"), None)),
            vec![3],
            "a bound with an offset",
        ),
    ];
    check_conditions(port, prefix, cases).await;
}

/// `geo_radius` (metres, great-circle) and `geo_bounding_box` select geo points.
pub async fn filter_geo_radius_and_bounding_box(port: Arc<dyn VectorPort>, prefix: &str) {
    use crate::vector::GeoPoint;
    let cases = vec![
        (
            Filter::default().must(Condition::geo_radius(
                "place",
                GeoPoint::new(13.4, 52.52),
                10_000.0,
            )),
            vec![1],
            "10 km around Berlin",
        ),
        (
            Filter::default().must(Condition::geo_radius(
                "place",
                GeoPoint::new(2.35, 48.85),
                1_000_000.0,
            )),
            vec![1, 2],
            "1000 km around Paris reaches Berlin",
        ),
        (
            Filter::default().must(Condition::geo_bounding_box(
                "place",
                GeoPoint::new(-10.0, 60.0),
                GeoPoint::new(30.0, 35.0),
            )),
            vec![1, 2],
            "a box around Europe",
        ),
        (
            Filter::default().must(Condition::geo_bounding_box(
                "place",
                GeoPoint::new(-130.0, 50.0),
                GeoPoint::new(-60.0, 25.0),
            )),
            vec![3],
            "a box around the United States",
        ),
    ];
    check_conditions(port, prefix, cases).await;
}

/// A `nested` condition holds when one object of the array matches the whole filter,
/// unlike conditions on `key[].field` paths, which may hold on different objects.
pub async fn filter_nested_objects(port: Arc<dyn VectorPort>, prefix: &str) {
    let meat_liked = || {
        Filter::default()
            .must(Condition::keyword("food", "meat"))
            .must(Condition::boolean("likes", true))
    };
    let cases = vec![
        (
            Filter::default().must(Condition::nested("diet", meat_liked())),
            vec![2],
            "nested: both on one object",
        ),
        (
            Filter::default()
                .must(Condition::keyword("diet[].food", "meat"))
                .must(Condition::boolean("diet[].likes", true)),
            vec![1, 2],
            "flat [] paths: on any objects",
        ),
        (
            Filter::default().must(Condition::nested(
                "diet",
                Filter::default().must(Condition::keyword("food", "veggies")),
            )),
            vec![1],
            "nested with one condition",
        ),
        (
            Filter::default().must_not(Condition::nested(
                "diet",
                Filter::default().must(Condition::boolean("likes", true)),
            )),
            vec![3, 4, 5],
            "must_not nested",
        ),
    ];
    check_conditions(port, prefix, cases).await;
}

/// Bad filters are `InvalidInput` naming what is wrong, on every operation that takes one,
/// before anything is written: an unparsable datetime, an impossible coordinate, `has_id`
/// inside a nested filter, a tree deeper than [`MAX_FILTER_DEPTH`].
pub async fn invalid_filters_are_invalid_input(port: Arc<dyn VectorPort>, prefix: &str) {
    use crate::vector::{DatetimeRange, GeoPoint};
    scoped(port, prefix, |store, names| async move {
        let name = names.collection("conditions");
        create(&*store, &name, 2, Distance::Dot).await;
        ok(store.upsert(&name, condition_points()).await, "upsert");
        let mut deep = Filter::default().must(Condition::integer("n", 1));
        for _ in 0..MAX_FILTER_DEPTH {
            deep = Filter::default().must(Condition::group(deep));
        }
        let bad = [
            (
                Filter::default().must(Condition::datetime_range(
                    "at",
                    DatetimeRange {
                        gte: Some("yesterday".into()),
                        ..DatetimeRange::default()
                    },
                )),
                "\"at\"",
            ),
            (
                Filter::default().must(Condition::geo_radius(
                    "place",
                    GeoPoint::new(200.0, 0.0),
                    10.0,
                )),
                "\"place\"",
            ),
            (
                Filter::default().must(Condition::nested(
                    "diet",
                    Filter::default().must(Condition::has_id([1u64])),
                )),
                "has_id",
            ),
            (deep, "deeper"),
        ];
        for (filter, named) in bad {
            let err = store
                .count(&name, &filter)
                .await
                .expect_err("count with a bad filter");
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{}", err.chain());
            assert!(
                err.message().contains(named),
                "the error names {named}: {}",
                err.message()
            );
            let query = SearchQuery::new(vec![1.0, 0.0], 10).filter(filter.clone());
            expect_kind(
                store.search(&name, &query).await,
                ErrorKind::InvalidInput,
                "search",
            );
            let scroll = ScrollRequest::new(10).filter(filter.clone());
            expect_kind(
                store.scroll(&name, &scroll).await,
                ErrorKind::InvalidInput,
                "scroll",
            );
            let selector = PointSelector::Filter(filter);
            expect_kind(
                store.delete_points(&name, &selector).await,
                ErrorKind::InvalidInput,
                "delete_points",
            );
            expect_kind(
                store
                    .update_payload(&name, &selector, &PayloadUpdate::Clear)
                    .await,
                ErrorKind::InvalidInput,
                "update_payload",
            );
        }
        assert_eq!(
            ok(store.count(&name, &Filter::default()).await, "count"),
            5,
            "a refused delete deleted nothing"
        );
        let first = ok(store.get(&name, &num_ids(&[1]), false).await, "get");
        assert_eq!(
            first[0].payload.get("color"),
            Some(&json!("red")),
            "a refused update changed nothing"
        );
    })
    .await;
}

/// Whether `list_aliases` shows `alias`, and for which collection.
async fn listed_alias(store: &dyn VectorPort, alias: &str) -> Option<Alias> {
    ok(store.list_aliases().await, "list_aliases")
        .into_iter()
        .find(|a| a.alias == alias)
}

/// Two collections `blue` (point 1) and `green` (point 2) of dimension 2, and an alias
/// name that the cleanup never deletes as a collection.
async fn alias_fixture(store: &dyn VectorPort, names: &Names) -> (String, String, String) {
    let blue = names.collection("alias_blue");
    let green = names.collection("alias_green");
    create(store, &blue, 2, Distance::Dot).await;
    create(store, &green, 2, Distance::Dot).await;
    ok(
        store
            .upsert(&blue, vec![Point::new(1, vec![1.0, 0.0])])
            .await,
        "upsert",
    );
    ok(
        store
            .upsert(&green, vec![Point::new(2, vec![0.0, 1.0])])
            .await,
        "upsert",
    );
    (blue, green, format!("{}_items", names.prefix))
}

/// An alias designates its collection in reads and writes, and moves to another
/// collection with one `update_aliases` call (delete + create: Qdrant's documented switch);
/// `list_aliases` follows.
pub async fn aliases_designate_and_switch_collections(port: Arc<dyn VectorPort>, prefix: &str) {
    scoped(port, prefix, |store, names| async move {
        let (blue, green, alias) = alias_fixture(&*store, &names).await;
        ok(
            store
                .update_aliases(&[AliasChange::create(&alias, &blue)])
                .await,
            "update_aliases (create)",
        );
        let read = ok(
            store.get(&alias, &num_ids(&[1, 2]), false).await,
            "get by alias",
        );
        assert_eq!(read.iter().map(|r| r.id).collect::<Vec<_>>(), num_ids(&[1]));
        assert_eq!(
            listed_alias(&*store, &alias).await,
            Some(Alias {
                alias: alias.clone(),
                collection: blue.clone()
            })
        );

        ok(
            store
                .update_aliases(&AliasChange::switch(&alias, &green))
                .await,
            "update_aliases (switch)",
        );
        let hits = ok(
            store
                .search(&alias, &SearchQuery::new(vec![0.0, 1.0], 5))
                .await,
            "search by alias",
        );
        assert_eq!(
            hit_ids(&hits),
            num_ids(&[2]),
            "the alias names the new collection"
        );
        ok(
            store
                .upsert(&alias, vec![Point::new(3, vec![0.5, 0.5])])
                .await,
            "upsert by alias",
        );
        assert_eq!(
            ok(store.count(&green, &Filter::default()).await, "count"),
            2
        );
        assert_eq!(ok(store.count(&blue, &Filter::default()).await, "count"), 1);
        assert_eq!(
            listed_alias(&*store, &alias).await,
            Some(Alias {
                alias: alias.clone(),
                collection: green.clone()
            })
        );
        ok(
            store.update_aliases(&[AliasChange::delete(&alias)]).await,
            "update_aliases",
        );
    })
    .await;
}

/// An alias can be renamed and deleted (then it designates nothing: `NotFound`); an
/// alias of a missing collection is `NotFound`, an invalid name `InvalidInput`.
pub async fn aliases_rename_delete_and_refuse(port: Arc<dyn VectorPort>, prefix: &str) {
    scoped(port, prefix, |store, names| async move {
        let (blue, _green, alias) = alias_fixture(&*store, &names).await;
        let renamed = format!("{}_things", names.prefix);
        ok(
            store
                .update_aliases(&[AliasChange::create(&alias, &blue)])
                .await,
            "update_aliases (create)",
        );
        ok(
            store
                .update_aliases(&[AliasChange::rename(&alias, &renamed)])
                .await,
            "update_aliases (rename)",
        );
        assert_eq!(listed_alias(&*store, &alias).await, None);
        assert_eq!(
            listed_alias(&*store, &renamed).await,
            Some(Alias {
                alias: renamed.clone(),
                collection: blue.clone()
            })
        );
        ok(
            store.update_aliases(&[AliasChange::delete(&renamed)]).await,
            "update_aliases (delete)",
        );
        assert_eq!(listed_alias(&*store, &renamed).await, None);
        expect_kind(
            store.count(&renamed, &Filter::default()).await,
            ErrorKind::NotFound,
            "count by a deleted alias",
        );

        let missing = format!("{}_missing", names.prefix);
        expect_kind(
            store
                .update_aliases(&[AliasChange::create(&alias, &missing)])
                .await,
            ErrorKind::NotFound,
            "an alias of a collection that does not exist",
        );
        expect_kind(
            store
                .update_aliases(&[AliasChange::create("bad name", &blue)])
                .await,
            ErrorKind::InvalidInput,
            "an invalid alias name",
        );
    })
    .await;
}

/// The indexes `collection_info` reports, sorted by field.
async fn reported_indexes(store: &dyn VectorPort, name: &str) -> Vec<FieldIndex> {
    let info = ok(store.collection_info(name).await, "collection_info");
    let mut indexes = info.indexes;
    indexes.sort_by(|a, b| a.field.cmp(&b.field));
    indexes
}

/// `spec`'s indexes sorted by field: what `collection_info` must report for them.
fn sorted_indexes(spec: &CollectionSpec) -> Vec<FieldIndex> {
    let mut indexes = spec.indexes.clone();
    indexes.sort_by(|a, b| a.field.cmp(&b.field));
    indexes
}

/// One index of every type the port declares, on a new collection.
fn every_index_spec(name: &str) -> CollectionSpec {
    CollectionSpec::new(name, 2, Distance::Dot)
        .with_index("tag", PayloadIndex::Keyword)
        .with_index("rank", PayloadIndex::Integer)
        .with_index("price", PayloadIndex::Float)
        .with_index("in_stock", PayloadIndex::Bool)
        .with_index("created_at", PayloadIndex::Datetime)
        .with_index("owner", PayloadIndex::Uuid)
        .with_index("title", PayloadIndex::text(TextTokenizer::Word))
        .with_index("body", PayloadIndex::text(TextTokenizer::Whitespace))
        .with_index("name", PayloadIndex::text(TextTokenizer::Prefix))
        .with_index("summary", PayloadIndex::text(TextTokenizer::Multilingual))
}

/// Declared indexes of every type are created with the collection and reported by
/// `collection_info`; ensuring the same spec again changes nothing.
pub async fn payload_indexes_are_created_and_reported(port: Arc<dyn VectorPort>, prefix: &str) {
    scoped(port, prefix, |store, names| async move {
        let name = names.collection("indexed");
        let spec = every_index_spec(&name);
        assert_eq!(
            ok(store.ensure_collection(&spec).await, "ensure_collection"),
            EnsureOutcome::Created,
            "ensure_collection of a new collection with indexes"
        );
        let expected = sorted_indexes(&spec);
        assert_eq!(
            reported_indexes(&*store, &name).await,
            expected,
            "collection_info reports every declared index with its type"
        );
        for _ in 0..2 {
            assert_eq!(
                ok(store.ensure_collection(&spec).await, "ensure_collection"),
                EnsureOutcome::AlreadyExists,
                "ensure_collection again with the same indexes"
            );
        }
        assert_eq!(
            reported_indexes(&*store, &name).await,
            expected,
            "ensuring the same spec again changes no index"
        );
    })
    .await;
}

/// Indexes declared for an existing collection that lacks them are created (the outcome
/// stays `AlreadyExists`), once.
pub async fn payload_indexes_are_added_to_existing_collections(
    port: Arc<dyn VectorPort>,
    prefix: &str,
) {
    scoped(port, prefix, |store, names| async move {
        let name = names.collection("later");
        create(&*store, &name, 2, Distance::Dot).await;
        ok(store.upsert(&name, filter_points()).await, "upsert");
        assert!(
            reported_indexes(&*store, &name).await.is_empty(),
            "a collection created without indexes reports none"
        );
        let spec = CollectionSpec::new(&name, 2, Distance::Dot)
            .with_index("size", PayloadIndex::Integer)
            .with_index("color", PayloadIndex::Keyword);
        for round in 0..2 {
            assert_eq!(
                ok(store.ensure_collection(&spec).await, "ensure_collection"),
                EnsureOutcome::AlreadyExists,
                "ensure_collection with new indexes on an existing collection (round {round})"
            );
            assert_eq!(
                reported_indexes(&*store, &name).await,
                sorted_indexes(&spec),
                "the declared indexes exist after ensure (round {round})"
            );
        }
        let count = ok(
            store
                .count(
                    &name,
                    &Filter::default().must(Condition::keyword("color", "red")),
                )
                .await,
            "count",
        );
        assert_eq!(count, 3, "points stay readable through the new index");
    })
    .await;
}

/// An existing index of another type (or text tokenizer) on a declared field is a
/// `Conflict` naming both types, and nothing is created or changed.
pub async fn payload_index_of_another_type_is_drift(port: Arc<dyn VectorPort>, prefix: &str) {
    scoped(port, prefix, |store, names| async move {
        let name = names.collection("drift");
        let spec = CollectionSpec::new(&name, 2, Distance::Dot)
            .with_index("size", PayloadIndex::Integer)
            .with_index("title", PayloadIndex::text(TextTokenizer::Word));
        assert_eq!(
            ok(store.ensure_collection(&spec).await, "ensure_collection"),
            EnsureOutcome::Created,
            "ensure_collection of a new collection with indexes"
        );
        let expected = sorted_indexes(&spec);
        // The new index on `color` comes first: a conflict must not leave it created.
        let retyped = CollectionSpec::new(&name, 2, Distance::Dot)
            .with_index("color", PayloadIndex::Keyword)
            .with_index("size", PayloadIndex::Keyword);
        let text = conflict_text(store.ensure_collection(&retyped).await, &name);
        assert!(
            text.contains("size") && text.contains("integer") && text.contains("keyword"),
            "the conflict must name the field and the existing (integer) and requested \
             (keyword) types: {text:?}"
        );
        let tokenizer = CollectionSpec::new(&name, 2, Distance::Dot)
            .with_index("title", PayloadIndex::text(TextTokenizer::Prefix));
        let text = conflict_text(store.ensure_collection(&tokenizer).await, &name);
        assert!(
            text.contains("title") && text.contains("word") && text.contains("prefix"),
            "the conflict must name the existing (word) and requested (prefix) tokenizers: \
             {text:?}"
        );
        assert_eq!(
            reported_indexes(&*store, &name).await,
            expected,
            "a conflicting ensure must not change or add indexes"
        );
    })
    .await;
}

/// Indexes an existing collection has beyond the declared ones are accepted and kept.
pub async fn undeclared_extra_indexes_are_accepted(port: Arc<dyn VectorPort>, prefix: &str) {
    scoped(port, prefix, |store, names| async move {
        let name = names.collection("extra");
        let full = CollectionSpec::new(&name, 2, Distance::Dot)
            .with_index("size", PayloadIndex::Integer)
            .with_index("color", PayloadIndex::Keyword);
        assert_eq!(
            ok(store.ensure_collection(&full).await, "ensure_collection"),
            EnsureOutcome::Created,
            "ensure_collection of a new collection with indexes"
        );
        let fewer = [
            CollectionSpec::new(&name, 2, Distance::Dot).with_index("size", PayloadIndex::Integer),
            CollectionSpec::new(&name, 2, Distance::Dot),
        ];
        for spec in fewer {
            assert_eq!(
                ok(store.ensure_collection(&spec).await, "ensure_collection"),
                EnsureOutcome::AlreadyExists,
                "ensure_collection declaring fewer indexes than exist: {:?}",
                spec.indexes
            );
        }
        assert_eq!(
            reported_indexes(&*store, &name).await,
            sorted_indexes(&full),
            "undeclared indexes are kept"
        );
    })
    .await;
}

/// With an integer range index, `order_by` orders a scroll by the field, ascending or
/// descending, from a `start_from` value, after the filter and up to the limit, with no
/// cursor.
pub async fn scroll_orders_by_an_integer_range_index(port: Arc<dyn VectorPort>, prefix: &str) {
    scoped(port, prefix, |store, names| async move {
        let name = names.collection("ordered");
        let spec =
            CollectionSpec::new(&name, 2, Distance::Dot).with_index("rank", PayloadIndex::Integer);
        assert_eq!(
            ok(store.ensure_collection(&spec).await, "ensure_collection"),
            EnsureOutcome::Created,
            "ensure_collection with a range index"
        );
        // Distinct ranks in another order than the ids; even ids are "even".
        let ranks: [(u64, i64); 6] = [(1, 40), (2, -5), (3, 12), (4, 100), (5, 0), (6, 7)];
        let points = ranks
            .iter()
            .map(|&(id, rank)| {
                let parity = if id % 2 == 0 { "even" } else { "odd" };
                Point::new(id, vec![1.0, 0.5])
                    .with_payload(payload(json!({"rank": rank, "parity": parity})))
            })
            .collect();
        ok(store.upsert(&name, points).await, "upsert");
        let scroll = |request: ScrollRequest| {
            let store = Arc::clone(&store);
            let name = name.clone();
            async move {
                let page = ok(store.scroll(&name, &request).await, "scroll with order_by");
                assert_eq!(
                    page.next_page_offset, None,
                    "an ordered scroll has no cursor: {request:?}"
                );
                page.points.iter().map(|r| r.id).collect::<Vec<_>>()
            }
        };
        assert_eq!(
            scroll(ScrollRequest::new(10).order_by(OrderBy::asc("rank"))).await,
            num_ids(&[2, 5, 6, 3, 1, 4]),
            "ascending by rank"
        );
        assert_eq!(
            scroll(ScrollRequest::new(10).order_by(OrderBy::desc("rank"))).await,
            num_ids(&[4, 1, 3, 6, 5, 2]),
            "descending by rank"
        );
        assert_eq!(
            scroll(ScrollRequest::new(2).order_by(OrderBy::desc("rank"))).await,
            num_ids(&[4, 1]),
            "the limit keeps the first points in order"
        );
        assert_eq!(
            scroll(
                ScrollRequest::new(10)
                    .order_by(OrderBy::asc("rank").start_from(StartFrom::Integer(7)))
            )
            .await,
            num_ids(&[6, 3, 1, 4]),
            "ascending from 7 (inclusive)"
        );
        assert_eq!(
            scroll(
                ScrollRequest::new(10)
                    .order_by(OrderBy::desc("rank").start_from(StartFrom::Integer(7)))
            )
            .await,
            num_ids(&[6, 5, 2]),
            "descending from 7 (inclusive)"
        );
        let even = Filter::default().must(Condition::keyword("parity", "even"));
        assert_eq!(
            scroll(
                ScrollRequest::new(10)
                    .filter(even)
                    .order_by(OrderBy::asc("rank"))
            )
            .await,
            num_ids(&[2, 6, 4]),
            "the filter applies before ordering"
        );
        let page = ok(
            store
                .scroll(&name, &ScrollRequest::new(1).order_by(OrderBy::asc("rank")))
                .await,
            "scroll with order_by",
        );
        assert_eq!(
            page.points[0].payload,
            payload(json!({"rank": -5, "parity": "even"})),
            "an ordered scroll returns payloads"
        );
    })
    .await;
}

/// `order_by` on a field whose index is not a range index (keyword) is refused as
/// `InvalidInput` naming the missing range index, like on a field without an index.
pub async fn order_by_needs_a_range_index(port: Arc<dyn VectorPort>, prefix: &str) {
    scoped(port, prefix, |store, names| async move {
        let name = names.collection("keyword");
        let spec = CollectionSpec::new(&name, 2, Distance::Dot)
            .with_index("color", PayloadIndex::Keyword)
            .with_index("price", PayloadIndex::Float);
        ok(store.ensure_collection(&spec).await, "ensure_collection");
        ok(store.upsert(&name, filter_points()).await, "upsert");
        for key in ["color", "size"] {
            let err = store
                .scroll(&name, &ScrollRequest::new(3).order_by(OrderBy::asc(key)))
                .await
                .expect_err("order_by without a range index is refused");
            assert_eq!(
                err.kind(),
                ErrorKind::InvalidInput,
                "order_by {key} without a range index: {}",
                err.chain()
            );
            assert!(
                err.message().to_lowercase().contains("range index"),
                "the refusal of order_by {key} names the missing range index: {}",
                err.message()
            );
        }
        // A float range index orders too (point 6 has no price, so it is not returned).
        let page = ok(
            store
                .scroll(
                    &name,
                    &ScrollRequest::new(10).order_by(OrderBy::desc("price")),
                )
                .await,
            "scroll ordered by a float index",
        );
        let ids: Vec<PointId> = page.points.iter().map(|r| r.id).collect();
        assert_eq!(ids, num_ids(&[5, 3, 2, 1, 4]), "descending by price");
    })
    .await;
}

/// A collection of two named dense vectors (`image`: 2, dot; `title`: 3, Euclid) and a
/// sparse one (`words`), with four points: 3 has no `title`, 4 no `words`.
fn hybrid_spec(name: &str) -> CollectionSpec {
    CollectionSpec::named(name)
        .with_vector("image", VectorParams::dense(2, Distance::Dot))
        .with_vector("title", VectorParams::dense(3, Distance::Euclid))
        .with_sparse("words", SparseParams::default())
}

fn hybrid_points() -> Vec<Point> {
    let sparse =
        |indices: &[u32], values: &[f32]| SparseVector::new(indices.to_vec(), values.to_vec());
    vec![
        Point::with_vectors(
            1,
            Vectors::new()
                .with("image", vec![1.0, 0.0])
                .with("title", vec![0.0, 0.0, 0.0])
                .with("words", sparse(&[1, 3], &[1.0, 2.0])),
        )
        .with_payload(payload(json!({"n": 1}))),
        Point::with_vectors(
            2,
            Vectors::new()
                .with("image", vec![0.5, 0.5])
                .with("title", vec![1.0, 1.0, 1.0])
                .with("words", sparse(&[7, 3], &[4.0, 0.5])),
        ),
        Point::with_vectors(
            3,
            Vectors::new()
                .with("image", vec![0.0, 1.0])
                .with("words", sparse(&[7], &[1.5])),
        ),
        Point::with_vectors(
            4,
            Vectors::new()
                .with("image", vec![-1.0, 0.0])
                .with("title", vec![3.0, 0.0, 0.0]),
        ),
    ]
}

/// Creates the [`hybrid_spec`] collection with [`hybrid_points`].
async fn create_hybrid(store: &dyn VectorPort, name: &str) {
    let outcome = ok(
        store.ensure_collection(&hybrid_spec(name)).await,
        "ensure_collection of named and sparse vectors",
    );
    assert_eq!(outcome, EnsureOutcome::Created);
    ok(
        store.upsert(name, hybrid_points()).await,
        "upsert of named vectors",
    );
}

#[track_caller]
fn assert_hits(hits: &[ScoredPoint], expected: &[(u64, f64)], what: &str) {
    let ids: Vec<u64> = expected.iter().map(|(id, _)| *id).collect();
    assert_eq!(hit_ids(hits), num_ids(&ids), "{what}: ids best first");
    for (hit, (id, score)) in hits.iter().zip(expected) {
        assert_close(hit.score, *score, &format!("{what}: score of point {id}"));
    }
}

/// Each named dense vector is searched by its own distance; a point without the vector
/// searched is not found.
pub async fn named_vectors_are_searched_by_name(port: Arc<dyn VectorPort>, prefix: &str) {
    scoped(port, prefix, |store, names| async move {
        let name = names.collection("named");
        create_hybrid(&*store, &name).await;
        let query = SearchQuery::new(vec![2.0, 1.0], 10).using("image");
        let hits = ok(store.search(&name, &query).await, "search using image");
        assert_hits(
            &hits,
            &[(1, 2.0), (2, 1.5), (3, 1.0), (4, -2.0)],
            "dot product on image",
        );
        let query = SearchQuery::new(vec![1.0, 0.0, 0.0], 10).using("title");
        let hits = ok(store.search(&name, &query).await, "search using title");
        assert_hits(
            &hits,
            &[(1, 1.0), (2, 2.0_f64.sqrt()), (4, 2.0)],
            "Euclidean distance on title (point 3 has no title)",
        );
        let filtered = SearchQuery::new(vec![2.0, 1.0], 10)
            .using("image")
            .filter(Filter::default().must(Condition::integer("n", 1)));
        let hits = ok(store.search(&name, &filtered).await, "filtered search");
        assert_eq!(
            hit_ids(&hits),
            num_ids(&[1]),
            "a filter applies to a named search"
        );
    })
    .await;
}

/// A sparse query scores by the dot product over shared indices; sparse vectors read
/// back sorted by index, and a point keeps exactly the named vectors it was given.
pub async fn sparse_vectors_score_by_shared_indices(port: Arc<dyn VectorPort>, prefix: &str) {
    scoped(port, prefix, |store, names| async move {
        let name = names.collection("sparse");
        create_hybrid(&*store, &name).await;
        let query = SearchQuery::sparse("words", SparseVector::new(vec![7, 3], vec![2.0, 1.0]), 3)
            .with_vector(true);
        let hits = ok(store.search(&name, &query).await, "sparse search");
        assert_hits(
            &hits,
            &[(2, 8.5), (3, 3.0), (1, 2.0)],
            "sparse dot product over shared indices",
        );
        let words = hits[0]
            .vectors
            .as_ref()
            .and_then(|v| v.get("words"))
            .cloned();
        assert_eq!(
            words,
            Some(Vector::Sparse(SparseVector::new(
                vec![3, 7],
                vec![0.5, 4.0]
            ))),
            "a sparse vector reads back sorted by index"
        );
        let records = ok(store.get(&name, &num_ids(&[3, 2]), true).await, "get");
        let vectors: Vec<Vectors> = records
            .iter()
            .map(|r| r.vectors.clone().expect("vectors were requested"))
            .collect();
        assert_eq!(
            vectors[0].iter().map(|(n, _)| n).collect::<Vec<_>>(),
            ["image", "words"],
            "point 3 has no title"
        );
        assert_vector(
            vectors[1].get("title").and_then(Vector::as_dense),
            &[1.0, 1.0, 1.0],
            "title of point 2",
        );
        assert_vector(
            vectors[1].get("image").and_then(Vector::as_dense),
            &[0.5, 0.5],
            "image of point 2",
        );
        assert_eq!(
            records[0].vector(),
            None,
            "no unnamed vector in this collection"
        );
    })
    .await;
}

/// With the IDF modifier, a query element counts by how rare its index is:
/// `ln((N - n + 0.5) / (n + 0.5) + 1)`, N points with the vector, n with the index.
pub async fn sparse_idf_weighs_rare_indices(port: Arc<dyn VectorPort>, prefix: &str) {
    scoped(port, prefix, |store, names| async move {
        let name = names.collection("idf");
        let spec = CollectionSpec::named(&name).with_sparse("words", SparseParams::default().idf());
        ok(
            store.ensure_collection(&spec).await,
            "ensure_collection with idf",
        );
        let point = |id: u64, indices: Vec<u32>, values: Vec<f32>| {
            Point::with_vectors(
                id,
                Vectors::new().with("words", SparseVector::new(indices, values)),
            )
        };
        let points = vec![
            point(1, vec![1], vec![1.5]),
            point(2, vec![2], vec![1.0]),
            point(3, vec![1], vec![1.0]),
        ];
        ok(store.upsert(&name, points).await, "upsert");
        // Index 1 is in 2 of 3 points, index 2 in 1: without IDF point 1 (1.5) would win.
        let idf = |n: f64| ((3.0 - n + 0.5) / (n + 0.5) + 1.0).ln();
        let query = SearchQuery::sparse("words", SparseVector::new(vec![1, 2], vec![1.0, 1.0]), 3);
        let hits = ok(store.search(&name, &query).await, "idf search");
        assert_hits(
            &hits,
            &[(2, idf(1.0)), (1, 1.5 * idf(2.0)), (3, idf(2.0))],
            "IDF-weighted sparse scores",
        );
    })
    .await;
}

/// Upserting a point replaces all its vectors: a named vector the new point omits is gone.
pub async fn upsert_replaces_every_named_vector(port: Arc<dyn VectorPort>, prefix: &str) {
    scoped(port, prefix, |store, names| async move {
        let name = names.collection("replace");
        create_hybrid(&*store, &name).await;
        let point = Point::with_vectors(1, Vectors::new().with("image", vec![0.0, 2.0]));
        ok(
            store.upsert(&name, vec![point]).await,
            "upsert of one named vector",
        );
        let record = ok(store.get(&name, &num_ids(&[1]), true).await, "get")
            .pop()
            .expect("point 1 exists");
        let vectors = record.vectors.expect("vectors were requested");
        assert_eq!(
            vectors.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            ["image"],
            "the upsert replaced title and words too"
        );
        let query = SearchQuery::new(vec![1.0, 0.0, 0.0], 10).using("title");
        let hits = ok(store.search(&name, &query).await, "search using title");
        assert_eq!(
            hit_ids(&hits),
            num_ids(&[2, 4]),
            "point 1 has no title any more"
        );
    })
    .await;
}

/// `update_vectors` replaces the named vectors given and keeps the others and the payload;
/// a missing point is `NotFound`, an entry without vectors or with a wrong one
/// `InvalidInput`.
pub async fn update_vectors_replaces_only_the_given_ones(port: Arc<dyn VectorPort>, prefix: &str) {
    scoped(port, prefix, |store, names| async move {
        let name = names.collection("update");
        create_hybrid(&*store, &name).await;
        let update = [
            PointVectors::new(1, Vectors::new().with("image", vec![-3.0, 0.0])),
            PointVectors::new(3, Vectors::new().with("title", vec![1.0, 0.0, 0.0])),
        ];
        ok(store.update_vectors(&name, &update).await, "update_vectors");
        let records = ok(store.get(&name, &num_ids(&[1, 3]), true).await, "get");
        let one = records[0].vectors.clone().expect("vectors were requested");
        assert_vector(
            one.get("image").and_then(Vector::as_dense),
            &[-3.0, 0.0],
            "new image",
        );
        assert_vector(
            one.get("title").and_then(Vector::as_dense),
            &[0.0, 0.0, 0.0],
            "kept title",
        );
        assert_eq!(
            one.get("words"),
            Some(&Vector::Sparse(SparseVector::new(
                vec![1, 3],
                vec![1.0, 2.0]
            ))),
            "kept words"
        );
        assert_eq!(records[0].payload, payload(json!({"n": 1})), "kept payload");
        let three = records[1].vectors.clone().expect("vectors were requested");
        assert_vector(
            three.get("title").and_then(Vector::as_dense),
            &[1.0, 0.0, 0.0],
            "added title",
        );
        let hits = ok(
            store
                .search(&name, &SearchQuery::new(vec![2.0, 1.0], 1).using("image"))
                .await,
            "search",
        );
        assert_hits(&hits, &[(2, 1.5)], "point 1 moved away");

        let missing = [PointVectors::new(
            99,
            Vectors::new().with("image", vec![1.0, 1.0]),
        )];
        expect_kind(
            store.update_vectors(&name, &missing).await,
            ErrorKind::NotFound,
            "update_vectors of a missing point",
        );
        for (bad, what) in [
            (PointVectors::new(1, Vectors::new()), "no vector"),
            (
                PointVectors::new(1, Vectors::new().with("image", vec![1.0])),
                "a wrong dimension",
            ),
            (
                PointVectors::new(1, Vectors::new().with("audio", vec![1.0, 1.0])),
                "an unknown name",
            ),
        ] {
            expect_kind(
                store.update_vectors(&name, &[bad]).await,
                ErrorKind::InvalidInput,
                &format!("update_vectors with {what}"),
            );
        }
        expect_kind(
            store
                .update_vectors(&names.collection("absent"), &update)
                .await,
            ErrorKind::NotFound,
            "update_vectors on a missing collection",
        );
    })
    .await;
}

/// A vector name the collection does not have, a vector of the other kind and an invalid
/// sparse vector are `InvalidInput` on upsert and search, and nothing is written.
pub async fn unknown_vector_names_and_kinds_are_invalid_input(
    port: Arc<dyn VectorPort>,
    prefix: &str,
) {
    scoped(port, prefix, |store, names| async move {
        let name = names.collection("kinds");
        create_hybrid(&*store, &name).await;
        let sparse = SparseVector::new(vec![1], vec![1.0]);
        for (vectors, what) in [
            (
                Vectors::new().with("audio", vec![1.0, 0.0]),
                "an unknown name",
            ),
            (Vectors::unnamed(vec![1.0, 0.0]), "the unnamed vector"),
            (
                Vectors::new().with("image", sparse.clone()),
                "a sparse image",
            ),
            (Vectors::new().with("words", vec![1.0]), "dense words"),
            (
                Vectors::new().with("words", SparseVector::new(vec![1, 1], vec![1.0, 2.0])),
                "repeated sparse indices",
            ),
            (
                Vectors::new().with("words", SparseVector::new(vec![1, 2], vec![1.0])),
                "unpaired sparse indices",
            ),
        ] {
            let point = Point::with_vectors(9, vectors);
            expect_kind(
                store.upsert(&name, vec![point]).await,
                ErrorKind::InvalidInput,
                &format!("upsert with {what}"),
            );
        }
        for (query, what) in [
            (SearchQuery::new(vec![1.0, 0.0], 1), "the unnamed vector"),
            (
                SearchQuery::new(vec![1.0, 0.0], 1).using("audio"),
                "an unknown name",
            ),
            (
                SearchQuery::new(vec![1.0], 1).using("words"),
                "a dense query on words",
            ),
            (
                SearchQuery::sparse("image", sparse.clone(), 1),
                "a sparse query on image",
            ),
            (
                SearchQuery::sparse("nope", sparse.clone(), 1),
                "an unknown sparse name",
            ),
        ] {
            expect_kind(
                store.search(&name, &query).await,
                ErrorKind::InvalidInput,
                &format!("search with {what}"),
            );
        }
        assert_eq!(
            ok(store.count(&name, &Filter::default()).await, "count"),
            4,
            "refused upserts write nothing"
        );
    })
    .await;
}

/// Drift covers the declared vectors: a missing one, another dimension or distance, a
/// missing sparse vector or another modifier is a `Conflict` naming both sides; undeclared
/// extra vectors are accepted.
pub async fn named_vector_drift_is_conflict_and_extras_are_accepted(
    port: Arc<dyn VectorPort>,
    prefix: &str,
) {
    scoped(port, prefix, |store, names| async move {
        let name = names.collection("named_drift");
        create_hybrid(&*store, &name).await;
        let subset = CollectionSpec::named(&name)
            .with_vector("image", VectorParams::dense(2, Distance::Dot))
            .with_hnsw(HnswParams::new(8, 50));
        assert_eq!(
            ok(store.ensure_collection(&subset).await, "ensure of a subset"),
            EnsureOutcome::AlreadyExists,
            "undeclared vectors and other tuning are accepted"
        );
        assert_eq!(
            ok(
                store.ensure_collection(&hybrid_spec(&name)).await,
                "ensure again"
            ),
            EnsureOutcome::AlreadyExists
        );
        let cases = [
            (
                CollectionSpec::named(&name)
                    .with_vector("image", VectorParams::dense(3, Distance::Dot)),
                &["image", "2", "3"][..],
            ),
            (
                CollectionSpec::named(&name)
                    .with_vector("title", VectorParams::dense(3, Distance::Cosine)),
                &["title", "euclid", "cosine"][..],
            ),
            (
                CollectionSpec::named(&name)
                    .with_vector("audio", VectorParams::dense(3, Distance::Dot)),
                &["audio"][..],
            ),
            (
                CollectionSpec::named(&name).with_sparse("tags", SparseParams::default()),
                &["tags"][..],
            ),
            (
                CollectionSpec::named(&name).with_sparse("words", SparseParams::default().idf()),
                &["words", "idf"][..],
            ),
            (
                CollectionSpec::new(&name, 2, Distance::Dot),
                &["unnamed"][..],
            ),
        ];
        for (spec, words) in cases {
            let text = conflict_text(store.ensure_collection(&spec).await, &name);
            for word in words {
                assert!(
                    text.contains(word),
                    "the conflict must name {word}: {text:?}"
                );
            }
        }
    })
    .await;
}

/// `collection_info` lists every dense vector (dimension, distance) and sparse vector
/// (modifier); `dimension` is 0 without an unnamed vector.
pub async fn collection_info_describes_named_and_sparse_vectors(
    port: Arc<dyn VectorPort>,
    prefix: &str,
) {
    scoped(port, prefix, |store, names| async move {
        let name = names.collection("named_info");
        let spec = hybrid_spec(&name)
            .with_sparse("tags", SparseParams::default().idf())
            .with_vector("image", VectorParams::dense(2, Distance::Dot).on_disk(true));
        ok(store.ensure_collection(&spec).await, "ensure_collection");
        let info = ok(store.collection_info(&name).await, "collection_info");
        assert_eq!(
            info.vectors,
            spec.vectors.reported(),
            "the declared vectors"
        );
        assert_eq!(info.dimension, 0, "no unnamed vector");
        assert_eq!(info.vectors.sparse.get("tags").map(|p| p.idf), Some(true));

        let mixed = names.collection("mixed_info");
        let spec = CollectionSpec::new(&mixed, 3, Distance::Manhattan)
            .with_sparse("words", SparseParams::default());
        ok(store.ensure_collection(&spec).await, "ensure_collection");
        let info = ok(store.collection_info(&mixed).await, "collection_info");
        assert_eq!((info.dimension, info.distance), (3, Distance::Manhattan));
        assert_eq!(info.vectors, spec.vectors.reported());
    })
    .await;
}

/// A collection may have the unnamed dense vector and sparse vectors together; a point
/// gives both, and each is searched on its own.
pub async fn unnamed_and_sparse_vectors_together(port: Arc<dyn VectorPort>, prefix: &str) {
    scoped(port, prefix, |store, names| async move {
        let name = names.collection("mixed");
        let spec = CollectionSpec::new(&name, 2, Distance::Dot)
            .with_sparse("words", SparseParams::default());
        ok(store.ensure_collection(&spec).await, "ensure_collection");
        let points = vec![
            Point::with_vectors(
                1,
                Vectors::unnamed(vec![1.0, 0.0])
                    .with("words", SparseVector::new(vec![5], vec![1.0])),
            ),
            Point::with_vectors(
                2,
                Vectors::unnamed(vec![0.0, 1.0])
                    .with("words", SparseVector::new(vec![5], vec![3.0])),
            ),
            Point::new(3, vec![2.0, 2.0]),
        ];
        ok(store.upsert(&name, points).await, "upsert");
        let hits = ok(
            store
                .search(&name, &SearchQuery::new(vec![1.0, 0.0], 10))
                .await,
            "dense",
        );
        assert_hits(&hits, &[(3, 2.0), (1, 1.0), (2, 0.0)], "the unnamed vector");
        let query = SearchQuery::sparse("words", SparseVector::new(vec![5], vec![2.0]), 2);
        let hits = ok(store.search(&name, &query).await, "sparse");
        assert_hits(&hits, &[(2, 6.0), (1, 2.0)], "the sparse vector");
        let records = ok(store.get(&name, &num_ids(&[1]), true).await, "get");
        assert_vector(
            records[0].vector(),
            &[1.0, 0.0],
            "the unnamed vector of point 1",
        );
    })
    .await;
}

/// Tuning (HNSW, scalar and binary quantization, on-disk vectors, payload and sparse
/// index, one shard and replica) is accepted at creation, and search is unchanged.
pub async fn tuning_parameters_are_accepted_at_creation(port: Arc<dyn VectorPort>, prefix: &str) {
    scoped(port, prefix, |store, names| async move {
        let name = names.collection("tuned");
        let spec = CollectionSpec::named(&name)
            .with_vector(
                "image",
                VectorParams::dense(2, Distance::Dot)
                    .with_hnsw(HnswParams::new(8, 64))
                    .with_quantization(Quantization::binary())
                    .on_disk(true),
            )
            .with_vector("title", VectorParams::dense(3, Distance::Euclid))
            .with_sparse("words", SparseParams::default().on_disk(true))
            .with_hnsw(HnswParams::new(32, 128))
            .with_quantization(Quantization::ScalarInt8 {
                always_ram: Some(true),
            })
            .on_disk_payload(true)
            .with_sharding(1, 1, 1);
        assert_eq!(
            ok(
                store.ensure_collection(&spec).await,
                "ensure of a tuned collection"
            ),
            EnsureOutcome::Created
        );
        ok(store.upsert(&name, hybrid_points()).await, "upsert");
        let query = SearchQuery::new(vec![2.0, 1.0], 2)
            .using("image")
            .exact(true);
        let hits = ok(store.search(&name, &query).await, "exact search");
        assert_hits(
            &hits,
            &[(1, 2.0), (2, 1.5)],
            "exact search on a tuned vector",
        );
        let info = ok(store.collection_info(&name).await, "collection_info");
        assert_eq!(info.vectors, spec.vectors.reported());
        let bad = CollectionSpec::named(names.collection("bad_tuning"))
            .with_vector("v", VectorParams::dense(2, Distance::Dot))
            .with_hnsw(HnswParams::new(16, 1));
        expect_kind(
            store.ensure_collection(&bad).await,
            ErrorKind::InvalidInput,
            "ef_construct below 4",
        );
    })
    .await;
}
