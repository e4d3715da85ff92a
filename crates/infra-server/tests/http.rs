//! Tier 1, end to end over real HTTP: the service on port 0 with the embedded store in a
//! temp dir and Redis absent (a closed local port).

// Each test is one scenario told from start to end; splitting it would hide the story.
#![allow(clippy::too_many_lines)]

mod common;

use std::time::Duration;

use common::{TestApp, header, problem};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_health_warns_and_the_service_serves() {
    let app = TestApp::spawn(&[]).await;

    let live = app.get("/health/live").await;
    assert_eq!(live.status(), StatusCode::OK);
    assert_eq!(header(&live, "content-type"), "application/health+json");

    app.wait_health(
        "/health/ready",
        StatusCode::OK,
        "warn",
        Duration::from_secs(10),
    )
    .await;
    let infra = app.get("/health/infra").await;
    assert_eq!(infra.status(), StatusCode::OK);
    assert_eq!(header(&infra, "content-type"), "application/health+json");
    let body: Value = infra.json().await.unwrap();
    assert_eq!(body["status"], "warn", "{body}");
    assert_eq!(body["serviceId"], "infra-server");
    let redis = &body["checks"]["redis:responseTime"][0];
    assert_eq!(redis["status"], "fail", "{body}");
    assert_eq!(redis["componentType"], "datastore");
    assert!(
        redis["output"].as_str().unwrap().starts_with("unavailable"),
        "{body}"
    );
    assert_eq!(body["checks"]["qdrant:responseTime"][0]["status"], "pass");

    // Searches are answered, uncached.
    app.create("items", 2, "dot").await;
    app.upsert("items", json!([{ "id": 1, "vector": [1.0, 0.0] }]))
        .await;
    for _ in 0..3 {
        let (cache, ids) = app.search("items", &json!({ "vector": [1.0, 0.0] })).await;
        assert_eq!((cache.as_str(), ids), ("bypass", vec![json!(1)]));
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_fail_fast_a_critical_redis_that_is_absent_stops_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let settings = common::settings(
        dir.path(),
        &[
            ("SOCIAL_REDIS__CRITICAL", "true"),
            ("SOCIAL_HEALTH__FAIL_FAST", "true"),
        ],
    );
    let err = infra_server::Application::build(&settings)
        .await
        .expect_err("a critical component that cannot start stops start-up");
    let message = err.to_string();
    assert!(message.starts_with("redis init"), "{message}");
    // The embedded store opened before Redis failed is closed again: its lock is free.
    let again = infra_server::Application::build(&common::settings(dir.path(), &[]))
        .await
        .expect("the data directory is not left locked");
    drop(again);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn items_round_trip() {
    let app = TestApp::spawn(&[]).await;

    let created = app
        .post(
            "/collections",
            &json!({ "name": "products", "dimension": 3, "distance": "cosine" }),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    assert_eq!(header(&created, "location"), "/collections/products");
    let body: Value = created.json().await.unwrap();
    assert_eq!(
        body,
        json!({ "name": "products", "dimension": 3, "distance": "cosine", "created": true })
    );
    let again = app
        .post(
            "/collections",
            &json!({ "name": "products", "dimension": 3, "distance": "cosine" }),
        )
        .await;
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(again.json::<Value>().await.unwrap()["created"], false);
    let conflict = app
        .post(
            "/collections",
            &json!({ "name": "products", "dimension": 4, "distance": "cosine" }),
        )
        .await;
    let body = problem(conflict, StatusCode::CONFLICT, "another dimension").await;
    assert_eq!(body["kind"], "conflict");

    let uuid = "5f0c6f8e-4a1b-4c7a-9a63-0f1f2d3c4b5a";
    let written = app
        .put(
            "/collections/products/items",
            &json!({ "items": [
                { "id": 1, "vector": [1.0, 0.0, 0.0], "payload": { "color": "red", "price": 10 } },
                { "id": 2, "vector": [0.0, 1.0, 0.0], "payload": { "color": "blue", "price": 20 } },
                { "id": uuid, "vector": [0.9, 0.1, 0.0], "payload": { "color": "red", "price": 200 } },
                { "id": 4, "vector": [0.0, 0.0, 1.0] }
            ]}),
        )
        .await;
    assert_eq!(written.status(), StatusCode::OK);
    assert_eq!(
        written.json::<Value>().await.unwrap(),
        json!({ "upserted": 4 })
    );
    assert_eq!(app.count("products").await, 4);

    let item = app.get("/collections/products/items/2").await;
    assert_eq!(item.status(), StatusCode::OK);
    assert_eq!(
        item.json::<Value>().await.unwrap(),
        json!({ "id": 2, "payload": { "color": "blue", "price": 20 } })
    );
    let item: Value = app
        .get(&format!(
            "/collections/products/items/{uuid}?with_vector=true"
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(item["id"], uuid);
    assert_eq!(item["vector"].as_array().unwrap().len(), 3);
    let item: Value = app
        .get("/collections/products/items/4")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(item["payload"], json!({}));

    // Filter, limit and threshold.
    let (_, ids) = app
        .search(
            "products",
            &json!({
                "vector": [1.0, 0.0, 0.0],
                "filter": { "must": [{ "match": { "key": "color", "value": "red" } }] }
            }),
        )
        .await;
    assert_eq!(ids, [json!(1), json!(uuid)]);
    let (_, ids) = app
        .search(
            "products",
            &json!({
                "vector": [1.0, 0.0, 0.0],
                "filter": { "must": [{ "range": { "key": "price", "range": { "lt": 100 } } }],
                            "must_not": [{ "match": { "key": "color", "value": "blue" } }] }
            }),
        )
        .await;
    assert_eq!(ids, [json!(1)]);
    // A nested group and Qdrant's other conditions, in their JSON form.
    let (_, ids) = app
        .search(
            "products",
            &json!({
                "vector": [1.0, 0.0, 0.0],
                "filter": {
                    "must": [{ "filter": { "should": [
                        { "match_any": { "key": "color", "any": ["blue", "green"] } },
                        { "range": { "key": "price", "range": { "gt": 100 } } }
                    ] } }],
                    "must_not": [{ "has_id": { "ids": [2] } }]
                }
            }),
        )
        .await;
    assert_eq!(ids, [json!(uuid)]);
    let bad_datetime = app
        .post(
            "/collections/products/search",
            &json!({
                "vector": [1.0, 0.0, 0.0],
                "filter": { "must": [{ "datetime_range":
                    { "key": "created", "range": { "gte": "soon" } } }] }
            }),
        )
        .await;
    let body = problem(
        bad_datetime,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a datetime bound that is not RFC 3339",
    )
    .await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or("")
            .contains("\"created\""),
        "the problem names the field: {body}"
    );
    let (_, ids) = app
        .search(
            "products",
            &json!({ "vector": [1.0, 0.0, 0.0], "limit": 2 }),
        )
        .await;
    assert_eq!(ids, [json!(1), json!(uuid)]);
    let (_, ids) = app
        .search(
            "products",
            &json!({ "vector": [1.0, 0.0, 0.0], "score_threshold": 0.95 }),
        )
        .await;
    assert_eq!(ids, [json!(1), json!(uuid)]);
    let hits: Value = app
        .post(
            "/collections/products/search",
            &json!({ "vector": [0.0, 1.0, 0.0], "limit": 1, "with_payload": false, "with_vector": true }),
        )
        .await
        .json()
        .await
        .unwrap();
    let hit = &hits["hits"][0];
    assert_eq!(hit["id"], 2);
    assert!(hit.get("payload").is_none(), "{hit}");
    assert_eq!(hit["vector"], json!([0.0, 1.0, 0.0]));
    assert!((hit["score"].as_f64().unwrap() - 1.0).abs() < 1e-5);

    // Delete an item, then the collection.
    assert_eq!(
        app.delete("/collections/products/items/1").await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.delete("/collections/products/items/1").await.status(),
        StatusCode::NO_CONTENT,
        "deleting is idempotent"
    );
    let gone = app.get("/collections/products/items/1").await;
    let body = problem(gone, StatusCode::NOT_FOUND, "deleted item").await;
    assert_eq!(
        body["detail"],
        "item 1 does not exist in collection products"
    );
    let (_, ids) = app
        .search("products", &json!({ "vector": [1.0, 0.0, 0.0] }))
        .await;
    assert!(!ids.contains(&json!(1)));
    assert_eq!(app.count("products").await, 3);

    assert_eq!(
        app.delete("/collections/products").await.status(),
        StatusCode::NO_CONTENT
    );
    problem(
        app.get("/collections/products").await,
        StatusCode::NOT_FOUND,
        "deleted collection",
    )
    .await;
    problem(
        app.delete("/collections/products").await,
        StatusCode::NOT_FOUND,
        "deleting a missing collection",
    )
    .await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_critical_dependency_down_gives_503_problems_never_500_or_a_hang() {
    let app = TestApp::spawn(&[]).await;
    app.create("items", 2, "dot").await;
    app.upsert("items", json!([{ "id": 1, "vector": [1.0, 0.0] }]))
        .await;
    app.wait_health(
        "/health/ready",
        StatusCode::OK,
        "warn",
        Duration::from_secs(10),
    )
    .await;

    // The embedded store goes away (as a lost disk or a closed store would).
    let qdrant = app
        .state
        .components()
        .iter()
        .find(|c| c.name == "qdrant")
        .expect("a qdrant component")
        .clone();
    qdrant.lifecycle.close().await;

    let started = std::time::Instant::now();
    for (method, path, body) in [
        (
            Method::POST,
            "/collections/items/search",
            json!({ "vector": [1.0, 0.0] }),
        ),
        (
            Method::PUT,
            "/collections/items/items",
            json!({ "items": [{ "id": 2, "vector": [1.0, 0.0] }] }),
        ),
        (Method::GET, "/collections/items", Value::Null),
        (
            Method::POST,
            "/collections",
            json!({ "name": "other", "dimension": 2, "distance": "dot" }),
        ),
    ] {
        let response = app.send_json(method, path, &body).await;
        assert!(
            response.headers().contains_key("retry-after"),
            "{path}: 503 with Retry-After"
        );
        let body = problem(response, StatusCode::SERVICE_UNAVAILABLE, path).await;
        assert_eq!(body["kind"], "unavailable", "{body}");
        assert_eq!(body["backend"], "qdrant", "{body}");
    }
    assert!(started.elapsed() < Duration::from_secs(5), "no hang");

    app.wait_health(
        "/health/ready",
        StatusCode::SERVICE_UNAVAILABLE,
        "fail",
        Duration::from_secs(10),
    )
    .await;
    let infra = app.get("/health/infra").await;
    assert_eq!(infra.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = infra.json().await.unwrap();
    assert_eq!(body["status"], "fail");
    assert_eq!(body["checks"]["qdrant:responseTime"][0]["status"], "fail");
    assert_eq!(app.get("/health/live").await.status(), StatusCode::OK);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_flips_readiness_first_and_lets_in_flight_requests_finish() {
    let app = TestApp::spawn(&[("SOCIAL_HTTP__SHUTDOWN_GRACE", "20s")]).await;
    app.create("items", 2, "dot").await;

    // An upsert whose body arrives in two parts: in flight while the shutdown starts.
    let body = br#"{"items": [{"id": 7, "vector": [1.0, 0.0], "payload": {"late": true}}]}"#;
    let (first, rest) = body.split_at(20);
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    // A first request on the same connection: once it is answered, the server has accepted
    // the connection and reads the next request as soon as its bytes arrive.
    let warm_up = format!("GET /health/live HTTP/1.1\r\nHost: {}\r\n\r\n", app.addr);
    stream.write_all(warm_up.as_bytes()).await.unwrap();
    let mut answered = Vec::new();
    while !String::from_utf8_lossy(&answered).ends_with(r#"{"status":"pass"}"#) {
        let mut chunk = [0u8; 1024];
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed early");
        answered.extend_from_slice(&chunk[..n]);
    }
    let head = format!(
        "PUT /collections/items/items HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        app.addr,
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(first).await.unwrap();
    stream.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    app.state.shutdown().trigger();
    // Readiness answers 503 at once, while the request is still in flight.
    let ready = app
        .state
        .health_router::<()>()
        .oneshot(
            axum::http::Request::get("/health/ready")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !app.server.is_finished(),
        "the server waits for the request"
    );

    stream.write_all(rest).await.unwrap();
    let mut response = String::new();
    tokio::time::timeout(
        Duration::from_secs(10),
        stream.read_to_string(&mut response),
    )
    .await
    .expect("the in-flight request is answered")
    .unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with(r#"{"upserted":1}"#), "{response}");

    let addr = app.addr;
    tokio::time::timeout(Duration::from_secs(10), app.server)
        .await
        .expect("the server stops after the in-flight request")
        .unwrap()
        .unwrap();
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no longer accepting connections"
    );
    // The write was applied and flushed: the store reopens with it.
    let state_dir = app.dir;
    let reopened = infra_server::Application::build(&common::settings(state_dir.path(), &[]))
        .await
        .unwrap();
    let record = reopened
        .catalog()
        .get_item("items", 7.into(), false)
        .await
        .expect("the late item was written");
    assert_eq!(record.payload["late"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_over_the_response_limit_are_refused_with_a_problem() {
    let app = TestApp::spawn(&[("SOCIAL_HTTP__MAX_RESPONSE_BYTES", "2048")]).await;
    app.create("big", 4, "cosine").await;
    let note = "n".repeat(600);
    app.upsert(
        "big",
        json!([
            { "id": 1, "vector": [1.0, 0.0, 0.0, 0.0], "payload": { "note": note } },
            { "id": 2, "vector": [0.0, 1.0, 0.0, 0.0], "payload": { "note": note } },
            { "id": 3, "vector": [0.0, 0.0, 1.0, 0.0], "payload": { "note": note } },
            { "id": 4, "vector": [0.0, 0.0, 0.0, 1.0], "payload": { "note": note } }
        ]),
    )
    .await;

    // Within the limit: served.
    let small = json!({ "vector": [1.0, 0.0, 0.0, 0.0], "limit": 2 });
    let (_, ids) = app.search("big", &small).await;
    assert_eq!(ids.len(), 2);

    // Vectors alone over the limit: refused before the search runs (1000 x 4 x 16 B).
    let vectors = json!({ "vector": [1.0, 0.0, 0.0, 0.0], "limit": 1000, "with_vector": true });
    let response = app.post("/collections/big/search", &vectors).await;
    let body = common::problem(response, StatusCode::UNPROCESSABLE_ENTITY, "vectors").await;
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("lower limit or leave with_vector off"),
        "{body}"
    );

    // Payloads make the answer too large: refused once serialized, not truncated.
    let payloads = json!({ "vector": [1.0, 0.0, 0.0, 0.0], "limit": 4 });
    let response = app.post("/collections/big/search", &payloads).await;
    let body = common::problem(response, StatusCode::UNPROCESSABLE_ENTITY, "payloads").await;
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("over the response limit of 2048 bytes"),
        "{body}"
    );

    // Without payloads the same search fits.
    let lean = json!({ "vector": [1.0, 0.0, 0.0, 0.0], "limit": 4, "with_payload": false });
    let (_, ids) = app.search("big", &lean).await;
    assert_eq!(ids.len(), 4);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collections_are_created_with_payload_indexes() {
    let app = TestApp::spawn(&[]).await;
    let indexes = json!([
        { "field": "price", "type": "integer" },
        { "field": "title", "type": "text", "tokenizer": "prefix" }
    ]);
    let created = app
        .post(
            "/collections",
            &json!({ "name": "indexed", "dimension": 2, "distance": "dot", "indexes": indexes }),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let info: Value = app.get("/collections/indexed").await.json().await.unwrap();
    assert_eq!(info["indexes"], indexes, "{info}");
    let retyped = app
        .post(
            "/collections",
            &json!({ "name": "indexed", "dimension": 2, "distance": "dot",
                     "indexes": [{ "field": "price", "type": "keyword" }] }),
        )
        .await;
    let body = problem(retyped, StatusCode::CONFLICT, "an index of another type").await;
    assert!(body["detail"].as_str().unwrap().contains("price"), "{body}");
    for bad in [
        json!([{ "field": "", "type": "integer" }]),
        json!([{ "field": "a", "type": "integer" }, { "field": "a", "type": "float" }]),
        json!([{ "field": "a", "type": "geo" }]),
    ] {
        let refused = app
            .post(
                "/collections",
                &json!({ "name": "bad", "dimension": 2, "distance": "dot", "indexes": bad }),
            )
            .await;
        let body = problem(refused, StatusCode::UNPROCESSABLE_ENTITY, &bad.to_string()).await;
        assert_eq!(body["kind"], "invalid_input", "{bad}: {body}");
    }
    app.stop().await;
}

/// `GET /collections/{name}/items` pages by cursor with a `next` link (and `Link` header)
/// that keeps the filter; `PATCH` merges a payload; `POST .../items/delete` deletes by
/// filter and refuses an empty one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn items_are_paged_patched_and_deleted_by_filter() {
    let app = TestApp::spawn(&[]).await;
    app.create("pages", 2, "dot").await;
    let items: Vec<Value> = (1..=5)
        .map(|id| {
            let color = if id % 2 == 1 { "red" } else { "blue" };
            json!({ "id": id, "vector": [1.0, f64::from(id)], "payload": { "color": color } })
        })
        .collect();
    app.upsert("pages", Value::Array(items)).await;

    let filter = r#"{"must":[{"match":{"key":"color","value":"red"}}]}"#;
    let mut url = format!(
        "/collections/pages/items?limit=2&filter={}",
        filter
            .replace('{', "%7B")
            .replace('}', "%7D")
            .replace('"', "%22")
    );
    let mut pages = Vec::new();
    loop {
        let response = app.get(&url).await;
        assert_eq!(response.status(), StatusCode::OK, "{url}");
        let link = response
            .headers()
            .get("link")
            .map(|v| v.to_str().unwrap().to_owned());
        let body: Value = response.json().await.unwrap();
        let ids: Vec<u64> = body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["id"].as_u64().unwrap())
            .collect();
        pages.push(ids);
        let Some(next) = body["next"].as_str() else {
            assert_eq!(link, None, "the last page has no Link");
            break;
        };
        assert_eq!(link, Some(format!("<{next}>; rel=\"next\"")));
        url = next.to_owned();
    }
    assert_eq!(pages, vec![vec![1, 3], vec![5]], "red items, two per page");

    let bad = app.get("/collections/pages/items?filter=nope").await;
    let body = problem(bad, StatusCode::UNPROCESSABLE_ENTITY, "not a filter").await;
    assert!(
        body["detail"].as_str().unwrap().contains("not a filter"),
        "{body}"
    );
    let bad = app.get("/collections/pages/items?cursor=x").await;
    let body = problem(bad, StatusCode::UNPROCESSABLE_ENTITY, "invalid item id").await;
    assert!(
        body["detail"].as_str().unwrap().contains("invalid item id"),
        "{body}"
    );

    let patched = app
        .send_json(
            Method::PATCH,
            "/collections/pages/items/2",
            &json!({ "size": 40 }),
        )
        .await;
    assert_eq!(patched.status(), StatusCode::NO_CONTENT);
    let item: Value = app
        .get("/collections/pages/items/2")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(item["payload"], json!({ "color": "blue", "size": 40 }));
    let missing = app
        .send_json(
            Method::PATCH,
            "/collections/pages/items/9",
            &json!({ "a": 1 }),
        )
        .await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let empty = app
        .send_json(Method::PATCH, "/collections/pages/items/2", &json!({}))
        .await;
    let body = problem(empty, StatusCode::UNPROCESSABLE_ENTITY, "empty payload").await;
    assert!(
        body["detail"].as_str().unwrap().contains("empty payload"),
        "{body}"
    );

    let everything = app
        .post("/collections/pages/items/delete", &json!({ "filter": {} }))
        .await;
    let body = problem(everything, StatusCode::UNPROCESSABLE_ENTITY, "empty filter").await;
    assert!(
        body["detail"].as_str().unwrap().contains("empty filter"),
        "{body}"
    );
    assert_eq!(app.count("pages").await, 5, "nothing was deleted");
    let deleted = app
        .post(
            "/collections/pages/items/delete",
            &json!({ "filter": { "must": [{ "match": { "key": "color", "value": "red" } }] } }),
        )
        .await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.count("pages").await, 2, "the three red items are gone");
    app.stop().await;
}

/// `POST /collections/{name}/query`: more like a stored item (left out of the hits), and
/// a fusion of two filtered stages; errors are problems.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_universal_query_finds_similar_items_and_fuses_stages() {
    let app = TestApp::spawn(&[]).await;
    app.create("q", 2, "dot").await;
    app.upsert(
        "q",
        json!([
            { "id": 1, "vector": [1.0, 0.0], "payload": { "color": "red" } },
            { "id": 2, "vector": [0.9, 0.1], "payload": { "color": "blue" } },
            { "id": 3, "vector": [0.0, 1.0], "payload": { "color": "red" } },
        ]),
    )
    .await;
    let ids = |body: &Value| -> Vec<u64> {
        body["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["id"].as_u64().unwrap())
            .collect()
    };
    let like = app
        .post(
            "/collections/q/query",
            &json!({ "query": { "nearest": { "point": 1 } }, "limit": 2 }),
        )
        .await;
    assert_eq!(like.status(), StatusCode::OK);
    assert_eq!(header(&like, "x-cache"), "bypass", "no Redis in this test");
    assert_eq!(ids(&like.json().await.unwrap()), vec![2, 3]);

    let red = json!({ "must": [{ "match": { "key": "color", "value": "red" } }] });
    let fused = app
        .post(
            "/collections/q/query",
            &json!({
                "prefetch": [
                    { "query": { "nearest": { "vector": [0.0, 1.0] } }, "filter": red, "limit": 1 },
                    { "query": { "nearest": { "vector": [1.0, 0.0] } }, "limit": 1 },
                ],
                "query": { "fusion": { "rrf": { "k": 2 } } },
                "limit": 5,
            }),
        )
        .await;
    assert_eq!(fused.status(), StatusCode::OK);
    let mut got = ids(&fused.json().await.unwrap());
    got.sort_unstable();
    assert_eq!(got, vec![1, 3], "each stage's best, merged");

    let wrong = app
        .post(
            "/collections/q/query",
            &json!({ "query": { "nearest": { "vector": [1.0, 0.0, 0.0] } }, "limit": 2 }),
        )
        .await;
    let body = problem(wrong, StatusCode::UNPROCESSABLE_ENTITY, "a wrong dimension").await;
    assert!(
        body["detail"].as_str().unwrap().contains("dimension"),
        "{body}"
    );
    let missing = app
        .post(
            "/collections/absent/query",
            &json!({ "query": { "nearest": { "point": 1 } }, "limit": 2 }),
        )
        .await;
    problem(missing, StatusCode::NOT_FOUND, "a missing collection").await;
    app.stop().await;
}

/// A collection with a sparse vector beside the dense one, tuned at creation: a hybrid
/// query (dense and sparse stages, RRF) finds the item only the keywords match, which the
/// dense stage alone misses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hybrid_queries_find_what_dense_search_misses() {
    let app = TestApp::spawn(&[]).await;
    let created = app
        .post(
            "/collections",
            &json!({
                "name": "hybrid", "dimension": 2, "distance": "dot",
                "sparse_vectors": { "words": { "idf": true } },
                "hnsw": { "m": 8, "ef_construct": 64 },
                "on_disk_payload": false,
            }),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    app.upsert(
        "hybrid",
        json!([
            { "id": 1, "vector": [1.0, 0.0], "sparse": { "words": { "indices": [1], "values": [1.0] } } },
            { "id": 2, "vector": [0.9, 0.1], "sparse": { "words": { "indices": [2], "values": [1.0] } } },
            { "id": 3, "vector": [-1.0, 0.0], "sparse": { "words": { "indices": [7], "values": [1.0] } } },
        ]),
    )
    .await;
    let hit_ids = |body: Value| -> Vec<u64> {
        body["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["id"].as_u64().unwrap())
            .collect()
    };
    let dense = json!({ "query": { "nearest": { "vector": [1.0, 0.0] } }, "limit": 2 });
    let response = app.post("/collections/hybrid/query", &dense).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(hit_ids(response.json().await.unwrap()), vec![1, 2]);
    let hybrid = json!({
        "prefetch": [
            { "query": { "nearest": { "vector": [1.0, 0.0] } }, "limit": 2 },
            {
                "query": { "nearest": { "vector": { "indices": [7], "values": [1.0] } } },
                "using": "words",
                "limit": 2,
            },
        ],
        "query": { "fusion": { "rrf": { "k": 2 } } },
        "limit": 3,
    });
    let response = app.post("/collections/hybrid/query", &hybrid).await;
    assert_eq!(response.status(), StatusCode::OK);
    let ids = hit_ids(response.json().await.unwrap());
    assert!(ids.contains(&3), "the keyword-only match is found: {ids:?}");

    // The same declaration is accepted again; another sparse modifier conflicts; a sparse
    // name the service does not take is refused.
    let again = app
        .post(
            "/collections",
            &json!({ "name": "hybrid", "dimension": 2, "distance": "dot",
                     "sparse_vectors": { "words": { "idf": true } } }),
        )
        .await;
    assert_eq!(again.status(), StatusCode::OK);
    let conflict = app
        .post(
            "/collections",
            &json!({ "name": "hybrid", "dimension": 2, "distance": "dot",
                     "sparse_vectors": { "words": { "idf": false } } }),
        )
        .await;
    problem(conflict, StatusCode::CONFLICT, "another IDF modifier").await;
    let bad = app
        .post(
            "/collections",
            &json!({ "name": "other", "dimension": 2, "distance": "dot",
                     "sparse_vectors": { "no spaces": {} } }),
        )
        .await;
    let body = problem(bad, StatusCode::UNPROCESSABLE_ENTITY, "a bad sparse name").await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("sparse vector name"),
        "{body}"
    );
    app.stop().await;
}

/// A collection of named dense vectors (each with its own dimension, distance and
/// tuning): items carry `vectors` by name, reads show them, and a search or query picks
/// one by name; mixing the two forms is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn named_vectors_are_declared_written_and_searched_by_name() {
    let app = TestApp::spawn(&[]).await;
    let declaration = json!({
        "name": "media",
        "vectors": {
            "text": { "dimension": 2, "distance": "cosine" },
            "image": { "dimension": 3, "distance": "euclid", "hnsw": { "m": 8 }, "on_disk": false },
        },
        "sparse_vectors": { "words": {} },
    });
    let created = app.post("/collections", &declaration).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let view: Value = created.json().await.unwrap();
    assert_eq!(view["vectors"]["image"]["dimension"], json!(3));
    assert!(view.get("dimension").is_none(), "{view}");
    let again = app.post("/collections", &declaration).await;
    assert_eq!(again.status(), StatusCode::OK);
    let info: Value = app.get("/collections/media").await.json().await.unwrap();
    assert_eq!(info["dimension"], json!(0), "no unnamed vector: {info}");
    assert_eq!(
        info["vectors"]["dense"]["text"]["distance"],
        json!("cosine")
    );
    assert_eq!(info["vectors"]["dense"]["image"]["dimension"], json!(3));

    app.upsert(
        "media",
        json!([
            { "id": 1, "vectors": { "text": [1.0, 0.0], "image": [0.0, 0.0, 9.0] } },
            { "id": 2, "vectors": { "text": [0.0, 1.0], "image": [0.0, 0.0, 1.0] } },
            { "id": 3, "vectors": { "text": [0.9, 0.1] },
              "sparse": { "words": { "indices": [4], "values": [1.0] } } },
        ]),
    )
    .await;
    let item: Value = app
        .get("/collections/media/items/3?with_vector=true")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        item["vectors"]["text"].as_array().map(Vec::len),
        Some(2),
        "{item}"
    );
    assert!(item["vectors"].get("image").is_none(), "{item}");
    assert_eq!(item["sparse"]["words"]["indices"], json!([4]));
    assert!(item.get("vector").is_none(), "{item}");

    let (_, by_text) = app
        .search("media", &json!({ "vector": [1.0, 0.0], "using": "text" }))
        .await;
    assert_eq!(by_text, [json!(1), json!(3), json!(2)]);
    let (_, by_image) = app
        .search(
            "media",
            &json!({ "vector": [0.0, 0.0, 0.0], "using": "image" }),
        )
        .await;
    assert_eq!(by_image, [json!(2), json!(1)], "item 3 has no image vector");
    let query = json!({ "query": { "nearest": { "point": 2 } }, "using": "image", "limit": 1 });
    let response = app.post("/collections/media/query", &query).await;
    assert_eq!(response.status(), StatusCode::OK);
    let hits: Value = response.json().await.unwrap();
    assert_eq!(hits["hits"][0]["id"], json!(1), "{hits}");

    // The unnamed form against named vectors, both forms at once, half a form: refused.
    let unnamed = app
        .put(
            "/collections/media/items",
            &json!({ "items": [{ "id": 4, "vector": [1.0, 0.0] }] }),
        )
        .await;
    problem(
        unnamed,
        StatusCode::UNPROCESSABLE_ENTITY,
        "an unnamed vector",
    )
    .await;
    let search = app
        .post(
            "/collections/media/search",
            &json!({ "vector": [1.0, 0.0] }),
        )
        .await;
    problem(
        search,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a search without using",
    )
    .await;
    for (body, what) in [
        (
            json!({ "name": "x", "dimension": 2, "distance": "dot",
                    "vectors": { "text": { "dimension": 2, "distance": "dot" } } }),
            "exclude each other",
        ),
        (json!({ "name": "x", "dimension": 2 }), "both or neither"),
        (
            json!({ "name": "x", "vectors": {} }),
            "declares no named vector",
        ),
        (
            json!({ "name": "x", "dimension": null, "distance": "dot" }),
            "dimension: a non-negative integer",
        ),
    ] {
        let response = app.post("/collections", &body).await;
        let problem = problem(response, StatusCode::UNPROCESSABLE_ENTITY, what).await;
        assert!(
            problem["detail"].as_str().unwrap().contains(what),
            "{what}: {problem}"
        );
    }
    app.stop().await;
}

/// `POST /collections/{name}/facet` counts the items per value of an indexed field, the
/// most frequent first, within a filter; a field without an index is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn indexed_fields_are_faceted() {
    let app = TestApp::spawn(&[]).await;
    let created = app
        .post(
            "/collections",
            &json!({
                "name": "faceted", "dimension": 2, "distance": "dot",
                "indexes": [{ "field": "color", "type": "keyword" }],
            }),
        )
        .await;
    let status = created.status();
    assert_eq!(
        status,
        StatusCode::CREATED,
        "{}",
        created.text().await.unwrap()
    );
    app.upsert(
        "faceted",
        json!([
            { "id": 1, "vector": [1.0, 0.0], "payload": { "color": "red", "size": 1 } },
            { "id": 2, "vector": [0.0, 1.0], "payload": { "color": "blue", "size": 2 } },
            { "id": 3, "vector": [0.5, 0.5], "payload": { "color": "red", "size": 3 } },
        ]),
    )
    .await;
    let facet = app
        .post(
            "/collections/faceted/facet",
            &json!({ "key": "color", "exact": true }),
        )
        .await;
    assert_eq!(facet.status(), StatusCode::OK);
    let body: Value = facet.json().await.unwrap();
    assert_eq!(
        body["hits"],
        json!([{ "value": "red", "count": 2 }, { "value": "blue", "count": 1 }]),
        "most frequent first"
    );
    let large = json!({ "must": [{ "range": { "key": "size", "range": { "gte": 2 } } }] });
    let filtered = app
        .post(
            "/collections/faceted/facet",
            &json!({ "key": "color", "filter": large, "exact": true, "limit": 1 }),
        )
        .await;
    assert_eq!(filtered.status(), StatusCode::OK);
    let body: Value = filtered.json().await.unwrap();
    assert_eq!(
        body["hits"].as_array().map(Vec::len),
        Some(1),
        "at most the limit"
    );

    let unindexed = app
        .post("/collections/faceted/facet", &json!({ "key": "size" }))
        .await;
    problem(
        unindexed,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a facet without an index",
    )
    .await;
    let missing = app
        .post("/collections/absent/facet", &json!({ "key": "color" }))
        .await;
    problem(missing, StatusCode::NOT_FOUND, "a missing collection").await;
    app.stop().await;
}
