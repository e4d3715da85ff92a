//! Start-up, health and shutdown of the adapters a service holds.
//!
//! Every adapter implements [`Lifecycle`]. The composition root registers each adapter once
//! as a [`Component`] (name, criticality, the adapter) next to the port it serves, and uses
//! [`Components`] to initialize, check and close them all.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
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

impl<A: crate::redis::RedisSubscriber> Built<dyn crate::redis::RedisPort, A> {
    /// The adapter's pub/sub side, for a Redis adapter that subscribes (the production one
    /// does): handed to services beside [`port`](Self::port). Closing the
    /// [`component`](Self::component) ends every subscription's stream.
    pub fn subscriber(&self) -> Arc<dyn crate::redis::RedisSubscriber> {
        Arc::clone(&self.adapter) as Arc<dyn crate::redis::RedisSubscriber>
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

/// The first wait before a component that failed to initialize at start is initialized
/// again in the background ([`Components::init_all_or_retry`]); it doubles after every
/// failure, up to [`INIT_RETRY_MAX`], with jitter.
pub const INIT_RETRY_FIRST: Duration = Duration::from_millis(500);

/// The longest wait between two background initializations of a component.
pub const INIT_RETRY_MAX: Duration = Duration::from_secs(30);

/// The components of a service, initialized, checked and closed together.
///
/// Clones share the registration list as it was when cloned, and the closed state.
#[derive(Debug, Clone, Default)]
pub struct Components {
    items: Vec<Component>,
    /// Set by [`close_all`](Self::close_all): background initializations stop.
    closed: Arc<AtomicBool>,
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
            match init_one(c).await {
                Ok(()) => {}
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

    /// Initializes every component in order, like [`init_all`](Self::init_all), but never
    /// stops start-up: a component that fails (critical or not) is logged and initialized
    /// again in a background task, after [`INIT_RETRY_FIRST`] and then at growing intervals
    /// (at most [`INIT_RETRY_MAX`], jittered), until it succeeds or
    /// [`close_all`](Self::close_all) is called. Returns the names of the components that
    /// failed.
    ///
    /// Use it where an orchestrator restarts a process that exits: a critical dependency
    /// that is down at start then makes the service *not ready* (its health check fails, so
    /// readiness answers 503) instead of crash-looping, and the service becomes ready
    /// without a restart when the dependency answers. Must be called within a tokio
    /// runtime.
    pub async fn init_all_or_retry(&self) -> Vec<String> {
        let mut failed = Vec::new();
        for c in &self.items {
            match init_one(c).await {
                Ok(()) => {}
                Err(err) => {
                    if c.critical {
                        tracing::error!(component = %c.name, kind = %err.kind(), error = %err.chain(),
                            "critical component failed to initialize; the service is not ready \
                             until it answers, and initializes it again in the background");
                    } else {
                        tracing::warn!(component = %c.name, kind = %err.kind(), error = %err.chain(),
                            "non-critical component failed to initialize; starting degraded, \
                             initializing it again in the background");
                    }
                    failed.push(c.name.clone());
                    tokio::spawn(retry_init(c.clone(), Arc::clone(&self.closed)));
                }
            }
        }
        failed
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

    /// Closes every component, in reverse registration order, and stops the background
    /// initializations of [`init_all_or_retry`](Self::init_all_or_retry).
    pub async fn close_all(&self) {
        self.closed.store(true, Ordering::Release);
        for c in self.items.iter().rev() {
            c.lifecycle.close().await;
            tracing::info!(component = %c.name, "component closed");
        }
    }
}

/// Initializes `c` once, logging its latency when it succeeds (failures are logged by the
/// caller, which knows what a failure means for start-up).
async fn init_one(c: &Component) -> InfraResult<()> {
    let started = tokio::time::Instant::now();
    c.lifecycle.init().await?;
    tracing::info!(
        component = %c.name,
        latency_ms = started.elapsed().as_secs_f64() * 1e3,
        "component initialized"
    );
    Ok(())
}

/// Initializes `c` again until it succeeds or `closed` is set (see
/// [`Components::init_all_or_retry`]).
async fn retry_init(c: Component, closed: Arc<AtomicBool>) {
    let mut delay = INIT_RETRY_FIRST;
    for attempt in 2_u32.. {
        // Jitter: instances restarted together do not retry in step.
        tokio::time::sleep(delay.mul_f64(0.5 + fastrand::f64() / 2.0)).await;
        if closed.load(Ordering::Acquire) {
            return;
        }
        match c.lifecycle.init().await {
            Ok(()) => {
                tracing::info!(component = %c.name, attempt, "component initialized after start-up");
                return;
            }
            Err(err) => {
                tracing::debug!(component = %c.name, attempt, kind = %err.kind(),
                    error = %err.chain(), "component still failing to initialize");
                delay = (delay * 2).min(INIT_RETRY_MAX);
            }
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

    /// Fails `init` until `failures` is used up, counting calls.
    struct Flaky {
        failures: std::sync::atomic::AtomicUsize,
        inits: std::sync::atomic::AtomicUsize,
    }

    #[async_trait]
    impl Lifecycle for Flaky {
        async fn init(&self) -> InfraResult<()> {
            self.inits.fetch_add(1, Ordering::SeqCst);
            let left = self.failures.load(Ordering::SeqCst);
            if left == 0 {
                return Ok(());
            }
            self.failures.store(left - 1, Ordering::SeqCst);
            Err(InfraError::new(
                ErrorKind::Unavailable,
                "fake",
                "init",
                "refused",
            ))
        }
        async fn health(&self) -> ComponentHealth {
            ComponentHealth::pass(Duration::ZERO)
        }
        async fn close(&self) {}
    }

    fn flaky(failures: usize) -> Arc<Flaky> {
        Arc::new(Flaky {
            failures: failures.into(),
            inits: 0.into(),
        })
    }

    #[tokio::test(start_paused = true)]
    async fn failed_components_are_initialized_again_in_the_background_until_they_succeed() {
        let critical = flaky(3);
        let optional = flaky(1);
        let healthy = flaky(0);
        let components = Components::new()
            .with(Component::new("critical", true, critical.clone()))
            .with(Component::new("healthy", true, healthy.clone()))
            .with(Component::new("optional", false, optional.clone()));
        let failed = components.init_all_or_retry().await;
        assert_eq!(failed, ["critical", "optional"], "start-up never stops");
        let inits = |c: &Flaky| c.inits.load(Ordering::SeqCst);
        assert_eq!(
            (inits(&critical), inits(&healthy), inits(&optional)),
            (1, 1, 1)
        );
        // Backoff 500 ms, 1 s, 2 s (each jittered to 50-100 %): done within 3.5 s.
        tokio::time::sleep(Duration::from_millis(3_600)).await;
        assert_eq!(inits(&critical), 4, "three failures, then success");
        assert_eq!(inits(&optional), 2);
        assert_eq!(inits(&healthy), 1, "a component that started is left alone");
        tokio::time::sleep(Duration::from_mins(2)).await;
        assert_eq!(inits(&critical), 4, "no init after success");
    }

    #[tokio::test(start_paused = true)]
    async fn closing_stops_background_initialization() {
        let down = flaky(usize::MAX);
        let components = Components::new().with(Component::new("down", true, down.clone()));
        assert_eq!(components.init_all_or_retry().await, ["down"]);
        tokio::time::sleep(Duration::from_secs(5)).await;
        let before = down.inits.load(Ordering::SeqCst);
        assert!(before >= 3, "still trying: {before}");
        components.close_all().await;
        tokio::time::sleep(Duration::from_mins(5)).await;
        assert_eq!(
            down.inits.load(Ordering::SeqCst),
            before,
            "stopped by close_all"
        );
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
