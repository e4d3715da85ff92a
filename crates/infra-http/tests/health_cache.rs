//! HealthCache: parallel checks under a timeout, criticality, TTL caching, single flight.
//! Every test runs on a paused clock.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::Fake;
use infra_base::{Component, ComponentHealth, Components, HealthStatus, MockLifecycle};
use infra_config::HealthSettings;
use infra_http::HealthCache;
use tokio::task::JoinSet;
use tokio::time::{Instant, advance, sleep};

const TTL: Duration = Duration::from_secs(2);

fn settings(check_timeout_ms: u64) -> HealthSettings {
    HealthSettings {
        cache_ttl: TTL,
        check_timeout: Duration::from_millis(check_timeout_ms),
        ..HealthSettings::default()
    }
}

fn cache(components: &[(&str, bool, &Arc<Fake>)], check_timeout_ms: u64) -> HealthCache {
    let mut set = Components::new();
    for (name, critical, fake) in components {
        set.push(Component::new(*name, *critical, Arc::clone(fake) as _));
    }
    HealthCache::new(set, &settings(check_timeout_ms))
}

#[tokio::test(start_paused = true)]
async fn checks_run_in_parallel_each_under_its_own_timeout() {
    let (slow, fast) = (Fake::new(5_000), Fake::new(40));
    let cache = cache(&[("qdrant", false, &slow), ("redis", true, &fast)], 100);
    let started = Instant::now();
    let report = cache.report().await;
    assert_eq!(
        started.elapsed(),
        Duration::from_millis(100),
        "parallel, bounded"
    );
    assert_eq!(report.components[0].health.status, HealthStatus::Fail);
    assert!(
        report.components[0]
            .health
            .output
            .as_deref()
            .unwrap()
            .starts_with("timeout")
    );
    assert_eq!(report.components[1].health.status, HealthStatus::Pass);
    assert_eq!(
        report.status,
        HealthStatus::Warn,
        "the slow one is not critical"
    );
}

#[tokio::test(start_paused = true)]
async fn criticality_decides_between_warn_and_fail() {
    let cases = [
        (false, false, HealthStatus::Pass, true),
        (false, true, HealthStatus::Warn, true),
        (true, false, HealthStatus::Fail, false),
        (true, true, HealthStatus::Fail, false),
    ];
    for (critical_fails, optional_fails, status, ready) in cases {
        let critical = if critical_fails {
            Fake::failing(1)
        } else {
            Fake::new(1)
        };
        let optional = if optional_fails {
            Fake::failing(1)
        } else {
            Fake::new(1)
        };
        let cache = cache(
            &[("qdrant", true, &critical), ("redis", false, &optional)],
            1_000,
        );
        let report = cache.report().await;
        assert_eq!(report.status, status, "{critical_fails} {optional_fails}");
        assert_eq!(report.is_ready(), ready);
    }
}

#[tokio::test(start_paused = true)]
async fn concurrent_requests_share_one_check() {
    let (redis, qdrant) = (Fake::new(50), Fake::new(80));
    let cache = cache(
        &[("redis", false, &redis), ("qdrant", true, &qdrant)],
        1_000,
    );
    let mut tasks = JoinSet::new();
    for _ in 0..100 {
        let cache = cache.clone();
        tasks.spawn(async move { cache.report().await });
    }
    let reports: Vec<_> = tasks.join_all().await;
    assert_eq!((redis.checks(), qdrant.checks()), (1, 1));
    assert!(
        reports.iter().all(|r| Arc::ptr_eq(r, &reports[0])),
        "one shared round"
    );
}

#[tokio::test(start_paused = true)]
async fn results_are_cached_for_the_ttl_then_refreshed() {
    let redis = Fake::new(10);
    let cache = cache(&[("redis", true, &redis)], 1_000);
    let first = cache.report().await;
    // Any number of requests within the TTL: still one check.
    for _ in 0..20 {
        advance(Duration::from_millis(50)).await;
        assert!(Arc::ptr_eq(&cache.report().await, &first));
    }
    assert_eq!(redis.checks(), 1);

    advance(TTL).await;
    let second = cache.report().await;
    assert!(!Arc::ptr_eq(&second, &first));
    assert_eq!(redis.checks(), 2, "expired: one new check");
    assert!(Arc::ptr_eq(&cache.report().await, &second));
    assert_eq!(redis.checks(), 2);
}

#[tokio::test(start_paused = true)]
async fn failures_are_cached_too() {
    let redis = Fake::failing(10);
    let cache = cache(&[("redis", true, &redis)], 1_000);
    for _ in 0..10 {
        assert_eq!(cache.report().await.status, HealthStatus::Fail);
    }
    assert_eq!(redis.checks(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_caller_that_gives_up_does_not_cancel_the_shared_check() {
    let redis = Fake::new(200);
    let cache = cache(&[("redis", true, &redis)], 1_000);
    let impatient = tokio::time::timeout(Duration::from_millis(50), cache.report()).await;
    assert!(impatient.is_err());
    let started = Instant::now();
    let report = cache.report().await;
    assert_eq!(report.status, HealthStatus::Pass);
    assert_eq!(
        started.elapsed(),
        Duration::from_millis(150),
        "joined the running round"
    );
    assert_eq!(redis.checks(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_sustained_request_rate_pings_at_most_once_per_ttl() {
    let redis = Fake::new(5);
    let cache = cache(&[("redis", true, &redis)], 1_000);
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        cache.report().await;
        sleep(Duration::from_millis(10)).await;
    }
    let bound = usize::try_from(20 / TTL.as_secs()).unwrap() + 1;
    assert!(redis.checks() <= bound, "{} checks in 20s", redis.checks());
    assert!(
        redis.checks() >= bound - 1,
        "{} checks in 20s",
        redis.checks()
    );
}

#[tokio::test(start_paused = true)]
async fn works_with_mockall_lifecycles() {
    let mut mock = MockLifecycle::new();
    mock.expect_health()
        .times(1)
        .returning(|| ComponentHealth::fail(None, "auth: credentials refused"));
    let components = Components::new().with(Component::new("qdrant", false, Arc::new(mock)));
    let cache = HealthCache::new(components, &settings(100));
    for _ in 0..5 {
        let report = cache.report().await;
        assert_eq!(report.status, HealthStatus::Warn);
    }
}

#[tokio::test(start_paused = true)]
async fn health_json_follows_the_draft() {
    let (redis, qdrant) = (Fake::failing(3), Fake::new(7));
    let cache = cache(
        &[("redis", false, &redis), ("qdrant", true, &qdrant)],
        1_000,
    );
    let json = cache.report().await.to_health_json(Some("demo"));
    assert_eq!(json["status"], "warn");
    assert_eq!(json["serviceId"], "demo");
    let checks = json["checks"].as_object().unwrap();
    assert_eq!(checks.len(), 2);
    let redis = &checks["redis:responseTime"][0];
    assert_eq!(redis["componentType"], "datastore");
    assert_eq!(redis["observedValue"], 3.0);
    assert_eq!(redis["observedUnit"], "ms");
    assert_eq!(redis["status"], "fail");
    assert_eq!(redis["output"], "unavailable: connection refused");
    let time = redis["time"].as_str().unwrap();
    assert!(humantime::parse_rfc3339(time).is_ok(), "{time}");
    let qdrant = &checks["qdrant:responseTime"][0];
    assert_eq!(qdrant["status"], "pass");
    assert_eq!(qdrant["observedValue"], 7.0);
    assert!(qdrant.get("output").is_none());
}
