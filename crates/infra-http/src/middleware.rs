//! The middleware [`http_layers`] stacks around a service's router.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use infra_base::{ErrorKind, InfraError, telemetry};
use infra_config::HttpSettings;
use tokio::sync::Semaphore;
use tower::ServiceBuilder;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnRequest, DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::auth::{Guard, authorize};
use crate::error::{ApiError, HTTP_BACKEND, Problem};

/// The request id header: kept when the client sends one, generated (UUID v4) otherwise,
/// and echoed in the response.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The largest error body of another layer that is read to become a problem's detail.
const MAX_REWRITTEN_BODY: usize = 4096;

/// How far over the body limit a declared `Content-Length` may be for the body to be read
/// through and discarded before its 413 (1 MiB).
///
/// A server that answers before reading the whole body and then closes the connection
/// makes the kernel reset it: a client still writing the body then sees a broken
/// connection, and can lose the 413 already sent (nginx's "lingering close" exists for
/// this). Reading the rest costs network reads and no memory, bounded by this and by the
/// request timeout; a body declared larger still is refused at once and the connection
/// closed.
pub const MAX_DRAINED_EXCESS: u64 = 1024 * 1024;

/// Wraps `router` in the standard stack, outermost first:
///
/// 1. request id: a client's `x-request-id` is kept when it is at most
///    [`MAX_REQUEST_ID_LEN`] characters of `A-Z a-z 0-9 - _ . :`, and replaced by a
///    generated UUID v4 otherwise (so a log line never carries an attacker's bytes);
/// 2. tracing: one `request` span per request, named by route template (`otel.name` =
///    `"GET /collections/{name}"`; fields `method`, `route`, `request_id`; never the raw
///    path, which holds ids), a line at `info` when the response is ready; port calls
///    made while serving it are its children;
/// 3. the request id echoed in the response;
/// 4. HTTP metrics: [`HTTP_REQUEST_DURATION`](infra_base::telemetry::HTTP_REQUEST_DURATION)
///    by method, route template and status, after every layer below (a timeout's 503
///    included);
/// 5. error normalization: any 4xx/5xx response without a body or with a `text/plain` one
///    (axum's rejections and 404/405, the body limit's 413) becomes `application/problem+json`;
///    a 5xx detail is replaced by a generic sentence, a 503 gets `Retry-After: 1`;
/// 6. request timeout ([`HttpSettings::request_timeout`], or the route's own in
///    [`HttpSettings::route_timeouts`]): 503 problem of kind `timeout`, backend `http`,
///    `Retry-After: 1`;
/// 7. body limit ([`HttpSettings::body_limit`]), for every body however it is read: 413
///    problem. A body whose declared `Content-Length` is over the limit by at most
///    [`MAX_DRAINED_EXCESS`] is read through and discarded before the 413 is sent, so a
///    client still writing it reads its answer instead of a reset connection (and may
///    reuse the connection); a client that sent `Expect: 100-continue` gets the 413 at
///    once, before it sends the body.
///
/// [`Server::serve`](crate::Server::serve) applies it; tests that drive a router without a
/// socket can too.
///
/// Inside 7, [`secured_layers`] adds CORS, load shedding and authentication;
/// `http_layers` adds CORS and load shedding, and no authentication.
pub fn http_layers(router: Router, settings: &HttpSettings) -> Router {
    secured_layers(router, settings, None)
}

/// [`http_layers`] with, inside the body limit and outermost first:
///
/// - CORS ([`HttpSettings::cors`]), when origins are listed: preflights are answered here,
///   before authentication, and refusals carry CORS headers so browsers can read them;
/// - load shedding: at most [`HttpSettings::concurrency_limit`] requests run at once; one
///   more is answered at once with a 503 problem of kind `overloaded` and `Retry-After: 1`,
///   and counted in [`HTTP_REQUESTS_SHED`](telemetry::HTTP_REQUESTS_SHED). The health routes
///   are never shed, so that an orchestrator does not restart a busy instance;
/// - authentication, when `guard` is given ([`authorize`](crate::auth::authorize)).
///
/// [`Server::serve`](crate::Server::serve) applies it with the guard built from
/// [`HttpSettings::auth`] and the policy given to [`Server::route_policy`](crate::Server::route_policy).
pub fn secured_layers(router: Router, settings: &HttpSettings, guard: Option<Guard>) -> Router {
    let router = match guard {
        Some(guard) => router.layer(from_fn_with_state(guard, authorize)),
        None => router,
    };
    let limit = usize::try_from(settings.concurrency_limit).unwrap_or(usize::MAX);
    let router = router.layer(from_fn_with_state(
        Arc::new(Semaphore::new(limit)),
        shed_load,
    ));
    let router = match cors_layer(settings) {
        Some(cors) => router.layer(cors),
        None => router,
    };
    standard_layers(router, settings)
}

/// The CORS layer for the listed origins, or `None` when none are.
fn cors_layer(settings: &HttpSettings) -> Option<CorsLayer> {
    let origins: Vec<HeaderValue> = settings
        .cors
        .allowed_origins
        .iter()
        .filter_map(|origin| HeaderValue::from_str(origin).ok())
        .collect();
    if origins.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                HeaderName::from_static(REQUEST_ID_HEADER),
            ])
            .expose_headers([
                HeaderName::from_static(REQUEST_ID_HEADER),
                header::RETRY_AFTER,
                header::WWW_AUTHENTICATE,
                header::LOCATION,
            ])
            .max_age(Duration::from_mins(10)),
    )
}

/// Answers 503 `overloaded` when every permit is taken (health routes excepted).
async fn shed_load(State(permits): State<Arc<Semaphore>>, req: Request, next: Next) -> Response {
    let route = route_of(&req);
    if route.starts_with("/health/") {
        return next.run(req).await;
    }
    if let Ok(_permit) = permits.try_acquire() {
        return next.run(req).await;
    }
    metrics::counter!(
        telemetry::HTTP_REQUESTS_SHED,
        telemetry::labels::HTTP_ROUTE => route.to_owned(),
    )
    .increment(1);
    tracing::warn!(route, "request shed: concurrency limit reached");
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "overloaded",
        "Overloaded",
        "The server is serving as many requests as it allows; retry shortly.",
    )
    .with_retry_after(Duration::from_secs(1))
    .into_response()
}

/// Layers 1-7 of [`http_layers`].
fn standard_layers(router: Router, settings: &HttpSettings) -> Router {
    let body_limit = usize::try_from(settings.body_limit).unwrap_or(usize::MAX);
    let trace = TraceLayer::new_for_http()
        .make_span_with(|req: &Request| {
            let request_id = req
                .headers()
                .get(REQUEST_ID_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            let route = route_of(req);
            let method = method_label(req.method());
            tracing::info_span!(
                "request",
                otel.name = %format_args!("{method} {route}"),
                otel.kind = "server",
                method,
                route,
                request_id,
            )
        })
        .on_request(DefaultOnRequest::new().level(Level::DEBUG))
        .on_response(DefaultOnResponse::new().level(Level::INFO))
        // Failures are logged where they are translated, once.
        .on_failure(());
    router.layer(DefaultBodyLimit::disable()).layer(
        ServiceBuilder::new()
            .layer(from_fn(drop_unsafe_request_id))
            .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
            .layer(trace)
            .layer(PropagateRequestIdLayer::x_request_id())
            .layer(from_fn(record_http_metrics))
            .layer(from_fn(normalize_errors))
            .layer(from_fn_with_state(
                Arc::new(settings.clone()),
                request_timeout,
            ))
            .layer(from_fn_with_state(
                settings.body_limit,
                refuse_declared_excess,
            ))
            .layer(RequestBodyLimitLayer::new(body_limit)),
    )
}

/// The longest client-supplied request id that is kept.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// Whether a client's request id may be kept: bounded, and only characters that are safe
/// in logs, headers and JSON without escaping.
fn is_safe_request_id(id: &[u8]) -> bool {
    !id.is_empty()
        && id.len() <= MAX_REQUEST_ID_LEN
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// Removes a request id that [`is_safe_request_id`] refuses, so that the next layer
/// generates one.
async fn drop_unsafe_request_id(mut req: Request, next: Next) -> Response {
    let unsafe_id = req
        .headers()
        .get_all(REQUEST_ID_HEADER)
        .iter()
        .enumerate()
        .any(|(i, v)| i > 0 || !is_safe_request_id(v.as_bytes()));
    if unsafe_id {
        req.headers_mut().remove(REQUEST_ID_HEADER);
    }
    next.run(req).await
}

/// The route template that matched, or `unmatched`: a bounded label and span field.
fn route_of(req: &Request) -> &str {
    req.extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
}

/// The method as a bounded label: the standard methods by name, anything else `_OTHER`
/// (OpenTelemetry's convention), since a client can send any token.
fn method_label(method: &Method) -> &'static str {
    const KNOWN: [Method; 9] = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::OPTIONS,
        Method::CONNECT,
        Method::TRACE,
    ];
    KNOWN
        .iter()
        .find(|m| *m == method)
        .map_or("_OTHER", |m| match *m {
            Method::GET => "GET",
            Method::HEAD => "HEAD",
            Method::POST => "POST",
            Method::PUT => "PUT",
            Method::DELETE => "DELETE",
            Method::PATCH => "PATCH",
            Method::OPTIONS => "OPTIONS",
            Method::CONNECT => "CONNECT",
            _ => "TRACE",
        })
}

/// Records [`HTTP_REQUEST_DURATION`](telemetry::HTTP_REQUEST_DURATION) for every request.
async fn record_http_metrics(req: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let route = route_of(&req).to_owned();
    let method = method_label(req.method());
    let response = next.run(req).await;
    metrics::histogram!(
        telemetry::HTTP_REQUEST_DURATION,
        telemetry::labels::HTTP_METHOD => method,
        telemetry::labels::HTTP_ROUTE => route,
        telemetry::labels::HTTP_STATUS => response.status().as_str().to_owned(),
    )
    .record(started.elapsed().as_secs_f64());
    response
}

/// Bounds a request by its route's limit ([`HttpSettings::timeout_for`]).
async fn request_timeout(
    State(settings): State<Arc<HttpSettings>>,
    req: Request,
    next: Next,
) -> Response {
    let limit = settings.timeout_for(route_of(&req));
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

/// Refuses a body whose `Content-Length` is over `limit` with a 413 problem, after reading
/// it through when it is at most [`MAX_DRAINED_EXCESS`] over and the client is not waiting
/// for `100 Continue`. Bodies without a declared length are bounded by the body-limit layer
/// inside, as they are read.
async fn refuse_declared_excess(State(limit): State<u64>, req: Request, next: Next) -> Response {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let Some(declared) = declared.filter(|&len| len > limit) else {
        return next.run(req).await;
    };
    // A client that sent `Expect: 100-continue` waits for a go-ahead before sending the
    // body; reading it would give that go-ahead, so it gets its 413 at once instead.
    let waits_to_send = req.headers().contains_key(header::EXPECT);
    if declared - limit <= MAX_DRAINED_EXCESS && !waits_to_send {
        discard(req.into_body()).await;
    }
    Problem::from_status(StatusCode::PAYLOAD_TOO_LARGE)
        .with_detail(format!(
            "the request body is {declared} bytes; at most {limit} are accepted"
        ))
        .into_response()
}

/// Reads `body` to its end (or its first error), keeping nothing.
async fn discard(mut body: axum::body::Body) {
    use axum::body::HttpBody as _;
    while let Some(Ok(_frame)) =
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await
    {}
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
