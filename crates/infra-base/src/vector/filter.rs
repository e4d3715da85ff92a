//! The payload filter: a small typed subset of Qdrant's filter that maps onto it one-to-one.
//!
//! `must` conditions must all hold, at least one `should` condition must hold (when there
//! are any), and no `must_not` condition may hold. Keys are dotted paths into the payload
//! (`"address.city"`); where a path meets an array, a condition holds when it holds for any
//! element. Write a path through an array of objects with Qdrant's explicit `[]` form
//! (`"items[].sku"`), which is what a Qdrant server understands; the in-process evaluator
//! accepts both forms.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Payload;

/// A boolean combination of payload conditions. The default (empty) filter matches all.
///
/// ```
/// use infra_base::{Condition, Filter, Range};
///
/// let filter = Filter::default()
///     .must(Condition::keyword("color", "red"))
///     .must(Condition::range("price", Range { lt: Some(100.0), ..Range::default() }))
///     .must_not(Condition::boolean("archived", true));
/// assert!(!filter.is_empty());
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

    /// Whether the filter has no condition (and so matches every point).
    pub fn is_empty(&self) -> bool {
        self.must.is_empty() && self.should.is_empty() && self.must_not.is_empty()
    }

    /// Evaluates the filter on a payload with Qdrant's semantics: the reference for
    /// in-process implementations and for tests.
    pub fn matches(&self, payload: &Payload) -> bool {
        self.must.iter().all(|c| c.matches(payload))
            && (self.should.is_empty() || self.should.iter().any(|c| c.matches(payload)))
            && !self.must_not.iter().any(|c| c.matches(payload))
    }
}

/// One condition on a payload field.
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

    /// The payload path this condition reads.
    pub fn key(&self) -> &str {
        match self {
            Condition::Match { key, .. } | Condition::Range { key, .. } => key,
        }
    }

    /// Evaluates the condition on a payload (see the module docs for arrays and paths).
    pub fn matches(&self, payload: &Payload) -> bool {
        let mut values = Vec::new();
        collect_path(payload, self.key(), &mut values);
        values.into_iter().any(|v| match self {
            Condition::Match { value, .. } => value.matches(v),
            Condition::Range { range, .. } => v.as_f64().is_some_and(|x| range.contains(x)),
        })
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
        self.gt.is_none_or(|b| x > b)
            && self.gte.is_none_or(|b| x >= b)
            && self.lt.is_none_or(|b| x < b)
            && self.lte.is_none_or(|b| x <= b)
    }
}

/// Collects the values at a dotted path, flattening arrays along the way and at the end.
fn collect_path<'a>(payload: &'a Payload, path: &str, out: &mut Vec<&'a Value>) {
    let (head, rest) = match path.split_once('.') {
        Some((h, r)) => (h, Some(r)),
        None => (path, None),
    };
    if let Some(value) = payload.get(head.strip_suffix("[]").unwrap_or(head)) {
        collect_value(value, rest, out);
    }
}

fn collect_value<'a>(value: &'a Value, rest: Option<&str>, out: &mut Vec<&'a Value>) {
    match (value, rest) {
        (Value::Array(items), _) => {
            for item in items {
                collect_value(item, rest, out);
            }
        }
        (_, None) => out.push(value),
        (Value::Object(map), Some(rest)) => collect_path(map, rest, out),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn payload(v: Value) -> Payload {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn empty_filter_matches_everything() {
        assert!(Filter::default().matches(&Payload::new()));
    }

    #[test]
    fn match_conditions_compare_type_and_value() {
        let p = payload(json!({"color": "red", "n": 3, "ok": true, "f": 3.5}));
        assert!(Condition::keyword("color", "red").matches(&p));
        assert!(!Condition::keyword("color", "Red").matches(&p));
        assert!(Condition::integer("n", 3).matches(&p));
        assert!(!Condition::integer("f", 3).matches(&p));
        assert!(!Condition::keyword("n", "3").matches(&p));
        assert!(Condition::boolean("ok", true).matches(&p));
        assert!(!Condition::boolean("missing", true).matches(&p));
    }

    #[test]
    fn ranges_apply_to_integers_and_floats_with_open_bounds() {
        let p = payload(json!({"n": 3, "f": 3.5}));
        let r = Range {
            gte: Some(3.0),
            lt: Some(3.5),
            ..Range::default()
        };
        assert!(Condition::range("n", r).matches(&p));
        assert!(!Condition::range("f", r).matches(&p));
        assert!(Condition::range("f", Range::default()).matches(&p));
        assert!(!Condition::range("missing", Range::default()).matches(&p));
    }

    #[test]
    fn paths_descend_objects_and_arrays_match_any_element() {
        let p = payload(json!({"tags": ["a", "b"], "addr": {"city": "Oslo"},
                               "items": [{"sku": "x"}, {"sku": "y"}]}));
        assert!(Condition::keyword("tags", "b").matches(&p));
        assert!(Condition::keyword("addr.city", "Oslo").matches(&p));
        assert!(Condition::keyword("items.sku", "y").matches(&p));
        assert!(Condition::keyword("items[].sku", "y").matches(&p));
        assert!(!Condition::keyword("items.sku", "z").matches(&p));
    }

    #[test]
    fn must_should_and_must_not_combine_like_qdrant() {
        let p = payload(json!({"color": "red", "size": 2}));
        let f = Filter::default()
            .must(Condition::keyword("color", "red"))
            .should(Condition::integer("size", 1))
            .should(Condition::integer("size", 2));
        assert!(f.matches(&p));
        assert!(
            !f.clone()
                .must_not(Condition::integer("size", 2))
                .matches(&p)
        );
        let only_wrong_should = Filter::default().should(Condition::integer("size", 9));
        assert!(!only_wrong_should.matches(&p));
    }

    #[test]
    fn filters_round_trip_through_json() {
        let f = Filter::default()
            .must(Condition::keyword("a", "b"))
            .must_not(Condition::range(
                "x",
                Range {
                    gt: Some(1.0),
                    ..Range::default()
                },
            ));
        let json = serde_json::to_string(&f).unwrap();
        assert_eq!(serde_json::from_str::<Filter>(&json).unwrap(), f);
    }
}
