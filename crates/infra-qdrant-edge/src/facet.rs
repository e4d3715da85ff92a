//! Facet counts on the engine.
//!
//! The engine counts each segment from its payload index and sums the segments, which is
//! Qdrant's approximate facet. An exact request is answered as a Qdrant server answers it:
//! the approximate pass finds the values, then each value is counted exactly with the
//! request's filter and a match on the value.

use infra_base::{Condition, FacetHit, FacetRequest, FacetValue};
use qdrant_edge::ValueVariants;

use crate::collection::Collection;
use crate::convert::{edge_filter, payload_path};
use crate::error::engine_error;

const OP: &str = "facet";

impl Collection {
    /// Runs a validated request.
    pub(crate) fn facet(&self, request: &FacetRequest) -> infra_base::InfraResult<Vec<FacetHit>> {
        let key = payload_path(&request.key, OP)?;
        let filter = edge_filter(&request.filter, OP)?;
        // Exact counts may reorder the values: every value is needed to rank them.
        let limit = if request.exact {
            usize::MAX
        } else {
            request.limit
        };
        let response = self.with_shard(OP, |shard| {
            shard
                .facet(qdrant_edge::FacetRequest {
                    key,
                    limit,
                    filter,
                    exact: request.exact,
                })
                .map_err(|e| engine_error(OP, e))
        })?;
        let mut hits: Vec<FacetHit> = response
            .hits
            .into_iter()
            .map(|hit| FacetHit {
                value: port_value(hit.value),
                count: hit.count as u64,
            })
            .collect();
        if request.exact {
            for hit in &mut hits {
                let only = request
                    .filter
                    .clone()
                    .must(matching(&request.key, &hit.value));
                hit.count = self.count(&only, true).map_err(|e| e.with_operation(OP))?;
            }
            hits.retain(|hit| hit.count > 0);
        }
        FacetHit::rank(&mut hits, request.limit);
        Ok(hits)
    }
}

/// The port's value of an engine's facet value (a uuid as its string, as Qdrant's gRPC
/// API returns it).
fn port_value(value: qdrant_edge::FacetValue) -> FacetValue {
    match ValueVariants::from(value) {
        ValueVariants::String(s) => FacetValue::Keyword(s),
        ValueVariants::Integer(n) => FacetValue::Integer(n),
        ValueVariants::Bool(b) => FacetValue::Bool(b),
    }
}

/// The condition that `key` holds `value`.
fn matching(key: &str, value: &FacetValue) -> Condition {
    match value {
        FacetValue::Keyword(s) => Condition::keyword(key, s.as_str()),
        FacetValue::Integer(n) => Condition::integer(key, *n),
        FacetValue::Bool(b) => Condition::boolean(key, *b),
    }
}
