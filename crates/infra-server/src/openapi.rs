//! The OpenAPI 3.1 description of the HTTP API, served at `GET /openapi.json`.
//!
//! The document is maintained by hand in `src/openapi.json` and embedded at compile time.
//! It is kept honest by tests rather than generated: `tests/openapi.rs` checks that it is
//! a well-formed OpenAPI 3.1 document (required members, every `$ref` resolves, every path
//! parameter declared, every operation answers) and that its operations are exactly the
//! routes the router registers ([`Api::routes`](crate::api::Api::routes)), each of which
//! answers over HTTP; the end-to-end tests check the documented statuses and headers.
//!
//! Why not generated (utoipa): the request and response types are mostly infra-base's
//! (`Filter`, `PointId`, `Payload`, `Distance`), which cannot derive utoipa's traits without
//! making infra-base depend on it, so their schemas would be written by hand anyway; and
//! utoipa's proc-macro crates add compile time on a 2-core CI for a dozen operations.

/// The document, as served.
pub const DOCUMENT: &str = include_str!("openapi.json");

/// The document, parsed.
///
/// # Panics
///
/// Never for the shipped document (a test parses it); the panic guards a broken edit.
pub fn document() -> serde_json::Value {
    serde_json::from_str(DOCUMENT).expect("src/openapi.json is valid JSON")
}
