//! [`MemoryVector`](super::MemoryVector)'s universal query: Qdrant's semantics, computed by
//! brute force.
//!
//! A stage with prefetches scores only their candidates (each stage filtered by its own
//! filter and every filter above it); ids the request refers to are excluded at every
//! stage, as the root filter Qdrant propagates does; fusion follows Qdrant's formulas (RRF
//! `1 / (rank + k - 1)`, DBSF normalized to `mean ± 3 sample standard deviations`).

use std::collections::HashMap;

use super::{Collection, error, normalized, score};
use crate::error::{ErrorKind, InfraResult};
use crate::vector::{
    Condition, Distance, Filter, Fusion, PointId, Prefetch, Query, QueryRequest, RecommendStrategy,
    ScoredPoint, Vector, VectorInput, average_vector, missing_example, scaled_fast_sigmoid,
};

const OP: &str = "query";

/// A query vector ready to score stored vectors of one name.
struct Prepared {
    vector: Vector,
    /// IDF weights by index, for a sparse vector with the IDF modifier.
    idf: HashMap<u32, f32>,
}

/// How one stage scores a stored point.
enum Scorer {
    /// Qdrant's post-processed score against one vector, ordered per `distance`.
    Nearest(Prepared, Distance),
    /// `sigmoid(best positive)` or `-sigmoid(best negative)` on raw similarities.
    BestScore {
        positive: Vec<Prepared>,
        negative: Vec<Prepared>,
        distance: Distance,
    },
}

/// One stage: what it scores by, where, and how many candidates it keeps.
struct Stage<'a> {
    query: &'a Query,
    name: &'a str,
    score_threshold: Option<f32>,
    prefetch: &'a [Prefetch],
    limit: usize,
}

impl Collection {
    /// Runs a validated request.
    pub(super) fn query(&self, request: &QueryRequest) -> InfraResult<Vec<ScoredPoint>> {
        let excluded = request.referenced_ids();
        let mut filter = request.filter.clone();
        if !excluded.is_empty() {
            filter = filter.must_not(Condition::HasId { ids: excluded });
        }
        let stage = Stage {
            query: &request.query,
            name: request.vector_name(),
            score_threshold: request.score_threshold,
            prefetch: &request.prefetch,
            limit: request.offset + request.limit,
        };
        let hits = self.stage(&stage, &[&filter])?;
        Ok(hits
            .into_iter()
            .skip(request.offset)
            .filter_map(|(id, score)| {
                let p = self.points.get(&id)?;
                Some(ScoredPoint {
                    id,
                    score,
                    payload: request.with_payload.select(&p.payload),
                    vectors: request.with_vector.then(|| p.vectors.clone()),
                })
            })
            .collect())
    }

    /// The candidates of one stage, best first.
    fn stage(&self, stage: &Stage<'_>, filters: &[&Filter]) -> InfraResult<Vec<(PointId, f32)>> {
        let mut sources = Vec::with_capacity(stage.prefetch.len());
        for below in stage.prefetch {
            let mut nested = filters.to_vec();
            nested.push(&below.filter);
            sources.push(self.stage(
                &Stage {
                    query: &below.query,
                    name: below.vector_name(),
                    score_threshold: below.score_threshold,
                    prefetch: &below.prefetch,
                    limit: below.limit,
                },
                &nested,
            )?);
        }
        if let Query::Fusion(fusion) = stage.query {
            let mut fused = fuse(sources, *fusion);
            fused.retain(|(_, s)| stage.score_threshold.is_none_or(|t| *s >= t));
            fused.truncate(stage.limit);
            return Ok(fused);
        }
        let scorer = self.scorer(stage.query, stage.name)?;
        let candidates: Vec<PointId> = if stage.prefetch.is_empty() {
            self.points
                .iter()
                .filter(|(id, p)| filters.iter().all(|f| f.matches(**id, &p.payload)))
                .map(|(id, _)| *id)
                .collect()
        } else {
            let mut ids: Vec<PointId> = sources.iter().flatten().map(|(id, _)| *id).collect();
            ids.sort_unstable();
            ids.dedup();
            ids
        };
        let higher_is_better = match &scorer {
            Scorer::Nearest(_, distance) => distance.higher_is_better(),
            Scorer::BestScore { .. } => true,
        };
        let mut hits: Vec<(PointId, f32)> = candidates
            .into_iter()
            .filter_map(|id| {
                let stored = self.points.get(&id)?.vectors.get(stage.name)?;
                Some((id, score_with(&scorer, stored)?))
            })
            .filter(|(_, s)| {
                stage.score_threshold.is_none_or(|t| match &scorer {
                    Scorer::Nearest(_, distance) => distance.passes_threshold(*s, t),
                    Scorer::BestScore { .. } => *s >= t,
                })
            })
            .collect();
        hits.sort_by(|(id_a, a), (id_b, b)| {
            let by_score = if higher_is_better {
                b.total_cmp(a)
            } else {
                a.total_cmp(b)
            };
            by_score.then_with(|| id_a.cmp(id_b))
        });
        hits.truncate(stage.limit);
        Ok(hits)
    }

    /// The vector of `input` for the vector `name`: inline, or read from a stored point.
    fn resolve(&self, name: &str, input: &VectorInput) -> InfraResult<Vector> {
        match input {
            VectorInput::Vector(v) => Ok(v.clone()),
            VectorInput::Point(id) => self
                .points
                .get(id)
                .and_then(|p| p.vectors.get(name))
                .cloned()
                .ok_or_else(|| missing_example(*id, name)),
        }
    }

    fn scorer(&self, query: &Query, name: &str) -> InfraResult<Scorer> {
        let distance = self.distance(name);
        let resolve_all = |inputs: &[VectorInput]| -> InfraResult<Vec<Vector>> {
            inputs.iter().map(|i| self.resolve(name, i)).collect()
        };
        Ok(match query {
            Query::Nearest(input) => {
                Scorer::Nearest(self.prepare(name, &self.resolve(name, input)?), distance)
            }
            Query::Recommend(r) => {
                let positive = resolve_all(&r.positive)?;
                let negative = resolve_all(&r.negative)?;
                match r.strategy {
                    RecommendStrategy::AverageVector => {
                        let vector = average_vector(&positive, &negative).ok_or_else(|| {
                            error(
                                ErrorKind::InvalidInput,
                                OP,
                                "recommendation examples must be vectors of one kind",
                            )
                        })?;
                        Scorer::Nearest(self.prepare(name, &vector), distance)
                    }
                    RecommendStrategy::BestScore => Scorer::BestScore {
                        positive: positive.iter().map(|v| self.prepare(name, v)).collect(),
                        negative: negative.iter().map(|v| self.prepare(name, v)).collect(),
                        distance,
                    },
                }
            }
            Query::Fusion(_) => {
                return Err(error(
                    ErrorKind::Internal,
                    OP,
                    "a fusion stage is merged, not scored",
                ));
            }
        })
    }

    /// The distance of the vector `name` (`Dot` for a sparse one).
    fn distance(&self, name: &str) -> Distance {
        self.vectors
            .dense
            .get(name)
            .map_or(Distance::Dot, |p| p.distance)
    }

    fn prepare(&self, name: &str, vector: &Vector) -> Prepared {
        match vector {
            Vector::Dense(v) if self.distance(name) == Distance::Cosine => Prepared {
                vector: Vector::Dense(normalized(v.clone())),
                idf: HashMap::new(),
            },
            Vector::Sparse(q) if self.vectors.sparse.get(name).is_some_and(|p| p.idf) => Prepared {
                idf: self.idf(name, q),
                vector: vector.clone(),
            },
            other => Prepared {
                vector: other.clone(),
                idf: HashMap::new(),
            },
        }
    }
}

/// The score of a stored vector by a stage's scorer (`None` when it cannot be scored).
fn score_with(scorer: &Scorer, stored: &Vector) -> Option<f32> {
    match scorer {
        Scorer::Nearest(q, distance) => similarity(q, stored, |q, v| score(*distance, q, v)),
        Scorer::BestScore {
            positive,
            negative,
            distance,
        } => {
            let raw = |q: &Prepared| similarity(q, stored, |q, v| raw(*distance, q, v));
            let best = |examples: &[Prepared]| {
                examples
                    .iter()
                    .filter_map(raw)
                    .max_by(f32::total_cmp)
                    .unwrap_or(f32::NEG_INFINITY)
            };
            let (pos, neg) = (best(positive), best(negative));
            if pos == f32::NEG_INFINITY && neg == f32::NEG_INFINITY {
                return None;
            }
            Some(if pos > neg {
                scaled_fast_sigmoid(pos)
            } else {
                -scaled_fast_sigmoid(neg)
            })
        }
    }
}

/// The similarity of a prepared query to a stored vector of the same kind: `dense` for
/// dense vectors, the (IDF-weighted) dot product over shared indices for sparse ones
/// (`None` when they share none).
fn similarity(q: &Prepared, stored: &Vector, dense: impl Fn(&[f32], &[f32]) -> f32) -> Option<f32> {
    match (&q.vector, stored) {
        (Vector::Dense(q), Vector::Dense(v)) => Some(dense(q, v)),
        (Vector::Sparse(sq), Vector::Sparse(v)) => sq
            .overlaps(v)
            .then(|| sq.weighted_dot(v, |i| q.idf.get(&i).copied().unwrap_or(1.0))),
        _ => None,
    }
}

/// The engine's raw similarity, greater is better (the Euclidean one is the negated
/// squared distance, as Qdrant scores before taking the root).
fn raw(distance: Distance, query: &[f32], vector: &[f32]) -> f32 {
    let pairs = query.iter().zip(vector);
    match distance {
        Distance::Cosine | Distance::Dot => pairs.map(|(a, b)| a * b).sum(),
        Distance::Euclid => -pairs.map(|(a, b)| (a - b) * (a - b)).sum::<f32>(),
        Distance::Manhattan => -pairs.map(|(a, b)| (a - b).abs()).sum::<f32>(),
    }
}

/// Merges the ranked sources of a fusion stage, best first (ties by id).
fn fuse(sources: Vec<Vec<(PointId, f32)>>, fusion: Fusion) -> Vec<(PointId, f32)> {
    let mut total: HashMap<PointId, f32> = HashMap::new();
    for source in sources {
        let scores: Vec<f32> = match fusion {
            #[allow(clippy::cast_precision_loss)]
            Fusion::Rrf { k } => (0..source.len())
                .map(|pos| 1.0 / ((pos + 1) as f32 + k as f32 - 1.0))
                .collect(),
            Fusion::Dbsf => distribution_normalized(&source),
        };
        for ((id, _), s) in source.into_iter().zip(scores) {
            *total.entry(id).or_default() += s;
        }
    }
    let mut fused: Vec<(PointId, f32)> = total.into_iter().collect();
    fused.sort_by(|(id_a, a), (id_b, b)| b.total_cmp(a).then_with(|| id_a.cmp(id_b)));
    fused
}

/// Scores normalized to `[mean - 3σ, mean + 3σ]` (sample σ); one score is 0.5.
fn distribution_normalized(source: &[(PointId, f32)]) -> Vec<f32> {
    if source.len() < 2 {
        return vec![0.5; source.len()];
    }
    #[allow(clippy::cast_precision_loss)]
    let n = source.len() as f32;
    let mean = source.iter().map(|(_, s)| s).sum::<f32>() / n;
    let variance = source.iter().map(|(_, s)| (s - mean).powi(2)).sum::<f32>() / (n - 1.0);
    let (min, max) = (mean - 3.0 * variance.sqrt(), mean + 3.0 * variance.sqrt());
    source
        .iter()
        .map(|(_, s)| {
            if (max - min).abs() <= f32::EPSILON {
                0.5
            } else {
                (s - min) / (max - min)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(hits: &[(PointId, f32)]) -> Vec<u64> {
        hits.iter()
            .map(|(id, _)| match id {
                PointId::Num(n) => *n,
                PointId::Uuid(_) => panic!("numeric ids only"),
            })
            .collect()
    }

    #[test]
    fn rrf_sums_reciprocal_ranks_over_sources() {
        let a = vec![(PointId::Num(1), 0.9), (PointId::Num(2), 0.8)];
        let b = vec![(PointId::Num(2), 5.0), (PointId::Num(3), 4.0)];
        let fused = fuse(vec![a, b], Fusion::RRF);
        assert_eq!(ids(&fused), vec![2, 1, 3]);
        // 2: 1/3 + 1/2; 1: 1/2; 3: 1/3 (k = 2: 1 / (rank + 1)).
        assert!((fused[0].1 - (1.0 / 3.0 + 0.5)).abs() < 1e-6);
        assert!((fused[1].1 - 0.5).abs() < 1e-6);
    }

    #[test]
    fn dbsf_normalizes_each_source_before_summing() {
        let a = vec![(PointId::Num(1), 100.0), (PointId::Num(2), 0.0)];
        let b = vec![(PointId::Num(2), 0.2), (PointId::Num(3), 0.1)];
        let fused = fuse(vec![a, b], Fusion::Dbsf);
        // Each two-score source maps to mean ± 3σ, so raw magnitudes do not matter.
        assert_eq!(ids(&fused), vec![2, 1, 3]);
        assert_eq!(
            distribution_normalized(&[(PointId::Num(1), 3.0)]),
            vec![0.5]
        );
    }
}
