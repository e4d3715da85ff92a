//! The pub/sub conformance cases: one function per rule of [`RedisSubscriber`]'s contract
//! ([`crate::redis::pubsub`]).
//!
//! Every case has the shape `async fn case(pair: PubSubPair, prefix: &str)`: the port
//! publishes, the subscriber subscribes, both on the same deployment. Channels are
//! `{prefix}:name`, so cases never see each other's messages on a shared server. Waits are
//! bounded by [`WAIT`] and never measure speed.
//!
//! The cases assert `PUBLISH` receiver counts, which count the subscriptions of the whole
//! deployment on one server (standalone, sentinel) and in [`MemoryRedis`](super::MemoryRedis).
//! A Redis Cluster counts only the subscribers of the node that ran the `PUBLISH`, so the
//! cluster adapter has cases of its own in its tier-2 suite.
//!
//! What needs a real outage (the [`Gap`](crate::redis::PubSubEvent::Gap) after a server
//! restart or a failover) is tested by each adapter's own suites, which control the
//! servers.
// Every case panics on a contract violation by design; the module docs say so once.
#![allow(clippy::missing_panics_doc)]

use std::sync::Arc;
use std::time::Duration;

use tokio::time::{Instant, sleep, timeout};

use super::{check_prefix, expect_kind, ok};
use crate::error::ErrorKind;
use crate::redis::{
    Message, PubSubEvent, RedisPort, RedisSubscriber, SubscribeOptions, Subscription, Topics,
};

/// A port and a subscriber of the same deployment.
pub type PubSubPair = (Arc<dyn RedisPort>, Arc<dyn RedisSubscriber>);

/// The longest a case waits for a message or for an unsubscription to be seen.
pub const WAIT: Duration = Duration::from_secs(10);

fn channel(prefix: &str, name: &str) -> String {
    check_prefix(prefix);
    format!("{{{prefix}}}:{name}")
}

async fn next(sub: &mut Subscription, what: &str) -> PubSubEvent {
    match timeout(WAIT, sub.recv()).await {
        Ok(Some(event)) => event,
        Ok(None) => panic!("{what}: the subscription ended"),
        Err(elapsed) => panic!("{what}: nothing arrived within {WAIT:?} ({elapsed})"),
    }
}

async fn next_message(sub: &mut Subscription, what: &str) -> Message {
    match next(sub, what).await {
        PubSubEvent::Message(message) => message,
        other => panic!("{what}: a message expected, got {other:?}"),
    }
}

/// Publishes until the receiver count is `expected` (subscriptions and unsubscriptions
/// reach the server asynchronously on some adapters), within [`WAIT`].
async fn wait_for_receivers(port: &dyn RedisPort, channel: &str, expected: u64) {
    let deadline = Instant::now() + WAIT;
    loop {
        let count = ok(port.publish(channel, b"probe").await, "publish");
        if count == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "publish on {channel} still reaches {count} receivers after {WAIT:?}, \
             expected {expected}"
        );
        sleep(Duration::from_millis(20)).await;
    }
}

/// A channel subscription receives every message published after `subscribe` returned,
/// in order, with the channel name and no pattern; each `PUBLISH` counts it once.
pub async fn channel_messages_arrive_in_order(pair: PubSubPair, prefix: &str) {
    let (port, subscriber) = pair;
    let name = channel(prefix, "orders");
    let mut sub = ok(
        subscriber
            .subscribe(&Topics::new().channel(&name), SubscribeOptions::default())
            .await,
        "subscribe",
    );
    for i in 0..100u32 {
        let count = ok(port.publish(&name, &i.to_be_bytes()).await, "publish");
        assert_eq!(
            count, 1,
            "message {i}: one subscriber must have received it"
        );
    }
    for i in 0..100u32 {
        let message = next_message(&mut sub, "channel message").await;
        assert_eq!(message.channel, name);
        assert_eq!(message.pattern, None);
        assert_eq!(message.payload, i.to_be_bytes(), "messages arrive in order");
    }
}

/// A pattern subscription receives the messages of matching channels only, with the
/// pattern that matched; binary and empty payloads arrive unchanged.
pub async fn pattern_messages_name_the_pattern(pair: PubSubPair, prefix: &str) {
    let (port, subscriber) = pair;
    let pattern = channel(prefix, "audit.*");
    let mut sub = ok(
        subscriber
            .subscribe(
                &Topics::new().pattern(&pattern),
                SubscribeOptions::default(),
            )
            .await,
        "subscribe",
    );
    let matching = channel(prefix, "audit.login");
    let other = channel(prefix, "billing");
    assert_eq!(ok(port.publish(&other, b"x").await, "publish"), 0);
    for payload in [&b"\x00\xff binary"[..], b""] {
        assert_eq!(ok(port.publish(&matching, payload).await, "publish"), 1);
        let message = next_message(&mut sub, "pattern message").await;
        assert_eq!(message.channel, matching);
        assert_eq!(message.pattern.as_deref(), Some(pattern.as_str()));
        assert_eq!(message.payload, payload);
    }
}

/// Dropping a subscription unsubscribes: `PUBLISH` soon counts no receiver.
pub async fn dropped_subscription_unsubscribes(pair: PubSubPair, prefix: &str) {
    let (port, subscriber) = pair;
    let name = channel(prefix, "leaving");
    let topics = Topics::new().channel(&name);
    let first = ok(
        subscriber
            .subscribe(&topics, SubscribeOptions::default())
            .await,
        "subscribe",
    );
    let second = ok(
        subscriber
            .subscribe(&topics, SubscribeOptions::default())
            .await,
        "subscribe",
    );
    assert_eq!(ok(port.publish(&name, b"both").await, "publish"), 2);
    drop(first);
    wait_for_receivers(port.as_ref(), &name, 1).await;
    second.close();
    wait_for_receivers(port.as_ref(), &name, 0).await;
}

/// A consumer slower than its publisher loses messages, never blocks the publisher, and is
/// told: every message is either delivered in order or counted in a `Lagged` event.
pub async fn slow_consumer_is_told_it_lagged(pair: PubSubPair, prefix: &str) {
    const SENT: u64 = 200;
    let (port, subscriber) = pair;
    let name = channel(prefix, "firehose");
    let mut sub = ok(
        subscriber
            .subscribe(
                &Topics::new().channel(&name),
                SubscribeOptions::with_buffer(1),
            )
            .await,
        "subscribe",
    );
    for i in 0..SENT {
        ok(port.publish(&name, &i.to_be_bytes()).await, "publish");
    }
    let (mut delivered, mut dropped, mut last) = (0, 0, None);
    while delivered + dropped < SENT {
        match next(&mut sub, "message or lag").await {
            PubSubEvent::Message(message) => {
                let value = u64::from_be_bytes(
                    message
                        .payload
                        .as_slice()
                        .try_into()
                        .expect("8-byte payload"),
                );
                assert!(
                    last < Some(value),
                    "messages stay in order: {value} after {last:?}"
                );
                last = Some(value);
                delivered += 1;
            }
            PubSubEvent::Lagged { dropped: n } => {
                assert!(n > 0, "a Lagged event reports at least one message");
                dropped += n;
            }
            PubSubEvent::Gap { .. } => panic!("no connection was lost"),
        }
    }
    assert_eq!(
        delivered + dropped,
        SENT,
        "every message is delivered or counted"
    );
    assert!(
        dropped > 0,
        "a buffer of 1 cannot hold {SENT} unread messages"
    );
}

/// No topic, a buffer out of bounds, or a sharded channel on one server (sharded pub/sub
/// is a cluster feature: the cluster adapter has cases of its own) is `InvalidInput`.
pub async fn invalid_subscriptions_are_invalid_input(pair: PubSubPair, prefix: &str) {
    let (_, subscriber) = pair;
    let name = channel(prefix, "c");
    let options = SubscribeOptions::default();
    for (topics, options, what) in [
        (Topics::new(), options, "no topic"),
        (Topics::new().sharded(&name), options, "a sharded channel"),
        (
            Topics::new().channel(&name),
            SubscribeOptions::with_buffer(0),
            "a zero buffer",
        ),
    ] {
        expect_kind(
            subscriber.subscribe(&topics, options).await.map(|_| ()),
            ErrorKind::InvalidInput,
            what,
        );
    }
}
