//! Redis pub/sub: [`RedisSubscriber`] and the [`Subscription`] stream it returns.
//!
//! # Delivery contract
//!
//! Redis pub/sub is **at most once**: the server pushes a message to the connections
//! subscribed at that instant and keeps nothing. A message published while a subscriber is
//! disconnected (server restart, failover, network cut) is lost for it, and so is one the
//! server drops because the subscriber's output buffer grew past
//! `client-output-buffer-limit pubsub` (the server then closes the connection). On top of
//! that, every implementation of [`RedisSubscriber`] keeps this contract:
//!
//! - [`subscribe`](RedisSubscriber::subscribe) returns once the server confirmed every
//!   channel and pattern: a message published after it returns is delivered, unless one of
//!   the losses below happens;
//! - messages of one subscription arrive in the order the server sent them;
//! - after a lost connection the implementation reconnects, subscribes again to everything,
//!   and yields [`PubSubEvent::Gap`] before the first message received on the new
//!   connection: messages published in between are lost, and the gap says so;
//! - the buffer between the connection and the consumer is bounded
//!   ([`SubscribeOptions::buffer`]). When it is full, new messages are **dropped and
//!   counted**, never queued without bound and never blocking the connection; the consumer
//!   gets [`PubSubEvent::Lagged`] with the number dropped, at the place in the sequence
//!   where they were lost (after the messages buffered before them), like tokio's
//!   `broadcast` channel;
//! - dropping the [`Subscription`] (or [`Subscription::close`]) unsubscribes and frees its
//!   connection; closing the component that gave the subscriber ends every stream (the
//!   stream yields `None`).

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use async_trait::async_trait;
use futures_core::Stream;
use metrics::Counter;
use tokio::sync::Notify;

use crate::error::{ErrorKind, InfraError, InfraResult};
use crate::telemetry::{
    PUBSUB_MESSAGES_DROPPED, PUBSUB_MESSAGES_RECEIVED, PUBSUB_RECONNECTS, labels,
};

/// The buffer of a subscription when [`SubscribeOptions`] does not say otherwise.
pub const DEFAULT_BUFFER: usize = 1024;

/// The largest buffer a subscription accepts: a bound on what a slow consumer can pin in
/// memory (messages are up to 512 MB each in Redis; a buffer is counted in messages).
pub const MAX_BUFFER: usize = 1 << 20;

/// The channels, patterns and sharded channels of one subscription.
///
/// Channel names are exact; patterns are Redis glob patterns (`news.*`, `h?llo`, `[ab]c`,
/// `\` escapes), matched by the server against every published channel; sharded channels
/// ([`sharded`](Self::sharded)) are a Redis Cluster feature.
///
/// ```
/// use infra_base::redis::Topics;
///
/// let topics = Topics::new().channel("orders").pattern("audit.*");
/// assert_eq!(topics.channels(), ["orders"]);
/// assert_eq!(topics.patterns(), ["audit.*"]);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Topics {
    channels: Vec<String>,
    patterns: Vec<String>,
    sharded: Vec<String>,
}

impl Topics {
    /// No topic yet; add some with [`channel`](Self::channel) and
    /// [`pattern`](Self::pattern).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an exact channel (`SUBSCRIBE`). A name given twice is subscribed once.
    #[must_use]
    pub fn channel(mut self, name: impl Into<String>) -> Self {
        push_unique(&mut self.channels, name.into());
        self
    }

    /// Adds a glob pattern (`PSUBSCRIBE`). A pattern given twice is subscribed once.
    #[must_use]
    pub fn pattern(mut self, pattern: impl Into<String>) -> Self {
        push_unique(&mut self.patterns, pattern.into());
        self
    }

    /// Adds a sharded channel (`SSUBSCRIBE`, Redis 7): in a cluster, only the shard that
    /// owns the channel's slot carries it (published with `SPUBLISH`). The Redis adapter
    /// supports it in cluster mode only; elsewhere, and on `MemoryRedis`, a subscription
    /// that names one is refused as [`InvalidInput`](ErrorKind::InvalidInput).
    #[must_use]
    pub fn sharded(mut self, name: impl Into<String>) -> Self {
        push_unique(&mut self.sharded, name.into());
        self
    }

    /// The exact channels, in the order added.
    pub fn channels(&self) -> &[String] {
        &self.channels
    }

    /// The patterns, in the order added.
    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }

    /// The sharded channels, in the order added.
    pub fn sharded_channels(&self) -> &[String] {
        &self.sharded
    }

    /// Whether no channel, pattern or sharded channel was added.
    pub fn is_empty(&self) -> bool {
        self.channels.is_empty() && self.patterns.is_empty() && self.sharded.is_empty()
    }

    /// The check every [`RedisSubscriber`] makes before connecting: at least one topic.
    ///
    /// # Errors
    ///
    /// [`InvalidInput`](ErrorKind::InvalidInput) when no topic was added.
    pub fn validate(&self, backend: &'static str) -> InfraResult<()> {
        if self.is_empty() {
            return Err(InfraError::new(
                ErrorKind::InvalidInput,
                backend,
                "subscribe",
                "a subscription needs at least one channel or pattern",
            ));
        }
        Ok(())
    }

    /// Refuses sharded channels, for a subscriber that cannot subscribe to them; `context`
    /// says where (`"by MemoryRedis"`, `"outside cluster mode"`).
    ///
    /// # Errors
    ///
    /// [`InvalidInput`](ErrorKind::InvalidInput) when a sharded channel was added.
    pub fn refuse_sharded(&self, backend: &'static str, context: &str) -> InfraResult<()> {
        if self.sharded.is_empty() {
            return Ok(());
        }
        Err(InfraError::new(
            ErrorKind::InvalidInput,
            backend,
            "subscribe",
            format!(
                "sharded pub/sub (SSUBSCRIBE) is not supported {context}; subscribe to the \
                 channel with Topics::channel instead"
            ),
        ))
    }
}

fn push_unique(list: &mut Vec<String>, item: String) {
    if !list.contains(&item) {
        list.push(item);
    }
}

/// Options of [`RedisSubscriber::subscribe`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubscribeOptions {
    /// How many messages wait for the consumer before new ones are dropped and counted
    /// ([`PubSubEvent::Lagged`]). From 1 to [`MAX_BUFFER`]; [`DEFAULT_BUFFER`] by default.
    pub buffer: usize,
}

impl Default for SubscribeOptions {
    fn default() -> Self {
        Self {
            buffer: DEFAULT_BUFFER,
        }
    }
}

impl SubscribeOptions {
    /// Options with a buffer of `buffer` messages.
    pub fn with_buffer(buffer: usize) -> Self {
        Self { buffer }
    }

    /// Checks the buffer size.
    ///
    /// # Errors
    ///
    /// [`InvalidInput`](ErrorKind::InvalidInput) when the buffer is 0 or above
    /// [`MAX_BUFFER`].
    pub fn validate(&self, backend: &'static str) -> InfraResult<()> {
        if self.buffer == 0 || self.buffer > MAX_BUFFER {
            return Err(InfraError::new(
                ErrorKind::InvalidInput,
                backend,
                "subscribe",
                format!(
                    "the subscription buffer must be between 1 and {MAX_BUFFER} messages, got {}",
                    self.buffer
                ),
            ));
        }
        Ok(())
    }
}

/// One message received on a subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The channel it was published on.
    pub channel: String,
    /// The pattern that matched the channel, for a pattern subscription; `None` for an
    /// exact channel.
    pub pattern: Option<String>,
    /// The published bytes.
    pub payload: Vec<u8>,
}

/// What a [`Subscription`] yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PubSubEvent {
    /// A published message.
    Message(Message),
    /// The connection was lost and the subscription re-established: messages published
    /// during the outage were lost (Redis pub/sub keeps nothing for absent subscribers).
    Gap {
        /// How long the subscription was not listening: from the moment the loss was
        /// noticed to the moment the server confirmed the new subscriptions.
        outage: Duration,
    },
    /// The consumer was too slow: `dropped` messages did not fit the buffer and were
    /// discarded at this place of the sequence.
    Lagged {
        /// How many messages were discarded.
        dropped: u64,
    },
}

/// Subscribes to Redis channels and patterns: the pub/sub side of a
/// [`RedisPort`](super::RedisPort).
///
/// Every implementation keeps the module's delivery contract ([`crate::redis::pubsub`]):
/// at-most-once delivery, a [`PubSubEvent::Gap`] after a reconnection, a bounded buffer
/// with [`PubSubEvent::Lagged`], unsubscription on drop. Implementations use connections of
/// their own for subscriptions, never the one port calls share.
///
/// Use it as `Arc<dyn RedisSubscriber>`; see `MockRedisSubscriber` (feature `mock`) and
/// [`Subscription::channel`] to script a subscription in tests.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait RedisSubscriber: Send + Sync + 'static {
    /// Subscribes to `topics` and returns the stream of their events, once the server has
    /// confirmed every subscription.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for no topic, a buffer out of bounds, or a sharded channel where the
    /// implementation does not support them (before anything connects); `Unavailable`,
    /// `Timeout` or `Auth` when the connection or the subscription fails; `Unavailable`
    /// after the component was closed.
    async fn subscribe(
        &self,
        topics: &Topics,
        options: SubscribeOptions,
    ) -> InfraResult<Subscription>;
}

/// The state a [`Subscription`] and its [`SubscriptionFeed`] share.
struct Shared {
    inner: Mutex<Inner>,
    /// Set when the consumer dropped or closed its [`Subscription`].
    consumer_gone: AtomicBool,
    /// Wakes the producer waiting in [`SubscriptionFeed::closed`].
    gone: Notify,
}

struct Inner {
    queue: VecDeque<PubSubEvent>,
    /// Messages that count against `capacity` (gap and lag markers do not).
    messages: usize,
    capacity: usize,
    /// Dropped since the last `Lagged` event was queued.
    dropped: u64,
    /// The producer finished: the stream ends once the queue is drained.
    finished: bool,
    waker: Option<Waker>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn wake(mut inner: MutexGuard<'_, Inner>) {
    let waker = inner.waker.take();
    drop(inner);
    if let Some(waker) = waker {
        waker.wake();
    }
}

/// The stream of one subscription's events ([`PubSubEvent`]), in order.
///
/// It ends (`None`) when the subscription can no longer deliver: the component that gave
/// it was closed, or its producer stopped for good. Dropping it, or calling
/// [`close`](Self::close), unsubscribes and frees its connection.
///
/// Read it with `futures::StreamExt::next` or [`recv`](Self::recv):
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use infra_base::redis::{Message, PubSubEvent, Subscription};
///
/// let (feed, mut subscription) = Subscription::channel("redis", 2);
/// for i in 0..4u8 {
///     feed.message(Message { channel: "c".into(), pattern: None, payload: vec![i] });
/// }
/// // Two fit the buffer; the two others are dropped and reported in their place.
/// assert!(matches!(subscription.recv().await, Some(PubSubEvent::Message(m)) if m.payload == [0]));
/// assert!(matches!(subscription.recv().await, Some(PubSubEvent::Message(m)) if m.payload == [1]));
/// assert_eq!(subscription.recv().await, Some(PubSubEvent::Lagged { dropped: 2 }));
/// drop(feed);
/// assert_eq!(subscription.recv().await, None);
/// # });
/// ```
pub struct Subscription {
    shared: Arc<Shared>,
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.shared.lock();
        f.debug_struct("Subscription")
            .field("buffered", &inner.messages)
            .field("capacity", &inner.capacity)
            .field("finished", &inner.finished)
            .finish()
    }
}

impl Subscription {
    /// A new subscription stream with a buffer of `capacity` messages (at least 1), and the
    /// feed its producer writes to. Adapters use it; tests use it to script a subscription
    /// (for a `MockRedisSubscriber`, for instance). `backend` labels the metrics.
    pub fn channel(backend: &'static str, capacity: usize) -> (SubscriptionFeed, Subscription) {
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                queue: VecDeque::new(),
                messages: 0,
                capacity: capacity.max(1),
                dropped: 0,
                finished: false,
                waker: None,
            }),
            consumer_gone: AtomicBool::new(false),
            gone: Notify::new(),
        });
        let feed = SubscriptionFeed {
            shared: Arc::clone(&shared),
            received: metrics::counter!(PUBSUB_MESSAGES_RECEIVED, labels::DB_SYSTEM => backend),
            dropped: metrics::counter!(PUBSUB_MESSAGES_DROPPED, labels::DB_SYSTEM => backend),
            reconnected: metrics::counter!(PUBSUB_RECONNECTS, labels::DB_SYSTEM => backend),
        };
        (feed, Subscription { shared })
    }

    /// The next event; `None` once the stream has ended.
    pub async fn recv(&mut self) -> Option<PubSubEvent> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }

    /// Unsubscribes and frees the connection now (the same as dropping the subscription;
    /// the socket is closed in the background, the server forgets the subscriptions when
    /// it sees the close).
    pub fn close(self) {
        drop(self);
    }
}

impl Stream for Subscription {
    type Item = PubSubEvent;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<PubSubEvent>> {
        let mut inner = self.shared.lock();
        if let Some(event) = inner.queue.pop_front() {
            if matches!(event, PubSubEvent::Message(_)) {
                inner.messages -= 1;
            }
            return Poll::Ready(Some(event));
        }
        if inner.dropped > 0 {
            // Dropped after the last buffered message: reported where they were lost.
            let dropped = std::mem::take(&mut inner.dropped);
            return Poll::Ready(Some(PubSubEvent::Lagged { dropped }));
        }
        if inner.finished {
            return Poll::Ready(None);
        }
        match &inner.waker {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            _ => inner.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.shared.consumer_gone.store(true, Ordering::Release);
        // A stored permit: the producer sees it even if it is not waiting yet.
        self.shared.gone.notify_one();
    }
}

/// The producer's side of a [`Subscription`]: what an adapter's connection task writes to.
///
/// It never blocks: a message that does not fit the buffer is dropped and counted (the
/// consumer sees [`PubSubEvent::Lagged`]). Dropping the feed ends the stream once the
/// consumer has read what is buffered. It records
/// [`PUBSUB_MESSAGES_RECEIVED`], [`PUBSUB_MESSAGES_DROPPED`] and [`PUBSUB_RECONNECTS`].
pub struct SubscriptionFeed {
    shared: Arc<Shared>,
    received: Counter,
    dropped: Counter,
    reconnected: Counter,
}

impl fmt::Debug for SubscriptionFeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubscriptionFeed")
            .field("consumer_gone", &self.is_closed())
            .finish_non_exhaustive()
    }
}

impl SubscriptionFeed {
    /// Queues a received message, or drops and counts it when the buffer is full. Returns
    /// `false` when the consumer is gone (the producer should unsubscribe and stop).
    pub fn message(&self, message: Message) -> bool {
        if self.is_closed() {
            return false;
        }
        self.received.increment(1);
        let mut inner = self.shared.lock();
        if inner.messages >= inner.capacity {
            inner.dropped += 1;
            drop(inner);
            self.dropped.increment(1);
            return true;
        }
        if inner.dropped > 0 {
            let dropped = std::mem::take(&mut inner.dropped);
            inner.queue.push_back(PubSubEvent::Lagged { dropped });
        }
        inner.messages += 1;
        inner.queue.push_back(PubSubEvent::Message(message));
        wake(inner);
        true
    }

    /// Queues a [`PubSubEvent::Gap`]: the subscription was re-established after `outage`.
    /// Never dropped (it does not count against the buffer); consecutive gaps the consumer
    /// has not read yet merge into one. Returns `false` when the consumer is gone.
    pub fn gap(&self, outage: Duration) -> bool {
        if self.is_closed() {
            return false;
        }
        self.reconnected.increment(1);
        let mut inner = self.shared.lock();
        if inner.dropped > 0 {
            let dropped = std::mem::take(&mut inner.dropped);
            inner.queue.push_back(PubSubEvent::Lagged { dropped });
        }
        match inner.queue.back_mut() {
            Some(PubSubEvent::Gap { outage: pending }) => *pending += outage,
            _ => inner.queue.push_back(PubSubEvent::Gap { outage }),
        }
        wake(inner);
        true
    }

    /// Whether the consumer dropped or closed its [`Subscription`].
    pub fn is_closed(&self) -> bool {
        self.shared.consumer_gone.load(Ordering::Acquire)
    }

    /// Resolves once the consumer dropped or closed its [`Subscription`]: a producer waits
    /// for it beside its connection, to unsubscribe at once.
    pub async fn closed(&self) {
        while !self.is_closed() {
            self.shared.gone.notified().await;
        }
    }
}

impl Drop for SubscriptionFeed {
    fn drop(&mut self) {
        let mut inner = self.shared.lock();
        inner.finished = true;
        wake(inner);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(i: u8) -> Message {
        Message {
            channel: "c".into(),
            pattern: None,
            payload: vec![i],
        }
    }

    fn payload(event: Option<PubSubEvent>) -> u8 {
        match event {
            Some(PubSubEvent::Message(m)) => m.payload[0],
            other => panic!("a message expected, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn lag_is_reported_where_messages_were_lost() {
        let (feed, mut sub) = Subscription::channel("redis", 2);
        for i in 0..5 {
            assert!(feed.message(msg(i)));
        }
        assert_eq!(payload(sub.recv().await), 0);
        // One slot free: the pending loss is queued before the next message.
        assert!(feed.message(msg(5)));
        assert_eq!(payload(sub.recv().await), 1);
        assert_eq!(sub.recv().await, Some(PubSubEvent::Lagged { dropped: 3 }));
        assert_eq!(payload(sub.recv().await), 5);
        drop(feed);
        assert_eq!(sub.recv().await, None);
    }

    #[tokio::test]
    async fn gaps_are_never_dropped_and_merge() {
        let (feed, mut sub) = Subscription::channel("redis", 1);
        assert!(feed.message(msg(0)));
        assert!(feed.message(msg(1)));
        assert!(feed.gap(Duration::from_millis(10)));
        assert!(feed.gap(Duration::from_millis(5)));
        assert_eq!(payload(sub.recv().await), 0);
        assert_eq!(sub.recv().await, Some(PubSubEvent::Lagged { dropped: 1 }));
        assert_eq!(
            sub.recv().await,
            Some(PubSubEvent::Gap {
                outage: Duration::from_millis(15)
            })
        );
        assert!(feed.message(msg(2)));
        assert_eq!(payload(sub.recv().await), 2);
    }

    #[tokio::test]
    async fn dropping_the_subscription_tells_the_producer() {
        let (feed, sub) = Subscription::channel("redis", 4);
        assert!(!feed.is_closed());
        let waiter = tokio::spawn(async move {
            feed.closed().await;
            feed.message(msg(0))
        });
        sub.close();
        assert!(!waiter.await.unwrap(), "a message after close is refused");
    }

    #[tokio::test]
    async fn a_pending_consumer_is_woken() {
        let (feed, mut sub) = Subscription::channel("redis", 4);
        let reader = tokio::spawn(async move { sub.recv().await });
        tokio::task::yield_now().await;
        feed.message(msg(7));
        assert_eq!(payload(reader.await.unwrap()), 7);
    }

    #[cfg(feature = "mock")]
    #[tokio::test]
    async fn a_mocked_subscriber_hands_out_a_scripted_subscription() {
        let (feed, scripted) = Subscription::channel("redis", 4);
        let mut mock = MockRedisSubscriber::new();
        mock.expect_subscribe()
            .withf(|topics, options| topics.channels() == ["orders"] && options.buffer == 4)
            .return_once(move |_, _| Ok(scripted));
        let subscriber: Arc<dyn RedisSubscriber> = Arc::new(mock);
        let topics = Topics::new().channel("orders");
        let mut sub = subscriber
            .subscribe(&topics, SubscribeOptions::with_buffer(4))
            .await
            .unwrap();
        assert!(feed.message(msg(1)));
        assert!(feed.gap(Duration::from_secs(1)));
        drop(feed);
        assert_eq!(payload(sub.recv().await), 1);
        assert_eq!(
            sub.recv().await,
            Some(PubSubEvent::Gap {
                outage: Duration::from_secs(1)
            })
        );
        assert_eq!(sub.recv().await, None);
    }

    #[test]
    fn topics_and_options_are_checked() {
        let err = Topics::new().validate("redis").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.message().contains("at least one"), "{err}");
        let sharded = Topics::new().sharded("s");
        assert!(sharded.validate("redis").is_ok());
        let err = sharded.refuse_sharded("redis", "here").unwrap_err();
        assert!(
            err.message().contains("SSUBSCRIBE) is not supported here"),
            "{err}"
        );
        assert!(
            Topics::new()
                .channel("c")
                .refuse_sharded("redis", "here")
                .is_ok()
        );
        let topics = Topics::new().channel("a").channel("a").pattern("p*");
        assert_eq!(topics.channels(), ["a"]);
        assert!(topics.validate("redis").is_ok());
        for bad in [0, MAX_BUFFER + 1] {
            let err = SubscribeOptions::with_buffer(bad)
                .validate("redis")
                .unwrap_err();
            assert!(err.message().contains("between 1 and"), "{err}");
        }
        assert!(SubscribeOptions::default().validate("redis").is_ok());
    }
}
