//! The report: one row per figure, the machine and versions, as JSON and as a Markdown
//! table.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::stats::{Paired, Run, Spread};

/// Whether a row's target was met.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Status {
    /// The figure meets its target.
    Met,
    /// The figure misses its target.
    Missed,
    /// No target applies (context figures), or the figure could not be measured.
    #[serde(rename = "n/a")]
    NotApplicable,
}

impl Status {
    /// `met`, `missed` or `n/a`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Status::Met => "met",
            Status::Missed => "missed",
            Status::NotApplicable => "n/a",
        }
    }

    /// `Met` when `ok`, else `Missed`.
    pub(crate) fn from_bool(ok: bool) -> Self {
        if ok { Status::Met } else { Status::Missed }
    }
}

/// One figure: a subject, optionally beside its baseline, with its target.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Row {
    /// The scenario (`1 redis GET`, ...).
    pub(crate) scenario: String,
    /// What is measured (`ops/s`, `p99 latency`, ...).
    pub(crate) metric: String,
    /// The unit of the absolute values.
    pub(crate) unit: String,
    /// The baseline's name, when there is one.
    pub(crate) baseline_name: Option<String>,
    /// The baseline across rounds.
    pub(crate) baseline: Option<Spread>,
    /// The subject's name.
    pub(crate) subject_name: String,
    /// The subject across rounds.
    pub(crate) subject: Option<Spread>,
    /// subject / baseline, round by round.
    pub(crate) ratio: Option<Spread>,
    /// The target, in words (`ratio >= 0.90`).
    pub(crate) target: Option<String>,
    /// Whether the target was met.
    pub(crate) status: Status,
    /// Anything a reader needs to read the row right.
    pub(crate) note: Option<String>,
}

impl Row {
    /// A row for `subject_name` with nothing measured yet.
    pub(crate) fn new(scenario: &str, metric: &str, unit: &str, subject_name: &str) -> Self {
        Self {
            scenario: scenario.to_owned(),
            metric: metric.to_owned(),
            unit: unit.to_owned(),
            baseline_name: None,
            baseline: None,
            subject_name: subject_name.to_owned(),
            subject: None,
            ratio: None,
            target: None,
            status: Status::NotApplicable,
            note: None,
        }
    }

    /// Sets the subject's values.
    #[must_use]
    pub(crate) fn subject(mut self, values: &[f64]) -> Self {
        self.subject = Spread::of(values);
        self
    }

    /// Sets the baseline and subject values of paired rounds, and their ratio.
    #[must_use]
    pub(crate) fn paired(mut self, baseline_name: &str, values: &Paired) -> Self {
        self.baseline_name = Some(baseline_name.to_owned());
        self.baseline = Spread::of(&values.baseline);
        self.subject = Spread::of(&values.subject);
        self.ratio = Spread::of(&values.ratios());
        self
    }

    /// Sets the target and its status.
    #[must_use]
    pub(crate) fn target(mut self, target: impl Into<String>, status: Status) -> Self {
        self.target = Some(target.into());
        self.status = status;
        self
    }

    /// Adds a note.
    #[must_use]
    pub(crate) fn note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }
}

/// The p50 and p99 latency rows of `subject` beside `baseline`, and its client CPU per call
/// where the platform reports it (no target: context for the throughput row above them).
pub(crate) fn latency_rows(
    scenario: &str,
    (baseline_name, baseline): (&str, &[Run]),
    (subject_name, subject): (&str, &[Run]),
) -> Vec<Row> {
    let mut rows: Vec<Row> = [("p50 latency", 0.50), ("p99 latency", 0.99)]
        .into_iter()
        .map(|(metric, q)| {
            Row::new(scenario, metric, "ms", subject_name).paired(
                baseline_name,
                &Paired::of_runs(baseline, subject, |r| r.quantile_ms(q)),
            )
        })
        .collect();
    if baseline.iter().chain(subject).all(|r| r.cpu.is_some()) {
        rows.push(
            Row::new(scenario, "client CPU per call", "us", subject_name)
                .paired(
                    baseline_name,
                    &Paired::of_runs(baseline, subject, Run::cpu_us_per_call),
                )
                .note(
                    "the harness process's user + system CPU over the run / calls: the \
                     client-side cost, less sensitive than throughput to a shared machine",
                ),
        );
    }
    rows
}

/// Where and how the bench ran.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Meta {
    /// UTC date and time of the run, RFC 3339.
    pub(crate) date: String,
    /// The command that produced the report.
    pub(crate) command: String,
    /// `debug` or `release`: the profile infra-bench was built with.
    pub(crate) profile: &'static str,
    /// Whether this was a `--quick` run.
    pub(crate) quick: bool,
    /// CPUs available to the process.
    pub(crate) cores: usize,
    /// `MemTotal` of /proc/meminfo, in MiB.
    pub(crate) memory_mib: Option<u64>,
    /// `rustc -V`.
    pub(crate) rustc: String,
    /// `redis-server --version`, when installed.
    pub(crate) redis_server: String,
    /// Versions of the crates measured, from Cargo.lock.
    pub(crate) crates: Vec<(String, String)>,
    /// Which servers were measured.
    pub(crate) providers: Vec<(String, String)>,
    /// The parameters of the run.
    pub(crate) parameters: Vec<(String, String)>,
}

/// The crates whose versions the report names.
const CRATES: &[&str] = &[
    "infra-redis",
    "redis",
    "fred",
    "deadpool",
    "qdrant-client",
    "qdrant-edge",
    "tonic",
    "axum",
    "hyper",
    "reqwest",
    "tokio",
];

impl Meta {
    /// Reads the machine and the versions; `root` is the workspace root (for Cargo.lock).
    pub(crate) fn collect(root: &Path, command: String, quick: bool) -> Self {
        Self {
            date: utc_now(),
            command,
            profile: if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            },
            quick,
            cores: std::thread::available_parallelism().map_or(0, std::num::NonZero::get),
            memory_mib: std::fs::read_to_string("/proc/meminfo")
                .ok()
                .and_then(|text| mem_total_mib(&text)),
            rustc: first_line("rustc", &["-V"]),
            redis_server: first_line("redis-server", &["--version"]),
            crates: std::fs::read_to_string(root.join("Cargo.lock"))
                .map(|lock| lock_versions(&lock, CRATES))
                .unwrap_or_default(),
            providers: Vec::new(),
            parameters: Vec::new(),
        }
    }
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Report {
    /// Machine, versions, command.
    pub(crate) meta: Meta,
    /// Every figure.
    pub(crate) rows: Vec<Row>,
    /// Scenarios that could not run, with the reason.
    pub(crate) skipped: Vec<(String, String)>,
    /// Scenario 8's grid: every point's figures, the targets' verdicts, the CDF, the charts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) grid: Option<crate::grid::GridReport>,
    /// Every chart the run drew, as file names in the output directory.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) charts: Vec<String>,
}

impl Report {
    /// An empty report of a run described by `meta`.
    pub(crate) fn new(meta: Meta) -> Self {
        Self {
            meta,
            rows: Vec::new(),
            skipped: Vec::new(),
            grid: None,
            charts: Vec::new(),
        }
    }

    /// Orders the rows by scenario number (stable: each scenario keeps its own order).
    pub(crate) fn sort(&mut self) {
        // By the scenario's number (10 after 9), then its first word as text.
        self.rows.sort_by_key(|row| {
            let first = row.scenario.split_whitespace().next().unwrap_or_default();
            let digits: String = first.chars().take_while(char::is_ascii_digit).collect();
            (digits.parse::<u32>().unwrap_or(u32::MAX), first.to_owned())
        });
    }

    /// Writes `report.json` and `report.md` into `dir`; returns their paths.
    pub(crate) fn write(&self, dir: &Path) -> std::io::Result<(PathBuf, PathBuf)> {
        std::fs::create_dir_all(dir)?;
        let json = dir.join("report.json");
        let md = dir.join("report.md");
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(&json, text + "\n")?;
        std::fs::write(&md, self.markdown())?;
        Ok((json, md))
    }

    /// The Markdown rendering: the run's facts, then one table row per figure.
    pub(crate) fn markdown(&self) -> String {
        let m = &self.meta;
        let mut out = String::new();
        let _ = writeln!(out, "- date: {}", m.date);
        let _ = writeln!(out, "- command: `{}`", m.command);
        let _ = writeln!(
            out,
            "- profile: {}{}",
            m.profile,
            if m.quick { " (--quick)" } else { "" }
        );
        let memory = m
            .memory_mib
            .map_or_else(|| "unknown".to_owned(), |mib| format!("{mib} MiB"));
        let _ = writeln!(out, "- machine: {} cores, {memory} memory", m.cores);
        let _ = writeln!(out, "- rustc: {}", m.rustc);
        let _ = writeln!(out, "- redis-server: {}", m.redis_server);
        let crates: Vec<String> = m.crates.iter().map(|(n, v)| format!("{n} {v}")).collect();
        let _ = writeln!(out, "- crates: {}", crates.join(", "));
        for (name, value) in &m.providers {
            let _ = writeln!(out, "- {name}: {value}");
        }
        let params: Vec<String> = m
            .parameters
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect();
        let _ = writeln!(out, "- parameters: {}", params.join(", "));
        out.push('\n');
        out.push_str(
            "Values are the median across rounds, with [min–max] when there were several. \
             The ratio is subject / baseline, taken round by round.\n\n",
        );
        out.push_str(
            "| scenario | metric | baseline | subject | ratio | target | status | note |\n",
        );
        out.push_str("|---|---|---|---|---|---|---|---|\n");
        for row in &self.rows {
            let baseline = match (&row.baseline_name, &row.baseline) {
                (Some(name), Some(spread)) => format!("{name}: {}", cell(spread, &row.unit)),
                (Some(name), None) => format!("{name}: –"),
                _ => "–".to_owned(),
            };
            let subject = match &row.subject {
                Some(spread) => format!("{}: {}", row.subject_name, cell(spread, &row.unit)),
                None => format!("{}: –", row.subject_name),
            };
            let ratio = row
                .ratio
                .as_ref()
                .map_or_else(|| "–".to_owned(), ratio_cell);
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                row.scenario,
                row.metric,
                baseline,
                subject,
                ratio,
                row.target.as_deref().unwrap_or("–"),
                row.status.as_str(),
                row.note.as_deref().unwrap_or("").replace('|', "/"),
            );
        }
        if let Some(grid) = &self.grid {
            out.push_str(&grid.markdown());
        }
        for (scenario, why) in &self.skipped {
            let _ = writeln!(out, "\nSkipped: {scenario}: {why}");
        }
        out
    }
}

/// `12.3 ms [11.9–13.0]` (the range only with several rounds).
fn cell(spread: &Spread, unit: &str) -> String {
    let value = |v: f64| number(v);
    if spread.n > 1 {
        format!(
            "{} {unit} [{}–{}]",
            value(spread.median),
            value(spread.min),
            value(spread.max)
        )
    } else {
        format!("{} {unit}", value(spread.median))
    }
}

fn ratio_cell(spread: &Spread) -> String {
    if spread.n > 1 {
        format!("{:.3} [{:.3}–{:.3}]", spread.median, spread.min, spread.max)
    } else {
        format!("{:.3}", spread.median)
    }
}

/// A figure with as many decimals as it needs to show three significant digits.
fn number(v: f64) -> String {
    let magnitude = v.abs();
    if magnitude >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else if magnitude >= 10.0 {
        format!("{v:.1}")
    } else if magnitude >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// The first line of a program's output, or why there is none.
pub(crate) fn first_line(program: &str, args: &[&str]) -> String {
    match Command::new(program).args(args).output() {
        Ok(output) if output.status.success() => String::from_utf8_lossy(&output.stdout)
            .lines()
            .next()
            .unwrap_or("")
            .trim()
            .to_owned(),
        Ok(output) => format!("`{program}` failed ({})", output.status),
        Err(_) => "not installed".to_owned(),
    }
}

/// `MemTotal` in MiB.
fn mem_total_mib(meminfo: &str) -> Option<u64> {
    meminfo
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse::<u64>().ok())
        .map(|kib| kib / 1024)
}

/// The versions Cargo.lock records for `names` (every version, when several).
fn lock_versions(lock: &str, names: &[&str]) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut name = None;
    for line in lock.lines() {
        if line == "[[package]]" {
            name = None;
        } else if let Some(value) = line.strip_prefix("name = ") {
            name = Some(value.trim_matches('"').to_owned());
        } else if let Some(value) = line.strip_prefix("version = ")
            && let Some(current) = name.take()
            && names.contains(&current.as_str())
        {
            found.push((current, value.trim_matches('"').to_owned()));
        }
    }
    found.sort_by_key(|(n, _)| names.iter().position(|x| x == n));
    found
}

/// Now, UTC, as `YYYY-MM-DDTHH:MM:SSZ`.
fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    rfc3339(secs)
}

/// Seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ` (proleptic Gregorian calendar).
fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400).cast_signed();
    let rest = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_memory_and_lock_versions() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_709_210_096), "2024-02-29T12:34:56Z");
        assert_eq!(
            mem_total_mib("MemTotal:       25165824 kB\nMemFree: 1 kB\n"),
            Some(24_576)
        );
        let lock = "[[package]]\nname = \"redis\"\nversion = \"1.6.0\"\n\n[[package]]\n\
                    name = \"tokio\"\nversion = \"1.48.0\"\n";
        assert_eq!(
            lock_versions(lock, &["tokio", "redis"]),
            vec![
                ("tokio".to_owned(), "1.48.0".to_owned()),
                ("redis".to_owned(), "1.6.0".to_owned())
            ]
        );
    }

    #[test]
    fn markdown_has_one_line_per_row() {
        let mut paired = Paired::default();
        paired.push(100.0, 95.0);
        paired.push(110.0, 99.0);
        let row = Row::new("1 redis GET", "ops/s", "ops/s", "port")
            .paired("raw", &paired)
            .target("ratio >= 0.90", Status::Met);
        let report = Report {
            meta: Meta::collect(Path::new("/nonexistent"), "cmd".into(), true),
            rows: vec![row],
            skipped: vec![],
            grid: None,
            charts: Vec::new(),
        };
        let md = report.markdown();
        assert!(
            md.contains("| 1 redis GET | ops/s | raw: 105 ops/s [100–110] |"),
            "{md}"
        );
        assert!(md.contains("| met |"), "{md}");
    }
}
