//! Composition of layers: [`Stack`] nests two, [`Identity`] adds nothing.

use std::future::Future;
use std::sync::Arc;

use super::{Layer, Operation};
use crate::error::InfraResult;
use crate::resilience::CircuitBreaker;

/// Two layers, `outer` around `inner`: a call passes `outer` first.
#[derive(Debug, Clone)]
pub struct Stack<Outer, Inner> {
    outer: Outer,
    inner: Inner,
}

impl<Outer, Inner> Stack<Outer, Inner> {
    /// `outer` around `inner`.
    pub fn new(outer: Outer, inner: Inner) -> Self {
        Self { outer, inner }
    }

    /// The outer layer.
    pub fn outer(&self) -> &Outer {
        &self.outer
    }

    /// The inner layer.
    pub fn inner(&self) -> &Inner {
        &self.inner
    }
}

impl<Outer: Layer, Inner: Layer> Layer for Stack<Outer, Inner> {
    async fn around<'a, T, F, Fut>(&'a self, op: &'static Operation, call: F) -> InfraResult<T>
    where
        T: Send + 'a,
        F: Fn() -> Fut + Send + Sync + 'a,
        Fut: Future<Output = InfraResult<T>> + Send + 'a,
    {
        let call = &call;
        let inner = &self.inner;
        self.outer.around(op, move || inner.around(op, call)).await
    }

    fn max_attempts(&self, op: &Operation) -> u32 {
        self.outer
            .max_attempts(op)
            .saturating_mul(self.inner.max_attempts(op))
    }

    fn breaker(&self) -> Option<&Arc<CircuitBreaker>> {
        self.inner.breaker().or_else(|| self.outer.breaker())
    }
}

/// The layer that adds nothing: a port wrapped in it behaves as the port.
#[derive(Debug, Clone, Copy, Default)]
pub struct Identity;

impl Layer for Identity {
    fn around<'a, T, F, Fut>(
        &'a self,
        _op: &'static Operation,
        call: F,
    ) -> impl Future<Output = InfraResult<T>> + Send + 'a
    where
        T: Send + 'a,
        F: Fn() -> Fut + Send + Sync + 'a,
        Fut: Future<Output = InfraResult<T>> + Send + 'a,
    {
        call()
    }
}
