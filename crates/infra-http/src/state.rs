//! [`AppState`]: what the HTTP layer needs from the composition root.

use axum::Router;
use axum::extract::FromRef;
use infra_base::{BaseService, Components};
use infra_config::HealthSettings;

use crate::health::{HealthCache, health_router};
use crate::shutdown::Shutdown;

/// The service's ports ([`BaseService`]), its components behind a [`HealthCache`], and the
/// [`Shutdown`] switch that readiness and the server share. Cheap to clone.
///
/// Handlers of a router whose state is `AppState` can extract `State<BaseService>`,
/// `State<HealthCache>` or `State<Shutdown>` directly ([`FromRef`]); a service with a state
/// of its own keeps an `AppState` in it.
#[derive(Debug, Clone)]
pub struct AppState {
    service: BaseService,
    health: HealthCache,
    shutdown: Shutdown,
}

impl AppState {
    /// Composes `service` with the `components` that back its ports, checked as `settings`
    /// says, and a fresh [`Shutdown`] switch.
    pub fn new(service: BaseService, components: Components, settings: &HealthSettings) -> Self {
        Self {
            service,
            health: HealthCache::new(components, settings),
            shutdown: Shutdown::new(),
        }
    }

    /// Uses `shutdown` instead of the switch created by [`AppState::new`].
    #[must_use]
    pub fn with_shutdown(mut self, shutdown: Shutdown) -> Self {
        self.shutdown = shutdown;
        self
    }

    /// The service's ports.
    pub fn service(&self) -> &BaseService {
        &self.service
    }

    /// The registered components (initialize them with `components().init_all()`).
    pub fn components(&self) -> &Components {
        self.health.components()
    }

    /// The cached health checks behind `/health/ready` and `/health/infra`.
    pub fn health(&self) -> &HealthCache {
        &self.health
    }

    /// The shutdown switch: trigger it to stop the service gracefully.
    pub fn shutdown(&self) -> &Shutdown {
        &self.shutdown
    }

    /// The health routes over this state; see [`health_router`].
    pub fn health_router<S>(&self) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        health_router(self.clone())
    }
}

impl FromRef<AppState> for BaseService {
    fn from_ref(app: &AppState) -> Self {
        app.service.clone()
    }
}

impl FromRef<AppState> for HealthCache {
    fn from_ref(app: &AppState) -> Self {
        app.health.clone()
    }
}

impl FromRef<AppState> for Shutdown {
    fn from_ref(app: &AppState) -> Self {
        app.shutdown.clone()
    }
}
