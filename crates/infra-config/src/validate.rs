//! Cross-field and range validation, run once at load.
//!
//! Each settings section checks its own rules with a [`Checker`], which
//! collects every problem (one `Invalid` line each) instead of stopping at the
//! first, and knows which keys were set explicitly (so that, e.g., a host given
//! next to a URL is refused instead of silently ignored).

use std::collections::BTreeSet;
use std::fmt::Display;
use std::time::Duration;

use crate::error::ConfigError;
use crate::schema::Kind;
use crate::{duration, schema};

/// Collects validation problems for one load.
pub(crate) struct Checker<'a> {
    prefix: &'a str,
    explicit: &'a BTreeSet<String>,
    errors: Vec<ConfigError>,
}

impl<'a> Checker<'a> {
    /// A checker naming keys with `prefix`; `explicit` holds the dotted paths
    /// that a file or the environment set.
    pub(crate) fn new(prefix: &'a str, explicit: &'a BTreeSet<String>) -> Self {
        Self {
            prefix,
            explicit,
            errors: Vec::new(),
        }
    }

    /// The environment key of a dotted path, with this load's prefix.
    pub(crate) fn key(&self, path: &str) -> String {
        schema::env_key(self.prefix, path)
    }

    /// Whether a file or the environment set `path` (not just the default).
    pub(crate) fn is_explicit(&self, path: &str) -> bool {
        self.explicit.contains(path)
    }

    /// Records a problem with its own description of what is accepted.
    pub(crate) fn fail(
        &mut self,
        path: &str,
        problem: impl Into<String>,
        accepted: impl Into<String>,
    ) {
        let key = self.key(path);
        self.errors
            .push(ConfigError::invalid(key, path, problem, accepted));
    }

    /// Records a problem; what is accepted comes from the key table.
    pub(crate) fn refuse(&mut self, path: &str, problem: impl Into<String>) {
        debug_assert!(schema::find(path).is_some(), "undeclared key {path}");
        self.fail(path, problem, schema::accepted(path));
    }

    /// Refuses a zero or absurd duration (more than [`duration::MAX`]).
    pub(crate) fn duration(&mut self, path: &str, value: Duration) {
        if value.is_zero() || value > duration::MAX {
            self.refuse(path, format!("got {}", humantime::format_duration(value)));
        }
    }

    /// Refuses a number outside the bounds declared for `path` in the key table.
    pub(crate) fn bounded<T: TryInto<i64> + Display + Copy>(&mut self, path: &str, value: T) {
        let Some(Kind::Integer { min, max }) = schema::find(path).map(|key| key.kind) else {
            debug_assert!(false, "{path} is not a declared integer key");
            return;
        };
        let inside = value
            .try_into()
            .is_ok_and(|number: i64| number >= min && max.is_none_or(|max| number <= max));
        if !inside {
            self.refuse(path, format!("got {value}"));
        }
    }

    /// Refuses a file path that does not name an existing file.
    pub(crate) fn existing_file(&mut self, path: &str, file: &std::path::Path) {
        if !file.is_file() {
            let problem = if file.exists() {
                "is not a file"
            } else {
                "does not exist"
            };
            self.refuse(path, format!("{} {problem}", file.display()));
        }
    }

    /// The problems found, dropping any for a key that already has one (from
    /// deserialization, say), so that each key is reported once.
    pub(crate) fn finish(self, mut earlier: Vec<ConfigError>) -> Vec<ConfigError> {
        let seen: BTreeSet<String> = earlier
            .iter()
            .filter_map(|e| e.path().map(str::to_owned))
            .collect();
        earlier.extend(
            self.errors
                .into_iter()
                .filter(|e| e.path().is_none_or(|p| !seen.contains(p))),
        );
        earlier
    }
}
