//! [`Resilient`]: any port wrapped so that every call runs under a [`Resilience`].

use std::fmt;
use std::sync::Arc;

use super::{BreakerState, Resilience};
use crate::redis::RedisPort;
use crate::vector::VectorPort;

/// A port wrapped so that each call gets the policy's timeout, retries and breaker.
///
/// It implements [`RedisPort`] when `P` does and [`VectorPort`] when `P` does, so one
/// wrapper serves every port; [`ResilientRedis`] and [`ResilientVector`] name the two uses.
pub struct Resilient<P: ?Sized> {
    pub(super) inner: Arc<P>,
    pub(super) policy: Resilience,
}

/// A [`RedisPort`] under a [`Resilience`].
///
/// `incr_by` and `publish` are not idempotent and are attempted once. Every other method is
/// retried on transient errors; its result after a retry describes the state the first,
/// possibly applied, attempt left behind: a retried `SET ... NX` may answer `false`, a
/// retried `DEL` may count fewer keys. The state itself is the same.
pub type ResilientRedis<P = dyn RedisPort> = Resilient<P>;

/// A [`VectorPort`] under a [`Resilience`].
///
/// Every method is idempotent (collections are created if absent, points are upserted and
/// deleted by id), so every method is retried on transient errors. A retry after an attempt
/// that timed out but was applied reports the state that attempt left: `ensure_collection`
/// may answer [`EnsureOutcome::AlreadyExists`](crate::EnsureOutcome::AlreadyExists) for a collection this call created, and
/// `delete_collection` may answer `false`. `upsert` keeps its points for the retries: while
/// more than one attempt is allowed, every attempt but the last sends a clone of them.
pub type ResilientVector<P = dyn VectorPort> = Resilient<P>;

impl<P: ?Sized> Resilient<P> {
    /// Wraps `inner` with `policy` (whose backend should name the port's backend,
    /// [`REDIS_BACKEND`](crate::REDIS_BACKEND) or [`VECTOR_BACKEND`](crate::VECTOR_BACKEND)).
    pub fn new(inner: Arc<P>, policy: Resilience) -> Self {
        Self { inner, policy }
    }

    /// The wrapped port.
    pub fn inner(&self) -> &Arc<P> {
        &self.inner
    }

    /// The policy every call runs under.
    pub fn policy(&self) -> &Resilience {
        &self.policy
    }

    /// The circuit breaker's state, or `None` without a breaker: for health and metrics.
    pub fn breaker_state(&self) -> Option<BreakerState> {
        self.policy.breaker_state()
    }
}

impl<P: ?Sized> Clone for Resilient<P> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
            policy: self.policy.clone(),
        }
    }
}

impl<P: ?Sized> fmt::Debug for Resilient<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resilient")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}
