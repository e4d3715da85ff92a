//! Project automation, run as `cargo xtask <command>` from anywhere in the workspace
//! (`.cargo/config.toml` aliases `xtask` to `run --quiet --package xtask --`).
//!
//! Use it for everything CI checks (`cargo xtask ci`), the tier-2 tests against real
//! servers (`test-integration`), the example services (`examples`), packaging the crates
//! (`package`), the performance harness (`bench`), the crate layering rules (`layering`),
//! the API contract fuzzer (`fuzz-api`), regenerating the files derived from the
//! configuration schema (`codegen`) and the local Redis and Qdrant containers (`up`,
//! `down`); `cargo xtask help` lists them with their options.
//!
//! One module per command (`ci`, `test_integration`, `examples`, `package`, `bench`,
//! `layering`, `codegen`, `fuzz_api`, `compose`), plus small shared ones: `args` (a tiny
//! option parser), `process` (running
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
mod dockerfile;
mod examples;
mod fuzz_api;
mod json;
mod layering;
mod package;
mod process;
mod servers;
mod test_integration;

use std::env;
use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  ci                 fmt check (the workspace's, then the examples' sources:
                     see `examples`), clippy (warnings denied), layering check,
                     deployment lint (deploy/lint.sh), docs, `package`, tier-1 tests
                     (cargo test --workspace --all-features), the examples' clippy
                     and runs, the Dockerfile's build command (cargo build
                     --release --locked -p infra-server, read from the file),
                     tier-2 integration tests, `fuzz-api` and `bench
                     --quick` (a smoke run of the performance harness); the one
                     command CI and contributors run
  test-integration   tier 2: every #[ignore = \"tier 2: ...\"] test of the workspace,
                     against real servers (docs/architecture.md)
                     [--redis-url URL] [--qdrant-url URL]; Redis comes from the URL
                     (or INFRA_TEST_REDIS_URL), else Docker, else a local redis-server;
                     INFRA_TEST_ALLOW_SKIP=1 turns a missing server into a loud skip
  examples           the example services under examples/ (each its own workspace,
                     depending on the crates by path, with its own Cargo.lock):
                     checks that every directory is listed, that each lock file pins
                     the root Cargo.lock's versions and each [profile.*] equals the
                     root's, cargo fmt --check, that cache-service depends on no
                     qdrant*, tonic* or axum* crate; then per example clippy
                     (warnings denied) and its run: cache-service, custom-http and
                     vector-service built and run to exit 0, testing-with-mocks'
                     cargo test; all --locked, in the workspace's target directory
                     [--redis-url URL]; cache-service's Redis comes from the URL (or
                     INFRA_TEST_REDIS_URL), else a Docker container of the Compose
                     file's image, else a local redis-server that xtask starts
  package            cargo package for every publishable crate (the libraries,
                     infra-testkit and infra-server; nothing is uploaded), with
                     --no-verify --exclude-lockfile because publish = false keeps
                     cargo from resolving them against each other; then checks the
                     archives compile on their own (cargo check --all-features of
                     the unpacked crates in target/package/verify, patched together)
  bench              the performance harness (docs/benchmarks.md): builds and runs
                     infra-bench, which writes target/bench/report.{json,md} and
                     the Redis grid's charts (target/bench/*.svg)
                     [--quick] [--scenario LIST] [--redis-url URL] [--qdrant-url URL];
                     --quick runs every scenario briefly in the dev profile (a smoke
                     run, its figures are not asserted); without it, a release build,
                     and the charts are copied to docs/bench/; --scenario 1,8 runs
                     only those scenarios (1 to 11, see docs/benchmarks.md)
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
        "examples" => examples::run(&root, &args[1..]),
        "package" => package::run(&root),
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
