//! Project automation, run as `cargo xtask <command>` from anywhere in the workspace.
//!
//! Each command is one function; every step prints what it runs, and the first failing
//! step stops the command with a non-zero exit code. Dependencies are kept to std so that
//! `cargo xtask` builds in seconds.

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  ci                 fmt check, clippy (warnings denied), docs, layering check,
                     tier-1 tests (cargo test --workspace --all-features) and tier-2
                     integration tests; the one command CI and contributors run
  test-integration   tier-2 suites against real servers (see DESIGN section 8)
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
    println!(
        "xtask ci: all steps passed in {:.0}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Tier 2: suites against real servers.
///
/// The adapters that these suites exercise (infra-redis, infra-qdrant) do not exist yet;
/// until they land there is nothing to run, and this says so instead of pretending.
fn test_integration(args: &[String]) -> Result {
    if let Some(unknown) = args.first() {
        return Err(format!(
            "test-integration takes no arguments yet, got `{unknown}`"
        ));
    }
    println!(
        "xtask test-integration: no integration suites yet (the Redis and Qdrant adapters add them)"
    );
    Ok(())
}

/// Fails when a foundation crate depends, even indirectly, on a backend or HTTP crate.
fn layering() -> Result {
    for krate in FOUNDATION_CRATES {
        let output = Command::new(cargo_bin())
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
    let status = Command::new(program)
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

/// The cargo that runs us, so toolchain overrides carry over.
fn cargo_bin() -> String {
    env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_dependencies_are_found_by_exact_name() {
        let tree = "infra-base v0.1.0 (/x)\nserde v1.0.0\nredis v0.27.0\naxum-core v0.4.0\nredis v0.27.0\n";
        assert_eq!(forbidden_dependencies(tree), vec!["redis".to_owned()]);
        assert!(forbidden_dependencies("infra-config v0.1.0\nfigment v0.10.19\n").is_empty());
    }
}
