//! GET/SET throughput of the adapter against raw redis-rs on one multiplexed connection, at
//! the same concurrency (DESIGN section 10). An orientation, not a benchmark harness:
//!
//! ```text
//! cargo run --release -p infra-redis --example throughput -- redis://127.0.0.1:6379 64 500 20
//! #                                                          URL                  tasks ms  rounds
//! ```
//!
//! Every round measures, in turn and for `ms` milliseconds each: raw redis-rs, the adapter
//! (`RedisAdapter`), and the port built by `infra_redis::build` (the adapter under
//! `ResilientRedis`). Many short interleaved rounds spread the noise of a shared machine
//! evenly over the three. Values are 64 bytes. `VERBOSE=1` prints every round.
//! It also prints how many connections the server accepted during the adapter runs.
#![allow(missing_docs, clippy::cast_precision_loss, clippy::too_many_lines)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use infra_base::{RedisPort, SetOptions};
use infra_config::{RedisSettings, SecretUrl};
use redis::AsyncCommands;

const KEY: &str = "infra-redis-bench:key";

#[derive(Clone, Copy, Debug)]
enum Op {
    Get,
    Set,
}

async fn drive<F, Fut>(tasks: usize, millis: u64, call: F) -> f64
where
    F: Fn() -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let (stop, count, errors, call) =
            (stop.clone(), count.clone(), errors.clone(), call.clone());
        handles.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                if !call().await {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
                n += 1;
            }
            count.fetch_add(n, Ordering::Relaxed);
        }));
    }
    let started = Instant::now();
    tokio::time::sleep(Duration::from_millis(millis)).await;
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.await.unwrap();
    }
    let errors = errors.load(Ordering::Relaxed);
    assert_eq!(errors, 0, "calls failed during the run");
    count.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

async fn connections_received(conn: &mut redis::aio::MultiplexedConnection) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("stats")
        .query_async(conn)
        .await
        .unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("total_connections_received:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let url = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "redis://127.0.0.1:6379".into());
    let tasks: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(64);
    let millis: u64 = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(500);
    let rounds: usize = args.get(4).and_then(|a| a.parse().ok()).unwrap_or(20);

    let verbose = std::env::var_os("VERBOSE").is_some();
    // ONLY=0|1|2 runs a single variant (for profiling).
    let only: Option<usize> = std::env::var("ONLY").ok().and_then(|v| v.parse().ok());
    let client = redis::Client::open(url.as_str()).unwrap();
    let raw = client.get_multiplexed_async_connection().await.unwrap();
    let mut admin = client.get_multiplexed_async_connection().await.unwrap();
    let value = vec![b'x'; 64];
    let _: () = admin.set(KEY, &value).await.unwrap();

    let settings = RedisSettings {
        url: Some(SecretUrl::parse(&url).unwrap()),
        ..RedisSettings::default()
    };
    let built = infra_redis::build(&settings).unwrap();
    let adapter: Arc<dyn RedisPort> = built.adapter().clone();
    let resilient = built.port();
    adapter.ping().await.unwrap();

    println!("tasks={tasks} segment={millis}ms rounds={rounds} value=64B url={url}");
    let names = ["raw redis-rs", "adapter", "resilient port"];
    let before = connections_received(&mut admin).await;
    for op in [Op::Get, Op::Set] {
        let mut sums = [0.0f64; 3];
        let mut ratios: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
        for round in 0..rounds {
            let mut ops = [0.0f64; 3];
            // Rotate the order every round, so that no variant always runs first.
            for i in 0..3 {
                let variant = (i + round) % 3;
                if only.is_some_and(|o| o != variant) {
                    ops[variant] = 1.0;
                    continue;
                }
                let value = value.clone();
                ops[variant] = if variant == 0 {
                    let raw = raw.clone();
                    drive(tasks, millis, move || {
                        let (mut raw, value) = (raw.clone(), value.clone());
                        async move {
                            match op {
                                Op::Get => raw.get::<_, Option<Vec<u8>>>(KEY).await.is_ok(),
                                Op::Set => raw.set::<_, _, ()>(KEY, value).await.is_ok(),
                            }
                        }
                    })
                    .await
                } else {
                    let port = if variant == 1 {
                        adapter.clone()
                    } else {
                        resilient.clone()
                    };
                    drive(tasks, millis, move || {
                        let (port, value) = (port.clone(), value.clone());
                        async move {
                            match op {
                                Op::Get => port.get(KEY).await.is_ok(),
                                Op::Set => {
                                    port.set(KEY, &value, SetOptions::default()).await.is_ok()
                                }
                            }
                        }
                    })
                    .await
                };
            }
            if verbose {
                println!(
                    "{op:?} round {round}: raw {:.0} ops/s | adapter {:.0} ({:.3}) | resilient {:.0} ({:.3})",
                    ops[0],
                    ops[1],
                    ops[1] / ops[0],
                    ops[2],
                    ops[2] / ops[0],
                );
            }
            for v in 0..3 {
                sums[v] += ops[v];
            }
            ratios[0].push(ops[1] / ops[0]);
            ratios[1].push(ops[2] / ops[0]);
        }
        let median = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let medians = [median(&mut ratios[0]), median(&mut ratios[1])];
        for v in 0..3 {
            let mean = sums[v] / rounds as f64;
            if v == 0 {
                println!("{op:?} {:<15} {mean:>9.0} ops/s", names[v]);
            } else {
                println!(
                    "{op:?} {:<15} {mean:>9.0} ops/s  {:.3} x raw (ratio of sums), median round ratio {:.3}",
                    names[v],
                    sums[v] / sums[0],
                    medians[v - 1],
                );
            }
        }
    }
    let opened = connections_received(&mut admin).await - before;
    println!(
        "connections the server accepted during the runs (adapter and port): {opened}; pool {:?}",
        built.adapter().pool_status()
    );
}
