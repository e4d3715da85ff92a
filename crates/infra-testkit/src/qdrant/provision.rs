//! Which Qdrant serves the remote adapter's tier-2 suites (`docs/architecture.md`, "Two
//! test tiers and providers"), in this order:
//!
//! 1. **url**: `INFRA_TEST_QDRANT_URL` (with `INFRA_TEST_QDRANT_API_KEY` when the server
//!    needs one; `cargo xtask test-integration --qdrant-url` sets it);
//! 2. **docker**: when a Docker daemon answers, a `qdrant/qdrant` container (generic image,
//!    tag [`DOCKER_QDRANT_TAG`], the one docker-compose.yml pins) through testcontainers;
//!    if it cannot start, this says so loudly and falls back to the test server;
//! 3. **test-server**: the in-process [`QdrantTestServer`] over the store the suite gives.
//!
//! `INFRA_TEST_QDRANT_PROVIDER=url|docker|test-server` forces one (xtask sets it to the
//! provider it reported); a forced provider that cannot serve is an error, never a
//! fallback.

use std::any::Any;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::future::Future;

use infra_base::layer::{Layer, Layered, Operation};
use infra_base::{InfraResult, VectorPort};
use testcontainers_modules::testcontainers::core::{IntoContainerPort, WaitFor};
use testcontainers_modules::testcontainers::runners::AsyncRunner;
use testcontainers_modules::testcontainers::{GenericImage, ImageExt};

use super::QdrantTestServer;
use crate::error::{Error, Result};
use crate::provider::{DockerContainer, docker_available};

/// The variable naming a real Qdrant server's gRPC URL (`http://127.0.0.1:6334`).
pub const URL_ENV: &str = "INFRA_TEST_QDRANT_URL";

/// The variable holding that server's API key, when it needs one.
pub const API_KEY_ENV: &str = "INFRA_TEST_QDRANT_API_KEY";

/// The variable forcing a provider: `url`, `docker` or `test-server`.
pub const PROVIDER_ENV: &str = "INFRA_TEST_QDRANT_PROVIDER";

/// The `qdrant/qdrant` image tag used with Docker (the one docker-compose.yml pins).
pub const DOCKER_QDRANT_TAG: &str = "v1.18.2";

/// Qdrant's gRPC port inside its container.
const QDRANT_GRPC_PORT: u16 = 6334;

/// How long a new container may take to accept gRPC connections.
const DOCKER_READY_TIMEOUT: Duration = Duration::from_mins(1);

/// Where a [`QdrantProvision`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QdrantProviderKind {
    /// A real server, from [`URL_ENV`].
    Url,
    /// A real server in a `qdrant/qdrant` container started through testcontainers.
    Docker,
    /// The in-process [`QdrantTestServer`].
    TestServer,
}

impl QdrantProviderKind {
    /// `url`, `docker` or `test-server`.
    pub fn as_str(self) -> &'static str {
        match self {
            QdrantProviderKind::Url => "url",
            QdrantProviderKind::Docker => "docker",
            QdrantProviderKind::TestServer => "test-server",
        }
    }

    /// Whether this is a real Qdrant (which cannot be asked to inject faults).
    pub fn is_real_server(self) -> bool {
        !matches!(self, QdrantProviderKind::TestServer)
    }
}

impl fmt::Display for QdrantProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for QdrantProviderKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "url" => Ok(QdrantProviderKind::Url),
            "docker" => Ok(QdrantProviderKind::Docker),
            "test-server" => Ok(QdrantProviderKind::TestServer),
            other => Err(Error::new(format!(
                "{PROVIDER_ENV}={other:?} is not a provider: use url, docker or test-server"
            ))),
        }
    }
}

/// A Qdrant server for a test: its URL, API key, and what keeps it running (the test server
/// or the container) for as long as the provision lives.
pub struct QdrantProvision {
    kind: QdrantProviderKind,
    url: String,
    api_key: Option<String>,
    server: Option<QdrantTestServer>,
    _container: Option<DockerContainer>,
}

impl fmt::Debug for QdrantProvision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QdrantProvision")
            .field("kind", &self.kind)
            .field("url", &self.url)
            .field("api_key", &self.api_key.as_ref().map(|_| "[REDACTED]"))
            .finish_non_exhaustive()
    }
}

impl QdrantProvision {
    /// Provides a Qdrant, in this order: the server named by [`URL_ENV`] (with
    /// [`API_KEY_ENV`]); a `qdrant/qdrant:`[`DOCKER_QDRANT_TAG`] container when a Docker
    /// daemon answers (falling back, loudly, when it cannot start); else the in-process
    /// test server over `store()` (not called otherwise). [`PROVIDER_ENV`] forces one of
    /// them, with no fallback.
    ///
    /// # Errors
    ///
    /// A forced provider cannot serve, the URL is empty, or the test server cannot bind.
    pub async fn acquire<F>(store: impl FnOnce() -> F) -> Result<Self>
    where
        F: Future<Output = Arc<dyn VectorPort>>,
    {
        let non_empty = |name| {
            std::env::var(name)
                .ok()
                .filter(|v: &String| !v.trim().is_empty())
        };
        let forced = non_empty(PROVIDER_ENV)
            .map(|v| v.parse::<QdrantProviderKind>())
            .transpose()?;
        let url = non_empty(URL_ENV);
        match (forced, url) {
            (Some(QdrantProviderKind::Url) | None, Some(url)) => Ok(Self {
                kind: QdrantProviderKind::Url,
                url: url.trim().to_owned(),
                api_key: non_empty(API_KEY_ENV),
                server: None,
                _container: None,
            }),
            (Some(QdrantProviderKind::Url), None) => Err(Error::new(format!(
                "{PROVIDER_ENV}=url but {URL_ENV} is not set"
            ))),
            (Some(QdrantProviderKind::Docker), _) => {
                if !docker_available().await {
                    return Err(Error::new(format!(
                        "{PROVIDER_ENV}=docker but no Docker daemon answers `docker info`"
                    )));
                }
                from_docker().await
            }
            (Some(QdrantProviderKind::TestServer), _) => from_test_server(store).await,
            (None, None) => {
                if docker_available().await {
                    match from_docker().await {
                        Ok(provision) => return Ok(provision),
                        Err(err) => eprintln!(
                            "qdrant provider: WARNING: Docker answers but the Qdrant container \
                             did not start ({err}); falling back to the in-process test server"
                        ),
                    }
                }
                from_test_server(store).await
            }
        }
    }

    /// Where the server came from.
    pub fn kind(&self) -> QdrantProviderKind {
        self.kind
    }

    /// Its gRPC URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Its API key, if it needs one.
    pub fn api_key(&self) -> Option<&str> {
        self.api_key.as_deref()
    }

    /// The test server, when it is one (for fault injection).
    pub fn server(&self) -> Option<&QdrantTestServer> {
        self.server.as_ref()
    }

    /// One line saying which server this is, for test output (never the key).
    pub fn describe(&self) -> String {
        match self.kind {
            QdrantProviderKind::Url => format!(
                "qdrant provider: {URL_ENV} ({}){}",
                self.url,
                if self.api_key.is_some() {
                    ", with API key"
                } else {
                    ""
                }
            ),
            QdrantProviderKind::Docker => format!(
                "qdrant provider: docker qdrant/qdrant:{DOCKER_QDRANT_TAG} at {}",
                self.url
            ),
            QdrantProviderKind::TestServer => format!(
                "qdrant provider: in-process gRPC test server at {} (no {URL_ENV}, no Docker)",
                self.url
            ),
        }
    }
}

async fn from_test_server<F>(store: impl FnOnce() -> F) -> Result<QdrantProvision>
where
    F: Future<Output = Arc<dyn VectorPort>>,
{
    let server = QdrantTestServer::start(store().await).await?;
    Ok(QdrantProvision {
        kind: QdrantProviderKind::TestServer,
        url: server.url(),
        api_key: None,
        server: Some(server),
        _container: None,
    })
}

async fn from_docker() -> Result<QdrantProvision> {
    let container = GenericImage::new("qdrant/qdrant", DOCKER_QDRANT_TAG)
        .with_exposed_port(QDRANT_GRPC_PORT.tcp())
        .with_wait_for(WaitFor::message_on_either_std("gRPC listening"))
        .with_startup_timeout(DOCKER_READY_TIMEOUT)
        .start()
        .await
        .map_err(|e| {
            Error::new(format!(
                "cannot start qdrant/qdrant:{DOCKER_QDRANT_TAG}: {e}"
            ))
        })?;
    let (container, addr) = DockerContainer::adopt(container, QDRANT_GRPC_PORT.tcp()).await?;
    wait_for_tcp(&addr, DOCKER_READY_TIMEOUT).await?;
    Ok(QdrantProvision {
        kind: QdrantProviderKind::Docker,
        url: format!("http://{addr}"),
        api_key: None,
        server: None,
        _container: Some(container),
    })
}

/// Waits until `addr` accepts TCP connections: the log line can precede the listener.
async fn wait_for_tcp(addr: &str, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        match tokio::net::TcpStream::connect(addr).await {
            Ok(_) => return Ok(()),
            Err(err) if Instant::now() >= deadline => {
                return Err(Error::new(format!(
                    "the Qdrant container at {addr} accepted no connection within {timeout:?}: {err}"
                )));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// `port`, keeping `guard` (a test server, a provision) alive for as long as the port is:
/// for factories that must return only a port, such as the conformance macros'.
pub fn keep_alive(port: Arc<dyn VectorPort>, guard: impl Any + Send + Sync) -> Arc<dyn VectorPort> {
    Arc::new(Layered::new(port, KeepAlive(Box::new(guard))))
}

/// A layer that changes no call and holds a value for as long as the port lives.
struct KeepAlive(#[allow(dead_code)] Box<dyn Any + Send + Sync>);

impl Layer for KeepAlive {
    fn around<'a, T, F, Fut>(
        &'a self,
        _op: &'static Operation,
        call: F,
    ) -> impl Future<Output = InfraResult<T>> + Send + 'a
    where
        T: Send + 'a,
        F: Fn() -> Fut + Send + Sync + 'a,
        Fut: Future<Output = InfraResult<T>> + Send + 'a,
    {
        call()
    }
}
