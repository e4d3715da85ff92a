//! The universal query on the engine: the port's [`QueryRequest`] becomes the engine's
//! query tree, after what Qdrant does above its shards.
//!
//! A Qdrant server resolves point ids to vectors, averages recommendation examples and
//! excludes the referenced points at the collection level, before its shards run the tree;
//! the engine is one shard, so this module does those steps: ids are read from the
//! collection (`NotFound` when absent), an average-vector recommendation becomes a nearest
//! query, and a `must_not has_id` of the referenced points joins the request's filter
//! (which the engine propagates to every prefetch stage). The engine returns
//! `offset + limit` results; the offset is skipped here, and the root score threshold is
//! applied here with the port's inclusive comparison, as `search` does.

use infra_base::vector::{
    Fusion, Prefetch, Query, QueryParams, QueryRequest, Recommend, RecommendStrategy, VectorInput,
    average_vector, missing_example,
};
use infra_base::{Condition, ErrorKind, PayloadSelector, ScoredPoint, UNNAMED_VECTOR, Vector};
use ordered_float::OrderedFloat;
use qdrant_edge::{
    NamedQuery, PayloadSelectorExclude, PayloadSelectorInclude, QueryEnum, RecommendQuery,
    ScoringQuery, SearchParams, VectorInternal, WithPayloadInterface, WithVector,
};

use crate::collection::Collection;
use crate::convert::{edge_filter, edge_sparse, payload_path, port_id, port_payload, port_vectors};
use crate::error::{engine_error, error};

const OP: &str = "query";

impl Collection {
    /// Runs a validated request; `exact_allowed` and `exact_max_points` are the store's
    /// limits on exact search, as for `search`.
    pub(crate) fn query(
        &self,
        request: &QueryRequest,
        exact_allowed: bool,
        exact_max_points: u64,
    ) -> infra_base::InfraResult<Vec<ScoredPoint>> {
        if uses_exact(&request.params, &request.prefetch) {
            if !exact_allowed {
                return Err(error(
                    ErrorKind::InvalidInput,
                    OP,
                    "exact search is turned off (SOCIAL_QDRANT__EXACT_SEARCH=false): query \
                     without exact",
                ));
            }
            let points = self.count(&infra_base::Filter::default(), true)?;
            if points > exact_max_points {
                return Err(error(
                    ErrorKind::InvalidInput,
                    OP,
                    format!(
                        "exact search is refused on collection {} of {points} points: at most \
                         {exact_max_points} (SOCIAL_QDRANT__EXACT_SEARCH_MAX_POINTS); query \
                         without exact",
                        self.name
                    ),
                ));
            }
        }
        let excluded = request.referenced_ids();
        let mut filter = request.filter.clone();
        if !excluded.is_empty() {
            filter = filter.must_not(Condition::HasId { ids: excluded });
        }
        let engine_request = qdrant_edge::QueryRequest {
            prefetches: self.prefetches(&request.prefetch)?,
            query: Some(self.scoring(&request.query, request.vector_name())?),
            filter: edge_filter(&filter, OP)?,
            score_threshold: None,
            limit: request.limit,
            offset: request.offset,
            params: Some(params(request.params)),
            with_vector: WithVector::Bool(request.with_vector),
            with_payload: with_payload(&request.with_payload)?,
        };
        let distance = request.distance(&self.vectors);
        let passes = |score: f32| match (request.score_threshold, distance) {
            (None, _) => true,
            (Some(t), Some(distance)) if matches!(request.query, Query::Nearest(_)) => {
                distance.passes_threshold(score, t)
            }
            (Some(t), _) => score >= t,
        };
        let wants_payload = request.with_payload.wants_payload();
        self.with_shard(OP, |shard| {
            let hits = shard
                .query(engine_request)
                .map_err(|e| engine_error(OP, e))?;
            Ok(hits
                .into_iter()
                .skip(request.offset)
                .filter(|hit| passes(hit.score))
                .take(request.limit)
                .map(|hit| ScoredPoint {
                    id: port_id(hit.id),
                    score: hit.score,
                    payload: wants_payload.then(|| port_payload(hit.payload)),
                    vectors: if request.with_vector {
                        port_vectors(hit.vector)
                    } else {
                        None
                    },
                })
                .collect())
        })
    }

    fn prefetches(
        &self,
        stages: &[Prefetch],
    ) -> infra_base::InfraResult<Vec<qdrant_edge::Prefetch>> {
        stages
            .iter()
            .map(|stage| {
                Ok(qdrant_edge::Prefetch {
                    prefetches: self.prefetches(&stage.prefetch)?,
                    query: Some(self.scoring(&stage.query, stage.vector_name())?),
                    limit: stage.limit,
                    params: Some(params(stage.params)),
                    filter: edge_filter(&stage.filter, OP)?,
                    score_threshold: stage.score_threshold.map(OrderedFloat),
                })
            })
            .collect()
    }

    /// The engine's scoring of one stage on the vector `name`.
    fn scoring(&self, query: &Query, name: &str) -> infra_base::InfraResult<ScoringQuery> {
        let using = Some(name.to_owned()).filter(|n| n != UNNAMED_VECTOR);
        let nearest = |vector: &Vector| {
            ScoringQuery::Vector(QueryEnum::Nearest(NamedQuery {
                query: engine_vector(vector),
                using: using.clone(),
            }))
        };
        Ok(match query {
            Query::Nearest(input) => nearest(&self.resolve(name, input)?),
            Query::Recommend(Recommend {
                positive,
                negative,
                strategy,
            }) => {
                let positive = self.resolve_all(name, positive)?;
                let negative = self.resolve_all(name, negative)?;
                match strategy {
                    RecommendStrategy::AverageVector => {
                        let average = average_vector(&positive, &negative).ok_or_else(|| {
                            error(
                                ErrorKind::InvalidInput,
                                OP,
                                "recommendation examples must be vectors of one kind",
                            )
                        })?;
                        nearest(&average)
                    }
                    RecommendStrategy::BestScore => {
                        ScoringQuery::Vector(QueryEnum::RecommendBestScore(NamedQuery {
                            query: RecommendQuery::new(
                                positive.iter().map(engine_vector).collect(),
                                negative.iter().map(engine_vector).collect(),
                            ),
                            using,
                        }))
                    }
                }
            }
            Query::Fusion(Fusion::Rrf { k }) => ScoringQuery::Fusion(qdrant_edge::Fusion::Rrf {
                k: *k as usize,
                weights: None,
            }),
            Query::Fusion(Fusion::Dbsf) => ScoringQuery::Fusion(qdrant_edge::Fusion::Dbsf),
        })
    }

    fn resolve_all(
        &self,
        name: &str,
        inputs: &[VectorInput],
    ) -> infra_base::InfraResult<Vec<Vector>> {
        inputs
            .iter()
            .map(|input| self.resolve(name, input))
            .collect()
    }

    /// The vector of `input` for the vector `name`: inline, or read from the stored point.
    fn resolve(&self, name: &str, input: &VectorInput) -> infra_base::InfraResult<Vector> {
        let id = match input {
            VectorInput::Vector(vector) => return Ok(vector.clone()),
            VectorInput::Point(id) => *id,
        };
        let records = self.get(&[id], true).map_err(|e| e.with_operation(OP))?;
        records
            .into_iter()
            .next()
            .and_then(|r| r.vectors)
            .and_then(|v| v.get(name).cloned())
            .ok_or_else(|| missing_example(id, name))
    }
}

fn engine_vector(vector: &Vector) -> VectorInternal {
    match vector {
        Vector::Dense(v) => VectorInternal::Dense(v.clone()),
        Vector::Sparse(v) => VectorInternal::Sparse(edge_sparse(v)),
    }
}

fn params(params: QueryParams) -> SearchParams {
    SearchParams {
        hnsw_ef: params.hnsw_ef.map(|ef| ef as usize),
        exact: params.exact,
        ..SearchParams::default()
    }
}

fn uses_exact(params: &QueryParams, stages: &[Prefetch]) -> bool {
    params.exact || stages.iter().any(|s| uses_exact(&s.params, &s.prefetch))
}

fn with_payload(selector: &PayloadSelector) -> infra_base::InfraResult<WithPayloadInterface> {
    let paths = |keys: &[String]| -> infra_base::InfraResult<Vec<_>> {
        keys.iter().map(|k| payload_path(k, OP)).collect()
    };
    Ok(match selector {
        PayloadSelector::None => WithPayloadInterface::Bool(false),
        PayloadSelector::All => WithPayloadInterface::Bool(true),
        PayloadSelector::Include(keys) => WithPayloadInterface::Selector(
            qdrant_edge::PayloadSelector::Include(PayloadSelectorInclude::new(paths(keys)?)),
        ),
        PayloadSelector::Exclude(keys) => WithPayloadInterface::Selector(
            qdrant_edge::PayloadSelector::Exclude(PayloadSelectorExclude::new(paths(keys)?)),
        ),
    })
}
