//! InfraError and rejections -> problem+json: status, headers, body, sanitizing, logging.

mod common;

use std::time::Duration;

use axum::body::{Body, to_bytes};
use axum::extract::Path;
use axum::http::{Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use infra_base::{ErrorKind, InfraError};
use infra_config::HttpSettings;
use infra_http::error::{INTERNAL_DETAIL, PROBLEM_TYPE_BASE, default_retry_after, status_for};
use infra_http::{ApiError, PROBLEM_JSON, Problem, http_layers};
use serde_json::Value;
use tower::ServiceExt;

async fn parts(response: Response) -> (StatusCode, axum::http::HeaderMap, Value) {
    let (parts, body) = response.into_parts();
    let bytes = to_bytes(body, 64 * 1024).await.unwrap();
    let json = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)));
    (parts.status, parts.headers, json)
}

fn expected_status(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::Unavailable
        | ErrorKind::Timeout
        | ErrorKind::PoolExhausted
        | ErrorKind::CircuitOpen
        | ErrorKind::NotConfigured
        | ErrorKind::Auth => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::InvalidInput => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::Unsupported => StatusCode::NOT_IMPLEMENTED,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

#[tokio::test]
async fn every_kind_maps_to_its_status_headers_and_body() {
    for kind in ErrorKind::ALL {
        let err = InfraError::new(kind, "redis", "get", "safe message");
        let status = expected_status(kind);
        assert_eq!(status_for(kind), status, "{kind}");
        let (got, headers, body) = parts(ApiError::from(err).into_response()).await;
        assert_eq!(got, status, "{kind}");
        assert_eq!(headers[header::CONTENT_TYPE], PROBLEM_JSON, "{kind}");
        if status == StatusCode::SERVICE_UNAVAILABLE {
            let secs = default_retry_after(kind).unwrap().as_secs().to_string();
            assert_eq!(headers[header::RETRY_AFTER], secs.as_str(), "{kind}");
        } else {
            assert!(!headers.contains_key(header::RETRY_AFTER), "{kind}");
        }
        assert_eq!(body["type"], format!("{PROBLEM_TYPE_BASE}{kind}"), "{kind}");
        assert_eq!(body["status"], status.as_u16(), "{kind}");
        assert_eq!(body["kind"], kind.as_str());
        assert_eq!(body["backend"], "redis");
        assert!(
            body["title"].as_str().is_some_and(|t| !t.is_empty()),
            "{kind}"
        );
        let detail = if kind == ErrorKind::Internal {
            INTERNAL_DETAIL
        } else {
            "safe message"
        };
        assert_eq!(body["detail"], detail, "{kind}");
        assert_eq!(body.as_object().unwrap().len(), 6, "{kind}: {body}");
    }
}

#[tokio::test]
async fn retry_after_comes_from_the_error_rounded_up() {
    let err = InfraError::new(ErrorKind::CircuitOpen, "qdrant", "search", "circuit open")
        .with_retry_after(Duration::from_millis(2_300));
    let (_, headers, _) = parts(ApiError(err).into_response()).await;
    assert_eq!(headers[header::RETRY_AFTER], "3");

    let err = InfraError::new(ErrorKind::Unavailable, "qdrant", "search", "down")
        .with_retry_after(Duration::from_millis(10));
    let (_, headers, _) = parts(ApiError(err).into_response()).await;
    assert_eq!(headers[header::RETRY_AFTER], "1", "at least one second");

    // A 4xx never carries Retry-After, even when the error suggests one.
    let err = InfraError::new(ErrorKind::NotFound, "qdrant", "get", "no such collection")
        .with_retry_after(Duration::from_secs(5));
    let (_, headers, _) = parts(ApiError(err).into_response()).await;
    assert!(!headers.contains_key(header::RETRY_AFTER));
}

const MARKER: &str = "s3cr3t-MARKER-7f1e";

#[derive(Debug)]
struct Leaky;

impl std::fmt::Display for Leaky {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "connect to redis://:{MARKER}@10.0.0.7:6379 refused")
    }
}

impl std::error::Error for Leaky {}

#[tokio::test]
async fn detail_never_contains_the_source_chain() {
    for kind in ErrorKind::ALL {
        let err = InfraError::new(kind, "redis", "get", "cannot reach redis").with_source(Leaky);
        let response = ApiError(err).into_response();
        let bytes = to_bytes(response.into_body(), 64 * 1024).await.unwrap();
        let body = String::from_utf8_lossy(&bytes);
        assert!(!body.contains(MARKER), "{kind}: {body}");
        assert!(!body.contains("10.0.0.7"), "{kind}: {body}");
    }
}

#[test]
fn each_error_is_logged_once_with_its_chain_at_its_level() {
    let cases = [
        (ErrorKind::Unavailable, " WARN "),
        (ErrorKind::Internal, " ERROR "),
        (ErrorKind::InvalidInput, " DEBUG "),
        (ErrorKind::NotFound, " DEBUG "),
    ];
    for (kind, level) in cases {
        let (logs, guard) = infra_base::testing::capture_logs();
        let err = InfraError::new(kind, "redis", "get", "cannot reach redis").with_source(Leaky);
        drop(ApiError(err).into_response());
        drop(guard);
        let text = logs.text();
        let lines: Vec<_> = text.lines().filter(|l| l.contains(MARKER)).collect();
        assert_eq!(
            lines.len(),
            1,
            "{kind}: logged once with the chain:\n{text}"
        );
        assert!(lines[0].contains(level), "{kind}: {}", lines[0]);
        assert!(lines[0].contains(kind.as_str()), "{}", lines[0]);
        assert!(lines[0].contains("redis get: cannot reach redis: connect to"));
        assert_eq!(
            text.lines().count(),
            1,
            "{kind}: nothing else logged:\n{text}"
        );
    }
}

#[tokio::test]
async fn custom_problems_keep_their_fields() {
    let problem = Problem::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        "Slow down",
        "10/s",
    )
    .with_backend("redis")
    .with_retry_after(Duration::from_secs(2));
    let (status, headers, body) = parts(problem.into_response()).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(headers[header::RETRY_AFTER], "2");
    assert_eq!(body["type"], format!("{PROBLEM_TYPE_BASE}rate_limited"));
    assert_eq!(body["backend"], "redis");
    assert_eq!(body["detail"], "10/s");
}

fn app() -> Router {
    async fn echo(Json(value): Json<Value>) -> Json<Value> {
        Json(value)
    }
    async fn item(Path(id): Path<u64>) -> String {
        id.to_string()
    }
    async fn explicit(
        payload: Result<Json<Value>, axum::extract::rejection::JsonRejection>,
    ) -> Result<Json<Value>, Problem> {
        Ok(payload?)
    }
    async fn plain_500() -> impl IntoResponse {
        (StatusCode::INTERNAL_SERVER_ERROR, format!("db at {MARKER}"))
    }
    let router = Router::new()
        .route("/echo", post(echo))
        .route("/explicit", post(explicit))
        .route("/items/{id}", get(item))
        .route("/plain500", get(plain_500));
    let settings = HttpSettings {
        body_limit: 64,
        ..HttpSettings::default()
    };
    http_layers(router, &settings)
}

async fn call(request: Request<Body>) -> (StatusCode, axum::http::HeaderMap, Value) {
    parts(app().oneshot(request).await.unwrap()).await
}

fn post_json(uri: &str, content_type: Option<&str>, body: &str) -> Request<Body> {
    let mut builder = Request::post(uri);
    if let Some(ct) = content_type {
        builder = builder.header(header::CONTENT_TYPE, ct);
    }
    builder.body(Body::from(body.to_owned())).unwrap()
}

#[tokio::test]
async fn rejections_become_problems() {
    let json = Some("application/json");
    let cases = [
        (post_json("/echo", json, "{not json"), 400, "bad_request"),
        (post_json("/echo", json, "[1, 2"), 400, "bad_request"),
        (
            post_json("/echo", Some("text/plain"), "{}"),
            415,
            "unsupported_media_type",
        ),
        (
            post_json("/echo", json, &"x".repeat(100)),
            413,
            "payload_too_large",
        ),
        (
            post_json("/explicit", json, "{not json"),
            400,
            "bad_request",
        ),
        (
            post_json("/explicit", None, "{}"),
            415,
            "unsupported_media_type",
        ),
        (
            Request::get("/items/abc").body(Body::empty()).unwrap(),
            400,
            "bad_request",
        ),
        (
            Request::get("/nowhere").body(Body::empty()).unwrap(),
            404,
            "not_found",
        ),
        (
            Request::delete("/echo").body(Body::empty()).unwrap(),
            405,
            "method_not_allowed",
        ),
    ];
    for (request, status, kind) in cases {
        let what = format!("{} {}", request.method(), request.uri());
        let (got, headers, body) = call(request).await;
        assert_eq!(got.as_u16(), status, "{what}: {body}");
        assert_eq!(headers[header::CONTENT_TYPE], PROBLEM_JSON, "{what}");
        assert_eq!(body["status"], status, "{what}");
        assert_eq!(body["kind"], kind, "{what}: {body}");
        assert_eq!(body["backend"], "http", "{what}");
        assert_eq!(body["type"], format!("{PROBLEM_TYPE_BASE}{kind}"), "{what}");
        assert!(
            body["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{what}"
        );
    }
}

#[tokio::test]
async fn json_that_does_not_fit_the_type_is_422_invalid_input() {
    async fn typed(Json(_): Json<std::collections::HashMap<String, u32>>) {}
    let router = http_layers(
        Router::new().route("/typed", post(typed)),
        &HttpSettings::default(),
    );
    let request = post_json(
        "/typed",
        Some("application/json"),
        r#"{"a": "not a number"}"#,
    );
    let (status, _, body) = parts(router.oneshot(request).await.unwrap()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["kind"], "invalid_input");
    assert!(
        body["detail"].as_str().unwrap().contains("invalid type"),
        "{body}"
    );
}

#[tokio::test]
async fn method_not_allowed_keeps_its_allow_header() {
    let (_, headers, _) = call(Request::delete("/echo").body(Body::empty()).unwrap()).await;
    assert_eq!(headers[header::ALLOW], "POST");
}

#[tokio::test]
async fn plain_server_errors_are_rewritten_without_their_body() {
    let (status, headers, body) =
        call(Request::get("/plain500").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(headers[header::CONTENT_TYPE], PROBLEM_JSON);
    assert_eq!(body["detail"], INTERNAL_DETAIL);
    assert!(!body.to_string().contains(MARKER));
}

#[tokio::test]
async fn request_ids_are_generated_or_kept() {
    let response = app()
        .oneshot(Request::get("/items/7").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let generated = response.headers()["x-request-id"].to_str().unwrap();
    assert_eq!(generated.len(), 36, "a UUID: {generated}");

    let response = app()
        .oneshot(
            Request::get("/items/7")
                .header("x-request-id", "req-42")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "req-42");
}

#[tokio::test]
async fn unsafe_or_oversized_request_ids_are_replaced() {
    let too_long = "a".repeat(infra_http::MAX_REQUEST_ID_LEN + 1);
    for bad in ["has space", "quote\"d", "<script>", "", too_long.as_str()] {
        let response = app()
            .oneshot(
                Request::get("/items/7")
                    .header("x-request-id", bad)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        let id = response.headers()["x-request-id"].to_str().unwrap();
        assert_ne!(id, bad);
        assert_eq!(id.len(), 36, "replaced by a UUID: {id}");
    }
    let longest = "b".repeat(infra_http::MAX_REQUEST_ID_LEN);
    let response = app()
        .oneshot(
            Request::get("/items/7")
                .header("x-request-id", longest.as_str())
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], longest.as_str());
}
