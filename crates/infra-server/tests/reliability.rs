//! Tier 2: faults under load (`docs/reliability.md`, "Faults under load").
//!
//! Each scenario starts the reference service in process (port 0) with Redis from a local
//! `redis-server` behind a [`FaultProxy`] and the vector store remote, through the Qdrant
//! gRPC test server. While a bounded load loop (a few concurrent clients on loopback)
//! drives search, get, upsert and readiness, one fault is injected and then healed:
//! Redis killed and restarted (non-critical, then critical), Redis hung (SIGSTOP/SIGCONT),
//! the Qdrant server stopped and restarted, the Qdrant server hung (every call delayed far
//! beyond its timeout) and resumed, and the proxy's latency, blackhole and reset.
//!
//! Asserted for every scenario: no request outlives the request timeout plus a margin; no
//! outcome other than a success, a cache bypass, or a 503 `application/problem+json` with
//! `Retry-After` (no 500, no panic, no transport error); readiness reflects the outage
//! within one health cache TTL plus the check timeout and a margin; full recovery (cached
//! searches, readiness `pass`) without restarting the service. The outcome counts are
//! printed, one line per scenario, and written to `target/reliability/last-run.json` at the
//! workspace root.
//!
//! Run alone with `cargo test --workspace --all-features --test reliability -- --ignored
//! --nocapture` (needs `redis-server` on PATH), or with every tier 2 suite by
//! `cargo xtask test-integration`.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use common::{TestApp, header};
use infra_base::testing::MemoryVector;
use infra_testkit::qdrant::QdrantTestServer;
use infra_testkit::{Fault, FaultProxy, RedisServer};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// `SOCIAL_REDIS__COMMAND_TIMEOUT`: bounds each Redis command, and each search-cache call.
const COMMAND_TIMEOUT: Duration = Duration::from_millis(300);
/// `SOCIAL_HTTP__REQUEST_TIMEOUT`: no request may take longer (then 503 `timeout`).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);
/// `SOCIAL_HEALTH__CACHE_TTL`.
const HEALTH_TTL: Duration = Duration::from_millis(500);
/// `SOCIAL_HEALTH__CHECK_TIMEOUT`.
const CHECK_TIMEOUT: Duration = Duration::from_millis(500);
/// Slack for a loaded 2-core machine, added to the request bound.
const MARGIN: Duration = Duration::from_secs(1);
/// Slack added to the readiness bound: a TTL expiry, then a check that must itself time
/// out, then a poll, each waiting for a worker on a machine that may be running 8 jobs.
const READINESS_MARGIN: Duration = Duration::from_secs(2);
/// Concurrent load clients.
const CLIENTS: usize = 4;
/// Requests each phase (before, during, after the fault) must at least see, in total.
const PHASE_REQUESTS: u64 = 60;
/// The longest a phase may last waiting for [`PHASE_REQUESTS`].
const PHASE_DEADLINE: Duration = Duration::from_secs(30);
/// How long recovery (readiness `pass` and cached searches again) may take after healing.
const RECOVERY_DEADLINE: Duration = Duration::from_secs(30);
/// Vector dimension of the test collection.
const DIM: usize = 4;

/// The longest any request may take: the request timeout plus the margin.
fn request_bound() -> Duration {
    REQUEST_TIMEOUT + MARGIN
}

/// How soon readiness must reflect an outage: one cache TTL, one check, the margin.
fn readiness_bound() -> Duration {
    HEALTH_TTL + CHECK_TIMEOUT + READINESS_MARGIN
}

/// The outcome of one load request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    /// A 2xx answer (a search served from or into the cache).
    Ok,
    /// A 200 search answered without the cache (`x-cache: bypass`).
    Bypass,
    /// A 503 `application/problem+json` with `Retry-After`.
    Unavailable,
    /// `/health/ready` answering 503 (not ready).
    NotReady,
    /// Anything else: another status, a malformed 503, a transport error.
    Other,
}

/// Counts of one scenario, by outcome, plus the slowest request.
#[derive(Debug, Default)]
struct Tally {
    counts: BTreeMap<Outcome, u64>,
    total: u64,
    slowest: Duration,
    /// Requests slower than [`request_bound`], described.
    too_slow: Vec<String>,
    /// Outcomes of kind [`Outcome::Other`], described (the first few).
    others: Vec<String>,
}

impl Tally {
    fn record(&mut self, outcome: Outcome, took: Duration, what: &str) {
        *self.counts.entry(outcome).or_default() += 1;
        self.total += 1;
        self.slowest = self.slowest.max(took);
        if took > request_bound() {
            self.too_slow.push(format!("{what} took {took:?}"));
        }
        if outcome == Outcome::Other && self.others.len() < 10 {
            self.others.push(what.to_owned());
        }
    }

    fn count(&self, outcome: Outcome) -> u64 {
        self.counts.get(&outcome).copied().unwrap_or(0)
    }
}

/// What one scenario measured.
#[derive(Debug)]
struct Report {
    name: &'static str,
    tally: Tally,
    /// From injecting the fault to readiness reflecting it.
    readiness_after: Duration,
    /// From healing to readiness `pass` and a cached search.
    recovered_after: Duration,
}

impl Report {
    fn summary(&self) -> String {
        let t = &self.tally;
        format!(
            "reliability {}: {} requests: ok {}, bypass {}, 503 {}, not-ready {}, other {}; \
             slowest {} ms; readiness after {} ms; recovered after {} ms",
            self.name,
            t.total,
            t.count(Outcome::Ok),
            t.count(Outcome::Bypass),
            t.count(Outcome::Unavailable),
            t.count(Outcome::NotReady),
            t.count(Outcome::Other),
            t.slowest.as_millis(),
            self.readiness_after.as_millis(),
            self.recovered_after.as_millis(),
        )
    }

    fn json(&self) -> Value {
        let t = &self.tally;
        json!({
            "requests": t.total,
            "ok": t.count(Outcome::Ok),
            "bypass": t.count(Outcome::Bypass),
            "unavailable_503": t.count(Outcome::Unavailable),
            "not_ready_503": t.count(Outcome::NotReady),
            "other": t.count(Outcome::Other),
            "slowest_ms": t.slowest.as_millis(),
            "readiness_after_ms": self.readiness_after.as_millis(),
            "recovered_after_ms": self.recovered_after.as_millis(),
            "bounds_ms": {
                "request": request_bound().as_millis(),
                "readiness": readiness_bound().as_millis(),
            },
        })
    }
}

/// The servers behind one service: Redis behind a fault proxy, and the Qdrant test server.
struct Rig {
    redis: RedisServer,
    proxy: FaultProxy,
    qdrant: QdrantTestServer,
    app: TestApp,
}

impl Rig {
    async fn start(redis_critical: bool) -> Self {
        let redis = RedisServer::start().expect("redis-server on PATH");
        let proxy = FaultProxy::start(redis.addr().parse().unwrap())
            .await
            .expect("fault proxy");
        let qdrant = QdrantTestServer::start(Arc::new(MemoryVector::new()))
            .await
            .expect("Qdrant test server");
        let redis_url = format!("redis://{}", proxy.addr());
        let qdrant_url = qdrant.url();
        let ms = |d: Duration| format!("{}ms", d.as_millis());
        let (command, request, ttl, check) = (
            ms(COMMAND_TIMEOUT),
            ms(REQUEST_TIMEOUT),
            ms(HEALTH_TTL),
            ms(CHECK_TIMEOUT),
        );
        let critical = redis_critical.to_string();
        let app = TestApp::spawn(&[
            ("SOCIAL_REDIS__URL", redis_url.as_str()),
            ("SOCIAL_REDIS__CRITICAL", critical.as_str()),
            ("SOCIAL_REDIS__COMMAND_TIMEOUT", command.as_str()),
            ("SOCIAL_REDIS__CONNECT_TIMEOUT", command.as_str()),
            ("SOCIAL_REDIS__POOL__WAIT_TIMEOUT", command.as_str()),
            ("SOCIAL_REDIS__POOL__CREATE_TIMEOUT", command.as_str()),
            ("SOCIAL_REDIS__CIRCUIT__OPEN_FOR", "500ms"),
            ("SOCIAL_QDRANT__MODE", "remote"),
            ("SOCIAL_QDRANT__URL", qdrant_url.as_str()),
            ("SOCIAL_QDRANT__TIMEOUT", "1s"),
            ("SOCIAL_QDRANT__CONNECT_TIMEOUT", "500ms"),
            ("SOCIAL_QDRANT__CIRCUIT__OPEN_FOR", "500ms"),
            ("SOCIAL_HTTP__REQUEST_TIMEOUT", request.as_str()),
            ("SOCIAL_HEALTH__CACHE_TTL", ttl.as_str()),
            ("SOCIAL_HEALTH__CHECK_TIMEOUT", check.as_str()),
        ])
        .await;
        app.create("items", DIM, "cosine").await;
        let items: Vec<Value> = (0..50u64)
            .map(|id| json!({ "id": id, "vector": vector(id) }))
            .collect();
        app.upsert("items", Value::Array(items)).await;
        app.wait_health("/health/ready", StatusCode::OK, "pass", RECOVERY_DEADLINE)
            .await;
        Self {
            redis,
            proxy,
            qdrant,
            app,
        }
    }
}

/// A deterministic vector for `seed`.
fn vector(seed: u64) -> Vec<f32> {
    (0..DIM as u64)
        .map(|d| f32::from(u8::try_from((seed * 7 + d * 3) % 11).unwrap()) + 1.0)
        .collect()
}

/// The load: `CLIENTS` tasks sending requests until told to stop.
struct Load {
    stop: Arc<AtomicBool>,
    done: Arc<AtomicU64>,
    tally: Arc<Mutex<Tally>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(app: &TestApp) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicU64::new(0));
        let tally = Arc::new(Mutex::new(Tally::default()));
        let client = reqwest::Client::builder()
            // Far beyond the bound: a request that hangs is measured, not cut short here.
            .timeout(request_bound() * 4)
            .build()
            .unwrap();
        let tasks = (0..CLIENTS as u64)
            .map(|worker| {
                let (stop, done, tally) = (stop.clone(), done.clone(), tally.clone());
                let client = client.clone();
                let base = format!("http://{}", app.addr);
                tokio::spawn(async move {
                    let mut n = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        let (what, outcome, took) = one_request(&client, &base, worker, n).await;
                        tally
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .record(outcome, took, &what);
                        done.fetch_add(1, Ordering::Relaxed);
                        n += 1;
                    }
                })
            })
            .collect();
        Self {
            stop,
            done,
            tally,
            tasks,
        }
    }

    /// Waits until `PHASE_REQUESTS` more requests have completed (at most `PHASE_DEADLINE`).
    async fn run_phase(&self, phase: &str) {
        let target = self.done.load(Ordering::Relaxed) + PHASE_REQUESTS;
        let deadline = Instant::now() + PHASE_DEADLINE;
        while self.done.load(Ordering::Relaxed) < target {
            assert!(
                Instant::now() < deadline,
                "{phase}: the load made no progress"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn finish(self) -> Tally {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            task.await.expect("a load client panicked");
        }
        Arc::try_unwrap(self.tally)
            .expect("the clients are done")
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Sends request `n` of client `worker` (search, get, upsert or readiness, in turn) and
/// classifies the answer.
async fn one_request(
    client: &reqwest::Client,
    base: &str,
    worker: u64,
    n: u64,
) -> (String, Outcome, Duration) {
    let started = Instant::now();
    let (what, request) = match n % 4 {
        0 => (
            "search",
            client
                .post(format!("{base}/collections/items/search"))
                .json(&json!({ "vector": vector(n % 5), "limit": 3 })),
        ),
        1 => (
            "get",
            client.get(format!("{base}/collections/items/items/{}", n % 50)),
        ),
        2 => (
            "upsert",
            client
                .put(format!("{base}/collections/items/items"))
                .json(&json!({
                    "items": [{ "id": 1000 + worker * 100_000 + n, "vector": vector(n) }]
                })),
        ),
        _ => ("ready", client.get(format!("{base}/health/ready"))),
    };
    let response = request.send().await;
    let took = started.elapsed();
    let response = match response {
        Ok(response) => response,
        Err(err) => {
            return (
                format!("{what}: transport error {err}"),
                Outcome::Other,
                took,
            );
        }
    };
    let status = response.status();
    let content_type = header(&response, "content-type");
    let cache = header(&response, "x-cache");
    let retry_after = response.headers().contains_key("retry-after");
    let body = response.text().await.unwrap_or_default();
    let took = started.elapsed();
    // A search says how the cache served it; other routes have no such header.
    let cached = match what {
        "search" => cache.as_str(),
        _ => "n/a",
    };
    let outcome = match (status, cached) {
        (StatusCode::OK, "bypass") => Outcome::Bypass,
        (StatusCode::OK, "hit" | "miss" | "n/a") => Outcome::Ok,
        (StatusCode::SERVICE_UNAVAILABLE, _)
            if what == "ready" && content_type == "application/health+json" =>
        {
            Outcome::NotReady
        }
        (StatusCode::SERVICE_UNAVAILABLE, _)
            if content_type == "application/problem+json"
                && retry_after
                && serde_json::from_str::<Value>(&body).is_ok_and(|b| b["status"] == 503) =>
        {
            Outcome::Unavailable
        }
        _ => Outcome::Other,
    };
    (
        format!("{what}: {status} x-cache={cache:?} {content_type} {body}"),
        outcome,
        took,
    )
}

/// A fault to inject and heal.
#[derive(Debug, Clone, Copy)]
enum Chaos {
    RedisKill,
    RedisPause,
    QdrantStop,
    QdrantHang,
    Proxy(Fault),
}

impl Chaos {
    async fn inject(self, rig: &Rig) {
        match self {
            Chaos::RedisKill => rig.redis.kill().expect("kill redis"),
            Chaos::RedisPause => rig.redis.pause().expect("SIGSTOP redis"),
            Chaos::QdrantStop => rig.qdrant.stop().await,
            // Far longer than any bound: every call must be cut by a timeout.
            Chaos::QdrantHang => rig.qdrant.set_delay(Some(Duration::from_mins(1))),
            Chaos::Proxy(fault) => rig.proxy.set_fault(fault).await.expect("set the fault"),
        }
    }

    async fn heal(self, rig: &Rig) {
        match self {
            Chaos::RedisKill => {
                let redis = &rig.redis;
                tokio::task::block_in_place(|| redis.start_again()).expect("restart redis");
            }
            Chaos::RedisPause => rig.redis.resume().expect("SIGCONT redis"),
            Chaos::QdrantStop => rig.qdrant.restart().await.expect("restart Qdrant"),
            Chaos::QdrantHang => rig.qdrant.clear_faults(),
            Chaos::Proxy(_) => rig
                .proxy
                .set_fault(Fault::None)
                .await
                .expect("clear the fault"),
        }
    }

    /// Whether Qdrant (critical) is the one failing: then catalog calls answer 503.
    fn hits_qdrant(self) -> bool {
        matches!(self, Chaos::QdrantStop | Chaos::QdrantHang)
    }
}

/// Polls `/health/ready` until it answers `code`; returns how long that took.
async fn ready_becomes(
    app: &TestApp,
    code: StatusCode,
    status: &str,
    within: Duration,
) -> Duration {
    let started = Instant::now();
    app.wait_health("/health/ready", code, status, within).await;
    started.elapsed()
}

/// Searches until the answer is cached again (`hit` or `miss`), then checks that the next
/// few are too.
async fn searches_cached_again(app: &TestApp, within: Duration) {
    let query = json!({ "vector": vector(1), "limit": 3 });
    let deadline = Instant::now() + within;
    loop {
        let response = app.post("/collections/items/search", &query).await;
        let status = response.status();
        let cache = header(&response, "x-cache");
        if status == StatusCode::OK && cache != "bypass" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "searches still {status} x-cache={cache}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for _ in 0..5 {
        let (cache, ids) = app.search("items", &query).await;
        assert!(
            cache == "hit" || cache == "miss",
            "x-cache {cache} after recovery"
        );
        assert_eq!(ids.len(), 3);
    }
}

/// Runs one scenario: load before, during and after `chaos`, and the assertions common to
/// every scenario; returns the report (also printed and written to the JSON file).
async fn scenario(name: &'static str, redis_critical: bool, chaos: Chaos) -> Report {
    let rig = Rig::start(redis_critical).await;
    let load = Load::start(&rig.app);
    load.run_phase("before").await;

    let injected = Instant::now();
    chaos.inject(&rig).await;
    // What readiness must say during the outage: a failing critical component fails it;
    // a non-critical Redis only warns.
    let (code, status) = if chaos.hits_qdrant() || redis_critical {
        (StatusCode::SERVICE_UNAVAILABLE, "fail")
    } else {
        (StatusCode::OK, "warn")
    };
    rig.app
        .wait_health("/health/ready", code, status, readiness_bound())
        .await;
    let readiness_after = injected.elapsed();
    load.run_phase("during").await;

    let healed = Instant::now();
    chaos.heal(&rig).await;
    ready_becomes(&rig.app, StatusCode::OK, "pass", RECOVERY_DEADLINE).await;
    searches_cached_again(&rig.app, RECOVERY_DEADLINE).await;
    let recovered_after = healed.elapsed();
    load.run_phase("after").await;
    let tally = load.finish().await;

    let report = Report {
        name,
        tally,
        readiness_after,
        recovered_after,
    };
    println!("{}", report.summary());
    record(&report);

    let t = &report.tally;
    assert!(
        t.others.is_empty(),
        "{name}: unexpected outcomes:\n{}",
        t.others.join("\n")
    );
    assert!(
        t.too_slow.is_empty(),
        "{name}: requests over {:?}:\n{}",
        request_bound(),
        t.too_slow.join("\n")
    );
    assert!(t.count(Outcome::Ok) > 0, "{name}: nothing succeeded");
    if chaos.hits_qdrant() {
        assert!(
            t.count(Outcome::Unavailable) > 0,
            "{name}: the outage was never seen"
        );
    } else {
        // Redis is only a cache: no catalog request fails because of it.
        assert_eq!(
            t.count(Outcome::Unavailable),
            0,
            "{name}: a Redis fault failed requests"
        );
        assert!(
            t.count(Outcome::Bypass) > 0,
            "{name}: the cache was never bypassed"
        );
    }
    if chaos.hits_qdrant() || redis_critical {
        assert!(
            t.count(Outcome::NotReady) > 0,
            "{name}: readiness never failed under load"
        );
    } else {
        assert_eq!(
            t.count(Outcome::NotReady),
            0,
            "{name}: a non-critical Redis failed readiness"
        );
    }
    rig.app.stop().await;
    rig.proxy.stop().await;
    report
}

/// Merges `report` into `target/reliability/last-run.json` at the workspace root.
fn record(report: &Report) {
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(PoisonError::into_inner);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = root.join("target/reliability");
    std::fs::create_dir_all(&dir).expect("create target/reliability");
    let file = dir.join("last-run.json");
    let mut all: Value = std::fs::read(&file)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    let mut entry = report.json();
    entry["finished_unix"] = json!(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    );
    all[report.name] = entry;
    std::fs::write(&file, serde_json::to_vec_pretty(&all).unwrap()).expect("write last-run.json");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "tier 2: needs redis-server; run by cargo xtask test-integration"]
async fn redis_killed_and_restarted_under_load() {
    scenario("redis_kill", false, Chaos::RedisKill).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "tier 2: needs redis-server; run by cargo xtask test-integration"]
async fn critical_redis_killed_and_restarted_under_load() {
    scenario("redis_kill_critical", true, Chaos::RedisKill).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "tier 2: needs redis-server; run by cargo xtask test-integration"]
async fn redis_hung_and_resumed_under_load() {
    scenario("redis_pause", false, Chaos::RedisPause).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "tier 2: needs redis-server; run by cargo xtask test-integration"]
async fn qdrant_stopped_and_restarted_under_load() {
    scenario("qdrant_stop", false, Chaos::QdrantStop).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "tier 2: needs redis-server; run by cargo xtask test-integration"]
async fn qdrant_hung_and_resumed_under_load() {
    scenario("qdrant_hang", false, Chaos::QdrantHang).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "tier 2: needs redis-server; run by cargo xtask test-integration"]
async fn redis_behind_a_slow_proxy_under_load() {
    // Each chunk waits 400 ms each way: a round trip (800 ms) exceeds the command timeout.
    scenario(
        "proxy_latency",
        false,
        Chaos::Proxy(Fault::Latency(Duration::from_millis(400))),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "tier 2: needs redis-server; run by cargo xtask test-integration"]
async fn redis_behind_a_blackhole_under_load() {
    scenario("proxy_blackhole", false, Chaos::Proxy(Fault::Blackhole)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "tier 2: needs redis-server; run by cargo xtask test-integration"]
async fn redis_connections_reset_under_load() {
    scenario("proxy_reset", false, Chaos::Proxy(Fault::Reset)).await;
}
