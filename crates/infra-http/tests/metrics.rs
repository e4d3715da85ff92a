//! HTTP metrics by route template, and the Prometheus text endpoint.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode, header};
use axum::routing::get;
use infra_base::telemetry::{HTTP_REQUEST_DURATION, labels};
use infra_base::testing::metrics::{MetricsCapture, SampleValue};
use infra_config::HttpSettings;
use infra_http::{PROMETHEUS_TEXT, http_layers, metrics_router};
use tower::ServiceExt;

fn app() -> Router {
    let settings = HttpSettings {
        request_timeout: Duration::from_millis(50),
        ..HttpSettings::default()
    };
    let router = Router::new()
        .route("/items/{id}", get(|| async { "ok" }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        );
    http_layers(router, &settings)
}

async fn status(uri: &str) -> StatusCode {
    app()
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap()
        .status()
}

fn observations(capture: &MetricsCapture, route: &str, code: &str) -> usize {
    let samples = capture.samples();
    let sample = MetricsCapture::find(
        &samples,
        HTTP_REQUEST_DURATION,
        &[
            (labels::HTTP_METHOD, "GET"),
            (labels::HTTP_ROUTE, route),
            (labels::HTTP_STATUS, code),
        ],
    );
    match sample.map(|s| &s.value) {
        Some(SampleValue::Histogram(values)) => values.len(),
        other => panic!("no histogram for {route} {code}: {other:?} in {samples:?}"),
    }
}

#[test]
fn requests_are_recorded_by_route_template_never_by_raw_path() {
    let capture = MetricsCapture::new();
    capture.block_on(async {
        assert_eq!(status("/items/7").await, StatusCode::OK);
        assert_eq!(status("/items/8").await, StatusCode::OK);
    });
    assert_eq!(observations(&capture, "/items/{id}", "200"), 2);

    capture.block_on(async {
        assert_eq!(status("/no/such/7").await, StatusCode::NOT_FOUND);
    });
    assert_eq!(observations(&capture, "unmatched", "404"), 1);
}

#[test]
fn a_request_timeout_is_recorded_as_its_503() {
    let capture = MetricsCapture::new();
    capture.block_on(async {
        assert_eq!(status("/slow").await, StatusCode::SERVICE_UNAVAILABLE);
    });
    assert_eq!(observations(&capture, "/slow", "503"), 1);
}

#[tokio::test]
async fn the_metrics_route_serves_the_render_function_as_prometheus_text() {
    let router: Router = metrics_router("/metrics", Arc::new(|| "up 1\n".to_owned()));
    let response = router
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CONTENT_TYPE], PROMETHEUS_TEXT);
    let body = to_bytes(response.into_body(), 1024).await.unwrap();
    assert_eq!(&body[..], b"up 1\n");
}
