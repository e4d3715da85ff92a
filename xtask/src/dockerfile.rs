//! The Dockerfile's build command, run by `cargo xtask ci`.
//!
//! No Docker daemon runs in CI, so the image itself is not built there; what can break it
//! without touching the Dockerfile is the build it runs (`cargo build --release --locked -p
//! infra-server`: a lock file out of date, a feature only the workspace build turns on, a
//! release-only compile error). CI runs that exact command, read from the Dockerfile's
//! `RUN` instruction, so the two cannot drift apart.

use std::fs;
use std::path::Path;

use crate::Result;
use crate::process::cargo;

/// Reads the `cargo build ...` command of `Dockerfile` at `root` and runs it.
pub(crate) fn run(root: &Path) -> Result {
    let path = root.join("Dockerfile");
    let text = fs::read_to_string(&path)
        .map_err(|err| format!("cannot read {}: {err}", path.display()))?;
    let args = build_command(&text)?;
    println!("xtask: the Dockerfile's build command, without Docker");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    cargo(root, &args)
}

/// The arguments after `cargo` of the one `cargo build` command in `dockerfile`: the words
/// from `cargo build` to the end of its shell command (a line continuation, `&&`, `;` or
/// the end of the line).
fn build_command(dockerfile: &str) -> Result<Vec<String>> {
    let mut found = dockerfile.lines().filter_map(|line| {
        let start = line.find("cargo build")?;
        let command = &line[start + "cargo ".len()..];
        let end = command.find(['\\', '&', ';', '|']).unwrap_or(command.len());
        Some(
            command[..end]
                .split_whitespace()
                .map(str::to_owned)
                .collect::<Vec<_>>(),
        )
    });
    let first = found
        .next()
        .ok_or("the Dockerfile has no `cargo build` command")?;
    if found.next().is_some() {
        return Err("the Dockerfile has several `cargo build` commands; \
                    xtask runs exactly one"
            .to_owned());
    }
    if !first.iter().any(|arg| arg == "--locked") {
        return Err(format!(
            "the Dockerfile's `cargo {}` lacks --locked: the image must build from Cargo.lock",
            first.join(" ")
        ));
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_projects_dockerfile_builds_the_service_locked_in_release() {
        let root = crate::process::project_root();
        let text = fs::read_to_string(root.join("Dockerfile")).unwrap();
        assert_eq!(
            build_command(&text).unwrap(),
            ["build", "--release", "--locked", "-p", "infra-server"]
        );
    }

    #[test]
    fn the_command_ends_at_a_continuation_or_a_chained_command() {
        let text = "RUN --mount=type=cache,target=/x \\\n    cargo build --locked -p a \\\n    && install x\n";
        assert_eq!(
            build_command(text).unwrap(),
            ["build", "--locked", "-p", "a"]
        );
        let text = "RUN cargo build --locked --release && strip x\n";
        assert_eq!(
            build_command(text).unwrap(),
            ["build", "--locked", "--release"]
        );
    }

    #[test]
    fn none_several_or_an_unlocked_build_is_refused() {
        assert!(
            build_command("FROM rust\n")
                .unwrap_err()
                .contains("no `cargo build`")
        );
        let two = "RUN cargo build --locked\nRUN cargo build --locked -p b\n";
        assert!(build_command(two).unwrap_err().contains("several"));
        let unlocked = "RUN cargo build --release -p a\n";
        assert!(
            build_command(unlocked)
                .unwrap_err()
                .contains("lacks --locked")
        );
    }
}
