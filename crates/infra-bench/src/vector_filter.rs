//! Scenario 4, filtered: the same filtered search through the remote `VectorPort` on two
//! collections of the same points, one with a keyword payload index on the filtered field
//! and one without, side by side in rotating rounds (issue 17: "filtered search with and
//! without a payload index").
//!
//! Every point carries `bucket`: one of ten keywords, so the filter keeps a tenth of the
//! collection. Without an index Qdrant checks the condition on the candidates the vector
//! index hands it; with one, it plans the search from the index (pre-filtering or a
//! filtered graph walk). The rows say what the index is worth at this selectivity; there
//! is no target.

use std::sync::Arc;

use infra_base::{
    CollectionSpec, Condition, Distance, Filter, PayloadIndex, Point, SearchQuery, VectorPort,
};
use serde_json::json;

use crate::report::{Report, Row, latency_rows};
use crate::stats::{Paired, Run, alternate, drive};
use crate::vector::{UPSERT_BATCH, random_vector};
use crate::{BenchResult, Plan};

/// The collections the scenario creates (and deletes at the end): without and with the
/// index.
const COLLECTIONS: [&str; 2] = ["infra_bench_filter_plain", "infra_bench_filter_indexed"];

/// The variants, baseline first.
const VARIANTS: [&str; 2] = [
    "RemoteQdrant port, no payload index",
    "RemoteQdrant port, keyword index on the field",
];

/// Distinct values of `bucket`: the filter keeps one point in this many.
const BUCKETS: u64 = 10;

/// How many distinct query vectors the searches cycle through.
const QUERIES: usize = 256;

/// Fills both collections with `points` random vectors of `dimension` and a `bucket`,
/// searches them with a filter on one bucket, and adds the rows.
pub(crate) async fn run(
    port: &Arc<dyn VectorPort>,
    plan: &Plan,
    (points, dimension): (usize, usize),
    report: &mut Report,
) -> BenchResult {
    let result = measure(port, plan, (points, dimension), report).await;
    for name in COLLECTIONS {
        let _ = port.delete_collection(name).await;
    }
    result
}

async fn measure(
    port: &Arc<dyn VectorPort>,
    plan: &Plan,
    (points, dimension): (usize, usize),
    report: &mut Report,
) -> BenchResult {
    let unindexed = CollectionSpec::new(COLLECTIONS[0], dimension, Distance::Cosine);
    let indexed = CollectionSpec::new(COLLECTIONS[1], dimension, Distance::Cosine)
        .with_index("bucket", PayloadIndex::Keyword);
    for spec in [&unindexed, &indexed] {
        let _ = port.delete_collection(&spec.name).await;
        port.ensure_collection(spec).await?;
    }
    for start in (0..points).step_by(UPSERT_BATCH) {
        let batch: Vec<Point> = (start..(start + UPSERT_BATCH).min(points))
            .map(|id| {
                let payload = json!({ "bucket": format!("b{}", id as u64 % BUCKETS) });
                Point::new(id as u64, random_vector(dimension))
                    .with_payload(payload.as_object().cloned().unwrap_or_default())
            })
            .collect();
        for name in COLLECTIONS {
            port.upsert(name, batch.clone()).await?;
        }
    }
    let queries: Arc<[Vec<f32>]> = (0..QUERIES).map(|_| random_vector(dimension)).collect();
    let filter = Filter::default().must(Condition::keyword("bucket", "b3"));
    let limit = plan.vector_limit;
    let run_variant = |variant: usize, duration| {
        let (port, queries, filter) = (Arc::clone(port), Arc::clone(&queries), filter.clone());
        async move {
            drive(plan.vector_tasks, duration, move |_| {
                let port = Arc::clone(&port);
                let query = SearchQuery::new(queries[fastrand::usize(..QUERIES)].clone(), limit)
                    .filter(filter.clone());
                async move {
                    port.search(COLLECTIONS[variant], &query)
                        .await
                        .is_ok_and(|hits| hits.len() == limit)
                }
            })
            .await
        }
    };
    let runs: [Vec<Run>; 2] = alternate(
        plan.vector_rounds(points),
        plan.warmup,
        plan.vector_segment,
        run_variant,
    )
    .await;
    let scenario = format!(
        "4 filtered vector search (dim {dimension}, {points} points, 1 in {BUCKETS} match, \
         limit {limit})"
    );
    let errors: u64 = runs.iter().flatten().map(|r| r.errors).sum();
    let rate = Paired::of_runs(&runs[0], &runs[1], Run::rate);
    let mut row = Row::new(&scenario, "throughput", "searches/s", VARIANTS[1])
        .paired(VARIANTS[0], &rate)
        .note("context: what the index is worth at this selectivity; no target");
    if errors > 0 {
        row = row.note(format!(
            "{errors} searches failed or returned fewer than {limit} hits"
        ));
    }
    report.rows.push(row);
    report.rows.extend(latency_rows(
        &scenario,
        (VARIANTS[0], &runs[0]),
        (VARIANTS[1], &runs[1]),
    ));
    Ok(())
}
