//! The embedded vector store: [`VectorPort`](infra_base::VectorPort) over
//! [qdrant-edge](https://crates.io/crates/qdrant-edge), in process and on disk, so a service
//! runs with no Qdrant server at all.
//!
//! Use it at a service's composition root when the settings select the embedded mode
//! (`SOCIAL_QDRANT__MODE=embedded`, the default): one process owns the data directory, and
//! there is nothing to deploy. For a shared or larger index use a Qdrant server through
//! `infra-qdrant`; services depend on `infra-base`'s `VectorPort` either way. Feature
//! `temporary` adds `EdgeVectorStore::temporary`, a store in a scratch directory (for
//! tests; the example below uses it).
//!
//! [`EdgeVectorStore`] keeps one qdrant-edge shard per collection under its data directory
//! (`SOCIAL_QDRANT__PATH`, default `./data/qdrant`) and behaves like the remote adapter:
//! same ids, payloads, filters, scores, ordering and errors, checked by the same
//! conformance suite. It also implements [`Lifecycle`](infra_base::Lifecycle): `init`
//! creates or opens the directory, `health` is a cheap timed check, `close` flushes.
//! Layout: `<path>/collections/<name>/` holds a collection (the engine's files and
//! `infra-collection.json`, recording its unnamed vector's dimension and distance, the
//! spec's HNSW parameters and the payload indexes, and
//! `infra-journal.jsonl` while writes made during an optimization await a flush),
//! `<path>/trash/` deleted
//! collections being removed, and `<path>/.lock` the lock of the store that has it open.
//!
//! ```
//! use infra_base::{
//!     CollectionSpec, Condition, Distance, Filter, Lifecycle, Point, SearchQuery, VectorPort,
//! };
//! use infra_qdrant_edge::{EdgeStoreOptions, EdgeVectorStore};
//! use serde_json::json;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), infra_base::InfraError> {
//! // A service opens `EdgeVectorStore::from_settings(&settings.qdrant)?` and calls `init`;
//! // here, a scratch store in a temporary directory.
//! let store = EdgeVectorStore::temporary(EdgeStoreOptions::default()).await?;
//! store.ensure_collection(&CollectionSpec::new("items", 2, Distance::Cosine)).await?;
//!
//! let payload = |color: &str| json!({ "color": color }).as_object().cloned().unwrap();
//! store
//!     .upsert("items", vec![
//!         Point::new(1, vec![1.0, 0.0]).with_payload(payload("red")),
//!         Point::new(2, vec![0.0, 1.0]).with_payload(payload("blue")),
//!     ])
//!     .await?;
//!
//! let query = SearchQuery::new(vec![0.9, 0.1], 10)
//!     .filter(Filter::default().must(Condition::keyword("color", "blue")));
//! let hits = store.search("items", &query).await?;
//! assert_eq!(hits[0].id, 2.into());
//!
//! store.close().await;
//! # Ok(())
//! # }
//! ```
//!
//! # Mapping
//!
//! - **Ids**: `PointId::Num` and `PointId::Uuid` are Qdrant's numeric and UUID ids.
//! - **Payloads**: stored as the JSON object given; an upsert replaces the whole payload.
//! - **Filters**: every condition of the port's filter tree (groups, `min_should`, match
//!   value / any / except / text, ranges, datetime ranges, geo radius and box, values
//!   count, `is_empty`, `is_null`, `has_id`, `nested`) becomes the engine's own condition,
//!   after `Filter::validate`; payload paths (`a.b`, `items[].sku`) are parsed with
//!   Qdrant's grammar (an unparsable path is `InvalidInput`). Without payload indexes a
//!   full-text `text` match is a substring match.
//! - **Scores**: what a Qdrant server returns: cosine similarity (vectors are normalized on
//!   write, so they read back as unit vectors), dot product, and the Euclidean and
//!   Manhattan distances, smallest first. `score_threshold` keeps scores `>=` the threshold
//!   for similarities and `<=` for distances.
//! - **Vectors**: the spec's dense vectors (the unnamed one is the engine's `""`) and
//!   sparse vectors (IDF modifier when declared) are the shard's; an upsert replaces all
//!   of a point's vectors, `update_vectors` replaces the ones given (every id checked
//!   first: `NotFound`, nothing changed); sparse vectors read back sorted by index.
//! - **Tuning**: the spec's HNSW parameters, quantization and on-disk flags apply over
//!   the store's options (HNSW, vectors and payload on disk), per vector over per
//!   collection; the spec's HNSW parameters are kept in the marker and applied again when
//!   the collection opens. One shard on one node: a `shard_number`, `replication_factor`
//!   or `write_consistency_factor` above 1 is `Unsupported`, naming the parameter.
//! - **Search**: exact (brute force) on segments below the indexing threshold and when
//!   [`SearchQuery::exact`](infra_base::SearchQuery::exact) is set; HNSW otherwise.
//! - **Scroll**: the engine's own paging by id (`next_page_offset` is the first id of the
//!   next page); `order_by` is the engine's, from a range index (integer, float or
//!   datetime) on the field, and `InvalidInput` without one.
//! - **Payload indexes**: the spec's indexes are created with the engine's create-index
//!   operation (on a new collection before its marker is written; on an existing one
//!   after checking every declared field for drift), flushed, and recorded in
//!   `infra-collection.json`, from which an index lost before a flush is re-created when
//!   the collection opens. `collection_info` reports the engine's payload schema.
//! - **Writes by filter** (`delete_points`, `update_payload`): the filter is resolved to the
//!   ids it matches while the collection's writer lock is held, then applied and journaled
//!   by those ids. A payload update by ids checks that every id exists first (`NotFound`,
//!   nothing changed, otherwise).
//! - **Errors**: unknown collection `NotFound`; invalid names (parsed as
//!   [`CollectionName`](infra_base::CollectionName)), specs, vectors and queries
//!   `InvalidInput` before anything is written; drift on `ensure_collection` `Conflict`;
//!   engine failures `Internal` (the engine's error kept as the source); any call before
//!   `init` or after `close` `Unavailable`.
//!
//! # Durability and indexing
//!
//! qdrant-edge 0.7 writes a WAL but does not replay it when a shard is opened, so a write
//! survives a crash of the process only once its collection is flushed. By default
//! ([`EdgeStoreOptions::flush_on_write`], `SOCIAL_QDRANT__FLUSH_ON_WRITE=true`) every write
//! is flushed before it returns: a crash loses no acknowledged write, at the cost of
//! syncing the collection's files on each write. With it off, written collections are
//! flushed in the background every [`flush_interval`](EdgeStoreOptions::flush_interval)
//! (1 s), and a crash loses at most that much. While the optimizers run, the engine cannot
//! flush: writes made meanwhile are appended to a journal in the collection's directory
//! (synced before they return under the durable setting, on the flush interval
//! otherwise), replayed when the collection is next opened, and removed by the next flush.
//! A failed background flush turns `health` to `warn` (detail `flushFailures`) until a
//! flush of that collection succeeds. A clean `close` (or drop) loses nothing; a drop
//! whose final flush fails (the directory removed under it) logs an error and loses what
//! was not yet flushed, as a crash would, instead of panicking.
//!
//! The engine has no background threads: this crate runs its optimizers (HNSW indexing,
//! merging, vacuum) on tokio's blocking pool once a collection outgrows the indexing
//! threshold, or on demand with [`EdgeVectorStore::optimize`].
//!
//! # Limits and start-up
//!
//! - At most [`max_concurrent_calls`](EdgeStoreOptions::max_concurrent_calls) engine calls
//!   run at once; the call's timeout ([`call_timeout`](EdgeStoreOptions::call_timeout),
//!   `SOCIAL_QDRANT__TIMEOUT`) covers the wait for a slot, and a call still waiting at its
//!   deadline fails as `PoolExhausted` without ever starting.
//! - At most [`max_collections`](EdgeStoreOptions::max_collections) collections
//!   (`Conflict` beyond); exact search only when
//!   [`exact_search`](EdgeStoreOptions::exact_search) allows it and on collections of at
//!   most [`exact_search_max_points`](EdgeStoreOptions::exact_search_max_points) points
//!   (`InvalidInput` otherwise).
//! - A name that differs only in case from an existing collection is `Conflict` (both
//!   would be one directory on a case-insensitive file system), and one whose files would
//!   pass the platform's path length under the data directory is `InvalidInput`.
//! - A collection that fails to load at `init` is quarantined: left on disk untouched,
//!   logged, reported by `health` (`warn`, detail `quarantined`), and every operation on
//!   it (including `ensure_collection` and `delete_collection`) fails as `Internal`
//!   saying so. The other collections open normally. Repair or move its directory away,
//!   then restart.
//!
//! # Concurrency
//!
//! Every engine call runs on tokio's blocking pool. Reads run in parallel with each other,
//! with writes and with optimizations; writes to one collection are serialized (as in the
//! engine). `close` and `delete_collection` wait for the operations in flight. A data
//! directory is locked by the store that opened it, so a second store (in this or another
//! process) fails `init` instead of corrupting it.

mod collection;
mod convert;
mod error;
mod facet;
mod factory;
mod index;
mod options;
mod query;
mod store;

pub use collection::CollectionStats;
pub use factory::{EmbeddedQdrant, build};
pub use options::EdgeStoreOptions;
pub use store::EdgeVectorStore;
