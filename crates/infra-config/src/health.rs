//! The `health` section: how health checks are cached and bounded.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::validate::Checker;

/// Settings of the health endpoints (`SOCIAL_HEALTH__*`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HealthSettings {
    /// How long a check result is reused, so probes never stampede a
    /// dependency (default `2s`).
    #[serde(with = "crate::duration")]
    pub cache_ttl: Duration,
    /// Time limit of one dependency check (default `1s`).
    #[serde(with = "crate::duration")]
    pub check_timeout: Duration,
}

impl Default for HealthSettings {
    fn default() -> Self {
        Self {
            cache_ttl: Duration::from_secs(2),
            check_timeout: Duration::from_secs(1),
        }
    }
}

impl HealthSettings {
    pub(crate) fn validate(&self, cx: &mut Checker<'_>) {
        cx.duration("health.cache_ttl", self.cache_ttl);
        cx.duration("health.check_timeout", self.check_timeout);
    }
}
