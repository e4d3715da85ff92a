//! Tier 2: sentinel mode against a real master, replica and three sentinels
//! (infra-testkit): the adapter finds the master through the sentinels and follows a
//! failover without being rebuilt.

mod common;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use common::{blocking, eventually, settings};
use infra_base::{Lifecycle, RedisPort, SetOptions};
use infra_redis::RedisAdapter;
use infra_testkit::RedisSentinel;
use infra_testkit::resp::Reply;

fn sentinel_settings(setup: &RedisSentinel, extra: &[(&str, &str)]) -> infra_config::RedisSettings {
    let nodes = setup.sentinel_nodes().join(",");
    let mut pairs = vec![
        ("MODE", "sentinel"),
        ("NODES", nodes.as_str()),
        ("SENTINEL_MASTER", setup.master_name()),
    ];
    pairs.extend_from_slice(extra);
    settings(&pairs)
}

/// One setup for the conformance suite (never failed over).
static SETUP: OnceLock<RedisSentinel> = OnceLock::new();

mod conformance {
    infra_base::redis_conformance_tests!(
        async {
            let setup = super::blocking(|| {
                super::SETUP.get_or_init(|| {
                    super::RedisSentinel::start().expect("the sentinel setup starts")
                })
            })
            .await;
            let settings = super::sentinel_settings(setup, &[]);
            std::sync::Arc::new(super::RedisAdapter::from_settings(&settings).unwrap())
        },
        #[ignore = "tier 2: needs redis-server; run by cargo xtask test-integration"],
    );
}

/// `GET key` on the data node at `addr`, through the testkit.
fn get_on(setup: &RedisSentinel, addr: &str, key: &str) -> Option<Vec<u8>> {
    tokio::task::block_in_place(|| {
        match setup
            .data_node(addr)
            .unwrap()
            .command_ok(&["GET", key])
            .unwrap()
        {
            Reply::Bulk(value) => value,
            other => panic!("GET answered {other}"),
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "tier 2: needs redis-server; run by cargo xtask test-integration"]
async fn follows_the_master_through_a_failover_without_being_rebuilt() {
    const SECRET: &str = "sentinel-M4RK3R";
    let setup = Arc::new(
        blocking(|| {
            RedisSentinel::builder()
                .password(SECRET)
                .start()
                .expect("the sentinel setup starts")
        })
        .await,
    );
    let settings = sentinel_settings(
        &setup,
        &[("PASSWORD", SECRET), ("COMMAND_TIMEOUT", "500ms")],
    );
    let adapter = Arc::new(RedisAdapter::from_settings(&settings).unwrap());
    let port = infra_redis::build(&settings).unwrap().port();
    adapter.init().await.expect("the sentinels name the master");
    assert!(
        adapter
            .endpoint()
            .starts_with("sentinel master \"mymaster\" via ")
    );

    let first = tokio::task::block_in_place(|| setup.current_master().unwrap());
    let k = format!("{}:k", infra_base::testing::unique_prefix());
    adapter
        .set(&k, b"before", SetOptions::default())
        .await
        .unwrap();
    assert_eq!(
        get_on(&setup, &first, &k),
        Some(b"before".to_vec()),
        "written to the master"
    );

    let failed_over = Arc::clone(&setup);
    let second = blocking(move || {
        let new = failed_over
            .failover(Duration::from_mins(1))
            .expect("failover");
        // Demote the former master now instead of on the sentinels' next poll.
        failed_over.settle(Duration::from_mins(1)).expect("settled");
        new
    })
    .await;
    assert_ne!(first, second);

    // The same adapter (and the same resilient port) now write to the new master.
    for (what, redis) in [
        ("adapter", adapter.clone() as Arc<dyn RedisPort>),
        ("port", port),
    ] {
        let value = format!("after failover via {what}");
        let (written, took) = eventually(Duration::from_secs(15), || {
            let (redis, k, value) = (Arc::clone(&redis), k.clone(), value.clone());
            async move {
                redis
                    .set(&k, value.as_bytes(), SetOptions::default())
                    .await
                    .ok()
            }
        })
        .await;
        assert!(
            written.is_some(),
            "{what}: no successful write within {took:?}"
        );
        assert_eq!(
            get_on(&setup, &second, &k),
            Some(value.into_bytes()),
            "{what}: the write reached the new master"
        );
        assert_eq!(redis.get(&k).await.unwrap(), get_on(&setup, &second, &k));
    }
}
