//! [`Shutdown`]: the one switch that starts a graceful shutdown.

use std::sync::Arc;

use tokio::sync::watch;

/// A cloneable switch shared by the server, the readiness route and whoever stops the
/// service: an OS signal (see [`Shutdown::trigger_on_os_signals`]) or a test.
///
/// Once triggered it stays triggered: `/health/ready` answers 503 from that moment.
///
/// ```
/// use infra_http::Shutdown;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let shutdown = Shutdown::new();
/// let waiter = shutdown.clone();
/// let task = tokio::spawn(async move { waiter.triggered().await });
/// shutdown.trigger();
/// task.await.unwrap();
/// assert!(shutdown.is_triggered());
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct Shutdown {
    tx: Arc<watch::Sender<bool>>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl Shutdown {
    /// A switch that has not been triggered.
    pub fn new() -> Self {
        Self {
            tx: Arc::new(watch::Sender::new(false)),
        }
    }

    /// Starts the shutdown (idempotent): readiness turns 503 and the server begins to drain.
    pub fn trigger(&self) {
        if !self.tx.send_replace(true) {
            tracing::info!("shutdown started: readiness now answers 503");
        }
    }

    /// Whether the shutdown has started.
    pub fn is_triggered(&self) -> bool {
        *self.tx.borrow()
    }

    /// Resolves once the shutdown has started (at once if it already has).
    pub async fn triggered(&self) {
        let mut rx = self.tx.subscribe();
        // The sender lives in `self`, so the channel cannot close while we wait.
        let _ = rx.wait_for(|triggered| *triggered).await;
    }

    /// Spawns a task that triggers this switch on Ctrl-C (SIGINT) or, on Unix, SIGTERM.
    ///
    /// Must be called within a tokio runtime. Installing the handlers replaces the default
    /// behaviour of those signals (terminating the process) for the rest of its life.
    pub fn trigger_on_os_signals(&self) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            let name = tokio::select! {
                name = wait_for_os_signal() => name,
                () = this.triggered() => return,
            };
            tracing::info!(signal = name, "shutdown signal received");
            this.trigger();
        })
    }
}

#[cfg(unix)]
async fn wait_for_os_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(term) => term,
        Err(err) => {
            tracing::warn!(error = %err, "cannot listen for SIGTERM; only Ctrl-C stops the service gracefully");
            return ctrl_c().await;
        }
    };
    tokio::select! {
        name = ctrl_c() => name,
        _ = term.recv() => "SIGTERM",
    }
}

#[cfg(not(unix))]
async fn wait_for_os_signal() -> &'static str {
    ctrl_c().await
}

async fn ctrl_c() -> &'static str {
    match tokio::signal::ctrl_c().await {
        Ok(()) => "SIGINT",
        Err(err) => {
            tracing::warn!(error = %err, "cannot listen for Ctrl-C");
            std::future::pending().await
        }
    }
}
