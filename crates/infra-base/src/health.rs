//! The health model: one component's check result and the rules that combine them.
//!
//! Statuses follow the IETF "Health Check Response Format for HTTP APIs" draft
//! (`pass` / `warn` / `fail`). A failing component only fails the whole service when it is
//! critical; a non-critical failure is reported as `warn`.

use std::future::Future;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::error::{InfraError, InfraResult};

/// Health of a component or of the whole service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    /// Healthy.
    Pass,
    /// Degraded but serving (for example a non-critical dependency is down).
    Warn,
    /// Not serving correctly.
    Fail,
}

impl HealthStatus {
    /// The draft's name: `pass`, `warn` or `fail`.
    pub const fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Pass => "pass",
            HealthStatus::Warn => "warn",
            HealthStatus::Fail => "fail",
        }
    }
}

impl std::fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The result of one health check of one component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentHealth {
    /// Outcome of the check.
    pub status: HealthStatus,
    /// How long the check took, when it ran.
    pub latency: Option<Duration>,
    /// Why it did not pass; safe to show a client (built from [`InfraError::message`]).
    pub output: Option<String>,
    /// When the check finished.
    pub checked_at: SystemTime,
    /// Extra observations of the component, rendered as fields of its check in
    /// `/health/infra` (the health+json draft allows them): the breaker's `breakerState`,
    /// Redis' pool use. Never a secret or an address.
    pub details: serde_json::Map<String, serde_json::Value>,
}

impl ComponentHealth {
    /// A passing check that took `latency`.
    pub fn pass(latency: Duration) -> Self {
        Self {
            status: HealthStatus::Pass,
            latency: Some(latency),
            output: None,
            checked_at: SystemTime::now(),
            details: serde_json::Map::new(),
        }
    }

    /// A failing check with a client-safe `output`.
    pub fn fail(latency: Option<Duration>, output: impl Into<String>) -> Self {
        Self {
            status: HealthStatus::Fail,
            latency,
            output: Some(output.into()),
            checked_at: SystemTime::now(),
            details: serde_json::Map::new(),
        }
    }

    /// Adds an extra observation (see [`details`](Self::details)).
    #[must_use]
    pub fn with_detail(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.details.insert(key.to_owned(), value.into());
        self
    }

    /// The health implied by a check's result: `pass`, or `fail` with the error's kind and
    /// client-safe message as output.
    pub fn from_result(result: &InfraResult<()>, latency: Duration) -> Self {
        match result {
            Ok(()) => Self::pass(latency),
            Err(err) => Self::fail(Some(latency), output_of(err)),
        }
    }

    /// Runs `check` (typically a port's `ping`) and times it.
    pub async fn measure<F>(check: F) -> Self
    where
        F: Future<Output = InfraResult<()>>,
    {
        let started = tokio::time::Instant::now();
        let result = check.await;
        Self::from_result(&result, started.elapsed())
    }
}

/// The client-safe output for a failed check: `"<kind>: <message>"`.
pub fn output_of(err: &InfraError) -> String {
    format!("{}: {}", err.kind(), err.message())
}

/// One component's check, with the facts needed to aggregate it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentReport {
    /// Component name (`"redis"`, `"qdrant"`).
    pub name: String,
    /// Whether its failure fails the service.
    pub critical: bool,
    /// The check's result.
    pub health: ComponentHealth,
}

impl ComponentReport {
    /// The status this component contributes to the service: a non-critical failure is
    /// only a warning.
    pub fn effective_status(&self) -> HealthStatus {
        match self.health.status {
            HealthStatus::Fail if !self.critical => HealthStatus::Warn,
            status => status,
        }
    }
}

/// The service's status: the worst effective status of its components (`pass` when
/// there are none).
pub fn aggregate(reports: &[ComponentReport]) -> HealthStatus {
    reports
        .iter()
        .map(ComponentReport::effective_status)
        .max()
        .unwrap_or(HealthStatus::Pass)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn report(critical: bool, status: HealthStatus) -> ComponentReport {
        ComponentReport {
            name: "x".into(),
            critical,
            health: ComponentHealth {
                status,
                latency: None,
                output: None,
                checked_at: SystemTime::UNIX_EPOCH,
                details: serde_json::Map::new(),
            },
        }
    }

    #[test]
    fn aggregation_follows_criticality() {
        use HealthStatus::{Fail, Pass, Warn};
        let cases = [
            (vec![], Pass),
            (vec![report(true, Pass), report(false, Pass)], Pass),
            (vec![report(true, Pass), report(false, Fail)], Warn),
            (vec![report(true, Warn), report(false, Pass)], Warn),
            (vec![report(true, Fail), report(false, Pass)], Fail),
            (vec![report(false, Fail), report(true, Fail)], Fail),
        ];
        for (reports, expected) in cases {
            assert_eq!(aggregate(&reports), expected, "{reports:?}");
        }
    }

    #[test]
    fn failed_results_carry_kind_and_safe_message() {
        let err = InfraError::new(ErrorKind::Timeout, "redis", "ping", "no reply within 1s");
        let health = ComponentHealth::from_result(&Err(err), Duration::from_millis(3));
        assert_eq!(health.status, HealthStatus::Fail);
        assert_eq!(
            health.output.as_deref(),
            Some("timeout: no reply within 1s")
        );
        assert_eq!(health.latency, Some(Duration::from_millis(3)));
    }

    #[tokio::test(start_paused = true)]
    async fn measure_times_the_check() {
        let health = ComponentHealth::measure(async {
            tokio::time::sleep(Duration::from_millis(40)).await;
            Ok(())
        })
        .await;
        assert_eq!(health.status, HealthStatus::Pass);
        assert_eq!(health.latency, Some(Duration::from_millis(40)));
    }
}
