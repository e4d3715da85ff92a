//! Scenario 7: Redis beyond string keys, against the same Redis as scenario 1.
//!
//! - **The general command path**: `GET` through `RedisPort::command` (64 tasks, 64-byte
//!   values) beside raw redis-rs on one multiplexed connection and the port's own `get`.
//! - **Pipelines**: 100 `SET`s in one `RedisPort::pipeline` call against the same 100
//!   `SET`s as 100 separate port calls, one task: commands per second.
//! - **Primitives**: one task in a closed loop, latency per operation: a `RedisLock`
//!   acquire + release (one scripted round trip each) and a GCRA `RateLimiter::check`
//!   (one scripted round trip).
//! - **Single flight**: 1,000 concurrent `Cache::get_or_compute` misses of one key in this
//!   process; the computations counted (the contract: exactly one).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use infra_base::cache::{Cache, CacheConfig};
use infra_base::redis::{Command, LockOptions, Pipeline, RateLimit, RateLimiter, RedisLock};
use infra_base::resilience::Idempotency;
use infra_base::{RedisPort, SetOptions};

use crate::redis_bench::{raw_connection, redis_settings};
use crate::report::{Report, Row, Status, latency_rows};
use crate::stats::{Paired, Run, alternate, drive};
use crate::{BenchResult, Plan, RedisTarget};

/// The general command path's target (issue text, `docs/benchmarks.md`): port / raw.
const COMMAND_RATIO_TARGET: f64 = 0.95;
/// Commands per pipeline.
const PIPELINE_LEN: usize = 100;
/// Concurrent misses of one key in the single-flight check.
const MISSES: usize = 1_000;

/// Scenario 7.
pub(crate) async fn run(redis: &RedisTarget, plan: &Plan, report: &mut Report) -> BenchResult {
    let settings = redis_settings(&redis.url, &[])?;
    let built = infra_redis::build(&settings.redis)?;
    let port = built.port();
    let raw = raw_connection(&redis.url).await?;
    let value = vec![b'x'; plan.value_bytes];
    let keys: Arc<[Arc<str>]> = (0..plan.redis_tasks)
        .map(|i| Arc::from(format!("infra-bench:cmd:{i}")))
        .collect();
    for key in keys.iter() {
        port.set(key, &value, SetOptions::default()).await?;
    }
    command_path(&raw, &port, &keys, plan, report).await;
    pipelines(&port, &value, plan, report).await;
    primitives(&port, plan, report).await?;
    single_flight(&port, report).await?;
    Ok(())
}

/// GET: raw redis-rs, `RedisPort::get`, and `RedisPort::command(GET)`.
async fn command_path(
    raw: &infra_redis::redis::aio::MultiplexedConnection,
    port: &Arc<dyn RedisPort>,
    keys: &Arc<[Arc<str>]>,
    plan: &Plan,
    report: &mut Report,
) {
    const VARIANTS: [&str; 3] = [
        "raw redis-rs (1 multiplexed conn)",
        "RedisPort::get",
        "RedisPort::command(GET)",
    ];
    let run_variant = |variant: usize, duration| {
        let (raw, port, keys) = (raw.clone(), Arc::clone(port), Arc::clone(keys));
        async move {
            drive(plan.redis_tasks, duration, move |task| {
                let (mut raw, port, key) =
                    (raw.clone(), Arc::clone(&port), Arc::clone(&keys[task]));
                async move {
                    match variant {
                        0 => infra_redis::redis::cmd("GET")
                            .arg(&*key)
                            .query_async::<Option<Vec<u8>>>(&mut raw)
                            .await
                            .is_ok(),
                        1 => port.get(&key).await.is_ok(),
                        _ => port
                            .command(&Command::new("GET").arg(&*key), Idempotency::Idempotent)
                            .await
                            .is_ok(),
                    }
                }
            })
            .await
        }
    };
    let runs: [Vec<Run>; 3] =
        alternate(plan.rounds, plan.warmup, plan.redis_segment, run_variant).await;
    let scenario = "7 redis command path GET";
    let errors: u64 = runs.iter().flatten().map(|r| r.errors).sum();
    for subject in 1..VARIANTS.len() {
        let rate = Paired::of_runs(&runs[0], &runs[subject], Run::rate);
        let mut row =
            Row::new(scenario, "throughput", "ops/s", VARIANTS[subject]).paired(VARIANTS[0], &rate);
        if subject == 2 {
            row = row.target(
                format!("ratio >= {COMMAND_RATIO_TARGET:.2}"),
                Status::from_bool(rate.median_ratio() >= COMMAND_RATIO_TARGET && errors == 0),
            );
        }
        if errors > 0 {
            row = row.note(format!("{errors} calls failed across the variants"));
        }
        report.rows.push(row);
        report.rows.extend(latency_rows(
            scenario,
            (VARIANTS[0], &runs[0]),
            (VARIANTS[subject], &runs[subject]),
        ));
    }
}

/// 100 SETs: separate port calls against one pipeline, one task.
async fn pipelines(port: &Arc<dyn RedisPort>, value: &[u8], plan: &Plan, report: &mut Report) {
    const VARIANTS: [&str; 2] = [
        "100 separate RedisPort::set calls",
        "one RedisPort::pipeline of 100 SETs",
    ];
    let keys: Arc<[String]> = (0..PIPELINE_LEN)
        .map(|i| format!("infra-bench:pipe:{i}"))
        .collect();
    let value: Arc<[u8]> = value.into();
    let pipeline = Arc::new(
        keys.iter()
            .fold(Pipeline::new(Idempotency::Idempotent), |pipeline, key| {
                pipeline.with(Command::new("SET").arg(key.as_str()).arg(&*value))
            }),
    );
    let run_variant = |variant: usize, duration| {
        let (port, keys, value, pipeline) = (
            Arc::clone(port),
            Arc::clone(&keys),
            Arc::clone(&value),
            Arc::clone(&pipeline),
        );
        async move {
            drive(1, duration, move |_| {
                let (port, keys, value, pipeline) = (
                    Arc::clone(&port),
                    Arc::clone(&keys),
                    Arc::clone(&value),
                    Arc::clone(&pipeline),
                );
                async move {
                    if variant == 0 {
                        for key in keys.iter() {
                            if port.set(key, &value, SetOptions::default()).await.is_err() {
                                return false;
                            }
                        }
                        true
                    } else {
                        port.pipeline(&pipeline)
                            .await
                            .is_ok_and(|replies| replies.len() == PIPELINE_LEN)
                    }
                }
            })
            .await
        }
    };
    let runs: [Vec<Run>; 2] =
        alternate(plan.rounds, plan.warmup, plan.redis_segment, run_variant).await;
    let commands = |r: &Run| r.rate() * PIPELINE_LEN as f64;
    let rate = Paired::of_runs(&runs[0], &runs[1], commands);
    report.rows.push(
        Row::new("7 redis pipeline", "throughput", "commands/s", VARIANTS[1])
            .paired(VARIANTS[0], &rate)
            .note(format!(
                "one task; each call sends {PIPELINE_LEN} SETs of {} bytes (one round trip \
                 against {PIPELINE_LEN})",
                plan.value_bytes
            )),
    );
}

/// Latency of a lock acquire + release, and of a rate-limit check, one task each.
async fn primitives(port: &Arc<dyn RedisPort>, plan: &Plan, report: &mut Report) -> BenchResult {
    let lock = Arc::new(RedisLock::new(
        Arc::clone(port),
        "infra-bench:lock",
        LockOptions::new(Duration::from_secs(10)).wait(Duration::ZERO),
    )?);
    let limiter = Arc::new(RateLimiter::new(
        Arc::clone(port),
        "infra-bench",
        RateLimit::new(1_000_000, Duration::from_secs(1))?,
    )?);
    let duration = plan.redis_segment * plan.rounds.min(5) as u32;
    let locks = drive(1, duration, move |_| {
        let lock = Arc::clone(&lock);
        async move {
            match lock.try_acquire().await {
                Ok(Some(guard)) => guard.release().await.unwrap_or(false),
                _ => false,
            }
        }
    })
    .await;
    let checks = drive(1, duration, move |_| {
        let limiter = Arc::clone(&limiter);
        async move { limiter.check("client").await.is_ok_and(|d| d.allowed) }
    })
    .await;
    for (scenario, subject, run) in [
        (
            "7 redis lock",
            "RedisLock try_acquire + release (2 round trips)",
            &locks,
        ),
        (
            "7 redis rate limit",
            "RateLimiter::check, GCRA (1 round trip)",
            &checks,
        ),
    ] {
        for (metric, q) in [("p50 latency", 0.50), ("p99 latency", 0.99)] {
            let mut row = Row::new(scenario, metric, "ms", subject).subject(&[run.quantile_ms(q)]);
            if run.errors > 0 {
                row = row.note(format!(
                    "{} of {} calls failed or were refused",
                    run.errors,
                    run.ok + run.errors
                ));
            }
            report.rows.push(row);
        }
    }
    Ok(())
}

/// 1,000 concurrent misses of one key: how many computations ran.
async fn single_flight(port: &Arc<dyn RedisPort>, report: &mut Report) -> BenchResult {
    let cache = Arc::new(Cache::new(
        Arc::clone(port),
        CacheConfig::new("bench", format!("infra-bench:cache:{}", fastrand::u64(..))),
    ));
    let computed = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..MISSES {
        let (cache, computed) = (Arc::clone(&cache), Arc::clone(&computed));
        tasks.spawn(async move {
            cache
                .namespace("flight")
                .get_or_compute("one-key", Duration::from_mins(1), || async move {
                    computed.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    Ok::<_, infra_base::InfraError>(vec![1_u8; 64])
                })
                .await
                .map(|fetched| fetched.value.len())
        });
    }
    let mut failed = 0;
    while let Some(joined) = tasks.join_next().await {
        if !matches!(joined, Ok(Ok(64))) {
            failed += 1;
        }
    }
    let computed = computed.load(Ordering::SeqCst);
    let mut row = Row::new(
        "7 cache single flight",
        "computations",
        "calls",
        "Cache::get_or_compute, 1,000 concurrent misses of one key",
    )
    .subject(&[computed as f64])
    .target("== 1", Status::from_bool(computed == 1 && failed == 0))
    .note(format!(
        "all answered in {:.1} ms (the computation takes 20 ms)",
        started.elapsed().as_secs_f64() * 1e3
    ));
    if failed > 0 {
        row = row.note(format!("{failed} of {MISSES} callers got no value"));
    }
    report.rows.push(row);
    Ok(())
}
