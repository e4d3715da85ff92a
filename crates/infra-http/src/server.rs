//! [`Server`]: bind from settings, serve with the standard layers, shut down gracefully.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::middleware::from_fn_with_state;
use infra_config::HttpSettings;
use tokio::net::TcpListener;

use crate::middleware::{InFlight, count_in_flight, http_layers};
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
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    local_addr: SocketAddr,
    settings: HttpSettings,
    drain_delay: Duration,
    os_signals: bool,
}

impl Server {
    /// Binds [`HttpSettings::bind_address`] (port 0 picks a free port) and logs the bound
    /// address.
    pub async fn bind(settings: &HttpSettings) -> io::Result<Self> {
        let address = settings.bind_address();
        let listener = TcpListener::bind(&address)
            .await
            .map_err(|err| io::Error::new(err.kind(), format!("cannot bind {address}: {err}")))?;
        let local_addr = listener.local_addr()?;
        tracing::info!(address = %local_addr, "HTTP server bound");
        Ok(Self {
            listener,
            local_addr,
            settings: settings.clone(),
            drain_delay: Duration::ZERO,
            os_signals: true,
        })
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

    /// Serves `router` wrapped in [`http_layers`] until `app`'s shutdown completes (see the
    /// [type docs](Server)), then closes `app`'s components.
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
        } = self;
        let in_flight = InFlight::default();
        let router = http_layers(router, &settings)
            .layer(from_fn_with_state(in_flight.clone(), count_in_flight));
        let shutdown = app.shutdown().clone();
        let signals = os_signals.then(|| shutdown.trigger_on_os_signals());

        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = axum::serve(listener, router).with_graceful_shutdown(async move {
            let _ = stop_rx.await;
        });
        let mut server = std::pin::pin!(server.into_future());
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
