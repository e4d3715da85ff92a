//! Retry and circuit-breaker settings, shared by the Redis and Qdrant sections.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::schema;
use crate::validate::Checker;

/// How an operation that failed transiently is retried, with exponential
/// backoff between `base_delay` and `max_delay`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetrySettings {
    /// Total attempts including the first; 1 means no retry (default 3, at most 100).
    pub max_attempts: u32,
    /// Delay before the first retry (default `50ms`).
    #[serde(with = "crate::duration")]
    pub base_delay: Duration,
    /// Largest delay between attempts (default `1s`); at least `base_delay`.
    #[serde(with = "crate::duration")]
    pub max_delay: Duration,
}

impl Default for RetrySettings {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            base_delay: Duration::from_millis(50),
            max_delay: Duration::from_secs(1),
        }
    }
}

impl RetrySettings {
    pub(crate) fn validate(&self, cx: &mut Checker<'_>, section: &str) {
        cx.range(
            &format!("{section}.max_attempts"),
            self.max_attempts,
            1,
            schema::MAX_ATTEMPTS,
        );
        cx.duration(&format!("{section}.base_delay"), self.base_delay);
        cx.duration(&format!("{section}.max_delay"), self.max_delay);
        if self.base_delay > self.max_delay {
            let base = cx.key(&format!("{section}.base_delay"));
            cx.fail(
                &format!("{section}.max_delay"),
                format!(
                    "got {}, shorter than {base} ({})",
                    humantime::format_duration(self.max_delay),
                    humantime::format_duration(self.base_delay)
                ),
                format!("a duration at least as long as {base}"),
            );
        }
    }
}

/// When the circuit breaker opens (after `failure_threshold` consecutive
/// failures) and how long it stays open before letting a probe through.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CircuitSettings {
    /// Consecutive failures that open the circuit (default 5, at least 1).
    pub failure_threshold: u32,
    /// How long the circuit stays open before one probe call is let through (default `1s`,
    /// so a recovered backend serves again within a second: the recovery target of
    /// `docs/benchmarks.md`, scenario 5).
    #[serde(with = "crate::duration")]
    pub open_for: Duration,
}

impl Default for CircuitSettings {
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            open_for: Duration::from_secs(1),
        }
    }
}

impl CircuitSettings {
    pub(crate) fn validate(&self, cx: &mut Checker<'_>, section: &str) {
        cx.range(
            &format!("{section}.failure_threshold"),
            self.failure_threshold,
            1,
            u32::MAX,
        );
        cx.duration(&format!("{section}.open_for"), self.open_for);
    }
}
