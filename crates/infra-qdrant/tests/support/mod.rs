//! Shared helpers of the integration tests: settings for a URL, and test servers.
#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;
use std::time::Duration;

use infra_base::VectorPort;
use infra_config::{QdrantMode, QdrantSettings, Secret, SecretUrl};
use infra_qdrant_edge::{EdgeStoreOptions, EdgeVectorStore};
use infra_testkit::qdrant::QdrantTestServer;

/// Remote settings for `url`, with a 5 s request timeout.
pub fn settings(url: &str, api_key: Option<&str>) -> QdrantSettings {
    QdrantSettings {
        mode: QdrantMode::Remote,
        url: Some(SecretUrl::parse(url).expect("a valid test URL")),
        api_key: api_key.map(Secret::new),
        timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(2),
        ..QdrantSettings::default()
    }
}

/// A fresh embedded store (qdrant-edge) in its own temporary directory: the engine behind
/// the test server, so that the remote adapter is checked against Qdrant's own semantics.
pub async fn store() -> Arc<dyn VectorPort> {
    let store = EdgeVectorStore::temporary(EdgeStoreOptions::default())
        .await
        .expect("the embedded store must open");
    Arc::new(store)
}

/// A plain test server over a fresh embedded store.
pub async fn server() -> QdrantTestServer {
    QdrantTestServer::start(store().await)
        .await
        .expect("the Qdrant test server must start")
}
