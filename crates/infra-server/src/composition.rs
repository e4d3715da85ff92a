//! The composition root: settings -> adapters -> [`BaseService`] + [`Components`].
//!
//! The only module that names adapter crates. Each adapter is built once per process by
//! its crate's `build`, which has one shape for every adapter ([`Built`]): its port,
//! already in the standard layers (tracing, metrics, resilience), is handed to the
//! [`BaseService`], and its lifecycle is registered as a
//! [`Component`](infra_base::Component) whose criticality comes from the settings (`SOCIAL_REDIS__CRITICAL`, default false;
//! `SOCIAL_QDRANT__CRITICAL`, default true).
//!
//! | setting | port | component |
//! |---|---|---|
//! | `SOCIAL_REDIS__ENABLED=true` (default) | `infra_redis::build`: pool + timeout/retry/breaker | `redis` |
//! | `SOCIAL_REDIS__ENABLED=false` | none: searches bypass the cache | none |
//! | `SOCIAL_QDRANT__MODE=embedded` (default) | `infra_qdrant_edge::build`: the embedded engine in `SOCIAL_QDRANT__PATH`, each call bounded by `SOCIAL_QDRANT__TIMEOUT` | `qdrant` |
//! | `SOCIAL_QDRANT__MODE=remote` | `infra_qdrant::build`: gRPC + timeout/retry/breaker | `qdrant` |
//!
//! An adapter that cannot even be built (say, an unreadable TLS file) stops start-up when
//! it is critical; a non-critical one is left out with a warning and the service runs
//! degraded (for Redis: without its cache). Connecting is not done here but by
//! [`Components::init_all`], with the same rule.

use std::sync::Arc;

use infra_base::{BaseService, Built, Components, InfraError};
use infra_config::{QdrantMode, QdrantSettings, Settings};
use sha2::{Digest, Sha256};

use crate::catalog::{CACHE_NAMESPACE, CacheConfig};

/// The name of the service in logs and in `/health/infra`'s `serviceId`.
pub const SERVICE_NAME: &str = "infra-server";

/// What the composition root built from the settings.
#[derive(Debug)]
pub struct Wiring {
    /// The ports, for the services.
    pub service: BaseService,
    /// The adapters' lifecycles, with their criticality, in start-up order.
    pub components: Components,
    /// How the catalog caches searches.
    pub cache: CacheConfig,
}

/// Builds every adapter the settings ask for. Connects nothing: initialize
/// [`Wiring::components`] next.
///
/// Must be called within a tokio runtime (the remote Qdrant client needs one).
///
/// # Errors
///
/// The build error of a critical adapter.
pub fn wire(settings: &Settings) -> Result<Wiring, InfraError> {
    let (redis, qdrant) = (&settings.redis, &settings.qdrant);
    let mut components = Components::new();
    let built = redis.enabled.then(|| infra_redis::build(redis));
    let cache_port = adopt(built, redis.critical, REDIS_DEGRADED, &mut components)?;
    let vector_port = match qdrant.mode {
        QdrantMode::Embedded => {
            let built = infra_qdrant_edge::build(qdrant);
            adopt(
                Some(built),
                qdrant.critical,
                QDRANT_DEGRADED,
                &mut components,
            )?
        }
        QdrantMode::Remote => {
            let built = infra_qdrant::build(qdrant);
            adopt(
                Some(built),
                qdrant.critical,
                QDRANT_DEGRADED,
                &mut components,
            )?
        }
    };
    log_wiring(settings, cache_port.is_some(), vector_port.is_some());
    let mut service = BaseService::new(SERVICE_NAME);
    if let Some(port) = cache_port {
        service = service.with_redis(port);
    }
    if let Some(port) = vector_port {
        service = service.with_vector(port);
    }

    let cache = cache_config(settings);
    Ok(Wiring {
        service,
        components,
        cache,
    })
}

/// The search cache's configuration: `SOCIAL_CACHE__*`, the Redis command timeout, and a
/// namespace naming the vector store.
pub fn cache_config(settings: &Settings) -> CacheConfig {
    let cache = &settings.cache;
    let (identity, store) = store_identity(&settings.qdrant);
    tracing::debug!(store = %store, identity = %identity, "search cache namespace");
    CacheConfig {
        ttl: cache.ttl,
        // One cache call, retries included, never costs a search more than one command.
        op_timeout: settings.redis.command_timeout,
        namespace: format!("{CACHE_NAMESPACE}:{identity}"),
        ttl_jitter: f64::from(cache.ttl_jitter) / 100.0,
        max_value_bytes: cache.max_value_size,
        early_refresh: cache.early_refresh,
        lease_wait: cache.lease.then_some(cache.lease_wait),
        uncertain_write_window: cache.uncertain_write_window,
    }
}

/// The identity of the vector store that search answers come from, as 16 hex digits of a
/// SHA-256, with the description it was hashed from (for logs: no secret in it).
///
/// A remote store is its endpoint (scheme, host and port; never the API key or a URL's
/// credentials): every deployment on that server may share answers. An embedded store is
/// private to its process (its directory is locked by the process that opened it), so its
/// identity is its absolute path plus this process's id and start time: two deployments
/// whose embedded stores have the same path on different machines never share answers,
/// and a restarted process starts with an empty cache (the old answers expire by their
/// TTL).
pub fn store_identity(qdrant: &QdrantSettings) -> (String, String) {
    let description = match qdrant.mode {
        QdrantMode::Remote => format!("remote {}", qdrant.endpoint()),
        QdrantMode::Embedded => {
            let path = std::path::absolute(&qdrant.path).unwrap_or_else(|_| qdrant.path.clone());
            let started = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos();
            format!(
                "embedded {} process {} started {started}",
                path.display(),
                std::process::id()
            )
        }
    };
    let digest = Sha256::digest(description.as_bytes());
    let mut identity = String::with_capacity(16);
    for byte in &digest[..8] {
        use std::fmt::Write as _;
        let _ = write!(identity, "{byte:02x}");
    }
    (identity, description)
}

/// Registers the component of what a factory `built` and returns its port, or decides what
/// its build error means: a
/// critical adapter's error stops start-up; a non-critical one is logged and left out, and
/// the service runs degraded.
fn adopt<P: ?Sized, A: ?Sized>(
    built: Option<Result<Built<P, A>, InfraError>>,
    critical: bool,
    degraded: &str,
    components: &mut Components,
) -> Result<Option<Arc<P>>, InfraError> {
    match built {
        None => Ok(None),
        Some(Ok(built)) => {
            components.push(built.component());
            Ok(Some(built.port()))
        }
        Some(Err(err)) if critical => Err(err),
        Some(Err(err)) => {
            tracing::warn!(kind = %err.kind(), error = %err.chain(), "{degraded}");
            Ok(None)
        }
    }
}

const REDIS_DEGRADED: &str =
    "redis cannot be set up; serving without the search cache (redis is not critical)";
const QDRANT_DEGRADED: &str =
    "the vector store cannot be set up; catalog routes answer 503 (qdrant is not critical)";

/// One line per backend saying what start-up will use.
fn log_wiring(settings: &Settings, redis: bool, vectors: bool) {
    let (redis_settings, qdrant) = (&settings.redis, &settings.qdrant);
    if !redis_settings.enabled {
        tracing::info!("redis disabled (SOCIAL_REDIS__ENABLED=false): searches are not cached");
    } else if redis {
        tracing::info!(mode = %redis_settings.mode, critical = redis_settings.critical,
            "redis configured");
    }
    if vectors {
        match qdrant.mode {
            QdrantMode::Embedded => tracing::info!(path = %qdrant.path.display(),
                critical = qdrant.critical, "vector store: embedded"),
            QdrantMode::Remote => tracing::info!(endpoint = %qdrant.endpoint(),
                critical = qdrant.critical, "vector store: remote Qdrant"),
        }
    }
}

#[cfg(test)]
mod tests {
    use infra_config::SettingsLoader;

    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Settings {
        SettingsLoader::from_pairs(pairs.iter().copied())
            .load()
            .expect("valid settings")
    }

    #[tokio::test]
    async fn defaults_wire_redis_and_the_embedded_store_with_their_criticality() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("qdrant");
        let wiring = wire(&settings(&[(
            "SOCIAL_QDRANT__PATH",
            path.to_str().unwrap(),
        )]))
        .unwrap();
        let names: Vec<(String, bool)> = wiring
            .components
            .iter()
            .map(|c| (c.name.clone(), c.critical))
            .collect();
        assert_eq!(
            names,
            [("redis".to_owned(), false), ("qdrant".to_owned(), true)]
        );
        assert!(wiring.service.redis().is_some());
        assert!(wiring.service.vector().is_some());
        assert_eq!(wiring.cache.op_timeout, std::time::Duration::from_secs(1));
        assert_eq!(wiring.cache.ttl, std::time::Duration::from_mins(1));
        assert!(wiring.cache.namespace.starts_with("infra-server:v2:"));
        assert!(!path.exists(), "nothing touched before init");
    }

    #[tokio::test]
    async fn redis_can_be_disabled_or_made_critical() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_str().unwrap();
        let wiring = wire(&settings(&[
            ("SOCIAL_REDIS__ENABLED", "false"),
            ("SOCIAL_QDRANT__PATH", path),
        ]))
        .unwrap();
        assert!(wiring.service.redis().is_none());
        assert_eq!(wiring.components.iter().count(), 1);

        let wiring = wire(&settings(&[
            ("SOCIAL_REDIS__CRITICAL", "true"),
            ("SOCIAL_QDRANT__CRITICAL", "false"),
            ("SOCIAL_QDRANT__PATH", path),
        ]))
        .unwrap();
        let critical: Vec<bool> = wiring.components.iter().map(|c| c.critical).collect();
        assert_eq!(critical, [true, false]);
    }

    #[test]
    fn the_cache_namespace_names_the_store_and_no_secret() {
        let remote = |url: &str, key: &str| {
            let s = settings(&[
                ("SOCIAL_QDRANT__MODE", "remote"),
                ("SOCIAL_QDRANT__URL", url),
                ("SOCIAL_QDRANT__API_KEY", key),
            ]);
            (cache_config(&s).namespace, store_identity(&s.qdrant).1)
        };
        let (a, described) = remote("https://q1.example:6334", "secret-one");
        assert_eq!(described, "remote https://q1.example:6334");
        // The same server is the same store, whatever the key.
        assert_eq!(remote("https://q1.example:6334", "secret-two").0, a);
        assert_ne!(remote("https://q2.example:6334", "secret-one").0, a);
        assert_ne!(remote("https://q1.example:7000", "secret-one").0, a);
        assert!(!a.contains("secret") && !described.contains("secret"));

        // Embedded stores never share, even at the same path.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_str().unwrap();
        let embedded = settings(&[("SOCIAL_QDRANT__PATH", path)]);
        let (first, described) = store_identity(&embedded.qdrant);
        assert!(
            described.starts_with(&format!("embedded {path} process ")),
            "{described}"
        );
        assert_ne!(store_identity(&embedded.qdrant).0, first);
        assert_eq!(first.len(), 16);

        let tuned = settings(&[
            ("SOCIAL_QDRANT__PATH", path),
            ("SOCIAL_CACHE__TTL_JITTER", "25"),
            ("SOCIAL_CACHE__LEASE", "false"),
            ("SOCIAL_CACHE__MAX_VALUE_SIZE", "2048"),
        ]);
        let config = cache_config(&tuned);
        assert!((config.ttl_jitter - 0.25).abs() < f64::EPSILON);
        assert_eq!((config.lease_wait, config.max_value_bytes), (None, 2048));
    }

    #[tokio::test]
    async fn remote_mode_wires_the_grpc_adapter_without_connecting() {
        let wiring = wire(&settings(&[
            ("SOCIAL_QDRANT__MODE", "remote"),
            ("SOCIAL_QDRANT__URL", "http://127.0.0.1:1"),
        ]))
        .unwrap();
        let qdrant = wiring.components.iter().last().unwrap();
        assert_eq!((qdrant.name.as_str(), qdrant.critical), ("qdrant", true));
    }
}
