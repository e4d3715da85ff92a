//! Scenario 8: the Redis scaling grid (issue 17).
//!
//! GET and SET at every concurrency of the plan (1, 8, 64, 256 tasks) and value size (64 B,
//! 4 KiB, 64 KiB). At each point four clients run side by side in rotating rounds against
//! the same server, one key per task:
//!
//! - raw redis-rs on one `MultiplexedConnection` (cloned per call): the baseline;
//! - the bare `RedisAdapter` (no layers);
//! - `RedisPort` as services get it from `infra_redis::build` (the standard layers);
//! - `fred` 10 as a peer client: a round-robin `Pool` of [`FRED_POOL`] clients, as fred
//!   recommends for concurrent callers (one client is one connection with one writer
//!   task; a small pool spreads the load over connections). Four keeps both of this
//!   machine's cores busy without turning the comparison into one of connection counts.
//!
//! After the four, `redis-benchmark` (a separate process, `-t get,set -c <tasks> -d
//! <size> --csv`) measures the same point as the server's ceiling. Then MGET of 100 keys
//! (raw, port, fred). The targets are in [`crate::targets`]; the figures, verdicts and the
//! latency CDF of one representative point go into `report.json` (`grid`), the Markdown
//! report and SVG charts (`redis-throughput-<size>.svg`, `redis-latency-cdf.svg`).

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use fred::bytes::Bytes;
use fred::prelude::{Builder, ClientLike, Config, Key, KeysInterface, Pool};
use infra_base::redis::Command;
use infra_base::resilience::Idempotency;
use infra_base::{RedisPort, SetOptions};
use infra_redis::redis::{self, aio::MultiplexedConnection};
use serde::Serialize;

use crate::plot::{self, Axes, Panel, Series, XScale};
use crate::redis_bench::{BenchmarkLine, parse_benchmark_csv, raw_connection, redis_settings};
use crate::report::{Report, Row, Status, first_line};
use crate::stats::{Paired, Run, Spread, alternate, cdf, drive, merged_latencies, quantile};
use crate::targets::{self, PointFigures, Target, Verdict};
use crate::{BenchResult, Plan, RedisTarget};

/// Clients in fred's pool.
pub(crate) const FRED_POOL: usize = 4;
/// Keys per MGET.
pub(crate) const MGET_KEYS: usize = 100;
/// Concurrent tasks of the MGET comparison.
pub(crate) const MGET_TASKS: usize = 8;
/// Value size of the MGET keys.
const MGET_VALUE_BYTES: usize = 64;
/// Points of each latency CDF.
const CDF_POINTS: usize = 200;

/// The clients at a grid point, in the order of the report's columns; [`RAW`] is the
/// baseline.
pub(crate) const VARIANTS: [&str; 4] = [
    "raw redis-rs (1 multiplexed conn)",
    "RedisAdapter (bare)",
    "RedisPort (infra_redis::build)",
    "fred Pool (4 clients)",
];
/// Short names for charts and the grid table, by variant.
pub(crate) const SHORT: [&str; 4] = ["raw", "bare", "port", "fred"];
const RAW: usize = 0;
const BARE: usize = 1;
const PORT: usize = 2;
const FRED: usize = 3;

/// A Redis operation of the grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Get,
    Set,
    /// GET through `RedisPort::command` (the general command path); the other clients
    /// send a plain GET. Only `--profile-grid` uses it.
    CommandGet,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Get => "GET",
            Op::Set => "SET",
            Op::CommandGet => "command(GET)",
        }
    }
}

/// `64 B`, `4 KiB`, `64 KiB`, `1.5 KiB`.
pub(crate) fn size_label(bytes: usize) -> String {
    if bytes >= 1024 && bytes.is_multiple_of(1024) {
        format!("{} KiB", bytes / 1024)
    } else if bytes >= 1024 {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    } else {
        format!("{bytes} B")
    }
}

/// One client, cloned into every call as a service would share it.
#[derive(Clone)]
enum Client {
    Raw(MultiplexedConnection),
    Port(Arc<dyn RedisPort>),
    Fred(Pool),
}

impl Client {
    async fn call(self, op: Op, key: &str, value: &Bytes) -> bool {
        match (self, op) {
            (Client::Raw(mut conn), Op::Get | Op::CommandGet) => redis::cmd("GET")
                .arg(key)
                .query_async::<Option<Vec<u8>>>(&mut conn)
                .await
                .is_ok(),
            (Client::Raw(mut conn), Op::Set) => redis::cmd("SET")
                .arg(key)
                .arg(&value[..])
                .query_async::<redis::Value>(&mut conn)
                .await
                .is_ok(),
            (Client::Port(port), Op::Get) => port.get(key).await.is_ok(),
            (Client::Port(port), Op::CommandGet) => port
                .command(&Command::new("GET").arg(key), Idempotency::Idempotent)
                .await
                .is_ok(),
            (Client::Port(port), Op::Set) => {
                port.set(key, value, SetOptions::default()).await.is_ok()
            }
            (Client::Fred(pool), Op::Get | Op::CommandGet) => {
                pool.get::<Option<Bytes>, _>(key).await.is_ok()
            }
            (Client::Fred(pool), Op::Set) => pool
                .set::<(), _, _>(key, value.clone(), None, None, false)
                .await
                .is_ok(),
        }
    }

    async fn mget(self, keys: &[String], fred_keys: &[Key]) -> bool {
        match self {
            Client::Raw(mut conn) => redis::cmd("MGET")
                .arg(keys)
                .query_async::<Vec<Option<Vec<u8>>>>(&mut conn)
                .await
                .is_ok_and(|values| values.len() == keys.len()),
            Client::Port(port) => port
                .mget(keys)
                .await
                .is_ok_and(|values| values.len() == keys.len()),
            Client::Fred(pool) => pool
                .mget::<Vec<Option<Bytes>>, _>(fred_keys.to_vec())
                .await
                .is_ok_and(|values| values.len() == keys.len()),
        }
    }
}

/// One client's figures at a point, across rounds.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct VariantFigures {
    /// The client.
    pub(crate) name: &'static str,
    /// Successful calls per second.
    pub(crate) ops_per_s: Option<Spread>,
    /// Median latency, ms.
    pub(crate) p50_ms: Option<Spread>,
    /// 99th percentile latency, ms.
    pub(crate) p99_ms: Option<Spread>,
    /// The harness process's CPU per call, µs (context: includes every client's runtime
    /// work, not the server's).
    pub(crate) cpu_us_per_call: Option<Spread>,
    /// Failed calls across rounds.
    pub(crate) errors: u64,
}

impl VariantFigures {
    fn of(name: &'static str, runs: &[Run]) -> Self {
        let each = |f: &dyn Fn(&Run) -> f64| Spread::of(&runs.iter().map(f).collect::<Vec<_>>());
        Self {
            name,
            ops_per_s: each(&Run::rate),
            p50_ms: each(&|r| r.quantile_ms(0.5)),
            p99_ms: each(&|r| r.quantile_ms(0.99)),
            cpu_us_per_call: runs
                .iter()
                .all(|r| r.cpu.is_some())
                .then(|| each(&Run::cpu_us_per_call))
                .flatten(),
            errors: runs.iter().map(|r| r.errors).sum(),
        }
    }
}

/// Throughput ratio subject / baseline, round by round.
fn rate_ratio(baseline: &[Run], subject: &[Run]) -> Option<Spread> {
    Spread::of(&Paired::of_runs(baseline, subject, Run::rate).ratios())
}

/// One point of the grid.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct GridPoint {
    /// `GET` or `SET`.
    pub(crate) op: &'static str,
    /// Concurrent tasks (closed loop, one key each).
    pub(crate) concurrency: usize,
    /// Value size, bytes.
    pub(crate) value_bytes: usize,
    /// Every client's figures, in [`VARIANTS`] order.
    pub(crate) variants: Vec<VariantFigures>,
    /// `RedisPort` / raw throughput, round by round.
    pub(crate) port_vs_raw: Option<Spread>,
    /// Bare adapter / raw throughput, round by round.
    pub(crate) bare_vs_raw: Option<Spread>,
    /// fred / raw throughput, round by round.
    pub(crate) fred_vs_raw: Option<Spread>,
    /// `RedisPort` / fred throughput, round by round.
    pub(crate) port_vs_fred: Option<Spread>,
    /// `RedisPort` p50 - raw p50 in µs, round by round.
    pub(crate) added_p50_us: Option<Spread>,
    /// `redis-benchmark` at the same point (the server's ceiling).
    pub(crate) redis_benchmark: Option<BenchmarkLine>,
    /// Why there is no `redis_benchmark` figure.
    pub(crate) redis_benchmark_error: Option<String>,
    /// The targets that apply here, with their verdicts.
    pub(crate) verdicts: Vec<Verdict>,
}

impl GridPoint {
    fn measure(op: Op, concurrency: usize, value_bytes: usize, runs: &[Vec<Run>; 4]) -> Self {
        let added: Vec<f64> = runs[RAW]
            .iter()
            .zip(&runs[PORT])
            .map(|(raw, port)| {
                (quantile(&port.latencies_ns, 0.5) as f64 - quantile(&raw.latencies_ns, 0.5) as f64)
                    / 1e3
            })
            .collect();
        let mut point = Self {
            op: op.name(),
            concurrency,
            value_bytes,
            variants: (0..4)
                .map(|v| VariantFigures::of(VARIANTS[v], &runs[v]))
                .collect(),
            port_vs_raw: rate_ratio(&runs[RAW], &runs[PORT]),
            bare_vs_raw: rate_ratio(&runs[RAW], &runs[BARE]),
            fred_vs_raw: rate_ratio(&runs[RAW], &runs[FRED]),
            port_vs_fred: rate_ratio(&runs[FRED], &runs[PORT]),
            added_p50_us: Spread::of(&added),
            redis_benchmark: None,
            redis_benchmark_error: None,
            verdicts: Vec::new(),
        };
        point.verdicts = targets::evaluate(&point.figures());
        point
    }

    /// What the targets read.
    fn figures(&self) -> PointFigures {
        PointFigures {
            concurrency: self.concurrency,
            port_vs_raw: self.port_vs_raw.map(|s| s.median),
            port_vs_fred: self.port_vs_fred.map(|s| s.median),
            added_p50_us: self.added_p50_us.map(|s| s.median),
            errors: self.variants.iter().map(|v| v.errors).sum(),
        }
    }

    fn median_rate(&self, variant: usize) -> Option<f64> {
        self.variants[variant].ops_per_s.map(|s| s.median)
    }

    /// `8 redis grid GET 64 tasks 4 KiB`.
    fn scenario(&self) -> String {
        format!(
            "8 redis grid {} {} tasks {}",
            self.op,
            self.concurrency,
            size_label(self.value_bytes)
        )
    }
}

/// MGET of [`MGET_KEYS`] keys: raw, port, fred.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct MgetFigures {
    /// Concurrent tasks.
    pub(crate) concurrency: usize,
    /// Keys per call.
    pub(crate) keys: usize,
    /// raw, port, fred (calls per second; each call reads every key).
    pub(crate) variants: Vec<VariantFigures>,
    /// `RedisPort` / raw throughput, round by round.
    pub(crate) port_vs_raw: Option<Spread>,
    /// fred / raw throughput, round by round.
    pub(crate) fred_vs_raw: Option<Spread>,
    /// `RedisPort` / fred throughput, round by round.
    pub(crate) port_vs_fred: Option<Spread>,
}

/// One client's latency CDF at the representative point.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct CdfSeries {
    /// The client.
    pub(crate) name: &'static str,
    /// Calls the curve is drawn from (every round's).
    pub(crate) calls: usize,
    /// `(latency µs, fraction of calls at or below)`.
    pub(crate) points: Vec<(f64, f64)>,
}

/// Scenario 8's part of `report.json`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct GridReport {
    /// Every point, by value size, concurrency, operation.
    pub(crate) points: Vec<GridPoint>,
    /// MGET of 100 keys.
    pub(crate) mget: Option<MgetFigures>,
    /// Where the CDF was taken (`GET, 64 tasks, 4 KiB`).
    pub(crate) cdf_point: String,
    /// The latency CDF of each client there.
    pub(crate) cdf: Vec<CdfSeries>,
    /// Targets met.
    pub(crate) targets_met: usize,
    /// Targets evaluated.
    pub(crate) targets_total: usize,
    /// The charts written, file names in the output directory.
    pub(crate) svgs: Vec<String>,
}

/// Runs `redis-benchmark -t get,set -c <concurrency> -d <size> -n <requests> --csv` against
/// `url` and reads its CSV.
pub(crate) async fn redis_benchmark(
    url: &str,
    concurrency: usize,
    value_bytes: usize,
    requests: u64,
) -> Result<Vec<BenchmarkLine>, String> {
    let args: Vec<String> = [
        "-u",
        url,
        "-c",
        &concurrency.to_string(),
        "-d",
        &value_bytes.to_string(),
        "-n",
        &requests.to_string(),
        "-t",
        "get,set",
        "--csv",
    ]
    .iter()
    .map(|&s| s.to_owned())
    .collect();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("redis-benchmark")
            .args(&args)
            .output()
    })
    .await
    .map_err(|e| format!("cannot run redis-benchmark: {e}"))?
    .map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => "redis-benchmark not installed".to_owned(),
        _ => format!("cannot run redis-benchmark: {e}"),
    })?;
    if !output.status.success() {
        return Err(format!(
            "redis-benchmark failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    parse_benchmark_csv(&String::from_utf8_lossy(&output.stdout))
}

/// Requests for `redis-benchmark` to run about `seconds` per test at `rate` ops/s (the
/// raw client's rate at the point), within 1,000 and 1,000,000.
pub(crate) fn benchmark_requests(rate: Option<f64>, seconds: f64) -> u64 {
    let wanted = rate.unwrap_or(10_000.0) * seconds;
    if wanted.is_finite() {
        (wanted as u64).clamp(1_000, 1_000_000)
    } else {
        1_000
    }
}

/// Sets one key per task, `infra-bench:grid:<size>:<task>`, to a value of `size` bytes.
async fn seed(conn: &mut MultiplexedConnection, keys: &[Arc<str>], value: &[u8]) -> BenchResult {
    let mut pipe = redis::pipe();
    for key in keys {
        pipe.cmd("SET").arg(&**key).arg(value).ignore();
    }
    pipe.query_async::<()>(conn).await?;
    Ok(())
}

/// Scenario 8: the grid, MGET, the CDF, the rows and the charts (into `out`).
pub(crate) async fn run(
    redis: &RedisTarget,
    plan: &Plan,
    out: &Path,
    command: &str,
    report: &mut Report,
) -> BenchResult {
    let settings = redis_settings(&redis.url, &[])?;
    let built = infra_redis::build(&settings.redis)?;
    let bare: Arc<dyn RedisPort> = built.adapter().clone();
    let fred = Builder::from_config(Config::from_url(&redis.url)?).build_pool(FRED_POOL)?;
    fred.init().await?;
    let mut raw = raw_connection(&redis.url).await?;
    let clients = [
        Client::Raw(raw.clone()),
        Client::Port(bare),
        Client::Port(built.port()),
        Client::Fred(fred.clone()),
    ];
    let tool = first_line("redis-benchmark", &["--version"]);
    let max_tasks = plan.grid_concurrency.iter().copied().max().unwrap_or(1);
    let cdf_at = (
        Op::Get,
        pick(plan.grid_concurrency, 64),
        pick(plan.grid_sizes, 4096),
    );
    let mut points = Vec::new();
    let mut cdf_runs: Option<[Vec<Run>; 4]> = None;
    for &size in plan.grid_sizes {
        let keys: Arc<[Arc<str>]> = (0..max_tasks)
            .map(|i| Arc::from(format!("infra-bench:grid:{size}:{i}")))
            .collect();
        let value = Bytes::from(vec![b'x'; size]);
        seed(&mut raw, &keys, &value).await?;
        for &tasks in plan.grid_concurrency {
            let mut pair = Vec::with_capacity(2);
            for op in [Op::Get, Op::Set] {
                let runs = measure(&clients, op, tasks, &keys, &value, plan).await;
                let point = GridPoint::measure(op, tasks, size, &runs);
                println!(
                    "infra-bench: scenario 8 {:<3} {tasks:>3} tasks {:>6}: port/raw {} port/fred {}",
                    op.name(),
                    size_label(size),
                    median_text(point.port_vs_raw),
                    median_text(point.port_vs_fred),
                );
                if (op, tasks, size) == cdf_at {
                    cdf_runs = Some(runs);
                }
                pair.push(point);
            }
            attach_benchmark(&mut pair, &redis.url, tasks, size, plan).await;
            points.extend(pair);
        }
    }
    let mget = mget(&clients, &mut raw, plan).await?;
    let cdf = cdf_runs
        .map(|runs| {
            (0..4)
                .map(|v| {
                    let all = merged_latencies(&runs[v]);
                    CdfSeries {
                        name: SHORT[v],
                        calls: all.len(),
                        points: cdf(&all, CDF_POINTS),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let (targets_met, targets_total) = targets::tally(points.iter().flat_map(|p| &p.verdicts));
    let mut grid = GridReport {
        points,
        mget: Some(mget),
        cdf_point: format!(
            "{}, {} tasks, {}",
            cdf_at.0.name(),
            cdf_at.1,
            size_label(cdf_at.2)
        ),
        cdf,
        targets_met,
        targets_total,
        svgs: Vec::new(),
    };
    add_rows(report, &grid, &tool);
    let _ = fred.quit().await;
    let drawn = draw(&grid, out, command, &report.meta.date);
    if let Ok(files) = &drawn {
        grid.svgs.clone_from(files);
        report.charts.extend(files.iter().cloned());
    }
    report.grid = Some(grid);
    drawn.map(|_| ())
}

/// One grid client alone at one point for a profiler (`--profile-grid`), given as
/// `CLIENT:OP:TASKS:BYTES:SECONDS` (`fred:set:64:64:10`): the client (`raw`, `bare`,
/// `port`, `fred`), `get`, `set` or `cmdget` (GET through `RedisPort::command`),
/// concurrent tasks, value size, seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProfilePoint {
    client: usize,
    op: Op,
    tasks: usize,
    value_bytes: usize,
    seconds: u64,
}

impl std::str::FromStr for ProfilePoint {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let expected = || {
            format!(
                "--profile-grid takes CLIENT:OP:TASKS:BYTES:SECONDS with CLIENT one of \
                 raw, bare, port, fred, OP get, set or cmdget, and positive numbers \
                 (e.g. fred:set:64:64:10), not `{text}`"
            )
        };
        let parts: Vec<&str> = text.split(':').collect();
        let [client, op, tasks, bytes, seconds] = parts[..] else {
            return Err(expected());
        };
        let positive = |n: &str| n.parse::<usize>().ok().filter(|&n| n > 0);
        Ok(Self {
            client: SHORT
                .iter()
                .position(|&c| c == client)
                .ok_or_else(expected)?,
            op: match op {
                "get" => Op::Get,
                "set" => Op::Set,
                "cmdget" => Op::CommandGet,
                _ => return Err(expected()),
            },
            tasks: positive(tasks).ok_or_else(expected)?,
            value_bytes: positive(bytes).ok_or_else(expected)?,
            seconds: positive(seconds).ok_or_else(expected)? as u64,
        })
    }
}

/// Runs one client alone at one point for `point.seconds` after a one-second warm-up, with
/// the grid's keys and values, and prints its throughput, p50 and the process CPU per
/// call. Figures for a profiler's sake (`perf record -p`), not for the report.
pub(crate) async fn profile(url: &str, point: &ProfilePoint) -> BenchResult {
    let settings = redis_settings(url, &[])?;
    let mut raw = raw_connection(url).await?;
    let client = match point.client {
        RAW => Client::Raw(raw.clone()),
        BARE | PORT => {
            let built = infra_redis::build(&settings.redis)?;
            Client::Port(if point.client == BARE {
                built.adapter().clone()
            } else {
                built.port()
            })
        }
        _ => {
            let fred = Builder::from_config(Config::from_url(url)?).build_pool(FRED_POOL)?;
            fred.init().await?;
            Client::Fred(fred)
        }
    };
    let keys: Arc<[Arc<str>]> = (0..point.tasks)
        .map(|i| Arc::from(format!("infra-bench:grid:{}:{i}", point.value_bytes)))
        .collect();
    let value = Bytes::from(vec![b'x'; point.value_bytes]);
    seed(&mut raw, &keys, &value).await?;
    let run = |duration| {
        let (client, keys, value, op) = (client.clone(), keys.clone(), value.clone(), point.op);
        // Per call exactly what the grid's `measure` does.
        drive(point.tasks, duration, move |task| {
            let (client, key, value) = (client.clone(), Arc::clone(&keys[task]), value.clone());
            async move { client.call(op, &key, &value).await }
        })
    };
    run(std::time::Duration::from_secs(1)).await;
    println!(
        "infra-bench: profiling {} {} {} tasks {} for {} s (pid {})",
        VARIANTS[point.client],
        point.op.name(),
        point.tasks,
        size_label(point.value_bytes),
        point.seconds,
        std::process::id()
    );
    let measured = run(std::time::Duration::from_secs(point.seconds)).await;
    println!(
        "infra-bench: {:.0} ops/s, p50 {:.1} µs, process CPU {} per call, {} errors",
        measured.rate(),
        measured.quantile_ms(0.5) * 1e3,
        measured.cpu.map_or("unknown".to_owned(), |_| format!(
            "{:.2} µs",
            measured.cpu_us_per_call()
        )),
        measured.errors
    );
    Ok(())
}

/// Runs `redis-benchmark` at the point of `pair` (its GET and SET) and records its figures
/// (or why there are none) in both.
async fn attach_benchmark(
    pair: &mut [GridPoint],
    url: &str,
    tasks: usize,
    size: usize,
    plan: &Plan,
) {
    let rate = pair
        .iter()
        .filter_map(|p| p.median_rate(RAW))
        .fold(None, |max: Option<f64>, r| {
            Some(max.map_or(r, |m| m.max(r)))
        });
    let requests = benchmark_requests(rate, plan.grid_benchmark_seconds);
    match redis_benchmark(url, tasks, size, requests).await {
        Ok(lines) => {
            for point in pair {
                point.redis_benchmark = lines.iter().find(|l| l.test == point.op).cloned();
                if point.redis_benchmark.is_none() {
                    point.redis_benchmark_error =
                        Some(format!("no {} line in its output", point.op));
                }
            }
        }
        Err(why) => {
            for point in pair {
                point.redis_benchmark_error = Some(why.clone());
            }
        }
    }
}

/// `preferred` when the plan has it, else the plan's first value.
fn pick(values: &[usize], preferred: usize) -> usize {
    if values.contains(&preferred) {
        preferred
    } else {
        values.first().copied().unwrap_or(preferred)
    }
}

fn median_text(spread: Option<Spread>) -> String {
    spread.map_or_else(|| "–".to_owned(), |s| format!("{:.3}", s.median))
}

/// The four clients at one point, in rotating rounds.
async fn measure(
    clients: &[Client; 4],
    op: Op,
    tasks: usize,
    keys: &Arc<[Arc<str>]>,
    value: &Bytes,
    plan: &Plan,
) -> [Vec<Run>; 4] {
    let run_variant = |variant: usize, duration| {
        let client = clients[variant].clone();
        let (keys, value) = (Arc::clone(keys), value.clone());
        drive(tasks, duration, move |task| {
            let (client, key, value) = (client.clone(), Arc::clone(&keys[task]), value.clone());
            async move { client.call(op, &key, &value).await }
        })
    };
    alternate(
        plan.grid_rounds,
        plan.grid_warmup,
        plan.grid_segment,
        run_variant,
    )
    .await
}

/// MGET of [`MGET_KEYS`] keys from [`MGET_TASKS`] tasks: raw, port, fred.
async fn mget(
    clients: &[Client; 4],
    raw: &mut MultiplexedConnection,
    plan: &Plan,
) -> BenchResult<MgetFigures> {
    let keys: Arc<[String]> = (0..MGET_KEYS)
        .map(|i| format!("infra-bench:grid:mget:{i}"))
        .collect();
    let fred_keys: Arc<[Key]> = keys.iter().map(|k| Key::from(k.as_str())).collect();
    let value = vec![b'x'; MGET_VALUE_BYTES];
    let arc_keys: Vec<Arc<str>> = keys.iter().map(|k| Arc::from(k.as_str())).collect();
    seed(raw, &arc_keys, &value).await?;
    let chosen = [RAW, PORT, FRED];
    let run_variant = |variant: usize, duration| {
        let client = clients[chosen[variant]].clone();
        let (keys, fred_keys) = (Arc::clone(&keys), Arc::clone(&fred_keys));
        drive(MGET_TASKS, duration, move |_| {
            let (client, keys, fred_keys) =
                (client.clone(), Arc::clone(&keys), Arc::clone(&fred_keys));
            async move { client.mget(&keys, &fred_keys).await }
        })
    };
    let runs: [Vec<Run>; 3] = alternate(
        plan.grid_rounds,
        plan.grid_warmup,
        plan.grid_segment,
        run_variant,
    )
    .await;
    Ok(MgetFigures {
        concurrency: MGET_TASKS,
        keys: MGET_KEYS,
        variants: (0..3)
            .map(|i| VariantFigures::of(VARIANTS[chosen[i]], &runs[i]))
            .collect(),
        port_vs_raw: rate_ratio(&runs[0], &runs[1]),
        fred_vs_raw: rate_ratio(&runs[0], &runs[2]),
        port_vs_fred: rate_ratio(&runs[2], &runs[1]),
    })
}

/// The grid's rows in the report's table: each target with its figure, `redis-benchmark`
/// and the other ratios as context, MGET, and the tally.
fn add_rows(report: &mut Report, grid: &GridReport, tool: &str) {
    for point in &grid.points {
        report.rows.extend(point_rows(point, tool));
    }
    if let Some(mget) = &grid.mget {
        let scenario = format!(
            "8 redis grid MGET {} keys {} tasks",
            mget.keys, mget.concurrency
        );
        for (subject, baseline, ratio) in [
            (1, 0, mget.port_vs_raw),
            (2, 0, mget.fred_vs_raw),
            (1, 2, mget.port_vs_fred),
        ] {
            let mut row = Row::new(
                &scenario,
                "throughput",
                "calls/s",
                mget.variants[subject].name,
            );
            row.subject = mget.variants[subject].ops_per_s;
            row.baseline_name = Some(mget.variants[baseline].name.to_owned());
            row.baseline = mget.variants[baseline].ops_per_s;
            row.ratio = ratio;
            report.rows.push(row.note("context, no target"));
        }
    }
    let kinds = [Target::PortVsRaw, Target::AddedP50, Target::PortVsFred];
    let by_kind: Vec<String> = kinds
        .iter()
        .map(|&kind| {
            let (met, all) = targets::tally(
                grid.points
                    .iter()
                    .flat_map(|p| &p.verdicts)
                    .filter(|v| v.target == kind),
            );
            format!("{}: {met}/{all}", kind.describe())
        })
        .collect();
    report.rows.push(
        Row::new(
            "8 redis grid",
            "targets met",
            "targets",
            "scenario 8's targets",
        )
        .subject(&[grid.targets_met as f64])
        .target(
            format!("all {}", grid.targets_total),
            Status::from_bool(grid.targets_met == grid.targets_total),
        )
        .note(format!(
            "{} of {}: {}",
            grid.targets_met,
            grid.targets_total,
            by_kind.join("; ")
        )),
    );
}

/// One point's rows: port / raw and port / fred (with their targets), bare / raw, the
/// added p50 at 1 task, and `redis-benchmark`.
fn point_rows(point: &GridPoint, tool: &str) -> Vec<Row> {
    let mut rows = Vec::with_capacity(5);
    let scenario = point.scenario();
    let verdict = |target: Target| point.verdicts.iter().find(|v| v.target == target);
    let spread_row = |metric: &str, unit: &str, subject: &str, spread: Option<Spread>| {
        let mut row = Row::new(&scenario, metric, unit, subject);
        row.subject = spread;
        row
    };
    let with_target = |row: Row, target: Target| match verdict(target) {
        Some(v) => row.target(target.describe(), Status::from_bool(v.met)),
        None => row,
    };
    let ratio_row = |subject: usize, baseline: usize, ratio: Option<Spread>| {
        let mut row = spread_row("throughput", "ops/s", VARIANTS[subject], None);
        row.subject = point.variants[subject].ops_per_s;
        row.baseline_name = Some(VARIANTS[baseline].to_owned());
        row.baseline = point.variants[baseline].ops_per_s;
        row.ratio = ratio;
        row
    };
    let errors: u64 = point.variants.iter().map(|v| v.errors).sum();
    let mut port_raw = with_target(ratio_row(PORT, RAW, point.port_vs_raw), Target::PortVsRaw);
    if errors > 0 {
        port_raw = port_raw.note(format!("{errors} calls failed across the clients"));
    }
    rows.push(port_raw);
    rows.push(with_target(
        ratio_row(PORT, FRED, point.port_vs_fred),
        Target::PortVsFred,
    ));
    rows.push(ratio_row(BARE, RAW, point.bare_vs_raw));
    if point.concurrency == 1 {
        rows.push(with_target(
            spread_row(
                "p50 latency added",
                "us",
                "RedisPort p50 - raw p50",
                point.added_p50_us,
            ),
            Target::AddedP50,
        ));
    }
    let mut bench = Row::new(
        &scenario,
        "throughput",
        "ops/s",
        &format!(
            "redis-benchmark -c {} -d {}",
            point.concurrency, point.value_bytes
        ),
    );
    match (&point.redis_benchmark, &point.redis_benchmark_error) {
        (Some(line), _) => {
            bench = bench.subject(&[line.rps]).note(format!(
                "the server's ceiling (context); {tool}; p50 {} ms",
                line.p50_ms
                    .map_or_else(|| "?".to_owned(), |v| format!("{v:.3}"))
            ));
        }
        (None, Some(why)) => bench = bench.note(why.clone()),
        (None, None) => {}
    }
    rows.push(bench);
    rows
}

/// The charts: throughput against concurrency for each value size (GET and SET side by
/// side), and the latency CDF. Returns the files written (names in `out`).
fn draw(grid: &GridReport, out: &Path, command: &str, date: &str) -> BenchResult<Vec<String>> {
    std::fs::create_dir_all(out)?;
    let footer = format!("{command} ({date}); report.json has the machine and versions");
    let mut files = Vec::new();
    let mut sizes: Vec<usize> = grid.points.iter().map(|p| p.value_bytes).collect();
    sizes.dedup();
    for size in sizes {
        let panels: Vec<Panel> = ["GET", "SET"]
            .iter()
            .map(|&op| {
                let at: Vec<&GridPoint> = grid
                    .points
                    .iter()
                    .filter(|p| p.op == op && p.value_bytes == size)
                    .collect();
                let line = |name: &str, y: &dyn Fn(&GridPoint) -> Option<f64>| Series {
                    name: name.to_owned(),
                    points: at
                        .iter()
                        .filter_map(|p| Some((p.concurrency as f64, y(p)?)))
                        .collect(),
                };
                let mut series: Vec<Series> = [PORT, BARE, RAW, FRED]
                    .iter()
                    .map(|&v| line(SHORT[v], &|p| p.median_rate(v)))
                    .collect();
                series.push(line("redis-benchmark", &|p| {
                    p.redis_benchmark.as_ref().map(|l| l.rps)
                }));
                Panel {
                    title: format!("{op}, {} values", size_label(size)),
                    series,
                }
            })
            .collect();
        let name = format!("redis-throughput-{}.svg", size_label(size).replace(' ', ""));
        plot::line_charts(
            &out.join(&name),
            (1000, 440),
            &panels,
            Axes {
                x: "concurrent tasks (log)",
                x_scale: XScale::Log,
                y: "ops/s (median of rounds)",
                y_max: None,
            },
            &footer,
        )?;
        files.push(name);
    }
    if !grid.cdf.is_empty() {
        let order = [PORT, BARE, RAW, FRED];
        let series: Vec<Series> = order
            .iter()
            .filter_map(|&v| grid.cdf.iter().find(|s| s.name == SHORT[v]))
            .map(|s| Series {
                name: format!("{} ({} calls)", s.name, s.calls),
                points: s.points.clone(),
            })
            .collect();
        let name = "redis-latency-cdf.svg".to_owned();
        plot::line_charts(
            &out.join(&name),
            (800, 460),
            &[Panel {
                title: format!("Latency CDF: {}", grid.cdf_point),
                series,
            }],
            Axes {
                x: "latency, us (log)",
                x_scale: XScale::Log,
                y: "fraction of calls at or below",
                y_max: Some(1.0),
            },
            &footer,
        )?;
        files.push(name);
    }
    Ok(files)
}

impl GridReport {
    /// The Markdown section of the report: the targets' tally, one table row per point,
    /// MGET, and the charts.
    pub(crate) fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "\n## Scenario 8: Redis scaling grid\n\nTargets met: **{} of {}**. Throughput is \
             the median across rounds in ops/s; ratios are taken round by round (median \
             [min–max]). Clients: raw = redis-rs, 1 multiplexed connection; bare = \
             RedisAdapter; port = RedisPort (infra_redis::build); fred = fred Pool of {FRED_POOL} \
             clients; redis-benchmark = the server's ceiling, a separate process.\n",
            self.targets_met, self.targets_total
        );
        out.push_str(
            "| op | tasks | value | raw | bare | port | fred | redis-benchmark | port/raw | \
             bare/raw | port/fred | p50 raw / port (ms) | added p50 (us) | targets |\n",
        );
        out.push_str("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
        for p in &self.points {
            let rate = |v: usize| p.median_rate(v).map_or_else(|| "–".to_owned(), number);
            let p50 = |v: usize| {
                p.variants[v]
                    .p50_ms
                    .map_or_else(|| "–".to_owned(), |s| format!("{:.3}", s.median))
            };
            let verdicts: Vec<String> = p
                .verdicts
                .iter()
                .map(|v| {
                    format!(
                        "{} {}",
                        v.target.describe(),
                        if v.met { "met" } else { "missed" }
                    )
                })
                .collect();
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} / {} | {} | {} |",
                p.op,
                p.concurrency,
                size_label(p.value_bytes),
                rate(RAW),
                rate(BARE),
                rate(PORT),
                rate(FRED),
                p.redis_benchmark.as_ref().map_or_else(
                    || p.redis_benchmark_error
                        .clone()
                        .unwrap_or_else(|| "–".to_owned()),
                    |l| number(l.rps)
                ),
                ratio(p.port_vs_raw),
                ratio(p.bare_vs_raw),
                ratio(p.port_vs_fred),
                p50(RAW),
                p50(PORT),
                p.added_p50_us
                    .map_or_else(|| "–".to_owned(), |s| format!("{:.1}", s.median)),
                verdicts.join("; "),
            );
        }
        if let Some(m) = &self.mget {
            let rate = |i: usize| {
                m.variants[i]
                    .ops_per_s
                    .map_or_else(|| "–".to_owned(), |s| number(s.median))
            };
            let _ = writeln!(
                out,
                "\nMGET of {} keys (64 B values), {} tasks, calls/s: raw {}, port {}, fred {}; \
                 port/raw {}, fred/raw {}, port/fred {} (context, no target).",
                m.keys,
                m.concurrency,
                rate(0),
                rate(1),
                rate(2),
                ratio(m.port_vs_raw),
                ratio(m.fred_vs_raw),
                ratio(m.port_vs_fred),
            );
        }
        if !self.svgs.is_empty() {
            let _ = writeln!(
                out,
                "\nCharts (next to this report): {}; the CDF is at {}.",
                self.svgs.join(", "),
                self.cdf_point
            );
        }
        out
    }
}

fn ratio(spread: Option<Spread>) -> String {
    spread.map_or_else(
        || "–".to_owned(),
        |s| {
            if s.n > 1 {
                format!("{:.3} [{:.3}–{:.3}]", s.median, s.min, s.max)
            } else {
                format!("{:.3}", s.median)
            }
        },
    )
}

fn number(v: f64) -> String {
    format!("{v:.0}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn sizes_and_requests() {
        assert_eq!(size_label(64), "64 B");
        assert_eq!(size_label(4096), "4 KiB");
        assert_eq!(size_label(65_536), "64 KiB");
        assert_eq!(size_label(1536), "1.5 KiB");
        assert_eq!(benchmark_requests(Some(50_000.0), 1.0), 50_000);
        assert_eq!(benchmark_requests(Some(10.0), 1.0), 1_000);
        assert_eq!(benchmark_requests(Some(1e12), 1.0), 1_000_000);
        assert_eq!(benchmark_requests(None, 0.5), 5_000);
        assert_eq!(benchmark_requests(Some(f64::NAN), 1.0), 1_000);
        assert_eq!(pick(&[1, 8, 64], 64), 64);
        assert_eq!(pick(&[8], 64), 8);
    }

    fn run(ok: u64, p50_us: u64) -> Run {
        Run {
            ok,
            elapsed: Duration::from_secs(1),
            latencies_ns: vec![p50_us * 1_000; 3],
            ..Run::default()
        }
    }

    #[test]
    fn a_point_pairs_rounds_and_judges_its_targets() {
        // Two rounds; raw, bare, port, fred.
        let runs = [
            vec![run(100, 40), run(200, 40)],
            vec![run(95, 41), run(190, 41)],
            vec![run(94, 43), run(188, 43)],
            vec![run(90, 50), run(200, 50)],
        ];
        let point = GridPoint::measure(Op::Get, 1, 64, &runs);
        assert!((point.port_vs_raw.unwrap().median - 0.94).abs() < 1e-9);
        assert!((point.added_p50_us.unwrap().median - 3.0).abs() < 1e-9);
        // port / fred: 94/90 and 188/200.
        let fred = point.port_vs_fred.unwrap();
        assert!((fred.min - 0.94).abs() < 1e-9 && (fred.max - 94.0 / 90.0).abs() < 1e-9);
        let targets: Vec<Target> = point.verdicts.iter().map(|v| v.target).collect();
        assert_eq!(targets, vec![Target::AddedP50, Target::PortVsFred]);
        assert!(point.verdicts[0].met);
        assert_eq!(point.scenario(), "8 redis grid GET 1 tasks 64 B");
        let grid = GridReport {
            points: vec![point],
            mget: None,
            cdf_point: "GET, 1 tasks, 64 B".to_owned(),
            cdf: Vec::new(),
            targets_met: 1,
            targets_total: 2,
            svgs: Vec::new(),
        };
        let md = grid.markdown();
        assert!(md.contains("Targets met: **1 of 2**"), "{md}");
        assert!(md.contains("| GET | 1 | 64 B | 150 |"), "{md}");
    }
}
