//! [`Server`]: bind from settings, serve with the standard layers, shut down gracefully.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::middleware::from_fn_with_state;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use infra_config::{AuthMode, HttpSettings};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::auth::{Authenticator, Guard, RoutePolicy};
use crate::middleware::{InFlight, count_in_flight, secured_layers};
use crate::state::AppState;

/// A bound HTTP server, ready to [`serve`](Server::serve).
///
/// Binding and serving are separate so that a test (or a log line) learns the address
/// before the first request: bind port 0 and read [`Server::local_addr`].
///
/// # Shutdown
///
/// When the [`Shutdown`](crate::Shutdown) switch of the served [`AppState`] is triggered
/// (by SIGTERM or Ctrl-C unless [`Server::handle_os_signals`] turned that off, or by a
/// test), in this order:
///
/// 1. `/health/ready` answers 503 at once;
/// 2. for the drain delay ([`Server::drain_delay`], default 0) the server still accepts and
///    serves everything, so load balancers that poll readiness take it out of rotation;
/// 3. it stops accepting connections, closes idle ones, and lets in-flight requests finish
///    for at most [`HttpSettings::shutdown_grace`]; requests still running then are
///    abandoned (their connections are dropped when the runtime stops);
/// 4. every component is closed ([`Components::close_all`](infra_base::Components::close_all))
///    and `serve` returns.
///
/// Each step is logged at `info`; abandoned requests at `warn`. Keep drain delay plus grace
/// below the orchestrator's kill timeout (Kubernetes: `terminationGracePeriodSeconds`, 30 s).
///
/// # Limits
///
/// Connections are served by hyper-util's HTTP/1 + HTTP/2 builder with
/// [`HttpSettings::header_read_timeout`] (an HTTP/1 client that has not sent a complete
/// request head in time is disconnected; hyper starts the same timer while a keep-alive
/// connection waits for its next request, so it is also the idle timeout) and at most
/// [`HttpSettings::max_connections`] open connections (the accept loop waits for a free slot;
/// further clients wait in the kernel's backlog). Requests are then bounded by
/// [`secured_layers`].
///
/// Every request carries its peer's address as an `axum::extract::ConnectInfo<SocketAddr>`
/// extension (what the rate limit's [`default_key`](crate::rate_limit::default_key) reads).
///
/// # Authentication
///
/// [`Server::bind`] builds the [`Authenticator`] from [`HttpSettings::auth`]; the routes'
/// scopes come from [`Server::route_policy`] (default: [`RoutePolicy::new`], health routes
/// public, everything else `admin`).
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    local_addr: SocketAddr,
    settings: HttpSettings,
    drain_delay: Duration,
    os_signals: bool,
    authenticator: Option<Authenticator>,
    policy: RoutePolicy,
}

impl Server {
    /// Binds [`HttpSettings::bind_address`] (port 0 picks a free port), logs the bound
    /// address and sets up authentication from [`HttpSettings::auth`] (a warning is logged
    /// when a non-loopback address is served without it).
    ///
    /// # Errors
    ///
    /// The address cannot be bound, or the JWT public key file cannot be used (kind
    /// `InvalidInput`).
    pub async fn bind(settings: &HttpSettings) -> io::Result<Self> {
        let authenticator = Authenticator::from_settings(&settings.auth)
            .map_err(|err| io::Error::new(io::ErrorKind::InvalidInput, err.to_string()))?;
        let address = settings.bind_address();
        let listener = TcpListener::bind(&address)
            .await
            .map_err(|err| io::Error::new(err.kind(), format!("cannot bind {address}: {err}")))?;
        let local_addr = listener.local_addr()?;
        let mode = settings.auth.effective_mode();
        tracing::info!(address = %local_addr, auth = %mode, "HTTP server bound");
        if mode == AuthMode::None && !local_addr.ip().is_loopback() {
            tracing::warn!(
                address = %local_addr,
                "authentication is off (SOCIAL_HTTP__AUTH__MODE=none) on a non-loopback \
                 address: every route is open to whoever reaches it"
            );
        }
        Ok(Self {
            listener,
            local_addr,
            settings: settings.clone(),
            drain_delay: Duration::ZERO,
            os_signals: true,
            authenticator,
            policy: RoutePolicy::new(),
        })
    }

    /// The scopes each route needs (see [`RoutePolicy`]); ignored when authentication is
    /// off.
    #[must_use]
    pub fn route_policy(mut self, policy: RoutePolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// How long the server keeps serving, with readiness at 503, after shutdown starts and
    /// before it stops accepting connections (default 0).
    #[must_use]
    pub fn drain_delay(mut self, delay: Duration) -> Self {
        self.drain_delay = delay;
        self
    }

    /// Whether `serve` triggers the shutdown on SIGTERM and Ctrl-C (default true). Tests turn
    /// it off and trigger [`AppState::shutdown`] themselves.
    #[must_use]
    pub fn handle_os_signals(mut self, enabled: bool) -> Self {
        self.os_signals = enabled;
        self
    }

    /// Serves `router` wrapped in [`secured_layers`] (authentication per
    /// [`HttpSettings::auth`] and the [route policy](Server::route_policy)) until `app`'s
    /// shutdown completes (see the [type docs](Server)), then closes `app`'s components.
    ///
    /// `router` should include the health routes (`app.health_router()`). Returns an error
    /// only if the server fails on its own; components are closed in that case too.
    pub async fn serve(self, router: Router, app: AppState) -> io::Result<()> {
        let Self {
            listener,
            local_addr,
            settings,
            drain_delay,
            os_signals,
            authenticator,
            policy,
        } = self;
        let in_flight = InFlight::default();
        let guard = authenticator.map(|authenticator| Guard::new(authenticator, policy));
        let router = secured_layers(router, &settings, guard)
            .layer(from_fn_with_state(in_flight.clone(), count_in_flight));
        let shutdown = app.shutdown().clone();
        let signals = os_signals.then(|| shutdown.trigger_on_os_signals());

        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = accept_loop(listener, router, &settings, stop_rx);
        let mut server = std::pin::pin!(server);
        tracing::info!(address = %local_addr, "HTTP server listening");

        let result = 'run: {
            tokio::select! {
                result = &mut server => break 'run result,
                () = shutdown.triggered() => {}
            }
            if !drain_delay.is_zero() {
                tracing::info!(drain_delay = %humantime::format_duration(drain_delay),
                    "draining: still serving while load balancers see readiness fail");
                tokio::select! {
                    result = &mut server => break 'run result,
                    () = tokio::time::sleep(drain_delay) => {}
                }
            }
            let grace = settings.shutdown_grace;
            tracing::info!(in_flight = in_flight.get(), grace = %humantime::format_duration(grace),
                "no longer accepting connections; waiting for in-flight requests");
            let _ = stop_tx.send(());
            if let Ok(result) = tokio::time::timeout(grace, &mut server).await {
                tracing::info!("in-flight requests finished");
                result
            } else {
                tracing::warn!(
                    abandoned = in_flight.get(),
                    "grace period over; abandoning requests still in flight"
                );
                Ok(())
            }
        };
        if let Err(err) = &result {
            tracing::error!(error = %err, "HTTP server failed");
        }
        if let Some(signals) = signals {
            signals.abort();
        }
        tracing::info!("closing components");
        app.components().close_all().await;
        tracing::info!("shutdown complete");
        result
    }
}

/// Puts the connection's peer address into every request's extensions, as axum's
/// `into_make_service_with_connect_info` does.
#[derive(Clone)]
struct WithPeer<S> {
    inner: S,
    peer: SocketAddr,
}

impl<S, B> tower::Service<axum::http::Request<B>> for WithPeer<S>
where
    S: tower::Service<axum::http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: axum::http::Request<B>) -> Self::Future {
        req.extensions_mut()
            .insert(axum::extract::ConnectInfo(self.peer));
        self.inner.call(req)
    }
}

/// Accepts connections until `stop` fires, at most `max_connections` at a time, each served
/// with the header-read timeout; then lets open connections finish their requests and close
/// (the caller bounds that wait by the grace period).
async fn accept_loop(
    listener: TcpListener,
    router: Router,
    settings: &HttpSettings,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) -> io::Result<()> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_read_timeout)
        .keep_alive(true);
    builder.http2().timer(TokioTimer::new());
    let slots = Arc::new(Semaphore::new(
        usize::try_from(settings.max_connections).unwrap_or(usize::MAX),
    ));
    let graceful = GracefulShutdown::new();
    let header_read_timeout = settings.header_read_timeout;
    let (stopping_tx, stopping_rx) = tokio::sync::watch::channel(());
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&slots).acquire_owned() => permit.map_err(io::Error::other)?,
            _ = &mut stop => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Per-connection errors (reset before accept) and resource exhaustion
                    // (EMFILE): log, pause briefly, keep serving.
                    tracing::warn!(error = %err, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut stop => break,
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(WithPeer {
            inner: router.clone(),
            peer,
        });
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let mut stopping = stopping_rx.clone();
        tokio::spawn(async move {
            let _slot = permit;
            // The auto builder reads the first bytes to tell HTTP/1 from HTTP/2 before
            // hyper's header-read timer starts, so a client that sends nothing would hold
            // its slot forever: until a first byte arrives, the same timeout applies here.
            // The watcher holds the shutdown back, so a shutdown also ends this wait.
            let mut probe = [0u8; 1];
            tokio::select! {
                peeked = tokio::time::timeout(header_read_timeout, stream.peek(&mut probe)) => {
                    match peeked {
                        Ok(Ok(read)) if read > 0 => {}
                        Ok(_) => return,
                        Err(_) => {
                            tracing::debug!(
                                "connection sent nothing within the header-read timeout; closed"
                            );
                            return;
                        }
                    }
                }
                _ = stopping.changed() => return,
            }
            let connection = builder
                .serve_connection_with_upgrades(TokioIo::new(stream), service)
                .into_owned();
            if let Err(err) = watcher.watch(connection).await {
                tracing::debug!(error = %err, "connection closed with an error");
            }
        });
    }
    drop(listener);
    stopping_tx.send_replace(());
    graceful.shutdown().await;
    Ok(())
}
