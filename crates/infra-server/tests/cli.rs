//! The binary as a user runs it: `infra-server [config]`, the README's first command.

use std::process::{Command, Output};

/// Runs the binary in an empty directory (no stray `.env`) with only the given `SOCIAL_*`
/// keys set.
fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_infra-server"));
    cmd.args(args).current_dir(dir.path());
    for (key, _) in std::env::vars() {
        if key.starts_with("SOCIAL_") {
            cmd.env_remove(key);
        }
    }
    cmd.envs(env.iter().copied());
    cmd.output().expect("run infra-server")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn prints_the_effective_configuration_as_json() {
    let out = run(&[], &[("SOCIAL_REDIS__PORT", "6390")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(json["redis"]["port"], 6390, "env key applied");
    assert_eq!(json["qdrant"]["port"], 6334, "default kept");
    let again = run(&["config"], &[("SOCIAL_REDIS__PORT", "6390")]);
    assert_eq!(
        stdout(&again),
        stdout(&out),
        "`config` is the default command"
    );
}

#[test]
fn never_prints_secrets() {
    let marker = "s3cr3t-MARKER-4f1c";
    let out = run(
        &["config"],
        &[
            ("SOCIAL_REDIS__PASSWORD", marker),
            ("SOCIAL_QDRANT__MODE", "remote"),
            ("SOCIAL_QDRANT__API_KEY", marker),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stdout(&out).contains(marker), "{}", stdout(&out));
    assert!(!stderr(&out).contains(marker));

    let url = format!("redis://app:{marker}@127.0.0.1:6379/0");
    let out = run(&["config"], &[("SOCIAL_REDIS__URL", url.as_str())]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stdout(&out).contains(marker), "{}", stdout(&out));
}

#[test]
fn bad_configuration_exits_2_with_one_line_per_problem_naming_the_key() {
    let out = run(&[], &[("SOCIAL_REDIS__PORT", "0")]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].contains("SOCIAL_REDIS__PORT"), "{err}");
    assert!(stdout(&out).is_empty());

    let marker = "hunter2-MARKER-77aa";
    let url = format!("ftp://app:{marker}@127.0.0.1:6379");
    let out = run(
        &[],
        &[
            ("SOCIAL_REDIS__URL", url.as_str()),
            ("SOCIAL_HTTP__PORT", "70000"),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 2, "both problems reported: {err}");
    assert!(
        err.contains("SOCIAL_REDIS__URL") && err.contains("SOCIAL_HTTP__PORT"),
        "{err}"
    );
    assert!(!err.contains(marker), "secret echoed: {err}");
}

#[test]
fn help_documents_commands_and_keys_and_bad_arguments_are_usage_errors() {
    let out = run(&["--help"], &[]);
    assert!(out.status.success());
    let help = stdout(&out);
    assert!(
        help.contains("config") && help.contains("SOCIAL_REDIS__"),
        "{help}"
    );
    let out = run(&["frobnicate"], &[]);
    assert_eq!(out.status.code(), Some(64));
    assert!(stderr(&out).contains("unknown arguments"));
}
