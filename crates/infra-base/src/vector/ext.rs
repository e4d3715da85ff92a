//! Conveniences over [`VectorPort`], available on every port (including `dyn VectorPort`).

use async_trait::async_trait;

use super::{Point, PointId, Record, VectorPort};
use crate::error::InfraResult;

/// Batching and single-point helpers for any [`VectorPort`].
#[async_trait]
pub trait VectorPortExt: VectorPort {
    /// Upserts `points` in batches of at most `batch_size` (at least 1), so a large import
    /// never builds one huge request. Stops at the first failing batch; earlier batches
    /// stay written.
    async fn upsert_in_batches(
        &self,
        collection: &str,
        points: Vec<Point>,
        batch_size: usize,
    ) -> InfraResult<()> {
        let batch_size = batch_size.max(1);
        let mut points = points.into_iter().peekable();
        while points.peek().is_some() {
            let batch: Vec<Point> = points.by_ref().take(batch_size).collect();
            self.upsert(collection, batch).await?;
        }
        Ok(())
    }

    /// Reads one point; `None` when it does not exist.
    async fn get_one(
        &self,
        collection: &str,
        id: PointId,
        with_vector: bool,
    ) -> InfraResult<Option<Record>> {
        Ok(self
            .get(collection, &[id], with_vector)
            .await?
            .into_iter()
            .next())
    }
}

impl<P: VectorPort + ?Sized> VectorPortExt for P {}
