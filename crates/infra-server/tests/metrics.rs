//! Tier 1: `/metrics` of a running service, end to end, and the list of
//! `docs/observability.md` against the catalog and what the route serves.

mod common;

use std::collections::BTreeSet;

use common::TestApp;
use infra_base::telemetry::CATALOG;
use reqwest::StatusCode;
use serde_json::json;

/// The metric names of the table in docs/observability.md.
fn documented() -> BTreeSet<String> {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/observability.md"
    ))
    .expect("docs/observability.md");
    let table = doc
        .split("## Metrics")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("a Metrics section");
    table
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split('`').next())
        .map(str::to_owned)
        .collect()
}

/// The names of the `# TYPE` lines of a Prometheus text body.
fn served(body: &str) -> BTreeSet<String> {
    body.lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_documented_metrics_are_exactly_the_catalog() {
    let catalog: BTreeSet<String> = CATALOG.iter().map(|m| m.name.to_owned()).collect();
    assert_eq!(documented(), catalog);
}

#[tokio::test]
async fn metrics_show_port_latency_breakers_http_routes_and_cache_outcomes() {
    let app = TestApp::spawn(&[]).await;
    app.create("items", 2, "cosine").await;
    app.upsert(
        "items",
        json!([{ "id": 1, "vector": [1.0, 0.0], "payload": { "color": "red" } }]),
    )
    .await;
    for _ in 0..2 {
        let (cache, ids) = app
            .search("items", &json!({ "vector": [1.0, 0.0], "limit": 1 }))
            .await;
        assert_eq!(cache, "bypass", "Redis is absent in this test");
        assert_eq!(ids, [json!(1)]);
    }
    assert!(app.get("/health/infra").await.status().is_success());

    let response = app.get("/metrics").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        infra_http::PROMETHEUS_TEXT
    );
    let body = response.text().await.unwrap();
    for expected in [
        // Port latency, by backend and operation (Redis fails: nothing listens; the
        // writes' invalidations fail, so this process bypasses the collection).
        r#"db_client_operation_duration_seconds_bucket{db_system_name="qdrant",db_operation_name="search",le="0.0001"}"#,
        r#"db_client_operation_duration_seconds_count{db_system_name="qdrant",db_operation_name="upsert"} 1"#,
        r#"db_client_operation_duration_seconds_count{db_system_name="redis",db_operation_name="set",error_type="#,
        // Breaker state per backend with a breaker.
        r#"infra_circuit_breaker_state{db_system_name="redis"}"#,
        // HTTP by route template, never the raw path.
        r#"http_server_request_duration_seconds_count{http_request_method="POST",http_route="/collections/{name}/search",http_response_status_code="200"} 2"#,
        // Cache outcomes.
        r#"infra_search_cache_requests_total{outcome="bypass"} 2"#,
        r#"infra_cache_requests_total{cache_name="search",outcome="bypass"} 2"#,
        r#"infra_cache_invalidations_total{cache_name="search",outcome="failed"}"#,
        // Health checks.
        r#"infra_health_checks_total{component="qdrant",status="pass"}"#,
    ] {
        assert!(body.contains(expected), "missing {expected} in:\n{body}");
    }
    assert!(
        !body.contains("/collections/items"),
        "a raw path became a label"
    );

    let documented = documented();
    let undocumented: Vec<_> = served(&body).difference(&documented).cloned().collect();
    assert!(
        undocumented.is_empty(),
        "served but not documented: {undocumented:?}"
    );
}
