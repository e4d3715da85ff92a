//! The reference service with authentication on: every route by scope, in process.
//!
//! Bound to 127.0.0.1 with API keys configured (so `auto` turns authentication on), one
//! key per scope; each route is called with no token, a wrong one and each key.

mod common;

use common::TestApp;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const READ: &str = "matrix-read-key-0123456789";
const WRITE: &str = "matrix-write-key-0123456789";
const ADMIN: &str = "matrix-admin-key-0123456789";

async fn spawn() -> TestApp {
    let keys = format!("r:read:{READ},w:write:{WRITE},a:admin:{ADMIN}");
    TestApp::spawn(&[("SOCIAL_HTTP__AUTH__API_KEYS", keys.as_str())]).await
}

async fn call(app: &TestApp, method: &Method, path: &str, token: Option<&str>) -> StatusCode {
    let mut request = app.client.request(method.clone(), app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if *method == Method::POST || *method == Method::PUT {
        request = request.json(&body_for(method, path));
    }
    request.send().await.unwrap().status()
}

fn body_for(method: &Method, path: &str) -> Value {
    match (method.as_str(), path) {
        ("POST", "/collections") => json!({"name": "matrix", "dimension": 2, "distance": "cosine"}),
        ("PUT", _) => json!({"items": [{"id": 1, "vector": [1.0, 0.0], "payload": {}}]}),
        _ => json!({"vector": [1.0, 0.0], "limit": 1}),
    }
}

/// The lowest scope each token holds: 0 none, 1 read, 2 write, 3 admin.
fn rank(scope: &str) -> u8 {
    match scope {
        "read" => 1,
        "write" => 2,
        _ => 3,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_by_scope() {
    let app = spawn().await;
    // Route, and the scope it needs (None: public). Ordered so the collection exists for
    // the reads and writes, and is deleted last.
    let routes: [(Method, &str, Option<&str>); 11] = [
        (Method::GET, "/health/live", None),
        (Method::GET, "/health/ready", None),
        (Method::GET, "/health/infra", None),
        (Method::GET, "/openapi.json", None),
        (Method::POST, "/collections", Some("admin")),
        (Method::PUT, "/collections/matrix/items", Some("write")),
        (Method::GET, "/collections/matrix", Some("read")),
        (Method::GET, "/collections/matrix/items/1", Some("read")),
        (Method::POST, "/collections/matrix/search", Some("read")),
        (Method::DELETE, "/collections/matrix/items/1", Some("write")),
        (Method::DELETE, "/collections/matrix", Some("admin")),
    ];
    let tokens = [(READ, 1u8), (WRITE, 2), (ADMIN, 3)];
    for (method, path, scope) in &routes {
        let what = format!("{method} {path}");
        let Some(scope) = scope else {
            for token in [None, Some("wrong-token"), Some(READ)] {
                let status = call(&app, method, path, token).await;
                assert!(
                    status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN,
                    "{what} is public, got {status}"
                );
            }
            continue;
        };
        assert_eq!(
            call(&app, method, path, None).await,
            StatusCode::UNAUTHORIZED,
            "{what} without a token"
        );
        assert_eq!(
            call(&app, method, path, Some("not-a-configured-key-123")).await,
            StatusCode::UNAUTHORIZED,
            "{what} with a wrong token"
        );
        // Tokens too weak first (403), then those that suffice (the call happens: the
        // handler's own status, never 401/403).
        for (token, held) in tokens {
            let status = call(&app, method, path, Some(token)).await;
            if held < rank(scope) {
                assert_eq!(status, StatusCode::FORBIDDEN, "{what} with rank {held}");
            } else {
                assert!(status.is_success(), "{what} with rank {held}: {status}");
            }
        }
    }
    // Unknown paths need a token, then are 404.
    assert_eq!(
        call(&app, &Method::GET, "/nothing", None).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(&app, &Method::GET, "/nothing", Some(READ)).await,
        StatusCode::NOT_FOUND
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_problems_with_a_bearer_challenge() {
    let app = spawn().await;
    let response = app.get("/collections/x").await;
    let challenge = common::header(&response, "www-authenticate");
    assert_eq!(challenge, "Bearer realm=\"infra\"");
    let body = common::problem(response, StatusCode::UNAUTHORIZED, "no token").await;
    assert_eq!(body["kind"], "unauthorized");

    let response = app
        .client
        .delete(app.url("/collections/x"))
        .bearer_auth(WRITE)
        .send()
        .await
        .unwrap();
    assert!(common::header(&response, "www-authenticate").contains("insufficient_scope"));
    let body = common::problem(response, StatusCode::FORBIDDEN, "write deleting").await;
    assert_eq!(body["kind"], "forbidden");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_credentials_on_loopback_every_route_is_open() {
    let app = TestApp::spawn(&[]).await;
    assert_eq!(
        app.get("/collections/none").await.status(),
        StatusCode::NOT_FOUND
    );
    app.stop().await;
}
