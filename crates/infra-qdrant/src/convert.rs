//! Port types to Qdrant's gRPC messages and back.
//!
//! The port's filter maps one-to-one onto Qdrant's: `must` / `should` / `must_not` /
//! `min_should` of field conditions (match value / any / except / text, range, datetime
//! range, geo radius and bounding box, values count), `is_empty`, `is_null`, `has_id`,
//! `nested` and nested `Filter` groups. Datetime bounds travel as protobuf timestamps
//! (microsecond precision, as Qdrant keeps them).

use std::collections::HashMap;

use infra_base::vector::{AliasChange, OrderBy, OrderDirection, StartFrom};
use infra_base::{
    AnyValues, Condition, Distance, ErrorKind, Filter, GeoPoint, InfraError, InfraResult,
    MatchValue, Payload, PointId, PointSelector, Range, VECTOR_BACKEND,
};
use qdrant_client::qdrant as pb;
use qdrant_client::qdrant::{
    condition::ConditionOneOf, r#match::MatchValue as PbMatchValue, point_id::PointIdOptions,
    vector_output, vectors_config, with_payload_selector, with_vectors_selector,
};

pub(crate) fn point_id(id: PointId) -> pb::PointId {
    let options = match id {
        PointId::Num(n) => PointIdOptions::Num(n),
        PointId::Uuid(u) => PointIdOptions::Uuid(u.to_string()),
    };
    pb::PointId {
        point_id_options: Some(options),
    }
}

/// The port id of a point the server returned.
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
pub(crate) fn vectors(vector: Vec<f32>) -> pb::Vectors {
    pb::Vectors::from(vector)
}

/// A nearest-neighbour query on the unnamed dense vector.
pub(crate) fn nearest(vector: Vec<f32>) -> pb::Query {
    pb::Query {
        variant: Some(pb::query::Variant::Nearest(pb::VectorInput {
            variant: Some(pb::vector_input::Variant::Dense(pb::DenseVector {
                data: vector,
            })),
        })),
    }
}

/// The unnamed dense vector of a returned point, if the server sent one.
pub(crate) fn from_vectors(vectors: Option<pb::VectorsOutput>) -> Option<Vec<f32>> {
    match vectors?.get_vector()? {
        vector_output::Vector::Dense(dense) => Some(dense.data),
        _ => None,
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

pub(crate) fn vectors_config(dimension: usize, distance: Distance) -> pb::VectorsConfig {
    pb::VectorsConfig {
        config: Some(vectors_config::Config::Params(pb::VectorParams {
            size: dimension as u64,
            distance: self::distance(distance).into(),
            ..pb::VectorParams::default()
        })),
    }
}

/// Dimension and distance of a collection with one unnamed dense vector.
///
/// A collection with named vectors (created by someone else) has no single dimension: it is
/// a [`Conflict`](ErrorKind::Conflict), since this adapter cannot use it.
pub(crate) fn from_collection_info(
    name: &str,
    info: Option<pb::CollectionInfo>,
    operation: &'static str,
) -> InfraResult<(usize, Distance, u64)> {
    let info =
        info.ok_or_else(|| unexpected(operation, "the server returned no collection info"))?;
    let config = info
        .config
        .and_then(|c| c.params)
        .and_then(|p| p.vectors_config)
        .and_then(|v| v.config);
    match config {
        Some(vectors_config::Config::Params(params)) => {
            let dimension = usize::try_from(params.size)
                .map_err(|_| unexpected(operation, "the collection's dimension is out of range"))?;
            let distance = from_distance(params.distance).ok_or_else(|| {
                unexpected(
                    operation,
                    "the collection uses a distance this adapter does not know",
                )
            })?;
            Ok((dimension, distance, info.points_count.unwrap_or(0)))
        }
        Some(vectors_config::Config::ParamsMap(_)) => Err(InfraError::new(
            ErrorKind::Conflict,
            VECTOR_BACKEND,
            operation,
            format!("collection {name} uses named vectors, which this adapter does not support"),
        )),
        None => Err(unexpected(
            operation,
            "the server returned no vector parameters",
        )),
    }
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
        let sent = vectors(vec![1.0, 2.0]);
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
        assert_eq!(from_vectors(Some(output)), Some(vec![1.0, 2.0]));
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
    fn collection_info_needs_one_unnamed_vector() {
        let info = |config: Option<vectors_config::Config>| pb::CollectionInfo {
            config: Some(pb::CollectionConfig {
                params: Some(pb::CollectionParams {
                    vectors_config: Some(pb::VectorsConfig { config }),
                    ..pb::CollectionParams::default()
                }),
                ..pb::CollectionConfig::default()
            }),
            points_count: Some(7),
            ..pb::CollectionInfo::default()
        };
        let params = vectors_config(12, Distance::Euclid).config;
        assert_eq!(
            from_collection_info("c", Some(info(params)), "collection_info").unwrap(),
            (12, Distance::Euclid, 7)
        );
        let named = Some(vectors_config::Config::ParamsMap(
            pb::VectorParamsMap::default(),
        ));
        let err = from_collection_info("c", Some(info(named)), "collection_info").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Conflict);
        assert!(from_collection_info("c", None, "collection_info").is_err());
    }
}
