//! Scenario 8's targets (issue 17), as pure functions of a grid point's figures, so that
//! what counts as met is tested apart from any measurement.
//!
//! - **Port against raw redis-rs**: `RedisPort` throughput >= 0.93 x raw at every
//!   concurrency >= 8, every value size and both operations.
//! - **Added latency at concurrency 1**: `RedisPort`'s p50 minus raw's p50 <= 5 µs.
//! - **Port against fred**: `RedisPort` throughput >= fred's at every point (the ratio is
//!   reported either way).
//!
//! Each figure is the median across rounds of a value taken round by round (a ratio or a
//! difference of two variants that ran back to back). A point where any call failed
//! misses all of its targets, whatever its figures.

use serde::Serialize;

/// Minimum `RedisPort` / raw redis-rs throughput ratio at concurrency >= 8.
pub(crate) const PORT_RAW_MIN: f64 = 0.93;
/// The concurrency from which [`PORT_RAW_MIN`] applies.
pub(crate) const PORT_RAW_FROM_CONCURRENCY: usize = 8;
/// Maximum p50 latency `RedisPort` adds over raw redis-rs at concurrency 1, in µs.
pub(crate) const ADDED_P50_MAX_US: f64 = 5.0;
/// Minimum `RedisPort` / fred throughput ratio, at every point.
pub(crate) const PORT_FRED_MIN: f64 = 1.0;

/// Which target a verdict is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Target {
    /// `RedisPort` / raw throughput >= [`PORT_RAW_MIN`] (concurrency >= 8).
    PortVsRaw,
    /// `RedisPort` p50 - raw p50 <= [`ADDED_P50_MAX_US`] (concurrency 1).
    AddedP50,
    /// `RedisPort` / fred throughput >= [`PORT_FRED_MIN`] (every point).
    PortVsFred,
}

impl Target {
    /// The target in words, as the report shows it.
    pub(crate) fn describe(self) -> String {
        match self {
            Target::PortVsRaw => format!("port / raw >= {PORT_RAW_MIN:.2}"),
            Target::AddedP50 => format!("added p50 <= {ADDED_P50_MAX_US} us"),
            Target::PortVsFred => format!("port / fred >= {PORT_FRED_MIN:.2}"),
        }
    }
}

/// The figures of one grid point that the targets read; `None` where a figure could not
/// be measured (no rounds, or a variant that never answered).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct PointFigures {
    /// Concurrent tasks.
    pub(crate) concurrency: usize,
    /// Median of the round-by-round `RedisPort` / raw throughput ratios.
    pub(crate) port_vs_raw: Option<f64>,
    /// Median of the round-by-round `RedisPort` / fred throughput ratios.
    pub(crate) port_vs_fred: Option<f64>,
    /// Median of the round-by-round `RedisPort` p50 - raw p50, in µs.
    pub(crate) added_p50_us: Option<f64>,
    /// Calls that failed at this point, across every variant and round.
    pub(crate) errors: u64,
}

/// One target at one point: its figure and whether it was met.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub(crate) struct Verdict {
    /// Which target.
    pub(crate) target: Target,
    /// The figure compared (`None`: not measured, which is a miss).
    pub(crate) figure: Option<f64>,
    /// Whether the target was met.
    pub(crate) met: bool,
}

/// The targets that apply at a point, each with its verdict: port / raw from concurrency
/// 8, added p50 at concurrency 1, port / fred everywhere.
pub(crate) fn evaluate(point: &PointFigures) -> Vec<Verdict> {
    let clean = point.errors == 0;
    let at_least =
        |figure: Option<f64>, min: f64| clean && figure.is_some_and(|v| v.is_finite() && v >= min);
    let mut verdicts = Vec::with_capacity(2);
    if point.concurrency >= PORT_RAW_FROM_CONCURRENCY {
        verdicts.push(Verdict {
            target: Target::PortVsRaw,
            figure: point.port_vs_raw,
            met: at_least(point.port_vs_raw, PORT_RAW_MIN),
        });
    }
    if point.concurrency == 1 {
        verdicts.push(Verdict {
            target: Target::AddedP50,
            figure: point.added_p50_us,
            met: clean
                && point
                    .added_p50_us
                    .is_some_and(|v| v.is_finite() && v <= ADDED_P50_MAX_US),
        });
    }
    verdicts.push(Verdict {
        target: Target::PortVsFred,
        figure: point.port_vs_fred,
        met: at_least(point.port_vs_fred, PORT_FRED_MIN),
    });
    verdicts
}

/// How many of `verdicts` were met, and how many there are.
pub(crate) fn tally<'a>(verdicts: impl IntoIterator<Item = &'a Verdict>) -> (usize, usize) {
    verdicts
        .into_iter()
        .fold((0, 0), |(met, all), v| (met + usize::from(v.met), all + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(concurrency: usize, raw: f64, fred: f64, added: f64) -> PointFigures {
        PointFigures {
            concurrency,
            port_vs_raw: Some(raw),
            port_vs_fred: Some(fred),
            added_p50_us: Some(added),
            errors: 0,
        }
    }

    fn verdict(verdicts: &[Verdict], target: Target) -> Option<bool> {
        verdicts.iter().find(|v| v.target == target).map(|v| v.met)
    }

    #[test]
    fn which_targets_apply_where() {
        let one = evaluate(&point(1, 0.5, 1.2, 3.0));
        assert_eq!(
            verdict(&one, Target::PortVsRaw),
            None,
            "no ratio target at 1"
        );
        assert_eq!(verdict(&one, Target::AddedP50), Some(true));
        assert_eq!(verdict(&one, Target::PortVsFred), Some(true));
        for concurrency in [8, 64, 256] {
            let v = evaluate(&point(concurrency, 0.95, 0.99, 50.0));
            assert_eq!(v.len(), 2);
            assert_eq!(verdict(&v, Target::PortVsRaw), Some(true));
            assert_eq!(verdict(&v, Target::AddedP50), None, "latency only at 1");
            assert_eq!(verdict(&v, Target::PortVsFred), Some(false));
        }
    }

    #[test]
    fn thresholds_are_inclusive_and_misses_are_misses() {
        let edge = evaluate(&point(8, PORT_RAW_MIN, PORT_FRED_MIN, 0.0));
        assert!(edge.iter().all(|v| v.met), "{edge:?}");
        let below = evaluate(&point(64, 0.929, 0.999, 0.0));
        assert!(below.iter().all(|v| !v.met), "{below:?}");
        let latency = evaluate(&point(1, 1.0, 1.0, ADDED_P50_MAX_US));
        assert_eq!(verdict(&latency, Target::AddedP50), Some(true));
        let latency = evaluate(&point(1, 1.0, 1.0, 5.01));
        assert_eq!(verdict(&latency, Target::AddedP50), Some(false));
        // A negative addition (the port was faster in the median round) is met.
        let faster = evaluate(&point(1, 1.0, 1.0, -1.0));
        assert_eq!(verdict(&faster, Target::AddedP50), Some(true));
    }

    #[test]
    fn unmeasured_or_failing_points_miss() {
        let missing = evaluate(&PointFigures {
            concurrency: 64,
            ..PointFigures::default()
        });
        assert!(missing.iter().all(|v| !v.met && v.figure.is_none()));
        let nan = evaluate(&point(8, f64::NAN, f64::INFINITY, 0.0));
        assert!(nan.iter().all(|v| !v.met));
        let failing = evaluate(&PointFigures {
            errors: 1,
            ..point(1, 2.0, 2.0, 0.0)
        });
        assert!(failing.iter().all(|v| !v.met));
    }

    #[test]
    fn tally_counts_met_of_all() {
        let verdicts = [point(1, 1.0, 0.5, 1.0), point(64, 1.0, 1.1, 0.0)]
            .iter()
            .flat_map(evaluate)
            .collect::<Vec<_>>();
        assert_eq!(tally(&verdicts), (3, 4));
        assert_eq!(tally(&[]), (0, 0));
        assert!(Target::PortVsRaw.describe().contains("0.93"));
    }
}
