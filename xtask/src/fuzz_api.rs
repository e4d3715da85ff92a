//! `cargo xtask fuzz-api`: the API contract fuzzer (schemathesis, from PyPI) against the
//! reference service's served `/openapi.json`.
//!
//! It builds `infra-server`, starts it on a free loopback port in a scratch directory
//! (embedded store, Redis off, API-key authentication on with an admin key made for the
//! run), and runs `st run <url>/openapi.json --checks all` with that key: every generated
//! request must get an answer the document allows (no 5xx, no schema-valid request
//! refused, no schema-violating request accepted, responses that match their schemas).
//! The state-dependent exceptions the document cannot express are listed, with their
//! reasons, in `crates/infra-server/tests/fuzz/schemathesis.toml`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::Result;
use crate::args::{self, Opt};
use crate::process::{cargo, child_command, run_with_env, target_dir};
use crate::servers::{ALLOW_SKIP_ENV, allow_skip};

/// The schemathesis version the configuration is written for (`pip install` it).
pub(crate) const SCHEMATHESIS_VERSION: &str = "4.32.5";

/// The fuzzer's configuration, relative to the project root.
const CONFIG: &str = "crates/infra-server/tests/fuzz/schemathesis.toml";

/// Default time budget of one run, in seconds.
const DEFAULT_MAX_TIME: &str = "60";

/// `cargo xtask fuzz-api [--max-time SECONDS]`.
pub(crate) fn run(root: &Path, args: &[String]) -> Result {
    let max_time = Opt::Value {
        name: "--max-time",
        placeholder: "SECONDS",
    };
    let parsed = args::parse("fuzz-api", &[max_time], args)?;
    let max_time = parsed
        .value("--max-time")
        .unwrap_or_else(|| DEFAULT_MAX_TIME.to_owned());
    if !max_time.parse::<u32>().is_ok_and(|s| s > 0) {
        return Err(format!(
            "--max-time {max_time}: expected a whole number of seconds above 0"
        ));
    }
    if let Err(why) = schemathesis_version() {
        if allow_skip() {
            println!(
                "xtask fuzz-api: SKIPPED ({ALLOW_SKIP_ENV}=1): {why}; \
                 WARNING: the API contract was not fuzzed"
            );
            return Ok(());
        }
        return Err(format!(
            "{why}: install it with `pip install schemathesis=={SCHEMATHESIS_VERSION}` \
             (or set {ALLOW_SKIP_ENV}=1 to skip loudly)"
        ));
    }
    cargo(root, &["build", "--package", "infra-server"])?;
    let binary = target_dir(root).join("debug").join("infra-server");
    let scratch = target_dir(root)
        .join("fuzz-api")
        .join(std::process::id().to_string());
    std::fs::create_dir_all(&scratch)
        .map_err(|e| format!("cannot create {}: {e}", scratch.display()))?;
    let key = api_key();
    let mut service = Service::start(&binary, &scratch, &key)?;
    let url = format!("http://{}/openapi.json", service.address);
    let header = format!("Authorization: Bearer {key}");
    let config = root.join(CONFIG);
    let result = run_with_env(
        root,
        "st",
        &[
            "--config-file",
            &config.to_string_lossy(),
            "run",
            &url,
            "--checks",
            "all",
            "--max-time",
            &max_time,
            "--workers",
            "1",
            "--header",
            &header,
        ],
        &[],
    );
    service.stop();
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

/// `st --version`, or why it cannot run.
fn schemathesis_version() -> Result<String> {
    let output = Command::new("st")
        .arg("--version")
        .output()
        .map_err(|e| format!("schemathesis (`st`) is not on PATH ({e})"))?;
    if !output.status.success() {
        return Err(format!("`st --version` failed ({})", output.status));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// An admin API key for this run only (never a secret worth keeping: the service listens
/// on loopback for the length of the run).
fn api_key() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("fuzz-{}-{nanos:x}", std::process::id())
}

/// The reference service, started for the fuzzer.
struct Service {
    child: Child,
    address: String,
}

impl Service {
    /// Starts `binary` in `dir` and waits (at most a minute) for its `listening` line.
    fn start(binary: &Path, dir: &Path, key: &str) -> Result<Self> {
        println!("$ {} serve (in {})", binary.display(), dir.display());
        let mut child = child_command(&binary.to_string_lossy())
            .arg("serve")
            .current_dir(dir)
            .env("SOCIAL_HTTP__HOST", "127.0.0.1")
            .env("SOCIAL_HTTP__PORT", "0")
            .env("SOCIAL_REDIS__ENABLED", "false")
            .env("SOCIAL_QDRANT__PATH", dir.join("qdrant"))
            .env("SOCIAL_HTTP__AUTH__MODE", "api_key")
            .env("SOCIAL_HTTP__AUTH__API_KEYS", format!("fuzz:admin:{key}"))
            .env("SOCIAL_LOG__LEVEL", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let stdout = child.stdout.take().ok_or("no stdout pipe")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let address = rx
            .recv_timeout(Duration::from_mins(1))
            .ok()
            .and_then(|line| {
                line.strip_prefix("infra-server listening on http://")
                    .map(str::to_owned)
            });
        let Some(address) = address else {
            let _ = child.kill();
            let status = child
                .wait()
                .map_or_else(|e| e.to_string(), |s| s.to_string());
            return Err(format!(
                "infra-server did not start listening within a minute ({status})"
            ));
        };
        Ok(Self { child, address })
    }

    /// SIGTERM (a graceful shutdown), then SIGKILL if it is still running after 30 s.
    fn stop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        for _ in 0..300 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
