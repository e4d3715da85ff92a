//! [`StandardStack`]: tracing, metrics and resilience in their fixed order, as one layer.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use super::{Layer, MetricsLayer, Operation, TracingLayer};
use crate::error::InfraResult;
use crate::resilience::{CircuitBreaker, Resilience};

/// The stack every adapter's factory builds ([`PortLayers`](super::PortLayers)): tracing
/// around metrics around resilience, in the order the [module documentation](super)
/// gives and argues.
///
/// It behaves exactly as `Stack<TracingLayer, Stack<MetricsLayer, Resilience>>` and is
/// written as one layer for what a call costs: while port spans are disabled (the
/// default `info` level), a call runs through one state machine that reads the clock,
/// runs the resilience policy and records the observation, instead of five nested ones
/// (each stack level and each layer is an `async fn` whose state is built, moved and
/// polled on every call). With spans enabled it takes the composed path, boxed: a span
/// costs far more than the allocation.
#[derive(Debug)]
pub struct StandardStack {
    tracing: TracingLayer,
    metrics: MetricsLayer,
    resilience: Resilience,
}

impl StandardStack {
    /// The three layers, in their fixed order.
    pub fn new(tracing: TracingLayer, metrics: MetricsLayer, resilience: Resilience) -> Self {
        Self {
            tracing,
            metrics,
            resilience,
        }
    }

    /// The outermost layer: one span per call.
    pub fn tracing(&self) -> &TracingLayer {
        &self.tracing
    }

    /// The middle layer: one observation per call, retries included.
    pub fn metrics(&self) -> &MetricsLayer {
        &self.metrics
    }

    /// The innermost layer: retries, breaker and timeout, per attempt.
    pub fn resilience(&self) -> &Resilience {
        &self.resilience
    }

    /// Metrics around resilience: the stack below the span.
    async fn measured<T, F, Fut>(&self, op: &'static Operation, call: &F) -> InfraResult<T>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = InfraResult<T>>,
    {
        let started = Instant::now();
        let result = self.resilience.run(op.name, op.idempotency, call).await;
        self.metrics.observe(op, started, &result);
        result
    }
}

impl Layer for StandardStack {
    async fn around<'a, T, F, Fut>(&'a self, op: &'static Operation, call: F) -> InfraResult<T>
    where
        T: Send + 'a,
        F: Fn() -> Fut + Send + Sync + 'a,
        Fut: Future<Output = InfraResult<T>> + Send + 'a,
    {
        if TracingLayer::spans_enabled() {
            let call = &call;
            return Box::pin(self.tracing.around(op, move || self.measured(op, call))).await;
        }
        // `measured`, written out: awaiting it would be one more state machine per call.
        let started = Instant::now();
        let result = self.resilience.run(op.name, op.idempotency, &call).await;
        self.metrics.observe(op, started, &result);
        result
    }

    fn max_attempts(&self, op: &Operation) -> u32 {
        Layer::max_attempts(&self.resilience, op)
    }

    fn breaker(&self) -> Option<&Arc<CircuitBreaker>> {
        Layer::breaker(&self.resilience)
    }
}
