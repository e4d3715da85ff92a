//! Qdrant's gRPC messages to port types and back, on the server side, with Qdrant's status
//! codes and texts for the port's errors.

use std::collections::HashMap;

use infra_base::vector::{AliasChange, DatetimeMicros, MAX_FILTER_DEPTH};
use infra_base::{
    AnyValues, CollectionInfo, CollectionSpec, Condition, DatetimeRange, Distance, ErrorKind,
    Filter, GeoPoint, HnswParams, InfraError, MatchValue, MinShould, Payload, PointId,
    PointSelector, Quantization, Range, SparseParams, SparseVector, UNNAMED_VECTOR, ValuesCount,
    Vector, VectorParams, Vectors,
};
use qdrant_client::qdrant as pb;
use qdrant_client::qdrant::{
    condition::ConditionOneOf, r#match::MatchValue as PbMatchValue, point_id::PointIdOptions,
    vectors_config, with_payload_selector, with_vectors_selector,
};
use tonic::Status;

/// What the test server does not implement, as `UNIMPLEMENTED`.
pub(super) fn unsupported(what: &str) -> Status {
    Status::unimplemented(format!("the Qdrant test server does not support {what}"))
}

/// A port error as the status a Qdrant server answers with.
pub(super) fn status(err: &InfraError, collection: &str) -> Status {
    match err.kind() {
        // A missing point (a payload update by ids) is not a missing collection.
        ErrorKind::NotFound if err.message().to_lowercase().starts_with("no point") => {
            Status::not_found(format!("Not found: {}", err.message()))
        }
        ErrorKind::NotFound => Status::not_found(format!(
            "Not found: Collection `{collection}` doesn't exist!"
        )),
        ErrorKind::InvalidInput => {
            Status::invalid_argument(format!("Wrong input: {}", err.message()))
        }
        ErrorKind::Conflict => Status::already_exists(format!(
            "Wrong input: Collection `{collection}` already exists!"
        )),
        ErrorKind::Timeout => Status::deadline_exceeded(format!("Timeout: {}", err.message())),
        // What the store behind the server cannot do (sharding on the embedded store).
        ErrorKind::Unsupported => Status::unimplemented(err.message().to_owned()),
        ErrorKind::Auth => Status::unauthenticated(err.message().to_owned()),
        ErrorKind::Unavailable
        | ErrorKind::PoolExhausted
        | ErrorKind::CircuitOpen
        | ErrorKind::NotConfigured => Status::unavailable(err.message().to_owned()),
        _ => Status::internal(format!("Service internal error: {}", err.message())),
    }
}

/// A gRPC alias operation as the port's change.
pub(super) fn alias_change(operation: pb::AliasOperations) -> Result<AliasChange, Status> {
    use pb::alias_operations::Action;
    match operation.action {
        Some(Action::CreateAlias(create)) => Ok(AliasChange::create(
            create.alias_name,
            create.collection_name,
        )),
        Some(Action::DeleteAlias(delete)) => Ok(AliasChange::delete(delete.alias_name)),
        Some(Action::RenameAlias(rename)) => Ok(AliasChange::rename(
            rename.old_alias_name,
            rename.new_alias_name,
        )),
        None => Err(Status::invalid_argument(
            "Wrong input: an alias operation without an action",
        )),
    }
}

pub(super) fn point_id(id: Option<pb::PointId>) -> Result<PointId, Status> {
    match id.and_then(|id| id.point_id_options) {
        Some(PointIdOptions::Num(n)) => Ok(PointId::Num(n)),
        Some(PointIdOptions::Uuid(text)) => uuid::Uuid::parse_str(&text)
            .map(PointId::Uuid)
            .map_err(|_| {
                Status::invalid_argument(format!("Wrong input: invalid point id {text:?}"))
            }),
        None => Err(Status::invalid_argument(
            "Wrong input: a point id is required",
        )),
    }
}

pub(super) fn to_point_id(id: PointId) -> pb::PointId {
    let options = match id {
        PointId::Num(n) => PointIdOptions::Num(n),
        PointId::Uuid(u) => PointIdOptions::Uuid(u.to_string()),
    };
    pb::PointId {
        point_id_options: Some(options),
    }
}

pub(super) fn payload(payload: HashMap<String, pb::Value>) -> Payload {
    payload
        .into_iter()
        .map(|(key, value)| (key, value.into_json()))
        .collect()
}

pub(super) fn to_payload(payload: Payload) -> HashMap<String, pb::Value> {
    payload
        .into_iter()
        .map(|(key, value)| (key, pb::Value::from(value)))
        .collect()
}

/// One written vector: dense or sparse (in the `vector` oneof, or in the deprecated
/// `data` and `indices` fields older clients send).
#[allow(deprecated)]
fn vector(vector: pb::Vector) -> Result<Vector, Status> {
    match vector.vector {
        Some(pb::vector::Vector::Dense(dense)) => Ok(Vector::Dense(dense.data)),
        Some(pb::vector::Vector::Sparse(sparse)) => Ok(Vector::Sparse(SparseVector::new(
            sparse.indices,
            sparse.values,
        ))),
        None if vector.vectors_count.is_none() => Ok(match vector.indices {
            Some(indices) => Vector::Sparse(SparseVector::new(indices.data, vector.data)),
            None => Vector::Dense(vector.data),
        }),
        _ => Err(unsupported("multi-dense or inference vectors")),
    }
}

/// The vectors of a written point: a single vector is the unnamed one, named vectors are
/// taken by name (`""` being the unnamed one, as in Qdrant).
pub(super) fn vectors(vectors: Option<pb::Vectors>) -> Result<Vectors, Status> {
    match vectors.and_then(|v| v.vectors_options) {
        Some(pb::vectors::VectorsOptions::Vector(single)) => match vector(single)? {
            Vector::Dense(dense) => Ok(Vectors::unnamed(dense)),
            Vector::Sparse(_) => Err(Status::invalid_argument(
                "Wrong input: a sparse vector must be named",
            )),
        },
        Some(pb::vectors::VectorsOptions::Vectors(named)) => named
            .vectors
            .into_iter()
            .map(|(name, v)| Ok((name, vector(v)?)))
            .collect(),
        None => Err(Status::invalid_argument(
            "Wrong input: a point needs a vector",
        )),
    }
}

/// The vectors of a point read back: the unnamed dense vector alone as a single vector,
/// anything else by name, as a Qdrant server answers.
pub(super) fn to_vectors(vectors: Vectors) -> pb::VectorsOutput {
    let output = |vector: Vector| pb::VectorOutput {
        vector: Some(match vector {
            Vector::Dense(data) => pb::vector_output::Vector::Dense(pb::DenseVector { data }),
            Vector::Sparse(v) => pb::vector_output::Vector::Sparse(pb::SparseVector {
                values: v.values,
                indices: v.indices,
            }),
        }),
        ..pb::VectorOutput::default()
    };
    let options = if vectors.len() == 1 && vectors.unnamed_dense().is_some() {
        let dense = vectors.into_unnamed_dense().unwrap_or_default();
        pb::vectors_output::VectorsOptions::Vector(output(Vector::Dense(dense)))
    } else {
        pb::vectors_output::VectorsOptions::Vectors(pb::NamedVectorsOutput {
            vectors: vectors
                .into_iter()
                .map(|(name, v)| (name, output(v)))
                .collect(),
        })
    };
    pb::VectorsOutput {
        vectors_options: Some(options),
    }
}

fn distance(value: i32) -> Result<Distance, Status> {
    match pb::Distance::try_from(value) {
        Ok(pb::Distance::Cosine) => Ok(Distance::Cosine),
        Ok(pb::Distance::Dot) => Ok(Distance::Dot),
        Ok(pb::Distance::Euclid) => Ok(Distance::Euclid),
        Ok(pb::Distance::Manhattan) => Ok(Distance::Manhattan),
        _ => Err(Status::invalid_argument("Wrong input: unknown distance")),
    }
}

fn to_distance(distance: Distance) -> pb::Distance {
    match distance {
        Distance::Cosine => pb::Distance::Cosine,
        Distance::Dot => pb::Distance::Dot,
        Distance::Euclid => pb::Distance::Euclid,
        Distance::Manhattan => pb::Distance::Manhattan,
    }
}

fn hnsw(diff: &pb::HnswConfigDiff) -> HnswParams {
    let mut params = HnswParams::default();
    params.m = diff.m;
    params.ef_construct = diff.ef_construct;
    params
}

#[allow(deprecated)] // `always_ram` is what the port sends (Qdrant 1.18's field)
fn quantization(config: &pb::QuantizationConfig) -> Result<Quantization, Status> {
    match &config.quantization {
        Some(pb::quantization_config::Quantization::Scalar(scalar))
            if scalar.r#type == i32::from(pb::QuantizationType::Int8) =>
        {
            Ok(Quantization::ScalarInt8 {
                always_ram: scalar.always_ram,
            })
        }
        Some(pb::quantization_config::Quantization::Binary(binary)) => Ok(Quantization::Binary {
            always_ram: binary.always_ram,
        }),
        _ => Err(unsupported("quantization other than scalar int8 or binary")),
    }
}

#[allow(deprecated)] // `on_disk` is what the port sends (Qdrant 1.18's field)
fn vector_params(params: &pb::VectorParams) -> Result<VectorParams, Status> {
    let dimension = usize::try_from(params.size)
        .map_err(|_| Status::invalid_argument("Wrong input: vector size out of range"))?;
    let mut port = VectorParams::dense(dimension, distance(params.distance)?);
    if let Some(diff) = &params.hnsw_config {
        port = port.with_hnsw(hnsw(diff));
    }
    if let Some(config) = &params.quantization_config {
        port = port.with_quantization(quantization(config)?);
    }
    if let Some(on_disk) = params.on_disk {
        port = port.on_disk(on_disk);
    }
    Ok(port)
}

/// The spec of a `CreateCollection` request: dense and sparse vectors, tuning, sharding.
#[allow(deprecated)] // `on_disk_payload` and the sparse `on_disk` are Qdrant 1.18's fields
pub(super) fn spec(request: &pb::CreateCollection) -> Result<CollectionSpec, Status> {
    let mut spec = CollectionSpec::named(&request.collection_name);
    match request
        .vectors_config
        .as_ref()
        .and_then(|c| c.config.as_ref())
    {
        Some(vectors_config::Config::Params(params)) => {
            spec = spec.with_vector(UNNAMED_VECTOR, vector_params(params)?);
        }
        Some(vectors_config::Config::ParamsMap(map)) => {
            for (name, params) in &map.map {
                spec = spec.with_vector(name.clone(), vector_params(params)?);
            }
        }
        None => {}
    }
    for (name, params) in request.sparse_vectors_config.iter().flat_map(|c| &c.map) {
        let mut sparse = SparseParams::default();
        if params.modifier == Some(pb::Modifier::Idf.into()) {
            sparse = sparse.idf();
        }
        if let Some(on_disk) = params.index.as_ref().and_then(|i| i.on_disk) {
            sparse = sparse.on_disk(on_disk);
        }
        spec = spec.with_sparse(name.clone(), sparse);
    }
    if let Some(diff) = &request.hnsw_config {
        spec = spec.with_hnsw(hnsw(diff));
    }
    if let Some(config) = &request.quantization_config {
        spec = spec.with_quantization(quantization(config)?);
    }
    spec.on_disk_payload = request.on_disk_payload;
    spec.shard_number = request.shard_number;
    spec.replication_factor = request.replication_factor;
    spec.write_consistency_factor = request.write_consistency_factor;
    Ok(spec)
}

/// A collection's description: its vectors as Qdrant describes them (the unnamed one as
/// `Params`, named ones as `ParamsMap`, sparse ones with their modifier).
pub(super) fn info(info: &CollectionInfo) -> pb::CollectionInfo {
    let params = |p: &VectorParams| pb::VectorParams {
        size: p.dimension as u64,
        distance: to_distance(p.distance).into(),
        ..pb::VectorParams::default()
    };
    let dense = &info.vectors.dense;
    let config = match info.vectors.unnamed() {
        Some(unnamed) => Some(vectors_config::Config::Params(params(unnamed))),
        None if dense.is_empty() => None,
        None => Some(vectors_config::Config::ParamsMap(pb::VectorParamsMap {
            map: dense.iter().map(|(n, p)| (n.clone(), params(p))).collect(),
        })),
    };
    let sparse = &info.vectors.sparse;
    pb::CollectionInfo {
        status: pb::CollectionStatus::Green.into(),
        config: Some(pb::CollectionConfig {
            params: Some(pb::CollectionParams {
                shard_number: 1,
                vectors_config: config.map(|config| pb::VectorsConfig {
                    config: Some(config),
                }),
                sparse_vectors_config: (!sparse.is_empty()).then(|| pb::SparseVectorConfig {
                    map: sparse
                        .iter()
                        .map(|(name, p)| {
                            let params = pb::SparseVectorParams {
                                index: None,
                                modifier: p.idf.then(|| pb::Modifier::Idf.into()),
                            };
                            (name.clone(), params)
                        })
                        .collect(),
                }),
                ..pb::CollectionParams::default()
            }),
            ..pb::CollectionConfig::default()
        }),
        points_count: Some(info.points_count),
        segments_count: 1,
        payload_schema: super::index::schema(&info.indexes),
        ..pb::CollectionInfo::default()
    }
}

/// Whether payloads are requested; only `true`/`false` selectors are supported.
pub(super) fn with_payload(
    selector: Option<pb::WithPayloadSelector>,
    default: bool,
) -> Result<bool, Status> {
    match selector.and_then(|s| s.selector_options) {
        None => Ok(default),
        Some(with_payload_selector::SelectorOptions::Enable(enable)) => Ok(enable),
        Some(_) => Err(unsupported("payload include/exclude selectors")),
    }
}

/// Whether vectors are requested; only `true`/`false` selectors are supported.
pub(super) fn with_vectors(selector: Option<pb::WithVectorsSelector>) -> Result<bool, Status> {
    match selector.and_then(|s| s.selector_options) {
        None => Ok(false),
        Some(with_vectors_selector::SelectorOptions::Enable(enable)) => Ok(enable),
        Some(_) => Err(unsupported("vector selectors")),
    }
}

/// Qdrant's filter as the port's: every condition the port models (see
/// `infra_base::Condition`); geo polygons, `has_vector`, slices and the match kinds the
/// port lacks (phrase, text_any, prefix, substring) are `UNIMPLEMENTED`.
pub(super) fn filter(filter: Option<pb::Filter>) -> Result<Filter, Status> {
    let Some(filter) = filter else {
        return Ok(Filter::default());
    };
    tree(filter, 1)
}

/// One level of a filter; deeper than the port's limit is refused before recursing.
fn tree(filter: pb::Filter, depth: usize) -> Result<Filter, Status> {
    if depth > MAX_FILTER_DEPTH {
        return Err(Status::invalid_argument(format!(
            "Wrong input: the filter nests deeper than {MAX_FILTER_DEPTH} levels"
        )));
    }
    let conditions = |list: Vec<pb::Condition>| -> Result<Vec<Condition>, Status> {
        list.into_iter().map(|c| condition(c, depth)).collect()
    };
    Ok(Filter {
        must: conditions(filter.must)?,
        should: conditions(filter.should)?,
        must_not: conditions(filter.must_not)?,
        min_should: filter
            .min_should
            .map(|m| -> Result<MinShould, Status> {
                Ok(MinShould {
                    conditions: conditions(m.conditions)?,
                    min_count: usize::try_from(m.min_count).unwrap_or(usize::MAX),
                })
            })
            .transpose()?,
    })
}

/// Qdrant's point selector as the port's: an id list or a filter (required, as in Qdrant).
pub(super) fn selector(selector: Option<pb::PointsSelector>) -> Result<PointSelector, Status> {
    use pb::points_selector::PointsSelectorOneOf;
    match selector.and_then(|s| s.points_selector_one_of) {
        Some(PointsSelectorOneOf::Points(list)) => list
            .ids
            .into_iter()
            .map(|id| point_id(Some(id)))
            .collect::<Result<Vec<_>, Status>>()
            .map(PointSelector::Ids),
        Some(PointsSelectorOneOf::Filter(f)) => filter(Some(f)).map(PointSelector::Filter),
        None => Err(Status::invalid_argument(
            "Wrong input: a points selector (ids or a filter) is required",
        )),
    }
}

fn condition(condition: pb::Condition, depth: usize) -> Result<Condition, Status> {
    match condition.condition_one_of {
        Some(ConditionOneOf::Field(field)) => field_condition(field),
        Some(ConditionOneOf::IsEmpty(c)) => Ok(Condition::IsEmpty { key: c.key }),
        Some(ConditionOneOf::IsNull(c)) => Ok(Condition::IsNull { key: c.key }),
        Some(ConditionOneOf::HasId(c)) => Ok(Condition::HasId {
            ids: c
                .has_id
                .into_iter()
                .map(|id| point_id(Some(id)))
                .collect::<Result<_, _>>()?,
        }),
        Some(ConditionOneOf::Nested(c)) => Ok(Condition::Nested {
            key: c.key,
            filter: tree(c.filter.unwrap_or_default(), depth + 1)?,
        }),
        Some(ConditionOneOf::Filter(f)) => Ok(Condition::Filter(tree(f, depth + 1)?)),
        Some(ConditionOneOf::HasVector(_)) => Err(unsupported("has_vector conditions")),
        Some(ConditionOneOf::Slice(_)) => Err(unsupported("slice conditions")),
        None => Err(Status::invalid_argument("Wrong input: an empty condition")),
    }
}

/// A field condition with exactly one check, as the port models them.
fn field_condition(field: pb::FieldCondition) -> Result<Condition, Status> {
    let pb::FieldCondition {
        key,
        r#match,
        range,
        geo_bounding_box,
        geo_radius,
        values_count,
        geo_polygon,
        datetime_range,
        is_empty,
        is_null,
    } = field;
    let checks = [
        r#match.is_some(),
        range.is_some(),
        geo_bounding_box.is_some(),
        geo_radius.is_some(),
        values_count.is_some(),
        geo_polygon.is_some(),
        datetime_range.is_some(),
        is_empty.is_some(),
        is_null.is_some(),
    ];
    if checks.iter().filter(|set| **set).count() != 1 {
        return Err(unsupported("field conditions without exactly one check"));
    }
    if let Some(m) = r#match {
        return match_condition(key, m.match_value);
    }
    if let Some(r) = range {
        return Ok(Condition::Range {
            key,
            range: Range {
                gt: r.gt,
                gte: r.gte,
                lt: r.lt,
                lte: r.lte,
            },
        });
    }
    if let Some(r) = datetime_range {
        let out_of_range =
            || Status::invalid_argument("Wrong input: a datetime bound outside years 0000-9999");
        // Microseconds, as Qdrant keeps them; a timestamp too far out is refused.
        let micros = |t: Option<pb::Timestamp>| -> Result<Option<i64>, Status> {
            t.map(|t| {
                t.seconds
                    .checked_mul(1_000_000)
                    .and_then(|us| us.checked_add(i64::from(t.nanos) / 1_000))
                    .ok_or_else(out_of_range)
            })
            .transpose()
        };
        let range = DatetimeRange::from_micros(DatetimeMicros {
            gt: micros(r.gt)?,
            gte: micros(r.gte)?,
            lt: micros(r.lt)?,
            lte: micros(r.lte)?,
        })
        .ok_or_else(out_of_range)?;
        return Ok(Condition::DatetimeRange { key, range });
    }
    if let Some(g) = geo_radius {
        return Ok(Condition::GeoRadius {
            key,
            center: geo_point(g.center)?,
            radius: g.radius,
        });
    }
    if let Some(g) = geo_bounding_box {
        return Ok(Condition::GeoBoundingBox {
            key,
            top_left: geo_point(g.top_left)?,
            bottom_right: geo_point(g.bottom_right)?,
        });
    }
    if let Some(c) = values_count {
        return Ok(Condition::ValuesCount {
            key,
            count: ValuesCount {
                gt: c.gt,
                gte: c.gte,
                lt: c.lt,
                lte: c.lte,
            },
        });
    }
    match (is_empty, is_null) {
        (Some(true), _) => Ok(Condition::IsEmpty { key }),
        (_, Some(true)) => Ok(Condition::IsNull { key }),
        _ => Err(unsupported(
            "geo polygons and is_empty / is_null set to false",
        )),
    }
}

fn match_condition(key: String, value: Option<PbMatchValue>) -> Result<Condition, Status> {
    let keywords = |r: pb::RepeatedStrings| AnyValues::Keywords(r.strings);
    let integers = |r: pb::RepeatedIntegers| AnyValues::Integers(r.integers);
    let value = match value {
        Some(PbMatchValue::Keyword(s)) => MatchValue::Keyword(s),
        Some(PbMatchValue::Integer(i)) => MatchValue::Integer(i),
        Some(PbMatchValue::Boolean(b)) => MatchValue::Bool(b),
        Some(PbMatchValue::Text(text)) => return Ok(Condition::Text { key, text }),
        Some(PbMatchValue::Keywords(r)) => {
            return Ok(Condition::MatchAny {
                key,
                any: keywords(r),
            });
        }
        Some(PbMatchValue::Integers(r)) => {
            return Ok(Condition::MatchAny {
                key,
                any: integers(r),
            });
        }
        Some(PbMatchValue::ExceptKeywords(r)) => {
            return Ok(Condition::MatchExcept {
                key,
                except: keywords(r),
            });
        }
        Some(PbMatchValue::ExceptIntegers(r)) => {
            return Ok(Condition::MatchExcept {
                key,
                except: integers(r),
            });
        }
        _ => {
            return Err(unsupported(
                "phrase, text_any, prefix and substring matches",
            ));
        }
    };
    Ok(Condition::Match { key, value })
}

fn geo_point(point: Option<pb::GeoPoint>) -> Result<GeoPoint, Status> {
    let point =
        point.ok_or_else(|| Status::invalid_argument("Wrong input: a geo point is required"))?;
    Ok(GeoPoint::new(point.lon, point.lat))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(key: &str, build: impl FnOnce(&mut pb::FieldCondition)) -> pb::Condition {
        let mut field = pb::FieldCondition {
            key: key.to_owned(),
            ..pb::FieldCondition::default()
        };
        build(&mut field);
        pb::Condition {
            condition_one_of: Some(ConditionOneOf::Field(field)),
        }
    }

    fn matching(key: &str, value: PbMatchValue) -> pb::Condition {
        field(key, |f| {
            f.r#match = Some(pb::Match {
                match_value: Some(value),
            });
        })
    }

    #[test]
    fn conditions_come_back_as_the_port_sent_them() {
        let sent = pb::Filter {
            must: vec![
                matching("title", PbMatchValue::Text("fox".into())),
                field("at", |f| {
                    f.datetime_range = Some(pb::DatetimeRange {
                        gte: Some(pb::Timestamp {
                            seconds: 1,
                            nanos: 500_000_000,
                        }),
                        ..pb::DatetimeRange::default()
                    });
                }),
            ],
            min_should: Some(pb::MinShould {
                conditions: vec![matching(
                    "n",
                    PbMatchValue::ExceptIntegers(pb::RepeatedIntegers { integers: vec![1] }),
                )],
                min_count: 1,
            }),
            ..pb::Filter::default()
        };
        let filter = filter(Some(sent)).unwrap();
        assert_eq!(filter.must[0], Condition::text("title", "fox"));
        assert_eq!(
            filter.must[1],
            Condition::datetime_range(
                "at",
                DatetimeRange {
                    gte: Some("1970-01-01T00:00:01.5Z".into()),
                    ..DatetimeRange::default()
                }
            )
        );
        let min_should = filter.min_should.unwrap();
        assert_eq!(min_should.min_count, 1);
        assert_eq!(
            min_should.conditions,
            vec![Condition::except_integers("n", [1])]
        );
    }

    #[test]
    fn what_the_port_cannot_say_is_refused() {
        let phrase = pb::Filter {
            must: vec![matching("t", PbMatchValue::Phrase("a b".into()))],
            ..pb::Filter::default()
        };
        assert_eq!(
            filter(Some(phrase)).unwrap_err().code(),
            tonic::Code::Unimplemented
        );
        let two_checks = pb::Filter {
            must: vec![field("n", |f| {
                f.range = Some(pb::Range::default());
                f.values_count = Some(pb::ValuesCount::default());
            })],
            ..pb::Filter::default()
        };
        assert_eq!(
            filter(Some(two_checks)).unwrap_err().code(),
            tonic::Code::Unimplemented
        );
        let far = pb::Filter {
            must: vec![field("at", |f| {
                f.datetime_range = Some(pb::DatetimeRange {
                    lt: Some(pb::Timestamp {
                        seconds: i64::MAX,
                        nanos: 0,
                    }),
                    ..pb::DatetimeRange::default()
                });
            })],
            ..pb::Filter::default()
        };
        assert_eq!(
            filter(Some(far)).unwrap_err().code(),
            tonic::Code::InvalidArgument
        );
        let mut deep = pb::Filter::default();
        for _ in 0..=MAX_FILTER_DEPTH {
            deep = pb::Filter {
                must: vec![pb::Condition {
                    condition_one_of: Some(ConditionOneOf::Filter(deep)),
                }],
                ..pb::Filter::default()
            };
        }
        let err = filter(Some(deep)).unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
        assert!(err.message().contains("deeper"), "{}", err.message());
    }
}
