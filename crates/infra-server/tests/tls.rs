//! TLS end to end through the reference service (`docs/reliability.md`, "TLS").
//!
//! - tier 2 (`redis-server` built with TLS on PATH): Redis over TLS with a private CA
//!   generated in the test, verification on, serving cached searches; a server signed by
//!   another CA, or presenting a certificate for another host name, stops a critical
//!   start-up with a clear `auth` error (never retried as transient) and shows in health
//!   when Redis is not critical; a TLS client against a plain server and a plain client
//!   against the TLS port fail cleanly.
//! - tier 1: a plain `redis://` URL with TLS enabled is refused at configuration load; the
//!   remote Qdrant adapter over TLS through the in-process gRPC test server. qdrant-client
//!   and `SOCIAL_QDRANT__*` have no CA option: the adapter trusts the platform's roots as
//!   read by rustls-native-certs, so a private CA is given to the binary with
//!   `SSL_CERT_FILE` (a PEM bundle), which that crate reads instead of the system store.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::TestApp;
use common::bin::{run, stderr, stdout};
use infra_base::ErrorKind;
use infra_base::testing::MemoryVector;
use infra_config::SettingsLoader;
use infra_server::{Application, StartupError};
use infra_testkit::qdrant::QdrantTestServer;
use infra_testkit::{RedisServer, RedisTls, ServerIdentity, TestCerts};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Starts a TLS `redis-server` off the async workers (it waits for the server).
async fn tls_server(identity: ServerIdentity) -> RedisTls {
    tokio::task::spawn_blocking(move || {
        RedisTls::builder()
            .identity(identity)
            .start()
            .expect("redis-server with TLS on PATH")
    })
    .await
    .unwrap()
}

/// The keys that point the service at `url`, trusting `ca`.
fn redis_tls_keys<'a>(url: &'a str, ca: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("SOCIAL_REDIS__URL", url),
        ("SOCIAL_REDIS__TLS__ENABLED", "true"),
        ("SOCIAL_REDIS__TLS__CA_FILE", ca),
        ("SOCIAL_REDIS__CONNECT_TIMEOUT", "2s"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "tier 2: needs redis-server with TLS; run by cargo xtask test-integration"]
async fn redis_over_tls_with_a_private_ca_caches_searches() {
    let server = tls_server(ServerIdentity::Localhost).await;
    let ca = server.certs().ca_file().to_str().unwrap().to_owned();
    // By address (the certificate names 127.0.0.1) and by host name (`localhost`).
    for url in [server.url(), server.url_localhost()] {
        let mut keys = redis_tls_keys(&url, &ca);
        keys.push(("SOCIAL_REDIS__CRITICAL", "true"));
        keys.push(("SOCIAL_HEALTH__FAIL_FAST", "true"));
        let app = TestApp::spawn(&keys).await;
        app.wait_health(
            "/health/ready",
            StatusCode::OK,
            "pass",
            Duration::from_secs(10),
        )
        .await;
        app.create("items", 2, "cosine").await;
        app.upsert("items", json!([{ "id": 1, "vector": [1.0, 0.0] }]))
            .await;
        let query = json!({ "vector": [1.0, 0.1] });
        assert_eq!(
            app.search("items", &query).await,
            ("miss".to_owned(), vec![json!(1)]),
            "{url}"
        );
        assert_eq!(
            app.search("items", &query).await,
            ("hit".to_owned(), vec![json!(1)]),
            "{url}"
        );
        app.stop().await;
    }
    // The entries really are in the TLS server.
    let size = server.admin().command(&["DBSIZE"]).expect("DBSIZE");
    assert!(
        matches!(size, infra_testkit::resp::Reply::Integer(n) if n >= 2),
        "{size:?}"
    );
}

/// Builds the service with a critical Redis and returns the start-up error.
async fn critical_start_up_error(keys: &[(&str, &str)]) -> infra_base::InfraError {
    let dir = tempfile::tempdir().unwrap();
    let mut keys = keys.to_vec();
    keys.push(("SOCIAL_REDIS__CRITICAL", "true"));
    keys.push(("SOCIAL_HEALTH__FAIL_FAST", "true"));
    let settings = common::settings(dir.path(), &keys);
    match Application::build(&settings).await {
        Ok(_) => panic!("start-up succeeded with {keys:?}"),
        Err(StartupError::Component(err)) => err,
        Err(other) => panic!("unexpected start-up error {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "tier 2: needs redis-server with TLS; run by cargo xtask test-integration"]
async fn a_wrong_ca_or_host_name_is_refused_with_a_clear_error() {
    let server = tls_server(ServerIdentity::Localhost).await;
    let url = server.url();
    let wrong_ca = server.certs().wrong_ca_file().to_str().unwrap().to_owned();
    let keys = redis_tls_keys(&url, &wrong_ca);
    let err = critical_start_up_error(&keys).await;
    println!("wrong CA: {}", err.chain());
    assert_eq!(err.kind(), ErrorKind::Auth, "{}", err.chain());
    assert!(!err.is_transient(), "a TLS failure is never retried");
    assert!(
        err.message().contains("not signed by a trusted CA"),
        "{}",
        err.chain()
    );

    // Not critical: the service starts, health says why Redis fails, searches bypass.
    let app = TestApp::spawn(&keys).await;
    app.wait_health(
        "/health/ready",
        StatusCode::OK,
        "warn",
        Duration::from_secs(10),
    )
    .await;
    let body: Value = app.get("/health/infra").await.json().await.unwrap();
    let output = body["checks"]["redis:responseTime"][0]["output"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(output.starts_with("auth"), "{body}");
    assert!(output.contains("not signed by a trusted CA"), "{body}");
    app.create("items", 2, "dot").await;
    app.upsert("items", json!([{ "id": 1, "vector": [1.0, 0.0] }]))
        .await;
    let (cache, _) = app.search("items", &json!({ "vector": [1.0, 0.0] })).await;
    assert_eq!(cache, "bypass");
    app.stop().await;

    // A certificate for another host name, from the trusted CA.
    let wrong_host = tls_server(ServerIdentity::WrongHost).await;
    let url = wrong_host.url_localhost();
    let ca = wrong_host.certs().ca_file().to_str().unwrap().to_owned();
    let err = critical_start_up_error(&redis_tls_keys(&url, &ca)).await;
    println!("wrong host: {}", err.chain());
    assert_eq!(err.kind(), ErrorKind::Auth, "{}", err.chain());
    assert!(!err.is_transient());
    assert!(
        err.message().contains("not valid for the host name"),
        "{}",
        err.chain()
    );

    // The real binary says the same on stderr and exits 1.
    let out = run(&["serve"], &{
        let mut keys = redis_tls_keys(&url, &ca);
        keys.extend([
            ("SOCIAL_REDIS__CRITICAL", "true"),
            ("SOCIAL_HEALTH__FAIL_FAST", "true"),
            ("SOCIAL_HTTP__PORT", "0"),
        ]);
        keys
    });
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stdout(&out).is_empty(), "never listened");
    let err = stderr(&out);
    assert!(
        err.contains("cannot start: redis init") && err.contains("not valid for the host name"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "tier 2: needs redis-server with TLS; run by cargo xtask test-integration"]
async fn plain_and_tls_mismatches_fail_cleanly() {
    // TLS towards a plain server.
    let plain = tokio::task::spawn_blocking(|| RedisServer::start().expect("redis-server"))
        .await
        .unwrap();
    let certs = TestCerts::generate().unwrap();
    let url = format!("rediss://{}", plain.addr());
    let ca = certs.ca_file().to_str().unwrap().to_owned();
    let err = critical_start_up_error(&redis_tls_keys(&url, &ca)).await;
    println!("TLS to a plain server: {}", err.chain());
    // The plain server waits for a command line that the ClientHello never completes: a
    // timeout, which says that TLS is the likely cause.
    assert_eq!(err.kind(), ErrorKind::Timeout, "{}", err.chain());
    assert!(
        err.message().contains("does not serve TLS on this port"),
        "names TLS as the likely cause: {}",
        err.chain()
    );
    assert!(
        err.message().contains(&plain.addr()),
        "names the server: {}",
        err.chain()
    );

    // A plain client towards the TLS port.
    let server = tls_server(ServerIdentity::Localhost).await;
    let url = format!("redis://{}", server.addr());
    let err = critical_start_up_error(&[
        ("SOCIAL_REDIS__URL", url.as_str()),
        ("SOCIAL_REDIS__CONNECT_TIMEOUT", "1s"),
        ("SOCIAL_REDIS__COMMAND_TIMEOUT", "1s"),
    ])
    .await;
    println!("plain to a TLS port: {}", err.chain());
    assert!(
        matches!(err.kind(), ErrorKind::Unavailable | ErrorKind::Timeout),
        "{}",
        err.chain()
    );
}

#[test]
fn a_plain_url_with_tls_enabled_is_refused_at_load() {
    let err = SettingsLoader::from_pairs([
        ("SOCIAL_REDIS__URL", "redis://127.0.0.1:6379"),
        ("SOCIAL_REDIS__TLS__ENABLED", "true"),
    ])
    .load()
    .expect_err("TLS with a plain URL");
    assert_eq!(err.errors().len(), 1, "{err}");
    assert_eq!(err.key(), Some("SOCIAL_REDIS__TLS__ENABLED"), "{err}");
    let line = err.to_string();
    assert!(
        line.contains("SOCIAL_REDIS__URL") && line.contains("expected a rediss:// URL"),
        "names both keys and what is accepted: {line}"
    );

    let err = SettingsLoader::from_pairs([
        ("SOCIAL_QDRANT__MODE", "remote"),
        ("SOCIAL_QDRANT__URL", "http://127.0.0.1:6334"),
        ("SOCIAL_QDRANT__TLS__ENABLED", "true"),
    ])
    .load()
    .expect_err("Qdrant TLS with an http URL");
    assert_eq!(err.errors().len(), 1, "{err}");
    assert!(err.to_string().contains("SOCIAL_QDRANT__URL"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qdrant_over_tls_trusts_the_ca_in_ssl_cert_file() {
    let certs = TestCerts::generate().unwrap();
    let server = QdrantTestServer::builder(Arc::new(MemoryVector::new()))
        .tls(&certs.server().cert_pem, &certs.server().key_pem)
        .start()
        .await
        .unwrap();
    let url = server.url();
    assert!(url.starts_with("https://"), "{url}");
    let keys = |ca: Option<&str>| {
        let mut keys = vec![
            ("SOCIAL_REDIS__ENABLED", "false".to_owned()),
            ("SOCIAL_QDRANT__MODE", "remote".to_owned()),
            ("SOCIAL_QDRANT__URL", url.clone()),
            ("SOCIAL_QDRANT__TIMEOUT", "2s".to_owned()),
        ];
        if let Some(ca) = ca {
            keys.push(("SSL_CERT_FILE", ca.to_owned()));
        }
        keys
    };
    let ca = certs.ca_file().to_str().unwrap();
    // The binary runs off the async workers: the test server answers on them.
    let check = async |keys: Vec<(&'static str, String)>| {
        tokio::task::spawn_blocking(move || {
            let pairs: Vec<(&str, &str)> = keys.iter().map(|(k, v)| (*k, v.as_str())).collect();
            run(&["check"], &pairs)
        })
        .await
        .unwrap()
    };

    // The private CA in SSL_CERT_FILE: verified, ready.
    let out = check(keys(Some(ca))).await;
    let table = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{table}{}", stderr(&out));
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("qdrant") && l.contains(" pass ")),
        "{table}"
    );
    // Another CA there: refused.
    let wrong = certs.wrong_ca_file().to_str().unwrap();
    let out = check(keys(Some(wrong))).await;
    let table = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{table}{}", stderr(&out));
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("qdrant") && l.contains(" fail ")),
        "{table}"
    );
    // The platform's roots alone do not know the private CA: refused (or, on a machine
    // without any root store, a configuration error that names SSL_CERT_FILE).
    let out = check(keys(None)).await;
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.lines()
            .any(|l| l.starts_with("qdrant") && l.contains(" fail "))
            || all.contains("SSL_CERT_FILE"),
        "{all}"
    );
}
