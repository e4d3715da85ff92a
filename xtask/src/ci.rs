//! `cargo xtask ci`: everything CI checks, in the order that fails fastest.

use std::path::Path;
use std::time::Instant;

use crate::process::{cargo, run_with_env};
use crate::servers::{ALLOW_SKIP_ENV, allow_skip, local_redis_version};
use crate::{Result, bench, fuzz_api, layering, test_integration};

/// fmt, clippy (warnings denied), the layering check, the deployment files' lint
/// (`deploy/lint.sh`: hadolint, kubernetes-validate), docs (warnings denied), tier 1
/// (`cargo test --workspace --all-features`, which also covers crates outside
/// `default-members`, such as infra-bench), tier 2, the API contract fuzzer (`fuzz-api`)
/// and `bench --quick`.
pub(crate) fn run(root: &Path) -> Result {
    let started = Instant::now();
    cargo(root, &["fmt", "--all", "--", "--check"])?;
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
    cargo(root, &["test", "--workspace", "--all-features"])?;
    test_integration::run(root, &[])?;
    fuzz_api::run(root, &[])?;
    // The bench starts local redis-server processes (scenario 5 always does).
    match local_redis_version() {
        Err(why) if allow_skip() => println!(
            "xtask ci: SKIPPED bench --quick ({ALLOW_SKIP_ENV}=1): {why}; \
             WARNING: the performance harness did not run"
        ),
        _ => bench::run(root, &["--quick".to_owned()], Some("cargo xtask ci"))?,
    }
    println!(
        "xtask ci: all steps passed in {:.0}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
