//! Project automation, run as `cargo xtask <command>` from anywhere in the workspace.
//!
//! Each command is one function; every step prints what it runs, and the first failing
//! step stops the command with a non-zero exit code. Dependencies are kept to std so that
//! `cargo xtask` builds in seconds.

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::thread;
use std::time::{Duration, Instant};

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  ci                 fmt check, clippy (warnings denied), docs, layering check,
                     tier-1 tests (cargo test --workspace --all-features), tier-2
                     integration tests and `bench --quick` (a smoke run of the
                     performance harness); the one command CI and contributors run
  test-integration   tier 2: every #[ignore = \"tier 2: ...\"] test of the workspace,
                     against real servers (DESIGN section 8)
                     [--redis-url URL] [--qdrant-url URL]; Redis comes from the URL
                     (or INFRA_TEST_REDIS_URL), else Docker, else a local redis-server;
                     INFRA_TEST_ALLOW_SKIP=1 turns a missing server into a loud skip
  bench              the performance harness (DESIGN section 10): builds and runs
                     infra-bench, which writes target/bench/report.{json,md}
                     [--quick] [--redis-url URL] [--qdrant-url URL]; --quick runs
                     every scenario briefly in the dev profile (a smoke run, its
                     figures are not asserted); without it, a release build
  layering           check that infra-base and infra-config depend on no Redis,
                     Qdrant or HTTP crate
  up                 docker compose up -d --wait (Redis and Qdrant for local runs)
  down               docker compose down
  help               this text
";

/// Crates that the foundation crates must never depend on (DESIGN section 2).
const FORBIDDEN_IN_FOUNDATION: &[&str] = &[
    "redis",
    "deadpool-redis",
    "qdrant-client",
    "qdrant-edge",
    "axum",
    "tonic",
    "hyper",
];

/// The crates that must stay free of backend and HTTP dependencies.
const FOUNDATION_CRATES: &[&str] = &["infra-base", "infra-config"];

type Result<T = ()> = std::result::Result<T, String>;

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let Some(command) = args.first() else {
        eprint!("{USAGE}");
        return ExitCode::FAILURE;
    };
    let result = match command.as_str() {
        "ci" => ci(),
        "test-integration" => test_integration(&args[1..]),
        "bench" => bench_as(&args[1..], None),
        "layering" => layering(),
        "up" => cargo_free("docker", &["compose", "up", "-d", "--wait"]),
        "down" => cargo_free("docker", &["compose", "down"]),
        "help" | "--help" | "-h" => {
            print!("{USAGE}");
            Ok(())
        }
        other => Err(format!("unknown command `{other}`\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Everything CI checks, in the order that fails fastest.
fn ci() -> Result {
    let started = Instant::now();
    cargo(&["fmt", "--all", "--", "--check"])?;
    cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--all-features",
        "--",
        "-D",
        "warnings",
    ])?;
    layering()?;
    run_with_env(
        "cargo",
        &["doc", "--workspace", "--no-deps", "--all-features"],
        &[("RUSTDOCFLAGS", "-D warnings")],
    )?;
    cargo(&["test", "--workspace", "--all-features"])?;
    test_integration(&[])?;
    // The bench starts local redis-server processes (scenario 5 always does).
    match local_redis_version() {
        Err(why) if env::var(ALLOW_SKIP_ENV).is_ok_and(|v| v.trim() == "1") => println!(
            "xtask ci: SKIPPED bench --quick ({ALLOW_SKIP_ENV}=1): {why}; \
             WARNING: the performance harness did not run"
        ),
        _ => bench_as(&["--quick".to_owned()], Some("cargo xtask ci"))?,
    }
    println!(
        "xtask ci: all steps passed in {:.0}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The options of `cargo xtask bench`.
#[derive(Debug, Default, PartialEq, Eq)]
struct BenchOptions {
    quick: bool,
    urls: IntegrationOptions,
}

impl BenchOptions {
    fn parse(args: &[String]) -> Result<Self> {
        let quick = args.iter().any(|a| a == "--quick");
        let rest: Vec<String> = args.iter().filter(|a| *a != "--quick").cloned().collect();
        let urls = IntegrationOptions::parse(&rest).map_err(|e| {
            e.replacen("test-integration", "bench", 1)
                .replace("(accepted: ", "(accepted: --quick, ")
        })?;
        Ok(Self { quick, urls })
    }

    /// The command line as typed, for the report.
    fn command(&self) -> String {
        let mut words = vec!["cargo xtask bench".to_owned()];
        if self.quick {
            words.push("--quick".to_owned());
        }
        if let Some(url) = &self.urls.redis_url {
            words.push(format!("--redis-url {}", redact_url(url)));
        }
        if let Some(url) = &self.urls.qdrant_url {
            words.push(format!("--qdrant-url {}", redact_url(url)));
        }
        words.join(" ")
    }
}

/// The performance harness (DESIGN section 10): builds `infra-bench` and runs it from the
/// project root, which writes `target/bench/report.json` and `target/bench/report.md`.
///
/// Full mode builds it with `--release` (every figure in release code). `--quick` builds it
/// in the dev profile with `--all-targets`, which resolves features exactly as the test step
/// of `ci` does (dev-dependencies included: tokio's `test-util`, figment's `test`, ...), so
/// after `cargo test` nothing but infra-bench's own units can be stale. A plain
/// `cargo build --bin infra-bench` resolves without dev-dependencies and would compile a
/// second copy of tokio, qdrant-edge, tonic and everything between them.
///
/// `caller` names the command that ran this one as a step (`cargo xtask ci`), for the
/// report's record of the exact command.
fn bench_as(args: &[String], caller: Option<&str>) -> Result {
    let options = BenchOptions::parse(args)?;
    let started = Instant::now();
    let (build, profile): (&[&str], &str) = if options.quick {
        (
            &["build", "--workspace", "--all-features", "--all-targets"],
            "debug",
        )
    } else {
        (
            &[
                "build",
                "--release",
                "--workspace",
                "--all-features",
                "--bin",
                "infra-bench",
            ],
            "release",
        )
    };
    cargo(build)?;
    let binary = target_dir().join(profile).join("infra-bench");
    let command = match caller {
        Some(caller) => format!("{caller} (its step `{}`)", options.command()),
        None => options.command(),
    };
    let mut bench_args = vec![
        "--out".to_owned(),
        project_root()
            .join("target")
            .join("bench")
            .display()
            .to_string(),
        "--command".to_owned(),
        command,
    ];
    if options.quick {
        bench_args.push("--quick".to_owned());
    }
    if let Some(url) = &options.urls.redis_url {
        bench_args.extend(["--redis-url".to_owned(), url.clone()]);
    }
    if let Some(url) = &options.urls.qdrant_url {
        bench_args.extend(["--qdrant-url".to_owned(), url.clone()]);
    }
    let bench_args: Vec<&str> = bench_args.iter().map(String::as_str).collect();
    let program = binary.display().to_string();
    run_with_env(&program, &bench_args, &[]).map_err(|e| format!("the bench failed: {e}"))?;
    println!(
        "xtask bench: done in {:.0}s; report in target/bench/report.md",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Where cargo puts build output: `CARGO_TARGET_DIR` (relative to the project root), else
/// `target/` under the project root.
fn target_dir() -> PathBuf {
    match env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => project_root().join(dir),
        _ => project_root().join("target"),
    }
}

/// The environment variable with an explicit Redis URL (also `--redis-url`).
const REDIS_URL_ENV: &str = "INFRA_TEST_REDIS_URL";

/// The environment variable that tells the tests which Redis provider xtask chose.
const REDIS_PROVIDER_ENV: &str = "INFRA_TEST_REDIS_PROVIDER";

/// The environment variable with an explicit Qdrant URL (also `--qdrant-url`).
const QDRANT_URL_ENV: &str = "INFRA_TEST_QDRANT_URL";

/// The environment variable that tells the tests which Qdrant provider xtask chose.
const QDRANT_PROVIDER_ENV: &str = "INFRA_TEST_QDRANT_PROVIDER";

/// Set to `1` to skip the suites that have no server instead of failing.
const ALLOW_SKIP_ENV: &str = "INFRA_TEST_ALLOW_SKIP";

/// The reason every tier-2 test gives in its `#[ignore = "..."]` attribute.
const TIER2_PREFIX: &str = "tier 2";

/// The error when nothing can provide Redis.
const NO_REDIS: &str = "no Redis available: set INFRA_TEST_REDIS_URL, start Docker, or install \
redis-server (apt-get install redis-server)";

/// How long `docker info` may take before Docker counts as unavailable.
const DOCKER_INFO_TIMEOUT: Duration = Duration::from_secs(10);

/// The options of `cargo xtask test-integration`.
#[derive(Debug, Default, PartialEq, Eq)]
struct IntegrationOptions {
    redis_url: Option<String>,
    qdrant_url: Option<String>,
}

impl IntegrationOptions {
    fn parse(args: &[String]) -> Result<Self> {
        let mut options = Self::default();
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let (name, inline) = match arg.split_once('=') {
                Some((name, value)) => (name, Some(value.to_owned())),
                None => (arg.as_str(), None),
            };
            let slot = match name {
                "--redis-url" => &mut options.redis_url,
                "--qdrant-url" => &mut options.qdrant_url,
                other => {
                    return Err(format!(
                        "test-integration: unknown argument `{other}` \
                         (accepted: --redis-url URL, --qdrant-url URL)"
                    ));
                }
            };
            let value = match inline {
                Some(value) => value,
                None => args
                    .next()
                    .cloned()
                    .ok_or_else(|| format!("test-integration: {name} needs a URL"))?,
            };
            if value.trim().is_empty() {
                return Err(format!("test-integration: {name} needs a non-empty URL"));
            }
            *slot = Some(value);
        }
        Ok(options)
    }
}

/// Where the standalone Redis suites get their server (DESIGN section 8, in this order).
#[derive(Debug, Clone, PartialEq, Eq)]
enum RedisProvider {
    /// A URL from `--redis-url` or `INFRA_TEST_REDIS_URL`; `source` says which.
    Url { url: String, source: &'static str },
    /// A container through testcontainers, started by the tests.
    Docker,
    /// A local `redis-server` of this version, started by the tests.
    Local { version: String },
}

impl RedisProvider {
    /// The value of `INFRA_TEST_REDIS_PROVIDER` for the tests.
    fn kind(&self) -> &'static str {
        match self {
            RedisProvider::Url { .. } => "url",
            RedisProvider::Docker => "docker",
            RedisProvider::Local { .. } => "local",
        }
    }

    fn describe(&self) -> String {
        match self {
            RedisProvider::Url { url, source } => format!("url {} ({source})", redact_url(url)),
            RedisProvider::Docker => {
                "docker (testcontainers, redis image; a container per suite)".to_owned()
            }
            RedisProvider::Local { version } => format!(
                "local redis-server {version} (a process per test on a free 127.0.0.1 port)"
            ),
        }
    }
}

/// Chooses the standalone provider: URL, else Docker, else a local redis-server.
fn choose_redis_provider(
    url: Option<(String, &'static str)>,
    docker: bool,
    local_version: Option<&str>,
) -> Option<RedisProvider> {
    if let Some((url, source)) = url {
        Some(RedisProvider::Url { url, source })
    } else if docker {
        Some(RedisProvider::Docker)
    } else {
        local_version.map(|version| RedisProvider::Local {
            version: version.to_owned(),
        })
    }
}

/// Tier 2: suites against real servers.
///
/// Resolves the Redis provider in the DESIGN order and prints which provider serves each
/// suite, then runs every `#[ignore = "tier 2: ..."]` test of the workspace in one
/// invocation, `cargo test --workspace --all-features --tests -- --ignored`: the same
/// build as tier 1, so nothing is compiled again. No Redis is a failure with a clear
/// message, unless `INFRA_TEST_ALLOW_SKIP=1`, which turns it into a loud skip.
fn test_integration(args: &[String]) -> Result {
    let options = IntegrationOptions::parse(args)?;
    let started = Instant::now();
    let allow_skip = env::var(ALLOW_SKIP_ENV).is_ok_and(|v| v.trim() == "1");

    let url = match &options.redis_url {
        Some(url) => Some((url.clone(), "--redis-url")),
        None => non_empty_env(REDIS_URL_ENV).map(|u| (u, REDIS_URL_ENV)),
    };
    let docker_up = docker_answers();
    let docker = url.is_none() && docker_up;
    let local = local_redis_version();
    let standalone = choose_redis_provider(url, docker, local.as_deref().ok());
    let qdrant_url = options
        .qdrant_url
        .clone()
        .or_else(|| non_empty_env(QDRANT_URL_ENV));
    let qdrant = choose_qdrant_provider(qdrant_url.is_some(), docker_up);
    print_providers(
        standalone.as_ref(),
        local.as_deref(),
        qdrant,
        qdrant_url.as_deref(),
    );

    // The testkit's own tests and the cluster, TLS and sentinel suites start local
    // processes whatever serves the standalone suites.
    let local_version = match local {
        Ok(version) => version,
        Err(why) => {
            let message = format!(
                "the Redis suites cannot run: {why}. The cluster, TLS and sentinel suites always \
                 start local redis-server processes{}; install redis-server and redis-cli \
                 (Debian/Ubuntu: apt-get install redis-server; .ci/run does it)",
                if standalone.is_none() {
                    ", and no Redis is available for the standalone suites either (set \
                     INFRA_TEST_REDIS_URL or --redis-url, or start Docker)"
                } else {
                    ""
                }
            );
            if allow_skip {
                println!(
                    "xtask test-integration: SKIPPED every tier-2 suite ({ALLOW_SKIP_ENV}=1): \
                     {message}"
                );
                println!("xtask test-integration: WARNING: no tier-2 test ran");
                return Ok(());
            }
            return Err(format!(
                "{message}; or set {ALLOW_SKIP_ENV}=1 to skip them loudly"
            ));
        }
    };
    let Some(standalone) = standalone else {
        return Err(NO_REDIS.to_owned());
    };

    for (file, line, attribute) in non_tier2_ignores()? {
        println!(
            "xtask test-integration: WARNING: {file}:{line}: `{attribute}` is not a tier-2 \
             reason (\"{TIER2_PREFIX}: ...\") but runs here too: every ignored test is tier 2"
        );
    }

    let mut envs: Vec<(&str, &str)> = vec![(REDIS_PROVIDER_ENV, standalone.kind())];
    if let RedisProvider::Url { url, .. } = &standalone {
        envs.push((REDIS_URL_ENV, url));
    }
    envs.push((QDRANT_PROVIDER_ENV, qdrant));
    if let Some(url) = &qdrant_url {
        envs.push((QDRANT_URL_ENV, url));
    }
    run_with_env(
        &cargo_bin(),
        &[
            "test",
            "--workspace",
            "--all-features",
            "--tests",
            "--no-fail-fast",
            "--",
            "--ignored",
        ],
        &envs,
    )
    .map_err(|e| format!("tier-2 tests failed: {e}"))?;
    println!(
        "xtask test-integration: every tier-2 test passed in {:.0}s (redis standalone: {}, \
         cluster/TLS/sentinel: local redis-server {local_version}; qdrant: {qdrant})",
        started.elapsed().as_secs_f64(),
        standalone.kind(),
    );
    Ok(())
}

fn non_empty_env(name: &str) -> Option<String> {
    env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The Qdrant provider (the value of `INFRA_TEST_QDRANT_PROVIDER`): a URL, else Docker,
/// else the in-process test server, which is always available.
fn choose_qdrant_provider(url: bool, docker: bool) -> &'static str {
    if url {
        "url"
    } else if docker {
        "docker"
    } else {
        "test-server"
    }
}

/// Prints which provider serves each suite.
fn print_providers(
    standalone: Option<&RedisProvider>,
    local: std::result::Result<&str, &String>,
    qdrant: &str,
    qdrant_url: Option<&str>,
) {
    let standalone = standalone.map_or_else(|| "NONE".to_owned(), RedisProvider::describe);
    let local = match local {
        Ok(version) => format!("local redis-server {version} (always local processes)"),
        Err(_) => "NONE (they always need a local redis-server)".to_owned(),
    };
    let qdrant = match (qdrant, qdrant_url) {
        ("url", Some(url)) => format!("url {}", redact_url(url)),
        ("docker", _) => {
            "docker (testcontainers, qdrant/qdrant image; a container per suite)".to_owned()
        }
        _ => "the in-process Qdrant gRPC test server (infra-testkit) over the embedded engine"
            .to_owned(),
    };
    println!("xtask test-integration: providers");
    println!("  redis standalone            {standalone}");
    println!("  redis cluster/TLS/sentinel  {local}");
    println!("  qdrant                      {qdrant}");
}

/// Every `#[ignore ...]` attribute under `crates/` whose reason does not start with
/// [`TIER2_PREFIX`], as (file, line, attribute).
fn non_tier2_ignores() -> Result<Vec<(String, usize, String)>> {
    let mut found = Vec::new();
    let mut dirs = vec![project_root().join("crates")];
    while let Some(dir) = dirs.pop() {
        let entries =
            std::fs::read_dir(&dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "target") {
                    dirs.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "rs") {
                let Ok(text) = std::fs::read_to_string(&path) else {
                    continue;
                };
                for (line, attribute) in ignores_without_tier2(&text) {
                    let shown = path
                        .strip_prefix(project_root())
                        .unwrap_or(&path)
                        .display()
                        .to_string();
                    found.push((shown, line, attribute));
                }
            }
        }
    }
    found.sort();
    Ok(found)
}

/// The 1-based line and text of each `#[ignore]` / `#[ignore = "..."]` attribute in `text`
/// whose reason does not start with [`TIER2_PREFIX`].
fn ignores_without_tier2(text: &str) -> Vec<(usize, String)> {
    text.lines()
        .enumerate()
        .filter_map(|(i, line)| {
            let attribute = line.trim();
            let rest = attribute.strip_prefix("#[ignore")?;
            let reason = rest.trim_start().strip_prefix('=').map(str::trim_start);
            let tier2 = reason
                .and_then(|r| r.strip_prefix('"'))
                .is_some_and(|r| r.starts_with(TIER2_PREFIX));
            (!tier2 && (rest.starts_with(']') || reason.is_some()))
                .then(|| (i + 1, attribute.to_owned()))
        })
        .collect()
}

/// Whether a Docker daemon answers `docker info` within [`DOCKER_INFO_TIMEOUT`].
fn docker_answers() -> bool {
    let Ok(mut child) = Command::new("docker")
        .arg("info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    else {
        return false;
    };
    let deadline = Instant::now() + DOCKER_INFO_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status.success(),
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(50)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
        }
    }
}

/// The version of the `redis-server` on PATH, when it and `redis-cli` both run.
fn local_redis_version() -> Result<String> {
    let server = Command::new("redis-server")
        .arg("--version")
        .output()
        .map_err(|e| format!("redis-server is not on PATH ({e})"))?;
    if !server.status.success() {
        return Err(format!(
            "`redis-server --version` failed ({})",
            server.status
        ));
    }
    let cli = Command::new("redis-cli")
        .arg("--version")
        .output()
        .map_err(|e| format!("redis-cli is not on PATH ({e})"))?;
    if !cli.status.success() {
        return Err(format!("`redis-cli --version` failed ({})", cli.status));
    }
    Ok(parse_redis_version(&String::from_utf8_lossy(
        &server.stdout,
    )))
}

/// `7.0.15` from `Redis server v=7.0.15 sha=... malloc=...`.
fn parse_redis_version(output: &str) -> String {
    output
        .split_whitespace()
        .find_map(|word| word.strip_prefix("v="))
        .unwrap_or("(unknown version)")
        .to_owned()
}

/// The URL with the password of its userinfo replaced by `***`.
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "<a URL without scheme>".to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
            let hidden = if userinfo.contains(':') { ":***" } else { "" };
            format!("{scheme}://{user}{hidden}@{host}{path}")
        }
        None => url.to_owned(),
    }
}

/// Fails when a foundation crate depends, even indirectly, on a backend or HTTP crate.
fn layering() -> Result {
    for krate in FOUNDATION_CRATES {
        let output = child_command(&cargo_bin())
            .args([
                "tree",
                "--package",
                krate,
                "--edges",
                "normal",
                "--prefix",
                "none",
                "--format",
                "{p}",
                "--all-features",
            ])
            .current_dir(project_root())
            .output()
            .map_err(|e| format!("cannot run cargo tree: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "cargo tree -p {krate} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        let tree = String::from_utf8_lossy(&output.stdout);
        let offenders = forbidden_dependencies(&tree);
        if !offenders.is_empty() {
            return Err(format!(
                "{krate} must not depend on {} (DESIGN section 2)",
                offenders.join(", ")
            ));
        }
        println!("xtask layering: {krate} depends on no Redis, Qdrant or HTTP crate");
    }
    Ok(())
}

/// The forbidden crate names found in `cargo tree --prefix none --format {p}` output.
fn forbidden_dependencies(tree: &str) -> Vec<String> {
    let mut found: Vec<String> = tree
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| FORBIDDEN_IN_FOUNDATION.contains(name))
        .map(str::to_owned)
        .collect();
    found.sort();
    found.dedup();
    found
}

fn cargo(args: &[&str]) -> Result {
    run_with_env(&cargo_bin(), args, &[])
}

fn cargo_free(program: &str, args: &[&str]) -> Result {
    run_with_env(program, args, &[])
}

/// Runs a program from the project root, echoing the command line, and fails on a
/// non-zero exit.
fn run_with_env(program: &str, args: &[&str], envs: &[(&str, &str)]) -> Result {
    println!("$ {program} {}", args.join(" "));
    let started = Instant::now();
    let status = child_command(program)
        .args(args)
        .envs(envs.iter().copied())
        .current_dir(project_root())
        .status()
        .map_err(|e| format!("cannot start `{program}`: {e}"))?;
    if status.success() {
        println!("  ok ({:.1}s)", started.elapsed().as_secs_f64());
        Ok(())
    } else {
        Err(format!("`{program} {}` failed ({status})", args.join(" ")))
    }
}

/// A command for `program` without the variables `cargo run` set for xtask itself
/// (`CARGO_MANIFEST_DIR`, `CARGO_PKG_*`, ...).
///
/// Build scripts such as ring's declare `rerun-if-env-changed=CARGO_MANIFEST_DIR` (and
/// `CARGO_PKG_NAME`, ...), so a cargo started with xtask's values would rebuild them, and
/// everything above them (rustls, tonic, redis, qdrant-client), each time a developer
/// alternates between `cargo xtask ...` and plain `cargo ...` on the same target directory.
fn child_command(program: &str) -> Command {
    let mut command = Command::new(program);
    for (name, _) in env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        if is_package_env(name) {
            command.env_remove(name);
        }
    }
    command
}

/// Whether `name` is one of the variables cargo sets for the package it runs.
fn is_package_env(name: &str) -> bool {
    const PREFIXES: [&str; 4] = [
        "CARGO_PKG_",
        "CARGO_MANIFEST_",
        "CARGO_CRATE_",
        "CARGO_BIN_",
    ];
    PREFIXES.iter().any(|prefix| name.starts_with(prefix))
        || matches!(name, "CARGO_PRIMARY_PACKAGE" | "OUT_DIR")
}

/// The cargo that runs us, so toolchain overrides carry over.
fn cargo_bin() -> String {
    env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

/// The workspace root: the parent of xtask's manifest directory.
///
/// Read at run time (`cargo run` sets `CARGO_MANIFEST_DIR`), never baked in with `env!`:
/// a binary reused from a shared target directory must act on the checkout that runs it.
fn project_root() -> PathBuf {
    env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .and_then(|dir| dir.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("."))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|&a| a.to_owned()).collect()
    }

    #[test]
    fn integration_options_parse() {
        assert_eq!(
            IntegrationOptions::parse(&[]).unwrap(),
            IntegrationOptions::default()
        );
        let options = IntegrationOptions::parse(&strings(&[
            "--redis-url",
            "redis://127.0.0.1:6379",
            "--qdrant-url=http://127.0.0.1:6334",
        ]))
        .unwrap();
        assert_eq!(options.redis_url.as_deref(), Some("redis://127.0.0.1:6379"));
        assert_eq!(options.qdrant_url.as_deref(), Some("http://127.0.0.1:6334"));
        assert!(IntegrationOptions::parse(&strings(&["--redis-url"])).is_err());
        assert!(IntegrationOptions::parse(&strings(&["--redis-url="])).is_err());
        assert!(IntegrationOptions::parse(&strings(&["--verbose"])).is_err());
    }

    #[test]
    fn bench_options_parse() {
        let options = BenchOptions::parse(&strings(&[
            "--quick",
            "--redis-url",
            "redis://:secret@127.0.0.1:6379",
        ]))
        .unwrap();
        assert!(options.quick);
        assert_eq!(
            options.command(),
            "cargo xtask bench --quick --redis-url redis://:***@127.0.0.1:6379"
        );
        assert_eq!(
            BenchOptions::parse(&[]).unwrap().command(),
            "cargo xtask bench"
        );
        let err = BenchOptions::parse(&strings(&["--fast"])).unwrap_err();
        assert!(err.starts_with("bench: unknown argument `--fast`"), "{err}");
    }

    #[test]
    fn redis_provider_follows_the_design_order() {
        let url = || Some(("redis://h:1".to_owned(), "--redis-url"));
        assert!(matches!(
            choose_redis_provider(url(), true, Some("7.0.15")),
            Some(RedisProvider::Url { .. })
        ));
        assert_eq!(
            choose_redis_provider(None, true, Some("7.0.15")),
            Some(RedisProvider::Docker)
        );
        assert_eq!(
            choose_redis_provider(None, false, Some("7.0.15")),
            Some(RedisProvider::Local {
                version: "7.0.15".to_owned()
            })
        );
        assert_eq!(choose_redis_provider(None, false, None), None);
    }

    #[test]
    fn package_variables_are_not_passed_to_child_cargo() {
        for name in [
            "CARGO_MANIFEST_DIR",
            "CARGO_PKG_NAME",
            "CARGO_PKG_VERSION_MAJOR",
            "OUT_DIR",
        ] {
            assert!(is_package_env(name), "{name}");
        }
        for name in [
            "CARGO",
            "CARGO_HOME",
            "CARGO_TARGET_DIR",
            "PATH",
            "RUSTFLAGS",
        ] {
            assert!(!is_package_env(name), "{name}");
        }
    }

    #[test]
    fn qdrant_provider_follows_the_design_order() {
        assert_eq!(choose_qdrant_provider(true, true), "url");
        assert_eq!(choose_qdrant_provider(false, true), "docker");
        assert_eq!(choose_qdrant_provider(false, false), "test-server");
    }

    #[test]
    fn ignores_without_a_tier2_reason_are_found() {
        let text = "#[test]\n#[ignore = \"tier 2: starts redis-server\"]\nfn a() {}\n\
                    #[ignore]\nfn b() {}\n    #[ignore = \"scratch\"]\n\
                    // #[ignored_thing]\n";
        assert_eq!(
            ignores_without_tier2(text),
            vec![
                (4, "#[ignore]".to_owned()),
                (6, "#[ignore = \"scratch\"]".to_owned())
            ]
        );
    }

    #[test]
    fn redis_versions_and_urls_are_read_and_redacted() {
        assert_eq!(
            parse_redis_version("Redis server v=7.0.15 sha=00000000:0 malloc=jemalloc-5.3.0"),
            "7.0.15"
        );
        assert_eq!(
            redact_url("redis://app:marker@127.0.0.1:6379/0"),
            "redis://app:***@127.0.0.1:6379/0"
        );
        assert_eq!(redact_url("rediss://:marker@h:1"), "rediss://:***@h:1");
        assert_eq!(
            redact_url("redis://127.0.0.1:6379"),
            "redis://127.0.0.1:6379"
        );
        assert!(!redact_url("marker").contains("marker"));
    }

    #[test]
    fn forbidden_dependencies_are_found_by_exact_name() {
        let tree = "infra-base v0.1.0 (/x)\nserde v1.0.0\nredis v0.27.0\naxum-core v0.4.0\nredis v0.27.0\n";
        assert_eq!(forbidden_dependencies(tree), vec!["redis".to_owned()]);
        assert!(forbidden_dependencies("infra-config v0.1.0\nfigment v0.10.19\n").is_empty());
    }
}
