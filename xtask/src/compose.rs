//! `cargo xtask up` and `cargo xtask down`: the pinned Redis and Qdrant of
//! `docker-compose.yml`, for local runs.

use std::path::Path;

use crate::Result;
use crate::process::run_with_env;

/// `docker compose up -d --wait`.
pub(crate) fn up(root: &Path) -> Result {
    run_with_env(root, "docker", &["compose", "up", "-d", "--wait"], &[])
}

/// `docker compose down`.
pub(crate) fn down(root: &Path) -> Result {
    run_with_env(root, "docker", &["compose", "down"], &[])
}
