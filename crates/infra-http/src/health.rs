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

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use infra_base::{ComponentHealth, ComponentReport, Components, HealthStatus, aggregate};
use infra_config::HealthSettings;
use serde_json::{Map, Value, json};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::state::AppState;

/// Media type of every health response.
pub const HEALTH_JSON: &str = "application/health+json";

/// Path of the liveness route.
pub const LIVE_PATH: &str = "/health/live";
/// Path of the readiness route.
pub const READY_PATH: &str = "/health/ready";
/// Path of the detailed infrastructure health route.
pub const INFRA_PATH: &str = "/health/infra";

/// The outcome of one round of checks: every component's report and their aggregate.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HealthReport {
    /// The service's status: the worst effective status ([`aggregate`]).
    pub status: HealthStatus,
    /// One report per component, in registration order.
    pub components: Vec<ComponentReport>,
}

impl HealthReport {
    /// Aggregates `components`.
    pub fn new(components: Vec<ComponentReport>) -> Self {
        Self {
            status: aggregate(&components),
            components,
        }
    }

    /// Whether the service may receive traffic: no critical component fails.
    pub fn is_ready(&self) -> bool {
        self.status != HealthStatus::Fail
    }

    /// The draft's JSON: `status`, optionally `serviceId`, and `checks` keyed
    /// `"<component>:responseTime"`, each an array of one object with `componentType`
    /// `"datastore"`, `observedValue` (latency in ms, when measured), `observedUnit` `"ms"`,
    /// the component's own `status`, `time` (RFC 3339) and, unless it passed, its
    /// client-safe `output`.
    pub fn to_health_json(&self, service_id: Option<&str>) -> Value {
        let mut checks = Map::new();
        for report in &self.components {
            let entry = checks
                .entry(format!("{}:responseTime", report.name))
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(items) = entry {
                items.push(check_json(&report.health));
            }
        }
        let mut body = Map::new();
        body.insert("status".into(), json!(self.status.as_str()));
        if let Some(id) = service_id {
            body.insert("serviceId".into(), json!(id));
        }
        body.insert("checks".into(), Value::Object(checks));
        Value::Object(body)
    }

    /// `"<name>: <output>"` for every failing critical component, `; `-separated.
    fn critical_failures(&self) -> String {
        self.components
            .iter()
            .filter(|r| r.effective_status() == HealthStatus::Fail)
            .map(|r| {
                format!(
                    "{}: {}",
                    r.name,
                    r.health.output.as_deref().unwrap_or("fail")
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

fn check_json(health: &ComponentHealth) -> Value {
    let mut check = Map::new();
    check.insert("componentType".into(), json!("datastore"));
    if let Some(latency) = health.latency {
        check.insert("observedValue".into(), json!(latency.as_secs_f64() * 1e3));
        check.insert("observedUnit".into(), json!("ms"));
    }
    check.insert("status".into(), json!(health.status.as_str()));
    check.insert(
        "time".into(),
        json!(humantime::format_rfc3339_millis(health.checked_at).to_string()),
    );
    if health.status != HealthStatus::Pass
        && let Some(output) = &health.output
    {
        check.insert("output".into(), json!(output));
    }
    // Extra fields (the draft allows them): breaker state, pool use.
    for (key, value) in &health.details {
        check.entry(key.clone()).or_insert_with(|| value.clone());
    }
    Value::Object(check)
}

type Pending = watch::Receiver<Option<Arc<HealthReport>>>;

#[derive(Default)]
struct CacheState {
    fresh: Option<(Instant, Arc<HealthReport>)>,
    in_flight: Option<(u64, Pending)>,
    generation: u64,
}

struct CacheInner {
    components: Components,
    check_timeout: Duration,
    ttl: Duration,
    state: Mutex<CacheState>,
}

/// Health checks of a service's [`Components`], cached and single-flight.
///
/// [`HealthCache::report`] returns the last report while it is younger than `cache_ttl`;
/// otherwise it starts one round of checks ([`Components::check_all`]: in parallel, each under
/// `check_timeout`) and every concurrent caller waits for that same round. The round runs
/// in its own task, so a caller that gives up (a client that disconnects) does not cancel
/// it. Failed rounds are cached like passing ones. Ages are measured with
/// [`tokio::time::Instant`], so tests can pause the clock.
///
/// ```
/// use infra_base::Components;
/// use infra_config::HealthSettings;
/// use infra_http::HealthCache;
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let cache = HealthCache::new(Components::new(), &HealthSettings::default());
/// let report = cache.report().await;
/// assert!(report.is_ready()); // no components: pass
/// # });
/// ```
#[derive(Clone)]
pub struct HealthCache {
    inner: Arc<CacheInner>,
}

impl std::fmt::Debug for HealthCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HealthCache")
            .field("components", &self.inner.components)
            .field("check_timeout", &self.inner.check_timeout)
            .field("ttl", &self.inner.ttl)
            .finish_non_exhaustive()
    }
}

impl HealthCache {
    /// Checks `components` with the timeout and TTL of `settings`.
    pub fn new(components: Components, settings: &HealthSettings) -> Self {
        Self {
            inner: Arc::new(CacheInner {
                components,
                check_timeout: settings.check_timeout,
                ttl: settings.cache_ttl,
                state: Mutex::new(CacheState::default()),
            }),
        }
    }

    /// The checked components.
    pub fn components(&self) -> &Components {
        &self.inner.components
    }

    /// The current report: cached when younger than the TTL, else from a new round of
    /// checks shared with every concurrent caller. Must be called within a tokio runtime.
    pub async fn report(&self) -> Arc<HealthReport> {
        let mut pending = {
            let mut state = self.lock();
            if let Some((at, report)) = &state.fresh
                && at.elapsed() < self.inner.ttl
            {
                return Arc::clone(report);
            }
            if let Some((_, pending)) = &state.in_flight {
                pending.clone()
            } else {
                state.generation += 1;
                let generation = state.generation;
                let (tx, rx) = watch::channel(None);
                state.in_flight = Some((generation, rx.clone()));
                tokio::spawn(run_checks(Arc::clone(&self.inner), generation, tx));
                rx
            }
        };
        let done = pending
            .wait_for(Option::is_some)
            .await
            .ok()
            .and_then(|report| report.clone());
        done.unwrap_or_else(|| {
            // The round's task died (a panic outside the per-component checks).
            let reports = self
                .inner
                .components
                .iter()
                .map(|c| ComponentReport {
                    name: c.name.clone(),
                    critical: c.critical,
                    health: ComponentHealth::fail(None, "internal: health check failed"),
                })
                .collect();
            Arc::new(HealthReport::new(reports))
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CacheState> {
        lock(&self.inner)
    }
}

fn lock(inner: &CacheInner) -> std::sync::MutexGuard<'_, CacheState> {
    inner.state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Clears the in-flight marker of its round when the round's task ends in any way, so a
/// panicking round cannot block later ones.
struct InFlightGuard {
    inner: Arc<CacheInner>,
    generation: u64,
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        let mut state = lock(&self.inner);
        if state
            .in_flight
            .as_ref()
            .is_some_and(|(generation, _)| *generation == self.generation)
        {
            state.in_flight = None;
        }
    }
}

async fn run_checks(
    inner: Arc<CacheInner>,
    generation: u64,
    tx: watch::Sender<Option<Arc<HealthReport>>>,
) {
    let guard = InFlightGuard {
        inner: Arc::clone(&inner),
        generation,
    };
    let reports = inner.components.check_all(inner.check_timeout).await;
    let report = Arc::new(HealthReport::new(reports));
    for r in &report.components {
        tracing::debug!(component = %r.name, critical = r.critical, status = %r.health.status,
            latency_ms = r.health.latency.map(|l| l.as_secs_f64() * 1e3),
            output = r.health.output.as_deref(), "health check");
    }
    let previous = {
        let mut state = lock(&inner);
        let previous = state.fresh.as_ref().map(|(_, r)| r.status);
        state.fresh = Some((Instant::now(), Arc::clone(&report)));
        previous
    };
    drop(guard);
    if previous.is_some_and(|p| p != report.status)
        || (previous.is_none() && report.status != HealthStatus::Pass)
    {
        let failing = report
            .components
            .iter()
            .filter(|r| r.health.status != HealthStatus::Pass)
            .map(|r| format!("{}: {}", r.name, r.health.output.as_deref().unwrap_or("?")))
            .collect::<Vec<_>>()
            .join("; ");
        if report.status == HealthStatus::Pass {
            tracing::info!(status = %report.status, "health changed: every component passes");
        } else {
            tracing::warn!(status = %report.status, failing = %failing, "health changed");
        }
    }
    tx.send_replace(Some(report));
}

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

#[cfg(test)]
mod details_tests {
    use std::time::Duration;

    use infra_base::{ComponentHealth, ComponentReport};

    use super::HealthReport;

    #[test]
    fn component_details_are_fields_of_its_check() {
        let health = ComponentHealth::pass(Duration::from_millis(2))
            .with_detail("breakerState", "closed")
            .with_detail("poolInUse", 3);
        let report = HealthReport::new(vec![ComponentReport {
            name: "redis".into(),
            critical: false,
            health,
        }]);
        let json = report.to_health_json(None);
        let check = &json["checks"]["redis:responseTime"][0];
        assert_eq!(check["breakerState"], "closed");
        assert_eq!(check["poolInUse"], 3);
        assert_eq!(
            check["status"], "pass",
            "details never replace the draft's fields"
        );
    }
}
