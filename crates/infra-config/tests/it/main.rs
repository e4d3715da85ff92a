//! Integration tests of loading, precedence, validation and redaction.
//!
//! Every test passes its environment explicitly (`SettingsLoader::from_pairs`)
//! so tests never race on the process environment; the few that need the real
//! process environment run inside `figment::Jail`, which serializes them.

mod bad_inputs;
mod defaults;
mod env_example;
mod env_keys;
mod precedence;
mod process_env;
mod redaction;

use infra_config::{ConfigError, Settings, SettingsLoader};

/// Loads settings from explicit pairs only.
pub(crate) fn load(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    SettingsLoader::from_pairs(pairs.iter().copied()).load()
}

/// Loads settings that must be valid.
pub(crate) fn load_ok(pairs: &[(&str, &str)]) -> Settings {
    match load(pairs) {
        Ok(settings) => settings,
        Err(error) => panic!("expected valid settings, got:\n{error}"),
    }
}

/// Loads settings that must be refused.
pub(crate) fn load_err(pairs: &[(&str, &str)]) -> ConfigError {
    match load(pairs) {
        Ok(settings) => panic!("expected an error for {pairs:?}, got {settings:?}"),
        Err(error) => error,
    }
}

/// Writes a file in a temporary directory and returns its path.
pub(crate) fn write_file(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write temp file");
    path
}
