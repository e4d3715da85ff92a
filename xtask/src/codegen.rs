//! `cargo xtask codegen`: rewrites the files generated from the configuration schema.

use std::path::Path;

use crate::Result;
use crate::process::{cargo_bin, run_with_env};

/// The variable that tells infra-config's `generated_files` test to rewrite the files it
/// checks instead of failing on a stale one.
const CODEGEN_ENV: &str = "INFRA_CODEGEN";

/// Runs `cargo test -p infra-config --test generated_files` with `INFRA_CODEGEN=overwrite`:
/// the test that checks `.env.example` and `docs/configuration.md` against the settings
/// schema rewrites them instead. Without the variable (as in `cargo xtask ci`), the same
/// test fails on a stale file.
pub(crate) fn run(root: &Path) -> Result {
    run_with_env(
        root,
        &cargo_bin(),
        &["test", "-p", "infra-config", "--test", "generated_files"],
        &[(CODEGEN_ENV, "overwrite")],
    )
    .map_err(|e| format!("codegen failed: {e}"))?;
    println!("xtask codegen: .env.example and docs/configuration.md are up to date");
    Ok(())
}
