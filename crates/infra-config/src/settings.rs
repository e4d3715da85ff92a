//! `Settings`: the whole configuration of a service built on this workspace.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::cache::CacheSettings;
use crate::error::ConfigError;
use crate::health::HealthSettings;
use crate::http::HttpSettings;
use crate::loader::{DEFAULT_PREFIX, SettingsLoader};
use crate::log::LogSettings;
use crate::metrics::MetricsSettings;
use crate::otel::OtelSettings;
use crate::qdrant::QdrantSettings;
use crate::redis::RedisSettings;
use crate::validate::Checker;

/// Every setting, grouped by section; `Default` is a safe local setup
/// (Redis on `127.0.0.1:6379`, non-critical; embedded Qdrant in
/// `./data/qdrant`; HTTP on `127.0.0.1:8080`; text logs at `info`; metrics
/// on `/metrics`; no OpenTelemetry export). Every default is declared in
/// [`crate::schema::KEYS`].
///
/// `Debug` and `Serialize` redact every secret, so the value can be logged or
/// shown as the effective configuration (serialization is therefore one-way).
/// Deserializing `Settings` directly skips validation: use
/// [`SettingsLoader`], or call [`Settings::validate`].
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Redis client (`SOCIAL_REDIS__*`).
    pub redis: RedisSettings,
    /// Vector store (`SOCIAL_QDRANT__*`).
    pub qdrant: QdrantSettings,
    /// HTTP server (`SOCIAL_HTTP__*`).
    pub http: HttpSettings,
    /// Health endpoints (`SOCIAL_HEALTH__*`).
    pub health: HealthSettings,
    /// Logging (`SOCIAL_LOG__*`).
    pub log: LogSettings,
    /// Metrics endpoint (`SOCIAL_METRICS__*`).
    pub metrics: MetricsSettings,
    /// OpenTelemetry export (`SOCIAL_OTEL__*`).
    pub otel: OtelSettings,
    /// Search cache of the reference service (`SOCIAL_CACHE__*`).
    pub cache: CacheSettings,
}

impl Settings {
    /// Loads defaults, then `.env` (if present in the current directory),
    /// then the `SOCIAL_*` environment, and validates the result. Same as
    /// `SettingsLoader::new().load()`.
    pub fn from_env() -> Result<Self, ConfigError> {
        SettingsLoader::new().load()
    }

    /// Checks every rule that [`SettingsLoader::load`] checks, for settings
    /// built in code; errors name keys with the default `SOCIAL_` prefix.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let explicit = BTreeSet::new();
        let mut cx = Checker::new(DEFAULT_PREFIX, &explicit);
        self.check(&mut cx);
        ConfigError::from_list(cx.finish(Vec::new()))
    }

    pub(crate) fn check(&self, cx: &mut Checker<'_>) {
        self.redis.validate(cx);
        self.qdrant.validate(cx);
        self.http.validate(cx);
        self.health.validate(cx);
        self.log.validate(cx);
        self.metrics.validate(cx);
        self.otel.validate(cx);
        self.cache.validate(cx);
        if self.http.rate_limit.enabled && !self.redis.enabled {
            cx.refuse(
                "http.rate_limit.enabled",
                "got true with SOCIAL_REDIS__ENABLED=false: the rate limit keeps its state in \
                 Redis",
            );
        }
    }

    pub(crate) fn normalize(&mut self) {
        self.redis.normalize();
        self.qdrant.normalize();
    }
}
