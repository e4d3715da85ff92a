//! The composition root: settings -> adapters -> [`BaseService`] + [`Components`].
//!
//! The only module that names adapter crates. Each adapter is built once per process from
//! its settings section, its port (already wrapped in its resilience policy) is handed to
//! the [`BaseService`], and its lifecycle is registered as a [`Component`] whose
//! criticality comes from the settings (`SOCIAL_REDIS__CRITICAL`, default false;
//! `SOCIAL_QDRANT__CRITICAL`, default true).
//!
//! | setting | port | component |
//! |---|---|---|
//! | `SOCIAL_REDIS__ENABLED=true` (default) | `infra_redis::build`: pool + timeout/retry/breaker | `redis` |
//! | `SOCIAL_REDIS__ENABLED=false` | none: searches bypass the cache | none |
//! | `SOCIAL_QDRANT__MODE=embedded` (default) | `infra_qdrant_edge::EdgeVectorStore` in `SOCIAL_QDRANT__PATH`, each call bounded by `SOCIAL_QDRANT__TIMEOUT` | `qdrant` |
//! | `SOCIAL_QDRANT__MODE=remote` | `infra_qdrant::RemoteQdrant`: gRPC + timeout/retry/breaker | `qdrant` |
//!
//! An adapter that cannot even be built (say, an unreadable TLS file) stops start-up when
//! it is critical; a non-critical one is left out with a warning and the service runs
//! degraded (for Redis: without its cache). Connecting is not done here but by
//! [`Components::init_all`], with the same rule.

use std::sync::Arc;

use infra_base::resilience::{Resilience, ResilientVector, RetryPolicy};
use infra_base::{
    BaseService, Component, Components, InfraError, RedisPort, VECTOR_BACKEND, VectorPort,
};
use infra_config::{QdrantMode, Settings};
use infra_qdrant::RemoteQdrant;
use infra_qdrant_edge::EdgeVectorStore;

use crate::catalog::{CacheConfig, DEFAULT_CACHE_TTL};

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
    let mut service = BaseService::new(SERVICE_NAME);
    let mut components = Components::new();

    if let Some((port, component)) = redis(settings)? {
        service = service.with_redis(port);
        components.push(component);
    }
    if let Some((port, component)) = vectors(settings)? {
        service = service.with_vector(port);
        components.push(component);
    }

    let cache = CacheConfig {
        ttl: DEFAULT_CACHE_TTL,
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

type Built<P> = Option<(Arc<P>, Component)>;

fn redis(settings: &Settings) -> Result<Built<dyn RedisPort>, InfraError> {
    let redis = &settings.redis;
    if !redis.enabled {
        tracing::info!("redis disabled (SOCIAL_REDIS__ENABLED=false): searches are not cached");
        return Ok(None);
    }
    match infra_redis::build(redis) {
        Ok(built) => {
            tracing::info!(
                endpoint = %built.adapter().endpoint(),
                mode = %redis.mode,
                critical = redis.critical,
                "redis configured"
            );
            Ok(Some((built.port(), built.component(redis.critical))))
        }
        Err(err) if redis.critical => Err(err),
        Err(err) => {
            tracing::warn!(kind = %err.kind(), error = %err.chain(),
                "redis cannot be set up; serving without the search cache (redis is not critical)");
            Ok(None)
        }
    }
}

fn vectors(settings: &Settings) -> Result<Built<dyn VectorPort>, InfraError> {
    let qdrant = &settings.qdrant;
    let built = match qdrant.mode {
        QdrantMode::Embedded => EdgeVectorStore::from_settings(qdrant).map(|store| {
            tracing::info!(path = %store.path().display(), critical = qdrant.critical,
                "vector store: embedded");
            // In process: retrying an engine error would not help, but a stuck filesystem
            // must not hang a request, so each call is bounded by the Qdrant timeout.
            let policy = Resilience::new(VECTOR_BACKEND)
                .with_timeout(qdrant.timeout)
                .with_retry(RetryPolicy::no_retry());
            let inner: Arc<dyn VectorPort> = Arc::new(store.clone());
            let port: Arc<dyn VectorPort> = Arc::new(ResilientVector::new(inner, policy));
            let component = Component::new(VECTOR_BACKEND, qdrant.critical, Arc::new(store));
            (port, component)
        }),
        QdrantMode::Remote => RemoteQdrant::build(qdrant).map(|remote| {
            tracing::info!(endpoint = %qdrant.endpoint(), critical = qdrant.critical,
                "vector store: remote Qdrant");
            (remote.port(), remote.component())
        }),
    };
    match built {
        Ok(built) => Ok(Some(built)),
        Err(err) if qdrant.critical => Err(err),
        Err(err) => {
            tracing::warn!(kind = %err.kind(), error = %err.chain(),
                "the vector store cannot be set up; catalog routes answer 503 (qdrant is not critical)");
            Ok(None)
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
