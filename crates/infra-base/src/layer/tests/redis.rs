//! The resilience layer around every RedisPort method: which calls are retried.

use tokio::time::Instant;

use std::sync::Arc;

use crate::error::{ErrorKind, InfraError};
use crate::redis::MockRedisPort;
use std::time::Duration;

use crate::layer::Layered;
use crate::redis::{RedisPort, SetOptions};
use crate::resilience::{BreakerConfig, BreakerState, Resilience, RetryPolicy};

const MS: Duration = Duration::from_millis(1);

fn policy() -> Resilience {
    Resilience::new("redis").with_retry(RetryPolicy::new(3, 100 * MS, 1000 * MS).with_jitter(false))
}

fn unavailable(operation: &'static str) -> InfraError {
    InfraError::new(
        ErrorKind::Unavailable,
        "redis",
        operation,
        "connection refused",
    )
}

/// A mock implements `RedisPort` itself, so it is layered as `dyn RedisPort`.
fn wrap(mock: MockRedisPort, policy: Resilience) -> Layered<dyn RedisPort, Resilience> {
    Layered::new(Arc::new(mock), policy)
}

#[tokio::test(start_paused = true)]
async fn incr_by_and_publish_are_attempted_once() {
    let mut mock = MockRedisPort::new();
    mock.expect_incr_by()
        .times(1)
        .returning(|_, _, _| Err(unavailable("incr_by")));
    mock.expect_publish()
        .times(1)
        .returning(|_, _| Err(unavailable("publish")));
    let redis = wrap(mock, policy());
    let err = redis.incr_by("hits", 1, None).await.unwrap_err();
    assert_eq!(
        (err.kind(), err.operation()),
        (ErrorKind::Unavailable, "incr_by")
    );
    let err = redis.publish("events", b"x").await.unwrap_err();
    assert_eq!(
        (err.kind(), err.operation()),
        (ErrorKind::Unavailable, "publish")
    );
}

#[tokio::test(start_paused = true)]
async fn idempotent_calls_are_retried_until_they_succeed() {
    let mut mock = MockRedisPort::new();
    let mut failures = 2;
    mock.expect_get()
        .withf(|key| key == "user:1")
        .times(3)
        .returning(move |_| {
            if failures > 0 {
                failures -= 1;
                Err(unavailable("get"))
            } else {
                Ok(Some(b"v".to_vec()))
            }
        });
    let redis = wrap(mock, policy());
    let started = Instant::now();
    assert_eq!(redis.get("user:1").await.unwrap(), Some(b"v".to_vec()));
    assert_eq!(started.elapsed(), 300 * MS);
}

#[tokio::test(start_paused = true)]
async fn transient_errors_are_returned_after_max_attempts() {
    let mut mock = MockRedisPort::new();
    mock.expect_mget()
        .times(3)
        .returning(|_| Err(unavailable("mget")));
    let redis = wrap(mock, policy());
    let err = redis.mget(&["a".into(), "b".into()]).await.unwrap_err();
    assert_eq!(
        (err.kind(), err.operation()),
        (ErrorKind::Unavailable, "mget")
    );
}

#[tokio::test(start_paused = true)]
async fn invalid_input_is_not_retried() {
    let mut mock = MockRedisPort::new();
    mock.expect_set().times(1).returning(|_, _, _| {
        Err(InfraError::new(
            ErrorKind::InvalidInput,
            "redis",
            "set",
            "zero TTL",
        ))
    });
    let redis = wrap(mock, policy());
    let opts = SetOptions::with_ttl(Duration::ZERO);
    let err = redis.set("k", b"v", opts).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}

#[tokio::test(start_paused = true)]
async fn open_breaker_fails_fast_without_calling_the_port() {
    let mut mock = MockRedisPort::new();
    mock.expect_exists()
        .times(2)
        .returning(|_| Err(unavailable("exists")));
    let breaker = BreakerConfig {
        failure_threshold: 2,
        open_for: Duration::from_secs(5),
    };
    let redis = wrap(
        mock,
        policy()
            .with_retry(RetryPolicy::no_retry())
            .with_breaker(breaker),
    );
    for _ in 0..2 {
        assert_eq!(
            redis.exists("k").await.unwrap_err().kind(),
            ErrorKind::Unavailable
        );
    }
    assert_eq!(redis.layer().breaker_state(), Some(BreakerState::Open));
    for _ in 0..3 {
        let err = redis.exists("k").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::CircuitOpen);
        assert_eq!((err.backend(), err.operation()), ("redis", "exists"));
        assert_eq!(err.retry_after(), Some(Duration::from_secs(5)));
    }
    // Dropping the wrapper checks the mock's `times(2)`: the port was not called again.
}

#[tokio::test(start_paused = true)]
async fn breaker_recovers_through_a_probe() {
    let mut mock = MockRedisPort::new();
    let mut calls = 0;
    mock.expect_ping().times(2).returning(move || {
        calls += 1;
        if calls == 1 {
            Err(unavailable("ping"))
        } else {
            Ok(())
        }
    });
    let breaker = BreakerConfig {
        failure_threshold: 1,
        open_for: Duration::from_secs(1),
    };
    let redis = wrap(mock, policy().with_breaker(breaker));
    assert_eq!(
        redis.ping().await.unwrap_err().kind(),
        ErrorKind::Unavailable
    );
    assert_eq!(
        redis.ping().await.unwrap_err().kind(),
        ErrorKind::CircuitOpen
    );
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(redis.layer().breaker_state(), Some(BreakerState::HalfOpen));
    redis.ping().await.unwrap();
    assert_eq!(redis.layer().breaker_state(), Some(BreakerState::Closed));
}

#[tokio::test]
async fn arguments_and_results_pass_through_unchanged() {
    let mut mock = MockRedisPort::new();
    mock.expect_set()
        .withf(|key, value, opts| {
            key == "k"
                && value == b"v"
                && *opts == SetOptions::with_ttl(Duration::from_secs(9)).if_absent()
        })
        .times(1)
        .returning(|_, _, _| Ok(true));
    mock.expect_incr_by()
        .withf(|key, delta, ttl| {
            key == "n" && *delta == -3 && *ttl == Some(Duration::from_secs(90))
        })
        .times(1)
        .returning(|_, _, _| Ok(39));
    let redis: Arc<dyn RedisPort> = Arc::new(wrap(mock, policy()));
    let opts = SetOptions::with_ttl(Duration::from_secs(9)).if_absent();
    assert!(redis.set("k", b"v", opts).await.unwrap());
    assert_eq!(
        redis
            .incr_by("n", -3, Some(Duration::from_secs(90)))
            .await
            .unwrap(),
        39
    );
}

#[tokio::test(start_paused = true)]
async fn command_and_pipeline_are_retried_exactly_as_the_caller_states() {
    use crate::redis::{Command, Pipeline};
    use crate::resilience::Idempotency::{Idempotent, NonIdempotent};

    let mut mock = MockRedisPort::new();
    // Two calls stated non-idempotent (attempted once each), two stated idempotent (three
    // attempts each under the policy): 1 + 3 per method.
    mock.expect_command()
        .withf(|cmd, _| cmd.name() == "HINCRBY")
        .times(1)
        .returning(|_, _| Err(unavailable("command")));
    mock.expect_command()
        .withf(|cmd, _| cmd.name() == "HGET")
        .times(3)
        .returning(|_, _| Err(unavailable("command")));
    mock.expect_pipeline()
        .withf(|pipe| pipe.idempotency() == NonIdempotent)
        .times(1)
        .returning(|_| Err(unavailable("pipeline")));
    mock.expect_pipeline()
        .withf(|pipe| pipe.idempotency() == Idempotent)
        .times(3)
        .returning(|_| Err(unavailable("pipeline")));
    let redis = wrap(mock, policy());
    let incr = Command::new("HINCRBY").arg("h").arg("f").arg(1);
    let err = redis.command(&incr, NonIdempotent).await.unwrap_err();
    assert_eq!(
        (err.kind(), err.operation()),
        (ErrorKind::Unavailable, "command")
    );
    let get = Command::new("HGET").arg("h").arg("f");
    assert!(redis.command(&get, Idempotent).await.is_err());
    let pipe = Pipeline::atomic(NonIdempotent).with(incr);
    assert!(redis.pipeline(&pipe).await.is_err());
    let pipe = Pipeline::new(Idempotent).with(get);
    assert!(redis.pipeline(&pipe).await.is_err());
    assert_eq!(
        crate::layer::Layer::max_attempts(redis.layer(), crate::redis::ops::command(Idempotent)),
        3
    );
    assert_eq!(
        crate::layer::Layer::max_attempts(
            redis.layer(),
            crate::redis::ops::pipeline(NonIdempotent)
        ),
        1
    );
}

#[tokio::test]
async fn eval_script_falls_back_to_eval_only_on_noscript() {
    use crate::redis::{RedisPortExt, Reply, Script, noscript_error};
    use crate::resilience::Idempotency::NonIdempotent;

    let script = Script::new("return KEYS[1]");
    let sha = script.sha1().to_owned();
    let mut mock = MockRedisPort::new();
    let mut seq = mockall::Sequence::new();
    mock.expect_command()
        .withf(move |cmd, idem| {
            cmd.name() == "EVALSHA"
                && cmd.args().eq([sha.as_bytes(), b"1", b"k", b"a"])
                && *idem == NonIdempotent
        })
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| Err(noscript_error("command")));
    mock.expect_command()
        .withf(|cmd, _| cmd.name() == "EVAL" && cmd.args().next() == Some(b"return KEYS[1]"))
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| Ok(Reply::Bulk(b"k".to_vec())));
    // Any other error is the call's error, without a fallback.
    mock.expect_command()
        .withf(|cmd, _| cmd.name() == "EVALSHA")
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| Err(unavailable("command")));
    let redis: Arc<dyn RedisPort> = Arc::new(mock);
    let reply = redis
        .eval_script(&script, &["k"], &[b"a".as_slice()], NonIdempotent)
        .await
        .unwrap();
    assert_eq!(reply, Reply::Bulk(b"k".to_vec()));
    let err = redis
        .eval_script(&script, &["k"], &[b"a".as_slice()], NonIdempotent)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
}
