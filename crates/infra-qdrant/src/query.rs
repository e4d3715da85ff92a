//! The port's [`QueryRequest`] as Qdrant's `QueryPoints`: one-to-one, the server does the
//! rest (id lookup, average vectors, exclusion of referenced points, offset).

use infra_base::vector::{
    DEFAULT_RRF_K, Fusion, LookupLocation, Prefetch, Query, QueryParams, Recommend,
    RecommendStrategy, VectorInput,
};
use infra_base::{
    ErrorKind, GroupId, GroupsRequest, InfraError, InfraResult, PayloadSelector, QueryRequest,
    UNNAMED_VECTOR, VECTOR_BACKEND, Vector,
};
use qdrant_client::qdrant as pb;
use qdrant_client::qdrant::{vector_input, with_payload_selector};

use crate::convert;

const OP: &str = "query";

/// The `QueryPoints` message of a validated request on `collection`.
pub(crate) fn query_points(
    collection: &str,
    request: &QueryRequest,
) -> InfraResult<pb::QueryPoints> {
    Ok(pb::QueryPoints {
        collection_name: collection.to_owned(),
        prefetch: prefetches(&request.prefetch)?,
        query: Some(query(&request.query)),
        using: using(request.using.as_deref()),
        filter: convert::filter(&request.filter, OP)?,
        params: params(request.params),
        score_threshold: request.score_threshold,
        limit: Some(request.limit as u64),
        offset: Some(request.offset as u64).filter(|o| *o > 0),
        with_payload: Some(with_payload(&request.with_payload)),
        with_vectors: Some(convert::with_vectors(request.with_vector)),
        lookup_from: request.lookup_from.as_ref().map(lookup_location),
        ..pb::QueryPoints::default()
    })
}

/// The `QueryPointGroups` message of a validated grouped request on `collection`: the
/// query's own fields, with its limit as the number of groups.
pub(crate) fn query_point_groups(
    collection: &str,
    request: &GroupsRequest,
) -> InfraResult<pb::QueryPointGroups> {
    let query = query_points(collection, &request.query)?;
    Ok(pb::QueryPointGroups {
        collection_name: query.collection_name,
        prefetch: query.prefetch,
        query: query.query,
        using: query.using,
        filter: query.filter,
        params: query.params,
        score_threshold: query.score_threshold,
        with_payload: query.with_payload,
        with_vectors: query.with_vectors,
        limit: query.limit,
        // Validated: at most MAX_GROUP_SIZE.
        group_size: Some(request.group_size as u64),
        group_by: request.group_by.clone(),
        lookup_from: query.lookup_from,
        with_lookup: request.with_lookup.as_ref().map(|lookup| pb::WithLookup {
            collection: lookup.collection.clone(),
            with_payload: Some(with_payload(&lookup.with_payload)),
            with_vectors: Some(convert::with_vectors(lookup.with_vector)),
        }),
        ..pb::QueryPointGroups::default()
    })
}

/// The port's [`GroupId`] of a group Qdrant returned.
pub(crate) fn from_group_id(id: Option<pb::GroupId>) -> InfraResult<GroupId> {
    use pb::group_id::Kind;
    let malformed =
        |what: String| InfraError::new(ErrorKind::Internal, VECTOR_BACKEND, "query_groups", what);
    match id.and_then(|id| id.kind) {
        Some(Kind::StringValue(s)) => Ok(GroupId::Keyword(s)),
        Some(Kind::IntegerValue(i)) => Ok(GroupId::Integer(i)),
        Some(Kind::UnsignedValue(u)) => i64::try_from(u)
            .map(GroupId::Integer)
            .map_err(|_| malformed(format!("group id {u} is beyond the integers payloads hold"))),
        None => Err(malformed("a group without an id".to_owned())),
    }
}

fn prefetches(stages: &[Prefetch]) -> InfraResult<Vec<pb::PrefetchQuery>> {
    stages
        .iter()
        .map(|stage| {
            Ok(pb::PrefetchQuery {
                prefetch: prefetches(&stage.prefetch)?,
                query: Some(query(&stage.query)),
                using: using(stage.using.as_deref()),
                filter: convert::filter(&stage.filter, OP)?,
                params: params(stage.params),
                score_threshold: stage.score_threshold,
                limit: Some(stage.limit as u64),
                lookup_from: stage.lookup_from.as_ref().map(lookup_location),
            })
        })
        .collect()
}

/// Qdrant's `LookupLocation` of the port's (no shard key: not modelled).
fn lookup_location(location: &LookupLocation) -> pb::LookupLocation {
    pb::LookupLocation {
        collection_name: location.collection.clone(),
        vector_name: using(location.vector.as_deref()),
        shard_key_selector: None,
    }
}

/// `None` for the unnamed vector, as Qdrant expects.
fn using(name: Option<&str>) -> Option<String> {
    name.filter(|n| *n != UNNAMED_VECTOR).map(str::to_owned)
}

fn query(query: &Query) -> pb::Query {
    let variant = match query {
        Query::Nearest(input) => pb::query::Variant::Nearest(vector_input(input)),
        Query::Recommend(Recommend {
            positive,
            negative,
            strategy,
        }) => pb::query::Variant::Recommend(pb::RecommendInput {
            positive: positive.iter().map(vector_input).collect(),
            negative: negative.iter().map(vector_input).collect(),
            strategy: Some(match strategy {
                RecommendStrategy::AverageVector => pb::RecommendStrategy::AverageVector,
                RecommendStrategy::BestScore => pb::RecommendStrategy::BestScore,
            } as i32),
        }),
        // The plain enum where it says the same: servers before the `Rrf` message know it.
        Query::Fusion(Fusion::Rrf { k }) if *k == DEFAULT_RRF_K => {
            pb::query::Variant::Fusion(pb::Fusion::Rrf as i32)
        }
        Query::Fusion(Fusion::Rrf { k }) => pb::query::Variant::Rrf(pb::Rrf {
            k: Some(*k),
            weights: Vec::new(),
        }),
        Query::Fusion(Fusion::Dbsf) => pb::query::Variant::Fusion(pb::Fusion::Dbsf as i32),
    };
    pb::Query {
        variant: Some(variant),
    }
}

fn vector_input(input: &VectorInput) -> pb::VectorInput {
    let variant = match input {
        VectorInput::Point(id) => vector_input::Variant::Id(convert::point_id(*id)),
        VectorInput::Vector(Vector::Dense(v)) => {
            vector_input::Variant::Dense(pb::DenseVector { data: v.clone() })
        }
        VectorInput::Vector(Vector::Sparse(v)) => vector_input::Variant::Sparse(pb::SparseVector {
            values: v.values.clone(),
            indices: v.indices.clone(),
        }),
    };
    pb::VectorInput {
        variant: Some(variant),
    }
}

fn params(params: QueryParams) -> Option<pb::SearchParams> {
    (params != QueryParams::default()).then(|| pb::SearchParams {
        hnsw_ef: params.hnsw_ef.map(u64::from),
        exact: params.exact.then_some(true),
        ..pb::SearchParams::default()
    })
}

fn with_payload(selector: &PayloadSelector) -> pb::WithPayloadSelector {
    let options = match selector {
        PayloadSelector::None => with_payload_selector::SelectorOptions::Enable(false),
        PayloadSelector::All => with_payload_selector::SelectorOptions::Enable(true),
        PayloadSelector::Include(fields) => {
            with_payload_selector::SelectorOptions::Include(pb::PayloadIncludeSelector {
                fields: fields.clone(),
            })
        }
        PayloadSelector::Exclude(fields) => {
            with_payload_selector::SelectorOptions::Exclude(pb::PayloadExcludeSelector {
                fields: fields.clone(),
            })
        }
    };
    pb::WithPayloadSelector {
        selector_options: Some(options),
    }
}
