//! Port types to Qdrant's gRPC messages and back.
//!
//! The port's filter maps one-to-one onto Qdrant's: `must` / `should` / `must_not` /
//! `min_should` of field conditions (match value / any / except / text, range, datetime
//! range, geo radius and bounding box, values count), `is_empty`, `is_null`, `has_id`,
//! `nested` and nested `Filter` groups. Datetime bounds travel as protobuf timestamps
//! (microsecond precision, as Qdrant keeps them).

use std::collections::HashMap;

use infra_base::vector::{AliasChange, OrderBy, OrderDirection, StartFrom, WriteOrdering};
use infra_base::{
    AnyValues, CollectionSpec, Condition, Distance, ErrorKind, FacetHit, FacetValue, Filter,
    GeoPoint, HnswParams, InfraError, InfraResult, MatchValue, Payload, PointId, PointSelector,
    Quantization, Range, Record, ScoredPoint, SearchQuery, SparseParams, SparseVector,
    UNNAMED_VECTOR, VECTOR_BACKEND, Vector, VectorParams, VectorSchema, Vectors,
};
use qdrant_client::qdrant as pb;
use qdrant_client::qdrant::{
    condition::ConditionOneOf, r#match::MatchValue as PbMatchValue, point_id::PointIdOptions,
    vector_output, vectors_config, vectors_output, with_payload_selector, with_vectors_selector,
};

/// The port's ordering of the configured one (the two crates do not depend on each other).
pub(crate) fn configured_ordering(ordering: infra_config::WriteOrdering) -> WriteOrdering {
    match ordering {
        infra_config::WriteOrdering::Weak => WriteOrdering::Weak,
        infra_config::WriteOrdering::Medium => WriteOrdering::Medium,
        infra_config::WriteOrdering::Strong => WriteOrdering::Strong,
    }
}

pub(crate) fn write_ordering(ordering: WriteOrdering) -> pb::WriteOrdering {
    let r#type = match ordering {
        WriteOrdering::Weak => pb::WriteOrderingType::Weak,
        WriteOrdering::Medium => pb::WriteOrderingType::Medium,
        WriteOrdering::Strong => pb::WriteOrderingType::Strong,
    };
    pb::WriteOrdering {
        r#type: r#type.into(),
    }
}

pub(crate) fn read_consistency(consistency: infra_config::ReadConsistency) -> pb::ReadConsistency {
    use infra_config::ReadConsistency as Read;
    use pb::read_consistency::Value;
    let value = match consistency {
        Read::All => Value::Type(pb::ReadConsistencyType::All.into()),
        Read::Majority => Value::Type(pb::ReadConsistencyType::Majority.into()),
        Read::Quorum => Value::Type(pb::ReadConsistencyType::Quorum.into()),
        Read::Replicas(n) => Value::Factor(u64::from(n.get())),
    };
    pb::ReadConsistency { value: Some(value) }
}

pub(crate) fn point_id(id: PointId) -> pb::PointId {
    let options = match id {
        PointId::Num(n) => PointIdOptions::Num(n),
        PointId::Uuid(u) => PointIdOptions::Uuid(u.to_string()),
    };
    pb::PointId {
        point_id_options: Some(options),
    }
}

/// The port's record of a point the server returned, with its vectors if they were asked
/// for.
pub(crate) fn from_retrieved_point(
    point: pb::RetrievedPoint,
    with_vector: bool,
    operation: &'static str,
) -> InfraResult<Record> {
    Ok(Record {
        id: from_point_id(point.id, operation)?,
        payload: from_payload(point.payload),
        vectors: if with_vector {
            from_vectors(point.vectors)
        } else {
            None
        },
    })
}

/// The port's scored point of a server's, with the payload and vectors the request asked
/// for.
pub(crate) fn from_scored_point(
    hit: pb::ScoredPoint,
    with_payload: bool,
    with_vector: bool,
    operation: &'static str,
) -> InfraResult<ScoredPoint> {
    Ok(ScoredPoint {
        id: from_point_id(hit.id, operation)?,
        score: hit.score,
        payload: with_payload.then(|| from_payload(hit.payload)),
        vectors: if with_vector {
            from_vectors(hit.vectors)
        } else {
            None
        },
    })
}

/// The port's facet hit of a server's hit.
pub(crate) fn from_facet_hit(hit: pb::FacetHit, operation: &'static str) -> InfraResult<FacetHit> {
    use pb::facet_value::Variant;
    let value = match hit.value.and_then(|v| v.variant) {
        Some(Variant::StringValue(s)) => FacetValue::Keyword(s),
        Some(Variant::IntegerValue(n)) => FacetValue::Integer(n),
        Some(Variant::BoolValue(b)) => FacetValue::Bool(b),
        None => {
            return Err(unexpected(
                operation,
                "the server returned a facet hit without a value",
            ));
        }
    };
    Ok(FacetHit {
        value,
        count: hit.count,
    })
}

pub(crate) fn from_point_id(
    id: Option<pb::PointId>,
    operation: &'static str,
) -> InfraResult<PointId> {
    match id.and_then(|id| id.point_id_options) {
        Some(PointIdOptions::Num(n)) => Ok(PointId::Num(n)),
        Some(PointIdOptions::Uuid(text)) => uuid::Uuid::parse_str(&text)
            .map(PointId::Uuid)
            .map_err(|_| {
                unexpected(
                    operation,
                    "the server returned a point id that is not a UUID",
                )
            }),
        None => Err(unexpected(
            operation,
            "the server returned a point without an id",
        )),
    }
}

pub(crate) fn payload(payload: Payload) -> HashMap<String, pb::Value> {
    payload
        .into_iter()
        .map(|(key, value)| (key, pb::Value::from(value)))
        .collect()
}

pub(crate) fn from_payload(payload: HashMap<String, pb::Value>) -> Payload {
    payload
        .into_iter()
        .map(|(key, value)| (key, value.into_json()))
        .collect()
}

/// A dense vector in the form qdrant-client 1.20 itself sends.
/// A point's vectors: the unnamed dense vector alone travels as a single vector, as
/// before named vectors existed; anything else as named vectors (the unnamed one named
/// `""`, as Qdrant names it).
pub(crate) fn vectors(vectors: Vectors) -> pb::Vectors {
    if vectors.len() == 1
        && let Some(Vector::Dense(_)) = vectors.get(UNNAMED_VECTOR)
        && let Some(dense) = vectors.clone().into_unnamed_dense()
    {
        return pb::Vectors::from(dense);
    }
    pb::Vectors::from(pb::NamedVectors {
        vectors: vectors
            .into_iter()
            .map(|(name, vector)| (name, vector_message(vector)))
            .collect(),
    })
}

fn vector_message(vector: Vector) -> pb::Vector {
    match vector {
        Vector::Dense(v) => pb::Vector::new_dense(v),
        Vector::Sparse(v) => pb::Vector::new_sparse(v.indices, v.values),
    }
}

/// A nearest-neighbour query on the vector `query` names (dense or sparse).
pub(crate) fn nearest(query: &SearchQuery) -> pb::Query {
    let variant = match &query.vector {
        Vector::Dense(v) => pb::vector_input::Variant::Dense(pb::DenseVector { data: v.clone() }),
        Vector::Sparse(v) => pb::vector_input::Variant::Sparse(pb::SparseVector {
            values: v.values.clone(),
            indices: v.indices.clone(),
        }),
    };
    pb::Query {
        variant: Some(pb::query::Variant::Nearest(pb::VectorInput {
            variant: Some(variant),
        })),
    }
}

/// The vector `using` names, for Qdrant (`None` for the unnamed one).
pub(crate) fn using(query: &SearchQuery) -> Option<String> {
    Some(query.vector_name().to_owned()).filter(|name| name != UNNAMED_VECTOR)
}

/// The vectors of a returned point, if the server sent them (sparse ones sorted by
/// index; multi-vectors, which the port does not model, left out).
pub(crate) fn from_vectors(vectors: Option<pb::VectorsOutput>) -> Option<Vectors> {
    let port = |vector: pb::VectorOutput| match vector.into_vector() {
        vector_output::Vector::Dense(dense) => Some(Vector::Dense(dense.data)),
        vector_output::Vector::Sparse(sparse) => Some(Vector::Sparse(
            SparseVector::new(sparse.indices, sparse.values).sorted(),
        )),
        vector_output::Vector::MultiDense(_) => None,
    };
    Some(match vectors?.vectors_options? {
        vectors_output::VectorsOptions::Vector(vector) => port(vector)
            .map(|v| Vectors::new().with(UNNAMED_VECTOR, v))
            .unwrap_or_default(),
        vectors_output::VectorsOptions::Vectors(named) => named
            .vectors
            .into_iter()
            .filter_map(|(name, vector)| Some((name, port(vector)?)))
            .collect(),
    })
}

/// Each entry of `update_vectors` as Qdrant's.
pub(crate) fn point_vectors(points: &[infra_base::PointVectors]) -> Vec<pb::PointVectors> {
    points
        .iter()
        .map(|p| pb::PointVectors {
            id: Some(point_id(p.id)),
            vectors: Some(vectors(p.vectors.clone())),
        })
        .collect()
}

fn hnsw(params: &HnswParams) -> pb::HnswConfigDiff {
    pb::HnswConfigDiff {
        m: params.m,
        ef_construct: params.ef_construct,
        ..pb::HnswConfigDiff::default()
    }
}

// `always_ram`, `on_disk` and `on_disk_payload` are what Qdrant 1.18 reads; the `memory`
// fields that deprecate them are newer, and an older server would ignore them.
#[allow(deprecated)]
fn quantization(quantization: Quantization) -> pb::QuantizationConfig {
    use pb::quantization_config::Quantization as Pq;
    let quantization = match quantization {
        Quantization::ScalarInt8 { always_ram } => Pq::Scalar(pb::ScalarQuantization {
            r#type: pb::QuantizationType::Int8.into(),
            always_ram,
            ..pb::ScalarQuantization::default()
        }),
        Quantization::Binary { always_ram } => Pq::Binary(pb::BinaryQuantization {
            always_ram,
            ..pb::BinaryQuantization::default()
        }),
    };
    pb::QuantizationConfig {
        quantization: Some(quantization),
    }
}

// `always_ram`, `on_disk` and `on_disk_payload` are what Qdrant 1.18 reads; the `memory`
// fields that deprecate them are newer, and an older server would ignore them.
#[allow(deprecated)]
fn vector_params(params: &VectorParams) -> pb::VectorParams {
    pb::VectorParams {
        size: params.dimension as u64,
        distance: distance(params.distance).into(),
        hnsw_config: params.hnsw.as_ref().map(hnsw),
        quantization_config: params.quantization.map(quantization),
        on_disk: params.on_disk,
        ..pb::VectorParams::default()
    }
}

/// The `CreateCollection` message of a validated spec: its vectors (the unnamed one as
/// `Params`, named ones as `ParamsMap`), sparse vectors, tuning and sharding.
// `always_ram`, `on_disk` and `on_disk_payload` are what Qdrant 1.18 reads; the `memory`
// fields that deprecate them are newer, and an older server would ignore them.
#[allow(deprecated)]
pub(crate) fn create_collection(spec: &CollectionSpec) -> pb::CreateCollection {
    let dense = &spec.vectors.dense;
    let config = match spec.vectors.unnamed() {
        Some(unnamed) => Some(vectors_config::Config::Params(vector_params(unnamed))),
        None if dense.is_empty() => None,
        None => Some(vectors_config::Config::ParamsMap(pb::VectorParamsMap {
            map: dense
                .iter()
                .map(|(name, params)| (name.clone(), vector_params(params)))
                .collect(),
        })),
    };
    let sparse = &spec.vectors.sparse;
    pb::CreateCollection {
        collection_name: spec.name.clone(),
        vectors_config: config.map(|config| pb::VectorsConfig {
            config: Some(config),
        }),
        sparse_vectors_config: (!sparse.is_empty()).then(|| pb::SparseVectorConfig {
            map: sparse
                .iter()
                .map(|(name, params)| {
                    let params = pb::SparseVectorParams {
                        index: params.on_disk.map(|on_disk| pb::SparseIndexConfig {
                            on_disk: Some(on_disk),
                            ..pb::SparseIndexConfig::default()
                        }),
                        modifier: params.idf.then(|| pb::Modifier::Idf.into()),
                    };
                    (name.clone(), params)
                })
                .collect(),
        }),
        hnsw_config: spec.hnsw.as_ref().map(hnsw),
        quantization_config: spec.quantization.map(quantization),
        on_disk_payload: spec.on_disk_payload,
        shard_number: spec.shard_number,
        replication_factor: spec.replication_factor,
        write_consistency_factor: spec.write_consistency_factor,
        ..pb::CreateCollection::default()
    }
}

pub(crate) fn distance(distance: Distance) -> pb::Distance {
    match distance {
        Distance::Cosine => pb::Distance::Cosine,
        Distance::Dot => pb::Distance::Dot,
        Distance::Euclid => pb::Distance::Euclid,
        Distance::Manhattan => pb::Distance::Manhattan,
    }
}

pub(crate) fn from_distance(value: i32) -> Option<Distance> {
    match pb::Distance::try_from(value).ok()? {
        pb::Distance::Cosine => Some(Distance::Cosine),
        pb::Distance::Dot => Some(Distance::Dot),
        pb::Distance::Euclid => Some(Distance::Euclid),
        pb::Distance::Manhattan => Some(Distance::Manhattan),
        pb::Distance::UnknownDistance => None,
    }
}

/// The vectors (dense with dimension and distance, sparse with modifier) and the point
/// count of a collection the server described.
pub(crate) fn from_collection_info(
    info: Option<pb::CollectionInfo>,
    operation: &'static str,
) -> InfraResult<(VectorSchema, u64)> {
    let info =
        info.ok_or_else(|| unexpected(operation, "the server returned no collection info"))?;
    let params = info.config.and_then(|c| c.params);
    let port = |params: &pb::VectorParams| -> InfraResult<VectorParams> {
        let dimension = usize::try_from(params.size)
            .map_err(|_| unexpected(operation, "a vector's dimension is out of range"))?;
        let distance = from_distance(params.distance).ok_or_else(|| {
            unexpected(
                operation,
                "the collection uses a distance this adapter does not know",
            )
        })?;
        Ok(VectorParams::dense(dimension, distance))
    };
    let mut schema = VectorSchema::default();
    match params
        .as_ref()
        .and_then(|p| p.vectors_config.as_ref())
        .and_then(|v| v.config.as_ref())
    {
        Some(vectors_config::Config::Params(params)) => {
            schema
                .dense
                .insert(UNNAMED_VECTOR.to_owned(), port(params)?);
        }
        Some(vectors_config::Config::ParamsMap(map)) => {
            for (name, params) in &map.map {
                schema.dense.insert(name.clone(), port(params)?);
            }
        }
        None => {}
    }
    if let Some(sparse) = params
        .as_ref()
        .and_then(|p| p.sparse_vectors_config.as_ref())
    {
        for (name, params) in &sparse.map {
            let idf = params.modifier == Some(pb::Modifier::Idf.into());
            let port = SparseParams::default();
            schema
                .sparse
                .insert(name.clone(), if idf { port.idf() } else { port });
        }
    }
    Ok((schema, info.points_count.unwrap_or(0)))
}

pub(crate) fn with_payload(enable: bool) -> pb::WithPayloadSelector {
    pb::WithPayloadSelector {
        selector_options: Some(with_payload_selector::SelectorOptions::Enable(enable)),
    }
}

pub(crate) fn with_vectors(enable: bool) -> pb::WithVectorsSelector {
    pb::WithVectorsSelector {
        selector_options: Some(with_vectors_selector::SelectorOptions::Enable(enable)),
    }
}

/// The port filter as Qdrant's, or `None` for the empty filter (which matches everything),
/// after [`Filter::validate`] (so a bad filter never reaches the server).
pub(crate) fn filter(filter: &Filter, operation: &'static str) -> InfraResult<Option<pb::Filter>> {
    filter.validate(operation)?;
    if filter.is_empty() {
        return Ok(None);
    }
    Ok(Some(tree(filter)))
}

/// One level of a validated filter (groups recurse at most `MAX_FILTER_DEPTH` deep).
fn tree(filter: &Filter) -> pb::Filter {
    let conditions = |list: &[Condition]| list.iter().map(condition).collect();
    pb::Filter {
        must: conditions(&filter.must),
        should: conditions(&filter.should),
        must_not: conditions(&filter.must_not),
        min_should: filter.min_should.as_ref().map(|m| pb::MinShould {
            conditions: conditions(&m.conditions),
            min_count: m.min_count as u64,
        }),
    }
}

/// The port selector as Qdrant's: an id list, or a filter (the empty filter is sent as an
/// empty `Filter`, which selects every point, as the port documents).
pub(crate) fn points_selector(
    selector: &PointSelector,
    operation: &'static str,
) -> InfraResult<pb::PointsSelector> {
    use pb::points_selector::PointsSelectorOneOf;
    let one_of = match selector {
        PointSelector::Ids(ids) => PointsSelectorOneOf::Points(pb::PointsIdsList {
            ids: ids.iter().copied().map(point_id).collect(),
        }),
        PointSelector::Filter(f) => {
            PointsSelectorOneOf::Filter(filter(f, operation)?.unwrap_or_default())
        }
    };
    Ok(pb::PointsSelector {
        points_selector_one_of: Some(one_of),
    })
}

pub(crate) fn order_by(order_by: &OrderBy) -> pb::OrderBy {
    let direction = match order_by.direction {
        OrderDirection::Asc => pb::Direction::Asc,
        OrderDirection::Desc => pb::Direction::Desc,
    };
    pb::OrderBy {
        key: order_by.key.clone(),
        direction: Some(direction.into()),
        start_from: order_by.start_from.map(|start| pb::StartFrom {
            value: Some(match start {
                StartFrom::Integer(value) => pb::start_from::Value::Integer(value),
                StartFrom::Float(value) => pb::start_from::Value::Float(value),
            }),
        }),
    }
}

fn condition(condition: &Condition) -> pb::Condition {
    let field = |key: &str| pb::FieldCondition {
        key: key.to_owned(),
        ..pb::FieldCondition::default()
    };
    let matching = |key: &str, value: PbMatchValue| pb::FieldCondition {
        r#match: Some(pb::Match {
            match_value: Some(value),
        }),
        ..field(key)
    };
    let one_of = match condition {
        Condition::Match { key, value } => ConditionOneOf::Field(matching(
            key,
            match value {
                MatchValue::Keyword(s) => PbMatchValue::Keyword(s.clone()),
                MatchValue::Integer(i) => PbMatchValue::Integer(*i),
                MatchValue::Bool(b) => PbMatchValue::Boolean(*b),
            },
        )),
        Condition::Range { key, range } => ConditionOneOf::Field(pb::FieldCondition {
            range: Some(self::range(*range)),
            ..field(key)
        }),
        Condition::MatchAny { key, any } => {
            ConditionOneOf::Field(matching(key, list_match(any, false)))
        }
        Condition::MatchExcept { key, except } => {
            ConditionOneOf::Field(matching(key, list_match(except, true)))
        }
        Condition::Text { key, text } => {
            ConditionOneOf::Field(matching(key, PbMatchValue::Text(text.clone())))
        }
        Condition::DatetimeRange { key, range } => {
            // Validated by `filter`: every bound parses.
            let micros = range.micros().unwrap_or_default();
            ConditionOneOf::Field(pb::FieldCondition {
                datetime_range: Some(pb::DatetimeRange {
                    lt: micros.lt.map(timestamp),
                    gt: micros.gt.map(timestamp),
                    gte: micros.gte.map(timestamp),
                    lte: micros.lte.map(timestamp),
                }),
                ..field(key)
            })
        }
        Condition::GeoRadius {
            key,
            center,
            radius,
        } => ConditionOneOf::Field(pb::FieldCondition {
            geo_radius: Some(pb::GeoRadius {
                center: Some(geo_point(*center)),
                radius: *radius,
            }),
            ..field(key)
        }),
        Condition::GeoBoundingBox {
            key,
            top_left,
            bottom_right,
        } => ConditionOneOf::Field(pb::FieldCondition {
            geo_bounding_box: Some(pb::GeoBoundingBox {
                top_left: Some(geo_point(*top_left)),
                bottom_right: Some(geo_point(*bottom_right)),
            }),
            ..field(key)
        }),
        Condition::ValuesCount { key, count } => ConditionOneOf::Field(pb::FieldCondition {
            values_count: Some(pb::ValuesCount {
                lt: count.lt,
                gt: count.gt,
                gte: count.gte,
                lte: count.lte,
            }),
            ..field(key)
        }),
        Condition::IsEmpty { key } => {
            ConditionOneOf::IsEmpty(pb::IsEmptyCondition { key: key.clone() })
        }
        Condition::IsNull { key } => {
            ConditionOneOf::IsNull(pb::IsNullCondition { key: key.clone() })
        }
        Condition::HasId { ids } => ConditionOneOf::HasId(pb::HasIdCondition {
            has_id: ids.iter().copied().map(point_id).collect(),
        }),
        Condition::Nested { key, filter } => ConditionOneOf::Nested(pb::NestedCondition {
            key: key.clone(),
            filter: Some(tree(filter)),
        }),
        Condition::Filter(filter) => ConditionOneOf::Filter(tree(filter)),
    };
    pb::Condition {
        condition_one_of: Some(one_of),
    }
}

/// Qdrant's `any` (or `except`) match of a list of keywords or integers.
fn list_match(values: &AnyValues, except: bool) -> PbMatchValue {
    match (values, except) {
        (AnyValues::Keywords(v), false) => {
            PbMatchValue::Keywords(pb::RepeatedStrings { strings: v.clone() })
        }
        (AnyValues::Keywords(v), true) => {
            PbMatchValue::ExceptKeywords(pb::RepeatedStrings { strings: v.clone() })
        }
        (AnyValues::Integers(v), false) => PbMatchValue::Integers(pb::RepeatedIntegers {
            integers: v.clone(),
        }),
        (AnyValues::Integers(v), true) => PbMatchValue::ExceptIntegers(pb::RepeatedIntegers {
            integers: v.clone(),
        }),
    }
}

fn geo_point(point: GeoPoint) -> pb::GeoPoint {
    pb::GeoPoint {
        lon: point.lon,
        lat: point.lat,
    }
}

/// Microseconds since the epoch as a protobuf timestamp (Qdrant keeps microseconds).
fn timestamp(micros: i64) -> pb::Timestamp {
    pb::Timestamp {
        seconds: micros.div_euclid(1_000_000),
        // Below 1e9 by construction.
        nanos: i32::try_from(micros.rem_euclid(1_000_000) * 1_000).unwrap_or(0),
    }
}

fn range(range: Range) -> pb::Range {
    pb::Range {
        lt: range.lt,
        gt: range.gt,
        gte: range.gte,
        lte: range.lte,
    }
}

fn unexpected(operation: &'static str, message: &str) -> InfraError {
    InfraError::new(ErrorKind::Internal, VECTOR_BACKEND, operation, message)
}

/// One alias change as a gRPC alias operation.
pub(crate) fn alias_operation(change: &AliasChange) -> pb::AliasOperations {
    use pb::alias_operations::Action;
    let action = match change {
        AliasChange::Create { alias, collection } => Action::CreateAlias(pb::CreateAlias {
            collection_name: collection.clone(),
            alias_name: alias.clone(),
        }),
        AliasChange::Delete { alias } => Action::DeleteAlias(pb::DeleteAlias {
            alias_name: alias.clone(),
        }),
        AliasChange::Rename { from, to } => Action::RenameAlias(pb::RenameAlias {
            old_alias_name: from.clone(),
            new_alias_name: to.clone(),
        }),
    };
    pb::AliasOperations {
        action: Some(action),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn ids_round_trip() {
        for id in [
            PointId::Num(0),
            PointId::Num(u64::MAX),
            PointId::Uuid(uuid::Uuid::from_u128(42)),
        ] {
            assert_eq!(from_point_id(Some(point_id(id)), "get").unwrap(), id);
        }
        let bad = pb::PointId {
            point_id_options: Some(PointIdOptions::Uuid("nope".into())),
        };
        assert_eq!(
            from_point_id(Some(bad), "get").unwrap_err().kind(),
            ErrorKind::Internal
        );
        assert!(from_point_id(None, "get").is_err());
    }

    #[test]
    fn payloads_round_trip() {
        let json = json!({"s": "x", "i": -3, "f": 1.5, "b": true, "n": null,
                          "list": [1, "two", {"three": 3.25}], "nested": {"empty": {}}});
        let serde_json::Value::Object(map) = json else {
            unreachable!()
        };
        assert_eq!(from_payload(payload(map.clone())), map);
    }

    #[test]
    fn dense_vectors_round_trip() {
        let sent = vectors(Vectors::unnamed(vec![1.0, 2.0]));
        let Some(pb::vectors::VectorsOptions::Vector(vector)) = sent.vectors_options else {
            panic!("an unnamed vector")
        };
        let Some(pb::vector::Vector::Dense(dense)) = vector.vector else {
            panic!("a dense vector")
        };
        let output = pb::VectorsOutput {
            vectors_options: Some(pb::vectors_output::VectorsOptions::Vector(
                pb::VectorOutput {
                    vector: Some(vector_output::Vector::Dense(dense)),
                    ..pb::VectorOutput::default()
                },
            )),
        };
        assert_eq!(
            from_vectors(Some(output)),
            Some(Vectors::unnamed(vec![1.0, 2.0]))
        );
        assert_eq!(from_vectors(None), None);
    }

    #[test]
    fn distances_round_trip() {
        for d in [
            Distance::Cosine,
            Distance::Dot,
            Distance::Euclid,
            Distance::Manhattan,
        ] {
            assert_eq!(from_distance(distance(d).into()), Some(d));
        }
        assert_eq!(from_distance(0), None);
        assert_eq!(from_distance(99), None);
    }

    #[test]
    fn filters_map_one_to_one() {
        assert_eq!(filter(&Filter::default(), "count").unwrap(), None);
        let f = Filter::default()
            .must(Condition::keyword("color", "red"))
            .should(Condition::integer("size", 2))
            .must_not(Condition::boolean("archived", true))
            .must(Condition::range(
                "price",
                Range {
                    gte: Some(1.0),
                    lt: Some(9.5),
                    ..Range::default()
                },
            ));
        let pb = filter(&f, "count").unwrap().unwrap();
        assert_eq!(
            (pb.must.len(), pb.should.len(), pb.must_not.len()),
            (2, 1, 1)
        );
        let Some(ConditionOneOf::Field(field)) = &pb.must[1].condition_one_of else {
            panic!("a field condition")
        };
        assert_eq!(field.key, "price");
        assert_eq!(
            field.range,
            Some(pb::Range {
                gte: Some(1.0),
                lt: Some(9.5),
                gt: None,
                lte: None
            })
        );
        let Some(ConditionOneOf::Field(field)) = &pb.must_not[0].condition_one_of else {
            panic!("a field condition")
        };
        assert_eq!(
            field.r#match.as_ref().and_then(|m| m.match_value.clone()),
            Some(PbMatchValue::Boolean(true))
        );
    }

    #[test]
    fn groups_and_new_conditions_map_one_to_one() {
        use infra_base::{DatetimeRange, ValuesCount};
        let f = Filter::default()
            .must(Condition::group(
                Filter::default().should(Condition::is_empty("a")),
            ))
            .must(Condition::nested(
                "items",
                Filter::default().must(Condition::except_integers("n", [1, 2])),
            ))
            .must(Condition::datetime_range(
                "at",
                DatetimeRange {
                    gte: Some("1970-01-01T00:00:01.5Z".into()),
                    ..DatetimeRange::default()
                },
            ))
            .must(Condition::values_count(
                "tags",
                ValuesCount {
                    gt: Some(2),
                    ..ValuesCount::default()
                },
            ))
            .min_should([Condition::has_id([7u64]), Condition::is_null("b")], 1);
        let pb = filter(&f, "count").unwrap().unwrap();
        let Some(ConditionOneOf::Filter(group)) = &pb.must[0].condition_one_of else {
            panic!("a group")
        };
        assert!(matches!(
            &group.should[0].condition_one_of,
            Some(ConditionOneOf::IsEmpty(c)) if c.key == "a"
        ));
        let Some(ConditionOneOf::Nested(nested)) = &pb.must[1].condition_one_of else {
            panic!("a nested condition")
        };
        assert_eq!(nested.key, "items");
        let Some(ConditionOneOf::Field(except)) =
            &nested.filter.as_ref().unwrap().must[0].condition_one_of
        else {
            panic!("a field condition")
        };
        assert_eq!(
            except.r#match.as_ref().and_then(|m| m.match_value.clone()),
            Some(PbMatchValue::ExceptIntegers(pb::RepeatedIntegers {
                integers: vec![1, 2]
            }))
        );
        let Some(ConditionOneOf::Field(at)) = &pb.must[2].condition_one_of else {
            panic!("a field condition")
        };
        let gte = at.datetime_range.as_ref().and_then(|r| r.gte);
        assert_eq!(
            gte,
            Some(pb::Timestamp {
                seconds: 1,
                nanos: 500_000_000
            })
        );
        let Some(ConditionOneOf::Field(count)) = &pb.must[3].condition_one_of else {
            panic!("a field condition")
        };
        assert_eq!(count.values_count.map(|c| c.gt), Some(Some(2)));
        let min_should = pb.min_should.unwrap();
        assert_eq!(min_should.min_count, 1);
        assert!(matches!(
            &min_should.conditions[0].condition_one_of,
            Some(ConditionOneOf::HasId(ids)) if ids.has_id == vec![point_id(PointId::Num(7))]
        ));
    }

    #[test]
    fn bad_filters_never_reach_the_server() {
        let f = Filter::default().must(Condition::geo_radius(
            "place",
            infra_base::GeoPoint::new(0.0, 100.0),
            1.0,
        ));
        let err = filter(&f, "search").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        let selector = PointSelector::Filter(f);
        assert!(points_selector(&selector, "delete_points").is_err());
    }

    #[test]
    #[allow(deprecated)] // the fields Qdrant 1.18 reads
    fn created_collections_describe_back_to_their_declared_vectors() {
        let info = |create: pb::CreateCollection| pb::CollectionInfo {
            config: Some(pb::CollectionConfig {
                params: Some(pb::CollectionParams {
                    vectors_config: create.vectors_config,
                    sparse_vectors_config: create.sparse_vectors_config,
                    ..pb::CollectionParams::default()
                }),
                ..pb::CollectionConfig::default()
            }),
            points_count: Some(7),
            ..pb::CollectionInfo::default()
        };
        let simple = CollectionSpec::new("c", 12, Distance::Euclid);
        let create = create_collection(&simple);
        assert!(matches!(
            create.vectors_config.as_ref().and_then(|v| v.config.as_ref()),
            Some(vectors_config::Config::Params(p)) if p.size == 12
        ));
        assert_eq!(
            from_collection_info(Some(info(create)), "collection_info").unwrap(),
            (simple.vectors.reported(), 7)
        );
        let named = CollectionSpec::named("c")
            .with_vector(
                "image",
                VectorParams::dense(4, Distance::Cosine)
                    .with_hnsw(HnswParams::new(8, 64))
                    .with_quantization(Quantization::binary())
                    .on_disk(true),
            )
            .with_sparse("words", SparseParams::default().idf().on_disk(true))
            .with_quantization(Quantization::scalar_int8())
            .with_hnsw(HnswParams::new(32, 100))
            .on_disk_payload(true)
            .with_sharding(3, 2, 1);
        let create = create_collection(&named);
        let Some(vectors_config::Config::ParamsMap(map)) = create
            .vectors_config
            .as_ref()
            .and_then(|v| v.config.clone())
        else {
            panic!("named vectors travel as a map: {create:?}");
        };
        let image = &map.map["image"];
        assert_eq!((image.size, image.on_disk), (4, Some(true)));
        assert_eq!(image.hnsw_config.as_ref().and_then(|h| h.m), Some(8));
        assert!(matches!(
            image
                .quantization_config
                .as_ref()
                .and_then(|q| q.quantization),
            Some(pb::quantization_config::Quantization::Binary(_))
        ));
        assert!(matches!(
            create.quantization_config.as_ref().and_then(|q| q.quantization),
            Some(pb::quantization_config::Quantization::Scalar(s))
                if s.r#type == i32::from(pb::QuantizationType::Int8)
        ));
        assert_eq!(
            create.hnsw_config.as_ref().and_then(|h| h.ef_construct),
            Some(100)
        );
        assert_eq!(
            (
                create.on_disk_payload,
                create.shard_number,
                create.replication_factor,
                create.write_consistency_factor
            ),
            (Some(true), Some(3), Some(2), Some(1))
        );
        let words = &create.sparse_vectors_config.as_ref().unwrap().map["words"];
        assert_eq!(words.modifier, Some(pb::Modifier::Idf.into()));
        assert_eq!(words.index.as_ref().and_then(|i| i.on_disk), Some(true));
        assert_eq!(
            from_collection_info(Some(info(create)), "collection_info").unwrap(),
            (named.vectors.reported(), 7)
        );
        assert!(from_collection_info(None, "collection_info").is_err());
    }

    #[test]
    fn vectors_travel_single_when_only_unnamed_and_named_otherwise() {
        let single = vectors(Vectors::unnamed(vec![1.0, 2.0]));
        assert!(matches!(
            single.vectors_options,
            Some(pb::vectors::VectorsOptions::Vector(_))
        ));
        let mixed = Vectors::unnamed(vec![1.0])
            .with("words", SparseVector::new(vec![9, 1], vec![0.5, 2.0]));
        let Some(pb::vectors::VectorsOptions::Vectors(named)) = vectors(mixed).vectors_options
        else {
            panic!("a point with a sparse vector travels as named vectors");
        };
        assert_eq!(
            named
                .vectors
                .keys()
                .map(String::as_str)
                .collect::<std::collections::BTreeSet<_>>(),
            ["", "words"].into()
        );
        let output = pb::VectorsOutput {
            vectors_options: Some(vectors_output::VectorsOptions::Vectors(
                pb::NamedVectorsOutput {
                    vectors: [(
                        "words".to_owned(),
                        pb::VectorOutput {
                            vector: Some(vector_output::Vector::Sparse(pb::SparseVector {
                                values: vec![0.5, 2.0],
                                indices: vec![9, 1],
                            })),
                            ..pb::VectorOutput::default()
                        },
                    )]
                    .into(),
                },
            )),
        };
        assert_eq!(
            from_vectors(Some(output)),
            Some(Vectors::new().with("words", SparseVector::new(vec![1, 9], vec![2.0, 0.5])))
        );
    }
}
