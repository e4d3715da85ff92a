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
