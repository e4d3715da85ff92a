//! Counting points: exactly, or estimated from the store's indexes (Qdrant's `count`).

use serde::{Deserialize, Serialize};

use super::Filter;
use crate::error::InfraResult;

/// Counts the points matching `filter`
/// ([`VectorPort::count_points`](super::VectorPort::count_points)).
///
/// An exact count reads every matching point. An approximate one is Qdrant's cardinality
/// estimate from its payload indexes: much cheaper on a large collection, exact without a
/// filter, and otherwise an estimate that never exceeds the number of points in the
/// collection (it may be off where the filter is estimated rather than read, or points were
/// deleted recently). Use it for pagination totals and dashboards, not for decisions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CountRequest {
    /// Only points matching this filter are counted (empty: every point).
    #[serde(default)]
    pub filter: Filter,
    /// Whether the count must be exact (the default) or may be estimated.
    #[serde(default = "exact_by_default")]
    pub exact: bool,
}

const fn exact_by_default() -> bool {
    true
}

impl Default for CountRequest {
    /// An exact count of every point.
    fn default() -> Self {
        Self::exact(Filter::default())
    }
}

impl CountRequest {
    /// The exact number of points matching `filter`.
    pub fn exact(filter: Filter) -> Self {
        Self {
            filter,
            exact: true,
        }
    }

    /// An estimate of the number of points matching `filter`.
    pub fn approximate(filter: Filter) -> Self {
        Self {
            filter,
            exact: false,
        }
    }

    /// Checks the filter ([`Filter::validate`]), so every adapter refuses the same requests.
    pub fn validate(&self) -> InfraResult<()> {
        self.filter.validate("count")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_without_exact_is_exact() {
        let request: CountRequest = serde_json::from_str("{}").unwrap();
        assert!(request.exact);
        assert_eq!(request, CountRequest::default());
        assert!(!CountRequest::approximate(Filter::default()).exact);
    }
}
