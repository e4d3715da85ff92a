//! Tier 2: the adapter against a real three-master Redis Cluster (infra-testkit).

mod common;

use std::sync::{Arc, OnceLock};

use common::{blocking, settings};
use infra_base::{ErrorKind, HealthStatus, Lifecycle, RedisPort, SetOptions};
use infra_redis::{RedisAdapter, redis};
use infra_testkit::RedisCluster;

/// One cluster for the whole test binary (its processes die with it).
static CLUSTER: OnceLock<RedisCluster> = OnceLock::new();

async fn cluster() -> &'static RedisCluster {
    blocking(|| CLUSTER.get_or_init(|| RedisCluster::start().expect("the cluster starts"))).await
}

fn cluster_adapter(cluster: &RedisCluster, extra: &[(&str, &str)]) -> Arc<RedisAdapter> {
    let nodes = cluster.nodes().join(",");
    let mut pairs = vec![("MODE", "cluster"), ("NODES", nodes.as_str())];
    pairs.extend_from_slice(extra);
    Arc::new(RedisAdapter::from_settings(&settings(&pairs)).expect("adapter builds"))
}

mod conformance {
    infra_base::redis_conformance_tests!(
        async { super::cluster_adapter(super::cluster().await, &[]) },
        #[ignore = "tier 2: needs redis-server; run by cargo xtask test-integration"],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "tier 2: needs redis-server; run by cargo xtask test-integration"]
async fn multi_key_commands_span_slots() {
    let cluster = cluster().await;
    let redis = cluster_adapter(cluster, &[]);
    redis.init().await.expect("init discovers the cluster");
    assert_eq!(redis.health().await.status, HealthStatus::Pass);

    // No hash tags: these keys fall into many slots, on every master.
    let prefix = infra_base::testing::unique_prefix();
    let keys: Vec<String> = (0..40).map(|i| format!("{prefix}:spread:{i}")).collect();
    for (i, k) in keys.iter().enumerate().filter(|(i, _)| i % 3 != 0) {
        redis
            .set(k, format!("v{i}").as_bytes(), SetOptions::default())
            .await
            .unwrap();
    }
    let values = redis.mget(&keys).await.expect("a multi-slot MGET");
    assert_eq!(values.len(), keys.len());
    for (i, value) in values.into_iter().enumerate() {
        let expected = (i % 3 != 0).then(|| format!("v{i}").into_bytes());
        assert_eq!(
            value, expected,
            "MGET keeps the request order across slots (key {i})"
        );
    }
    let existing = keys.iter().enumerate().filter(|(i, _)| i % 3 != 0).count() as u64;
    assert_eq!(redis.del(&keys).await.expect("a multi-slot DEL"), existing);
    assert_eq!(redis.del(&keys).await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "tier 2: needs redis-server; run by cargo xtask test-integration"]
async fn exclusive_transactions_run_on_the_keys_node() {
    let cluster = cluster().await;
    let redis = cluster_adapter(cluster, &[]);
    let tag = infra_base::testing::unique_prefix();
    let (a, b) = (format!("{{{tag}}}:a"), format!("{{{tag}}}:b"));
    let (x, y): (i64, i64) = redis
        .with_connection(|conn| {
            let (a, b) = (a.clone(), b.clone());
            Box::pin(async move {
                redis::pipe()
                    .atomic()
                    .incr(&a, 1)
                    .incr(&b, 2)
                    .query_async(conn)
                    .await
            })
        })
        .await
        .expect("an atomic pipeline within one slot");
    assert_eq!((x, y), (1, 2));
    assert_eq!(redis.del(&[a, b]).await.unwrap(), 2);
}

/// Keys of one command or pipeline in different slots: `InvalidInput` naming hash tags
/// (the server's `CROSSSLOT`, or redis-rs's refusal to route a pipeline), nothing sent
/// for the pipeline; with a common hash tag the same calls work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "tier 2: needs redis-server; run by cargo xtask test-integration"]
async fn cross_slot_commands_and_pipelines_are_invalid_input_naming_hash_tags() {
    use infra_base::redis::{Command, Pipeline};
    use infra_base::resilience::Idempotency::NonIdempotent;

    let cluster = cluster().await;
    let redis = cluster_adapter(cluster, &[]);
    let prefix = infra_base::testing::unique_prefix();
    // The hash tags "a" and "b" are in different slots (15495 and 3300).
    let (a, b) = (format!("{{a}}:{prefix}"), format!("{{b}}:{prefix}"));
    redis.set(&a, b"v", SetOptions::default()).await.unwrap();

    let rename = Command::new("RENAME").arg(&a).arg(&b);
    let err = redis.command(&rename, NonIdempotent).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{}", err.chain());
    assert!(err.message().contains("hash tag"), "{err}");

    let pipe = Pipeline::atomic(NonIdempotent)
        .with(Command::new("SET").arg(&b).arg("1"))
        .with(Command::new("GET").arg(&a));
    let err = redis.pipeline(&pipe).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{}", err.chain());
    assert!(err.message().contains("CROSSSLOT"), "{err}");
    assert_eq!(redis.get(&b).await.unwrap(), None, "nothing of it ran");

    let (ta, tb) = (format!("{{{prefix}}}:a"), format!("{{{prefix}}}:b"));
    let pipe = Pipeline::atomic(NonIdempotent)
        .with(Command::new("SET").arg(&ta).arg("1"))
        .with(Command::new("RENAME").arg(&ta).arg(&tb))
        .with(Command::new("GET").arg(&tb));
    let replies = redis.pipeline(&pipe).await.expect("one hash tag, one slot");
    assert_eq!(replies[2], infra_base::Reply::Bulk(b"1".to_vec()));
    assert_eq!(redis.del(&[a, tb]).await.unwrap(), 2);
}

/// `key_slot` (infra-base's own CRC16) agrees with the server's `CLUSTER KEYSLOT`, with
/// and without hash tags.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "tier 2: needs redis-server; run by cargo xtask test-integration"]
async fn key_slot_matches_the_cluster() {
    use infra_base::redis::{Command, hash_tag, key_slot};
    use infra_base::resilience::Idempotency::Idempotent;

    let redis = cluster_adapter(cluster().await, &[]);
    let tagged = format!("{}:profile", hash_tag("user:42"));
    for key in [
        "foo",
        "user:1000",
        "{user1000}.following",
        "{}x",
        "a{b}c{d}",
        tagged.as_str(),
    ] {
        let cmd = Command::new("CLUSTER").arg("KEYSLOT").arg(key);
        let slot = redis
            .command(&cmd, Idempotent)
            .await
            .unwrap()
            .as_int()
            .unwrap();
        assert_eq!(i64::from(key_slot(key)), slot, "slot of {key:?}");
    }
}

/// `SCAN` on a cluster walks every primary: keys without hash tags, spread over every
/// node, all come back through the stream; inside a pipeline it is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "tier 2: needs redis-server; run by cargo xtask test-integration"]
async fn scan_walks_every_primary() {
    use infra_base::redis::prelude::*;

    let redis = cluster_adapter(cluster().await, &[]);
    let prefix = infra_base::testing::unique_prefix();
    let keys: Vec<String> = (0..40).map(|i| format!("{prefix}:spread:{i}")).collect();
    let slots: std::collections::BTreeSet<u16> = keys
        .iter()
        .map(|k| infra_base::redis::key_slot(k))
        .collect();
    assert!(slots.len() > 30, "the keys spread over many slots");
    for key in &keys {
        redis.set(key, b"v", SetOptions::default()).await.unwrap();
    }
    let mut found = std::collections::BTreeSet::new();
    let mut scan = redis.scan(ScanOptions::new().matching(format!("{prefix}:*")).count(7));
    while let Some(key) = scan.next_key().await {
        found.insert(key.expect("scan on a cluster"));
    }
    let expected: std::collections::BTreeSet<String> = keys.iter().cloned().collect();
    assert_eq!(found, expected, "every key of every primary");

    let pipe = Pipeline::new(Idempotency::Idempotent).with(Command::new("SCAN").arg(0));
    let err = redis.pipeline(&pipe).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{}", err.chain());
    assert!(err.message().contains("SCAN"), "{err}");
    let err = redis
        .command(&Command::new("SCAN").arg("x"), Idempotency::Idempotent)
        .await
        .unwrap_err();
    assert_eq!(
        err.kind(),
        ErrorKind::InvalidInput,
        "a cursor it never gave: {}",
        err.chain()
    );
    assert_eq!(redis.del(&keys).await.unwrap(), 40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "tier 2: needs redis-server; run by cargo xtask test-integration"]
async fn password_protected_cluster() {
    const SECRET: &str = "cluster-M4RK3R";
    let cluster = blocking(|| {
        RedisCluster::builder()
            .password(SECRET)
            .start()
            .expect("the cluster starts")
    })
    .await;
    let good = cluster_adapter(&cluster, &[("PASSWORD", SECRET)]);
    good.init().await.expect("the right password");
    let k = format!("{}:k", infra_base::testing::unique_prefix());
    good.set(&k, b"v", SetOptions::default()).await.unwrap();
    assert_eq!(good.get(&k).await.unwrap(), Some(b"v".to_vec()));

    let wrong = cluster_adapter(&cluster, &[("PASSWORD", "wrong-M4RK3R")]);
    let err = wrong.init().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth, "{}", err.chain());
    assert!(!err.chain().contains("M4RK3R"), "{}", err.chain());
    assert!(err.message().contains("cluster seeds"), "{err}");
}
