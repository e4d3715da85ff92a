//! Tidy: the workspace's layering rules as a test, so that `cargo test --workspace`
//! fails when a dependency arrow is broken. It runs `cargo xtask layering` (the xtask
//! binary Cargo built for this test); the rules live in `xtask/src/layering.rs`.

use std::process::Command;

#[test]
fn layering_rules_hold() {
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("layering")
        // Read at run time: a test binary reused from a shared target directory may have
        // been built in another checkout, whose path `env!` would have baked in.
        .env(
            "CARGO_MANIFEST_DIR",
            std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo test sets CARGO_MANIFEST_DIR"),
        )
        .output()
        .expect("run xtask layering");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "cargo xtask layering failed:\n{stdout}{stderr}"
    );
}
