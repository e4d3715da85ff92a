//! Tier 2: subscriptions ([`RedisSubscriber`]) against real servers (infra-testkit): the
//! pub/sub conformance suite on a standalone server and through sentinels, a cluster's
//! cases (its `PUBLISH` counts are per node), and what needs an outage: a server restart,
//! a hung server, a sentinel failover and a cluster master restart mid-stream (a gap, then
//! messages again without subscribing by hand), and the component's close ending every
//! stream.
//!
//! Waits are generous and nothing asserts speed.

mod common;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use common::{blocking, eventually, settings};
use infra_base::redis::{Command, Message, PubSubEvent, Reply as PortReply, Subscription};
use infra_base::resilience::Idempotency;
use infra_base::{RedisPort, RedisSubscriber, SubscribeOptions, Topics};
use infra_config::RedisSettings;
use infra_testkit::resp::Reply;
use infra_testkit::{RedisCluster, RedisSentinel, RedisServer};

/// How long any single wait of these tests may take.
const WAIT: Duration = Duration::from_mins(1);

static SERVER: OnceLock<RedisServer> = OnceLock::new();
static CLUSTER: OnceLock<RedisCluster> = OnceLock::new();

async fn shared_server() -> &'static RedisServer {
    blocking(|| SERVER.get_or_init(|| RedisServer::start().expect("redis-server starts"))).await
}

async fn shared_cluster() -> &'static RedisCluster {
    blocking(|| CLUSTER.get_or_init(|| RedisCluster::start().expect("the cluster starts"))).await
}

/// The port and the subscriber that `infra_redis::build` gives for `settings`.
fn pair(
    settings: &RedisSettings,
) -> (
    infra_redis::Redis,
    Arc<dyn RedisPort>,
    Arc<dyn RedisSubscriber>,
) {
    let redis = infra_redis::build(settings).expect("the adapter builds");
    let (port, subscriber) = (redis.port(), redis.subscriber());
    (redis, port, subscriber)
}

fn cluster_settings(cluster: &RedisCluster) -> RedisSettings {
    let nodes = cluster.nodes().join(",");
    settings(&[("MODE", "cluster"), ("NODES", nodes.as_str())])
}

mod standalone_conformance {
    infra_base::pubsub_conformance_tests!(
        async {
            let server = super::shared_server().await;
            let (_, port, subscriber) = super::pair(&super::settings(&[("URL", &server.url())]));
            (port, subscriber)
        },
        #[ignore = "tier 2: needs redis-server; run by cargo xtask test-integration"],
    );
}

static SENTINEL: OnceLock<RedisSentinel> = OnceLock::new();

/// Settings of a sentinel setup that is never failed over (shared by the conformance cases).
async fn shared_sentinel_settings() -> RedisSettings {
    let setup = blocking(|| {
        SENTINEL.get_or_init(|| RedisSentinel::start().expect("the sentinel setup starts"))
    })
    .await;
    let nodes = setup.sentinel_nodes().join(",");
    settings(&[
        ("MODE", "sentinel"),
        ("NODES", nodes.as_str()),
        ("SENTINEL_MASTER", setup.master_name()),
    ])
}

/// The same cases through the sentinels: the subscription is on the master they name.
mod sentinel_conformance {
    infra_base::pubsub_conformance_tests!(
        async {
            let (_, port, subscriber) = super::pair(&super::shared_sentinel_settings().await);
            (port, subscriber)
        },
        #[ignore = "tier 2: needs redis-server; run by cargo xtask test-integration"],
    );
}

async fn next(sub: &mut Subscription) -> PubSubEvent {
    match tokio::time::timeout(WAIT, sub.recv()).await {
        Ok(Some(event)) => event,
        Ok(None) => panic!("the subscription ended"),
        Err(elapsed) => panic!("nothing arrived within {WAIT:?} ({elapsed})"),
    }
}

fn payload(event: &PubSubEvent) -> Option<&[u8]> {
    match event {
        PubSubEvent::Message(Message { payload, .. }) => Some(payload),
        _ => None,
    }
}

/// Publishes `message` until the subscription is back on the server (the receiver count is
/// 1 again), then returns. The port reconnects on its own too.
async fn publish_until_received(port: &Arc<dyn RedisPort>, channel: &str, message: &[u8]) {
    let (published, took) = eventually(WAIT, || {
        let (port, channel, message) = (Arc::clone(port), channel.to_owned(), message.to_vec());
        async move {
            match port.publish(&channel, &message).await {
                Ok(1) => Some(()),
                _ => None,
            }
        }
    })
    .await;
    assert!(
        published.is_some(),
        "the subscription did not come back within {took:?}"
    );
}

/// Reads until the message `wanted`, asserting a gap came first; messages published by the
/// probing loop before the subscription was back are lost, by contract.
async fn gap_then(sub: &mut Subscription, wanted: &[u8]) {
    let mut gap = false;
    loop {
        let event = next(sub).await;
        match &event {
            PubSubEvent::Gap { .. } => gap = true,
            PubSubEvent::Lagged { dropped } => {
                panic!("{dropped} messages dropped: no consumer was slow")
            }
            PubSubEvent::Message(_) => {
                if payload(&event) == Some(wanted) {
                    assert!(
                        gap,
                        "a message of the new connection arrived before the gap"
                    );
                    return;
                }
                // A probe: the only messages allowed are those after the gap.
                assert!(gap, "a message arrived before the gap: {event:?}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "tier 2: needs redis-server; run by cargo xtask test-integration"]
async fn a_server_restart_is_a_gap_then_messages_flow_again() {
    let server = Arc::new(blocking(|| RedisServer::start().expect("redis-server starts")).await);
    let (_redis, port, subscriber) = pair(&settings(&[
        ("URL", &server.url()),
        ("RETRY__BASE_DELAY", "50ms"),
        ("RETRY__MAX_DELAY", "500ms"),
    ]));
    let topics = Topics::new()
        .channel("restart:events")
        .pattern("restart:p.*");
    let mut sub = subscriber
        .subscribe(&topics, SubscribeOptions::default())
        .await
        .unwrap();
    for i in 0..10u8 {
        assert_eq!(port.publish("restart:events", &[i]).await.unwrap(), 1);
    }
    for i in 0..10u8 {
        assert_eq!(payload(&next(&mut sub).await), Some(&[i][..]), "in order");
    }

    let restarted = Arc::clone(&server);
    blocking(move || {
        restarted
            .restart()
            .expect("the server restarts on its port");
    })
    .await;

    // No call to subscribe again: the adapter resubscribes to the channel and the pattern.
    publish_until_received(&port, "restart:events", b"probe").await;
    port.publish("restart:events", b"after").await.unwrap();
    gap_then(&mut sub, b"after").await;
    assert_eq!(port.publish("restart:p.x", b"by pattern").await.unwrap(), 1);
    let event = next(&mut sub).await;
    let PubSubEvent::Message(message) = event else {
        panic!("a message expected, got {event:?}")
    };
    assert_eq!(message.pattern.as_deref(), Some("restart:p.*"));
    assert_eq!(message.payload, b"by pattern");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "tier 2: needs redis-server; run by cargo xtask test-integration"]
async fn a_sentinel_failover_is_a_gap_then_messages_come_from_the_new_master() {
    let setup =
        Arc::new(blocking(|| RedisSentinel::start().expect("the sentinel setup starts")).await);
    let nodes = setup.sentinel_nodes().join(",");
    let (_redis, port, subscriber) = pair(&settings(&[
        ("MODE", "sentinel"),
        ("NODES", nodes.as_str()),
        ("SENTINEL_MASTER", setup.master_name()),
        ("RETRY__BASE_DELAY", "100ms"),
        ("RETRY__MAX_DELAY", "1s"),
    ]));
    let mut sub = subscriber
        .subscribe(
            &Topics::new().channel("failover:events"),
            SubscribeOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(port.publish("failover:events", b"before").await.unwrap(), 1);
    assert_eq!(payload(&next(&mut sub).await), Some(&b"before"[..]));

    // Kill the master: the sentinels promote the replica after `down-after`.
    let old = tokio::task::block_in_place(|| setup.current_master().unwrap());
    let killed = Arc::clone(&setup);
    let new = blocking(move || {
        killed.master().unwrap().kill().expect("the master dies");
        killed
            .wait_new_master(&old, WAIT)
            .expect("a replica is promoted")
    })
    .await;

    publish_until_received(&port, "failover:events", b"probe").await;
    port.publish("failover:events", b"after").await.unwrap();
    gap_then(&mut sub, b"after").await;
    // The subscription is on the new master: its own count of pub/sub clients says so.
    let on_new = tokio::task::block_in_place(|| {
        setup
            .data_node(&new)
            .unwrap()
            .command_ok(&["PUBSUB", "NUMSUB", "failover:events"])
            .unwrap()
    });
    let Reply::Array(Some(items)) = &on_new else {
        panic!("PUBSUB NUMSUB answered {on_new}")
    };
    assert_eq!(
        items.get(1),
        Some(&Reply::Integer(1)),
        "the new master counts the subscriber"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "tier 2: needs redis-server; run by cargo xtask test-integration"]
async fn closing_the_component_ends_every_stream() {
    let server = shared_server().await;
    let (redis, port, subscriber) = pair(&settings(&[("URL", &server.url())]));
    let channel = format!("{}:close", infra_base::testing::unique_prefix());
    let mut subs = Vec::new();
    for _ in 0..3 {
        let topics = Topics::new().channel(&channel);
        subs.push(
            subscriber
                .subscribe(&topics, SubscribeOptions::default())
                .await
                .unwrap(),
        );
    }
    assert_eq!(port.publish(&channel, b"before").await.unwrap(), 3);
    for sub in &mut subs {
        assert_eq!(payload(&next(sub).await), Some(&b"before"[..]));
    }
    redis.component().lifecycle.close().await;
    for sub in &mut subs {
        let end = tokio::time::timeout(WAIT, sub.recv())
            .await
            .expect("the stream ends");
        assert_eq!(end, None);
    }
    // Their connections are closed: another client sees no subscriber left.
    let (_other, other_port, _) = pair(&settings(&[("URL", &server.url())]));
    let (gone, took) = eventually(WAIT, || {
        let (port, channel) = (Arc::clone(&other_port), channel.clone());
        async move { (port.publish(&channel, b"x").await.ok() == Some(0)).then_some(()) }
    })
    .await;
    assert!(gone.is_some(), "subscribers still counted after {took:?}");
    let err = subscriber
        .subscribe(
            &Topics::new().channel(&channel),
            SubscribeOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), infra_base::ErrorKind::Unavailable);
}

/// `PUBLISH` counts of every node of `cluster` for `channel` (`PUBSUB NUMSUB` is node-local).
fn cluster_subscribers(cluster: &RedisCluster, channel: &str) -> i64 {
    cluster
        .servers()
        .iter()
        .map(
            |server| match server.command_ok(&["PUBSUB", "NUMSUB", channel]).unwrap() {
                Reply::Array(Some(items)) => match items.get(1) {
                    Some(Reply::Integer(n)) => *n,
                    other => panic!("PUBSUB NUMSUB count: {other:?}"),
                },
                other => panic!("PUBSUB NUMSUB answered {other}"),
            },
        )
        .sum()
}

/// A plain `PUBLISH` reaches every node of a cluster: a subscription on one seed receives
/// what is published on channels of every slot (so of every master), by channel and by
/// pattern; dropping it unsubscribes on the node it used. (Cluster `PUBLISH` counts
/// are node-local, so the shared conformance suite, which asserts counts, runs on one
/// server; these are the cluster's cases.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "tier 2: needs redis-server; run by cargo xtask test-integration"]
async fn cluster_subscriptions_receive_from_every_master() {
    let cluster = shared_cluster().await;
    let (_redis, port, subscriber) = pair(&cluster_settings(cluster));
    let prefix = infra_base::testing::unique_prefix();
    // Forty channels without a hash tag: their slots spread over the three masters.
    let channels: Vec<String> = (0..40).map(|i| format!("{prefix}:ch{i}")).collect();
    let topics = channels
        .iter()
        .fold(Topics::new(), Topics::channel)
        .pattern(format!("{prefix}:p.*"));
    let mut sub = subscriber
        .subscribe(&topics, SubscribeOptions::default())
        .await
        .unwrap();
    for (i, channel) in channels.iter().enumerate() {
        port.publish(channel, &[u8::try_from(i).unwrap()])
            .await
            .unwrap();
    }
    // Messages published on different nodes reach the subscriber's node over the cluster
    // bus on paths of their own: across channels the order is not kept, so compare sets.
    let mut received = Vec::new();
    for _ in &channels {
        let PubSubEvent::Message(message) = next(&mut sub).await else {
            panic!("a message expected")
        };
        received.push((message.channel, message.payload));
    }
    received.sort();
    let mut expected: Vec<_> = channels
        .iter()
        .enumerate()
        .map(|(i, channel)| (channel.clone(), vec![u8::try_from(i).unwrap()]))
        .collect();
    expected.sort();
    assert_eq!(
        received, expected,
        "one message of every channel, from every master"
    );
    port.publish(&format!("{prefix}:p.x"), b"by pattern")
        .await
        .unwrap();
    let PubSubEvent::Message(message) = next(&mut sub).await else {
        panic!("a message expected")
    };
    assert_eq!(message.pattern, Some(format!("{prefix}:p.*")));

    let first = channels[0].clone();
    assert_eq!(blocking_count(cluster, &first).await, 1);
    drop(sub);
    let (gone, took) = eventually(WAIT, || {
        let first = first.clone();
        async move { (blocking_count(cluster, &first).await == 0).then_some(()) }
    })
    .await;
    assert!(
        gone.is_some(),
        "the cluster still counts the subscriber after {took:?}"
    );
}

async fn blocking_count(cluster: &'static RedisCluster, channel: &str) -> i64 {
    let channel = channel.to_owned();
    blocking(move || cluster_subscribers(cluster, &channel)).await
}

/// `SPUBLISH channel payload` through the port's general path; the shard's receiver count.
async fn spublish(port: &Arc<dyn RedisPort>, channel: &str, payload: &[u8]) -> i64 {
    let command = Command::new("SPUBLISH").arg(channel).arg(payload);
    match port.command(&command, Idempotency::NonIdempotent).await {
        Ok(PortReply::Int(count)) => count,
        other => panic!("SPUBLISH answered {other:?}"),
    }
}

/// Sharded pub/sub in cluster mode: a subscription to sharded channels of every master
/// receives what `SPUBLISH` sends on each shard; when a master restarts, redis-rs
/// reconnects and subscribes again to its channels, the consumer gets a gap, and messages
/// of that shard flow again without subscribing by hand.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "tier 2: needs redis-server; run by cargo xtask test-integration"]
async fn sharded_subscriptions_span_shards_and_survive_a_master_restart() {
    let cluster = Arc::new(blocking(|| RedisCluster::start().expect("the cluster starts")).await);
    let nodes = cluster.nodes().join(",");
    let (_redis, port, subscriber) = pair(&settings(&[
        ("MODE", "cluster"),
        ("NODES", nodes.as_str()),
        ("RETRY__BASE_DELAY", "50ms"),
        ("RETRY__MAX_DELAY", "500ms"),
    ]));
    let prefix = infra_base::testing::unique_prefix();
    // Twenty channels without a hash tag: their slots spread over the three masters.
    let channels: Vec<String> = (0..20).map(|i| format!("{prefix}:shard{i}")).collect();
    let topics = channels.iter().fold(Topics::new(), Topics::sharded);
    let mut sub = subscriber
        .subscribe(&topics, SubscribeOptions::default())
        .await
        .unwrap();
    for channel in &channels {
        assert_eq!(spublish(&port, channel, b"before").await, 1, "{channel}");
    }
    let mut received = Vec::new();
    for _ in &channels {
        let PubSubEvent::Message(message) = next(&mut sub).await else {
            panic!("a message expected")
        };
        assert_eq!(message.payload, b"before");
        assert_eq!(message.pattern, None);
        received.push(message.channel);
    }
    received.sort();
    let mut expected = channels.clone();
    expected.sort();
    assert_eq!(received, expected, "one message of every shard");

    let restarted = Arc::clone(&cluster);
    blocking(move || {
        restarted.servers()[0]
            .restart()
            .expect("the master restarts");
        restarted.wait_ok(WAIT).expect("the cluster is whole again");
    })
    .await;

    // Every shard counts the subscriber again: redis-rs resubscribed on its own.
    for channel in &channels {
        let (back, took) = eventually(WAIT, || {
            let (port, channel) = (Arc::clone(&port), channel.clone());
            async move { (spublish(&port, &channel, b"probe").await == 1).then_some(()) }
        })
        .await;
        assert!(
            back.is_some(),
            "{channel}: not subscribed again after {took:?}"
        );
    }
    for channel in &channels {
        assert_eq!(spublish(&port, channel, b"after").await, 1);
    }
    let (mut gap, mut after) = (false, 0);
    while after < channels.len() {
        match next(&mut sub).await {
            PubSubEvent::Gap { .. } => gap = true,
            PubSubEvent::Message(message) if message.payload == b"after" => after += 1,
            PubSubEvent::Message(_) => {}
            PubSubEvent::Lagged { dropped } => panic!("{dropped} dropped: no consumer was slow"),
        }
    }
    assert!(gap, "the restart of a master was not reported as a gap");
}

/// A server that hangs (SIGSTOP) closes nothing: the subscription's ping notices it within
/// the command timeout, the subscription reconnects once the server answers again, and the
/// consumer gets a gap before the next message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "tier 2: needs redis-server; run by cargo xtask test-integration"]
async fn a_hung_server_is_noticed_by_the_ping_then_a_gap() {
    let server = Arc::new(blocking(|| RedisServer::start().expect("redis-server starts")).await);
    let (_redis, port, subscriber) = pair(&settings(&[
        ("URL", &server.url()),
        ("COMMAND_TIMEOUT", "500ms"),
        ("CONNECT_TIMEOUT", "500ms"),
        ("RETRY__BASE_DELAY", "50ms"),
        ("RETRY__MAX_DELAY", "500ms"),
    ]));
    let mut sub = subscriber
        .subscribe(
            &Topics::new().channel("hang:events"),
            SubscribeOptions::default(),
        )
        .await
        .unwrap();
    let paused = Arc::clone(&server);
    blocking(move || paused.pause().expect("SIGSTOP")).await;
    // Longer than a ping period plus its timeout: the ping happens while the server hangs.
    tokio::time::sleep(infra_redis::SUBSCRIPTION_PING_INTERVAL + Duration::from_secs(3)).await;
    let resumed = Arc::clone(&server);
    blocking(move || resumed.resume().expect("SIGCONT")).await;

    publish_until_received(&port, "hang:events", b"probe").await;
    port.publish("hang:events", b"after").await.unwrap();
    gap_then(&mut sub, b"after").await;
}
