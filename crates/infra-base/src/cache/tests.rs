//! The cache's contract on [`MemoryRedis`], with tokio's paused clock where time matters.

use std::sync::atomic::AtomicUsize;

use super::*;
use crate::testing::MemoryRedis;
use crate::testing::metrics::{MetricsCapture, SampleValue};

const TTL: Duration = Duration::from_mins(1);

/// Deterministic defaults: no jitter, no early refresh.
fn config() -> CacheConfig {
    CacheConfig {
        ttl_jitter: 0.0,
        early_refresh_beta: 0.0,
        ..CacheConfig::new("test", "t")
    }
}

fn cache_on(redis: &Arc<MemoryRedis>, config: CacheConfig) -> Cache {
    Cache::new(redis.clone(), config)
}

fn unavailable() -> InfraError {
    InfraError::new(ErrorKind::Unavailable, "store", "load", "store down")
}

/// A computation that counts its runs, waits `took`, and answers `value`.
fn counted<T: Send + 'static>(
    runs: &Arc<AtomicUsize>,
    took: Duration,
    value: T,
) -> impl Future<Output = Result<T, InfraError>> + Send + 'static {
    let runs = Arc::clone(runs);
    async move {
        runs.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(took).await;
        Ok(value)
    }
}

/// The Redis key of `key`'s entry in `namespace` at the current generation.
async fn value_key(cache: &Cache, redis: &MemoryRedis, namespace: &str, key: &str) -> String {
    let inner = &cache.inner;
    let stored = redis
        .get(&inner.generation_key(namespace))
        .await
        .unwrap()
        .expect("a generation");
    let generation = Generation::decode(&stored).expect("a generation of ours");
    inner.value_key(namespace, &generation.token, key)
}

#[tokio::test(start_paused = true)]
async fn a_thousand_concurrent_misses_run_one_computation() {
    let redis = Arc::new(MemoryRedis::new());
    let cache = cache_on(&redis, config());
    let runs = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..1_000 {
        let (cache, runs) = (cache.clone(), Arc::clone(&runs));
        tasks.spawn(async move {
            cache
                .namespace("ns")
                .get_or_compute("key", TTL, || {
                    counted(&runs, Duration::from_millis(100), vec![1_u32, 2, 3])
                })
                .await
                .unwrap()
        });
    }
    let mut leaders = 0;
    while let Some(fetched) = tasks.join_next().await {
        let fetched = fetched.unwrap();
        assert_eq!(fetched.value, [1, 2, 3]);
        assert_eq!(fetched.outcome, Outcome::Miss);
        leaders += usize::from(!fetched.joined);
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1, "exactly one computation");
    assert_eq!(leaders, 1);
    let stats = cache.stats();
    assert_eq!((stats.misses, stats.joined, stats.computes), (1, 999, 1));
    assert_eq!(cache.inner.flights.len(), 0, "no flight left behind");
    let again = cache
        .namespace("ns")
        .get_or_compute("key", TTL, || counted(&runs, Duration::ZERO, vec![9]))
        .await
        .unwrap();
    assert_eq!((again.value, again.outcome), (vec![1, 2, 3], Outcome::Hit));
}

#[tokio::test(start_paused = true)]
async fn a_failed_computation_is_shared_not_cached_and_does_not_wedge_the_key() {
    let redis = Arc::new(MemoryRedis::new());
    let cache = cache_on(&redis, config());
    let runs = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let (cache, runs) = (cache.clone(), Arc::clone(&runs));
        tasks.spawn(async move {
            cache
                .namespace("ns")
                .get_or_compute("key", TTL, || async move {
                    runs.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Err::<u32, _>(unavailable().with_retry_after(Duration::from_secs(3)))
                })
                .await
        });
    }
    while let Some(result) = tasks.join_next().await {
        let err = result.unwrap().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unavailable);
        assert_eq!(err.message(), "store down");
        assert_eq!(err.retry_after(), Some(Duration::from_secs(3)));
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    let next = cache
        .namespace("ns")
        .get_or_compute("key", TTL, || counted(&runs, Duration::ZERO, 7_u32))
        .await
        .unwrap();
    assert_eq!((next.value, next.outcome), (7, Outcome::Miss));
}

#[tokio::test(start_paused = true)]
async fn a_leader_that_panics_or_is_cancelled_hands_over_to_a_waiting_caller() {
    let redis = Arc::new(MemoryRedis::new());
    let cache = cache_on(&redis, config());
    let runs = Arc::new(AtomicUsize::new(0));

    // The leader panics mid-computation.
    let leader = {
        let cache = cache.clone();
        tokio::spawn(async move {
            cache
                .namespace("ns")
                .get_or_compute("panics", TTL, || async {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    panic!("the computation panicked");
                    #[allow(unreachable_code)]
                    Ok::<u32, InfraError>(0)
                })
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(1)).await;
    let waiter = {
        let (cache, runs) = (cache.clone(), Arc::clone(&runs));
        tokio::spawn(async move {
            cache
                .namespace("ns")
                .get_or_compute("panics", TTL, || counted(&runs, Duration::ZERO, 5_u32))
                .await
        })
    };
    assert!(leader.await.unwrap_err().is_panic());
    let fetched = waiter.await.unwrap().unwrap();
    assert_eq!(
        (fetched.value, fetched.joined),
        (5, false),
        "it led in turn"
    );

    // The leader is cancelled mid-computation.
    let leader = {
        let (cache, runs) = (cache.clone(), Arc::clone(&runs));
        tokio::spawn(async move {
            cache
                .namespace("ns")
                .get_or_compute("cancelled", TTL, || {
                    counted(&runs, Duration::from_secs(10), 1_u32)
                })
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(1)).await;
    let waiter = {
        let (cache, runs) = (cache.clone(), Arc::clone(&runs));
        tokio::spawn(async move {
            cache
                .namespace("ns")
                .get_or_compute("cancelled", TTL, || {
                    counted(&runs, Duration::from_millis(5), 2_u32)
                })
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(1)).await;
    leader.abort();
    assert!(leader.await.unwrap_err().is_cancelled());
    assert_eq!(waiter.await.unwrap().unwrap().value, 2);
    assert_eq!(cache.inner.flights.len(), 0);
    assert_eq!(runs.load(Ordering::SeqCst), 3);
}

#[tokio::test(start_paused = true)]
async fn none_is_cached_for_the_negative_ttl_only() {
    let redis = Arc::new(MemoryRedis::new());
    let cache = cache_on(
        &redis,
        CacheConfig {
            negative_ttl: Some(Duration::from_secs(5)),
            ..config()
        },
    );
    let runs = Arc::new(AtomicUsize::new(0));
    let ns = cache.namespace("users");
    let lookup = || counted(&runs, Duration::ZERO, None::<String>);
    let first = ns
        .get_or_compute_optional("bob", TTL, lookup)
        .await
        .unwrap();
    assert_eq!((first.value, first.outcome), (None, Outcome::Miss));
    let second = ns
        .get_or_compute_optional("bob", TTL, lookup)
        .await
        .unwrap();
    assert_eq!((second.value, second.outcome), (None, Outcome::Hit));
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    let key = value_key(&cache, &redis, "users", "bob").await;
    assert_eq!(redis.ttl(&key), Some(Duration::from_secs(5)));
    // A caller that needs a value does not take the "none" for one.
    let needs_value = ns
        .get_or_compute("bob", TTL, || {
            counted(&runs, Duration::ZERO, "b".to_owned())
        })
        .await
        .unwrap();
    assert_eq!(needs_value.outcome, Outcome::Miss);

    // Without a negative TTL, none is not cached.
    let plain = cache_on(&redis, CacheConfig::new("plain", "p"));
    let ns = plain.namespace("users");
    for _ in 0..2 {
        let fetched = ns
            .get_or_compute_optional("eve", TTL, lookup)
            .await
            .unwrap();
        assert_eq!(fetched.outcome, Outcome::Miss);
    }
}

#[tokio::test(start_paused = true)]
async fn the_negative_ttl_expires() {
    let redis = Arc::new(MemoryRedis::new());
    let cache = cache_on(
        &redis,
        CacheConfig {
            negative_ttl: Some(Duration::from_secs(5)),
            ..config()
        },
    );
    let runs = Arc::new(AtomicUsize::new(0));
    let ns = cache.namespace("users");
    ns.get_or_compute_optional("bob", TTL, || counted(&runs, Duration::ZERO, None::<u8>))
        .await
        .unwrap();
    tokio::time::advance(Duration::from_secs(6)).await;
    let later = ns
        .get_or_compute_optional("bob", TTL, || counted(&runs, Duration::ZERO, Some(1_u8)))
        .await
        .unwrap();
    assert_eq!((later.value, later.outcome), (Some(1), Outcome::Miss));
}

#[tokio::test]
async fn values_over_the_size_cap_are_returned_but_not_stored() {
    let redis = Arc::new(MemoryRedis::new());
    let cache = cache_on(
        &redis,
        CacheConfig {
            max_value_bytes: 100,
            ..config()
        },
    );
    let runs = Arc::new(AtomicUsize::new(0));
    let ns = cache.namespace("ns");
    for _ in 0..2 {
        let big = ns
            .get_or_compute("big", TTL, || {
                counted(&runs, Duration::ZERO, "x".repeat(200))
            })
            .await
            .unwrap();
        assert_eq!((big.value.len(), big.outcome), (200, Outcome::Miss));
    }
    assert_eq!(cache.stats().too_large, 2);
    let small = || counted(&runs, Duration::ZERO, "x".repeat(10));
    ns.get_or_compute("small", TTL, small).await.unwrap();
    assert_eq!(
        ns.get_or_compute("small", TTL, small)
            .await
            .unwrap()
            .outcome,
        Outcome::Hit
    );
}

#[tokio::test]
async fn an_invalidation_replaces_the_generation_of_its_namespace_only() {
    let redis = Arc::new(MemoryRedis::new());
    let cache = cache_on(&redis, config());
    let runs = Arc::new(AtomicUsize::new(0));
    let (a, b) = (cache.namespace("a"), cache.namespace("b"));
    for ns in [a, b] {
        ns.get_or_compute("k", TTL, || counted(&runs, Duration::ZERO, 1_u32))
            .await
            .unwrap();
    }
    let old_key = value_key(&cache, &redis, "a", "k").await;
    let mut handle = a.invalidate(WriteOutcome::Known).unwrap();
    assert!(handle.first_attempt().await);
    handle.finished().await;
    let fresh = a
        .get_or_compute("k", TTL, || counted(&runs, Duration::ZERO, 2_u32))
        .await
        .unwrap();
    assert_eq!((fresh.value, fresh.outcome), (2, Outcome::Miss));
    assert_ne!(value_key(&cache, &redis, "a", "k").await, old_key);
    let other = b
        .get_or_compute("k", TTL, || counted(&runs, Duration::ZERO, 3_u32))
        .await
        .unwrap();
    assert_eq!((other.value, other.outcome), (1, Outcome::Hit));
    assert_eq!(cache.stats().invalidations, 1);
}

#[tokio::test]
async fn an_evicted_generation_never_brings_old_entries_back() {
    let redis = Arc::new(MemoryRedis::new());
    let cache = cache_on(&redis, config());
    let runs = Arc::new(AtomicUsize::new(0));
    let ns = cache.namespace("ns");
    ns.get_or_compute("k", TTL, || {
        counted(&runs, Duration::ZERO, "old".to_owned())
    })
    .await
    .unwrap();
    let old_key = value_key(&cache, &redis, "ns", "k").await;
    // The eviction of the generation key (allkeys-lru), while the entry survives.
    redis
        .del(&[cache.inner.generation_key("ns")])
        .await
        .unwrap();
    let after = ns
        .get_or_compute("k", TTL, || {
            counted(&runs, Duration::ZERO, "new".to_owned())
        })
        .await
        .unwrap();
    assert_eq!(
        (after.value.as_str(), after.outcome),
        ("new", Outcome::Miss)
    );
    assert!(
        redis.exists(&old_key).await.unwrap(),
        "the old entry is only unreachable"
    );
    // A generation that is not ours is replaced too.
    redis
        .set(
            &cache.inner.generation_key("ns"),
            b"7",
            SetOptions::default(),
        )
        .await
        .unwrap();
    let replaced = ns
        .get_or_compute("k", TTL, || {
            counted(&runs, Duration::ZERO, "newer".to_owned())
        })
        .await
        .unwrap();
    assert_eq!(replaced.outcome, Outcome::Miss);
}

#[tokio::test(start_paused = true)]
async fn a_redis_that_is_down_is_bypassed_and_single_flight_still_holds() {
    let redis = Arc::new(MemoryRedis::new());
    let cache = cache_on(&redis, config());
    redis.fail_with(Some(ErrorKind::Unavailable));
    let runs = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..100 {
        let (cache, runs) = (cache.clone(), Arc::clone(&runs));
        tasks.spawn(async move {
            cache
                .namespace("ns")
                .get_or_compute("k", TTL, || {
                    counted(&runs, Duration::from_millis(10), 4_u32)
                })
                .await
                .unwrap()
        });
    }
    while let Some(fetched) = tasks.join_next().await {
        let fetched = fetched.unwrap();
        assert_eq!((fetched.value, fetched.outcome), (4, Outcome::Bypass));
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(cache.stats().errors, 100, "one generation read each");

    // Unless the configuration says to fail.
    let strict = cache_on(
        &redis,
        CacheConfig {
            on_redis_error: OnRedisError::Fail,
            ..config()
        },
    );
    let err = strict
        .namespace("ns")
        .get_or_compute("k", TTL, || counted(&runs, Duration::ZERO, 4_u32))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert_eq!(runs.load(Ordering::SeqCst), 1, "nothing computed");
}

#[tokio::test(start_paused = true)]
async fn a_hung_redis_costs_one_operation_timeout() {
    let cache = Cache::new(
        Arc::new(Hung),
        CacheConfig {
            op_timeout: Duration::from_millis(200),
            ..config()
        },
    );
    let started = Instant::now();
    let fetched = cache
        .namespace("ns")
        .get_or_compute("k", TTL, || async { Ok::<_, InfraError>(1_u8) })
        .await
        .unwrap();
    assert_eq!(fetched.outcome, Outcome::Bypass);
    assert_eq!(started.elapsed(), Duration::from_millis(200));
}

#[tokio::test(start_paused = true)]
async fn an_unknown_write_makes_every_instance_bypass_until_the_second_invalidation() {
    let redis = Arc::new(MemoryRedis::new());
    let window = Duration::from_secs(10);
    let settings = CacheConfig {
        uncertain_write_window: window,
        ..config()
    };
    let (here, elsewhere) = (
        cache_on(&redis, settings.clone()),
        cache_on(&redis, settings),
    );
    let runs = Arc::new(AtomicUsize::new(0));
    let get = |cache: &Cache, value: u32| {
        let (cache, runs) = (cache.clone(), Arc::clone(&runs));
        async move {
            cache
                .namespace("ns")
                .get_or_compute("k", TTL, || counted(&runs, Duration::ZERO, value))
                .await
                .unwrap()
        }
    };
    get(&here, 1).await;
    assert_eq!(get(&elsewhere, 0).await.outcome, Outcome::Hit);

    let mut handle = here
        .namespace("ns")
        .invalidate(WriteOutcome::Unknown)
        .unwrap();
    assert!(handle.first_attempt().await);
    assert!(here.is_bypassed("ns"));
    for cache in [&here, &elsewhere] {
        let fetched = get(cache, 2).await;
        assert_eq!((fetched.value, fetched.outcome), (2, Outcome::Bypass));
    }
    // Each instance reads the deadline on its own wall clock, started from the system
    // time when it was built: the two may differ by a millisecond, so stop short of the
    // window's last millisecond.
    tokio::time::advance(window.saturating_sub(Duration::from_millis(50))).await;
    assert_eq!(get(&elsewhere, 3).await.outcome, Outcome::Bypass);
    handle.finished().await;
    assert!(!here.is_bypassed("ns"));
    let fetched = get(&elsewhere, 4).await;
    assert_eq!((fetched.value, fetched.outcome), (4, Outcome::Miss));
    assert_eq!(get(&here, 5).await.value, 4);
    assert_eq!(
        here.stats().invalidations,
        2,
        "the window's, then the second"
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_invalidation_is_retried_and_bypassed_here_meanwhile() {
    let redis = Arc::new(MemoryRedis::new());
    let cache = cache_on(&redis, config());
    let runs = Arc::new(AtomicUsize::new(0));
    let ns = cache.namespace("ns");
    ns.get_or_compute("k", TTL, || {
        counted(&runs, Duration::ZERO, "old".to_owned())
    })
    .await
    .unwrap();
    redis.fail_with(Some(ErrorKind::Unavailable));
    let mut handle = ns.invalidate(WriteOutcome::Known).unwrap();
    assert!(!handle.first_attempt().await);
    assert!(cache.is_bypassed("ns"));
    redis.fail_with(None);
    // Redis is back, the invalidation not yet: this process still does not read the entry.
    let meanwhile = ns
        .get_or_compute("k", TTL, || {
            counted(&runs, Duration::ZERO, "new".to_owned())
        })
        .await
        .unwrap();
    assert_eq!(
        (meanwhile.value.as_str(), meanwhile.outcome),
        ("new", Outcome::Bypass)
    );
    handle.finished().await;
    assert!(!cache.is_bypassed("ns"));
    let stats = cache.stats();
    assert_eq!((stats.invalidation_failures, stats.invalidations), (1, 1));
    let after = ns
        .get_or_compute("k", TTL, || {
            counted(&runs, Duration::ZERO, "newer".to_owned())
        })
        .await
        .unwrap();
    assert_eq!(
        (after.value.as_str(), after.outcome),
        ("newer", Outcome::Miss)
    );
}

#[tokio::test(start_paused = true)]
async fn an_invalidation_that_never_succeeds_is_abandoned_once_entries_expired() {
    let redis = Arc::new(MemoryRedis::new());
    let cache = cache_on(
        &redis,
        CacheConfig {
            invalidation_retry_for: Duration::from_secs(5),
            ..config()
        },
    );
    let ns = cache.namespace("ns");
    ns.get_or_compute("k", Duration::from_secs(20), || async {
        Ok::<_, InfraError>(1_u8)
    })
    .await
    .unwrap();
    redis.fail_with(Some(ErrorKind::Unavailable));
    let started = Instant::now();
    ns.invalidate(WriteOutcome::Known).unwrap().finished().await;
    assert!(
        started.elapsed() >= Duration::from_secs(18),
        "retried for the longest TTL stored with, not only 5 s: {:?}",
        started.elapsed()
    );
    assert_eq!(cache.stats().invalidations_abandoned, 1);
    assert!(!cache.is_bypassed("ns"));
}

#[tokio::test(start_paused = true)]
async fn a_hot_entry_is_refreshed_before_it_expires() {
    let redis = Arc::new(MemoryRedis::new());
    let eager = cache_on(
        &redis,
        CacheConfig {
            // Refreshes with probability ~1 as long as the entry has not expired.
            early_refresh_beta: 1e12,
            ..config()
        },
    );
    let runs = Arc::new(AtomicUsize::new(0));
    let ns = eager.namespace("ns");
    let slow = |value| counted(&runs, Duration::from_secs(1), value);
    ns.get_or_compute("k", Duration::from_secs(10), || slow(1_u32))
        .await
        .unwrap();
    tokio::time::advance(Duration::from_secs(5)).await;
    let refreshed = ns
        .get_or_compute("k", Duration::from_secs(10), || slow(2))
        .await
        .unwrap();
    assert_eq!((refreshed.value, refreshed.outcome), (2, Outcome::Miss));
    assert_eq!(eager.stats().early_refreshes, 1);

    // With early refresh off, the same entry is a plain hit.
    let plain = cache_on(&redis, config());
    let hit = plain
        .namespace("ns")
        .get_or_compute("k", Duration::from_secs(10), || slow(3))
        .await
        .unwrap();
    assert_eq!((hit.value, hit.outcome), (2, Outcome::Hit));
}

#[tokio::test(start_paused = true)]
async fn a_lease_makes_other_instances_wait_for_the_holders_value_within_a_bound() {
    let redis = Arc::new(MemoryRedis::new());
    let settings = CacheConfig {
        lease: Some(LeaseConfig {
            wait: Duration::from_secs(1),
            poll: Duration::from_millis(10),
        }),
        ..config()
    };
    let (first, second) = (
        cache_on(&redis, settings.clone()),
        cache_on(&redis, settings),
    );
    let runs = Arc::new(AtomicUsize::new(0));
    let get = |cache: &Cache, key: &'static str, took: Duration, value: &'static str| {
        let (cache, runs) = (cache.clone(), Arc::clone(&runs));
        tokio::spawn(async move {
            cache
                .namespace("ns")
                .get_or_compute(key, TTL, || counted(&runs, took, value.to_owned()))
                .await
                .unwrap()
        })
    };
    // The holder computes in 200 ms: the other instance gets its value.
    let holder = get(&first, "fast", Duration::from_millis(200), "one");
    tokio::time::sleep(Duration::from_millis(1)).await;
    let pending = get(&second, "fast", Duration::ZERO, "two");
    assert_eq!(holder.await.unwrap().outcome, Outcome::Miss);
    let waited = pending.await.unwrap();
    assert_eq!(
        (waited.value.as_str(), waited.outcome),
        ("one", Outcome::Hit)
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1);

    // The holder takes longer than the wait: the other computes anyway, once the wait ends.
    let holder = get(&first, "slow", Duration::from_secs(30), "one");
    tokio::time::sleep(Duration::from_millis(1)).await;
    let started = Instant::now();
    let waited = get(&second, "slow", Duration::ZERO, "two").await.unwrap();
    assert_eq!(
        (waited.value.as_str(), waited.outcome),
        ("two", Outcome::Miss)
    );
    assert!(started.elapsed() <= Duration::from_secs(1));
    holder.abort();
}

#[tokio::test]
async fn ttls_are_jittered_downwards_only() {
    let redis = Arc::new(MemoryRedis::new());
    let cache = cache_on(
        &redis,
        CacheConfig {
            ttl_jitter: 0.5,
            ..config()
        },
    );
    let ttl = Duration::from_secs(100);
    let mut seen = Vec::new();
    for i in 0..20 {
        let key = format!("k{i}");
        cache
            .namespace("ns")
            .get_or_compute(&key, ttl, || async { Ok::<_, InfraError>(i) })
            .await
            .unwrap();
        let left = redis
            .ttl(&value_key(&cache, &redis, "ns", &key).await)
            .unwrap();
        assert!(left <= ttl && left >= Duration::from_secs(49), "{left:?}");
        seen.push(left.as_millis());
    }
    seen.sort_unstable();
    seen.dedup();
    assert!(seen.len() > 1, "TTLs differ");
}

/// Text as is: a codec other than JSON.
struct Text;

impl Codec<String> for Text {
    fn encode(&self, value: &String) -> Result<Vec<u8>, String> {
        Ok(value.as_bytes().to_vec())
    }
    fn decode(&self, bytes: &[u8]) -> Result<String, String> {
        String::from_utf8(bytes.to_vec()).map_err(|e| e.to_string())
    }
}

#[tokio::test]
async fn the_codec_can_be_chosen_and_unreadable_entries_are_misses() {
    let redis = Arc::new(MemoryRedis::new());
    let cache = cache_on(&redis, config());
    let ns = cache.namespace("ns").with_codec(Text);
    let load = || async { Ok::<_, InfraError>("plain text".to_owned()) };
    ns.get_or_compute("k", TTL, load).await.unwrap();
    let key = value_key(&cache, &redis, "ns", "k").await;
    let stored = redis.get(&key).await.unwrap().unwrap();
    assert_eq!(&stored[format::HEADER_LEN..], b"plain text");
    assert_eq!(
        ns.get_or_compute("k", TTL, load).await.unwrap().outcome,
        Outcome::Hit
    );

    redis
        .set(&key, b"garbage", SetOptions::default())
        .await
        .unwrap();
    assert_eq!(
        ns.get_or_compute("k", TTL, load).await.unwrap().outcome,
        Outcome::Miss
    );
    assert_eq!(
        ns.get_or_compute("k", TTL, load).await.unwrap().outcome,
        Outcome::Hit
    );
    assert_eq!(cache.stats().errors, 1, "the unreadable entry");
}

#[tokio::test]
async fn bad_namespaces_and_zero_ttls_are_refused() {
    let redis = Arc::new(MemoryRedis::new());
    let cache = cache_on(&redis, config());
    let load = || async { Ok::<_, InfraError>(1_u8) };
    let long = "n".repeat(MAX_NAMESPACE_LEN + 1);
    for name in ["", "a:b", "a b", "tab\t", long.as_str()] {
        let err = cache
            .namespace(name)
            .get_or_compute("k", TTL, load)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{name:?}");
        assert!(err.message().contains("expected 1-256 bytes"), "{err}");
        assert_eq!(
            cache
                .namespace(name)
                .invalidate(WriteOutcome::Known)
                .unwrap_err()
                .kind(),
            ErrorKind::InvalidInput
        );
    }
    let err = cache
        .namespace("ok")
        .get_or_compute("k", Duration::ZERO, load)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}

#[test]
fn metrics_count_outcomes_computations_and_errors_by_cache_name() {
    let capture = MetricsCapture::new();
    let redis = Arc::new(MemoryRedis::new());
    capture.block_on(async {
        let cache = cache_on(&redis, config());
        let ns = cache.namespace("ns");
        let load = || async { Ok::<_, InfraError>(1_u8) };
        ns.get_or_compute("k", TTL, load).await.unwrap();
        ns.get_or_compute("k", TTL, load).await.unwrap();
        redis.fail_with(Some(ErrorKind::Unavailable));
        ns.get_or_compute("k", TTL, load).await.unwrap();
    });
    let samples = capture.samples();
    let count = |name: &str, label: &str, value: &str| match MetricsCapture::find(
        &samples,
        name,
        &[("cache_name", "test"), (label, value)],
    )
    .map(|s| &s.value)
    {
        Some(SampleValue::Counter(n)) => *n,
        other => panic!("{name}{{{label}={value}}}: {other:?}"),
    };
    assert_eq!(count(telemetry::CACHE_OUTCOMES, "outcome", "miss"), 1);
    assert_eq!(count(telemetry::CACHE_OUTCOMES, "outcome", "hit"), 1);
    assert_eq!(count(telemetry::CACHE_OUTCOMES, "outcome", "bypass"), 1);
    assert_eq!(count(telemetry::CACHE_COMPUTES, "reason", "miss"), 1);
    assert_eq!(count(telemetry::CACHE_COMPUTES, "reason", "bypass"), 1);
    assert_eq!(
        count(telemetry::CACHE_ERRORS, "cache_operation", "generation"),
        1
    );
    for sample in &samples {
        let names: Vec<&str> = sample.labels.keys().map(String::as_str).collect();
        let info = telemetry::CATALOG
            .iter()
            .find(|m| m.name == sample.name)
            .expect("a catalogued metric");
        let mut declared = info.labels.to_vec();
        declared.sort_unstable();
        assert_eq!(names, declared, "{}", sample.name);
    }
}

/// A Redis that never answers.
struct Hung;

#[async_trait::async_trait]
impl RedisPort for Hung {
    async fn ping(&self) -> InfraResult<()> {
        std::future::pending().await
    }
    async fn get(&self, _: &str) -> InfraResult<Option<Vec<u8>>> {
        std::future::pending().await
    }
    async fn set(&self, _: &str, _: &[u8], _: SetOptions) -> InfraResult<bool> {
        std::future::pending().await
    }
    async fn del(&self, _: &[String]) -> InfraResult<u64> {
        std::future::pending().await
    }
    async fn exists(&self, _: &str) -> InfraResult<bool> {
        std::future::pending().await
    }
    async fn expire(&self, _: &str, _: Duration) -> InfraResult<bool> {
        std::future::pending().await
    }
    async fn incr_by(&self, _: &str, _: i64, _: Option<Duration>) -> InfraResult<i64> {
        std::future::pending().await
    }
    async fn mget(&self, _: &[String]) -> InfraResult<Vec<Option<Vec<u8>>>> {
        std::future::pending().await
    }
    async fn publish(&self, _: &str, _: &[u8]) -> InfraResult<u64> {
        std::future::pending().await
    }
    async fn command(
        &self,
        _: &crate::Command,
        _: crate::resilience::Idempotency,
    ) -> InfraResult<crate::Reply> {
        std::future::pending().await
    }
    async fn pipeline(&self, _: &crate::Pipeline) -> InfraResult<Vec<crate::Reply>> {
        std::future::pending().await
    }
}
