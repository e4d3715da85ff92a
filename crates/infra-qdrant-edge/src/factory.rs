//! The factory: the embedded store, its port in the standard layers, its component.

use std::sync::Arc;

use infra_base::layer::PortLayers;
use infra_base::resilience::{Resilience, RetryPolicy};
use infra_base::{Built, Component, InfraResult, VECTOR_BACKEND, VectorPort};
use infra_config::QdrantSettings;

use crate::store::EdgeVectorStore;

/// What [`build`] returns: the layered port, the store's `"qdrant"` [`Component`]
/// (criticality from `SOCIAL_QDRANT__CRITICAL`), the policy and the store itself.
pub type EmbeddedQdrant = Built<dyn VectorPort, EdgeVectorStore>;

/// Builds the embedded store of `settings` (`SOCIAL_QDRANT__PATH`; nothing is opened until
/// `init`), its port in the standard layers and its component.
///
/// The policy bounds each call by `SOCIAL_QDRANT__TIMEOUT` and neither retries nor breaks:
/// the engine runs in process, so an error is not a flaky network that another attempt
/// would cross, but a stuck filesystem must not hang a request. The retry and circuit keys
/// therefore apply to the remote adapter only.
///
/// # Errors
///
/// Those of [`EdgeVectorStore::from_settings`].
pub fn build(settings: &QdrantSettings) -> InfraResult<EmbeddedQdrant> {
    let store = Arc::new(EdgeVectorStore::from_settings(settings)?);
    let policy = Resilience::new(VECTOR_BACKEND)
        .with_timeout(settings.timeout)
        .with_retry(RetryPolicy::no_retry());
    let inner: Arc<dyn VectorPort> = store.clone();
    let port: Arc<dyn VectorPort> = Arc::new(
        PortLayers::new(VECTOR_BACKEND)
            .resilience(policy.clone())
            .wrap(inner),
    );
    let component = Component::new(VECTOR_BACKEND, settings.critical, store.clone());
    Ok(Built::new(port, component, policy, store))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_bounds_each_call_and_never_retries() {
        let settings = QdrantSettings::default();
        let built = build(&settings).unwrap();
        assert_eq!(built.policy().timeout(), Some(settings.timeout));
        assert_eq!(built.policy().retry().attempts(), 1);
        let component = built.component();
        assert_eq!(
            (component.name.as_str(), component.critical),
            ("qdrant", true)
        );
        assert_eq!(built.adapter().path(), settings.path.as_path());
    }
}
