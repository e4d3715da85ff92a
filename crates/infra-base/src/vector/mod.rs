//! The vector port: collections of points (id, vector, JSON payload) searched by similarity.
//!
//! [`VectorPort`] mirrors the part of Qdrant a service needs, so the remote adapter
//! (qdrant-client), the embedded adapter (qdrant-edge), an in-memory fake and a mock are
//! interchangeable. Conveniences live in [`VectorPortExt`].

mod alias;
mod count;
mod ext;
mod facet;
mod filter;
mod groups;
mod index;
mod lookup;
mod name;
pub mod ops;
mod points;
mod query;
mod types;
mod vectors;
mod write;

use async_trait::async_trait;

use crate::error::InfraResult;

pub use alias::{Alias, AliasChange};
pub use count::CountRequest;
pub use ext::{ScrollPages, VectorPortExt};
pub use facet::{FacetHit, FacetRequest, FacetValue, MAX_FACET_LIMIT};
pub use filter::{
    AnyValues, Condition, DatetimeMicros, DatetimeRange, Filter, GeoPoint, MAX_FILTER_CONDITIONS,
    MAX_FILTER_DEPTH, MAX_FILTER_VALUES, MatchValue, MinShould, Range, ValuesCount,
};
/// Payload paths and datetimes read as the filters read them, for in-process stores.
#[cfg(feature = "testing")]
pub(crate) use filter::{datetime::parse_payload as parse_payload_datetime, values_at};
pub use groups::{
    GroupId, GroupsRequest, MAX_GROUP_SIZE, MAX_QUERY_BATCH, PointGroup, check_batch,
};
pub use index::{FieldIndex, MAX_INDEX_FIELD_LEN, PayloadIndex, TextTokenizer};
pub use lookup::{LookupLocation, WithLookup, join_lookup, resolve_lookup};
pub use name::{CollectionName, InvalidCollectionName, MAX_COLLECTION_NAME_LEN};
pub use points::{
    MAX_SCROLL_LIMIT, OrderBy, OrderDirection, PayloadUpdate, PointSelector, ScrollPage,
    ScrollRequest, StartFrom,
};
pub use query::{
    DEFAULT_RRF_K, Fusion, MAX_EXAMPLES, MAX_PREFETCH_DEPTH, MAX_PREFETCHES, MAX_QUERY_WINDOW,
    PayloadSelector, Prefetch, Query, QueryParams, QueryRequest, Recommend, RecommendStrategy,
    VectorInput, average_vector, missing_example, scaled_fast_sigmoid,
};
pub use types::{
    CollectionInfo, CollectionSpec, Distance, EnsureOutcome, MAX_DIMENSION, MAX_SEARCH_LIMIT,
    ParsePointIdError, Payload, Point, PointId, Record, ScoredPoint, SearchQuery,
    validate_collection_name, validate_vector,
};
pub use vectors::{
    HnswParams, MAX_SPARSE_ELEMENTS, MAX_VECTOR_NAME_LEN, PointVectors, Quantization, SparseParams,
    SparseVector, UNNAMED_VECTOR, Vector, VectorParams, VectorSchema, Vectors,
};
pub use write::{WriteOptions, WriteOrdering};

/// The backend name used in errors raised by vector adapters.
pub const VECTOR_BACKEND: &str = "qdrant";

/// What a service may ask of a vector store.
///
/// Contract every implementation keeps (checked by the conformance suite in
/// `infra_base::testing`, feature `testing`):
/// - an operation on a collection that does not exist fails with
///   [`NotFound`](crate::ErrorKind::NotFound);
/// - a vector of the wrong dimension, a non-finite component, a vector name the collection
///   does not declare (or of the other kind, dense or sparse), an invalid sparse vector, a
///   zero or too large search limit and an invalid collection name fail with
///   [`InvalidInput`](crate::ErrorKind::InvalidInput) before anything is written (and so
///   are an invalid [`ScrollRequest`], [`PayloadUpdate`] or [`Filter`]: see
///   [`Filter::validate`]);
/// - writes are visible to the next read once they return;
/// - scores and ordering follow the collection's [`Distance`].
///
/// Use it as `Arc<dyn VectorPort>`; see `MockVectorPort` (feature `mock`) for tests.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait VectorPort: Send + Sync + 'static {
    /// Checks that the store answers.
    async fn ping(&self) -> InfraResult<()>;

    /// Creates the collection if it does not exist (with the spec's vectors and tuning),
    /// and the payload indexes the spec declares that it lacks (idempotent; the outcome
    /// says whether the collection was created).
    ///
    /// An existing collection that lacks a declared vector, has one of another dimension,
    /// distance or IDF modifier, or has an index of another type on a declared field, is
    /// [`Conflict`](crate::ErrorKind::Conflict) naming both, never silently reused (and
    /// nothing is created); vectors and indexes it has beyond the declared ones are
    /// accepted, and tuning is not compared (see [`CollectionSpec`]). A backend that cannot
    /// honour a parameter (the embedded store and sharding) refuses it as
    /// [`Unsupported`](crate::ErrorKind::Unsupported).
    async fn ensure_collection(&self, spec: &CollectionSpec) -> InfraResult<EnsureOutcome>;

    /// Describes a collection, with its payload indexes as the store reports them.
    async fn collection_info(&self, name: &str) -> InfraResult<CollectionInfo>;

    /// Deletes a collection and its points; `false` when it did not exist.
    async fn delete_collection(&self, name: &str) -> InfraResult<bool>;

    /// Inserts or replaces points, and returns once the write is applied. A replaced point
    /// keeps none of its former vectors: a named vector the new point omits is gone.
    async fn upsert(&self, collection: &str, points: Vec<Point>) -> InfraResult<()>;

    /// Inserts or replaces points as [`upsert`](Self::upsert) does, acknowledged as
    /// `options` asks (see [`WriteOptions`]): without waiting, for bulk loads, or with
    /// another write ordering, for replicated collections. Points are checked as for
    /// `upsert` before anything is sent, whatever `options` says.
    ///
    /// The default calls `upsert`: a store that applies each write before it answers, on
    /// one replica (in memory, embedded), meets every option, since waiting is the stronger
    /// acknowledgement and one replica has one order. The remote adapter sends the options
    /// to Qdrant.
    async fn upsert_with(
        &self,
        collection: &str,
        points: Vec<Point>,
        options: &WriteOptions,
    ) -> InfraResult<()> {
        let _ = options;
        self.upsert(collection, points).await
    }

    /// Reads points by id, in the order of `ids`; ids that do not exist are skipped, and a
    /// repeated id is returned once.
    async fn get(
        &self,
        collection: &str,
        ids: &[PointId],
        with_vector: bool,
    ) -> InfraResult<Vec<Record>>;

    /// Deletes points by id (ids that do not exist are ignored), once the write is applied.
    ///
    /// Shorthand for [`delete_points`](Self::delete_points) with
    /// [`PointSelector::Ids`]; implementations need not override it.
    async fn delete(&self, collection: &str, ids: &[PointId]) -> InfraResult<()> {
        self.delete_points(collection, &PointSelector::Ids(ids.to_vec()))
            .await
    }

    /// Deletes the selected points, once the write is applied: by id (ids that do not exist
    /// are ignored) or every point matching a filter (an empty filter deletes every point,
    /// as in Qdrant).
    async fn delete_points(&self, collection: &str, selector: &PointSelector) -> InfraResult<()>;

    /// Replaces the given vectors of existing points, once the write is applied; their
    /// other vectors and payloads are kept (Qdrant's `update_vectors`).
    ///
    /// Every vector is checked as for [`upsert`](Self::upsert), and each entry must name
    /// at least one (`InvalidInput`). An id that does not exist is
    /// [`NotFound`](crate::ErrorKind::NotFound), as in Qdrant (whether the other points
    /// were updated depends on the backend).
    async fn update_vectors(&self, collection: &str, points: &[PointVectors]) -> InfraResult<()>;

    /// The nearest points to the query vector, best first, at most `query.limit`: by the
    /// dense or sparse vector the query names (see [`SearchQuery`]).
    async fn search(&self, collection: &str, query: &SearchQuery) -> InfraResult<Vec<ScoredPoint>>;

    /// Qdrant's universal query (see [`QueryRequest`]): nearest by a vector or by a stored
    /// point, recommendation from examples, prefetch stages merged by fusion (hybrid
    /// dense + sparse search); best first, at most `request.limit` after `request.offset`.
    ///
    /// A request that fails [`QueryRequest::validate`] is `InvalidInput`; a point referred
    /// to by id that does not exist, or lacks the vector its stage uses, is
    /// [`NotFound`](crate::ErrorKind::NotFound). Points referred to by id are not in the
    /// results. Ties in score are ordered as the backend finds them.
    async fn query(
        &self,
        collection: &str,
        request: &QueryRequest,
    ) -> InfraResult<Vec<ScoredPoint>>;

    /// Several universal queries on one collection in one call (Qdrant's `query_batch`):
    /// one answer per request, in order, each as [`query`](Self::query) gives it. More
    /// than [`MAX_QUERY_BATCH`] requests, or any invalid one, fails the whole batch; an
    /// empty batch answers nothing.
    ///
    /// The default runs the queries one after the other; a remote store sends them in one
    /// round trip.
    async fn query_batch(
        &self,
        collection: &str,
        requests: &[QueryRequest],
    ) -> InfraResult<Vec<Vec<ScoredPoint>>> {
        groups::query_batch_in_turn(self, collection, requests).await
    }

    /// The best points per value of a payload field (Qdrant's `query_groups`, see
    /// [`GroupsRequest`]): at most `request.query.limit` groups, ordered by their best
    /// point, each with at most `request.group_size` points, best first.
    ///
    /// An invalid query is `InvalidInput` as for [`query`](Self::query), and so is
    /// invalid grouping ([`GroupsRequest::validate_grouping`]). The default pages through
    /// [`query`](Self::query) until the groups are full; a remote store asks Qdrant.
    async fn query_groups(
        &self,
        collection: &str,
        request: &GroupsRequest,
    ) -> InfraResult<Vec<PointGroup>> {
        groups::query_groups_by_pages(self, collection, request).await
    }

    /// Counts the points matching `filter` exactly (an empty filter counts all).
    ///
    /// Shorthand for [`count_points`](Self::count_points) with
    /// [`CountRequest::exact`]; implementations need not override it.
    async fn count(&self, collection: &str, filter: &Filter) -> InfraResult<u64> {
        self.count_points(collection, &CountRequest::exact(filter.clone()))
            .await
    }

    /// Counts the points matching `request.filter`, exactly or as an estimate (see
    /// [`CountRequest`]); an invalid filter is `InvalidInput`.
    async fn count_points(&self, collection: &str, request: &CountRequest) -> InfraResult<u64>;

    /// How many points matching `request.filter` hold each distinct value of the payload
    /// field `request.key`: the most frequent first, ties by ascending value, at most
    /// `request.limit` (see [`FacetRequest`]).
    ///
    /// Needs a keyword, integer, bool or uuid [`PayloadIndex`] on the field (Qdrant counts
    /// from it): without one, or with an invalid request, `InvalidInput`.
    async fn facet(&self, collection: &str, request: &FacetRequest) -> InfraResult<Vec<FacetHit>>;

    /// One page of the points matching `request.filter`, by ascending id, from
    /// `request.offset` (inclusive).
    ///
    /// The page's `next_page_offset` is the first id of the next page, `None` on the last
    /// page: walking the pages visits every point matching the filter exactly once, if the
    /// collection is not written meanwhile. With `order_by` the page is ordered by that
    /// payload field, has no `next_page_offset` (Qdrant has no cursor for it), and needs a
    /// range index on the field (an integer, float or datetime [`PayloadIndex`] declared in
    /// the [`CollectionSpec`]): without one it is `InvalidInput`. A request that fails
    /// [`ScrollRequest::validate`] is `InvalidInput`.
    async fn scroll(&self, collection: &str, request: &ScrollRequest) -> InfraResult<ScrollPage>;

    /// Changes the payloads of the selected points in place, once the write is applied
    /// (Qdrant's `set_payload`, `overwrite_payload`, `delete_payload` and `clear_payload`,
    /// see [`PayloadUpdate`]); vectors are untouched.
    ///
    /// One method with a typed [`PayloadUpdate`] rather than four: the four share the
    /// selector, the wait semantics, the errors and the layers' descriptor, so each
    /// implementation (and each wrapper of the port) writes the collection lookup and the
    /// selector once, and adding a payload operation adds a variant, not a required
    /// method. By ids, an id that does not exist is `NotFound` (Qdrant's answer; whether
    /// the other points were updated depends on the backend); by filter, points that do
    /// not match are untouched and matching none is not an error.
    async fn update_payload(
        &self,
        collection: &str,
        selector: &PointSelector,
        update: &PayloadUpdate,
    ) -> InfraResult<()>;

    /// The names of every collection, sorted (aliases are not collections: see
    /// [`list_aliases`](Self::list_aliases)).
    async fn list_collections(&self) -> InfraResult<Vec<String>>;

    /// Applies `changes` together, in order, or none of them (Qdrant's `update_aliases`):
    /// [`AliasChange::switch`] moves an alias to another collection with no moment where
    /// it names neither. A change naming a collection that does not exist, or renaming an
    /// alias that does not exist, is [`NotFound`](crate::ErrorKind::NotFound); an alias
    /// named like an existing collection is [`Conflict`](crate::ErrorKind::Conflict); an
    /// invalid name is `InvalidInput` ([`AliasChange::validate`]).
    async fn update_aliases(&self, changes: &[AliasChange]) -> InfraResult<()>;

    /// Every alias and the collection it names, sorted by alias.
    async fn list_aliases(&self) -> InfraResult<Vec<Alias>>;
}
