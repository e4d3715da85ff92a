//! [`CircuitBreaker`]: stop calling a backend that keeps failing, and probe it for recovery.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use crate::error::{ErrorKind, InfraError, InfraResult};

/// The `retry_after` suggested while a half-open probe is in flight: its outcome is not
/// known yet, and one second is the smallest useful HTTP `Retry-After`.
const PROBE_IN_FLIGHT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// When a [`CircuitBreaker`] opens and how long it stays open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Consecutive transient failures that open the breaker (`0` counts as `1`).
    pub failure_threshold: u32,
    /// How long an open breaker fails fast before it lets one probe call through.
    pub open_for: Duration,
}

impl Default for BreakerConfig {
    /// Opens after 5 consecutive failures, probes again after 1s (so a recovered backend is
    /// used again within about a second).
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            open_for: Duration::from_secs(1),
        }
    }
}

/// Where a [`CircuitBreaker`] stands, for health reports and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BreakerState {
    /// Calls go through; consecutive transient failures are counted.
    Closed,
    /// Calls fail fast with [`ErrorKind::CircuitOpen`] until the open period ends.
    Open,
    /// The open period ended: the next call is a probe whose outcome closes or re-opens
    /// the breaker, while other calls keep failing fast.
    HalfOpen,
}

impl BreakerState {
    /// A stable snake_case name (`closed`, `open`, `half_open`) for logs and metrics.
    pub const fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

impl fmt::Display for BreakerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A circuit breaker for one backend: after `failure_threshold` consecutive transient
/// failures it fails every call fast for `open_for`, then lets exactly one probe call
/// through; the probe's success closes it, its failure opens it again.
///
/// Rules:
/// - only [transient](ErrorKind::is_transient) errors count as failures;
/// - any other error from the backend (`InvalidInput`, `NotFound`, `Conflict`, `Auth`,
///   `Internal`) proves that the backend answered, so it counts like a success: it resets
///   the failure count and closes a half-open breaker;
/// - `CircuitOpen` and `NotConfigured` come from no backend at all and change nothing;
/// - a probe whose future is dropped before it finishes (a cancelled call) releases its
///   slot without an outcome: the breaker stays half-open and the next call becomes the
///   probe. Counting it as a failure would let an impatient caller keep a healthy
///   backend switched off; at most one probe is ever in flight either way;
/// - an outcome is only recorded in the state it was admitted in: a slow call admitted
///   before the breaker opened cannot close it by succeeding late.
///
/// State lives behind a `std::sync::Mutex` that is never held across an `.await`. Time
/// comes from [`tokio::time::Instant`], so a paused test clock drives the breaker.
/// Transitions are logged with `tracing` (fields `backend`, `state`, `failures`): `warn`
/// when it opens, `info` when it half-opens or closes.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// use std::time::Duration;
/// use infra_base::{ErrorKind, InfraError};
/// use infra_base::resilience::{BreakerConfig, BreakerState, CircuitBreaker};
///
/// let breaker = CircuitBreaker::new("redis", BreakerConfig {
///     failure_threshold: 1,
///     open_for: Duration::from_secs(5),
/// });
/// let refused = || async {
///     Err::<(), _>(InfraError::new(ErrorKind::Unavailable, "redis", "get", "refused"))
/// };
/// let _ = breaker.call("get", refused).await;
/// assert_eq!(breaker.state(), BreakerState::Open);
/// let err = breaker.call("get", || async { Ok(()) }).await.unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::CircuitOpen);
/// # });
/// ```
pub struct CircuitBreaker {
    backend: &'static str,
    config: BreakerConfig,
    state: Mutex<Inner>,
    /// The generation while the breaker is closed with no failure counted (the steady state
    /// of a healthy backend), else [`NOT_STEADY`]. Published under the lock after every
    /// change; read without it, so that a healthy call admits itself and records its
    /// success with one atomic load each instead of two lock round trips.
    steady: AtomicU64,
}

/// [`CircuitBreaker::steady`] when the breaker is not closed-with-no-failures (generations
/// count transitions and never get near it).
const NOT_STEADY: u64 = u64::MAX;

#[derive(Debug)]
struct Inner {
    phase: Phase,
    /// Consecutive transient failures (kept while open, for messages and logs).
    failures: u32,
    /// Bumped on every transition, so that permits from an earlier state are ignored.
    generation: u64,
}

#[derive(Debug, Clone, Copy)]
enum Phase {
    Closed,
    Open { until: Instant },
    HalfOpen { probe_in_flight: bool },
}

/// What an attempt's result means to the breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// The backend answered.
    Success,
    /// A transient failure.
    Failure,
    /// Nothing is known about the backend (cancelled, or an error that came from no backend).
    Neutral,
}

impl Outcome {
    fn of<T>(result: &InfraResult<T>) -> Self {
        match result {
            Err(err) if err.is_transient() => Outcome::Failure,
            Err(err)
                if matches!(
                    err.kind(),
                    ErrorKind::CircuitOpen | ErrorKind::NotConfigured
                ) =>
            {
                Outcome::Neutral
            }
            // The backend answered, with a value or with a refusal.
            Ok(_) | Err(_) => Outcome::Success,
        }
    }
}

/// A state change, logged once the lock is released.
#[derive(Debug, Clone, Copy)]
enum Transition {
    Opened { failures: u32 },
    Reopened { failures: u32 },
    HalfOpened { failures: u32 },
    Closed { failures: u32 },
}

impl Transition {
    /// The state the breaker entered.
    fn entered(self) -> BreakerState {
        match self {
            Transition::Opened { .. } | Transition::Reopened { .. } => BreakerState::Open,
            Transition::HalfOpened { .. } => BreakerState::HalfOpen,
            Transition::Closed { .. } => BreakerState::Closed,
        }
    }
}

impl fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("backend", &self.backend)
            .field("config", &self.config)
            .field("state", &self.state())
            .field("failures", &self.consecutive_failures())
            .finish_non_exhaustive()
    }
}

impl CircuitBreaker {
    /// A closed breaker for `backend` (used in its errors and logs).
    ///
    /// Sets its [`BREAKER_STATE`](crate::telemetry::BREAKER_STATE) gauge to closed, so
    /// that the state is exported before the first transition.
    pub fn new(backend: &'static str, config: BreakerConfig) -> Self {
        state_gauge(backend).set(state_value(BreakerState::Closed));
        Self {
            backend,
            config,
            state: Mutex::new(Inner {
                phase: Phase::Closed,
                failures: 0,
                generation: 0,
            }),
            steady: AtomicU64::new(0),
        }
    }

    /// The backend this breaker protects.
    pub fn backend(&self) -> &'static str {
        self.backend
    }

    /// The thresholds it was built with.
    pub fn config(&self) -> BreakerConfig {
        self.config
    }

    /// The current state. An open breaker whose open period has ended reports
    /// [`BreakerState::HalfOpen`], since the next call will be let through as a probe.
    pub fn state(&self) -> BreakerState {
        let now = Instant::now();
        match self.lock().phase {
            Phase::Closed => BreakerState::Closed,
            Phase::Open { until } if now < until => BreakerState::Open,
            Phase::Open { .. } | Phase::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// How many transient failures happened in a row (0 once a call succeeds).
    pub fn consecutive_failures(&self) -> u32 {
        self.lock().failures
    }

    /// Runs `call` if the breaker admits it, and records its outcome.
    ///
    /// `call` is not even invoked when the breaker is open (or half-open with its probe in
    /// flight): the result is then an [`ErrorKind::CircuitOpen`] error for `operation` with a
    /// `retry_after`. If the returned future is dropped before it completes, nothing is
    /// recorded and a probe slot is released.
    pub async fn call<T, F, Fut>(&self, operation: &'static str, call: F) -> InfraResult<T>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = InfraResult<T>>,
    {
        let permit = match self.try_acquire(operation) {
            Ok(permit) => permit,
            Err(refused) => {
                // A refusal completes without ever waiting; a caller that loops on it would
                // keep its worker thread from every other task. Spend cooperative budget
                // (yielding to the scheduler when it runs out), as any I/O would.
                tokio::task::consume_budget().await;
                return Err(refused);
            }
        };
        let result = call().await;
        permit.record(&result);
        result
    }

    /// Admits a call, or explains why not. [`Resilience`](super::Resilience) admits its
    /// attempts through it directly, exactly as [`call`](Self::call) does.
    pub(super) fn try_acquire(&self, operation: &'static str) -> InfraResult<Permit<'_>> {
        let steady = self.steady.load(Ordering::Acquire);
        if steady != NOT_STEADY {
            // Closed: admitted, exactly as the locked path would admit it.
            return Ok(Permit {
                breaker: self,
                generation: steady,
                probe: false,
                armed: true,
            });
        }
        let now = Instant::now();
        let mut transition = None;
        let admitted = {
            let mut inner = self.lock();
            let admitted = match inner.phase {
                Phase::Closed => Ok(false),
                Phase::Open { until } if now < until => {
                    Err(self.open_error(operation, inner.failures, until - now))
                }
                Phase::Open { .. } => {
                    inner.phase = Phase::HalfOpen {
                        probe_in_flight: true,
                    };
                    inner.generation += 1;
                    transition = Some(Transition::HalfOpened {
                        failures: inner.failures,
                    });
                    Ok(true)
                }
                Phase::HalfOpen {
                    probe_in_flight: true,
                } => Err(self.probe_busy_error(operation, inner.failures)),
                Phase::HalfOpen {
                    probe_in_flight: false,
                } => {
                    inner.phase = Phase::HalfOpen {
                        probe_in_flight: true,
                    };
                    Ok(true)
                }
            }
            .map(|probe| Permit {
                breaker: self,
                generation: inner.generation,
                probe,
                armed: true,
            });
            self.publish(&inner);
            admitted
        };
        self.log(transition);
        admitted
    }

    /// Applies an admitted call's outcome, if the state it was admitted in still holds.
    fn complete(&self, generation: u64, outcome: Outcome) {
        if outcome != Outcome::Failure && self.steady.load(Ordering::Acquire) == generation {
            // Closed with no failures, and admitted in this very state: recording a success
            // (or a neutral outcome) would change nothing. A failure recorded meanwhile by
            // another call is then simply ordered after this success.
            return;
        }
        let now = Instant::now();
        let transition = {
            let mut inner = self.lock();
            let transition = if inner.generation == generation {
                self.apply(&mut inner, outcome, now)
            } else {
                None
            };
            self.publish(&inner);
            transition
        };
        self.log(transition);
    }

    fn apply(&self, inner: &mut Inner, outcome: Outcome, now: Instant) -> Option<Transition> {
        let threshold = self.config.failure_threshold.max(1);
        match (inner.phase, outcome) {
            (Phase::Closed, Outcome::Success) => {
                inner.failures = 0;
                None
            }
            (Phase::Closed, Outcome::Failure) => {
                inner.failures = inner.failures.saturating_add(1);
                (inner.failures >= threshold).then(|| {
                    self.open(inner, now);
                    Transition::Opened {
                        failures: inner.failures,
                    }
                })
            }
            (Phase::HalfOpen { .. }, Outcome::Success) => {
                let failures = inner.failures;
                inner.phase = Phase::Closed;
                inner.failures = 0;
                inner.generation += 1;
                Some(Transition::Closed { failures })
            }
            (Phase::HalfOpen { .. }, Outcome::Failure) => {
                inner.failures = inner.failures.saturating_add(1);
                self.open(inner, now);
                Some(Transition::Reopened {
                    failures: inner.failures,
                })
            }
            (Phase::HalfOpen { .. }, Outcome::Neutral) => {
                inner.phase = Phase::HalfOpen {
                    probe_in_flight: false,
                };
                None
            }
            // No call is admitted while open, so no permit of this generation can land here.
            (Phase::Closed, Outcome::Neutral) | (Phase::Open { .. }, _) => None,
        }
    }

    /// Publishes the lock-free view of `inner` ([`steady`](Self::steady)); called under
    /// the lock after every change.
    fn publish(&self, inner: &Inner) {
        let steady = match inner.phase {
            Phase::Closed if inner.failures == 0 => inner.generation,
            Phase::Closed | Phase::Open { .. } | Phase::HalfOpen { .. } => NOT_STEADY,
        };
        self.steady.store(steady, Ordering::Release);
    }

    fn open(&self, inner: &mut Inner, now: Instant) {
        inner.phase = Phase::Open {
            until: now + self.config.open_for,
        };
        inner.generation += 1;
    }

    fn open_error(
        &self,
        operation: &'static str,
        failures: u32,
        remaining: Duration,
    ) -> InfraError {
        let remaining = ceil_millis(remaining);
        InfraError::new(
            ErrorKind::CircuitOpen,
            self.backend,
            operation,
            format!(
                "circuit open after {failures} consecutive failures; retry in {}",
                humantime::format_duration(remaining)
            ),
        )
        .with_retry_after(remaining)
    }

    fn probe_busy_error(&self, operation: &'static str, failures: u32) -> InfraError {
        InfraError::new(
            ErrorKind::CircuitOpen,
            self.backend,
            operation,
            format!(
                "circuit half-open after {failures} consecutive failures; \
                 a probe call is in flight"
            ),
        )
        .with_retry_after(PROBE_IN_FLIGHT_RETRY_AFTER)
    }

    /// Logs a transition and records it in the breaker's metrics.
    fn log(&self, transition: Option<Transition>) {
        let backend = self.backend;
        if let Some(transition) = &transition {
            let entered = transition.entered();
            state_gauge(backend).set(state_value(entered));
            metrics::counter!(
                crate::telemetry::BREAKER_TRANSITIONS,
                crate::telemetry::labels::DB_SYSTEM => backend,
                crate::telemetry::labels::STATE => entered.as_str(),
            )
            .increment(1);
        }
        let open_for_ms = u64::try_from(self.config.open_for.as_millis()).unwrap_or(u64::MAX);
        match transition {
            None => {}
            Some(Transition::Opened { failures }) => tracing::warn!(
                backend,
                state = BreakerState::Open.as_str(),
                failures,
                open_for_ms,
                "circuit breaker opened; calls fail fast"
            ),
            Some(Transition::Reopened { failures }) => tracing::warn!(
                backend,
                state = BreakerState::Open.as_str(),
                failures,
                open_for_ms,
                "circuit breaker probe failed; re-opened"
            ),
            Some(Transition::HalfOpened { failures }) => tracing::info!(
                backend,
                state = BreakerState::HalfOpen.as_str(),
                failures,
                "circuit breaker half-open; letting one probe call through"
            ),
            Some(Transition::Closed { failures }) => tracing::info!(
                backend,
                state = BreakerState::Closed.as_str(),
                failures,
                "circuit breaker closed; backend answered again"
            ),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The state is consistent after every statement, so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// An admitted call. Its outcome is recorded with [`Permit::record`]; dropped unrecorded
/// (a cancelled call), it releases a probe slot and records nothing.
pub(super) struct Permit<'a> {
    breaker: &'a CircuitBreaker,
    generation: u64,
    probe: bool,
    armed: bool,
}

impl Permit<'_> {
    /// Records the admitted call's outcome.
    pub(super) fn record<T>(mut self, result: &InfraResult<T>) {
        self.armed = false;
        self.breaker.complete(self.generation, Outcome::of(result));
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if self.armed && self.probe {
            self.breaker.complete(self.generation, Outcome::Neutral);
        }
    }
}

/// Rounds up to whole milliseconds, so that messages stay short and never say "0ms" early.
fn state_gauge(backend: &'static str) -> metrics::Gauge {
    metrics::gauge!(
        crate::telemetry::BREAKER_STATE,
        crate::telemetry::labels::DB_SYSTEM => backend,
    )
}

/// The gauge value of a state: 0 closed, 1 half-open, 2 open.
fn state_value(state: BreakerState) -> f64 {
    match state {
        BreakerState::Closed => 0.0,
        BreakerState::HalfOpen => 1.0,
        BreakerState::Open => 2.0,
    }
}

fn ceil_millis(d: Duration) -> Duration {
    let millis = d.as_nanos().div_ceil(1_000_000);
    Duration::from_millis(u64::try_from(millis).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    const OPEN_FOR: Duration = Duration::from_secs(30);

    fn breaker(threshold: u32) -> Arc<CircuitBreaker> {
        Arc::new(CircuitBreaker::new(
            "redis",
            BreakerConfig {
                failure_threshold: threshold,
                open_for: OPEN_FOR,
            },
        ))
    }

    fn err(kind: ErrorKind) -> InfraError {
        InfraError::new(kind, "redis", "get", "boom")
    }

    async fn fail(b: &CircuitBreaker, kind: ErrorKind) -> InfraError {
        b.call("get", || async { Err::<(), _>(err(kind)) })
            .await
            .unwrap_err()
    }

    async fn succeed(b: &CircuitBreaker) -> InfraResult<()> {
        b.call("get", || async { Ok(()) }).await
    }

    async fn open(b: &CircuitBreaker) {
        for _ in 0..b.config().failure_threshold {
            fail(b, ErrorKind::Unavailable).await;
        }
        assert_eq!(b.state(), BreakerState::Open);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_caller_looping_on_refusals_lets_other_tasks_run() {
        let b = breaker(1);
        open(&b).await;
        let other_ran = Arc::new(AtomicU32::new(0));
        let flag = Arc::clone(&other_ran);
        tokio::spawn(async move { flag.store(1, Ordering::SeqCst) });
        // One worker thread: the spawned task runs only if the refusals yield.
        let mut refusals = 0_u32;
        while other_ran.load(Ordering::SeqCst) == 0 && refusals < 100_000 {
            let refused = succeed(&b).await.unwrap_err();
            assert_eq!(refused.kind(), ErrorKind::CircuitOpen);
            refusals += 1;
        }
        assert_eq!(
            other_ran.load(Ordering::SeqCst),
            1,
            "{refusals} refusals never yielded to the scheduler"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_steady_breaker_still_counts_failures_and_recovers() {
        // The lock-free path (closed, no failures) must hand over to the locked one on the
        // first failure, and be back once a success resets the count.
        let b = breaker(2);
        succeed(&b).await.unwrap();
        fail(&b, ErrorKind::Unavailable).await;
        assert_eq!(b.consecutive_failures(), 1);
        succeed(&b).await.unwrap();
        assert_eq!(b.consecutive_failures(), 0);
        fail(&b, ErrorKind::Unavailable).await;
        fail(&b, ErrorKind::Unavailable).await;
        assert_eq!(b.state(), BreakerState::Open);
        tokio::time::advance(OPEN_FOR).await;
        succeed(&b).await.unwrap();
        assert_eq!(b.state(), BreakerState::Closed);
        succeed(&b).await.unwrap();
        fail(&b, ErrorKind::Timeout).await;
        assert_eq!(b.consecutive_failures(), 1, "counted after re-closing");
    }

    #[tokio::test(start_paused = true)]
    async fn opens_after_threshold_consecutive_transient_failures() {
        let b = breaker(3);
        for kind in [ErrorKind::Unavailable, ErrorKind::Timeout] {
            fail(&b, kind).await;
            assert_eq!(b.state(), BreakerState::Closed);
        }
        assert_eq!(b.consecutive_failures(), 2);
        fail(&b, ErrorKind::PoolExhausted).await;
        assert_eq!(b.state(), BreakerState::Open);
        assert_eq!(b.consecutive_failures(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn open_breaker_fails_fast_without_calling() {
        let b = breaker(2);
        open(&b).await;
        tokio::time::advance(Duration::from_millis(10_500)).await;
        let calls = AtomicU32::new(0);
        let err = b
            .call("mget", || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Ok(())
            })
            .await
            .unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 0);
        assert_eq!(err.kind(), ErrorKind::CircuitOpen);
        assert_eq!(err.backend(), "redis");
        assert_eq!(err.operation(), "mget");
        assert_eq!(err.retry_after(), Some(Duration::from_millis(19_500)));
        assert_eq!(
            err.message(),
            "circuit open after 2 consecutive failures; retry in 19s 500ms"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn non_transient_errors_neither_open_nor_count() {
        let b = breaker(2);
        for kind in [
            ErrorKind::InvalidInput,
            ErrorKind::NotFound,
            ErrorKind::Conflict,
            ErrorKind::Auth,
            ErrorKind::Internal,
            ErrorKind::CircuitOpen,
            ErrorKind::NotConfigured,
        ] {
            for _ in 0..5 {
                fail(&b, kind).await;
            }
            assert_eq!(b.state(), BreakerState::Closed, "{kind}");
        }
        // An answer from the backend breaks a run of transient failures.
        fail(&b, ErrorKind::Unavailable).await;
        fail(&b, ErrorKind::NotFound).await;
        assert_eq!(b.consecutive_failures(), 0);
        fail(&b, ErrorKind::Unavailable).await;
        assert_eq!(b.state(), BreakerState::Closed);
        succeed(&b).await.unwrap();
        fail(&b, ErrorKind::Unavailable).await;
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn half_open_admits_one_probe_and_success_closes() {
        let b = breaker(1);
        open(&b).await;
        tokio::time::advance(OPEN_FOR).await;
        assert_eq!(b.state(), BreakerState::HalfOpen);

        let probe = tokio::spawn({
            let b = Arc::clone(&b);
            async move {
                b.call("get", || async {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    Ok(7)
                })
                .await
            }
        });
        tokio::task::yield_now().await; // let the probe take its slot
        let calls = AtomicU32::new(0);
        for _ in 0..3 {
            let busy = b
                .call("get", || async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                })
                .await
                .unwrap_err();
            assert_eq!(busy.kind(), ErrorKind::CircuitOpen);
            assert!(busy.message().contains("probe"), "{}", busy.message());
            assert_eq!(busy.retry_after(), Some(PROBE_IN_FLIGHT_RETRY_AFTER));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 0);
        assert_eq!(b.state(), BreakerState::HalfOpen);

        assert_eq!(probe.await.unwrap().unwrap(), 7);
        assert_eq!(b.state(), BreakerState::Closed);
        assert_eq!(b.consecutive_failures(), 0);
        succeed(&b).await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn failed_probe_reopens_for_another_period() {
        let b = breaker(2);
        open(&b).await;
        tokio::time::advance(OPEN_FOR).await;
        let e = fail(&b, ErrorKind::Timeout).await;
        assert_eq!(e.kind(), ErrorKind::Timeout, "the probe itself runs");
        assert_eq!(b.state(), BreakerState::Open);
        let fast = succeed(&b).await.unwrap_err();
        assert_eq!(fast.kind(), ErrorKind::CircuitOpen);
        assert_eq!(fast.retry_after(), Some(OPEN_FOR));
        assert!(
            fast.message()
                .starts_with("circuit open after 3 consecutive failures")
        );
        tokio::time::advance(OPEN_FOR).await;
        succeed(&b).await.unwrap();
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn non_transient_probe_result_closes() {
        let b = breaker(1);
        open(&b).await;
        tokio::time::advance(OPEN_FOR).await;
        fail(&b, ErrorKind::NotFound).await;
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn cancelled_probe_releases_its_slot() {
        let b = breaker(1);
        open(&b).await;
        tokio::time::advance(OPEN_FOR).await;
        let hung = b.call("get", std::future::pending::<InfraResult<()>>);
        let cancelled = tokio::time::timeout(Duration::from_secs(5), hung).await;
        assert!(
            cancelled.is_err(),
            "the probe never finishes and is dropped"
        );
        assert_eq!(b.state(), BreakerState::HalfOpen);
        // The next call becomes the probe instead of failing fast forever.
        succeed(&b).await.unwrap();
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn neutral_probe_result_releases_its_slot() {
        let b = breaker(1);
        open(&b).await;
        tokio::time::advance(OPEN_FOR).await;
        fail(&b, ErrorKind::NotConfigured).await;
        assert_eq!(b.state(), BreakerState::HalfOpen);
        succeed(&b).await.unwrap();
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn late_results_from_before_opening_are_ignored() {
        let b = breaker(1);
        let slow = tokio::spawn({
            let b = Arc::clone(&b);
            async move {
                b.call("get", || async {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    Ok(())
                })
                .await
            }
        });
        tokio::task::yield_now().await;
        fail(&b, ErrorKind::Unavailable).await;
        assert_eq!(b.state(), BreakerState::Open);
        slow.await.unwrap().unwrap();
        assert_eq!(
            b.state(),
            BreakerState::Open,
            "a late success must not close it"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn zero_threshold_counts_as_one() {
        let b = breaker(0);
        fail(&b, ErrorKind::Unavailable).await;
        assert_eq!(b.state(), BreakerState::Open);
    }

    #[test]
    fn state_names_are_stable() {
        assert_eq!(BreakerState::HalfOpen.to_string(), "half_open");
        assert_eq!(BreakerState::Open.as_str(), "open");
        assert_eq!(BreakerState::Closed.as_str(), "closed");
        assert_eq!(
            ceil_millis(Duration::from_nanos(1)),
            Duration::from_millis(1)
        );
        let debug = format!(
            "{:?}",
            CircuitBreaker::new("qdrant", BreakerConfig::default())
        );
        assert!(debug.contains("Closed"), "{debug}");
    }
}
