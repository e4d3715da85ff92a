//! Scenario 5: failure behaviour of the Redis port. Redis hung with SIGSTOP under load, the
//! breaker open, Redis resumed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use infra_base::resilience::BreakerState;
use infra_base::{Components, ErrorKind, SetOptions};
use infra_testkit::RedisServer;

use crate::redis_bench::redis_settings;
use crate::report::{Report, Row, Status};
use crate::stats::{drive, quantile};
use crate::{BenchResult, Plan};

/// Slack over the command timeout that a call may take while Redis hangs.
const TIMEOUT_SLACK: Duration = Duration::from_millis(100);

/// The most a failure may take with the breaker open.
const OPEN_FAILURE_LIMIT_MS: f64 = 1.0;

/// The most the first success may take after Redis resumes.
const RECOVERY_LIMIT: Duration = Duration::from_secs(1);

/// How many calls are timed while the breaker is open.
const OPEN_SAMPLES: usize = 2000;

const KEY: &str = "infra-bench:failure";

/// Starts a redis-server of its own (it is stopped and resumed), and measures the port.
pub(crate) async fn run(plan: &Plan, report: &mut Report) -> BenchResult {
    let server = tokio::task::spawn_blocking(RedisServer::start)
        .await?
        .map_err(|e| format!("cannot start the redis-server to hang: {e}"))?;
    let timeout = format!("{}ms", plan.failure_timeout.as_millis());
    let settings = redis_settings(
        &server.url(),
        &[("SOCIAL_REDIS__COMMAND_TIMEOUT", timeout.as_str())],
    )?;
    let built = infra_redis::build(&settings.redis)?;
    let components = Components::new().with(built.component());
    components.init_all().await?;
    let result = measure(&server, &built, &settings.redis, plan, report).await;
    // Whatever happened, let the process run again before it is killed on drop.
    if server.is_paused() {
        let _ = server.resume();
    }
    components.close_all().await;
    result
}

/// What every step reports next to its figure.
struct Context<'a> {
    server: &'a RedisServer,
    built: &'a infra_redis::Redis,
    settings: &'a infra_config::RedisSettings,
    plan: &'a Plan,
    policy: String,
}

const SCENARIO: &str = "5 failure";

async fn measure(
    server: &RedisServer,
    built: &infra_redis::Redis,
    settings: &infra_config::RedisSettings,
    plan: &Plan,
    report: &mut Report,
) -> BenchResult {
    built
        .port()
        .set(KEY, b"value", SetOptions::default())
        .await?;
    let cx = Context {
        server,
        built,
        settings,
        plan,
        policy: format!(
            "command timeout {}ms, {} attempts, breaker opens after {} failures for {}ms",
            settings.command_timeout.as_millis(),
            settings.retry.max_attempts,
            settings.circuit.failure_threshold,
            settings.circuit.open_for.as_millis()
        ),
    };
    server.pause()?;
    report.rows.push(hung(&cx).await);
    report.rows.push(breaker_open(&cx).await);
    report.rows.push(recovery(&cx).await?);
    Ok(())
}

/// Redis hung: every call must end within the timeout (+ slack), whatever it returns.
async fn hung(cx: &Context<'_>) -> Row {
    let plan = cx.plan;
    let kinds = Arc::new([const { AtomicU64::new(0) }; 3]);
    let run = {
        let (port, kinds) = (cx.built.port(), Arc::clone(&kinds));
        drive(plan.failure_tasks, plan.hang, move |_| {
            let (port, kinds) = (Arc::clone(&port), Arc::clone(&kinds));
            async move {
                let slot = match port.get(KEY).await {
                    Ok(_) => return true,
                    Err(err) if err.kind() == ErrorKind::Timeout => 0,
                    Err(err) if err.kind() == ErrorKind::CircuitOpen => 1,
                    Err(_) => 2,
                };
                kinds[slot].fetch_add(1, Ordering::Relaxed);
                false
            }
        })
        .await
    };
    let limit_ms = (cx.settings.command_timeout + TIMEOUT_SLACK).as_secs_f64() * 1e3;
    let [timeouts, open, other] = [0, 1, 2].map(|i| kinds[i].load(Ordering::Relaxed));
    Row::new(
        SCENARIO,
        "max call latency, Redis hung (SIGSTOP)",
        "ms",
        "RedisPort GET",
    )
    .subject(&[run.max_ms()])
    .target(
        format!("<= command timeout + 100 ms ({limit_ms:.0} ms)"),
        Status::from_bool(run.max_ms() <= limit_ms),
    )
    .note(format!(
        "{} tasks for {}ms: {} calls, {timeouts} Timeout, {open} CircuitOpen, {other} other, \
         {} succeeded; p50 {:.3} ms; {}",
        plan.failure_tasks,
        plan.hang.as_millis(),
        run.ok + run.errors,
        run.ok,
        run.quantile_ms(0.5),
        cx.policy
    ))
}

/// Breaker open: failures must be immediate.
async fn breaker_open(cx: &Context<'_>) -> Row {
    let (port, policy) = (cx.built.port(), cx.built.policy());
    let attempts = cx.settings.retry.max_attempts + 2;
    let opened_by = Instant::now() + cx.settings.command_timeout * attempts;
    while policy.breaker_state() != Some(BreakerState::Open) && Instant::now() < opened_by {
        let _ = port.get(KEY).await;
    }
    let mut open_ns = Vec::with_capacity(OPEN_SAMPLES);
    while open_ns.len() < OPEN_SAMPLES && policy.breaker_state() == Some(BreakerState::Open) {
        let begun = Instant::now();
        let result = port.get(KEY).await;
        let took = begun.elapsed().as_nanos() as u64;
        if result.is_err_and(|e| e.kind() == ErrorKind::CircuitOpen) {
            open_ns.push(took);
        }
    }
    open_ns.sort_unstable();
    let row = Row::new(
        SCENARIO,
        "failure latency, breaker open",
        "ms",
        "RedisPort GET",
    );
    if open_ns.is_empty() {
        return row
            .target("p99 < 1 ms", Status::Missed)
            .note("the breaker never opened while Redis was hung");
    }
    let p99 = quantile(&open_ns, 0.99) as f64 / 1e6;
    row.subject(&[p99])
        .target("p99 < 1 ms", Status::from_bool(p99 < OPEN_FAILURE_LIMIT_MS))
        .note(format!(
            "p99 of {} sequential CircuitOpen failures; p50 {:.4} ms, max {:.3} ms",
            open_ns.len(),
            quantile(&open_ns, 0.5) as f64 / 1e6,
            open_ns.last().copied().unwrap_or(0) as f64 / 1e6
        ))
}

/// Resumed: the first success must come within a second, without a restart.
async fn recovery(cx: &Context<'_>) -> BenchResult<Row> {
    let port = cx.built.port();
    let state = cx.built.policy().breaker_state();
    cx.server.resume()?;
    let resumed = Instant::now();
    let deadline = resumed + Duration::from_secs(10);
    let mut attempts = 0u32;
    let recovered = loop {
        attempts += 1;
        if port.get(KEY).await.is_ok() {
            break Some(resumed.elapsed());
        }
        if Instant::now() > deadline {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    let row = Row::new(
        SCENARIO,
        "time to first success after resume",
        "ms",
        "RedisPort GET",
    );
    Ok(match recovered {
        Some(took) => row
            .subject(&[took.as_secs_f64() * 1e3])
            .target("< 1000 ms", Status::from_bool(took < RECOVERY_LIMIT))
            .note(format!(
                "breaker {} at resume; {attempts} calls, one every ~1 ms; {}",
                state.map_or("absent", BreakerState::as_str),
                cx.policy
            )),
        None => row
            .target("< 1000 ms", Status::Missed)
            .note("no success within 10 s"),
    })
}
