//! Grouped and batched queries: the best points per distinct value of a payload field
//! (Qdrant's `query_groups`), and several queries in one call (`query_batch`).
//!
//! In-process stores group by paging through the plain query ([`query_groups_by_pages`]):
//! the first `limit` distinct values met in score order are the best groups, and paging
//! stops once each of them holds `group_size` points or the results run out. That is the
//! answer Qdrant's server computes, without its bound on the number of rounds.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::filter::values_at;
use super::index::MAX_INDEX_FIELD_LEN;
use super::lookup::{WithLookup, join_lookup};
use super::query::{MAX_QUERY_WINDOW, PayloadSelector, QueryRequest};
use super::types::{PointId, Record, ScoredPoint, invalid};
use super::{MAX_SEARCH_LIMIT, VectorPort};
use crate::error::InfraResult;

/// Largest `group_size` of a [`GroupsRequest`] (a bound of this crate, not of Qdrant: it
/// keeps `limit × group_size` answers in memory).
pub const MAX_GROUP_SIZE: usize = 100;

/// Largest number of requests in one [`VectorPort::query_batch`] (a bound of this crate:
/// one call holds every answer in memory).
pub const MAX_QUERY_BATCH: usize = 256;

/// A universal query whose results are grouped by a payload field
/// ([`VectorPort::query_groups`]).
///
/// `query.limit` is the number of groups, `group_size` the number of points per group;
/// `query.offset` must be 0 (Qdrant has no offset for groups). Groups are ordered by their
/// best point, points in a group by score. A point counts in a group per distinct string
/// or integer value of `group_by` it holds (an array puts it in several groups); points
/// without one are left out. With [`with_lookup`](Self::with_lookup), each group also
/// carries the record of another collection whose id is the group's value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupsRequest {
    /// The query that scores the points (its `limit` is the number of groups).
    pub query: QueryRequest,
    /// Payload path of the field to group by (dotted, as in filters).
    pub group_by: String,
    /// At most this many points per group, 1..=[`MAX_GROUP_SIZE`].
    pub group_size: usize,
    /// The collection whose records join the groups ([`PointGroup::lookup`]), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub with_lookup: Option<WithLookup>,
}

impl GroupsRequest {
    /// Groups the results of `query` by `group_by`, `group_size` points per group.
    pub fn new(query: QueryRequest, group_by: impl Into<String>, group_size: usize) -> Self {
        Self {
            query,
            group_by: group_by.into(),
            group_size,
            with_lookup: None,
        }
    }

    /// Joins to each group the record of `lookup.collection` whose id is its value.
    #[must_use]
    pub fn with_lookup(mut self, lookup: WithLookup) -> Self {
        self.with_lookup = Some(lookup);
        self
    }

    /// Checks what grouping adds to the query (the field, the group size, no offset,
    /// `limit × group_size` at most [`MAX_QUERY_WINDOW`], the lookup); the query itself is
    /// checked by [`QueryRequest::validate`].
    pub fn validate_grouping(&self) -> InfraResult<()> {
        const OP: &str = "query_groups";
        if let Some(lookup) = &self.with_lookup {
            lookup.validate(OP)?;
        }
        if self.group_by.is_empty() || self.group_by.len() > MAX_INDEX_FIELD_LEN {
            return Err(invalid(
                OP,
                format!(
                    "group_by of {} bytes: expected a dotted payload path of 1 to \
                     {MAX_INDEX_FIELD_LEN} bytes",
                    self.group_by.len()
                ),
            ));
        }
        if self.group_size == 0 || self.group_size > MAX_GROUP_SIZE {
            return Err(invalid(
                OP,
                format!(
                    "group_size {} is out of range: expected 1..={MAX_GROUP_SIZE}",
                    self.group_size
                ),
            ));
        }
        if self.query.offset != 0 {
            return Err(invalid(
                OP,
                format!(
                    "offset {} with groups: Qdrant pages no groups, expected 0",
                    self.query.offset
                ),
            ));
        }
        if self.query.limit.saturating_mul(self.group_size) > MAX_QUERY_WINDOW {
            return Err(invalid(
                OP,
                format!(
                    "limit {} × group_size {} is more than {MAX_QUERY_WINDOW} points",
                    self.query.limit, self.group_size
                ),
            ));
        }
        Ok(())
    }
}

/// The value a [`PointGroup`] stands for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum GroupId {
    /// A string value.
    Keyword(String),
    /// An integer value.
    Integer(i64),
}

impl GroupId {
    /// The group a payload value stands for: a string or an integer; `None` for anything
    /// else (floats, booleans, objects), which Qdrant does not group by.
    pub fn of_value(value: &Value) -> Option<Self> {
        match value {
            Value::String(s) => Some(GroupId::Keyword(s.clone())),
            Value::Number(n) => n.as_i64().map(GroupId::Integer),
            _ => None,
        }
    }

    /// The point id this value names in a lookup collection, as Qdrant reads it: a
    /// non-negative integer is a numeric id, a string holding a UUID is that UUID; `None`
    /// for anything else.
    pub fn as_point_id(&self) -> Option<PointId> {
        match self {
            GroupId::Integer(i) => u64::try_from(*i).ok().map(PointId::Num),
            GroupId::Keyword(s) => uuid::Uuid::try_parse(s).ok().map(PointId::Uuid),
        }
    }
}

impl fmt::Display for GroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GroupId::Keyword(s) => f.write_str(s),
            GroupId::Integer(i) => write!(f, "{i}"),
        }
    }
}

/// The best points holding one value of the grouped field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PointGroup {
    /// The value.
    pub id: GroupId,
    /// Its points, best first, at most `group_size`.
    pub hits: Vec<ScoredPoint>,
    /// The record of the lookup collection whose id is the value, when the request asked
    /// for one ([`GroupsRequest::with_lookup`]) and that collection holds it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lookup: Option<Record>,
}

/// The distinct groups a payload holds at `path`: each string or integer value once, array
/// elements one by one.
fn group_ids(payload: &super::Payload, path: &str) -> Vec<GroupId> {
    let mut values = Vec::new();
    values_at(payload, path, &mut values);
    let mut ids: Vec<GroupId> = Vec::new();
    for value in values {
        let elements = match value {
            Value::Array(items) => items.iter().collect(),
            other => vec![other],
        };
        for id in elements.into_iter().filter_map(GroupId::of_value) {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    ids
}

/// [`VectorPort::query_groups`] by paging through [`VectorPort::query`]: what the trait's
/// default does, for stores that have no grouping of their own.
pub(crate) async fn query_groups_by_pages<P: VectorPort + ?Sized>(
    port: &P,
    collection: &str,
    request: &GroupsRequest,
) -> InfraResult<Vec<PointGroup>> {
    request.validate_grouping()?;
    let wanted_groups = request.query.limit;
    let page_size = (wanted_groups * request.group_size).clamp(1, MAX_SEARCH_LIMIT);
    let mut page = request.query.clone();
    page.with_payload = PayloadSelector::All;
    page.limit = page_size;
    let mut groups: Vec<PointGroup> = Vec::new();
    loop {
        let hits = port.query(collection, &page).await?;
        let exhausted = hits.len() < page.limit;
        for hit in hits {
            let ids = hit
                .payload
                .as_ref()
                .map(|p| group_ids(p, &request.group_by))
                .unwrap_or_default();
            for id in ids {
                let group = match groups.iter().position(|g| g.id == id) {
                    Some(at) => &mut groups[at],
                    None if groups.len() < wanted_groups => {
                        groups.push(PointGroup {
                            id,
                            hits: Vec::new(),
                            lookup: None,
                        });
                        groups.last_mut().expect("just pushed")
                    }
                    None => continue,
                };
                if group.hits.len() < request.group_size {
                    let mut member = hit.clone();
                    member.payload = member
                        .payload
                        .as_ref()
                        .and_then(|p| request.query.with_payload.select(p));
                    group.hits.push(member);
                }
            }
        }
        let full = groups.len() == wanted_groups
            && groups.iter().all(|g| g.hits.len() == request.group_size);
        let next_offset = page.offset + page.limit;
        if exhausted || full || next_offset >= MAX_QUERY_WINDOW {
            if let Some(lookup) = &request.with_lookup {
                join_lookup(port, lookup, &mut groups).await?;
            }
            return Ok(groups);
        }
        page.offset = next_offset;
        page.limit = page.limit.min(MAX_QUERY_WINDOW - next_offset);
    }
}

/// [`VectorPort::query_batch`] one query after the other: what the trait's default does.
pub(crate) async fn query_batch_in_turn<P: VectorPort + ?Sized>(
    port: &P,
    collection: &str,
    requests: &[QueryRequest],
) -> InfraResult<Vec<Vec<ScoredPoint>>> {
    check_batch(requests.len())?;
    let mut answers = Vec::with_capacity(requests.len());
    for request in requests {
        answers.push(port.query(collection, request).await?);
    }
    Ok(answers)
}

/// Refuses a batch of more than [`MAX_QUERY_BATCH`] requests.
pub fn check_batch(len: usize) -> InfraResult<()> {
    if len > MAX_QUERY_BATCH {
        return Err(invalid(
            "query_batch",
            format!("{len} queries in one batch: expected at most {MAX_QUERY_BATCH}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn payload(value: &Value) -> super::super::Payload {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn strings_integers_and_their_arrays_are_groups() {
        let p = payload(&json!({"a": "x", "b": 7, "c": ["x", 2, "x", 1.5, true], "d": 1.5}));
        assert_eq!(group_ids(&p, "a"), vec![GroupId::Keyword("x".into())]);
        assert_eq!(group_ids(&p, "b"), vec![GroupId::Integer(7)]);
        assert_eq!(
            group_ids(&p, "c"),
            vec![GroupId::Keyword("x".into()), GroupId::Integer(2)]
        );
        assert!(group_ids(&p, "d").is_empty(), "floats are no groups");
        assert!(group_ids(&p, "missing").is_empty());
    }

    #[test]
    fn grouping_is_checked() {
        let query = QueryRequest::nearest(vec![1.0, 0.0], 3);
        assert!(
            GroupsRequest::new(query.clone(), "doc", 2)
                .validate_grouping()
                .is_ok()
        );
        for (request, what) in [
            (GroupsRequest::new(query.clone(), "", 2), "group_by"),
            (GroupsRequest::new(query.clone(), "doc", 0), "group_size"),
            (
                GroupsRequest::new(query.clone(), "doc", MAX_GROUP_SIZE + 1),
                "group_size",
            ),
            (
                GroupsRequest::new(query.clone().offset(1), "doc", 2),
                "offset",
            ),
            (
                GroupsRequest::new(QueryRequest::nearest(vec![1.0], 10_000), "doc", 2),
                "limit",
            ),
        ] {
            let err = request.validate_grouping().unwrap_err();
            assert!(err.to_string().contains(what), "{what}: {err}");
        }
        assert!(check_batch(MAX_QUERY_BATCH).is_ok());
        assert!(check_batch(MAX_QUERY_BATCH + 1).is_err());
    }
}
