//! [`Application`]: the service, built from settings and bound, ready to run.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::MatchedPath;
use infra_base::redis::{RateLimit, RateLimiter};
use infra_base::{BaseService, InfraError, REDIS_BACKEND};
use infra_config::{HttpSettings, RateLimitFailure, Settings};
use infra_http::rate_limit::{RateLimitLayer, default_key};
use infra_http::{AppState, RenderMetrics, RoutePolicy, Server, Shutdown, metrics_router};

use crate::api::{self, Api, Route};
use crate::catalog::CatalogService;
use crate::response::ResponseLimit;
use crate::{composition, observability};

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The HTTP address could not be bound (in use, not local, no permission).
    #[error("{0}")]
    Bind(#[source] io::Error),
    /// A critical component could not be built or initialized.
    #[error("{}", .0.chain())]
    Component(#[source] InfraError),
    /// A setting names something this service does not have (a route of
    /// `SOCIAL_HTTP__ROUTE_TIMEOUTS` it does not serve): a configuration error, one line.
    #[error("{0}")]
    Settings(String),
}

/// The service, bound to its address with its components initialized.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use infra_config::Settings;
/// use infra_server::Application;
///
/// let app = Application::build(&Settings::from_env()?).await?;
/// println!("listening on http://{}", app.local_addr());
/// app.run_until_stopped().await?; // until SIGTERM / Ctrl-C, then a graceful shutdown
/// # Ok(()) }
/// ```
///
/// Tests bind port 0 (`SOCIAL_HTTP__PORT=0`), read [`Application::local_addr`], turn OS
/// signals off and stop the service with [`Application::shutdown`].
#[derive(Debug)]
pub struct Application {
    server: Server,
    router: Router,
    state: AppState,
    catalog: Arc<CatalogService>,
    routes: Vec<Route>,
    policy: RoutePolicy,
}

/// The per-client rate limit of `SOCIAL_HTTP__RATE_LIMIT__*` over the service's Redis port,
/// when enabled; health routes are exempt (the metrics route is added outside it).
///
/// Enabled without a Redis port (Redis not critical and not built at start): with
/// `on_redis_failure = open` the service runs unlimited (logged at `warn`); with `closed`
/// it does not start.
fn rate_limit_layer(
    settings: &Settings,
    service: &BaseService,
) -> Result<Option<RateLimitLayer>, InfraError> {
    let config = &settings.http.rate_limit;
    if !config.enabled {
        return Ok(None);
    }
    let Some(port) = service.redis() else {
        if config.on_redis_failure == RateLimitFailure::Closed {
            return Err(InfraError::not_configured(REDIS_BACKEND, "rate_limit")
                .with_operation("rate_limit"));
        }
        tracing::warn!(
            "rate limiting is enabled but Redis is not available: serving without a rate \
             limit (SOCIAL_HTTP__RATE_LIMIT__ON_REDIS_FAILURE=open)"
        );
        return Ok(None);
    };
    let limit = RateLimit::new(config.rate, config.period)?.with_burst(config.effective_burst())?;
    let limiter = RateLimiter::new(Arc::clone(port), "ratelimit:http", limit)?;
    tracing::info!(rate = config.rate, period = %humantime::format_duration(config.period),
        burst = limit.burst(), on_redis_failure = %config.on_redis_failure, "rate limit on");
    let layer = RateLimitLayer::new(limiter)
        .on_failure(config.on_redis_failure)
        .key_with(|req| {
            let route = req
                .extensions()
                .get::<MatchedPath>()
                .map(MatchedPath::as_str);
            if route.is_some_and(|r| r.starts_with("/health/")) {
                return None;
            }
            default_key(req)
        });
    Ok(Some(layer))
}

/// Refuses a route of `SOCIAL_HTTP__ROUTE_TIMEOUTS` that the service does not serve: a
/// typo there would otherwise leave the route at the general limit, silently.
fn check_route_timeouts(
    http: &HttpSettings,
    routes: &[Route],
    metrics_path: Option<&str>,
) -> Result<(), String> {
    let served = |route: &str| {
        routes.iter().any(|r| r.path == route) || metrics_path.is_some_and(|p| p == route)
    };
    let unknown: Vec<&str> = http
        .route_timeouts
        .iter()
        .map(|(route, _)| route)
        .filter(|route| !served(route))
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    let mut templates: Vec<&str> = routes.iter().map(|r| r.path).chain(metrics_path).collect();
    templates.sort_unstable();
    templates.dedup();
    Err(format!(
        "SOCIAL_HTTP__ROUTE_TIMEOUTS: {} {} not a route of this service; its route templates: {}",
        unknown.join(", "),
        if unknown.len() == 1 { "is" } else { "are" },
        templates.join(", ")
    ))
}

impl Application {
    /// Binds `settings.http`, installs the metrics recorder (when `SOCIAL_METRICS__ENABLED`),
    /// builds the adapters ([`composition::wire`]), initializes them and assembles the
    /// router.
    ///
    /// A component that cannot be initialized (its server is down) does not stop start-up:
    /// the service starts, `/health/ready` answers 503 while a critical component fails,
    /// and the component is initialized again in the background until it answers
    /// ([`Components::init_all_or_retry`](infra_base::Components::init_all_or_retry)). With
    /// `SOCIAL_HEALTH__FAIL_FAST=true` a critical component that fails stops start-up
    /// instead.
    ///
    /// # Errors
    ///
    /// The address cannot be bound, a critical component cannot be built (say, an
    /// unreadable TLS file), or, with `SOCIAL_HEALTH__FAIL_FAST=true`, a critical component
    /// cannot be initialized (components already opened are closed first).
    pub async fn build(settings: &Settings) -> Result<Self, StartupError> {
        let server = Server::bind(&settings.http)
            .await
            .map_err(StartupError::Bind)?;
        // The recorder first: the adapters' layers register their series when built.
        let metrics = settings
            .metrics
            .enabled
            .then(observability::prometheus)
            .flatten();
        let wiring = composition::wire(settings).map_err(StartupError::Component)?;
        if settings.health.fail_fast {
            if let Err(err) = wiring.components.init_all().await {
                wiring.components.close_all().await;
                return Err(StartupError::Component(err));
            }
        } else {
            // Not ready (503) until every critical component answers; no crash loop.
            wiring.components.init_all_or_retry().await;
        }
        let rate_limit = match rate_limit_layer(settings, &wiring.service) {
            Ok(layer) => layer,
            Err(err) => {
                wiring.components.close_all().await;
                return Err(StartupError::Component(err));
            }
        };
        let catalog = Arc::new(CatalogService::new(wiring.service.clone(), wiring.cache));
        let state = AppState::new(wiring.service, wiring.components, &settings.health);
        let Api {
            mut router,
            routes,
            mut policy,
        } = api::api(
            Arc::clone(&catalog),
            &state,
            ResponseLimit::new(settings.http.max_response_bytes),
        );
        if let Some(layer) = rate_limit {
            router = router.layer(layer);
        }
        let metrics_path = metrics.is_some().then_some(settings.metrics.path.as_str());
        if let Err(problem) = check_route_timeouts(&settings.http, &routes, metrics_path) {
            state.components().close_all().await;
            return Err(StartupError::Settings(problem));
        }
        if let Some(handle) = metrics {
            let render: RenderMetrics = Arc::new(|| observability::render(handle));
            router = router.merge(metrics_router(&settings.metrics.path, render));
            policy = policy.public(settings.metrics.path.clone());
        }
        let server = server.route_policy(policy.clone());
        Ok(Self {
            server,
            router,
            state,
            catalog,
            routes,
            policy,
        })
    }

    /// The address actually bound (the real port when port 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// The switch that starts a graceful shutdown: readiness 503 at once, in-flight
    /// requests finish within `SOCIAL_HTTP__SHUTDOWN_GRACE`, then components close.
    pub fn shutdown(&self) -> Shutdown {
        self.state.shutdown().clone()
    }

    /// The HTTP layer's state: ports, components, health cache.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The catalog service behind the routes.
    pub fn catalog(&self) -> &Arc<CatalogService> {
        &self.catalog
    }

    /// Every route served.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The scope each route needs when authentication is on (`SOCIAL_HTTP__AUTH__*`).
    pub fn policy(&self) -> &RoutePolicy {
        &self.policy
    }

    /// Whether SIGTERM and Ctrl-C start the shutdown (default true; tests turn it off).
    #[must_use]
    pub fn handle_os_signals(mut self, enabled: bool) -> Self {
        self.server = self.server.handle_os_signals(enabled);
        self
    }

    /// Serves until the shutdown completes, then closes the components.
    ///
    /// # Errors
    ///
    /// Only when the server fails on its own.
    pub async fn run_until_stopped(self) -> io::Result<()> {
        self.server.serve(self.router, self.state).await
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use axum::routing::get;
    use infra_base::ErrorKind;
    use infra_base::testing::MemoryRedis;
    use tower::ServiceExt;

    use super::*;

    fn limited(burst: u32, on_failure: RateLimitFailure) -> Settings {
        let mut settings = Settings::default();
        settings.http.rate_limit.enabled = true;
        settings.http.rate_limit.rate = 1;
        settings.http.rate_limit.burst = burst;
        settings.http.rate_limit.on_redis_failure = on_failure;
        settings
    }

    #[tokio::test]
    async fn the_rate_limit_is_off_by_default_and_needs_redis_when_closed() {
        let without_redis = BaseService::new("test");
        assert!(
            rate_limit_layer(&Settings::default(), &without_redis)
                .unwrap()
                .is_none()
        );
        let open = limited(1, RateLimitFailure::Open);
        assert!(
            rate_limit_layer(&open, &without_redis).unwrap().is_none(),
            "open: served unlimited without Redis"
        );
        let closed = limited(1, RateLimitFailure::Closed);
        let err = rate_limit_layer(&closed, &without_redis).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotConfigured);
    }

    #[tokio::test]
    async fn api_routes_are_limited_and_health_routes_never() {
        let service = BaseService::new("test").with_redis(Arc::new(MemoryRedis::new()));
        let layer = rate_limit_layer(&limited(2, RateLimitFailure::Open), &service)
            .unwrap()
            .expect("enabled with Redis");
        let router = Router::new()
            .route("/collections/{name}", get(|| async { "ok" }))
            .route("/health/live", get(|| async { "live" }))
            .layer(layer);
        let status = |path: &'static str| {
            let router = router.clone();
            async move {
                let req = Request::get(path).body(Body::empty()).unwrap();
                router.oneshot(req).await.unwrap().status()
            }
        };
        for _ in 0..2 {
            assert_eq!(status("/collections/items").await, StatusCode::OK);
        }
        assert_eq!(
            status("/collections/items").await,
            StatusCode::TOO_MANY_REQUESTS
        );
        for _ in 0..5 {
            assert_eq!(status("/health/live").await, StatusCode::OK);
        }
    }
}
