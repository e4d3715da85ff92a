//! Reading from a second collection during a query: the vectors of points referred to by
//! id ([`LookupLocation`], Qdrant's `lookup_from`) and one record per group
//! ([`WithLookup`], Qdrant's `with_lookup`).
//!
//! A Qdrant server does both above its shards; stores that answer in-process do them
//! here, through the port's own [`get`](VectorPort::get): [`resolve_lookup`] before a
//! query, [`join_lookup`] after grouping.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::groups::PointGroup;
use super::query::{PayloadSelector, Prefetch, Query, QueryRequest, VectorInput};
use super::types::{PointId, Record, invalid};
use super::vectors::{MAX_VECTOR_NAME_LEN, UNNAMED_VECTOR};
use super::{Condition, VECTOR_BACKEND, VectorPort, validate_collection_name};
use crate::error::{ErrorKind, InfraError, InfraResult};

/// Where the points a query refers to by id are read from (Qdrant's `lookup_from`): another
/// collection, and the vector of it to read.
///
/// It applies to the ids of the query it is set on (nearest by a point, recommendation
/// examples): the request's own ([`QueryRequest::lookup_from`]) or one prefetch stage's
/// ([`Prefetch::lookup_from`]); a stage does not inherit the request's. The vector read
/// must fit the vector the query scores by (same kind and dimension). Without it, ids are
/// read from the queried collection by the vector the query uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LookupLocation {
    /// The collection (or alias) the ids are read from.
    pub collection: String,
    /// Its vector to read; `None` is the unnamed one (as in Qdrant, not the query's
    /// `using`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vector: Option<String>,
}

impl LookupLocation {
    /// Ids read from `collection`'s unnamed vector.
    pub fn new(collection: impl Into<String>) -> Self {
        Self {
            collection: collection.into(),
            vector: None,
        }
    }

    /// Reads the vector `name` instead.
    #[must_use]
    pub fn vector(mut self, name: impl Into<String>) -> Self {
        self.vector = Some(name.into());
        self
    }

    /// The name of the vector read ([`UNNAMED_VECTOR`] for the unnamed one).
    pub fn vector_name(&self) -> &str {
        self.vector.as_deref().unwrap_or(UNNAMED_VECTOR)
    }

    /// Checks the collection name and the vector name's length.
    pub fn validate(&self, operation: &'static str) -> InfraResult<()> {
        validate_collection_name(&self.collection, operation)?;
        check_vector_name(self.vector.as_deref(), operation)
    }
}

/// The record of another collection joined to each group of a grouped query (Qdrant's
/// `with_lookup`): the point whose id is the group's value.
///
/// A group's value names a point when it is a non-negative integer (a numeric id) or a
/// string holding a UUID (Qdrant's rule); a group whose value names no point of the
/// collection has no record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WithLookup {
    /// The collection (or alias) the records are read from.
    pub collection: String,
    /// Which payload fields the records carry (all by default, as in Qdrant).
    #[serde(default)]
    pub with_payload: PayloadSelector,
    /// Whether the records carry their vectors (not by default, as in Qdrant).
    #[serde(default)]
    pub with_vector: bool,
}

impl WithLookup {
    /// Records of `collection` with their whole payload and no vectors.
    pub fn new(collection: impl Into<String>) -> Self {
        Self {
            collection: collection.into(),
            with_payload: PayloadSelector::All,
            with_vector: false,
        }
    }

    /// Chooses the payload fields the records carry.
    #[must_use]
    pub fn with_payload(mut self, selector: PayloadSelector) -> Self {
        self.with_payload = selector;
        self
    }

    /// Returns the records' vectors or not.
    #[must_use]
    pub fn with_vector(mut self, yes: bool) -> Self {
        self.with_vector = yes;
        self
    }

    /// Checks the collection name and the payload selector.
    pub fn validate(&self, operation: &'static str) -> InfraResult<()> {
        validate_collection_name(&self.collection, operation)?;
        self.with_payload.validate(operation)
    }
}

fn check_vector_name(name: Option<&str>, operation: &'static str) -> InfraResult<()> {
    match name {
        Some(name) if name.len() > MAX_VECTOR_NAME_LEN => Err(invalid(
            operation,
            format!(
                "lookup vector name of {} bytes: at most {MAX_VECTOR_NAME_LEN}",
                name.len()
            ),
        )),
        _ => Ok(()),
    }
}

/// For stores that resolve ids in-process: `request` on `collection` with every id read
/// through a [`LookupLocation`] (the request's own, each stage's own) replaced by the
/// vector read from that location; `None` when neither the request nor any stage has a
/// `lookup_from` (nothing to do).
///
/// As a Qdrant server does, the points left out of the results are only those referenced
/// in the queried collection itself: an id read from another collection names a point of
/// that collection, and a point of `collection` with the same id stays a candidate.
///
/// The points are read with `port.get`, so a lookup collection that does not exist is
/// `NotFound`, and so is an id it lacks or a point without the vector read (Qdrant's
/// answers). The resolved request has no `lookup_from` at any level; validate it as any
/// other.
pub async fn resolve_lookup<P: VectorPort + ?Sized>(
    port: &P,
    collection: &str,
    request: &QueryRequest,
) -> InfraResult<Option<QueryRequest>> {
    if !request.reads_other_collections() {
        return Ok(None);
    }
    let mut resolved = request.clone();
    // Every query with a location of its own: the request's, then each stage's, depth
    // first (without recursion in an async fn).
    let mut lookups: Vec<(LookupLocation, &mut Query)> = Vec::new();
    lookups.extend(
        resolved
            .lookup_from
            .take()
            .map(|location| (location, &mut resolved.query)),
    );
    let mut pending: Vec<&mut Prefetch> = resolved.prefetch.iter_mut().collect();
    while let Some(stage) = pending.pop() {
        let Prefetch {
            lookup_from,
            query,
            prefetch,
            ..
        } = stage;
        lookups.extend(lookup_from.take().map(|location| (location, query)));
        pending.extend(prefetch.iter_mut());
    }
    // Ids of the queried collection that became vectors: the engine no longer sees them
    // as references, so they are left out here.
    let mut ids = Vec::new();
    for (location, query) in lookups {
        let replaced = resolve_query(port, &location, query).await?;
        if location.collection == collection {
            ids.extend(replaced);
        }
    }
    ids.sort_unstable();
    ids.dedup();
    if !ids.is_empty() {
        resolved.filter = resolved.filter.must_not(Condition::HasId { ids });
    }
    Ok(Some(resolved))
}

/// Replaces every id `query` refers to by the vector `location` holds for it; returns the
/// ids replaced.
async fn resolve_query<P: VectorPort + ?Sized>(
    port: &P,
    location: &LookupLocation,
    query: &mut Query,
) -> InfraResult<Vec<PointId>> {
    const OP: &str = "query";
    location.validate(OP)?;
    let mut ids: Vec<PointId> = query.referenced_ids().collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(ids);
    }
    let records = port
        .get(&location.collection, &ids, true)
        .await
        .map_err(|err| err.with_operation(OP))?;
    let vector_name = location.vector_name();
    let vectors: HashMap<PointId, _> = records
        .into_iter()
        .filter_map(|record| {
            let vector = record.vectors?.get(vector_name)?.clone();
            Some((record.id, vector))
        })
        .collect();
    for input in query.inputs_mut() {
        if let VectorInput::Point(id) = *input {
            let vector = vectors
                .get(&id)
                .cloned()
                .ok_or_else(|| missing_in_lookup(id, vector_name, &location.collection))?;
            *input = VectorInput::Vector(vector);
        }
    }
    Ok(ids)
}

fn missing_in_lookup(id: PointId, vector: &str, collection: &str) -> InfraError {
    let what = if vector == UNNAMED_VECTOR {
        "the unnamed vector".to_owned()
    } else {
        format!("vector {vector:?}")
    };
    InfraError::new(
        ErrorKind::NotFound,
        VECTOR_BACKEND,
        "query",
        format!("no point with id {id} and {what} found in lookup collection {collection}"),
    )
}

/// For stores that group in-process: sets each group's `lookup` to the record of
/// `lookup.collection` whose id is the group's value (see [`WithLookup`]), read with one
/// `port.get`. A lookup collection that does not exist is `NotFound`.
pub async fn join_lookup<P: VectorPort + ?Sized>(
    port: &P,
    lookup: &WithLookup,
    groups: &mut [PointGroup],
) -> InfraResult<()> {
    const OP: &str = "query_groups";
    let ids: Vec<PointId> = groups.iter().filter_map(|g| g.id.as_point_id()).collect();
    let records = port
        .get(&lookup.collection, &ids, lookup.with_vector)
        .await
        .map_err(|err| err.with_operation(OP))?;
    let mut by_id: HashMap<PointId, Record> = records.into_iter().map(|r| (r.id, r)).collect();
    for group in groups {
        group.lookup = group
            .id
            .as_point_id()
            .and_then(|id| by_id.remove(&id))
            .map(|mut record| {
                record.payload = lookup
                    .with_payload
                    .select(&record.payload)
                    .unwrap_or_default();
                record
            });
    }
    Ok(())
}

impl Query {
    /// The vector inputs of this query itself (not of prefetch stages), to rewrite.
    fn inputs_mut(&mut self) -> Vec<&mut VectorInput> {
        match self {
            Query::Nearest(input) => vec![input],
            Query::Recommend(r) => r.positive.iter_mut().chain(&mut r.negative).collect(),
            Query::Fusion(_) => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vector::GroupId;

    #[test]
    fn locations_and_lookups_are_checked() {
        assert!(LookupLocation::new("docs").validate("query").is_ok());
        assert!(
            LookupLocation::new("docs")
                .vector("title")
                .validate("query")
                .is_ok()
        );
        for (location, what) in [
            (LookupLocation::new(""), "collection"),
            (LookupLocation::new("a/b"), "collection"),
            (
                LookupLocation::new("docs").vector("v".repeat(MAX_VECTOR_NAME_LEN + 1)),
                "vector name",
            ),
        ] {
            let err = location.validate("query").unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput);
            assert!(err.to_string().contains(what), "{what}: {err}");
        }
        assert!(WithLookup::new("docs").validate("query_groups").is_ok());
        let err = WithLookup::new("").validate("query_groups").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
    }

    #[test]
    fn group_values_name_points_as_qdrant_reads_them() {
        let uuid = uuid::Uuid::new_v4();
        assert_eq!(GroupId::Integer(7).as_point_id(), Some(PointId::Num(7)));
        assert_eq!(GroupId::Integer(-1).as_point_id(), None);
        assert_eq!(
            GroupId::Keyword(uuid.to_string()).as_point_id(),
            Some(PointId::Uuid(uuid))
        );
        assert_eq!(GroupId::Keyword("doc-1".into()).as_point_id(), None);
    }

    #[test]
    fn only_the_root_query_inputs_are_rewritten() {
        let mut query = Query::Recommend(crate::vector::Recommend {
            positive: vec![VectorInput::Point(PointId::Num(1))],
            negative: vec![VectorInput::Point(PointId::Num(2))],
            strategy: crate::vector::RecommendStrategy::AverageVector,
        });
        assert_eq!(query.inputs_mut().len(), 2);
        assert!(
            Query::Fusion(crate::vector::Fusion::RRF)
                .inputs_mut()
                .is_empty()
        );
    }
}
