//! Scenario 9: the reference service's search route under `wrk`, cache hit against miss
//! against bypass (issue 17).
//!
//! Two `infra-server serve` processes of the same build (as scenario 6 starts them) share
//! the remote Qdrant of the other scenarios: one with Redis configured (the search cache
//! on, TTL 1 h so that nothing expires during the run), one with `SOCIAL_REDIS__ENABLED=false`
//! (every search a `bypass`: answered by the vector store, nothing cached). The harness
//! loads `footprint_points` points of dimension `vector_dimension` through the first
//! one's HTTP API, then `wrk` (a separate process, `--latency`, one thread,
//! `http_clients` connections) posts to `/collections/{name}/search`:
//!
//! - **hit**: the same request every time, primed once, to the cached server;
//! - **miss**: a new random vector every request (a Lua `request()`), to the cached
//!   server: the vector store answers and the answer is stored in Redis;
//! - **bypass**: the same random requests to the server without Redis.
//!
//! Beside them, the same search in this process through the `RemoteQdrant` port
//! (`VectorPort::search`), at one task (the search cost) and at `http_clients` tasks. The
//! variants take turns in rotating rounds. A Lua `response()` counts the `x-cache` header
//! of every answer, so a run that was not what it claims to be says so. Requests/s and
//! the p50/p99 latency come from wrk's own report, parsed.
//!
//! Target: the hit's p50 is below the uncached (bypass) p50 by at least the search cost
//! (the in-process p50 at one task).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use infra_base::{Components, SearchQuery, VectorPort};
use infra_config::SettingsLoader;
use serde_json::json;

use crate::footprint::{Served, load_points, server_binary};
use crate::report::{Report, Row, Status};
use crate::stats::{Paired, Run, drive};
use crate::vector::{QdrantTarget, random_vector};
use crate::{BenchResult, Plan, RedisTarget};

const SCENARIO: &str = "9 service search cache (wrk)";
const COLLECTION: &str = "bench_search_cache";
/// Search limit of every request.
const LIMIT: usize = 10;

/// The variants, in the report's order.
const VARIANTS: [&str; 5] = [
    "HTTP search, cache hit (wrk)",
    "HTTP search, cache miss (wrk)",
    "HTTP search, bypass: Redis disabled (wrk)",
    "in-process RemoteQdrant search, 1 task",
    "in-process RemoteQdrant search, one task per wrk connection",
];
const HIT: usize = 0;
const MISS: usize = 1;
const BYPASS: usize = 2;
const COST: usize = 3;
const LOADED: usize = 4;

/// The `x-cache` value each wrk variant must get.
const EXPECTED: [&str; 3] = ["hit", "miss", "bypass"];

/// The Lua part common to every wrk script: counts the `x-cache` header of each answer and
/// the non-200 statuses, and prints them when the run ends (one line, parsed below).
const COUNT_LUA: &str = r#"
local threads = {}
function setup(thread) table.insert(threads, thread) end
hits, misses, bypasses, others, bad = 0, 0, 0, 0, 0
function response(status, headers, body)
  if status ~= 200 then bad = bad + 1 end
  local c = headers["x-cache"] or headers["X-Cache"]
  if c == "hit" then hits = hits + 1
  elseif c == "miss" then misses = misses + 1
  elseif c == "bypass" then bypasses = bypasses + 1
  else others = others + 1 end
end
function done(summary, latency, requests)
  local t = { 0, 0, 0, 0, 0 }
  for _, thread in ipairs(threads) do
    t[1] = t[1] + thread:get("hits")
    t[2] = t[2] + thread:get("misses")
    t[3] = t[3] + thread:get("bypasses")
    t[4] = t[4] + thread:get("others")
    t[5] = t[5] + thread:get("bad")
  end
  io.write(string.format("x-cache hit=%d miss=%d bypass=%d other=%d non200=%d\n",
    t[1], t[2], t[3], t[4], t[5]))
end
"#;

/// The wrk script of the hit variant: one fixed body.
fn hit_script(body: &str) -> String {
    format!(
        "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\n\
         wrk.body = '{body}'\n{COUNT_LUA}"
    )
}

/// The wrk script of the miss and bypass variants: a random vector every request, seeded
/// by the script's first argument (each run asks new questions).
fn random_script(dimension: usize) -> String {
    format!(
        r#"wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
function init(args) math.randomseed(tonumber(args[1]) or 1) end
function request()
  local v = {{}}
  for i = 1, {dimension} do v[i] = string.format("%.5f", math.random() - 0.5) end
  return wrk.format(nil, nil, nil, '{{"limit":{LIMIT},"vector":[' .. table.concat(v, ",") .. ']}}')
end
{COUNT_LUA}"#
    )
}

/// One run's figures: requests/s and latency percentiles in ms.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Figures {
    /// Requests (or searches) per second.
    pub(crate) rate: f64,
    /// Median latency, ms.
    pub(crate) p50: f64,
    /// 99th percentile latency, ms.
    pub(crate) p99: f64,
}

/// What wrk reported: the figures, the `x-cache` counts (hit, miss, bypass, other), the
/// non-200 answers and socket errors.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct WrkOutput {
    /// Requests/s and latency.
    pub(crate) figures: Figures,
    /// Requests completed.
    pub(crate) requests: u64,
    /// `x-cache` counts: hit, miss, bypass, other.
    pub(crate) cache: [u64; 4],
    /// Answers that were not 200.
    pub(crate) non_200: u64,
    /// The `Socket errors:` line, when wrk printed one.
    pub(crate) socket_errors: Option<String>,
}

/// A wrk duration (`850us`, `1.23ms`, `2.00s`, `1.5m`) in milliseconds.
fn wrk_millis(text: &str) -> Option<f64> {
    let text = text.trim();
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().ok()?;
    let factor = match unit {
        "us" => 1e-3,
        "ms" => 1.0,
        "s" => 1e3,
        "m" => 60e3,
        "h" => 3600e3,
        _ => return None,
    };
    Some(value * factor)
}

/// Parses wrk's report (with `--latency` and the scripts' `x-cache` line).
pub(crate) fn parse_wrk(text: &str) -> Result<WrkOutput, String> {
    let mut out = WrkOutput::default();
    let (mut p50, mut p99, mut rate) = (None, None, None);
    for line in text.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("50%") {
            p50 = wrk_millis(rest);
        } else if let Some(rest) = line.strip_prefix("99%") {
            p99 = wrk_millis(rest);
        } else if let Some(rest) = line.strip_prefix("Requests/sec:") {
            rate = rest.trim().parse::<f64>().ok();
        } else if let Some(rest) = line.strip_prefix("Non-2xx or 3xx responses:") {
            out.non_200 = out.non_200.max(rest.trim().parse().unwrap_or(0));
        } else if line.starts_with("Socket errors:") {
            out.socket_errors = Some(line.to_owned());
        } else if let Some((count, _)) = line.split_once(" requests in ") {
            out.requests = count.trim().parse().unwrap_or(0);
        } else if let Some(rest) = line.strip_prefix("x-cache ") {
            for field in rest.split_whitespace() {
                let Some((name, value)) = field.split_once('=') else {
                    continue;
                };
                let value: u64 = value.parse().unwrap_or(0);
                match name {
                    "hit" => out.cache[0] = value,
                    "miss" => out.cache[1] = value,
                    "bypass" => out.cache[2] = value,
                    "other" => out.cache[3] = value,
                    "non200" => out.non_200 = out.non_200.max(value),
                    _ => {}
                }
            }
        }
    }
    match (rate, p50, p99) {
        (Some(rate), Some(p50), Some(p99)) => {
            out.figures = Figures { rate, p50, p99 };
            Ok(out)
        }
        _ => Err(format!(
            "cannot read wrk's report (Requests/sec, 50% and 99% of --latency): {}",
            text.trim()
        )),
    }
}

/// `wrk --version` (it prints its banner and exits non-zero), or an error that says how to
/// install it.
fn wrk_version() -> BenchResult<String> {
    match std::process::Command::new("wrk").arg("--version").output() {
        Ok(output) => {
            let text = String::from_utf8_lossy(&output.stdout);
            // `wrk debian/4.1.0-3+b2 [epoll] Copyright ...`: the name and the version.
            let banner = text.lines().next().unwrap_or("wrk");
            Ok(banner
                .split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" "))
        }
        Err(err) => Err(format!(
            "wrk is not installed ({err}): scenario 9 needs it as its load generator \
             (apt-get install wrk; .ci/run installs it)"
        )
        .into()),
    }
}

/// Runs wrk for `seconds` against `url` with `script` (and `args` after `--`).
async fn wrk(
    url: &str,
    script: &Path,
    connections: usize,
    seconds: u64,
    args: &[String],
) -> BenchResult<WrkOutput> {
    let mut command = std::process::Command::new("wrk");
    command
        .args(["-t1", "--latency", "--timeout", "10s"])
        .arg(format!("-c{connections}"))
        .arg(format!("-d{seconds}s"))
        .arg("-s")
        .arg(script)
        .arg(url)
        .arg("--")
        .args(args);
    let output = tokio::task::spawn_blocking(move || command.output()).await??;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!(
            "wrk failed ({}): {} {}",
            output.status,
            text.trim(),
            String::from_utf8_lossy(&output.stderr).trim()
        )
        .into());
    }
    Ok(parse_wrk(&text)?)
}

/// Posts `body` to the search route of `base`; the `x-cache` header of the answer.
async fn search_once(client: &reqwest::Client, base: &str, body: &str) -> BenchResult<String> {
    let response = client
        .post(format!("{base}/collections/{COLLECTION}/search"))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await?;
    if !response.status().is_success() {
        return Err(format!("search: {}", response.status()).into());
    }
    let cache = response
        .headers()
        .get("x-cache")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    response.bytes().await?;
    Ok(cache)
}

/// A figure of the report: its name, unit, and how to read it from [`Figures`].
type Metric = (&'static str, &'static str, fn(&Figures) -> f64);

/// The figures of an in-process run.
fn figures_of(run: &Run) -> Figures {
    Figures {
        rate: run.rate(),
        p50: run.quantile_ms(0.5),
        p99: run.quantile_ms(0.99),
    }
}

/// Scenario 9; see the module docs.
pub(crate) async fn run(
    redis: &RedisTarget,
    qdrant: &QdrantTarget,
    plan: &Plan,
    report: &mut Report,
) -> BenchResult {
    let version = wrk_version()?;
    let binary = server_binary()?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let dir = tempfile::tempdir()?;
    let data = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    let env = |cached: bool| -> Vec<(&'static str, String)> {
        let mut env = vec![
            ("SOCIAL_HTTP__PORT", "0".to_owned()),
            ("SOCIAL_HTTP__HOST", "127.0.0.1".to_owned()),
            ("SOCIAL_LOG__LEVEL", "warn".to_owned()),
            ("SOCIAL_HTTP__BODY_LIMIT", (64 << 20).to_string()),
            ("SOCIAL_CACHE__TTL", "1h".to_owned()),
            (
                "SOCIAL_QDRANT__PATH",
                data(if cached { "cached" } else { "uncached" }),
            ),
        ];
        if cached {
            env.push(("SOCIAL_REDIS__URL", redis.url.clone()));
        } else {
            env.push(("SOCIAL_REDIS__ENABLED", "false".to_owned()));
        }
        env.extend(qdrant.settings_pairs());
        env
    };
    let cached = Served::spawn(&binary, dir.path(), &env(true))?;
    let uncached = Served::spawn(&binary, dir.path(), &env(false))?;
    cached.ready(&client).await?;
    uncached.ready(&client).await?;
    load_points(&client, &cached.base, COLLECTION, plan, false).await?;
    let servers = (&cached, &uncached);
    let result = measure(
        &client,
        servers,
        qdrant,
        plan,
        (dir.path(), &version),
        report,
    )
    .await;
    let _ = client
        .delete(format!("{}/collections/{COLLECTION}", cached.base))
        .send()
        .await;
    cached.stop()?;
    uncached.stop()?;
    result
}

/// The rounds and the rows.
async fn measure(
    client: &reqwest::Client,
    (cached, uncached): (&Served, &Served),
    qdrant: &QdrantTarget,
    plan: &Plan,
    (scripts, version): (&Path, &str),
    report: &mut Report,
) -> BenchResult {
    let dimension = plan.vector_dimension;
    let fixed =
        serde_json::to_string(&json!({ "limit": LIMIT, "vector": random_vector(dimension) }))?;
    let hit_path = scripts.join("hit.lua");
    let random_path = scripts.join("random.lua");
    std::fs::write(&hit_path, hit_script(&fixed))?;
    std::fs::write(&random_path, random_script(dimension))?;
    // Prime the hit: the first answer is a miss, the next ones hits.
    search_once(client, &cached.base, &fixed).await?;
    let primed = search_once(client, &cached.base, &fixed).await?;
    if primed != "hit" {
        return Err(format!(
            "the second identical search was `x-cache: {primed}`, not a hit: is Redis \
             configured for the service?"
        )
        .into());
    }

    let settings = SettingsLoader::from_pairs(qdrant.settings_pairs()).load()?;
    let remote = infra_qdrant::build(&settings.qdrant)?;
    let components = Components::new().with(remote.component());
    components.init_all().await?;
    let port: Arc<dyn VectorPort> = remote.port();
    let queries: Arc<[Vec<f32>]> = (0..256).map(|_| random_vector(dimension)).collect();

    let seconds = plan.wrk_seconds;
    let search_url = |base: &str| format!("{base}/collections/{COLLECTION}/search");
    let mut seed = fastrand::u32(..);
    let mut figures: [Vec<Figures>; 5] = Default::default();
    let mut cache_counts = [[0u64; 4]; 3];
    let mut faults: Vec<String> = Vec::new();
    // The rounds in a block of their own, so that the port is closed whatever happens.
    let measured = async {
        let rounds = plan.wrk_rounds;
        for round in 0..rounds {
            for i in 0..VARIANTS.len() {
                let variant = (i + round) % VARIANTS.len();
                let figure = match variant {
                    HIT | MISS | BYPASS => {
                        seed = seed.wrapping_add(1);
                        let (base, script) = match variant {
                            HIT => (&cached.base, &hit_path),
                            MISS => (&cached.base, &random_path),
                            _ => (&uncached.base, &random_path),
                        };
                        let out = wrk(
                            &search_url(base),
                            script,
                            plan.http_clients,
                            seconds,
                            &[seed.to_string()],
                        )
                        .await?;
                        for (total, count) in cache_counts[variant].iter_mut().zip(out.cache) {
                            *total += count;
                        }
                        if out.non_200 > 0 {
                            faults.push(format!("{}: {} non-200", EXPECTED[variant], out.non_200));
                        }
                        if let Some(errors) = out.socket_errors {
                            faults.push(format!("{}: {errors}", EXPECTED[variant]));
                        }
                        out.figures
                    }
                    _ => {
                        let tasks = if variant == COST {
                            1
                        } else {
                            plan.http_clients
                        };
                        let (port, queries) = (Arc::clone(&port), Arc::clone(&queries));
                        let run = drive(tasks, Duration::from_secs(seconds), move |_| {
                            let port = Arc::clone(&port);
                            let vector = queries[fastrand::usize(..queries.len())].clone();
                            async move {
                                port.search(COLLECTION, &SearchQuery::new(vector, LIMIT))
                                    .await
                                    .is_ok_and(|hits| hits.len() == LIMIT)
                            }
                        })
                        .await;
                        if run.errors > 0 {
                            faults.push(format!("in-process: {} failed searches", run.errors));
                        }
                        figures_of(&run)
                    }
                };
                figures[variant].push(figure);
            }
        }
        Ok::<_, crate::BenchError>(())
    }
    .await;
    components.close_all().await;
    measured?;
    add_rows(report, plan, version, &figures, &cache_counts, &faults);
    Ok(())
}

/// The rows: each variant's throughput and latency (the hit and the miss beside the
/// bypass), the in-process search, and the target.
fn add_rows(
    report: &mut Report,
    plan: &Plan,
    version: &str,
    figures: &[Vec<Figures>; 5],
    cache_counts: &[[u64; 4]; 3],
    faults: &[String],
) {
    let values = |v: usize, f: fn(&Figures) -> f64| figures[v].iter().map(f).collect::<Vec<_>>();
    let paired = |v: usize, f: fn(&Figures) -> f64| {
        let mut paired = Paired::default();
        for (b, s) in values(BYPASS, f).into_iter().zip(values(v, f)) {
            paired.push(b, s);
        }
        paired
    };
    let metrics: [Metric; 3] = [
        ("throughput", "req/s", |f| f.rate),
        ("p50 latency", "ms", |f| f.p50),
        ("p99 latency", "ms", |f| f.p99),
    ];
    // The x-cache check: every answer of a wrk variant carries the status it is named for.
    let mismatch: Vec<String> = cache_counts
        .iter()
        .enumerate()
        .filter_map(|(v, counts)| {
            let total: u64 = counts.iter().sum();
            let right = counts[v];
            (right < total).then(|| {
                format!(
                    "{}: {} of {total} answers were not `x-cache: {}` (hit {}, miss {}, bypass {}, none {})",
                    EXPECTED[v], total - right, EXPECTED[v], counts[0], counts[1], counts[2], counts[3]
                )
            })
        })
        .collect();
    let connections = plan.http_clients;
    let seconds = plan.wrk_seconds;
    for (v, name) in VARIANTS.iter().enumerate().take(COST) {
        for (metric, unit, f) in metrics {
            let mut row = if v == BYPASS {
                Row::new(SCENARIO, metric, unit, name).subject(&values(v, f))
            } else {
                Row::new(SCENARIO, metric, unit, name).paired(VARIANTS[BYPASS], &paired(v, f))
            };
            if metric == "throughput" {
                let total: u64 = cache_counts[v].iter().sum();
                row = row.note(format!(
                    "{version} -t1 -c{connections} -d{seconds}s --latency; {total} answers \
                     counted by the Lua script, `x-cache: {}` expected",
                    EXPECTED[v]
                ));
            }
            report.rows.push(row);
        }
    }
    for v in [COST, LOADED] {
        let tasks = if v == COST { 1 } else { connections };
        for (metric, unit, f) in metrics {
            let unit = if unit == "req/s" { "searches/s" } else { unit };
            let mut row = Row::new(SCENARIO, metric, unit, VARIANTS[v]).subject(&values(v, f));
            if metric == "throughput" {
                row = row.note(format!(
                    "context: VectorPort::search of the same collection from this process \
                     ({tasks} concurrent, random vectors), no HTTP, no cache"
                ));
            }
            report.rows.push(row);
        }
    }
    // The target: p50(bypass) - p50(hit) >= the search cost, round by round.
    let mut saving = Paired::default();
    for ((bypass, hit), cost) in figures[BYPASS]
        .iter()
        .zip(&figures[HIT])
        .zip(&figures[COST])
    {
        saving.push(cost.p50, bypass.p50 - hit.p50);
    }
    let saved = saving.median_ratio();
    let mut row = Row::new(
        SCENARIO,
        "p50 saved by a hit (bypass p50 - hit p50)",
        "ms",
        "cache hit vs bypass",
    )
    .paired("search cost (in-process p50, 1 task)", &saving)
    .target(
        "saving >= search cost (ratio >= 1)",
        Status::from_bool(saved >= 1.0 && mismatch.is_empty() && faults.is_empty()),
    );
    let mut notes = Vec::new();
    notes.extend(mismatch);
    notes.extend(faults.iter().take(5).cloned());
    if !notes.is_empty() {
        row = row.note(notes.join("; "));
    }
    report.rows.push(row);
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = "Running 1s test @ http://127.0.0.1:3000/collections/c/search
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.10ms  600.00us  12.00ms   90.00%
    Req/Sec    15.00k     1.00k   16.00k    80.00%
  Latency Distribution
     50%  850.00us
     75%    2.00ms
     90%    3.00ms
     99%    1.20s
  15000 requests in 1.00s, 3.00MB read
  Non-2xx or 3xx responses: 3
Requests/sec:  14990.12
Transfer/sec:      3.00MB
x-cache hit=14997 miss=0 bypass=0 other=3 non200=3
";

    #[test]
    fn reads_wrks_report() {
        let out = parse_wrk(REPORT).unwrap();
        assert!((out.figures.rate - 14_990.12).abs() < 1e-9);
        assert!((out.figures.p50 - 0.85).abs() < 1e-9);
        assert!((out.figures.p99 - 1200.0).abs() < 1e-9);
        assert_eq!(out.requests, 15_000);
        assert_eq!(out.cache, [14_997, 0, 0, 3]);
        assert_eq!(out.non_200, 3);
        assert!(out.socket_errors.is_none());
        assert!(parse_wrk("unable to connect").is_err());
        assert_eq!(wrk_millis("1.5m"), Some(90_000.0));
        assert_eq!(wrk_millis("7"), None);
    }

    #[test]
    fn scripts_carry_the_body_and_the_dimension() {
        assert!(hit_script("{\"limit\":10}").contains("wrk.body = '{\"limit\":10}'"));
        let script = random_script(128);
        assert!(script.contains("for i = 1, 128 do"));
        assert!(script.contains(r#"'{"limit":10,"vector":['"#));
        assert!(script.contains("function done("));
    }
}
