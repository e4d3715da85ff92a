//! HTTP limits through the real binary (`infra-server serve`): many slowloris clients are cut
//! off at the header-read timeout while `/health/live` keeps answering, and a burst over the
//! concurrency limit is shed with 503 problems (counted on `/metrics`) while every admitted
//! request succeeds. infra-http's own `tests/limits.rs` covers the same layers on a bare
//! router; these tests prove the reference service wires them from its settings.
//!
//! Bounded loops on 127.0.0.1 only; no timing assertion measures speed: the bounds are the
//! configured timeouts plus generous margins.

mod common;

use std::time::{Duration, Instant};

use common::bin::Served;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The keys every test here sets: no Redis (its absence would only add warnings), small
/// limits so that the tests stay short.
const BASE_ENV: &[(&str, &str)] = &[
    ("SOCIAL_REDIS__ENABLED", "false"),
    ("SOCIAL_HTTP__PORT", "0"),
];

fn start(extra: &[(&str, &str)]) -> Served {
    let env: Vec<_> = BASE_ENV.iter().chain(extra).copied().collect();
    Served::start(&["serve"], &env)
}

/// Whether the server closed the connection within `within` (EOF or reset on read).
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            // hyper may answer 408 before it closes: keep reading to EOF.
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_cuts_off_slowloris_clients_while_liveness_answers() {
    const CLIENTS: usize = 50;
    let served = start(&[
        ("SOCIAL_HTTP__HEADER_READ_TIMEOUT", "1s"),
        ("SOCIAL_HTTP__MAX_CONNECTIONS", "256"),
    ]);
    let address = served.address.clone();

    // Each slow client sends a request line, then one header byte every 100 ms: never a
    // complete head. At most 60 bytes (6 s) each; the server must cut it off long before.
    let slow: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let address = address.clone();
            tokio::spawn(async move {
                let mut stream = TcpStream::connect(&address).await.unwrap();
                stream
                    .write_all(b"GET /collections HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                    .await
                    .unwrap();
                let started = Instant::now();
                for _ in 0..60 {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    if stream.write_all(b"a").await.is_err() {
                        return started.elapsed();
                    }
                }
                if closed_within(&mut stream, Duration::from_millis(10)).await {
                    started.elapsed()
                } else {
                    Duration::MAX
                }
            })
        })
        .collect();

    // Meanwhile a well-behaved client gets `/health/live` within its own short timeout,
    // again and again while the slow clients hold their connections.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    for _ in 0..8 {
        let response = client
            .get(format!("http://{address}/health/live"))
            .send()
            .await
            .expect("/health/live answers during the attack");
        assert_eq!(response.status(), StatusCode::OK);
        tokio::time::sleep(Duration::from_millis(150)).await;
    }

    for client in slow {
        let lasted = client.await.unwrap();
        assert!(
            lasted < Duration::from_secs(4),
            "a slow client stayed connected for {lasted:?} (header-read timeout 1 s)"
        );
    }
    let (code, _) = served.terminate();
    assert_eq!(code, Some(0), "clean exit after the attack");
}

/// One burst of `size` concurrent upserts: the statuses and, for every 503, its problem body
/// and `Retry-After`.
async fn burst(client: &reqwest::Client, url: &str, size: u16) -> Vec<(StatusCode, Value, bool)> {
    let mut requests = tokio::task::JoinSet::new();
    for i in 0..size {
        let client = client.clone();
        let url = url.to_owned();
        requests.spawn(async move {
            let body = json!({ "items": [{ "id": i, "vector": [1.0, f32::from(i)] }] });
            let response = client
                .put(&url)
                .json(&body)
                .send()
                .await
                .expect("every request gets an answer");
            let status = response.status();
            let retry_after = response.headers().contains_key("retry-after");
            let body: Value = response.json().await.unwrap_or(Value::Null);
            (status, body, retry_after)
        });
    }
    requests.join_all().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_sheds_a_burst_over_the_concurrency_limit() {
    // One request at a time; each upsert flushes the embedded store (the default), so a
    // burst of simultaneous upserts finds the only permit taken.
    let served = start(&[("SOCIAL_HTTP__CONCURRENCY_LIMIT", "1")]);
    let address = served.address.clone();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();
    let created = client
        .post(format!("http://{address}/collections"))
        .json(&json!({ "name": "burst", "dimension": 2, "distance": "cosine" }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);

    // Bursts until one is shed (scheduling decides how many overlap); bounded.
    let url = format!("http://{address}/collections/burst/items");
    let mut shed = 0_u32;
    let mut admitted = 0_u32;
    for _ in 0..10 {
        for (status, body, retry_after) in burst(&client, &url, 32).await {
            match status {
                StatusCode::OK => admitted += 1,
                StatusCode::SERVICE_UNAVAILABLE => {
                    assert_eq!(body["kind"], "overloaded", "{body}");
                    assert_eq!(body["status"], 503, "{body}");
                    assert!(retry_after, "a shed request carries Retry-After");
                    shed += 1;
                }
                other => panic!("unexpected {other} in a burst: {body}"),
            }
        }
        if shed > 0 {
            break;
        }
    }
    assert!(shed > 0, "no request of 10 bursts of 32 was shed");
    assert!(
        admitted > 0,
        "admitted requests still succeed under the burst"
    );

    // Liveness is never shed, and the shed requests are counted by route on /metrics.
    let (live, _) = served.get("/health/live");
    assert_eq!(live, 200);
    let (status, metrics) = served.get("/metrics");
    assert_eq!(status, 200);
    // A counter of whole requests: the exposition writes it as an integer.
    let counted: u32 = metrics
        .lines()
        .filter(|line| line.starts_with("http_server_requests_shed_total{"))
        .filter(|line| line.contains("/collections/{name}/items"))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<u32>().ok())
        .sum();
    assert_eq!(
        counted, shed,
        "every shed request is counted once:\n{metrics}"
    );
}
