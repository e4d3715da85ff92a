//! Test support: the service on port 0 with the embedded store in a temp dir, a client,
//! and small HTTP helpers.

#![allow(dead_code, unreachable_pub)]

pub mod bin;

use std::net::SocketAddr;
use std::time::Duration;

use infra_config::{Settings, SettingsLoader};
use infra_http::AppState;
use infra_server::Application;
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

/// A TCP port on 127.0.0.1 that nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().unwrap().port()
}

/// Settings for a test service: port 0, the embedded store in `dir`, Redis on a closed
/// port (absent, not critical) unless `extra` says otherwise, fast health caching.
pub fn settings(dir: &std::path::Path, extra: &[(&str, &str)]) -> Settings {
    let path = dir.join("qdrant");
    let redis_port = closed_port().to_string();
    let mut pairs: Vec<(String, String)> = vec![
        ("SOCIAL_HTTP__PORT".into(), "0".into()),
        ("SOCIAL_QDRANT__PATH".into(), path.to_str().unwrap().into()),
        ("SOCIAL_HEALTH__CACHE_TTL".into(), "100ms".into()),
    ];
    if !extra
        .iter()
        .any(|(k, _)| k.starts_with("SOCIAL_REDIS__URL") || k.starts_with("SOCIAL_REDIS__PORT"))
    {
        pairs.push(("SOCIAL_REDIS__PORT".into(), redis_port));
    }
    pairs.extend(extra.iter().map(|(k, v)| ((*k).into(), (*v).into())));
    SettingsLoader::from_pairs(pairs)
        .load()
        .expect("valid test settings")
}

/// A running service.
pub struct TestApp {
    pub addr: SocketAddr,
    pub state: AppState,
    pub client: reqwest::Client,
    pub server: tokio::task::JoinHandle<std::io::Result<()>>,
    pub dir: tempfile::TempDir,
}

impl TestApp {
    /// Starts the service with [`settings`] and `extra` keys.
    pub async fn spawn(extra: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let app = Application::build(&settings(dir.path(), extra))
            .await
            .expect("the service starts")
            .handle_os_signals(false);
        let addr = app.local_addr();
        let state = app.state().clone();
        let server = tokio::spawn(app.run_until_stopped());
        Self {
            addr,
            state,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            server,
            dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.expect("GET")
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.client
            .delete(self.url(path))
            .send()
            .await
            .expect("DELETE")
    }

    pub async fn send_json(&self, method: Method, path: &str, body: &Value) -> Response {
        self.client
            .request(method, self.url(path))
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.send_json(Method::POST, path, body).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Response {
        self.send_json(Method::PUT, path, body).await
    }

    /// Creates a collection and checks it was created.
    pub async fn create(&self, name: &str, dimension: usize, distance: &str) {
        let response = self
            .post(
                "/collections",
                &json!({ "name": name, "dimension": dimension, "distance": distance }),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED, "create {name}");
    }

    /// Upserts items and checks they were written.
    pub async fn upsert(&self, name: &str, items: Value) {
        let response = self
            .put(
                &format!("/collections/{name}/items"),
                &json!({ "items": items }),
            )
            .await;
        let status = response.status();
        let body = response.text().await.unwrap();
        assert_eq!(status, StatusCode::OK, "upsert into {name}: {body}");
    }

    /// Searches and returns the `x-cache` header and the hit ids.
    pub async fn search(&self, name: &str, body: &Value) -> (String, Vec<Value>) {
        let response = self
            .post(&format!("/collections/{name}/search"), body)
            .await;
        assert_eq!(response.status(), StatusCode::OK, "search {name}");
        let cache = header(&response, "x-cache");
        let json: Value = response.json().await.unwrap();
        let ids = json["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["id"].clone())
            .collect();
        (cache, ids)
    }

    /// The number of items in a collection.
    pub async fn count(&self, name: &str) -> u64 {
        let response = self.get(&format!("/collections/{name}")).await;
        assert_eq!(response.status(), StatusCode::OK);
        let json: Value = response.json().await.unwrap();
        json["points_count"].as_u64().unwrap()
    }

    /// Polls `path` until its JSON `status` member equals `status` (and the HTTP status
    /// `code`), or fails after `within`.
    pub async fn wait_health(&self, path: &str, code: StatusCode, status: &str, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let response = self.get(path).await;
            let got_code = response.status();
            let json: Value = response.json().await.unwrap_or(Value::Null);
            if got_code == code && json["status"] == status {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{path}: expected {code} {status}, still {got_code} {json}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Triggers the graceful shutdown and waits for the server to finish.
    pub async fn stop(self) {
        self.state.shutdown().trigger();
        tokio::time::timeout(Duration::from_secs(30), self.server)
            .await
            .expect("the server stops")
            .expect("the server task")
            .expect("the server ends cleanly");
    }
}

pub fn header(response: &Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Checks a problem response and returns its body.
pub async fn problem(response: Response, status: StatusCode, what: &str) -> Value {
    assert_eq!(response.status(), status, "{what}");
    assert_eq!(
        header(&response, "content-type"),
        "application/problem+json",
        "{what}"
    );
    let body: Value = response.json().await.expect("a JSON problem");
    assert_eq!(body["status"], status.as_u16(), "{what}: {body}");
    for member in ["type", "title", "detail", "kind", "backend"] {
        assert!(body[member].is_string(), "{what}: no {member} in {body}");
    }
    body
}
