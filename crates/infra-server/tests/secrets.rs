//! Secret hygiene (`docs/reliability.md`): a unique marker, used as the Redis password
//! (alone and inside a Redis URL) and as the Qdrant API key, never appears in logs at
//! TRACE, Debug output, error messages, HTTP bodies or `infra-server config` output.
//!
//! - tier 2 (`redis-server` on PATH): the real binary with `RUST_LOG=trace`, its stdout and
//!   stderr captured through start-up, health, searches, Redis killed and back, a wrong
//!   password and API key (`check`), a configuration error and `infra-server config`;
//! - tier 1: in process, `capture_logs` at TRACE around adapter errors (nothing listening),
//!   and the Debug and Display output of the settings, the wiring and every error.

mod common;

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::bin::{Served, run, stderr, stdout};
use infra_base::testing::{MemoryVector, capture_logs};
use infra_config::SettingsLoader;
use infra_testkit::RedisServer;
use infra_testkit::qdrant::QdrantTestServer;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A marker unique to this run (process id and time), safe in URLs unencoded.
fn marker() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("Mk{}x{nanos}Secret", std::process::id())
}

/// Fails when `marker` occurs in `text`, showing where.
fn assert_clean(marker: &str, what: &str, text: &str) {
    if let Some(at) = text.find(marker) {
        let start = text[..at]
            .char_indices()
            .rev()
            .nth(200)
            .map_or(0, |(i, _)| i);
        let end = (at + marker.len() + 200).min(text.len());
        let end = (end..=text.len())
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(text.len());
        panic!("{what} leaks the secret: ...{}...", &text[start..end]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "tier 2: needs redis-server; run by cargo xtask test-integration"]
#[expect(
    clippy::too_many_lines,
    reason = "one run of the binary told from start to end"
)]
async fn the_binary_never_shows_the_secret_at_trace() {
    let marker = marker();
    let redis = RedisServer::builder()
        .password(marker.clone())
        .start()
        .expect("redis-server on PATH");
    let qdrant = QdrantTestServer::builder(Arc::new(MemoryVector::new()))
        .api_key(marker.clone())
        .start()
        .await
        .expect("Qdrant test server");
    let redis_url = redis.url();
    assert!(redis_url.contains(&marker), "the URL carries the password");
    let qdrant_url = qdrant.url();
    let env = [
        ("RUST_LOG", "trace"),
        ("SOCIAL_HTTP__PORT", "0"),
        ("SOCIAL_REDIS__URL", redis_url.as_str()),
        ("SOCIAL_REDIS__COMMAND_TIMEOUT", "300ms"),
        ("SOCIAL_QDRANT__MODE", "remote"),
        ("SOCIAL_QDRANT__URL", qdrant_url.as_str()),
        ("SOCIAL_QDRANT__API_KEY", marker.as_str()),
        ("SOCIAL_HEALTH__CACHE_TTL", "100ms"),
    ];
    let served = Served::start(&["serve"], &env);
    let base = format!("http://{}", served.address);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let mut bodies = String::new();
    let mut call = async |method: reqwest::Method, path: &str, body: Option<Value>| {
        let mut request = client.request(method, format!("{base}{path}"));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        let headers = format!("{:?}", response.headers());
        let text = response.text().await.unwrap();
        writeln!(bodies, "{path} {status} {headers} {text}").unwrap();
        (status, text)
    };

    // Start-up, health, the catalog with the cache working (AUTH and API key in use).
    for path in ["/health/live", "/health/ready", "/health/infra"] {
        call(reqwest::Method::GET, path, None).await;
    }
    let (status, _) = call(
        reqwest::Method::POST,
        "/collections",
        Some(json!({ "name": "items", "dimension": 2, "distance": "dot" })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let items = json!({ "items": [{ "id": 1, "vector": [1.0, 0.0] }] });
    let (status, _) = call(
        reqwest::Method::PUT,
        "/collections/items/items",
        Some(items),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    for _ in 0..2 {
        let query = json!({ "vector": [1.0, 0.0] });
        let (status, _) = call(
            reqwest::Method::POST,
            "/collections/items/search",
            Some(query),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }
    // A failure: Redis killed; health reports it, searches bypass the cache.
    redis.kill().expect("kill redis");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, text) = call(reqwest::Method::GET, "/health/infra", None).await;
        if text.contains("\"fail\"") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "health never reported redis down: {text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let query = json!({ "vector": [0.0, 1.0] });
    let (status, _) = call(
        reqwest::Method::POST,
        "/collections/items/search",
        Some(query),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    tokio::task::block_in_place(|| redis.start_again()).expect("restart redis");
    // Qdrant refusing calls too: a 503 problem.
    qdrant.set_unavailable(true);
    let (status, _) = call(reqwest::Method::GET, "/collections/items/items/1", None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    qdrant.clear_faults();
    let stdout_text = served.stdout_text();
    let (code, logs) = served.terminate();
    assert_eq!(code, Some(0), "{logs}");
    assert!(
        logs.contains("TRACE") && logs.contains("DEBUG") && logs.contains("redis"),
        "the logs were captured at TRACE: {}",
        &logs[..logs.len().min(2000)]
    );
    assert_clean(&marker, "serve's logs (stderr)", &logs);
    assert_clean(&marker, "serve's stdout", &stdout_text);
    assert_clean(&marker, "HTTP answers", &bodies);

    // A wrong password and a wrong API key, both containing the marker: `check` fails.
    let wrong_url = format!("redis://:{marker}-wrong@{}", redis.addr());
    let wrong_key = format!("{marker}-wrong");
    let out = run(
        &["check"],
        &[
            ("RUST_LOG", "trace"),
            ("SOCIAL_REDIS__URL", wrong_url.as_str()),
            ("SOCIAL_REDIS__CRITICAL", "true"),
            ("SOCIAL_QDRANT__MODE", "remote"),
            ("SOCIAL_QDRANT__URL", qdrant_url.as_str()),
            ("SOCIAL_QDRANT__API_KEY", wrong_key.as_str()),
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("auth"),
        "the failure is explained: {}",
        stdout(&out)
    );
    assert_clean(&marker, "check's stdout", &stdout(&out));
    assert_clean(&marker, "check's logs", &stderr(&out));

    // The same secrets in a configuration that is refused, and in `config`.
    let ftp_url = format!("ftp://:{marker}@127.0.0.1:6379");
    let out = run(
        &["serve"],
        &[
            ("RUST_LOG", "trace"),
            ("SOCIAL_REDIS__URL", ftp_url.as_str()),
            ("SOCIAL_QDRANT__API_KEY", marker.as_str()),
            ("SOCIAL_QDRANT__URL", "http://127.0.0.1:6333"),
            ("SOCIAL_QDRANT__MODE", "remote"),
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_clean(
        &marker,
        "a configuration error",
        &format!("{}{}", stdout(&out), stderr(&out)),
    );
    let out = run(
        &["config"],
        &[
            ("RUST_LOG", "trace"),
            ("SOCIAL_REDIS__URL", redis_url.as_str()),
            ("SOCIAL_QDRANT__MODE", "remote"),
            ("SOCIAL_QDRANT__URL", qdrant_url.as_str()),
            ("SOCIAL_QDRANT__API_KEY", marker.as_str()),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let config: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert!(config["redis"]["url"].is_string(), "{config}");
    assert_clean(
        &marker,
        "`infra-server config`",
        &format!("{}{}", stdout(&out), stderr(&out)),
    );
}

#[tokio::test(flavor = "current_thread")]
async fn adapter_errors_and_debug_output_never_show_the_secret() {
    let marker = marker();
    let closed = common::closed_port();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("redis://app:{marker}@127.0.0.1:{closed}/0");
    let qdrant_url = format!("http://127.0.0.1:{closed}");
    let settings = SettingsLoader::from_pairs([
        ("SOCIAL_HTTP__PORT", "0"),
        ("SOCIAL_REDIS__URL", url.as_str()),
        ("SOCIAL_REDIS__CONNECT_TIMEOUT", "300ms"),
        ("SOCIAL_REDIS__COMMAND_TIMEOUT", "300ms"),
        ("SOCIAL_QDRANT__MODE", "remote"),
        ("SOCIAL_QDRANT__URL", qdrant_url.as_str()),
        ("SOCIAL_QDRANT__API_KEY", marker.as_str()),
        ("SOCIAL_QDRANT__TIMEOUT", "300ms"),
        ("SOCIAL_QDRANT__CRITICAL", "false"),
        ("SOCIAL_QDRANT__PATH", dir.path().to_str().unwrap()),
    ])
    .load()
    .expect("valid settings");

    let (logs, guard) = capture_logs();
    tracing::trace!("capture started");
    let mut shown = format!("{settings:?}\n{settings:#?}\n");
    shown.push_str(&serde_json::to_string(&settings).unwrap());
    let wiring = infra_server::composition::wire(&settings).expect("wired");
    writeln!(shown, "{wiring:?}").unwrap();
    if let Err(err) = wiring.components.init_all().await {
        write!(shown, "{err}\n{err:?}\n{}\n", err.chain()).unwrap();
    }
    let redis = wiring.service.require_redis().expect("a redis port");
    let err = redis.get("key").await.expect_err("nothing listens");
    write!(shown, "{err}\n{err:?}\n{}\n", err.chain()).unwrap();
    let vector = wiring.service.require_vector().expect("a vector port");
    let err = vector
        .collection_info("items")
        .await
        .expect_err("nothing listens");
    write!(shown, "{err}\n{err:?}\n{}\n", err.chain()).unwrap();
    for component in wiring.components.iter() {
        let health = component.lifecycle.health().await;
        writeln!(shown, "{health:?}").unwrap();
    }
    wiring.components.close_all().await;

    // The whole application: a critical Redis that cannot start stops start-up.
    let critical = SettingsLoader::from_pairs([
        ("SOCIAL_HTTP__PORT", "0"),
        ("SOCIAL_REDIS__URL", url.as_str()),
        ("SOCIAL_REDIS__CRITICAL", "true"),
        ("SOCIAL_HEALTH__FAIL_FAST", "true"),
        ("SOCIAL_REDIS__CONNECT_TIMEOUT", "300ms"),
        (
            "SOCIAL_QDRANT__PATH",
            dir.path().join("edge").to_str().unwrap(),
        ),
    ])
    .load()
    .unwrap();
    let err = infra_server::Application::build(&critical)
        .await
        .expect_err("a critical Redis that is absent stops start-up");
    write!(shown, "{err}\n{err:?}\n").unwrap();
    drop(guard);

    let logs = logs.text();
    assert!(
        logs.contains("TRACE") || logs.contains("DEBUG"),
        "the capture works: {logs}"
    );
    assert!(logs.contains("redis"), "{logs}");
    assert_clean(&marker, "logs at TRACE", &logs);
    assert_clean(&marker, "Debug/Display output", &shown);
}
