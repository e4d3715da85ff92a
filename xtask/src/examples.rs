//! `cargo xtask examples`: the example services under `examples/`, built and run the way
//! another project would build them.
//!
//! Each example is a package and a workspace of its own (an empty `[workspace]` table)
//! that depends on the crates by `path`, with a committed `Cargo.lock`. Two parts:
//!
//! - [`check_sources`] (seconds; `cargo xtask ci` runs it right after the workspace's fmt
//!   check): [`EXAMPLES`] lists every directory under `examples/`; each example's lock file
//!   pins the versions the root `Cargo.lock` pins and its `[profile.*]` tables equal the
//!   root's (otherwise its builds could not reuse the workspace's artefacts); `cargo fmt
//!   --check`; and cache-service's dependency tree holds no crate whose name starts with
//!   one of [`CACHE_SERVICE_BANNED`] (a Redis-only service must not pay for Qdrant, gRPC
//!   or HTTP).
//! - [`build_and_run`]: per example, clippy (warnings denied, every target) and then its
//!   run: programs are built and run to completion (exit 0 required), cache-service
//!   against a Redis found like tier 2 finds one ([`RedisForRun`]); a library runs
//!   `cargo test`.
//!
//! Every cargo command passes `--locked` and the workspace's target directory
//! (`CARGO_TARGET_DIR`, else `target/`), so the examples share its artefacts where their
//! features agree.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::Result;
use crate::args::{self, Opt};
use crate::process::{cargo_bin, cargo_output, run_with_env, target_dir};
use crate::servers::{ALLOW_SKIP_ENV, REDIS_URL_ENV, RedisForRun, allow_skip, non_empty_env};

/// How an example proves itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A program run to completion; `redis` when it needs a Redis (`SOCIAL_REDIS__URL`).
    Program { redis: bool },
    /// A library whose tests are the example (`cargo test`).
    Tests,
}

/// One example: its directory under `examples/` (also its package and binary name).
#[derive(Debug, Clone, Copy)]
struct Example {
    name: &'static str,
    kind: Kind,
}

/// Every example, in the order they run. A directory under `examples/` missing here (or
/// an entry without its directory) fails the check.
const EXAMPLES: &[Example] = &[
    Example {
        name: "testing-with-mocks",
        kind: Kind::Tests,
    },
    Example {
        name: "cache-service",
        kind: Kind::Program { redis: true },
    },
    Example {
        name: "custom-http",
        kind: Kind::Program { redis: false },
    },
    Example {
        name: "vector-service",
        kind: Kind::Program { redis: false },
    },
];

/// The example that must build without vector-store, gRPC or HTTP crates.
const CACHE_SERVICE: &str = "cache-service";

/// Name prefixes of the crates cache-service must not depend on, even indirectly.
const CACHE_SERVICE_BANNED: &[&str] = &["qdrant", "tonic", "axum"];

/// The options of `cargo xtask examples`.
const OPTIONS: [Opt; 1] = [Opt::Value {
    name: "--redis-url",
    placeholder: "URL",
}];

/// `cargo xtask examples [--redis-url URL]`: [`check_sources`], then [`build_and_run`].
pub(crate) fn run(root: &Path, args: &[String]) -> Result {
    let parsed = args::parse("examples", &OPTIONS, args)?;
    let started = Instant::now();
    check_sources(root)?;
    build_and_run(root, parsed.value("--redis-url").as_deref())?;
    println!(
        "xtask examples: done in {:.0}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The cheap checks: the list of examples, lock files and profiles against the root's,
/// formatting, and cache-service's dependency ban.
pub(crate) fn check_sources(root: &Path) -> Result {
    let dirs = example_dirs(root)?;
    let listed: BTreeSet<String> = EXAMPLES.iter().map(|e| e.name.to_owned()).collect();
    if dirs != listed {
        return Err(format!(
            "examples/ holds {dirs:?} but xtask/src/examples.rs lists {listed:?}: add the new \
             example to EXAMPLES (or remove the stale entry)"
        ));
    }
    let root_lock = read(&root.join("Cargo.lock"))?;
    let root_profiles = profile_tables(&read(&root.join("Cargo.toml"))?);
    let mut problems = Vec::new();
    for example in EXAMPLES {
        let dir = example_dir(root, example.name);
        let lock = read(&dir.join("Cargo.lock"))?;
        for drift in lock_drift(&root_lock, &lock) {
            problems.push(format!(
                "examples/{}/Cargo.lock: {drift}; refresh it from the root's: cp Cargo.lock \
                 examples/{0}/ && cargo metadata --manifest-path examples/{0}/Cargo.toml \
                 --format-version 1 >/dev/null",
                example.name
            ));
        }
        if profile_tables(&read(&dir.join("Cargo.toml"))?) != root_profiles {
            problems.push(format!(
                "examples/{}/Cargo.toml: its [profile.*] tables differ from the root \
                 Cargo.toml's, so its builds cannot share the workspace's artefacts",
                example.name
            ));
        }
    }
    if !problems.is_empty() {
        return Err(problems.join("\n"));
    }
    println!(
        "xtask examples: {} examples, lock files and profiles agree with the root's",
        EXAMPLES.len()
    );
    for example in EXAMPLES {
        example_cargo(
            root,
            example.name,
            &[
                "fmt",
                "--manifest-path",
                &manifest(example.name),
                "--",
                "--check",
            ],
        )?;
    }
    let tree = cargo_output(
        root,
        &[
            "tree",
            "--manifest-path",
            &manifest(CACHE_SERVICE),
            "--locked",
            "--edges",
            "normal,build",
            "--target",
            "all",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ],
    )?;
    let banned = banned_crates(&tree, CACHE_SERVICE_BANNED);
    if !banned.is_empty() {
        return Err(format!(
            "{CACHE_SERVICE} must not depend on {} (crates starting with {}): it shows that a \
             Redis-only service builds without vector-store, gRPC or HTTP crates",
            banned.join(", "),
            CACHE_SERVICE_BANNED.join(", ")
        ));
    }
    println!(
        "xtask examples: {CACHE_SERVICE} depends on no {}* crate",
        CACHE_SERVICE_BANNED.join("*, no ")
    );
    Ok(())
}

/// Clippy, then the build and run (or tests) of every example; cache-service gets a Redis
/// from `redis_url`, `INFRA_TEST_REDIS_URL`, Docker or a local redis-server.
pub(crate) fn build_and_run(root: &Path, redis_url: Option<&str>) -> Result {
    let target = target_dir(root);
    for example in EXAMPLES {
        let started = Instant::now();
        let manifest = manifest(example.name);
        example_cargo(
            root,
            example.name,
            &[
                "clippy",
                "--manifest-path",
                &manifest,
                "--locked",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ],
        )?;
        match example.kind {
            Kind::Tests => {
                example_cargo(
                    root,
                    example.name,
                    &["test", "--manifest-path", &manifest, "--locked"],
                )?;
            }
            Kind::Program { redis } => {
                example_cargo(
                    root,
                    example.name,
                    &["build", "--manifest-path", &manifest, "--locked"],
                )?;
                let binary = target
                    .join("debug")
                    .join(example.name)
                    .display()
                    .to_string();
                let dir = example_dir(root, example.name);
                if redis {
                    let url = match redis_url {
                        Some(url) => Some((url.to_owned(), "--redis-url")),
                        None => non_empty_env(REDIS_URL_ENV).map(|u| (u, REDIS_URL_ENV)),
                    };
                    match RedisForRun::provide(root, url)? {
                        Some(server) => {
                            println!(
                                "xtask examples: {} uses Redis: {}",
                                example.name,
                                server.describe()
                            );
                            run_with_env(
                                &dir,
                                &binary,
                                &[],
                                &[("SOCIAL_REDIS__URL", server.url())],
                            )
                            .map_err(|e| format!("example {} failed: {e}", example.name))?;
                        }
                        None if allow_skip() => println!(
                            "xtask examples: SKIPPED running {} ({ALLOW_SKIP_ENV}=1): no Redis \
                             (no URL, no Docker, no redis-server); WARNING: it was built, not run",
                            example.name
                        ),
                        None => {
                            return Err(format!(
                                "example {} needs a Redis: pass --redis-url or set \
                                 {REDIS_URL_ENV}, start Docker, or install redis-server; or set \
                                 {ALLOW_SKIP_ENV}=1 to skip running it loudly",
                                example.name
                            ));
                        }
                    }
                } else {
                    run_with_env(&dir, &binary, &[], &[])
                        .map_err(|e| format!("example {} failed: {e}", example.name))?;
                }
            }
        }
        println!(
            "xtask examples: {} passed in {:.0}s",
            example.name,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// `examples/NAME/Cargo.toml`, relative to the root (where cargo runs).
fn manifest(name: &str) -> String {
    format!("examples/{name}/Cargo.toml")
}

fn example_dir(root: &Path, name: &str) -> PathBuf {
    root.join("examples").join(name)
}

/// Runs cargo for an example from the root, with the workspace's target directory.
fn example_cargo(root: &Path, name: &str, args: &[&str]) -> Result {
    let target = target_dir(root).display().to_string();
    run_with_env(root, &cargo_bin(), args, &[("CARGO_TARGET_DIR", &target)])
        .map_err(|e| format!("example {name}: {e}"))
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// The directories under `examples/` that hold a `Cargo.toml`.
fn example_dirs(root: &Path) -> Result<BTreeSet<String>> {
    let dir = root.join("examples");
    let entries =
        std::fs::read_dir(&dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    Ok(entries
        .flatten()
        .filter(|entry| entry.path().join("Cargo.toml").is_file())
        .filter_map(|entry| entry.file_name().to_str().map(str::to_owned))
        .collect())
}

/// `name -> versions` of the registry packages of a `Cargo.lock` (those with a `source`;
/// path packages, the workspace's own crates, have none).
fn locked_versions(lock: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut versions: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for block in lock.split("[[package]]").skip(1) {
        let field = |key: &str| {
            block.lines().find_map(|line| {
                let value = line.strip_prefix(key)?.trim_start().strip_prefix('=')?;
                Some(value.trim().trim_matches('"').to_owned())
            })
        };
        if let (Some(name), Some(version), Some(_)) =
            (field("name"), field("version"), field("source"))
        {
            versions.entry(name).or_default().insert(version);
        }
    }
    versions
}

/// Each registry package of `example` locked at a version that `root` does not lock.
fn lock_drift(root: &str, example: &str) -> Vec<String> {
    let root = locked_versions(root);
    let mut drift = Vec::new();
    for (name, versions) in locked_versions(example) {
        for version in versions {
            match root.get(&name) {
                Some(pinned) if pinned.contains(&version) => {}
                Some(pinned) => drift.push(format!(
                    "{name} {version}, the root Cargo.lock has {}",
                    pinned.iter().cloned().collect::<Vec<_>>().join(", ")
                )),
                None => drift.push(format!(
                    "{name} {version}, which the root Cargo.lock does not have"
                )),
            }
        }
    }
    drift
}

/// The `[profile.*]` tables of a manifest, as their trimmed non-empty, non-comment lines.
pub(crate) fn profile_tables(manifest: &str) -> Vec<String> {
    let mut inside = false;
    let mut lines = Vec::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            inside = line.starts_with("[profile.");
        }
        if inside && !line.is_empty() && !line.starts_with('#') {
            lines.push(line.to_owned());
        }
    }
    lines
}

/// The crates of `cargo tree --prefix none --format {p}` output whose name starts with one
/// of `prefixes`.
fn banned_crates(tree: &str, prefixes: &[&str]) -> Vec<String> {
    let mut found: Vec<String> = tree
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| prefixes.iter().any(|prefix| name.starts_with(prefix)))
        .map(str::to_owned)
        .collect();
    found.sort();
    found.dedup();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT_LOCK: &str = r#"
version = 4

[[package]]
name = "infra-base"
version = "0.1.0"

[[package]]
name = "tokio"
version = "1.48.0"
source = "registry+https://github.com/rust-lang/crates.io-index"

[[package]]
name = "windows-sys"
version = "0.52.0"
source = "registry+https://github.com/rust-lang/crates.io-index"

[[package]]
name = "windows-sys"
version = "0.59.0"
source = "registry+https://github.com/rust-lang/crates.io-index"
"#;

    #[test]
    fn a_lock_that_agrees_with_the_root_has_no_drift() {
        let example = r#"
[[package]]
name = "cache-service"
version = "0.1.0"

[[package]]
name = "tokio"
version = "1.48.0"
source = "registry+https://github.com/rust-lang/crates.io-index"

[[package]]
name = "windows-sys"
version = "0.59.0"
source = "registry+https://github.com/rust-lang/crates.io-index"
"#;
        assert!(lock_drift(ROOT_LOCK, example).is_empty());
    }

    #[test]
    fn other_versions_and_unknown_crates_are_drift() {
        let example = r#"
[[package]]
name = "tokio"
version = "1.47.1"
source = "registry+https://github.com/rust-lang/crates.io-index"

[[package]]
name = "rand"
version = "0.9.0"
source = "registry+https://github.com/rust-lang/crates.io-index"
"#;
        assert_eq!(
            lock_drift(ROOT_LOCK, example),
            vec![
                "rand 0.9.0, which the root Cargo.lock does not have".to_owned(),
                "tokio 1.47.1, the root Cargo.lock has 1.48.0".to_owned(),
            ]
        );
    }

    #[test]
    fn profile_tables_are_compared_without_comments_and_blank_lines() {
        let root = "[workspace]\nmembers = []\n\n[profile.dev]\ndebug = \"line-tables-only\"\n\n\
                    [profile.dev.package.\"*\"]\ndebug = false\n";
        let example = "[package]\nname = \"x\"\n[workspace]\n\n# shared\n[profile.dev]\n\
                       debug = \"line-tables-only\"\n[profile.dev.package.\"*\"]\ndebug = false\n\
                       [dependencies]\nserde = \"1\"\n";
        assert_eq!(profile_tables(root), profile_tables(example));
        assert_ne!(
            profile_tables(root),
            profile_tables("[profile.dev]\ndebug = true\n")
        );
    }

    #[test]
    fn banned_crates_are_found_by_prefix() {
        let tree = "cache-service v0.1.0 (/x)\nredis v1.8.1\ntonic-build v0.14.0\n\
                    axum-core v0.5.0\nqdrant-edge v0.7.0\ntokio v1.48.0\nhyper v1.0.0\n";
        assert_eq!(
            banned_crates(tree, CACHE_SERVICE_BANNED),
            vec!["axum-core", "qdrant-edge", "tonic-build"]
        );
        assert!(banned_crates("redis v1.8.1\ntokio v1.48.0\n", CACHE_SERVICE_BANNED).is_empty());
    }

    #[test]
    fn every_example_directory_is_listed() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let listed: BTreeSet<String> = EXAMPLES.iter().map(|e| e.name.to_owned()).collect();
        assert_eq!(example_dirs(root).unwrap(), listed);
    }
}
