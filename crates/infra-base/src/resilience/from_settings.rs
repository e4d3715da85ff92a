//! The one conversion from configuration to a [`Resilience`] policy (feature `config`).

use std::time::Duration;

use infra_config::{CircuitSettings, RetrySettings};

use super::{BreakerConfig, Resilience, RetryPolicy};

impl Resilience {
    /// The policy of a configuration section: `timeout` per attempt (`None` when the
    /// adapter bounds its calls itself), retries from `retry`, a breaker from `circuit`.
    ///
    /// Every adapter factory builds its policy here, so a retry or circuit key means the
    /// same thing for every backend.
    pub fn from_settings(
        backend: &'static str,
        timeout: Option<Duration>,
        retry: &RetrySettings,
        circuit: &CircuitSettings,
    ) -> Self {
        Resilience::new(backend)
            .with_timeout(timeout)
            .with_retry(RetryPolicy::new(
                retry.max_attempts,
                retry.base_delay,
                retry.max_delay,
            ))
            .with_breaker(BreakerConfig {
                failure_threshold: circuit.failure_threshold,
                open_for: circuit.open_for,
            })
    }
}

#[cfg(test)]
mod tests {
    use crate::resilience::BreakerState;

    use super::*;

    #[test]
    fn policy_follows_the_settings() {
        let retry = RetrySettings {
            max_attempts: 4,
            base_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(500),
        };
        let circuit = CircuitSettings {
            failure_threshold: 7,
            open_for: Duration::from_secs(3),
        };
        let policy =
            Resilience::from_settings("redis", Some(Duration::from_millis(250)), &retry, &circuit);
        assert_eq!(policy.backend(), "redis");
        assert_eq!(policy.timeout(), Some(Duration::from_millis(250)));
        assert_eq!(policy.retry().attempts(), 4);
        assert_eq!(policy.retry().base_delay, Duration::from_millis(20));
        assert_eq!(policy.retry().max_delay, Duration::from_millis(500));
        assert!(policy.retry().jitter);
        assert_eq!(policy.breaker_state(), Some(BreakerState::Closed));
        let breaker = format!("{:?}", policy.breaker().unwrap());
        assert!(breaker.contains("failure_threshold: 7"), "{breaker}");
        assert_eq!(
            Resilience::from_settings("qdrant", None, &retry, &circuit).timeout(),
            None
        );
    }
}
