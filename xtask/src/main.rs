//! Project automation, run as `cargo xtask <command>` from anywhere in the workspace
//! (`.cargo/config.toml` aliases `xtask` to `run --quiet --package xtask --`).
//!
//! Use it for everything CI checks (`cargo xtask ci`), the tier-2 tests against real
//! servers (`test-integration`), the performance harness (`bench`), the crate layering
//! rules (`layering`), the API contract fuzzer (`fuzz-api`), regenerating the files derived from the configuration schema
//! (`codegen`) and the local Redis and Qdrant containers (`up`, `down`); `cargo xtask help`
//! lists them with their options.
//!
//! One module per command (`ci`, `test_integration`, `bench`, `layering`, `codegen`, `fuzz_api`,
//! `compose`), plus small shared ones: `args` (a tiny option parser), `process` (running
//! programs from the project root, which `main` finds once and passes to every command),
//! `servers` (where tests get Redis and Qdrant) and `json` (just enough JSON for `cargo
//! metadata`). Every step prints what it runs, and the first failing step stops the
//! command with a non-zero exit code.
//!
//! xtask has no dependencies, std only, so that `cargo xtask` builds in seconds; the
//! layering check keeps it that way.

mod args;
mod bench;
mod ci;
mod codegen;
mod compose;
mod fuzz_api;
mod json;
mod layering;
mod process;
mod servers;
mod test_integration;

use std::env;
use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  ci                 fmt check, clippy (warnings denied), docs, layering check,
                     deployment lint (deploy/lint.sh), tier-1 tests (cargo test --workspace --all-features), tier-2
                     integration tests, fuzz-api and `bench --quick` (a smoke run of the
                     performance harness); the one command CI and contributors run
  test-integration   tier 2: every #[ignore = \"tier 2: ...\"] test of the workspace,
                     against real servers (docs/architecture.md)
                     [--redis-url URL] [--qdrant-url URL]; Redis comes from the URL
                     (or INFRA_TEST_REDIS_URL), else Docker, else a local redis-server;
                     INFRA_TEST_ALLOW_SKIP=1 turns a missing server into a loud skip
  bench              the performance harness (docs/benchmarks.md): builds and runs
                     infra-bench, which writes target/bench/report.{json,md}
                     [--quick] [--redis-url URL] [--qdrant-url URL]; --quick runs
                     every scenario briefly in the dev profile (a smoke run, its
                     figures are not asserted); without it, a release build
  fuzz-api           the API contract fuzzer (schemathesis, `st` on PATH) against
                     the reference service's /openapi.json, authentication on
                     [--max-time SECONDS] (default 60); INFRA_TEST_ALLOW_SKIP=1
                     turns a missing `st` into a loud skip
  layering           check the dependency arrows between the workspace's crates
                     (adapters never know each other, infra-http knows no adapter,
                     test support is never shipped) and that infra-base and
                     infra-config depend on no Redis, Qdrant or HTTP crate
  codegen            rewrite .env.example and docs/configuration.md from the
                     settings schema (cargo test -p infra-config --test
                     generated_files with INFRA_CODEGEN=overwrite)
  up                 docker compose up -d --wait (Redis and Qdrant for local runs)
  down               docker compose down
  help               this text
";

type Result<T = ()> = std::result::Result<T, String>;

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let Some(command) = args.first() else {
        eprint!("{USAGE}");
        return ExitCode::FAILURE;
    };
    let root = process::project_root();
    let result = match command.as_str() {
        "ci" => ci::run(&root),
        "test-integration" => test_integration::run(&root, &args[1..]),
        "bench" => bench::run(&root, &args[1..], None),
        "layering" => layering::run(&root),
        "fuzz-api" => fuzz_api::run(&root, &args[1..]),
        "codegen" => codegen::run(&root),
        "up" => compose::up(&root),
        "down" => compose::down(&root),
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
