//! The binary as a user runs it: `infra-server [serve|check|config]`, including the
//! README's quick start (`cargo run -p infra-server` serves `/health/live`).

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_infra-server");

/// The binary in `dir` (no stray `.env`), with only the given `SOCIAL_*` keys set.
fn command(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args).current_dir(dir);
    for (key, _) in std::env::vars() {
        if key.starts_with("SOCIAL_") || key == "RUST_LOG" {
            cmd.env_remove(key);
        }
    }
    cmd.envs(env.iter().copied());
    cmd
}

/// Runs the binary in an empty temporary directory.
fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().expect("temp dir");
    command(dir.path(), args, env)
        .output()
        .expect("run infra-server")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A local port nothing listens on.
fn closed_port() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port().to_string()
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

/// A `serve` child process and the address it printed.
struct Served {
    child: Child,
    address: String,
    dir: tempfile::TempDir,
}

impl Served {
    /// Starts `infra-server` with `args` in a fresh directory, exactly as the README says
    /// (no configuration but a free port and an absent Redis), and waits for the line
    /// `infra-server listening on http://ADDRESS` on stdout.
    fn start(args: &[&str], env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut child = command(dir.path(), args, env)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start infra-server");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let line = rx.recv_timeout(Duration::from_mins(1)).unwrap_or_else(|_| {
            let _ = child.kill();
            let mut err = String::new();
            let _ = child.stderr.take().unwrap().read_to_string(&mut err);
            panic!("no `listening` line on stdout; stderr:\n{err}")
        });
        let address = line
            .strip_prefix("infra-server listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        Self {
            child,
            address,
            dir,
        }
    }

    fn get(&self, path: &str) -> (u16, String) {
        use std::io::Write;
        let mut stream = std::net::TcpStream::connect(&self.address).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.0\r\nHost: {}\r\n\r\n",
            self.address
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let status = response
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        (status, body)
    }

    /// SIGTERM, then the exit status and stderr.
    fn terminate(mut self) -> (Option<i32>, String) {
        let pid = self.child.id().to_string();
        let killed = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(killed.is_ok_and(|s| s.success()), "kill -TERM {pid}");
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("infra-server did not stop after SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut err = String::new();
        let _ = self.child.stderr.take().unwrap().read_to_string(&mut err);
        (status.code(), err)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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
fn serve_exits_1_when_a_critical_component_cannot_start() {
    let redis_port = closed_port();
    let out = run(
        &["serve"],
        &[
            ("SOCIAL_HTTP__PORT", "0"),
            ("SOCIAL_REDIS__PORT", redis_port.as_str()),
            ("SOCIAL_REDIS__CRITICAL", "true"),
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
