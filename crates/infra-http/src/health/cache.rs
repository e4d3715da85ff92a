//! [`HealthCache`]: health checks of a service's components, cached for a TTL and
//! single-flight. Free of axum: the routes in the parent module read it.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use infra_base::{ComponentHealth, ComponentReport, Components, HealthStatus};
use infra_config::HealthSettings;
use tokio::sync::watch;
use tokio::time::Instant;

use super::HealthReport;
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
