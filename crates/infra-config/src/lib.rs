//! Typed, validated settings for Redis, Qdrant, HTTP, health checks, logging,
//! metrics, OpenTelemetry export and the reference service's search cache.
//!
//! Use it wherever a value comes from the environment: a service loads [`Settings`] once at
//! start-up (`Settings::from_env()`) and hands each section to the adapter that needs it;
//! adapters read settings, never the environment. It depends on no other crate of the
//! workspace. `.env.example` lists every key; `docs/architecture.md` follows one from the
//! environment to the adapter.
//!
//! Sources, lowest precedence first: defaults, an optional TOML file
//! (`SettingsLoader::toml_file` or `SOCIAL_CONFIG_FILE`), `.env` (exported
//! into the process environment without overriding it), and the environment
//! with prefix `SOCIAL_` and `__` between nesting levels:
//! `SOCIAL_REDIS__POOL__MAX_SIZE=32` sets `redis.pool.max_size`.
//!
//! - Durations are written with a unit (`250ms`, `2s`, `1m`); a bare number
//!   is refused.
//! - Values from the environment are kept as the exact text for string keys
//!   (a password `0123` stays `0123`); booleans accept `true/false/yes/no/on/off/1/0`.
//! - Secrets ([`Secret`], [`SecretUrl`]) are redacted in `Debug`, `Display`
//!   and `Serialize`; adapters read them with `expose_secret()`.
//! - Everything is validated once, at load, and fails closed: each refused
//!   key gives one line naming the environment key, what is wrong and what is
//!   accepted, never quoting a secret; all refused keys are reported at once.
//!
//! Rules worth knowing (see each type for the rest):
//!
//! - Redis: a `rediss://` URL turns TLS on; `tls.enabled=true` with a
//!   `redis://` URL is refused, as is `tls.enabled=false` set explicitly next
//!   to a `rediss://` URL. `url` excludes `host`/`port`/`db`. Unix-socket URLs
//!   are refused. When `enabled` is false the section is not validated.
//! - Qdrant: an `https://` URL turns TLS on, with the same rules as Redis;
//!   port 6333 (REST) is refused, the client speaks gRPC on 6334, which is
//!   also what a URL without a port means (`https://host` is port 6334, not
//!   443); an API key over plain `http://` to a host that is not loopback is
//!   refused; keys that only a remote server uses are refused in embedded mode.
//! - Every variable under the prefix is ours: an unknown section
//!   (`SOCIAL_REDSI__URL`) or an unknown key in a section is refused.
//! - Bounds: every duration is more than 0 and at most 1h; the other bounds,
//!   defaults and accepted values of every key are declared once, in
//!   [`schema::KEYS`], and listed in `docs/configuration.md` (generated from it,
//!   like `.env.example`).
//!
//! ```
//! use infra_config::{QdrantMode, RedisMode, SettingsLoader};
//!
//! // Tests pass the environment explicitly; services call `Settings::from_env()`.
//! let settings = SettingsLoader::from_pairs([
//!     ("SOCIAL_REDIS__URL", "redis://cache:6380/1"),
//!     ("SOCIAL_REDIS__PASSWORD", "0123"),
//!     ("SOCIAL_REDIS__POOL__WAIT_TIMEOUT", "250ms"),
//!     ("SOCIAL_QDRANT__MODE", "remote"),
//!     ("SOCIAL_QDRANT__URL", "http://127.0.0.1:6334"),
//! ])
//! .load()?;
//!
//! assert_eq!(settings.redis.mode, RedisMode::Standalone);
//! assert_eq!(settings.redis.pool.wait_timeout, std::time::Duration::from_millis(250));
//! assert_eq!(settings.qdrant.mode, QdrantMode::Remote);
//! assert_eq!(settings.qdrant.endpoint(), "http://127.0.0.1:6334");
//!
//! // The adapter gets the real URL; logs never do.
//! use infra_config::ExposeSecret;
//! assert_eq!(settings.redis.connection_url().expose_secret(), "redis://:0123@cache:6380/1");
//! assert!(!format!("{settings:?}").contains("0123"));
//!
//! // Bad values are refused with one line per key.
//! let error = SettingsLoader::from_pairs([("SOCIAL_REDIS__PORT", "0")]).load().unwrap_err();
//! assert_eq!(
//!     error.to_string(),
//!     "SOCIAL_REDIS__PORT (redis.port): got 0, expected a port number 1-65535"
//! );
//! # Ok::<(), infra_config::ConfigError>(())
//! ```

mod auth;
mod cache;
mod choice;
mod duration;
mod error;
mod health;
mod http;
mod loader;
mod log;
mod metrics;
mod net;
mod otel;
mod qdrant;
mod redis;
mod resilience;
mod route_timeout;
pub mod schema;
mod secret;
mod settings;
mod text;
mod validate;

pub use auth::{
    ApiKeyCredential, ApiKeyEntry, AuthMode, AuthSettings, CorsSettings, JwtSettings,
    MAX_JWT_LEEWAY, MIN_API_KEY_LEN, MIN_JWT_SECRET_LEN, Scope,
};
pub use cache::CacheSettings;
pub use error::ConfigError;
pub use health::HealthSettings;
pub use http::{HttpSettings, RateLimitFailure, RateLimitSettings};
pub use loader::{DEFAULT_PREFIX, SettingsLoader};
pub use log::{LogFormat, LogSettings};
pub use metrics::MetricsSettings;
pub use net::NodeAddr;
pub use otel::OtelSettings;
pub use qdrant::{
    Compression, QdrantMode, QdrantSettings, QdrantTlsSettings, ReadConsistency, WriteOrdering,
};
pub use redis::{PoolSettings, RedisMode, RedisSettings, RedisTlsSettings};
pub use resilience::{CircuitSettings, RetrySettings};
pub use route_timeout::RouteTimeouts;
pub use secrecy::{ExposeSecret, SecretString};
pub use secret::{Secret, SecretUrl};
pub use settings::Settings;
