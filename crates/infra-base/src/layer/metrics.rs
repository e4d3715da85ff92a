//! [`MetricsLayer`]: one latency observation per port call, labelled by outcome.

use std::fmt;
use std::future::Future;
use std::time::Instant;

use metrics::Histogram;

use super::{Layer, Operation};
use crate::error::InfraResult;
use crate::telemetry::{DB_OPERATION_DURATION, labels};

/// Records [`DB_OPERATION_DURATION`] for every call: labels `db_system_name`,
/// `db_operation_name`, and `error_type` (the [`ErrorKind`](crate::ErrorKind)) on failures.
///
/// The success histogram of each known operation is registered once, when the layer is
/// built, so a successful call costs two clock reads and one atomic bucket update; failures
/// and operations the layer was not built for register their series on use. Build the
/// layer after installing the metrics recorder (before it, every handle is a no-op).
pub struct MetricsLayer {
    backend: &'static str,
    /// `(operation name, success histogram)` for the operations known at build time.
    successes: Vec<(&'static str, Histogram)>,
}

impl MetricsLayer {
    /// A layer for `backend` that pre-registers the operations of its port
    /// ([`redis::ops::ALL`](crate::redis::ops::ALL) or
    /// [`vector::ops::ALL`](crate::vector::ops::ALL), chosen by the backend name).
    pub fn new(backend: &'static str) -> Self {
        let known = match backend {
            crate::REDIS_BACKEND => crate::redis::ops::ALL,
            crate::VECTOR_BACKEND => crate::vector::ops::ALL,
            _ => &[],
        };
        Self::for_operations(backend, known)
    }

    /// A layer for `backend` that pre-registers `operations`.
    pub fn for_operations(backend: &'static str, operations: &[Operation]) -> Self {
        let successes = operations
            .iter()
            .map(|op| (op.name, success_histogram(backend, op.name)))
            .collect();
        Self { backend, successes }
    }

    /// Records the call of `op` that started at `started` and ended with `result`.
    pub(super) fn observe<T>(&self, op: &Operation, started: Instant, result: &InfraResult<T>) {
        let error = result.as_ref().err().map(|err| err.kind().as_str());
        self.record(op, started.elapsed().as_secs_f64(), error);
    }

    /// The pre-registered success histogram of `name`. A call's name is almost always the
    /// very `&'static str` the layer registered (both come from the port's `ops` constants),
    /// so addresses are compared first and text only when none matches.
    fn success_histogram_of(&self, name: &'static str) -> Option<&Histogram> {
        let by_address = || self.successes.iter().find(|(n, _)| std::ptr::eq(*n, name));
        let by_text = || self.successes.iter().find(|(n, _)| *n == name);
        by_address()
            .or_else(by_text)
            .map(|(_, histogram)| histogram)
    }

    fn record(&self, op: &Operation, seconds: f64, error: Option<&'static str>) {
        match error {
            None => match self.success_histogram_of(op.name) {
                Some(histogram) => histogram.record(seconds),
                None => success_histogram(self.backend, op.name).record(seconds),
            },
            Some(kind) => metrics::histogram!(
                DB_OPERATION_DURATION,
                labels::DB_SYSTEM => self.backend,
                labels::DB_OPERATION => op.name,
                labels::ERROR_TYPE => kind,
            )
            .record(seconds),
        }
    }
}

fn success_histogram(backend: &'static str, operation: &'static str) -> Histogram {
    metrics::histogram!(
        DB_OPERATION_DURATION,
        labels::DB_SYSTEM => backend,
        labels::DB_OPERATION => operation,
    )
}

impl fmt::Debug for MetricsLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsLayer")
            .field("backend", &self.backend)
            .field("operations", &self.successes.len())
            .finish()
    }
}

impl Layer for MetricsLayer {
    async fn around<'a, T, F, Fut>(&'a self, op: &'static Operation, call: F) -> InfraResult<T>
    where
        T: Send + 'a,
        F: Fn() -> Fut + Send + Sync + 'a,
        Fut: Future<Output = InfraResult<T>> + Send + 'a,
    {
        let started = Instant::now();
        let result = call().await;
        self.observe(op, started, &result);
        result
    }
}

#[cfg(all(test, feature = "testing"))]
mod tests {
    use super::*;
    use crate::testing::metrics::{MetricsCapture, SampleValue};

    #[test]
    fn each_call_records_into_its_operations_series_found_by_address_or_text() {
        const LOOKUP: Operation = Operation::read("lookup");
        const STORE: Operation = Operation::idempotent_write("store");
        let capture = MetricsCapture::new();
        capture.in_scope(|| {
            let layer = MetricsLayer::for_operations("kv", &[LOOKUP, STORE]);
            layer.record(&LOOKUP, 0.001, None);
            layer.record(&STORE, 0.004, None);
            // Equal in text, stored elsewhere: found by the text comparison.
            let copy: &'static str = Box::leak(String::from("lookup").into_boxed_str());
            layer.record(&Operation::read(copy), 0.002, None);
            layer.record(&Operation::read("other"), 0.003, None);
        });
        let samples = capture.samples();
        let series = |operation| {
            MetricsCapture::find(
                &samples,
                DB_OPERATION_DURATION,
                &[(labels::DB_SYSTEM, "kv"), (labels::DB_OPERATION, operation)],
            )
            .map(|s| s.value.clone())
        };
        assert_eq!(
            series("lookup"),
            Some(SampleValue::Histogram(vec![0.001, 0.002]))
        );
        assert_eq!(series("store"), Some(SampleValue::Histogram(vec![0.004])));
        assert_eq!(series("other"), Some(SampleValue::Histogram(vec![0.003])));
    }
}
