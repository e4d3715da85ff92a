//! The middleware [`http_layers`] stacks around a service's router.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use infra_base::{ErrorKind, InfraError};
use infra_config::HttpSettings;
use tower::ServiceBuilder;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnRequest, DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::error::{ApiError, HTTP_BACKEND, Problem};

/// The request id header: kept when the client sends one, generated (UUID v4) otherwise,
/// and echoed in the response.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The largest error body of another layer that is read to become a problem's detail.
const MAX_REWRITTEN_BODY: usize = 4096;

/// Wraps `router` in the standard stack, outermost first:
///
/// 1. request id: `x-request-id` kept or generated;
/// 2. tracing: one span per request (`method`, `path` without the query string,
///    `request_id`), a line at `info` when the response is ready;
/// 3. the request id echoed in the response;
/// 4. error normalization: any 4xx/5xx response without a body or with a `text/plain` one
///    (axum's rejections and 404/405, the body limit's 413) becomes `application/problem+json`;
///    a 5xx detail is replaced by a generic sentence, a 503 gets `Retry-After: 1`;
/// 5. request timeout ([`HttpSettings::request_timeout`]): 503 problem of kind `timeout`,
///    backend `http`, `Retry-After: 1`;
/// 6. body limit ([`HttpSettings::body_limit`]), for every body however it is read: 413
///    problem.
///
/// [`Server::serve`](crate::Server::serve) applies it; tests that drive a router without a
/// socket can too.
pub fn http_layers(router: Router, settings: &HttpSettings) -> Router {
    let body_limit = usize::try_from(settings.body_limit).unwrap_or(usize::MAX);
    let trace = TraceLayer::new_for_http()
        .make_span_with(|req: &Request| {
            let request_id = req
                .headers()
                .get(REQUEST_ID_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id)
        })
        .on_request(DefaultOnRequest::new().level(Level::DEBUG))
        .on_response(DefaultOnResponse::new().level(Level::INFO))
        // Failures are logged where they are translated, once.
        .on_failure(());
    router.layer(DefaultBodyLimit::disable()).layer(
        ServiceBuilder::new()
            .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
            .layer(trace)
            .layer(PropagateRequestIdLayer::x_request_id())
            .layer(from_fn(normalize_errors))
            .layer(from_fn_with_state(
                settings.request_timeout,
                request_timeout,
            ))
            .layer(RequestBodyLimitLayer::new(body_limit)),
    )
}

async fn request_timeout(State(limit): State<Duration>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError(
            InfraError::new(
                ErrorKind::Timeout,
                HTTP_BACKEND,
                "request",
                format!(
                    "the request did not complete within {}",
                    humantime::format_duration(limit)
                ),
            )
            .with_retry_after(Duration::from_secs(1)),
        )
        .into_response(),
    }
}

fn needs_problem(response: &Response) -> bool {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return false;
    }
    match response.headers().get(header::CONTENT_TYPE) {
        None => true,
        Some(value) => value.to_str().is_ok_and(|t| {
            t.trim_start()
                .to_ascii_lowercase()
                .starts_with("text/plain")
        }),
    }
}

async fn normalize_errors(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    if !needs_problem(&response) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let status = parts.status;
    let mut problem = Problem::from_status(status);
    if status.is_client_error() {
        if let Ok(bytes) = axum::body::to_bytes(body, MAX_REWRITTEN_BODY).await {
            let text = String::from_utf8_lossy(&bytes);
            let text = text.trim();
            if !text.is_empty() {
                problem = problem.with_detail(text);
            }
        }
        tracing::debug!(
            status = status.as_u16(),
            kind = problem.kind(),
            detail = problem.detail(),
            "request rejected"
        );
    } else {
        tracing::error!(
            status = status.as_u16(),
            "request failed with a non-problem error response; its body is not shown"
        );
    }
    if status == StatusCode::SERVICE_UNAVAILABLE && !parts.headers.contains_key(header::RETRY_AFTER)
    {
        problem = problem.with_retry_after(Duration::from_secs(1));
    }
    // Keep the other layer's headers (`Allow` on 405, `Retry-After`, ...), not its body's.
    let (problem_parts, problem_body) = problem.into_response().into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.remove(header::TRANSFER_ENCODING);
    for (name, value) in &problem_parts.headers {
        parts.headers.insert(name.clone(), value.clone());
    }
    Response::from_parts(parts, problem_body)
}

/// Counts requests in progress, for shutdown logs.
#[derive(Debug, Clone, Default)]
pub(crate) struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    pub(crate) fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

struct InFlightGuard(Arc<AtomicUsize>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

pub(crate) async fn count_in_flight(
    State(counter): State<InFlight>,
    req: Request,
    next: Next,
) -> Response {
    counter.0.fetch_add(1, Ordering::Relaxed);
    let _guard = InFlightGuard(Arc::clone(&counter.0));
    next.run(req).await
}
