//! A user's own axum application that mounts `infra-http`'s health routes and problem
//! responses beside its own routes.
//!
//! It shows:
//!
//! 1. **Its own settings type** ([`AppSettings`], keys `NOTES_*` read by the app itself),
//!    not infra-config's `Settings`: the only infra-config type it builds is the small
//!    `HealthSettings` that the health routes take.
//! 2. **A `BaseService`** given an in-memory `RedisPort` (infra-base's `MemoryRedis`, feature
//!    `testing`), registered as a critical `Component` so readiness follows it. In
//!    production the port and component would come from `infra_redis::build`.
//! 3. **Its own router and state** ([`App`]) with `infra_http::health_router` merged in
//!    (`/health/live`, `/health/ready`, `/health/infra`), and handlers that return
//!    `Result<_, ApiError>`: any `InfraError` becomes an RFC 9457 `application/problem+json`
//!    answer (a missing note 404, an empty one 422, the store down 503 with `Retry-After`).
//!    Unknown routes answer a `Problem` too.
//! 4. **A self-check**: it serves on `127.0.0.1:0` with `axum::serve`, calls its routes and
//!    the health routes with reqwest, checks every answer, shuts down gracefully and exits
//!    0 (1 when an answer is not the expected one).
//!
//! ```sh
//! cargo run
//! NOTES_GREETING="good morning" cargo run
//! ```

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use infra_base::testing::MemoryRedis;
use infra_base::{
    BaseService, Component, Components, ErrorKind, InfraError, RedisPort, RedisPortExt, SetOptions,
};
use infra_config::HealthSettings;
use infra_http::{ApiError, AppState, PROBLEM_JSON, Problem};
use serde::Serialize;
use serde_json::Value;

/// The name of the service and of its store's component.
const SERVICE: &str = "notes";

/// The application's own configuration, read from its own keys.
#[derive(Debug, Clone)]
struct AppSettings {
    /// Where to listen (`NOTES_LISTEN`, default `127.0.0.1:0`: a free port).
    listen: SocketAddr,
    /// What `/hello` says (`NOTES_GREETING`, default `hello`).
    greeting: String,
    /// How long a health report is reused (`NOTES_HEALTH_CACHE_TTL_MS`, default 2000).
    health_cache_ttl: Duration,
    /// Time limit of one health check (`NOTES_HEALTH_CHECK_TIMEOUT_MS`, default 1000).
    health_check_timeout: Duration,
}

impl AppSettings {
    /// Reads the `NOTES_*` keys; a refused value names its key and what is accepted.
    fn from_env() -> Result<Self, String> {
        fn var(key: &str) -> Option<String> {
            std::env::var(key).ok().filter(|v| !v.trim().is_empty())
        }
        fn millis(key: &str, default: u64) -> Result<Duration, String> {
            var(key).map_or(Ok(Duration::from_millis(default)), |v| {
                v.trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|ms| (1..=60_000).contains(ms))
                    .map(Duration::from_millis)
                    .ok_or_else(|| format!("{key}: expected milliseconds, 1 to 60000"))
            })
        }
        let listen = match var("NOTES_LISTEN") {
            None => SocketAddr::from(([127, 0, 0, 1], 0)),
            Some(v) => v
                .trim()
                .parse()
                .map_err(|_| "NOTES_LISTEN: expected an address and port, e.g. 127.0.0.1:8080")?,
        };
        Ok(Self {
            listen,
            greeting: var("NOTES_GREETING").unwrap_or_else(|| "hello".to_owned()),
            health_cache_ttl: millis("NOTES_HEALTH_CACHE_TTL_MS", 2000)?,
            health_check_timeout: millis("NOTES_HEALTH_CHECK_TIMEOUT_MS", 1000)?,
        })
    }

    /// The part of infra-config that the health routes take, from the app's own values.
    fn health(&self) -> HealthSettings {
        HealthSettings {
            cache_ttl: self.health_cache_ttl,
            check_timeout: self.health_check_timeout,
            // Keys the app does not set keep infra-config's defaults.
            ..HealthSettings::default()
        }
    }
}

/// The application's own router state: infra-http's `AppState` (ports, health cache,
/// shutdown switch) beside its own values.
#[derive(Clone)]
struct App {
    infra: AppState,
    greeting: Arc<str>,
}

impl App {
    fn store(&self) -> Result<&Arc<dyn RedisPort>, ApiError> {
        // NotConfigured (503) if the composition gave no port.
        Ok(self.infra.service().require_redis()?)
    }
}

#[derive(Serialize)]
struct Hello {
    greeting: String,
    visits: i64,
}

/// `GET /hello`: the configured greeting and a visit counter kept in the store.
async fn hello(State(app): State<App>) -> Result<Json<Hello>, ApiError> {
    let visits = app.store()?.incr_by("notes:visits", 1, None).await?;
    Ok(Json(Hello {
        greeting: app.greeting.to_string(),
        visits,
    }))
}

/// `GET /notes/{id}`: a stored note, or a 404 problem.
async fn read_note(State(app): State<App>, Path(id): Path<u32>) -> Result<String, ApiError> {
    let note = app.store()?.get_string(&format!("notes:{id}")).await?;
    note.ok_or_else(|| {
        InfraError::new(
            ErrorKind::NotFound,
            SERVICE,
            "read_note",
            "no note with this id",
        )
        .into()
    })
}

/// `PUT /notes/{id}`: stores the body as the note (kept a day); an empty body is a 422.
async fn write_note(
    State(app): State<App>,
    Path(id): Path<u32>,
    body: String,
) -> Result<StatusCode, ApiError> {
    if body.trim().is_empty() {
        return Err(InfraError::new(
            ErrorKind::InvalidInput,
            SERVICE,
            "write_note",
            "a note needs some text",
        )
        .into());
    }
    let day = SetOptions::with_ttl(Duration::from_secs(86_400));
    app.store()?
        .set(&format!("notes:{id}"), body.as_bytes(), day)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The whole router: the app's routes, infra-http's health routes, a problem for the rest.
fn router(app: &App) -> Router {
    Router::new()
        .route("/hello", get(hello))
        .route("/notes/{id}", get(read_note).put(write_note))
        .with_state(app.clone())
        .merge(app.infra.health_router())
        .fallback(|| async { Problem::from_status(StatusCode::NOT_FOUND) })
}

/// An answer: status, content type and body.
struct Answer {
    status: StatusCode,
    content_type: String,
    retry_after: Option<String>,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// Checks the status, and for a problem its content type and `kind`.
    fn expect(
        &self,
        what: &str,
        status: StatusCode,
        problem_kind: Option<&str>,
    ) -> Result<(), String> {
        let mut wrong = Vec::new();
        if self.status != status {
            wrong.push(format!("status {} instead of {status}", self.status));
        }
        if let Some(kind) = problem_kind {
            if self.content_type != PROBLEM_JSON {
                wrong.push(format!(
                    "content type {} instead of {PROBLEM_JSON}",
                    self.content_type
                ));
            }
            if self.json()["kind"] != kind {
                wrong.push(format!("kind {} instead of {kind}", self.json()["kind"]));
            }
        }
        println!("  {what}: {} {}", self.status.as_u16(), self.body);
        if wrong.is_empty() {
            Ok(())
        } else {
            Err(format!("{what}: {}", wrong.join(", ")))
        }
    }
}

/// A tiny client of the running app.
struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Answer, String> {
        let response = request
            .send()
            .await
            .map_err(|e| format!("request failed: {e}"))?;
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let (content_type, retry_after) = (header("content-type"), header("retry-after"));
        Ok(Answer {
            status: response.status(),
            content_type: content_type.unwrap_or_default(),
            retry_after,
            body: response
                .text()
                .await
                .map_err(|e| format!("cannot read a body: {e}"))?,
        })
    }

    async fn get(&self, path: &str) -> Result<Answer, String> {
        self.send(self.http.get(format!("{}{path}", self.base)))
            .await
    }

    async fn put(&self, path: &str, body: &str) -> Result<Answer, String> {
        self.send(
            self.http
                .put(format!("{}{path}", self.base))
                .body(body.to_owned()),
        )
        .await
    }
}

/// Calls every route and checks the answers; `store` is the port behind the app, used to
/// take it down and bring it back.
async fn self_check(client: &Client, store: &MemoryRedis, greeting: &str) -> Result<(), String> {
    let answer = client.get("/hello").await?;
    answer.expect("GET /hello", StatusCode::OK, None)?;
    let second = client.get("/hello").await?;
    second.expect("GET /hello", StatusCode::OK, None)?;
    if answer.json()["greeting"] != greeting || second.json()["visits"] != 2 {
        return Err(format!(
            "/hello answered {} then {}",
            answer.body, second.body
        ));
    }

    client.put("/notes/1", "buy milk").await?.expect(
        "PUT /notes/1",
        StatusCode::NO_CONTENT,
        None,
    )?;
    let note = client.get("/notes/1").await?;
    note.expect("GET /notes/1", StatusCode::OK, None)?;
    if note.body != "buy milk" {
        return Err(format!("GET /notes/1 answered {:?}", note.body));
    }
    client.get("/notes/2").await?.expect(
        "GET /notes/2",
        StatusCode::NOT_FOUND,
        Some("not_found"),
    )?;
    client.put("/notes/3", " ").await?.expect(
        "PUT /notes/3 (blank)",
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("invalid_input"),
    )?;
    client.get("/no/such/route").await?.expect(
        "GET /no/such/route",
        StatusCode::NOT_FOUND,
        Some("not_found"),
    )?;
    client
        .get("/health/ready")
        .await?
        .expect("GET /health/ready", StatusCode::OK, None)?;

    println!("the store goes down (MemoryRedis::fail_with(Unavailable)):");
    store.fail_with(Some(ErrorKind::Unavailable));
    let down = client.get("/notes/1").await?;
    down.expect(
        "GET /notes/1",
        StatusCode::SERVICE_UNAVAILABLE,
        Some("unavailable"),
    )?;
    if down.retry_after.is_none() {
        return Err("a 503 problem should carry Retry-After".to_owned());
    }
    client.get("/health/ready").await?.expect(
        "GET /health/ready",
        StatusCode::SERVICE_UNAVAILABLE,
        None,
    )?;

    println!("the store is back:");
    store.fail_with(None);
    client
        .get("/health/ready")
        .await?
        .expect("GET /health/ready", StatusCode::OK, None)?;
    let infra = client.get("/health/infra").await?;
    infra.expect("GET /health/infra", StatusCode::OK, None)?;
    if !infra.body.contains(SERVICE) {
        return Err(format!("/health/infra does not report the {SERVICE} store"));
    }
    Ok(())
}

async fn run() -> Result<(), String> {
    let settings = AppSettings::from_env()?;
    // The self-check changes the store's health between two probes: have every probe run
    // the checks instead of reusing a report for the configured TTL.
    let settings = AppSettings {
        health_cache_ttl: Duration::ZERO,
        ..settings
    };

    // The composition: a port for the service, its lifecycle as a critical component.
    let store = Arc::new(MemoryRedis::new());
    let service = BaseService::new(SERVICE).with_redis(store.clone());
    let components = Components::new().with(Component::new(SERVICE, true, store.clone()));
    let infra = AppState::new(service, components, &settings.health());
    infra
        .components()
        .init_all()
        .await
        .map_err(|e| format!("start-up failed: {e}"))?;
    let app = App {
        infra: infra.clone(),
        greeting: Arc::from(settings.greeting.as_str()),
    };

    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", settings.listen))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("cannot read the bound address: {e}"))?;
    println!("{SERVICE} listening on http://{addr}");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        axum::serve(listener, router(&app))
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .into_future(),
    );

    let client = Client {
        http: reqwest::Client::new(),
        base: format!("http://{addr}"),
    };
    let checked = self_check(&client, &store, &settings.greeting).await;

    // Readiness fails first, then the server drains and the components close.
    infra.shutdown().trigger();
    let _ = stop.send(());
    let served = server.await;
    infra.components().close_all().await;
    checked?;
    match served {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("the server failed: {e}")),
        Err(e) => Err(format!("the server task failed: {e}")),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => {
            println!("custom-http: OK (own routes, health routes and problem answers as expected)");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("custom-http: FAILED: {message}");
            ExitCode::FAILURE
        }
    }
}
