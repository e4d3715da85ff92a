//! Scenario 3: `/health/ready` of the reference service under load, against `/health/live`
//! of the same server, and the dependency pings the load caused.

use std::sync::Arc;
use std::time::{Duration, Instant};

use infra_server::Application;

use infra_redis::redis::aio::MultiplexedConnection;

use crate::redis_bench::{command_calls, raw_connection, redis_settings};
use crate::report::{Report, Row, Status, latency_rows};
use crate::stats::{Paired, Run, alternate, drive};
use crate::vector::QdrantTarget;
use crate::{BenchResult, Plan, RedisTarget};

/// The throughput target of scenario 3 (`docs/benchmarks.md`): ready / live.
const READY_RATIO_TARGET: f64 = 0.8;

/// The two routes, baseline first.
const ROUTES: [&str; 2] = ["/health/live", "/health/ready"];

/// Runs the service against `redis` and `qdrant` on port 0 and loads both routes in turn.
/// `admin` reads Redis's `INFO` (scenario 2's connection, so that it is not counted as the
/// service's); without it, one is opened.
pub(crate) async fn run(
    redis: &RedisTarget,
    qdrant: &QdrantTarget,
    admin: Option<&mut MultiplexedConnection>,
    plan: &Plan,
    report: &mut Report,
) -> BenchResult {
    let mut own = None;
    let admin = match admin {
        Some(admin) => admin,
        None => own.insert(raw_connection(&redis.url).await?),
    };
    let data = tempfile::tempdir()?;
    let path = data.path().join("qdrant");
    let path = path.to_str().ok_or("temporary path is not UTF-8")?;
    let qdrant_pairs = qdrant.settings_pairs();
    let mut extra = vec![
        ("SOCIAL_HTTP__PORT", "0"),
        ("SOCIAL_HTTP__HOST", "127.0.0.1"),
        ("SOCIAL_QDRANT__PATH", path),
    ];
    extra.extend(qdrant_pairs.iter().map(|(k, v)| (*k, v.as_str())));
    let settings = redis_settings(&redis.url, &extra)?;
    let ttl = settings.health.cache_ttl;
    let app = Application::build(&settings)
        .await?
        .handle_os_signals(false);
    let base = format!("http://{}", app.local_addr());
    let shutdown = app.shutdown();
    let server = tokio::spawn(app.run_until_stopped());
    let result = load(&base, admin, qdrant, ttl, plan, report).await;
    shutdown.trigger();
    match tokio::time::timeout(Duration::from_secs(30), server).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(err))) => return Err(format!("the service failed: {err}").into()),
        Ok(Err(err)) => return Err(format!("the service task failed: {err}").into()),
        Err(_) => return Err("the service did not stop within 30 s".into()),
    }
    result
}

async fn load(
    base: &str,
    admin: &mut MultiplexedConnection,
    qdrant: &QdrantTarget,
    ttl: Duration,
    plan: &Plan,
    report: &mut Report,
) -> BenchResult {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(plan.http_clients)
        .build()?;
    let pings_before = command_calls(admin, "ping").await?;
    let qdrant_before = qdrant.health_checks();
    let started = Instant::now();

    let route_run = |route: usize, duration| {
        let client = client.clone();
        let url: Arc<str> = format!("{base}{}", ROUTES[route]).into();
        drive(plan.http_clients, duration, move |_| {
            let (client, url) = (client.clone(), Arc::clone(&url));
            async move {
                match client.get(&*url).send().await {
                    Ok(response) => {
                        let ok = response.status().is_success();
                        // Read the body, so that the connection is reused.
                        response.bytes().await.is_ok() && ok
                    }
                    Err(_) => false,
                }
            }
        })
    };
    let runs: [Vec<Run>; 2] =
        alternate(plan.rounds, plan.warmup, plan.http_segment, route_run).await;
    let duration = started.elapsed();
    let redis_pings = command_calls(admin, "ping").await? - pings_before;
    let qdrant_pings = qdrant
        .health_checks()
        .map(|after| after - qdrant_before.unwrap_or(0));

    let scenario = "3 health";
    let rate = Paired::of_runs(&runs[0], &runs[1], Run::rate);
    let ratio = rate.median_ratio();
    let errors: u64 = runs.iter().flatten().map(|r| r.errors).sum();
    report.rows.push(
        Row::new(scenario, "throughput", "req/s", "GET /health/ready")
            .paired("GET /health/live", &rate)
            .target(
                format!("ratio >= {READY_RATIO_TARGET:.1}"),
                Status::from_bool(ratio >= READY_RATIO_TARGET && errors == 0),
            )
            .note(format!(
                "{} concurrent reqwest clients (HTTP/1.1 keep-alive); {errors} non-2xx or failed",
                plan.http_clients
            )),
    );
    report.rows.extend(latency_rows(
        scenario,
        ("GET /health/live", &runs[0]),
        ("GET /health/ready", &runs[1]),
    ));
    let limit = (duration.as_secs_f64() / ttl.as_secs_f64()).floor() + 1.0;
    let window = format!(
        "over {:.1}s with cache TTL {}ms (limit = duration / TTL + 1)",
        duration.as_secs_f64(),
        ttl.as_millis()
    );
    report.rows.push(
        Row::new(scenario, "dependency pings", "pings", "Redis PING")
            .subject(&[redis_pings as f64])
            .target(
                format!("<= {limit:.0}"),
                Status::from_bool(redis_pings as f64 <= limit),
            )
            .note(format!("INFO commandstats cmdstat_ping delta {window}")),
    );
    let qdrant_row = Row::new(scenario, "dependency pings", "pings", "Qdrant HealthCheck");
    report.rows.push(match qdrant_pings {
        Some(pings) => qdrant_row
            .subject(&[pings as f64])
            .target(
                format!("<= {limit:.0}"),
                Status::from_bool(pings as f64 <= limit),
            )
            .note(format!("QdrantTestServer::health_checks delta {window}")),
        None => qdrant_row
            .target(format!("<= {limit:.0}"), Status::NotApplicable)
            .note("not counted: --qdrant-url server (only the test server counts its calls)"),
    });
    Ok(())
}
