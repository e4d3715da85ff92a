//! [`RateLimitLayer`]: a tower layer that applies a [`RateLimiter`] (GCRA on Redis) per
//! client key, with the IETF rate-limit header fields.
//!
//! For each request the layer derives a key ([`default_key`]: the authenticated
//! [`Principal`] that [`authorize`](crate::auth::authorize) put in the request's
//! extensions, else the peer's IP address that [`Server`](crate::Server) records, an IPv6
//! address by its /64 network) and checks it, one Redis round trip:
//!
//! - **allowed**: the request runs, and its response carries `RateLimit-Policy` and
//!   `RateLimit` (the structured-field form of the IETF draft "RateLimit header fields for
//!   HTTP", draft-ietf-httpapi-ratelimit-headers-08 and later):
//!   `RateLimit-Policy: "default";q=100;w=60` (the quota is the limit's burst, the window
//!   the seconds a spent client takes to earn it all back) and
//!   `RateLimit: "default";r=42;t=12` (requests left now, seconds until the whole quota is
//!   back, rounded up);
//! - **refused**: `429 Too Many Requests`, a problem of kind `rate_limited`, `Retry-After`
//!   (whole seconds, rounded up: when the same request would be allowed) and the same two
//!   headers with `r=0`; counted in
//!   [`HTTP_REQUESTS_RATE_LIMITED`](infra_base::telemetry::HTTP_REQUESTS_RATE_LIMITED);
//! - **Redis failed** (down, timed out, breaker open): the configured [`FailurePolicy`].
//!   `open` lets the request through without rate-limit headers, `closed` answers the
//!   error's 503 problem (with `Retry-After`). Either way the failure is logged at `warn`
//!   and counted in
//!   [`RATE_LIMIT_FAILURES`](infra_base::telemetry::RATE_LIMIT_FAILURES) with the policy
//!   applied.
//!
//! Add it with `Router::layer` to the routes to limit (not the health routes: an
//! orchestrator's probes must not be refused). It runs inside the server's authentication,
//! so the principal is known; requests refused by authentication (401) never reach it.
//! Behind a reverse proxy every client has the proxy's address: give a
//! [key function](RateLimitLayer::key_with) that reads the address the proxy forwards,
//! from a header only that proxy can set.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::{ConnectInfo, MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use infra_base::redis::{RateLimitDecision, RateLimiter};
use infra_base::{ErrorKind, InfraError, InfraResult, REDIS_BACKEND, telemetry};
pub use infra_config::RateLimitFailure as FailurePolicy;
use tower::{Layer, Service};

use crate::auth::Principal;
use crate::error::{ApiError, Problem};

/// The `RateLimit` header (lower case, as HTTP/2 sends it).
pub const RATE_LIMIT_HEADER: HeaderName = HeaderName::from_static("ratelimit");
/// The `RateLimit-Policy` header.
pub const RATE_LIMIT_POLICY_HEADER: HeaderName = HeaderName::from_static("ratelimit-policy");

/// How a request is mapped to the key it is limited by; `None` lets it through unlimited.
pub type KeyFn = Arc<dyn Fn(&Request) -> Option<String> + Send + Sync>;

/// The key of [`RateLimitLayer`] by default: `principal:<via>:<name>` for a request
/// authenticated with a name, else `ip:<address>` of the peer (an IPv6 address as its /64
/// network, which one client typically owns whole), else `unknown` (a request that came
/// through no [`Server`](crate::Server), such as a test's `oneshot`): one shared key, so
/// that such requests are still limited.
pub fn default_key(req: &Request) -> Option<String> {
    if let Some(principal) = req.extensions().get::<Principal>()
        && !principal.name.is_empty()
    {
        return Some(format!("principal:{}:{}", principal.via, principal.name));
    }
    if let Some(ConnectInfo(peer)) = req.extensions().get::<ConnectInfo<SocketAddr>>() {
        return Some(format!("ip:{}", client_network(peer.ip())));
    }
    Some("unknown".to_owned())
}

/// An IPv4 address as is, an IPv6 address as its /64 network (`2001:db8:1:2::/64`).
fn client_network(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let network = std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
            format!("{network}/64")
        }
    }
}

struct Config {
    limiter: RateLimiter,
    name: String,
    on_failure: FailurePolicy,
    key: KeyFn,
    policy_header: HeaderValue,
}

/// The layer; see the [module docs](self).
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use axum::{Router, routing::get};
/// use infra_base::redis::{RateLimit, RateLimiter};
/// use infra_base::testing::MemoryRedis;
/// use infra_http::rate_limit::{FailurePolicy, RateLimitLayer};
///
/// let limit = RateLimit::new(100, Duration::from_mins(1))?;
/// let limiter = RateLimiter::new(Arc::new(MemoryRedis::new()), "ratelimit", limit)?;
/// let layer = RateLimitLayer::new(limiter).on_failure(FailurePolicy::Closed);
/// let api: Router = Router::new().route("/items", get(|| async { "items" })).layer(layer);
/// # Ok::<(), infra_base::InfraError>(())
/// ```
#[derive(Clone)]
pub struct RateLimitLayer {
    config: Arc<Config>,
}

impl std::fmt::Debug for RateLimitLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimitLayer")
            .field("limiter", &self.config.limiter)
            .field("name", &self.config.name)
            .field("on_failure", &self.config.on_failure)
            .finish_non_exhaustive()
    }
}

impl RateLimitLayer {
    /// Limits by `limiter`, with the policy name `default`, [`default_key`], and
    /// [`FailurePolicy::Open`].
    pub fn new(limiter: RateLimiter) -> Self {
        Self::build(
            limiter,
            "default".to_owned(),
            FailurePolicy::Open,
            Arc::new(default_key),
        )
    }

    fn build(limiter: RateLimiter, name: String, on_failure: FailurePolicy, key: KeyFn) -> Self {
        let limit = limiter.limit();
        let window = secs_up(limit.window());
        let policy = format!("\"{name}\";q={};w={window}", limit.burst());
        let policy_header =
            HeaderValue::from_str(&policy).unwrap_or_else(|_| HeaderValue::from_static(""));
        Self {
            config: Arc::new(Config {
                limiter,
                name,
                on_failure,
                key,
                policy_header,
            }),
        }
    }

    fn rebuild(self, f: impl FnOnce(&mut String, &mut FailurePolicy, &mut KeyFn)) -> Self {
        let config = &self.config;
        let (mut name, mut on_failure, mut key) = (
            config.name.clone(),
            config.on_failure,
            Arc::clone(&config.key),
        );
        f(&mut name, &mut on_failure, &mut key);
        Self::build(config.limiter.clone(), name, on_failure, key)
    }

    /// Names the policy in the headers (`"api"` in `RateLimit-Policy: "api";q=...`).
    ///
    /// # Errors
    ///
    /// [`InvalidInput`](ErrorKind::InvalidInput) unless the name is 1 to 64 ASCII letters,
    /// digits, `_`, `-` or `.` (it is sent as a structured-field string).
    pub fn named(self, name: &str) -> InfraResult<Self> {
        let valid = (1..=64).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        if !valid {
            return Err(InfraError::new(
                ErrorKind::InvalidInput,
                "http",
                "rate_limit",
                "a rate-limit policy name must be 1 to 64 ASCII letters, digits, '_', '-' or '.'",
            ));
        }
        Ok(self.rebuild(|n, _, _| name.clone_into(n)))
    }

    /// What to do when Redis cannot answer a check.
    #[must_use]
    pub fn on_failure(self, policy: FailurePolicy) -> Self {
        self.rebuild(|_, p, _| *p = policy)
    }

    /// Derives each request's key with `key` (`None`: the request is not limited).
    #[must_use]
    pub fn key_with(
        self,
        key: impl Fn(&Request) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.rebuild(|_, _, k| *k = Arc::new(key))
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimitService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimitService {
            inner,
            config: Arc::clone(&self.config),
        }
    }
}

/// The service of [`RateLimitLayer`].
#[derive(Clone)]
pub struct RateLimitService<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S> std::fmt::Debug for RateLimitService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimitService").finish_non_exhaustive()
    }
}

impl<S> Service<Request> for RateLimitService<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Response, Infallible>> + Send + 'static>,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        // The clone that was polled ready serves this request (tower's usual swap).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let config = Arc::clone(&self.config);
        Box::pin(async move {
            let Some(key) = (config.key)(&req) else {
                return inner.call(req).await;
            };
            match config.limiter.check(&key).await {
                Ok(decision) if decision.allowed => {
                    let mut response = inner.call(req).await?;
                    add_headers(&mut response, &config, &decision);
                    Ok(response)
                }
                Ok(decision) => Ok(refuse(&req, &config, &decision)),
                Err(err) => match config.on_failure {
                    FailurePolicy::Open => {
                        record_failure(&err, config.on_failure);
                        tracing::warn!(error = %err.chain(),
                            "rate-limit check failed: request let through unlimited (fail open)");
                        inner.call(req).await
                    }
                    FailurePolicy::Closed => {
                        record_failure(&err, config.on_failure);
                        // ApiError logs it once, at warn.
                        Ok(ApiError(refusal_error(err)).into_response())
                    }
                },
            }
        })
    }
}

/// Whole seconds, rounded up.
fn secs_up(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

fn add_headers(response: &mut Response, config: &Config, decision: &RateLimitDecision) {
    let state = format!(
        "\"{}\";r={};t={}",
        config.name,
        decision.remaining,
        secs_up(decision.reset)
    );
    let headers = response.headers_mut();
    headers.insert(RATE_LIMIT_POLICY_HEADER, config.policy_header.clone());
    if let Ok(value) = HeaderValue::from_str(&state) {
        headers.insert(RATE_LIMIT_HEADER, value);
    }
}

fn refuse(req: &Request, config: &Config, decision: &RateLimitDecision) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str);
    metrics::counter!(
        telemetry::HTTP_REQUESTS_RATE_LIMITED,
        telemetry::labels::HTTP_ROUTE => route.to_owned(),
    )
    .increment(1);
    tracing::debug!(route, "request refused by the rate limit");
    let wait = secs_up(decision.retry_after).max(1);
    let mut response = Problem::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        "Too many requests",
        format!("The rate limit for this client is reached; retry in {wait} s."),
    )
    .with_retry_after(decision.retry_after)
    .into_response();
    add_headers(&mut response, config, decision);
    response
}

fn record_failure(err: &InfraError, policy: FailurePolicy) {
    metrics::counter!(
        telemetry::RATE_LIMIT_FAILURES,
        telemetry::labels::FAILURE_POLICY => policy.as_str(),
        telemetry::labels::ERROR_TYPE => err.kind().as_str(),
    )
    .increment(1);
}

/// The error a fail-closed refusal answers: the check's own error when it says the
/// dependency cannot serve (503 with its `Retry-After`), else an `unavailable` one, so that
/// a refusal is never a 4xx that blames the client.
fn refusal_error(err: InfraError) -> InfraError {
    if err.kind().is_dependency_failure() {
        return err;
    }
    InfraError::new(
        ErrorKind::Unavailable,
        REDIS_BACKEND,
        "rate_limit",
        "the rate limit could not be checked",
    )
    .with_source(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_keyed_by_their_network() {
        assert_eq!(
            client_network("203.0.113.7".parse().unwrap()),
            "203.0.113.7"
        );
        assert_eq!(
            client_network("2001:db8:1:2:3:4:5:6".parse().unwrap()),
            "2001:db8:1:2::/64"
        );
        assert_eq!(
            client_network("::ffff:203.0.113.7".parse().unwrap()),
            "203.0.113.7",
            "an IPv4-mapped address is the IPv4 client"
        );
    }

    #[test]
    fn seconds_round_up() {
        assert_eq!(secs_up(Duration::ZERO), 0);
        assert_eq!(secs_up(Duration::from_millis(1)), 1);
        assert_eq!(secs_up(Duration::from_secs(2)), 2);
        assert_eq!(secs_up(Duration::from_millis(2_001)), 3);
    }
}
