//! `cargo xtask ci`: everything CI checks, in the order that fails fastest.

use std::path::Path;
use std::time::Instant;

use crate::process::{cargo, run_with_env};
use crate::servers::{ALLOW_SKIP_ENV, allow_skip, local_redis_version};
use crate::{Result, bench, dockerfile, examples, fuzz_api, layering, package, test_integration};

/// fmt (the workspace's, then the examples' source checks: lock files, profiles, fmt,
/// cache-service's dependency ban), clippy (warnings denied), the layering check, the
/// deployment files' lint (`deploy/lint.sh`: hadolint, kubernetes-validate), docs
/// (warnings denied), `package` (every publishable crate packaged and checked from its
/// archive), tier 1 (`cargo test --workspace --all-features`, which also covers crates
/// outside `default-members`, such as infra-bench), the examples (clippy, then each built
/// and run, or tested), the Dockerfile's release build command (`dockerfile`), tier 2, the API contract fuzzer (`fuzz-api`) and `bench --quick`.
pub(crate) fn run(root: &Path) -> Result {
    let started = Instant::now();
    let mut timings: Vec<(&str, f64)> = Vec::new();
    let mut step = |name: &'static str, result: Result, since: Instant| -> Result {
        timings.push((name, since.elapsed().as_secs_f64()));
        result
    };
    cargo(root, &["fmt", "--all", "--", "--check"])?;
    let since = Instant::now();
    step(
        "examples: source checks",
        examples::check_sources(root),
        since,
    )?;
    cargo(
        root,
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    layering::run(root)?;
    // The deployment files, linted without a Docker daemon or a cluster.
    run_with_env(root, "bash", &["deploy/lint.sh"], &[])?;
    run_with_env(
        root,
        &crate::process::cargo_bin(),
        &["doc", "--workspace", "--no-deps", "--all-features"],
        &[("RUSTDOCFLAGS", "-D warnings")],
    )?;
    let since = Instant::now();
    step("package", package::run(root), since)?;
    cargo(root, &["test", "--workspace", "--all-features"])?;
    let since = Instant::now();
    step(
        "examples: clippy, build and run",
        examples::build_and_run(root, None),
        since,
    )?;
    let since = Instant::now();
    step("Dockerfile build command", dockerfile::run(root), since)?;
    test_integration::run(root, &[])?;
    let since = Instant::now();
    step("fuzz-api", fuzz_api::run(root, &[]), since)?;
    // The bench starts local redis-server processes (scenario 5 always does).
    match local_redis_version() {
        Err(why) if allow_skip() => println!(
            "xtask ci: SKIPPED bench --quick ({ALLOW_SKIP_ENV}=1): {why}; \
             WARNING: the performance harness did not run"
        ),
        _ => bench::run(root, &["--quick".to_owned()], Some("cargo xtask ci"))?,
    }
    for (name, secs) in &timings {
        println!("xtask ci: step `{name}` took {secs:.0}s");
    }
    println!(
        "xtask ci: all steps passed in {:.0}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
