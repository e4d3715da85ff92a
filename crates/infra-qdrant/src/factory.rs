//! The factory: the remote adapter, its port in the standard layers, its component.

use std::sync::Arc;

use infra_base::layer::PortLayers;
use infra_base::resilience::Resilience;
use infra_base::{Built, Component, InfraResult, VECTOR_BACKEND, VectorPort};
use infra_config::QdrantSettings;

use crate::adapter::QdrantAdapter;

/// What [`build`] returns: the layered port for services, the adapter's `"qdrant"`
/// [`Component`] (criticality from `SOCIAL_QDRANT__CRITICAL`), the resilience policy and
/// the adapter (server info, and the gRPC client for calls beyond the port).
pub type RemoteQdrant = Built<dyn VectorPort, QdrantAdapter>;

/// Builds the remote adapter of `settings` (within a Tokio runtime; nothing is sent), its
/// port in the standard layers (tracing, metrics, timeout per attempt, retries and breaker
/// from the settings) and its component.
///
/// The adapter already bounds each RPC by `timeout`; the policy bounds each attempt (which
/// may take two RPCs, for example reading a collection's dimension before an upsert) by the
/// same budget, so a hung server costs at most `retry.max_attempts * timeout` plus the
/// backoff delays.
///
/// ```no_run
/// # async fn wire(settings: &infra_config::Settings) -> infra_base::InfraResult<()> {
/// use infra_base::Components;
///
/// let qdrant = infra_qdrant::build(&settings.qdrant)?;
/// let components = Components::new().with(qdrant.component());
/// components.init_all().await?; // checks the server, logs its version
/// let vectors = qdrant.port(); // Arc<dyn VectorPort>, with its layers
/// # let _ = vectors;
/// # Ok(()) }
/// ```
///
/// # Errors
///
/// Those of [`QdrantAdapter::new`].
pub fn build(settings: &QdrantSettings) -> InfraResult<RemoteQdrant> {
    Ok(from_adapter(
        Arc::new(QdrantAdapter::new(settings)?),
        settings,
    ))
}

/// Layers an adapter built with [`QdrantAdapter::builder`] (say, with a private CA) as
/// [`build`] does.
pub fn from_adapter(adapter: Arc<QdrantAdapter>, settings: &QdrantSettings) -> RemoteQdrant {
    let policy = Resilience::from_settings(
        VECTOR_BACKEND,
        Some(settings.timeout),
        &settings.retry,
        &settings.circuit,
    );
    let inner: Arc<dyn VectorPort> = adapter.clone();
    let port: Arc<dyn VectorPort> = Arc::new(
        PortLayers::new(VECTOR_BACKEND)
            .server_address(server_address(&settings.endpoint()))
            .resilience(policy.clone())
            .wrap(inner),
    );
    let component = Component::new(VECTOR_BACKEND, settings.critical, adapter.clone())
        .with_breaker(policy.breaker().cloned());
    Built::new(port, component, policy, adapter)
}

/// `host:port` of an endpoint URL: the `server.address` of spans.
fn server_address(endpoint: &str) -> &str {
    endpoint
        .split_once("://")
        .map_or(endpoint, |(_, rest)| rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn build_gives_a_layered_port_and_a_component_critical_as_configured() {
        let settings = QdrantSettings {
            critical: false,
            ..QdrantSettings::default()
        };
        let qdrant = build(&settings).unwrap();
        let component = qdrant.component();
        assert_eq!(
            (component.name.as_str(), component.critical),
            ("qdrant", false)
        );
        assert!(component.breaker.is_some(), "health reports the breaker");
        assert_eq!(qdrant.policy().timeout(), Some(settings.timeout));
        assert_eq!(server_address("https://q.example:6334"), "q.example:6334");
    }
}
