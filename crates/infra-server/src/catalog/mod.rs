//! The catalog: collections of items (id, vector, JSON payload) searched by similarity.
//!
//! [`CatalogService`] is the service logic of the reference binary. It is built only on
//! [`BaseService`] and the ports ([`VectorPort`] for the items,
//! [`RedisPort`](infra_base::RedisPort) for the search cache); it never sees an adapter,
//! so its tests run on `MemoryVector`/`MemoryRedis` or mockall mocks.
//!
//! - Inputs are validated here, before any port is called: collection names, dimensions,
//!   batch sizes, duplicate ids, vector components, search limits and thresholds. Every
//!   refusal is an [`InfraError`] of kind [`InvalidInput`](ErrorKind::InvalidInput) raised by
//!   the backend [`CATALOG_BACKEND`]. The vector store checks a vector's length against the
//!   collection's dimension (the port's contract: before anything is written), so the
//!   service needs no extra round trip to learn it.
//! - Searches go through the [`SearchCache`] (infra-base's `Cache` in Redis: single flight,
//!   invalidated by every write to the collection, including writes that timed out or
//!   were cancelled); a Redis that is absent or failing only turns caching off.
//! - A vector store that is not configured or down gives the port's error (`NotConfigured`,
//!   `Unavailable`, `Timeout`, `CircuitOpen`...), which the HTTP layer answers with 503.

pub mod cache;

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::sync::Arc;

use infra_base::vector::{MAX_DIMENSION, validate_collection_name};
use infra_base::{
    BaseService, CollectionInfo, CollectionSpec, Distance, EnsureOutcome, ErrorKind, FacetHit,
    FacetRequest, FieldIndex, Filter, HnswParams, InfraError, InfraResult, Payload, PayloadUpdate,
    Point, PointId, PointSelector, Quantization, QueryRequest, Record, ScoredPoint, ScrollPage,
    ScrollRequest, SearchQuery, SparseParams, SparseVector, UNNAMED_VECTOR, VectorParams,
    VectorPort, VectorPortExt, Vectors,
};
use serde::{Deserialize, Serialize};

pub use cache::{
    CACHE_NAME, CACHE_NAMESPACE, CacheConfig, CacheStatus, DEFAULT_CACHE_OP_TIMEOUT,
    DEFAULT_CACHE_TTL, MAX_CACHED_BYTES, SearchCache, WARN_EVERY,
};
pub use infra_base::cache::CacheStats;

/// The backend named by errors the catalog raises itself (validation, missing items).
pub const CATALOG_BACKEND: &str = "catalog";

/// Most items one upsert request may carry.
pub const MAX_BATCH: usize = 1_000;

/// Largest `limit` of a search (the port accepts up to 10,000; a service answer that large
/// is better paged by the client).
pub const MAX_SEARCH_LIMIT: usize = 1_000;

/// The `limit` of a search that gives none.
pub const DEFAULT_SEARCH_LIMIT: usize = 10;

/// The page size of `GET /collections/{name}/items` that gives none.
pub const DEFAULT_PAGE_SIZE: usize = 100;

/// Largest page of `GET /collections/{name}/items`.
pub const MAX_PAGE_SIZE: usize = 1_000;

/// One page of items: `GET /collections/{name}/items`.
#[derive(Debug, Clone, PartialEq)]
pub struct PageRequest {
    /// Only items matching it (empty: every item).
    pub filter: Filter,
    /// How many items at most, 1..=[`MAX_PAGE_SIZE`].
    pub limit: usize,
    /// The first id of the page: the previous page's `next` cursor (`None`: the first page).
    pub cursor: Option<PointId>,
    /// Return vectors.
    pub with_vector: bool,
}

/// A collection to create: `POST /collections`.
///
/// Its dense vectors take one of two forms, as in Qdrant: one unnamed vector
/// (`dimension` and `distance`), which items carry as `vector`; or named ones (`vectors`,
/// several per item, each with its own dimension, distance and tuning), which items carry
/// as `vectors`. Sparse vectors are always named and may sit beside either form, or alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCollection {
    /// 1-255 ASCII letters, digits, `_`, `-` or `.`.
    pub name: String,
    /// The unnamed vector's dimension, 1..=65536 (with `distance`, without `vectors`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::integral::option_usize"
    )]
    pub dimension: Option<usize>,
    /// How the unnamed vector is compared: `cosine`, `dot`, `euclid` or `manhattan`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "non_null"
    )]
    pub distance: Option<Distance>,
    /// Named dense vectors (`{"text": {"dimension": 384, "distance": "cosine"}}`), instead
    /// of the unnamed one; an existing collection without one of them is a conflict.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "non_null"
    )]
    pub vectors: Option<BTreeMap<String, NamedVectorParams>>,
    /// Payload indexes to create (`{"field": "price", "type": "integer"}`), one per field;
    /// an existing collection gets the ones it lacks.
    #[serde(default)]
    pub indexes: Vec<FieldIndex>,
    /// Named sparse vectors (`{"words": {"idf": true}}`), for keyword and hybrid search; an
    /// existing collection without one of them is a conflict.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sparse_vectors: BTreeMap<String, SparseParams>,
    /// HNSW graph parameters of every dense vector without its own (the store's defaults
    /// when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hnsw: Option<HnswParams>,
    /// Quantization of every dense vector without its own (none when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantization: Option<Quantization>,
    /// Keep payloads on disk rather than in RAM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_disk_payload: Option<bool>,
}

/// One named dense vector of a [`NewCollection`].
///
/// The request body's form of infra-base's [`VectorParams`], which it converts to: unknown
/// fields are refused and the dimension is read as JSON Schema reads integers, as in the
/// rest of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedVectorParams {
    /// Dimension, 1..=65536.
    #[serde(deserialize_with = "crate::integral::usize")]
    pub dimension: usize,
    /// `cosine`, `dot`, `euclid` or `manhattan`.
    pub distance: Distance,
    /// This vector's HNSW graph parameters, over the collection's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hnsw: Option<HnswParams>,
    /// This vector's quantization, over the collection's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantization: Option<Quantization>,
    /// Keep this vector on disk (memory-mapped) rather than in RAM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_disk: Option<bool>,
}

impl NamedVectorParams {
    /// Vectors of `dimension` compared by `distance`, with the collection's tuning.
    pub const fn new(dimension: usize, distance: Distance) -> Self {
        Self {
            dimension,
            distance,
            hnsw: None,
            quantization: None,
            on_disk: None,
        }
    }

    fn to_params(self) -> VectorParams {
        let mut params = VectorParams::dense(self.dimension, self.distance);
        params.hnsw = self.hnsw;
        params.quantization = self.quantization;
        params.on_disk = self.on_disk;
        params
    }
}

impl NewCollection {
    /// A collection of one unnamed dense vector of `dimension` compared by `distance`,
    /// without indexes, sparse vectors or tuning.
    pub fn new(name: impl Into<String>, dimension: usize, distance: Distance) -> Self {
        Self {
            dimension: Some(dimension),
            distance: Some(distance),
            ..Self::named(name)
        }
    }

    /// A collection with no vector yet: declare named ones with
    /// [`with_vector`](Self::with_vector) or set [`sparse_vectors`](Self::sparse_vectors).
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            dimension: None,
            distance: None,
            vectors: None,
            indexes: Vec::new(),
            sparse_vectors: BTreeMap::new(),
            hnsw: None,
            quantization: None,
            on_disk_payload: None,
        }
    }

    /// Also declares the named dense vector `name`.
    #[must_use]
    pub fn with_vector(mut self, name: impl Into<String>, params: NamedVectorParams) -> Self {
        self.vectors
            .get_or_insert_with(BTreeMap::new)
            .insert(name.into(), params);
        self
    }

    /// The port's spec of this collection.
    ///
    /// # Errors
    ///
    /// `InvalidInput` when the dense vectors are not in one of the two forms: `dimension`
    /// without `distance` or the reverse, both forms at once, or an empty `vectors`.
    pub fn to_spec(&self) -> InfraResult<CollectionSpec> {
        const OP: &str = "create_collection";
        let mut spec = match (self.dimension, self.distance, &self.vectors) {
            (Some(dimension), Some(distance), None) => {
                CollectionSpec::new(self.name.clone(), dimension, distance)
            }
            (None, None, Some(named)) if !named.is_empty() => named.iter().fold(
                CollectionSpec::named(self.name.clone()),
                |spec, (name, params)| spec.with_vector(name.clone(), params.to_params()),
            ),
            (None, None, None) => CollectionSpec::named(self.name.clone()),
            (Some(_), None, _) | (None, Some(_), _) => {
                return Err(invalid(
                    OP,
                    "dimension and distance declare the unnamed vector together: expected \
                     both or neither",
                ));
            }
            (None, None, Some(_)) => {
                return Err(invalid(
                    OP,
                    "vectors declares no named vector: expected at least one, or dimension \
                     and distance for one unnamed vector",
                ));
            }
            (Some(_), Some(_), Some(_)) => {
                return Err(invalid(
                    OP,
                    "dimension and distance (one unnamed vector) and vectors (named vectors) \
                     exclude each other: expected one form",
                ));
            }
        };
        for (name, params) in &self.sparse_vectors {
            spec = spec.with_sparse(name.clone(), *params);
        }
        spec.indexes.clone_from(&self.indexes);
        spec.hnsw = self.hnsw;
        spec.quantization = self.quantization;
        spec.on_disk_payload = self.on_disk_payload;
        Ok(spec)
    }
}

/// One item of an upsert: `PUT /collections/{name}/items`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemInput {
    /// An unsigned integer or a UUID.
    pub id: PointId,
    /// The item's vector in a collection of one unnamed vector; its length must be the
    /// collection's dimension. Without `vectors`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "non_null"
    )]
    pub vector: Option<Vec<f32>>,
    /// The item's named dense vectors (`{"text": [0.1, 0.2]}`) in a collection of named
    /// vectors: each one the collection declares, of its dimension; the others stay
    /// empty. Without `vector`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "non_null"
    )]
    pub vectors: Option<BTreeMap<String, Vec<f32>>>,
    /// A JSON object (default `{}`).
    #[serde(default)]
    pub payload: Payload,
    /// Sparse vectors by name (`{"words": {"indices": [7], "values": [1.0]}}`): each one the
    /// collection declares (default none).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sparse: BTreeMap<String, SparseVector>,
}

/// A search: `POST /collections/{name}/search`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    /// The query vector.
    pub vector: Vec<f32>,
    /// The named dense vector to search (default: the unnamed one).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "non_null"
    )]
    pub using: Option<String>,
    /// How many hits at most, 1..=[`MAX_SEARCH_LIMIT`] (default [`DEFAULT_SEARCH_LIMIT`]).
    #[serde(default = "default_limit", deserialize_with = "crate::integral::usize")]
    pub limit: usize,
    /// Only hits whose score passes it (`>=` for cosine and dot, `<=` for distances).
    #[serde(default)]
    pub score_threshold: Option<f32>,
    /// Payload filter (`must` / `should` / `must_not` conditions); empty matches all.
    #[serde(default)]
    pub filter: Filter,
    /// Return payloads (default true).
    #[serde(default = "yes")]
    pub with_payload: bool,
    /// Return vectors (default false).
    #[serde(default)]
    pub with_vector: bool,
    /// Exact (brute-force) search instead of the index (default false).
    #[serde(default)]
    pub exact: bool,
}

/// An optional field that, when present, must hold a value (`#[serde(default,
/// deserialize_with = "non_null")]`): the OpenAPI document does not make these fields
/// nullable, so `null` is refused rather than read as absent.
fn non_null<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

fn default_limit() -> usize {
    DEFAULT_SEARCH_LIMIT
}

fn yes() -> bool {
    true
}

impl SearchRequest {
    /// A request for the [`DEFAULT_SEARCH_LIMIT`] nearest items to `vector`, with payloads.
    pub fn new(vector: Vec<f32>) -> Self {
        Self {
            vector,
            using: None,
            limit: DEFAULT_SEARCH_LIMIT,
            score_threshold: None,
            filter: Filter::default(),
            with_payload: true,
            with_vector: false,
            exact: false,
        }
    }

    /// The port's query for this request.
    pub fn to_query(&self) -> SearchQuery {
        SearchQuery {
            vector: infra_base::Vector::Dense(self.vector.clone()),
            using: self.using.clone(),
            limit: self.limit,
            score_threshold: self.score_threshold,
            filter: self.filter.clone(),
            with_payload: self.with_payload,
            with_vector: self.with_vector,
            exact: self.exact,
        }
    }
}

/// The hits of a search and how the cache took part.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchOutcome {
    /// Best first.
    pub hits: Vec<ScoredPoint>,
    /// `hit`, `miss` or `bypass` (sent as the `x-cache` header).
    pub cache: CacheStatus,
}

impl SearchOutcome {
    /// The outcome of a search, counted in
    /// [`CACHE_REQUESTS`](infra_base::telemetry::CACHE_REQUESTS) by cache status.
    fn counted(hits: Vec<ScoredPoint>, cache: CacheStatus) -> Self {
        metrics::counter!(
            infra_base::telemetry::CACHE_REQUESTS,
            infra_base::telemetry::labels::OUTCOME => cache.as_str(),
        )
        .increment(1);
        Self { hits, cache }
    }
}

/// The catalog service: collections, items and cached similarity search over the ports of
/// a [`BaseService`]. Cheap to share (`Arc`), safe to call concurrently.
#[derive(Debug)]
pub struct CatalogService {
    base: BaseService,
    cache: SearchCache,
}

impl CatalogService {
    /// The catalog over `base`'s ports, caching searches as `cache` says.
    pub fn new(base: BaseService, cache: CacheConfig) -> Self {
        let cache = SearchCache::new(base.redis().cloned(), cache);
        Self { base, cache }
    }

    /// The ports the service runs on.
    pub fn base(&self) -> &BaseService {
        &self.base
    }

    /// What the search cache did so far.
    pub fn cache_stats(&self) -> CacheStats {
        self.cache.stats()
    }

    /// The search cache.
    pub fn search_cache(&self) -> &SearchCache {
        &self.cache
    }

    fn vectors(&self) -> InfraResult<&Arc<dyn VectorPort>> {
        self.base.require_vector()
    }

    /// Creates a collection and its payload indexes, or accepts an identical existing one,
    /// creating the indexes it lacks (idempotent). An existing collection with another
    /// dimension or distance, or an index of another type on a requested field, is a
    /// `Conflict`.
    pub async fn create_collection(&self, request: NewCollection) -> InfraResult<EnsureOutcome> {
        validate_tuning(&request)?;
        let spec = request.to_spec()?;
        spec.validate()
            .map_err(|e| relabel(&e, "create_collection"))?;
        let vectors = self.vectors()?;
        // A collection of that name may have existed before (deleted elsewhere): a new one
        // invalidates; an existing one changed nothing.
        self.write(&spec.name, vectors.ensure_collection(&spec), |outcome| {
            *outcome == EnsureOutcome::Created
        })
        .await
    }

    /// Describes a collection (`NotFound` when it does not exist).
    pub async fn collection_info(&self, name: &str) -> InfraResult<CollectionInfo> {
        check_name(name, "collection_info")?;
        self.vectors()?.collection_info(name).await
    }

    /// Deletes a collection and its items (`NotFound` when it does not exist).
    pub async fn delete_collection(&self, name: &str) -> InfraResult<()> {
        check_name(name, "delete_collection")?;
        let vectors = self.vectors()?;
        if self
            .write(name, vectors.delete_collection(name), |_| true)
            .await?
        {
            Ok(())
        } else {
            Err(collection_not_found(name, "delete_collection"))
        }
    }

    /// Inserts or replaces a batch of items; returns how many were written.
    ///
    /// The batch is checked as a whole first (1..=[`MAX_BATCH`] items, distinct ids, vectors
    /// of one length, finite components); the store then refuses a length other than the
    /// collection's dimension before writing anything.
    pub async fn upsert_items(
        &self,
        collection: &str,
        items: Vec<ItemInput>,
    ) -> InfraResult<usize> {
        const OP: &str = "upsert_items";
        check_name(collection, OP)?;
        validate_batch(&items)?;
        let count = items.len();
        let points: Vec<Point> = items
            .into_iter()
            .map(|item| {
                let dense = item
                    .vector
                    .map(|vector| (UNNAMED_VECTOR.to_owned(), vector))
                    .into_iter()
                    .chain(item.vectors.into_iter().flatten());
                let vectors: Vectors = dense
                    .map(|(name, vector)| (name, vector.into()))
                    .chain(item.sparse.into_iter().map(|(name, v)| (name, v.into())))
                    .collect();
                Point::with_vectors(item.id, vectors).with_payload(item.payload)
            })
            .collect();
        let vectors = self.vectors()?;
        self.write(collection, vectors.upsert(collection, points), |()| true)
            .await
            .map(|()| count)
    }

    /// Reads one item (`NotFound` when the collection or the item does not exist).
    pub async fn get_item(
        &self,
        collection: &str,
        id: PointId,
        with_vector: bool,
    ) -> InfraResult<Record> {
        const OP: &str = "get_item";
        check_name(collection, OP)?;
        self.vectors()?
            .get_one(collection, id, with_vector)
            .await?
            .ok_or_else(|| {
                InfraError::new(
                    ErrorKind::NotFound,
                    CATALOG_BACKEND,
                    OP,
                    format!("item {id} does not exist in collection {collection}"),
                )
            })
    }

    /// Deletes one item; deleting an item that does not exist is not an error (`NotFound`
    /// only when the collection does not exist).
    pub async fn delete_item(&self, collection: &str, id: PointId) -> InfraResult<()> {
        check_name(collection, "delete_item")?;
        let vectors = self.vectors()?;
        self.write(collection, vectors.delete(collection, &[id]), |()| true)
            .await
    }

    /// One page of the items matching `request.filter`, by ascending id, from
    /// `request.cursor`; the page's `next_page_offset` is the next page's cursor (`None` on
    /// the last page). Walking the pages visits every matching item once if the collection
    /// is not written meanwhile.
    pub async fn list_items(
        &self,
        collection: &str,
        request: &PageRequest,
    ) -> InfraResult<ScrollPage> {
        const OP: &str = "list_items";
        check_name(collection, OP)?;
        check_limit(request.limit, MAX_PAGE_SIZE, OP)?;
        request.filter.validate(OP).map_err(|e| relabel(&e, OP))?;
        let scroll = ScrollRequest {
            filter: request.filter.clone(),
            offset: request.cursor,
            with_vector: request.with_vector,
            ..ScrollRequest::new(request.limit)
        };
        self.vectors()?.scroll(collection, &scroll).await
    }

    /// Merges `payload` into an item's payload: its keys are set, the item's other keys
    /// kept (`NotFound` when the collection or the item does not exist). An empty
    /// `payload` changes nothing and is refused.
    pub async fn merge_item_payload(
        &self,
        collection: &str,
        id: PointId,
        payload: Payload,
    ) -> InfraResult<()> {
        const OP: &str = "merge_item_payload";
        check_name(collection, OP)?;
        if payload.is_empty() {
            return Err(invalid(
                OP,
                "an empty payload changes nothing: expected an object with at least one key",
            ));
        }
        let vectors = self.vectors()?;
        let selector = PointSelector::Ids(vec![id]);
        let update = PayloadUpdate::Set(payload);
        self.write(
            collection,
            vectors.update_payload(collection, &selector, &update),
            |()| true,
        )
        .await
    }

    /// Deletes every item matching `filter`. An empty filter would delete every item and is
    /// refused: delete the collection instead.
    pub async fn delete_items_matching(&self, collection: &str, filter: Filter) -> InfraResult<()> {
        const OP: &str = "delete_items";
        check_name(collection, OP)?;
        if filter.is_empty() {
            return Err(invalid(
                OP,
                "an empty filter would delete every item: give at least one condition, or \
                 delete the collection",
            ));
        }
        filter.validate(OP).map_err(|e| relabel(&e, OP))?;
        let vectors = self.vectors()?;
        let selector = PointSelector::Filter(filter);
        self.write(
            collection,
            vectors.delete_points(collection, &selector),
            |()| true,
        )
        .await
    }

    /// The items nearest to the request's vector, through the search cache.
    ///
    /// The cache is consulted only for a valid request; a hit never reaches the vector
    /// store, a miss stores the store's answer for the cache TTL (concurrent identical
    /// searches in this process ask the store once), and a Redis that is not configured or
    /// fails, or a collection within an invalidation's uncertainty window, gives `bypass`
    /// (the store answers, nothing is cached).
    pub async fn search(
        &self,
        collection: &str,
        request: &SearchRequest,
    ) -> InfraResult<SearchOutcome> {
        validate_search(collection, request)?;
        let vectors = self.vectors()?;
        let query = request.to_query();
        let (hits, status) = self
            .cache
            .search(collection, &SearchCache::fingerprint(&query), || {
                vectors.search(collection, &query)
            })
            .await?;
        Ok(SearchOutcome::counted(hits, status))
    }

    /// Qdrant's universal query on `collection` (nearest by a vector or a stored item,
    /// recommendation from examples, prefetch stages merged by fusion), through the search
    /// cache as [`search`](Self::search) is. At most [`MAX_SEARCH_LIMIT`] results per call.
    ///
    /// A query that reads its ids from another collection (`lookup_from`) bypasses the
    /// cache: its answer depends on that collection too, whose writes invalidate only
    /// their own collection's entries.
    pub async fn query(
        &self,
        collection: &str,
        request: &QueryRequest,
    ) -> InfraResult<SearchOutcome> {
        const OP: &str = "query";
        check_name(collection, OP)?;
        check_limit(request.limit, MAX_SEARCH_LIMIT, OP)?;
        let vectors = self.vectors()?;
        let outcome = if request.reads_other_collections() {
            vectors
                .query(collection, request)
                .await
                .map(|hits| SearchOutcome::counted(hits, CacheStatus::Bypass))
        } else {
            self.cache
                .search(collection, &SearchCache::query_fingerprint(request), || {
                    vectors.query(collection, request)
                })
                .await
                .map(|(hits, status)| SearchOutcome::counted(hits, status))
        };
        match outcome {
            Err(err) if err.kind() == ErrorKind::NotFound => {
                Err(missing_reference(vectors.as_ref(), collection, err).await)
            }
            other => other,
        }
    }

    /// How many items matching `request.filter` hold each value of the payload field
    /// `request.key`, the most frequent first: Qdrant's facet, which needs a keyword,
    /// integer, bool or uuid index on the field (`InvalidInput` without one). Not cached:
    /// a facet is a dashboard's read, not a hot path.
    pub async fn facet(
        &self,
        collection: &str,
        request: &FacetRequest,
    ) -> InfraResult<Vec<FacetHit>> {
        const OP: &str = "facet";
        check_name(collection, OP)?;
        request.validate()?;
        self.vectors()?.facet(collection, request).await
    }

    /// Runs a write to `collection`, then invalidates its cached searches unless the write
    /// succeeded without changing anything (`changed` says). Every error invalidates: a
    /// refusal as a write of known outcome, anything else (a timeout, a transport error, an
    /// open circuit after an earlier attempt) as one that may still land. A write whose
    /// future is dropped mid-flight (a client gone) invalidates as of unknown outcome too.
    /// The invalidation runs in its own task; this waits for its first attempt only.
    async fn write<T>(
        &self,
        collection: &str,
        write: impl Future<Output = InfraResult<T>>,
        changed: impl FnOnce(&T) -> bool,
    ) -> InfraResult<T> {
        let guard = self.cache.guard(collection);
        let result = write.await;
        guard.done();
        if result.as_ref().map_or(true, changed) {
            self.cache.after_write(collection, &result).await;
        }
        result
    }
}

/// The error of a query the store answered `NotFound`: the store says so both when the
/// collection in the route is missing and when a point or a lookup collection named in the
/// body is. Only the first is the route's 404; the others are a body that cannot be
/// processed (422, "Invalid input"), which is what an HTTP client reads a 404 against: so on
/// this error path alone, the collection itself is checked.
async fn missing_reference(
    vectors: &dyn VectorPort,
    collection: &str,
    err: InfraError,
) -> InfraError {
    match vectors.collection_info(collection).await {
        Ok(_) => invalid(
            "query",
            format!(
                "the query refers to something that does not exist ({}); collection {collection} \
                 itself exists",
                err.message()
            ),
        ),
        Err(_) => err,
    }
}

fn invalid(operation: &'static str, message: impl Into<String>) -> InfraError {
    InfraError::new(ErrorKind::InvalidInput, CATALOG_BACKEND, operation, message)
}

/// The same refusal, raised by the catalog for `operation`.
fn relabel(err: &InfraError, operation: &'static str) -> InfraError {
    InfraError::new(err.kind(), CATALOG_BACKEND, operation, err.message())
}

fn collection_not_found(name: &str, operation: &'static str) -> InfraError {
    InfraError::new(
        ErrorKind::NotFound,
        CATALOG_BACKEND,
        operation,
        format!("collection {name} does not exist"),
    )
}

fn check_name(name: &str, operation: &'static str) -> InfraResult<()> {
    validate_collection_name(name, operation).map_err(|e| relabel(&e, operation))
}

/// Checks a vector's shape without knowing the collection: 1..=MAX_DIMENSION finite
/// components.
fn check_vector(vector: &[f32], operation: &'static str, what: &str) -> InfraResult<()> {
    if vector.is_empty() || vector.len() > MAX_DIMENSION {
        return Err(invalid(
            operation,
            format!(
                "{what} has {} components: expected 1..={MAX_DIMENSION}",
                vector.len()
            ),
        ));
    }
    if vector.iter().any(|x| !x.is_finite()) {
        return Err(invalid(
            operation,
            format!("{what} has a component that is not a finite number"),
        ));
    }
    Ok(())
}

/// Longest vector name (dense or sparse) the service accepts: shorter than the port's
/// [`infra_base::vector::MAX_VECTOR_NAME_LEN`] (255 bytes), and ASCII like collection
/// names, so that the OpenAPI document can state the rule exactly.
pub const MAX_SERVICE_VECTOR_NAME_LEN: usize = 64;

/// Largest HNSW `m` the service accepts (Qdrant's default is 16).
pub const MAX_HNSW_M: u64 = 256;

/// Largest HNSW `ef_construct` the service accepts (Qdrant's default is 100).
pub const MAX_HNSW_EF_CONSTRUCT: u64 = 4_096;

/// Checks what the service bounds beyond the port: vector names and HNSW parameters.
fn validate_tuning(request: &NewCollection) -> InfraResult<()> {
    const OP: &str = "create_collection";
    let named = request.vectors.iter().flatten();
    for name in named.clone().map(|(name, _)| name) {
        check_vector_name(name, "vector", OP)?;
    }
    for name in request.sparse_vectors.keys() {
        check_vector_name(name, "sparse vector", OP)?;
    }
    // The collection's parameters (no vector name), then each named vector's own.
    let hnsw = request.hnsw.iter().map(|hnsw| (None, hnsw)).chain(
        named.filter_map(|(name, params)| params.hnsw.as_ref().map(|hnsw| (Some(name), hnsw))),
    );
    for (name, hnsw) in hnsw {
        let of = name.map_or_else(String::new, |name| format!(" of vector {name:?}"));
        if hnsw.m.is_some_and(|m| m > MAX_HNSW_M) {
            return Err(invalid(
                OP,
                format!("hnsw m{of} is out of range: expected 0..={MAX_HNSW_M}"),
            ));
        }
        if hnsw
            .ef_construct
            .is_some_and(|ef| !(4..=MAX_HNSW_EF_CONSTRUCT).contains(&ef))
        {
            return Err(invalid(
                OP,
                format!(
                    "hnsw ef_construct{of} is out of range: expected 4..={MAX_HNSW_EF_CONSTRUCT}"
                ),
            ));
        }
    }
    Ok(())
}

/// Refuses a vector name (`what`: "vector", "sparse vector") the service does not accept.
fn check_vector_name(name: &str, what: &str, operation: &'static str) -> InfraResult<()> {
    let ascii = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
    if name.is_empty() || name.len() > MAX_SERVICE_VECTOR_NAME_LEN || !ascii {
        return Err(invalid(
            operation,
            format!(
                "{what} name {name:?}: expected 1-{MAX_SERVICE_VECTOR_NAME_LEN} ASCII letters, \
                 digits, '_', '-' or '.'"
            ),
        ));
    }
    Ok(())
}

/// Checks a batch as a whole: 1..=[`MAX_BATCH`] items with distinct ids, each with a vector
/// (dense ones in one form: `vector` or a non-empty `vectors`; or sparse ones only), every
/// dense vector of a name as long as the first one of that name in the batch, components
/// finite.
fn validate_batch(items: &[ItemInput]) -> InfraResult<()> {
    const OP: &str = "upsert_items";
    if items.is_empty() || items.len() > MAX_BATCH {
        return Err(invalid(
            OP,
            format!("a batch of {} items: expected 1..={MAX_BATCH}", items.len()),
        ));
    }
    // Per vector name: the first item that has it, and its dimension.
    let mut dimensions: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let mut seen = HashSet::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let dense: Vec<(&str, &[f32])> = match (&item.vector, &item.vectors) {
            (Some(vector), None) => vec![(UNNAMED_VECTOR, vector.as_slice())],
            (None, Some(named)) if !named.is_empty() => {
                for name in named.keys() {
                    check_vector_name(name, "vector", OP)?;
                }
                named
                    .iter()
                    .map(|(name, vector)| (name.as_str(), vector.as_slice()))
                    .collect()
            }
            (Some(_), Some(_)) => {
                return Err(invalid(
                    OP,
                    format!(
                        "item {index} has both vector and vectors: expected vector in a \
                         collection of one unnamed vector, vectors in one of named vectors"
                    ),
                ));
            }
            (None, None) if !item.sparse.is_empty() => Vec::new(),
            (None, _) => {
                return Err(invalid(
                    OP,
                    format!(
                        "item {index} has no vector: expected vector, vectors with at least \
                         one named vector, or sparse with at least one sparse vector"
                    ),
                ));
            }
        };
        for (name, vector) in dense {
            let what = if name == UNNAMED_VECTOR {
                format!("the vector of item {index}")
            } else {
                format!("vector {name:?} of item {index}")
            };
            check_vector(vector, OP, &what)?;
            let (first, dimension) = *dimensions.entry(name).or_insert((index, vector.len()));
            if vector.len() != dimension {
                return Err(invalid(
                    OP,
                    format!(
                        "{what} has dimension {}, item {first} dimension {dimension}: every \
                         vector of a name has the collection's dimension for it",
                        vector.len()
                    ),
                ));
            }
        }
        if !seen.insert(item.id) {
            return Err(invalid(
                OP,
                format!("item {index} repeats the id {}", item.id),
            ));
        }
    }
    Ok(())
}

/// Refuses a `limit` outside `1..=max`.
fn check_limit(limit: usize, max: usize, operation: &'static str) -> InfraResult<()> {
    if limit == 0 || limit > max {
        return Err(invalid(
            operation,
            format!("limit {limit} is out of range: expected 1..={max}"),
        ));
    }
    Ok(())
}

fn validate_search(collection: &str, request: &SearchRequest) -> InfraResult<()> {
    const OP: &str = "search";
    check_name(collection, OP)?;
    check_limit(request.limit, MAX_SEARCH_LIMIT, OP)?;
    if request.score_threshold.is_some_and(|t| !t.is_finite()) {
        return Err(invalid(OP, "score_threshold must be a finite number"));
    }
    if let Some(using) = &request.using {
        check_vector_name(using, "vector", OP)?;
    }
    check_vector(&request.vector, OP, "the query vector")
}

#[cfg(test)]
mod tests;
