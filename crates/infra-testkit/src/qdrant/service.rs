//! The three gRPC services (qdrant-client's generated server traits) over a `VectorPort`.
//!
//! Implemented: `qdrant.Qdrant/HealthCheck`; `qdrant.Collections/{Get, List, Create,
//! Delete, CollectionExists}` (collection info with its `payload_schema`);
//! `qdrant.Points/{Upsert, Get, Delete, Search, Query, Count, Scroll, SetPayload,
//! OverwritePayload, DeletePayload, ClearPayload, CreateFieldIndex, UpdateVectors}` with
//! the unnamed, named dense and named sparse vectors (a `nearest` query by `using`), and
//! the tuning and sharding of `Create` passed to the store (which refuses sharding, as
//! `UNIMPLEMENTED`). Everything else answers `UNIMPLEMENTED` (`DeleteFieldIndex` too: the
//! port cannot drop an index).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use infra_base::vector::{OrderBy, OrderDirection, StartFrom};
use infra_base::{
    CountRequest, ErrorKind, FacetRequest, FacetValue, Payload, PayloadUpdate, Point, PointVectors,
    ScrollPage, ScrollRequest, SearchQuery, SparseVector, Vector,
};
use qdrant_client::qdrant as pb;
use qdrant_client::qdrant::collections_server::Collections;
use qdrant_client::qdrant::points_server::Points;
use qdrant_client::qdrant::qdrant_server::Qdrant;
use tokio::sync::watch;
use tonic::{Request, Response, Status};

use super::Shared;
use super::convert::{self, unsupported};
use super::index;

/// The services of one run of the server (a restart makes new ones).
pub(super) struct Service {
    pub(super) shared: Arc<Shared>,
    /// Becomes `true` when this run stops, so that delayed calls end at once.
    pub(super) stopped: watch::Receiver<bool>,
}

/// Qdrant's default `limit` of a query.
const DEFAULT_LIMIT: u64 = 10;

fn elapsed(started: Instant) -> f64 {
    started.elapsed().as_secs_f64()
}

fn unimplemented(method: &str) -> Status {
    Status::unimplemented(format!(
        "the Qdrant test server does not implement {method}"
    ))
}

impl Service {
    /// Every alias of the store, or those of `collection`.
    async fn aliases(
        &self,
        collection: Option<String>,
    ) -> Result<Response<pb::ListAliasesResponse>, Status> {
        let started = Instant::now();
        let aliases = self
            .shared
            .store
            .list_aliases()
            .await
            .map_err(|err| convert::status(&err, ""))?;
        Ok(Response::new(pb::ListAliasesResponse {
            aliases: aliases
                .into_iter()
                .filter(|a| collection.as_ref().is_none_or(|c| *c == a.collection))
                .map(|a| pb::AliasDescription {
                    alias_name: a.alias,
                    collection_name: a.collection,
                })
                .collect(),
            time: elapsed(started),
        }))
    }

    /// What every call goes through: counting, the injected delay, the injected
    /// unavailability and the API key, in the order a network and a server would apply them.
    async fn enter<T>(&self, request: &Request<T>) -> Result<(), Status> {
        let shared = &self.shared;
        shared.calls.fetch_add(1, Ordering::Relaxed);
        let faults = shared.faults();
        if let Some(delay) = faults.delay {
            let mut stopped = self.stopped.clone();
            let stop = stopped.wait_for(|stopped| *stopped);
            if tokio::time::timeout(delay, stop).await.is_ok() {
                return Err(Status::unavailable("the Qdrant test server is stopping"));
            }
        }
        if faults.unavailable {
            return Err(Status::unavailable(
                "the Qdrant test server is unavailable (injected fault)",
            ));
        }
        if let Some(expected) = &shared.api_key {
            let given = request
                .metadata()
                .get("api-key")
                .and_then(|value| value.to_str().ok());
            if given != Some(expected.as_str()) {
                return Err(Status::unauthenticated(
                    "Must provide a valid API key in the api-key header",
                ));
            }
        }
        Ok(())
    }

    fn operation_id(&self) -> u64 {
        self.shared.operations.fetch_add(1, Ordering::Relaxed)
    }

    fn completed(&self, started: Instant) -> pb::PointsOperationResponse {
        pb::PointsOperationResponse {
            result: Some(pb::UpdateResult {
                operation_id: Some(self.operation_id()),
                status: pb::UpdateStatus::Completed.into(),
            }),
            time: elapsed(started),
            usage: None,
        }
    }

    /// Applies one payload update, as with `wait: true`.
    async fn update_payload(
        &self,
        collection: &str,
        selector: Option<pb::PointsSelector>,
        update: PayloadUpdate,
        started: Instant,
    ) -> Result<Response<pb::PointsOperationResponse>, Status> {
        let selector = convert::selector(selector)?;
        self.shared
            .store
            .update_payload(collection, &selector, &update)
            .await
            .map_err(|err| convert::status(&err, collection))?;
        Ok(Response::new(self.completed(started)))
    }

    /// `set_payload` and `overwrite_payload`, which share their message.
    async fn set_payload_with(
        &self,
        request: Request<pb::SetPayloadPoints>,
        update: fn(Payload) -> PayloadUpdate,
    ) -> Result<Response<pb::PointsOperationResponse>, Status> {
        self.enter(&request).await?;
        let started = Instant::now();
        let m = request.into_inner();
        if m.key.is_some() {
            return Err(unsupported("setting a payload under a key"));
        }
        let payload = update(convert::payload(m.payload));
        self.update_payload(&m.collection_name, m.points_selector, payload, started)
            .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn nearest(
        &self,
        collection: &str,
        vector: Vector,
        using: Option<String>,
        limit: u64,
        filter: Option<pb::Filter>,
        score_threshold: Option<f32>,
        params: Option<pb::SearchParams>,
        with_payload: Option<pb::WithPayloadSelector>,
        with_vectors: Option<pb::WithVectorsSelector>,
    ) -> Result<Vec<pb::ScoredPoint>, Status> {
        let query = SearchQuery {
            vector,
            using: using.filter(|name| !name.is_empty()),
            limit: usize::try_from(limit).unwrap_or(usize::MAX),
            score_threshold,
            filter: convert::filter(filter)?,
            with_payload: convert::with_payload(with_payload, false)?,
            with_vector: convert::with_vectors(with_vectors)?,
            exact: params.and_then(|p| p.exact).unwrap_or(false),
        };
        let hits = self
            .shared
            .store
            .search(collection, &query)
            .await
            .map_err(|err| convert::status(&err, collection))?;
        Ok(hits.into_iter().map(scored_point).collect())
    }
}

/// A port hit as Qdrant's.
fn scored_point(hit: infra_base::ScoredPoint) -> pb::ScoredPoint {
    pb::ScoredPoint {
        id: Some(convert::to_point_id(hit.id)),
        payload: hit.payload.map(convert::to_payload).unwrap_or_default(),
        score: hit.score,
        vectors: hit.vectors.map(convert::to_vectors),
        ..pb::ScoredPoint::default()
    }
}

/// Qdrant's record of a point, with its payload or none.
fn retrieved_point(record: infra_base::Record, with_payload: bool) -> pb::RetrievedPoint {
    pb::RetrievedPoint {
        id: Some(convert::to_point_id(record.id)),
        payload: if with_payload {
            convert::to_payload(record.payload)
        } else {
            HashMap::new()
        },
        vectors: record.vectors.map(convert::to_vectors),
        ..pb::RetrievedPoint::default()
    }
}

#[tonic::async_trait]
impl Qdrant for Service {
    async fn health_check(
        &self,
        request: Request<pb::HealthCheckRequest>,
    ) -> Result<Response<pb::HealthCheckReply>, Status> {
        self.shared.health_checks.fetch_add(1, Ordering::Relaxed);
        self.enter(&request).await?;
        Ok(Response::new(pb::HealthCheckReply {
            title: self.shared.title.clone(),
            version: self.shared.version.clone(),
            commit: None,
        }))
    }
}

/// Generates the methods this server does not implement, as the async-trait expansion of
/// `async fn name(&self, _: Request<Req>) -> Result<Response<Resp>, Status>` answering
/// `UNIMPLEMENTED` (one line per method instead of seven).
macro_rules! unimplemented_rpcs {
    ($service:literal: $($name:ident($req:ident) -> $resp:ident;)*) => {$(
        fn $name<'life0, 'async_trait>(
            &'life0 self,
            _request: Request<pb::$req>,
        ) -> Pin<Box<dyn Future<Output = Result<Response<pb::$resp>, Status>> + Send + 'async_trait>>
        where
            'life0: 'async_trait,
            Self: 'async_trait,
        {
            Box::pin(std::future::ready(Err(unimplemented(concat!(
                $service, "/", stringify!($name)
            )))))
        }
    )*};
}

#[tonic::async_trait]
impl Collections for Service {
    async fn get(
        &self,
        request: Request<pb::GetCollectionInfoRequest>,
    ) -> Result<Response<pb::GetCollectionInfoResponse>, Status> {
        self.enter(&request).await?;
        let started = Instant::now();
        let name = request.into_inner().collection_name;
        let info = self
            .shared
            .store
            .collection_info(&name)
            .await
            .map_err(|err| convert::status(&err, &name))?;
        Ok(Response::new(pb::GetCollectionInfoResponse {
            result: Some(convert::info(&info)),
            time: elapsed(started),
        }))
    }

    /// The store's collections.
    async fn list(
        &self,
        request: Request<pb::ListCollectionsRequest>,
    ) -> Result<Response<pb::ListCollectionsResponse>, Status> {
        self.enter(&request).await?;
        let started = Instant::now();
        let names = self
            .shared
            .store
            .list_collections()
            .await
            .map_err(|err| convert::status(&err, ""))?;
        Ok(Response::new(pb::ListCollectionsResponse {
            collections: names
                .into_iter()
                .map(|name| pb::CollectionDescription { name })
                .collect(),
            time: elapsed(started),
        }))
    }

    /// Like Qdrant: `ALREADY_EXISTS` for an existing collection, whatever its parameters.
    async fn create(
        &self,
        request: Request<pb::CreateCollection>,
    ) -> Result<Response<pb::CollectionOperationResponse>, Status> {
        self.enter(&request).await?;
        let started = Instant::now();
        let spec = convert::spec(request.get_ref())?;
        let store = &self.shared.store;
        let exists = match store.collection_info(&spec.name).await {
            Ok(_) => true,
            Err(err) if err.kind() == ErrorKind::NotFound => false,
            Err(err) => return Err(convert::status(&err, &spec.name)),
        };
        let outcome = if exists {
            infra_base::EnsureOutcome::AlreadyExists
        } else {
            store
                .ensure_collection(&spec)
                .await
                .map_err(|err| convert::status(&err, &spec.name))?
        };
        if outcome == infra_base::EnsureOutcome::AlreadyExists {
            return Err(Status::already_exists(format!(
                "Wrong input: Collection `{}` already exists!",
                spec.name
            )));
        }
        Ok(Response::new(pb::CollectionOperationResponse {
            result: true,
            time: elapsed(started),
        }))
    }

    async fn delete(
        &self,
        request: Request<pb::DeleteCollection>,
    ) -> Result<Response<pb::CollectionOperationResponse>, Status> {
        self.enter(&request).await?;
        let started = Instant::now();
        let name = request.into_inner().collection_name;
        let deleted = self
            .shared
            .store
            .delete_collection(&name)
            .await
            .map_err(|err| convert::status(&err, &name))?;
        Ok(Response::new(pb::CollectionOperationResponse {
            result: deleted,
            time: elapsed(started),
        }))
    }

    async fn collection_exists(
        &self,
        request: Request<pb::CollectionExistsRequest>,
    ) -> Result<Response<pb::CollectionExistsResponse>, Status> {
        self.enter(&request).await?;
        let started = Instant::now();
        let name = request.into_inner().collection_name;
        let exists = match self.shared.store.collection_info(&name).await {
            Ok(_) => true,
            Err(err) if err.kind() == ErrorKind::NotFound => false,
            Err(err) => return Err(convert::status(&err, &name)),
        };
        Ok(Response::new(pb::CollectionExistsResponse {
            result: Some(pb::CollectionExists { exists }),
            time: elapsed(started),
        }))
    }

    /// The store's own alias changes (all or none), in order.
    async fn update_aliases(
        &self,
        request: Request<pb::ChangeAliases>,
    ) -> Result<Response<pb::CollectionOperationResponse>, Status> {
        self.enter(&request).await?;
        let started = Instant::now();
        let changes = request
            .into_inner()
            .actions
            .into_iter()
            .map(convert::alias_change)
            .collect::<Result<Vec<_>, Status>>()?;
        self.shared
            .store
            .update_aliases(&changes)
            .await
            .map_err(|err| match err.kind() {
                ErrorKind::NotFound => Status::not_found(format!("Not found: {}", err.message())),
                ErrorKind::Conflict => {
                    Status::already_exists(format!("Wrong input: {}", err.message()))
                }
                _ => convert::status(&err, ""),
            })?;
        Ok(Response::new(pb::CollectionOperationResponse {
            result: true,
            time: elapsed(started),
        }))
    }

    async fn list_aliases(
        &self,
        request: Request<pb::ListAliasesRequest>,
    ) -> Result<Response<pb::ListAliasesResponse>, Status> {
        self.enter(&request).await?;
        self.aliases(None).await
    }

    async fn list_collection_aliases(
        &self,
        request: Request<pb::ListCollectionAliasesRequest>,
    ) -> Result<Response<pb::ListAliasesResponse>, Status> {
        self.enter(&request).await?;
        let collection = request.into_inner().collection_name;
        self.aliases(Some(collection)).await
    }

    unimplemented_rpcs! { "qdrant.Collections":
        update(UpdateCollection) -> CollectionOperationResponse;
        collection_cluster_info(CollectionClusterInfoRequest) -> CollectionClusterInfoResponse;
        update_collection_cluster_setup(UpdateCollectionClusterSetupRequest) -> UpdateCollectionClusterSetupResponse;
        create_shard_key(CreateShardKeyRequest) -> CreateShardKeyResponse;
        delete_shard_key(DeleteShardKeyRequest) -> DeleteShardKeyResponse;
        list_shard_keys(ListShardKeysRequest) -> ListShardKeysResponse;
    }
}

#[tonic::async_trait]
impl Points for Service {
    /// Always applied before answering, as with `wait: true`.
    async fn upsert(
        &self,
        request: Request<pb::UpsertPoints>,
    ) -> Result<Response<pb::PointsOperationResponse>, Status> {
        self.enter(&request).await?;
        let started = Instant::now();
        let message = request.into_inner();
        if message.update_filter.is_some() {
            return Err(unsupported("conditional upserts (update_filter)"));
        }
        let points = message
            .points
            .into_iter()
            .map(|p| {
                Ok(
                    Point::with_vectors(convert::point_id(p.id)?, convert::vectors(p.vectors)?)
                        .with_payload(convert::payload(p.payload)),
                )
            })
            .collect::<Result<Vec<_>, Status>>()?;
        let name = message.collection_name;
        self.shared
            .store
            .upsert(&name, points)
            .await
            .map_err(|err| convert::status(&err, &name))?;
        Ok(Response::new(self.completed(started)))
    }

    async fn delete(
        &self,
        request: Request<pb::DeletePoints>,
    ) -> Result<Response<pb::PointsOperationResponse>, Status> {
        self.enter(&request).await?;
        let started = Instant::now();
        let message = request.into_inner();
        let selector = convert::selector(message.points)?;
        let name = message.collection_name;
        self.shared
            .store
            .delete_points(&name, &selector)
            .await
            .map_err(|err| convert::status(&err, &name))?;
        Ok(Response::new(self.completed(started)))
    }

    async fn get(
        &self,
        request: Request<pb::GetPoints>,
    ) -> Result<Response<pb::GetResponse>, Status> {
        self.enter(&request).await?;
        let started = Instant::now();
        let message = request.into_inner();
        let with_payload = convert::with_payload(message.with_payload, true)?;
        let with_vectors = convert::with_vectors(message.with_vectors)?;
        let ids = message
            .ids
            .into_iter()
            .map(|id| convert::point_id(Some(id)))
            .collect::<Result<Vec<_>, Status>>()?;
        let name = message.collection_name;
        let records = self
            .shared
            .store
            .get(&name, &ids, with_vectors)
            .await
            .map_err(|err| convert::status(&err, &name))?;
        let result = records
            .into_iter()
            .map(|record| retrieved_point(record, with_payload))
            .collect();
        Ok(Response::new(pb::GetResponse {
            result,
            time: elapsed(started),
            usage: None,
        }))
    }

    /// The deprecated search, for clients that still call it.
    async fn search(
        &self,
        request: Request<pb::SearchPoints>,
    ) -> Result<Response<pb::SearchResponse>, Status> {
        self.enter(&request).await?;
        let started = Instant::now();
        let m = request.into_inner();
        if m.offset.unwrap_or(0) > 0 {
            return Err(unsupported("offsets"));
        }
        let vector = match m.sparse_indices {
            Some(indices) => Vector::Sparse(SparseVector::new(indices.data, m.vector)),
            None => Vector::Dense(m.vector),
        };
        let result = self
            .nearest(
                &m.collection_name,
                vector,
                m.vector_name,
                m.limit,
                m.filter,
                m.score_threshold,
                m.params,
                m.with_payload,
                m.with_vectors,
            )
            .await?;
        Ok(Response::new(pb::SearchResponse {
            result,
            time: elapsed(started),
            usage: None,
        }))
    }

    async fn count(
        &self,
        request: Request<pb::CountPoints>,
    ) -> Result<Response<pb::CountResponse>, Status> {
        self.enter(&request).await?;
        let started = Instant::now();
        let message = request.into_inner();
        let filter = convert::filter(message.filter)?;
        let name = message.collection_name;
        let request = CountRequest {
            filter,
            // Qdrant's default: exact.
            exact: message.exact.unwrap_or(true),
        };
        let count = self
            .shared
            .store
            .count_points(&name, &request)
            .await
            .map_err(|err| convert::status(&err, &name))?;
        Ok(Response::new(pb::CountResponse {
            result: Some(pb::CountResult { count }),
            time: elapsed(started),
            usage: None,
        }))
    }

    /// Facet counts through the store's `facet`, with Qdrant's defaults (10 values,
    /// approximate).
    async fn facet(
        &self,
        request: Request<pb::FacetCounts>,
    ) -> Result<Response<pb::FacetResponse>, Status> {
        use pb::facet_value::Variant;
        self.enter(&request).await?;
        let started = Instant::now();
        let message = request.into_inner();
        let limit = message.limit.map_or(Ok(FacetRequest::DEFAULT_LIMIT), |n| {
            usize::try_from(n)
                .map_err(|_| Status::invalid_argument(format!("facet limit {n} is too large")))
        })?;
        let facet = FacetRequest::new(message.key)
            .filter(convert::filter(message.filter)?)
            .limit(limit)
            .exact(message.exact.unwrap_or(false));
        let name = message.collection_name;
        let hits = self
            .shared
            .store
            .facet(&name, &facet)
            .await
            .map_err(|err| convert::status(&err, &name))?;
        let hits = hits
            .into_iter()
            .map(|hit| pb::FacetHit {
                value: Some(pb::FacetValue {
                    variant: Some(match hit.value {
                        FacetValue::Keyword(s) => Variant::StringValue(s),
                        FacetValue::Integer(n) => Variant::IntegerValue(n),
                        FacetValue::Bool(b) => Variant::BoolValue(b),
                    }),
                }),
                count: hit.count,
            })
            .collect();
        Ok(Response::new(pb::FacetResponse {
            hits,
            time: elapsed(started),
            usage: None,
        }))
    }

    /// The universal query, as far as the port models it (see `query.rs`).
    async fn query(
        &self,
        request: Request<pb::QueryPoints>,
    ) -> Result<Response<pb::QueryResponse>, Status> {
        self.enter(&request).await?;
        let started = Instant::now();
        let m = request.into_inner();
        let name = m.collection_name.clone();
        let query = super::query::request(m)?;
        let hits = self
            .shared
            .store
            .query(&name, &query)
            .await
            .map_err(|err| convert::status(&err, &name))?;
        Ok(Response::new(pb::QueryResponse {
            result: hits.into_iter().map(scored_point).collect(),
            time: elapsed(started),
            usage: None,
        }))
    }

    /// Each query through the store's `query_batch`.
    async fn query_batch(
        &self,
        request: Request<pb::QueryBatchPoints>,
    ) -> Result<Response<pb::QueryBatchResponse>, Status> {
        self.enter(&request).await?;
        let started = Instant::now();
        let m = request.into_inner();
        let name = m.collection_name;
        let requests = m
            .query_points
            .into_iter()
            .map(super::query::request)
            .collect::<Result<Vec<_>, _>>()?;
        let answers = self
            .shared
            .store
            .query_batch(&name, &requests)
            .await
            .map_err(|err| convert::status(&err, &name))?;
        Ok(Response::new(pb::QueryBatchResponse {
            result: answers
                .into_iter()
                .map(|hits| pb::BatchResult {
                    result: hits.into_iter().map(scored_point).collect(),
                })
                .collect(),
            time: elapsed(started),
            usage: None,
        }))
    }

    /// Groups through the store's `query_groups`.
    async fn query_groups(
        &self,
        request: Request<pb::QueryPointGroups>,
    ) -> Result<Response<pb::QueryGroupsResponse>, Status> {
        self.enter(&request).await?;
        let started = Instant::now();
        let m = request.into_inner();
        let name = m.collection_name.clone();
        let request = super::query::groups_request(m)?;
        let groups = self
            .shared
            .store
            .query_groups(&name, &request)
            .await
            .map_err(|err| convert::status(&err, &name))?;
        Ok(Response::new(pb::QueryGroupsResponse {
            result: Some(pb::GroupsResult {
                groups: groups
                    .into_iter()
                    .map(|group| pb::PointGroup {
                        id: Some(super::query::group_id(group.id)),
                        hits: group.hits.into_iter().map(scored_point).collect(),
                        lookup: group.lookup.map(|record| retrieved_point(record, true)),
                    })
                    .collect(),
            }),
            time: elapsed(started),
            usage: None,
        }))
    }

    /// Pages by id like Qdrant: `next_page_offset` is the first id of the next page, and
    /// an ordered scroll has none.
    async fn scroll(
        &self,
        request: Request<pb::ScrollPoints>,
    ) -> Result<Response<pb::ScrollResponse>, Status> {
        self.enter(&request).await?;
        let started = Instant::now();
        let m = request.into_inner();
        let order_by = match m.order_by {
            None => None,
            Some(order) => Some(OrderBy {
                start_from: match order.start_from.and_then(|s| s.value) {
                    None => None,
                    Some(pb::start_from::Value::Integer(value)) => Some(StartFrom::Integer(value)),
                    Some(pb::start_from::Value::Float(value)) => Some(StartFrom::Float(value)),
                    Some(_) => return Err(unsupported("a date-time order_by start_from")),
                },
                key: order.key,
                direction: match pb::Direction::try_from(order.direction.unwrap_or_default()) {
                    Ok(pb::Direction::Desc) => OrderDirection::Desc,
                    Ok(pb::Direction::Asc) => OrderDirection::Asc,
                    Err(_) => {
                        return Err(Status::invalid_argument(
                            "Wrong input: unknown order_by direction",
                        ));
                    }
                },
            }),
        };
        let scroll = ScrollRequest {
            filter: convert::filter(m.filter)?,
            // Out-of-range limits become usize::MAX, which the store refuses as too large.
            limit: usize::try_from(m.limit.map_or(DEFAULT_LIMIT, u64::from)).unwrap_or(usize::MAX),
            offset: m.offset.map(|id| convert::point_id(Some(id))).transpose()?,
            with_payload: convert::with_payload(m.with_payload, true)?,
            with_vector: convert::with_vectors(m.with_vectors)?,
            order_by,
        };
        let name = m.collection_name;
        let ScrollPage {
            points,
            next_page_offset,
        } = self
            .shared
            .store
            .scroll(&name, &scroll)
            .await
            .map_err(|err| convert::status(&err, &name))?;
        let result = points
            .into_iter()
            .map(|record| retrieved_point(record, true))
            .collect();
        Ok(Response::new(pb::ScrollResponse {
            next_page_offset: next_page_offset.map(convert::to_point_id),
            result,
            time: elapsed(started),
            usage: None,
        }))
    }

    async fn set_payload(
        &self,
        request: Request<pb::SetPayloadPoints>,
    ) -> Result<Response<pb::PointsOperationResponse>, Status> {
        self.set_payload_with(request, PayloadUpdate::Set).await
    }

    async fn overwrite_payload(
        &self,
        request: Request<pb::SetPayloadPoints>,
    ) -> Result<Response<pb::PointsOperationResponse>, Status> {
        self.set_payload_with(request, PayloadUpdate::Overwrite)
            .await
    }

    async fn delete_payload(
        &self,
        request: Request<pb::DeletePayloadPoints>,
    ) -> Result<Response<pb::PointsOperationResponse>, Status> {
        self.enter(&request).await?;
        let started = Instant::now();
        let m = request.into_inner();
        let update = PayloadUpdate::DeleteKeys(m.keys);
        self.update_payload(&m.collection_name, m.points_selector, update, started)
            .await
    }

    async fn clear_payload(
        &self,
        request: Request<pb::ClearPayloadPoints>,
    ) -> Result<Response<pb::PointsOperationResponse>, Status> {
        self.enter(&request).await?;
        let started = Instant::now();
        let m = request.into_inner();
        self.update_payload(&m.collection_name, m.points, PayloadUpdate::Clear, started)
            .await
    }

    /// Always applied before answering, as with `wait: true`.
    async fn update_vectors(
        &self,
        request: Request<pb::UpdatePointVectors>,
    ) -> Result<Response<pb::PointsOperationResponse>, Status> {
        self.enter(&request).await?;
        let started = Instant::now();
        let message = request.into_inner();
        if message.update_filter.is_some() {
            return Err(unsupported("conditional vector updates (update_filter)"));
        }
        let points = message
            .points
            .into_iter()
            .map(|p| {
                Ok(PointVectors::new(
                    convert::point_id(p.id)?,
                    convert::vectors(p.vectors)?,
                ))
            })
            .collect::<Result<Vec<_>, Status>>()?;
        let name = message.collection_name;
        self.shared
            .store
            .update_vectors(&name, &points)
            .await
            .map_err(|err| convert::status(&err, &name))?;
        Ok(Response::new(self.completed(started)))
    }

    /// Creates the index through `ensure_collection` with the collection's own schema and
    /// this one index (the store keeps the indexes it has, and answers `NOT_FOUND` for a
    /// missing collection, checked first). An index of another type on the field is
    /// refused (`FAILED_PRECONDITION`), where Qdrant would replace it: the port never
    /// changes an index's type.
    async fn create_field_index(
        &self,
        request: Request<pb::CreateFieldIndexCollection>,
    ) -> Result<Response<pb::PointsOperationResponse>, Status> {
        self.enter(&request).await?;
        let started = Instant::now();
        let index = index::requested(request.get_ref())?;
        let name = request.into_inner().collection_name;
        let store = &self.shared.store;
        let info = store
            .collection_info(&name)
            .await
            .map_err(|err| convert::status(&err, &name))?;
        // The collection's own name (`name` may be an alias) and its own vectors.
        let mut spec = infra_base::CollectionSpec::named(&info.name);
        spec.vectors = info.vectors;
        let spec = spec.with_index(index.field, index.index);
        match store.ensure_collection(&spec).await {
            Ok(_) => Ok(Response::new(self.completed(started))),
            Err(err) if err.kind() == ErrorKind::Conflict => Err(Status::failed_precondition(
                format!("Wrong input: {}", err.message()),
            )),
            Err(err) => Err(convert::status(&err, &name)),
        }
    }

    unimplemented_rpcs! { "qdrant.Points":
        delete_vectors(DeletePointVectors) -> PointsOperationResponse;
        delete_field_index(DeleteFieldIndexCollection) -> PointsOperationResponse;
        create_vector_name(CreateVectorNameRequest) -> PointsOperationResponse;
        delete_vector_name(DeleteVectorNameRequest) -> PointsOperationResponse;
        search_batch(SearchBatchPoints) -> SearchBatchResponse;
        search_groups(SearchPointGroups) -> SearchGroupsResponse;
        recommend(RecommendPoints) -> RecommendResponse;
        recommend_batch(RecommendBatchPoints) -> RecommendBatchResponse;
        recommend_groups(RecommendPointGroups) -> RecommendGroupsResponse;
        discover(DiscoverPoints) -> DiscoverResponse;
        discover_batch(DiscoverBatchPoints) -> DiscoverBatchResponse;
        update_batch(UpdateBatchPoints) -> UpdateBatchResponse;
        search_matrix_pairs(SearchMatrixPoints) -> SearchMatrixPairsResponse;
        search_matrix_offsets(SearchMatrixPoints) -> SearchMatrixOffsetsResponse;
    }
}
