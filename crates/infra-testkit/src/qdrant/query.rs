//! Qdrant's `QueryPoints` as the port's [`QueryRequest`], with Qdrant's defaults (limit
//! 10, no payload); what the port does not model is `UNIMPLEMENTED`.

use infra_base::vector::{
    Fusion, PayloadSelector, Prefetch, Query, QueryParams, Recommend, RecommendStrategy,
    VectorInput,
};
use infra_base::{
    GroupId, GroupsRequest, LookupLocation, QueryRequest, SparseVector, Vector, WithLookup,
};
use qdrant_client::qdrant as pb;
use qdrant_client::qdrant::{vector_input, with_payload_selector};
use tonic::Status;

use super::convert::{self, unsupported};

/// Qdrant's default `limit` of a query and of a prefetch stage.
const DEFAULT_LIMIT: u64 = 10;

/// The port request of a `QueryPoints` message.
pub(super) fn request(m: pb::QueryPoints) -> Result<QueryRequest, Status> {
    Ok(QueryRequest {
        prefetch: prefetches(m.prefetch)?,
        query: query(m.query)?,
        using: using(m.using),
        filter: convert::filter(m.filter)?,
        score_threshold: m.score_threshold,
        limit: size(m.limit.unwrap_or(DEFAULT_LIMIT)),
        offset: size(m.offset.unwrap_or(0)),
        params: params(m.params),
        with_payload: with_payload(m.with_payload),
        with_vector: convert::with_vectors(m.with_vectors)?,
        lookup_from: m.lookup_from.map(lookup_location).transpose()?,
    })
}

/// The port's [`LookupLocation`] of Qdrant's (shard keys are not modelled).
fn lookup_location(location: pb::LookupLocation) -> Result<LookupLocation, Status> {
    if location.shard_key_selector.is_some() {
        return Err(unsupported("a lookup_from shard_key_selector"));
    }
    Ok(LookupLocation {
        collection: location.collection_name,
        vector: using(location.vector_name),
    })
}

/// The port's [`WithLookup`] of Qdrant's, with Qdrant's defaults (the whole payload, no
/// vectors).
fn with_lookup(lookup: pb::WithLookup) -> Result<WithLookup, Status> {
    Ok(WithLookup {
        collection: lookup.collection,
        with_payload: match lookup.with_payload {
            None => PayloadSelector::All,
            selector => with_payload(selector),
        },
        with_vector: convert::with_vectors(lookup.with_vectors)?,
    })
}

/// A grouped query as the port's [`GroupsRequest`], with Qdrant's defaults (3 groups of
/// 10 points).
pub(super) fn groups_request(m: pb::QueryPointGroups) -> Result<GroupsRequest, Status> {
    let with_lookup = m.with_lookup.map(with_lookup).transpose()?;
    let query = request(pb::QueryPoints {
        collection_name: m.collection_name,
        prefetch: m.prefetch,
        query: m.query,
        using: m.using,
        filter: m.filter,
        params: m.params,
        score_threshold: m.score_threshold,
        limit: Some(m.limit.unwrap_or(3)),
        with_payload: m.with_payload,
        with_vectors: m.with_vectors,
        lookup_from: m.lookup_from,
        ..pb::QueryPoints::default()
    })?;
    Ok(GroupsRequest {
        query,
        group_by: m.group_by,
        group_size: size(m.group_size.unwrap_or(10)),
        with_lookup,
    })
}

/// A group's value as Qdrant's `GroupId`.
pub(super) fn group_id(id: GroupId) -> pb::GroupId {
    let kind = match id {
        GroupId::Keyword(s) => pb::group_id::Kind::StringValue(s),
        GroupId::Integer(i) => pb::group_id::Kind::IntegerValue(i),
    };
    pb::GroupId { kind: Some(kind) }
}

/// Out-of-range sizes become `usize::MAX`, which validation refuses as too large.
fn size(value: u64) -> usize {
    usize::try_from(value).unwrap_or(usize::MAX)
}

fn using(name: Option<String>) -> Option<String> {
    name.filter(|n| !n.is_empty())
}

fn prefetches(stages: Vec<pb::PrefetchQuery>) -> Result<Vec<Prefetch>, Status> {
    stages
        .into_iter()
        .map(|stage| {
            Ok(Prefetch {
                prefetch: prefetches(stage.prefetch)?,
                query: query(stage.query)?,
                using: using(stage.using),
                filter: convert::filter(stage.filter)?,
                score_threshold: stage.score_threshold,
                limit: size(stage.limit.unwrap_or(DEFAULT_LIMIT)),
                params: params(stage.params),
                lookup_from: stage.lookup_from.map(lookup_location).transpose()?,
            })
        })
        .collect()
}

fn query(query: Option<pb::Query>) -> Result<Query, Status> {
    let Some(variant) = query.and_then(|q| q.variant) else {
        return Err(unsupported("a query or prefetch without `query`"));
    };
    Ok(match variant {
        pb::query::Variant::Nearest(input) => Query::Nearest(vector_input(input)?),
        pb::query::Variant::Recommend(r) => Query::Recommend(Recommend {
            positive: r
                .positive
                .into_iter()
                .map(vector_input)
                .collect::<Result<_, _>>()?,
            negative: r
                .negative
                .into_iter()
                .map(vector_input)
                .collect::<Result<_, _>>()?,
            strategy: match r.strategy.map(pb::RecommendStrategy::try_from) {
                None | Some(Ok(pb::RecommendStrategy::AverageVector)) => {
                    RecommendStrategy::AverageVector
                }
                Some(Ok(pb::RecommendStrategy::BestScore)) => RecommendStrategy::BestScore,
                Some(_) => {
                    return Err(unsupported(
                        "recommend strategies other than average_vector and best_score",
                    ));
                }
            },
        }),
        pb::query::Variant::Fusion(fusion) => match pb::Fusion::try_from(fusion) {
            Ok(pb::Fusion::Rrf) => Query::Fusion(Fusion::RRF),
            Ok(pb::Fusion::Dbsf) => Query::Fusion(Fusion::Dbsf),
            Err(_) => return Err(Status::invalid_argument("Wrong input: unknown fusion")),
        },
        pb::query::Variant::Rrf(rrf) if rrf.weights.is_empty() => Query::Fusion(Fusion::Rrf {
            k: rrf.k.unwrap_or(infra_base::vector::DEFAULT_RRF_K),
        }),
        _ => {
            return Err(unsupported(
                "queries other than nearest, recommend and fusion",
            ));
        }
    })
}

fn vector_input(input: pb::VectorInput) -> Result<VectorInput, Status> {
    Ok(match input.variant {
        Some(vector_input::Variant::Id(id)) => VectorInput::Point(convert::point_id(Some(id))?),
        Some(vector_input::Variant::Dense(dense)) => VectorInput::Vector(Vector::Dense(dense.data)),
        Some(vector_input::Variant::Sparse(sparse)) => VectorInput::Vector(Vector::Sparse(
            SparseVector::new(sparse.indices, sparse.values),
        )),
        _ => {
            return Err(unsupported(
                "query vectors other than ids, dense or sparse ones",
            ));
        }
    })
}

fn params(params: Option<pb::SearchParams>) -> QueryParams {
    let params = params.unwrap_or_default();
    QueryParams {
        hnsw_ef: params
            .hnsw_ef
            .map(|ef| u32::try_from(ef).unwrap_or(u32::MAX)),
        exact: params.exact.unwrap_or(false),
    }
}

fn with_payload(selector: Option<pb::WithPayloadSelector>) -> PayloadSelector {
    match selector.and_then(|s| s.selector_options) {
        None | Some(with_payload_selector::SelectorOptions::Enable(false)) => PayloadSelector::None,
        Some(with_payload_selector::SelectorOptions::Enable(true)) => PayloadSelector::All,
        Some(with_payload_selector::SelectorOptions::Include(include)) => {
            PayloadSelector::Include(include.fields)
        }
        Some(with_payload_selector::SelectorOptions::Exclude(exclude)) => {
            PayloadSelector::Exclude(exclude.fields)
        }
    }
}
