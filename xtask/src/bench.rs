//! `cargo xtask bench`: builds and runs the performance harness, `infra-bench`.

use std::path::Path;
use std::time::Instant;

use crate::Result;
use crate::args::{self, Opt};
use crate::process::{cargo, run_with_env, target_dir};
use crate::servers::redact_url;
use crate::test_integration::{IntegrationOptions, URL_OPTIONS};

/// The options of `cargo xtask bench`.
#[derive(Debug, Default, PartialEq, Eq)]
struct BenchOptions {
    quick: bool,
    /// `--scenario LIST`, passed to the harness as given (it checks the numbers).
    scenarios: Option<String>,
    urls: IntegrationOptions,
}

/// `--scenario LIST`: only these scenarios of the harness (`1,8`).
const SCENARIO: Opt = Opt::Value {
    name: "--scenario",
    placeholder: "LIST",
};

impl BenchOptions {
    fn parse(args: &[String]) -> Result<Self> {
        let [redis, qdrant] = URL_OPTIONS;
        let parsed = args::parse(
            "bench",
            &[Opt::Flag("--quick"), SCENARIO, redis, qdrant],
            args,
        )?;
        Ok(Self {
            quick: parsed.flag("--quick"),
            scenarios: parsed.value("--scenario"),
            urls: IntegrationOptions::from_parsed(&parsed),
        })
    }

    /// The command line as typed, for the report.
    fn command(&self) -> String {
        let mut words = vec!["cargo xtask bench".to_owned()];
        if self.quick {
            words.push("--quick".to_owned());
        }
        if let Some(list) = &self.scenarios {
            words.push(format!("--scenario {list}"));
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

/// The performance harness: builds `infra-bench` and runs it from the project root, which
/// writes `target/bench/report.json`, `target/bench/report.md` and the charts of scenarios
/// 4, 6 and 8 (`target/bench/*.svg`, see `docs/benchmarks.md`). A full run (not `--quick`) also has
/// the harness copy the charts into `docs/bench/`, where `docs/benchmarks.md` embeds them.
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
pub(crate) fn run(root: &Path, args: &[String], caller: Option<&str>) -> Result {
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
                // Scenario 6 starts the service's binary of the same build.
                "--bin",
                "infra-server",
            ],
            "release",
        )
    };
    cargo(root, build)?;
    let binary = target_dir(root).join(profile).join("infra-bench");
    let command = match caller {
        Some(caller) => format!("{caller} (its step `{}`)", options.command()),
        None => options.command(),
    };
    let mut bench_args = vec![
        "--out".to_owned(),
        root.join("target").join("bench").display().to_string(),
        "--command".to_owned(),
        command,
    ];
    if options.quick {
        bench_args.push("--quick".to_owned());
    } else {
        bench_args.extend([
            "--copy-svg".to_owned(),
            root.join("docs").join("bench").display().to_string(),
        ]);
    }
    if let Some(list) = &options.scenarios {
        bench_args.extend(["--scenario".to_owned(), list.clone()]);
    }
    if let Some(url) = &options.urls.redis_url {
        bench_args.extend(["--redis-url".to_owned(), url.clone()]);
    }
    if let Some(url) = &options.urls.qdrant_url {
        bench_args.extend(["--qdrant-url".to_owned(), url.clone()]);
    }
    let bench_args: Vec<&str> = bench_args.iter().map(String::as_str).collect();
    let program = binary.display().to_string();
    run_with_env(root, &program, &bench_args, &[]).map_err(|e| format!("the bench failed: {e}"))?;
    println!(
        "xtask bench: done in {:.0}s; report in target/bench/report.md",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::strings;

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
        let options = BenchOptions::parse(&strings(&["--scenario", "1,8"])).unwrap();
        assert_eq!(options.scenarios.as_deref(), Some("1,8"));
        assert_eq!(options.command(), "cargo xtask bench --scenario 1,8");
        let err = BenchOptions::parse(&strings(&["--fast"])).unwrap_err();
        assert_eq!(
            err,
            "bench: unknown argument `--fast` (accepted: --quick, --scenario LIST, \
             --redis-url URL, --qdrant-url URL)"
        );
    }
}
