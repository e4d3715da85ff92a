//! Shared helpers of the integration tests: settings for a URL, and test servers.
#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;
use std::time::Duration;

use infra_base::VectorPort;
use infra_base::testing::MemoryVector;
use infra_config::{QdrantMode, QdrantSettings, Secret, SecretUrl};
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

/// A fresh in-memory store.
pub fn memory() -> Arc<dyn VectorPort> {
    Arc::new(MemoryVector::new())
}

/// A plain test server over a fresh in-memory store.
pub async fn server() -> QdrantTestServer {
    QdrantTestServer::start(memory())
        .await
        .expect("the Qdrant test server must start")
}
