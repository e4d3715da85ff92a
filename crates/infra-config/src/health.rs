//! The `health` section: how health checks are cached and bounded.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::schema as keys;
use crate::validate::Checker;

/// Settings of the health endpoints (`SOCIAL_HEALTH__*`).
///
/// Each field is one key: its default, bounds and accepted values are declared
/// once in [`crate::schema::KEYS`] (listed in `docs/configuration.md`), not
/// repeated here.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HealthSettings {
    /// How long a check result is reused, so probes never stampede a
    /// dependency.
    #[serde(with = "crate::duration")]
    pub cache_ttl: Duration,
    /// Time limit of one dependency check.
    #[serde(with = "crate::duration")]
    pub check_timeout: Duration,
    /// Whether a critical dependency unreachable at start stops start-up, instead of the
    /// service starting not ready and connecting when the dependency answers.
    pub fail_fast: bool,
}

impl Default for HealthSettings {
    fn default() -> Self {
        Self {
            cache_ttl: const { keys::HEALTH_CACHE_TTL.default.duration() },
            check_timeout: const { keys::HEALTH_CHECK_TIMEOUT.default.duration() },
            fail_fast: const { keys::HEALTH_FAIL_FAST.default.flag() },
        }
    }
}

impl HealthSettings {
    pub(crate) fn validate(&self, cx: &mut Checker<'_>) {
        cx.duration("health.cache_ttl", self.cache_ttl);
        cx.duration("health.check_timeout", self.check_timeout);
    }
}
