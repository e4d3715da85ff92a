//! Qdrant's gRPC messages to port types and back, on the server side, with Qdrant's status
//! codes and texts for the port's errors.

use std::collections::HashMap;

use infra_base::vector::{AliasChange, DatetimeMicros, MAX_FILTER_DEPTH};
use infra_base::{
    AnyValues, CollectionInfo, CollectionSpec, Condition, DatetimeRange, Distance, ErrorKind,
    Filter, GeoPoint, InfraError, MatchValue, MinShould, Payload, PointId, PointSelector, Range,
    ValuesCount,
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

/// The unnamed dense vector of a written point.
#[allow(deprecated)] // older clients send the vector in the deprecated `data` field
pub(super) fn dense(vectors: Option<pb::Vectors>) -> Result<Vec<f32>, Status> {
    match vectors.and_then(|v| v.vectors_options) {
        Some(pb::vectors::VectorsOptions::Vector(vector)) => match vector.vector {
            Some(pb::vector::Vector::Dense(dense)) => Ok(dense.data),
            None if vector.indices.is_none() && vector.vectors_count.is_none() => Ok(vector.data),
            _ => Err(unsupported("sparse, multi-dense or inference vectors")),
        },
        Some(pb::vectors::VectorsOptions::Vectors(_)) => Err(unsupported("named vectors")),
        None => Err(Status::invalid_argument(
            "Wrong input: a point needs a vector",
        )),
    }
}

pub(super) fn to_vectors(vector: Vec<f32>) -> pb::VectorsOutput {
    pb::VectorsOutput {
        vectors_options: Some(pb::vectors_output::VectorsOptions::Vector(
            pb::VectorOutput {
                vector: Some(pb::vector_output::Vector::Dense(pb::DenseVector {
                    data: vector,
                })),
                ..pb::VectorOutput::default()
            },
        )),
    }
}

/// The query vector of a `Query` request: only `nearest` with a dense vector.
pub(super) fn nearest(query: Option<pb::Query>) -> Result<Vec<f32>, Status> {
    let Some(pb::query::Variant::Nearest(input)) = query.and_then(|q| q.variant) else {
        return Err(unsupported("queries other than `nearest`"));
    };
    match input.variant {
        Some(pb::vector_input::Variant::Dense(dense)) => Ok(dense.data),
        _ => Err(unsupported("query vectors other than dense ones")),
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

pub(super) fn spec(request: &pb::CreateCollection) -> Result<CollectionSpec, Status> {
    let config = request
        .vectors_config
        .as_ref()
        .and_then(|c| c.config.as_ref());
    match config {
        Some(vectors_config::Config::Params(params)) => Ok(CollectionSpec::new(
            &request.collection_name,
            usize::try_from(params.size)
                .map_err(|_| Status::invalid_argument("Wrong input: vector size out of range"))?,
            distance(params.distance)?,
        )),
        Some(vectors_config::Config::ParamsMap(_)) => Err(unsupported("named vectors")),
        None => Err(unsupported("collections without a dense vector")),
    }
}

pub(super) fn info(info: &CollectionInfo) -> pb::CollectionInfo {
    pb::CollectionInfo {
        status: pb::CollectionStatus::Green.into(),
        config: Some(pb::CollectionConfig {
            params: Some(pb::CollectionParams {
                shard_number: 1,
                vectors_config: Some(pb::VectorsConfig {
                    config: Some(vectors_config::Config::Params(pb::VectorParams {
                        size: info.dimension as u64,
                        distance: to_distance(info.distance).into(),
                        ..pb::VectorParams::default()
                    })),
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
