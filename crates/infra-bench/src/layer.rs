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

use infra_base::layer::{Layer, MetricsLayer, PortLayers, TracingLayer};
use infra_base::redis::ops;
use infra_base::testing::MemoryRedis;
use infra_base::{InfraResult, REDIS_BACKEND, RedisPort, SetOptions};
use infra_config::RedisSettings;

use crate::report::{Report, Row};
use crate::stats::{Paired, Run, alternate, drive};
use crate::{BenchResult, Plan};

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

/// A port that yields once per call, as the variants' calls do.
struct Yielding(Arc<MemoryRedis>);

#[async_trait::async_trait]
impl RedisPort for Yielding {
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
