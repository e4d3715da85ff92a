//! [`TracingLayer`]: one span per port call.

use std::future::Future;

use tracing::Instrument;

use super::{Layer, Operation};
use crate::error::InfraResult;

/// The target of port-call spans: filter them with `infra::port=debug`.
pub const PORT_SPAN_TARGET: &str = "infra::port";

/// Wraps each call in a `db` span at `debug` level, target [`PORT_SPAN_TARGET`], with the
/// OpenTelemetry database fields: `db.system.name`, `db.operation.name`, `server.address`,
/// `otel.kind = "client"`, `otel.name` (the operation) and, on failure, `error.type` (the
/// [`ErrorKind`](crate::ErrorKind)). Events of the layers inside (a retry, a breaker
/// transition) and of the adapter are recorded in it, and it is a child of whatever span
/// is current (the HTTP request's).
///
/// The span is at `debug` so that a service logging at `info` pays only a disabled
/// callsite check per call; enable it for logs with `SOCIAL_LOG__LEVEL=info,infra::port=debug`
/// (an OpenTelemetry exporter enables it for itself).
#[derive(Debug, Clone)]
pub struct TracingLayer {
    backend: &'static str,
    server_address: String,
}

impl TracingLayer {
    /// Spans for `backend` calls to `server_address` (host:port, never credentials; empty
    /// for an in-process store).
    pub fn new(backend: &'static str, server_address: impl Into<String>) -> Self {
        Self {
            backend,
            server_address: server_address.into(),
        }
    }
}

impl TracingLayer {
    /// Whether port spans are enabled at all, asked before a span is built: a disabled
    /// `debug_span!` still costs a span value, its drop and (with tracing's `log` feature) a
    /// log-record check per call.
    pub(super) fn spans_enabled() -> bool {
        tracing::enabled!(target: PORT_SPAN_TARGET, tracing::Level::DEBUG)
    }
}

impl Layer for TracingLayer {
    async fn around<'a, T, F, Fut>(&'a self, op: &'static Operation, call: F) -> InfraResult<T>
    where
        T: Send + 'a,
        F: Fn() -> Fut + Send + Sync + 'a,
        Fut: Future<Output = InfraResult<T>> + Send + 'a,
    {
        if !Self::spans_enabled() {
            return call().await;
        }
        let span = tracing::debug_span!(
            target: PORT_SPAN_TARGET,
            "db",
            otel.name = op.name,
            otel.kind = "client",
            db.system.name = self.backend,
            db.operation.name = op.name,
            server.address = self.server_address.as_str(),
            error.type = tracing::field::Empty,
        );
        if span.is_disabled() {
            return call().await;
        }
        let result = call().instrument(span.clone()).await;
        if let Err(err) = &result {
            span.record("error.type", err.kind().as_str());
        }
        result
    }
}
