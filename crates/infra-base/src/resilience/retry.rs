//! [`RetryPolicy`]: how many attempts an operation gets and how long to wait between them.

use std::time::Duration;

/// How many times an operation is attempted, and how long to wait between attempts.
///
/// The delay after failed attempt `n` (1-based) is `base_delay * 2^(n-1)`, capped at
/// `max_delay`: 50ms, 100ms, 200ms, ... with the defaults. With `jitter` on, each delay is
/// drawn uniformly from `[d/2, d]` (*equal jitter*): clients that failed together spread
/// their retries instead of hitting a recovering backend in lockstep, and every retry
/// still waits at least half the computed delay. Full jitter (`[0, d]`) was not chosen
/// because with only a few attempts it often retries almost at once, which gives an
/// overloaded backend no room at all.
///
/// Only [transient](crate::ErrorKind::is_transient) errors of idempotent operations are
/// retried; see [`Resilience`](super::Resilience).
///
/// ```
/// use std::time::Duration;
/// use infra_base::resilience::RetryPolicy;
///
/// let policy = RetryPolicy::new(4, Duration::from_millis(100), Duration::from_millis(300))
///     .with_jitter(false);
/// let delays: Vec<_> = (1..4).map(|n| policy.delay_for(n).as_millis()).collect();
/// assert_eq!(delays, [100, 200, 300]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts, the first included: `1` disables retries, and `0` counts as `1`.
    pub max_attempts: u32,
    /// The delay after the first failed attempt; later delays double.
    pub base_delay: Duration,
    /// The longest delay between two attempts, so that backoff stays bounded.
    pub max_delay: Duration,
    /// Whether delays are randomized (equal jitter), so that clients do not retry in lockstep.
    pub jitter: bool,
}

impl Default for RetryPolicy {
    /// Three attempts, 50ms then 100ms apart (capped at 1s), with jitter.
    fn default() -> Self {
        Self::new(3, Duration::from_millis(50), Duration::from_secs(1))
    }
}

impl RetryPolicy {
    /// A policy of `max_attempts` attempts with exponential backoff from `base_delay` up to
    /// `max_delay`, with jitter.
    pub const fn new(max_attempts: u32, base_delay: Duration, max_delay: Duration) -> Self {
        Self {
            max_attempts,
            base_delay,
            max_delay,
            jitter: true,
        }
    }

    /// A single attempt: for callers that do their own retrying, and for tests.
    pub const fn no_retry() -> Self {
        Self::new(1, Duration::from_millis(50), Duration::from_secs(1))
    }

    /// Turns jitter on or off (off makes delays exact, which tests rely on).
    #[must_use]
    pub const fn with_jitter(mut self, jitter: bool) -> Self {
        self.jitter = jitter;
        self
    }

    /// The number of attempts this policy allows, at least 1.
    pub const fn attempts(&self) -> u32 {
        if self.max_attempts == 0 {
            1
        } else {
            self.max_attempts
        }
    }

    /// The delay after failed attempt `attempt` (1-based; 0 counts as 1) before jitter:
    /// `base_delay * 2^(attempt-1)`, capped at `max_delay`, saturating instead of overflowing.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.max(1) - 1);
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }

    /// The delay to sleep after failed attempt `attempt`: [`backoff`](Self::backoff), with
    /// equal jitter when enabled (uniform in `[backoff/2, backoff]`).
    pub fn delay_for(&self, attempt: u32) -> Duration {
        self.jittered(attempt, |spread| fastrand::u64(..=spread))
    }

    /// [`delay_for`](Self::delay_for) with a caller-supplied random source, so that jitter is
    /// reproducible (a seeded [`fastrand::Rng`]).
    pub fn delay_for_with(&self, attempt: u32, rng: &mut fastrand::Rng) -> Duration {
        self.jittered(attempt, |spread| rng.u64(..=spread))
    }

    /// Applies equal jitter to the backoff; `draw(spread)` returns a value in `0..=spread`.
    fn jittered(&self, attempt: u32, draw: impl FnOnce(u64) -> u64) -> Duration {
        let delay = self.backoff(attempt);
        if !self.jitter {
            return delay;
        }
        let nanos = u64::try_from(delay.as_nanos()).unwrap_or(u64::MAX);
        let floor = nanos / 2;
        let spread = nanos - floor;
        Duration::from_nanos(floor.saturating_add(draw(spread).min(spread)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn default_is_three_attempts_from_50ms_capped_at_1s() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.attempts(), 3);
        assert_eq!(policy.base_delay, 50 * MS);
        assert_eq!(policy.max_delay, Duration::from_secs(1));
        assert!(policy.jitter);
    }

    #[test]
    fn zero_attempts_means_one() {
        let policy = RetryPolicy {
            max_attempts: 0,
            ..RetryPolicy::default()
        };
        assert_eq!(policy.attempts(), 1);
        assert_eq!(RetryPolicy::no_retry().attempts(), 1);
    }

    #[test]
    fn backoff_grows_exponentially_and_is_capped() {
        let policy = RetryPolicy::new(10, 50 * MS, Duration::from_secs(1)).with_jitter(false);
        let delays: Vec<_> = (1..=7).map(|n| policy.delay_for(n)).collect();
        assert_eq!(
            delays,
            [
                50 * MS,
                100 * MS,
                200 * MS,
                400 * MS,
                800 * MS,
                1000 * MS,
                1000 * MS
            ]
        );
        assert_eq!(policy.backoff(0), 50 * MS, "attempt 0 counts as 1");
    }

    #[test]
    fn backoff_saturates_instead_of_overflowing() {
        let policy = RetryPolicy::new(u32::MAX, Duration::from_secs(1), Duration::MAX);
        assert_eq!(policy.backoff(40), Duration::from_secs(u64::from(u32::MAX)));
        assert_eq!(
            policy.backoff(u32::MAX),
            Duration::from_secs(u64::from(u32::MAX))
        );
        let capped = RetryPolicy::new(3, Duration::MAX, Duration::from_secs(5)).with_jitter(false);
        assert_eq!(capped.delay_for(u32::MAX), Duration::from_secs(5));
    }

    #[test]
    fn equal_jitter_stays_within_half_and_full_backoff() {
        let policy = RetryPolicy::new(10, 100 * MS, Duration::from_secs(1));
        let mut rng = fastrand::Rng::with_seed(7);
        for attempt in 1..=6 {
            let ceiling = policy.backoff(attempt);
            let mut seen = Vec::new();
            for _ in 0..500 {
                let delay = policy.delay_for_with(attempt, &mut rng);
                assert!(
                    delay >= ceiling / 2 && delay <= ceiling,
                    "{delay:?} vs {ceiling:?}"
                );
                seen.push(delay);
                let global = policy.delay_for(attempt);
                assert!(global >= ceiling / 2 && global <= ceiling);
            }
            seen.sort_unstable();
            seen.dedup();
            assert!(seen.len() > 100, "jitter should spread delays");
        }
    }

    #[test]
    fn jitter_is_reproducible_with_a_seeded_rng() {
        let policy = RetryPolicy::default();
        let a: Vec<_> = {
            let mut rng = fastrand::Rng::with_seed(42);
            (1..=3)
                .map(|n| policy.delay_for_with(n, &mut rng))
                .collect()
        };
        let b: Vec<_> = {
            let mut rng = fastrand::Rng::with_seed(42);
            (1..=3)
                .map(|n| policy.delay_for_with(n, &mut rng))
                .collect()
        };
        assert_eq!(a, b);
    }

    #[test]
    fn jitter_extremes_hit_the_bounds() {
        let policy = RetryPolicy::new(3, 100 * MS, Duration::from_secs(1));
        assert_eq!(policy.jittered(2, |_| 0), 100 * MS);
        assert_eq!(policy.jittered(2, |spread| spread), 200 * MS);
        assert_eq!(
            policy.jittered(2, |_| u64::MAX),
            200 * MS,
            "draws are clamped"
        );
    }
}
