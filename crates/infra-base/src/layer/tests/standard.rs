//! The standard stack ([`PortLayers`]): what its metrics and spans record, on mocks.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::REDIS_BACKEND;
use crate::error::{ErrorKind, InfraError, InfraResult};
use crate::layer::{Layer, Layered, Operation, PortLayers};
use crate::redis::{MockRedisPort, RedisPort};
use crate::resilience::{BreakerConfig, Resilience, RetryPolicy};
use crate::telemetry::{self, labels};
use crate::testing::metrics::{MetricsCapture, SampleValue};
use crate::vector::{MockVectorPort, Point, VectorPort};

const MS: Duration = Duration::from_millis(1);

fn unavailable() -> InfraError {
    InfraError::new(
        ErrorKind::Unavailable,
        REDIS_BACKEND,
        "get",
        "connection reset",
    )
}

fn retrying() -> Resilience {
    Resilience::new(REDIS_BACKEND)
        .with_retry(RetryPolicy::new(3, 10 * MS, 100 * MS).with_jitter(false))
}

#[test]
fn one_observation_per_call_retries_counted_and_errors_labelled_by_kind() {
    one_observation_per_call();
}

/// The stack takes its composed path (span, then metrics, then resilience) when port
/// spans are enabled: metrics and retries must come out the same.
#[test]
fn with_port_spans_enabled_the_metrics_are_the_same() {
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(std::io::sink)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        assert!(
            tracing::enabled!(target: crate::layer::PORT_SPAN_TARGET, tracing::Level::DEBUG),
            "port spans must be enabled for this test to take the traced path"
        );
        one_observation_per_call();
    });
}

fn one_observation_per_call() {
    let capture = MetricsCapture::new();
    capture.block_on(async {
        let mut mock = MockRedisPort::new();
        let mut failures = 2;
        mock.expect_get().times(3).returning(move |_| {
            if failures > 0 {
                failures -= 1;
                Err(unavailable())
            } else {
                Ok(None)
            }
        });
        mock.expect_exists().times(1).returning(|_| {
            Err(InfraError::new(
                ErrorKind::InvalidInput,
                REDIS_BACKEND,
                "exists",
                "bad",
            ))
        });
        let mock: Arc<dyn RedisPort> = Arc::new(mock);
        let port = PortLayers::new(REDIS_BACKEND)
            .resilience(retrying())
            .wrap(mock);
        assert_eq!(port.get("k").await.unwrap(), None);
        let err = port.exists("k").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
    });
    let samples = capture.samples();
    let get = MetricsCapture::find(
        &samples,
        telemetry::DB_OPERATION_DURATION,
        &[(labels::DB_SYSTEM, "redis"), (labels::DB_OPERATION, "get")],
    )
    .expect("get's latency");
    let SampleValue::Histogram(observations) = &get.value else {
        panic!("{get:?}")
    };
    assert_eq!(observations.len(), 1, "retries are inside one observation");
    let retries = MetricsCapture::find(
        &samples,
        telemetry::RETRIES,
        &[(labels::DB_SYSTEM, "redis"), (labels::DB_OPERATION, "get")],
    );
    assert_eq!(retries.map(|s| &s.value), Some(&SampleValue::Counter(2)));
    let failed = MetricsCapture::find(
        &samples,
        telemetry::DB_OPERATION_DURATION,
        &[
            (labels::DB_SYSTEM, "redis"),
            (labels::DB_OPERATION, "exists"),
            (labels::ERROR_TYPE, "invalid_input"),
        ],
    )
    .expect("the failure, labelled by kind");
    assert!(matches!(&failed.value, SampleValue::Histogram(v) if v.len() == 1));
}

#[test]
fn breaker_state_and_transitions_are_recorded() {
    let capture = MetricsCapture::new();
    capture.block_on(async {
        let mut mock = MockRedisPort::new();
        mock.expect_ping().times(1).returning(|| Err(unavailable()));
        let policy = Resilience::new(REDIS_BACKEND)
            .with_retry(RetryPolicy::no_retry())
            .with_breaker(BreakerConfig {
                failure_threshold: 1,
                open_for: Duration::from_secs(5),
            });
        let mock: Arc<dyn RedisPort> = Arc::new(mock);
        let port = PortLayers::new(REDIS_BACKEND).resilience(policy).wrap(mock);
        assert_eq!(
            port.ping().await.unwrap_err().kind(),
            ErrorKind::Unavailable
        );
        assert_eq!(
            port.ping().await.unwrap_err().kind(),
            ErrorKind::CircuitOpen
        );
        assert!(
            port.layer().breaker().is_some(),
            "the stack exposes its breaker"
        );
    });
    let samples = capture.samples();
    let state = MetricsCapture::find(
        &samples,
        telemetry::BREAKER_STATE,
        &[(labels::DB_SYSTEM, "redis")],
    );
    assert_eq!(state.map(|s| &s.value), Some(&SampleValue::Gauge(2.0)));
    let opened = MetricsCapture::find(
        &samples,
        telemetry::BREAKER_TRANSITIONS,
        &[(labels::DB_SYSTEM, "redis"), (labels::STATE, "open")],
    );
    assert_eq!(opened.map(|s| &s.value), Some(&SampleValue::Counter(1)));
    let refused = MetricsCapture::find(
        &samples,
        telemetry::DB_OPERATION_DURATION,
        &[
            (labels::DB_SYSTEM, "redis"),
            (labels::DB_OPERATION, "ping"),
            (labels::ERROR_TYPE, "circuit_open"),
        ],
    );
    assert!(
        refused.is_some(),
        "a refused call is observed as circuit_open"
    );
}

/// Calls twice but declares one attempt.
struct CallsTwice;

impl Layer for CallsTwice {
    async fn around<'a, T, F, Fut>(&'a self, _op: &'static Operation, call: F) -> InfraResult<T>
    where
        T: Send + 'a,
        F: Fn() -> Fut + Send + Sync + 'a,
        Fut: Future<Output = InfraResult<T>> + Send + 'a,
    {
        let _ = call().await;
        call().await
    }
}

#[tokio::test]
async fn an_upsert_never_sends_an_empty_batch_to_a_layer_that_miscounts_its_attempts() {
    let mut mock = MockVectorPort::new();
    mock.expect_upsert()
        .withf(|_, points| points.len() == 1)
        .times(1)
        .returning(|_, _| Ok(()));
    let port = Layered::new(Arc::new(mock), CallsTwice);
    let err = port
        .upsert("c", vec![Point::new(1, vec![1.0])])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Internal);
}
