//! [`Layered`] as a [`VectorPort`]: each method hands its descriptor and its call to the layer.
//!
//! `delete` and `count` are not overridden: the trait's defaults hand them to
//! `delete_points` and `count_points`, so each runs through the layer once, as those.

use std::future::Future;
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;

use super::{Layer, Layered};
use crate::error::{ErrorKind, InfraError, InfraResult};
use crate::vector::{
    Alias, AliasChange, CollectionInfo, CollectionSpec, CountRequest, EnsureOutcome, FacetHit,
    FacetRequest, GroupsRequest, PayloadUpdate, Point, PointGroup, PointId, PointSelector,
    PointVectors, QueryRequest, Record, ScoredPoint, ScrollPage, ScrollRequest, SearchQuery,
    VECTOR_BACKEND, VectorPort, WriteOptions, ops,
};

impl<P: VectorPort + ?Sized, L: Layer> Layered<P, L> {
    /// Runs an upsert of `points` through the layer, `send` making one attempt.
    ///
    /// Each attempt needs its own batch: every attempt but the last the layers declared
    /// sends a clone, the last one takes the points. A layer that calls more often than
    /// it declared gets an error, never an empty batch.
    async fn upsert_through_layer<'a, F, Fut>(
        &'a self,
        points: Vec<Point>,
        send: F,
    ) -> InfraResult<()>
    where
        F: Fn(Vec<Point>) -> Fut + Send + Sync + 'a,
        Fut: Future<Output = InfraResult<()>> + Send + 'a,
    {
        let batch = Mutex::new((self.layer.max_attempts(&ops::UPSERT), Some(points)));
        let send = &send;
        self.call(&ops::UPSERT, || {
            let mut guard = batch.lock().unwrap_or_else(PoisonError::into_inner);
            let (attempts_left, points) = &mut *guard;
            *attempts_left = attempts_left.saturating_sub(1);
            let points = if *attempts_left == 0 {
                points.take()
            } else {
                points.clone()
            };
            drop(guard);
            async move {
                let Some(points) = points else {
                    return Err(InfraError::new(
                        ErrorKind::Internal,
                        VECTOR_BACKEND,
                        ops::UPSERT.name,
                        "a layer attempted the upsert more often than its max_attempts",
                    ));
                };
                send(points).await
            }
        })
        .await
    }
}

#[async_trait]
impl<P: VectorPort + ?Sized, L: Layer> VectorPort for Layered<P, L> {
    async fn ping(&self) -> InfraResult<()> {
        self.call(&ops::PING, || self.inner.ping()).await
    }

    async fn ensure_collection(&self, spec: &CollectionSpec) -> InfraResult<EnsureOutcome> {
        self.call(&ops::ENSURE_COLLECTION, || {
            self.inner.ensure_collection(spec)
        })
        .await
    }

    async fn collection_info(&self, name: &str) -> InfraResult<CollectionInfo> {
        self.call(&ops::COLLECTION_INFO, || self.inner.collection_info(name))
            .await
    }

    async fn delete_collection(&self, name: &str) -> InfraResult<bool> {
        self.call(&ops::DELETE_COLLECTION, || {
            self.inner.delete_collection(name)
        })
        .await
    }

    async fn upsert(&self, collection: &str, points: Vec<Point>) -> InfraResult<()> {
        self.upsert_through_layer(points, |points| self.inner.upsert(collection, points))
            .await
    }

    async fn upsert_with(
        &self,
        collection: &str,
        points: Vec<Point>,
        options: &WriteOptions,
    ) -> InfraResult<()> {
        self.upsert_through_layer(points, |points| {
            self.inner.upsert_with(collection, points, options)
        })
        .await
    }

    async fn get(
        &self,
        collection: &str,
        ids: &[PointId],
        with_vector: bool,
    ) -> InfraResult<Vec<Record>> {
        self.call(&ops::GET, || self.inner.get(collection, ids, with_vector))
            .await
    }

    async fn delete_points(&self, collection: &str, selector: &PointSelector) -> InfraResult<()> {
        self.call(&ops::DELETE_POINTS, || {
            self.inner.delete_points(collection, selector)
        })
        .await
    }

    async fn update_vectors(&self, collection: &str, points: &[PointVectors]) -> InfraResult<()> {
        self.call(&ops::UPDATE_VECTORS, || {
            self.inner.update_vectors(collection, points)
        })
        .await
    }

    async fn search(&self, collection: &str, query: &SearchQuery) -> InfraResult<Vec<ScoredPoint>> {
        self.call(&ops::SEARCH, || self.inner.search(collection, query))
            .await
    }

    async fn query(
        &self,
        collection: &str,
        request: &QueryRequest,
    ) -> InfraResult<Vec<ScoredPoint>> {
        self.call(&ops::QUERY, || self.inner.query(collection, request))
            .await
    }

    async fn query_batch(
        &self,
        collection: &str,
        requests: &[QueryRequest],
    ) -> InfraResult<Vec<Vec<ScoredPoint>>> {
        self.call(&ops::QUERY_BATCH, || {
            self.inner.query_batch(collection, requests)
        })
        .await
    }

    async fn query_groups(
        &self,
        collection: &str,
        request: &GroupsRequest,
    ) -> InfraResult<Vec<PointGroup>> {
        self.call(&ops::QUERY_GROUPS, || {
            self.inner.query_groups(collection, request)
        })
        .await
    }

    async fn count_points(&self, collection: &str, request: &CountRequest) -> InfraResult<u64> {
        self.call(&ops::COUNT, || self.inner.count_points(collection, request))
            .await
    }

    async fn facet(&self, collection: &str, request: &FacetRequest) -> InfraResult<Vec<FacetHit>> {
        self.call(&ops::FACET, || self.inner.facet(collection, request))
            .await
    }

    async fn scroll(&self, collection: &str, request: &ScrollRequest) -> InfraResult<ScrollPage> {
        self.call(&ops::SCROLL, || self.inner.scroll(collection, request))
            .await
    }

    async fn update_payload(
        &self,
        collection: &str,
        selector: &PointSelector,
        update: &PayloadUpdate,
    ) -> InfraResult<()> {
        self.call(&ops::UPDATE_PAYLOAD, || {
            self.inner.update_payload(collection, selector, update)
        })
        .await
    }

    async fn list_collections(&self) -> InfraResult<Vec<String>> {
        self.call(&ops::LIST_COLLECTIONS, || self.inner.list_collections())
            .await
    }

    async fn update_aliases(&self, changes: &[AliasChange]) -> InfraResult<()> {
        self.call(&ops::UPDATE_ALIASES, || self.inner.update_aliases(changes))
            .await
    }

    async fn list_aliases(&self) -> InfraResult<Vec<Alias>> {
        self.call(&ops::LIST_ALIASES, || self.inner.list_aliases())
            .await
    }
}
