//! Start-up, health and shutdown of the adapters a service holds.
//!
//! Every adapter implements [`Lifecycle`]. The composition root registers each adapter once
//! as a [`Component`] (name, criticality, the adapter) next to the port it serves, and uses
//! [`Components`] to initialize, check and close them all.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::task::JoinSet;

use crate::error::InfraResult;
use crate::health::{ComponentHealth, ComponentReport, HealthStatus};
use crate::resilience::{CircuitBreaker, Resilience};
use crate::telemetry::{self, labels};

/// What every adapter does besides its port: connect, report health, release.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait Lifecycle: Send + Sync + 'static {
    /// Connects and verifies the backend at start-up (a reachable server, accepted
    /// credentials), returning a clear error otherwise.
    async fn init(&self) -> InfraResult<()>;

    /// One cheap, bounded check (a ping), with its latency and a client-safe message.
    async fn health(&self) -> ComponentHealth;

    /// Drains and releases connections; later calls on the port fail as
    /// [`Unavailable`](crate::ErrorKind::Unavailable). Idempotent.
    async fn close(&self);
}

/// An adapter registered with the service: its name, whether it is critical, and its
/// lifecycle.
#[derive(Clone)]
pub struct Component {
    /// Name used in logs and health reports (`"redis"`, `"qdrant"`).
    pub name: String,
    /// Whether the service is not ready while this component fails.
    pub critical: bool,
    /// The adapter.
    pub lifecycle: Arc<dyn Lifecycle>,
    /// The circuit breaker of the component's port, if it has one: its state is reported
    /// with every health check (`breakerState`).
    pub breaker: Option<Arc<CircuitBreaker>>,
}

impl std::fmt::Debug for Component {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Component")
            .field("name", &self.name)
            .field("critical", &self.critical)
            .finish_non_exhaustive()
    }
}

impl Component {
    /// Registers `lifecycle` under `name`.
    pub fn new(name: impl Into<String>, critical: bool, lifecycle: Arc<dyn Lifecycle>) -> Self {
        Self {
            name: name.into(),
            critical,
            lifecycle,
            breaker: None,
        }
    }

    /// Reports `breaker`'s state with every health check.
    #[must_use]
    pub fn with_breaker(mut self, breaker: Option<Arc<CircuitBreaker>>) -> Self {
        self.breaker = breaker;
        self
    }

    /// Runs the component's health check under `timeout`; a check that does not finish in
    /// time fails with a client-safe output saying so.
    pub async fn check(&self, timeout: Duration) -> ComponentReport {
        let started = tokio::time::Instant::now();
        let health = match tokio::time::timeout(timeout, self.lifecycle.health()).await {
            Ok(health) => health,
            Err(_) => ComponentHealth::fail(
                Some(started.elapsed()),
                format!(
                    "timeout: no answer within {}",
                    humantime::format_duration(timeout)
                ),
            ),
        };
        let mut health = health;
        if let Some(breaker) = &self.breaker {
            health
                .details
                .insert("breakerState".into(), breaker.state().as_str().into());
        }
        self.record(&health);
        ComponentReport {
            name: self.name.clone(),
            critical: self.critical,
            health,
        }
    }

    /// Records a check in [`HEALTH_CHECK_DURATION`](telemetry::HEALTH_CHECK_DURATION) and
    /// [`HEALTH_CHECKS`](telemetry::HEALTH_CHECKS), with the status that counts (a failing
    /// non-critical component is `warn`).
    fn record(&self, health: &ComponentHealth) {
        let status = match health.status {
            HealthStatus::Fail if !self.critical => HealthStatus::Warn,
            status => status,
        };
        if let Some(latency) = health.latency {
            metrics::histogram!(
                telemetry::HEALTH_CHECK_DURATION,
                labels::COMPONENT => self.name.clone(),
            )
            .record(latency.as_secs_f64());
        }
        metrics::counter!(
            telemetry::HEALTH_CHECKS,
            labels::COMPONENT => self.name.clone(),
            labels::STATUS => status.as_str(),
        )
        .increment(1);
    }
}

/// What every adapter factory returns (`infra_redis::build`, `infra_qdrant::build`,
/// `infra_qdrant_edge::build`): the layered port for services, the adapter's lifecycle as
/// a [`Component`] with its criticality from the settings, the resilience policy (its
/// breaker) and the adapter itself, for what lies outside the port.
pub struct Built<P: ?Sized, A: ?Sized> {
    port: Arc<P>,
    component: Component,
    policy: Resilience,
    adapter: Arc<A>,
}

impl<P: ?Sized, A: ?Sized> Built<P, A> {
    /// Assembles a factory's result.
    pub fn new(port: Arc<P>, component: Component, policy: Resilience, adapter: Arc<A>) -> Self {
        Self {
            port,
            component,
            policy,
            adapter,
        }
    }

    /// The port with its layers (tracing, metrics, resilience): what services use.
    pub fn port(&self) -> Arc<P> {
        Arc::clone(&self.port)
    }

    /// The adapter's lifecycle, to register with [`Components`].
    pub fn component(&self) -> Component {
        self.component.clone()
    }

    /// The resilience policy the port runs under (its breaker, for health and metrics).
    pub fn policy(&self) -> &Resilience {
        &self.policy
    }

    /// The adapter itself, without layers: its lifecycle, and whatever it offers beyond the
    /// port (outside the port's guarantees).
    pub fn adapter(&self) -> &Arc<A> {
        &self.adapter
    }
}

impl<P: ?Sized, A: ?Sized> Clone for Built<P, A> {
    fn clone(&self) -> Self {
        Self {
            port: Arc::clone(&self.port),
            component: self.component.clone(),
            policy: self.policy.clone(),
            adapter: Arc::clone(&self.adapter),
        }
    }
}

impl<P: ?Sized, A: ?Sized> std::fmt::Debug for Built<P, A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Built")
            .field("component", &self.component)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// The components of a service, initialized, checked and closed together.
#[derive(Debug, Clone, Default)]
pub struct Components {
    items: Vec<Component>,
}

impl Components {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a component.
    #[must_use]
    pub fn with(mut self, component: Component) -> Self {
        self.items.push(component);
        self
    }

    /// Adds a component in place.
    pub fn push(&mut self, component: Component) {
        self.items.push(component);
    }

    /// The registered components, in registration order.
    pub fn iter(&self) -> impl Iterator<Item = &Component> {
        self.items.iter()
    }

    /// Initializes every component in order. A critical component that fails stops start-up
    /// with its error; a non-critical one is logged as a warning and the service starts
    /// degraded.
    pub async fn init_all(&self) -> InfraResult<()> {
        for c in &self.items {
            let started = tokio::time::Instant::now();
            match c.lifecycle.init().await {
                Ok(()) => tracing::info!(
                    component = %c.name,
                    latency_ms = started.elapsed().as_secs_f64() * 1e3,
                    "component initialized"
                ),
                Err(err) if c.critical => {
                    tracing::error!(component = %c.name, kind = %err.kind(), error = %err.chain(),
                        "critical component failed to initialize");
                    return Err(err);
                }
                Err(err) => tracing::warn!(component = %c.name, kind = %err.kind(),
                    error = %err.chain(), "non-critical component failed to initialize; starting degraded"),
            }
        }
        Ok(())
    }

    /// Checks every component in parallel, each under `timeout`, in registration order.
    pub async fn check_all(&self, timeout: Duration) -> Vec<ComponentReport> {
        let mut set = JoinSet::new();
        for (index, c) in self.items.iter().cloned().enumerate() {
            set.spawn(async move { (index, c.check(timeout).await) });
        }
        let mut reports: Vec<Option<ComponentReport>> = vec![None; self.items.len()];
        while let Some(joined) = set.join_next().await {
            match joined {
                Ok((index, report)) => reports[index] = Some(report),
                Err(err) => tracing::error!(error = %err, "health check task failed"),
            }
        }
        reports
            .into_iter()
            .zip(&self.items)
            .map(|(report, c)| {
                report.unwrap_or_else(|| ComponentReport {
                    name: c.name.clone(),
                    critical: c.critical,
                    health: ComponentHealth::fail(None, "internal: health check panicked"),
                })
            })
            .collect()
    }

    /// Closes every component, in reverse registration order.
    pub async fn close_all(&self) {
        for c in self.items.iter().rev() {
            c.lifecycle.close().await;
            tracing::info!(component = %c.name, "component closed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ErrorKind, InfraError};
    use crate::health::HealthStatus;

    struct Fake {
        delay: Duration,
        init_fails: bool,
    }

    #[async_trait]
    impl Lifecycle for Fake {
        async fn init(&self) -> InfraResult<()> {
            if self.init_fails {
                Err(InfraError::new(
                    ErrorKind::Unavailable,
                    "fake",
                    "init",
                    "refused",
                ))
            } else {
                Ok(())
            }
        }
        async fn health(&self) -> ComponentHealth {
            tokio::time::sleep(self.delay).await;
            ComponentHealth::pass(self.delay)
        }
        async fn close(&self) {}
    }

    fn component(name: &str, critical: bool, delay_ms: u64, init_fails: bool) -> Component {
        Component::new(
            name,
            critical,
            Arc::new(Fake {
                delay: Duration::from_millis(delay_ms),
                init_fails,
            }),
        )
    }

    #[tokio::test(start_paused = true)]
    async fn checks_run_in_parallel_each_under_its_timeout() {
        let components = Components::new()
            .with(component("slow", true, 5_000, false))
            .with(component("fast", false, 10, false));
        let started = tokio::time::Instant::now();
        let reports = components.check_all(Duration::from_millis(100)).await;
        assert_eq!(started.elapsed(), Duration::from_millis(100));
        assert_eq!(reports[0].name, "slow");
        assert_eq!(reports[0].health.status, HealthStatus::Fail);
        assert_eq!(
            reports[0].health.output.as_deref(),
            Some("timeout: no answer within 100ms")
        );
        assert_eq!(reports[1].health.status, HealthStatus::Pass);
    }

    #[tokio::test]
    async fn init_fails_only_for_critical_components() {
        let degraded = Components::new()
            .with(component("ok", true, 0, false))
            .with(component("optional", false, 0, true));
        assert!(degraded.init_all().await.is_ok());
        let broken = degraded.with(component("needed", true, 0, true));
        let err = broken.init_all().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unavailable);
    }
}
