//! Conformance cases of [`VectorPort::query`]: Qdrant's universal query, on the
//! [`hybrid_spec`](super::hybrid_spec) collection (`image`: 2 dimensions, dot product;
//! `title`: 3, Euclidean; `words`: sparse).
//!
//! Scores are asserted where Qdrant documents the formula (distances, RRF with its default
//! `k`, the best-score sigmoid); DBSF is asserted by order only.

use std::sync::Arc;

use serde_json::json;

use super::{assert_hits, create_hybrid, hit_ids, num_ids, scoped};
use crate::error::ErrorKind;
use crate::testing::{expect_kind, ok};
use crate::vector::{
    CollectionSpec, Condition, Distance, Filter, Fusion, LookupLocation, PayloadSelector, Point,
    PointId, Prefetch, Query, QueryRequest, Recommend, RecommendStrategy, SparseVector,
    VectorInput, VectorParams, VectorPort, Vectors,
};

/// A dense stage on `image` and a sparse stage on `words`, two candidates each.
fn hybrid_stages() -> Vec<Prefetch> {
    vec![
        Prefetch::new(Query::Nearest(vec![1.0, 0.0].into()), Some("image"), 2),
        Prefetch::new(
            Query::Nearest(SparseVector::new(vec![7], vec![1.0]).into()),
            Some("words"),
            2,
        ),
    ]
}

/// A nearest query by vector scores as `search` does; `offset` skips the best results
/// and the payload selector keeps or drops top-level keys.
pub async fn query_nearest_pages_with_offset_and_selects_payload(
    port: Arc<dyn VectorPort>,
    prefix: &str,
) {
    scoped(port, prefix, |store, names| async move {
        let name = names.collection("query_nearest");
        create_hybrid(&*store, &name).await;
        let all = QueryRequest::nearest(vec![2.0, 1.0], 10).using("image");
        let hits = ok(store.query(&name, &all).await, "nearest query");
        assert_hits(
            &hits,
            &[(1, 2.0), (2, 1.5), (3, 1.0), (4, -2.0)],
            "dot product on image",
        );
        let page = all.clone().offset(1).score_threshold(0.5);
        let limited = QueryRequest { limit: 2, ..page };
        let hits = ok(store.query(&name, &limited).await, "query with offset");
        assert_hits(
            &hits,
            &[(2, 1.5), (3, 1.0)],
            "offset 1 skips the best result",
        );

        let first = |selector: PayloadSelector| {
            let request = QueryRequest::nearest(vec![1.0, 0.0], 1)
                .using("image")
                .with_payload(selector);
            let store = Arc::clone(&store);
            let name = name.clone();
            async move {
                let hits = ok(store.query(&name, &request).await, "query with a selector");
                assert_eq!(hit_ids(&hits), num_ids(&[1]), "point 1 is the nearest");
                hits.into_iter().next().and_then(|h| h.payload)
            }
        };
        let included = first(PayloadSelector::Include(vec!["n".into()])).await;
        assert_eq!(
            included.and_then(|p| p.get("n").cloned()),
            Some(json!(1)),
            "an included key is returned"
        );
        let excluded = first(PayloadSelector::Exclude(vec!["n".into()])).await;
        assert!(
            excluded.is_none_or(|p| !p.contains_key("n")),
            "an excluded key is not returned"
        );
        assert_eq!(
            first(PayloadSelector::None).await,
            None,
            "no payload when none is asked"
        );
    })
    .await;
}

/// A collection `name` whose vector `probe` (2 dimensions, dot product) holds point 900
/// `[0, 1]` and point 901 `[1, 0]`, ids the hybrid collection does not hold, and point 3
/// `[0, 1]`, an id it does hold. Returns where to look them up.
async fn create_probes(store: &dyn VectorPort, name: &str) -> LookupLocation {
    let spec =
        CollectionSpec::named(name).with_vector("probe", VectorParams::dense(2, Distance::Dot));
    ok(store.ensure_collection(&spec).await, "ensure_collection");
    let probe =
        |id: u64, vector: Vec<f32>| Point::with_vectors(id, Vectors::new().with("probe", vector));
    ok(
        store
            .upsert(
                name,
                vec![
                    probe(900, vec![0.0, 1.0]),
                    probe(901, vec![1.0, 0.0]),
                    probe(3, vec![0.0, 1.0]),
                ],
            )
            .await,
        "upsert of the probes",
    );
    LookupLocation::new(name).vector("probe")
}

/// With `lookup_from`, the ids of the query are read from another collection, by the
/// vector it names: a query by such an id scores as the same query by its vector, and the
/// queried collection's point of the same id is not left out (it is not the one
/// referenced); an id that collection lacks, or a collection that does not exist, is
/// `NotFound`.
pub async fn query_lookup_from_reads_ids_from_another_collection(
    port: Arc<dyn VectorPort>,
    prefix: &str,
) {
    scoped(port, prefix, |store, names| async move {
        let name = names.collection("lookup_target");
        create_hybrid(&*store, &name).await;
        let from_probes = create_probes(&*store, &names.collection("lookup_probes")).await;

        let by_probe = QueryRequest::nearest(PointId::Num(900), 2)
            .using("image")
            .lookup_from(from_probes.clone());
        let hits = ok(
            store.query(&name, &by_probe).await,
            "query by a looked-up id",
        );
        assert_hits(
            &hits,
            &[(3, 1.0), (2, 0.5)],
            "scored by probe 900's vector [0, 1] on image",
        );
        let inline = QueryRequest::nearest(vec![0.0, 1.0], 2).using("image");
        let same = ok(
            store.query(&name, &inline).await,
            "query by the vector itself",
        );
        assert_eq!(
            hit_ids(&hits),
            hit_ids(&same),
            "as the vector itself scores"
        );

        // Probe 3 is [0, 1]: the queried collection's point 3 ([0, 1]) is its best match.
        let same_id = QueryRequest::nearest(PointId::Num(3), 2)
            .using("image")
            .lookup_from(from_probes.clone());
        let hits = ok(
            store.query(&name, &same_id).await,
            "query by a looked-up id the queried collection also holds",
        );
        assert_hits(
            &hits,
            &[(3, 1.0), (2, 0.5)],
            "point 3 of the queried collection stays a candidate",
        );

        // avg(positive) + (avg(positive) - avg(negative)) = [-1, 2].
        let recommend = QueryRequest::new(
            Query::Recommend(Recommend {
                positive: vec![PointId::Num(900).into()],
                negative: vec![PointId::Num(901).into()],
                strategy: RecommendStrategy::AverageVector,
            }),
            4,
        )
        .using("image")
        .lookup_from(from_probes.clone());
        let hits = ok(
            store.query(&name, &recommend).await,
            "recommend by looked-up ids",
        );
        assert_hits(
            &hits,
            &[(3, 2.0), (4, 1.0), (2, 0.5), (1, -1.0)],
            "examples read from the probes",
        );

        let missing = QueryRequest::nearest(PointId::Num(902), 2)
            .using("image")
            .lookup_from(from_probes);
        expect_kind(
            store.query(&name, &missing).await,
            ErrorKind::NotFound,
            "an id the lookup collection lacks",
        );
        let nowhere = QueryRequest::nearest(PointId::Num(900), 2)
            .using("image")
            .lookup_from(LookupLocation::new(names.collection("absent")).vector("probe"));
        expect_kind(
            store.query(&name, &nowhere).await,
            ErrorKind::NotFound,
            "a lookup collection that does not exist",
        );
        let invalid = QueryRequest::nearest(PointId::Num(900), 2)
            .using("image")
            .lookup_from(LookupLocation::new("not a/valid name"));
        expect_kind(
            store.query(&name, &invalid).await,
            ErrorKind::InvalidInput,
            "an invalid lookup collection name",
        );
    })
    .await;
}

/// A prefetch stage's own `lookup_from` reads that stage's ids from another collection
/// (Qdrant's `PrefetchQuery.lookup_from`): the stage's candidates are those of the same
/// stage by the looked-up vector, which the request's query then scores; a stage does not
/// inherit the request's location, and an id its location lacks is `NotFound`.
pub async fn query_prefetch_lookup_from_reads_a_stage_ids_from_another_collection(
    port: Arc<dyn VectorPort>,
    prefix: &str,
) {
    scoped(port, prefix, |store, names| async move {
        let name = names.collection("stage_lookup_target");
        create_hybrid(&*store, &name).await;
        let from_probes = create_probes(&*store, &names.collection("stage_lookup_probes")).await;
        // The stage keeps the two points nearest to probe 900 ([0, 1]): 3 and 2. The query
        // then scores them by [1, 0]: 2 (0.5) before 3 (0.0). Probe 901 ([1, 0]) would
        // have kept 1 and 2 instead.
        let stage = |id: u64| {
            Prefetch::new(Query::Nearest(PointId::Num(id).into()), Some("image"), 2)
                .lookup_from(from_probes.clone())
        };
        let over = |stage: Prefetch| QueryRequest {
            prefetch: vec![stage],
            ..QueryRequest::nearest(vec![1.0, 0.0], 2).using("image")
        };
        let hits = ok(
            store.query(&name, &over(stage(900))).await,
            "query over a stage with lookup_from",
        );
        assert_hits(
            &hits,
            &[(2, 0.5), (3, 0.0)],
            "the stage's candidates come from probe 900's vector",
        );

        let missing = over(stage(902));
        expect_kind(
            store.query(&name, &missing).await,
            ErrorKind::NotFound,
            "an id the stage's lookup collection lacks",
        );
        // The request's location is not the stage's: the stage reads 900 from the queried
        // collection, which does not hold it.
        let not_inherited = QueryRequest {
            prefetch: vec![Prefetch::new(
                Query::Nearest(PointId::Num(900).into()),
                Some("image"),
                2,
            )],
            ..QueryRequest::nearest(vec![1.0, 0.0], 2)
                .using("image")
                .lookup_from(from_probes.clone())
        };
        expect_kind(
            store.query(&name, &not_inherited).await,
            ErrorKind::NotFound,
            "a stage without its own lookup_from reads the queried collection",
        );
        let invalid = over(
            Prefetch::new(Query::Nearest(PointId::Num(900).into()), Some("image"), 2)
                .lookup_from(LookupLocation::new("not a/valid name")),
        );
        expect_kind(
            store.query(&name, &invalid).await,
            ErrorKind::InvalidInput,
            "an invalid stage lookup collection name",
        );
    })
    .await;
}

/// A nearest query by point id scores by that point's stored vector and leaves the point
/// out; an id that does not exist, or lacks the vector used, is `NotFound`.
pub async fn query_by_point_id_leaves_the_point_out(port: Arc<dyn VectorPort>, prefix: &str) {
    scoped(port, prefix, |store, names| async move {
        let name = names.collection("query_by_id");
        create_hybrid(&*store, &name).await;
        let by_id = QueryRequest::nearest(PointId::Num(1), 10).using("image");
        let hits = ok(store.query(&name, &by_id).await, "query by point id");
        assert_hits(
            &hits,
            &[(2, 0.5), (3, 0.0), (4, -1.0)],
            "scored by point 1's image, point 1 left out",
        );
        let missing = QueryRequest::nearest(PointId::Num(99), 10).using("image");
        expect_kind(
            store.query(&name, &missing).await,
            ErrorKind::NotFound,
            "query by an id that does not exist",
        );
        let no_title = QueryRequest::nearest(PointId::Num(3), 10).using("title");
        expect_kind(
            store.query(&name, &no_title).await,
            ErrorKind::NotFound,
            "query by a point without the vector used",
        );
    })
    .await;
}

/// Hybrid search: reciprocal rank fusion of a dense and a sparse stage ranks a point that
/// only the keywords match, which the dense search alone misses; DBSF fuses the same
/// stages by normalized score.
pub async fn hybrid_fusion_finds_what_dense_search_misses(port: Arc<dyn VectorPort>, prefix: &str) {
    scoped(port, prefix, |store, names| async move {
        let name = names.collection("hybrid");
        create_hybrid(&*store, &name).await;
        let dense = QueryRequest::nearest(vec![1.0, 0.0], 2).using("image");
        let hits = ok(store.query(&name, &dense).await, "dense query");
        assert_eq!(
            hit_ids(&hits),
            num_ids(&[1, 2]),
            "dense search alone misses point 3"
        );
        let rrf = QueryRequest::fusion(Fusion::RRF, hybrid_stages(), 3);
        let hits = ok(store.query(&name, &rrf).await, "RRF query");
        // 2: 1/3 (dense rank 2) + 1/2 (sparse rank 1); 1: 1/2; 3: 1/3 (k = 2).
        assert_hits(
            &hits,
            &[(2, 1.0 / 3.0 + 0.5), (1, 0.5), (3, 1.0 / 3.0)],
            "reciprocal rank fusion",
        );
        let dbsf = QueryRequest::fusion(Fusion::Dbsf, hybrid_stages(), 3);
        let hits = ok(store.query(&name, &dbsf).await, "DBSF query");
        assert_eq!(
            hit_ids(&hits),
            num_ids(&[2, 1, 3]),
            "distribution-based score fusion"
        );
        let filtered =
            rrf.filter(Filter::default().must_not(Condition::HasId { ids: num_ids(&[2]) }));
        let hits = ok(store.query(&name, &filtered).await, "filtered RRF query");
        assert!(
            !hit_ids(&hits).contains(&PointId::Num(2)),
            "the request's filter applies to every stage: {:?}",
            hit_ids(&hits)
        );
        assert!(
            hit_ids(&hits).contains(&PointId::Num(3)),
            "the keyword-only match is still found: {:?}",
            hit_ids(&hits)
        );
    })
    .await;
}

/// A query with prefetch stages scores only their candidates.
pub async fn prefetch_limits_what_the_query_scores(port: Arc<dyn VectorPort>, prefix: &str) {
    scoped(port, prefix, |store, names| async move {
        let name = names.collection("rescore");
        create_hybrid(&*store, &name).await;
        let words = Prefetch::new(
            Query::Nearest(SparseVector::new(vec![7], vec![1.0]).into()),
            Some("words"),
            2,
        );
        let rescore = QueryRequest {
            prefetch: vec![words],
            ..QueryRequest::nearest(vec![1.0, 0.0], 10).using("image")
        };
        let hits = ok(store.query(&name, &rescore).await, "rescoring query");
        assert_hits(
            &hits,
            &[(2, 0.5), (3, 0.0)],
            "the dense score of the sparse stage's candidates only",
        );
    })
    .await;
}

/// Recommendation from examples: by the average vector (`2 avg(positive) -
/// avg(negative)`) or by the best score against any example; examples given by id are
/// left out of the results.
pub async fn recommend_scores_by_examples(port: Arc<dyn VectorPort>, prefix: &str) {
    scoped(port, prefix, |store, names| async move {
        let name = names.collection("recommend");
        create_hybrid(&*store, &name).await;
        let recommend = |positive: Vec<VectorInput>, negative, strategy| {
            QueryRequest::new(
                Query::Recommend(Recommend {
                    positive,
                    negative,
                    strategy,
                }),
                10,
            )
            .using("image")
        };
        let average = recommend(
            vec![PointId::Num(1).into()],
            vec![PointId::Num(4).into()],
            RecommendStrategy::AverageVector,
        );
        let hits = ok(store.query(&name, &average).await, "average vector");
        // 2 * [1, 0] - [-1, 0] = [3, 0].
        assert_hits(
            &hits,
            &[(2, 1.5), (3, 0.0)],
            "dot product with the average vector",
        );
        let best = recommend(
            vec![PointId::Num(3).into()],
            vec![PointId::Num(4).into()],
            RecommendStrategy::BestScore,
        );
        let hits = ok(store.query(&name, &best).await, "best score");
        // sigmoid(x) = (x / (1 + |x|) + 1) / 2 of the best positive similarity.
        assert_hits(
            &hits,
            &[(2, 2.0 / 3.0), (1, 0.5)],
            "best score against the examples",
        );
        let inline = recommend(
            vec![vec![0.0, 1.0].into()],
            Vec::new(),
            RecommendStrategy::AverageVector,
        );
        let hits = ok(store.query(&name, &inline).await, "inline example");
        assert_eq!(
            hit_ids(&hits)[0],
            PointId::Num(3),
            "inline examples exclude nothing"
        );
    })
    .await;
}

/// Malformed queries are `InvalidInput` before anything runs; a missing collection is
/// `NotFound`.
pub async fn invalid_queries_are_invalid_input(port: Arc<dyn VectorPort>, prefix: &str) {
    scoped(port, prefix, |store, names| async move {
        let name = names.collection("query_invalid");
        create_hybrid(&*store, &name).await;
        let cases = [
            (
                QueryRequest::new(Query::Fusion(Fusion::RRF), 3),
                "a fusion without prefetch",
            ),
            (
                QueryRequest::fusion(Fusion::RRF, hybrid_stages(), 3).using("image"),
                "a fusion with using",
            ),
            (
                QueryRequest::nearest(vec![1.0, 0.0], 0).using("image"),
                "limit 0",
            ),
            (
                QueryRequest::nearest(vec![1.0, 0.0, 0.0], 3).using("image"),
                "a vector of the wrong dimension",
            ),
            (
                QueryRequest::nearest(vec![1.0, 0.0], 3).using("nope"),
                "an unknown vector name",
            ),
            (
                QueryRequest::fusion(
                    Fusion::RRF,
                    vec![Prefetch::new(
                        Query::Nearest(vec![1.0, 0.0].into()),
                        Some("words"),
                        2,
                    )],
                    3,
                ),
                "a dense vector for a sparse stage",
            ),
        ];
        for (request, what) in cases {
            expect_kind(
                store.query(&name, &request).await,
                ErrorKind::InvalidInput,
                what,
            );
        }
        expect_kind(
            store
                .query(
                    &names.collection("query_missing"),
                    &QueryRequest::nearest(vec![1.0, 0.0], 3).using("image"),
                )
                .await,
            ErrorKind::NotFound,
            "a query on a missing collection",
        );
    })
    .await;
}
