//! Scenario 4: remote `VectorPort` search against raw qdrant-client gRPC calls on the same
//! server, with the embedded store's search beside them.

use std::sync::Arc;

use infra_base::{CollectionSpec, Components, Distance, Filter, Point, SearchQuery, VectorPort};
use infra_config::SettingsLoader;
use infra_qdrant::RemoteQdrant;
use infra_qdrant_edge::{EdgeStoreOptions, EdgeVectorStore};
use infra_testkit::qdrant::{QdrantProvision, QdrantTestServer};
use qdrant_client::qdrant as pb;
use qdrant_client::qdrant::points_client::PointsClient;
use tonic::Request;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;

use crate::report::{Report, Row, Status, latency_rows};
use crate::stats::{Paired, Run, alternate, drive};
use crate::{BenchResult, Plan};

/// The throughput target of scenario 4 (`docs/benchmarks.md`): remote port / raw
/// qdrant-client.
const VECTOR_RATIO_TARGET: f64 = 0.95;

/// The collection the scenario creates (and deletes at the end).
const COLLECTION: &str = "infra_bench_search";

/// How many distinct query vectors the searches cycle through.
const QUERIES: usize = 256;

/// The variants, baseline first.
const VARIANTS: [&str; 3] = [
    "raw qdrant-client gRPC (1 channel)",
    "RemoteQdrant port",
    "EdgeVectorStore (embedded, in-process)",
];

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
        let store = EdgeVectorStore::temporary(EdgeStoreOptions::default()).await?;
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

    /// The gRPC URL.
    pub(crate) fn url(&self) -> &str {
        &self.url
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
        ];
        if let Some(key) = &self.api_key {
            pairs.push(("SOCIAL_QDRANT__API_KEY", key.clone()));
        }
        pairs
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

/// Fills a collection through the remote port and searches it three ways, in turn.
pub(crate) async fn run(qdrant: &QdrantTarget, plan: &Plan, report: &mut Report) -> BenchResult {
    let settings = SettingsLoader::from_pairs(qdrant.settings_pairs()).load()?;
    let remote = infra_qdrant::build(&settings.qdrant)?;
    let components = Components::new().with(remote.component());
    components.init_all().await?;
    let result = search(qdrant, &remote, plan, report).await;
    let port = remote.port();
    let _ = port.delete_collection(COLLECTION).await;
    if !qdrant.store_backs_server() {
        let store: &dyn VectorPort = &qdrant.store;
        let _ = store.delete_collection(COLLECTION).await;
    }
    components.close_all().await;
    result
}

fn random_vector(dimension: usize) -> Vec<f32> {
    (0..dimension)
        .map(|_| fastrand::f32() * 2.0 - 1.0)
        .collect()
}

async fn search(
    qdrant: &QdrantTarget,
    remote: &RemoteQdrant,
    plan: &Plan,
    report: &mut Report,
) -> BenchResult {
    let port = remote.port();
    let embedded: Arc<dyn VectorPort> = Arc::new(qdrant.store.clone());
    let count = fill(&port, &embedded, !qdrant.store_backs_server(), plan).await?;
    let queries: Arc<[Vec<f32>]> = (0..QUERIES)
        .map(|_| random_vector(plan.vector_dimension))
        .collect();
    let channel = Channel::from_shared(qdrant.url().to_owned())?
        .connect()
        .await?;
    // The same API key as the port sends, if any (a real server that requires one).
    let api_key = qdrant
        .api_key
        .as_deref()
        .map(MetadataValue::try_from)
        .transpose()
        .map_err(|_| "the Qdrant API key is not a valid gRPC header value")?;
    let raw = PointsClient::with_interceptor(channel, move |mut request: Request<()>| {
        if let Some(key) = &api_key {
            request.metadata_mut().insert("api-key", key.clone());
        }
        Ok(request)
    });
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
    let runs: [Vec<Run>; 3] =
        alternate(plan.rounds, plan.warmup, plan.vector_segment, run_variant).await;

    let scenario = format!(
        "4 vector search (dim {}, {count} points, limit {limit})",
        plan.vector_dimension
    );
    add_rows(report, &scenario, limit, &runs);
    Ok(())
}

/// Creates the collection through `port` and upserts the points in batches; `embedded`
/// gets them too when it is a `separate` engine. Returns the count the server reports.
async fn fill(
    port: &Arc<dyn VectorPort>,
    embedded: &Arc<dyn VectorPort>,
    separate: bool,
    plan: &Plan,
) -> BenchResult<u64> {
    let spec = CollectionSpec::new(COLLECTION, plan.vector_dimension, Distance::Cosine);
    let _ = port.delete_collection(COLLECTION).await;
    port.ensure_collection(&spec).await?;
    if separate {
        let _ = embedded.delete_collection(COLLECTION).await;
        embedded.ensure_collection(&spec).await?;
    }
    let batch = 1000;
    for start in (0..plan.vector_points).step_by(batch) {
        let points: Vec<Point> = (start..(start + batch).min(plan.vector_points))
            .map(|id| Point::new(id as u64, random_vector(plan.vector_dimension)))
            .collect();
        if separate {
            embedded.upsert(COLLECTION, points.clone()).await?;
        }
        port.upsert(COLLECTION, points).await?;
    }
    Ok(port.count(COLLECTION, &Filter::default()).await?)
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
