//! [`RemoteQdrant`]: the adapter, its resilient port and its component, from settings.

use std::fmt;
use std::sync::Arc;

use infra_base::resilience::{BreakerConfig, Resilience, ResilientVector, RetryPolicy};
use infra_base::{Component, InfraResult, VECTOR_BACKEND, VectorPort};
use infra_config::QdrantSettings;

use crate::adapter::QdrantAdapter;

/// The resilience policy of the `qdrant` section: per-attempt timeout `timeout`, retries
/// from `retry`, a breaker from `circuit`.
///
/// The adapter already bounds each RPC by `timeout`; the policy bounds each attempt (which
/// may take two RPCs, for example reading a collection's dimension before an upsert) by the
/// same budget, so a hung server costs at most `retry.max_attempts * timeout` plus the
/// backoff delays.
pub fn resilience_policy(settings: &QdrantSettings) -> Resilience {
    Resilience::new(VECTOR_BACKEND)
        .with_timeout(settings.timeout)
        .with_retry(RetryPolicy::new(
            settings.retry.max_attempts,
            settings.retry.base_delay,
            settings.retry.max_delay,
        ))
        .with_breaker(BreakerConfig {
            failure_threshold: settings.circuit.failure_threshold,
            open_for: settings.circuit.open_for,
        })
}

/// Everything a composition root needs for a remote Qdrant, built once per process.
///
/// ```no_run
/// # async fn wire(settings: &infra_config::Settings) -> infra_base::InfraResult<()> {
/// use infra_base::{BaseService, Components};
/// use infra_qdrant::RemoteQdrant;
///
/// let qdrant = RemoteQdrant::build(&settings.qdrant)?;
/// let components = Components::new().with(qdrant.component());
/// components.init_all().await?; // checks the server, logs its version
/// let vectors = qdrant.port(); // Arc<dyn VectorPort>, with timeout, retries and breaker
/// # let _ = vectors;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RemoteQdrant {
    adapter: Arc<QdrantAdapter>,
    port: Arc<dyn VectorPort>,
    policy: Resilience,
    critical: bool,
}

impl fmt::Debug for RemoteQdrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteQdrant")
            .field("adapter", &self.adapter)
            .field("policy", &self.policy)
            .field("critical", &self.critical)
            .finish_non_exhaustive()
    }
}

impl RemoteQdrant {
    /// Builds the adapter from `settings` (within a Tokio runtime; nothing is sent) and
    /// wraps it in [`resilience_policy`].
    pub fn build(settings: &QdrantSettings) -> InfraResult<Self> {
        Ok(Self::from_adapter(
            Arc::new(QdrantAdapter::new(settings)?),
            settings,
        ))
    }

    /// Wraps an adapter built with [`QdrantAdapter::builder`] (say, with a private CA).
    pub fn from_adapter(adapter: Arc<QdrantAdapter>, settings: &QdrantSettings) -> Self {
        let policy = resilience_policy(settings);
        let inner: Arc<dyn VectorPort> = adapter.clone();
        let port = Arc::new(ResilientVector::new(inner, policy.clone()));
        Self {
            adapter,
            port,
            policy,
            critical: settings.critical,
        }
    }

    /// The adapter itself: no retries, no breaker (its lifecycle and server info).
    pub fn adapter(&self) -> &Arc<QdrantAdapter> {
        &self.adapter
    }

    /// The port services use: the adapter under the resilience policy.
    pub fn port(&self) -> Arc<dyn VectorPort> {
        Arc::clone(&self.port)
    }

    /// The policy (and its breaker, for health reports).
    pub fn policy(&self) -> &Resilience {
        &self.policy
    }

    /// The adapter as the `"qdrant"` component, critical as the settings say.
    pub fn component(&self) -> Component {
        Component::new(VECTOR_BACKEND, self.critical, self.adapter.clone())
    }
}
