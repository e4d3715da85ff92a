//! Scenario 10: the universal query by kind (dense, sparse, hybrid dense + sparse with
//! fusion) through the remote `VectorPort` against raw qdrant-client sending the same
//! `QueryPoints`, side by side in rotating rounds (issue 15: "remote query overhead vs raw
//! qdrant-client >= 0.95, dense, sparse, hybrid with prefetch").
//!
//! One collection of `Plan::vector_points[0]` points (10,000; quick: 1,000), each with a
//! named dense vector (`dense`, dimension `Plan::vector_dimension`, cosine) and a named
//! sparse vector (`sparse`: [`DOC_TERMS`] distinct indices of a vocabulary of [`VOCABULARY`],
//! random weights). Queries: nearest by `dense`; nearest by `sparse` ([`QUERY_TERMS`]
//! indices); and reciprocal rank fusion of a dense and a sparse prefetch of
//! [`PREFETCH_LIMIT`] candidates each. Every query asks for `Plan::vector_limit` hits and
//! the payload, as scenario 4's searches do.

use std::sync::Arc;

use infra_base::{
    CollectionSpec, Distance, Fusion, Point, Prefetch, Query, QueryRequest, SparseParams,
    SparseVector, VectorParams, VectorPort, Vectors,
};
use qdrant_client::qdrant as pb;

use crate::report::{Report, Row, Status, latency_rows};
use crate::stats::{Paired, Run, alternate, drive};
use crate::vector::{QdrantTarget, UPSERT_BATCH, VECTOR_RATIO_TARGET, random_vector};
use crate::{BenchResult, Plan};

/// The collection the scenario creates (and deletes at the end).
const COLLECTION: &str = "infra_bench_query_kinds";

/// The dense vector's name.
const DENSE: &str = "dense";

/// The sparse vector's name.
const SPARSE: &str = "sparse";

/// Distinct sparse indices (terms).
const VOCABULARY: u32 = 2_000;

/// Terms per point's sparse vector.
const DOC_TERMS: usize = 24;

/// Terms per query's sparse vector.
const QUERY_TERMS: usize = 8;

/// Candidates each prefetch of the hybrid query hands to the fusion.
const PREFETCH_LIMIT: usize = 50;

/// How many distinct queries of each kind the runs cycle through.
const QUERIES: usize = 256;

/// The query kinds, in the order of the variants (raw, then port, for each).
const KINDS: [&str; 3] = [
    "dense (nearest by a named vector)",
    "sparse (nearest by a sparse vector)",
    "hybrid (dense + sparse prefetch, RRF)",
];

/// The two clients, baseline first.
const CLIENTS: [&str; 2] = ["raw qdrant-client gRPC (1 channel)", "RemoteQdrant port"];

/// One query of each kind, as the port's request and as the raw client's message.
struct Queries {
    port: Vec<QueryRequest>,
    raw: Vec<pb::QueryPoints>,
}

/// Fills the collection, runs the six variants (three kinds x two clients) in rotating
/// rounds, adds the rows, and deletes the collection.
pub(crate) async fn run(qdrant: &QdrantTarget, plan: &Plan, report: &mut Report) -> BenchResult {
    crate::vector::on_remote_port(qdrant, COLLECTION, |port| async move {
        measure(qdrant, &port, plan, report).await
    })
    .await
}

async fn measure(
    qdrant: &QdrantTarget,
    port: &Arc<dyn VectorPort>,
    plan: &Plan,
    report: &mut Report,
) -> BenchResult {
    let (points, dimension, limit) = (
        plan.vector_points[0],
        plan.vector_dimension,
        plan.vector_limit,
    );
    let spec = CollectionSpec::named(COLLECTION)
        .with_vector(DENSE, VectorParams::dense(dimension, Distance::Cosine))
        .with_sparse(SPARSE, SparseParams::default());
    let _ = port.delete_collection(COLLECTION).await;
    port.ensure_collection(&spec).await?;
    for start in (0..points).step_by(UPSERT_BATCH) {
        let batch: Vec<Point> = (start..(start + UPSERT_BATCH).min(points))
            .map(|id| {
                let vectors = Vectors::new()
                    .with(DENSE, random_vector(dimension))
                    .with(SPARSE, random_sparse(DOC_TERMS));
                Point::with_vectors(id as u64, vectors)
            })
            .collect();
        port.upsert(COLLECTION, batch).await?;
    }
    let queries: Arc<[Queries; 3]> = Arc::new(std::array::from_fn(|kind| {
        let (port, raw) = (0..QUERIES)
            .map(|_| query_of_kind(kind, dimension, limit))
            .unzip();
        Queries { port, raw }
    }));
    let raw = qdrant.raw_points().await?;

    // Variant v: kind v / 2, client v % 2 (0 raw, 1 port).
    let run_variant = |variant: usize, duration| {
        let (raw, port, queries) = (raw.clone(), Arc::clone(port), Arc::clone(&queries));
        async move {
            let kind = variant / 2;
            if variant.is_multiple_of(2) {
                drive(plan.vector_tasks, duration, move |_| {
                    let mut raw = raw.clone();
                    let message = queries[kind].raw[fastrand::usize(..QUERIES)].clone();
                    async move {
                        raw.query(message)
                            .await
                            .is_ok_and(|reply| reply.into_inner().result.len() == limit)
                    }
                })
                .await
            } else {
                drive(plan.vector_tasks, duration, move |_| {
                    let (port, queries) = (Arc::clone(&port), Arc::clone(&queries));
                    async move {
                        let request = &queries[kind].port[fastrand::usize(..QUERIES)];
                        port.query(COLLECTION, request)
                            .await
                            .is_ok_and(|hits| hits.len() == limit)
                    }
                })
                .await
            }
        }
    };
    let runs: [Vec<Run>; 6] = alternate(
        plan.vector_rounds(points),
        plan.warmup,
        plan.vector_segment,
        run_variant,
    )
    .await;

    for (kind, name) in KINDS.iter().enumerate() {
        let (baseline, subject) = (&runs[2 * kind], &runs[2 * kind + 1]);
        let scenario = format!(
            "10 query {name} (dense dim {dimension} + sparse, {points} points, limit {limit})"
        );
        let errors: u64 = baseline.iter().chain(subject).map(|r| r.errors).sum();
        let rate = Paired::of_runs(baseline, subject, Run::rate);
        let mut row = Row::new(&scenario, "throughput", "queries/s", CLIENTS[1])
            .paired(CLIENTS[0], &rate)
            .target(
                format!("ratio >= {VECTOR_RATIO_TARGET:.2}"),
                Status::from_bool(rate.median_ratio() >= VECTOR_RATIO_TARGET && errors == 0),
            );
        if errors > 0 {
            row = row.note(format!(
                "{errors} queries failed or returned fewer than {limit} hits"
            ));
        }
        report.rows.push(row);
        report.rows.extend(latency_rows(
            &scenario,
            (CLIENTS[0], baseline),
            (CLIENTS[1], subject),
        ));
    }
    Ok(())
}

/// A sparse vector of `terms` distinct random indices with random positive weights.
fn random_sparse(terms: usize) -> SparseVector {
    let mut indices: Vec<u32> = Vec::with_capacity(terms);
    while indices.len() < terms {
        let index = fastrand::u32(..VOCABULARY);
        if !indices.contains(&index) {
            indices.push(index);
        }
    }
    let values = (0..terms).map(|_| fastrand::f32() + 0.01).collect();
    SparseVector::new(indices, values)
}

/// One random query of `kind` (an index of [`KINDS`]): the port's request, and the
/// `QueryPoints` a raw qdrant-client user writes for it, with the same fields the port
/// sends (the payload, no vectors, default parameters).
fn query_of_kind(kind: usize, dimension: usize, limit: usize) -> (QueryRequest, pb::QueryPoints) {
    let dense = || {
        let vector = random_vector(dimension);
        let raw = pb::Query::new_nearest(pb::VectorInput::new_dense(vector.clone()));
        (Query::Nearest(vector.into()), raw)
    };
    let sparse = || {
        let vector = random_sparse(QUERY_TERMS);
        let raw = pb::Query::new_nearest(pb::VectorInput::new_sparse(
            vector.indices.clone(),
            vector.values.clone(),
        ));
        (Query::Nearest(vector.into()), raw)
    };
    let raw_stage = |(query, using): (pb::Query, &str)| pb::PrefetchQuery {
        query: Some(query),
        using: Some(using.to_owned()),
        limit: Some(PREFETCH_LIMIT as u64),
        ..pb::PrefetchQuery::default()
    };
    let (request, prefetch, query, using) = match kind {
        0 => {
            let (query, raw) = dense();
            let request = QueryRequest::new(query, limit).using(DENSE);
            (request, Vec::new(), raw, Some(DENSE))
        }
        1 => {
            let (query, raw) = sparse();
            let request = QueryRequest::new(query, limit).using(SPARSE);
            (request, Vec::new(), raw, Some(SPARSE))
        }
        _ => {
            let ((dense, raw_dense), (sparse, raw_sparse)) = (dense(), sparse());
            let stages = vec![
                Prefetch::new(dense, Some(DENSE), PREFETCH_LIMIT),
                Prefetch::new(sparse, Some(SPARSE), PREFETCH_LIMIT),
            ];
            let request = QueryRequest::fusion(Fusion::RRF, stages, limit);
            let prefetch = vec![
                raw_stage((raw_dense, DENSE)),
                raw_stage((raw_sparse, SPARSE)),
            ];
            let fusion = pb::Query::new_fusion(pb::Fusion::Rrf);
            (request, prefetch, fusion, None)
        }
    };
    let raw = pb::QueryPoints {
        collection_name: COLLECTION.to_owned(),
        prefetch,
        query: Some(query),
        using: using.map(str::to_owned),
        limit: Some(limit as u64),
        with_payload: Some(true.into()),
        with_vectors: Some(false.into()),
        ..pb::QueryPoints::default()
    };
    (request, raw)
}
