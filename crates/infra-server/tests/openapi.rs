//! The OpenAPI document: well formed, served, and in agreement with the router.

mod common;

use std::collections::{BTreeSet, HashSet};

use common::TestApp;
use infra_http::Access;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const OPERATION_METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn document() -> Value {
    infra_server::openapi::document()
}

/// Resolves a local `$ref` (`#/components/...`).
fn resolve<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    doc.pointer(reference.strip_prefix('#')?)
}

/// Follows a `$ref` if the value is one.
fn deref<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(reference) => resolve(doc, reference).unwrap_or(&Value::Null),
        None => value,
    }
}

fn collect_refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                if key == "$ref" {
                    if let Some(r) = inner.as_str() {
                        out.push(r);
                    }
                } else {
                    collect_refs(inner, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

/// `(METHOD, path)` of every operation in the document.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in OPERATION_METHODS {
            if item.get(method).is_some() {
                ops.insert((method.to_ascii_uppercase(), path.clone()));
            }
        }
    }
    ops
}

fn template_params(path: &str) -> BTreeSet<String> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
        .map(str::to_owned)
        .collect()
}

/// Checks one operation: tags, parameters, responses, request body.
fn check_operation(
    doc: &Value,
    path: &str,
    what: &str,
    operation: &Value,
    path_level: &[&Value],
    tags: &HashSet<&str>,
) {
    for tag in operation["tags"].as_array().expect("tags") {
        assert!(
            tags.contains(tag.as_str().unwrap()),
            "{what}: undeclared tag {tag}"
        );
    }

    // Path parameters: declared exactly as the template names them, required.
    let mut params = path_level.to_vec();
    if let Some(own) = operation.get("parameters").and_then(Value::as_array) {
        params.extend(own.iter().map(|p| deref(doc, p)));
    }
    let mut declared = BTreeSet::new();
    for p in &params {
        let location = p["in"].as_str().expect("parameter location");
        assert!(
            ["path", "query", "header", "cookie"].contains(&location),
            "{what}: {p}"
        );
        assert!(p["schema"].is_object(), "{what}: parameter without schema");
        if location == "path" {
            assert_eq!(p["required"], true, "{what}: path parameters are required");
            declared.insert(p["name"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(declared, template_params(path), "{what}: path parameters");

    // Responses: status codes with descriptions and, for bodies, a schema.
    let responses = operation["responses"].as_object().expect("responses");
    assert!(!responses.is_empty(), "{what}: no responses");
    assert!(
        responses.keys().any(|code| code.starts_with('2')),
        "{what}: no success response"
    );
    for (code, response) in responses {
        assert!(
            code == "default"
                || (code.len() == 3 && code.parse::<u16>().is_ok_and(|c| (100..600).contains(&c))),
            "{what}: status {code}"
        );
        let response = deref(doc, response);
        assert!(
            response["description"].is_string(),
            "{what} {code}: description"
        );
        if let Some(content) = response.get("content").and_then(Value::as_object) {
            for (media, body) in content {
                assert!(body["schema"].is_object(), "{what} {code} {media}: schema");
            }
        }
        // Errors are problems.
        if code.starts_with('4') || code.starts_with('5') {
            if path.starts_with("/health/") {
                continue;
            }
            assert!(
                response["content"]["application/problem+json"].is_object(),
                "{what} {code}: not a problem"
            );
        }
    }
    if let Some(body) = operation.get("requestBody") {
        assert!(
            body["content"]["application/json"]["schema"].is_object(),
            "{what}: request body schema"
        );
    }
}

#[test]
fn the_document_is_well_formed_openapi_3_1() {
    let doc = document();
    let version = doc["openapi"].as_str().expect("openapi member");
    let parts: Vec<&str> = version.split('.').collect();
    assert!(
        parts.len() == 3 && parts[0] == "3" && parts[1] == "1" && parts[2].parse::<u32>().is_ok(),
        "OpenAPI 3.1.x, got {version}"
    );
    assert!(doc["info"]["title"].is_string());
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    let allowed_root = [
        "openapi",
        "info",
        "jsonSchemaDialect",
        "servers",
        "paths",
        "webhooks",
        "components",
        "security",
        "tags",
        "externalDocs",
    ];
    for key in doc.as_object().unwrap().keys() {
        assert!(
            allowed_root.contains(&key.as_str()),
            "unknown root member {key}"
        );
    }

    // Every $ref is local and resolves.
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(!refs.is_empty());
    for reference in refs {
        assert!(reference.starts_with("#/components/"), "{reference}");
        assert!(resolve(&doc, reference).is_some(), "dangling {reference}");
    }

    let tags: HashSet<&str> = doc["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    let mut operation_ids = HashSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        assert!(path.starts_with('/'), "{path}");
        let path_level: Vec<&Value> = item
            .get("parameters")
            .and_then(Value::as_array)
            .map(|ps| ps.iter().map(|p| deref(&doc, p)).collect())
            .unwrap_or_default();
        for (key, operation) in item.as_object().unwrap() {
            if key == "parameters" {
                continue;
            }
            assert!(
                OPERATION_METHODS.contains(&key.as_str()),
                "{path}: unknown member {key}"
            );
            let what = format!("{} {path}", key.to_ascii_uppercase());
            let id = operation["operationId"].as_str().expect("operationId");
            assert!(
                operation_ids.insert(id.to_owned()),
                "duplicate operationId {id}"
            );
            check_operation(&doc, path, &what, operation, &path_level, &tags);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_lists_exactly_the_routes_the_router_serves() {
    let dir = tempfile::tempdir().unwrap();
    let app = infra_server::Application::build(&common::settings(dir.path(), &[]))
        .await
        .unwrap();
    let served: BTreeSet<(String, String)> = app
        .routes()
        .iter()
        .map(|r| (r.method.clone(), r.path.to_owned()))
        .collect();
    assert_eq!(
        served.len(),
        app.routes().len(),
        "no route registered twice"
    );
    let documented = operations(&document());
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty() && unserved.is_empty(),
        "served but not documented: {undocumented:?}; documented but not served: {unserved:?}"
    );

    // Each operation declares the scope the route policy enforces (public: no security).
    let doc = document();
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    for (method, path) in &served {
        let operation = &doc["paths"][path][method.to_ascii_lowercase()];
        let access = app
            .policy()
            .access(&Method::from_bytes(method.as_bytes()).unwrap(), Some(path));
        let expected = match access {
            Access::Public => json!([]),
            Access::Scope(scope) => json!([{ "bearer": [scope.as_str()] }]),
        };
        assert_eq!(operation["security"], expected, "{method} {path}");
        if let Access::Scope(_) = access {
            for code in ["401", "403"] {
                assert!(
                    operation["responses"].get(code).is_some(),
                    "{method} {path}: {code} not documented"
                );
            }
        }
    }
}

/// A path with its parameters filled in.
fn concrete(path: &str) -> String {
    path.replace("{name}", "probe").replace("{id}", "1")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_operation_answers_and_no_other_method_does() {
    let app = TestApp::spawn(&[]).await;
    let doc = document();

    let served = app.get("/openapi.json").await;
    assert_eq!(served.status(), StatusCode::OK);
    assert_eq!(common::header(&served, "content-type"), "application/json");
    assert_eq!(served.json::<Value>().await.unwrap(), doc);

    let ops = operations(&doc);
    for (method, path) in &ops {
        let url = concrete(path);
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let response = app.send_json(method.clone(), &url, &json!({})).await;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {url}");
        // The router's own 404 names the backend `http`; a handler's names the store.
        assert!(
            !(status == StatusCode::NOT_FOUND && body["backend"] == "http"),
            "{method} {url} is not routed: {body}"
        );
        // The status is one the document lists for the operation.
        let documented = &doc["paths"][path][method.as_str().to_ascii_lowercase()]["responses"];
        assert!(
            documented.get(status.as_str()).is_some(),
            "{method} {url} answered {status}, not documented: {body}"
        );
    }

    // Methods the document does not list on a path are not served.
    let paths: BTreeSet<&String> = ops.iter().map(|(_, p)| p).collect();
    for path in paths {
        for method in ["GET", "PUT", "POST", "DELETE", "PATCH"] {
            if ops.contains(&(method.to_owned(), path.clone())) {
                continue;
            }
            let response = app
                .send_json(
                    Method::from_bytes(method.as_bytes()).unwrap(),
                    &concrete(path),
                    &json!({}),
                )
                .await;
            assert_eq!(
                response.status(),
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path} is served but not documented"
            );
        }
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_examples_work() {
    let app = TestApp::spawn(&[]).await;
    let doc = document();
    let example = |path: &str, method: &str| {
        doc["paths"][path][method]["requestBody"]["content"]["application/json"]["example"].clone()
    };
    let create = app
        .post("/collections", &example("/collections", "post"))
        .await;
    assert_eq!(create.status(), StatusCode::CREATED);
    let name = example("/collections", "post")["name"]
        .as_str()
        .unwrap()
        .to_owned();
    let upsert = app
        .put(
            &format!("/collections/{name}/items"),
            &example("/collections/{name}/items", "put"),
        )
        .await;
    assert_eq!(upsert.status(), StatusCode::OK);
    let (cache, ids) = app
        .search(&name, &example("/collections/{name}/search", "post"))
        .await;
    assert_eq!(cache, "bypass");
    assert_eq!(
        ids,
        [json!(1)],
        "the red item under 100 passes the example's filter"
    );
    let query = app
        .post(
            &format!("/collections/{name}/query"),
            &example("/collections/{name}/query", "post"),
        )
        .await;
    assert_eq!(query.status(), StatusCode::OK, "the query example");
    let deleted = app
        .post(
            &format!("/collections/{name}/items/delete"),
            &example("/collections/{name}/items/delete", "post"),
        )
        .await;
    assert_eq!(
        deleted.status(),
        StatusCode::NO_CONTENT,
        "the delete example"
    );
    app.stop().await;
}
