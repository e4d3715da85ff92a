//! [`MemoryVector`]: an in-process [`VectorPort`] with exact search and Qdrant's scoring.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ops::Bound;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError, RwLock};

use async_trait::async_trait;

#[path = "memory_query.rs"]
mod query;

use crate::error::{ErrorKind, InfraError, InfraResult};
use crate::health::ComponentHealth;
use crate::lifecycle::Lifecycle;
use crate::vector::{
    Alias, AliasChange, CollectionInfo, CollectionSpec, CountRequest, Distance, EnsureOutcome,
    FacetHit, FacetRequest, FacetValue, FieldIndex, OrderBy, OrderDirection, Payload, PayloadIndex,
    PayloadUpdate, Point, PointId, PointSelector, PointVectors, QueryRequest, Record, ScoredPoint,
    ScrollPage, ScrollRequest, SearchQuery, SparseVector, StartFrom, VECTOR_BACKEND, Vector,
    VectorPort, VectorSchema, Vectors, parse_payload_datetime, resolve_lookup,
    validate_collection_name, values_at,
};

/// An in-memory [`VectorPort`] (and [`Lifecycle`]) for tests: a drop-in for a Qdrant
/// adapter that needs no server.
///
/// Search is always exact (brute force) and scores follow Qdrant: cosine vectors are
/// normalized when written and the score is the dot product of unit vectors; `Dot` is the
/// raw dot product; `Euclid` and `Manhattan` scores are the L2 and L1 distances, smallest
/// first; a sparse vector scores by the dot product over shared indices, each query value
/// weighed by `ln((N - n + 0.5) / (n + 0.5) + 1)` with the IDF modifier (N points with
/// that sparse vector, n of them with the index), and only points sharing an index are
/// found. Equal scores are ordered by point id, which is deterministic but not part of the
/// port's contract. Filters use [`Filter::matches`](crate::vector::Filter::matches) (Qdrant's semantics on fields without a
/// payload index: a full-text `text` match is a substring match), payload updates
/// [`PayloadUpdate::apply`], validation uses the port's shared validators, so it refuses
/// exactly what every adapter refuses. Payload indexes are recorded, not built: they are
/// what `ensure_collection` checks for drift and `collection_info` reports, and a scroll
/// with `order_by` needs a range index on the field (`InvalidInput` otherwise, as in
/// Qdrant), then sorts the matching points by the field's values of the index's type
/// (integers, numbers, or date-times read as the filters read them); a facet needs a
/// keyword, integer, bool or uuid index on its key and counts exactly (uuid values as
/// the strings stored).
///
/// [`fail_with`](Self::fail_with) makes every call fail; after
/// [`close`](Lifecycle::close) every call fails as [`Unavailable`](ErrorKind::Unavailable).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use infra_base::{CollectionSpec, Distance, Point, SearchQuery, VectorPort};
/// use infra_base::testing::MemoryVector;
///
/// let store = MemoryVector::new();
/// store.ensure_collection(&CollectionSpec::new("items", 2, Distance::Dot)).await?;
/// store.upsert("items", vec![Point::new(1, vec![1.0, 0.0]), Point::new(2, vec![0.0, 1.0])]).await?;
/// let hits = store.search("items", &SearchQuery::new(vec![0.9, 0.1], 1)).await?;
/// assert_eq!(hits[0].id, 1.into());
/// # Ok::<(), infra_base::InfraError>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Default)]
pub struct MemoryVector {
    collections: RwLock<HashMap<String, Collection>>,
    /// Alias -> collection (every operation resolves a name through it first).
    aliases: RwLock<BTreeMap<String, String>>,
    closed: AtomicBool,
    fault: Mutex<Option<ErrorKind>>,
}

#[derive(Debug)]
struct Collection {
    vectors: VectorSchema,
    points: BTreeMap<PointId, Stored>,
    /// Declared payload indexes, sorted by field.
    indexes: Vec<FieldIndex>,
}

#[derive(Debug)]
struct Stored {
    vectors: Vectors,
    payload: Payload,
}

impl Stored {
    /// The record of a scroll page: the payload and vector as the request asks.
    fn scrolled(&self, id: PointId, request: &ScrollRequest) -> Record {
        Record {
            id,
            payload: if request.with_payload {
                self.payload.clone()
            } else {
                Payload::new()
            },
            vectors: request.with_vector.then(|| self.vectors.clone()),
        }
    }
}

fn error(kind: ErrorKind, operation: &'static str, message: impl Into<String>) -> InfraError {
    InfraError::new(kind, VECTOR_BACKEND, operation, message)
}

fn not_found(name: &str, operation: &'static str) -> InfraError {
    error(
        ErrorKind::NotFound,
        operation,
        format!("collection {name} does not exist"),
    )
}

/// Qdrant's cosine preprocessing: unit length, except for a (near) zero vector.
fn normalized(mut vector: Vec<f32>) -> Vec<f32> {
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > f32::EPSILON {
        for x in &mut vector {
            *x /= norm;
        }
    }
    vector
}

fn score(distance: Distance, query: &[f32], vector: &[f32]) -> f32 {
    let pairs = query.iter().zip(vector);
    match distance {
        Distance::Cosine | Distance::Dot => pairs.map(|(a, b)| a * b).sum(),
        Distance::Euclid => pairs.map(|(a, b)| (a - b) * (a - b)).sum::<f32>().sqrt(),
        Distance::Manhattan => pairs.map(|(a, b)| (a - b).abs()).sum(),
    }
}

impl MemoryVector {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes every later call fail with an error of `kind` (`None` heals the store), to
    /// test retries, breakers and degraded modes without a real outage.
    pub fn fail_with(&self, kind: Option<ErrorKind>) {
        *self.fault.lock().unwrap_or_else(PoisonError::into_inner) = kind;
    }

    /// Whether [`close`](Lifecycle::close) was called.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    fn check(&self, operation: &'static str) -> InfraResult<()> {
        if self.is_closed() {
            return Err(error(
                ErrorKind::Unavailable,
                operation,
                "the store is closed",
            ));
        }
        if let Some(kind) = *self.fault.lock().unwrap_or_else(PoisonError::into_inner) {
            return Err(error(kind, operation, "injected failure"));
        }
        Ok(())
    }

    /// The collection `name` designates: the one an alias names, else `name` itself.
    fn resolve(&self, name: &str) -> String {
        self.aliases
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned()
            .unwrap_or_else(|| name.to_owned())
    }

    /// Checks the store and the name, then runs `f` on the collection under a read lock.
    fn read<T>(
        &self,
        name: &str,
        operation: &'static str,
        f: impl FnOnce(&Collection) -> InfraResult<T>,
    ) -> InfraResult<T> {
        self.check(operation)?;
        validate_collection_name(name, operation)?;
        let target = self.resolve(name);
        let collections = self
            .collections
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        f(collections
            .get(&target)
            .ok_or_else(|| not_found(name, operation))?)
    }

    /// Checks the store and the name, then runs `f` on the collection under a write lock.
    fn write<T>(
        &self,
        name: &str,
        operation: &'static str,
        f: impl FnOnce(&mut Collection) -> InfraResult<T>,
    ) -> InfraResult<T> {
        self.check(operation)?;
        validate_collection_name(name, operation)?;
        let target = self.resolve(name);
        let mut collections = self
            .collections
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        f(collections
            .get_mut(&target)
            .ok_or_else(|| not_found(name, operation))?)
    }
}

/// A value read from a range index, as Qdrant orders them.
#[derive(Debug, Clone, Copy, PartialEq)]
enum OrderValue {
    /// Integers, and date-times as microseconds since the epoch.
    Int(i128),
    /// Floating-point numbers.
    Float(f64),
}

impl OrderValue {
    fn cmp(self, other: Self) -> std::cmp::Ordering {
        match (self, other) {
            (OrderValue::Int(a), OrderValue::Int(b)) => a.cmp(&b),
            (OrderValue::Float(a), OrderValue::Float(b)) => a.total_cmp(&b),
            // One index has one value type; order integers first for totality.
            (OrderValue::Int(_), OrderValue::Float(_)) => std::cmp::Ordering::Less,
            (OrderValue::Float(_), OrderValue::Int(_)) => std::cmp::Ordering::Greater,
        }
    }

    /// How this value compares with a `start_from` value (integers exactly, otherwise as
    /// floating-point numbers).
    #[allow(clippy::cast_precision_loss)]
    fn cmp_start(self, start: StartFrom) -> std::cmp::Ordering {
        match (self, start) {
            (OrderValue::Int(a), StartFrom::Integer(b)) => a.cmp(&i128::from(b)),
            (OrderValue::Int(a), StartFrom::Float(b)) => (a as f64).total_cmp(&b),
            (OrderValue::Float(a), StartFrom::Integer(b)) => a.total_cmp(&(b as f64)),
            (OrderValue::Float(a), StartFrom::Float(b)) => a.total_cmp(&b),
        }
    }

    /// The value of `value` in an index of type `index`, if that index would hold it.
    fn of(index: PayloadIndex, value: &serde_json::Value) -> Option<Self> {
        match index {
            PayloadIndex::Integer => value.as_i64().map(|n| OrderValue::Int(n.into())),
            PayloadIndex::Float => value.as_f64().map(OrderValue::Float),
            PayloadIndex::Datetime => {
                parse_payload_datetime(value.as_str()?).map(|micros| OrderValue::Int(micros.into()))
            }
            _ => None,
        }
    }
}

impl Collection {
    /// A scroll ordered by a range-indexed field, like Qdrant's: one entry per distinct
    /// value of the index's type, no cursor.
    fn ordered_scroll(
        &self,
        request: &ScrollRequest,
        order_by: &OrderBy,
    ) -> InfraResult<ScrollPage> {
        let index = self
            .indexes
            .iter()
            .find(|i| i.field == order_by.key && i.index.supports_order_by())
            .ok_or_else(|| {
                error(
                    ErrorKind::InvalidInput,
                    "scroll",
                    format!(
                        "no range index for order_by key {}: ordering a scroll needs an \
                         integer, float or datetime payload index on the field",
                        order_by.key
                    ),
                )
            })?;
        let mut entries: Vec<(OrderValue, PointId, &Stored)> = Vec::new();
        let mut values = Vec::new();
        for (id, p) in &self.points {
            if !request.filter.matches(*id, &p.payload) {
                continue;
            }
            values.clear();
            values_at(&p.payload, &order_by.key, &mut values);
            // An index holds each element of an array at the end of the path.
            let flattened = values.iter().flat_map(|value| match value {
                serde_json::Value::Array(items) => items.iter().collect::<Vec<_>>(),
                other => vec![&**other],
            });
            for value in flattened {
                let Some(v) = OrderValue::of(index.index, value) else {
                    continue;
                };
                let skipped = order_by.start_from.is_some_and(|start| {
                    let order = v.cmp_start(start);
                    match order_by.direction {
                        OrderDirection::Asc => order.is_lt(),
                        OrderDirection::Desc => order.is_gt(),
                    }
                });
                if !skipped {
                    entries.push((v, *id, p));
                }
            }
        }
        entries.sort_by(|(a, id_a, _), (b, id_b, _)| {
            let by_value = match order_by.direction {
                OrderDirection::Asc => a.cmp(*b),
                OrderDirection::Desc => b.cmp(*a),
            };
            by_value.then_with(|| id_a.cmp(id_b))
        });
        entries.dedup_by(|(a, id_a, _), (b, id_b, _)| id_a == id_b && a.cmp(*b).is_eq());
        let points = entries
            .into_iter()
            .take(request.limit)
            .map(|(_, id, p)| p.scrolled(id, request))
            .collect();
        Ok(ScrollPage {
            points,
            next_page_offset: None,
        })
    }

    /// Exact facet counts over the declared index on `request.key`, as Qdrant's: each
    /// point counts once per distinct value of the index's type it holds.
    fn facet(&self, request: &FacetRequest) -> InfraResult<Vec<FacetHit>> {
        request.validate()?;
        let index = self
            .indexes
            .iter()
            .find(|i| {
                i.field == request.key
                    && matches!(
                        i.index,
                        PayloadIndex::Keyword
                            | PayloadIndex::Integer
                            | PayloadIndex::Bool
                            | PayloadIndex::Uuid
                    )
            })
            .ok_or_else(|| {
                error(
                    ErrorKind::InvalidInput,
                    "facet",
                    format!(
                        "no index to facet on {}: a facet needs a keyword, integer, bool or \
                         uuid payload index on the field",
                        request.key
                    ),
                )
            })?;
        let mut counts: BTreeMap<FacetValue, u64> = BTreeMap::new();
        let mut values = Vec::new();
        let mut distinct = BTreeSet::new();
        for (id, p) in &self.points {
            if !request.filter.matches(*id, &p.payload) {
                continue;
            }
            values.clear();
            values_at(&p.payload, &request.key, &mut values);
            distinct.clear();
            let flattened = values.iter().flat_map(|value| match value {
                serde_json::Value::Array(items) => items.iter().collect::<Vec<_>>(),
                other => vec![&**other],
            });
            distinct.extend(flattened.filter_map(|value| match (index.index, value) {
                (PayloadIndex::Keyword | PayloadIndex::Uuid, serde_json::Value::String(s)) => {
                    Some(FacetValue::Keyword(s.clone()))
                }
                (PayloadIndex::Integer, v) => v.as_i64().map(FacetValue::Integer),
                (PayloadIndex::Bool, serde_json::Value::Bool(b)) => Some(FacetValue::Bool(*b)),
                _ => None,
            }));
            for value in distinct.iter().cloned() {
                *counts.entry(value).or_default() += 1;
            }
        }
        let mut hits: Vec<FacetHit> = counts
            .into_iter()
            .map(|(value, count)| FacetHit { value, count })
            .collect();
        FacetHit::rank(&mut hits, request.limit);
        Ok(hits)
    }

    /// Stores `vectors` as Qdrant does: cosine vectors normalized, sparse ones sorted.
    fn stored(&self, mut vectors: Vectors) -> Vectors {
        for (name, vector) in vectors.iter_mut() {
            match vector {
                Vector::Dense(v) => {
                    if self.vectors.dense.get(name).map(|p| p.distance) == Some(Distance::Cosine) {
                        *v = normalized(std::mem::take(v));
                    }
                }
                Vector::Sparse(v) => *v = v.sorted(),
            }
        }
        vectors
    }

    /// The IDF weight of each index of `query` in the sparse vector `name`.
    fn idf(&self, name: &str, query: &SparseVector) -> HashMap<u32, f32> {
        let with_vector: Vec<&SparseVector> = self
            .points
            .values()
            .filter_map(|p| p.vectors.get(name).and_then(Vector::as_sparse))
            .collect();
        #[allow(clippy::cast_precision_loss)]
        let total = with_vector.len() as f32;
        query
            .indices
            .iter()
            .map(|index| {
                #[allow(clippy::cast_precision_loss)]
                let n = with_vector
                    .iter()
                    .filter(|v| v.indices.contains(index))
                    .count() as f32;
                (*index, ((total - n + 0.5) / (n + 0.5) + 1.0).ln())
            })
            .collect()
    }

    /// The score of a stored point for a validated query, `None` when the point lacks
    /// the vector (or, sparse, shares no index with the query).
    fn score(
        &self,
        query: &SearchQuery,
        query_vector: &Vector,
        idf: &HashMap<u32, f32>,
        p: &Stored,
    ) -> Option<f32> {
        match (query_vector, p.vectors.get(query.vector_name())?) {
            (Vector::Dense(q), Vector::Dense(v)) => {
                let distance = query.distance(&self.vectors)?;
                Some(score(distance, q, v))
            }
            (Vector::Sparse(q), Vector::Sparse(v)) => q
                .overlaps(v)
                .then(|| q.weighted_dot(v, |i| idf.get(&i).copied().unwrap_or(1.0))),
            _ => None,
        }
    }

    fn search(&self, query: &SearchQuery) -> Vec<ScoredPoint> {
        let distance = query.distance(&self.vectors).unwrap_or(Distance::Dot);
        let name = query.vector_name();
        let query_vector = match &query.vector {
            Vector::Dense(v) if distance == Distance::Cosine => {
                Vector::Dense(normalized(v.clone()))
            }
            other => other.clone(),
        };
        let idf = match &query.vector {
            Vector::Sparse(q) if self.vectors.sparse.get(name).is_some_and(|p| p.idf) => {
                self.idf(name, q)
            }
            _ => HashMap::new(),
        };
        let mut hits: Vec<(f32, &PointId, &Stored)> = self
            .points
            .iter()
            .filter(|(id, p)| query.filter.matches(**id, &p.payload))
            .filter_map(|(id, p)| Some((self.score(query, &query_vector, &idf, p)?, id, p)))
            .filter(|(s, _, _)| {
                query
                    .score_threshold
                    .is_none_or(|t| distance.passes_threshold(*s, t))
            })
            .collect();
        hits.sort_by(|(a, id_a, _), (b, id_b, _)| {
            let by_score = if distance.higher_is_better() {
                b.total_cmp(a)
            } else {
                a.total_cmp(b)
            };
            by_score.then_with(|| id_a.cmp(id_b))
        });
        hits.into_iter()
            .take(query.limit)
            .map(|(score, id, p)| ScoredPoint {
                id: *id,
                score,
                payload: query.with_payload.then(|| p.payload.clone()),
                vectors: query.with_vector.then(|| p.vectors.clone()),
            })
            .collect()
    }
}

#[async_trait]
impl VectorPort for MemoryVector {
    async fn ping(&self) -> InfraResult<()> {
        self.check("ping")
    }

    async fn ensure_collection(&self, spec: &CollectionSpec) -> InfraResult<EnsureOutcome> {
        self.check("ensure_collection")?;
        spec.validate()?;
        let mut collections = self
            .collections
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(existing) = collections.get_mut(&spec.name) {
            spec.check_existing(&existing.vectors)?;
            let missing = spec.missing_indexes(&existing.indexes)?;
            existing.indexes.extend(missing.into_iter().cloned());
            existing.indexes.sort_by(|a, b| a.field.cmp(&b.field));
            return Ok(EnsureOutcome::AlreadyExists);
        }
        if let Some(target) = self
            .aliases
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&spec.name)
        {
            return Err(error(
                ErrorKind::Conflict,
                "ensure_collection",
                format!("{} is an alias of {target}, not a collection", spec.name),
            ));
        }
        let mut indexes = spec.indexes.clone();
        indexes.sort_by(|a, b| a.field.cmp(&b.field));
        collections.insert(
            spec.name.clone(),
            Collection {
                vectors: spec.vectors.reported(),
                points: BTreeMap::new(),
                indexes,
            },
        );
        Ok(EnsureOutcome::Created)
    }

    async fn collection_info(&self, name: &str) -> InfraResult<CollectionInfo> {
        self.read(name, "collection_info", |c| {
            Ok(CollectionInfo::new(
                name,
                c.vectors.clone(),
                c.points.len() as u64,
                c.indexes.clone(),
            ))
        })
    }

    async fn delete_collection(&self, name: &str) -> InfraResult<bool> {
        self.check("delete_collection")?;
        validate_collection_name(name, "delete_collection")?;
        let removed = self
            .collections
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(name)
            .is_some();
        if removed {
            // As Qdrant does, the collection's aliases go with it.
            self.aliases
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .retain(|_, target| target != name);
        }
        Ok(removed)
    }

    async fn upsert(&self, collection: &str, points: Vec<Point>) -> InfraResult<()> {
        self.write(collection, "upsert", |c| {
            // Validate the whole batch first: nothing is written when one point is wrong.
            for point in &points {
                c.vectors.check_vectors(&point.vectors, "upsert")?;
            }
            for point in points {
                let vectors = c.stored(point.vectors);
                c.points.insert(
                    point.id,
                    Stored {
                        vectors,
                        payload: point.payload,
                    },
                );
            }
            Ok(())
        })
    }

    async fn get(
        &self,
        collection: &str,
        ids: &[PointId],
        with_vector: bool,
    ) -> InfraResult<Vec<Record>> {
        self.read(collection, "get", |c| {
            let mut seen = HashSet::new();
            Ok(ids
                .iter()
                .filter(|id| seen.insert(**id))
                .filter_map(|id| {
                    c.points.get(id).map(|p| Record {
                        id: *id,
                        payload: p.payload.clone(),
                        vectors: with_vector.then(|| p.vectors.clone()),
                    })
                })
                .collect())
        })
    }

    async fn delete_points(&self, collection: &str, selector: &PointSelector) -> InfraResult<()> {
        self.write(collection, "delete_points", |c| {
            selector.validate("delete_points")?;
            match selector {
                PointSelector::Ids(ids) => {
                    for id in ids {
                        c.points.remove(id);
                    }
                }
                PointSelector::Filter(filter) => {
                    c.points.retain(|id, p| !filter.matches(*id, &p.payload));
                }
            }
            Ok(())
        })
    }

    async fn update_vectors(&self, collection: &str, points: &[PointVectors]) -> InfraResult<()> {
        const OP: &str = "update_vectors";
        self.write(collection, OP, |c| {
            // All or nothing: every entry is checked before any change.
            for point in points {
                point.validate(&c.vectors, OP)?;
                if !c.points.contains_key(&point.id) {
                    return Err(error(
                        ErrorKind::NotFound,
                        OP,
                        format!("no point with id {} found", point.id),
                    ));
                }
            }
            for point in points {
                let vectors = c.stored(point.vectors.clone());
                if let Some(stored) = c.points.get_mut(&point.id) {
                    stored.vectors.merge(vectors);
                }
            }
            Ok(())
        })
    }

    async fn search(&self, collection: &str, query: &SearchQuery) -> InfraResult<Vec<ScoredPoint>> {
        self.read(collection, "search", |c| {
            query.validate(&c.vectors)?;
            Ok(c.search(query))
        })
    }

    async fn query(
        &self,
        collection: &str,
        request: &QueryRequest,
    ) -> InfraResult<Vec<ScoredPoint>> {
        self.read(collection, "query", |c| request.validate(&c.vectors))?;
        match resolve_lookup(self, collection, request).await? {
            Some(resolved) => self.query(collection, &resolved).await,
            None => self.read(collection, "query", |c| c.query(request)),
        }
    }

    /// Exact either way: an estimate may be exact.
    async fn count_points(&self, collection: &str, request: &CountRequest) -> InfraResult<u64> {
        self.read(collection, "count", |c| {
            request.validate()?;
            Ok(c.points
                .iter()
                .filter(|(id, p)| request.filter.matches(**id, &p.payload))
                .count() as u64)
        })
    }

    async fn facet(&self, collection: &str, request: &FacetRequest) -> InfraResult<Vec<FacetHit>> {
        self.read(collection, "facet", |c| c.facet(request))
    }

    async fn scroll(&self, collection: &str, request: &ScrollRequest) -> InfraResult<ScrollPage> {
        self.read(collection, "scroll", |c| {
            request.validate()?;
            if let Some(order_by) = &request.order_by {
                return c.ordered_scroll(request, order_by);
            }
            let from = request.offset.map_or(Bound::Unbounded, Bound::Included);
            let mut matching = c
                .points
                .range((from, Bound::Unbounded))
                .filter(|(id, p)| request.filter.matches(**id, &p.payload));
            let points = matching
                .by_ref()
                .take(request.limit)
                .map(|(id, p)| p.scrolled(*id, request))
                .collect();
            Ok(ScrollPage {
                points,
                next_page_offset: matching.next().map(|(id, _)| *id),
            })
        })
    }

    async fn update_payload(
        &self,
        collection: &str,
        selector: &PointSelector,
        update: &PayloadUpdate,
    ) -> InfraResult<()> {
        const OP: &str = "update_payload";
        self.write(collection, OP, |c| {
            update.validate()?;
            selector.validate(OP)?;
            match selector {
                PointSelector::Ids(ids) => {
                    // All or nothing: a missing id fails the update before any change.
                    if let Some(missing) = ids.iter().find(|id| !c.points.contains_key(id)) {
                        return Err(error(
                            ErrorKind::NotFound,
                            OP,
                            format!("no point with id {missing} found"),
                        ));
                    }
                    for id in ids {
                        if let Some(p) = c.points.get_mut(id) {
                            update.apply(&mut p.payload);
                        }
                    }
                }
                PointSelector::Filter(filter) => {
                    for (id, p) in &mut c.points {
                        if filter.matches(*id, &p.payload) {
                            update.apply(&mut p.payload);
                        }
                    }
                }
            }
            Ok(())
        })
    }

    async fn list_collections(&self) -> InfraResult<Vec<String>> {
        self.check("list_collections")?;
        let mut names: Vec<String> = self
            .collections
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .cloned()
            .collect();
        names.sort_unstable();
        Ok(names)
    }

    async fn update_aliases(&self, changes: &[AliasChange]) -> InfraResult<()> {
        const OP: &str = "update_aliases";
        self.check(OP)?;
        let collections = self
            .collections
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let mut aliases = self.aliases.write().unwrap_or_else(PoisonError::into_inner);
        *aliases =
            AliasChange::apply_all(changes, &aliases, |name| collections.contains_key(name))?;
        Ok(())
    }

    async fn list_aliases(&self) -> InfraResult<Vec<Alias>> {
        self.check("list_aliases")?;
        Ok(self
            .aliases
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(alias, collection)| Alias {
                alias: alias.clone(),
                collection: collection.clone(),
            })
            .collect())
    }
}

#[async_trait]
impl Lifecycle for MemoryVector {
    async fn init(&self) -> InfraResult<()> {
        self.check("init")
    }

    async fn health(&self) -> ComponentHealth {
        ComponentHealth::measure(self.ping()).await
    }

    async fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::HealthStatus;

    #[tokio::test]
    async fn close_and_faults_fail_every_call() {
        let store = MemoryVector::new();
        store.init().await.unwrap();
        assert_eq!(store.health().await.status, HealthStatus::Pass);
        store.fail_with(Some(ErrorKind::Timeout));
        let err = store.collection_info("c").await.unwrap_err();
        assert_eq!(
            (err.kind(), err.operation()),
            (ErrorKind::Timeout, "collection_info")
        );
        store.fail_with(None);
        store.close().await;
        store.close().await;
        assert!(store.is_closed());
        let err = store.ping().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unavailable);
        assert_eq!(store.health().await.status, HealthStatus::Fail);
    }

    #[tokio::test]
    async fn ordered_scrolls_read_index_values_like_qdrant() {
        use crate::vector::{OrderBy, PayloadIndex};

        let store = MemoryVector::new();
        let spec = CollectionSpec::new("c", 1, Distance::Dot)
            .with_index("at", PayloadIndex::Datetime)
            .with_index("n", PayloadIndex::Integer);
        store.ensure_collection(&spec).await.unwrap();
        let point = |id: u64, payload: serde_json::Value| {
            Point::new(id, vec![1.0]).with_payload(payload.as_object().cloned().unwrap())
        };
        let points = vec![
            point(
                1,
                serde_json::json!({"n": [5, 1, 5], "at": "2024-03-01T00:00:00Z"}),
            ),
            point(2, serde_json::json!({"n": 3, "at": "2023-12-31T23:59:59Z"})),
            point(3, serde_json::json!({"n": 2.5, "at": "not a date"})),
            point(4, serde_json::json!({})),
        ];
        store.upsert("c", points).await.unwrap();
        let ids = |key: &str, desc: bool| {
            let order = if desc {
                OrderBy::desc(key)
            } else {
                OrderBy::asc(key)
            };
            let request = ScrollRequest::new(10).order_by(order);
            let store = &store;
            async move {
                let page = store.scroll("c", &request).await.unwrap();
                assert_eq!(page.next_page_offset, None);
                page.points.iter().map(|r| r.id).collect::<Vec<_>>()
            }
        };
        // One entry per distinct integer; floats and missing values are not indexed.
        assert_eq!(ids("n", false).await, [1.into(), 2.into(), 1.into()]);
        assert_eq!(ids("n", true).await, [1.into(), 2.into(), 1.into()]);
        assert_eq!(ids("at", true).await, [1.into(), 2.into()]);
    }

    #[tokio::test]
    async fn equal_scores_are_ordered_by_id_and_zero_vectors_stay_zero() {
        let store = MemoryVector::new();
        let spec = CollectionSpec::new("c", 2, Distance::Cosine);
        store.ensure_collection(&spec).await.unwrap();
        let points = vec![
            Point::new(3, vec![1.0, 0.0]),
            Point::new(1, vec![2.0, 0.0]),
            Point::new(2, vec![0.0, 0.0]),
        ];
        store.upsert("c", points).await.unwrap();
        let hits = store
            .search("c", &SearchQuery::new(vec![1.0, 0.0], 3).with_vector(true))
            .await
            .unwrap();
        let ids: Vec<_> = hits.iter().map(|h| h.id).collect();
        assert_eq!(ids, [1.into(), 3.into(), 2.into()]);
        assert_eq!(hits[2].vector(), Some(&[0.0, 0.0][..]));
    }
}
