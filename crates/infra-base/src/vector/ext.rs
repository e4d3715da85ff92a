//! Conveniences over [`VectorPort`], available on every port (including `dyn VectorPort`).

use async_trait::async_trait;

use super::types::invalid;
use super::{Point, PointId, Record, ScrollPage, ScrollRequest, VECTOR_BACKEND, VectorPort};
use crate::error::{ErrorKind, InfraError, InfraResult};

/// Batching, single-point and paging helpers for any [`VectorPort`].
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

    /// Every point matching `request.filter`, page by page from `request.offset`: the
    /// cursor loop of [`scroll`](VectorPort::scroll) written once. Memory stays bounded by
    /// one page (`request.limit` points); nothing is sent until the first
    /// [`next_page`](ScrollPages::next_page).
    ///
    /// A request with `order_by` is refused by the first `next_page` as `InvalidInput`:
    /// an ordered scroll has no cursor, so it cannot walk every point (use `scroll`).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use infra_base::{CollectionSpec, Distance, Point, VectorPort, VectorPortExt};
    /// use infra_base::vector::ScrollRequest;
    /// use infra_base::testing::MemoryVector;
    ///
    /// let store = MemoryVector::new();
    /// store.ensure_collection(&CollectionSpec::new("items", 1, Distance::Dot)).await?;
    /// store.upsert("items", (1..=5).map(|i| Point::new(i, vec![1.0])).collect()).await?;
    /// let mut pages = store.scroll_all("items", ScrollRequest::new(2));
    /// let mut seen = 0;
    /// while let Some(page) = pages.next_page().await? {
    ///     seen += page.points.len();
    /// }
    /// assert_eq!(seen, 5);
    /// # Ok::<(), infra_base::InfraError>(())
    /// # }).unwrap();
    /// ```
    fn scroll_all<'a>(&'a self, collection: &str, request: ScrollRequest) -> ScrollPages<'a, Self> {
        ScrollPages {
            port: self,
            collection: collection.to_owned(),
            request,
            done: false,
        }
    }
}

impl<P: VectorPort + ?Sized> VectorPortExt for P {}

/// The pages of a scroll, fetched one at a time; see [`VectorPortExt::scroll_all`].
#[derive(Debug)]
pub struct ScrollPages<'a, P: ?Sized> {
    port: &'a P,
    collection: String,
    request: ScrollRequest,
    done: bool,
}

impl<P: VectorPort + ?Sized> ScrollPages<'_, P> {
    /// The next page; `None` once the last page was returned. A page may be empty only
    /// when nothing matches. After a failed call the walk resumes where it was on the next
    /// call (the cursor advances only on success); after `order_by` is refused, or the
    /// store returns a cursor that does not advance (`Internal`), the walk has ended.
    pub async fn next_page(&mut self) -> InfraResult<Option<ScrollPage>> {
        if self.done {
            return Ok(None);
        }
        if self.request.order_by.is_some() {
            self.done = true;
            return Err(invalid(
                "scroll",
                "scroll_all walks pages by id and cannot follow order_by (an ordered scroll \
                 has no cursor): call scroll for one ordered page",
            ));
        }
        let page = self.port.scroll(&self.collection, &self.request).await?;
        match page.next_page_offset {
            None => self.done = true,
            Some(next) if Some(next) == self.request.offset => {
                // A cursor that does not advance would loop forever.
                self.done = true;
                return Err(InfraError::new(
                    ErrorKind::Internal,
                    VECTOR_BACKEND,
                    "scroll",
                    format!("the store returned the page's own offset {next} as the next one"),
                ));
            }
            Some(next) => self.request.offset = Some(next),
        }
        Ok(Some(page))
    }
}

#[cfg(all(test, feature = "mock"))]
mod tests {
    use super::*;
    use crate::vector::{MockVectorPort, OrderBy};

    fn page(ids: &[u64], next: Option<u64>) -> ScrollPage {
        ScrollPage {
            points: ids
                .iter()
                .map(|id| Record {
                    id: PointId::Num(*id),
                    payload: crate::vector::Payload::new(),
                    vector: None,
                })
                .collect(),
            next_page_offset: next.map(PointId::Num),
        }
    }

    #[tokio::test]
    async fn scroll_all_follows_the_cursor_and_stops_after_the_last_page() {
        let mut mock = MockVectorPort::new();
        let mut seq = mockall::Sequence::new();
        for (offset, reply) in [(None, page(&[1, 2], Some(3))), (Some(3), page(&[3], None))] {
            mock.expect_scroll()
                .withf(move |c, r| c == "items" && r.offset == offset.map(PointId::Num))
                .times(1)
                .in_sequence(&mut seq)
                .return_once(move |_, _| Ok(reply));
        }
        let mut pages = mock.scroll_all("items", ScrollRequest::new(2));
        assert_eq!(
            pages.next_page().await.unwrap(),
            Some(page(&[1, 2], Some(3)))
        );
        assert_eq!(pages.next_page().await.unwrap(), Some(page(&[3], None)));
        assert_eq!(pages.next_page().await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_cursor_that_does_not_advance_is_an_error_not_a_loop() {
        let mut mock = MockVectorPort::new();
        mock.expect_scroll()
            .times(1)
            .returning(|_, _| Ok(page(&[5], Some(5))));
        let request = ScrollRequest::new(1).offset(Some(PointId::Num(5)));
        let mut pages = mock.scroll_all("items", request);
        let err = pages.next_page().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Internal);
        assert_eq!(pages.next_page().await.unwrap(), None, "the walk ended");
    }

    #[tokio::test]
    async fn order_by_is_refused_before_anything_is_sent() {
        let mock = MockVectorPort::new();
        let request = ScrollRequest::new(3).order_by(OrderBy::asc("price"));
        let err = mock
            .scroll_all("items", request)
            .next_page()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.message().contains("order_by"), "{}", err.message());
    }
}
