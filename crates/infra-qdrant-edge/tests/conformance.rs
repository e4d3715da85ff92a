//! The VectorPort conformance suite on the embedded store, a fresh data directory per test.

use std::sync::Arc;

use infra_base::VectorPort;
use infra_qdrant_edge::{EdgeStoreOptions, EdgeVectorStore};

infra_base::vector_conformance_tests!(async {
    let store = EdgeVectorStore::temporary(EdgeStoreOptions::default())
        .await
        .expect("the embedded store must open in a temporary directory");
    Arc::new(store) as Arc<dyn VectorPort>
});
