//! Conversions between the port's value types and qdrant-edge's.
//!
//! Everything here is pure: no I/O, no locks. Each function maps one concept one-to-one
//! (ids, payloads, distances, filters, vectors), so the adapter's semantics can be read
//! off this file.

use infra_base::{
    Condition, Distance, ErrorKind, Filter, InfraError, InfraResult, MatchValue, Payload, PointId,
    Range, VECTOR_BACKEND,
};
use qdrant_edge::external::ordered_float::OrderedFloat;
use qdrant_edge::{
    DEFAULT_VECTOR_NAME, FieldCondition, JsonPath, Match, VectorInternal, VectorStructInternal,
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

/// The dense vector of the single unnamed vector a collection holds, if the engine
/// returned it.
pub(crate) fn dense_vector(vector: Option<VectorStructInternal>) -> Option<Vec<f32>> {
    match vector? {
        VectorStructInternal::Single(v) => Some(v),
        VectorStructInternal::Named(mut named) => match named.remove(DEFAULT_VECTOR_NAME)? {
            VectorInternal::Dense(v) => Some(v),
            VectorInternal::Sparse(_) | VectorInternal::MultiDense(_) => None,
        },
        VectorStructInternal::MultiDense(_) => None,
    }
}

/// Translates the port's filter one-to-one: `must`, `should` and `must_not` lists of
/// field conditions, each a keyword/integer/bool `match` or a float `range`, with the
/// payload path passed through (`a.b`, `items[].sku`). An empty filter is no filter.
pub(crate) fn edge_filter(
    filter: &Filter,
    operation: &'static str,
) -> InfraResult<Option<qdrant_edge::Filter>> {
    if filter.is_empty() {
        return Ok(None);
    }
    let list = |conditions: &[Condition]| -> InfraResult<Option<Vec<qdrant_edge::Condition>>> {
        if conditions.is_empty() {
            return Ok(None);
        }
        conditions
            .iter()
            .map(|c| edge_condition(c, operation))
            .collect::<InfraResult<Vec<_>>>()
            .map(Some)
    };
    Ok(Some(qdrant_edge::Filter {
        should: list(&filter.should)?,
        min_should: None,
        must: list(&filter.must)?,
        must_not: list(&filter.must_not)?,
    }))
}

fn edge_condition(
    condition: &Condition,
    operation: &'static str,
) -> InfraResult<qdrant_edge::Condition> {
    let field = match condition {
        Condition::Match { key, value } => {
            let value = match value {
                MatchValue::Keyword(s) => qdrant_edge::ValueVariants::String(s.clone()),
                MatchValue::Integer(i) => qdrant_edge::ValueVariants::Integer(*i),
                MatchValue::Bool(b) => qdrant_edge::ValueVariants::Bool(*b),
            };
            FieldCondition::new_match(payload_path(key, operation)?, Match::new_value(value))
        }
        Condition::Range { key, range } => {
            FieldCondition::new_range(payload_path(key, operation)?, edge_range(*range))
        }
    };
    Ok(qdrant_edge::Condition::Field(field))
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
    fn bad_paths_are_invalid_input() {
        let filter = Filter::default().must(Condition::integer("a..b", 1));
        let err = edge_filter(&filter, "search").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.message().contains("a..b"), "{}", err.message());
    }
}
