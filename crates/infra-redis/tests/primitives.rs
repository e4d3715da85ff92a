//! Tier 2: the lock and the rate limiter when their Redis server dies. Their contracts on a
//! live server (every mode) are conformance cases (`lock_*`, `rate_limit_*`); this file
//! kills the server under them. Run by `cargo xtask test-integration`.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{blocking, settings};
use infra_base::redis::{LockOptions, RateLimit, RateLimiter, RedisLock};
use infra_base::{ErrorKind, InfraError, RedisPort};
use infra_testkit::RedisServer;

/// A dead server is a dependency failure the caller can act on (retry later, fail open or
/// closed), never "held by someone else" or "rate limited".
#[track_caller]
fn assert_dependency_failure(err: &InfraError, what: &str) {
    assert!(
        matches!(
            err.kind(),
            ErrorKind::Unavailable | ErrorKind::Timeout | ErrorKind::CircuitOpen
        ),
        "{what}: expected unavailable, timeout or circuit_open, got {}",
        err.chain()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "tier 2: needs redis-server; run by cargo xtask test-integration"]
async fn a_dead_server_is_a_clear_error_and_a_held_lock_reports_its_loss() {
    let server = blocking(|| RedisServer::start().expect("redis-server starts")).await;
    let settings = settings(&[("URL", &server.url()), ("COMMAND_TIMEOUT", "200ms")]);
    let port: Arc<dyn RedisPort> = infra_redis::build(&settings).expect("build").port();
    let options = LockOptions::new(Duration::from_millis(600))
        .auto_extend(true)
        .wait(Duration::from_millis(200));
    let lock = RedisLock::new(Arc::clone(&port), "primitives-down", options).unwrap();
    let limit = RateLimit::new(10, Duration::from_secs(1)).unwrap();
    let limiter = RateLimiter::new(port, "primitives-down", limit).unwrap();
    let guard = lock.acquire().await.expect("acquired on a live server");
    assert!(limiter.check("a").await.unwrap().allowed);

    blocking(move || {
        server.kill().expect("kill");
        server
    })
    .await;
    assert_dependency_failure(&lock.acquire().await.unwrap_err(), "acquire");
    assert_dependency_failure(&lock.try_acquire().await.unwrap_err(), "try_acquire");
    assert_dependency_failure(&limiter.check("a").await.unwrap_err(), "check");
    tokio::time::timeout(Duration::from_secs(10), guard.lost())
        .await
        .expect("the automatic extension reports the lock lost once its lease has ended");
    assert!(guard.is_lost());
}
