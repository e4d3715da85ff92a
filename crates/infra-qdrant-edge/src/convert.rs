//! Conversions between the port's value types and qdrant-edge's.
//!
//! Everything here is pure: no I/O, no locks. Each function maps one concept one-to-one
//! (ids, payloads, distances, filters, vectors), so the adapter's semantics can be read
//! off this file.

use std::collections::HashMap;

use infra_base::{
    AnyValues, Condition, DatetimeRange, Distance, ErrorKind, Filter, GeoPoint, HnswParams,
    InfraError, InfraResult, MatchValue, Payload, PointId, Quantization, Range, SparseParams,
    SparseVector, VECTOR_BACKEND, Vector, VectorParams, VectorSchema, Vectors,
};
use qdrant_edge::external::ordered_float::OrderedFloat;
use qdrant_edge::{
    BinaryQuantizationConfig, DateTimeWrapper, EdgeConfig, FieldCondition, GeoBoundingBox,
    GeoRadius, HasIdCondition, HnswIndexConfig, IsEmptyCondition, IsNullCondition, JsonPath, Match,
    MatchExcept, MinShould, Modifier, QuantizationConfig, ScalarQuantizationConfig, ScalarType,
    VectorInternal, VectorPersisted, VectorStructInternal, VectorStructPersisted,
};

/// The port's id as qdrant-edge's id (the same two shapes: u64 or UUID).
pub(crate) fn point_id(id: PointId) -> qdrant_edge::PointId {
    match id {
        PointId::Num(n) => qdrant_edge::PointId::NumId(n),
        PointId::Uuid(u) => qdrant_edge::PointId::Uuid(u),
    }
}

/// qdrant-edge's id as the port's id.
pub(crate) fn port_id(id: qdrant_edge::PointId) -> PointId {
    match id {
        qdrant_edge::PointId::NumId(n) => PointId::Num(n),
        qdrant_edge::PointId::Uuid(u) => PointId::Uuid(u),
    }
}

/// The engine's distance for a port distance.
pub(crate) fn edge_distance(distance: Distance) -> qdrant_edge::Distance {
    match distance {
        Distance::Cosine => qdrant_edge::Distance::Cosine,
        Distance::Dot => qdrant_edge::Distance::Dot,
        Distance::Euclid => qdrant_edge::Distance::Euclid,
        Distance::Manhattan => qdrant_edge::Distance::Manhattan,
    }
}

/// The port's distance for an engine distance.
pub(crate) fn port_distance(distance: qdrant_edge::Distance) -> Distance {
    match distance {
        qdrant_edge::Distance::Cosine => Distance::Cosine,
        qdrant_edge::Distance::Dot => Distance::Dot,
        qdrant_edge::Distance::Euclid => Distance::Euclid,
        qdrant_edge::Distance::Manhattan => Distance::Manhattan,
    }
}

/// A payload as stored by the engine (the same JSON object).
pub(crate) fn edge_payload(payload: Payload) -> qdrant_edge::Payload {
    qdrant_edge::Payload(payload)
}

/// A payload read back from the engine; a point without one has an empty payload.
pub(crate) fn port_payload(payload: Option<qdrant_edge::Payload>) -> Payload {
    payload.map(|p| p.0).unwrap_or_default()
}

/// A point's vectors as the engine stores them: always by name (the unnamed vector is
/// named `""` in the engine too), sparse ones sorted by index.
pub(crate) fn edge_vectors(vectors: Vectors) -> VectorStructPersisted {
    VectorStructPersisted::Named(
        vectors
            .into_iter()
            .map(|(name, vector)| {
                let vector = match vector {
                    Vector::Dense(v) => VectorPersisted::Dense(v),
                    Vector::Sparse(v) => VectorPersisted::Sparse(edge_sparse(&v)),
                };
                (name, vector)
            })
            .collect::<HashMap<_, _>>(),
    )
}

/// A validated sparse vector as the engine's (sorted by index, as the engine keeps them).
pub(crate) fn edge_sparse(vector: &SparseVector) -> qdrant_edge::SparseVector {
    let sorted = vector.sorted();
    qdrant_edge::SparseVector {
        indices: sorted.indices,
        values: sorted.values,
    }
}

/// The vectors the engine returned, by name; `None` when it returned none.
pub(crate) fn port_vectors(vector: Option<VectorStructInternal>) -> Option<Vectors> {
    let named = match vector? {
        VectorStructInternal::Single(v) => return Some(Vectors::unnamed(v)),
        VectorStructInternal::Named(named) => named,
        VectorStructInternal::MultiDense(_) => return Some(Vectors::new()),
    };
    Some(
        named
            .into_iter()
            .filter_map(|(name, vector)| match vector {
                VectorInternal::Dense(v) => Some((name, Vector::Dense(v))),
                VectorInternal::Sparse(v) => Some((
                    name,
                    Vector::Sparse(SparseVector::new(v.indices, v.values).sorted()),
                )),
                VectorInternal::MultiDense(_) => None,
            })
            .collect(),
    )
}

/// The engine's HNSW configuration: `base` with what `params` sets.
pub(crate) fn edge_hnsw(base: HnswIndexConfig, params: Option<&HnswParams>) -> HnswIndexConfig {
    let Some(params) = params else {
        return base;
    };
    let size = |value: Option<u64>, default: usize| {
        value.map_or(default, |v| usize::try_from(v).unwrap_or(usize::MAX))
    };
    HnswIndexConfig {
        m: size(params.m, base.m),
        ef_construct: size(params.ef_construct, base.ef_construct),
        ..base
    }
}

/// The engine's quantization for the port's (Qdrant's default quantile, `int8`).
pub(crate) fn edge_quantization(quantization: Quantization) -> QuantizationConfig {
    match quantization {
        Quantization::ScalarInt8 { always_ram } => ScalarQuantizationConfig {
            r#type: ScalarType::Int8,
            quantile: None,
            always_ram,
        }
        .into(),
        Quantization::Binary { always_ram } => BinaryQuantizationConfig {
            always_ram,
            encoding: None,
            query_encoding: None,
        }
        .into(),
    }
}

/// The vectors of a shard's configuration, as `collection_info` reports them.
pub(crate) fn port_schema(config: &EdgeConfig) -> VectorSchema {
    VectorSchema {
        dense: config
            .vectors
            .iter()
            .map(|(name, v)| {
                (
                    name.clone(),
                    VectorParams::dense(v.size, port_distance(v.distance)),
                )
            })
            .collect(),
        sparse: config
            .sparse_vectors
            .iter()
            .map(|(name, v)| {
                let params = SparseParams::default();
                let idf = v.modifier == Some(Modifier::Idf);
                (name.clone(), if idf { params.idf() } else { params })
            })
            .collect(),
    }
}

/// Translates the port's filter one-to-one, after [`Filter::validate`]: `must`, `should`,
/// `must_not` and `min_should` lists of the engine's conditions, with payload paths
/// parsed by the engine's grammar (`a.b`, `items[].sku`). An empty filter is no filter.
/// The engine evaluates every condition the port models, so nothing is refused here but
/// what `validate` refuses and a path the engine cannot parse.
pub(crate) fn edge_filter(
    filter: &Filter,
    operation: &'static str,
) -> InfraResult<Option<qdrant_edge::Filter>> {
    filter.validate(operation)?;
    if filter.is_empty() {
        return Ok(None);
    }
    edge_tree(filter, operation).map(Some)
}

/// One level of a validated filter (groups recurse at most `MAX_FILTER_DEPTH` deep).
fn edge_tree(filter: &Filter, operation: &'static str) -> InfraResult<qdrant_edge::Filter> {
    let all = |conditions: &[Condition]| -> InfraResult<Vec<qdrant_edge::Condition>> {
        conditions
            .iter()
            .map(|c| edge_condition(c, operation))
            .collect()
    };
    let list = |conditions: &[Condition]| -> InfraResult<Option<Vec<qdrant_edge::Condition>>> {
        if conditions.is_empty() {
            return Ok(None);
        }
        all(conditions).map(Some)
    };
    Ok(qdrant_edge::Filter {
        should: list(&filter.should)?,
        min_should: filter
            .min_should
            .as_ref()
            .map(|m| -> InfraResult<MinShould> {
                Ok(MinShould {
                    conditions: all(&m.conditions)?,
                    min_count: m.min_count,
                })
            })
            .transpose()?,
        must: list(&filter.must)?,
        must_not: list(&filter.must_not)?,
    })
}

fn edge_condition(
    condition: &Condition,
    operation: &'static str,
) -> InfraResult<qdrant_edge::Condition> {
    let path = |key: &str| payload_path(key, operation);
    let field = match condition {
        Condition::Match { key, value } => {
            let value = match value {
                MatchValue::Keyword(s) => qdrant_edge::ValueVariants::String(s.clone()),
                MatchValue::Integer(i) => qdrant_edge::ValueVariants::Integer(*i),
                MatchValue::Bool(b) => qdrant_edge::ValueVariants::Bool(*b),
            };
            FieldCondition::new_match(path(key)?, Match::new_value(value))
        }
        Condition::Range { key, range } => {
            FieldCondition::new_range(path(key)?, edge_range(*range))
        }
        Condition::MatchAny { key, any } => {
            let any = match any {
                AnyValues::Keywords(v) => Match::from(v.clone()),
                AnyValues::Integers(v) => Match::from(v.clone()),
            };
            FieldCondition::new_match(path(key)?, any)
        }
        Condition::MatchExcept { key, except } => {
            let except = match except {
                AnyValues::Keywords(v) => MatchExcept::from(v.clone()),
                AnyValues::Integers(v) => MatchExcept::from(v.clone()),
            };
            FieldCondition::new_match(path(key)?, Match::Except(except))
        }
        Condition::Text { key, text } => {
            FieldCondition::new_match(path(key)?, Match::new_text(text))
        }
        Condition::DatetimeRange { key, range } => FieldCondition::new_datetime_range(
            path(key)?,
            edge_datetime_range(key, range, operation)?,
        ),
        Condition::GeoRadius {
            key,
            center,
            radius,
        } => FieldCondition::new_geo_radius(
            path(key)?,
            GeoRadius {
                center: edge_point(*center),
                radius: OrderedFloat(f64::from(*radius)),
            },
        ),
        Condition::GeoBoundingBox {
            key,
            top_left,
            bottom_right,
        } => FieldCondition::new_geo_bounding_box(
            path(key)?,
            GeoBoundingBox {
                top_left: edge_point(*top_left),
                bottom_right: edge_point(*bottom_right),
            },
        ),
        Condition::ValuesCount { key, count } => {
            let bound = |b: Option<u64>| b.map(|n| usize::try_from(n).unwrap_or(usize::MAX));
            FieldCondition::new_values_count(
                path(key)?,
                qdrant_edge::ValuesCount {
                    lt: bound(count.lt),
                    gt: bound(count.gt),
                    gte: bound(count.gte),
                    lte: bound(count.lte),
                },
            )
        }
        Condition::IsEmpty { key } => {
            return Ok(qdrant_edge::Condition::IsEmpty(IsEmptyCondition::from(
                path(key)?,
            )));
        }
        Condition::IsNull { key } => {
            return Ok(qdrant_edge::Condition::IsNull(IsNullCondition::from(path(
                key,
            )?)));
        }
        Condition::HasId { ids } => {
            return Ok(qdrant_edge::Condition::HasId(
                ids.iter()
                    .copied()
                    .map(point_id)
                    .collect::<HasIdCondition>(),
            ));
        }
        Condition::Nested { key, filter } => {
            return Ok(qdrant_edge::Condition::new_nested(
                path(key)?,
                edge_tree(filter, operation)?,
            ));
        }
        Condition::Filter(filter) => {
            return Ok(qdrant_edge::Condition::Filter(edge_tree(
                filter, operation,
            )?));
        }
    };
    Ok(qdrant_edge::Condition::Field(field))
}

fn edge_point(point: GeoPoint) -> qdrant_edge::GeoPoint {
    qdrant_edge::GeoPoint::new_unchecked(point.lon, point.lat)
}

/// A validated datetime range in the engine's microseconds.
fn edge_datetime_range(
    key: &str,
    range: &DatetimeRange,
    operation: &'static str,
) -> InfraResult<qdrant_edge::Range<DateTimeWrapper>> {
    let out_of_range = || {
        InfraError::new(
            ErrorKind::InvalidInput,
            VECTOR_BACKEND,
            operation,
            format!("datetime_range on {key:?}: a bound is outside the engine's datetime range"),
        )
    };
    let micros = range.micros().ok_or_else(out_of_range)?;
    let bound = |b: Option<i64>| -> InfraResult<Option<DateTimeWrapper>> {
        b.map(|t| DateTimeWrapper::from_timestamp(t).ok_or_else(out_of_range))
            .transpose()
    };
    Ok(qdrant_edge::Range {
        lt: bound(micros.lt)?,
        gt: bound(micros.gt)?,
        gte: bound(micros.gte)?,
        lte: bound(micros.lte)?,
    })
}

fn edge_range(range: Range) -> qdrant_edge::Range<OrderedFloat<f64>> {
    let Range { gt, gte, lt, lte } = range;
    qdrant_edge::Range {
        lt: lt.map(OrderedFloat),
        gt: gt.map(OrderedFloat),
        gte: gte.map(OrderedFloat),
        lte: lte.map(OrderedFloat),
    }
}

/// Parses a payload path with Qdrant's grammar (`a.b`, `items[].sku`, `list[0]`).
pub(crate) fn payload_path(key: &str, operation: &'static str) -> InfraResult<JsonPath> {
    key.parse::<JsonPath>().map_err(|()| {
        InfraError::new(
            ErrorKind::InvalidInput,
            VECTOR_BACKEND,
            operation,
            format!(
                "invalid payload path {key:?}: expected keys separated by '.', with [] for arrays"
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn ids_round_trip() {
        for id in [
            PointId::Num(0),
            PointId::Num(u64::MAX),
            PointId::Uuid(Uuid::from_u128(42)),
        ] {
            assert_eq!(port_id(point_id(id)), id);
        }
    }

    #[test]
    fn distances_round_trip() {
        for d in [
            Distance::Cosine,
            Distance::Dot,
            Distance::Euclid,
            Distance::Manhattan,
        ] {
            assert_eq!(port_distance(edge_distance(d)), d);
        }
    }

    #[test]
    fn filters_map_one_to_one() {
        assert_eq!(edge_filter(&Filter::default(), "count").unwrap(), None);
        let filter = Filter::default()
            .must(Condition::keyword("a.b", "x"))
            .must_not(Condition::range(
                "items[].price",
                Range {
                    gte: Some(1.5),
                    ..Range::default()
                },
            ));
        let edge = edge_filter(&filter, "count").unwrap().unwrap();
        assert_eq!(edge.should, None);
        assert_eq!(edge.min_should, None);
        let must = edge.must.unwrap();
        assert_eq!(must.len(), 1);
        let qdrant_edge::Condition::Field(field) = &must[0] else {
            panic!("not a field condition: {must:?}");
        };
        assert_eq!(field.key.to_string(), "a.b");
        assert_eq!(
            field.r#match,
            Some(Match::new_value(qdrant_edge::ValueVariants::String(
                "x".into()
            )))
        );
        let must_not = edge.must_not.unwrap();
        let qdrant_edge::Condition::Field(field) = &must_not[0] else {
            panic!("not a field condition: {must_not:?}");
        };
        assert_eq!(field.key.to_string(), "items[].price");
        assert!(field.range.is_some());
    }

    #[test]
    fn groups_and_new_conditions_become_engine_conditions() {
        let filter = Filter::default()
            .must(Condition::group(
                Filter::default().should(Condition::is_null("a")),
            ))
            .must(Condition::nested(
                "items",
                Filter::default().must(Condition::any_keywords("sku", ["x"])),
            ))
            .must(Condition::datetime_range(
                "at",
                infra_base::DatetimeRange {
                    lt: Some("1970-01-01T00:00:01Z".into()),
                    ..infra_base::DatetimeRange::default()
                },
            ))
            .min_should([Condition::has_id([3u64]), Condition::is_empty("b")], 1);
        let edge = edge_filter(&filter, "count").unwrap().unwrap();
        let must = edge.must.unwrap();
        assert!(matches!(&must[0], qdrant_edge::Condition::Filter(f)
            if matches!(f.should.as_deref(), Some([qdrant_edge::Condition::IsNull(_)]))));
        let qdrant_edge::Condition::Nested(nested) = &must[1] else {
            panic!("not a nested condition: {must:?}");
        };
        assert_eq!(nested.array_key().to_string(), "items[]");
        let qdrant_edge::Condition::Field(at) = &must[2] else {
            panic!("not a field condition: {must:?}");
        };
        assert_eq!(
            at.range,
            Some(qdrant_edge::RangeInterface::DateTime(qdrant_edge::Range {
                lt: DateTimeWrapper::from_timestamp(1_000_000),
                gt: None,
                gte: None,
                lte: None,
            }))
        );
        let min_should = edge.min_should.unwrap();
        assert_eq!(min_should.min_count, 1);
        assert!(matches!(
            min_should.conditions[0],
            qdrant_edge::Condition::HasId(_)
        ));
    }

    #[test]
    fn invalid_filters_are_refused_before_the_engine() {
        let filter = Filter::default().must(Condition::nested(
            "items",
            Filter::default().must(Condition::has_id([1u64])),
        ));
        let err = edge_filter(&filter, "count").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.message().contains("has_id"), "{}", err.message());
    }

    #[test]
    fn bad_paths_are_invalid_input() {
        let filter = Filter::default().must(Condition::integer("a..b", 1));
        let err = edge_filter(&filter, "search").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.message().contains("a..b"), "{}", err.message());
    }
}
