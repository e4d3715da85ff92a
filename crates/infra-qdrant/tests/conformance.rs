//! The VectorPort conformance suite against the remote adapter, over real gRPC.
//!
//! - `tier1`: against the in-process Qdrant gRPC test server (infra-testkit) backed by the
//!   embedded engine (infra-qdrant-edge): runs with `cargo test`, no server needed.
//! - `tier2`: the same suite, unchanged, against the Qdrant the testkit provides: the real
//!   server named by `INFRA_TEST_QDRANT_URL` (and `INFRA_TEST_QDRANT_API_KEY`), else a
//!   `qdrant/qdrant` container when Docker answers, else the test server; run by
//!   `cargo xtask test-integration` (`--ignored`).

mod support;

use std::sync::Arc;

use infra_base::{Lifecycle, VectorPort};
use infra_qdrant::QdrantAdapter;
use infra_testkit::qdrant::{QdrantProvision, keep_alive};

/// The adapter talking to a new test server, which lives as long as the port.
async fn over_test_server() -> Arc<dyn VectorPort> {
    let server = support::server().await;
    let adapter = QdrantAdapter::new(&support::settings(&server.url(), None))
        .expect("the adapter must build");
    keep_alive(Arc::new(adapter), server)
}

/// The adapter talking to the provided server (checked with `init`), printing which one.
async fn over_provided_server() -> Arc<dyn VectorPort> {
    let provision = QdrantProvision::acquire(support::store)
        .await
        .expect("a Qdrant server must be provided");
    println!("{}", provision.describe());
    let settings = support::settings(provision.url(), provision.api_key());
    let adapter = QdrantAdapter::new(&settings).expect("the adapter must build");
    adapter
        .init()
        .await
        .unwrap_or_else(|err| panic!("the provided Qdrant server failed init: {}", err.chain()));
    keep_alive(Arc::new(adapter), provision)
}

mod tier1 {
    infra_base::vector_conformance_tests!(super::over_test_server());
}

mod tier2 {
    infra_base::vector_conformance_tests!(
        super::over_provided_server(),
        #[ignore = "tier 2: needs a Qdrant server; run by cargo xtask test-integration"],
    );
}
