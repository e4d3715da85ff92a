//! `infra-bench`: the performance harness behind `cargo xtask bench` (`docs/benchmarks.md`).
//!
//! Each scenario runs its subject beside its baseline in this one process: a warm-up, then
//! several rounds in which the variants take turns (the order rotates every round), so that
//! the noise of a shared machine falls on all of them alike. The report gives the median
//! and the range across rounds, absolute values, and the ratio subject / baseline taken
//! round by round:
//!
//! 1. `RedisPort` GET and SET (the port from `infra_redis::build`, and the bare adapter) at
//!    64 tasks with 64-byte values, against raw redis-rs on one multiplexed connection;
//!    `redis-benchmark` beside them as the server's ceiling.
//! 2. Connections the Redis server accepted during the bench, against the pool size.
//! 3. `/health/ready` of the reference service under load against `/health/live` of the
//!    same server, and the dependency pings it caused against `duration / cache TTL + 1`.
//! 4. Remote `VectorPort` search (limit 10) against raw qdrant-client calls on the same
//!    server, with the embedded store beside them, at 10,000 and 100,000 points x dimension
//!    128 and 768; the upsert throughput in batches of 1,000; SVG charts against the points.
//! 5. Failure behaviour: Redis hung (SIGSTOP), the breaker open, Redis resumed.
//! 6. The reference service's footprint as a separate process (the `infra-server` binary
//!    of the same build): start to ready with an empty and a loaded data directory,
//!    resident memory idle and under an HTTP search load, the binary's size.
//! 7. Redis beyond string keys: GET through the general command path against raw redis-rs,
//!    a 100-command pipeline against 100 calls, lock and rate-limit latency, and the cache's
//!    single flight under 1,000 concurrent misses of one key.
//! 8. The Redis scaling grid: GET and SET at 1, 8, 64 and 256 tasks with 64 B, 4 KiB and
//!    64 KiB values, `RedisPort`, the bare adapter, raw redis-rs and `fred` side by side,
//!    `redis-benchmark` at each point, MGET of 100 keys; its targets, and SVG charts
//!    (throughput against concurrency, a latency CDF) beside the report.
//! 9. The reference service's search route under `wrk` (a separate process): cache hit,
//!    miss and bypass (Redis disabled), beside the same search in-process through the
//!    `RemoteQdrant` port; target: a hit's p50 below the uncached p50 by the search cost.
//! 10. The universal query by kind (dense, sparse, hybrid dense + sparse with RRF) through
//!     the remote `VectorPort` against raw qdrant-client sending the same `QueryPoints`.
//! 11. A walk through a whole collection of 100,000 points with `scroll` (the port's
//!     `scroll_all` against a raw `ScrollPoints` loop): points per second and the peak
//!     resident set growth, beside the growth of keeping every page.
//!
//! Servers: `--redis-url` / `--qdrant-url`, else a local `redis-server` (infra-testkit)
//! and the in-process Qdrant gRPC test server over the embedded engine. Scenario 5 always
//! starts a local `redis-server` of its own, since it stops and resumes the process.
//!
//! ```text
//! infra-bench [--quick] [--redis-url URL] [--qdrant-url URL] [--scenario LIST]
//!             [--out DIR] [--command TEXT] [--copy-svg DIR]
//! ```
//!
//! Writes `report.json` and `report.md` into `--out` (default `target/bench`) and prints
//! the table; scenarios 4, 6 and 8 also write their charts (`*.svg`) there, and `--copy-svg`
//! copies them into another directory (`cargo xtask bench` passes `docs/bench` in full mode). Figures are never asserted; the exit code is non-zero only when a scenario
//! could not run.

// Measurement code: counts and durations become f64 for rates and milliseconds.
#![allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]

mod failure;
mod footprint;
mod grid;
mod health;
mod http_cache;
mod layer;
mod plot;
mod primitives;
mod redis_bench;
mod report;
mod stats;
mod targets;
mod vector;
mod vector_filter;
mod vector_query;
mod vector_scroll;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use infra_testkit::RedisProvision;

use crate::report::{Meta, Report};

/// Any error of a scenario, with a message that says what failed.
pub(crate) type BenchError = Box<dyn std::error::Error + Send + Sync>;

/// The result of a scenario step.
pub(crate) type BenchResult<T = ()> = Result<T, BenchError>;

const USAGE: &str = "\
usage: infra-bench [--quick] [--redis-url URL] [--qdrant-url URL] [--scenario LIST]
                   [--out DIR] [--command TEXT] [--copy-svg DIR]
       infra-bench --redis-url URL --profile-grid CLIENT:OP:TASKS:BYTES:SECONDS

  --quick          every scenario briefly (about a minute): a smoke run, not figures
  --redis-url URL  measure this Redis (default: a local redis-server on a free port)
  --qdrant-url URL measure this Qdrant (default: the in-process Qdrant gRPC test server)
  --scenario LIST  run only these scenarios (1 to 11), e.g. `1,5` (2 comes with 1;
                   8 is the Redis scaling grid, 9 the service's cache under wrk,
                   10 the vector query kinds)
  --out DIR        where report.json, report.md and the charts go (default: target/bench)
  --command TEXT   the command to record in the report (default: this one)
  --copy-svg DIR   also copy the charts written into DIR (e.g. docs/bench)
  --profile-grid CLIENT:OP:TASKS:BYTES:SECONDS
                   instead of the scenarios: one client of scenario 8 (raw, bare, port,
                   fred) alone at one point (get, set or cmdget = GET through the port's
                   general command path; tasks, value bytes) for that many
                   seconds, printing its pid, for a profiler (`perf record -p PID`)
  --no-recorder    with --profile-grid: install no metrics recorder, so that every
                   observation is the facade's no-op (what the recorder costs a call)
";

/// The command line.
#[derive(Debug, Default)]
struct Options {
    quick: bool,
    /// The scenarios to run (`None`: all).
    scenarios: Option<Vec<u8>>,
    redis_url: Option<String>,
    qdrant_url: Option<String>,
    out: Option<PathBuf>,
    command: Option<String>,
    /// Where to copy the charts, besides `out`.
    copy_svg: Option<PathBuf>,
    /// One client at one point of scenario 8, instead of the scenarios.
    profile_grid: Option<grid::ProfilePoint>,
    /// Install no metrics recorder (only with `profile_grid`).
    no_recorder: bool,
}

impl Options {
    fn parse(args: &[String]) -> Result<Self, String> {
        let mut options = Self::default();
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let (name, inline) = match arg.split_once('=') {
                Some((name, value)) => (name, Some(value.to_owned())),
                None => (arg.as_str(), None),
            };
            if name == "--quick" {
                options.quick = true;
                continue;
            }
            if name == "--no-recorder" {
                options.no_recorder = true;
                continue;
            }
            if matches!(name, "-h" | "--help") {
                return Err(String::new());
            }
            let mut value = || {
                inline
                    .clone()
                    .or_else(|| args.next().cloned())
                    .filter(|v| !v.trim().is_empty())
                    .ok_or_else(|| format!("{name} needs a value"))
            };
            match name {
                "--redis-url" => options.redis_url = Some(value()?),
                "--qdrant-url" => options.qdrant_url = Some(value()?),
                "--out" => options.out = Some(PathBuf::from(value()?)),
                "--command" => options.command = Some(value()?),
                "--copy-svg" => options.copy_svg = Some(PathBuf::from(value()?)),
                "--profile-grid" => options.profile_grid = Some(value()?.parse()?),
                "--scenario" => {
                    let list = value()?;
                    let scenarios = list
                        .split(',')
                        .map(|n| n.trim().parse::<u8>().ok().filter(|n| (1..=11).contains(n)))
                        .collect::<Option<Vec<u8>>>()
                        .ok_or_else(|| format!("--scenario takes numbers 1 to 11, not `{list}`"))?;
                    options.scenarios = Some(scenarios);
                }
                other => return Err(format!("unknown argument `{other}`")),
            }
        }
        if options.no_recorder && options.profile_grid.is_none() {
            // The scenarios' targets are about the port as production runs it, recorder
            // included.
            return Err("--no-recorder is accepted only with --profile-grid".to_owned());
        }
        Ok(options)
    }
}

/// From this many points on, a vector grid point runs [`Plan::vector_large_rounds`].
pub(crate) const LARGE_COLLECTION: usize = 100_000;

/// How long and how hard each scenario runs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plan {
    /// Whether this is a `--quick` run.
    pub(crate) quick: bool,
    /// Measured rounds per scenario (each variant once per round).
    pub(crate) rounds: usize,
    /// Warm-up per variant before the rounds.
    pub(crate) warmup: Duration,
    /// One variant's share of a round in the Redis scenario.
    pub(crate) redis_segment: Duration,
    /// Concurrent tasks in the Redis scenario.
    pub(crate) redis_tasks: usize,
    /// Value size in the Redis scenario.
    pub(crate) value_bytes: usize,
    /// Requests `redis-benchmark` sends per test.
    pub(crate) redis_benchmark_requests: u32,
    /// One route's share of a round in the health scenario.
    pub(crate) http_segment: Duration,
    /// Concurrent HTTP clients.
    pub(crate) http_clients: usize,
    /// One variant's share of a round in the vector scenario.
    pub(crate) vector_segment: Duration,
    /// Concurrent searching tasks.
    pub(crate) vector_tasks: usize,
    /// Points in the collection at each point of the vector grid (scenario 4).
    pub(crate) vector_points: &'static [usize],
    /// Vector dimensions of the vector grid (scenario 4).
    pub(crate) vector_dimensions: &'static [usize],
    /// Measured rounds at grid points of [`LARGE_COLLECTION`] points or more (fewer than
    /// `rounds`, to keep a full run under 30 minutes on a small machine).
    pub(crate) vector_large_rounds: usize,
    /// Vector dimension of the reference service's collections (scenarios 6 and 9).
    pub(crate) vector_dimension: usize,
    /// Search limit.
    pub(crate) vector_limit: usize,
    /// Command timeout of the port in the failure scenario.
    pub(crate) failure_timeout: Duration,
    /// How long Redis stays hung under load.
    pub(crate) hang: Duration,
    /// Concurrent tasks while Redis is hung.
    pub(crate) failure_tasks: usize,
    /// Starts of the service measured per data directory state in the footprint scenario.
    pub(crate) footprint_starts: usize,
    /// Points loaded into the service before its memory is read.
    pub(crate) footprint_points: usize,
    /// How long the HTTP search load runs while memory is sampled.
    pub(crate) footprint_load: Duration,
    /// Measured rounds at each point of the Redis grid (scenario 8).
    pub(crate) grid_rounds: usize,
    /// Warm-up per client before each grid point's rounds.
    pub(crate) grid_warmup: Duration,
    /// One client's share of a round at a grid point.
    pub(crate) grid_segment: Duration,
    /// The grid's concurrencies (tasks).
    pub(crate) grid_concurrency: &'static [usize],
    /// The grid's value sizes, bytes.
    pub(crate) grid_sizes: &'static [usize],
    /// About how long `redis-benchmark` runs per test at a grid point, seconds.
    pub(crate) grid_benchmark_seconds: f64,
    /// How long each `wrk` run (and each in-process run beside them) lasts in scenario 9,
    /// whole seconds.
    pub(crate) wrk_seconds: u64,
    /// Rounds of scenario 9 (each variant once per round).
    pub(crate) wrk_rounds: usize,
}

impl Plan {
    fn new(quick: bool) -> Self {
        let ms = Duration::from_millis;
        Self {
            quick,
            rounds: if quick { 3 } else { 25 },
            warmup: if quick { ms(200) } else { ms(2000) },
            redis_segment: if quick { ms(300) } else { ms(600) },
            redis_tasks: 64,
            value_bytes: 64,
            redis_benchmark_requests: if quick { 50_000 } else { 500_000 },
            http_segment: if quick { ms(500) } else { ms(1000) },
            http_clients: 32,
            vector_segment: if quick { ms(200) } else { ms(1000) },
            vector_tasks: 8,
            vector_points: if quick { &[1_000] } else { &[10_000, 100_000] },
            vector_dimensions: if quick { &[128] } else { &[128, 768] },
            vector_large_rounds: if quick { 3 } else { 8 },
            vector_dimension: 128,
            vector_limit: 10,
            failure_timeout: ms(500),
            hang: if quick { ms(2000) } else { ms(5000) },
            failure_tasks: 16,
            footprint_starts: if quick { 1 } else { 5 },
            footprint_points: if quick { 1_000 } else { 10_000 },
            footprint_load: if quick { ms(1000) } else { ms(5000) },
            grid_rounds: if quick { 2 } else { 5 },
            grid_warmup: if quick { ms(100) } else { ms(300) },
            grid_segment: if quick { ms(200) } else { ms(400) },
            grid_concurrency: if quick { &[8] } else { &[1, 8, 64, 256] },
            grid_sizes: if quick { &[64] } else { &[64, 4096, 65_536] },
            grid_benchmark_seconds: if quick { 0.2 } else { 1.0 },
            wrk_seconds: if quick { 1 } else { 5 },
            wrk_rounds: if quick { 1 } else { 5 },
        }
    }

    /// The measured rounds at a vector grid point of `points` points.
    pub(crate) fn vector_rounds(&self, points: usize) -> usize {
        if points >= LARGE_COLLECTION {
            self.vector_large_rounds.min(self.rounds)
        } else {
            self.rounds
        }
    }

    fn parameters(&self) -> Vec<(String, String)> {
        let d = |d: Duration| format!("{}ms", d.as_millis());
        let list = |v: &[usize]| {
            v.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("/")
        };
        [
            ("rounds", self.rounds.to_string()),
            ("warmup", d(self.warmup)),
            ("redis_segment", d(self.redis_segment)),
            ("redis_tasks", self.redis_tasks.to_string()),
            ("value_bytes", self.value_bytes.to_string()),
            ("http_segment", d(self.http_segment)),
            ("http_clients", self.http_clients.to_string()),
            ("vector_segment", d(self.vector_segment)),
            ("vector_tasks", self.vector_tasks.to_string()),
            ("vector_points", list(self.vector_points)),
            ("vector_dimensions", list(self.vector_dimensions)),
            ("vector_large_rounds", self.vector_large_rounds.to_string()),
            (
                "service_vector_dimension",
                self.vector_dimension.to_string(),
            ),
            ("vector_limit", self.vector_limit.to_string()),
            ("failure_command_timeout", d(self.failure_timeout)),
            ("hang", d(self.hang)),
            ("failure_tasks", self.failure_tasks.to_string()),
            ("footprint_starts", self.footprint_starts.to_string()),
            ("footprint_points", self.footprint_points.to_string()),
            ("footprint_load", d(self.footprint_load)),
            ("grid_rounds", self.grid_rounds.to_string()),
            ("grid_warmup", d(self.grid_warmup)),
            ("grid_segment", d(self.grid_segment)),
            ("grid_concurrency", list(self.grid_concurrency)),
            ("grid_value_bytes", list(self.grid_sizes)),
            (
                "grid_redis_benchmark_seconds",
                self.grid_benchmark_seconds.to_string(),
            ),
            ("fred_pool", grid::FRED_POOL.to_string()),
            ("wrk_seconds", self.wrk_seconds.to_string()),
            ("wrk_rounds", self.wrk_rounds.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match Options::parse(&args) {
        Ok(options) => options,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("infra-bench: {message}\n");
            }
            eprint!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("infra-bench: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    // The reference service's telemetry, so the layers record as they do in production:
    // a Prometheus recorder, and logs at the service's default level.
    infra_server::observability::init_logging(infra_config::LogFormat::Text, "info");
    if !options.no_recorder {
        let _ = infra_server::observability::prometheus();
    }
    let outcome = runtime.block_on(async move {
        match options.profile_grid.clone() {
            Some(point) => {
                profile_grid(options.redis_url.as_deref(), &point, options.no_recorder).await
            }
            None => run(options).await,
        }
    });
    // Every server started above has been stopped when `run` returned (they stop on drop).
    runtime.shutdown_timeout(Duration::from_secs(5));
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("infra-bench: some scenarios could not run (see `Skipped` above)");
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("infra-bench: error: {err}");
            ExitCode::FAILURE
        }
    }
}

/// The Redis every scenario but the failure one measures, provided as `cargo xtask
/// test-integration` provides it: `--redis-url`, else infra-testkit's [`RedisProvision`]
/// (`INFRA_TEST_REDIS_URL`, a Docker container when a daemon answers, else a local
/// `redis-server` on a free 127.0.0.1 port).
pub(crate) struct RedisTarget {
    /// Its URL.
    pub(crate) url: String,
    /// `None` for `--redis-url`; held for its `Drop` (stops the server or container).
    provision: Option<RedisProvision>,
}

impl RedisTarget {
    /// `url` when given, else [`RedisProvision::acquire`].
    async fn provision(url: Option<&str>) -> BenchResult<Self> {
        if let Some(url) = url {
            return Ok(Self {
                url: url.to_owned(),
                provision: None,
            });
        }
        let provision = RedisProvision::acquire()
            .await
            .map_err(|e| format!("no Redis to measure: {e}"))?;
        Ok(Self {
            url: provision.url().to_owned(),
            provision: Some(provision),
        })
    }

    /// How the server was provided (the URL's password hidden).
    fn describe(&self) -> String {
        match &self.provision {
            Some(provision) => provision.description().to_owned(),
            None => format!(
                "--redis-url {}",
                infra_testkit::provider::redact_url(&self.url)
            ),
        }
    }
}

/// `--profile-grid`: one client at one point against `--redis-url`, no report.
async fn profile_grid(
    url: Option<&str>,
    point: &grid::ProfilePoint,
    no_recorder: bool,
) -> BenchResult<bool> {
    let url = url.ok_or("--profile-grid needs --redis-url (the server to profile against)")?;
    if no_recorder {
        println!("infra-bench: no metrics recorder installed (--no-recorder)");
    }
    grid::profile(url, point).await?;
    Ok(true)
}

/// Provisions the servers, runs every scenario, writes the report. `Ok(false)` when a
/// scenario could not run.
async fn run(options: Options) -> BenchResult<bool> {
    let plan = Plan::new(options.quick);
    let root = std::env::current_dir()?;
    let out = options
        .out
        .clone()
        .unwrap_or_else(|| root.join("target").join("bench"));
    let command = options.command.clone().unwrap_or_else(this_command);
    let mut meta = Meta::collect(&root, command.clone(), plan.quick);
    meta.parameters = plan.parameters();

    let redis = RedisTarget::provision(options.redis_url.as_deref()).await?;
    meta.providers.push(("redis".to_owned(), redis.describe()));
    let qdrant = vector::QdrantTarget::provision(options.qdrant_url.as_deref()).await?;
    meta.providers
        .push(("qdrant".to_owned(), qdrant.describe()));

    let mut report = Report::new(meta);
    let mut complete = true;
    let mut record = |report: &mut Report, name: &str, result: BenchResult| {
        if let Err(err) = result {
            eprintln!("infra-bench: scenario {name} failed: {err}");
            report.skipped.push((name.to_owned(), err.to_string()));
            complete = false;
        }
    };

    let selected = |n: u8| {
        options
            .scenarios
            .as_ref()
            .is_none_or(|list| list.contains(&n))
    };
    let mut connections = None;
    if selected(1) {
        println!("infra-bench: scenario 1 (redis GET/SET) and 2 (connections)");
        match redis_bench::run(&redis, &plan, &mut report).await {
            Ok(counter) => connections = Some(counter),
            Err(err) => record(&mut report, "1-2 redis", Err(err)),
        }
        let result = layer::run(&plan, &mut report).await;
        record(&mut report, "1 redis layer", result);
        let result = layer::run_on_server(&redis, &plan, &mut report, connections.as_mut()).await;
        record(&mut report, "1 redis layers on the server", result);
    }
    if selected(3) {
        println!("infra-bench: scenario 3 (/health/ready under load)");
        let admin = connections
            .as_mut()
            .map(redis_bench::ConnectionCounter::admin);
        let result = health::run(&redis, &qdrant, admin, &plan, &mut report).await;
        record(&mut report, "3 health", result);
        if let Some(counter) = &mut connections {
            let result = counter.mark("infra-server Application of scenario 3").await;
            record(&mut report, "2 connections", result);
        }
    }
    if let Some(counter) = connections {
        let result = counter.finish(&mut report).await;
        record(&mut report, "2 connections", result);
    }
    if selected(4) {
        println!("infra-bench: scenario 4 (vector search)");
        let result = vector::run(&qdrant, &plan, &out, &command, &mut report).await;
        record(&mut report, "4 vector search", result);
    }
    if selected(5) {
        println!("infra-bench: scenario 5 (failure behaviour)");
        let result = failure::run(&plan, &mut report).await;
        record(&mut report, "5 failure", result);
    }

    if selected(6) {
        println!("infra-bench: scenario 6 (footprint of the reference service)");
        let result = footprint::run(&redis, &qdrant, &plan, &out, &command, &mut report).await;
        record(&mut report, "6 footprint", result);
    }

    if selected(7) {
        println!("infra-bench: scenario 7 (redis command path, pipeline, primitives)");
        let result = primitives::run(&redis, &plan, &mut report).await;
        record(&mut report, "7 redis primitives", result);
    }

    if selected(8) {
        println!("infra-bench: scenario 8 (redis scaling grid)");
        let result = grid::run(&redis, &plan, &out, &command, &mut report).await;
        record(&mut report, "8 redis grid", result);
    }
    if selected(9) {
        println!("infra-bench: scenario 9 (service search cache under wrk)");
        let result = http_cache::run(&redis, &qdrant, &plan, &mut report).await;
        record(&mut report, "9 service search cache", result);
    }
    for (name, result) in vector_port_scenarios(&qdrant, &plan, &selected, &mut report).await {
        record(&mut report, name, result);
    }
    qdrant.stop().await;
    drop(redis);

    report.sort();
    write_report(&report, &out, options.copy_svg.as_deref())?;
    Ok(complete)
}

/// Scenarios 10 and 11, the ones selected: the vector port's query kinds and its scroll.
async fn vector_port_scenarios(
    qdrant: &vector::QdrantTarget,
    plan: &Plan,
    selected: &impl Fn(u8) -> bool,
    report: &mut Report,
) -> Vec<(&'static str, BenchResult)> {
    let mut results = Vec::new();
    if selected(10) {
        println!("infra-bench: scenario 10 (vector query kinds: dense, sparse, hybrid)");
        let result = vector_query::run(qdrant, plan, report).await;
        results.push(("10 vector query kinds", result));
    }
    if selected(11) {
        println!("infra-bench: scenario 11 (vector scroll through a whole collection)");
        let result = vector_scroll::run(qdrant, plan, report).await;
        results.push(("11 vector scroll", result));
    }
    results
}

/// This process's command line, for the report when `--command` does not give one.
fn this_command() -> String {
    std::iter::once("infra-bench".to_owned())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Writes the report into `out`, prints it, and copies the charts into `copy_svg`.
fn write_report(
    report: &Report,
    out: &std::path::Path,
    copy_svg: Option<&std::path::Path>,
) -> BenchResult {
    let (json, md) = report.write(out)?;
    println!("\n{}", report.markdown());
    println!("infra-bench: wrote {} and {}", json.display(), md.display());
    if let Some(dir) = copy_svg {
        copy_charts(report, out, dir)?;
    }
    Ok(())
}

/// Copies the charts the run drew (scenarios 4, 6 and 8) from `out` into `dir`.
fn copy_charts(report: &Report, out: &std::path::Path, dir: &std::path::Path) -> BenchResult {
    let charts = &report.charts;
    if charts.is_empty() {
        return Ok(());
    }
    std::fs::create_dir_all(dir)?;
    for name in charts {
        std::fs::copy(out.join(name), dir.join(name))
            .map_err(|e| format!("cannot copy {name} to {}: {e}", dir.display()))?;
    }
    println!(
        "infra-bench: copied {} to {}",
        charts.join(", "),
        dir.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|&a| a.to_owned()).collect()
    }

    #[test]
    fn options_parse() {
        let options = Options::parse(&strings(&[
            "--quick",
            "--redis-url",
            "redis://127.0.0.1:1",
            "--qdrant-url=http://127.0.0.1:2",
        ]))
        .unwrap();
        assert!(options.quick);
        assert_eq!(options.redis_url.as_deref(), Some("redis://127.0.0.1:1"));
        assert_eq!(options.qdrant_url.as_deref(), Some("http://127.0.0.1:2"));
        assert!(Options::parse(&strings(&["--redis-url"])).is_err());
        assert!(Options::parse(&strings(&["--verbose"])).is_err());
        let options = Options::parse(&strings(&["--scenario", "1,5"])).unwrap();
        assert_eq!(options.scenarios, Some(vec![1, 5]));
        let options = Options::parse(&strings(&["--scenario=8", "--copy-svg", "docs/bench"]));
        let options = options.unwrap();
        assert_eq!(options.scenarios, Some(vec![8]));
        assert_eq!(options.copy_svg, Some(PathBuf::from("docs/bench")));
        assert!(Options::parse(&strings(&["--scenario", "12"])).is_err());
        let options = Options::parse(&strings(&["--profile-grid", "fred:set:64:64:10"]));
        assert!(options.unwrap().profile_grid.is_some());
        let options = Options::parse(&strings(&[
            "--profile-grid",
            "port:get:64:64:5",
            "--no-recorder",
        ]));
        assert!(options.unwrap().no_recorder);
        let err = Options::parse(&strings(&["--scenario", "1", "--no-recorder"])).unwrap_err();
        assert!(err.contains("only with --profile-grid"), "{err}");
        for bad in [
            "fred:set:64:64",
            "redis:set:1:1:1",
            "port:del:1:1:1",
            "port:get:0:64:1",
        ] {
            let err = Options::parse(&strings(&["--profile-grid", bad])).unwrap_err();
            assert!(
                err.contains("CLIENT:OP:TASKS:BYTES:SECONDS"),
                "{bad}: {err}"
            );
        }
        assert_eq!(
            Options::parse(&strings(&["--scenario", "9"]))
                .unwrap()
                .scenarios,
            Some(vec![9])
        );
        assert!(Options::parse(&strings(&["--scenario", "1,x"])).is_err());
        assert!(Plan::new(true).rounds < Plan::new(false).rounds);
    }
}
