//! Facet counts: how many points hold each distinct value of a payload field, Qdrant's
//! `facet` (a "group by value, count" over an indexed field).

use std::fmt;

use serde::{Deserialize, Serialize};

use super::Filter;
use super::index::MAX_INDEX_FIELD_LEN;
use super::types::invalid;
use crate::error::InfraResult;

/// Largest `limit` of a [`FacetRequest`]: the number of distinct values returned.
pub const MAX_FACET_LIMIT: usize = 10_000;

/// Counts the points matching `filter` per distinct value of the payload field `key`.
///
/// Qdrant serves it from a payload index on `key` of a type that holds exact values
/// (keyword, integer, bool or uuid, declared with
/// [`CollectionSpec::with_index`](super::CollectionSpec::with_index)) and refuses it
/// otherwise as `InvalidInput`. A point counts once per distinct value it holds (an array
/// field counts for each of its values); a point without a value of the index's type is
/// not counted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FacetRequest {
    /// Payload path of the field (dotted, as in filters and indexes).
    pub key: String,
    /// Only points matching this filter are counted (empty: every point).
    #[serde(default)]
    pub filter: Filter,
    /// At most this many values, the most frequent first (Qdrant's default is 10).
    #[serde(default = "FacetRequest::default_limit")]
    pub limit: usize,
    /// Exact counts. Otherwise Qdrant may estimate them from its index (faster; the values
    /// are the same, a count may be off where the filter is estimated or points were
    /// deleted recently).
    #[serde(default)]
    pub exact: bool,
}

impl FacetRequest {
    /// Qdrant's default `limit`.
    pub const DEFAULT_LIMIT: usize = 10;

    const fn default_limit() -> usize {
        Self::DEFAULT_LIMIT
    }

    /// The ten most frequent values of `key` over every point, counts approximate.
    pub fn new(key: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            filter: Filter::default(),
            limit: Self::DEFAULT_LIMIT,
            exact: false,
        }
    }

    /// Counts only points matching `filter`.
    #[must_use]
    pub fn filter(mut self, filter: Filter) -> Self {
        self.filter = filter;
        self
    }

    /// Returns at most `limit` values.
    #[must_use]
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    /// Asks for exact counts.
    #[must_use]
    pub fn exact(mut self, exact: bool) -> Self {
        self.exact = exact;
        self
    }

    /// Checks the key, the limit and the filter ([`Filter::validate`]), so every adapter
    /// refuses the same requests.
    pub fn validate(&self) -> InfraResult<()> {
        if self.key.is_empty() || self.key.len() > MAX_INDEX_FIELD_LEN {
            return Err(invalid(
                "facet",
                format!(
                    "facet key of {} bytes: expected a dotted payload path of 1 to \
                     {MAX_INDEX_FIELD_LEN} bytes",
                    self.key.len()
                ),
            ));
        }
        if self.limit == 0 || self.limit > MAX_FACET_LIMIT {
            return Err(invalid(
                "facet",
                format!(
                    "limit {} is out of range: expected 1..={MAX_FACET_LIMIT}",
                    self.limit
                ),
            ));
        }
        self.filter.validate("facet")
    }
}

/// One distinct value of a faceted field. UUIDs come back as keywords, as Qdrant's gRPC
/// API returns them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FacetValue {
    /// A string (keyword or uuid index).
    Keyword(String),
    /// An integer (integer index).
    Integer(i64),
    /// A boolean (bool index).
    Bool(bool),
}

impl fmt::Display for FacetValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FacetValue::Keyword(s) => f.write_str(s),
            FacetValue::Integer(n) => write!(f, "{n}"),
            FacetValue::Bool(b) => write!(f, "{b}"),
        }
    }
}

impl From<&str> for FacetValue {
    fn from(value: &str) -> Self {
        FacetValue::Keyword(value.to_owned())
    }
}

impl From<i64> for FacetValue {
    fn from(value: i64) -> Self {
        FacetValue::Integer(value)
    }
}

impl From<bool> for FacetValue {
    fn from(value: bool) -> Self {
        FacetValue::Bool(value)
    }
}

/// A value and the number of points holding it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FacetHit {
    /// The value.
    pub value: FacetValue,
    /// Points holding it (among those matching the request's filter).
    pub count: u64,
}

impl FacetHit {
    /// Orders `hits` as Qdrant returns them: most frequent first, then by ascending
    /// value; keeps the first `limit`. For backends that count values themselves.
    pub fn rank(hits: &mut Vec<FacetHit>, limit: usize) {
        hits.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
        hits.truncate(limit);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::vector::{Condition, Filter};

    #[test]
    fn requests_are_bounded_and_say_what_is_accepted() {
        assert!(FacetRequest::new("color").validate().is_ok());
        let err = FacetRequest::new("").validate().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(
            err.message().contains("1 to 255 bytes"),
            "{}",
            err.message()
        );
        for limit in [0, MAX_FACET_LIMIT + 1] {
            let err = FacetRequest::new("color")
                .limit(limit)
                .validate()
                .unwrap_err();
            assert!(
                err.message().contains("expected 1..=10000"),
                "{}",
                err.message()
            );
        }
        let deep = (0..20).fold(
            Filter::default().must(Condition::is_null("x")),
            |inner, _| Filter::default().must(Condition::group(inner)),
        );
        let err = FacetRequest::new("color")
            .filter(deep)
            .validate()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
    }

    #[test]
    fn hits_rank_by_count_then_value_and_are_cut_at_the_limit() {
        let hit = |value: FacetValue, count| FacetHit { value, count };
        let mut hits = vec![
            hit("b".into(), 2),
            hit("c".into(), 5),
            hit("a".into(), 2),
            hit("d".into(), 1),
        ];
        FacetHit::rank(&mut hits, 3);
        let order: Vec<String> = hits.iter().map(|h| h.value.to_string()).collect();
        assert_eq!(order, ["c", "a", "b"]);
    }

    #[test]
    fn requests_read_qdrants_json_with_its_defaults() {
        let request: FacetRequest = serde_json::from_str(r#"{"key": "color"}"#).unwrap();
        assert_eq!(request, FacetRequest::new("color"));
        let value: FacetValue = serde_json::from_str("7").unwrap();
        assert_eq!(value, FacetValue::Integer(7));
    }
}
