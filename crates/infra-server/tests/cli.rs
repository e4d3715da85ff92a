//! The binary as a user runs it: `infra-server [serve|check|config]`, including the
//! README's quick start (`cargo run -p infra-server` serves `/health/live`).

mod common;

use common::bin::{Served, run, stderr, stdout};

/// A local port nothing listens on, as a string.
fn closed_port() -> String {
    common::closed_port().to_string()
}

#[test]
fn config_prints_the_effective_configuration_as_json() {
    let out = run(&["config"], &[("SOCIAL_REDIS__PORT", "6390")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(json["redis"]["port"], 6390, "env key applied");
    assert_eq!(json["qdrant"]["port"], 6334, "default kept");
    assert_eq!(json["qdrant"]["mode"], "embedded");
}

#[test]
fn config_never_prints_secrets() {
    let marker = "s3cr3t-MARKER-4f1c";
    let out = run(
        &["config"],
        &[
            ("SOCIAL_REDIS__PASSWORD", marker),
            ("SOCIAL_QDRANT__MODE", "remote"),
            ("SOCIAL_QDRANT__API_KEY", marker),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stdout(&out).contains(marker), "{}", stdout(&out));
    assert!(!stderr(&out).contains(marker));

    let url = format!("redis://app:{marker}@127.0.0.1:6379/0");
    let out = run(&["config"], &[("SOCIAL_REDIS__URL", url.as_str())]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stdout(&out).contains(marker), "{}", stdout(&out));

    // API keys and the JWT secret: the key names and scopes show, never the keys.
    let keys = format!("ci:read+write:{marker},ops:admin:{marker}-2");
    let jwt = format!("{marker}-{marker}-{marker}");
    let out = run(
        &["config"],
        &[
            ("SOCIAL_HTTP__AUTH__API_KEYS", keys.as_str()),
            ("SOCIAL_HTTP__AUTH__JWT__SECRET", jwt.as_str()),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let shown = stdout(&out);
    assert!(!shown.contains(marker), "{shown}");
    assert!(shown.contains("ci:read+write:[REDACTED]"), "{shown}");
}

#[test]
fn bad_configuration_exits_2_with_one_line_per_problem_naming_the_key() {
    for args in [&["config"][..], &["check"], &[]] {
        let out = run(args, &[("SOCIAL_REDIS__PORT", "0")]);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = stderr(&out);
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 1, "{args:?}: {err}");
        assert!(lines[0].contains("SOCIAL_REDIS__PORT"), "{err}");
        assert!(stdout(&out).is_empty());
    }

    let marker = "hunter2-MARKER-77aa";
    let url = format!("ftp://app:{marker}@127.0.0.1:6379");
    let out = run(
        &["config"],
        &[
            ("SOCIAL_REDIS__URL", url.as_str()),
            ("SOCIAL_HTTP__PORT", "70000"),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 2, "both problems reported: {err}");
    assert!(
        err.contains("SOCIAL_REDIS__URL") && err.contains("SOCIAL_HTTP__PORT"),
        "{err}"
    );
    assert!(!err.contains(marker), "secret echoed: {err}");
}

#[test]
fn help_documents_commands_and_keys_and_bad_arguments_are_usage_errors() {
    let out = run(&["--help"], &[]);
    assert!(out.status.success());
    let help = stdout(&out);
    for word in [
        "serve",
        "check",
        "--url",
        "config",
        "SOCIAL_REDIS__",
        "SOCIAL_QDRANT__MODE",
    ] {
        assert!(help.contains(word), "{word}: {help}");
    }
    let out = run(&["--version"], &[]);
    assert_eq!(
        stdout(&out).trim(),
        format!("infra-server {}", env!("CARGO_PKG_VERSION"))
    );
    let out = run(&["frobnicate"], &[]);
    assert_eq!(out.status.code(), Some(64));
    assert!(stderr(&out).contains("unknown arguments"));
}

#[test]
fn check_without_redis_warns_and_exits_0() {
    let port = closed_port();
    let out = run(&["check"], &[("SOCIAL_REDIS__PORT", port.as_str())]);
    let table = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{table}{}", stderr(&out));
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[1].starts_with("COMPONENT"), "{table}");
    let redis = lines
        .iter()
        .find(|l| l.starts_with("redis"))
        .expect("a redis row");
    assert!(
        redis.contains(" no ") && redis.contains(" fail ") && redis.contains("unavailable"),
        "{redis}"
    );
    let qdrant = lines
        .iter()
        .find(|l| l.starts_with("qdrant"))
        .expect("a qdrant row");
    assert!(
        qdrant.contains(" yes ") && qdrant.contains(" pass "),
        "{qdrant}"
    );
    assert_eq!(lines.last(), Some(&"status: warn (ready)"), "{table}");
}

#[test]
fn check_exits_1_when_a_critical_component_fails() {
    let port = closed_port();
    let out = run(
        &["check"],
        &[
            ("SOCIAL_REDIS__PORT", port.as_str()),
            ("SOCIAL_REDIS__CRITICAL", "true"),
        ],
    );
    let table = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{table}{}", stderr(&out));
    assert!(table.contains("status: fail (not ready)"), "{table}");

    let out = run(
        &["check"],
        &[
            ("SOCIAL_REDIS__ENABLED", "false"),
            ("SOCIAL_QDRANT__MODE", "remote"),
            ("SOCIAL_QDRANT__URL", &format!("http://127.0.0.1:{port}")),
            ("SOCIAL_QDRANT__TIMEOUT", "500ms"),
        ],
    );
    let table = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{table}{}", stderr(&out));
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("qdrant") && l.contains(" fail ")),
        "{table}"
    );
}

#[test]
fn the_readme_quick_start_serves_health_and_stops_gracefully() {
    // `cargo run -p infra-server` with nothing configured; only the port is made free (and
    // Redis certainly absent) so that tests can run in parallel.
    let redis_port = closed_port();
    let served = Served::start(
        &[],
        &[
            ("SOCIAL_HTTP__PORT", "0"),
            ("SOCIAL_REDIS__PORT", redis_port.as_str()),
        ],
    );
    let (status, body) = served.get("/health/live");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, r#"{"status":"pass"}"#);
    let (status, body) = served.get("/health/ready");
    assert_eq!((status, body.as_str()), (200, r#"{"status":"warn"}"#));
    let (status, body) = served.get("/openapi.json");
    assert_eq!(status, 200);
    assert!(
        body.starts_with('{') && body.contains("\"openapi\""),
        "{body}"
    );
    // The embedded store lives in ./data/qdrant of the working directory.
    assert!(served.dir.path().join("data/qdrant").is_dir());

    let (code, stderr) = served.terminate();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("shutdown complete"), "{stderr}");
}

#[test]
fn check_url_asks_a_running_service() {
    let redis_port = closed_port();
    let served = Served::start(
        &["serve"],
        &[
            ("SOCIAL_HTTP__PORT", "0"),
            ("SOCIAL_REDIS__PORT", redis_port.as_str()),
        ],
    );
    let url = format!("http://{}", served.address);
    let out = run(&["check", "--url", &url], &[]);
    let table = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{table}{}", stderr(&out));
    assert!(
        table.starts_with(&format!("source: {url}/health/infra")),
        "{table}"
    );
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("redis") && l.contains(" fail ")),
        "{table}"
    );
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("qdrant") && l.contains(" pass ")),
        "{table}"
    );
    assert!(table.ends_with("status: warn (ready)\n"), "{table}");
    let (code, _) = served.terminate();
    assert_eq!(code, Some(0));

    // Nothing listening any more: not ready.
    let out = run(&["check", "--url", &url], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains(&url), "{}", stderr(&out));
    let out = run(&["check", "--url", "https://example.invalid"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("expected http://host:port"));
}

#[test]
fn with_fail_fast_serve_exits_1_when_a_critical_component_cannot_start() {
    let redis_port = closed_port();
    let out = run(
        &["serve"],
        &[
            ("SOCIAL_HTTP__PORT", "0"),
            ("SOCIAL_REDIS__PORT", redis_port.as_str()),
            ("SOCIAL_REDIS__CRITICAL", "true"),
            ("SOCIAL_HEALTH__FAIL_FAST", "true"),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).is_empty(), "never listened");
    assert!(
        stderr(&out).contains("cannot start: redis init"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_route_timeout_for_a_route_the_service_does_not_serve_exits_2() {
    let out = run(
        &["serve"],
        &[
            ("SOCIAL_HTTP__PORT", "0"),
            ("SOCIAL_REDIS__ENABLED", "false"),
            (
                "SOCIAL_HTTP__ROUTE_TIMEOUTS",
                "/collections/{name}/search=5s,/colections=1s",
            ),
        ],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(stdout(&out).is_empty(), "never listened");
    assert!(
        err.contains(
            "invalid configuration: SOCIAL_HTTP__ROUTE_TIMEOUTS: /colections is not a route"
        ),
        "{err}"
    );
    assert!(
        err.contains("/collections/{name}/search"),
        "lists the routes: {err}"
    );

    // The served routes are accepted, the metrics path included.
    let served = Served::start(
        &["serve"],
        &[
            ("SOCIAL_HTTP__PORT", "0"),
            ("SOCIAL_REDIS__ENABLED", "false"),
            (
                "SOCIAL_HTTP__ROUTE_TIMEOUTS",
                "/collections/{name}/search=5s,/metrics=1s,/health/ready=2s",
            ),
        ],
    );
    assert_eq!(served.get("/health/live").0, 200);
    let (code, stderr) = served.terminate();
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn a_critical_component_down_at_start_leaves_the_service_live_but_not_ready() {
    // The default: no crash loop when a dependency is down at boot.
    let redis_port = closed_port();
    let served = Served::start(
        &["serve"],
        &[
            ("SOCIAL_HTTP__PORT", "0"),
            ("SOCIAL_REDIS__PORT", redis_port.as_str()),
            ("SOCIAL_REDIS__CRITICAL", "true"),
        ],
    );
    let (status, body) = served.get("/health/live");
    assert_eq!((status, body.as_str()), (200, r#"{"status":"pass"}"#));
    let (status, body) = served.get("/health/ready");
    assert_eq!(
        (status, body.as_str()),
        (
            503,
            r#"{"status":"fail","output":"redis: unavailable: connection refused"}"#
        )
    );
    let (code, stderr) = served.terminate();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("critical component failed to initialize; the service is not ready"),
        "{stderr}"
    );
}

#[test]
fn json_logs_are_one_object_per_line_with_the_request_span() {
    let redis_port = closed_port();
    let served = Served::start(
        &[],
        &[
            ("SOCIAL_HTTP__PORT", "0"),
            ("SOCIAL_REDIS__PORT", redis_port.as_str()),
            ("SOCIAL_LOG__FORMAT", "json"),
            ("SOCIAL_LOG__LEVEL", "info"),
        ],
    );
    let (status, _) = served.get("/health/live");
    assert_eq!(status, 200);
    let (code, stderr) = served.terminate();
    assert_eq!(code, Some(0), "{stderr}");
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|err| panic!("not JSON ({err}): {line}"))
        })
        .collect();
    assert!(lines.len() > 3, "{stderr}");
    // The response line of the request carries its span: route template and request id.
    let response = lines
        .iter()
        .find(|l| l["span"]["route"] == "/health/live")
        .unwrap_or_else(|| panic!("no line inside the request span:\n{stderr}"));
    assert_eq!(response["span"]["name"], "request");
    assert_eq!(
        response["span"]["request_id"].as_str().map(str::len),
        Some(36)
    );
}
