//! A Qdrant gRPC test server: a tonic server that speaks the part of Qdrant's gRPC API the
//! remote adapter (`infra-qdrant`) uses, backed by any `Arc<dyn VectorPort>`.
//!
//! The remote adapter's suites pass the embedded adapter (`infra-qdrant-edge`), so that
//! the server answers with the Qdrant engine's own semantics;
//! [`MemoryVector`](infra_base::testing::MemoryVector) serves where the engine is not the
//! point (and keeps this crate free of qdrant-edge's build time). It implements
//! qdrant-client's generated server traits: `qdrant.Qdrant/HealthCheck`,
//! `qdrant.Collections/{Get, List, Create, Delete, CollectionExists}` and
//! `qdrant.Points/{Upsert, Get, Delete, Search, Query, Count, Scroll, SetPayload,
//! OverwritePayload, DeletePayload, ClearPayload, CreateFieldIndex, UpdateVectors}` (the
//! unnamed, named dense and named sparse vectors, `nearest` queries by `using`, the
//! tuning and sharding of `Create` passed to the store, field filters with keyword/integer/bool matches and ranges, point
//! selectors by ids or by filter, payload indexes of the port's types, reported in the
//! collection info's `payload_schema`). Every other call (`DeleteFieldIndex` too: the
//! port cannot drop an index), and
//! any option beyond that subset, answers `UNIMPLEMENTED`. Port errors become the codes and
//! texts Qdrant uses (`NOT_FOUND` "Not found: Collection `x` doesn't exist!",
//! `INVALID_ARGUMENT` "Wrong input: …", `ALREADY_EXISTS` for creating an existing
//! collection).
//!
//! It binds 127.0.0.1 on a free port, checks the `api-key` header when given one
//! (`UNAUTHENTICATED` otherwise), serves TLS when given a certificate, stops when dropped,
//! and injects faults on command: a delay before every call, `UNAVAILABLE` for every call,
//! and dropping every connection ([`stop`](QdrantTestServer::stop), then
//! [`restart`](QdrantTestServer::restart) on the same port). It is test support, not a
//! product: no persistence of its own, no cluster, no snapshots.
//!
//! ```no_run
//! # async fn demo() -> infra_testkit::Result<()> {
//! use std::sync::Arc;
//! use std::time::Duration;
//! use infra_base::testing::MemoryVector;
//! use infra_testkit::qdrant::QdrantTestServer;
//!
//! let server = QdrantTestServer::builder(Arc::new(MemoryVector::new()))
//!     .api_key("test-key")
//!     .start()
//!     .await?;
//! let url = server.url(); // http://127.0.0.1:<port>
//! server.set_delay(Some(Duration::from_secs(2))); // every call waits 2 s
//! server.set_unavailable(true); // every call answers UNAVAILABLE
//! server.clear_faults();
//! server.stop().await; // connections dropped, port closed
//! server.restart().await?; // same port
//! # let _ = url;
//! # Ok(()) }
//! ```

mod convert;
mod index;
mod provision;
mod query;
mod service;

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use infra_base::VectorPort;
use qdrant_client::qdrant::collections_server::CollectionsServer;
use qdrant_client::qdrant::points_server::PointsServer;
use qdrant_client::qdrant::qdrant_server::QdrantServer;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tonic::codec::CompressionEncoding;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Identity, Server, ServerTlsConfig};

pub use provision::{
    API_KEY_ENV, DOCKER_QDRANT_TAG, PROVIDER_ENV, QdrantProviderKind, QdrantProvision, URL_ENV,
    keep_alive,
};

use crate::error::{Error, Result};

/// The version the server reports by default: the one qdrant-client 1.20 speaks.
pub const DEFAULT_VERSION: &str = "1.20.0";

/// The title the server reports by default, Qdrant's own.
pub const DEFAULT_TITLE: &str = "qdrant - vector search engine";

/// Largest request the server decodes.
const MAX_MESSAGE: usize = 64 * 1024 * 1024;

/// How long [`QdrantTestServer::stop`] waits for connections to close before it aborts.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// The faults a server injects now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Faults {
    /// Every call waits this long before it is served (or refused).
    pub delay: Option<Duration>,
    /// Every call answers `UNAVAILABLE`.
    pub unavailable: bool,
}

/// State shared by every run of one server.
struct Shared {
    store: Arc<dyn VectorPort>,
    api_key: Option<String>,
    title: String,
    version: String,
    faults: Mutex<Faults>,
    calls: AtomicU64,
    health_checks: AtomicU64,
    operations: AtomicU64,
}

impl Shared {
    fn faults(&self) -> Faults {
        *self.faults.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Configures a [`QdrantTestServer`].
pub struct QdrantTestServerBuilder {
    store: Arc<dyn VectorPort>,
    api_key: Option<String>,
    tls: Option<(String, String)>,
    title: String,
    version: String,
}

impl fmt::Debug for QdrantTestServerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QdrantTestServerBuilder")
            .field("api_key", &self.api_key.is_some())
            .field("tls", &self.tls.is_some())
            .field("title", &self.title)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl QdrantTestServerBuilder {
    /// Requires this key in the `api-key` header of every implemented call.
    #[must_use]
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// Serves TLS with this certificate chain and private key (PEM), for example
    /// [`TestCerts::server`](crate::TestCerts::server), whose certificate is valid for
    /// `localhost` and 127.0.0.1.
    #[must_use]
    pub fn tls(mut self, cert_pem: impl Into<String>, key_pem: impl Into<String>) -> Self {
        self.tls = Some((cert_pem.into(), key_pem.into()));
        self
    }

    /// The version the health check reports (default [`DEFAULT_VERSION`]).
    #[must_use]
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }

    /// The title the health check reports (default [`DEFAULT_TITLE`]).
    #[must_use]
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = title.into();
        self
    }

    /// Binds 127.0.0.1 on a free port and serves, on the current Tokio runtime, until the
    /// server is stopped or dropped.
    pub async fn start(self) -> Result<QdrantTestServer> {
        let tls = self.tls.map(|(cert, key)| {
            ServerTlsConfig::new().identity(Identity::from_pem(cert.as_bytes(), key.as_bytes()))
        });
        let shared = Arc::new(Shared {
            store: self.store,
            api_key: self.api_key,
            title: self.title,
            version: self.version,
            faults: Mutex::default(),
            calls: AtomicU64::new(0),
            health_checks: AtomicU64::new(0),
            operations: AtomicU64::new(1),
        });
        let any_port = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        let (addr, running) = serve(&shared, any_port, tls.as_ref()).await?;
        Ok(QdrantTestServer {
            shared,
            addr,
            tls,
            running: Mutex::new(Some(running)),
        })
    }
}

/// One run of the server: how to stop it.
struct Running {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// A Qdrant gRPC server on 127.0.0.1 for tests (see the [module docs](self)).
pub struct QdrantTestServer {
    shared: Arc<Shared>,
    addr: SocketAddr,
    tls: Option<ServerTlsConfig>,
    running: Mutex<Option<Running>>,
}

impl fmt::Debug for QdrantTestServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QdrantTestServer")
            .field("addr", &self.addr)
            .field("tls", &self.tls.is_some())
            .field("running", &self.is_running())
            .field("faults", &self.faults())
            .finish_non_exhaustive()
    }
}

impl QdrantTestServer {
    /// A server backed by `store`; configure it, then [`start`](QdrantTestServerBuilder::start).
    pub fn builder(store: Arc<dyn VectorPort>) -> QdrantTestServerBuilder {
        QdrantTestServerBuilder {
            store,
            api_key: None,
            tls: None,
            title: DEFAULT_TITLE.to_owned(),
            version: DEFAULT_VERSION.to_owned(),
        }
    }

    /// A plain server (no key, no TLS) backed by `store`.
    pub async fn start(store: Arc<dyn VectorPort>) -> Result<Self> {
        Self::builder(store).start().await
    }

    /// The address it listens on (kept across restarts).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL a client connects to: `http://127.0.0.1:<port>`, or `https://` with TLS.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// The port store it serves.
    pub fn store(&self) -> &Arc<dyn VectorPort> {
        &self.shared.store
    }

    /// Whether it is serving (not stopped).
    pub fn is_running(&self) -> bool {
        self.running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }

    /// How many implemented calls arrived (including refused ones).
    pub fn calls(&self) -> u64 {
        self.shared.calls.load(Ordering::Relaxed)
    }

    /// How many `qdrant.Qdrant/HealthCheck` calls arrived (including refused ones): the
    /// dependency pings of a health endpoint, for tests and benchmarks.
    pub fn health_checks(&self) -> u64 {
        self.shared.health_checks.load(Ordering::Relaxed)
    }

    /// The faults injected now.
    pub fn faults(&self) -> Faults {
        self.shared.faults()
    }

    /// Delays every call by `delay` (`None`: no delay). A delayed call ends with
    /// `UNAVAILABLE` when the server stops meanwhile.
    pub fn set_delay(&self, delay: Option<Duration>) {
        self.update_faults(|f| f.delay = delay);
    }

    /// Makes every call answer `UNAVAILABLE` (or serve again).
    pub fn set_unavailable(&self, unavailable: bool) {
        self.update_faults(|f| f.unavailable = unavailable);
    }

    /// Removes every injected fault.
    pub fn clear_faults(&self) {
        self.update_faults(|f| *f = Faults::default());
    }

    fn update_faults(&self, change: impl FnOnce(&mut Faults)) {
        change(
            &mut self
                .shared
                .faults
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
    }

    /// Stops serving: closes the port at once, ends delayed calls with `UNAVAILABLE`, and
    /// closes every connection (waiting up to 5 s for calls in progress). Clients then see
    /// their connections dropped and new ones refused. Idempotent.
    pub async fn stop(&self) {
        let running = self
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some(mut running) = running else {
            return;
        };
        let _ = running.stop.send(true);
        if tokio::time::timeout(STOP_GRACE, &mut running.task)
            .await
            .is_err()
        {
            running.task.abort();
        }
    }

    /// Serves again on the same port, with the same store, key and faults (a no-op while
    /// running). Retries the bind for up to 5 s, in case the port is still being released.
    pub async fn restart(&self) -> Result<()> {
        if self.is_running() {
            return Ok(());
        }
        let mut attempt = 0;
        let running = loop {
            match serve(&self.shared, self.addr, self.tls.as_ref()).await {
                Ok((_, running)) => break running,
                Err(err) if attempt >= 50 => return Err(err.context("restart")),
                Err(_) => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        };
        let previous = self
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .replace(running);
        if let Some(previous) = previous {
            // Lost a race with another restart: keep one run.
            let _ = previous.stop.send(true);
            previous.task.abort();
        }
        Ok(())
    }
}

impl Drop for QdrantTestServer {
    fn drop(&mut self) {
        let running = self
            .running
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(running) = running {
            let _ = running.stop.send(true);
            running.task.abort();
        }
    }
}

/// Binds `addr` and serves the three services on it until the returned run is stopped.
async fn serve(
    shared: &Arc<Shared>,
    addr: SocketAddr,
    tls: Option<&ServerTlsConfig>,
) -> Result<(SocketAddr, Running)> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| Error::new(format!("Qdrant test server: cannot bind {addr}: {e}")))?;
    let local = listener
        .local_addr()
        .map_err(|e| Error::new(format!("Qdrant test server: no local address: {e}")))?;
    let (stop, stopped) = watch::channel(false);
    let service = Arc::new(service::Service {
        shared: Arc::clone(shared),
        stopped: stopped.clone(),
    });
    let mut builder = Server::builder();
    if let Some(tls) = tls {
        builder = builder
            .tls_config(tls.clone())
            .map_err(|e| Error::new(format!("Qdrant test server: bad TLS identity: {e}")))?;
    }
    let gzip = CompressionEncoding::Gzip;
    let router = builder
        .add_service(
            QdrantServer::from_arc(Arc::clone(&service))
                .accept_compressed(gzip)
                .send_compressed(gzip),
        )
        .add_service(
            CollectionsServer::from_arc(Arc::clone(&service))
                .accept_compressed(gzip)
                .send_compressed(gzip)
                .max_decoding_message_size(MAX_MESSAGE),
        )
        .add_service(
            PointsServer::from_arc(service)
                .accept_compressed(gzip)
                .send_compressed(gzip)
                .max_decoding_message_size(MAX_MESSAGE),
        );
    let mut signal = stopped;
    let shutdown = async move {
        let _ = signal.wait_for(|stopped| *stopped).await;
    };
    let task = tokio::spawn(async move {
        if let Err(err) = router
            .serve_with_incoming_shutdown(TcpIncoming::from(listener), shutdown)
            .await
        {
            eprintln!("Qdrant test server on {local}: {err}");
        }
    });
    Ok((local, Running { stop, task }))
}
