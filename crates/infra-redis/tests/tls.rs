//! Tier 2: the adapter over TLS (rustls, private CA, verification on) against real
//! `redis-server`s with generated certificates (infra-testkit).

mod common;

use std::sync::{Arc, OnceLock};

use common::{blocking, settings};
use infra_base::{ErrorKind, Lifecycle, RedisPort, SetOptions};
use infra_redis::RedisAdapter;
use infra_testkit::{ClientAuth, RedisTls, ServerIdentity, TestCerts};

/// One TLS server for the conformance suite (client certificates optional).
static TLS: OnceLock<RedisTls> = OnceLock::new();

async fn tls_server() -> &'static RedisTls {
    blocking(|| TLS.get_or_init(|| RedisTls::start().expect("the TLS server starts"))).await
}

fn tls_adapter(url: &str, ca_file: &std::path::Path, extra: &[(&str, &str)]) -> Arc<RedisAdapter> {
    let ca = ca_file.to_string_lossy().into_owned();
    let mut pairs = vec![("URL", url), ("TLS__CA_FILE", ca.as_str())];
    pairs.extend_from_slice(extra);
    Arc::new(RedisAdapter::from_settings(&settings(&pairs)).expect("adapter builds"))
}

/// Fresh certificates and a server that requires a client certificate and `password`.
async fn mutual_tls_server(password: &'static str) -> (Arc<TestCerts>, RedisTls) {
    let certs = Arc::new(blocking(|| TestCerts::generate().expect("certificates")).await);
    let server = {
        let certs = Arc::clone(&certs);
        blocking(move || {
            RedisTls::builder()
                .certs(certs)
                .client_auth(ClientAuth::Required)
                .password(password)
                .start()
                .expect("the TLS server starts")
        })
        .await
    };
    (certs, server)
}

/// The trusted client certificate and key files of `certs`, as settings values.
fn client_identity(certs: &TestCerts) -> (String, String) {
    (
        certs.client().cert_file.to_string_lossy().into_owned(),
        certs.client().key_file.to_string_lossy().into_owned(),
    )
}

mod conformance {
    infra_base::redis_conformance_tests!(
        async {
            let server = super::tls_server().await;
            super::tls_adapter(&server.url(), server.certs().ca_file(), &[])
        },
        #[ignore = "tier 2: needs redis-server; run by cargo xtask test-integration"],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "tier 2: needs redis-server; run by cargo xtask test-integration"]
async fn host_names_are_verified_too() {
    let server = tls_server().await;
    let redis = tls_adapter(&server.url_localhost(), server.certs().ca_file(), &[]);
    redis
        .init()
        .await
        .expect("localhost matches the certificate");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "tier 2: needs redis-server; run by cargo xtask test-integration"]
async fn a_server_signed_by_another_ca_is_refused_with_a_clear_error() {
    let server = tls_server().await;
    let redis = tls_adapter(&server.url(), server.certs().wrong_ca_file(), &[]);
    let err = redis.init().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth, "{}", err.chain());
    assert!(
        err.message().contains("not signed by a trusted CA"),
        "{}",
        err.chain()
    );
    assert!(err.message().contains(&server.addr()), "{err}");
    let err = redis.get("k").await.unwrap_err();
    assert!(
        err.message().contains("not signed by a trusted CA"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "tier 2: needs redis-server; run by cargo xtask test-integration"]
async fn a_certificate_for_another_host_is_refused_with_a_clear_error() {
    let server = blocking(|| {
        RedisTls::builder()
            .identity(ServerIdentity::WrongHost)
            .start()
            .expect("the TLS server starts")
    })
    .await;
    let redis = tls_adapter(&server.url(), server.certs().ca_file(), &[]);
    let err = redis.init().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth, "{}", err.chain());
    assert!(
        err.message().contains("not valid for the host name"),
        "{}",
        err.chain()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "tier 2: needs redis-server; run by cargo xtask test-integration"]
async fn mutual_tls_with_a_client_certificate_and_a_password() {
    const SECRET: &str = "tls-M4RK3R";
    let (certs, server) = mutual_tls_server(SECRET).await;
    let (cert, key) = client_identity(&certs);
    let with_cert = tls_adapter(
        &server.url(),
        certs.ca_file(),
        &[("TLS__CERT_FILE", &cert), ("TLS__KEY_FILE", &key)],
    );
    with_cert.init().await.expect("client certificate accepted");
    with_cert
        .set("tls-key", b"v", SetOptions::default())
        .await
        .unwrap();
    assert_eq!(with_cert.get("tls-key").await.unwrap(), Some(b"v".to_vec()));

    let without = tls_adapter(&server.url(), certs.ca_file(), &[]);
    let err = without.init().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth, "{}", err.chain());
    assert!(
        err.message().contains("requires a client certificate"),
        "{err}"
    );
    assert!(!err.chain().contains(SECRET));

    let untrusted_cert = certs
        .untrusted_client()
        .cert_file
        .to_string_lossy()
        .into_owned();
    let untrusted_key = certs
        .untrusted_client()
        .key_file
        .to_string_lossy()
        .into_owned();
    let untrusted = tls_adapter(
        &server.url(),
        certs.ca_file(),
        &[
            ("TLS__CERT_FILE", &untrusted_cert),
            ("TLS__KEY_FILE", &untrusted_key),
        ],
    );
    let err = untrusted.init().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth, "{}", err.chain());
    assert!(
        err.message().contains("refused the client certificate"),
        "{err}"
    );
}

/// Subscriptions connect with the same TLS material and credentials as port calls: a
/// client certificate and a password; without the certificate the server refuses them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "tier 2: needs redis-server; run by cargo xtask test-integration"]
async fn subscriptions_use_the_same_tls_material_and_credentials() {
    use infra_base::redis::PubSubEvent;
    use infra_base::{RedisSubscriber, SubscribeOptions, Topics};

    const SECRET: &str = "tls-pubsub-M4RK3R";
    let (certs, server) = mutual_tls_server(SECRET).await;
    let (cert, key) = client_identity(&certs);
    let with_cert = tls_adapter(
        &server.url(),
        certs.ca_file(),
        &[("TLS__CERT_FILE", &cert), ("TLS__KEY_FILE", &key)],
    );
    let topics = Topics::new().channel("tls:events");
    let mut sub = with_cert
        .subscribe(&topics, SubscribeOptions::default())
        .await
        .expect("subscribed over TLS with the certificate and the password");
    assert_eq!(with_cert.publish("tls:events", b"sealed").await.unwrap(), 1);
    let event = tokio::time::timeout(std::time::Duration::from_secs(30), sub.recv())
        .await
        .expect("the message arrives");
    let Some(PubSubEvent::Message(message)) = event else {
        panic!("a message expected, got {event:?}")
    };
    assert_eq!(message.payload, b"sealed");

    let without = tls_adapter(&server.url(), certs.ca_file(), &[]);
    let err = without
        .subscribe(&topics, SubscribeOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth, "{}", err.chain());
    assert!(!err.chain().contains(SECRET));
}
