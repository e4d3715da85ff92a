//! Tier 1: bad configuration through the real binary (`docs/reliability.md`, "Bad configuration").
//!
//! A table of bad inputs, from environment keys and from a TOML file named by
//! `SOCIAL_CONFIG_FILE`, each run through `infra-server config` and `infra-server serve`:
//! exit status 2, nothing on stdout, exactly one stderr line per problem, each naming the
//! key and what it accepts, never the secret marker, never a panic or a backtrace.
//! (`tests/cli.rs` checks the same contract for `check` and for two problems at once.)

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::bin::command;

/// A secret that must never be echoed: used as passwords and API keys in the table.
const MARKER: &str = "Bad-Config-S3cret-7d41e9";

/// One bad input.
struct Case {
    /// What is wrong, for failure messages.
    what: &'static str,
    /// Environment keys.
    env: Vec<(&'static str, String)>,
    /// A TOML file, passed with `SOCIAL_CONFIG_FILE`.
    toml: Option<String>,
    /// One needle per expected stderr line: an environment key (the line must then also
    /// say what is accepted), or a text such as a file name.
    expect: Vec<&'static str>,
}

fn env(what: &'static str, pairs: &[(&'static str, &str)], expect: &[&'static str]) -> Case {
    Case {
        what,
        env: pairs.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
        toml: None,
        expect: expect.to_vec(),
    }
}

fn toml(what: &'static str, text: &str, expect: &[&'static str]) -> Case {
    Case {
        what,
        env: Vec::new(),
        toml: Some(text.to_owned()),
        expect: expect.to_vec(),
    }
}

#[expect(clippy::too_many_lines, reason = "one table, one row per bad input")]
fn cases() -> Vec<Case> {
    let secret_url = format!("redis://app:{MARKER}@127.0.0.1:6379");
    let ftp_url = format!("ftp://app:{MARKER}@127.0.0.1:6379");
    let url_port_0 = format!("redis://app:{MARKER}@127.0.0.1:0");
    let url_bad_db = format!("redis://:{MARKER}@127.0.0.1:6379/not-a-db");
    vec![
        // Redis.
        env(
            "port above 65535",
            &[("SOCIAL_REDIS__PORT", "70000")],
            &["SOCIAL_REDIS__PORT"],
        ),
        env(
            "port not a number",
            &[("SOCIAL_REDIS__PORT", "six")],
            &["SOCIAL_REDIS__PORT"],
        ),
        env(
            "unknown URL scheme",
            &[("SOCIAL_REDIS__URL", &ftp_url)],
            &["SOCIAL_REDIS__URL"],
        ),
        env(
            "URL with port 0",
            &[("SOCIAL_REDIS__URL", &url_port_0)],
            &["SOCIAL_REDIS__URL"],
        ),
        env(
            "URL path not a db",
            &[("SOCIAL_REDIS__URL", &url_bad_db)],
            &["SOCIAL_REDIS__URL"],
        ),
        env(
            "URL not a URL",
            &[("SOCIAL_REDIS__URL", "not a url")],
            &["SOCIAL_REDIS__URL"],
        ),
        env(
            "negative db",
            &[("SOCIAL_REDIS__DB", "-1")],
            &["SOCIAL_REDIS__DB"],
        ),
        env(
            "unknown mode",
            &[("SOCIAL_REDIS__MODE", "clustered")],
            &["SOCIAL_REDIS__MODE"],
        ),
        env(
            "cluster without nodes",
            &[("SOCIAL_REDIS__MODE", "cluster")],
            &["SOCIAL_REDIS__NODES"],
        ),
        env(
            "sentinel without a master",
            &[
                ("SOCIAL_REDIS__MODE", "sentinel"),
                ("SOCIAL_REDIS__NODES", "127.0.0.1:26379"),
            ],
            &["SOCIAL_REDIS__SENTINEL_MASTER"],
        ),
        env(
            "URL in cluster mode",
            &[
                ("SOCIAL_REDIS__MODE", "cluster"),
                ("SOCIAL_REDIS__NODES", "127.0.0.1:7000"),
                ("SOCIAL_REDIS__URL", &secret_url),
            ],
            &["SOCIAL_REDIS__URL"],
        ),
        env(
            "zero pool",
            &[("SOCIAL_REDIS__POOL__MAX_SIZE", "0")],
            &["SOCIAL_REDIS__POOL__MAX_SIZE"],
        ),
        env(
            "zero wait timeout",
            &[("SOCIAL_REDIS__POOL__WAIT_TIMEOUT", "0s")],
            &["SOCIAL_REDIS__POOL__WAIT_TIMEOUT"],
        ),
        env(
            "timeout not a duration",
            &[("SOCIAL_REDIS__COMMAND_TIMEOUT", "forever")],
            &["SOCIAL_REDIS__COMMAND_TIMEOUT"],
        ),
        env(
            "absurd timeout",
            &[("SOCIAL_REDIS__CONNECT_TIMEOUT", "30days")],
            &["SOCIAL_REDIS__CONNECT_TIMEOUT"],
        ),
        env(
            "zero retry attempts",
            &[("SOCIAL_REDIS__RETRY__MAX_ATTEMPTS", "0")],
            &["SOCIAL_REDIS__RETRY__MAX_ATTEMPTS"],
        ),
        env(
            "zero breaker threshold",
            &[("SOCIAL_REDIS__CIRCUIT__FAILURE_THRESHOLD", "0")],
            &["SOCIAL_REDIS__CIRCUIT__FAILURE_THRESHOLD"],
        ),
        env(
            "boolean not a boolean",
            &[("SOCIAL_REDIS__ENABLED", "maybe")],
            &["SOCIAL_REDIS__ENABLED"],
        ),
        env(
            "TLS with a plain URL",
            &[
                ("SOCIAL_REDIS__TLS__ENABLED", "true"),
                ("SOCIAL_REDIS__URL", &secret_url),
            ],
            &["SOCIAL_REDIS__URL"],
        ),
        env(
            "CA file that does not exist",
            &[
                ("SOCIAL_REDIS__TLS__ENABLED", "true"),
                ("SOCIAL_REDIS__TLS__CA_FILE", "/nonexistent/ca.pem"),
            ],
            &["SOCIAL_REDIS__TLS__CA_FILE"],
        ),
        env(
            "unknown key",
            &[("SOCIAL_REDIS__PASWORD", MARKER)],
            &["SOCIAL_REDIS__PASWORD"],
        ),
        // Qdrant.
        env(
            "unknown vector mode",
            &[("SOCIAL_QDRANT__MODE", "cloud")],
            &["SOCIAL_QDRANT__MODE"],
        ),
        env(
            "the REST port",
            &[
                ("SOCIAL_QDRANT__MODE", "remote"),
                ("SOCIAL_QDRANT__URL", "http://127.0.0.1:6333"),
                ("SOCIAL_QDRANT__API_KEY", MARKER),
            ],
            &["SOCIAL_QDRANT__URL"],
        ),
        env(
            "unknown Qdrant scheme",
            &[
                ("SOCIAL_QDRANT__MODE", "remote"),
                ("SOCIAL_QDRANT__URL", "grpc://127.0.0.1:6334"),
            ],
            &["SOCIAL_QDRANT__URL"],
        ),
        env(
            "Qdrant TLS with an http URL",
            &[
                ("SOCIAL_QDRANT__MODE", "remote"),
                ("SOCIAL_QDRANT__TLS__ENABLED", "true"),
                ("SOCIAL_QDRANT__URL", "http://127.0.0.1:6334"),
            ],
            &["SOCIAL_QDRANT__URL"],
        ),
        env(
            "zero Qdrant timeout",
            &[("SOCIAL_QDRANT__TIMEOUT", "0ms")],
            &["SOCIAL_QDRANT__TIMEOUT"],
        ),
        env(
            "unknown compression",
            &[("SOCIAL_QDRANT__COMPRESSION", "brotli")],
            &["SOCIAL_QDRANT__COMPRESSION"],
        ),
        env(
            "zero channels",
            &[("SOCIAL_QDRANT__POOL_SIZE", "0")],
            &["SOCIAL_QDRANT__POOL_SIZE"],
        ),
        env(
            "sentinel master in standalone mode",
            &[("SOCIAL_REDIS__SENTINEL_MASTER", "mymaster")],
            &["SOCIAL_REDIS__SENTINEL_MASTER"],
        ),
        // HTTP and health.
        env(
            "negative HTTP port",
            &[("SOCIAL_HTTP__PORT", "-1")],
            &["SOCIAL_HTTP__PORT"],
        ),
        env(
            "HTTP host with a space",
            &[("SOCIAL_HTTP__HOST", "local host")],
            &["SOCIAL_HTTP__HOST"],
        ),
        env(
            "every interface without credentials",
            &[("SOCIAL_HTTP__HOST", "0.0.0.0")],
            &["SOCIAL_HTTP__AUTH__MODE"],
        ),
        env(
            "a malformed API key entry",
            &[("SOCIAL_HTTP__AUTH__API_KEYS", "ci:read:short")],
            &["SOCIAL_HTTP__AUTH__API_KEYS"],
        ),
        env(
            "JWT mode without a key",
            &[("SOCIAL_HTTP__AUTH__MODE", "jwt")],
            &["SOCIAL_HTTP__AUTH__JWT__SECRET"],
        ),
        env(
            "zero request timeout",
            &[("SOCIAL_HTTP__REQUEST_TIMEOUT", "0s")],
            &["SOCIAL_HTTP__REQUEST_TIMEOUT"],
        ),
        env(
            "zero body limit",
            &[("SOCIAL_HTTP__BODY_LIMIT", "0")],
            &["SOCIAL_HTTP__BODY_LIMIT"],
        ),
        env(
            "TTL not a duration",
            &[("SOCIAL_HEALTH__CACHE_TTL", "banana")],
            &["SOCIAL_HEALTH__CACHE_TTL"],
        ),
        // Several problems at once: one line each, secrets around them never echoed.
        env(
            "three problems",
            &[
                ("SOCIAL_REDIS__PASSWORD", MARKER),
                ("SOCIAL_REDIS__POOL__MAX_SIZE", "0"),
                ("SOCIAL_QDRANT__MODE", "cloud"),
                ("SOCIAL_HEALTH__CHECK_TIMEOUT", "0s"),
            ],
            &[
                "SOCIAL_REDIS__POOL__MAX_SIZE",
                "SOCIAL_QDRANT__MODE",
                "SOCIAL_HEALTH__CHECK_TIMEOUT",
            ],
        ),
        // A TOML file.
        toml(
            "TOML port 0",
            "[redis]\nport = 0\n",
            &["SOCIAL_REDIS__PORT"],
        ),
        toml(
            "TOML port as text",
            "[http]\nport = \"eighty\"\n",
            &["SOCIAL_HTTP__PORT"],
        ),
        toml(
            "TOML unknown mode",
            "[qdrant]\nmode = \"cloud\"\n",
            &["SOCIAL_QDRANT__MODE"],
        ),
        toml(
            "TOML secret URL with a bad scheme",
            &format!("[redis]\nurl = \"{ftp_url}\"\n"),
            &["SOCIAL_REDIS__URL"],
        ),
        toml(
            "TOML unknown key",
            &format!("[redis]\npasword = \"{MARKER}\"\n"),
            &["SOCIAL_REDIS__PASWORD"],
        ),
        toml(
            "TOML syntax error on a line with a secret",
            &format!("[redis]\npassword = \"{MARKER}\nport = 1\n"),
            &["config.toml"],
        ),
        Case {
            what: "SOCIAL_CONFIG_FILE names no file",
            env: vec![("SOCIAL_CONFIG_FILE", "/nonexistent/infra.toml".to_owned())],
            toml: None,
            expect: vec!["/nonexistent/infra.toml"],
        },
    ]
}

/// Runs the binary with a deadline (a `serve` that wrongly accepts its configuration would
/// otherwise run forever): exit code, stdout, stderr.
fn run_bounded(
    dir: &std::path::Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> (Option<i32>, String, String) {
    let mut child: std::process::Child = {
        let mut cmd: Command = command(dir, args, env);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd.spawn().expect("run infra-server")
    };
    let deadline = Instant::now() + Duration::from_mins(1);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("output");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_bad_input_exits_2_with_one_line_per_problem_naming_the_key() {
    let cases = cases();
    assert!(cases.len() >= 25, "{} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut pairs: Vec<(&str, String)> = case.env.clone();
        if let Some(text) = &case.toml {
            let file = dir.path().join("config.toml");
            std::fs::write(&file, text).expect("write the TOML file");
            pairs.push(("SOCIAL_CONFIG_FILE", file.to_str().unwrap().to_owned()));
        }
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        for args in [&["config"][..], &["serve"]] {
            let (code, out, err) = run_bounded(dir.path(), args, &pairs);
            let mut problems = Vec::new();
            if code != Some(2) {
                problems.push(format!("exit {code:?}, expected 2"));
            }
            if !out.is_empty() {
                problems.push("something on stdout".to_owned());
            }
            let lines: Vec<&str> = err.lines().collect();
            if lines.len() != case.expect.len() {
                problems.push(format!(
                    "{} stderr lines, expected {}",
                    lines.len(),
                    case.expect.len()
                ));
            }
            for line in &lines {
                if !line.starts_with("configuration error: ") {
                    problems.push(format!("not a configuration error line: {line:?}"));
                }
            }
            for needle in &case.expect {
                let Some(line) = lines.iter().find(|l| l.contains(needle)) else {
                    problems.push(format!("no line names {needle}"));
                    continue;
                };
                if needle.starts_with("SOCIAL_") && !line.contains(", expected ") {
                    problems.push(format!("{needle}: the line does not say what is accepted"));
                }
            }
            for forbidden in [MARKER, "panicked", "backtrace", "RUST_BACKTRACE"] {
                if out.contains(forbidden) || err.contains(forbidden) {
                    problems.push(format!("the output contains {forbidden:?}"));
                }
            }
            if !problems.is_empty() {
                failures.push(format!(
                    "{} ({args:?}): {}\n  stderr: {}",
                    case.what,
                    problems.join("; "),
                    err.trim_end().replace('\n', "\n          ")
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
