//! End to end over real HTTP: a server on 127.0.0.1 port 0 and a reqwest client.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use common::Fake;
use infra_base::{BaseService, Component, Components, ErrorKind, InfraError};
use infra_config::{HealthSettings, HttpSettings};
use infra_http::{ApiError, AppState, HEALTH_JSON, PROBLEM_JSON, Server};
use reqwest::StatusCode;
use serde_json::Value;
use tokio::task::JoinHandle;

struct Running {
    addr: SocketAddr,
    app: AppState,
    server: JoinHandle<std::io::Result<()>>,
}

impl Running {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

fn http(grace_ms: u64, timeout_ms: u64) -> HttpSettings {
    HttpSettings {
        host: "127.0.0.1".into(),
        port: 0,
        shutdown_grace: Duration::from_millis(grace_ms),
        request_timeout: Duration::from_millis(timeout_ms),
        body_limit: 1024,
        ..HttpSettings::default()
    }
}

/// Test routes: `/slow/{ms}` sleeps and then reports how many components were closed by
/// then; `/echo` returns its JSON body; `/down` fails like an unreachable Redis.
fn routes(app: &AppState, watched: Arc<Fake>) -> Router {
    async fn slow(
        State(fake): State<Arc<Fake>>,
        axum::extract::Path(ms): axum::extract::Path<u64>,
    ) -> String {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        format!("done; closes={}", fake.closes())
    }
    async fn echo(Json(value): Json<Value>) -> Json<Value> {
        Json(value)
    }
    async fn down() -> Result<(), ApiError> {
        Err(InfraError::new(ErrorKind::Unavailable, "redis", "get", "connection refused").into())
    }
    Router::new()
        .route("/slow/{ms}", get(slow))
        .route("/echo", post(echo))
        .route("/down", get(down))
        .with_state(watched)
        .merge(app.health_router())
}

async fn start(components: &[(&str, bool, &Arc<Fake>)], settings: HttpSettings) -> Running {
    start_with(components, settings, Duration::ZERO).await
}

async fn start_with(
    components: &[(&str, bool, &Arc<Fake>)],
    settings: HttpSettings,
    drain_delay: Duration,
) -> Running {
    let mut set = Components::new();
    for (name, critical, fake) in components {
        set.push(Component::new(*name, *critical, Arc::clone(fake) as _));
    }
    let health = HealthSettings {
        // Long enough that a loaded machine cannot expire it between two requests of a test.
        cache_ttl: Duration::from_secs(30),
        check_timeout: Duration::from_millis(500),
        ..HealthSettings::default()
    };
    let watched = components
        .first()
        .map_or_else(|| Fake::new(0), |(_, _, f)| Arc::clone(f));
    let app = AppState::new(BaseService::new("e2e"), set, &health);
    let server = Server::bind(&settings)
        .await
        .unwrap()
        .handle_os_signals(false)
        .drain_delay(drain_delay);
    let addr = server.local_addr();
    assert_ne!(addr.port(), 0);
    let router = routes(&app, watched);
    let server = tokio::spawn(server.serve(router, app.clone()));
    Running { addr, app, server }
}

async fn json(response: reqwest::Response) -> (StatusCode, String, Value) {
    let status = response.status();
    let content_type = response.headers()[reqwest::header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_owned();
    (status, content_type, response.json().await.unwrap())
}

#[tokio::test]
async fn live_answers_without_checking_anything() {
    let redis = Fake::failing(0);
    let running = start(&[("redis", true, &redis)], http(5_000, 5_000)).await;
    let (status, content_type, body) =
        json(reqwest::get(running.url("/health/live")).await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, HEALTH_JSON);
    assert_eq!(body["status"], "pass");
    assert_eq!(redis.checks(), 0);
}

#[tokio::test]
async fn infra_reports_pass_warn_and_fail() {
    let cases = [
        (false, false, StatusCode::OK, "pass"),
        (true, false, StatusCode::OK, "warn"),
        (false, true, StatusCode::SERVICE_UNAVAILABLE, "fail"),
    ];
    for (optional_fails, critical_fails, expected, status) in cases {
        let redis = if optional_fails {
            Fake::failing(1)
        } else {
            Fake::new(1)
        };
        let qdrant = if critical_fails {
            Fake::failing(1)
        } else {
            Fake::new(1)
        };
        let running = start(
            &[("redis", false, &redis), ("qdrant", true, &qdrant)],
            http(5_000, 5_000),
        )
        .await;

        let response = reqwest::get(running.url("/health/infra")).await.unwrap();
        assert_eq!(response.headers()["cache-control"], "no-store");
        let (got, content_type, body) = json(response).await;
        assert_eq!(
            (got, body["status"].as_str().unwrap()),
            (expected, status),
            "{body}"
        );
        assert_eq!(content_type, HEALTH_JSON);
        let checks = body["checks"].as_object().unwrap();
        let mut keys: Vec<_> = checks.keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, ["qdrant:responseTime", "redis:responseTime"]);
        for check in checks.values() {
            assert_eq!(check[0]["componentType"], "datastore");
            assert_eq!(check[0]["observedUnit"], "ms");
        }
        if optional_fails {
            assert_eq!(checks["redis:responseTime"][0]["status"], "fail");
            assert_eq!(
                checks["redis:responseTime"][0]["output"],
                "unavailable: connection refused"
            );
        }

        // Readiness agrees, from the same cached round.
        let ready = reqwest::get(running.url("/health/ready")).await.unwrap();
        let ready_expected = if critical_fails {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::OK
        };
        assert_eq!(ready.status(), ready_expected);
        assert_eq!(
            (redis.checks(), qdrant.checks()),
            (1, 1),
            "one cached round"
        );
    }
}

#[tokio::test]
async fn request_ids_are_echoed() {
    let running = start(&[], http(5_000, 5_000)).await;
    let client = reqwest::Client::new();
    let response = client
        .get(running.url("/health/live"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "abc-123");
    let response = client
        .get(running.url("/health/live"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"].len(), 36);
}

#[tokio::test]
async fn errors_limits_and_timeouts_are_problems() {
    let running = start(&[], http(5_000, 300)).await;
    let client = reqwest::Client::new();

    let (status, content_type, body) =
        json(client.get(running.url("/down")).send().await.unwrap()).await;
    assert_eq!(
        (status, content_type.as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, PROBLEM_JSON)
    );
    assert_eq!(body["kind"], "unavailable");
    assert_eq!(body["backend"], "redis");

    let response = client
        .post(running.url("/echo"))
        .json(&serde_json::json!({ "blob": "x".repeat(2_000) }))
        .send()
        .await
        .unwrap();
    let (status, content_type, body) = json(response).await;
    assert_eq!(
        (status, content_type.as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, PROBLEM_JSON)
    );
    assert_eq!(body["kind"], "payload_too_large");
    assert_eq!(body["status"], 413);

    let ok = client
        .post(running.url("/echo"))
        .json(&serde_json::json!({ "small": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);

    let response = client.get(running.url("/slow/2000")).send().await.unwrap();
    assert_eq!(response.headers()["retry-after"], "1");
    let (status, content_type, body) = json(response).await;
    assert_eq!(
        (status, content_type.as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, PROBLEM_JSON)
    );
    assert_eq!(body["kind"], "timeout");
    assert_eq!(body["backend"], "http");

    let (status, _, body) = json(client.get(running.url("/nowhere")).send().await.unwrap()).await;
    assert_eq!(
        (status, body["kind"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
}

/// A route with its own limit (`SOCIAL_HTTP__ROUTE_TIMEOUTS`) is cut off at it; the
/// request timeout still bounds every other route.
#[tokio::test]
async fn a_route_with_its_own_limit_is_cut_off_at_it() {
    let mut settings = http(5_000, 200);
    settings.route_timeouts =
        infra_config::RouteTimeouts::new().with("/slow/{ms}", Duration::from_secs(3));
    let running = start(&[], settings).await;
    let client = reqwest::Client::new();

    // 600 ms: beyond the request timeout (200 ms), inside the route's own (3 s).
    let response = client.get(running.url("/slow/600")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let response = client.get(running.url("/slow/5000")).send().await.unwrap();
    let (status, _, body) = json(response).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["kind"], "timeout");
    assert!(
        body["detail"].as_str().unwrap().contains("3s"),
        "the route's limit is named: {body}"
    );
}

#[tokio::test]
async fn shutdown_flips_readiness_drains_in_flight_requests_then_closes_components() {
    let redis = Fake::new(0);
    let running = start_with(
        &[("redis", true, &redis)],
        http(5_000, 10_000),
        Duration::from_secs(2),
    )
    .await;
    let client = reqwest::Client::new();
    assert_eq!(
        client
            .get(running.url("/health/ready"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );

    let slow = tokio::spawn(reqwest::get(running.url("/slow/1000")));
    tokio::time::sleep(Duration::from_millis(150)).await;
    running.app.shutdown().trigger();

    // During the drain delay, new requests are still served, and readiness says 503.
    let ready = reqwest::Client::new()
        .get(running.url("/health/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        ready.json::<Value>().await.unwrap()["output"],
        "shutting down"
    );

    // The in-flight request completes, before any component is closed.
    let slow = slow.await.unwrap().unwrap();
    assert_eq!(slow.status(), StatusCode::OK);
    assert_eq!(slow.text().await.unwrap(), "done; closes=0");

    let live = running.url("/health/live");
    tokio::time::timeout(Duration::from_secs(5), running.server)
        .await
        .expect("serve returns after the drain")
        .unwrap()
        .unwrap();
    assert_eq!(
        redis.closes(),
        1,
        "components closed after the requests finished"
    );

    // No longer accepting connections.
    assert!(reqwest::get(live).await.is_err());
}

#[tokio::test]
async fn requests_running_past_the_grace_period_are_abandoned_and_components_closed() {
    let redis = Fake::new(0);
    let running = start(&[("redis", true, &redis)], http(200, 30_000)).await;
    let slow = tokio::spawn(reqwest::get(running.url("/slow/10000")));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = tokio::time::Instant::now();
    running.app.shutdown().trigger();
    tokio::time::timeout(Duration::from_secs(5), running.server)
        .await
        .expect("serve returns after the grace period")
        .unwrap()
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(redis.closes.load(Ordering::SeqCst), 1);
    slow.abort();
}
