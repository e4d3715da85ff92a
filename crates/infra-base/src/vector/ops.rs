//! The [`Operation`] descriptor of every [`VectorPort`](super::VectorPort) method: the one
//! list layers see (names are the `db.operation.name` of metrics and spans).
//!
//! Every vector operation is idempotent: collections are created if absent, points are
//! upserted by id, deleted by id or filter, and vector and payload updates set a state rather than
//! change it relatively (setting, overwriting, deleting or clearing twice leaves what
//! once did). A retry after an attempt that was applied reports the state that attempt
//! left (`ensure_collection` may answer `AlreadyExists`, `delete_collection` `false`); a
//! filter is evaluated again by the retry, as it would be by the caller's own retry.
//! The exception is [`UPDATE_ALIASES`]: a rename applied by an attempt whose reply was lost
//! would fail as `NotFound` when retried, so alias changes are never retried.

use crate::layer::Operation;

/// Health ping.
pub static PING: Operation = Operation::read("ping");
/// Create a collection if absent.
pub static ENSURE_COLLECTION: Operation = Operation::idempotent_write("ensure_collection");
/// Describe a collection.
pub static COLLECTION_INFO: Operation = Operation::read("collection_info");
/// Delete a collection.
pub static DELETE_COLLECTION: Operation = Operation::idempotent_write("delete_collection");
/// Upsert points by id.
pub static UPSERT: Operation = Operation::idempotent_write("upsert");
/// Read points by id.
pub static GET: Operation = Operation::read("get");
/// Delete points by id or by filter (`delete` by ids is this operation too).
pub static DELETE_POINTS: Operation = Operation::idempotent_write("delete_points");
/// Replace some vectors of existing points.
pub static UPDATE_VECTORS: Operation = Operation::idempotent_write("update_vectors");
/// Nearest-neighbour search.
pub static SEARCH: Operation = Operation::read("search");
/// Universal query: nearest, recommend, fusion of prefetch stages.
pub static QUERY: Operation = Operation::read("query");
/// Several universal queries in one call.
pub static QUERY_BATCH: Operation = Operation::read("query_batch");
/// Universal query grouped by a payload field.
pub static QUERY_GROUPS: Operation = Operation::read("query_groups");
/// Count points.
pub static COUNT: Operation = Operation::read("count");
/// Count points per distinct value of a payload field.
pub static FACET: Operation = Operation::read("facet");
/// One page of a scroll.
pub static SCROLL: Operation = Operation::read("scroll");
/// Set, overwrite, delete keys of or clear payloads.
pub static UPDATE_PAYLOAD: Operation = Operation::idempotent_write("update_payload");
/// List the collections.
pub static LIST_COLLECTIONS: Operation = Operation::read("list_collections");

/// Create, delete or rename aliases (never retried: see the module docs).
pub static UPDATE_ALIASES: Operation = Operation::unsafe_write("update_aliases");
/// List the aliases.
pub static LIST_ALIASES: Operation = Operation::read("list_aliases");

/// Every descriptor above, for layers that prepare per-operation state.
pub static ALL: &[&Operation] = &[
    &PING,
    &ENSURE_COLLECTION,
    &COLLECTION_INFO,
    &DELETE_COLLECTION,
    &UPSERT,
    &GET,
    &DELETE_POINTS,
    &UPDATE_VECTORS,
    &SEARCH,
    &QUERY,
    &QUERY_BATCH,
    &QUERY_GROUPS,
    &COUNT,
    &FACET,
    &SCROLL,
    &UPDATE_PAYLOAD,
    &LIST_COLLECTIONS,
    &UPDATE_ALIASES,
    &LIST_ALIASES,
];
