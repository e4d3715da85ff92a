//! Cached, single-flight health checks and the three health routes.
//!
//! - `GET /health/live`: 200 while the process serves; checks nothing.
//! - `GET /health/ready`: 200 unless a critical component fails (503), and 503 as soon as
//!   the [`Shutdown`](crate::Shutdown) switch is triggered.
//! - `GET /health/infra`: the detailed report as `application/health+json` (IETF draft
//!   "Health Check Response Format for HTTP APIs"); 503 when the status is `fail`.
//!
//! Readiness and the detailed report read the same [`HealthCache`], so no request rate can
//! make the service check a dependency more than once per `cache_ttl`.

//!
//! The report model ([`HealthReport`], `report.rs`) and the cache ([`HealthCache`],
//! `cache.rs`) know nothing of HTTP; this module only maps them to routes and statuses.

mod cache;
mod report;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use crate::state::AppState;

pub use cache::HealthCache;
pub use report::HealthReport;

/// Media type of every health response.
pub const HEALTH_JSON: &str = "application/health+json";

/// Path of the liveness route.
pub const LIVE_PATH: &str = "/health/live";
/// Path of the readiness route.
pub const READY_PATH: &str = "/health/ready";
/// Path of the detailed infrastructure health route.
pub const INFRA_PATH: &str = "/health/infra";
fn health_response(status: StatusCode, body: &Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(HEALTH_JSON));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn live() -> Response {
    health_response(StatusCode::OK, &json!({ "status": "pass" }))
}

async fn ready(State(app): State<AppState>) -> Response {
    if app.shutdown().is_triggered() {
        return health_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({ "status": "fail", "output": "shutting down" }),
        );
    }
    let report = app.health().report().await;
    if report.is_ready() {
        health_response(StatusCode::OK, &json!({ "status": report.status.as_str() }))
    } else {
        health_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({ "status": "fail", "output": report.critical_failures() }),
        )
    }
}

async fn infra(State(app): State<AppState>) -> Response {
    let report = app.health().report().await;
    let status = if report.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    health_response(status, &report.to_health_json(Some(app.service().name())))
}

/// The three health routes ([`LIVE_PATH`], [`READY_PATH`], [`INFRA_PATH`]) over `app`, as a
/// router that merges into a service's router of any state type.
pub fn health_router<S>(app: AppState) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route(LIVE_PATH, get(live))
        .route(READY_PATH, get(ready))
        .route(INFRA_PATH, get(infra))
        .with_state(app)
}
