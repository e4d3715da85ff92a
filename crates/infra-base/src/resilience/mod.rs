//! Timeout, retry with backoff and a circuit breaker, as layers around any port.
//!
//! [`Resilience`] is one policy for one backend: a per-attempt timeout, a [`RetryPolicy`]
//! and an optional [`CircuitBreaker`]. [`Resilience::run`] applies it to any async
//! operation; as a [`Layer`](crate::layer::Layer) it applies to every method of a port
//! ([`PortLayers`](crate::layer::PortLayers) puts it innermost in the standard stack), so a
//! service gets resilience by wrapping its adapter once at the composition root and keeps
//! depending on `Arc<dyn RedisPort>` / `Arc<dyn VectorPort>`.
//!
//! # Layer order
//!
//! From the outside in, for one operation:
//!
//! ```text
//! retry loop                      (only transient errors of idempotent operations)
//!   └─ circuit breaker, per attempt (admission, then records the attempt's outcome)
//!        └─ timeout, per attempt    (a hung attempt is cancelled -> Timeout)
//!             └─ port call
//! ```
//!
//! - **The timeout is inside the retry loop**, so each attempt gets its own budget: a hung
//!   attempt is cancelled and becomes a transient [`Timeout`](crate::ErrorKind::Timeout)
//!   that can be retried. A timeout around the whole loop would cancel the retries
//!   themselves. An operation therefore takes at most
//!   `max_attempts * timeout + the backoff delays`; no overall deadline is imposed here (a
//!   caller that needs one wraps `run` in [`tokio::time::timeout`]).
//! - **The breaker sees every attempt**, not every operation, and sits outside the
//!   timeout: a timed-out attempt counts as a failure, `failure_threshold` failed
//!   attempts open it even within one retrying call, and once it is open the next
//!   admission fails fast. Its [`CircuitOpen`](crate::ErrorKind::CircuitOpen) error is not
//!   transient, so an open breaker ends the retry loop at once; the loop also stops
//!   (returning the last real error) when an attempt has just opened the breaker, instead
//!   of sleeping for nothing.
//! - **Only transient errors are retried** ([`ErrorKind::is_transient`](crate::ErrorKind::is_transient):
//!   `Unavailable`, `Timeout`, `PoolExhausted`), and only for [`Idempotency::Idempotent`]
//!   operations; an error such as `InvalidInput` or `NotFound` is returned after one attempt.
//!
//! Errors raised by the layers (`Timeout`, `CircuitOpen`) carry the policy's backend and the
//! operation's name and never include keys or values; errors from the port are returned
//! unchanged. Retries are logged at `debug` (fields `backend`, `operation`, `attempt`,
//! `delay_ms`, `kind`) and counted in [`RETRIES`](crate::telemetry::RETRIES), giving up
//! after retries at `warn`; breaker transitions are logged and recorded in
//! [`BREAKER_STATE`](crate::telemetry::BREAKER_STATE) and
//! [`BREAKER_TRANSITIONS`](crate::telemetry::BREAKER_TRANSITIONS).
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use infra_base::{REDIS_BACKEND, RedisPort};
//! use infra_base::layer::Layered;
//! use infra_base::resilience::{BreakerConfig, Idempotency, Resilience, RetryPolicy};
//!
//! let policy = Resilience::new(REDIS_BACKEND)
//!     .with_timeout(Duration::from_millis(250))
//!     .with_retry(RetryPolicy::new(3, Duration::from_millis(50), Duration::from_secs(1)))
//!     .with_breaker(BreakerConfig { failure_threshold: 5, open_for: Duration::from_secs(1) });
//!
//! /// At the composition root: every call through the returned port gets the policy.
//! fn resilient(adapter: Arc<dyn RedisPort>, policy: Resilience) -> Arc<dyn RedisPort> {
//!     Arc::new(Layered::new(adapter, policy))
//! }
//!
//! // Any other async operation can run under the same policy (and share its breaker).
//! # tokio::runtime::Builder::new_current_thread().enable_time().build()?.block_on(async {
//! let answer = policy.run("answer", Idempotency::Idempotent, || async { Ok(42) }).await?;
//! assert_eq!(answer, 42);
//! # Ok::<(), infra_base::InfraError>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod breaker;
#[cfg(feature = "config")]
mod from_settings;
mod retry;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{ErrorKind, InfraError, InfraResult};

pub use breaker::{BreakerConfig, BreakerState, CircuitBreaker};
pub use retry::RetryPolicy;

/// Whether an operation may be repeated without changing its effect, which decides
/// whether [`Resilience::run`] retries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Idempotency {
    /// Repeating it is harmless (reads, `SET`, upsert or delete by id): retried on
    /// transient errors. A caller who made a normally unsafe operation safe to repeat (an
    /// idempotency key, a compare-and-set) opts in to retries by passing this.
    Idempotent,
    /// Repeating it may apply it twice (`INCRBY`, `PUBLISH`): attempted once, because a
    /// timed-out attempt may still have been applied.
    NonIdempotent,
}

/// A resilience policy for one backend: per-attempt timeout, retries with backoff and an
/// optional circuit breaker; see the [module documentation](self) for the layer order.
///
/// Cloning is cheap and clones share the circuit breaker, so one backend keeps one breaker
/// however many wrappers use the policy.
#[derive(Debug, Clone)]
pub struct Resilience {
    backend: &'static str,
    timeout: Option<Duration>,
    retry: RetryPolicy,
    breaker: Option<Arc<CircuitBreaker>>,
}

impl Resilience {
    /// A policy for `backend` (the name used in the errors it raises, e.g. `"redis"`) with
    /// the default [`RetryPolicy`], no timeout and no breaker.
    pub fn new(backend: &'static str) -> Self {
        Self {
            backend,
            timeout: None,
            retry: RetryPolicy::default(),
            breaker: None,
        }
    }

    /// Sets the per-attempt timeout (`None` for none): an attempt still running after it is
    /// cancelled and fails as [`ErrorKind::Timeout`].
    #[must_use]
    pub fn with_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.timeout = timeout.into();
        self
    }

    /// Sets the retry policy.
    #[must_use]
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Adds a new circuit breaker for this policy's backend.
    #[must_use]
    pub fn with_breaker(mut self, config: BreakerConfig) -> Self {
        self.breaker = Some(Arc::new(CircuitBreaker::new(self.backend, config)));
        self
    }

    /// Uses an existing breaker, so that several policies (say, different timeouts for
    /// reads and writes) trip together for the same backend.
    #[must_use]
    pub fn with_shared_breaker(mut self, breaker: Arc<CircuitBreaker>) -> Self {
        self.breaker = Some(breaker);
        self
    }

    /// The backend named in the errors this policy raises.
    pub fn backend(&self) -> &'static str {
        self.backend
    }

    /// The per-attempt timeout, if any.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// The retry policy.
    pub fn retry(&self) -> &RetryPolicy {
        &self.retry
    }

    /// The circuit breaker, if any, for health reports and metrics.
    pub fn breaker(&self) -> Option<&Arc<CircuitBreaker>> {
        self.breaker.as_ref()
    }

    /// The breaker's state, or `None` without a breaker.
    pub fn breaker_state(&self) -> Option<BreakerState> {
        self.breaker.as_deref().map(CircuitBreaker::state)
    }

    /// How many attempts an operation of this idempotency gets at most.
    pub fn max_attempts(&self, idempotency: Idempotency) -> u32 {
        match idempotency {
            Idempotency::Idempotent => self.retry.attempts(),
            Idempotency::NonIdempotent => 1,
        }
    }

    /// Runs `operation` under the policy, calling `attempt` once per attempt.
    ///
    /// Per attempt: breaker admission (open: fail fast with `CircuitOpen`, no retry), then
    /// the call under the timeout, then its outcome is recorded in the breaker. A transient
    /// error of an idempotent operation is retried after [`RetryPolicy::delay_for`] while
    /// attempts remain and the breaker is not open. Returns the first success or the last
    /// error. `operation` names the operation in logs and in the errors the layers raise.
    pub async fn run<T, F, Fut>(
        &self,
        operation: &'static str,
        idempotency: Idempotency,
        mut attempt: F,
    ) -> InfraResult<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = InfraResult<T>>,
    {
        // The first attempt runs inline; the retry loop, with its backoff timer, only after
        // a failure and out of line (boxed), so that the future of every successful call
        // stays small: each layer around it moves it once.
        let err = match self.attempt_once(operation, &mut attempt).await {
            Ok(value) => return Ok(value),
            Err(err) => err,
        };
        // An error that will not be retried returns here, without the retry loop's box.
        if !err.is_transient() || self.max_attempts(idempotency) <= 1 {
            return Err(err);
        }
        Box::pin(self.retry_after(operation, idempotency, attempt, err)).await
    }

    /// The retry loop after a first attempt failed with `first_error`, a transient error
    /// of an operation that may be attempted again.
    async fn retry_after<T, F, Fut>(
        &self,
        operation: &'static str,
        idempotency: Idempotency,
        mut attempt: F,
        first_error: InfraError,
    ) -> InfraResult<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = InfraResult<T>>,
    {
        let max_attempts = self.max_attempts(idempotency);
        let mut attempt_no = 1;
        let mut err = first_error;
        loop {
            if !err.is_transient() {
                return Err(err);
            }
            if attempt_no >= max_attempts || self.breaker_state() == Some(BreakerState::Open) {
                if attempt_no > 1 {
                    tracing::warn!(
                        backend = self.backend,
                        operation,
                        attempts = attempt_no,
                        kind = %err.kind(),
                        "giving up after transient errors"
                    );
                }
                return Err(err);
            }
            let delay = self.retry.delay_for(attempt_no);
            metrics::counter!(
                crate::telemetry::RETRIES,
                crate::telemetry::labels::DB_SYSTEM => self.backend,
                crate::telemetry::labels::DB_OPERATION => operation,
            )
            .increment(1);
            tracing::debug!(
                backend = self.backend,
                operation,
                attempt = attempt_no,
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                kind = %err.kind(),
                "transient error; retrying"
            );
            tokio::time::sleep(delay).await;
            attempt_no += 1;
            err = match self.attempt_once(operation, &mut attempt).await {
                Ok(value) => return Ok(value),
                Err(err) => err,
            };
        }
    }

    /// One attempt: breaker admission, then the call under the timeout, then the outcome
    /// recorded in the breaker.
    ///
    /// This is [`CircuitBreaker::call`] around a timed call, written out in one `async fn`:
    /// every port call runs it, and each nested `async fn` would add a state machine that
    /// is moved when built and walked on every poll (the breaker's and the timeout's were
    /// two more levels for nothing on the healthy path). The breaker's rules stay its own
    /// (its `try_acquire` and `Permit`): a refusal spends cooperative budget like `call`'s,
    /// and a dropped attempt releases its probe slot unrecorded.
    async fn attempt_once<T, F, Fut>(
        &self,
        operation: &'static str,
        attempt: &mut F,
    ) -> InfraResult<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = InfraResult<T>>,
    {
        let permit = match &self.breaker {
            None => None,
            Some(breaker) => match breaker.try_acquire(operation) {
                Ok(permit) => Some(permit),
                Err(refused) => {
                    // As in `CircuitBreaker::call`: a refusal never waits, so it spends budget.
                    tokio::task::consume_budget().await;
                    return Err(refused);
                }
            },
        };
        let result = match self.timeout {
            // No timer at all without a timeout (Redis's default: the adapter bounds its
            // calls itself).
            None => attempt().await,
            Some(limit) => tokio::time::timeout(limit, attempt())
                .await
                .unwrap_or_else(|_elapsed| Err(self.timed_out(operation, limit))),
        };
        if let Some(permit) = permit {
            permit.record(&result);
        }
        result
    }

    /// The error of an attempt cancelled after `limit`.
    fn timed_out(&self, operation: &'static str, limit: Duration) -> InfraError {
        InfraError::new(
            ErrorKind::Timeout,
            self.backend,
            operation,
            format!("no reply within {}", humantime::format_duration(limit)),
        )
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use tokio::time::Instant;

    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// Three attempts, 100ms then 200ms apart, no jitter: exact times under a paused clock.
    fn policy() -> Resilience {
        Resilience::new("redis")
            .with_retry(RetryPolicy::new(3, 100 * MS, 1000 * MS).with_jitter(false))
    }

    fn err(kind: ErrorKind) -> InfraError {
        InfraError::new(kind, "redis", "get", "boom")
    }

    /// Runs `policy` over a call that fails with `kinds[n]` on attempt n+1 and then succeeds;
    /// returns the result, the number of calls and the paused clock's advance.
    async fn run_script(
        policy: &Resilience,
        idempotency: Idempotency,
        kinds: &[ErrorKind],
    ) -> (InfraResult<u32>, u32, Duration) {
        let calls = AtomicU32::new(0);
        let started = Instant::now();
        let result = policy
            .run("get", idempotency, || {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                let outcome = kinds
                    .get(n as usize)
                    .map_or(Ok(n + 1), |&kind| Err(err(kind)));
                async move { outcome }
            })
            .await;
        (result, calls.load(Ordering::SeqCst), started.elapsed())
    }

    #[tokio::test(start_paused = true)]
    async fn transient_errors_are_retried_up_to_max_attempts_then_returned() {
        let kinds = [
            ErrorKind::Unavailable,
            ErrorKind::PoolExhausted,
            ErrorKind::Timeout,
            ErrorKind::Unavailable,
        ];
        let (result, calls, elapsed) = run_script(&policy(), Idempotency::Idempotent, &kinds).await;
        let last = result.unwrap_err();
        assert_eq!(calls, 3);
        assert_eq!(
            last.kind(),
            ErrorKind::Timeout,
            "the last error is returned"
        );
        assert_eq!(last.operation(), "get");
        assert_eq!(elapsed, 300 * MS);
    }

    #[tokio::test(start_paused = true)]
    async fn success_after_two_failures_takes_three_calls_and_the_backoff() {
        let kinds = [ErrorKind::Unavailable, ErrorKind::Unavailable];
        let (result, calls, elapsed) = run_script(&policy(), Idempotency::Idempotent, &kinds).await;
        assert_eq!(result.unwrap(), 3);
        assert_eq!(calls, 3);
        assert_eq!(elapsed, 100 * MS + 200 * MS);
    }

    #[tokio::test(start_paused = true)]
    async fn non_transient_errors_are_not_retried() {
        for kind in [
            ErrorKind::InvalidInput,
            ErrorKind::NotFound,
            ErrorKind::Auth,
            ErrorKind::Internal,
        ] {
            let (result, calls, elapsed) =
                run_script(&policy(), Idempotency::Idempotent, &[kind]).await;
            assert_eq!(result.unwrap_err().kind(), kind);
            assert_eq!(calls, 1, "{kind}");
            assert_eq!(elapsed, Duration::ZERO);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn non_idempotent_operations_are_attempted_once() {
        let (result, calls, _) = run_script(
            &policy(),
            Idempotency::NonIdempotent,
            &[ErrorKind::Unavailable],
        )
        .await;
        assert_eq!(result.unwrap_err().kind(), ErrorKind::Unavailable);
        assert_eq!(calls, 1);
        assert_eq!(policy().max_attempts(Idempotency::NonIdempotent), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn jittered_backoff_stays_within_bounds() {
        let jittered =
            Resilience::new("redis").with_retry(RetryPolicy::new(3, 100 * MS, 1000 * MS));
        let kinds = [ErrorKind::Unavailable, ErrorKind::Unavailable];
        let (result, _, elapsed) = run_script(&jittered, Idempotency::Idempotent, &kinds).await;
        assert!(result.is_ok());
        assert!(elapsed >= 150 * MS && elapsed <= 300 * MS, "{elapsed:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn hung_attempt_times_out_at_exactly_the_timeout() {
        let policy = policy()
            .with_retry(RetryPolicy::no_retry())
            .with_timeout(250 * MS);
        let started = Instant::now();
        let err = policy
            .run(
                "get",
                Idempotency::Idempotent,
                std::future::pending::<InfraResult<()>>,
            )
            .await
            .unwrap_err();
        assert_eq!(started.elapsed(), 250 * MS);
        assert_eq!(err.kind(), ErrorKind::Timeout);
        assert_eq!(err.backend(), "redis");
        assert_eq!(err.operation(), "get");
        assert_eq!(err.message(), "no reply within 250ms");
        assert_eq!(err.to_string(), "redis get: no reply within 250ms");
    }

    #[tokio::test(start_paused = true)]
    async fn every_attempt_gets_its_own_timeout() {
        let policy = policy().with_timeout(250 * MS);
        let calls = AtomicU32::new(0);
        let started = Instant::now();
        let err = policy
            .run("exists", Idempotency::Idempotent, || {
                calls.fetch_add(1, Ordering::SeqCst);
                async {
                    tokio::time::sleep(Duration::from_secs(10)).await;
                    Ok(())
                }
            })
            .await
            .unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert_eq!(err.kind(), ErrorKind::Timeout);
        assert_eq!(err.operation(), "exists");
        assert_eq!(started.elapsed(), 3 * 250 * MS + 100 * MS + 200 * MS);
    }

    #[tokio::test(start_paused = true)]
    async fn a_fast_enough_attempt_is_not_cut_short() {
        let policy = policy().with_timeout(250 * MS);
        let value = policy
            .run("get", Idempotency::Idempotent, || async {
                tokio::time::sleep(249 * MS).await;
                Ok(5)
            })
            .await
            .unwrap();
        assert_eq!(value, 5);
    }

    #[tokio::test(start_paused = true)]
    async fn breaker_counts_attempts_and_stops_the_retry_loop_when_it_opens() {
        let policy = policy()
            .with_retry(RetryPolicy::new(5, 100 * MS, 1000 * MS).with_jitter(false))
            .with_breaker(BreakerConfig {
                failure_threshold: 2,
                open_for: Duration::from_secs(10),
            });
        let kinds = [ErrorKind::Unavailable; 5];
        let (result, calls, elapsed) = run_script(&policy, Idempotency::Idempotent, &kinds).await;
        assert_eq!(
            result.unwrap_err().kind(),
            ErrorKind::Unavailable,
            "the last real error"
        );
        assert_eq!(calls, 2);
        assert_eq!(elapsed, 100 * MS, "no sleep once the breaker opened");
        assert_eq!(policy.breaker_state(), Some(BreakerState::Open));

        let (result, calls, elapsed) = run_script(&policy, Idempotency::Idempotent, &[]).await;
        let err = result.unwrap_err();
        assert_eq!(
            (err.kind(), calls, elapsed),
            (ErrorKind::CircuitOpen, 0, Duration::ZERO)
        );
        // It opened at the end of the first run, just now.
        assert_eq!(err.retry_after(), Some(Duration::from_secs(10)));
    }

    #[tokio::test(start_paused = true)]
    async fn timeouts_count_as_breaker_failures() {
        let policy = policy()
            .with_retry(RetryPolicy::no_retry())
            .with_timeout(50 * MS)
            .with_breaker(BreakerConfig {
                failure_threshold: 2,
                open_for: Duration::from_secs(1),
            });
        for _ in 0..2 {
            let err = policy
                .run(
                    "get",
                    Idempotency::Idempotent,
                    std::future::pending::<InfraResult<()>>,
                )
                .await
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Timeout);
        }
        assert_eq!(policy.breaker_state(), Some(BreakerState::Open));
        // Clones share the breaker.
        assert_eq!(policy.clone().breaker_state(), Some(BreakerState::Open));
    }

    #[test]
    fn builder_sets_fields() {
        let shared = Arc::new(CircuitBreaker::new("qdrant", BreakerConfig::default()));
        let policy = Resilience::new("qdrant")
            .with_timeout(Duration::from_secs(2))
            .with_shared_breaker(Arc::clone(&shared));
        assert_eq!(policy.backend(), "qdrant");
        assert_eq!(policy.timeout(), Some(Duration::from_secs(2)));
        assert_eq!(policy.retry(), &RetryPolicy::default());
        assert!(Arc::ptr_eq(policy.breaker().unwrap(), &shared));
        assert_eq!(policy.breaker_state(), Some(BreakerState::Closed));
        let plain = policy.with_timeout(None);
        assert_eq!(plain.timeout(), None);
        assert_eq!(Resilience::new("redis").breaker_state(), None);
    }
}
