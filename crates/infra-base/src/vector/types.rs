//! Value types of the vector port: ids, points, payloads, collections and queries.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    FieldIndex, Filter, HnswParams, MAX_INDEX_FIELD_LEN, PayloadIndex, Quantization, SparseParams,
    SparseVector, UNNAMED_VECTOR, VECTOR_BACKEND, Vector, VectorParams, VectorSchema, Vectors,
};
use crate::error::{ErrorKind, InfraError, InfraResult};

/// A point's JSON object payload.
pub type Payload = serde_json::Map<String, serde_json::Value>;

/// A point id: an unsigned integer or a UUID, as in Qdrant.
///
/// Serialized untagged: `42` or `"5f0c…"`. Deserialized from a JSON integer (an
/// integer-valued number such as `42.0` too, as JSON Schema's `integer` allows) or a UUID
/// string. Parsed from text as an integer when it is one, else as a UUID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(untagged)]
pub enum PointId {
    /// A numeric id.
    Num(u64),
    /// A UUID id.
    Uuid(Uuid),
}

impl From<u64> for PointId {
    fn from(id: u64) -> Self {
        PointId::Num(id)
    }
}

impl From<Uuid> for PointId {
    fn from(id: Uuid) -> Self {
        PointId::Uuid(id)
    }
}

impl fmt::Display for PointId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PointId::Num(n) => write!(f, "{n}"),
            PointId::Uuid(u) => write!(f, "{u}"),
        }
    }
}

impl<'de> Deserialize<'de> for PointId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = PointId;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an unsigned 64-bit integer or a UUID string")
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<PointId, E> {
                Ok(PointId::Num(n))
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<PointId, E> {
                u64::try_from(n)
                    .map(PointId::Num)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(n), &self))
            }
            fn visit_f64<E: serde::de::Error>(self, n: f64) -> Result<PointId, E> {
                // 2^64 as f64: every integral f64 below it is a u64 exactly.
                const LIMIT: f64 = 18_446_744_073_709_551_616.0;
                if n.fract() == 0.0 && (0.0..LIMIT).contains(&n) {
                    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                    return Ok(PointId::Num(n as u64));
                }
                Err(E::invalid_value(serde::de::Unexpected::Float(n), &self))
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<PointId, E> {
                Uuid::parse_str(s)
                    .map(PointId::Uuid)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Str(s), &self))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// The error of parsing a [`PointId`] from text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid point id: expected an unsigned integer or a UUID")]
pub struct ParsePointIdError;

impl FromStr for PointId {
    type Err = ParsePointIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Ok(n) = s.parse::<u64>() {
            return Ok(PointId::Num(n));
        }
        Uuid::parse_str(s)
            .map(PointId::Uuid)
            .map_err(|_| ParsePointIdError)
    }
}

/// How vectors are compared, as in Qdrant.
///
/// For `Cosine` and `Dot` a higher score is closer; for `Euclid` and `Manhattan` the score
/// is the distance, so a lower score is closer and results are sorted ascending. With
/// `Cosine`, stored vectors are normalized, so a vector read back is the unit vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Distance {
    /// Cosine similarity (vectors normalized on write).
    Cosine,
    /// Dot product.
    Dot,
    /// Euclidean distance.
    Euclid,
    /// Manhattan (L1) distance.
    Manhattan,
}

impl Distance {
    /// Whether a larger score means a closer match.
    pub const fn higher_is_better(self) -> bool {
        matches!(self, Distance::Cosine | Distance::Dot)
    }

    /// Whether `score` passes `threshold` for this distance (`>=` for similarities,
    /// `<=` for distances), as Qdrant's `score_threshold` does.
    pub fn passes_threshold(self, score: f32, threshold: f32) -> bool {
        if self.higher_is_better() {
            score >= threshold
        } else {
            score <= threshold
        }
    }
}

impl fmt::Display for Distance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Distance::Cosine => "cosine",
            Distance::Dot => "dot",
            Distance::Euclid => "euclid",
            Distance::Manhattan => "manhattan",
        })
    }
}

/// Largest vector dimension accepted (Qdrant's own limit is 65,536).
pub const MAX_DIMENSION: usize = 65_536;

/// What a collection must look like; see [`VectorPort::ensure_collection`](super::VectorPort::ensure_collection).
///
/// Built with [`new`](Self::new) (one unnamed dense vector) or [`named`](Self::named)
/// (named dense and sparse vectors), then the `with_*` builders (non-exhaustive, so later
/// options do not break callers):
///
/// ```
/// use infra_base::{
///     CollectionSpec, Distance, HnswParams, PayloadIndex, Quantization, SparseParams,
///     TextTokenizer, VectorParams,
/// };
///
/// let simple = CollectionSpec::new("items", 384, Distance::Cosine)
///     .with_index("price", PayloadIndex::Integer)
///     .with_index("title", PayloadIndex::text(TextTokenizer::Word));
/// assert!(simple.validate().is_ok());
///
/// let hybrid = CollectionSpec::named("products")
///     .with_vector("image", VectorParams::dense(512, Distance::Cosine).on_disk(true))
///     .with_vector("title", VectorParams::dense(384, Distance::Dot))
///     .with_sparse("keywords", SparseParams::default().idf())
///     .with_hnsw(HnswParams::new(32, 200))
///     .with_quantization(Quantization::scalar_int8())
///     .on_disk_payload(true);
/// assert!(hybrid.validate().is_ok());
/// ```
///
/// Drift: [`ensure_collection`](super::VectorPort::ensure_collection) on an existing
/// collection compares the declared vectors (see [`VectorSchema::check_existing`]) and
/// indexes. The tuning parameters ([`HnswParams`], [`Quantization`], on-disk storage,
/// sharding) apply when the collection is created and are not compared afterwards:
/// Qdrant lets most of them change on a live collection, and they change performance,
/// not results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CollectionSpec {
    /// Collection name: 1-255 characters of ASCII letters, digits, `_`, `-` and `.` (see
    /// [`CollectionName`](super::CollectionName)). A plain string, like the names the port's
    /// methods take: a spec is what a caller asks for, and the port refuses an invalid name
    /// as `InvalidInput`; [`validate`](Self::validate) and
    /// [`collection_name`](Self::collection_name) check it with the one rule.
    pub name: String,
    /// The dense and sparse vectors the collection must have.
    pub vectors: VectorSchema,
    /// Payload indexes the collection must have (at most one per field). Indexes that an
    /// existing collection has beyond these are accepted; one of another type on a declared
    /// field is drift.
    #[serde(default)]
    pub indexes: Vec<FieldIndex>,
    /// HNSW parameters of every dense vector without its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hnsw: Option<HnswParams>,
    /// Quantization of every dense vector without its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantization: Option<Quantization>,
    /// Keep payloads on disk rather than in RAM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_disk_payload: Option<bool>,
    /// Shards of a distributed collection, at least 1 (the embedded store has one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard_number: Option<u32>,
    /// Copies of each shard, at least 1 (the embedded store keeps one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replication_factor: Option<u32>,
    /// Replicas that must apply a write before it succeeds, at least 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_consistency_factor: Option<u32>,
}

impl CollectionSpec {
    /// A spec for `name` with one unnamed dense vector of `dimension` compared by
    /// `distance`, and no payload index.
    pub fn new(name: impl Into<String>, dimension: usize, distance: Distance) -> Self {
        Self::named(name).with_vector(UNNAMED_VECTOR, VectorParams::dense(dimension, distance))
    }

    /// A spec for `name` with no vector yet: declare named ones with
    /// [`with_vector`](Self::with_vector) and [`with_sparse`](Self::with_sparse).
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            vectors: VectorSchema::default(),
            indexes: Vec::new(),
            hnsw: None,
            quantization: None,
            on_disk_payload: None,
            shard_number: None,
            replication_factor: None,
            write_consistency_factor: None,
        }
    }

    /// Also declares the dense vector `name` ([`UNNAMED_VECTOR`] for the unnamed one).
    #[must_use]
    pub fn with_vector(mut self, name: impl Into<String>, params: VectorParams) -> Self {
        self.vectors.dense.insert(name.into(), params);
        self
    }

    /// Also declares the sparse vector `name`.
    #[must_use]
    pub fn with_sparse(mut self, name: impl Into<String>, params: SparseParams) -> Self {
        self.vectors.sparse.insert(name.into(), params);
        self
    }

    /// Sets the HNSW parameters of every dense vector without its own.
    #[must_use]
    pub const fn with_hnsw(mut self, hnsw: HnswParams) -> Self {
        self.hnsw = Some(hnsw);
        self
    }

    /// Sets the quantization of every dense vector without its own.
    #[must_use]
    pub const fn with_quantization(mut self, quantization: Quantization) -> Self {
        self.quantization = Some(quantization);
        self
    }

    /// Keeps payloads on disk or in RAM.
    #[must_use]
    pub const fn on_disk_payload(mut self, yes: bool) -> Self {
        self.on_disk_payload = Some(yes);
        self
    }

    /// Sets the sharding of a distributed collection: shards, copies of each, and the
    /// copies that must apply a write (each at least 1).
    #[must_use]
    pub const fn with_sharding(
        mut self,
        shard_number: u32,
        replication_factor: u32,
        write_consistency_factor: u32,
    ) -> Self {
        self.shard_number = Some(shard_number);
        self.replication_factor = Some(replication_factor);
        self.write_consistency_factor = Some(write_consistency_factor);
        self
    }

    /// The dimension and distance of the unnamed dense vector, if declared.
    pub fn unnamed(&self) -> Option<&VectorParams> {
        self.vectors.unnamed()
    }

    /// The sharding parameters that are set, by Qdrant's names, for adapters that refuse
    /// more than one.
    pub fn sharding(&self) -> [(&'static str, Option<u32>); 3] {
        [
            ("shard_number", self.shard_number),
            ("replication_factor", self.replication_factor),
            ("write_consistency_factor", self.write_consistency_factor),
        ]
    }

    /// Also declares a payload index of type `index` on `field` (a dotted payload path).
    #[must_use]
    pub fn with_index(mut self, field: impl Into<String>, index: PayloadIndex) -> Self {
        self.indexes.push(FieldIndex::new(field, index));
        self
    }

    /// The name, checked: the [`InvalidInput`](ErrorKind::InvalidInput) error of
    /// `ensure_collection` when it is not a valid [`CollectionName`](super::CollectionName).
    pub fn collection_name(&self) -> InfraResult<super::CollectionName> {
        super::CollectionName::parse(&self.name, "ensure_collection")
    }

    /// Checks name, vectors ([`VectorSchema::validate`]), tuning (HNSW `ef_construct` at
    /// least 4, sharding parameters at least 1) and indexes (field paths non-empty, at
    /// most [`MAX_INDEX_FIELD_LEN`] bytes, each declared once), so every adapter refuses
    /// the same specs.
    pub fn validate(&self) -> InfraResult<()> {
        self.collection_name()?;
        self.vectors.validate(&self.name)?;
        if let Some(hnsw) = &self.hnsw {
            hnsw.validate(&format!("collection {}", self.name))?;
        }
        for (parameter, value) in self.sharding() {
            if value == Some(0) {
                return Err(invalid(
                    "ensure_collection",
                    format!("{parameter} is 0: expected at least 1"),
                ));
            }
        }
        for (i, index) in self.indexes.iter().enumerate() {
            let field = &index.field;
            if field.is_empty() || field.len() > MAX_INDEX_FIELD_LEN {
                return Err(invalid(
                    "ensure_collection",
                    format!(
                        "index field {field:?} is {} bytes long: expected a payload path of \
                         1..={MAX_INDEX_FIELD_LEN} bytes",
                        field.len()
                    ),
                ));
            }
            if self.indexes[..i].iter().any(|other| other.field == *field) {
                return Err(invalid(
                    "ensure_collection",
                    format!(
                        "index field {field:?} is declared more than once: expected one index \
                         per field"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The declared indexes that `existing` (an existing collection's indexes) lacks, to be
    /// created; a [`Conflict`](ErrorKind::Conflict) when a declared field has an index of
    /// another type (checked for every field before anything is created). Extra indexes in
    /// `existing` are accepted.
    pub fn missing_indexes<'a>(
        &'a self,
        existing: &[FieldIndex],
    ) -> InfraResult<Vec<&'a FieldIndex>> {
        let mut missing = Vec::new();
        for declared in &self.indexes {
            match existing.iter().find(|e| e.field == declared.field) {
                None => missing.push(declared),
                Some(found) if found.index == declared.index => {}
                Some(found) => {
                    return Err(self.index_conflict(
                        &declared.field,
                        &found.index.to_string(),
                        declared.index,
                    ));
                }
            }
        }
        Ok(missing)
    }

    /// The [`Conflict`](ErrorKind::Conflict) of index drift: `field` has an index of type
    /// `existing` (as Qdrant names it, for types the port does not model such as `geo`),
    /// but `requested` was declared. The same kind and style as [`check_existing`](Self::check_existing).
    pub fn index_conflict(
        &self,
        field: &str,
        existing: &str,
        requested: PayloadIndex,
    ) -> InfraError {
        InfraError::new(
            ErrorKind::Conflict,
            VECTOR_BACKEND,
            "ensure_collection",
            format!(
                "collection {} has an index of type {existing} on field {field}, but type \
                 {requested} was requested",
                self.name
            ),
        )
    }

    /// `Ok` when an existing collection with `existing` vectors satisfies this spec;
    /// otherwise the [`Conflict`](ErrorKind::Conflict) every adapter's `ensure_collection`
    /// returns on schema drift, naming both schemas (see [`VectorSchema::check_existing`]).
    pub fn check_existing(&self, existing: &VectorSchema) -> InfraResult<()> {
        self.vectors.check_existing(&self.name, existing)
    }
}

/// Checks a collection name: 1-255 ASCII letters, digits, `_`, `-` or `.`, not `.`/`..`;
/// the [`InvalidInput`](ErrorKind::InvalidInput) error of `operation` otherwise. A thin
/// wrapper of [`CollectionName::parse`](super::CollectionName::parse), for callers that
/// only check.
pub fn validate_collection_name(name: &str, operation: &'static str) -> InfraResult<()> {
    super::CollectionName::parse(name, operation).map(drop)
}

/// Checks that `vector` has `dimension` finite components.
pub fn validate_vector(
    vector: &[f32],
    dimension: usize,
    operation: &'static str,
) -> InfraResult<()> {
    if vector.len() != dimension {
        return Err(invalid(
            operation,
            format!(
                "vector has dimension {}, the collection expects {dimension}",
                vector.len()
            ),
        ));
    }
    if vector.iter().any(|x| !x.is_finite()) {
        return Err(invalid(
            operation,
            "vector components must be finite numbers",
        ));
    }
    Ok(())
}

pub(super) fn invalid(operation: &'static str, message: impl Into<String>) -> InfraError {
    InfraError::new(ErrorKind::InvalidInput, VECTOR_BACKEND, operation, message)
}

/// What [`VectorPort::ensure_collection`](super::VectorPort::ensure_collection) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnsureOutcome {
    /// The collection did not exist and was created.
    Created,
    /// A collection with the same dimension and distance already existed.
    AlreadyExists,
}

/// What a collection looks like now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollectionInfo {
    /// Collection name.
    pub name: String,
    /// The unnamed vector's dimension; 0 when the collection has named vectors only.
    pub dimension: usize,
    /// The unnamed vector's distance; for a collection of named vectors only, the first
    /// named dense vector's (by name), or `Cosine` when it has sparse vectors only.
    pub distance: Distance,
    /// Every dense and sparse vector, with dimension, distance and IDF modifier as the
    /// store reports them (tuning fields are not reported: `None`).
    #[serde(default)]
    pub vectors: VectorSchema,
    /// Number of points stored (may lag a write briefly on some backends).
    pub points_count: u64,
    /// The collection's payload indexes as the store reports them, sorted by field (the
    /// remote adapter omits types the port does not model, such as `geo`).
    #[serde(default)]
    pub indexes: Vec<FieldIndex>,
}

impl CollectionInfo {
    /// The info of collection `name` with `vectors`, `points_count` points and `indexes`:
    /// fills [`dimension`](Self::dimension) and [`distance`](Self::distance) from the
    /// vectors as documented there.
    pub fn new(
        name: impl Into<String>,
        vectors: VectorSchema,
        points_count: u64,
        indexes: Vec<FieldIndex>,
    ) -> Self {
        let (dimension, distance) = match vectors.unnamed() {
            Some(unnamed) => (unnamed.dimension, unnamed.distance),
            None => (
                0,
                vectors
                    .dense
                    .values()
                    .next()
                    .map_or(Distance::Cosine, |v| v.distance),
            ),
        };
        Self {
            name: name.into(),
            dimension,
            distance,
            vectors,
            points_count,
            indexes,
        }
    }
}

/// A point to write: id, vectors and payload.
///
/// `Point::new(id, vec)` gives the unnamed vector; [`with_vectors`](Self::with_vectors)
/// named dense and sparse ones. Upserting a point replaces all its vectors (a named vector
/// the point omits is absent afterwards), as in Qdrant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// Point id; writing an existing id replaces that point.
    pub id: PointId,
    /// The vectors by name (see [`Vectors`]); each must be one the collection declares,
    /// of its kind and dimension. Read from `vector` too (a plain list is the unnamed
    /// vector).
    #[serde(alias = "vector")]
    pub vectors: Vectors,
    /// JSON object payload (may be empty).
    #[serde(default)]
    pub payload: Payload,
}

impl Point {
    /// A point with the unnamed dense vector and an empty payload.
    pub fn new(id: impl Into<PointId>, vector: Vec<f32>) -> Self {
        Self::with_vectors(id, Vectors::unnamed(vector))
    }

    /// A point with named (dense or sparse) vectors and an empty payload.
    pub fn with_vectors(id: impl Into<PointId>, vectors: Vectors) -> Self {
        Self {
            id: id.into(),
            vectors,
            payload: Payload::new(),
        }
    }

    /// Sets the payload.
    #[must_use]
    pub fn with_payload(mut self, payload: Payload) -> Self {
        self.payload = payload;
        self
    }
}

/// A point read back by id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Point id.
    pub id: PointId,
    /// Its payload.
    pub payload: Payload,
    /// Its vectors, when requested (cosine vectors normalized, sparse ones sorted by
    /// index).
    pub vectors: Option<Vectors>,
}

impl Record {
    /// The unnamed dense vector, when vectors were requested and the point has one.
    pub fn vector(&self) -> Option<&[f32]> {
        self.vectors.as_ref().and_then(Vectors::unnamed_dense)
    }
}

/// Largest `limit` of a search.
pub const MAX_SEARCH_LIMIT: usize = 10_000;

/// A nearest-neighbour query; see [`VectorPort::search`](super::VectorPort::search).
///
/// [`new`](Self::new) searches the unnamed vector; [`using`](Self::using) names a dense
/// vector, and [`sparse`](Self::sparse) searches a sparse vector (scored by the dot
/// product over shared indices, IDF-weighted when the vector declares it; a point that
/// shares no index with the query scores 0, and Qdrant's inverted index does not find it,
/// so whether it is returned is not specified).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchQuery {
    /// The query vector: dense, or sparse for a sparse vector.
    pub vector: Vector,
    /// The collection's vector to search; `None` (or [`UNNAMED_VECTOR`]) is the unnamed one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub using: Option<String>,
    /// How many results at most, 1..=[`MAX_SEARCH_LIMIT`].
    pub limit: usize,
    /// Only results that pass this score (see [`Distance::passes_threshold`]; sparse
    /// scores are similarities).
    pub score_threshold: Option<f32>,
    /// Only points whose payload matches (an empty filter matches every point).
    pub filter: Filter,
    /// Return payloads with the results.
    pub with_payload: bool,
    /// Return vectors with the results.
    pub with_vector: bool,
    /// Exact (brute-force) search instead of the approximate index: slower, full recall.
    pub exact: bool,
}

impl SearchQuery {
    /// The `limit` nearest points to `vector` by the unnamed vector, with payloads,
    /// approximate search.
    pub fn new(vector: Vec<f32>, limit: usize) -> Self {
        Self {
            vector: Vector::Dense(vector),
            using: None,
            limit,
            score_threshold: None,
            filter: Filter::default(),
            with_payload: true,
            with_vector: false,
            exact: false,
        }
    }

    /// The `limit` best points for the sparse `vector` by the sparse vector `using`.
    pub fn sparse(using: impl Into<String>, vector: SparseVector, limit: usize) -> Self {
        Self {
            vector: Vector::Sparse(vector),
            ..Self::new(Vec::new(), limit).using(using)
        }
    }

    /// Searches the collection's vector `name`.
    #[must_use]
    pub fn using(mut self, name: impl Into<String>) -> Self {
        self.using = Some(name.into());
        self
    }

    /// The name of the vector searched ([`UNNAMED_VECTOR`] for the unnamed one).
    pub fn vector_name(&self) -> &str {
        self.using.as_deref().unwrap_or(UNNAMED_VECTOR)
    }

    /// Restricts results to points matching `filter`.
    #[must_use]
    pub fn filter(mut self, filter: Filter) -> Self {
        self.filter = filter;
        self
    }

    /// Restricts results to scores passing `threshold`.
    #[must_use]
    pub fn score_threshold(mut self, threshold: f32) -> Self {
        self.score_threshold = Some(threshold);
        self
    }

    /// Also returns vectors.
    #[must_use]
    pub fn with_vector(mut self, yes: bool) -> Self {
        self.with_vector = yes;
        self
    }

    /// Returns payloads or not.
    #[must_use]
    pub fn with_payload(mut self, yes: bool) -> Self {
        self.with_payload = yes;
        self
    }

    /// Requests exact search.
    #[must_use]
    pub fn exact(mut self, yes: bool) -> Self {
        self.exact = yes;
        self
    }

    /// Checks the limit, the filter ([`Filter::validate`](super::Filter::validate)) and the
    /// vector against the collection's `vectors` (it must name one of them, of the same
    /// kind; see [`VectorSchema::check_vector`]), so every adapter refuses the same queries.
    pub fn validate(&self, vectors: &VectorSchema) -> InfraResult<()> {
        if self.limit == 0 || self.limit > MAX_SEARCH_LIMIT {
            return Err(invalid(
                "search",
                format!(
                    "limit {} is out of range: expected 1..={MAX_SEARCH_LIMIT}",
                    self.limit
                ),
            ));
        }
        if self.score_threshold.is_some_and(|t| !t.is_finite()) {
            return Err(invalid("search", "score_threshold must be a finite number"));
        }
        self.filter.validate("search")?;
        vectors.check_vector(self.vector_name(), &self.vector, "search")
    }

    /// The distance the scores of this query follow: the searched dense vector's, or
    /// `Dot` for a sparse vector; `None` when the collection has no such vector.
    pub fn distance(&self, vectors: &VectorSchema) -> Option<Distance> {
        match &self.vector {
            Vector::Dense(_) => vectors.dense.get(self.vector_name()).map(|p| p.distance),
            Vector::Sparse(_) => Some(Distance::Dot),
        }
    }
}

/// A search result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoredPoint {
    /// Point id.
    pub id: PointId,
    /// Similarity or distance, per the collection's [`Distance`].
    pub score: f32,
    /// Payload, when requested.
    pub payload: Option<Payload>,
    /// Its vectors, when requested (as [`Record::vectors`]).
    pub vectors: Option<Vectors>,
}

impl ScoredPoint {
    /// The unnamed dense vector, when vectors were requested and the point has one.
    pub fn vector(&self) -> Option<&[f32]> {
        self.vectors.as_ref().and_then(Vectors::unnamed_dense)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drift_conflicts_name_both_schemas() {
        let spec = CollectionSpec::new("c", 17, Distance::Dot);
        let existing = |dimension, distance| CollectionSpec::new("c", dimension, distance).vectors;
        assert!(spec.check_existing(&existing(17, Distance::Dot)).is_ok());
        for (dimension, distance) in [
            (12, Distance::Cosine),
            (17, Distance::Cosine),
            (12, Distance::Dot),
        ] {
            let err = spec
                .check_existing(&existing(dimension, distance))
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Conflict);
            let message = err.message();
            for word in [
                dimension.to_string(),
                distance.to_string(),
                "17".into(),
                "dot".into(),
            ] {
                assert!(message.contains(&word), "{message}");
            }
        }
    }

    #[test]
    fn info_dimension_and_distance_describe_the_unnamed_vector() {
        let simple = CollectionSpec::new("c", 3, Distance::Euclid).vectors;
        let info = CollectionInfo::new("c", simple, 0, Vec::new());
        assert_eq!((info.dimension, info.distance), (3, Distance::Euclid));
        let named = CollectionSpec::named("c")
            .with_vector("b", VectorParams::dense(4, Distance::Manhattan))
            .with_vector("a", VectorParams::dense(2, Distance::Dot))
            .vectors;
        let info = CollectionInfo::new("c", named, 0, Vec::new());
        assert_eq!((info.dimension, info.distance), (0, Distance::Dot));
    }

    #[test]
    fn points_read_the_old_vector_field_as_the_unnamed_vector() {
        let point: Point = serde_json::from_str(r#"{"id": 1, "vector": [1.0, 2.0]}"#).unwrap();
        assert_eq!(point, Point::new(1, vec![1.0, 2.0]));
        let json = serde_json::to_string(&point).unwrap();
        assert_eq!(serde_json::from_str::<Point>(&json).unwrap(), point);
    }

    #[test]
    fn sharding_parameters_must_be_positive() {
        let spec = CollectionSpec::new("c", 2, Distance::Dot);
        assert!(spec.clone().with_sharding(2, 3, 2).validate().is_ok());
        let err = spec.with_sharding(1, 0, 1).validate().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(
            err.message().contains("replication_factor"),
            "{}",
            err.message()
        );
    }

    #[test]
    fn index_declarations_are_validated_and_compared_by_type() {
        let spec = CollectionSpec::new("c", 2, Distance::Dot)
            .with_index("price", PayloadIndex::Integer)
            .with_index("tag", PayloadIndex::Keyword);
        assert!(spec.validate().is_ok());
        for bad in [
            spec.clone().with_index("", PayloadIndex::Bool),
            spec.clone()
                .with_index("x".repeat(MAX_INDEX_FIELD_LEN + 1), PayloadIndex::Bool),
            spec.clone().with_index("price", PayloadIndex::Float),
        ] {
            let err = bad.validate().unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{bad:?}");
            assert!(err.message().contains("index field"), "{}", err.message());
        }
        let existing = [
            FieldIndex::new("tag", PayloadIndex::Keyword),
            FieldIndex::new("extra", PayloadIndex::Bool),
        ];
        let missing = spec.missing_indexes(&existing).unwrap();
        assert_eq!(missing, [&FieldIndex::new("price", PayloadIndex::Integer)]);
        let drifted = [FieldIndex::new("price", PayloadIndex::Float)];
        let err = spec.missing_indexes(&drifted).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Conflict);
        for word in ["price", "float", "integer"] {
            assert!(err.message().contains(word), "{}", err.message());
        }
    }

    #[test]
    fn point_id_parses_integers_then_uuids() {
        assert_eq!("42".parse::<PointId>(), Ok(PointId::Num(42)));
        let u = Uuid::from_u128(7);
        assert_eq!(u.to_string().parse::<PointId>(), Ok(PointId::Uuid(u)));
        assert_eq!("-1".parse::<PointId>(), Err(ParsePointIdError));
        assert_eq!("x".parse::<PointId>(), Err(ParsePointIdError));
    }

    #[test]
    fn point_id_serializes_untagged() {
        assert_eq!(serde_json::to_string(&PointId::Num(3)).unwrap(), "3");
        let u = Uuid::from_u128(9);
        let json = serde_json::to_string(&PointId::Uuid(u)).unwrap();
        assert_eq!(json, format!("\"{u}\""));
        assert_eq!(
            serde_json::from_str::<PointId>(&json).unwrap(),
            PointId::Uuid(u)
        );
    }

    #[test]
    fn point_ids_deserialize_from_json_integers_and_uuid_strings_only() {
        let id = |json: &str| serde_json::from_str::<PointId>(json);
        assert_eq!(id("42").unwrap(), PointId::Num(42));
        assert_eq!(id("42.0").unwrap(), PointId::Num(42), "JSON Schema integer");
        assert_eq!(id("1e3").unwrap(), PointId::Num(1000));
        assert_eq!(id("18446744073709551615").unwrap(), PointId::Num(u64::MAX));
        for refused in [
            "-1",
            "1.5",
            "-0.5",
            "1.8446744073709552e19",
            "\"42\"",
            "true",
            "null",
        ] {
            let err = id(refused).unwrap_err().to_string();
            assert!(
                err.contains("expected an unsigned 64-bit integer or a UUID string"),
                "{refused}: {err}"
            );
        }
    }

    #[test]
    fn thresholds_follow_the_distance_direction() {
        assert!(Distance::Cosine.passes_threshold(0.9, 0.5));
        assert!(!Distance::Dot.passes_threshold(0.4, 0.5));
        assert!(Distance::Euclid.passes_threshold(0.4, 0.5));
        assert!(!Distance::Manhattan.passes_threshold(0.9, 0.5));
    }

    #[test]
    fn spec_validation_refuses_bad_names_and_dimensions() {
        for (name, dim) in [
            ("", 4),
            ("a/b", 4),
            ("..", 4),
            ("ok", 0),
            ("ok", MAX_DIMENSION + 1),
        ] {
            let err = CollectionSpec::new(name, dim, Distance::Dot)
                .validate()
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{name} {dim}");
        }
        assert!(
            CollectionSpec::new("items_v1.2-x", 3, Distance::Cosine)
                .validate()
                .is_ok()
        );
    }

    #[test]
    fn query_validation_checks_limit_dimension_and_finiteness() {
        let two = CollectionSpec::new("c", 2, Distance::Dot).vectors;
        let one = CollectionSpec::new("c", 1, Distance::Dot).vectors;
        let q = SearchQuery::new(vec![1.0, 2.0], 10);
        assert!(q.validate(&two).is_ok());
        let err = q
            .validate(&CollectionSpec::new("c", 3, Distance::Dot).vectors)
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.message().contains("dimension 2"), "{}", err.message());
        assert!(SearchQuery::new(vec![1.0], 0).validate(&one).is_err());
        assert!(
            SearchQuery::new(vec![1.0], MAX_SEARCH_LIMIT + 1)
                .validate(&one)
                .is_err()
        );
        assert!(SearchQuery::new(vec![f32::NAN], 1).validate(&one).is_err());
        assert!(
            SearchQuery::new(vec![1.0], 1)
                .score_threshold(f32::INFINITY)
                .validate(&one)
                .is_err()
        );
        let err = SearchQuery::new(vec![1.0], 1)
            .using("image")
            .validate(&one)
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(
            err.message().contains("no vector \"image\""),
            "{}",
            err.message()
        );
    }
}
