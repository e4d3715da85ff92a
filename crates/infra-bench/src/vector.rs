//! Scenario 4: remote `VectorPort` search against raw qdrant-client gRPC calls on the same
//! server, with the embedded store's search beside them, over a grid of collection sizes
//! and vector dimensions (issue 17).
//!
//! At each point of the grid (`Plan::vector_points` x `Plan::vector_dimensions`: 10,000 and
//! 100,000 points x dimension 128 and 768 in full mode, 1,000 x 128 in quick mode) the
//! scenario creates a collection of random vectors (cosine distance) through the port,
//! upserts them in batches of [`UPSERT_BATCH`] (timed: the upsert throughput is a context
//! row), then runs the three variants side by side in rotating rounds
//! ([`alternate`]). The charts `qdrant-throughput.svg` and `qdrant-latency-p50.svg` show
//! each variant against the number of points, one panel per dimension.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use infra_base::{CollectionSpec, Components, Distance, Filter, Point, SearchQuery, VectorPort};
use infra_config::SettingsLoader;
use infra_qdrant::RemoteQdrant;
use infra_qdrant_edge::{EdgeStoreOptions, EdgeVectorStore};
use infra_testkit::qdrant::{QdrantProvision, QdrantTestServer};
use qdrant_client::qdrant as pb;
use qdrant_client::qdrant::points_client::PointsClient;
use tonic::Request;
use tonic::metadata::MetadataValue;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use crate::plot::{self, Axes, Panel, Series, XScale};
use crate::report::{Report, Row, Status, latency_rows};
use crate::stats::{Paired, Run, Spread, alternate, drive};
use crate::{BenchResult, Plan};

/// The throughput target of scenario 4 (`docs/benchmarks.md`): remote port / raw
/// qdrant-client.
pub(crate) const VECTOR_RATIO_TARGET: f64 = 0.95;

/// The collection the scenario creates (and deletes at the end).
const COLLECTION: &str = "infra_bench_search";

/// How many distinct query vectors the searches cycle through.
const QUERIES: usize = 256;

/// Points per upsert call when the collection is filled.
pub(crate) const UPSERT_BATCH: usize = 1000;

/// The variants, baseline first.
const VARIANTS: [&str; 3] = [
    "raw qdrant-client gRPC (1 channel)",
    "RemoteQdrant port",
    "EdgeVectorStore (embedded, in-process)",
];

/// Short names of the variants for the charts, by variant.
const SHORT: [&str; 3] = ["raw qdrant-client", "RemoteQdrant port", "EdgeVectorStore"];

/// The file name of the throughput chart.
pub(crate) const THROUGHPUT_CHART: &str = "qdrant-throughput.svg";

/// The file name of the p50 latency chart.
pub(crate) const LATENCY_CHART: &str = "qdrant-latency-p50.svg";

/// The Qdrant the scenarios measure, provided as `cargo xtask test-integration` provides
/// it: `--qdrant-url`, else infra-testkit's [`QdrantProvision`] (`INFRA_TEST_QDRANT_URL`, a
/// Docker container when a daemon answers, else the in-process test server over the
/// embedded engine, whose store the embedded variant then searches directly).
pub(crate) struct QdrantTarget {
    url: String,
    api_key: Option<String>,
    /// `None` for `--qdrant-url`; held for its `Drop` (container, test server).
    provision: Option<QdrantProvision>,
    store: EdgeVectorStore,
}

impl QdrantTarget {
    /// `url` when given, else [`QdrantProvision::acquire`] over a temporary embedded store.
    pub(crate) async fn provision(url: Option<&str>) -> BenchResult<Self> {
        // No per-call bound on the engine: filling and deleting a collection of 100,000
        // vectors of dimension 768 takes longer than the 5 s a service would allow, and
        // the bench measures, it does not bound.
        let mut options = EdgeStoreOptions::default();
        options.call_timeout = None;
        let store = EdgeVectorStore::temporary(options).await?;
        if let Some(url) = url {
            return Ok(Self {
                url: url.to_owned(),
                api_key: None,
                provision: None,
                store,
            });
        }
        let backing = store.clone();
        let provision =
            QdrantProvision::acquire(|| async move { Arc::new(backing) as Arc<dyn VectorPort> })
                .await?;
        Ok(Self {
            url: provision.url().to_owned(),
            api_key: provision.api_key().map(str::to_owned),
            provision: Some(provision),
            store,
        })
    }

    /// The in-process test server, when that is the provider.
    fn server(&self) -> Option<&QdrantTestServer> {
        self.provision.as_ref().and_then(QdrantProvision::server)
    }

    /// Whether the embedded store is the one behind the server (the test server), so that
    /// points upserted through the server are already in it.
    fn store_backs_server(&self) -> bool {
        self.server().is_some()
    }

    /// The settings of the remote adapter: URL, and the API key when the provider has one.
    pub(crate) fn settings_pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = vec![
            ("SOCIAL_QDRANT__MODE", "remote".to_owned()),
            ("SOCIAL_QDRANT__URL", self.url.clone()),
            // Creating, filling and deleting the large collections of scenario 4 take
            // longer than the default 5 s per request; searches are not affected.
            ("SOCIAL_QDRANT__TIMEOUT", "120s".to_owned()),
        ];
        if let Some(key) = &self.api_key {
            pairs.push(("SOCIAL_QDRANT__API_KEY", key.clone()));
        }
        pairs
    }

    /// The baseline of the vector scenarios: qdrant-client's generated `PointsClient` on one
    /// tonic channel of its own, sending the same API key as the port, if any (a real
    /// server that requires one). Clone it per task: clones share the channel.
    pub(crate) async fn raw_points(
        &self,
    ) -> BenchResult<PointsClient<InterceptedService<Channel, impl Interceptor + Clone + use<>>>>
    {
        let channel = Channel::from_shared(self.url.clone())?.connect().await?;
        let api_key = self
            .api_key
            .as_deref()
            .map(MetadataValue::try_from)
            .transpose()
            .map_err(|_| "the Qdrant API key is not a valid gRPC header value")?;
        Ok(PointsClient::with_interceptor(
            channel,
            move |mut request: Request<()>| {
                if let Some(key) = &api_key {
                    request.metadata_mut().insert("api-key", key.clone());
                }
                Ok(request)
            },
        ))
    }

    /// How the server was provided (never the API key).
    pub(crate) fn describe(&self) -> String {
        match &self.provision {
            Some(provision) => provision.describe(),
            None => format!(
                "--qdrant-url {}",
                infra_testkit::provider::redact_url(&self.url)
            ),
        }
    }

    /// HealthCheck calls the test server received; `None` for any other server.
    pub(crate) fn health_checks(&self) -> Option<u64> {
        self.server().map(QdrantTestServer::health_checks)
    }

    /// Stops the test server, if any.
    pub(crate) async fn stop(&self) {
        if let Some(server) = self.server() {
            server.stop().await;
        }
    }
}

/// One point of the grid: its size and each variant's medians across rounds.
struct GridPoint {
    /// Points in the collection.
    points: usize,
    /// Vector dimension.
    dimension: usize,
    /// Median searches/s, by variant.
    rate: [f64; 3],
    /// Median p50 latency in ms, by variant.
    p50: [f64; 3],
}

/// Scenario 4: every point of the grid, then the charts (into `out`).
pub(crate) async fn run(
    qdrant: &QdrantTarget,
    plan: &Plan,
    out: &Path,
    command: &str,
    report: &mut Report,
) -> BenchResult {
    let settings = SettingsLoader::from_pairs(qdrant.settings_pairs()).load()?;
    let remote = infra_qdrant::build(&settings.qdrant)?;
    let components = Components::new().with(remote.component());
    components.init_all().await?;
    // The filtered search first, at the grid's first point: before the large collections,
    // whose background indexing would share the cores with it.
    let first = (plan.vector_points[0], plan.vector_dimensions[0]);
    println!(
        "infra-bench: scenario 4, filtered search at {} points, dimension {}",
        first.0, first.1
    );
    let mut result = crate::vector_filter::run(&remote.port(), plan, first, report).await;
    let mut grid = Vec::new();
    'grid: for &dimension in plan.vector_dimensions {
        if result.is_err() {
            break;
        }
        for &points in plan.vector_points {
            println!("infra-bench: scenario 4 at {points} points, dimension {dimension}");
            let point = search(qdrant, &remote, plan, (points, dimension), report).await;
            drop_collection(qdrant, &remote.port(), COLLECTION).await;
            match point {
                Ok(point) => grid.push(point),
                Err(err) => {
                    result = Err(err);
                    break 'grid;
                }
            }
        }
    }
    components.close_all().await;
    result?;
    let footer = format!(
        "{command} ({}); report.json has the machine and versions",
        report.meta.date
    );
    draw(&grid, plan, out, &footer)?;
    report.charts.push(THROUGHPUT_CHART.to_owned());
    report.charts.push(LATENCY_CHART.to_owned());
    Ok(())
}

/// Deletes collection `name` from the server (and the embedded store when it is a
/// separate engine), and waits for the deletion: through the engine itself when it backs
/// the test server, since deleting a large collection waits for the engine's background
/// indexing, and the next scenario must find an idle engine.
pub(crate) async fn drop_collection(qdrant: &QdrantTarget, port: &Arc<dyn VectorPort>, name: &str) {
    let store: &dyn VectorPort = &qdrant.store;
    if qdrant.store_backs_server() {
        let _ = store.delete_collection(name).await;
    } else {
        let _ = port.delete_collection(name).await;
        let _ = store.delete_collection(name).await;
    }
}

/// Builds the remote port on `qdrant` as a service would (`infra_qdrant::build`, then
/// `init`), runs `measure` with it, then drops `collection` and closes the port, whatever
/// `measure` answered: the shape of the scenarios that own one collection (10, 11).
pub(crate) async fn on_remote_port<F, Fut>(
    qdrant: &QdrantTarget,
    collection: &str,
    measure: F,
) -> BenchResult
where
    F: FnOnce(Arc<dyn VectorPort>) -> Fut,
    Fut: std::future::Future<Output = BenchResult>,
{
    let settings = SettingsLoader::from_pairs(qdrant.settings_pairs()).load()?;
    let remote = infra_qdrant::build(&settings.qdrant)?;
    let components = Components::new().with(remote.component());
    components.init_all().await?;
    let port = remote.port();
    let result = measure(Arc::clone(&port)).await;
    drop_collection(qdrant, &port, collection).await;
    components.close_all().await;
    result
}

pub(crate) fn random_vector(dimension: usize) -> Vec<f32> {
    (0..dimension)
        .map(|_| fastrand::f32() * 2.0 - 1.0)
        .collect()
}

/// Fills the collection with `points` points of `dimension`, then searches it three ways,
/// in turn; adds the point's rows.
async fn search(
    qdrant: &QdrantTarget,
    remote: &RemoteQdrant,
    plan: &Plan,
    (points, dimension): (usize, usize),
    report: &mut Report,
) -> BenchResult<GridPoint> {
    let port = remote.port();
    let embedded: Arc<dyn VectorPort> = Arc::new(qdrant.store.clone());
    let separate = !qdrant.store_backs_server();
    let filled = fill(&port, &embedded, separate, (points, dimension)).await?;
    let queries: Arc<[Vec<f32>]> = (0..QUERIES).map(|_| random_vector(dimension)).collect();
    let raw = qdrant.raw_points().await?;
    let limit = plan.vector_limit;

    let run_variant = |variant: usize, duration| {
        let (raw, port, embedded) = (raw.clone(), port.clone(), Arc::clone(&embedded));
        let queries = Arc::clone(&queries);
        async move {
            if variant == 0 {
                drive(plan.vector_tasks, duration, move |_| {
                    let mut raw = raw.clone();
                    let vector = queries[fastrand::usize(..QUERIES)].clone();
                    async move {
                        let request = pb::QueryPoints {
                            collection_name: COLLECTION.to_owned(),
                            query: Some(pb::Query::new_nearest(vector)),
                            limit: Some(limit as u64),
                            with_payload: Some(true.into()),
                            with_vectors: Some(false.into()),
                            ..pb::QueryPoints::default()
                        };
                        raw.query(request)
                            .await
                            .is_ok_and(|reply| reply.into_inner().result.len() == limit)
                    }
                })
                .await
            } else {
                let port = if variant == 1 { port } else { embedded };
                drive(plan.vector_tasks, duration, move |_| {
                    let port = Arc::clone(&port);
                    let vector = queries[fastrand::usize(..QUERIES)].clone();
                    async move {
                        port.search(COLLECTION, &SearchQuery::new(vector, limit))
                            .await
                            .is_ok_and(|hits| hits.len() == limit)
                    }
                })
                .await
            }
        }
    };
    let rounds = plan.vector_rounds(points);
    let runs: [Vec<Run>; 3] =
        alternate(rounds, plan.warmup, plan.vector_segment, run_variant).await;

    let scenario = format!(
        "4 vector search (dim {dimension}, {} points, limit {limit})",
        filled.count
    );
    report
        .rows
        .push(filled.row(&scenario, "RemoteQdrant port", filled.port));
    if let Some(embedded) = &filled.embedded {
        report
            .rows
            .push(filled.row(&scenario, "EdgeVectorStore (embedded)", *embedded));
    }
    add_rows(report, &scenario, limit, &runs);
    let median = |f: &dyn Fn(&Run) -> f64, runs: &[Run]| {
        Spread::of(&runs.iter().map(f).collect::<Vec<_>>()).map_or(f64::NAN, |s| s.median)
    };
    Ok(GridPoint {
        points,
        dimension,
        rate: std::array::from_fn(|v| median(&Run::rate, &runs[v])),
        p50: std::array::from_fn(|v| median(&|r: &Run| r.quantile_ms(0.5), &runs[v])),
    })
}

/// How the collection was filled.
struct Filled {
    /// The count the server reports afterwards.
    count: u64,
    /// Points upserted.
    points: usize,
    /// Seconds spent in the port's upserts.
    port: f64,
    /// Seconds spent in the embedded store's upserts, when it is a separate engine.
    embedded: Option<f64>,
}

impl Filled {
    /// The upsert throughput row of `subject`, which took `seconds`.
    fn row(&self, scenario: &str, subject: &str, seconds: f64) -> Row {
        Row::new(scenario, "upsert throughput", "points/s", subject)
            .subject(&[self.points as f64 / seconds.max(f64::MIN_POSITIVE)])
            .note(format!(
                "context: {} points in batches of {UPSERT_BATCH}, one call at a time, once \
                 (not in rounds); random vectors generated outside the timing",
                self.points
            ))
    }
}

/// Creates the collection through `port` and upserts the points in batches of
/// [`UPSERT_BATCH`], timing the calls; `embedded` gets them too when it is a `separate`
/// engine.
async fn fill(
    port: &Arc<dyn VectorPort>,
    embedded: &Arc<dyn VectorPort>,
    separate: bool,
    (count, dimension): (usize, usize),
) -> BenchResult<Filled> {
    let spec = CollectionSpec::new(COLLECTION, dimension, Distance::Cosine);
    let _ = port.delete_collection(COLLECTION).await;
    port.ensure_collection(&spec).await?;
    if separate {
        let _ = embedded.delete_collection(COLLECTION).await;
        embedded.ensure_collection(&spec).await?;
    }
    let (mut port_seconds, mut embedded_seconds) = (0.0, 0.0);
    for start in (0..count).step_by(UPSERT_BATCH) {
        let points: Vec<Point> = (start..(start + UPSERT_BATCH).min(count))
            .map(|id| Point::new(id as u64, random_vector(dimension)))
            .collect();
        if separate {
            let begun = Instant::now();
            embedded.upsert(COLLECTION, points.clone()).await?;
            embedded_seconds += begun.elapsed().as_secs_f64();
        }
        let begun = Instant::now();
        port.upsert(COLLECTION, points).await?;
        port_seconds += begun.elapsed().as_secs_f64();
    }
    Ok(Filled {
        count: port.count(COLLECTION, &Filter::default()).await?,
        points: count,
        port: port_seconds,
        embedded: separate.then_some(embedded_seconds),
    })
}

/// Scenario 4's rows: throughput and latency of the remote port and the embedded store
/// beside raw qdrant-client.
fn add_rows(report: &mut Report, scenario: &str, limit: usize, runs: &[Vec<Run>; 3]) {
    let errors: u64 = runs.iter().flatten().map(|r| r.errors).sum();
    for subject in 1..VARIANTS.len() {
        let rate = Paired::of_runs(&runs[0], &runs[subject], Run::rate);
        let mut row = Row::new(scenario, "throughput", "searches/s", VARIANTS[subject])
            .paired(VARIANTS[0], &rate);
        row = if subject == 1 {
            row.target(
                format!("ratio >= {VECTOR_RATIO_TARGET:.2}"),
                Status::from_bool(rate.median_ratio() >= VECTOR_RATIO_TARGET && errors == 0),
            )
        } else {
            row.note("context: no network, no gRPC; no target")
        };
        if errors > 0 {
            row = row.note(format!(
                "{errors} searches failed or returned fewer than {limit} hits"
            ));
        }
        report.rows.push(row);
        report.rows.extend(latency_rows(
            scenario,
            (VARIANTS[0], &runs[0]),
            (VARIANTS[subject], &runs[subject]),
        ));
    }
}

/// The charts: throughput and p50 latency against the number of points, one panel per
/// dimension, one line per variant.
fn draw(grid: &[GridPoint], plan: &Plan, out: &Path, footer: &str) -> BenchResult {
    std::fs::create_dir_all(out)?;
    let panels = |figure: &dyn Fn(&GridPoint) -> [f64; 3]| -> Vec<Panel> {
        plan.vector_dimensions
            .iter()
            .map(|&dimension| Panel {
                title: format!(
                    "dimension {dimension}, limit {}, {} tasks",
                    plan.vector_limit, plan.vector_tasks
                ),
                series: [1, 0, 2]
                    .iter()
                    .map(|&v| Series {
                        name: SHORT[v].to_owned(),
                        points: grid
                            .iter()
                            .filter(|p| p.dimension == dimension)
                            .map(|p| (p.points as f64, figure(p)[v]))
                            .collect(),
                    })
                    .collect(),
            })
            .collect()
    };
    let size = (1000, 440);
    plot::line_charts(
        &out.join(THROUGHPUT_CHART),
        size,
        &panels(&|p: &GridPoint| p.rate),
        Axes {
            x: "points in the collection (log)",
            x_scale: XScale::Log,
            y: "searches/s (median of rounds)",
            y_max: None,
        },
        footer,
    )?;
    plot::line_charts(
        &out.join(LATENCY_CHART),
        size,
        &panels(&|p: &GridPoint| p.p50),
        Axes {
            x: "points in the collection (log)",
            x_scale: XScale::Log,
            y: "p50 latency, ms (median of rounds)",
            y_max: None,
        },
        footer,
    )
}
