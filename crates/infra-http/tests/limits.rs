//! HTTP limits: load shedding at the concurrency limit, the header-read timeout against
//! slowloris clients, the connection limit, and bodies over the body limit. Bounded loops
//! on 127.0.0.1 only.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{Request, StatusCode, header};
use axum::routing::{get, post};
use infra_base::telemetry::{HTTP_REQUESTS_SHED, labels};
use infra_base::testing::metrics::{MetricsCapture, SampleValue};
use infra_base::{BaseService, Components};
use infra_config::{HealthSettings, HttpSettings};
use infra_http::{AppState, MAX_DRAINED_EXCESS, PROBLEM_JSON, Server, http_layers};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Notify, Semaphore};
use tower::ServiceExt;

/// A handler that holds its request until `release` is notified, counting the started ones.
#[derive(Clone)]
struct Gate {
    started: Arc<Semaphore>,
    release: Arc<Notify>,
}

async fn held(State(gate): State<Gate>) -> &'static str {
    gate.started.add_permits(1);
    gate.release.notified().await;
    "done"
}

#[tokio::test]
async fn a_burst_over_the_concurrency_limit_is_shed_with_503_and_retry_after() {
    let gate = Gate {
        started: Arc::new(Semaphore::new(0)),
        release: Arc::new(Notify::new()),
    };
    let router = Router::new()
        .route("/held", get(held))
        .with_state(gate.clone())
        .route("/health/live", get(|| async { "live" }));
    let settings = HttpSettings {
        concurrency_limit: 2,
        ..HttpSettings::default()
    };
    let app = http_layers(router, &settings);
    let get_ = |uri: &str| Request::get(uri).body(Body::empty()).unwrap();

    let holders: Vec<_> = (0..2)
        .map(|_| tokio::spawn(app.clone().oneshot(get_("/held"))))
        .collect();
    // Both running (bounded wait).
    tokio::time::timeout(Duration::from_secs(5), gate.started.acquire_many(2))
        .await
        .expect("the two held requests start")
        .unwrap()
        .forget();

    for _ in 0..5 {
        let response = app.clone().oneshot(get_("/held")).await.unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        assert_eq!(response.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["kind"], "overloaded");
        assert_eq!(body["status"], 503);
    }
    // Health is never shed.
    let response = app.clone().oneshot(get_("/health/live")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    gate.release.notify_waiters();
    for holder in holders {
        let response = holder.await.unwrap().unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    // Capacity is back.
    let quick = Router::new().route("/quick", get(|| async { "ok" }));
    let app = http_layers(quick, &settings);
    let response = app.oneshot(get_("/quick")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[test]
fn shed_requests_are_counted_by_route() {
    let gate = Gate {
        started: Arc::new(Semaphore::new(0)),
        release: Arc::new(Notify::new()),
    };
    let router = Router::new()
        .route("/held/{id}", get(held))
        .with_state(gate.clone());
    let settings = HttpSettings {
        concurrency_limit: 1,
        ..HttpSettings::default()
    };
    let app = http_layers(router, &settings);
    let capture = MetricsCapture::new();
    capture.block_on(async {
        let get_ = |uri: &str| Request::get(uri).body(Body::empty()).unwrap();
        let first = app.clone().oneshot(get_("/held/1"));
        let second = async {
            gate.started.acquire().await.unwrap().forget();
            let shed = app.clone().oneshot(get_("/held/2")).await.unwrap();
            gate.release.notify_waiters();
            shed
        };
        let (first, shed) = tokio::join!(first, second);
        assert_eq!(first.unwrap().status(), StatusCode::OK);
        assert_eq!(shed.status(), StatusCode::SERVICE_UNAVAILABLE);
    });
    let samples = capture.samples();
    let sample = MetricsCapture::find(
        &samples,
        HTTP_REQUESTS_SHED,
        &[(labels::HTTP_ROUTE, "/held/{id}")],
    );
    assert_eq!(
        sample.map(|s| &s.value),
        Some(&SampleValue::Counter(1)),
        "{samples:?}"
    );
}

struct Running {
    addr: std::net::SocketAddr,
    app: AppState,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn serve(settings: HttpSettings) -> Running {
    let health = HealthSettings {
        cache_ttl: Duration::from_secs(30),
        check_timeout: Duration::from_millis(500),
        ..HealthSettings::default()
    };
    let app = AppState::new(BaseService::new("limits"), Components::new(), &health);
    let server = Server::bind(&settings)
        .await
        .unwrap()
        .handle_os_signals(false);
    let addr = server.local_addr();
    let router = app
        .health_router()
        .route("/echo", post(|body: String| async move { body }));
    let server = tokio::spawn(server.serve(router, app.clone()));
    Running { addr, app, server }
}

impl Running {
    async fn stop(self) {
        self.app.shutdown().trigger();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.server).await;
    }
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
            // A response (hyper may answer 408 before closing): keep reading to EOF.
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_clients_are_cut_off_while_health_answers() {
    const CLIENTS: usize = 40;
    let settings = HttpSettings {
        port: 0,
        header_read_timeout: Duration::from_millis(800),
        ..HttpSettings::default()
    };
    let running = serve(settings).await;
    let addr = running.addr;

    // Each client sends a request line, then one header byte every 100 ms: never a full
    // head. Bounded: at most 40 bytes each.
    let slow: Vec<_> = (0..CLIENTS)
        .map(|_| {
            tokio::spawn(async move {
                let mut stream = TcpStream::connect(addr).await.unwrap();
                stream
                    .write_all(b"GET /health/live HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                    .await
                    .unwrap();
                let started = Instant::now();
                for _ in 0..40 {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    if stream.write_all(b"a").await.is_err() {
                        return started.elapsed();
                    }
                }
                // Still open after 4 s of trickling would be a failure; report how long.
                if closed_within(&mut stream, Duration::from_millis(10)).await {
                    started.elapsed()
                } else {
                    Duration::MAX
                }
            })
        })
        .collect();

    // Meanwhile a well-behaved client is served promptly, several times.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    for _ in 0..5 {
        let started = Instant::now();
        let response = client
            .get(format!("http://{addr}/health/live"))
            .send()
            .await
            .expect("/health/live answers during the attack");
        assert_eq!(response.status(), StatusCode::OK);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(150)).await;
    }

    for client in slow {
        let lasted = client.await.unwrap();
        assert!(
            lasted < Duration::from_secs(3),
            "a slow client stayed connected for {lasted:?}"
        );
    }
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed_and_the_connection_limit_holds() {
    let settings = HttpSettings {
        port: 0,
        header_read_timeout: Duration::from_millis(700),
        max_connections: 2,
        ..HttpSettings::default()
    };
    let running = serve(settings).await;
    let addr = running.addr;

    // Two silent connections take both slots.
    let mut idle_a = TcpStream::connect(addr).await.unwrap();
    let mut idle_b = TcpStream::connect(addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;

    // A third client waits in the backlog until the idle ones are cut off, then is served.
    let started = Instant::now();
    let response = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
        .get(format!("http://{addr}/health/live"))
        .send()
        .await
        .expect("served once a slot is free");
    assert_eq!(response.status(), StatusCode::OK);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(400) && waited < Duration::from_secs(4),
        "waited {waited:?}"
    );
    assert!(closed_within(&mut idle_a, Duration::from_secs(2)).await);
    assert!(closed_within(&mut idle_b, Duration::from_secs(2)).await);

    // A keep-alive connection that goes idle after a request is closed as well.
    let mut kept = TcpStream::connect(addr).await.unwrap();
    kept.write_all(b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    let read = tokio::time::timeout(Duration::from_secs(2), kept.read(&mut buf))
        .await
        .expect("a response")
        .unwrap();
    assert!(
        buf[..read].starts_with(b"HTTP/1.1 200"),
        "{:?}",
        &buf[..read]
    );
    assert!(closed_within(&mut kept, Duration::from_secs(3)).await);
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_connection_does_not_hold_the_shutdown_back() {
    let settings = HttpSettings {
        port: 0,
        header_read_timeout: Duration::from_secs(30),
        shutdown_grace: Duration::from_secs(30),
        ..HttpSettings::default()
    };
    let running = serve(settings).await;
    let _silent = TcpStream::connect(running.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    running.app.shutdown().trigger();
    tokio::time::timeout(Duration::from_secs(5), running.server)
        .await
        .expect("the server stops without waiting for the silent client")
        .unwrap()
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// One HTTP/1.1 response read off `stream`: its status and its body (by `Content-Length`).
async fn read_response(stream: &mut TcpStream) -> (u16, String) {
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    let mut read_more = async |bytes: &mut Vec<u8>| {
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
            .await
            .expect("the server answers within 5 s")
            .expect("the connection is not reset");
        assert!(
            read > 0,
            "the connection closed mid-response: {:?}",
            String::from_utf8_lossy(bytes)
        );
        bytes.extend_from_slice(&buf[..read]);
    };
    let head_end = loop {
        if let Some(at) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        read_more(&mut bytes).await;
    };
    let head = String::from_utf8_lossy(&bytes[..head_end]).to_ascii_lowercase();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .expect("a content-length")
        .trim()
        .parse()
        .unwrap();
    while bytes.len() < head_end + length {
        read_more(&mut bytes).await;
    }
    let body = String::from_utf8_lossy(&bytes[head_end..head_end + length]).into_owned();
    (status, body)
}

fn post_head(length: u64) -> String {
    format!(
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: {length}\r\n\r\n"
    )
}

/// [`post_head`] of a client that waits for `100 Continue` before it sends the body.
fn post_head_expecting_continue(length: u64) -> String {
    post_head(length).replacen("Host: x\r\n", "Host: x\r\nExpect: 100-continue\r\n", 1)
}

/// A server with `body_limit`, and a connection to it.
async fn connect_with_body_limit(body_limit: u64) -> (Running, TcpStream) {
    let settings = HttpSettings {
        port: 0,
        body_limit,
        ..HttpSettings::default()
    };
    let running = serve(settings).await;
    let stream = TcpStream::connect(running.addr).await.unwrap();
    (running, stream)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_limit_is_read_through_before_its_413_and_the_connection_kept() {
    let (running, mut stream) = connect_with_body_limit(1024).await;

    // 200 kB, far over the limit. A server that answered from the declared length and
    // left the body unread would close the connection: the second request below would
    // find it closed (or the writer would see it reset).
    let body = vec![b'x'; 200_000];
    stream
        .write_all(post_head(200_000).as_bytes())
        .await
        .unwrap();
    stream
        .write_all(&body)
        .await
        .expect("the whole body is read");
    let (status, problem) = read_response(&mut stream).await;
    assert_eq!(status, 413, "{problem}");
    let problem: serde_json::Value = serde_json::from_str(&problem).unwrap();
    assert_eq!(problem["kind"], "payload_too_large");
    assert_eq!(
        problem["detail"],
        "the request body is 200000 bytes; at most 1024 are accepted"
    );

    // The body was consumed, so the connection serves the next request.
    stream.write_all(post_head(5).as_bytes()).await.unwrap();
    stream.write_all(b"hello").await.unwrap();
    assert_eq!(read_response(&mut stream).await, (200, "hello".to_owned()));
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_far_over_the_limit_is_refused_at_once() {
    let (running, mut stream) = connect_with_body_limit(1024).await;
    // Only the head: the 413 comes without waiting for a body the server will not read
    // (the request timeout, 30 s, is far beyond `read_response`'s 5 s).
    let declared = 1024 + MAX_DRAINED_EXCESS + 1;
    stream
        .write_all(post_head(declared).as_bytes())
        .await
        .unwrap();
    let (status, problem) = read_response(&mut stream).await;
    assert_eq!(status, 413, "{problem}");
    assert!(
        problem.contains(&format!("the request body is {declared} bytes")),
        "{problem}"
    );
    assert!(closed_within(&mut stream, Duration::from_secs(2)).await);
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_expecting_continue_gets_its_413_before_sending_the_body() {
    let (running, mut stream) = connect_with_body_limit(1024).await;
    // Within the excess that would be read through, but the client waits to be told to
    // send: the answer is the 413, not `100 Continue`.
    stream
        .write_all(post_head_expecting_continue(200_000).as_bytes())
        .await
        .unwrap();
    let (status, problem) = read_response(&mut stream).await;
    assert_eq!(status, 413, "{problem}");
    assert!(
        problem.contains("the request body is 200000 bytes"),
        "{problem}"
    );
    running.stop().await;
}
