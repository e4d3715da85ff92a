//! Subscriptions: [`RedisSubscriber`] on connections of their own.
//!
//! Each [`subscribe`](RedisSubscriber::subscribe) opens one dedicated connection (redis-rs'
//! [`redis::aio::PubSub`], RESP2 or RESP3 alike), subscribes to every channel and pattern,
//! and hands the connection to a background task that moves messages into the
//! subscription's bounded buffer ([`SubscriptionFeed`]). Subscriptions never use the shared
//! multiplexed connection of port calls nor the pool: a subscribed connection accepts no
//! other command, and a slow consumer must not hold a pooled socket.
//!
//! A subscription with sharded channels (`SSUBSCRIBE`, cluster mode only) uses a RESP3
//! cluster connection of its own instead (redis-rs' `ClusterConnection` with a push sender):
//! one `SSUBSCRIBE` per channel, each routed to the shard that owns its slot, plain channels
//! and patterns on the same connection. redis-rs reports a node's lost connection as a
//! `Disconnection` push; the task then starts over on a fresh cluster connection, as below
//! (redis-rs' own resubscription does not come back when the node is down for a while).
//! Outside cluster mode, sharded channels are refused as `InvalidInput`.
//!
//! The task:
//! - pings the server every [`SUBSCRIPTION_PING_INTERVAL`] (bounded by the command
//!   timeout), so that a server that hangs or a cut that sends no reset is noticed, not
//!   waited on forever;
//! - when the connection is lost (closed, reset, ping failed, a cluster node lost),
//!   reconnects with the settings' retry backoff (`retry.base_delay` doubling up to
//!   `retry.max_delay`, with jitter) for as long as it takes, subscribes again to
//!   everything, and queues a [`Gap`](infra_base::redis::PubSubEvent::Gap) with the
//!   outage's length. In sentinel mode every connection asks the sentinels for the primary
//!   first, so it follows a failover; in cluster mode it tries the next seed node (a plain
//!   `PUBLISH` reaches every node);
//! - stops, closing the socket (which unsubscribes), when the [`Subscription`] is dropped,
//!   and ends the stream when the adapter is closed
//!   ([`Lifecycle::close`](infra_base::Lifecycle::close)).

use std::fmt;
use std::future::poll_fn;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_core::Stream;
use infra_base::redis::{
    Message, RedisSubscriber, SubscribeOptions, Subscription, SubscriptionFeed, Topics,
};
use infra_base::resilience::RetryPolicy;
use infra_base::{ErrorKind, InfraError, InfraResult, REDIS_BACKEND};
use redis::aio::{PubSubSink, PubSubStream};
use redis::cluster::{ClusterClient, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::sentinel::SentinelClient;
use redis::{Msg, PushInfo, PushKind};
use tokio::sync::{Mutex, mpsc, watch};
use tokio::time::{Instant, MissedTickBehavior, timeout};

use crate::config::PubSubTarget;
use crate::error::map_redis_error;

/// How often a subscription checks that its server still answers (`PING`, bounded by the
/// command timeout): a server that hangs or a cut that sends no reset is noticed within
/// this interval plus the command timeout.
pub const SUBSCRIPTION_PING_INTERVAL: Duration = Duration::from_secs(5);

const OPERATION: &str = "subscribe";

/// Where subscriptions connect, with a lock around the sentinel client (it needs `&mut`
/// to look the primary up).
enum Source {
    Standalone(redis::Client),
    Sentinel(Mutex<SentinelClient>),
    Cluster {
        seeds: Vec<redis::Client>,
        /// The seed the next connection tries first (round robin).
        next: AtomicUsize,
        /// RESP3 cluster client for subscriptions with sharded channels.
        sharded: ClusterClient,
    },
}

/// What every subscription of one adapter shares: where to connect, the timeouts, the
/// backoff, and the adapter's closed signal.
pub(crate) struct PubSub {
    source: Source,
    endpoint: Arc<str>,
    connect_timeout: Duration,
    command_timeout: Duration,
    backoff: RetryPolicy,
    /// `true` once the adapter is closed: every task ends its stream.
    closed: watch::Sender<bool>,
}

impl fmt::Debug for PubSub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PubSub")
            .field("endpoint", &self.endpoint)
            .field("subscriptions", &self.closed.receiver_count())
            .finish_non_exhaustive()
    }
}

/// One subscribed connection.
enum Connection {
    /// A connection to one server: redis-rs' sink (for pings) and message stream.
    Single {
        sink: PubSubSink,
        stream: PubSubStream,
    },
    /// A RESP3 cluster connection (sharded subscriptions): redis-rs connects to the nodes
    /// the channels need and pushes messages (and lost node connections) to `pushes`.
    Cluster {
        conn: ClusterConnection,
        pushes: mpsc::UnboundedReceiver<PushInfo>,
    },
}

impl PubSub {
    pub(crate) fn new(
        target: PubSubTarget,
        endpoint: Arc<str>,
        connect_timeout: Duration,
        command_timeout: Duration,
        retry_base_delay: Duration,
        retry_max_delay: Duration,
    ) -> Self {
        let source = match target {
            PubSubTarget::Standalone(client) => Source::Standalone(client),
            PubSubTarget::Sentinel(client) => Source::Sentinel(Mutex::new(client)),
            PubSubTarget::Cluster { seeds, sharded } => Source::Cluster {
                seeds,
                next: AtomicUsize::new(0),
                sharded,
            },
        };
        Self {
            source,
            endpoint,
            connect_timeout,
            command_timeout,
            backoff: RetryPolicy::new(
                u32::MAX,
                retry_base_delay,
                retry_max_delay.max(retry_base_delay),
            ),
            closed: watch::Sender::new(false),
        }
    }

    /// Ends every subscription's stream; later subscriptions fail as `Unavailable`.
    /// Returns how many subscriptions were running.
    pub(crate) fn close(&self) -> usize {
        self.closed.send_replace(true);
        self.closed.receiver_count()
    }

    fn is_closed(&self) -> bool {
        *self.closed.borrow()
    }

    /// The client of the server the next connection goes to.
    async fn client(&self) -> redis::RedisResult<redis::Client> {
        match &self.source {
            Source::Standalone(client) => Ok(client.clone()),
            Source::Sentinel(sentinel) => sentinel.lock().await.async_get_client().await,
            Source::Cluster { seeds, next, .. } => {
                let index = next.fetch_add(1, Ordering::Relaxed) % seeds.len().max(1);
                seeds.get(index).cloned().ok_or_else(|| {
                    redis::RedisError::from((
                        redis::ErrorKind::InvalidClientConfig,
                        "no cluster seed",
                    ))
                })
            }
        }
    }

    /// Refuses what the deployment cannot subscribe to: sharded channels outside cluster
    /// mode.
    fn check(&self, topics: &Topics) -> InfraResult<()> {
        match self.source {
            Source::Cluster { .. } => Ok(()),
            _ => topics.refuse_sharded(REDIS_BACKEND, "outside cluster mode"),
        }
    }

    /// Connects and subscribes to every topic, within the connect and command timeouts.
    async fn connect(&self, topics: &Topics) -> InfraResult<Connection> {
        let budget = self.connect_timeout + self.command_timeout;
        let attempt = async {
            match &self.source {
                Source::Cluster { sharded, .. } if !topics.sharded_channels().is_empty() => {
                    self.connect_cluster(sharded, topics).await
                }
                _ => self.connect_single(topics).await,
            }
        };
        match timeout(budget, attempt).await {
            Ok(Ok(connection)) => Ok(connection),
            Ok(Err(err)) => Err(map_redis_error(err, OPERATION)),
            Err(_) => Err(InfraError::new(
                ErrorKind::Timeout,
                REDIS_BACKEND,
                OPERATION,
                format!("no subscription confirmed within {budget:?}"),
            )),
        }
    }

    async fn connect_single(&self, topics: &Topics) -> redis::RedisResult<Connection> {
        let client = self.client().await?;
        let mut pubsub = client.get_async_pubsub().await?;
        if !topics.channels().is_empty() {
            pubsub.subscribe(topics.channels()).await?;
        }
        if !topics.patterns().is_empty() {
            pubsub.psubscribe(topics.patterns()).await?;
        }
        let (sink, stream) = pubsub.split();
        Ok(Connection::Single { sink, stream })
    }

    async fn connect_cluster(
        &self,
        client: &ClusterClient,
        topics: &Topics,
    ) -> redis::RedisResult<Connection> {
        let (sender, pushes) = mpsc::unbounded_channel();
        // The config replaces the client's timeouts: give both again.
        let config = ClusterConfig::new()
            .set_connection_timeout(self.connect_timeout)
            .set_response_timeout(self.command_timeout)
            .set_push_sender(sender);
        let mut conn = client.get_async_connection_with_config(config).await?;
        if !topics.channels().is_empty() {
            conn.subscribe(topics.channels()).await?;
        }
        if !topics.patterns().is_empty() {
            conn.psubscribe(topics.patterns()).await?;
        }
        // One SSUBSCRIBE per channel: channels of different slots in one command are a
        // CROSSSLOT error, and each is routed to its own shard.
        for channel in topics.sharded_channels() {
            conn.ssubscribe(channel).await?;
        }
        Ok(Connection::Cluster { conn, pushes })
    }
}

#[async_trait::async_trait]
impl RedisSubscriber for crate::RedisAdapter {
    /// Opens a connection of its own for the subscription (see [`crate::RedisAdapter`]'s
    /// module docs on pub/sub), subscribes, and returns once the server confirmed every
    /// topic.
    async fn subscribe(
        &self,
        topics: &Topics,
        options: SubscribeOptions,
    ) -> InfraResult<Subscription> {
        topics.validate(REDIS_BACKEND)?;
        options.validate(REDIS_BACKEND)?;
        let pubsub = self.pubsub();
        pubsub.check(topics)?;
        if pubsub.is_closed() {
            return Err(closed_error());
        }
        let connection = pubsub.connect(topics).await?;
        let closed = pubsub.closed.subscribe();
        let (feed, subscription) = Subscription::channel(REDIS_BACKEND, options.buffer);
        tracing::debug!(
            backend = REDIS_BACKEND,
            operation = OPERATION,
            endpoint = %pubsub.endpoint,
            channels = topics.channels().len(),
            patterns = topics.patterns().len(),
            sharded = topics.sharded_channels().len(),
            buffer = options.buffer,
            "redis subscription started"
        );
        tokio::spawn(run(
            Arc::clone(pubsub),
            topics.clone(),
            feed,
            connection,
            closed,
        ));
        Ok(subscription)
    }
}

fn closed_error() -> InfraError {
    InfraError::new(
        ErrorKind::Unavailable,
        REDIS_BACKEND,
        OPERATION,
        "the Redis client has been closed",
    )
}

/// The next message of the connection; `None` once it is closed.
async fn next_message(stream: &mut PubSubStream) -> Option<redis::Msg> {
    poll_fn(|cx| std::pin::Pin::new(&mut *stream).poll_next(cx)).await
}

/// Resolves once the adapter is closed (or dropped).
async fn closing(closed: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is dropped here: it must not live across an await.
    let _ = closed.wait_for(|closed| *closed).await;
}

/// Why a task stops listening on its connection.
enum Stop {
    /// The consumer dropped its subscription, or the adapter was closed: end for good.
    Done,
    /// The connection was lost: reconnect.
    Lost(&'static str),
}

/// The task of one subscription: forwards messages, and reconnects until told to stop.
async fn run(
    pubsub: Arc<PubSub>,
    topics: Topics,
    feed: SubscriptionFeed,
    mut connection: Connection,
    mut closed: watch::Receiver<bool>,
) {
    loop {
        let reason = match listen(&pubsub, &feed, &mut connection, &mut closed).await {
            Stop::Done => return,
            Stop::Lost(reason) => reason,
        };
        drop(connection);
        let lost_at = Instant::now();
        tracing::warn!(
            backend = REDIS_BACKEND,
            operation = OPERATION,
            endpoint = %pubsub.endpoint,
            reason,
            "redis subscription lost its connection; reconnecting (messages published \
             meanwhile are lost)"
        );
        connection = match reconnect(&pubsub, &topics, &feed, &mut closed).await {
            Some(connection) => connection,
            None => return,
        };
        let outage = lost_at.elapsed();
        tracing::info!(
            backend = REDIS_BACKEND,
            operation = OPERATION,
            endpoint = %pubsub.endpoint,
            outage_ms = outage.as_secs_f64() * 1e3,
            "redis subscription restored; the consumer is told of the gap"
        );
        if !feed.gap(outage) {
            return;
        }
    }
}

/// Forwards messages until the connection is lost or the task must stop.
async fn listen(
    pubsub: &PubSub,
    feed: &SubscriptionFeed,
    connection: &mut Connection,
    closed: &mut watch::Receiver<bool>,
) -> Stop {
    let mut ping = tokio::time::interval_at(
        Instant::now() + SUBSCRIPTION_PING_INTERVAL,
        SUBSCRIPTION_PING_INTERVAL,
    );
    ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
    match connection {
        Connection::Single { sink, stream } => loop {
            tokio::select! {
                () = feed.closed() => return Stop::Done,
                () = closing(closed) => return Stop::Done,
                message = next_message(stream) => {
                    let Some(message) = message else {
                        return Stop::Lost("the connection closed");
                    };
                    if !forward(feed, &message) {
                        return Stop::Done;
                    }
                }
                _ = ping.tick() => {
                    match timeout(pubsub.command_timeout, sink.ping::<redis::Value>()).await {
                        Ok(Ok(_)) => {}
                        Ok(Err(_)) => return Stop::Lost("a ping failed"),
                        Err(_) => return Stop::Lost("a ping timed out"),
                    }
                }
            }
        },
        Connection::Cluster { conn, pushes } => loop {
            tokio::select! {
                () = feed.closed() => return Stop::Done,
                () = closing(closed) => return Stop::Done,
                push = pushes.recv() => {
                    let Some(push) = push else {
                        return Stop::Lost("the cluster connection ended");
                    };
                    match cluster_push(feed, push) {
                        Push::Handled => {}
                        Push::Done => return Stop::Done,
                        // redis-rs would resubscribe by itself, but not reliably when the
                        // node is down for a while: start over on a fresh connection, so
                        // the gap is known and every channel subscribed again.
                        Push::Lost => return Stop::Lost("a cluster node's connection was lost"),
                    }
                }
                _ = ping.tick() => {
                    // Traffic lets redis-rs notice a lost node (a `Disconnection` push).
                    let pinged = timeout(
                        pubsub.command_timeout,
                        redis::cmd("PING").query_async::<redis::Value>(conn),
                    )
                    .await;
                    if !matches!(pinged, Ok(Ok(_))) {
                        tracing::debug!(
                            backend = REDIS_BACKEND,
                            operation = OPERATION,
                            endpoint = %pubsub.endpoint,
                            "a cluster subscription's ping failed"
                        );
                    }
                }
            }
        },
    }
}

/// Queues one message; `false` when the consumer is gone.
fn forward(feed: &SubscriptionFeed, message: &Msg) -> bool {
    let pattern = if message.from_pattern() {
        message.get_pattern::<String>().ok()
    } else {
        None
    };
    feed.message(Message {
        channel: message.get_channel_name().to_owned(),
        pattern,
        payload: message.get_payload_bytes().to_vec(),
    })
}

/// What one push of a cluster connection means for the subscription.
enum Push {
    /// Handled (a message queued, a confirmation ignored).
    Handled,
    /// The consumer is gone.
    Done,
    /// A node's connection was lost: its subscriptions with it.
    Lost,
}

/// Handles one push of a cluster connection.
fn cluster_push(feed: &SubscriptionFeed, push: PushInfo) -> Push {
    if push.kind == PushKind::Disconnection {
        return Push::Lost;
    }
    match Msg::from_push_info(push) {
        Some(message) if !forward(feed, &message) => Push::Done,
        // Subscription confirmations and other pushes carry no message.
        _ => Push::Handled,
    }
}

/// Connects and subscribes again, with backoff, until it succeeds (`Some`) or the task must
/// stop (`None`).
async fn reconnect(
    pubsub: &PubSub,
    topics: &Topics,
    feed: &SubscriptionFeed,
    closed: &mut watch::Receiver<bool>,
) -> Option<Connection> {
    let mut attempt: u32 = 0;
    loop {
        let result = tokio::select! {
            () = feed.closed() => return None,
            () = closing(closed) => return None,
            result = pubsub.connect(topics) => result,
        };
        match result {
            Ok(connection) => return Some(connection),
            Err(err) => {
                attempt = attempt.saturating_add(1);
                let delay = pubsub.backoff.delay_for(attempt);
                tracing::debug!(
                    backend = REDIS_BACKEND,
                    operation = OPERATION,
                    endpoint = %pubsub.endpoint,
                    attempt,
                    kind = %err.kind(),
                    error = %err.chain(),
                    delay_ms = delay.as_secs_f64() * 1e3,
                    "redis subscription reconnection failed; retrying"
                );
                tokio::select! {
                    () = feed.closed() => return None,
                    () = closing(closed) => return None,
                    () = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
}
