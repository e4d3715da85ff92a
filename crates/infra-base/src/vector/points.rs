//! Value types of the point-set operations: scrolling, selecting points (by id or by
//! filter) and updating payloads in place.

use serde::{Deserialize, Serialize};

use super::types::invalid;
use super::{Filter, Payload, PointId, Record};
use crate::error::InfraResult;

/// Largest `limit` of a scroll page.
pub const MAX_SCROLL_LIMIT: usize = 10_000;

/// Which way [`OrderBy`] sorts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderDirection {
    /// Smallest value first (Qdrant's default).
    #[default]
    Asc,
    /// Largest value first.
    Desc,
}

/// Orders a scroll by a numeric payload field instead of by id.
///
/// Qdrant serves it only from a *range index* on the field (an integer, float or datetime
/// [`PayloadIndex`](super::PayloadIndex), declared with
/// [`CollectionSpec::with_index`](super::CollectionSpec::with_index)) and refuses it
/// otherwise as `InvalidInput`. Points are read from the index: a point without a value of
/// the index's type in the field is not returned, and one with several distinct values is
/// returned once per value; the order of equal values is not specified. Qdrant also has no
/// cursor for an ordered scroll: the page has no `next_page_offset`, and an `offset` with
/// `order_by` is refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderBy {
    /// Dotted payload path of the field.
    pub key: String,
    /// Sort direction.
    #[serde(default)]
    pub direction: OrderDirection,
    /// The value to start from (inclusive): values below it are skipped ascending, above it
    /// descending. `None` starts at the smallest (ascending) or largest (descending) value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_from: Option<StartFrom>,
}

/// Where an ordered scroll starts, as Qdrant's `start_from` (date-times are not modelled).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StartFrom {
    /// An integer value.
    Integer(i64),
    /// A floating-point value (finite).
    Float(f64),
}

impl OrderBy {
    /// Ascending by `key`.
    pub fn asc(key: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            direction: OrderDirection::Asc,
            start_from: None,
        }
    }

    /// Descending by `key`.
    pub fn desc(key: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            direction: OrderDirection::Desc,
            start_from: None,
        }
    }

    /// Starts at `value` (inclusive) instead of at the first value in the direction.
    #[must_use]
    pub fn start_from(mut self, value: StartFrom) -> Self {
        self.start_from = Some(value);
        self
    }
}

/// One page request of [`VectorPort::scroll`](super::VectorPort::scroll): the points
/// matching `filter`, in id order, starting at `offset`.
///
/// Walk a collection by passing each page's
/// [`next_page_offset`](ScrollPage::next_page_offset) as the next request's `offset` until
/// it is `None`, or use [`VectorPortExt::scroll_all`](super::VectorPortExt::scroll_all).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScrollRequest {
    /// Only points whose payload matches (an empty filter matches every point).
    pub filter: Filter,
    /// Points per page, 1..=[`MAX_SCROLL_LIMIT`].
    pub limit: usize,
    /// The first id of the page (inclusive): the previous page's `next_page_offset`;
    /// `None` starts at the smallest id.
    pub offset: Option<PointId>,
    /// Return payloads (otherwise each record's payload is empty).
    pub with_payload: bool,
    /// Return vectors.
    pub with_vector: bool,
    /// Order by a payload field instead of by id (see [`OrderBy`] for what Qdrant requires).
    pub order_by: Option<OrderBy>,
}

impl ScrollRequest {
    /// The first page of at most `limit` points, every point, with payloads, without
    /// vectors.
    pub fn new(limit: usize) -> Self {
        Self {
            filter: Filter::default(),
            limit,
            offset: None,
            with_payload: true,
            with_vector: false,
            order_by: None,
        }
    }

    /// Restricts the pages to points matching `filter`.
    #[must_use]
    pub fn filter(mut self, filter: Filter) -> Self {
        self.filter = filter;
        self
    }

    /// Starts the page at `offset` (inclusive).
    #[must_use]
    pub fn offset(mut self, offset: Option<PointId>) -> Self {
        self.offset = offset;
        self
    }

    /// Returns payloads or not.
    #[must_use]
    pub fn with_payload(mut self, yes: bool) -> Self {
        self.with_payload = yes;
        self
    }

    /// Also returns vectors.
    #[must_use]
    pub fn with_vector(mut self, yes: bool) -> Self {
        self.with_vector = yes;
        self
    }

    /// Orders by a payload field (see [`OrderBy`]).
    #[must_use]
    pub fn order_by(mut self, order_by: OrderBy) -> Self {
        self.order_by = Some(order_by);
        self
    }

    /// Checks the limit, the filter ([`Filter::validate`]), and that `order_by` has a key,
    /// a finite `start_from` and comes without `offset` (Qdrant refuses both), so every
    /// adapter refuses the same requests.
    pub fn validate(&self) -> InfraResult<()> {
        self.filter.validate("scroll")?;
        if self.limit == 0 || self.limit > MAX_SCROLL_LIMIT {
            return Err(invalid(
                "scroll",
                format!(
                    "limit {} is out of range: expected 1..={MAX_SCROLL_LIMIT}",
                    self.limit
                ),
            ));
        }
        if let Some(order_by) = &self.order_by {
            if order_by.key.is_empty() {
                return Err(invalid(
                    "scroll",
                    "order_by needs a payload key: expected a non-empty dotted path",
                ));
            }
            if let Some(StartFrom::Float(value)) = order_by.start_from
                && !value.is_finite()
            {
                return Err(invalid(
                    "scroll",
                    "order_by start_from must be a finite number",
                ));
            }
            if self.offset.is_some() {
                return Err(invalid(
                    "scroll",
                    "offset cannot be combined with order_by: an ordered scroll has no cursor \
                     (Qdrant returns no next_page_offset for it)",
                ));
            }
        }
        Ok(())
    }
}

/// One page of a scroll.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScrollPage {
    /// The points of the page, by ascending id (or by the `order_by` field).
    pub points: Vec<Record>,
    /// The `offset` of the next page; `None` on the last page, and always with `order_by`.
    pub next_page_offset: Option<PointId>,
}

/// Which points a deletion or a payload update applies to.
///
/// `Filter(Filter::default())` selects **every** point of the collection, as in Qdrant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PointSelector {
    /// These ids: ids that do not exist are ignored by deletions and `NotFound` for
    /// payload updates (see [`VectorPort::update_payload`](super::VectorPort::update_payload)).
    Ids(Vec<PointId>),
    /// The points whose payload matches the filter when the operation runs.
    Filter(Filter),
}

impl PointSelector {
    /// Checks a filter selector ([`Filter::validate`]) for `operation`; ids need no check.
    pub fn validate(&self, operation: &'static str) -> InfraResult<()> {
        match self {
            PointSelector::Ids(_) => Ok(()),
            PointSelector::Filter(filter) => filter.validate(operation),
        }
    }
}

impl From<Vec<PointId>> for PointSelector {
    fn from(ids: Vec<PointId>) -> Self {
        PointSelector::Ids(ids)
    }
}

impl From<&[PointId]> for PointSelector {
    fn from(ids: &[PointId]) -> Self {
        PointSelector::Ids(ids.to_vec())
    }
}

impl From<Filter> for PointSelector {
    fn from(filter: Filter) -> Self {
        PointSelector::Filter(filter)
    }
}

/// A change to the payloads of selected points, with Qdrant's semantics; see
/// [`VectorPort::update_payload`](super::VectorPort::update_payload).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PayloadUpdate {
    /// Qdrant's `set_payload`: each top-level key given replaces that key (nested objects
    /// are replaced, not merged); other keys stay.
    Set(Payload),
    /// Qdrant's `overwrite_payload`: the payload becomes exactly the one given.
    Overwrite(Payload),
    /// Qdrant's `delete_payload`: removes these keys (dotted paths, `"a.b"` removes `b`
    /// inside `a`); keys that are absent are ignored.
    DeleteKeys(Vec<String>),
    /// Qdrant's `clear_payload`: the payload becomes empty.
    Clear,
}

impl PayloadUpdate {
    /// The Qdrant operation this update is (`"set_payload"`, …), for messages.
    pub fn qdrant_name(&self) -> &'static str {
        match self {
            PayloadUpdate::Set(_) => "set_payload",
            PayloadUpdate::Overwrite(_) => "overwrite_payload",
            PayloadUpdate::DeleteKeys(_) => "delete_payload",
            PayloadUpdate::Clear => "clear_payload",
        }
    }

    /// Checks that every key to delete is non-empty, so every adapter refuses the same
    /// updates.
    pub fn validate(&self) -> InfraResult<()> {
        if let PayloadUpdate::DeleteKeys(keys) = self
            && keys.iter().any(String::is_empty)
        {
            return Err(invalid(
                "update_payload",
                "a payload key to delete is empty: expected a non-empty dotted path",
            ));
        }
        Ok(())
    }

    /// Applies the update to one payload, with Qdrant's semantics: the reference for
    /// in-process implementations.
    pub fn apply(&self, payload: &mut Payload) {
        match self {
            PayloadUpdate::Set(values) => {
                for (key, value) in values {
                    payload.insert(key.clone(), value.clone());
                }
            }
            PayloadUpdate::Overwrite(values) => payload.clone_from(values),
            PayloadUpdate::DeleteKeys(keys) => {
                for key in keys {
                    remove_path(payload, key);
                }
            }
            PayloadUpdate::Clear => payload.clear(),
        }
    }
}

/// Removes the value at a dotted path: through objects, and through every element of an
/// array met on the way (`a[].b` and `a.b` alike), as Qdrant's `delete_payload` does.
fn remove_path(payload: &mut Payload, path: &str) {
    let (head, rest) = match path.split_once('.') {
        Some((head, rest)) => (head, Some(rest)),
        None => (path, None),
    };
    let head = head.strip_suffix("[]").unwrap_or(head);
    match rest {
        None => {
            payload.remove(head);
        }
        Some(rest) => {
            if let Some(value) = payload.get_mut(head) {
                remove_in_value(value, rest);
            }
        }
    }
}

fn remove_in_value(value: &mut serde_json::Value, rest: &str) {
    match value {
        serde_json::Value::Object(map) => remove_path(map, rest),
        serde_json::Value::Array(items) => {
            for item in items {
                remove_in_value(item, rest);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::ErrorKind;

    fn payload(value: serde_json::Value) -> Payload {
        match value {
            serde_json::Value::Object(map) => map,
            other => panic!("not an object: {other}"),
        }
    }

    #[test]
    fn scroll_requests_are_validated() {
        assert!(ScrollRequest::new(1).validate().is_ok());
        assert!(ScrollRequest::new(MAX_SCROLL_LIMIT).validate().is_ok());
        for bad in [
            ScrollRequest::new(0),
            ScrollRequest::new(MAX_SCROLL_LIMIT + 1),
            ScrollRequest::new(5).order_by(OrderBy::asc("")),
            ScrollRequest::new(5)
                .order_by(OrderBy::desc("price"))
                .offset(Some(PointId::Num(3))),
            ScrollRequest::new(5)
                .order_by(OrderBy::asc("price").start_from(StartFrom::Float(f64::NAN))),
        ] {
            let err = bad.validate().unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{bad:?}");
            assert_eq!(err.operation(), "scroll");
        }
    }

    #[test]
    fn payload_updates_follow_qdrant() {
        let original = payload(json!({"a": 1, "b": {"c": 2, "d": 3}, "e": [{"f": 1, "g": 2}]}));
        let mut p = original.clone();
        PayloadUpdate::Set(payload(json!({"b": {"x": 1}, "z": true}))).apply(&mut p);
        assert_eq!(
            p,
            payload(json!({"a": 1, "b": {"x": 1}, "e": [{"f": 1, "g": 2}], "z": true}))
        );
        let mut p = original.clone();
        PayloadUpdate::Overwrite(payload(json!({"z": 1}))).apply(&mut p);
        assert_eq!(p, payload(json!({"z": 1})));
        let mut p = original.clone();
        let keys = ["a", "b.c", "e[].f", "missing", "b.missing.deeper"];
        PayloadUpdate::DeleteKeys(keys.map(String::from).to_vec()).apply(&mut p);
        assert_eq!(p, payload(json!({"b": {"d": 3}, "e": [{"g": 2}]})));
        let mut p = original;
        PayloadUpdate::Clear.apply(&mut p);
        assert!(p.is_empty());
    }

    #[test]
    fn empty_delete_keys_are_refused() {
        let err = PayloadUpdate::DeleteKeys(vec!["a".into(), String::new()])
            .validate()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(PayloadUpdate::Clear.validate().is_ok());
    }
}
