//! The payload filter: a typed tree that maps onto Qdrant's filter one-to-one.
//!
//! A [`Filter`] holds `must` conditions (all hold), `should` conditions (at least one holds,
//! when there are any), `min_should` (at least `min_count` of its conditions hold) and
//! `must_not` conditions (none holds). A [`Condition`] is a field condition (match, range,
//! geo, values count, emptiness), an id set, a nested-object condition or a whole
//! [`Filter`] as a group, exactly the conditions of Qdrant's
//! [filtering](https://qdrant.tech/documentation/concepts/filtering/).
//!
//! Keys are dotted paths into the payload (`"address.city"`). A field condition on a path
//! that holds an array holds when it holds for any element. Write a path through an array
//! of objects with Qdrant's explicit `[]` form (`"items[].sku"`), which is what a Qdrant
//! server understands; the in-process evaluator ([`Filter::matches`]) also accepts
//! `"items.sku"`.
//!
//! Every adapter calls [`Filter::validate`] first, so a filter too deep or too large, a
//! bad datetime or an impossible coordinate is the same
//! [`InvalidInput`](crate::ErrorKind::InvalidInput) everywhere.

pub(crate) mod datetime;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::types::invalid;
use super::{Payload, PointId};
use crate::error::InfraResult;

/// How deep groups may nest: the top filter is level 1, each [`Condition::Filter`] or
/// [`Condition::Nested`] adds one. Deeper filters are refused as `InvalidInput`, so a
/// client cannot make the service recurse without limit.
pub const MAX_FILTER_DEPTH: usize = 16;

/// How many conditions a filter may hold in all, at every depth.
pub const MAX_FILTER_CONDITIONS: usize = 1_024;

/// How many values the `any`, `except` and `has_id` lists of a filter may hold in all.
pub const MAX_FILTER_VALUES: usize = 10_000;

/// Mean Earth radius in metres, the one Qdrant's haversine distance uses.
const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// A boolean combination of payload conditions. The default (empty) filter matches all.
///
/// ```
/// use infra_base::{Condition, Filter, Range};
///
/// let filter = Filter::default()
///     .must(Condition::keyword("color", "red"))
///     .must(Condition::range("price", Range { lt: Some(100.0), ..Range::default() }))
///     .must_not(Condition::boolean("archived", true))
///     .must(Condition::group(
///         Filter::default()
///             .should(Condition::is_empty("discontinued"))
///             .should(Condition::any_keywords("region", ["eu", "uk"])),
///     ));
/// assert!(!filter.is_empty());
/// assert!(filter.validate("search").is_ok());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Filter {
    /// Every condition must hold.
    pub must: Vec<Condition>,
    /// At least one condition must hold (ignored when empty).
    pub should: Vec<Condition>,
    /// No condition may hold.
    pub must_not: Vec<Condition>,
    /// At least `min_count` of these conditions must hold (Qdrant's `min_should`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_should: Option<MinShould>,
}

/// Qdrant's `min_should`: at least `min_count` of `conditions` hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MinShould {
    /// The candidates.
    pub conditions: Vec<Condition>,
    /// How many of them must hold (0 always holds; more than there are never does).
    pub min_count: usize,
}

impl Filter {
    /// Adds a condition that must hold.
    #[must_use]
    pub fn must(mut self, condition: Condition) -> Self {
        self.must.push(condition);
        self
    }

    /// Adds a condition of which at least one must hold.
    #[must_use]
    pub fn should(mut self, condition: Condition) -> Self {
        self.should.push(condition);
        self
    }

    /// Adds a condition that must not hold.
    #[must_use]
    pub fn must_not(mut self, condition: Condition) -> Self {
        self.must_not.push(condition);
        self
    }

    /// Requires at least `min_count` of `conditions` to hold (replaces an earlier one).
    #[must_use]
    pub fn min_should(
        mut self,
        conditions: impl IntoIterator<Item = Condition>,
        min_count: usize,
    ) -> Self {
        self.min_should = Some(MinShould {
            conditions: conditions.into_iter().collect(),
            min_count,
        });
        self
    }

    /// Whether the filter has no condition (and so matches every point).
    pub fn is_empty(&self) -> bool {
        self.must.is_empty()
            && self.should.is_empty()
            && self.must_not.is_empty()
            && self.min_should.is_none()
    }

    /// Checks the filter as `operation` would: at most [`MAX_FILTER_DEPTH`] levels,
    /// [`MAX_FILTER_CONDITIONS`] conditions and [`MAX_FILTER_VALUES`] listed values;
    /// non-empty keys; RFC 3339 datetime bounds; latitudes in -90..=90, longitudes in
    /// -180..=180 and a finite, non-negative radius; no `has_id` inside a nested-object
    /// filter (Qdrant cannot evaluate it there). Every error is
    /// [`InvalidInput`](crate::ErrorKind::InvalidInput) naming the field.
    pub fn validate(&self, operation: &'static str) -> InfraResult<()> {
        let mut budget = Budget {
            operation,
            conditions: 0,
            values: 0,
        };
        budget.filter(self, 1, false)
    }

    /// Evaluates the filter on a point with Qdrant's semantics (see [`Condition::matches`]):
    /// the reference for in-process implementations and for tests.
    pub fn matches(&self, id: PointId, payload: &Payload) -> bool {
        let holds = |c: &Condition| c.matches(id, payload);
        (self.should.is_empty() || self.should.iter().any(holds))
            && self.min_should.as_ref().is_none_or(|m| {
                m.conditions
                    .iter()
                    .filter(|c| holds(c))
                    .take(m.min_count)
                    .count()
                    == m.min_count
            })
            && self.must.iter().all(holds)
            && !self.must_not.iter().any(holds)
    }

    fn conditions(&self) -> impl Iterator<Item = &Condition> {
        self.must
            .iter()
            .chain(&self.should)
            .chain(&self.must_not)
            .chain(self.min_should.iter().flat_map(|m| &m.conditions))
    }
}

/// One condition of a [`Filter`]; each variant is one of Qdrant's conditions.
///
/// In JSON a condition is an object with one key, the variant's name in snake case:
/// `{"match": {"key": "color", "value": "red"}}`, `{"is_empty": {"key": "tags"}}`,
/// `{"filter": {"should": [...]}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Condition {
    /// The field equals a value (keyword, integer or bool).
    Match {
        /// Dotted payload path.
        key: String,
        /// The value to equal.
        value: MatchValue,
    },
    /// The field is a number within the range.
    Range {
        /// Dotted payload path.
        key: String,
        /// The bounds.
        range: Range,
    },
    /// The field equals one of the values (Qdrant's `match: {any: [...]}`).
    MatchAny {
        /// Dotted payload path.
        key: String,
        /// The accepted values.
        any: AnyValues,
    },
    /// The field has a value that is none of these (Qdrant's `match: {except: [...]}`):
    /// a value of another type counts as different, `null` and a missing field do not
    /// match, and an array matches when one element is not listed.
    MatchExcept {
        /// Dotted payload path.
        key: String,
        /// The refused values.
        except: AnyValues,
    },
    /// Full-text match (Qdrant's `match: {text: ...}`). With a full-text index on the
    /// field Qdrant matches when every token of `text` is in the field; without one, as
    /// here in memory and in the embedded engine, when `text` is a substring of it.
    Text {
        /// Dotted payload path.
        key: String,
        /// The text to find.
        text: String,
    },
    /// The field is a datetime string within the range (Qdrant's `datetime_range`).
    DatetimeRange {
        /// Dotted payload path.
        key: String,
        /// The bounds, RFC 3339.
        range: DatetimeRange,
    },
    /// The field is a `{"lon": .., "lat": ..}` point less than `radius` metres from
    /// `center` (great-circle distance).
    GeoRadius {
        /// Dotted payload path.
        key: String,
        /// Centre of the circle.
        center: GeoPoint,
        /// Radius in metres (`f32`, Qdrant's gRPC precision).
        radius: f32,
    },
    /// The field is a `{"lon": .., "lat": ..}` point strictly inside the box (which
    /// crosses the antimeridian when `top_left.lon > bottom_right.lon`).
    GeoBoundingBox {
        /// Dotted payload path.
        key: String,
        /// North-west corner.
        top_left: GeoPoint,
        /// South-east corner.
        bottom_right: GeoPoint,
    },
    /// The number of values of the field is within the bounds: an array counts its
    /// elements, `null` and a missing field count 0, any other value 1.
    ValuesCount {
        /// Dotted payload path.
        key: String,
        /// The bounds.
        count: ValuesCount,
    },
    /// The field is missing, `null` or `[]` (Qdrant's `is_empty`).
    IsEmpty {
        /// Dotted payload path.
        key: String,
    },
    /// The field exists and is `null` (Qdrant's `is_null`); a missing field or `[]` is
    /// not null.
    IsNull {
        /// Dotted payload path.
        key: String,
    },
    /// The point's id is one of these (Qdrant's `has_id`).
    HasId {
        /// The ids.
        ids: Vec<PointId>,
    },
    /// Some object of the array at `key` matches `filter` as a whole, its keys relative
    /// to the object (Qdrant's `nested`); `has_id` is refused inside it.
    Nested {
        /// Dotted path of the array of objects (`[]` is added when missing).
        key: String,
        /// The filter each object is checked against.
        filter: Filter,
    },
    /// A nested group: the filter holds (Qdrant's `Filter` as a condition).
    Filter(Filter),
}

impl Condition {
    /// The field equals the string `value`.
    pub fn keyword(key: impl Into<String>, value: impl Into<String>) -> Self {
        Condition::Match {
            key: key.into(),
            value: MatchValue::Keyword(value.into()),
        }
    }

    /// The field equals the integer `value`.
    pub fn integer(key: impl Into<String>, value: i64) -> Self {
        Condition::Match {
            key: key.into(),
            value: MatchValue::Integer(value),
        }
    }

    /// The field equals the boolean `value`.
    pub fn boolean(key: impl Into<String>, value: bool) -> Self {
        Condition::Match {
            key: key.into(),
            value: MatchValue::Bool(value),
        }
    }

    /// The field is a number within `range`.
    pub fn range(key: impl Into<String>, range: Range) -> Self {
        Condition::Range {
            key: key.into(),
            range,
        }
    }

    /// The field equals one of the strings.
    pub fn any_keywords<S: Into<String>>(
        key: impl Into<String>,
        values: impl IntoIterator<Item = S>,
    ) -> Self {
        Condition::MatchAny {
            key: key.into(),
            any: AnyValues::Keywords(values.into_iter().map(Into::into).collect()),
        }
    }

    /// The field equals one of the integers.
    pub fn any_integers(key: impl Into<String>, values: impl IntoIterator<Item = i64>) -> Self {
        Condition::MatchAny {
            key: key.into(),
            any: AnyValues::Integers(values.into_iter().collect()),
        }
    }

    /// The field has a value that is none of the strings (see [`Condition::MatchExcept`]).
    pub fn except_keywords<S: Into<String>>(
        key: impl Into<String>,
        values: impl IntoIterator<Item = S>,
    ) -> Self {
        Condition::MatchExcept {
            key: key.into(),
            except: AnyValues::Keywords(values.into_iter().map(Into::into).collect()),
        }
    }

    /// The field has a value that is none of the integers (see [`Condition::MatchExcept`]).
    pub fn except_integers(key: impl Into<String>, values: impl IntoIterator<Item = i64>) -> Self {
        Condition::MatchExcept {
            key: key.into(),
            except: AnyValues::Integers(values.into_iter().collect()),
        }
    }

    /// Full-text match (see [`Condition::Text`]).
    pub fn text(key: impl Into<String>, text: impl Into<String>) -> Self {
        Condition::Text {
            key: key.into(),
            text: text.into(),
        }
    }

    /// The field is a datetime within `range`.
    pub fn datetime_range(key: impl Into<String>, range: DatetimeRange) -> Self {
        Condition::DatetimeRange {
            key: key.into(),
            range,
        }
    }

    /// The field is a geo point less than `radius` metres from `center`.
    pub fn geo_radius(key: impl Into<String>, center: GeoPoint, radius: f32) -> Self {
        Condition::GeoRadius {
            key: key.into(),
            center,
            radius,
        }
    }

    /// The field is a geo point inside the box.
    pub fn geo_bounding_box(
        key: impl Into<String>,
        top_left: GeoPoint,
        bottom_right: GeoPoint,
    ) -> Self {
        Condition::GeoBoundingBox {
            key: key.into(),
            top_left,
            bottom_right,
        }
    }

    /// The field's number of values is within `count`.
    pub fn values_count(key: impl Into<String>, count: ValuesCount) -> Self {
        Condition::ValuesCount {
            key: key.into(),
            count,
        }
    }

    /// The field is missing, `null` or `[]`.
    pub fn is_empty(key: impl Into<String>) -> Self {
        Condition::IsEmpty { key: key.into() }
    }

    /// The field is `null`.
    pub fn is_null(key: impl Into<String>) -> Self {
        Condition::IsNull { key: key.into() }
    }

    /// The point's id is one of `ids`.
    pub fn has_id(ids: impl IntoIterator<Item = impl Into<PointId>>) -> Self {
        Condition::HasId {
            ids: ids.into_iter().map(Into::into).collect(),
        }
    }

    /// Some object of the array at `key` matches `filter`.
    pub fn nested(key: impl Into<String>, filter: Filter) -> Self {
        Condition::Nested {
            key: key.into(),
            filter,
        }
    }

    /// A nested group that holds when `filter` does.
    pub fn group(filter: Filter) -> Self {
        Condition::Filter(filter)
    }

    /// The payload path this condition reads; `None` for `has_id` and groups.
    pub fn key(&self) -> Option<&str> {
        match self {
            Condition::Match { key, .. }
            | Condition::Range { key, .. }
            | Condition::MatchAny { key, .. }
            | Condition::MatchExcept { key, .. }
            | Condition::Text { key, .. }
            | Condition::DatetimeRange { key, .. }
            | Condition::GeoRadius { key, .. }
            | Condition::GeoBoundingBox { key, .. }
            | Condition::ValuesCount { key, .. }
            | Condition::IsEmpty { key }
            | Condition::IsNull { key }
            | Condition::Nested { key, .. } => Some(key),
            Condition::HasId { .. } | Condition::Filter(_) => None,
        }
    }

    /// The name Qdrant gives this condition (`"match"`, `"has_id"`, …), for messages.
    pub fn qdrant_name(&self) -> &'static str {
        match self {
            Condition::Match { .. } => "match",
            Condition::Range { .. } => "range",
            Condition::MatchAny { .. } => "match any",
            Condition::MatchExcept { .. } => "match except",
            Condition::Text { .. } => "match text",
            Condition::DatetimeRange { .. } => "datetime_range",
            Condition::GeoRadius { .. } => "geo_radius",
            Condition::GeoBoundingBox { .. } => "geo_bounding_box",
            Condition::ValuesCount { .. } => "values_count",
            Condition::IsEmpty { .. } => "is_empty",
            Condition::IsNull { .. } => "is_null",
            Condition::HasId { .. } => "has_id",
            Condition::Nested { .. } => "nested",
            Condition::Filter(_) => "filter",
        }
    }

    /// Evaluates the condition on a point with the semantics of Qdrant's engine on a
    /// field without a payload index: a field condition holds when one of the values at
    /// the path (an array counts through its elements) satisfies it, and a missing field
    /// satisfies only `is_empty` and a `values_count` that admits 0. See the module docs
    /// for paths.
    pub fn matches(&self, id: PointId, payload: &Payload) -> bool {
        let values = |key: &str| {
            let mut out = Vec::new();
            values_at(payload, key, &mut out);
            out
        };
        let any_value = |key: &str, check: &dyn Fn(&Value) -> bool| {
            values(key).into_iter().any(|v| match v {
                Value::Array(items) => items.iter().any(check),
                other => check(other),
            })
        };
        match self {
            Condition::Match { key, value } => any_value(key, &|v| value.matches(v)),
            Condition::Range { key, range } => {
                any_value(key, &|v| v.as_f64().is_some_and(|x| range.contains(x)))
            }
            Condition::MatchAny { key, any } => any_value(key, &|v| any.contains(v)),
            Condition::MatchExcept { key, except } => any_value(key, &|v| except.excludes(v)),
            Condition::Text { key, text } => any_value(key, &|v| {
                v.as_str().is_some_and(|s| s.contains(text.as_str()))
            }),
            Condition::DatetimeRange { key, range } => match range.micros() {
                Some(bounds) => any_value(key, &|v| {
                    v.as_str()
                        .and_then(datetime::parse_payload)
                        .is_some_and(|t| bounds.contains(t))
                }),
                None => false,
            },
            Condition::GeoRadius {
                key,
                center,
                radius,
            } => any_value(key, &|v| {
                GeoPoint::from_payload(v)
                    .is_some_and(|p| center.distance_m(&p) < f64::from(*radius))
            }),
            Condition::GeoBoundingBox {
                key,
                top_left,
                bottom_right,
            } => any_value(key, &|v| {
                GeoPoint::from_payload(v).is_some_and(|p| p.in_box(top_left, bottom_right))
            }),
            Condition::ValuesCount { key, count } => {
                let values = values(key);
                if values.is_empty() {
                    return count.contains(0);
                }
                values.into_iter().any(|v| {
                    count.contains(match v {
                        Value::Null => 0,
                        Value::Array(items) => items.len() as u64,
                        _ => 1,
                    })
                })
            }
            Condition::IsEmpty { key } => values(key).into_iter().all(|v| match v {
                Value::Null => true,
                Value::Array(items) => items.is_empty(),
                _ => false,
            }),
            Condition::IsNull { key } => values(key).into_iter().any(Value::is_null),
            Condition::HasId { ids } => ids.contains(&id),
            Condition::Nested { key, filter } => {
                let array_key = if key.ends_with("[]") {
                    key.clone()
                } else {
                    format!("{key}[]")
                };
                values(&array_key)
                    .into_iter()
                    .filter_map(Value::as_object)
                    .any(|object| filter.matches(id, object))
            }
            Condition::Filter(filter) => filter.matches(id, payload),
        }
    }
}

/// A value a [`Condition::Match`] compares with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MatchValue {
    /// Equal booleans.
    Bool(bool),
    /// Equal integers.
    Integer(i64),
    /// Equal strings (exact, case-sensitive).
    Keyword(String),
}

impl MatchValue {
    fn matches(&self, value: &Value) -> bool {
        match (self, value) {
            (MatchValue::Keyword(k), Value::String(s)) => k == s,
            (MatchValue::Integer(i), Value::Number(n)) => n.as_i64() == Some(*i),
            (MatchValue::Bool(b), Value::Bool(v)) => b == v,
            _ => false,
        }
    }
}

/// The list of a [`Condition::MatchAny`] or [`Condition::MatchExcept`]: strings or
/// integers, as in Qdrant (in JSON, an array of either; `[]` reads as keywords).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AnyValues {
    /// Exact, case-sensitive strings.
    Keywords(Vec<String>),
    /// Integers.
    Integers(Vec<i64>),
}

impl AnyValues {
    /// How many values are listed.
    pub fn len(&self) -> usize {
        match self {
            AnyValues::Keywords(v) => v.len(),
            AnyValues::Integers(v) => v.len(),
        }
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn contains(&self, value: &Value) -> bool {
        match (self, value) {
            (AnyValues::Keywords(list), Value::String(s)) => list.iter().any(|k| k == s),
            (AnyValues::Integers(list), Value::Number(n)) => {
                n.as_i64().is_some_and(|i| list.contains(&i))
            }
            _ => false,
        }
    }

    /// Qdrant's `except` on one value: a listed value and `null` fail, every other value
    /// (of another type, too) passes.
    fn excludes(&self, value: &Value) -> bool {
        match (self, value) {
            (_, Value::Null) => false,
            (AnyValues::Keywords(list), Value::String(s)) => !list.iter().any(|k| k == s),
            (AnyValues::Integers(list), Value::Number(n)) => {
                n.as_i64().is_none_or(|i| !list.contains(&i))
            }
            _ => true,
        }
    }
}

/// Numeric bounds; unset bounds are open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Range {
    /// Greater than.
    pub gt: Option<f64>,
    /// Greater than or equal.
    pub gte: Option<f64>,
    /// Less than.
    pub lt: Option<f64>,
    /// Less than or equal.
    pub lte: Option<f64>,
}

impl Range {
    /// Whether `x` lies within every set bound.
    pub fn contains(&self, x: f64) -> bool {
        within(x, self.gt, self.gte, self.lt, self.lte)
    }
}

/// Datetime bounds as RFC 3339 strings (`2024-05-01T12:00:00Z`,
/// `2024-05-01T14:00:00.25+02:00`); unset bounds are open. Qdrant compares datetimes in
/// microseconds, UTC; payload values may also omit the zone (UTC) or the time.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatetimeRange {
    /// Later than.
    pub gt: Option<String>,
    /// Later than or at.
    pub gte: Option<String>,
    /// Earlier than.
    pub lt: Option<String>,
    /// Earlier than or at.
    pub lte: Option<String>,
}

/// [`DatetimeRange`]'s bounds in microseconds since the Unix epoch (UTC), the form
/// adapters send to Qdrant; see [`DatetimeRange::micros`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DatetimeMicros {
    /// Later than.
    pub gt: Option<i64>,
    /// Later than or at.
    pub gte: Option<i64>,
    /// Earlier than.
    pub lt: Option<i64>,
    /// Earlier than or at.
    pub lte: Option<i64>,
}

impl DatetimeMicros {
    fn contains(&self, t: i64) -> bool {
        within(t, self.gt, self.gte, self.lt, self.lte)
    }
}

impl DatetimeRange {
    /// The bounds in microseconds since the epoch; `None` when one is not RFC 3339
    /// (which [`Filter::validate`] refuses first).
    pub fn micros(&self) -> Option<DatetimeMicros> {
        let parse = |bound: &Option<String>| match bound {
            Some(text) => datetime::parse_rfc3339(text).map(Some),
            None => Some(None),
        };
        Some(DatetimeMicros {
            gt: parse(&self.gt)?,
            gte: parse(&self.gte)?,
            lt: parse(&self.lt)?,
            lte: parse(&self.lte)?,
        })
    }

    /// The range whose bounds are these microseconds since the epoch, written as RFC
    /// 3339 in UTC; `None` for a bound outside years 0000-9999.
    pub fn from_micros(micros: DatetimeMicros) -> Option<Self> {
        let format = |bound: Option<i64>| match bound {
            Some(t) => datetime::format_rfc3339(t).map(Some),
            None => Some(None),
        };
        Some(DatetimeRange {
            gt: format(micros.gt)?,
            gte: format(micros.gte)?,
            lt: format(micros.lt)?,
            lte: format(micros.lte)?,
        })
    }
}

/// A point on Earth in degrees, as Qdrant stores geo payloads (`{"lon": .., "lat": ..}`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeoPoint {
    /// Longitude, -180..=180.
    pub lon: f64,
    /// Latitude, -90..=90.
    pub lat: f64,
}

impl GeoPoint {
    /// A point at `lon`, `lat` (checked by [`Filter::validate`]).
    pub fn new(lon: f64, lat: f64) -> Self {
        Self { lon, lat }
    }

    fn from_payload(value: &Value) -> Option<Self> {
        let object = value.as_object()?;
        Some(Self {
            lon: object.get("lon")?.as_f64()?,
            lat: object.get("lat")?.as_f64()?,
        })
    }

    /// Haversine distance in metres, as Qdrant computes it.
    fn distance_m(&self, other: &GeoPoint) -> f64 {
        let (phi1, phi2) = (self.lat.to_radians(), other.lat.to_radians());
        let d_phi = phi2 - phi1;
        let d_lambda = (other.lon - self.lon).to_radians();
        let a =
            (d_phi / 2.0).sin().powi(2) + phi1.cos() * phi2.cos() * (d_lambda / 2.0).sin().powi(2);
        2.0 * EARTH_RADIUS_M * a.sqrt().asin()
    }

    fn in_box(&self, top_left: &GeoPoint, bottom_right: &GeoPoint) -> bool {
        let lon = if top_left.lon > bottom_right.lon {
            self.lon > top_left.lon || self.lon < bottom_right.lon
        } else {
            top_left.lon < self.lon && self.lon < bottom_right.lon
        };
        lon && bottom_right.lat < self.lat && self.lat < top_left.lat
    }

    fn check(&self, budget: &Budget, key: &str, what: &str) -> InfraResult<()> {
        if !(-90.0..=90.0).contains(&self.lat) || !(-180.0..=180.0).contains(&self.lon) {
            return Err(invalid(
                budget.operation,
                format!(
                    "{what} of the geo condition on {key:?} is lon {}, lat {}: expected a \
                     longitude in -180..=180 and a latitude in -90..=90",
                    self.lon, self.lat
                ),
            ));
        }
        Ok(())
    }
}

/// Bounds on a number of values; unset bounds are open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ValuesCount {
    /// More than.
    pub gt: Option<u64>,
    /// At least.
    pub gte: Option<u64>,
    /// Fewer than.
    pub lt: Option<u64>,
    /// At most.
    pub lte: Option<u64>,
}

impl ValuesCount {
    /// Whether `n` lies within every set bound.
    pub fn contains(&self, n: u64) -> bool {
        within(n, self.gt, self.gte, self.lt, self.lte)
    }
}

/// Whether `x` lies within every set bound: the one range check of numbers, datetimes
/// and value counts.
fn within<T: PartialOrd + Copy>(
    x: T,
    gt: Option<T>,
    gte: Option<T>,
    lt: Option<T>,
    lte: Option<T>,
) -> bool {
    gt.is_none_or(|b| x > b)
        && gte.is_none_or(|b| x >= b)
        && lt.is_none_or(|b| x < b)
        && lte.is_none_or(|b| x <= b)
}

/// What [`Filter::validate`] has counted so far.
struct Budget {
    operation: &'static str,
    conditions: usize,
    values: usize,
}

impl Budget {
    fn filter(&mut self, filter: &Filter, depth: usize, in_nested: bool) -> InfraResult<()> {
        if depth > MAX_FILTER_DEPTH {
            return Err(invalid(
                self.operation,
                format!(
                    "the filter nests deeper than {MAX_FILTER_DEPTH} levels of groups and \
                     nested conditions: flatten it"
                ),
            ));
        }
        for condition in filter.conditions() {
            self.condition(condition, depth, in_nested)?;
        }
        Ok(())
    }

    fn values(&mut self, n: usize) -> InfraResult<()> {
        self.values = self.values.saturating_add(n);
        if self.values > MAX_FILTER_VALUES {
            return Err(invalid(
                self.operation,
                format!(
                    "the filter lists more than {MAX_FILTER_VALUES} values in its any, except \
                     and has_id conditions"
                ),
            ));
        }
        Ok(())
    }

    fn condition(
        &mut self,
        condition: &Condition,
        depth: usize,
        in_nested: bool,
    ) -> InfraResult<()> {
        self.conditions += 1;
        if self.conditions > MAX_FILTER_CONDITIONS {
            return Err(invalid(
                self.operation,
                format!("the filter has more than {MAX_FILTER_CONDITIONS} conditions"),
            ));
        }
        if let Some(key) = condition.key()
            && key.is_empty()
        {
            return Err(invalid(
                self.operation,
                format!(
                    "a {} condition has an empty key: expected a dotted payload path",
                    condition.qdrant_name()
                ),
            ));
        }
        match condition {
            Condition::MatchAny { any: list, .. } | Condition::MatchExcept { except: list, .. } => {
                self.values(list.len())
            }
            Condition::HasId { ids } => {
                if in_nested {
                    return Err(invalid(
                        self.operation,
                        "has_id cannot be used inside a nested condition's filter (Qdrant \
                         does not evaluate it there): put it in the outer filter",
                    ));
                }
                self.values(ids.len())
            }
            Condition::DatetimeRange { key, range } => {
                for (name, bound) in [
                    ("gt", &range.gt),
                    ("gte", &range.gte),
                    ("lt", &range.lt),
                    ("lte", &range.lte),
                ] {
                    if let Some(text) = bound
                        && datetime::parse_rfc3339(text).is_none()
                    {
                        return Err(invalid(
                            self.operation,
                            format!(
                                "datetime_range on {key:?}: {name} {text:?} is not an RFC 3339 \
                                 datetime: expected e.g. 2024-05-01T12:00:00Z or \
                                 2024-05-01T14:00:00.5+02:00 (years 0000-9999)"
                            ),
                        ));
                    }
                }
                Ok(())
            }
            Condition::GeoRadius {
                key,
                center,
                radius,
            } => {
                center.check(self, key, "the center")?;
                if !radius.is_finite() || *radius < 0.0 {
                    return Err(invalid(
                        self.operation,
                        format!(
                            "geo_radius on {key:?}: radius {radius} is not a finite, \
                             non-negative number of metres"
                        ),
                    ));
                }
                Ok(())
            }
            Condition::GeoBoundingBox {
                key,
                top_left,
                bottom_right,
            } => {
                top_left.check(self, key, "top_left")?;
                bottom_right.check(self, key, "bottom_right")
            }
            Condition::Nested { filter, .. } => self.filter(filter, depth + 1, true),
            Condition::Filter(filter) => self.filter(filter, depth + 1, in_nested),
            Condition::Match { .. }
            | Condition::Range { .. }
            | Condition::Text { .. }
            | Condition::ValuesCount { .. }
            | Condition::IsEmpty { .. }
            | Condition::IsNull { .. } => Ok(()),
        }
    }
}

/// Parses one path segment: a name and its `[]` / `[n]` suffixes.
fn segment(text: &str) -> (&str, Vec<Option<usize>>) {
    let name_end = text.find('[').unwrap_or(text.len());
    let (name, mut rest) = text.split_at(name_end);
    let mut suffixes = Vec::new();
    while let Some(inner) = rest.strip_prefix('[') {
        let Some(close) = inner.find(']') else { break };
        suffixes.push(inner[..close].parse().ok());
        rest = &inner[close + 1..];
    }
    (name, suffixes)
}

/// Collects the values at a path as Qdrant reads them: `[]` flattens an array, `[n]`
/// takes one element, and the value at the end is kept as is (an array stays one
/// value). Leniency: a path that continues through an array without `[]` descends
/// into its objects.
pub(crate) fn values_at<'a>(payload: &'a Payload, path: &str, out: &mut Vec<&'a Value>) {
    let (head, rest) = match path.split_once('.') {
        Some((h, r)) => (h, Some(r)),
        None => (path, None),
    };
    let (name, suffixes) = segment(head);
    let Some(first) = payload.get(name) else {
        return;
    };
    let mut current = vec![first];
    for suffix in suffixes {
        current = current
            .into_iter()
            .filter_map(Value::as_array)
            .flat_map(|items| match suffix {
                Some(index) => items.get(index).into_iter().collect::<Vec<_>>(),
                None => items.iter().collect(),
            })
            .collect();
    }
    for value in current {
        descend(value, rest, out);
    }
}

fn descend<'a>(value: &'a Value, rest: Option<&str>, out: &mut Vec<&'a Value>) {
    match (value, rest) {
        (_, None) => out.push(value),
        (Value::Object(map), Some(rest)) => values_at(map, rest, out),
        (Value::Array(items), Some(_)) => {
            for item in items {
                descend(item, rest, out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests;
