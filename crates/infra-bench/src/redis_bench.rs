//! Scenarios 1 and 2: `RedisPort` GET/SET against raw redis-rs, `redis-benchmark` as the
//! server's ceiling, and the connections the server accepted.

use std::sync::Arc;
use std::time::Instant;

use infra_base::{RedisPort, SetOptions};
use infra_config::{Settings, SettingsLoader};
use infra_redis::redis::{self, aio::MultiplexedConnection};

use crate::report::{Report, Row, Status, first_line, latency_rows};
use crate::stats::{Paired, Run, alternate, drive};
use crate::{BenchResult, Plan, RedisTarget};

/// The throughput target of scenario 1 (`docs/benchmarks.md`): port / raw redis-rs.
const REDIS_RATIO_TARGET: f64 = 0.90;

/// A Redis operation of the scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Get,
    Set,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Get => "GET",
            Op::Set => "SET",
        }
    }
}

/// The variants measured side by side; the first is the baseline.
const VARIANTS: [&str; 3] = [
    "raw redis-rs (1 multiplexed conn)",
    "RedisAdapter (bare)",
    "RedisPort (infra_redis::build)",
];

/// Settings with `url` and everything else at its default, as a service would have them.
pub(crate) fn redis_settings(url: &str, extra: &[(&str, &str)]) -> BenchResult<Settings> {
    let mut pairs = vec![("SOCIAL_REDIS__URL".to_owned(), url.to_owned())];
    pairs.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    Ok(SettingsLoader::from_pairs(pairs).load()?)
}

/// A multiplexed redis-rs connection to `url`.
pub(crate) async fn raw_connection(url: &str) -> BenchResult<MultiplexedConnection> {
    let client = redis::Client::open(url)?;
    Ok(client.get_multiplexed_async_connection().await?)
}

/// The text of `INFO section`.
pub(crate) async fn info(conn: &mut MultiplexedConnection, section: &str) -> BenchResult<String> {
    Ok(redis::cmd("INFO")
        .arg(section)
        .query_async::<String>(conn)
        .await?)
}

/// `total_connections_received` of `INFO stats`.
pub(crate) async fn connections_received(conn: &mut MultiplexedConnection) -> BenchResult<u64> {
    let text = info(conn, "stats").await?;
    text.lines()
        .find_map(|line| line.strip_prefix("total_connections_received:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| "INFO stats has no total_connections_received".into())
}

/// The `calls` of `cmdstat_<command>` in `INFO commandstats` (0 when never called).
pub(crate) async fn command_calls(
    conn: &mut MultiplexedConnection,
    command: &str,
) -> BenchResult<u64> {
    let text = info(conn, "commandstats").await?;
    let prefix = format!("cmdstat_{command}:");
    Ok(text
        .lines()
        .find_map(|line| line.strip_prefix(prefix.as_str()))
        .and_then(|fields| {
            fields
                .split(',')
                .find_map(|f| f.strip_prefix("calls="))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0))
}

/// Scenario 2's bookkeeping: the server's accepted connections at the start, and after
/// each adapter's part.
pub(crate) struct ConnectionCounter {
    admin: MultiplexedConnection,
    start: u64,
    pool_max: usize,
    /// (which adapter, connections it opened).
    parts: Vec<(String, u64)>,
    last: u64,
}

impl ConnectionCounter {
    /// The admin connection (opened before the count started), for other `INFO` reads, so
    /// that they open no connection of their own inside the count.
    pub(crate) fn admin(&mut self) -> &mut MultiplexedConnection {
        &mut self.admin
    }

    /// Closes the part of the bench that `who` was responsible for.
    pub(crate) async fn mark(&mut self, who: &str) -> BenchResult {
        let now = connections_received(&mut self.admin).await?;
        self.parts.push((who.to_owned(), now - self.last));
        self.last = now;
        Ok(())
    }

    /// Adds scenario 2's rows: each adapter's connections, and the whole bench's.
    pub(crate) async fn finish(mut self, report: &mut Report) -> BenchResult {
        let end = connections_received(&mut self.admin).await?;
        let max = self.pool_max as u64;
        let parts = self.parts.len().max(1) as u64;
        for (who, opened) in &self.parts {
            report.rows.push(
                Row::new("2 redis connections", "connections opened", "conns", who)
                    .subject(&[*opened as f64])
                    .target(
                        format!("<= pool max size ({max})"),
                        Status::from_bool(*opened <= max),
                    ),
            );
        }
        let whole = end - self.start;
        report.rows.push(
            Row::new(
                "2 redis connections",
                "connections opened, whole bench",
                "conns",
                "every adapter of scenarios 1 and 3",
            )
            .subject(&[whole as f64])
            .target(
                format!("<= pool max size x adapters ({max} x {parts})"),
                Status::from_bool(whole <= max * parts),
            )
            .note(
                "INFO stats total_connections_received delta, counted after the baselines' own \
                 connections (raw client, admin, redis-benchmark) were open",
            ),
        );
        Ok(())
    }
}

/// Runs `redis-benchmark` (when installed), then scenario 1; returns scenario 2's counter,
/// to be finished after the other scenarios that use this server.
pub(crate) async fn run(
    redis: &RedisTarget,
    plan: &Plan,
    report: &mut Report,
) -> BenchResult<ConnectionCounter> {
    redis_benchmark(&redis.url, plan, report).await;

    let raw = raw_connection(&redis.url).await?;
    let mut admin = raw_connection(&redis.url).await?;
    let settings = redis_settings(&redis.url, &[])?;
    let start = connections_received(&mut admin).await?;
    let mut counter = ConnectionCounter {
        admin,
        start,
        pool_max: settings.redis.pool.max_size,
        parts: Vec::new(),
        last: start,
    };

    let built = infra_redis::build(&settings.redis)?;
    let adapter: Arc<dyn RedisPort> = built.adapter().clone();
    let port = built.port();
    let keys: Arc<[Arc<str>]> = (0..plan.redis_tasks)
        .map(|i| Arc::from(format!("infra-bench:{i}")))
        .collect();
    let value: Arc<[u8]> = vec![b'x'; plan.value_bytes].into();
    for key in keys.iter() {
        port.set(key, &value, SetOptions::default()).await?;
    }

    for op in [Op::Get, Op::Set] {
        let run_variant = |variant: usize, duration| {
            let (raw, adapter, port) = (raw.clone(), adapter.clone(), port.clone());
            let (keys, value) = (Arc::clone(&keys), Arc::clone(&value));
            async move {
                if variant == 0 {
                    drive(plan.redis_tasks, duration, move |task| {
                        let mut conn = raw.clone();
                        let (key, value) = (Arc::clone(&keys[task]), Arc::clone(&value));
                        async move { raw_call(&mut conn, op, &key, &value).await }
                    })
                    .await
                } else {
                    let port = if variant == 1 { adapter } else { port };
                    drive(plan.redis_tasks, duration, move |task| {
                        let port = Arc::clone(&port);
                        let (key, value) = (Arc::clone(&keys[task]), Arc::clone(&value));
                        async move { port_call(&*port, op, &key, &value).await }
                    })
                    .await
                }
            }
        };
        let runs: [Vec<Run>; 3] =
            alternate(plan.rounds, plan.warmup, plan.redis_segment, run_variant).await;
        add_rows(report, op, &runs);
    }
    report.rows.push(
        Row::new(
            "1 redis",
            "pool after the runs",
            "conns",
            "RedisAdapter pool size",
        )
        .subject(&[built.adapter().pool_status().size as f64])
        .note(format!(
            "max_size {}, hot slots serve port calls without a checkout",
            built.adapter().pool_status().max_size
        )),
    );
    counter
        .mark("RedisPort + RedisAdapter of scenario 1")
        .await?;
    Ok(counter)
}

async fn raw_call(conn: &mut MultiplexedConnection, op: Op, key: &str, value: &[u8]) -> bool {
    match op {
        Op::Get => redis::cmd("GET")
            .arg(key)
            .query_async::<Option<Vec<u8>>>(conn)
            .await
            .is_ok(),
        Op::Set => redis::cmd("SET")
            .arg(key)
            .arg(value)
            .query_async::<redis::Value>(conn)
            .await
            .is_ok(),
    }
}

async fn port_call(port: &dyn RedisPort, op: Op, key: &str, value: &[u8]) -> bool {
    match op {
        Op::Get => port.get(key).await.is_ok(),
        Op::Set => port.set(key, value, SetOptions::default()).await.is_ok(),
    }
}

/// Scenario 1's rows for one operation: throughput and latency of each subject beside raw.
fn add_rows(report: &mut Report, op: Op, runs: &[Vec<Run>; 3]) {
    let scenario = format!("1 redis {}", op.name());
    let errors: u64 = runs.iter().flatten().map(|r| r.errors).sum();
    for subject in 1..VARIANTS.len() {
        let rate = Paired::of_runs(&runs[0], &runs[subject], Run::rate);
        let mut row = Row::new(&scenario, "throughput", "ops/s", VARIANTS[subject])
            .paired(VARIANTS[0], &rate)
            .target(
                format!("ratio >= {REDIS_RATIO_TARGET:.2}"),
                Status::from_bool(rate.median_ratio() >= REDIS_RATIO_TARGET && errors == 0),
            );
        if errors > 0 {
            row = row.note(format!("{errors} calls failed across the variants"));
        }
        report.rows.push(row);
        report.rows.extend(latency_rows(
            &scenario,
            (VARIANTS[0], &runs[0]),
            (VARIANTS[subject], &runs[subject]),
        ));
    }
}

/// `redis-benchmark -c 64 -d 64 -t get,set`, plain and `-P 16`, as the server's ceiling.
/// A missing tool is a row that says so, not a failure.
async fn redis_benchmark(url: &str, plan: &Plan, report: &mut Report) {
    let version = first_line("redis-benchmark", &["--version"]);
    if version == "not installed" {
        report.rows.push(
            Row::new(
                "1 redis-benchmark",
                "throughput",
                "ops/s",
                "redis-benchmark",
            )
            .note("not installed"),
        );
        return;
    }
    for pipeline in [1u32, 16] {
        let args = vec![
            "-u".to_owned(),
            url.to_owned(),
            "-c".to_owned(),
            plan.redis_tasks.to_string(),
            "-d".to_owned(),
            plan.value_bytes.to_string(),
            "-n".to_owned(),
            (plan.redis_benchmark_requests * pipeline.min(4)).to_string(),
            "-P".to_owned(),
            pipeline.to_string(),
            "-t".to_owned(),
            "get,set".to_owned(),
            "--csv".to_owned(),
        ];
        let shown = format!(
            "redis-benchmark -c {} -d {} -t get,set{}",
            plan.redis_tasks,
            plan.value_bytes,
            if pipeline > 1 { " -P 16" } else { "" }
        );
        let started = Instant::now();
        let output = tokio::task::spawn_blocking(move || {
            std::process::Command::new("redis-benchmark")
                .args(&args)
                .output()
        })
        .await;
        let output = match output {
            Ok(Ok(output)) if output.status.success() => output,
            other => {
                let why = match other {
                    Ok(Ok(output)) => format!(
                        "failed ({}): {}",
                        output.status,
                        String::from_utf8_lossy(&output.stderr).trim()
                    ),
                    Ok(Err(err)) => format!("cannot run: {err}"),
                    Err(err) => format!("cannot run: {err}"),
                };
                report
                    .rows
                    .push(Row::new("1 redis-benchmark", "throughput", "ops/s", &shown).note(why));
                continue;
            }
        };
        let text = String::from_utf8_lossy(&output.stdout);
        let lines = match parse_benchmark_csv(&text) {
            Ok(lines) => lines,
            Err(why) => {
                report.rows.push(
                    Row::new("1 redis-benchmark", "throughput", "ops/s", &shown)
                        .note(format!("unreadable output: {why}")),
                );
                continue;
            }
        };
        let ms = |v: Option<f64>| v.map_or_else(|| "?".to_owned(), |v| format!("{v:.3}"));
        for line in lines {
            report.rows.push(
                Row::new(
                    &format!("1 redis-benchmark {}", line.test),
                    "throughput",
                    "ops/s",
                    &shown,
                )
                .subject(&[line.rps])
                .note(format!(
                    "the server's ceiling (context, no target); p50 {} ms, p99 {} ms; \
                     {version}; took {:.1}s",
                    ms(line.p50_ms),
                    ms(line.p99_ms),
                    started.elapsed().as_secs_f64()
                )),
            );
        }
    }
}

/// One test's line of `redis-benchmark --csv`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub(crate) struct BenchmarkLine {
    /// The test, as redis-benchmark names it (`GET`, `SET`).
    pub(crate) test: String,
    /// Requests per second.
    pub(crate) rps: f64,
    /// Median latency in milliseconds, when the output has the column.
    pub(crate) p50_ms: Option<f64>,
    /// 99th percentile latency in milliseconds, when the output has the column.
    pub(crate) p99_ms: Option<f64>,
}

/// Reads `redis-benchmark --csv`: a header line `"test","rps","avg_latency_ms",
/// "min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"`
/// (only `test` and `rps` are required, in any order), then one line per test.
///
/// Anything else is an error that says what was wrong and where (never a panic): empty
/// output, a header without `test` or `rps`, a line with fewer fields than the header, a
/// figure that is not a finite non-negative number, or a header with no test line.
pub(crate) fn parse_benchmark_csv(text: &str) -> Result<Vec<BenchmarkLine>, String> {
    let split = |line: &str| -> Vec<String> {
        line.split(',')
            .map(|f| f.trim().trim_matches('"').to_owned())
            .collect()
    };
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((_, header)) = lines.next() else {
        return Err("redis-benchmark printed no CSV (empty output)".to_owned());
    };
    let columns = split(header);
    let index = |name: &str| columns.iter().position(|c| c == name);
    let (Some(name_at), Some(rps_at)) = (index("test"), index("rps")) else {
        return Err(format!(
            "the CSV header has no `test` and `rps` columns: `{}`",
            header.trim()
        ));
    };
    let (p50_at, p99_at) = (index("p50_latency_ms"), index("p99_latency_ms"));
    let mut parsed = Vec::new();
    for (number, line) in lines {
        let number = number + 1;
        let fields = split(line);
        if fields.len() < columns.len() {
            return Err(format!(
                "line {number} has {} fields, the header {}: `{}`",
                fields.len(),
                columns.len(),
                line.trim()
            ));
        }
        let figure = |i: usize, what: &str| -> Result<f64, String> {
            fields[i]
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v >= 0.0)
                .ok_or_else(|| {
                    format!(
                        "line {number}: {what} `{}` is not a non-negative number",
                        fields[i]
                    )
                })
        };
        parsed.push(BenchmarkLine {
            test: fields[name_at].clone(),
            rps: figure(rps_at, "rps")?,
            p50_ms: p50_at.map(|i| figure(i, "p50_latency_ms")).transpose()?,
            p99_ms: p99_at.map(|i| figure(i, "p99_latency_ms")).transpose()?,
        });
    }
    if parsed.is_empty() {
        return Err(format!(
            "the CSV has a header but no test line: `{}`",
            header.trim()
        ));
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn benchmark_csv_is_read() {
        let csv = "\"test\",\"rps\",\"avg_latency_ms\",\"min_latency_ms\",\"p50_latency_ms\",\
                   \"p95_latency_ms\",\"p99_latency_ms\",\"max_latency_ms\"\n\
                   \"SET\",\"125000.00\",\"0.300\",\"0.100\",\"0.287\",\"0.400\",\"0.511\",\"1.2\"\n\
                   \"GET\",\"130000.00\",\"0.280\",\"0.100\",\"0.271\",\"0.380\",\"0.479\",\"0.9\"\n";
        let rows = parse_benchmark_csv(csv).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].test, "SET");
        assert!((rows[1].rps - 130_000.0).abs() < 1e-6);
        assert_eq!((rows[1].p50_ms, rows[1].p99_ms), (Some(0.271), Some(0.479)));
        // Only test and rps are required, in any order.
        let short = parse_benchmark_csv("rps,test\n1000,GET\n").unwrap();
        assert_eq!(short[0].test, "GET");
        assert_eq!(short[0].p50_ms, None);
    }

    #[test]
    fn bad_benchmark_csv_is_a_clear_error() {
        let header = "\"test\",\"rps\",\"p50_latency_ms\"\n";
        let cases = [
            ("", "empty output"),
            ("\n  \n", "empty output"),
            (
                "GET: 1000.00 requests per second\n",
                "no `test` and `rps` columns",
            ),
            (header, "no test line"),
            (
                "\"test\",\"rps\",\"p50_latency_ms\"\n\"GET\",\"12\"\n",
                "line 2 has 2 fields",
            ),
            ("\"test\",\"rps\"\n\"GET\",\"fast\"\n", "rps `fast`"),
            ("\"test\",\"rps\"\n\"GET\",\"-3\"\n", "rps `-3`"),
            ("\"test\",\"rps\"\n\"GET\",\"NaN\"\n", "rps `NaN`"),
            (
                "\"test\",\"rps\",\"p50_latency_ms\"\n\"GET\",\"1\",\"\"\n",
                "p50_latency_ms ``",
            ),
        ];
        for (input, expected) in cases {
            let err = parse_benchmark_csv(input).unwrap_err();
            assert!(err.contains(expected), "{input:?}: {err}");
        }
    }
}
