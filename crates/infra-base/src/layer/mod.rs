//! One mechanism for cross-cutting concerns around a port: [`Layer`]s over typed
//! [`Operation`] descriptors.
//!
//! Every port call goes through one generic path: [`Layered`] implements each port by
//! handing its layer the call's [`Operation`] (name, idempotency, access) and a closure
//! that performs the call on the inner port. A concern (resilience, metrics, tracing, a
//! test's fault injection) is therefore written once, as a [`Layer`], and never once per
//! port method; adding a method to a port means adding its descriptor (in
//! [`redis::ops`](crate::redis::ops) or [`vector::ops`](crate::vector::ops)) and one line
//! in `Layered`'s impl of that port, and no layer changes.
//!
//! # The standard stack and its order
//!
//! [`PortLayers`] is the stack every adapter's factory builds, outermost first:
//!
//! ```text
//! tracing     one span per port call (db.system.name, db.operation.name, server.address,
//!   │         error.type); outermost so that the span covers retries and backoff, and the
//!   │         events of the layers inside (a retry, a breaker transition) belong to it
//!   └─ metrics  one latency observation and one outcome per port call, as the caller saw
//!        │      it (retries and backoff included): what a dashboard of the service shows
//!        └─ resilience  retry loop (transient errors of idempotent operations only)
//!             └─ circuit breaker, per attempt (fails fast while open)
//!                  └─ timeout, per attempt (if the policy has one)
//!                       └─ the adapter's call
//! ```
//!
//! Retries and breaker transitions are counted by the resilience layer itself, through the
//! same metrics facade ([`crate::telemetry`]), because only it sees them.
//!
//! [`StandardStack`] is that order written as one layer rather than as nested [`Stack`]s:
//! every level of nesting is an `async fn` whose state is built, moved and polled on every
//! call, and a Redis GET on a loopback connection costs the client only about 10,000
//! instructions, so five levels of forwarding were a visible part of it. [`Stack`] composes
//! any other layers.
//!
//! # Writing a layer
//!
//! ```
//! use std::future::Future;
//! use std::sync::atomic::{AtomicU64, Ordering};
//! use infra_base::InfraResult;
//! use infra_base::layer::{Layer, Operation};
//!
//! /// Counts the calls that reach it.
//! #[derive(Default)]
//! struct Counting(AtomicU64);
//!
//! impl Layer for Counting {
//!     fn around<'a, T, F, Fut>(
//!         &'a self,
//!         _op: &'static Operation,
//!         call: F,
//!     ) -> impl Future<Output = InfraResult<T>> + Send + 'a
//!     where
//!         T: Send + 'a,
//!         F: Fn() -> Fut + Send + Sync + 'a,
//!         Fut: Future<Output = InfraResult<T>> + Send + 'a,
//!     {
//!         self.0.fetch_add(1, Ordering::Relaxed);
//!         call()
//!     }
//! }
//! ```

mod metrics;
mod redis;
mod stack;
mod standard;
mod tracing;
mod vector;

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use crate::error::InfraResult;
use crate::resilience::{CircuitBreaker, Idempotency, Resilience};

pub use self::metrics::MetricsLayer;
pub use self::stack::{Identity, Stack};
pub use self::standard::StandardStack;
pub use self::tracing::{PORT_SPAN_TARGET, TracingLayer};

/// Whether an operation reads or changes state: for dashboards and for layers that treat
/// writes differently (a cache invalidation, a read-only mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    /// Changes nothing on the server (`GET`, a search, a ping).
    Read,
    /// May change state on the server (`SET`, an upsert, a collection delete).
    Write,
}

/// What a layer knows about one port operation: its name, whether repeating it is safe,
/// and whether it writes.
///
/// Descriptors are statics, one per port method: [`crate::redis::ops`] and
/// [`crate::vector::ops`]. Each has one address, so a layer that keeps per-operation state
/// finds it by the descriptor's address ([`MetricsLayer`] does). The name is the
/// `db.operation.name` of metrics and spans, so it is a bounded label (never a key or a
/// collection name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Operation {
    /// The operation's name: `"get"`, `"upsert"`; also its metric and span label.
    pub name: &'static str,
    /// Whether the resilience layer may retry it.
    pub idempotency: Idempotency,
    /// Whether it writes.
    pub access: Access,
}

impl Operation {
    /// A read: idempotent by nature.
    pub const fn read(name: &'static str) -> Self {
        Self {
            name,
            idempotency: Idempotency::Idempotent,
            access: Access::Read,
        }
    }

    /// A write that may safely be repeated (`SET`, upsert by id).
    pub const fn idempotent_write(name: &'static str) -> Self {
        Self {
            name,
            idempotency: Idempotency::Idempotent,
            access: Access::Write,
        }
    }

    /// A write that must not be repeated (`INCRBY`, `PUBLISH`): never retried.
    pub const fn unsafe_write(name: &'static str) -> Self {
        Self {
            name,
            idempotency: Idempotency::NonIdempotent,
            access: Access::Write,
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

/// One cross-cutting concern around port calls.
///
/// [`around`](Layer::around) receives the call's descriptor and a closure that performs the
/// call once per invocation; a layer may invoke it any number of times (a retry layer) or
/// not at all (an open breaker). The closure is `Fn` so that layers nest: a layer hands the
/// next one a reference to the same closure.
///
/// Layers are composed statically ([`Stack`]), so a call through several layers costs no
/// allocation of its own; the trait is not object-safe for that reason.
pub trait Layer: Send + Sync + 'static {
    /// Runs `call` under this layer's concern.
    fn around<'a, T, F, Fut>(
        &'a self,
        op: &'static Operation,
        call: F,
    ) -> impl Future<Output = InfraResult<T>> + Send + 'a
    where
        T: Send + 'a,
        F: Fn() -> Fut + Send + Sync + 'a,
        Fut: Future<Output = InfraResult<T>> + Send + 'a;

    /// How many times this layer may invoke the call for `op` (1 unless it retries). A
    /// port method that must hand owned data to each attempt uses it to move, instead of
    /// clone, the data into the last one.
    fn max_attempts(&self, op: &Operation) -> u32 {
        let _ = op;
        1
    }

    /// The circuit breaker this layer consults, if any: for health reports.
    fn breaker(&self) -> Option<&Arc<CircuitBreaker>> {
        None
    }
}

impl Layer for Resilience {
    fn around<'a, T, F, Fut>(
        &'a self,
        op: &'static Operation,
        call: F,
    ) -> impl Future<Output = InfraResult<T>> + Send + 'a
    where
        T: Send + 'a,
        F: Fn() -> Fut + Send + Sync + 'a,
        Fut: Future<Output = InfraResult<T>> + Send + 'a,
    {
        self.run(op.name, op.idempotency, call)
    }

    fn max_attempts(&self, op: &Operation) -> u32 {
        Resilience::max_attempts(self, op.idempotency)
    }

    fn breaker(&self) -> Option<&Arc<CircuitBreaker>> {
        Resilience::breaker(self)
    }
}

/// A port whose every call runs through `layer`.
///
/// It implements [`RedisPort`](crate::RedisPort) when `P` does and
/// [`VectorPort`](crate::VectorPort) when `P` does, so one wrapper serves every port and
/// every layer. Cloning is cheap (the port is shared; the layer is behind an `Arc`).
pub struct Layered<P: ?Sized, L> {
    inner: Arc<P>,
    layer: Arc<L>,
}

impl<P: ?Sized, L: Layer> Layered<P, L> {
    /// Wraps `inner` in `layer`.
    pub fn new(inner: Arc<P>, layer: L) -> Self {
        Self {
            inner,
            layer: Arc::new(layer),
        }
    }

    /// The wrapped port.
    pub fn inner(&self) -> &Arc<P> {
        &self.inner
    }

    /// The layer every call runs through.
    pub fn layer(&self) -> &L {
        &self.layer
    }

    /// Runs one call of `op` through the layer: the single path every port method of
    /// `Layered` takes.
    ///
    /// It returns the layer's future itself rather than awaiting it in an `async fn` of its
    /// own, which would wrap every call in one more state machine (moved when built, walked
    /// on every poll) that adds nothing.
    fn call<'a, T, F, Fut>(
        &'a self,
        op: &'static Operation,
        call: F,
    ) -> impl Future<Output = InfraResult<T>> + Send + 'a
    where
        T: Send + 'a,
        F: Fn() -> Fut + Send + Sync + 'a,
        Fut: Future<Output = InfraResult<T>> + Send + 'a,
    {
        self.layer.around(op, call)
    }
}

impl<P: ?Sized, L> Clone for Layered<P, L> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
            layer: Arc::clone(&self.layer),
        }
    }
}

impl<P: ?Sized, L: fmt::Debug> fmt::Debug for Layered<P, L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Layered")
            .field("layer", &self.layer)
            .finish_non_exhaustive()
    }
}

/// Builds the [`StandardStack`] for one backend: the one way every adapter factory layers
/// its port.
///
/// ```
/// use std::sync::Arc;
/// use infra_base::layer::PortLayers;
/// use infra_base::resilience::Resilience;
/// use infra_base::{REDIS_BACKEND, RedisPort};
///
/// fn layered(adapter: Arc<dyn RedisPort>) -> Arc<dyn RedisPort> {
///     let layers = PortLayers::new(REDIS_BACKEND)
///         .server_address("127.0.0.1:6379")
///         .resilience(Resilience::new(REDIS_BACKEND));
///     Arc::new(layers.wrap(adapter))
/// }
/// ```
#[derive(Debug, Clone)]
pub struct PortLayers {
    backend: &'static str,
    server_address: String,
    resilience: Resilience,
}

impl PortLayers {
    /// The stack for `backend` (`"redis"`, `"qdrant"`: the `db.system.name` label), with a
    /// resilience policy that neither times out, retries nor breaks until one is given.
    pub fn new(backend: &'static str) -> Self {
        Self {
            backend,
            server_address: String::new(),
            resilience: Resilience::new(backend)
                .with_retry(crate::resilience::RetryPolicy::no_retry()),
        }
    }

    /// The `server.address` recorded on spans: host and port, never credentials.
    #[must_use]
    pub fn server_address(mut self, address: impl Into<String>) -> Self {
        self.server_address = address.into();
        self
    }

    /// The resilience policy (timeout, retries, breaker).
    #[must_use]
    pub fn resilience(mut self, policy: Resilience) -> Self {
        self.resilience = policy;
        self
    }

    /// The resilience policy the stack will use.
    pub fn policy(&self) -> &Resilience {
        &self.resilience
    }

    /// The stack itself.
    pub fn build(self) -> StandardStack {
        StandardStack::new(
            TracingLayer::new(self.backend, self.server_address),
            MetricsLayer::new(self.backend),
            self.resilience,
        )
    }

    /// `inner` wrapped in the stack.
    pub fn wrap<P: ?Sized>(self, inner: Arc<P>) -> Layered<P, StandardStack> {
        Layered::new(inner, self.build())
    }
}

#[cfg(test)]
mod tests;
