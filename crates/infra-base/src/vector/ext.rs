//! Conveniences over [`VectorPort`], available on every port (including `dyn VectorPort`).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use async_trait::async_trait;
use futures_core::Stream;

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
    /// cursor loop of [`scroll`](VectorPort::scroll) written once, as a [`Stream`] of pages
    /// (or with [`next_page`](ScrollPages::next_page) without the `futures` crate). Memory
    /// stays bounded by one page (`request.limit` points); nothing is sent until the first
    /// page is asked for.
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
            in_flight: None,
        }
    }
}

impl<P: VectorPort + ?Sized> VectorPortExt for P {}

/// The `scroll` call of the page being fetched.
type PageFuture<'a> = Pin<Box<dyn Future<Output = InfraResult<ScrollPage>> + Send + 'a>>;

/// The pages of a scroll, fetched one at a time, as a [`Stream`] of `InfraResult<ScrollPage>`
/// (see [`VectorPortExt::scroll_all`]).
///
/// After a failed call the walk resumes where it was on the next poll (the cursor advances
/// only on success), so a caller may retry; after `order_by` is refused, or the store
/// returns a cursor that does not advance (`Internal`), the stream has ended.
pub struct ScrollPages<'a, P: ?Sized> {
    port: &'a P,
    collection: String,
    request: ScrollRequest,
    done: bool,
    in_flight: Option<PageFuture<'a>>,
}

impl<P: ?Sized> fmt::Debug for ScrollPages<'_, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScrollPages")
            .field("collection", &self.collection)
            .field("request", &self.request)
            .field("done", &self.done)
            .field("in_flight", &self.in_flight.is_some())
            .finish_non_exhaustive()
    }
}

impl<P: VectorPort + ?Sized> ScrollPages<'_, P> {
    /// The next page; `None` once the last page was returned. A page may be empty only
    /// when nothing matches.
    ///
    /// # Errors
    ///
    /// The `scroll` call's error; `InvalidInput` for a request with `order_by`; `Internal`
    /// when the store returns a cursor that does not advance.
    pub async fn next_page(&mut self) -> InfraResult<Option<ScrollPage>> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx))
            .await
            .transpose()
    }

    /// Takes in a page: advances the cursor or ends the walk.
    fn receive(&mut self, page: &ScrollPage) -> InfraResult<()> {
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
        Ok(())
    }
}

impl<'a, P: VectorPort + ?Sized> Stream for ScrollPages<'a, P> {
    type Item = InfraResult<ScrollPage>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.in_flight.is_none() {
            if this.done {
                return Poll::Ready(None);
            }
            if this.request.order_by.is_some() {
                this.done = true;
                return Poll::Ready(Some(Err(invalid(
                    "scroll",
                    "scroll_all walks pages by id and cannot follow order_by (an ordered \
                     scroll has no cursor): call scroll for one ordered page",
                ))));
            }
            let port: &'a P = this.port;
            let (collection, request) = (this.collection.clone(), this.request.clone());
            this.in_flight = Some(Box::pin(
                async move { port.scroll(&collection, &request).await },
            ));
        }
        let Some(in_flight) = this.in_flight.as_mut() else {
            return Poll::Ready(None);
        };
        let result = std::task::ready!(in_flight.as_mut().poll(cx));
        this.in_flight = None;
        Poll::Ready(Some(
            result.and_then(|page| this.receive(&page).map(|()| page)),
        ))
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
                    vectors: None,
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
