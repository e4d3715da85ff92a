//! Running programs: every step echoes its command line, runs from the project root, and
//! fails on a non-zero exit.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::Result;

/// Runs `cargo args...` from `root`.
pub(crate) fn cargo(root: &Path, args: &[&str]) -> Result {
    run_with_env(root, &cargo_bin(), args, &[])
}

/// Runs a program from `root` with extra environment variables, echoing the command line,
/// and fails on a non-zero exit.
pub(crate) fn run_with_env(
    root: &Path,
    program: &str,
    args: &[&str],
    envs: &[(&str, &str)],
) -> Result {
    println!("$ {program} {}", args.join(" "));
    let started = Instant::now();
    let status = child_command(program)
        .args(args)
        .envs(envs.iter().copied())
        .current_dir(root)
        .status()
        .map_err(|e| format!("cannot start `{program}`: {e}"))?;
    if status.success() {
        println!("  ok ({:.1}s)", started.elapsed().as_secs_f64());
        Ok(())
    } else {
        Err(format!("`{program} {}` failed ({status})", args.join(" ")))
    }
}

/// Runs `cargo args...` from `root` and returns its standard output; on failure, its
/// standard error.
pub(crate) fn cargo_output(root: &Path, args: &[&str]) -> Result<String> {
    let output = child_command(&cargo_bin())
        .args(args)
        .current_dir(root)
        .output()
        .map_err(|e| format!("cannot run cargo {}: {e}", args.join(" ")))?;
    if !output.status.success() {
        return Err(format!(
            "cargo {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// A command for `program` without the variables `cargo run` set for xtask itself
/// (`CARGO_MANIFEST_DIR`, `CARGO_PKG_*`, ...).
///
/// Build scripts such as ring's declare `rerun-if-env-changed=CARGO_MANIFEST_DIR` (and
/// `CARGO_PKG_NAME`, ...), so a cargo started with xtask's values would rebuild them, and
/// everything above them (rustls, tonic, redis, qdrant-client), each time a developer
/// alternates between `cargo xtask ...` and plain `cargo ...` on the same target directory.
pub(crate) fn child_command(program: &str) -> Command {
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
pub(crate) fn cargo_bin() -> String {
    env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

/// Where cargo puts build output: `CARGO_TARGET_DIR` (relative to the project root), else
/// `target/` under the project root.
pub(crate) fn target_dir(root: &Path) -> PathBuf {
    match env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root.join(dir),
        _ => root.join("target"),
    }
}

/// The workspace root: the parent of xtask's manifest directory. Found once, in `main`,
/// and passed to every command.
///
/// Read at run time (`cargo run` sets `CARGO_MANIFEST_DIR`), never baked in with `env!`:
/// a binary reused from a shared target directory must act on the checkout that runs it.
pub(crate) fn project_root() -> PathBuf {
    env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .and_then(|dir| dir.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("."))
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
