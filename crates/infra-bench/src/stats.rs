//! Timed runs and their statistics: the load driver, percentiles, and the spread of a figure
//! across rounds.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

/// What one timed run of a closed-loop load produced.
#[derive(Debug, Clone, Default)]
pub(crate) struct Run {
    /// Calls that succeeded.
    pub(crate) ok: u64,
    /// Calls that failed.
    pub(crate) errors: u64,
    /// Wall time of the run.
    pub(crate) elapsed: Duration,
    /// The latency of every call, in nanoseconds, sorted.
    pub(crate) latencies_ns: Vec<u64>,
    /// CPU time (user + system) the whole harness process used during the run, when the
    /// platform tells (Linux). Servers in other processes are not in it.
    pub(crate) cpu: Option<Duration>,
}

impl Run {
    /// Successful calls per second.
    pub(crate) fn rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(f64::MIN_POSITIVE)
    }

    /// The `q` quantile (0..=1) of the latencies, in milliseconds (0 without calls).
    pub(crate) fn quantile_ms(&self, q: f64) -> f64 {
        quantile(&self.latencies_ns, q) as f64 / 1e6
    }

    /// Microseconds of the harness process's CPU per call (0 when unknown or no calls):
    /// what a call costs the client, whatever the scheduler did with the wall clock.
    pub(crate) fn cpu_us_per_call(&self) -> f64 {
        let calls = self.ok + self.errors;
        match self.cpu {
            Some(cpu) if calls > 0 => cpu.as_secs_f64() * 1e6 / calls as f64,
            _ => 0.0,
        }
    }

    /// The slowest call, in milliseconds.
    pub(crate) fn max_ms(&self) -> f64 {
        self.latencies_ns.last().copied().unwrap_or(0) as f64 / 1e6
    }
}

/// The `q` quantile (nearest rank) of sorted values; 0 for none.
pub(crate) fn quantile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Runs `call` in a closed loop on `tasks` tasks for `duration` and times every call.
///
/// `call(task)` returns whether the call succeeded. Each task records its own latencies and
/// watches the deadline itself, so the timing costs two `Instant::now()` per call and no
/// shared state. A call that completes without ever waiting (an open circuit breaker fails
/// fast without touching a Tokio resource) never gives its worker thread back, so each
/// iteration also consumes a unit of Tokio's cooperative budget: the task yields once
/// every 128 such calls instead of starving the runtime (the timer, the connections'
/// driver tasks, the other tasks).
pub(crate) async fn drive<F, Fut>(tasks: usize, duration: Duration, call: F) -> Run
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send + 'static,
{
    let call = Arc::new(call);
    let cpu_before = process_cpu();
    let started = Instant::now();
    let deadline = started + duration;
    let handles: Vec<_> = (0..tasks)
        .map(|task| {
            let call = Arc::clone(&call);
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(4096);
                let (mut ok, mut errors) = (0u64, 0u64);
                loop {
                    let begun = Instant::now();
                    if begun >= deadline {
                        break;
                    }
                    let success = call(task).await;
                    latencies.push(begun.elapsed().as_nanos() as u64);
                    if success {
                        ok += 1;
                    } else {
                        errors += 1;
                    }
                    tokio::task::coop::consume_budget().await;
                }
                (ok, errors, latencies)
            })
        })
        .collect();
    let mut run = Run::default();
    for handle in handles {
        if let Ok((ok, errors, latencies)) = handle.await {
            run.ok += ok;
            run.errors += errors;
            run.latencies_ns.extend(latencies);
        }
    }
    run.elapsed = started.elapsed();
    run.cpu = process_cpu()
        .zip(cpu_before)
        .map(|(after, before)| after.saturating_sub(before));
    run.latencies_ns.sort_unstable();
    run
}

/// Runs every variant once for `warmup`, then `rounds` rounds in which each variant runs
/// for `segment`, in an order that rotates every round (so that no variant always runs
/// first, right after another one's load). Returns each variant's runs, by variant.
pub(crate) async fn alternate<const N: usize, F, Fut>(
    rounds: usize,
    warmup: Duration,
    segment: Duration,
    run: F,
) -> [Vec<Run>; N]
where
    F: Fn(usize, Duration) -> Fut,
    Fut: Future<Output = Run>,
{
    for variant in 0..N {
        run(variant, warmup).await;
    }
    let mut runs: [Vec<Run>; N] = std::array::from_fn(|_| Vec::with_capacity(rounds));
    for round in 0..rounds {
        for i in 0..N {
            let variant = (i + round) % N;
            runs[variant].push(run(variant, segment).await);
        }
    }
    runs
}

/// The spread of one figure across rounds: median, min and max.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub(crate) struct Spread {
    /// The median across rounds.
    pub(crate) median: f64,
    /// The smallest value.
    pub(crate) min: f64,
    /// The largest value.
    pub(crate) max: f64,
    /// How many values.
    pub(crate) n: usize,
}

impl Spread {
    /// The spread of `values` (`None` when there are none or one is not finite).
    pub(crate) fn of(values: &[f64]) -> Option<Self> {
        if values.is_empty() || values.iter().any(|v| !v.is_finite()) {
            return None;
        }
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let mid = sorted.len() / 2;
        let median = if sorted.len().is_multiple_of(2) {
            f64::midpoint(sorted[mid - 1], sorted[mid])
        } else {
            sorted[mid]
        };
        Some(Self {
            median,
            min: sorted[0],
            max: sorted[sorted.len() - 1],
            n: sorted.len(),
        })
    }
}

/// The per-round values of one figure for a baseline and its subject, kept together so
/// that ratios are taken round by round (both ran back to back under the same noise).
#[derive(Debug, Clone, Default)]
pub(crate) struct Paired {
    /// The baseline's value in each round.
    pub(crate) baseline: Vec<f64>,
    /// The subject's value in each round.
    pub(crate) subject: Vec<f64>,
}

impl Paired {
    /// Adds one round.
    pub(crate) fn push(&mut self, baseline: f64, subject: f64) {
        self.baseline.push(baseline);
        self.subject.push(subject);
    }

    /// subject / baseline, round by round.
    pub(crate) fn ratios(&self) -> Vec<f64> {
        self.baseline
            .iter()
            .zip(&self.subject)
            .map(|(b, s)| s / b)
            .collect()
    }

    /// The median of the round-by-round ratios (0 without rounds).
    pub(crate) fn median_ratio(&self) -> f64 {
        Spread::of(&self.ratios()).map_or(0.0, |s| s.median)
    }

    /// One figure `f` of two variants' runs, round by round.
    pub(crate) fn of_runs(baseline: &[Run], subject: &[Run], f: impl Fn(&Run) -> f64) -> Self {
        let mut paired = Self::default();
        for (b, s) in baseline.iter().zip(subject) {
            paired.push(f(b), f(s));
        }
        paired
    }
}

/// All the latencies of `runs`, sorted: one distribution for a variant across its rounds.
pub(crate) fn merged_latencies(runs: &[Run]) -> Vec<u64> {
    let mut all: Vec<u64> = runs
        .iter()
        .flat_map(|r| r.latencies_ns.iter().copied())
        .collect();
    all.sort_unstable();
    all
}

/// The empirical CDF of `sorted` latencies (nanoseconds) at about `points` + 1 evenly
/// spaced ranks: `(latency in microseconds, fraction of calls at or below it)`.
///
/// The fractions are exact (every call at or below the value counts, ties included), so
/// the curve never decreases and ends at `(max, 1.0)`; ranks that land on the same value
/// give one point. Empty input (or `points == 0` with input) gives what it can: nothing
/// for no calls, the maximum alone for no points.
pub(crate) fn cdf(sorted: &[u64], points: usize) -> Vec<(f64, f64)> {
    let n = sorted.len();
    if n == 0 {
        return Vec::new();
    }
    let steps = points.max(1);
    let mut out: Vec<(f64, f64)> = Vec::with_capacity(steps + 1);
    let first = usize::from(points == 0) * steps;
    for i in first..=steps {
        let rank = ((i as f64 / steps as f64) * (n - 1) as f64).round() as usize;
        let value = sorted[rank.min(n - 1)];
        let at_or_below = sorted.partition_point(|&x| x <= value);
        let point = (value as f64 / 1e3, at_or_below as f64 / n as f64);
        if out.last().is_none_or(|last| last.0 < point.0) {
            out.push(point);
        }
    }
    out
}

/// CPU time (user + system) of this process so far, from `/proc/self/stat` (clock ticks,
/// 10 ms on Linux: over a segment of seconds, well under 1 %). `None` elsewhere.
pub(crate) fn process_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces, so split after its ')'):
    // state is field 3; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // USER_HZ: 100 on every Linux architecture this builds for.
    Some(Duration::from_millis((utime + stime) * 10))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_os = "linux")]
    fn process_cpu_counts_work_done() {
        let before = process_cpu().expect("/proc/self/stat");
        let started = Instant::now();
        let mut x = 0_u64;
        while started.elapsed() < Duration::from_millis(200) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        let used = process_cpu().unwrap().saturating_sub(before);
        // 200 ms of spinning on one thread: at least 100 ms of CPU on any scheduler.
        assert!(
            used >= Duration::from_millis(100),
            "{used:?} for 200 ms of work"
        );
    }

    #[test]
    fn cpu_per_call_is_cpu_over_calls() {
        let run = Run {
            ok: 3,
            errors: 1,
            cpu: Some(Duration::from_millis(2)),
            ..Run::default()
        };
        assert!((run.cpu_us_per_call() - 500.0).abs() < 1e-9);
        assert!(Run::default().cpu_us_per_call().abs() < f64::EPSILON);
    }

    #[test]
    fn cdf_is_monotone_exact_and_ends_at_one() {
        assert!(cdf(&[], 10).is_empty());
        // 1..=100 µs in ns.
        let sorted: Vec<u64> = (1..=100).map(|v| v * 1_000).collect();
        let curve = cdf(&sorted, 4);
        assert_eq!(curve.len(), 5);
        assert_eq!(curve[0], (1.0, 0.01));
        assert_eq!(curve[4], (100.0, 1.0));
        assert!(
            curve
                .windows(2)
                .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1)
        );
        // Ties: every call at or below the value counts, and equal values give one point.
        let ties = [5_000, 5_000, 5_000, 9_000];
        assert_eq!(cdf(&ties, 8), vec![(5.0, 0.75), (9.0, 1.0)]);
        assert_eq!(cdf(&ties, 0), vec![(9.0, 1.0)]);
        // More points than calls: one point per distinct value.
        assert_eq!(cdf(&[2_000], 100), vec![(2.0, 1.0)]);
        let runs = [
            Run {
                latencies_ns: vec![3, 9],
                ..Run::default()
            },
            Run {
                latencies_ns: vec![1, 5],
                ..Run::default()
            },
        ];
        assert_eq!(merged_latencies(&runs), vec![1, 3, 5, 9]);
    }

    #[test]
    fn spread_and_quantiles() {
        let s = Spread::of(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max, s.n), (2.0, 1.0, 3.0, 3));
        assert!((Spread::of(&[1.0, 2.0]).unwrap().median - 1.5).abs() < 1e-9);
        assert!(Spread::of(&[]).is_none());
        assert!(Spread::of(&[f64::NAN]).is_none());
        let sorted: Vec<u64> = (1..=100).collect();
        assert_eq!(quantile(&sorted, 0.5), 51);
        assert_eq!(quantile(&sorted, 0.99), 99);
        assert_eq!(quantile(&sorted, 1.0), 100);
        assert_eq!(quantile(&[], 0.5), 0);
        let mut paired = Paired::default();
        paired.push(2.0, 1.0);
        assert_eq!(paired.ratios(), vec![0.5]);
    }
}
