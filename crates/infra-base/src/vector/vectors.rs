//! Named and sparse vectors: what a collection declares ([`VectorParams`],
//! [`SparseParams`], [`VectorSchema`]), what a point carries ([`Vectors`], [`Vector`],
//! [`SparseVector`]) and the tuning a collection is created with ([`HnswParams`],
//! [`Quantization`]).
//!
//! Each maps one-to-one onto Qdrant's: a collection has either one unnamed dense vector
//! (named [`UNNAMED_VECTOR`], `""`, as Qdrant names it internally) or any number of named
//! ones, and any number of named sparse vectors besides.

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use super::types::{invalid, validate_vector};
use super::{Distance, MAX_DIMENSION, VECTOR_BACKEND};
use crate::error::{ErrorKind, InfraError, InfraResult};

/// The name of a collection's unnamed dense vector, as Qdrant names it internally.
pub const UNNAMED_VECTOR: &str = "";

/// Longest vector name accepted, in bytes.
pub const MAX_VECTOR_NAME_LEN: usize = 255;

/// Largest number of non-zero elements in one sparse vector.
pub const MAX_SPARSE_ELEMENTS: usize = 65_536;

/// How a name is shown in messages: the unnamed vector has no name to show.
pub(crate) fn display_name(name: &str) -> String {
    if name == UNNAMED_VECTOR {
        "unnamed vector".to_owned()
    } else {
        format!("vector {name:?}")
    }
}

/// HNSW graph parameters (Qdrant's `hnsw_config`); `None` keeps the store's default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct HnswParams {
    /// Edges per node (Qdrant's default 16; 0 turns the graph off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub m: Option<u64>,
    /// Neighbours considered while building the graph, at least 4 (Qdrant's default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ef_construct: Option<u64>,
}

impl HnswParams {
    /// Graph parameters with `m` edges per node and `ef_construct` neighbours at build time.
    pub const fn new(m: u64, ef_construct: u64) -> Self {
        Self {
            m: Some(m),
            ef_construct: Some(ef_construct),
        }
    }

    pub(super) fn validate(&self, what: &str) -> InfraResult<()> {
        if let Some(ef) = self.ef_construct
            && ef < 4
        {
            return Err(invalid(
                "ensure_collection",
                format!("{what}: hnsw ef_construct {ef} is too small: expected at least 4"),
            ));
        }
        Ok(())
    }
}

/// Vector quantization (Qdrant's `quantization_config`): a compressed copy of the vectors
/// searched first, the originals used to rescore.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Quantization {
    /// Scalar quantization to `int8` (4 times smaller; Qdrant's default quantile).
    ScalarInt8 {
        /// Keep the quantized vectors in RAM even when the originals are on disk.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        always_ram: Option<bool>,
    },
    /// Binary quantization, one bit per component (32 times smaller).
    Binary {
        /// Keep the quantized vectors in RAM even when the originals are on disk.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        always_ram: Option<bool>,
    },
}

impl Quantization {
    /// Scalar `int8` quantization with the store's RAM default.
    pub const fn scalar_int8() -> Self {
        Quantization::ScalarInt8 { always_ram: None }
    }

    /// Binary quantization with the store's RAM default.
    pub const fn binary() -> Self {
        Quantization::Binary { always_ram: None }
    }
}

/// A dense vector of a collection: dimension, distance and its own tuning.
///
/// ```
/// use infra_base::{Distance, HnswParams, Quantization, VectorParams};
///
/// let image = VectorParams::dense(512, Distance::Cosine)
///     .with_hnsw(HnswParams::new(32, 200))
///     .with_quantization(Quantization::scalar_int8())
///     .on_disk(true);
/// assert_eq!(image.dimension, 512);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct VectorParams {
    /// Vector dimension, 1..=[`MAX_DIMENSION`].
    pub dimension: usize,
    /// How vectors are compared.
    pub distance: Distance,
    /// This vector's HNSW parameters, over the collection's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hnsw: Option<HnswParams>,
    /// This vector's quantization, over the collection's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantization: Option<Quantization>,
    /// Keep the vectors on disk (memory-mapped) rather than in RAM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_disk: Option<bool>,
}

impl VectorParams {
    /// Dense vectors of `dimension` compared by `distance`, with the store's defaults.
    pub const fn dense(dimension: usize, distance: Distance) -> Self {
        Self {
            dimension,
            distance,
            hnsw: None,
            quantization: None,
            on_disk: None,
        }
    }

    /// Sets this vector's HNSW parameters.
    #[must_use]
    pub const fn with_hnsw(mut self, hnsw: HnswParams) -> Self {
        self.hnsw = Some(hnsw);
        self
    }

    /// Sets this vector's quantization.
    #[must_use]
    pub const fn with_quantization(mut self, quantization: Quantization) -> Self {
        self.quantization = Some(quantization);
        self
    }

    /// Keeps the vectors on disk or in RAM.
    #[must_use]
    pub const fn on_disk(mut self, yes: bool) -> Self {
        self.on_disk = Some(yes);
        self
    }
}

/// A sparse vector of a collection (always named).
///
/// With [`idf`](Self::idf), search weighs each query element by its inverse document
/// frequency in the collection (Qdrant's `modifier: idf`, for BM25-like scoring).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SparseParams {
    /// Weigh query elements by inverse document frequency.
    #[serde(default)]
    pub idf: bool,
    /// Keep the sparse index on disk rather than in RAM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_disk: Option<bool>,
}

impl SparseParams {
    /// Turns the IDF modifier on.
    #[must_use]
    pub const fn idf(mut self) -> Self {
        self.idf = true;
        self
    }

    /// Keeps the sparse index on disk or in RAM.
    #[must_use]
    pub const fn on_disk(mut self, yes: bool) -> Self {
        self.on_disk = Some(yes);
        self
    }
}

/// A sparse vector: the non-zero elements, as parallel lists of indices and values.
///
/// Valid when both lists have the same length, indices are unique and values finite
/// ([`validate`](Self::validate)); the order of the elements does not matter.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SparseVector {
    /// Element indices, unique.
    pub indices: Vec<u32>,
    /// Element values, finite, one per index.
    pub values: Vec<f32>,
}

impl SparseVector {
    /// The sparse vector of `indices` and `values` (not validated here).
    pub fn new(indices: Vec<u32>, values: Vec<f32>) -> Self {
        Self { indices, values }
    }

    /// Checks the lengths, the uniqueness of indices and the values; `InvalidInput` of
    /// `operation` naming `what` otherwise.
    pub fn validate(&self, what: &str, operation: &'static str) -> InfraResult<()> {
        if self.indices.len() != self.values.len() {
            return Err(invalid(
                operation,
                format!(
                    "sparse {what} has {} indices and {} values: expected one value per index",
                    self.indices.len(),
                    self.values.len()
                ),
            ));
        }
        if self.indices.len() > MAX_SPARSE_ELEMENTS {
            return Err(invalid(
                operation,
                format!(
                    "sparse {what} has {} elements: expected at most {MAX_SPARSE_ELEMENTS}",
                    self.indices.len()
                ),
            ));
        }
        let mut seen = HashSet::with_capacity(self.indices.len());
        if let Some(repeated) = self.indices.iter().find(|i| !seen.insert(**i)) {
            return Err(invalid(
                operation,
                format!("sparse {what} repeats index {repeated}: expected unique indices"),
            ));
        }
        if self.values.iter().any(|v| !v.is_finite()) {
            return Err(invalid(
                operation,
                format!("sparse {what} values must be finite numbers"),
            ));
        }
        Ok(())
    }

    /// The dot product over the indices both vectors have (Qdrant's sparse score), with
    /// each of this vector's values multiplied by `weight(index)`.
    pub fn weighted_dot(&self, other: &SparseVector, weight: impl Fn(u32) -> f32) -> f32 {
        let theirs: BTreeMap<u32, f32> = other
            .indices
            .iter()
            .copied()
            .zip(other.values.iter().copied())
            .collect();
        self.indices
            .iter()
            .zip(&self.values)
            .filter_map(|(i, v)| theirs.get(i).map(|w| v * weight(*i) * w))
            .sum()
    }

    /// Whether the two vectors share an index.
    pub fn overlaps(&self, other: &SparseVector) -> bool {
        let theirs: HashSet<u32> = other.indices.iter().copied().collect();
        self.indices.iter().any(|i| theirs.contains(i))
    }

    /// The same elements sorted by index (how Qdrant stores and returns them).
    #[must_use]
    pub fn sorted(&self) -> SparseVector {
        let mut pairs: Vec<(u32, f32)> = self
            .indices
            .iter()
            .copied()
            .zip(self.values.iter().copied())
            .collect();
        pairs.sort_by_key(|(i, _)| *i);
        let (indices, values) = pairs.into_iter().unzip();
        SparseVector { indices, values }
    }
}

/// One vector of a point: dense or sparse. Serialized untagged (a list of numbers, or
/// `{"indices", "values"}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Vector {
    /// A dense vector.
    Dense(Vec<f32>),
    /// A sparse vector.
    Sparse(SparseVector),
}

impl Vector {
    /// The dense components, if this is a dense vector.
    pub fn as_dense(&self) -> Option<&[f32]> {
        match self {
            Vector::Dense(v) => Some(v),
            Vector::Sparse(_) => None,
        }
    }

    /// The sparse elements, if this is a sparse vector.
    pub fn as_sparse(&self) -> Option<&SparseVector> {
        match self {
            Vector::Sparse(v) => Some(v),
            Vector::Dense(_) => None,
        }
    }

    const fn kind(&self) -> &'static str {
        match self {
            Vector::Dense(_) => "dense",
            Vector::Sparse(_) => "sparse",
        }
    }
}

impl From<Vec<f32>> for Vector {
    fn from(vector: Vec<f32>) -> Self {
        Vector::Dense(vector)
    }
}

impl From<SparseVector> for Vector {
    fn from(vector: SparseVector) -> Self {
        Vector::Sparse(vector)
    }
}

/// A point's vectors by name; [`UNNAMED_VECTOR`] (`""`) is a collection's unnamed dense
/// vector.
///
/// Serialized as a JSON object of name to vector; deserialized from one, or from a plain
/// list of numbers (the unnamed vector).
///
/// ```
/// use infra_base::{SparseVector, Vectors};
///
/// let vectors = Vectors::new()
///     .with("image", vec![0.1, 0.2])
///     .with("keywords", SparseVector::new(vec![7, 42], vec![1.0, 0.5]));
/// assert_eq!(vectors.len(), 2);
/// assert!(vectors.get("image").is_some());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Vectors(BTreeMap<String, Vector>);

impl Vectors {
    /// No vector.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only the unnamed dense vector.
    pub fn unnamed(vector: Vec<f32>) -> Self {
        Self::new().with(UNNAMED_VECTOR, vector)
    }

    /// Adds (or replaces) the vector `name`.
    #[must_use]
    pub fn with(mut self, name: impl Into<String>, vector: impl Into<Vector>) -> Self {
        self.0.insert(name.into(), vector.into());
        self
    }

    /// Adds (or replaces) the vector `name`.
    pub fn insert(&mut self, name: impl Into<String>, vector: impl Into<Vector>) {
        self.0.insert(name.into(), vector.into());
    }

    /// The vector `name`.
    pub fn get(&self, name: &str) -> Option<&Vector> {
        self.0.get(name)
    }

    /// The unnamed dense vector, if the point has one.
    pub fn unnamed_dense(&self) -> Option<&[f32]> {
        self.get(UNNAMED_VECTOR).and_then(Vector::as_dense)
    }

    /// Takes the unnamed dense vector out, if the point has one.
    pub fn into_unnamed_dense(mut self) -> Option<Vec<f32>> {
        match self.0.remove(UNNAMED_VECTOR) {
            Some(Vector::Dense(v)) => Some(v),
            _ => None,
        }
    }

    /// The vectors by name, sorted.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Vector)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The vectors by name, mutably.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&str, &mut Vector)> {
        self.0.iter_mut().map(|(k, v)| (k.as_str(), v))
    }

    /// How many vectors.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there is no vector.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Copies every vector of `other` over this one's of the same name.
    pub fn merge(&mut self, other: Vectors) {
        self.0.extend(other.0);
    }
}

impl From<Vec<f32>> for Vectors {
    fn from(vector: Vec<f32>) -> Self {
        Vectors::unnamed(vector)
    }
}

impl FromIterator<(String, Vector)> for Vectors {
    fn from_iter<I: IntoIterator<Item = (String, Vector)>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

impl IntoIterator for Vectors {
    type Item = (String, Vector);
    type IntoIter = std::collections::btree_map::IntoIter<String, Vector>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'de> Deserialize<'de> for Vectors {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(
            untagged,
            expecting = "a list of numbers or an object of named vectors"
        )]
        enum Repr {
            Unnamed(Vec<f32>),
            Named(BTreeMap<String, Vector>),
        }
        Ok(match Repr::deserialize(deserializer)? {
            Repr::Unnamed(vector) => Vectors::unnamed(vector),
            Repr::Named(map) => Vectors(map),
        })
    }
}

/// The vectors a collection has: dense ones by name (the unnamed one under
/// [`UNNAMED_VECTOR`]) and sparse ones by name.
///
/// A collection declares either the unnamed dense vector alone or named dense vectors,
/// as in Qdrant, and any number of sparse vectors besides.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VectorSchema {
    /// Dense vectors by name.
    #[serde(default)]
    pub dense: BTreeMap<String, VectorParams>,
    /// Sparse vectors by name.
    #[serde(default)]
    pub sparse: BTreeMap<String, SparseParams>,
}

impl VectorSchema {
    /// The unnamed dense vector, if the collection has one.
    pub fn unnamed(&self) -> Option<&VectorParams> {
        self.dense.get(UNNAMED_VECTOR)
    }

    /// Checks a declaration: at least one vector, the unnamed dense vector alone or named
    /// ones only, names of 1..=[`MAX_VECTOR_NAME_LEN`] bytes used once, dimensions
    /// 1..=[`MAX_DIMENSION`], valid HNSW parameters.
    pub fn validate(&self, collection: &str) -> InfraResult<()> {
        const OP: &str = "ensure_collection";
        if self.dense.is_empty() && self.sparse.is_empty() {
            return Err(invalid(
                OP,
                format!(
                    "collection {collection} declares no vector: expected at least one dense or sparse vector"
                ),
            ));
        }
        if self.dense.contains_key(UNNAMED_VECTOR) && self.dense.len() > 1 {
            return Err(invalid(
                OP,
                format!(
                    "collection {collection} declares the unnamed vector and named dense \
                     vectors: expected either the unnamed vector alone or named ones"
                ),
            ));
        }
        for (name, params) in &self.dense {
            if name.len() > MAX_VECTOR_NAME_LEN {
                return Err(invalid(
                    OP,
                    format!(
                        "vector name is {} bytes long: expected at most {MAX_VECTOR_NAME_LEN}",
                        name.len()
                    ),
                ));
            }
            if params.dimension == 0 || params.dimension > MAX_DIMENSION {
                return Err(invalid(
                    OP,
                    format!(
                        "{} has dimension {}: expected 1..={MAX_DIMENSION}",
                        display_name(name),
                        params.dimension
                    ),
                ));
            }
            if let Some(hnsw) = &params.hnsw {
                hnsw.validate(&display_name(name))?;
            }
        }
        for name in self.sparse.keys() {
            if name.is_empty() || name.len() > MAX_VECTOR_NAME_LEN {
                return Err(invalid(
                    OP,
                    format!(
                        "sparse vector name {name:?} is not 1..={MAX_VECTOR_NAME_LEN} bytes long: \
                         sparse vectors are always named"
                    ),
                ));
            }
            if self.dense.contains_key(name) {
                return Err(invalid(
                    OP,
                    format!(
                        "vector {name:?} is declared both dense and sparse: expected one kind per name"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// `Ok` when a collection that has `existing` satisfies this declaration: every
    /// declared dense vector exists with the same dimension and distance, every declared
    /// sparse vector exists with the same IDF modifier. Otherwise the
    /// [`Conflict`](ErrorKind::Conflict) naming both sides. Vectors `existing` has beyond
    /// the declared ones are accepted; tuning (HNSW, quantization, on disk) is not compared.
    pub fn check_existing(&self, collection: &str, existing: &VectorSchema) -> InfraResult<()> {
        let conflict = |message: String| {
            InfraError::new(
                ErrorKind::Conflict,
                VECTOR_BACKEND,
                "ensure_collection",
                format!("collection {collection} {message}"),
            )
        };
        for (name, declared) in &self.dense {
            let Some(found) = existing.dense.get(name) else {
                return Err(conflict(format!(
                    "has no dense {} ({}), but one of dimension {} and distance {} was \
                     requested",
                    display_name(name),
                    existing.describe(),
                    declared.dimension,
                    declared.distance
                )));
            };
            if (found.dimension, found.distance) != (declared.dimension, declared.distance) {
                return Err(conflict(format!(
                    "has {} of dimension {} and distance {}, but dimension {} and distance {} \
                     were requested",
                    display_name(name),
                    found.dimension,
                    found.distance,
                    declared.dimension,
                    declared.distance
                )));
            }
        }
        for (name, declared) in &self.sparse {
            let Some(found) = existing.sparse.get(name) else {
                return Err(conflict(format!(
                    "has no sparse vector {name:?} ({}), but it was requested",
                    existing.describe()
                )));
            };
            if found.idf != declared.idf {
                let modifier = |idf: bool| if idf { "idf" } else { "none" };
                return Err(conflict(format!(
                    "has sparse vector {name:?} with modifier {}, but modifier {} was requested",
                    modifier(found.idf),
                    modifier(declared.idf)
                )));
            }
        }
        Ok(())
    }

    /// What `collection_info` reports of these vectors: dimension, distance and IDF
    /// modifier, without tuning.
    #[must_use]
    pub fn reported(&self) -> VectorSchema {
        VectorSchema {
            dense: self
                .dense
                .iter()
                .map(|(name, p)| (name.clone(), VectorParams::dense(p.dimension, p.distance)))
                .collect(),
            sparse: self
                .sparse
                .iter()
                .map(|(name, p)| {
                    let reported = SparseParams::default();
                    (name.clone(), if p.idf { reported.idf() } else { reported })
                })
                .collect(),
        }
    }

    /// A short description of the vectors, for messages.
    fn describe(&self) -> String {
        let mut parts: Vec<String> = self
            .dense
            .iter()
            .map(|(name, p)| format!("{} {}/{}", display_name(name), p.dimension, p.distance))
            .collect();
        parts.extend(
            self.sparse
                .keys()
                .map(|name| format!("sparse vector {name:?}")),
        );
        if parts.is_empty() {
            "it has no vector".to_owned()
        } else {
            format!("it has {}", parts.join(", "))
        }
    }

    /// Checks a point's vectors: each names a vector of the collection, of the same kind,
    /// dense ones of its dimension with finite components, sparse ones valid.
    pub fn check_vectors(&self, vectors: &Vectors, operation: &'static str) -> InfraResult<()> {
        for (name, vector) in vectors.iter() {
            self.check_vector(name, vector, operation)?;
        }
        Ok(())
    }

    /// Checks that the collection has a vector named `name`, dense or sparse (for a query
    /// that reads the vector from a stored point).
    pub fn check_name(&self, name: &str, operation: &'static str) -> InfraResult<()> {
        if self.dense.contains_key(name) || self.sparse.contains_key(name) {
            return Ok(());
        }
        Err(invalid(
            operation,
            format!(
                "the collection has no {} ({})",
                display_name(name),
                self.describe()
            ),
        ))
    }

    /// Checks one vector named `name` against the collection (see
    /// [`check_vectors`](Self::check_vectors)).
    pub fn check_vector(
        &self,
        name: &str,
        vector: &Vector,
        operation: &'static str,
    ) -> InfraResult<()> {
        match (vector, self.dense.get(name), self.sparse.get(name)) {
            (Vector::Dense(v), Some(params), _) => validate_vector(v, params.dimension, operation)
                .map_err(|e| {
                    if name == UNNAMED_VECTOR {
                        e
                    } else {
                        invalid(operation, format!("vector {name:?}: {}", e.message()))
                    }
                }),
            (Vector::Sparse(v), _, Some(_)) => v.validate(&display_name(name), operation),
            (_, None, None) => Err(invalid(
                operation,
                format!(
                    "the collection has no {} ({})",
                    display_name(name),
                    self.describe()
                ),
            )),
            (v, _, _) => Err(invalid(
                operation,
                format!(
                    "{} is not {}: the collection declares it {}",
                    display_name(name),
                    v.kind(),
                    if v.kind() == "dense" {
                        "sparse"
                    } else {
                        "dense"
                    }
                ),
            )),
        }
    }
}

impl fmt::Display for VectorSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

/// New vectors for one existing point: see
/// [`VectorPort::update_vectors`](super::VectorPort::update_vectors).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PointVectors {
    /// The point's id.
    pub id: super::PointId,
    /// The vectors to replace (at least one); the point's other vectors are kept.
    pub vectors: Vectors,
}

impl PointVectors {
    /// Replaces the vectors of point `id` that `vectors` names.
    pub fn new(id: impl Into<super::PointId>, vectors: Vectors) -> Self {
        Self {
            id: id.into(),
            vectors,
        }
    }

    /// Checks the entry against the collection's `vectors`: at least one vector, each
    /// valid for the collection ([`VectorSchema::check_vectors`]).
    pub fn validate(&self, vectors: &VectorSchema, operation: &'static str) -> InfraResult<()> {
        if self.vectors.is_empty() {
            return Err(invalid(
                operation,
                format!(
                    "point {} names no vector to update: expected at least one",
                    self.id
                ),
            ));
        }
        vectors.check_vectors(&self.vectors, operation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> VectorSchema {
        VectorSchema {
            dense: BTreeMap::from([("image".to_owned(), VectorParams::dense(2, Distance::Dot))]),
            sparse: BTreeMap::from([("words".to_owned(), SparseParams::default())]),
        }
    }

    #[test]
    fn sparse_vectors_are_validated() {
        let ok = SparseVector::new(vec![3, 1], vec![0.5, 1.0]);
        assert!(ok.validate("v", "upsert").is_ok());
        for (bad, word) in [
            (
                SparseVector::new(vec![1, 2], vec![1.0]),
                "one value per index",
            ),
            (
                SparseVector::new(vec![1, 1], vec![1.0, 2.0]),
                "unique indices",
            ),
            (SparseVector::new(vec![1], vec![f32::NAN]), "finite"),
        ] {
            let err = bad.validate("v", "upsert").unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput);
            assert!(err.message().contains(word), "{}", err.message());
        }
        assert_eq!(ok.sorted(), SparseVector::new(vec![1, 3], vec![1.0, 0.5]));
    }

    #[test]
    fn sparse_dot_product_uses_shared_indices_only() {
        let a = SparseVector::new(vec![1, 5, 9], vec![1.0, 2.0, 3.0]);
        let b = SparseVector::new(vec![9, 2, 5], vec![0.5, 7.0, 4.0]);
        assert!((a.weighted_dot(&b, |_| 1.0) - 9.5).abs() < 1e-6);
        assert!(a.overlaps(&b));
        assert!(!a.overlaps(&SparseVector::new(vec![2], vec![1.0])));
    }

    #[test]
    fn vectors_deserialize_from_a_list_or_an_object() {
        let unnamed: Vectors = serde_json::from_str("[1.0, 2.0]").unwrap();
        assert_eq!(unnamed.unnamed_dense(), Some(&[1.0, 2.0][..]));
        let named: Vectors =
            serde_json::from_str(r#"{"a": [1.0], "s": {"indices": [4], "values": [0.5]}}"#)
                .unwrap();
        assert_eq!(named.get("a"), Some(&Vector::Dense(vec![1.0])));
        assert_eq!(
            named.get("s"),
            Some(&Vector::Sparse(SparseVector::new(vec![4], vec![0.5])))
        );
        let round = serde_json::to_string(&named).unwrap();
        assert_eq!(serde_json::from_str::<Vectors>(&round).unwrap(), named);
    }

    #[test]
    fn point_vectors_are_checked_by_name_and_kind() {
        let s = schema();
        let ok = Vectors::new()
            .with("image", vec![1.0, 0.0])
            .with("words", SparseVector::new(vec![1], vec![1.0]));
        assert!(s.check_vectors(&ok, "upsert").is_ok());
        for (bad, word) in [
            (
                Vectors::new().with("nope", vec![1.0, 0.0]),
                "no vector \"nope\"",
            ),
            (Vectors::new().with("image", vec![1.0]), "dimension 1"),
            (
                Vectors::new().with("image", SparseVector::default()),
                "declares it dense",
            ),
            (
                Vectors::new().with("words", vec![1.0]),
                "declares it sparse",
            ),
        ] {
            let err = s.check_vectors(&bad, "upsert").unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput);
            assert!(err.message().contains(word), "{}", err.message());
        }
    }

    #[test]
    fn declarations_are_validated() {
        assert!(schema().validate("c").is_ok());
        let mut mixed = schema();
        mixed.dense.insert(
            UNNAMED_VECTOR.to_owned(),
            VectorParams::dense(2, Distance::Dot),
        );
        let mut unnamed_sparse = VectorSchema::default();
        unnamed_sparse
            .sparse
            .insert(UNNAMED_VECTOR.to_owned(), SparseParams::default());
        let mut both = schema();
        both.sparse
            .insert("image".to_owned(), SparseParams::default());
        let mut bad_hnsw = VectorSchema::default();
        bad_hnsw.dense.insert(
            "v".to_owned(),
            VectorParams::dense(2, Distance::Dot).with_hnsw(HnswParams::new(16, 2)),
        );
        for (bad, word) in [
            (VectorSchema::default(), "no vector"),
            (mixed, "either the unnamed vector alone"),
            (unnamed_sparse, "always named"),
            (both, "both dense and sparse"),
            (bad_hnsw, "at least 4"),
        ] {
            let err = bad.validate("c").unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput);
            assert!(err.message().contains(word), "{}", err.message());
        }
    }

    #[test]
    fn drift_covers_declared_vectors_and_accepts_extras() {
        let declared = schema();
        let mut existing = schema();
        existing
            .dense
            .insert("extra".to_owned(), VectorParams::dense(9, Distance::Euclid));
        assert!(declared.check_existing("c", &existing).is_ok());
        let mut other_dim = schema();
        other_dim
            .dense
            .insert("image".to_owned(), VectorParams::dense(3, Distance::Dot));
        let mut no_sparse = schema();
        no_sparse.sparse.clear();
        let mut idf = schema();
        idf.sparse
            .insert("words".to_owned(), SparseParams::default().idf());
        for (existing, words) in [
            (other_dim, &["dimension 3", "dimension 2", "image"][..]),
            (no_sparse, &["no sparse vector \"words\""][..]),
            (idf, &["modifier idf", "modifier none"][..]),
        ] {
            let err = declared.check_existing("c", &existing).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Conflict);
            for word in words {
                assert!(err.message().contains(word), "{}", err.message());
            }
        }
    }
}
