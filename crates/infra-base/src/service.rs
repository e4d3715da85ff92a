//! [`BaseService`]: the ports a service was given, and a clear error for the ones it was not.

use std::sync::Arc;

use crate::error::{InfraError, InfraResult};
use crate::redis::{REDIS_BACKEND, RedisPort};
use crate::vector::{VECTOR_BACKEND, VectorPort};

/// The optional ports a service depends on, injected by the composition root.
///
/// Services hold a `BaseService` (cheap to clone) and ask for a port where they need it;
/// a port that was not configured gives an [`InfraError`] of kind
/// [`NotConfigured`](crate::ErrorKind::NotConfigured), which the HTTP layer answers with 503.
/// No globals, and no adapter type in any signature.
///
/// ```
/// use infra_base::{BaseService, ErrorKind};
///
/// let service = BaseService::new("catalog");
/// let err = service.require_redis().err().expect("no Redis port was given");
/// assert_eq!(err.kind(), ErrorKind::NotConfigured);
/// ```
#[derive(Clone)]
pub struct BaseService {
    name: &'static str,
    redis: Option<Arc<dyn RedisPort>>,
    vector: Option<Arc<dyn VectorPort>>,
}

impl BaseService {
    /// A service called `name` (used in logs) with no ports yet.
    pub fn new(name: &'static str) -> Self {
        Self {
            name,
            redis: None,
            vector: None,
        }
    }

    /// Gives the service a Redis port.
    #[must_use]
    pub fn with_redis(mut self, redis: Arc<dyn RedisPort>) -> Self {
        self.redis = Some(redis);
        self
    }

    /// Gives the service a vector port.
    #[must_use]
    pub fn with_vector(mut self, vector: Arc<dyn VectorPort>) -> Self {
        self.vector = Some(vector);
        self
    }

    /// The service's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The Redis port, if configured: for optional uses such as caching.
    pub fn redis(&self) -> Option<&Arc<dyn RedisPort>> {
        self.redis.as_ref()
    }

    /// The vector port, if configured.
    pub fn vector(&self) -> Option<&Arc<dyn VectorPort>> {
        self.vector.as_ref()
    }

    /// The Redis port, or a `NotConfigured` error (HTTP 503) when there is none.
    pub fn require_redis(&self) -> InfraResult<&Arc<dyn RedisPort>> {
        self.redis
            .as_ref()
            .ok_or_else(|| self.missing(REDIS_BACKEND, "require_redis"))
    }

    /// The vector port, or a `NotConfigured` error (HTTP 503) when there is none.
    pub fn require_vector(&self) -> InfraResult<&Arc<dyn VectorPort>> {
        self.vector
            .as_ref()
            .ok_or_else(|| self.missing(VECTOR_BACKEND, "require_vector"))
    }

    fn missing(&self, backend: &'static str, operation: &'static str) -> InfraError {
        // Debug, not warn: the caller decides whether this is a failure and the HTTP layer
        // logs every translated error once.
        tracing::debug!(
            service = self.name,
            backend,
            operation,
            "port not configured"
        );
        InfraError::not_configured(backend, operation)
    }
}

impl std::fmt::Debug for BaseService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BaseService")
            .field("name", &self.name)
            .field("redis", &self.redis.is_some())
            .field("vector", &self.vector.is_some())
            .finish()
    }
}
