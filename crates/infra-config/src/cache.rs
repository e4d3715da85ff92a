//! The `cache` section: the reference service's search cache.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::schema as keys;
use crate::validate::Checker;

/// Settings of the search cache of the reference service (`SOCIAL_CACHE__*`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheSettings {
    /// Lifetime of a cached search answer (`cache.ttl`).
    #[serde(with = "crate::duration")]
    pub ttl: Duration,
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self {
            ttl: const { keys::CACHE_TTL.default.duration() },
        }
    }
}

impl CacheSettings {
    pub(crate) fn validate(&self, cx: &mut Checker<'_>) {
        cx.duration("cache.ttl", self.ttl);
    }
}
