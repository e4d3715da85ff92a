//! Qdrant's universal query ([`VectorPort::query`](super::VectorPort::query)): nearest by a
//! vector or by a stored point, recommendation from examples, and prefetch stages merged by
//! fusion (hybrid dense + sparse search).
//!
//! The request is a typed tree that maps one-to-one onto Qdrant's `QueryPoints`, limited to
//! what every adapter can answer identically:
//!
//! - [`Query::Nearest`] scores by similarity to a vector, or to the stored vector of a point
//!   ("more like this"): [`VectorInput::Point`];
//! - [`Query::Recommend`] scores by positive and negative examples, by their
//!   [average vector](RecommendStrategy::AverageVector) or by the
//!   [best score](RecommendStrategy::BestScore) against each example;
//! - [`Query::Fusion`] merges the candidates of the [`Prefetch`] stages by rank
//!   ([`Fusion::Rrf`]) or by normalized score ([`Fusion::Dbsf`]).
//!
//! Semantics follow Qdrant's documentation: the request's filter applies to every prefetch
//! stage as well; a query with prefetches scores only their candidates; points a query
//! refers to by id are excluded from its results; `offset` skips results after scoring.

use serde::{Deserialize, Serialize};

use super::VECTOR_BACKEND;
use super::filter::Filter;
use super::lookup::LookupLocation;
use super::types::{Distance, MAX_SEARCH_LIMIT, PointId, invalid};
use super::vectors::{SparseVector, UNNAMED_VECTOR, Vector, VectorSchema};
use crate::error::{ErrorKind, InfraError, InfraResult};

/// How deep prefetch stages may nest (Qdrant allows deeper trees; a service rarely needs
/// more than a hybrid stage over a re-ranking stage, and every level costs a search).
pub const MAX_PREFETCH_DEPTH: usize = 4;

/// How many prefetch stages one level may hold.
pub const MAX_PREFETCHES: usize = 16;

/// How many examples a recommendation may hold in all.
pub const MAX_EXAMPLES: usize = 64;

/// The largest `offset + limit` of a query, as for [`MAX_SEARCH_LIMIT`].
pub const MAX_QUERY_WINDOW: usize = MAX_SEARCH_LIMIT;

/// Reciprocal rank fusion's default `k` (Qdrant's).
pub const DEFAULT_RRF_K: u32 = 2;

/// A vector given inline or by the id of a stored point whose vector is used (Qdrant's
/// `VectorInput`). The point is read from the queried collection, by the vector the query
/// uses; a point that does not exist or lacks that vector is
/// [`NotFound`](crate::ErrorKind::NotFound).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VectorInput {
    /// The vector itself (dense, or sparse for a sparse vector).
    Vector(Vector),
    /// The stored vector of this point; the point is left out of the results.
    Point(PointId),
}

impl From<Vec<f32>> for VectorInput {
    fn from(vector: Vec<f32>) -> Self {
        VectorInput::Vector(Vector::Dense(vector))
    }
}

impl From<SparseVector> for VectorInput {
    fn from(vector: SparseVector) -> Self {
        VectorInput::Vector(Vector::Sparse(vector))
    }
}

impl From<PointId> for VectorInput {
    fn from(id: PointId) -> Self {
        VectorInput::Point(id)
    }
}

/// How a recommendation turns its examples into scores (Qdrant's `RecommendStrategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecommendStrategy {
    /// Nearest to one vector: `avg(positive) + (avg(positive) - avg(negative))` (just the
    /// positive average without negatives). Scores are those of the collection's distance.
    #[default]
    AverageVector,
    /// Each point scores by its best similarity to any example: `sigmoid(best positive)`
    /// when that beats the best negative, else `-sigmoid(best negative)` (Qdrant's scaled
    /// fast sigmoid, in `(-1, 1)`). Slower than the average, and finds what is close to
    /// any single positive.
    BestScore,
}

/// A recommendation from examples (Qdrant's `RecommendInput`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recommend {
    /// What results should be like; at least one.
    pub positive: Vec<VectorInput>,
    /// What results should not be like.
    #[serde(default)]
    pub negative: Vec<VectorInput>,
    /// How examples become scores.
    #[serde(default)]
    pub strategy: RecommendStrategy,
}

/// How prefetch results are merged (Qdrant's `Fusion`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fusion {
    /// Reciprocal rank fusion: a point at rank `r` (1-based) of a stage adds
    /// `1 / (r + k - 1)`, summed over the stages that found it. Scores are not comparable
    /// across stages, so ranks are the robust choice for dense + sparse.
    Rrf {
        /// The rank constant; larger flattens the gap between ranks ([`DEFAULT_RRF_K`]).
        k: u32,
    },
    /// Distribution-based score fusion: each stage's scores are normalized to
    /// `mean ± 3 standard deviations` and summed.
    Dbsf,
}

impl Fusion {
    /// Reciprocal rank fusion with Qdrant's default `k`.
    pub const RRF: Fusion = Fusion::Rrf { k: DEFAULT_RRF_K };
}

/// What a query or a prefetch stage scores by.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Query {
    /// Similarity to a vector or to a stored point's vector.
    Nearest(VectorInput),
    /// Positive and negative examples.
    Recommend(Recommend),
    /// Merge the candidates of the prefetch stages (needs at least one).
    Fusion(Fusion),
}

impl Query {
    /// The ids this query reads vectors from (and leaves out of the results).
    pub(super) fn referenced_ids(&self) -> impl Iterator<Item = PointId> + '_ {
        let inputs: Box<dyn Iterator<Item = &VectorInput>> = match self {
            Query::Nearest(input) => Box::new(std::iter::once(input)),
            Query::Recommend(r) => Box::new(r.positive.iter().chain(&r.negative)),
            Query::Fusion(_) => Box::new(std::iter::empty()),
        };
        inputs.filter_map(|input| match input {
            VectorInput::Point(id) => Some(*id),
            VectorInput::Vector(_) => None,
        })
    }
}

/// Which payload fields results carry (Qdrant's `with_payload` selector).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PayloadSelector {
    /// No payload.
    None,
    /// The whole payload.
    #[default]
    All,
    /// Only these top-level keys.
    Include(Vec<String>),
    /// Every top-level key but these.
    Exclude(Vec<String>),
}

impl PayloadSelector {
    /// Whether results carry a payload at all.
    pub fn wants_payload(&self) -> bool {
        !matches!(self, PayloadSelector::None)
    }

    /// Applies the selector to a stored payload (for in-process stores).
    pub fn select(&self, payload: &super::types::Payload) -> Option<super::types::Payload> {
        match self {
            PayloadSelector::None => None,
            PayloadSelector::All => Some(payload.clone()),
            PayloadSelector::Include(keys) => Some(
                payload
                    .iter()
                    .filter(|(k, _)| keys.contains(k))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            ),
            PayloadSelector::Exclude(keys) => Some(
                payload
                    .iter()
                    .filter(|(k, _)| !keys.contains(k))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            ),
        }
    }

    pub(crate) fn validate(&self, operation: &'static str) -> InfraResult<()> {
        let keys = match self {
            PayloadSelector::None | PayloadSelector::All => return Ok(()),
            PayloadSelector::Include(keys) | PayloadSelector::Exclude(keys) => keys,
        };
        if keys.is_empty() || keys.len() > super::filter::MAX_FILTER_VALUES {
            return Err(invalid(
                operation,
                format!(
                    "a payload selector lists 1..={} keys, got {}",
                    super::filter::MAX_FILTER_VALUES,
                    keys.len()
                ),
            ));
        }
        if let Some(bad) = keys
            .iter()
            .find(|k| k.is_empty() || k.contains(['.', '[', ']']) || k.len() > 256)
        {
            return Err(invalid(
                operation,
                format!(
                    "payload selector key {bad:?} is not a top-level key: expected 1 to 256 \
                     characters without '.', '[' or ']'"
                ),
            ));
        }
        Ok(())
    }
}

/// Search tuning shared by the query and its stages (Qdrant's `SearchParams`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct QueryParams {
    /// The HNSW beam size: larger is more accurate and slower (the collection's
    /// `ef_construct` when `None`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hnsw_ef: Option<u32>,
    /// Exact (brute-force) search: full recall, slower.
    #[serde(default)]
    pub exact: bool,
}

/// A stage whose results the query (or the stage above) scores or fuses (Qdrant's
/// `PrefetchQuery`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prefetch {
    /// Stages below this one; this stage scores only their candidates.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prefetch: Vec<Prefetch>,
    /// What this stage scores by.
    pub query: Query,
    /// The collection's vector to score by; `None` is the unnamed one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub using: Option<String>,
    /// Only points matching this filter (and the request's).
    #[serde(default)]
    pub filter: Filter,
    /// Only candidates passing this score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score_threshold: Option<f32>,
    /// How many candidates this stage hands up, 1..=[`MAX_SEARCH_LIMIT`].
    pub limit: usize,
    /// Search tuning.
    #[serde(default)]
    pub params: QueryParams,
    /// Where the ids of this stage's `query` are read from, when not from the queried
    /// collection (each stage has its own: it does not inherit the request's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lookup_from: Option<LookupLocation>,
}

impl Prefetch {
    /// The `limit` best candidates by `query` on the vector `using` (`None`: unnamed).
    pub fn new(query: Query, using: Option<&str>, limit: usize) -> Self {
        Self {
            prefetch: Vec::new(),
            query,
            using: using.map(str::to_owned),
            filter: Filter::default(),
            score_threshold: None,
            limit,
            params: QueryParams::default(),
            lookup_from: None,
        }
    }

    /// Reads the points this stage's `query` refers to by id from `location` instead of
    /// the queried collection.
    #[must_use]
    pub fn lookup_from(mut self, location: LookupLocation) -> Self {
        self.lookup_from = Some(location);
        self
    }

    /// Restricts this stage to points matching `filter`.
    #[must_use]
    pub fn filter(mut self, filter: Filter) -> Self {
        self.filter = filter;
        self
    }

    /// The name of the vector scored by ([`UNNAMED_VECTOR`] for the unnamed one).
    pub fn vector_name(&self) -> &str {
        self.using.as_deref().unwrap_or(UNNAMED_VECTOR)
    }
}

/// One universal query ([`VectorPort::query`](super::VectorPort::query)): prefetch
/// stages, then one [`Query`] that scores or fuses their candidates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueryRequest {
    /// Stages whose candidates `query` scores or fuses; none scores every point.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prefetch: Vec<Prefetch>,
    /// What results are scored by.
    pub query: Query,
    /// The collection's vector to score by; `None` is the unnamed one (and must be `None`
    /// for a fusion, as in Qdrant).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub using: Option<String>,
    /// Only points matching this filter, at every stage.
    #[serde(default)]
    pub filter: Filter,
    /// Only results passing this score ([`Distance::passes_threshold`] for a nearest
    /// query; greater or equal for recommendation and fusion scores).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score_threshold: Option<f32>,
    /// How many results at most, 1..=[`MAX_SEARCH_LIMIT`].
    pub limit: usize,
    /// How many of the best results to skip (`offset + limit` at most
    /// [`MAX_QUERY_WINDOW`]).
    #[serde(default)]
    pub offset: usize,
    /// Search tuning (of the search itself when there is no prefetch).
    #[serde(default)]
    pub params: QueryParams,
    /// Which payload fields results carry.
    #[serde(default)]
    pub with_payload: PayloadSelector,
    /// Whether results carry their vectors.
    #[serde(default)]
    pub with_vector: bool,
    /// Where the ids of `query` are read from, when not from the queried collection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lookup_from: Option<LookupLocation>,
}

impl QueryRequest {
    /// The `limit` best points by `query` over every point, on the unnamed vector, with
    /// payloads.
    pub fn new(query: Query, limit: usize) -> Self {
        Self {
            prefetch: Vec::new(),
            query,
            using: None,
            filter: Filter::default(),
            score_threshold: None,
            limit,
            offset: 0,
            params: QueryParams::default(),
            with_payload: PayloadSelector::All,
            with_vector: false,
            lookup_from: None,
        }
    }

    /// The `limit` nearest points to `input` (a vector, or a stored point by id).
    pub fn nearest(input: impl Into<VectorInput>, limit: usize) -> Self {
        Self::new(Query::Nearest(input.into()), limit)
    }

    /// Merges `stages` by `fusion`: the hybrid search of dense and sparse stages.
    pub fn fusion(fusion: Fusion, stages: Vec<Prefetch>, limit: usize) -> Self {
        Self {
            prefetch: stages,
            ..Self::new(Query::Fusion(fusion), limit)
        }
    }

    /// Scores by the collection's vector `name`.
    #[must_use]
    pub fn using(mut self, name: impl Into<String>) -> Self {
        self.using = Some(name.into());
        self
    }

    /// Restricts results (and every stage) to points matching `filter`.
    #[must_use]
    pub fn filter(mut self, filter: Filter) -> Self {
        self.filter = filter;
        self
    }

    /// Skips the `offset` best results.
    #[must_use]
    pub fn offset(mut self, offset: usize) -> Self {
        self.offset = offset;
        self
    }

    /// Restricts results to scores passing `threshold`.
    #[must_use]
    pub fn score_threshold(mut self, threshold: f32) -> Self {
        self.score_threshold = Some(threshold);
        self
    }

    /// Chooses the payload fields results carry.
    #[must_use]
    pub fn with_payload(mut self, selector: PayloadSelector) -> Self {
        self.with_payload = selector;
        self
    }

    /// Returns vectors or not.
    #[must_use]
    pub fn with_vector(mut self, yes: bool) -> Self {
        self.with_vector = yes;
        self
    }

    /// Reads the points `query` refers to by id from `location` (another collection, or
    /// another of its vectors) instead of the queried collection.
    #[must_use]
    pub fn lookup_from(mut self, location: LookupLocation) -> Self {
        self.lookup_from = Some(location);
        self
    }

    /// The name of the vector scored by ([`UNNAMED_VECTOR`] for the unnamed one).
    pub fn vector_name(&self) -> &str {
        self.using.as_deref().unwrap_or(UNNAMED_VECTOR)
    }

    /// Whether the request or any of its stages reads ids from another collection
    /// (`lookup_from`): its answer then depends on that collection too.
    pub fn reads_other_collections(&self) -> bool {
        fn any(stages: &[Prefetch]) -> bool {
            stages
                .iter()
                .any(|stage| stage.lookup_from.is_some() || any(&stage.prefetch))
        }
        self.lookup_from.is_some() || any(&self.prefetch)
    }

    /// Every id the request reads a vector from, at any stage, each once: these points
    /// are left out of the results (as Qdrant does).
    pub fn referenced_ids(&self) -> Vec<PointId> {
        fn walk(stages: &[Prefetch], ids: &mut Vec<PointId>) {
            for stage in stages {
                ids.extend(stage.query.referenced_ids());
                walk(&stage.prefetch, ids);
            }
        }
        let mut ids: Vec<PointId> = self.query.referenced_ids().collect();
        walk(&self.prefetch, &mut ids);
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// Checks the request against the collection's `vectors`, so every adapter refuses the
    /// same requests as [`InvalidInput`](crate::ErrorKind::InvalidInput): limits, offset,
    /// nesting, filters, thresholds, payload selector, each inline vector against the
    /// vector its stage uses (see [`VectorSchema::check_vector`]), a fusion without
    /// prefetch or with `using`, a recommendation without positive example.
    pub fn validate(&self, vectors: &VectorSchema) -> InfraResult<()> {
        const OP: &str = "query";
        check_limit(self.limit, "limit")?;
        if self.offset.saturating_add(self.limit) > MAX_QUERY_WINDOW {
            return Err(invalid(
                OP,
                format!(
                    "offset {} + limit {} is more than {MAX_QUERY_WINDOW}: page with a filter \
                     or scroll instead",
                    self.offset, self.limit
                ),
            ));
        }
        self.filter.validate(OP)?;
        self.with_payload.validate(OP)?;
        if let Some(location) = &self.lookup_from {
            location.validate(OP)?;
        }
        check_stage(
            &self.query,
            self.using.as_deref(),
            self.score_threshold,
            &self.prefetch,
            vectors,
            1,
        )
    }

    /// The distance a nearest query's scores follow (its vector's, `Dot` for sparse);
    /// `None` for recommendation and fusion scores, which are greater-is-better.
    pub fn distance(&self, vectors: &VectorSchema) -> Option<Distance> {
        match &self.query {
            Query::Nearest(_) => match vectors.sparse.get(self.vector_name()) {
                Some(_) => Some(Distance::Dot),
                None => vectors.dense.get(self.vector_name()).map(|p| p.distance),
            },
            Query::Recommend(Recommend {
                strategy: RecommendStrategy::AverageVector,
                ..
            }) => vectors.dense.get(self.vector_name()).map(|p| p.distance),
            Query::Recommend(_) | Query::Fusion(_) => None,
        }
    }
}

fn check_limit(limit: usize, what: &str) -> InfraResult<()> {
    if limit == 0 || limit > MAX_SEARCH_LIMIT {
        return Err(invalid(
            "query",
            format!("{what} {limit} is out of range: expected 1..={MAX_SEARCH_LIMIT}"),
        ));
    }
    Ok(())
}

fn check_stage(
    query: &Query,
    using: Option<&str>,
    score_threshold: Option<f32>,
    prefetch: &[Prefetch],
    vectors: &VectorSchema,
    depth: usize,
) -> InfraResult<()> {
    const OP: &str = "query";
    if score_threshold.is_some_and(|t| !t.is_finite()) {
        return Err(invalid(OP, "score_threshold must be a finite number"));
    }
    if prefetch.len() > MAX_PREFETCHES {
        return Err(invalid(
            OP,
            format!(
                "{} prefetch stages on one level: at most {MAX_PREFETCHES}",
                prefetch.len()
            ),
        ));
    }
    if !prefetch.is_empty() && depth > MAX_PREFETCH_DEPTH {
        return Err(invalid(
            OP,
            format!("prefetch stages nest more than {MAX_PREFETCH_DEPTH} deep"),
        ));
    }
    let name = using.unwrap_or(UNNAMED_VECTOR);
    let check_input = |input: &VectorInput| match input {
        VectorInput::Vector(v) => vectors.check_vector(name, v, OP),
        VectorInput::Point(_) => vectors.check_name(name, OP),
    };
    match query {
        Query::Nearest(input) => check_input(input)?,
        Query::Recommend(r) => {
            if r.positive.is_empty() {
                return Err(invalid(
                    OP,
                    "a recommendation needs at least one positive example",
                ));
            }
            if r.positive.len() + r.negative.len() > MAX_EXAMPLES {
                return Err(invalid(
                    OP,
                    format!("a recommendation holds at most {MAX_EXAMPLES} examples"),
                ));
            }
            for input in r.positive.iter().chain(&r.negative) {
                check_input(input)?;
            }
        }
        Query::Fusion(fusion) => {
            if prefetch.is_empty() {
                return Err(invalid(
                    OP,
                    "a fusion merges prefetch stages: give at least one",
                ));
            }
            if using.is_some() {
                return Err(invalid(
                    OP,
                    "a fusion scores by rank or normalized score, not by a vector: leave \
                     `using` empty",
                ));
            }
            if matches!(fusion, Fusion::Rrf { k: 0 }) {
                return Err(invalid(OP, "RRF k must be at least 1"));
            }
        }
    }
    for stage in prefetch {
        check_limit(stage.limit, "prefetch limit")?;
        stage.filter.validate(OP)?;
        if let Some(location) = &stage.lookup_from {
            location.validate(OP)?;
        }
        check_stage(
            &stage.query,
            stage.using.as_deref(),
            stage.score_threshold,
            &stage.prefetch,
            vectors,
            depth + 1,
        )?;
    }
    Ok(())
}

/// Qdrant's scaled fast sigmoid, `(x / (1 + |x|) + 1) / 2`: maps best-score
/// recommendation similarities into `(0, 1)`.
pub fn scaled_fast_sigmoid(x: f32) -> f32 {
    0.5 * (x / (1.0 + x.abs()) + 1.0)
}

/// The vector an [`AverageVector`](RecommendStrategy::AverageVector) recommendation
/// searches: `avg(positive) + (avg(positive) - avg(negative))`, or the positive average
/// alone. Every vector must be of one kind (dense of one dimension, or sparse); `None` for
/// no positive or mixed kinds.
pub fn average_vector(positive: &[Vector], negative: &[Vector]) -> Option<Vector> {
    let avg_positive = average(positive)?;
    if negative.is_empty() {
        return Some(avg_positive);
    }
    let avg_negative = average(negative)?;
    match (avg_positive, avg_negative) {
        (Vector::Dense(p), Vector::Dense(n)) if p.len() == n.len() => Some(Vector::Dense(
            p.iter().zip(&n).map(|(p, n)| p + p - n).collect(),
        )),
        (Vector::Sparse(p), Vector::Sparse(n)) => {
            let doubled = SparseVector::new(
                p.indices.clone(),
                p.values.iter().map(|v| v * 2.0).collect(),
            );
            let negated =
                SparseVector::new(n.indices.clone(), n.values.iter().map(|v| -v).collect());
            Some(Vector::Sparse(sparse_sum(&[doubled, negated], 1.0)))
        }
        _ => None,
    }
}

/// The element-wise mean of vectors of one kind.
fn average(vectors: &[Vector]) -> Option<Vector> {
    #[allow(clippy::cast_precision_loss)]
    let n = vectors.len() as f32;
    match vectors.first()? {
        Vector::Dense(first) => {
            let mut sum = vec![0.0_f32; first.len()];
            for v in vectors {
                let Vector::Dense(v) = v else { return None };
                if v.len() != sum.len() {
                    return None;
                }
                for (s, x) in sum.iter_mut().zip(v) {
                    *s += x;
                }
            }
            Some(Vector::Dense(sum.into_iter().map(|s| s / n).collect()))
        }
        Vector::Sparse(_) => {
            let sparse: Option<Vec<SparseVector>> =
                vectors.iter().map(|v| v.as_sparse().cloned()).collect();
            Some(Vector::Sparse(sparse_sum(&sparse?, 1.0 / n)))
        }
    }
}

/// `scale * Σ vectors`, indices sorted.
fn sparse_sum(vectors: &[SparseVector], scale: f32) -> SparseVector {
    let mut sum = std::collections::BTreeMap::<u32, f32>::new();
    for v in vectors {
        for (i, x) in v.indices.iter().zip(&v.values) {
            *sum.entry(*i).or_default() += x;
        }
    }
    let (indices, values) = sum.into_iter().map(|(i, x)| (i, x * scale)).unzip();
    SparseVector::new(indices, values)
}

/// The `NotFound` error of a query naming a point (`VectorInput::Point`) that does not
/// exist or lacks the vector its stage uses: one message for every backend.
pub fn missing_example(id: PointId, vector: &str) -> InfraError {
    let what = if vector == UNNAMED_VECTOR {
        "the unnamed vector".to_owned()
    } else {
        format!("vector {vector:?}")
    };
    InfraError::new(
        ErrorKind::NotFound,
        VECTOR_BACKEND,
        "query",
        format!("no point with id {id} and {what} found"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vector::{SparseParams, VectorParams};

    fn schema() -> VectorSchema {
        let mut schema = VectorSchema::default();
        schema
            .dense
            .insert("dense".into(), VectorParams::dense(2, Distance::Cosine));
        schema.sparse.insert("text".into(), SparseParams::default());
        schema
    }

    fn dense_stage(limit: usize) -> Prefetch {
        Prefetch::new(Query::Nearest(vec![1.0, 0.0].into()), Some("dense"), limit)
    }

    #[test]
    fn fusion_needs_stages_and_no_using() {
        let s = schema();
        let lone = QueryRequest::new(Query::Fusion(Fusion::RRF), 5);
        assert!(
            lone.validate(&s)
                .unwrap_err()
                .message()
                .contains("prefetch")
        );
        let with_using = QueryRequest::fusion(Fusion::Dbsf, vec![dense_stage(5)], 5).using("dense");
        assert!(
            with_using
                .validate(&s)
                .unwrap_err()
                .message()
                .contains("using")
        );
        let zero_k = QueryRequest::fusion(Fusion::Rrf { k: 0 }, vec![dense_stage(5)], 5);
        assert!(zero_k.validate(&s).is_err());
        QueryRequest::fusion(Fusion::RRF, vec![dense_stage(5)], 5)
            .validate(&s)
            .unwrap();
    }

    #[test]
    fn stages_are_checked_against_their_own_vector() {
        let s = schema();
        let wrong_dim = Prefetch::new(Query::Nearest(vec![1.0].into()), Some("dense"), 5);
        let err = QueryRequest::fusion(Fusion::RRF, vec![wrong_dim], 5)
            .validate(&s)
            .unwrap_err();
        assert!(err.message().contains("dimension"), "{}", err.message());
        let dense_on_sparse = Prefetch::new(Query::Nearest(vec![1.0, 0.0].into()), Some("text"), 5);
        assert!(
            QueryRequest::fusion(Fusion::RRF, vec![dense_on_sparse], 5)
                .validate(&s)
                .is_err()
        );
        let by_id = QueryRequest::nearest(PointId::Num(1), 5).using("missing");
        assert!(
            by_id
                .validate(&s)
                .unwrap_err()
                .message()
                .contains("missing")
        );
    }

    #[test]
    fn limits_offsets_depth_and_examples_are_bounded() {
        let s = schema();
        let q = || QueryRequest::nearest(vec![1.0, 0.0], 10).using("dense");
        assert!(q().offset(MAX_QUERY_WINDOW - 9).validate(&s).is_err());
        q().offset(MAX_QUERY_WINDOW - 10).validate(&s).unwrap();
        let mut stage = dense_stage(5);
        for _ in 0..MAX_PREFETCH_DEPTH {
            stage = Prefetch {
                prefetch: vec![stage],
                ..dense_stage(5)
            };
        }
        let deep = QueryRequest::fusion(Fusion::RRF, vec![stage], 5);
        assert!(deep.validate(&s).unwrap_err().message().contains("deep"));
        let none_positive = QueryRequest::new(
            Query::Recommend(Recommend {
                positive: vec![],
                negative: vec![PointId::Num(1).into()],
                strategy: RecommendStrategy::BestScore,
            }),
            5,
        )
        .using("dense");
        assert!(none_positive.validate(&s).is_err());
        let dotted = q().with_payload(PayloadSelector::Include(vec!["a.b".into()]));
        assert!(
            dotted
                .validate(&s)
                .unwrap_err()
                .message()
                .contains("top-level")
        );
    }

    #[test]
    fn referenced_ids_come_from_every_stage_once() {
        let stage = Prefetch::new(Query::Nearest(PointId::Num(7).into()), Some("dense"), 5);
        let request = QueryRequest {
            prefetch: vec![stage],
            ..QueryRequest::new(
                Query::Recommend(Recommend {
                    positive: vec![PointId::Num(7).into(), PointId::Num(3).into()],
                    negative: vec![vec![0.0, 1.0].into()],
                    strategy: RecommendStrategy::AverageVector,
                }),
                5,
            )
        };
        assert_eq!(
            request.referenced_ids(),
            vec![PointId::Num(3), PointId::Num(7)]
        );
    }

    #[test]
    fn average_vector_doubles_the_positive_mean_minus_the_negative_mean() {
        let pos = [Vector::Dense(vec![1.0, 0.0]), Vector::Dense(vec![0.0, 1.0])];
        let neg = [Vector::Dense(vec![1.0, 1.0])];
        assert_eq!(
            average_vector(&pos, &neg),
            Some(Vector::Dense(vec![0.0, 0.0]))
        );
        assert_eq!(
            average_vector(&pos, &[]),
            Some(Vector::Dense(vec![0.5, 0.5]))
        );
        let sparse = [Vector::Sparse(SparseVector::new(
            vec![3, 1],
            vec![2.0, 4.0],
        ))];
        let sparse_neg = [Vector::Sparse(SparseVector::new(
            vec![1, 9],
            vec![1.0, 1.0],
        ))];
        assert_eq!(
            average_vector(&sparse, &sparse_neg),
            Some(Vector::Sparse(SparseVector::new(
                vec![1, 3, 9],
                vec![7.0, 4.0, -1.0]
            )))
        );
        assert_eq!(average_vector(&pos, &sparse_neg), None);
        assert_eq!(average_vector(&[], &neg), None);
    }

    #[test]
    fn sigmoid_is_scaled_into_zero_one() {
        assert!((scaled_fast_sigmoid(0.0) - 0.5).abs() < f32::EPSILON);
        assert!((scaled_fast_sigmoid(1.0) - 0.75).abs() < f32::EPSILON);
        assert!(scaled_fast_sigmoid(-1e9) >= 0.0 && scaled_fast_sigmoid(1e9) <= 1.0);
    }
}
