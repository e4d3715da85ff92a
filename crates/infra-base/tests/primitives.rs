//! The lock's and the rate limiter's contracts where a server cannot show them: a reply lost
//! after the server applied the script, Redis down, and exact GCRA arithmetic on a paused
//! clock (MemoryRedis emulates the primitives' scripts on tokio's clock). The cases that hold
//! on every port, real servers included, are in the conformance suite.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use infra_base::layer::Layered;
use infra_base::redis::{Command, Pipeline, Reply};
use infra_base::resilience::{Idempotency, Resilience, RetryPolicy};
use infra_base::testing::MemoryRedis;
use infra_base::{
    ErrorKind, InfraError, InfraResult, Lifecycle, LockOptions, RateLimit, RateLimiter, RedisLock,
    RedisPort, SetOptions,
};

/// A port that runs every script on `inner` but loses the reply of the first `lose`
/// script calls (a timeout after the server applied it), and counts script calls.
struct LosesReplies {
    inner: MemoryRedis,
    lose: AtomicUsize,
    scripts: AtomicUsize,
}

impl LosesReplies {
    fn new(lose: usize) -> Self {
        Self {
            inner: MemoryRedis::new(),
            lose: AtomicUsize::new(lose),
            scripts: AtomicUsize::new(0),
        }
    }
}

#[async_trait]
impl RedisPort for LosesReplies {
    async fn ping(&self) -> InfraResult<()> {
        self.inner.ping().await
    }
    async fn get(&self, key: &str) -> InfraResult<Option<Vec<u8>>> {
        self.inner.get(key).await
    }
    async fn set(&self, key: &str, value: &[u8], options: SetOptions) -> InfraResult<bool> {
        self.inner.set(key, value, options).await
    }
    async fn del(&self, keys: &[String]) -> InfraResult<u64> {
        self.inner.del(keys).await
    }
    async fn exists(&self, key: &str) -> InfraResult<bool> {
        self.inner.exists(key).await
    }
    async fn expire(&self, key: &str, ttl: Duration) -> InfraResult<bool> {
        self.inner.expire(key, ttl).await
    }
    async fn incr_by(&self, key: &str, delta: i64, ttl: Option<Duration>) -> InfraResult<i64> {
        self.inner.incr_by(key, delta, ttl).await
    }
    async fn mget(&self, keys: &[String]) -> InfraResult<Vec<Option<Vec<u8>>>> {
        self.inner.mget(keys).await
    }
    async fn publish(&self, channel: &str, message: &[u8]) -> InfraResult<u64> {
        self.inner.publish(channel, message).await
    }
    async fn command(&self, command: &Command, idempotency: Idempotency) -> InfraResult<Reply> {
        let reply = self.inner.command(command, idempotency).await?;
        if command.name().starts_with("EVAL") {
            self.scripts.fetch_add(1, Ordering::SeqCst);
            let lost = self
                .lose
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            if lost {
                return Err(InfraError::new(
                    ErrorKind::Timeout,
                    "redis",
                    "command",
                    "no reply within 1s (the script ran)",
                ));
            }
        }
        Ok(reply)
    }
    async fn pipeline(&self, pipeline: &Pipeline) -> InfraResult<Vec<Reply>> {
        self.inner.pipeline(pipeline).await
    }
}

/// `port` behind a resilience layer that retries transient errors at once.
fn with_retries(port: Arc<LosesReplies>) -> Arc<dyn RedisPort> {
    let policy = Resilience::new("redis").with_retry(
        RetryPolicy::new(3, Duration::from_millis(1), Duration::from_millis(1)).with_jitter(false),
    );
    let port: Arc<dyn RedisPort> = port;
    Arc::new(Layered::new(port, policy))
}

#[tokio::test]
async fn an_acquire_whose_reply_was_lost_is_retried_and_counts_as_acquired() {
    let flaky = Arc::new(LosesReplies::new(1));
    let port = with_retries(Arc::clone(&flaky));
    let options = LockOptions::new(Duration::from_secs(10)).fencing(true);
    let lock = RedisLock::new(Arc::clone(&port), "job", options).unwrap();

    let guard = lock
        .try_acquire()
        .await
        .unwrap()
        .expect("the retry finds its own token: acquired, not 'held by someone'");
    assert_eq!(
        flaky.scripts.load(Ordering::SeqCst),
        2,
        "one lost reply, one retry"
    );
    assert_eq!(
        guard.fencing_token(),
        Some(1),
        "the retry returns the first attempt's fencing token"
    );
    let other = RedisLock::new(port, "job", options).unwrap();
    assert!(other.try_acquire().await.unwrap().is_none(), "held");
    assert!(guard.release().await.unwrap());
    assert!(other.try_acquire().await.unwrap().is_some(), "released");
}

#[tokio::test]
async fn a_check_whose_reply_was_lost_is_not_retried() {
    let flaky = Arc::new(LosesReplies::new(1));
    let port = with_retries(Arc::clone(&flaky));
    let limit = RateLimit::new(1, Duration::from_mins(1)).unwrap();
    let limiter = RateLimiter::new(port, "rl", limit).unwrap();
    let err = limiter.check("a").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert_eq!(err.operation(), "rate_limit");
    assert_eq!(
        flaky.scripts.load(Ordering::SeqCst),
        1,
        "a check is never sent twice: a retry could count one request twice"
    );
}

#[tokio::test]
async fn redis_down_is_a_clear_error_never_a_refusal() {
    let redis = Arc::new(MemoryRedis::new());
    let port: Arc<dyn RedisPort> = Arc::clone(&redis) as Arc<dyn RedisPort>;
    let lock = RedisLock::new(Arc::clone(&port), "job", LockOptions::default()).unwrap();
    let limiter = RateLimiter::new(
        port,
        "rl",
        RateLimit::new(5, Duration::from_secs(1)).unwrap(),
    )
    .unwrap();
    let held = lock.acquire().await.unwrap();

    redis.fail_with(Some(ErrorKind::Unavailable));
    for err in [
        lock.try_acquire().await.unwrap_err(),
        lock.acquire().await.unwrap_err(),
        held.extend().await.unwrap_err(),
        limiter.check("a").await.unwrap_err(),
    ] {
        assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
        assert!(err.is_transient());
    }
    assert_eq!(
        held.release().await.unwrap_err().kind(),
        ErrorKind::Unavailable
    );
    redis.fail_with(None);
    redis.close().await;
    assert_eq!(
        lock.acquire().await.unwrap_err().kind(),
        ErrorKind::Unavailable,
        "a closed store is unavailable, not a held lock"
    );
}

#[tokio::test]
async fn bad_names_options_and_costs_are_invalid_input() {
    let port: Arc<dyn RedisPort> = Arc::new(MemoryRedis::new());
    let ok = LockOptions::default();
    for (name, options) in [
        ("", ok),
        ("a{b", ok),
        ("a}b", ok),
        (&"x".repeat(257) as &str, ok),
        ("job", LockOptions::new(Duration::ZERO)),
        (
            "job",
            LockOptions::new(Duration::from_millis(20)).auto_extend(true),
        ),
        ("job", ok.retry_delay(Duration::ZERO)),
        ("job", ok.wait(Duration::from_hours(25))),
    ] {
        let err = RedisLock::new(Arc::clone(&port), name, options).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{name:?} {options:?}");
    }
    let lock = RedisLock::new(Arc::clone(&port), "job", ok).unwrap();
    assert_eq!(
        (lock.key(), lock.fence_key()),
        ("lock:{job}", "lock:{job}:fence")
    );
    let err = lock.try_acquire_with_token("").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);

    let limit = RateLimit::new(2, Duration::from_secs(1)).unwrap();
    assert!(RateLimiter::new(Arc::clone(&port), "", limit).is_err());
    let limiter = RateLimiter::new(port, "rl", limit).unwrap();
    for cost in [0, 3] {
        let err = limiter.check_n("a", cost).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
    }
}

#[tokio::test(start_paused = true)]
async fn gcra_is_exact_on_the_servers_clock() {
    let redis = Arc::new(MemoryRedis::new());
    let port: Arc<dyn RedisPort> = Arc::clone(&redis) as Arc<dyn RedisPort>;
    // 10 per second (one per 100 ms), 5 at once.
    let limit = RateLimit::new(10, Duration::from_secs(1))
        .unwrap()
        .with_burst(5)
        .unwrap();
    let limiter = RateLimiter::new(port, "rl", limit).unwrap();
    let ms = Duration::from_millis;

    for (remaining, reset) in [(4, 100), (3, 200), (2, 300), (1, 400), (0, 500)] {
        let d = limiter.check("a").await.unwrap();
        assert!(d.allowed);
        assert_eq!(
            (d.remaining, d.reset, d.retry_after),
            (remaining, ms(reset), ms(0))
        );
    }
    let refused = limiter.check("a").await.unwrap();
    assert!(!refused.allowed);
    assert_eq!(
        (refused.remaining, refused.retry_after, refused.reset),
        (0, ms(100), ms(500)),
        "the next request is earned 100 ms after the first; the burst is back after 500 ms"
    );
    assert_eq!(
        redis.ttl("rl:a"),
        Some(ms(500)),
        "the key lives until its TAT"
    );

    tokio::time::advance(ms(99)).await;
    let refused = limiter.check("a").await.unwrap();
    assert_eq!((refused.allowed, refused.retry_after), (false, ms(1)));
    tokio::time::advance(ms(1)).await;
    let allowed = limiter.check("a").await.unwrap();
    assert_eq!(
        (allowed.allowed, allowed.remaining, allowed.reset),
        (true, 0, ms(500))
    );

    // Replenishment: 250 ms earn two requests back (and half of a third).
    tokio::time::advance(ms(250)).await;
    let d = limiter.check("a").await.unwrap();
    assert_eq!((d.allowed, d.remaining), (true, 1));
    assert!(limiter.check("a").await.unwrap().allowed);
    assert!(!limiter.check("a").await.unwrap().allowed);

    // At rest again once the TAT has passed: the key is gone, the whole burst is back.
    tokio::time::advance(ms(500)).await;
    assert_eq!(redis.ttl("rl:a"), None);
    assert_eq!(limiter.check("a").await.unwrap().remaining, 4);
    // A batch spends several at once, and is refused as a whole.
    let batch = limiter.check_n("b", 5).await.unwrap();
    assert_eq!((batch.allowed, batch.remaining), (true, 0));
    let refused = limiter.check_n("b", 2).await.unwrap();
    assert_eq!((refused.allowed, refused.retry_after), (false, ms(200)));
}

#[tokio::test(start_paused = true)]
async fn a_lock_expires_at_its_ttl_and_its_guard_knows() {
    let port: Arc<dyn RedisPort> = Arc::new(MemoryRedis::new());
    let options = LockOptions::new(Duration::from_secs(1)).wait(Duration::ZERO);
    let lock = RedisLock::new(port, "job", options).unwrap();
    let guard = lock.try_acquire().await.unwrap().unwrap();
    assert!(!guard.is_lost());
    tokio::time::advance(Duration::from_millis(999)).await;
    assert!(lock.try_acquire().await.unwrap().is_none());
    tokio::time::advance(Duration::from_millis(1)).await;
    assert!(guard.is_lost(), "the lease's estimated end has passed");
    let next = lock.try_acquire().await.unwrap().expect("expired: free");
    assert!(
        !guard.release().await.unwrap(),
        "the stale guard deletes nothing"
    );
    assert!(
        lock.try_acquire().await.unwrap().is_none(),
        "still the next holder's"
    );
    drop(next);
}

#[tokio::test(start_paused = true)]
async fn acquire_waits_for_a_release_within_its_bound() {
    let port: Arc<dyn RedisPort> = Arc::new(MemoryRedis::new());
    let options = LockOptions::new(Duration::from_secs(30)).wait(Duration::from_secs(2));
    let lock = RedisLock::new(port, "job", options).unwrap();
    let held = lock.acquire().await.unwrap();
    let waiter = tokio::spawn({
        let lock = lock.clone();
        async move { lock.acquire().await }
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(held.release().await.unwrap());
    let acquired = waiter
        .await
        .unwrap()
        .expect("acquired once released, within the wait");
    let err = lock.acquire().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    let retry_after = err.retry_after().expect("the holder's remaining ttl");
    assert!(retry_after <= Duration::from_secs(30) && retry_after >= Duration::from_secs(27));
    drop(acquired);
}

#[tokio::test(start_paused = true)]
async fn automatic_extension_reports_a_lock_it_cannot_keep() {
    let redis = Arc::new(MemoryRedis::new());
    let port: Arc<dyn RedisPort> = Arc::clone(&redis) as Arc<dyn RedisPort>;
    let options = LockOptions::new(Duration::from_millis(300)).auto_extend(true);
    let lock = RedisLock::new(port, "job", options).unwrap();

    // Redis down: the extension keeps failing until the lease has ended.
    let guard = lock.acquire().await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!guard.is_lost(), "extended while Redis answers");
    redis.fail_with(Some(ErrorKind::Unavailable));
    tokio::time::timeout(Duration::from_secs(5), guard.lost())
        .await
        .expect("the guard reports the loss once its lease has ended");
    assert!(guard.is_lost());
    redis.fail_with(None);
    drop(guard);

    // Taken over: the next extension finds another token.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let guard = lock.acquire().await.unwrap();
    redis
        .set("lock:{job}", b"someone else", SetOptions::default())
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(5), guard.lost())
        .await
        .expect("the guard reports the loss at its next extension");
    assert!(
        !guard.release().await.unwrap(),
        "a lost lock is not released"
    );
    assert_eq!(
        redis.get("lock:{job}").await.unwrap().as_deref(),
        Some(&b"someone else"[..]),
        "the other owner's lock is untouched"
    );
}

#[tokio::test]
async fn dropping_a_guard_releases_the_lock_in_the_background() {
    let port: Arc<dyn RedisPort> = Arc::new(MemoryRedis::new());
    let options = LockOptions::new(Duration::from_mins(1)).wait(Duration::ZERO);
    let lock = RedisLock::new(port, "job", options).unwrap();
    drop(lock.try_acquire().await.unwrap().unwrap());
    let mut reacquired = None;
    for _ in 0..100 {
        tokio::task::yield_now().await;
        if let Some(guard) = lock.try_acquire().await.unwrap() {
            reacquired = Some(guard);
            break;
        }
    }
    assert!(
        reacquired.is_some(),
        "the dropped guard's release ran: the lock is free long before its 60 s ttl"
    );
}
