//! axum building blocks for services built on `infra-base`: one error translation, cached
//! health routes, and a server with graceful shutdown.
//!
//! Use it in a service's HTTP layer: handlers return [`ApiError`] so that every port error
//! becomes the same problem response, and the binary serves through [`Server`] with the
//! health routes of [`AppState::health_router`]. It knows no adapter, so it works with any
//! composition of ports.
//!
//! - [`ApiError`] / [`Problem`]: every [`InfraError`](infra_base::InfraError) becomes an
//!   RFC 9457 `application/problem+json` response in one place ([`error`] has the table:
//!   dependency failures are 503 with `Retry-After`, `invalid_input` 422, `not_found` 404,
//!   `conflict` 409, `unsupported` 501, `internal` 500), logged once with its source chain; axum's rejections,
//!   unknown routes, the body limit and the request timeout answer in the same shape.
//! - [`HealthCache`] and [`health_router`]: `/health/live`, `/health/ready` and
//!   `/health/infra` (`application/health+json`), over checks that run in parallel, each
//!   under a timeout, cached for a TTL and shared by concurrent requests.
//! - [`Server`]: binds from [`HttpSettings`](infra_config::HttpSettings) (port 0 for tests),
//!   adds request ids, tracing, a request timeout and a body limit ([`http_layers`]), and
//!   shuts down gracefully on SIGTERM/Ctrl-C or a [`Shutdown`] trigger: readiness 503 first,
//!   in-flight requests finish within the grace period, then components close.
//! - [`auth`]: bearer authentication ([`Authenticator`]: API keys compared as SHA-256
//!   digests in constant time, JWTs HS256 / RS256 / ES256) and per-route scopes
//!   ([`RoutePolicy`], passed in by the service with [`Server::route_policy`]); 401 and 403
//!   problems with `WWW-Authenticate`. [`secured_layers`] adds it, CORS and load shedding
//!   (503 `overloaded` at [`HttpSettings::concurrency_limit`](infra_config::HttpSettings::concurrency_limit)).
//!   The server closes connections that are slow to send their headers and caps open
//!   connections. `docs/security.md` has the threat model and every limit.
//! - [`rate_limit`]: [`RateLimitLayer`], a per-client rate limit (GCRA on Redis through
//!   [`RateLimiter`](infra_base::RateLimiter)) answering 429 with `Retry-After`,
//!   `RateLimit` and `RateLimit-Policy`, with a fail-open or fail-closed policy when Redis
//!   cannot answer.
//! - [`AppState`]: the [`BaseService`](infra_base::BaseService), its
//!   [`Components`](infra_base::Components), the health cache and the shutdown switch.
//!
//! It depends on `infra-base` and `infra-config` only: adapters are registered by the
//! composition root as [`Component`](infra_base::Component)s and ports.
//!
//! ```no_run
//! use axum::{Router, extract::State, routing::get};
//! use infra_base::{BaseService, Components};
//! use infra_config::Settings;
//! use infra_http::{ApiError, AppState, Server};
//!
//! async fn hello(State(app): State<AppState>) -> Result<String, ApiError> {
//!     let _vectors = app.service().require_vector()?; // 503 problem when absent
//!     Ok("hello".to_owned())
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let settings = Settings::from_env()?;
//! // The composition root builds adapters, gives their ports to the BaseService and
//! // registers their lifecycles as components.
//! let app = AppState::new(BaseService::new("demo"), Components::new(), &settings.health);
//! app.components().init_all().await?;
//!
//! let router = Router::new()
//!     .route("/hello", get(hello))
//!     .with_state(app.clone())
//!     .merge(app.health_router());
//! let server = Server::bind(&settings.http).await?;
//! println!("listening on {}", server.local_addr());
//! server.serve(router, app).await?; // returns after SIGTERM/Ctrl-C and a clean shutdown
//! # Ok(())
//! # }
//! ```

pub mod auth;
pub mod error;
pub mod health;
mod metrics;
mod middleware;
pub mod rate_limit;
mod server;
mod shutdown;
mod state;

pub use auth::{Access, Authenticator, Guard, Principal, RoutePolicy, Scope};
pub use error::{ApiError, PROBLEM_JSON, Problem};
pub use health::{HEALTH_JSON, HealthCache, HealthReport, health_router};
pub use metrics::{PROMETHEUS_TEXT, RenderMetrics, metrics_router};
pub use middleware::{
    MAX_DRAINED_EXCESS, MAX_REQUEST_ID_LEN, REQUEST_ID_HEADER, http_layers, secured_layers,
};
pub use rate_limit::RateLimitLayer;
pub use server::Server;
pub use shutdown::Shutdown;
pub use state::AppState;
