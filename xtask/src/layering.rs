//! `cargo xtask layering`: the dependency rules between the workspace's crates.
//!
//! The rules are the table [`RULES`] (internal arrows) and [`FOUNDATION_CRATES`] /
//! [`FORBIDDEN_IN_FOUNDATION`] (external crates), and nowhere else; `docs/architecture.md`
//! describes them. They run as `cargo xtask layering`, as a step of `cargo xtask ci`, and
//! as the tidy test `xtask/tests/tidy.rs`, so `cargo test --workspace` fails when an arrow
//! is broken.
//!
//! # How the graph is read
//!
//! - **Internal arrows** come from `cargo metadata --format-version 1 --no-deps`: for each
//!   workspace member, its declared dependencies with their kind (normal, build, dev),
//!   whether they are optional, and their target. That is exactly what a rule is about (a
//!   declared arrow, optional or not, on any target), independent of which features a build
//!   enables, and it is a few kilobytes. `cargo tree` prints a feature-resolved graph
//!   instead, where an optional arrow that no feature turns on is invisible. The JSON is
//!   read with the small parser in `json.rs` (std only, like the rest of xtask): adding
//!   serde would cost every `cargo xtask` invocation a build of serde and serde_json for
//!   one document of known shape.
//! - **External crates of the foundation** (infra-base, infra-config) come from
//!   `cargo tree -p CRATE --edges normal --all-features`, as before: that rule is
//!   transitive (no Redis, Qdrant or HTTP crate anywhere below them), and `--no-deps`
//!   metadata stops at the first level. Full `cargo metadata` would carry the resolved
//!   graph too, but as megabytes of JSON for what `cargo tree` prints as one name a line.
//!
//! Dev-dependencies are never checked: tests may use anything (infra-testkit is only ever
//! one). Build-dependencies count as normal ones: they are part of building the crate.
//! Each product crate's allowed set only names crates whose own sets stay inside it, so
//! checking direct arrows also rules out the indirect ones.

use std::collections::BTreeSet;
use std::path::Path;

use crate::Result;
use crate::json::{self, Value};
use crate::process::cargo_output;

/// What a crate may depend on (normal and build dependencies) inside the workspace.
#[derive(Debug, Clone, Copy)]
enum Allowed {
    /// Only these workspace crates.
    Only(&'static [&'static str]),
    /// Any workspace crate but these.
    AnyExcept(&'static [&'static str]),
}

/// One crate's rule and the reason for it.
#[derive(Debug, Clone, Copy)]
struct Rule {
    krate: &'static str,
    allowed: Allowed,
    why: &'static str,
}

/// The crates a service ships; infra-testkit and infra-bench are never a normal
/// dependency of one of them.
const PRODUCT_CRATES: &[&str] = &[
    "infra-config",
    "infra-base",
    "infra-redis",
    "infra-qdrant",
    "infra-qdrant-edge",
    "infra-http",
    "infra-server",
];

/// Test support and the harness: only ever dev-dependencies of a product crate.
const NEVER_SHIPPED: &[&str] = &["infra-testkit", "infra-bench"];

/// Every workspace member's internal dependency rule. A member without a rule fails the
/// check, so a new crate has to be placed here.
const RULES: &[Rule] = &[
    Rule {
        krate: "infra-config",
        allowed: Allowed::Only(&[]),
        why: "configuration is the bottom layer: it knows no other crate",
    },
    Rule {
        krate: "infra-base",
        allowed: Allowed::Only(&["infra-config"]),
        why: "the ports know only the settings types",
    },
    Rule {
        krate: "infra-redis",
        allowed: Allowed::Only(&["infra-base", "infra-config"]),
        why: "an adapter knows the ports and its settings; adapters never know each other",
    },
    Rule {
        krate: "infra-qdrant",
        allowed: Allowed::Only(&["infra-base", "infra-config"]),
        why: "an adapter knows the ports and its settings; adapters never know each other",
    },
    Rule {
        krate: "infra-qdrant-edge",
        allowed: Allowed::Only(&["infra-base", "infra-config"]),
        why: "an adapter knows the ports and its settings; adapters never know each other",
    },
    Rule {
        krate: "infra-http",
        allowed: Allowed::Only(&["infra-base", "infra-config"]),
        why: "HTTP serves the ports' errors and health; it knows no adapter",
    },
    Rule {
        krate: "infra-server",
        allowed: Allowed::AnyExcept(NEVER_SHIPPED),
        why: "the composition root wires every product crate; test support and the \
              harness are never shipped",
    },
    Rule {
        krate: "infra-testkit",
        allowed: Allowed::Only(&["infra-base", "infra-config"]),
        why: "the adapters' tests dev-depend on the testkit, so it must not depend on an \
              adapter (the tests would link two copies of it)",
    },
    Rule {
        krate: "infra-bench",
        allowed: Allowed::AnyExcept(&[]),
        why: "the harness measures every crate; nothing depends on it",
    },
    Rule {
        krate: "xtask",
        allowed: Allowed::Only(&[]),
        why: "xtask is std only so that it builds in seconds",
    },
];

/// Crates that the foundation crates must never depend on, even indirectly.
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

/// Checks every rule; prints what holds and fails with every broken arrow.
pub(crate) fn run(root: &Path) -> Result {
    let metadata = cargo_output(root, &["metadata", "--format-version", "1", "--no-deps"])?;
    let arrows = internal_arrows(&metadata)?;
    let mut broken = check_arrows(&arrows);
    if broken.is_empty() {
        println!(
            "xtask layering: {} crates, {} internal arrows, every one allowed",
            arrows.len(),
            arrows.iter().map(|(_, deps)| deps.len()).sum::<usize>()
        );
    }
    for krate in FOUNDATION_CRATES {
        let tree = cargo_output(
            root,
            &[
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
            ],
        )?;
        let offenders = forbidden_dependencies(&tree);
        if offenders.is_empty() {
            println!("xtask layering: {krate} depends on no Redis, Qdrant or HTTP crate");
        } else {
            broken.push(format!(
                "{krate} must not depend on {}, even indirectly: the foundation crates know \
                 no backend or HTTP crate",
                offenders.join(", ")
            ));
        }
    }
    if broken.is_empty() {
        return Ok(());
    }
    for line in &broken {
        println!("xtask layering: BROKEN: {line}");
    }
    Err(format!(
        "{} layering rule(s) broken (the rules: xtask/src/layering.rs, \
         docs/architecture.md#crates-and-their-dependencies)",
        broken.len()
    ))
}

/// Each workspace member with the workspace members it depends on as a normal or build
/// dependency (optional ones included), from `cargo metadata --no-deps` output.
fn internal_arrows(metadata: &str) -> Result<Vec<(String, BTreeSet<String>)>> {
    let metadata = json::parse(metadata).map_err(|e| format!("cargo metadata: {e}"))?;
    let packages = metadata
        .get("packages")
        .ok_or("cargo metadata: no `packages`")?
        .as_array();
    let members: BTreeSet<&str> = packages
        .iter()
        .filter_map(|p| p.get("name").and_then(Value::as_str))
        .collect();
    let mut arrows = Vec::new();
    for package in packages {
        let name = package
            .get("name")
            .and_then(Value::as_str)
            .ok_or("cargo metadata: a package without a name")?;
        let deps = package
            .get("dependencies")
            .map(Value::as_array)
            .unwrap_or_default()
            .iter()
            .filter(|dep| dep.get("kind").and_then(Value::as_str) != Some("dev"))
            .filter_map(|dep| dep.get("name").and_then(Value::as_str))
            .filter(|dep| members.contains(dep) && *dep != name)
            .map(str::to_owned)
            .collect();
        arrows.push((name.to_owned(), deps));
    }
    arrows.sort();
    Ok(arrows)
}

/// Whether `rule` lets its crate depend on `dep`.
fn allows(rule: &Rule, dep: &str) -> bool {
    match rule.allowed {
        Allowed::Only(list) => list.contains(&dep),
        Allowed::AnyExcept(list) => !list.contains(&dep),
    }
}

/// The table's own invariant: no product crate may depend on test support or the harness.
fn table_errors() -> Vec<String> {
    RULES
        .iter()
        .filter(|rule| PRODUCT_CRATES.contains(&rule.krate))
        .flat_map(|rule| {
            NEVER_SHIPPED
                .iter()
                .filter(|never| allows(rule, never))
                .map(|never| format!("RULES lets product crate {} depend on {never}", rule.krate))
        })
        .collect()
}

/// Every broken rule among `arrows`, one message each.
fn check_arrows(arrows: &[(String, BTreeSet<String>)]) -> Vec<String> {
    let mut broken = table_errors();
    for (krate, deps) in arrows {
        let Some(rule) = RULES.iter().find(|r| r.krate == krate) else {
            broken.push(format!(
                "{krate} has no layering rule: add one to RULES in xtask/src/layering.rs"
            ));
            continue;
        };
        for dep in deps {
            if !allows(rule, dep) {
                broken.push(format!(
                    "{krate} -> {dep} is not allowed as a normal dependency: {}",
                    rule.why
                ));
            }
        }
    }
    for rule in RULES {
        if !arrows.iter().any(|(krate, _)| krate == rule.krate) {
            broken.push(format!(
                "RULES names {}, which is not a workspace member",
                rule.krate
            ));
        }
    }
    broken
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

#[cfg(test)]
mod tests {
    use super::*;

    fn arrows(list: &[(&str, &[&str])]) -> Vec<(String, BTreeSet<String>)> {
        list.iter()
            .map(|(k, deps)| {
                (
                    (*k).to_owned(),
                    deps.iter().map(|d| (*d).to_owned()).collect(),
                )
            })
            .collect()
    }

    /// The workspace as it is meant to be, every member present.
    fn allowed_workspace() -> Vec<(String, BTreeSet<String>)> {
        arrows(&[
            ("infra-config", &[]),
            ("infra-base", &["infra-config"]),
            ("infra-redis", &["infra-base", "infra-config"]),
            ("infra-qdrant", &["infra-base", "infra-config"]),
            ("infra-qdrant-edge", &["infra-base", "infra-config"]),
            ("infra-http", &["infra-base", "infra-config"]),
            (
                "infra-server",
                &[
                    "infra-base",
                    "infra-config",
                    "infra-http",
                    "infra-qdrant",
                    "infra-qdrant-edge",
                    "infra-redis",
                ],
            ),
            ("infra-testkit", &["infra-base"]),
            ("infra-bench", &["infra-server", "infra-testkit"]),
            ("xtask", &[]),
        ])
    }

    #[test]
    fn the_intended_workspace_passes() {
        assert_eq!(check_arrows(&allowed_workspace()), Vec::<String>::new());
    }

    #[test]
    fn never_arrows_are_refused() {
        for (krate, dep) in [
            ("infra-http", "infra-redis"),
            ("infra-redis", "infra-qdrant"),
            ("infra-qdrant", "infra-qdrant-edge"),
            ("infra-base", "infra-http"),
            ("infra-config", "infra-base"),
            ("infra-server", "infra-testkit"),
            ("infra-server", "infra-bench"),
            ("infra-testkit", "infra-redis"),
            ("xtask", "infra-config"),
        ] {
            let mut workspace = allowed_workspace();
            let entry = workspace.iter_mut().find(|(k, _)| k == krate).unwrap();
            entry.1.insert(dep.to_owned());
            let broken = check_arrows(&workspace);
            assert_eq!(broken.len(), 1, "{krate} -> {dep}: {broken:?}");
            assert!(
                broken[0].starts_with(&format!("{krate} -> {dep} is not allowed")),
                "{broken:?}"
            );
        }
    }

    #[test]
    fn a_crate_without_a_rule_and_a_stale_rule_are_reported() {
        let mut workspace = allowed_workspace();
        workspace.retain(|(k, _)| k != "xtask");
        workspace.push(("infra-new".to_owned(), BTreeSet::new()));
        let broken = check_arrows(&workspace);
        assert_eq!(broken.len(), 2, "{broken:?}");
        assert!(broken[0].starts_with("infra-new has no layering rule"));
        assert!(broken[1].contains("RULES names xtask"));
    }

    #[test]
    fn no_product_crate_may_ship_test_support_or_the_harness() {
        assert_eq!(table_errors(), Vec::<String>::new());
        for krate in PRODUCT_CRATES {
            assert!(RULES.iter().any(|r| r.krate == *krate), "{krate}");
        }
    }

    #[test]
    fn metadata_arrows_skip_dev_dependencies_and_keep_optional_ones() {
        let metadata = r#"{"packages":[
            {"name":"infra-base","dependencies":[
                {"name":"infra-config","kind":null,"optional":true},
                {"name":"serde","kind":null,"optional":false}]},
            {"name":"infra-config","dependencies":[]},
            {"name":"infra-redis","dependencies":[]},
            {"name":"infra-testkit","dependencies":[]},
            {"name":"infra-http","dependencies":[
                {"name":"infra-base","kind":null,"optional":false},
                {"name":"infra-testkit","kind":"dev","optional":false},
                {"name":"infra-redis","kind":"build","optional":false}]}
            ],"workspace_members":[]}"#;
        assert_eq!(
            internal_arrows(metadata).unwrap(),
            arrows(&[
                ("infra-base", &["infra-config"]),
                ("infra-config", &[]),
                ("infra-http", &["infra-base", "infra-redis"]),
                ("infra-redis", &[]),
                ("infra-testkit", &[]),
            ])
        );
    }

    #[test]
    fn forbidden_dependencies_are_found_by_exact_name() {
        let tree = "infra-base v0.1.0 (/x)\nserde v1.0.0\nredis v0.27.0\naxum-core v0.4.0\nredis v0.27.0\n";
        assert_eq!(forbidden_dependencies(tree), vec!["redis".to_owned()]);
        assert!(forbidden_dependencies("infra-config v0.1.0\nfigment v0.10.19\n").is_empty());
    }
}
