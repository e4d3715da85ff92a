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
    /// Largest part of a TTL, in percent, that is randomly cut off (`cache.ttl_jitter`).
    pub ttl_jitter: u8,
    /// Largest cached answer in bytes (`cache.max_value_size`).
    pub max_value_size: usize,
    /// Whether hot answers are recomputed shortly before they expire (`cache.early_refresh`).
    pub early_refresh: bool,
    /// Whether instances wait for one another's computation of a missing answer
    /// (`cache.lease`).
    pub lease: bool,
    /// Longest wait for another instance's computation (`cache.lease_wait`).
    #[serde(with = "crate::duration")]
    pub lease_wait: Duration,
    /// How long a collection is not cached after a write of unknown outcome
    /// (`cache.uncertain_write_window`).
    #[serde(with = "crate::duration")]
    pub uncertain_write_window: Duration,
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self {
            ttl: const { keys::CACHE_TTL.default.duration() },
            ttl_jitter: const { keys::CACHE_TTL_JITTER.default.u8() },
            max_value_size: const { keys::CACHE_MAX_VALUE_SIZE.default.usize() },
            early_refresh: const { keys::CACHE_EARLY_REFRESH.default.flag() },
            lease: const { keys::CACHE_LEASE.default.flag() },
            lease_wait: const { keys::CACHE_LEASE_WAIT.default.duration() },
            uncertain_write_window: const { keys::CACHE_UNCERTAIN_WRITE_WINDOW.default.duration() },
        }
    }
}

impl CacheSettings {
    pub(crate) fn validate(&self, cx: &mut Checker<'_>) {
        cx.duration("cache.ttl", self.ttl);
        cx.bounded("cache.ttl_jitter", self.ttl_jitter);
        cx.bounded("cache.max_value_size", self.max_value_size);
        cx.duration("cache.lease_wait", self.lease_wait);
        cx.duration("cache.uncertain_write_window", self.uncertain_write_window);
    }
}
