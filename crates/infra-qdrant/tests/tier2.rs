//! Tier-2 checks besides the conformance suite (`conformance.rs`, module `tier2`), against
//! the Qdrant named by `INFRA_TEST_QDRANT_URL` (and `INFRA_TEST_QDRANT_API_KEY`), or the
//! in-process test server when it is not set. Run by `cargo xtask test-integration`.

mod support;

use infra_base::{ErrorKind, Lifecycle, VectorPort};
use infra_qdrant::QdrantAdapter;
use infra_testkit::qdrant::{QdrantProviderKind, QdrantProvision, QdrantTestServer};

/// The fault tests of `faults.rs`: they need a server that injects faults on command.
const FAULT_TESTS: [&str; 5] = [
    "timeout_is_honoured",
    "injected_unavailable_is_unavailable",
    "server_gone_then_back_on_the_same_port",
    "missing_or_wrong_api_key_is_auth",
    "wrong_dimension_is_invalid_input_before_sending",
];

async fn provision() -> QdrantProvision {
    let provision = QdrantProvision::acquire(support::store)
        .await
        .expect("a Qdrant server must be provided");
    println!("{}", provision.describe());
    provision
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "tier 2: needs a Qdrant server; run by cargo xtask test-integration"]
async fn server_is_verified_and_reports_its_version() {
    let provision = provision().await;
    let settings = support::settings(provision.url(), provision.api_key());
    let adapter = QdrantAdapter::new(&settings).unwrap();
    adapter
        .init()
        .await
        .unwrap_or_else(|e| panic!("init: {}", e.chain()));
    let info = adapter.server_info().unwrap();
    println!("qdrant server: {} {}", info.title, info.version);
    assert!(adapter.health().await.latency.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "tier 2: needs a Qdrant server; run by cargo xtask test-integration"]
async fn wrong_api_key_is_auth() {
    let provision = provision().await;
    let (url, _server) = match (provision.kind(), provision.api_key()) {
        (QdrantProviderKind::Url, Some(_)) => (provision.url().to_owned(), None),
        (QdrantProviderKind::Url | QdrantProviderKind::Docker, None) => {
            println!(
                "wrong_api_key_is_auth: not applicable: the real server ({}) needs no API key \
                 (set INFRA_TEST_QDRANT_URL and INFRA_TEST_QDRANT_API_KEY for one that does)",
                provision.kind()
            );
            return;
        }
        (QdrantProviderKind::Docker, Some(_)) => unreachable!("a container has no API key"),
        (QdrantProviderKind::TestServer, _) => {
            let server = QdrantTestServer::builder(support::store().await)
                .api_key("the-right-key")
                .start()
                .await
                .unwrap();
            (server.url(), Some(server))
        }
    };
    let adapter = QdrantAdapter::new(&support::settings(&url, Some("a-wrong-key"))).unwrap();
    let err = adapter.ping().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth, "{}", err.chain());
}

/// Fault injection needs the test server: against a real server, each fault test is
/// reported as not applicable by name (they always run in tier 1, `faults.rs`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "tier 2: needs a Qdrant server; run by cargo xtask test-integration"]
async fn real_server_not_applicable() {
    // The names reported must be the fault tests that exist, or the report lies.
    let faults = include_str!("faults.rs");
    for name in FAULT_TESTS {
        assert!(
            faults.contains(&format!("async fn {name}(")),
            "FAULT_TESTS names {name}, which faults.rs does not define"
        );
    }
    let provision = provision().await;
    if provision.kind().is_real_server() {
        for name in FAULT_TESTS {
            println!(
                "{name}: not applicable against a real Qdrant server (needs fault \
                 injection); runs in tier 1 against the in-process test server"
            );
        }
        println!(
            "(a wrong API key against the real server: wrong_api_key_is_auth, when \
             INFRA_TEST_QDRANT_API_KEY is set)"
        );
    } else {
        println!(
            "fault tests ({}) run in tier 1 against the in-process test server",
            FAULT_TESTS.join(", ")
        );
    }
}
