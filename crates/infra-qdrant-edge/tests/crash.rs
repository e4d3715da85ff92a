//! Crash durability: a child process (this test executable, re-invoked) writes and
//! deletes points and reports each write once it returned; it is killed with SIGKILL at a
//! random moment; the store is then reopened and every acknowledged write must be there.
//! Small indexing thresholds make background optimizations (and so the journal) part of
//! the run. Several rounds on the same data directory; the seed is printed for replay
//! (`INFRA_EDGE_CRASH_SEED`).
#![cfg(unix)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use infra_base::{
    CollectionSpec, Distance, Filter, HealthStatus, Lifecycle, Point, PointId, VectorPort,
};
use infra_qdrant_edge::{EdgeStoreOptions, EdgeVectorStore};
use serde_json::json;

/// Set in the child: the data directory to write to.
const CHILD_DIR: &str = "INFRA_EDGE_CRASH_CHILD_DIR";
/// Set in the child: the round, which picks the child's range of ids.
const CHILD_ROUND: &str = "INFRA_EDGE_CRASH_CHILD_ROUND";
const TEST_NAME: &str = "acknowledged_writes_survive_sigkill";
const ROUNDS: u64 = 6;
const DIMENSION: usize = 8;
const COLLECTION: &str = "crash";

/// The durable default, with an indexing threshold of 1 KiB (32 points of dimension 8), so
/// that optimizations run all the time.
fn options() -> EdgeStoreOptions {
    EdgeStoreOptions::default()
        .indexing_threshold_kb(Some(1))
        .flush_interval(Some(Duration::from_millis(50)))
}

fn vector(id: u64) -> Vec<f32> {
    let mut v = vec![1.0; DIMENSION];
    let part = |n: u64| f32::from(u16::try_from(n).expect("ids stay below 65,536,000"));
    v[0] = part(id % 1000);
    v[1] = part(id / 1000);
    v
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    if let Ok(dir) = std::env::var(CHILD_DIR) {
        let round = std::env::var(CHILD_ROUND).unwrap().parse().unwrap();
        child(Path::new(&dir), round);
        return;
    }
    let seed = std::env::var("INFRA_EDGE_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    println!("seed {seed} (INFRA_EDGE_CRASH_SEED={seed} replays it)");
    let mut rng = fastrand::Rng::with_seed(seed);
    let root = std::env::temp_dir().join(format!(
        "infra-qdrant-edge-crash-{seed}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&root);

    let mut live = BTreeSet::new();
    let mut deleted = BTreeSet::new();
    for round in 0..ROUNDS {
        let acks = run_child(&root, round, Duration::from_millis(rng.u64(50..400)));
        for (id, op) in &acks {
            match op {
                Op::Upsert => {
                    live.insert(*id);
                    deleted.remove(id);
                }
                Op::Deleting => {
                    live.remove(id);
                }
                Op::Delete => {
                    live.remove(id);
                    deleted.insert(*id);
                }
            }
        }
        println!(
            "round {round}: {} reports, {} live points, {} deleted",
            acks.len(),
            live.len(),
            deleted.len()
        );
        check(&root, &live, &deleted, round);
    }
    assert!(
        !live.is_empty(),
        "the children acknowledged no write at all"
    );
    let _ = std::fs::remove_dir_all(&root);
}

#[derive(Debug, Clone, Copy)]
enum Op {
    /// The upsert of the point returned.
    Upsert,
    /// A delete of the point is about to be sent: from now on its state is unknown until
    /// the delete is reported as returned (a delete that completed just before the kill
    /// may not have been reported).
    Deleting,
    /// The delete of the point returned.
    Delete,
}

/// Runs one child, kills it `after` its store opened, and returns the writes it reported,
/// in order.
fn run_child(root: &Path, round: u64, after: Duration) -> Vec<(u64, Op)> {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([TEST_NAME, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR, root)
        .env(CHILD_ROUND, round.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the test executable must start again as the child");
    let stdout = child.stdout.take().unwrap();
    let (lines, received) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let mut acks = Vec::new();
    let record = |line: String, acks: &mut Vec<(u64, Op)>| {
        let mut words = line.split_whitespace();
        let op = match words.next() {
            Some("UP") => Op::Upsert,
            Some("DELETING") => Op::Deleting,
            Some("DEL") => Op::Delete,
            // libtest's own lines; a torn last line cannot be a whole report.
            _ => return,
        };
        for id in words {
            acks.push((id.parse().unwrap(), op));
        }
    };
    // Wait for the store to open (a slow start must not count as the run).
    loop {
        let line = received
            .recv_timeout(Duration::from_mins(1))
            .expect("the child must report that its store opened");
        // libtest may print its "test ... " prefix on the same line.
        if line.ends_with("READY") {
            break;
        }
    }
    let until = std::time::Instant::now() + after;
    while let Some(left) = until.checked_duration_since(std::time::Instant::now()) {
        match received.recv_timeout(left) {
            Ok(line) => record(line, &mut acks),
            Err(mpsc::RecvTimeoutError::Timeout) => break,
            Err(mpsc::RecvTimeoutError::Disconnected) => panic!("the child exited by itself"),
        }
    }
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    reader.join().unwrap();
    // What the child printed before it died was acknowledged before it died.
    while let Ok(line) = received.try_recv() {
        record(line, &mut acks);
    }
    acks
}

/// Reopens the store and checks every acknowledged write.
fn check(root: &Path, live: &BTreeSet<u64>, deleted: &BTreeSet<u64>, round: u64) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = EdgeVectorStore::with_options(root, options());
        store.init().await.unwrap();
        let health = store.health().await;
        assert_eq!(
            health.status,
            HealthStatus::Pass,
            "round {round}: {health:?}"
        );
        if live.is_empty() && deleted.is_empty() {
            store.close().await;
            return;
        }
        let ids: Vec<PointId> = live.iter().copied().map(PointId::from).collect();
        let found: BTreeMap<PointId, Option<Vec<f32>>> = store
            .get(COLLECTION, &ids, true)
            .await
            .unwrap()
            .into_iter()
            .map(|r| (r.id, r.vector().map(<[f32]>::to_vec)))
            .collect();
        let missing: Vec<&PointId> = ids.iter().filter(|id| !found.contains_key(id)).collect();
        assert!(
            missing.is_empty(),
            "round {round}: {} acknowledged points lost after SIGKILL, first {:?}",
            missing.len(),
            &missing[..missing.len().min(20)]
        );
        for (id, got) in &found {
            let PointId::Num(n) = id else { unreachable!() };
            assert_eq!(
                got.as_deref(),
                Some(&vector(*n)[..]),
                "round {round}: point {n}"
            );
        }
        let gone: Vec<PointId> = deleted.iter().copied().map(PointId::from).collect();
        let back = store.get(COLLECTION, &gone, false).await.unwrap();
        assert!(
            back.is_empty(),
            "round {round}: acknowledged deletes undone after SIGKILL: {:?}",
            back.iter().map(|r| r.id).collect::<Vec<_>>()
        );
        let count = store.count(COLLECTION, &Filter::default()).await.unwrap();
        assert!(count >= live.len() as u64, "round {round}: count {count}");
        store.close().await;
    });
}

/// The child: writes batches and deletes until killed, printing each once it returned.
fn child(root: &Path, round: u64) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = EdgeVectorStore::with_options(PathBuf::from(root), options());
        store.init().await.unwrap();
        store
            .ensure_collection(&CollectionSpec::new(COLLECTION, DIMENSION, Distance::Dot))
            .await
            .unwrap();
        println!("READY");
        let mut rng = fastrand::Rng::with_seed(round);
        let first = round * 1_000_000;
        let mut next = first;
        for batch in 0u64.. {
            let size = rng.u64(1..=20);
            let ids: Vec<u64> = (next..next + size).collect();
            next += size;
            let points = ids
                .iter()
                .map(|&id| {
                    Point::new(id, vector(id))
                        .with_payload(json!({ "id": id }).as_object().cloned().unwrap())
                })
                .collect();
            store.upsert(COLLECTION, points).await.unwrap();
            println!("UP {}", join(&ids));
            if batch % 3 == 2 {
                let victim = rng.u64(first..next);
                println!("DELETING {victim}");
                store
                    .delete(COLLECTION, &[PointId::from(victim)])
                    .await
                    .unwrap();
                println!("DEL {victim}");
            }
        }
    });
}

fn join(ids: &[u64]) -> String {
    ids.iter().map(u64::to_string).collect::<Vec<_>>().join(" ")
}
