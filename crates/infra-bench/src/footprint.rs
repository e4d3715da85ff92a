//! Scenario 6: the reference service's footprint, as a separate process.
//!
//! The `infra-server` binary of the same build (beside `infra-bench`) is started as a user
//! starts it, with the embedded store and with the remote Qdrant of the other scenarios,
//! and Redis configured:
//!
//! - **start-up**: from `spawn` to the first `200` of `/health/ready` (polled every 2 ms
//!   once the process printed its address), with an empty data directory, and for the
//!   embedded store again with a directory holding the collection loaded below;
//! - **memory**: resident set (`VmRSS` of `/proc/PID/status`) once ready and idle after
//!   loading `footprint_points` points of dimension `vector_dimension` through the HTTP API,
//!   and its peak (`VmHWM`, and `VmRSS` sampled every 50 ms) while `http_clients` clients in
//!   this process search over HTTP with random vectors (mostly cache misses);
//! - **size**: the binary's size on disk;
//! - **RSS over time**: the resident set sampled every 50 ms from ready through loading,
//!   idle and the search load, drawn as `footprint-rss.svg` (one line per store).
//!
//! The load comes from this process, not from the server's: a separate process on the same
//! two cores, as `wrk` would be; its requests are the service's real search route.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::plot::{self, Axes, Panel, Series, XScale};
use crate::report::{Report, Row, Status};
use crate::vector::{QdrantTarget, random_vector};
use crate::{BenchResult, Plan, RedisTarget};

const SCENARIO: &str = "6 footprint";
const MIB: f64 = 1024.0 * 1024.0;
const COLLECTION: &str = "bench_footprint";
/// The start-up target (`docs/benchmarks.md`).
const READY_WITHIN_MS: f64 = 1000.0;

/// The `infra-server` binary built with this harness (same directory, same profile).
pub(crate) fn server_binary() -> BenchResult<PathBuf> {
    let binary = std::env::current_exe()?.with_file_name("infra-server");
    if binary.is_file() {
        Ok(binary)
    } else {
        Err(format!(
            "{} is missing: build it with the harness (cargo xtask bench does; by hand, \
             cargo build --release --bin infra-server)",
            binary.display()
        )
        .into())
    }
}

/// `VmRSS` and `VmHWM` of process `pid`, in bytes, from `/proc/PID/status`.
pub(crate) fn memory_of(pid: u32) -> BenchResult<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .map(|kib| kib * 1024)
            .ok_or_else(|| format!("no {name} in /proc status"))
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

/// How often the resident set is sampled (peak and timeline).
const SAMPLE_EVERY: Duration = Duration::from_millis(50);

/// The resident set of a process over time, sampled every [`SAMPLE_EVERY`] by a task of
/// its own from [`start`](Self::start) to [`finish`](Self::finish).
struct RssTimeline {
    started: Instant,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Vec<(f64, f64)>>,
}

impl RssTimeline {
    fn start(pid: u32) -> Self {
        let started = Instant::now();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let task = tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut tick = tokio::time::interval(SAMPLE_EVERY);
            while !flag.load(Ordering::Relaxed) {
                tick.tick().await;
                if let Ok((rss, _)) = memory_of(pid) {
                    samples.push((started.elapsed().as_secs_f64(), rss as f64 / MIB));
                }
            }
            samples
        });
        Self {
            started,
            stop,
            task,
        }
    }

    /// Seconds since the sampling started: where a phase begins on the chart.
    fn now(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Stops sampling; the `(seconds, MiB)` samples.
    async fn finish(self) -> BenchResult<Vec<(f64, f64)>> {
        self.stop.store(true, Ordering::Relaxed);
        Ok(self.task.await?)
    }
}

/// One store's resident set from ready to the end of the search load, and when each phase
/// began (seconds since ready).
struct Timeline {
    store: Store,
    samples: Vec<(f64, f64)>,
    idle_from: f64,
    load_from: f64,
}

/// Where the vector store of a run lives.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Store {
    Embedded,
    Remote,
}

impl Store {
    fn label(self) -> &'static str {
        match self {
            Self::Embedded => "embedded Qdrant",
            Self::Remote => "remote Qdrant",
        }
    }

    fn short(self) -> &'static str {
        match self {
            Self::Embedded => "embedded",
            Self::Remote => "remote",
        }
    }
}

/// A running `infra-server serve` (killed on drop if still running).
pub(crate) struct Served {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub(crate) base: String,
    started: Instant,
}

impl Served {
    /// Starts the binary in `dir` and waits until it printed its address.
    pub(crate) fn spawn(
        binary: &Path,
        dir: &Path,
        env: &[(&'static str, String)],
    ) -> BenchResult<Self> {
        let started = Instant::now();
        let mut command = Command::new(binary);
        command
            .arg("serve")
            .current_dir(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (key, _) in std::env::vars() {
            if key.starts_with("SOCIAL_") || key == "RUST_LOG" {
                command.env_remove(key);
            }
        }
        let mut child = command.envs(env.iter().map(|(k, v)| (k, v))).spawn()?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let Some(address) = line
            .trim()
            .strip_prefix("infra-server listening on http://")
        else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("infra-server did not start: `{}`", line.trim()).into());
        };
        Ok(Self {
            base: format!("http://{address}"),
            child,
            started,
        })
    }

    /// Waits for `/health/ready` 200; the time since `spawn`.
    pub(crate) async fn ready(&self, client: &reqwest::Client) -> BenchResult<Duration> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let url = format!("{}/health/ready", self.base);
        loop {
            if let Ok(response) = client.get(&url).send().await
                && response.status() == reqwest::StatusCode::OK
            {
                return Ok(self.started.elapsed());
            }
            if Instant::now() > deadline {
                return Err("infra-server not ready within 30 s".into());
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// `VmRSS` and `VmHWM` of the process, in bytes.
    fn memory(&self) -> BenchResult<(u64, u64)> {
        memory_of(self.child.id())
    }

    /// SIGTERM, then waits for the exit (a kill after 30 s).
    pub(crate) fn stop(mut self) -> BenchResult {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.child.try_wait()?.is_none() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return Err("infra-server did not stop within 30 s of SIGTERM".into());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Creates `collection` (dimension `Plan::vector_dimension`, cosine) and loads
/// `Plan::footprint_points` points through the HTTP API of `base`, with a small payload
/// (`group`) when `with_payload`.
pub(crate) async fn load_points(
    client: &reqwest::Client,
    base: &str,
    collection: &str,
    plan: &Plan,
    with_payload: bool,
) -> BenchResult {
    // A remote server may keep the collection of an interrupted run.
    let _ = client
        .delete(format!("{base}/collections/{collection}"))
        .send()
        .await?;
    let created = client
        .post(format!("{base}/collections"))
        .json(&json!({ "name": collection, "dimension": plan.vector_dimension, "distance": "cosine" }))
        .send()
        .await?;
    if !created.status().is_success() {
        return Err(format!("creating the collection: {}", created.status()).into());
    }
    let ids: Vec<usize> = (0..plan.footprint_points).collect();
    for batch in ids.chunks(500) {
        let items: Vec<_> = batch
            .iter()
            .map(|&id| {
                let mut item = json!({ "id": id, "vector": random_vector(plan.vector_dimension) });
                if with_payload {
                    item["payload"] = json!({ "group": id % 10 });
                }
                item
            })
            .collect();
        let response = client
            .put(format!("{base}/collections/{collection}/items"))
            .json(&json!({ "items": items }))
            .send()
            .await?;
        if !response.status().is_success() {
            return Err(format!("loading points: {}", response.status()).into());
        }
    }
    Ok(())
}

/// Searches from `clients` tasks for `duration`; the searches served, and the peak RSS
/// sampled meanwhile.
async fn search_load(
    client: &reqwest::Client,
    served: &Served,
    plan: &Plan,
) -> BenchResult<(u64, u64)> {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let url = format!("{}/collections/{COLLECTION}/search", served.base);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..plan.http_clients {
        let (client, url, stop, done) = (
            client.clone(),
            url.clone(),
            Arc::clone(&stop),
            Arc::clone(&done),
        );
        let dimension = plan.vector_dimension;
        tasks.spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let body = json!({ "vector": random_vector(dimension), "limit": 10 });
                let response = client
                    .post(&url)
                    .json(&body)
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                if !response.status().is_success() {
                    return Err(format!("search under load: {}", response.status()));
                }
                response.bytes().await.map_err(|e| e.to_string())?;
                done.fetch_add(1, Ordering::Relaxed);
            }
            Ok::<_, String>(())
        });
    }
    let mut peak = 0;
    let until = Instant::now() + plan.footprint_load;
    while Instant::now() < until {
        peak = peak.max(served.memory()?.0);
        tokio::time::sleep(SAMPLE_EVERY).await;
    }
    stop.store(true, Ordering::Relaxed);
    while let Some(joined) = tasks.join_next().await {
        joined??;
    }
    let (_, hwm) = served.memory()?;
    Ok((done.load(Ordering::Relaxed), peak.max(hwm)))
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Start to ready of `starts` starts, in ms: in `dir`, or each in a new empty directory.
async fn time_starts(
    binary: &Path,
    client: &reqwest::Client,
    env: &dyn Fn(&Path) -> Vec<(&'static str, String)>,
    dir: Option<&Path>,
    starts: usize,
) -> BenchResult<Vec<f64>> {
    let mut times = Vec::with_capacity(starts);
    for _ in 0..starts {
        let fresh = match dir {
            Some(_) => None,
            None => Some(tempfile::tempdir()?),
        };
        let dir = dir
            .or(fresh.as_ref().map(tempfile::TempDir::path))
            .ok_or("no dir")?;
        let served = Served::spawn(binary, dir, &env(dir))?;
        times.push(millis(served.ready(client).await?));
        served.stop()?;
    }
    Ok(times)
}

/// Loads the points into `served`, then reads its memory idle and under search load; the
/// resident set over the three phases.
async fn memory_rows(
    client: &reqwest::Client,
    served: &Served,
    store: Store,
    plan: &Plan,
    report: &mut Report,
) -> BenchResult<Timeline> {
    let timeline = RssTimeline::start(served.child.id());
    load_points(client, &served.base, COLLECTION, plan, true).await?;
    let idle_from = timeline.now();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (idle, _) = served.memory()?;
    let load_from = timeline.now();
    let started = Instant::now();
    let (searches, peak) = search_load(client, served, plan).await?;
    let rate = searches as f64 / started.elapsed().as_secs_f64();
    let samples = timeline.finish().await?;
    if store == Store::Remote {
        let _ = client
            .delete(format!("{}/collections/{COLLECTION}", served.base))
            .send()
            .await;
    }
    let points = plan.footprint_points;
    let label = store.label();
    let dimension = plan.vector_dimension;
    report.rows.push(
        Row::new(
            SCENARIO,
            &format!("RSS idle ({label})"),
            "MiB",
            "infra-server serve",
        )
        .subject(&[idle as f64 / MIB])
        .note(format!(
            "ready, after loading {points} points of dimension {dimension} over HTTP"
        )),
    );
    report.rows.push(
        Row::new(
            SCENARIO,
            &format!("peak RSS under search load ({label})"),
            "MiB",
            "infra-server serve",
        )
        .subject(&[peak as f64 / MIB])
        .note(format!(
            "{} HTTP clients searching for {:.0} s ({rate:.0} searches/s, random vectors); \
             VmHWM and VmRSS sampled every 50 ms",
            plan.http_clients,
            plan.footprint_load.as_secs_f64()
        )),
    );
    Ok(Timeline {
        store,
        samples,
        idle_from,
        load_from,
    })
}

/// Runs scenario 6 with the vector store `store`.
async fn run_store(
    binary: &Path,
    store: Store,
    redis: &RedisTarget,
    qdrant: &QdrantTarget,
    plan: &Plan,
    report: &mut Report,
) -> BenchResult<Timeline> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let env = |dir: &Path| -> Vec<(&'static str, String)> {
        let mut env = vec![
            ("SOCIAL_HTTP__PORT", "0".to_owned()),
            ("SOCIAL_HTTP__HOST", "127.0.0.1".to_owned()),
            ("SOCIAL_LOG__LEVEL", "warn".to_owned()),
            ("SOCIAL_REDIS__URL", redis.url.clone()),
            ("SOCIAL_HTTP__BODY_LIMIT", (64 << 20).to_string()),
            (
                "SOCIAL_QDRANT__PATH",
                dir.join("qdrant").to_string_lossy().into_owned(),
            ),
        ];
        if store == Store::Remote {
            env.extend(qdrant.settings_pairs());
        }
        env
    };
    let label = store.label();

    let mut cold = time_starts(binary, &client, &env, None, plan.footprint_starts).await?;
    let cold_median = median(&mut cold);
    report.rows.push(
        Row::new(
            SCENARIO,
            &format!("start to ready, empty data dir ({label})"),
            "ms",
            "infra-server serve",
        )
        .subject(&cold)
        .target(
            "< 1000 ms",
            Status::from_bool(cold_median < READY_WITHIN_MS),
        )
        .note(format!(
            "spawn to the first 200 of /health/ready, {} starts",
            cold.len()
        )),
    );

    let dir = tempfile::tempdir()?;
    let served = Served::spawn(binary, dir.path(), &env(dir.path()))?;
    served.ready(&client).await?;
    let timeline = memory_rows(&client, &served, store, plan, report).await?;
    served.stop()?;
    let points = plan.footprint_points;
    if store == Store::Embedded {
        let warm = time_starts(
            binary,
            &client,
            &env,
            Some(dir.path()),
            plan.footprint_starts,
        )
        .await?;
        report.rows.push(
            Row::new(
                SCENARIO,
                &format!("start to ready, {points} points on disk ({label})"),
                "ms",
                "infra-server serve",
            )
            .subject(&warm)
            .note(format!(
                "the data directory of the run above, {} starts",
                warm.len()
            )),
        );
    }
    Ok(timeline)
}

/// The file name of the chart of resident memory over time.
pub(crate) const RSS_CHART: &str = "footprint-rss.svg";

/// Draws the timelines into `out`/[`RSS_CHART`]: one line per store, the phases in the
/// caption.
fn draw_timelines(timelines: &[Timeline], plan: &Plan, out: &Path, footer: &str) -> BenchResult {
    std::fs::create_dir_all(out)?;
    let phases = timelines
        .iter()
        .map(|t| {
            format!(
                "{}: idle from {:.1} s, search load from {:.1} s",
                t.store.short(),
                t.idle_from,
                t.load_from
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    let series = timelines
        .iter()
        .map(|t| Series {
            name: t.store.label().to_owned(),
            points: t.samples.clone(),
        })
        .collect();
    plot::line_charts(
        &out.join(RSS_CHART),
        (1000, 460),
        &[Panel {
            title: format!(
                "infra-server RSS: loading {} points over HTTP, idle, {} HTTP search clients ({phases})",
                plan.footprint_points, plan.http_clients
            ),
            series,
        }],
        Axes {
            x: "seconds since ready",
            x_scale: XScale::Linear,
            y: "resident set, MiB",
            y_max: None,
        },
        footer,
    )
}

/// Scenario 6: binary size, then start-up and memory with each vector store.
pub(crate) async fn run(
    redis: &RedisTarget,
    qdrant: &QdrantTarget,
    plan: &Plan,
    out: &Path,
    command: &str,
    report: &mut Report,
) -> BenchResult {
    let binary = server_binary()?;
    let size = std::fs::metadata(&binary)?.len();
    report.rows.push(
        Row::new(SCENARIO, "binary size", "MiB", "infra-server")
            .subject(&[size as f64 / MIB])
            .note(format!(
                "{} profile, as built (debug info and symbols as the profile keeps them)",
                if plan.quick { "dev" } else { "release" }
            )),
    );
    let embedded = run_store(&binary, Store::Embedded, redis, qdrant, plan, report).await?;
    let remote = run_store(&binary, Store::Remote, redis, qdrant, plan, report).await?;
    let footer = format!(
        "{command} ({}); report.json has the machine and versions",
        report.meta.date
    );
    draw_timelines(&[embedded, remote], plan, out, &footer)?;
    report.charts.push(RSS_CHART.to_owned());
    Ok(())
}
