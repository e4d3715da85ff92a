//! [`MetricsLayer`]: one latency observation per port call, labelled by outcome.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::hash::{BuildHasherDefault, Hasher};
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
    /// `(descriptor, success histogram)` of the operations known at build time, by the
    /// descriptor's address: one lookup whatever the operation's position in its port's
    /// list (a linear search cost the tenth descriptor about 50 instructions per call).
    successes: HashMap<usize, (&'static Operation, Histogram), BuildHasherDefault<AddressHasher>>,
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
    pub fn for_operations(backend: &'static str, operations: &[&'static Operation]) -> Self {
        let successes = operations
            .iter()
            .map(|&op| (address(op), (op, success_histogram(backend, op.name))))
            .collect();
        Self { backend, successes }
    }

    /// Records the call of `op` that started at `started` and ended with `result`.
    pub(super) fn observe<T>(&self, op: &Operation, started: Instant, result: &InfraResult<T>) {
        let error = result.as_ref().err().map(|err| err.kind().as_str());
        self.record(op, started.elapsed().as_secs_f64(), error);
    }

    /// The pre-registered success histogram of `op`: by address (a port's descriptors are
    /// statics, so a call's descriptor is the very one the layer registered), else by name
    /// (a copy, or another port's descriptor of the same name).
    fn success_histogram_of(&self, op: &Operation) -> Option<&Histogram> {
        self.registered_at(op).or_else(|| {
            let by_name = self
                .successes
                .values()
                .find(|(known, _)| known.name == op.name);
            by_name.map(|(_, histogram)| histogram)
        })
    }

    /// The success histogram registered for the descriptor at `op`'s address.
    fn registered_at(&self, op: &Operation) -> Option<&Histogram> {
        let (_, histogram) = self.successes.get(&address(op))?;
        Some(histogram)
    }

    fn record(&self, op: &Operation, seconds: f64, error: Option<&'static str>) {
        match error {
            None => match self.success_histogram_of(op) {
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

/// A descriptor's address: its identity (descriptors are statics).
fn address(op: &Operation) -> usize {
    std::ptr::from_ref(op).addr()
}

/// Hashes an address by one multiplication (Fibonacci hashing), its high half folded into
/// the low one (the table indexes by the low bits): the key is already unique, and std's
/// default SipHash would cost more than the linear search it replaces.
#[derive(Default)]
struct AddressHasher(u64);

impl Hasher for AddressHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `usize` keys are hashed here; fold anything else in byte by byte.
        for &byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn write_usize(&mut self, address: usize) {
        let product = (address as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.0 = product ^ (product >> 32);
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
    fn each_call_records_into_its_operations_series_found_by_address_or_name() {
        static LOOKUP: Operation = Operation::read("lookup");
        static STORE: Operation = Operation::idempotent_write("store");
        let capture = MetricsCapture::new();
        capture.in_scope(|| {
            let layer = MetricsLayer::for_operations("kv", &[&LOOKUP, &STORE]);
            assert!(layer.registered_at(&LOOKUP).is_some());
            layer.record(&LOOKUP, 0.001, None);
            layer.record(&STORE, 0.004, None);
            // A copy: equal in name, stored elsewhere, found by its name.
            let copy = LOOKUP;
            assert!(layer.registered_at(&copy).is_none());
            layer.record(&copy, 0.002, None);
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

    /// `new` registers every descriptor of its backend's port, each found at its address
    /// without comparing names. That a descriptor named from another crate (the adapters,
    /// the `command` and `pipeline` pickers' callers) keeps that address is
    /// `tests/descriptors.rs`.
    #[test]
    fn every_port_descriptor_is_found_by_address() {
        for (backend, all) in [
            (crate::REDIS_BACKEND, crate::redis::ops::ALL),
            (crate::VECTOR_BACKEND, crate::vector::ops::ALL),
        ] {
            let layer = MetricsLayer::new(backend);
            for &op in all {
                assert!(layer.registered_at(op).is_some(), "{backend} {}", op.name);
            }
        }
    }
}
