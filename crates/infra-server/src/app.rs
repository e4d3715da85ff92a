//! [`Application`]: the service, built from settings and bound, ready to run.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use infra_base::InfraError;
use infra_config::Settings;
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
