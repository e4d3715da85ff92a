//! Where the service's telemetry goes: logs to stderr (text or JSON lines) and metrics to a
//! Prometheus recorder served at `SOCIAL_METRICS__PATH`.
//!
//! The library crates only record (through `tracing` and the `metrics` facade); this module
//! is the one place that chooses exporters, as the composition root chooses adapters.

use std::sync::OnceLock;
use std::time::Duration;

use infra_config::{LogFormat, Settings};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

/// Warnings of the embedded engine that only say it runs with its default feature flags
/// and memory-map checks, silenced unless `RUST_LOG` asks for them.
const QUIET_ENGINE: &str = "qdrant_edge::common::flags=error,qdrant_edge::common::mmap=error";

/// How often histogram observations are folded into their buckets when nobody scrapes:
/// keeps the recorder's memory bounded between scrapes.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// Logs to stderr in `format`, filtered by `RUST_LOG` when it is set, else by `level`: for
/// one-shot commands (`check`, `config`); the service uses [`init_service_telemetry`].
/// JSON lines carry the fields of the current span and its parents (the request span's
/// `route` and `request_id`, a port call's `db.*` fields).
pub fn init_logging(format: LogFormat, level: &str) {
    let builder = tracing_subscriber::fmt()
        .with_env_filter(log_filter(level))
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// The process's Prometheus recorder, installed on first use (with every metric described
/// and the `_seconds` histograms bucketed from 100 µs to 10 s), or `None` when another
/// global recorder was installed first (an embedding application's).
///
/// Install it before building adapters: their layers register their series when built.
pub fn prometheus() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Suffix("_seconds".to_owned()),
                    infra_base::telemetry::DURATION_BUCKETS,
                )
                .ok()?;
            match builder.install_recorder() {
                Ok(handle) => {
                    infra_base::telemetry::describe();
                    let upkeep = handle.clone();
                    let spawned = std::thread::Builder::new()
                        .name("metrics-upkeep".into())
                        .spawn(move || {
                            loop {
                                std::thread::sleep(UPKEEP_EVERY);
                                upkeep.run_upkeep();
                            }
                        });
                    if let Err(err) = spawned {
                        tracing::warn!(error = %err, "no metrics upkeep thread; histograms fold at scrape time only");
                    }
                    Some(handle)
                }
                Err(err) => {
                    tracing::warn!(error = %err,
                        "a metrics recorder is already installed; the metrics route is not served");
                    None
                }
            }
        })
        .as_ref()
}

/// Renders the recorder for the metrics route.
pub fn render(handle: &PrometheusHandle) -> String {
    handle.run_upkeep();
    handle.render()
}

/// What must outlive the service for its telemetry to be complete: the OpenTelemetry
/// exporter (feature `otel`), which flushes the spans it still holds when dropped.
#[must_use = "dropping the guard flushes and stops the span exporter"]
pub struct TelemetryGuard {
    #[cfg(feature = "otel")]
    provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl std::fmt::Debug for TelemetryGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelemetryGuard").finish_non_exhaustive()
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        #[cfg(feature = "otel")]
        if let Some(provider) = self.provider.take()
            && let Err(err) = provider.shutdown()
        {
            eprintln!("infra-server: the OpenTelemetry exporter did not flush: {err}");
        }
    }
}

/// The service's logs ([`init_logging`] with `SOCIAL_LOG__*`) and, with feature `otel`
/// and `SOCIAL_OTEL__ENDPOINT` set, an OTLP/gRPC span exporter beside them.
///
/// The exporter has its own filter, `info,infra::port=debug`: it receives the request
/// spans and every port call's `db` span whatever the log level. Without the feature, a
/// configured endpoint is reported once at `warn` and ignored.
///
/// Call it within a Tokio runtime (the gRPC client needs one) and keep the guard until
/// exit.
pub fn init_service_telemetry(settings: &Settings) -> TelemetryGuard {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    use tracing_subscriber::{Layer as _, Registry};

    let log = &settings.log;
    let fmt: Box<dyn tracing_subscriber::Layer<Registry> + Send + Sync> = match log.format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .with_writer(std::io::stderr)
            .boxed(),
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .boxed(),
    };
    #[cfg_attr(not(feature = "otel"), allow(unused_mut))]
    let mut layers = vec![fmt.with_filter(log_filter(&log.level)).boxed()];
    #[cfg(feature = "otel")]
    {
        let provider = otel::layer(&settings.otel).map(|(layer, provider)| {
            layers.push(layer);
            provider
        });
        let _ = Registry::default().with(layers).try_init();
        TelemetryGuard { provider }
    }
    #[cfg(not(feature = "otel"))]
    {
        let _ = Registry::default().with(layers).try_init();
        if settings.otel.endpoint.is_some() {
            tracing::warn!(
                "SOCIAL_OTEL__ENDPOINT is set but this build has no OpenTelemetry export \
                 (build infra-server with --features otel); spans are not exported"
            );
        }
        TelemetryGuard {}
    }
}

/// `RUST_LOG` when set, else `level` with the engine's noise silenced.
fn log_filter(level: &str) -> EnvFilter {
    EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(format!("{level},{QUIET_ENGINE}")))
        .unwrap_or_else(|_| EnvFilter::new(format!("info,{QUIET_ENGINE}")))
}

#[cfg(feature = "otel")]
mod otel {
    use infra_config::OtelSettings;
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_otlp::WithExportConfig as _;
    use opentelemetry_sdk::Resource;
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use tracing_subscriber::{EnvFilter, Layer, Registry};

    /// What the exporter receives whatever the log level: request spans and port calls.
    const EXPORT_FILTER: &str = "info,infra::port=debug";

    type OtelLayer = Box<dyn Layer<Registry> + Send + Sync>;

    /// The exporter's layer and provider, or `None` without an endpoint (or when the
    /// exporter cannot be built, which is logged on stderr: logging is not up yet).
    pub(super) fn layer(settings: &OtelSettings) -> Option<(OtelLayer, SdkTracerProvider)> {
        let endpoint = settings.endpoint.as_ref()?;
        let exporter = match opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint.as_str())
            .build()
        {
            Ok(exporter) => exporter,
            Err(err) => {
                eprintln!("infra-server: no OpenTelemetry export: {err}");
                return None;
            }
        };
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(
                Resource::builder()
                    .with_service_name(settings.service_name.clone())
                    .build(),
            )
            .build();
        let tracer = provider.tracer("infra-server");
        let layer = tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_filter(EnvFilter::new(EXPORT_FILTER))
            .boxed();
        Some((layer, provider))
    }
}
