//! Which Qdrant serves the remote adapter's tests: a real server given by URL, or the
//! in-process test server.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use infra_base::{
    CollectionInfo, CollectionSpec, EnsureOutcome, Filter, InfraResult, Point, PointId, Record,
    ScoredPoint, SearchQuery, VectorPort,
};

use super::QdrantTestServer;
use crate::error::Result;

/// The variable naming a real Qdrant server's gRPC URL (`http://127.0.0.1:6334`).
pub const URL_ENV: &str = "INFRA_TEST_QDRANT_URL";

/// The variable holding that server's API key, when it needs one.
pub const API_KEY_ENV: &str = "INFRA_TEST_QDRANT_API_KEY";

/// Where a [`QdrantProvision`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QdrantProviderKind {
    /// A real server, from [`URL_ENV`].
    Url,
    /// The in-process [`QdrantTestServer`].
    TestServer,
}

/// A Qdrant server for a test: its URL, API key, and the test server when it is one (kept
/// alive as long as the provision).
pub struct QdrantProvision {
    kind: QdrantProviderKind,
    url: String,
    api_key: Option<String>,
    server: Option<QdrantTestServer>,
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
    /// The server named by [`URL_ENV`] (with [`API_KEY_ENV`]) when it is set and not
    /// empty; otherwise a new test server backed by `store()`, with no key.
    pub async fn from_env_or_test_server(
        store: impl FnOnce() -> Arc<dyn VectorPort>,
    ) -> Result<Self> {
        let non_empty = |name| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        if let Some(url) = non_empty(URL_ENV) {
            return Ok(Self {
                kind: QdrantProviderKind::Url,
                url: url.trim().to_owned(),
                api_key: non_empty(API_KEY_ENV),
                server: None,
            });
        }
        let server = QdrantTestServer::start(store()).await?;
        Ok(Self {
            kind: QdrantProviderKind::TestServer,
            url: server.url(),
            api_key: None,
            server: Some(server),
        })
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
            QdrantProviderKind::TestServer => format!(
                "qdrant provider: in-process gRPC test server at {} ({URL_ENV} not set)",
                self.url
            ),
        }
    }
}

/// `port`, keeping `guard` (a test server, a provision) alive for as long as the port is:
/// for factories that must return only a port, such as the conformance macros'.
pub fn keep_alive(port: Arc<dyn VectorPort>, guard: impl Any + Send + Sync) -> Arc<dyn VectorPort> {
    Arc::new(KeepAlive {
        port,
        _guard: Box::new(guard),
    })
}

struct KeepAlive {
    port: Arc<dyn VectorPort>,
    _guard: Box<dyn Any + Send + Sync>,
}

#[async_trait]
impl VectorPort for KeepAlive {
    async fn ping(&self) -> InfraResult<()> {
        self.port.ping().await
    }

    async fn ensure_collection(&self, spec: &CollectionSpec) -> InfraResult<EnsureOutcome> {
        self.port.ensure_collection(spec).await
    }

    async fn collection_info(&self, name: &str) -> InfraResult<CollectionInfo> {
        self.port.collection_info(name).await
    }

    async fn delete_collection(&self, name: &str) -> InfraResult<bool> {
        self.port.delete_collection(name).await
    }

    async fn upsert(&self, collection: &str, points: Vec<Point>) -> InfraResult<()> {
        self.port.upsert(collection, points).await
    }

    async fn get(
        &self,
        collection: &str,
        ids: &[PointId],
        with_vector: bool,
    ) -> InfraResult<Vec<Record>> {
        self.port.get(collection, ids, with_vector).await
    }

    async fn delete(&self, collection: &str, ids: &[PointId]) -> InfraResult<()> {
        self.port.delete(collection, ids).await
    }

    async fn search(&self, collection: &str, query: &SearchQuery) -> InfraResult<Vec<ScoredPoint>> {
        self.port.search(collection, query).await
    }

    async fn count(&self, collection: &str, filter: &Filter) -> InfraResult<u64> {
        self.port.count(collection, filter).await
    }
}
