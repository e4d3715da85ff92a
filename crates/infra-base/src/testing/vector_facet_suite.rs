//! Conformance cases of [`VectorPort::facet`], on the six points of
//! [`filter_points`](super::filter_points) with keyword, integer, bool and float indexes.
//!
//! Orders are asserted only where counts differ: Qdrant documents "most frequent first",
//! and the cases compare tied values as sets.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{filter_points, range, scoped};
use crate::error::ErrorKind;
use crate::testing::{expect_kind, ok};
use crate::vector::{
    CollectionSpec, Condition, Distance, EnsureOutcome, FacetHit, FacetRequest, FacetValue, Filter,
    PayloadIndex, VectorPort,
};

/// The filter points in a collection with an index of each kind facets read, and a float
/// index they refuse.
async fn faceted_collection(store: &dyn VectorPort, name: &str) {
    let spec = CollectionSpec::new(name, 2, Distance::Dot)
        .with_index("color", PayloadIndex::Keyword)
        .with_index("size", PayloadIndex::Integer)
        .with_index("in_stock", PayloadIndex::Bool)
        .with_index("price", PayloadIndex::Float);
    assert_eq!(
        ok(store.ensure_collection(&spec).await, "ensure_collection"),
        EnsureOutcome::Created,
        "ensure_collection of the new collection {name} must create it"
    );
    ok(store.upsert(name, filter_points()).await, "upsert");
}

/// `(value, count)` pairs, in the order returned.
fn pairs(hits: &[FacetHit]) -> Vec<(String, u64)> {
    hits.iter()
        .map(|h| (h.value.to_string(), h.count))
        .collect()
}

/// The hits as a map, after checking that counts never increase down the list.
fn counts(hits: &[FacetHit], what: &str) -> BTreeMap<FacetValue, u64> {
    assert!(
        hits.windows(2).all(|w| w[0].count >= w[1].count),
        "{what}: the most frequent values come first, got {:?}",
        pairs(hits)
    );
    let map: BTreeMap<FacetValue, u64> = hits.iter().map(|h| (h.value.clone(), h.count)).collect();
    assert_eq!(map.len(), hits.len(), "{what}: a value came back twice");
    map
}

/// Exact facets count each point once per distinct value it holds (an array counts for
/// each of its values), most frequent first, cut at the limit, over the filtered points;
/// integer and bool indexes facet too, and approximate counts name the same values.
pub async fn facet_counts_points_per_value(port: Arc<dyn VectorPort>, prefix: &str) {
    scoped(port, prefix, |store, names| async move {
        let name = names.collection("facets");
        faceted_collection(&*store, &name).await;
        let color = FacetRequest::new("color").exact(true);
        let hits = ok(store.facet(&name, &color).await, "facet on color");
        let expected = [("red", 3), ("green", 2), ("blue", 1)].map(|(v, n)| (v.to_owned(), n));
        assert_eq!(
            pairs(&hits),
            expected,
            "colors by frequency (point 6 holds red and green)"
        );

        let top = ok(
            store.facet(&name, &color.clone().limit(2)).await,
            "facet with limit 2",
        );
        assert_eq!(
            pairs(&top),
            expected[..2],
            "limit 2 keeps the two most frequent"
        );

        let large =
            Filter::default().must(Condition::range("size", range(None, Some(3.0), None, None)));
        let filtered = ok(
            store.facet(&name, &color.clone().filter(large)).await,
            "facet with a filter",
        );
        assert_eq!(
            pairs(&filtered),
            [("red", 2), ("green", 1)].map(|(v, n)| (v.to_owned(), n)),
            "only points with a size >= 3 count (3, 5 and 6)"
        );

        let sizes = ok(
            store
                .facet(&name, &FacetRequest::new("size").exact(true))
                .await,
            "facet on an integer index",
        );
        let want: BTreeMap<FacetValue, u64> = [(1, 2), (2, 2), (3, 1), (5, 1), (7, 1)]
            .map(|(v, n)| (FacetValue::Integer(v), n))
            .into();
        assert_eq!(counts(&sizes, "sizes"), want, "points per size");

        let stock = ok(
            store
                .facet(&name, &FacetRequest::new("in_stock").exact(true))
                .await,
            "facet on a bool index",
        );
        let want: BTreeMap<FacetValue, u64> = [(true, 2), (false, 2)]
            .map(|(v, n)| (FacetValue::Bool(v), n))
            .into();
        assert_eq!(counts(&stock, "in_stock"), want, "points per stock flag");

        let approximate = ok(
            store.facet(&name, &FacetRequest::new("color")).await,
            "approximate facet",
        );
        let values: Vec<FacetValue> = counts(&approximate, "approximate colors")
            .into_keys()
            .collect();
        assert_eq!(
            values,
            ["blue", "green", "red"].map(FacetValue::from),
            "approximate counts name the same values"
        );
    })
    .await;
}

/// A field without an index, one with a float index, or an invalid request is
/// `InvalidInput`; a missing collection is `NotFound`.
pub async fn facet_needs_an_exact_value_index(port: Arc<dyn VectorPort>, prefix: &str) {
    scoped(port, prefix, |store, names| async move {
        let name = names.collection("facet_refused");
        faceted_collection(&*store, &name).await;
        for (key, why) in [("tags", "an unindexed field"), ("price", "a float index")] {
            expect_kind(
                store
                    .facet(&name, &FacetRequest::new(key).exact(true))
                    .await,
                ErrorKind::InvalidInput,
                &format!("facet on {why}"),
            );
        }
        expect_kind(
            store
                .facet(&name, &FacetRequest::new("color").limit(0))
                .await,
            ErrorKind::InvalidInput,
            "facet with limit 0",
        );
        let missing = names.collection("facet_missing");
        expect_kind(
            store.facet(&missing, &FacetRequest::new("color")).await,
            ErrorKind::NotFound,
            "facet on a collection that does not exist",
        );
    })
    .await;
}
