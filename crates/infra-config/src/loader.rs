//! `SettingsLoader`: layering defaults, a TOML file, `.env` and the
//! environment, then deserializing and validating once.
//!
//! Values from `.env` and the environment are kept as the exact raw strings
//! (figment's own `Env` provider would turn a password `0123` into the number
//! 123, and `1.10` into the float 1.1); booleans and numbers are then read
//! leniently from those strings by figment's lossy extraction. Deserialization
//! errors are collected key by key (the failing key is set aside and the rest
//! deserialized again), so one load reports every problem at once.

use std::collections::{BTreeSet, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use figment::value::{Dict, Value};

use crate::error::{self, ConfigError, one_line};
use crate::schema;
use crate::settings::Settings;
use crate::validate::Checker;

/// The environment prefix used unless [`SettingsLoader::prefix`] changes it.
pub const DEFAULT_PREFIX: &str = "SOCIAL_";

/// Builds [`Settings`] from layered sources, lowest precedence first:
/// defaults, a TOML file, `.env`, the environment.
///
/// Environment keys are `<PREFIX><SECTION>__<KEY>`, with `__` between nesting
/// levels: `SOCIAL_REDIS__POOL__MAX_SIZE` is `redis.pool.max_size`. Keys are
/// matched ignoring case. An empty value counts as not set. Variables under
/// the prefix all belong to this configuration: one whose first section is
/// unknown (`SOCIAL_REDSI__URL`), a near-miss such as `SOCIAL_REDIS_URL` (one
/// underscore) and an unknown key inside a section are refused. Only with an
/// empty prefix are other variables left alone. `<PREFIX>CONFIG_FILE` names
/// the TOML file.
///
/// ```
/// use infra_config::SettingsLoader;
///
/// let settings = SettingsLoader::from_pairs([("APP_HTTP__PORT", "0")])
///     .prefix("APP_")
///     .load()?;
/// assert_eq!(settings.http.port, 0);
/// # Ok::<(), infra_config::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct SettingsLoader {
    prefix: String,
    toml_file: Option<PathBuf>,
    dotenv: Dotenv,
    env: EnvSource,
}

#[derive(Clone, Debug)]
enum Dotenv {
    /// `.env` in the current directory, when it exists.
    Default,
    /// This file, which must exist.
    File(PathBuf),
    /// No `.env` file.
    Off,
}

#[derive(Clone)]
enum EnvSource {
    /// The process environment; `.env` is exported into it.
    Process,
    /// These pairs instead; the process environment is neither read nor changed.
    Pairs(Vec<(String, String)>),
}

impl fmt::Debug for SettingsLoader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let env = match &self.env {
            EnvSource::Process => "process environment".to_owned(),
            EnvSource::Pairs(pairs) => format!("{} explicit pairs (values not shown)", pairs.len()),
        };
        f.debug_struct("SettingsLoader")
            .field("prefix", &self.prefix)
            .field("toml_file", &self.toml_file)
            .field("dotenv", &self.dotenv)
            .field("env", &env)
            .finish()
    }
}

impl Default for SettingsLoader {
    fn default() -> Self {
        Self::new()
    }
}

impl SettingsLoader {
    /// Reads the process environment with prefix `SOCIAL_`, `.env` from the
    /// current directory if present, and the TOML file named by
    /// `SOCIAL_CONFIG_FILE` if set.
    ///
    /// `.env` is also exported into the process environment, without
    /// overriding variables that are already set, so that other libraries
    /// (e.g. `RUST_LOG`) see it. Changing the environment is not thread-safe:
    /// load settings first thing in `main`, before starting threads.
    pub fn new() -> Self {
        Self {
            prefix: DEFAULT_PREFIX.to_owned(),
            toml_file: None,
            dotenv: Dotenv::Default,
            env: EnvSource::Process,
        }
    }

    /// Reads these `(name, value)` pairs instead of the process environment,
    /// which is then neither read nor changed: tests can load settings in
    /// parallel. No `.env` file is read unless [`SettingsLoader::dotenv`]
    /// names one.
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Self {
            prefix: DEFAULT_PREFIX.to_owned(),
            toml_file: None,
            dotenv: Dotenv::Off,
            env: EnvSource::Pairs(
                pairs
                    .into_iter()
                    .map(|(k, v)| (k.into(), v.into()))
                    .collect(),
            ),
        }
    }

    /// Uses another prefix than `SOCIAL_` (include the trailing `_`), for
    /// workspaces whose keys are named differently.
    #[must_use]
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Reads this TOML file (it must exist) below `.env` and the environment.
    /// Takes precedence over `<PREFIX>CONFIG_FILE`.
    #[must_use]
    pub fn toml_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.toml_file = Some(path.into());
        self
    }

    /// Reads this `.env` file (it must exist) instead of `./.env`.
    #[must_use]
    pub fn dotenv(mut self, path: impl Into<PathBuf>) -> Self {
        self.dotenv = Dotenv::File(path.into());
        self
    }

    /// Reads no `.env` file at all.
    #[must_use]
    pub fn no_dotenv(mut self) -> Self {
        self.dotenv = Dotenv::Off;
        self
    }

    /// Loads, deserializes and validates the settings.
    ///
    /// Fails closed: a missing or unreadable file that was asked for, a
    /// syntax error, or any refused value is an error, and every refused key
    /// is reported (one line each) rather than only the first.
    pub fn load(&self) -> Result<Settings, ConfigError> {
        let prefix = self.prefix.as_str();
        let mut problems = Vec::new();

        let dotenv = self.read_dotenv()?;
        let env = self.environment(&mut problems);
        let toml = match self.toml_source(&env, &dotenv) {
            Some((path, origin)) => read_toml(&path, &origin)?,
            None => Dict::new(),
        };

        let mut data = own_sections(toml, prefix, &mut problems);
        merge(&mut data, env_layer(prefix, &dotenv, &mut problems));
        merge(&mut data, env_layer(prefix, &env, &mut problems));

        let mut explicit = BTreeSet::new();
        leaves(&data, "", &mut explicit);
        let (mut settings, found) = deserialize(data, prefix);
        problems.extend(found);

        let mut cx = Checker::new(prefix, &explicit);
        settings.check(&mut cx);
        let mut problems = cx.finish(problems);
        // `.env` is exported into the process environment and then read from
        // both: a bad key there would otherwise be reported twice.
        let mut seen = HashSet::new();
        problems.retain(|problem| seen.insert(problem.to_string()));
        ConfigError::from_list(problems)?;
        settings.normalize();
        Ok(settings)
    }

    /// Reads `.env` (first value of a repeated key wins, as when exported)
    /// and, for the process environment, exports it without overriding.
    fn read_dotenv(&self) -> Result<Vec<(String, String)>, ConfigError> {
        let (path, required) = match &self.dotenv {
            Dotenv::Off => return Ok(Vec::new()),
            Dotenv::Default => (PathBuf::from(".env"), false),
            Dotenv::File(path) => (path.clone(), true),
        };
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound && !required => {
                return Ok(Vec::new());
            }
            Err(error) => return Err(file_error(&path, &error, "the .env file")),
        };
        let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
        let mut seen = HashSet::new();
        let mut pairs = Vec::new();
        for item in dotenvy::from_read_iter(text) {
            let (key, value) = item.map_err(|error| dotenv_error(&path, text, &error))?;
            if seen.insert(key.clone()) {
                pairs.push((key, value));
            }
        }
        if matches!(self.env, EnvSource::Process) {
            dotenvy::from_read(text).map_err(|error| dotenv_error(&path, text, &error))?;
        }
        Ok(pairs)
    }

    /// The environment pairs under the prefix.
    fn environment(&self, problems: &mut Vec<ConfigError>) -> Vec<(String, String)> {
        let EnvSource::Pairs(pairs) = &self.env else {
            let mut pairs = Vec::new();
            for (name, value) in std::env::vars_os() {
                let Ok(name) = name.into_string() else {
                    continue;
                };
                let Some(rest) = strip_prefix(name.trim(), &self.prefix) else {
                    continue;
                };
                if let Ok(value) = value.into_string() {
                    pairs.push((name, value));
                } else {
                    let path = rest.to_ascii_lowercase().replace("__", ".");
                    let accepted = schema::accepted(&path);
                    problems.push(ConfigError::invalid(
                        name.trim(),
                        path,
                        "the value is not valid UTF-8",
                        accepted,
                    ));
                }
            }
            return pairs;
        };
        pairs.clone()
    }

    /// The TOML file to read, and where it was named (for error lines).
    fn toml_source(
        &self,
        env: &[(String, String)],
        dotenv: &[(String, String)],
    ) -> Option<(PathBuf, String)> {
        if let Some(path) = &self.toml_file {
            return Some((
                path.clone(),
                "set with SettingsLoader::toml_file".to_owned(),
            ));
        }
        let name = format!("{}CONFIG_FILE", self.prefix);
        // The environment first: it takes precedence over `.env`.
        env.iter()
            .rev()
            .chain(dotenv.iter())
            .find(|(key, value)| key.trim().eq_ignore_ascii_case(&name) && !value.is_empty())
            .map(|(key, value)| (PathBuf::from(value), format!("named by {}", key.trim())))
    }
}

/// `name` without `prefix`, compared ignoring ASCII case.
fn strip_prefix<'a>(name: &'a str, prefix: &str) -> Option<&'a str> {
    let head = name.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &name[prefix.len()..])
}

fn file_error(path: &Path, error: &std::io::Error, what: &str) -> ConfigError {
    let problem = if error.kind() == std::io::ErrorKind::NotFound {
        format!("{what} was not found")
    } else {
        format!("{what} cannot be read ({error})")
    };
    ConfigError::File {
        path: path.to_owned(),
        problem: one_line(problem),
    }
}

/// A `.env` syntax error, with the line number but never the line itself.
fn dotenv_error(path: &Path, text: &[u8], error: &dotenvy::Error) -> ConfigError {
    match error {
        dotenvy::Error::LineParse(line, position) => {
            let text = String::from_utf8_lossy(text);
            let number = text
                .find(line.trim_end())
                .map(|offset| text[..offset].matches('\n').count() + 1);
            ConfigError::Parse {
                path: path.to_owned(),
                line: number,
                problem: format!("invalid .env syntax at position {position} of the line"),
            }
        }
        dotenvy::Error::Io(error) => file_error(path, error, "the .env file"),
        _ => ConfigError::Parse {
            path: path.to_owned(),
            line: None,
            problem: "invalid .env content (a variable could not be substituted)".to_owned(),
        },
    }
}

/// Reads the TOML file; a missing file is an error since it was asked for.
fn read_toml(path: &Path, origin: &str) -> Result<Dict, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| file_error(path, &error, &format!("the TOML file ({origin})")))?;
    Toml::from_str::<Dict>(&text).map_err(|error| {
        let line = error
            .span()
            .and_then(|span| text.get(..span.start))
            .map(|before| before.matches('\n').count() + 1);
        ConfigError::Parse {
            path: path.to_owned(),
            line,
            problem: one_line(format!("invalid TOML ({})", error.message().trim())),
        }
    })
}

/// Keeps the sections this crate owns; any other top-level table in a file
/// that is ours is a mistake.
fn own_sections(mut toml: Dict, prefix: &str, problems: &mut Vec<ConfigError>) -> Dict {
    toml.retain(|key, _| {
        let known = schema::is_top_section(key);
        if !known {
            problems.push(ConfigError::invalid(
                schema::env_key(prefix, key),
                key.as_str(),
                "unknown key",
                format!("one of {}", section_list()),
            ));
        }
        known
    });
    toml
}

/// The top-level sections, comma-separated.
fn section_list() -> String {
    schema::section_names().collect::<Vec<_>>().join(", ")
}

/// Nests `PREFIX_A__B__C=value` pairs into `{a: {b: {c: "value"}}}`, with
/// every value kept as the raw string.
fn env_layer(prefix: &str, pairs: &[(String, String)], problems: &mut Vec<ConfigError>) -> Dict {
    let mut sorted: Vec<_> = pairs
        .iter()
        .filter_map(|(name, value)| {
            let name = name.trim();
            strip_prefix(name, prefix).map(|rest| (name, rest.to_ascii_lowercase(), value))
        })
        .collect();
    // Parents before children, and later duplicates last so that they win.
    sorted.sort_by(|a, b| a.1.cmp(&b.1));
    let mut dict = Dict::new();
    for (name, rest, value) in sorted {
        if value.is_empty() || rest.is_empty() || rest == "config_file" {
            continue;
        }
        let parts: Vec<&str> = rest.split("__").collect();
        let path = parts.join(".");
        let section = parts.first().copied().unwrap_or_default();
        if !schema::is_top_section(section) {
            // With an empty prefix, `REDIS_URL` and friends belong to other software.
            if prefix.is_empty() {
                continue;
            }
            if let Some(owner) = schema::section_names().find(|s| {
                section
                    .strip_prefix(*s)
                    .is_some_and(|tail| tail.starts_with('_'))
            }) {
                let intended =
                    schema::env_key(prefix, &format!("{owner}.{}", &section[owner.len() + 1..]));
                problems.push(ConfigError::invalid(
                    name,
                    path,
                    "unknown key (one underscore after the section)",
                    format!("keys like {intended}, with two underscores between section and key"),
                ));
            } else {
                // Every variable under the prefix is ours: a typo in the
                // section must not be silently ignored.
                problems.push(ConfigError::invalid(
                    name,
                    path,
                    "unknown section",
                    format!(
                        "a key of one of the sections {} ({prefix}<SECTION>__<KEY>)",
                        section_list()
                    ),
                ));
            }
            continue;
        }
        if parts.iter().any(|part| part.is_empty()) {
            problems.push(ConfigError::invalid(
                name,
                path,
                "a malformed key (an empty part between `__` separators)",
                format!(
                    "keys like {}",
                    schema::env_key(prefix, "redis.pool.max_size")
                ),
            ));
            continue;
        }
        if let Err(section_path) = insert(&mut dict, &parts, Value::from(value.clone())) {
            problems.push(ConfigError::invalid(
                schema::env_key(prefix, &section_path),
                section_path.as_str(),
                "set as a value and also as a section with keys below it",
                "only the keys below it",
            ));
        }
    }
    dict
}

/// Inserts a value at a nested path; on a value/section clash the section
/// wins and the clashing path is returned.
fn insert(dict: &mut Dict, parts: &[&str], value: Value) -> Result<(), String> {
    let mut current = dict;
    let mut clash = None;
    for (depth, part) in parts.iter().enumerate() {
        if depth + 1 == parts.len() {
            if matches!(current.get(*part), Some(Value::Dict(..))) {
                return Err(parts.join("."));
            }
            current.insert((*part).to_owned(), value);
            return clash.map_or(Ok(()), Err);
        }
        let entry = current
            .entry((*part).to_owned())
            .or_insert_with(|| Value::from(Dict::new()));
        if !matches!(entry, Value::Dict(..)) {
            clash = Some(parts[..=depth].join("."));
            *entry = Value::from(Dict::new());
        }
        let Value::Dict(_, next) = entry else {
            return Err(parts.join("."));
        };
        current = next;
    }
    Ok(())
}

/// Merges `from` over `into`: sections merge key by key, values replace.
fn merge(into: &mut Dict, from: Dict) {
    for (key, value) in from {
        if let (Some(Value::Dict(_, existing)), Value::Dict(_, incoming)) =
            (into.get_mut(&key), &value)
        {
            merge(existing, incoming.clone());
            continue;
        }
        into.insert(key, value);
    }
}

/// Collects the dotted paths of every value that was set.
fn leaves(dict: &Dict, base: &str, out: &mut BTreeSet<String>) {
    for (key, value) in dict {
        let path = if base.is_empty() {
            key.clone()
        } else {
            format!("{base}.{key}")
        };
        match value {
            Value::Dict(_, inner) => leaves(inner, &path, out),
            _ => {
                out.insert(path);
            }
        }
    }
}

/// Deserializes the merged data, collecting every failing key: a failing key
/// is set aside (so its default applies) and the rest tried again.
fn deserialize(mut data: Dict, prefix: &str) -> (Settings, Vec<ConfigError>) {
    let mut errors = Vec::new();
    let mut budget = BTreeSet::new();
    leaves(&data, "", &mut budget);
    for _ in 0..=budget.len() + schema::SECTIONS.len() {
        match Figment::from(Serialized::defaults(&data)).extract_lossy::<Settings>() {
            Ok(settings) => return (settings, errors),
            Err(failure) => {
                let mut progressed = false;
                for failure in failure {
                    errors.push(error::from_figment(&failure, &data, prefix));
                    progressed |= remove(&mut data, &failure.path);
                }
                if !progressed {
                    break;
                }
            }
        }
    }
    (Settings::default(), errors)
}

/// Removes the value at a path; false when there is nothing to remove.
fn remove(dict: &mut Dict, path: &[String]) -> bool {
    match path {
        [] => false,
        [last] => dict.remove(last).is_some(),
        [first, rest @ ..] => match dict.get_mut(first) {
            Some(Value::Dict(_, inner)) => remove(inner, rest),
            _ => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nests_and_keeps_raw_strings() {
        let mut problems = Vec::new();
        let pairs = vec![
            ("SOCIAL_REDIS__PASSWORD".to_owned(), "0123".to_owned()),
            ("social_redis__pool__max_size".to_owned(), "8".to_owned()),
            ("OTHER_X".to_owned(), "1".to_owned()),
        ];
        let dict = env_layer("SOCIAL_", &pairs, &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        let redis = dict["redis"].as_dict().unwrap();
        assert_eq!(redis["password"], Value::from("0123".to_owned()));
        assert_eq!(
            redis["pool"].as_dict().unwrap()["max_size"],
            Value::from("8".to_owned())
        );
        assert!(!dict.contains_key("other_x"));
    }

    #[test]
    fn clashes_and_near_misses_are_reported() {
        let mut problems = Vec::new();
        let pairs = vec![
            ("SOCIAL_REDIS__TLS".to_owned(), "true".to_owned()),
            ("SOCIAL_REDIS__TLS__ENABLED".to_owned(), "true".to_owned()),
            ("SOCIAL_REDIS_URL".to_owned(), "redis://x".to_owned()),
            ("SOCIAL_REDIS____PORT".to_owned(), "1".to_owned()),
            ("SOCIAL_DATABASE__URL".to_owned(), "postgres://x".to_owned()),
        ];
        env_layer("SOCIAL_", &pairs, &mut problems);
        let mut keys: Vec<_> = problems.iter().filter_map(ConfigError::key).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "SOCIAL_DATABASE__URL",
                "SOCIAL_REDIS_URL",
                "SOCIAL_REDIS__TLS",
                "SOCIAL_REDIS____PORT"
            ]
        );
    }

    #[test]
    fn merge_is_deep() {
        let mut low = Dict::new();
        insert(&mut low, &["redis", "host"], Value::from("a".to_owned())).unwrap();
        insert(&mut low, &["redis", "port"], Value::from("1".to_owned())).unwrap();
        let mut high = Dict::new();
        insert(&mut high, &["redis", "port"], Value::from("2".to_owned())).unwrap();
        merge(&mut low, high);
        let redis = low["redis"].as_dict().unwrap();
        assert_eq!(redis["host"], Value::from("a".to_owned()));
        assert_eq!(redis["port"], Value::from("2".to_owned()));
    }
}
