//! Tier 2: the service with a real `redis-server` (infra-testkit), over HTTP.
//!
//! Run by `cargo xtask test-integration` (or `cargo test -p infra-server --test
//! redis_tier2 -- --ignored` with `redis-server` on PATH).

mod common;

use std::time::{Duration, Instant};

use common::TestApp;
use infra_testkit::RedisServer;
use infra_testkit::resp::Reply;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn app_with(redis: &RedisServer, extra: &[(&str, &str)]) -> TestApp {
    let url = redis.url();
    let mut pairs = vec![("SOCIAL_REDIS__URL", url.as_str())];
    pairs.extend_from_slice(extra);
    TestApp::spawn(&pairs).await
}

async fn seed(app: &TestApp) {
    app.create("items", 2, "cosine").await;
    app.upsert(
        "items",
        json!([
            { "id": 1, "vector": [1.0, 0.0], "payload": { "color": "red" } },
            { "id": 2, "vector": [0.0, 1.0], "payload": { "color": "blue" } }
        ]),
    )
    .await;
}

/// The keys matching `pattern`.
fn keys(redis: &RedisServer, pattern: &str) -> Vec<String> {
    let Reply::Array(Some(keys)) = redis.command(&["KEYS", pattern]).expect("KEYS") else {
        panic!("KEYS failed")
    };
    keys.iter().map(|k| k.as_text().unwrap()).collect()
}

/// The generation token of `items` (`g1:<token>`), under the store identity's namespace.
fn generation(redis: &RedisServer) -> Option<String> {
    let [key] = keys(redis, "infra-server:v2:*:items:gen").try_into().ok()?;
    match redis.command(&["GET", &key]).expect("GET") {
        Reply::Bulk(value) => value.map(|v| {
            let text = String::from_utf8(v).unwrap();
            text.split(':').nth(1).expect("g1:<token>").to_owned()
        }),
        other => panic!("unexpected reply {other:?}"),
    }
}

/// Searches until `x-cache` is one of `wanted` (or fails after `within`), each search
/// answered in time.
async fn search_until(app: &TestApp, query: &Value, wanted: &[&str], within: Duration) -> String {
    let deadline = Instant::now() + within;
    loop {
        let started = Instant::now();
        let (cache, ids) = app.search("items", query).await;
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "a search took {:?}",
            started.elapsed()
        );
        assert!(!ids.is_empty(), "every search is answered");
        if wanted.contains(&cache.as_str()) {
            return cache;
        }
        assert!(
            Instant::now() < deadline,
            "x-cache still {cache}, expected one of {wanted:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "tier 2: needs redis-server; run by cargo xtask test-integration"]
async fn health_passes_with_redis_up() {
    let redis = RedisServer::start().expect("redis-server");
    let app = app_with(&redis, &[]).await;
    app.wait_health(
        "/health/ready",
        StatusCode::OK,
        "pass",
        Duration::from_secs(10),
    )
    .await;
    let body: Value = app.get("/health/infra").await.json().await.unwrap();
    assert_eq!(body["status"], "pass", "{body}");
    assert_eq!(body["checks"]["redis:responseTime"][0]["status"], "pass");
    assert_eq!(body["checks"]["qdrant:responseTime"][0]["status"], "pass");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "tier 2: needs redis-server; run by cargo xtask test-integration"]
async fn search_cache_misses_hits_and_is_invalidated_by_writes() {
    let redis = RedisServer::start().expect("redis-server");
    let app = app_with(&redis, &[]).await;
    seed(&app).await;
    let generation_after_seed = generation(&redis).expect("writes bump the generation");

    let query = json!({ "vector": [1.0, 0.1], "limit": 5 });
    let (cache, ids) = app.search("items", &query).await;
    assert_eq!((cache.as_str(), ids[0].clone()), ("miss", json!(1)));
    let (cache, cached_ids) = app.search("items", &query).await;
    assert_eq!(cache, "hit");
    assert_eq!(cached_ids, ids);
    // The entry is in Redis, under the current generation, with a TTL.
    let entries = keys(
        &redis,
        &format!("infra-server:v2:*:items:v:{generation_after_seed}:*"),
    );
    assert_eq!(entries.len(), 1);
    let Reply::Integer(ttl) = redis.command(&["TTL", &entries[0]]).unwrap() else {
        panic!("TTL failed")
    };
    assert!((1..=60).contains(&ttl), "{ttl}");

    // A write invalidates: the next search sees the new item.
    app.upsert("items", json!([{ "id": 3, "vector": [1.0, 0.1] }]))
        .await;
    assert_ne!(generation(&redis).unwrap(), generation_after_seed);
    let (cache, ids) = app.search("items", &query).await;
    assert_eq!((cache.as_str(), ids[0].clone()), ("miss", json!(3)));
    assert_eq!(app.search("items", &query).await.0, "hit");

    // So does a delete.
    assert_eq!(
        app.delete("/collections/items/items/3").await.status(),
        StatusCode::NO_CONTENT
    );
    let (cache, ids) = app.search("items", &query).await;
    assert_eq!(cache, "miss");
    assert!(!ids.contains(&json!(3)));
    // Another query is its own entry.
    let (cache, _) = app.search("items", &json!({ "vector": [0.0, 1.0] })).await;
    assert_eq!(cache, "miss");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "tier 2: needs redis-server; run by cargo xtask test-integration"]
async fn redis_killed_mid_test_is_bypassed_then_recovers_without_restart() {
    let redis = RedisServer::start().expect("redis-server");
    let app = app_with(&redis, &[]).await;
    seed(&app).await;
    let query = json!({ "vector": [1.0, 0.0] });
    assert_eq!(app.search("items", &query).await.0, "miss");
    assert_eq!(app.search("items", &query).await.0, "hit");
    app.wait_health(
        "/health/ready",
        StatusCode::OK,
        "pass",
        Duration::from_secs(10),
    )
    .await;

    redis.kill().expect("kill redis");
    // Every search is still answered, promptly, without the cache.
    for _ in 0..10 {
        let started = Instant::now();
        let (cache, ids) = app.search("items", &query).await;
        assert_eq!(cache, "bypass");
        assert_eq!(ids[0], json!(1));
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
    }
    // Writes too (the invalidation fails, is logged and counted).
    app.upsert("items", json!([{ "id": 4, "vector": [0.5, 0.5] }]))
        .await;
    app.wait_health(
        "/health/ready",
        StatusCode::OK,
        "warn",
        Duration::from_secs(10),
    )
    .await;
    let body: Value = app.get("/health/infra").await.json().await.unwrap();
    assert_eq!(body["status"], "warn");
    assert_eq!(body["checks"]["redis:responseTime"][0]["status"], "fail");

    redis.start_again().expect("restart redis on the same port");
    // Back to caching, same process.
    let cache = search_until(&app, &query, &["miss", "hit"], Duration::from_secs(20)).await;
    if cache == "miss" {
        assert_eq!(app.search("items", &query).await.0, "hit");
    }
    app.wait_health(
        "/health/ready",
        StatusCode::OK,
        "pass",
        Duration::from_secs(10),
    )
    .await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "tier 2: needs redis-server; run by cargo xtask test-integration"]
async fn a_critical_redis_that_dies_fails_readiness_but_not_searches() {
    let redis = RedisServer::start().expect("redis-server");
    let app = app_with(&redis, &[("SOCIAL_REDIS__CRITICAL", "true")]).await;
    seed(&app).await;
    app.wait_health(
        "/health/ready",
        StatusCode::OK,
        "pass",
        Duration::from_secs(10),
    )
    .await;
    redis.kill().expect("kill redis");
    app.wait_health(
        "/health/ready",
        StatusCode::SERVICE_UNAVAILABLE,
        "fail",
        Duration::from_secs(10),
    )
    .await;
    let (cache, ids) = app.search("items", &json!({ "vector": [0.0, 1.0] })).await;
    assert_eq!((cache.as_str(), ids[0].clone()), ("bypass", json!(2)));
    redis.start_again().expect("restart redis");
    app.wait_health(
        "/health/ready",
        StatusCode::OK,
        "pass",
        Duration::from_secs(20),
    )
    .await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "tier 2: needs redis-server; run by cargo xtask test-integration"]
async fn a_hung_redis_costs_searches_at_most_the_command_timeout() {
    let redis = RedisServer::start().expect("redis-server");
    let app = app_with(&redis, &[("SOCIAL_REDIS__COMMAND_TIMEOUT", "300ms")]).await;
    seed(&app).await;
    let query = json!({ "vector": [0.0, 1.0] });
    assert_eq!(app.search("items", &query).await.0, "miss");

    redis.pause().expect("SIGSTOP redis");
    for _ in 0..8 {
        let started = Instant::now();
        let (cache, ids) = app.search("items", &query).await;
        let took = started.elapsed();
        assert_eq!((cache.as_str(), ids[0].clone()), ("bypass", json!(2)));
        // One cache call at most, bounded by the command timeout (plus scheduling slack);
        // once the breaker opens, a bypass is immediate.
        assert!(took < Duration::from_secs(1), "a search took {took:?}");
    }
    redis.resume().expect("SIGCONT redis");
    search_until(&app, &query, &["hit", "miss"], Duration::from_secs(20)).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "tier 2: needs redis-server; run by cargo xtask test-integration"]
async fn metrics_show_redis_and_qdrant_latency_breaker_and_cache_hits() {
    let redis = RedisServer::start().expect("redis-server");
    let app = app_with(&redis, &[]).await;
    seed(&app).await;
    let query = json!({ "vector": [1.0, 0.1], "limit": 5 });
    let _ = search_until(&app, &query, &["miss", "hit"], Duration::from_secs(10)).await;
    let _ = search_until(&app, &query, &["hit"], Duration::from_secs(10)).await;
    let _ = app.get("/health/infra").await;

    let body = app.get("/metrics").await.text().await.unwrap();
    // Other tests of this binary share the process's recorder: presence, not counts.
    for expected in [
        r#"db_client_operation_duration_seconds_count{db_system_name="redis",db_operation_name="get"}"#,
        r#"db_client_operation_duration_seconds_count{db_system_name="redis",db_operation_name="set"}"#,
        r#"db_client_operation_duration_seconds_count{db_system_name="qdrant",db_operation_name="search"}"#,
        r#"infra_circuit_breaker_state{db_system_name="redis"} 0"#,
        r#"infra_search_cache_requests_total{outcome="hit"}"#,
        r#"db_client_connection_max{db_system_name="redis"}"#,
        r#"http_server_request_duration_seconds_count{http_request_method="POST",http_route="/collections/{name}/search",http_response_status_code="200"}"#,
    ] {
        assert!(body.contains(expected), "missing {expected} in:\n{body}");
    }
    let infra: Value = app.get("/health/infra").await.json().await.unwrap();
    let check = &infra["checks"]["redis:responseTime"][0];
    assert_eq!(check["breakerState"], "closed", "{infra}");
    assert!(
        check["poolMaxSize"].as_u64().is_some_and(|n| n > 0),
        "{infra}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "tier 2: needs redis-server; run by cargo xtask test-integration"]
async fn a_critical_redis_down_at_start_makes_the_binary_not_ready_until_it_answers() {
    use common::bin::Served;
    let port = common::closed_port();
    let port_text = port.to_string();
    let served = tokio::task::block_in_place(|| {
        Served::start(
            &["serve"],
            &[
                ("SOCIAL_HTTP__PORT", "0"),
                ("SOCIAL_REDIS__PORT", port_text.as_str()),
                ("SOCIAL_REDIS__CRITICAL", "true"),
                ("SOCIAL_HEALTH__CACHE_TTL", "100ms"),
            ],
        )
    });
    let get = |path: &str| tokio::task::block_in_place(|| served.get(path));
    assert_eq!(
        get("/health/live"),
        (200, r#"{"status":"pass"}"#.to_owned())
    );
    let (status, body) = get("/health/ready");
    assert_eq!(status, 503, "{body}");
    assert!(body.starts_with(r#"{"status":"fail""#), "{body}");

    // Redis comes up on the configured port: the same process becomes ready.
    let redis = RedisServer::builder()
        .port(port)
        .start()
        .expect("redis-server");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let ready = get("/health/ready");
        if ready == (200, r#"{"status":"pass"}"#.to_owned()) {
            break;
        }
        assert!(Instant::now() < deadline, "still not ready: {ready:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The background initialization catches up too (its backoff may end after readiness).
    while !served
        .stderr_text()
        .contains("component initialized after start-up")
    {
        assert!(
            Instant::now() < deadline,
            "no background initialization: {}",
            served.stderr_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (code, stderr) = tokio::task::block_in_place(|| served.terminate());
    assert_eq!(code, Some(0), "{stderr}");
    drop(redis);
}
