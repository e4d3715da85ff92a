//! [`InfraError`] and request rejections -> RFC 9457 `application/problem+json`, in one place.
//!
//! | kind | status | `Retry-After` when the error suggests none |
//! |------|--------|------------------------------------------|
//! | `unavailable`, `timeout`, `pool_exhausted`, `circuit_open` | 503 | 1 s |
//! | `auth` | 503 | 30 s (someone must fix the credentials) |
//! | `not_configured` | 503 | 60 s (only a redeploy changes it) |
//! | `invalid_input` | 422 | - |
//! | `not_found` | 404 | - |
//! | `conflict` | 409 | - |
//! | `unsupported` | 501 | - |
//! | `internal` and any future kind | 500 | - |
//!
//! An error's own [`InfraError::retry_after`] (the circuit breaker sets the time left open)
//! wins over the default, rounded up to whole seconds, at least 1.
//!
//! `unsupported` is 501 Not Implemented: the backend behind the service cannot do what was
//! asked whatever the request's form (for example sharding on the embedded vector store), a
//! deployment matter rather than a client error, so it is a 5xx and logged as an error, but
//! not 503: waiting does not help, so no `Retry-After`.
//!
//! `invalid_input` is 422 rather than 400 so that it agrees with axum's own split: a body that
//! is not JSON at all is 400 (`bad_request`), JSON that does not fit the expected type is 422.
//!
//! The `type` member is `https://errors.social.invalid/<kind>` ([`PROBLEM_TYPE_BASE`]): a
//! stable identifier (the `.invalid` TLD never resolves), so clients can switch on it or on
//! the `kind` extension member. Bodies always have the same members:
//!
//! ```json
//! {
//!   "type": "https://errors.social.invalid/unavailable",
//!   "title": "Dependency unavailable",
//!   "status": 503,
//!   "detail": "redis: connection refused",
//!   "kind": "unavailable",
//!   "backend": "redis"
//! }
//! ```
//!
//! `detail` is [`InfraError::message`], which adapters keep free of secrets, and never the
//! source chain; for `internal` errors it is a generic sentence. Errors raised by the HTTP
//! layer itself (rejections, the request timeout, unknown routes) use the backend `"http"`.

use std::borrow::Cow;
use std::time::Duration;

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use infra_base::{ErrorKind, InfraError};
use serde::Serialize;

/// Media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Prefix of every problem `type`: the kind's name follows it.
pub const PROBLEM_TYPE_BASE: &str = "https://errors.social.invalid/";

/// The backend named by problems that the HTTP layer raises itself.
pub const HTTP_BACKEND: &str = "http";

/// The detail of every 500 answer: internal errors are logged, never shown.
pub const INTERNAL_DETAIL: &str =
    "An internal error occurred; the x-request-id response header identifies it in the logs.";

/// The HTTP status for an error kind (see the [module docs](self) for the table).
pub fn status_for(kind: ErrorKind) -> StatusCode {
    if kind.is_dependency_failure() {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    match kind {
        ErrorKind::InvalidInput => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::Unsupported => StatusCode::NOT_IMPLEMENTED,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The `Retry-After` sent for a 503 of `kind` when the error does not suggest one; `None`
/// for kinds that are not answered with 503.
pub fn default_retry_after(kind: ErrorKind) -> Option<Duration> {
    if !kind.is_dependency_failure() {
        return None;
    }
    Some(match kind {
        ErrorKind::NotConfigured => Duration::from_mins(1),
        ErrorKind::Auth => Duration::from_secs(30),
        _ => Duration::from_secs(1),
    })
}

/// The `Retry-After` sent for `err`: its own suggestion, else [`default_retry_after`]; `None`
/// when its status is not 503.
pub fn retry_after_for(err: &InfraError) -> Option<Duration> {
    if status_for(err.kind()) != StatusCode::SERVICE_UNAVAILABLE {
        return None;
    }
    err.retry_after()
        .or_else(|| default_retry_after(err.kind()))
}

fn title_for(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Unavailable => "Dependency unavailable",
        ErrorKind::Timeout => "Dependency timed out",
        ErrorKind::PoolExhausted => "Dependency overloaded",
        ErrorKind::CircuitOpen => "Dependency temporarily disabled",
        ErrorKind::NotConfigured => "Dependency not configured",
        ErrorKind::Auth => "Dependency refused the service's credentials",
        ErrorKind::InvalidInput => "Invalid input",
        ErrorKind::NotFound => "Not found",
        ErrorKind::Conflict => "Conflict",
        ErrorKind::Unsupported => "Not supported by this backend",
        _ => "Internal error",
    }
}

/// Whole seconds, rounded up, at least 1: the `Retry-After` header's unit.
fn retry_after_secs(after: Duration) -> u64 {
    let secs = after.as_secs() + u64::from(after.subsec_nanos() > 0);
    secs.max(1)
}

/// An RFC 9457 problem: the body and headers of every error response.
///
/// Build one with [`Problem::new`] for errors of your own, or get one from an [`InfraError`]
/// ([`Problem::from_infra`]) or an axum rejection (`From<JsonRejection>` and friends).
/// Converting a `Problem` into a response logs nothing; [`ApiError`] logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    status: StatusCode,
    kind: Cow<'static, str>,
    title: Cow<'static, str>,
    detail: String,
    backend: Cow<'static, str>,
    retry_after: Option<Duration>,
}

#[derive(Serialize)]
struct ProblemBody<'a> {
    #[serde(rename = "type")]
    type_uri: String,
    title: &'a str,
    status: u16,
    detail: &'a str,
    kind: &'a str,
    backend: &'a str,
}

impl Problem {
    /// A problem with `status`, a snake_case `kind` (also the last segment of `type`), a
    /// short `title` and a client-safe `detail`, raised by the HTTP layer (backend `"http"`).
    pub fn new(
        status: StatusCode,
        kind: impl Into<Cow<'static, str>>,
        title: impl Into<Cow<'static, str>>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            kind: kind.into(),
            title: title.into(),
            detail: detail.into(),
            backend: Cow::Borrowed(HTTP_BACKEND),
            retry_after: None,
        }
    }

    /// A problem for `status` alone: kind, title and detail derived from its reason phrase
    /// (`413` -> kind `payload_too_large`; 422 and 500 use the kinds `invalid_input` and
    /// `internal`, and 500 the generic [`INTERNAL_DETAIL`]).
    pub fn from_status(status: StatusCode) -> Self {
        let reason = status.canonical_reason().unwrap_or("Error");
        let kind = match status {
            StatusCode::UNPROCESSABLE_ENTITY => ErrorKind::InvalidInput.as_str().to_owned(),
            StatusCode::INTERNAL_SERVER_ERROR => ErrorKind::Internal.as_str().to_owned(),
            _ => reason
                .chars()
                .filter_map(|c| match c {
                    ' ' | '-' => Some('_'),
                    c if c.is_ascii_alphanumeric() => Some(c.to_ascii_lowercase()),
                    _ => None,
                })
                .collect(),
        };
        let detail = if status == StatusCode::INTERNAL_SERVER_ERROR {
            INTERNAL_DETAIL.to_owned()
        } else {
            reason.to_owned()
        };
        Self::new(status, kind, reason, detail)
    }

    /// The problem for `err`: status per kind, `Retry-After` on 503, client-safe detail.
    pub fn from_infra(err: &InfraError) -> Self {
        let kind = err.kind();
        let status = status_for(kind);
        let detail = if status == StatusCode::INTERNAL_SERVER_ERROR {
            INTERNAL_DETAIL.to_owned()
        } else {
            err.message().to_owned()
        };
        Self {
            status,
            kind: Cow::Borrowed(kind.as_str()),
            title: Cow::Borrowed(title_for(kind)),
            detail,
            backend: Cow::Borrowed(err.backend()),
            retry_after: retry_after_for(err),
        }
    }

    /// Names the backend the problem came from (default `"http"`).
    #[must_use]
    pub fn with_backend(mut self, backend: impl Into<Cow<'static, str>>) -> Self {
        self.backend = backend.into();
        self
    }

    /// Replaces the client-safe `detail` member.
    #[must_use]
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = detail.into();
        self
    }

    /// Sends `Retry-After` (rounded up to whole seconds, at least 1).
    #[must_use]
    pub fn with_retry_after(mut self, after: Duration) -> Self {
        self.retry_after = Some(after);
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The snake_case kind (the `kind` member).
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The `title` member.
    pub fn title(&self) -> &str {
        &self.title
    }

    /// The client-safe `detail` member.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// The `backend` member.
    pub fn backend(&self) -> &str {
        &self.backend
    }

    /// The `type` member: [`PROBLEM_TYPE_BASE`] followed by the kind.
    pub fn type_uri(&self) -> String {
        format!("{PROBLEM_TYPE_BASE}{}", self.kind)
    }

    /// The `Retry-After` value in seconds, if one is sent.
    pub fn retry_after_secs(&self) -> Option<u64> {
        self.retry_after.map(retry_after_secs)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = ProblemBody {
            type_uri: self.type_uri(),
            title: &self.title,
            status: self.status.as_u16(),
            detail: &self.detail,
            kind: &self.kind,
            backend: &self.backend,
        };
        let bytes = serde_json::to_vec(&body).unwrap_or_else(|_| b"{}".to_vec());
        let mut response = (self.status, bytes).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(secs) = self.retry_after_secs() {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

macro_rules! problem_from_rejection {
    ($($rejection:ty),+) => {$(
        impl From<$rejection> for Problem {
            fn from(rejection: $rejection) -> Self {
                let problem = Problem::from_status(rejection.status());
                let detail = rejection.body_text();
                tracing::debug!(status = problem.status.as_u16(), kind = %problem.kind,
                    detail = %detail, "request rejected");
                problem.with_detail(detail)
            }
        }
    )+};
}

problem_from_rejection!(JsonRejection, PathRejection, QueryRejection);

/// An [`InfraError`] on its way to becoming an HTTP response: return it from handlers.
///
/// `?` converts any `InfraError` into it. Turning it into a response logs the error once,
/// with its full source chain ([`InfraError::chain`]): at `warn` for 503, `error` for 500
/// and `debug` for 4xx. The body is [`Problem::from_infra`].
///
/// ```
/// use axum::{Router, routing::get};
/// use infra_base::BaseService;
/// use infra_http::ApiError;
///
/// async fn cached(service: BaseService) -> Result<String, ApiError> {
///     let redis = service.require_redis()?; // NotConfigured -> 503 + Retry-After
///     let _ = redis;
///     Ok("ok".to_owned())
/// }
///
/// let service = BaseService::new("demo");
/// let app: Router = Router::new().route("/cached", get(move || cached(service.clone())));
/// # let _ = app;
/// ```
#[derive(Debug)]
pub struct ApiError(pub InfraError);

impl ApiError {
    /// The wrapped error.
    pub fn inner(&self) -> &InfraError {
        &self.0
    }

    /// The status this error is answered with.
    pub fn status(&self) -> StatusCode {
        status_for(self.0.kind())
    }
}

impl From<InfraError> for ApiError {
    fn from(err: InfraError) -> Self {
        Self(err)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for ApiError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let err = &self.0;
        let problem = Problem::from_infra(err);
        let status = problem.status.as_u16();
        let (kind, backend, operation, chain) = (
            err.kind().as_str(),
            err.backend(),
            err.operation(),
            err.chain(),
        );
        if problem.status.is_server_error() && problem.status != StatusCode::SERVICE_UNAVAILABLE {
            tracing::error!(status, kind, backend, operation, error = %chain, "request failed");
        } else if problem.status.is_server_error() {
            tracing::warn!(status, kind, backend, operation, error = %chain,
                "request failed: dependency cannot serve");
        } else {
            tracing::debug!(status, kind, backend, operation, error = %chain, "request refused");
        }
        problem.into_response()
    }
}
