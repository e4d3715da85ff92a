//! The Prometheus text endpoint: a route that serves whatever exporter the service chose.
//!
//! infra-http depends on the metrics facade only; the service installs an exporter (the
//! reference service uses `metrics-exporter-prometheus`) and hands its render function
//! here, so a service that exports elsewhere (OTLP, StatsD) pulls in no Prometheus code.

use std::sync::Arc;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

/// The content type of the Prometheus text exposition format.
pub const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Renders the current metrics in the Prometheus text format.
pub type RenderMetrics = Arc<dyn Fn() -> String + Send + Sync>;

/// A router serving `render()` at `path` (`GET`) as Prometheus text.
///
/// Merge it into the service's router; it is cheap (rendering reads atomics) and checks no
/// dependency, so scraping never touches Redis or Qdrant.
///
/// ```
/// use std::sync::Arc;
/// use infra_http::metrics_router;
///
/// let router: axum::Router = metrics_router("/metrics", Arc::new(|| "up 1\n".to_owned()));
/// # let _ = router;
/// ```
pub fn metrics_router<S>(path: &str, render: RenderMetrics) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    Router::new().route(
        path,
        get(move || {
            let render = Arc::clone(&render);
            async move { ([(header::CONTENT_TYPE, PROMETHEUS_TEXT)], render()).into_response() }
        }),
    )
}
