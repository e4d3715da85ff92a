//! The reference service of the Redis + Qdrant base layer: a vector catalog over HTTP.
//!
//! `cargo run -p infra-server` needs nothing but Rust: vectors live in the embedded store
//! (`./data/qdrant`), and Redis, expected at `redis://127.0.0.1:6379`, is optional (not
//! critical): without it searches are answered uncached (`x-cache: bypass`) and health
//! reports `warn`. With `docker compose up -d` and the keys of `.env.example`, the same
//! binary uses the real Redis and a remote Qdrant (`SOCIAL_QDRANT__MODE=remote`).
//!
//! Use it as the service to run (`cargo run -p infra-server`), as the worked example of a
//! service on the base layer (composition root, domain service on ports, HTTP), and in
//! tests and benches that need the whole service in process:
//!
//! ```no_run
//! use infra_config::SettingsLoader;
//! use infra_server::Application;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let settings = SettingsLoader::from_pairs([
//!     ("SOCIAL_HTTP__PORT", "0"), // any free port
//!     ("SOCIAL_QDRANT__PATH", "./data/qdrant"),
//! ])
//! .load()?;
//! // Binds, wires the adapters and initializes them; then serves until shut down.
//! let app = Application::build(&settings).await?.handle_os_signals(false);
//! println!("listening on {}", app.local_addr());
//! let shutdown = app.shutdown();
//! let server = tokio::spawn(app.run_until_stopped());
//! shutdown.trigger(); // readiness 503, in-flight requests finish, components close
//! server.await??;
//! # Ok(()) }
//! ```
//!
//! # Layout
//!
//! - [`cli`]: the thin command line (`serve`, `check`, `config`), called by `main`;
//! - [`app`]: [`Application::build`] binds the address (port 0 in tests), wires and
//!   initializes the components and assembles the router; `run_until_stopped` serves
//!   until a graceful shutdown;
//! - [`composition`]: the composition root, the only module that names adapters:
//!   settings -> adapters -> [`BaseService`](infra_base::BaseService) +
//!   [`Components`](infra_base::Components), criticality from the settings;
//! - [`catalog`]: the service logic, built only on `BaseService` and the ports, with its
//!   Redis search cache ([`catalog::SearchCache`]: infra-base's `Cache` with single
//!   flight, a per-collection generation, invalidation after every write, including
//!   writes of unknown outcome);
//! - [`api`]: routes, handlers, request/response types, the route table;
//! - [`openapi`]: the OpenAPI 3.1 document served at `/openapi.json`;
//! - [`response`]: bounded JSON answers (`SOCIAL_HTTP__MAX_RESPONSE_BYTES`);
//! - [`check`]: `infra-server check`, direct or against a running service;
//! - [`observability`]: where logs (text or JSON) and metrics (Prometheus at
//!   `SOCIAL_METRICS__PATH`) go.
//!
//! # Configuration
//!
//! Everything comes from infra-config's `Settings` (`SOCIAL_REDIS__*`, `SOCIAL_QDRANT__*`,
//! `SOCIAL_HTTP__*`, `SOCIAL_HEALTH__*`, `SOCIAL_LOG__*`, `SOCIAL_METRICS__*`,
//! `SOCIAL_CACHE__*`; every key is listed in `docs/configuration.md`). The search cache's
//! TTL is `SOCIAL_CACHE__TTL`, and each cache call is bounded by
//! `SOCIAL_REDIS__COMMAND_TIMEOUT`.

pub mod api;
pub mod app;
pub mod catalog;
pub mod check;
pub mod cli;
pub mod composition;
mod integral;
pub mod observability;
pub mod openapi;
pub mod response;

pub use app::{Application, StartupError};
pub use catalog::{CacheStatus, CatalogService};
