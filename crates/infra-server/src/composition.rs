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
use infra_config::{QdrantMode, Settings};

use crate::catalog::CacheConfig;

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

    let cache = CacheConfig {
        ttl: settings.cache.ttl,
        // One cache call, retries included, never costs a search more than one command.
        op_timeout: settings.redis.command_timeout,
        ..CacheConfig::default()
    };
    Ok(Wiring {
        service,
        components,
        cache,
    })
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
