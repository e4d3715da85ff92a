//! The [`Operation`] descriptor of every [`VectorPort`](super::VectorPort) method: the one
//! list layers see (names are the `db.operation.name` of metrics and spans).
//!
//! Every vector operation is idempotent: collections are created if absent, points are
//! upserted and deleted by id. A retry after an attempt that was applied reports the state
//! that attempt left (`ensure_collection` may answer `AlreadyExists`, `delete_collection`
//! `false`).

use crate::layer::Operation;

/// Health ping.
pub const PING: Operation = Operation::read("ping");
/// Create a collection if absent.
pub const ENSURE_COLLECTION: Operation = Operation::idempotent_write("ensure_collection");
/// Describe a collection.
pub const COLLECTION_INFO: Operation = Operation::read("collection_info");
/// Delete a collection.
pub const DELETE_COLLECTION: Operation = Operation::idempotent_write("delete_collection");
/// Upsert points by id.
pub const UPSERT: Operation = Operation::idempotent_write("upsert");
/// Read points by id.
pub const GET: Operation = Operation::read("get");
/// Delete points by id.
pub const DELETE: Operation = Operation::idempotent_write("delete");
/// Nearest-neighbour search.
pub const SEARCH: Operation = Operation::read("search");
/// Count points.
pub const COUNT: Operation = Operation::read("count");

/// Every descriptor above, for layers that prepare per-operation state.
pub const ALL: &[Operation] = &[
    PING,
    ENSURE_COLLECTION,
    COLLECTION_INFO,
    DELETE_COLLECTION,
    UPSERT,
    GET,
    DELETE,
    SEARCH,
    COUNT,
];
