//! Retry and circuit-breaker settings, shared by the Redis and Qdrant sections.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::schema as keys;
use crate::validate::Checker;

/// How an operation that failed transiently is retried, with exponential
/// backoff between `base_delay` and `max_delay`.
///
/// Defaults and bounds of each field are declared once in
/// [`crate::schema::KEYS`] (`<section>.retry.*`, `<section>.circuit.*`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetrySettings {
    /// Total attempts including the first; 1 means no retry.
    pub max_attempts: u32,
    /// Delay before the first retry.
    #[serde(with = "crate::duration")]
    pub base_delay: Duration,
    /// Largest delay between attempts; at least `base_delay`.
    #[serde(with = "crate::duration")]
    pub max_delay: Duration,
}

impl Default for RetrySettings {
    fn default() -> Self {
        Self {
            max_attempts: const { keys::RETRY_MAX_ATTEMPTS.default.u32() },
            base_delay: const { keys::RETRY_BASE_DELAY.default.duration() },
            max_delay: const { keys::RETRY_MAX_DELAY.default.duration() },
        }
    }
}

impl RetrySettings {
    pub(crate) fn validate(&self, cx: &mut Checker<'_>, section: &str) {
        cx.bounded(&format!("{section}.max_attempts"), self.max_attempts);
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
///
/// Defaults and bounds of each field are declared once in
/// [`crate::schema::KEYS`] (`<section>.retry.*`, `<section>.circuit.*`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CircuitSettings {
    /// Consecutive failures that open the circuit.
    pub failure_threshold: u32,
    /// How long the circuit stays open before one probe call is let through (its
    /// default lets a recovered backend serve again within a second: the recovery target
    /// of `docs/benchmarks.md`, scenario 5).
    #[serde(with = "crate::duration")]
    pub open_for: Duration,
}

impl Default for CircuitSettings {
    fn default() -> Self {
        Self {
            failure_threshold: const { keys::CIRCUIT_FAILURE_THRESHOLD.default.u32() },
            open_for: const { keys::CIRCUIT_OPEN_FOR.default.duration() },
        }
    }
}

impl CircuitSettings {
    pub(crate) fn validate(&self, cx: &mut Checker<'_>, section: &str) {
        cx.bounded(
            &format!("{section}.failure_threshold"),
            self.failure_threshold,
        );
        cx.duration(&format!("{section}.open_for"), self.open_for);
    }
}
