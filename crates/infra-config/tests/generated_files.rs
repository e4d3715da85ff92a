//! `.env.example` and `docs/configuration.md` are generated from the key table
//! (`infra_config::schema`) and checked in; this test fails when a file on disk
//! differs from its rendering. With `INFRA_CODEGEN=overwrite` it rewrites the
//! files instead: that is what `cargo xtask codegen` runs
//! (`cargo test -p infra-config --test generated_files`).

use std::path::{Path, PathBuf};

use infra_config::schema::{render_env_example, render_markdown};

/// The workspace root, two levels above this crate's manifest.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Compares `relative` with `rendered`; rewrites it under `INFRA_CODEGEN=overwrite`.
fn ensure_fresh(relative: &str, rendered: &str) {
    let path = workspace_root().join(relative);
    let on_disk = std::fs::read_to_string(&path)
        .unwrap_or_default()
        .replace("\r\n", "\n");
    if on_disk == rendered {
        return;
    }
    if std::env::var("INFRA_CODEGEN").as_deref() == Ok("overwrite") {
        std::fs::write(&path, rendered)
            .unwrap_or_else(|error| panic!("cannot write {}: {error}", path.display()));
        eprintln!("updated {relative}");
        return;
    }
    let first_difference = on_disk
        .lines()
        .zip(rendered.lines())
        .position(|(disk, fresh)| disk != fresh)
        .unwrap_or_else(|| on_disk.lines().count().min(rendered.lines().count()));
    panic!(
        "{relative} is stale: run `cargo xtask codegen` \
         (first difference at line {}: on disk {:?}, generated {:?})",
        first_difference + 1,
        on_disk
            .lines()
            .nth(first_difference)
            .unwrap_or("<end of file>"),
        rendered
            .lines()
            .nth(first_difference)
            .unwrap_or("<end of file>"),
    );
}

#[test]
fn env_example_is_fresh() {
    ensure_fresh(".env.example", &render_env_example());
}

#[test]
fn configuration_doc_is_fresh() {
    ensure_fresh("docs/configuration.md", &render_markdown());
}
