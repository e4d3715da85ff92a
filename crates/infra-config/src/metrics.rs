//! The `metrics` section: whether and where the service exposes metrics.

use serde::{Deserialize, Serialize};

use crate::error::render_text;
use crate::schema as keys;
use crate::validate::Checker;

/// Settings of the metrics endpoint (`SOCIAL_METRICS__*`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsSettings {
    /// Whether the metrics endpoint is served (`metrics.enabled`). When
    /// false, `path` is not validated.
    pub enabled: bool,
    /// The route of the metrics endpoint, e.g. `/metrics` (`metrics.path`):
    /// starts with `/`, has no whitespace, query or fragment, and is not
    /// under `/health` (the health routes own it).
    pub path: String,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        Self {
            enabled: const { keys::METRICS_ENABLED.default.flag() },
            path: keys::METRICS_PATH.default.text().to_owned(),
        }
    }
}

impl MetricsSettings {
    pub(crate) fn validate(&self, cx: &mut Checker<'_>) {
        if !self.enabled {
            return;
        }
        if let Err(problem) = check_path(&self.path) {
            cx.refuse(
                "metrics.path",
                format!("got {} ({problem})", render_text(&self.path)),
            );
        }
    }
}

/// Checks a route path for the metrics endpoint.
fn check_path(path: &str) -> Result<(), &'static str> {
    if !path.starts_with('/') {
        return Err("it does not start with /");
    }
    if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("whitespace in the path");
    }
    if path.contains(['?', '#']) {
        return Err("a query or fragment in the path");
    }
    let lower = path.to_ascii_lowercase();
    if lower == "/health" || lower.starts_with("/health/") {
        return Err("it is under /health, which the health routes own");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        for good in ["/metrics", "/internal/metrics", "/healthz-metrics"] {
            assert_eq!(check_path(good), Ok(()), "{good}");
        }
        for bad in [
            "metrics",
            "",
            "/me trics",
            "/health",
            "/health/metrics",
            "/m?x=1",
        ] {
            assert!(check_path(bad).is_err(), "{bad}");
        }
    }
}
