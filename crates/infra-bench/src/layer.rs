//! Scenario 1's layers in isolation: what each layer of [`infra_redis::build`]'s port
//! costs per call, without a network or a server.
//!
//! Throughput against a real server on a shared machine moves by several percent from
//! run to run; these figures do not. One task calls an in-memory port ([`MemoryRedis`]) in
//! a loop: bare, then through each layer of the standard stack alone (tracing, metrics,
//! the resilience policy [`infra_redis::build`] gives the port for the default settings),
//! then through the whole layered port as services get it (`Layered`, which adds the port
//! trait's boxed future). Each call yields once before it answers, as a network call does,
//! so that a timer in a layer would be armed. The harness installs the reference service's
//! telemetry first (a Prometheus recorder, logs at `info`), so the layers record for real.
//! The difference to the bare call is each layer's cost per call.

use std::sync::Arc;

use infra_base::layer::{Identity, Layer, Layered, MetricsLayer, PortLayers, TracingLayer};
use infra_base::redis::{RedisCalls, ops};
use infra_base::testing::MemoryRedis;
use infra_base::{InfraResult, REDIS_BACKEND, RedisPort, SetOptions};
use infra_config::RedisSettings;

use crate::redis_bench::{ConnectionCounter, redis_settings};
use crate::report::{Report, Row};
use crate::stats::{Paired, Run, alternate, drive};
use crate::{BenchResult, Plan, RedisTarget};

/// The variants, baseline first.
const VARIANTS: [&str; 5] = [
    "MemoryRedis GET (in memory, one yield)",
    "the same through the tracing layer",
    "the same through the metrics layer",
    "the same through the resilience policy",
    "the same through RedisPort's full stack (Layered)",
];

/// The layers under test, built as `build` builds them.
struct Layers {
    tracing: TracingLayer,
    metrics: MetricsLayer,
    policy: infra_base::resilience::Resilience,
    port: Arc<dyn RedisPort>,
}

async fn get_once(memory: &MemoryRedis) -> InfraResult<Option<Vec<u8>>> {
    tokio::task::yield_now().await;
    memory.get(KEY).await
}

/// A port that yields once per call, as the variants' calls do; an adapter's
/// [`RedisCalls`], as infra-redis's is, so that `Layered` boxes each call once.
struct Yielding(Arc<MemoryRedis>);

impl RedisCalls for Yielding {
    async fn ping(&self) -> InfraResult<()> {
        self.0.ping().await
    }
    async fn get(&self, key: &str) -> InfraResult<Option<Vec<u8>>> {
        tokio::task::yield_now().await;
        self.0.get(key).await
    }
    async fn set(&self, key: &str, value: &[u8], options: SetOptions) -> InfraResult<bool> {
        self.0.set(key, value, options).await
    }
    async fn del(&self, keys: &[String]) -> InfraResult<u64> {
        self.0.del(keys).await
    }
    async fn exists(&self, key: &str) -> InfraResult<bool> {
        self.0.exists(key).await
    }
    async fn expire(&self, key: &str, ttl: std::time::Duration) -> InfraResult<bool> {
        self.0.expire(key, ttl).await
    }
    async fn incr_by(
        &self,
        key: &str,
        delta: i64,
        ttl: Option<std::time::Duration>,
    ) -> InfraResult<i64> {
        self.0.incr_by(key, delta, ttl).await
    }
    async fn mget(&self, keys: &[String]) -> InfraResult<Vec<Option<Vec<u8>>>> {
        self.0.mget(keys).await
    }
    async fn publish(&self, channel: &str, message: &[u8]) -> InfraResult<u64> {
        self.0.publish(channel, message).await
    }
    async fn command(
        &self,
        command: &infra_base::Command,
        idempotency: infra_base::resilience::Idempotency,
    ) -> InfraResult<infra_base::Reply> {
        self.0.command(command, idempotency).await
    }
    async fn pipeline(
        &self,
        pipeline: &infra_base::Pipeline,
    ) -> InfraResult<Vec<infra_base::Reply>> {
        self.0.pipeline(pipeline).await
    }
}

const KEY: &str = "infra-bench:layer";

/// Measures every variant in alternating rounds and adds the rows to `report`.
pub(crate) async fn run(plan: &Plan, report: &mut Report) -> BenchResult {
    // The very policy `build` gives the port (building connects nowhere).
    let policy = infra_redis::build(&RedisSettings::default())?
        .policy()
        .clone();
    let memory = Arc::new(MemoryRedis::new());
    memory.set(KEY, b"value", SetOptions::default()).await?;
    let port: Arc<dyn RedisPort> = Arc::new(
        PortLayers::new(REDIS_BACKEND)
            .server_address("127.0.0.1:6379")
            .resilience(policy.clone())
            .wrap(Arc::new(Yielding(Arc::clone(&memory)))),
    );
    let layers = Arc::new(Layers {
        tracing: TracingLayer::new(REDIS_BACKEND, "127.0.0.1:6379"),
        metrics: MetricsLayer::new(REDIS_BACKEND),
        policy,
        port,
    });

    let run_variant = |variant: usize, duration| {
        let (memory, layers) = (Arc::clone(&memory), Arc::clone(&layers));
        async move {
            drive(1, duration, move |_| {
                let (memory, layers) = (Arc::clone(&memory), Arc::clone(&layers));
                async move {
                    let call = || get_once(&memory);
                    let reply = match variant {
                        0 => call().await,
                        1 => layers.tracing.around(&ops::GET, call).await,
                        2 => layers.metrics.around(&ops::GET, call).await,
                        3 => layers.policy.around(&ops::GET, call).await,
                        _ => layers.port.get(KEY).await,
                    };
                    matches!(reply, Ok(Some(_)))
                }
            })
            .await
        }
    };
    let runs: [Vec<Run>; 5] =
        alternate(plan.rounds, plan.warmup, plan.redis_segment, run_variant).await;

    let scenario = "1 redis layers (no I/O)";
    let ns_per_call = |run: &Run| 1e9 / run.rate().max(f64::MIN_POSITIVE);
    for (variant, note) in [
        (
            1,
            "tracing - bare: a db span (disabled at the default info level)",
        ),
        (
            2,
            "metrics - bare: two clock reads and one histogram update",
        ),
        (
            3,
            "resilience - bare: breaker admission and record, retry loop",
        ),
        (
            4,
            "full port - bare: the three layers and the port's boxed future",
        ),
    ] {
        let added: Vec<f64> = runs[0]
            .iter()
            .zip(&runs[variant])
            .map(|(bare, layered)| ns_per_call(layered) - ns_per_call(bare))
            .collect();
        report.rows.push(
            Row::new(scenario, "added per call", "ns", VARIANTS[variant])
                .subject(&added)
                .note(note),
        );
    }
    report.rows.push(
        Row::new(scenario, "wall time per call", "ns", VARIANTS[4])
            .paired(
                VARIANTS[0],
                &Paired::of_runs(&runs[0], &runs[4], ns_per_call),
            )
            .note("one task, no server"),
    );
    Ok(())
}

/// The variants of [`run_on_server`], baseline first.
const SERVER_VARIANTS: [&str; 7] = [
    "RedisAdapter GET (bare)",
    "the same through Layered with no layer (Identity)",
    "the same through the tracing layer alone",
    "the same through the metrics layer alone (Prometheus recorder)",
    "the same through the metrics layer alone (facade, no recorder)",
    "the same through the resilience policy alone",
    "the same through RedisPort's full stack (infra_redis::build)",
];

/// Each layer's cost against a real server: GET at the scenario's concurrency and value
/// size through the bare adapter, then through `Layered` with one layer at a time, then the full port.
///
/// The no-I/O figures above say what a layer's own code costs; these say what it costs
/// where it runs, beside a multiplexed connection's driver and the server on the same
/// cores. The metrics layer is measured twice: recording into the Prometheus recorder the
/// reference service installs, and built under the facade's no-op recorder, which is what a
/// library user who installs no recorder pays. The adapter's connections are marked in
/// scenario 2's `counter`.
pub(crate) async fn run_on_server(
    redis: &RedisTarget,
    plan: &Plan,
    report: &mut Report,
    counter: Option<&mut ConnectionCounter>,
) -> BenchResult {
    let settings = redis_settings(&redis.url, &[])?;
    let built = infra_redis::build(&settings.redis)?;
    // Each layer wraps the adapter itself, as `build` does: one boxed future per call.
    let adapter = Arc::clone(built.adapter());
    let bare: Arc<dyn RedisPort> = adapter.clone();
    let policy = built.policy().clone();
    let address = adapter.endpoint().to_owned();
    let unrecorded =
        metrics::with_local_recorder(&metrics::NoopRecorder, || MetricsLayer::new(REDIS_BACKEND));
    let variants: [Arc<dyn RedisPort>; 7] = [
        Arc::clone(&bare),
        Arc::new(Layered::new(Arc::clone(&adapter), Identity)),
        Arc::new(Layered::new(
            Arc::clone(&adapter),
            TracingLayer::new(REDIS_BACKEND, address),
        )),
        Arc::new(Layered::new(
            Arc::clone(&adapter),
            MetricsLayer::new(REDIS_BACKEND),
        )),
        Arc::new(Layered::new(Arc::clone(&adapter), unrecorded)),
        Arc::new(Layered::new(Arc::clone(&adapter), policy)),
        built.port(),
    ];
    let keys: Arc<[Arc<str>]> = (0..plan.redis_tasks)
        .map(|i| Arc::from(format!("infra-bench:layers:{i}")))
        .collect();
    let value = vec![b'x'; plan.value_bytes];
    for key in keys.iter() {
        bare.set(key, &value, SetOptions::default()).await?;
    }
    let run_variant = |variant: usize, duration| {
        let port = Arc::clone(&variants[variant]);
        let keys = Arc::clone(&keys);
        async move {
            drive(plan.redis_tasks, duration, move |task| {
                let (port, key) = (Arc::clone(&port), Arc::clone(&keys[task]));
                async move { matches!(port.get(&key).await, Ok(Some(_))) }
            })
            .await
        }
    };
    let runs: [Vec<Run>; 7] =
        alternate(plan.rounds, plan.warmup, plan.redis_segment, run_variant).await;

    let scenario = "1 redis layers (server)";
    let errors: u64 = runs.iter().flatten().map(|r| r.errors).sum();
    for variant in 1..SERVER_VARIANTS.len() {
        let mut row = Row::new(scenario, "throughput", "ops/s", SERVER_VARIANTS[variant]).paired(
            SERVER_VARIANTS[0],
            &Paired::of_runs(&runs[0], &runs[variant], Run::rate),
        );
        if errors > 0 {
            row = row.note(format!("{errors} calls failed across the variants"));
        }
        report.rows.push(row);
        let added: Vec<f64> = runs[0]
            .iter()
            .zip(&runs[variant])
            .map(|(bare, layered)| layered.cpu_us_per_call() - bare.cpu_us_per_call())
            .collect();
        report.rows.push(
            Row::new(
                scenario,
                "client CPU added per call",
                "µs",
                SERVER_VARIANTS[variant],
            )
            .subject(&added)
            .note("harness process CPU per call, minus the bare adapter's in the same round"),
        );
    }
    if let Some(counter) = counter {
        counter
            .mark("RedisAdapter of scenario 1's layer breakdown")
            .await?;
    }
    Ok(())
}
