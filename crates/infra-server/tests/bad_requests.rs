//! Tier 1: bad requests over real HTTP (`docs/reliability.md`, "Bad requests"). The
//! service runs with the embedded store in a temp dir and Redis absent (a closed port, not
//! critical). Every
//! bad request is a 4xx `application/problem+json`, never a 500 or a dropped connection,
//! and a follow-up read proves that none of them wrote anything.

// One scenario told from start to end: splitting it would hide the story.
#![allow(clippy::too_many_lines)]

mod common;

use common::{TestApp, problem};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_4xx_problems_and_write_nothing() {
    // A 64 KiB body limit; the oversized bodies below are at most 1 MiB over it, so the
    // service reads them through before its 413 and the client always reads the answer.
    let app = TestApp::spawn(&[("SOCIAL_HTTP__BODY_LIMIT", "65536")]).await;
    app.create("items", 2, "cosine").await;
    app.upsert(
        "items",
        json!([{ "id": 1, "vector": [1.0, 0.0] }, { "id": 2, "vector": [0.0, 1.0] }]),
    )
    .await;

    let items = "/collections/items/items";
    let search = "/collections/items/search";
    let raw = |method: Method, path: &str, content_type: &str, body: Vec<u8>| {
        app.client
            .request(method, app.url(path))
            .header("content-type", content_type)
            .body(body)
            .send()
    };

    // Malformed JSON: 400.
    let response = raw(
        Method::PUT,
        items,
        "application/json",
        b"{\"items\": [".to_vec(),
    )
    .await
    .unwrap();
    let body = problem(response, StatusCode::BAD_REQUEST, "malformed JSON").await;
    assert_eq!(body["kind"], "bad_request");
    // Not JSON at all: 415.
    let response = raw(Method::PUT, items, "text/plain", b"hello".to_vec())
        .await
        .unwrap();
    problem(response, StatusCode::UNSUPPORTED_MEDIA_TYPE, "text/plain").await;
    // A body over the limit: 413.
    let huge = format!(
        "{{\"items\": [{{\"id\": 3, \"vector\": [1.0, 0.0], \"payload\": {{\"blob\": \"{}\"}}}}]}}",
        "x".repeat(256 * 1024)
    );
    let response = raw(Method::PUT, items, "application/json", huge.into_bytes())
        .await
        .unwrap();
    problem(response, StatusCode::PAYLOAD_TOO_LARGE, "huge body").await;
    // The same limit on every route that takes a body.
    let huge_query = format!("{{\"vector\": [{}1.0]}}", "0.5, ".repeat(40_000));
    let response = raw(
        Method::POST,
        search,
        "application/json",
        huge_query.into_bytes(),
    )
    .await
    .unwrap();
    problem(response, StatusCode::PAYLOAD_TOO_LARGE, "huge search body").await;
    // Malformed, empty, truncated or absurdly nested JSON on every route: 400, never a
    // crash (the nesting is far beyond serde_json's recursion limit). Bodies are read as
    // JSON of any shape first (`ApiJson`), so an item list nested that deep stops at the
    // recursion limit too: 400, before any field is read.
    let deep = format!("{}{}", "[".repeat(20_000), "]".repeat(20_000));
    let response = raw(
        Method::PUT,
        items,
        "application/json",
        format!("{{\"items\": {deep}}}").into_bytes(),
    )
    .await
    .unwrap();
    problem(response, StatusCode::BAD_REQUEST, "deep items").await;
    for (path, method, body) in [
        (search, Method::POST, b"{\"vector\": [1.0,".to_vec()),
        ("/collections", Method::POST, b"{name: items}".to_vec()),
        (items, Method::PUT, Vec::new()),
        (search, Method::POST, b"\xff\xfe not utf-8".to_vec()),
        (
            search,
            Method::POST,
            format!("{{\"vector\": [1.0, 0.0], \"filter\": {deep}}}").into_bytes(),
        ),
    ] {
        let what = format!("{method} {path} with {} bad bytes", body.len());
        let response = raw(method, path, "application/json", body).await.unwrap();
        let body = problem(response, StatusCode::BAD_REQUEST, &what).await;
        assert_eq!(body["kind"], "bad_request", "{what}: {body}");
    }

    let unprocessable: Vec<(&str, Method, &str, Value)> = vec![
        (
            "wrong dimension",
            Method::PUT,
            items,
            json!({ "items": [{ "id": 3, "vector": [1.0, 0.0, 0.0] }] }),
        ),
        (
            "mixed dimensions",
            Method::PUT,
            items,
            json!({ "items": [{ "id": 3, "vector": [1.0, 0.0] }, { "id": 4, "vector": [1.0] }] }),
        ),
        (
            "negative id",
            Method::PUT,
            items,
            json!({ "items": [{ "id": -1, "vector": [1.0, 0.0] }] }),
        ),
        (
            "non-UUID string id",
            Method::PUT,
            items,
            json!({ "items": [{ "id": "abc", "vector": [1.0, 0.0] }] }),
        ),
        (
            "fractional id",
            Method::PUT,
            items,
            json!({ "items": [{ "id": 1.5, "vector": [1.0, 0.0] }] }),
        ),
        (
            "duplicate ids",
            Method::PUT,
            items,
            json!({ "items": [{ "id": 3, "vector": [1.0, 0.0] }, { "id": 3, "vector": [0.0, 1.0] }] }),
        ),
        ("empty batch", Method::PUT, items, json!({ "items": [] })),
        (
            "payload not an object",
            Method::PUT,
            items,
            json!({ "items": [{ "id": 3, "vector": [1.0, 0.0], "payload": [1, 2] }] }),
        ),
        (
            "unknown field",
            Method::PUT,
            items,
            json!({ "items": [{ "id": 3, "vector": [1.0, 0.0], "colour": "red" }] }),
        ),
        (
            "non-finite component",
            Method::PUT,
            items,
            json!({ "items": [{ "id": 3, "vector": [1e39, 0.0] }] }),
        ),
        (
            "absurd limit",
            Method::POST,
            search,
            json!({ "vector": [1.0, 0.0], "limit": 1_000_000 }),
        ),
        (
            "zero limit",
            Method::POST,
            search,
            json!({ "vector": [1.0, 0.0], "limit": 0 }),
        ),
        (
            "negative limit",
            Method::POST,
            search,
            json!({ "vector": [1.0, 0.0], "limit": -5 }),
        ),
        (
            "search dimension",
            Method::POST,
            search,
            json!({ "vector": [1.0, 0.0, 1.0] }),
        ),
        (
            "empty query vector",
            Method::POST,
            search,
            json!({ "vector": [] }),
        ),
        (
            "unknown filter condition",
            Method::POST,
            search,
            json!({ "vector": [1.0, 0.0], "filter": { "must": [{ "like": { "key": "a" } }] } }),
        ),
        (
            "bad collection name",
            Method::POST,
            "/collections",
            json!({ "name": "no/slash", "dimension": 2, "distance": "dot" }),
        ),
        (
            "zero dimension",
            Method::POST,
            "/collections",
            json!({ "name": "zero", "dimension": 0, "distance": "dot" }),
        ),
        (
            "unknown distance",
            Method::POST,
            "/collections",
            json!({ "name": "d", "dimension": 2, "distance": "hamming" }),
        ),
        (
            "body not an object",
            Method::PUT,
            items,
            json!([{ "id": 3, "vector": [1.0, 0.0] }]),
        ),
        ("body null", Method::POST, search, Value::Null),
        (
            "id beyond u64",
            Method::PUT,
            items,
            json!({ "items": [{ "id": 18_446_744_073_709_551_616_f64, "vector": [1.0, 0.0] }] }),
        ),
        (
            "malformed UUID",
            Method::PUT,
            items,
            json!({ "items": [{ "id": "5f0c6f8e-zzzz-4c7a-9a63-0f1f2d3c4b5a", "vector": [1.0, 0.0] }] }),
        ),
        (
            "vector not numbers",
            Method::PUT,
            items,
            json!({ "items": [{ "id": 3, "vector": ["1", "0"] }] }),
        ),
        (
            "limit as text",
            Method::POST,
            search,
            json!({ "vector": [1.0, 0.0], "limit": "10" }),
        ),
        (
            "limit beyond u64",
            Method::POST,
            search,
            json!({ "vector": [1.0, 0.0], "limit": 1e30 }),
        ),
        (
            "huge query vector",
            Method::POST,
            search,
            json!({ "vector": vec![0.5; 4096] }),
        ),
        (
            "absurd dimension",
            Method::POST,
            "/collections",
            json!({ "name": "wide", "dimension": 1_000_000_000_u64, "distance": "dot" }),
        ),
        (
            "name too long",
            Method::POST,
            "/collections",
            json!({ "name": "n".repeat(10_000), "dimension": 2, "distance": "dot" }),
        ),
        (
            "empty name",
            Method::POST,
            "/collections",
            json!({ "name": "", "dimension": 2, "distance": "dot" }),
        ),
        (
            "name in the path",
            Method::PUT,
            "/collections/a%20b/items",
            json!({ "items": [{ "id": 3, "vector": [1.0, 0.0] }] }),
        ),
    ];
    for (what, method, path, body) in unprocessable {
        let response = app.send_json(method, path, &body).await;
        let body = problem(response, StatusCode::UNPROCESSABLE_ENTITY, what).await;
        assert_eq!(body["kind"], "invalid_input", "{what}: {body}");
    }

    // Invalid ids in the path.
    for path in [
        "/collections/items/items/abc",
        "/collections/items/items/-3",
        "/collections/items/items/18446744073709551616",
        "/collections/items/items/1.5",
        "/collections/items/items/5f0c6f8e-zzzz-4c7a-9a63-0f1f2d3c4b5a",
    ] {
        let body = problem(app.get(path).await, StatusCode::UNPROCESSABLE_ENTITY, path).await;
        assert!(
            body["detail"].as_str().unwrap().contains("item id"),
            "{body}"
        );
        problem(
            app.delete(path).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            path,
        )
        .await;
    }
    problem(
        app.get("/collections/items/items/1?with_vector=maybe")
            .await,
        StatusCode::BAD_REQUEST,
        "bad query parameter",
    )
    .await;

    // Unknown collection: 404.
    for (method, path) in [
        (Method::GET, "/collections/nope/items/1"),
        (Method::DELETE, "/collections/nope/items/1"),
        (Method::GET, "/collections/nope"),
    ] {
        let what = format!("{method} {path}");
        let response = app
            .client
            .request(method, app.url(path))
            .send()
            .await
            .unwrap();
        let body = problem(response, StatusCode::NOT_FOUND, &what).await;
        assert_eq!(body["kind"], "not_found", "{what}: {body}");
    }
    for (method, path, body) in [
        (
            Method::POST,
            "/collections/nope/search",
            json!({ "vector": [1.0, 0.0] }),
        ),
        (
            Method::PUT,
            "/collections/nope/items",
            json!({ "items": [{ "id": 3, "vector": [1.0, 0.0] }] }),
        ),
    ] {
        let response = app.send_json(method, path, &body).await;
        let body = problem(response, StatusCode::NOT_FOUND, path).await;
        assert_eq!(body["kind"], "not_found");
    }
    // Unknown route and method: problems too.
    problem(
        app.get("/nope").await,
        StatusCode::NOT_FOUND,
        "unknown route",
    )
    .await;
    problem(
        app.send_json(Method::PATCH, "/collections/items", &json!({}))
            .await,
        StatusCode::METHOD_NOT_ALLOWED,
        "unknown method",
    )
    .await;

    // Nothing was written by any of them.
    assert_eq!(app.count("items").await, 2);
    for id in [3, 4] {
        problem(
            app.get(&format!("/collections/items/items/{id}")).await,
            StatusCode::NOT_FOUND,
            "never written",
        )
        .await;
    }
    for name in ["zero", "d", "nope", "wide"] {
        problem(
            app.get(&format!("/collections/{name}")).await,
            StatusCode::NOT_FOUND,
            "never created",
        )
        .await;
    }
    app.stop().await;
}

/// serde's derived readers also take a struct as an array of its fields; the service
/// refuses that shape wherever its document says object, at any depth.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arrays_where_objects_belong_are_refused() {
    let app = TestApp::spawn(&[]).await;
    let hnsw = app
        .post(
            "/collections",
            &json!({ "name": "c", "dimension": 2, "distance": "dot", "hnsw": [16, 100] }),
        )
        .await;
    let body = problem(hnsw, StatusCode::UNPROCESSABLE_ENTITY, "hnsw as an array").await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("hnsw: expected a JSON object, got an array"),
        "{body}"
    );
    app.create("c", 2, "dot").await;
    let sparse = app
        .post(
            "/collections/c/query",
            &json!({ "query": { "nearest": { "vector": [[1], [1.0]] } }, "limit": 1 }),
        )
        .await;
    let body = problem(
        sparse,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a sparse vector as an array",
    )
    .await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("query.nearest.vector: expected a JSON object"),
        "{body}"
    );
    app.stop().await;
}
