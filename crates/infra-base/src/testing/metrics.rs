//! Reading what was recorded through the metrics facade, in tests.

use std::collections::BTreeMap;
use std::future::Future;

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};

/// One recorded series.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The metric name.
    pub name: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// What was recorded.
    pub value: SampleValue,
}

/// A series' value.
#[derive(Debug, Clone, PartialEq)]
pub enum SampleValue {
    /// A counter's total.
    Counter(u64),
    /// A gauge's last value.
    Gauge(f64),
    /// The observations of a histogram since the last snapshot.
    Histogram(Vec<f64>),
}

/// A recorder that keeps everything, installed for a closure or a future on the current
/// thread (so tests in one binary do not see each other's metrics).
///
/// ```
/// use infra_base::testing::metrics::{MetricsCapture, SampleValue};
///
/// let capture = MetricsCapture::new();
/// capture.in_scope(|| metrics::counter!("jobs_total", "queue" => "a").increment(2));
/// let samples = capture.samples();
/// assert_eq!(
///     MetricsCapture::find(&samples, "jobs_total", &[("queue", "a")]).map(|s| &s.value),
///     Some(&SampleValue::Counter(2))
/// );
/// ```
pub struct MetricsCapture {
    recorder: DebuggingRecorder,
    snapshotter: Snapshotter,
}

impl Default for MetricsCapture {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for MetricsCapture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsCapture").finish_non_exhaustive()
    }
}

impl MetricsCapture {
    /// An empty capture.
    pub fn new() -> Self {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        Self {
            recorder,
            snapshotter,
        }
    }

    /// Runs `f` with this capture as the thread's recorder.
    pub fn in_scope<T>(&self, f: impl FnOnce() -> T) -> T {
        metrics::with_local_recorder(&self.recorder, f)
    }

    /// Runs `future` to completion on a new current-thread runtime with this capture as
    /// the recorder, so every metric the future records, on whatever task of that runtime,
    /// is captured.
    ///
    /// # Panics
    ///
    /// When the runtime cannot be built (the process is out of threads or memory).
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a current-thread runtime");
        self.in_scope(|| runtime.block_on(future))
    }

    /// Everything recorded so far (histogram observations are drained).
    pub fn samples(&self) -> Vec<Sample> {
        self.snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .map(|(key, _unit, _help, value)| {
                let (_kind, key) = key.into_parts();
                let labels = key
                    .labels()
                    .map(|l| (l.key().to_owned(), l.value().to_owned()))
                    .collect();
                let value = match value {
                    DebugValue::Counter(n) => SampleValue::Counter(n),
                    DebugValue::Gauge(v) => SampleValue::Gauge(v.0),
                    DebugValue::Histogram(values) => {
                        SampleValue::Histogram(values.into_iter().map(|v| v.0).collect())
                    }
                };
                Sample {
                    name: key.name().to_owned(),
                    labels,
                    value,
                }
            })
            .collect()
    }

    /// The sample named `name` whose labels are exactly `labels`.
    pub fn find<'s>(
        samples: &'s [Sample],
        name: &str,
        labels: &[(&str, &str)],
    ) -> Option<&'s Sample> {
        let wanted: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        samples
            .iter()
            .find(|s| s.name == name && s.labels == wanted)
    }
}
