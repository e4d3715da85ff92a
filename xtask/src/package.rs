//! `cargo xtask package`: every publishable crate packaged as `cargo publish` would upload
//! it, and the packages checked to compile on their own. Nothing is uploaded.
//!
//! The workspace has `publish = false` (the owners turn it on), and cargo's own
//! verification cannot run under it: a multi-package `cargo package` resolves the
//! packages' dependencies on each other through a local registry overlay, which leaves out
//! every `publish = false` crate, so `infra-base`'s dependency on `infra-config` finds
//! nothing ("no matching package named `infra-config` found"). Hence two steps:
//!
//! 1. `cargo package -p ... --no-verify --exclude-lockfile --allow-dirty` (uncommitted
//!    work is packaged as it is: `ci` runs on work in progress) for [`PACKAGES`]: cargo orders
//!    them by their dependencies, normalizes each manifest (workspace inheritance
//!    resolved, path dependencies replaced by versions) and writes
//!    `<target>/package/<crate>-<version>.crate`.
//! 2. The verification cargo would do, by hand: the archives are unpacked into
//!    `<target>/package/verify/`, joined into a scratch workspace whose
//!    `[patch.crates-io]` points each crate's name at its unpacked copy, with the root's
//!    `Cargo.lock` (same versions) and `[profile.*]` tables (same artefacts), and
//!    `cargo check --workspace --all-features` compiles what was packaged: a file left out
//!    of a package, a manifest that only works inside the workspace, or a feature that
//!    names a dev-dependency fails here. `check`, not cargo's `build`: the workspace's own
//!    build already generates code for the same sources, so codegen would only add time.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use crate::Result;
use crate::examples::profile_tables;
use crate::json;
use crate::process::{cargo_bin, cargo_output, run_with_env, target_dir};

/// The crates that `cargo publish` would upload once `publish` is on, the library crates
/// and the reference service (a binary and a library, installable with `cargo install`).
/// infra-testkit is one of them: infra-redis, infra-qdrant and infra-server dev-depend on
/// it by version, which a registry requires to exist.
const PACKAGES: &[&str] = &[
    "infra-config",
    "infra-base",
    "infra-redis",
    "infra-qdrant",
    "infra-qdrant-edge",
    "infra-http",
    "infra-testkit",
    "infra-server",
];

/// Workspace members that are never packaged, with the reason.
const NOT_PACKAGED: &[(&str, &str)] = &[
    (
        "infra-bench",
        "the performance harness of this repository (publish = false of its own)",
    ),
    (
        "xtask",
        "this repository's automation (publish = false of its own)",
    ),
];

/// Packages [`PACKAGES`] and checks that the packages compile on their own.
pub(crate) fn run(root: &Path) -> Result {
    let started = Instant::now();
    let versions = member_versions(root)?;
    let target = target_dir(root);
    let package_dir = target.join("package");
    let target_env = target.display().to_string();
    let envs = [("CARGO_TARGET_DIR", target_env.as_str())];

    let mut args = vec!["package"];
    for krate in PACKAGES {
        args.extend(["--package", krate]);
    }
    // --allow-dirty: `cargo xtask ci` runs on work in progress; nothing is uploaded.
    args.extend(["--no-verify", "--exclude-lockfile", "--allow-dirty"]);
    run_with_env(root, &cargo_bin(), &args, &envs)?;

    let verify = package_dir.join("verify");
    if verify.exists() {
        std::fs::remove_dir_all(&verify)
            .map_err(|e| format!("cannot remove {}: {e}", verify.display()))?;
    }
    std::fs::create_dir_all(&verify)
        .map_err(|e| format!("cannot create {}: {e}", verify.display()))?;
    let mut unpacked = Vec::new();
    for krate in PACKAGES {
        let version = versions
            .iter()
            .find(|(name, _)| name == krate)
            .map(|(_, version)| version.as_str())
            .ok_or_else(|| format!("{krate} is not a workspace member"))?;
        let dir = format!("{krate}-{version}");
        let archive = package_dir.join(format!("{dir}.crate"));
        let archive = archive.display().to_string();
        let into = verify.display().to_string();
        // `-m`: extracted files get the current time, not the archive's, so cargo never
        // takes an earlier check of the same paths for up to date.
        run_with_env(root, "tar", &["-xmzf", &archive, "-C", &into], &[])?;
        unpacked.push(((*krate).to_owned(), dir));
    }
    let root_manifest = std::fs::read_to_string(root.join("Cargo.toml"))
        .map_err(|e| format!("cannot read Cargo.toml: {e}"))?;
    let manifest = verify_manifest(&unpacked, &profile_tables(&root_manifest));
    std::fs::write(verify.join("Cargo.toml"), manifest)
        .map_err(|e| format!("cannot write the verification manifest: {e}"))?;
    std::fs::copy(root.join("Cargo.lock"), verify.join("Cargo.lock"))
        .map_err(|e| format!("cannot copy Cargo.lock: {e}"))?;
    let verify_manifest_path = verify.join("Cargo.toml").display().to_string();
    run_with_env(
        root,
        &cargo_bin(),
        &[
            "check",
            "--manifest-path",
            &verify_manifest_path,
            "--workspace",
            "--all-features",
        ],
        &envs,
    )
    .map_err(|e| format!("the packaged crates do not compile on their own: {e}"))?;
    println!(
        "xtask package: {} crates packaged into {} and checked from their archives in {:.0}s \
         (nothing uploaded)",
        PACKAGES.len(),
        package_dir.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `(name, version)` of every workspace member; fails when a member is in neither
/// [`PACKAGES`] nor [`NOT_PACKAGED`], or a listed crate is no member.
fn member_versions(root: &Path) -> Result<Vec<(String, String)>> {
    let metadata = cargo_output(root, &["metadata", "--format-version", "1", "--no-deps"])?;
    let members = parse_members(&metadata)?;
    let names: BTreeSet<&str> = members.iter().map(|(name, _)| name.as_str()).collect();
    let listed: BTreeSet<&str> = PACKAGES
        .iter()
        .copied()
        .chain(NOT_PACKAGED.iter().map(|(name, _)| *name))
        .collect();
    if names != listed {
        return Err(format!(
            "the workspace's members {names:?} differ from the crates xtask/src/package.rs \
             knows {listed:?}: put each member in PACKAGES or NOT_PACKAGED"
        ));
    }
    Ok(members)
}

/// `(name, version)` of each package of `cargo metadata --no-deps` output.
fn parse_members(metadata: &str) -> Result<Vec<(String, String)>> {
    let metadata = json::parse(metadata).map_err(|e| format!("cargo metadata: {e}"))?;
    metadata
        .get("packages")
        .ok_or("cargo metadata: no `packages`")?
        .as_array()
        .iter()
        .map(|package| {
            let field = |key: &str| {
                package
                    .get(key)
                    .and_then(json::Value::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| format!("cargo metadata: a package without a {key}"))
            };
            Ok((field("name")?, field("version")?))
        })
        .collect()
}

/// The scratch workspace of the unpacked crates (`(name, directory)`), each name patched to
/// its directory, with the root's profile lines.
fn verify_manifest(unpacked: &[(String, String)], profiles: &[String]) -> String {
    let members: Vec<String> = unpacked
        .iter()
        .map(|(_, dir)| format!("\"{dir}\""))
        .collect();
    let mut text = format!(
        "# Written by `cargo xtask package`: the packaged crates, checked on their own.\n\
         [workspace]\nresolver = \"3\"\nmembers = [{}]\n\n[patch.crates-io]\n",
        members.join(", ")
    );
    for (name, dir) in unpacked {
        let _ = writeln!(text, "{name} = {{ path = \"{dir}\" }}");
    }
    for line in profiles {
        if line.starts_with('[') {
            text.push('\n');
        }
        text.push_str(line);
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_are_read_from_metadata() {
        let metadata = r#"{"packages":[{"name":"infra-base","version":"0.1.0","id":"x"},
            {"name":"xtask","version":"0.2.0"}],"workspace_members":[]}"#;
        assert_eq!(
            parse_members(metadata).unwrap(),
            vec![
                ("infra-base".to_owned(), "0.1.0".to_owned()),
                ("xtask".to_owned(), "0.2.0".to_owned())
            ]
        );
        assert!(parse_members(r#"{"packages":[{"name":"x"}]}"#).is_err());
    }

    #[test]
    fn the_verification_workspace_patches_every_crate_to_its_archive() {
        let unpacked = vec![
            ("infra-config".to_owned(), "infra-config-0.1.0".to_owned()),
            ("infra-base".to_owned(), "infra-base-0.1.0".to_owned()),
        ];
        let profiles = vec!["[profile.dev]".to_owned(), "debug = false".to_owned()];
        let manifest = verify_manifest(&unpacked, &profiles);
        assert!(manifest.contains("members = [\"infra-config-0.1.0\", \"infra-base-0.1.0\"]"));
        assert!(manifest.contains("[patch.crates-io]\ninfra-config = { path = \"infra-config-0.1.0\" }\ninfra-base = { path = \"infra-base-0.1.0\" }\n"));
        assert!(manifest.ends_with("\n[profile.dev]\ndebug = false\n"));
    }

    #[test]
    fn every_workspace_member_is_packaged_or_excluded_with_a_reason() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        assert!(member_versions(root).is_ok());
    }
}
