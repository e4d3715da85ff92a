//! Scenario 11: walking a whole collection with `scroll` (issue 15: "scroll through
//! 100,000 points with bounded client memory (report peak RSS growth)").
//!
//! One collection of the largest `Plan::vector_points` (100,000; quick: 1,000) points of
//! dimension `Plan::vector_dimension` with a small payload, read back page by page
//! ([`PAGE`] points, payload and vectors: an export or a blue/green reindex) by:
//!
//! - raw qdrant-client: a `ScrollPoints` loop on `next_page_offset`, each page dropped;
//! - the remote port: [`VectorPortExt::scroll_all`], each page dropped;
//! - once, after those rounds: the port's pages kept in one `Vec` (what a walk without
//!   paging costs), for contrast.
//!
//! Throughput is points per second of a whole walk; memory is the process's peak resident
//! set during a walk (sampled every [`SAMPLE_EVERY`] by a thread of its own) minus the
//! resident set before it. The process also holds the in-process test server and its
//! engine, so a page's server-side buffers count too (for both clients alike), and heap
//! the allocator kept from earlier work can absorb a walk's first megabytes: the figure
//! shows whether memory grows with the collection, not an allocator-exact size.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use infra_base::vector::ScrollRequest;
use infra_base::{CollectionSpec, Distance, Point, Record, VectorPort, VectorPortExt};
use qdrant_client::qdrant as pb;

use qdrant_client::qdrant::points_client::PointsClient;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use crate::report::{Report, Row, Status};
use crate::stats::Paired;
use crate::vector::{QdrantTarget, UPSERT_BATCH, random_vector};
use crate::{BenchResult, Plan};

/// The collection the scenario creates (and deletes at the end).
const COLLECTION: &str = "infra_bench_scroll";

/// Points per page.
const PAGE: usize = 1_000;

/// How often the resident set is sampled during a walk.
const SAMPLE_EVERY: Duration = Duration::from_millis(1);

/// The clients, baseline first.
const CLIENTS: [&str; 2] = [
    "raw qdrant-client ScrollPoints loop (1 channel)",
    "RemoteQdrant port scroll_all",
];

/// The contrast: every page kept.
const COLLECTED: &str = "RemoteQdrant port, every page kept in one Vec";

/// Bounded means: a paged walk grows the resident set by at most this share of what
/// keeping every page grows it by.
const BOUNDED_SHARE: f64 = 0.1;

/// The fewest pages a walk needs for the bound to say anything (quick runs have one).
const MIN_PAGES_FOR_TARGET: usize = 20;

/// One walk: how many points it read, how long it took, and the resident set it added.
struct Walk {
    points: usize,
    elapsed: Duration,
    growth_bytes: u64,
}

impl Walk {
    #[allow(clippy::cast_precision_loss)]
    fn points_per_second(&self) -> f64 {
        self.points as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }

    #[allow(clippy::cast_precision_loss)]
    fn growth_mib(&self) -> f64 {
        self.growth_bytes as f64 / (1024.0 * 1024.0)
    }
}

/// Fills the collection, runs the walks, adds the rows, and deletes the collection.
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
    let points = plan.vector_points.iter().copied().max().unwrap_or(1_000);
    let dimension = plan.vector_dimension;
    let _ = port.delete_collection(COLLECTION).await;
    port.ensure_collection(&CollectionSpec::new(COLLECTION, dimension, Distance::Dot))
        .await?;
    for start in (0..points).step_by(UPSERT_BATCH) {
        let batch: Vec<Point> = (start..(start + UPSERT_BATCH).min(points))
            .map(|id| {
                let payload = serde_json::json!({"n": id, "tag": format!("item-{id}")});
                Point::new(id as u64, random_vector(dimension))
                    .with_payload(payload.as_object().cloned().unwrap_or_default())
            })
            .collect();
        port.upsert(COLLECTION, batch).await?;
    }
    let raw = qdrant.raw_points().await?;
    let rounds = if plan.quick { 1 } else { 3 };
    let (mut rate, mut growth) = (Paired::default(), Paired::default());
    for round in 0..rounds {
        // Rotate which client goes first, as the other scenarios do.
        let (raw_walk, port_walk) = if round % 2 == 0 {
            let raw_walk = measured(raw_walk(raw.clone())).await?;
            (raw_walk, measured(port_walk(port, false)).await?)
        } else {
            let port_walk = measured(port_walk(port, false)).await?;
            (measured(raw_walk(raw.clone())).await?, port_walk)
        };
        for walk in [&raw_walk, &port_walk] {
            if walk.points != points {
                return Err(
                    format!("a scroll walk read {} points of {points}", walk.points).into(),
                );
            }
        }
        rate.push(raw_walk.points_per_second(), port_walk.points_per_second());
        growth.push(raw_walk.growth_mib(), port_walk.growth_mib());
    }
    let collected = measured(port_walk(port, true)).await?;

    let scenario = format!(
        "11 vector scroll (dim {dimension}, {points} points, pages of {PAGE} with payload and \
         vectors)"
    );
    report
        .rows
        .push(Row::new(&scenario, "throughput", "points/s", CLIENTS[1]).paired(CLIENTS[0], &rate));
    let port_growth = median(&growth.subject);
    let bounded = port_growth <= BOUNDED_SHARE * collected.growth_mib();
    let mut row = Row::new(&scenario, "peak RSS growth", "MiB", CLIENTS[1])
        .paired(CLIENTS[0], &growth)
        .note("process-wide (the in-process server's buffers count for both clients)");
    // With a few pages, keeping them all costs about what one page costs: nothing to tell.
    if points >= MIN_PAGES_FOR_TARGET * PAGE {
        row = row.target(
            format!(
                "bounded: <= {BOUNDED_SHARE} x the growth of keeping every page ({:.1} MiB)",
                collected.growth_mib()
            ),
            Status::from_bool(bounded),
        );
    }
    report.rows.push(row);
    report.rows.push(
        Row::new(&scenario, "peak RSS growth", "MiB", COLLECTED)
            .subject(&[collected.growth_mib()])
            .note(format!(
                "context: {} points held at once, {:.0} points/s",
                collected.points,
                collected.points_per_second()
            )),
    );
    Ok(())
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(0.0)
}

/// Runs `walk` while a thread samples the resident set; `(points, elapsed)` come from the
/// walk, the growth is the peak sample minus the resident set before it.
async fn measured(walk: impl Future<Output = BenchResult<usize>>) -> BenchResult<Walk> {
    let before = resident_bytes()?;
    let peak = Arc::new(AtomicU64::new(before));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (Arc::clone(&peak), Arc::clone(&done));
        std::thread::Builder::new()
            .name("rss-sampler".into())
            .spawn(move || {
                while !done.load(Ordering::Relaxed) {
                    if let Ok(now) = resident_bytes() {
                        peak.fetch_max(now, Ordering::Relaxed);
                    }
                    std::thread::sleep(SAMPLE_EVERY);
                }
            })?
    };
    let started = Instant::now();
    let points = walk.await;
    let elapsed = started.elapsed();
    if let Ok(now) = resident_bytes() {
        peak.fetch_max(now, Ordering::Relaxed);
    }
    done.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    Ok(Walk {
        points: points?,
        elapsed,
        growth_bytes: peak.load(Ordering::Relaxed).saturating_sub(before),
    })
}

/// Walks the collection through the port; `keep` holds every page until the end.
async fn port_walk(port: &Arc<dyn VectorPort>, keep: bool) -> BenchResult<usize> {
    let request = ScrollRequest::new(PAGE)
        .with_payload(true)
        .with_vector(true);
    let mut pages = port.scroll_all(COLLECTION, request);
    let mut kept: Vec<Record> = Vec::new();
    let mut points = 0;
    while let Some(page) = pages.next_page().await? {
        points += page.points.len();
        if keep {
            kept.extend(page.points);
        }
    }
    drop(kept);
    Ok(points)
}

/// Walks the collection with raw qdrant-client `ScrollPoints` calls, as a user of the
/// client writes the loop.
async fn raw_walk(
    mut raw: PointsClient<InterceptedService<Channel, impl Interceptor>>,
) -> BenchResult<usize> {
    let mut offset = None;
    let mut points = 0;
    loop {
        let reply = raw
            .scroll(pb::ScrollPoints {
                collection_name: COLLECTION.to_owned(),
                offset,
                limit: Some(PAGE as u32),
                with_payload: Some(true.into()),
                with_vectors: Some(true.into()),
                ..pb::ScrollPoints::default()
            })
            .await?
            .into_inner();
        points += reply.result.len();
        match reply.next_page_offset {
            Some(next) => offset = Some(next),
            None => return Ok(points),
        }
    }
}

/// This process's resident set, in bytes.
fn resident_bytes() -> BenchResult<u64> {
    crate::footprint::memory_of(std::process::id()).map(|(rss, _)| rss)
}
