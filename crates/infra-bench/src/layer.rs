//! Scenario 1's resilience layer in isolation: what the policy of
//! [`infra_redis::build`]'s port costs per call, without a network or a server.
//!
//! Throughput against a real server on a shared machine moves by several percent from
//! run to run; this figure does not. One task calls an in-memory port
//! ([`MemoryRedis`]) in a loop, once bare and once through
//! [`Resilience::run`](infra_base::resilience::Resilience::run) with the policy
//! [`infra_redis::build`] gives the port for the default settings. Each call yields once
//! before it answers, as a network call does, so that a timer in the policy would be armed
//! (Tokio registers a timeout only when the call it bounds has to wait). The difference
//! of the two is the layer's cost per attempt: breaker admission and record, the retry
//! loop, and a timer if the policy has one. `ResilientRedis` adds one boxed future on top
//! (one allocation).

use std::sync::Arc;

use infra_base::resilience::Idempotency;
use infra_base::testing::MemoryRedis;
use infra_base::{RedisPort, SetOptions};
use infra_config::RedisSettings;

use crate::report::{Report, Row};
use crate::stats::{Paired, Run, alternate, drive};
use crate::{BenchResult, Plan};

/// The variants, baseline first.
const VARIANTS: [&str; 2] = [
    "MemoryRedis GET (in memory, one yield)",
    "the same through RedisPort's resilience policy",
];

/// Measures both variants in alternating rounds and adds the rows to `report`.
pub(crate) async fn run(plan: &Plan, report: &mut Report) -> BenchResult {
    // The very policy `build` gives the port (building connects nowhere).
    let policy = infra_redis::build(&RedisSettings::default())?
        .policy()
        .clone();
    let memory = Arc::new(MemoryRedis::new());
    memory
        .set("infra-bench:layer", b"value", SetOptions::default())
        .await?;

    let run_variant = |variant: usize, duration| {
        let (memory, policy) = (Arc::clone(&memory), policy.clone());
        async move {
            drive(1, duration, move |_| {
                let (memory, policy) = (Arc::clone(&memory), policy.clone());
                async move {
                    let call = || async {
                        tokio::task::yield_now().await;
                        memory.get("infra-bench:layer").await
                    };
                    let reply = if variant == 0 {
                        call().await
                    } else {
                        policy.run("get", Idempotency::Idempotent, call).await
                    };
                    matches!(reply, Ok(Some(_)))
                }
            })
            .await
        }
    };
    let runs: [Vec<Run>; 2] =
        alternate(plan.rounds, plan.warmup, plan.redis_segment, run_variant).await;

    let scenario = "1 redis layer (no I/O)";
    let ns_per_call = |run: &Run| 1e9 / run.rate().max(f64::MIN_POSITIVE);
    report.rows.push(
        Row::new(scenario, "wall time per call", "ns", VARIANTS[1])
            .paired(
                VARIANTS[0],
                &Paired::of_runs(&runs[0], &runs[1], ns_per_call),
            )
            .note("one task, no server; RedisPort adds one boxed future to this"),
    );
    let added: Vec<f64> = runs[0]
        .iter()
        .zip(&runs[1])
        .map(|(bare, policy)| ns_per_call(policy) - ns_per_call(bare))
        .collect();
    report.rows.push(
        Row::new(scenario, "added per call", "ns", VARIANTS[1])
            .subject(&added)
            .note("policy - bare, round by round: breaker, retry loop (and timer, if any)"),
    );
    Ok(())
}
