//! `ConfigError`: every way loading can fail, each as one line that names the
//! key, says what is wrong and what is accepted, and never echoes a secret.

use std::fmt;
use std::path::PathBuf;

use figment::error::{Actual, Kind};
use figment::value::{Dict, Value};

use crate::schema;

/// Why settings could not be loaded.
///
/// Every variant displays as one line, except [`ConfigError::Many`], which is
/// one line per problem so that all of them can be fixed in one go.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A key has a value that is refused.
    #[error("{key} ({path}): {problem}, expected {accepted}")]
    Invalid {
        /// The environment key, with the configured prefix (`SOCIAL_REDIS__PORT`).
        key: String,
        /// The dotted path of the key (`redis.port`), as used in the TOML file.
        path: String,
        /// What is wrong; quotes the value only when it is not secret.
        problem: String,
        /// What the key accepts.
        accepted: String,
    },
    /// Several problems; displayed one per line.
    #[error("{}", Lines(.0))]
    Many(Vec<ConfigError>),
    /// A configuration file that was asked for cannot be found or read.
    #[error("{}: {problem}", .path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong, e.g. `not found (named by SOCIAL_CONFIG_FILE)`.
        problem: String,
    },
    /// A configuration file is not valid TOML or `.env` syntax.
    #[error("{}{}: {problem}", .path.display(), LineSuffix(*.line))]
    Parse {
        /// The file.
        path: PathBuf,
        /// The 1-based line of the problem, when known.
        line: Option<usize>,
        /// The syntax problem; never the text of the line.
        problem: String,
    },
}

impl ConfigError {
    /// Builds an `Invalid` error, forcing every part onto one line.
    pub(crate) fn invalid(
        key: impl Into<String>,
        path: impl Into<String>,
        problem: impl Into<String>,
        accepted: impl Into<String>,
    ) -> Self {
        Self::Invalid {
            key: one_line(key.into()),
            path: one_line(path.into()),
            problem: one_line(problem.into()),
            accepted: one_line(accepted.into()),
        }
    }

    /// Collapses a list of problems: `Ok` when empty, the error itself when
    /// there is one, `Many` otherwise.
    pub(crate) fn from_list(mut errors: Vec<ConfigError>) -> Result<(), ConfigError> {
        match errors.len() {
            0 => Ok(()),
            1 => Err(errors.remove(0)),
            _ => Err(ConfigError::Many(errors)),
        }
    }

    /// The individual problems: the items of `Many`, or this error alone.
    pub fn errors(&self) -> &[ConfigError] {
        match self {
            Self::Many(errors) => errors,
            other => std::slice::from_ref(other),
        }
    }

    /// The environment key of an `Invalid` error.
    pub fn key(&self) -> Option<&str> {
        match self {
            Self::Invalid { key, .. } => Some(key),
            _ => None,
        }
    }

    /// The dotted path of an `Invalid` error.
    pub fn path(&self) -> Option<&str> {
        match self {
            Self::Invalid { path, .. } => Some(path),
            _ => None,
        }
    }
}

struct Lines<'a>(&'a [ConfigError]);

impl fmt::Display for Lines<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, error) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

struct LineSuffix(Option<usize>);

impl fmt::Display for LineSuffix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(line) => write!(f, " line {line}"),
            None => Ok(()),
        }
    }
}

/// Replaces line breaks so that one problem is always one line.
pub(crate) fn one_line(text: String) -> String {
    if text.contains(['\n', '\r']) {
        text.replace("\r\n", " ").replace(['\n', '\r'], " ")
    } else {
        text
    }
}

/// Turns one of figment's deserialization errors into an `Invalid` line.
///
/// figment's own messages quote the offending value (and name the key in its
/// own `REDIS.PORT` style), so the line is rebuilt from the error's path and
/// kind; the value is quoted only for keys that [`schema::may_echo`] allows
/// (declared public scalar keys: never a secret, a URL, a list, a section or
/// an undeclared key).
pub(crate) fn from_figment(error: &figment::Error, data: &Dict, prefix: &str) -> ConfigError {
    let path = error.path.join(".");
    let key = schema::env_key(prefix, &path);
    let echo = schema::may_echo(&path);
    let accepted = if schema::is_section(&path) {
        format!("a section with keys below it, like {key}__<KEY>")
    } else {
        schema::accepted(&path)
    };
    let value = lookup(data, &error.path);
    let got = || match value {
        Some(value) if echo => render(value),
        _ => "a value".to_owned(),
    };
    match &error.kind {
        Kind::UnknownField(_, expected) => ConfigError::invalid(
            key,
            path,
            "unknown key",
            format!("one of {}", expected.join(", ")),
        ),
        Kind::UnknownVariant(_, _) => {
            ConfigError::invalid(key, &path, format!("got {}", got()), accepted)
        }
        Kind::Message(message) if echo => {
            ConfigError::invalid(key, &path, format!("got {} ({message})", got()), accepted)
        }
        // Messages come from this crate's own parsers, which never repeat a value.
        Kind::Message(message) => ConfigError::invalid(key, &path, message, accepted),
        Kind::InvalidType(actual, _) | Kind::InvalidValue(actual, _) if !echo => {
            ConfigError::invalid(
                key,
                &path,
                format!("the value has the wrong type ({})", kind_of(actual)),
                accepted,
            )
        }
        _ => ConfigError::invalid(key, &path, format!("got {}", got()), accepted),
    }
}

/// Finds the value at a path in the merged data.
pub(crate) fn lookup<'a>(data: &'a Dict, path: &[String]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    let mut value = data.get(first)?;
    for part in rest {
        value = value.as_dict()?.get(part)?;
    }
    Some(value)
}

/// Quotes a non-secret value for an error line: short, single-line, and with
/// anything that looks like a credential left out.
pub(crate) fn render(value: &Value) -> String {
    match value {
        Value::String(_, text) => render_text(text),
        Value::Char(_, c) => render_text(&c.to_string()),
        Value::Bool(_, b) => b.to_string(),
        Value::Num(_, n) => match n.to_actual() {
            Actual::Unsigned(v) => v.to_string(),
            Actual::Signed(v) => v.to_string(),
            Actual::Float(v) => v.to_string(),
            _ => "a number".to_owned(),
        },
        Value::Empty(..) => "nothing".to_owned(),
        Value::Dict(..) => "a section of keys".to_owned(),
        Value::Array(..) => "a list".to_owned(),
    }
}

/// Quotes text, unless it is empty, long, or could hold a credential.
pub(crate) fn render_text(text: &str) -> String {
    const LONGEST: usize = 64;
    if text.is_empty() {
        "an empty value".to_owned()
    } else if text.contains('@') || text.contains("://") {
        "a value that looks like a URL or credentials (not shown)".to_owned()
    } else if text.chars().count() > LONGEST {
        format!("a {}-character value (not shown)", text.chars().count())
    } else if text.chars().all(|c| c.is_ascii_graphic()) {
        text.to_owned()
    } else {
        format!("{text:?}")
    }
}

/// Names the type of a value without showing it.
fn kind_of(actual: &Actual) -> &'static str {
    match actual {
        Actual::Bool(_) => "found true or false",
        Actual::Unsigned(_) | Actual::Signed(_) => "found an integer; quote it in a TOML file",
        Actual::Float(_) => "found a number; quote it in a TOML file",
        Actual::Char(_) | Actual::Str(_) => "found a string",
        Actual::Seq => "found a list",
        Actual::Map => "found a section of keys",
        _ => "found an unsupported value",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_is_one_line() {
        let error = ConfigError::invalid("SOCIAL_REDIS__PORT", "redis.port", "got 0\nx", "1-65535");
        assert_eq!(
            error.to_string(),
            "SOCIAL_REDIS__PORT (redis.port): got 0 x, expected 1-65535"
        );
    }

    #[test]
    fn many_is_one_line_each() {
        let many = ConfigError::Many(vec![
            ConfigError::invalid("A", "a", "bad", "good"),
            ConfigError::invalid("B", "b", "bad", "good"),
        ]);
        assert_eq!(
            many.to_string(),
            "A (a): bad, expected good\nB (b): bad, expected good"
        );
        assert_eq!(many.errors().len(), 2);
    }

    #[test]
    fn render_keeps_credentials_out() {
        assert_eq!(render_text("abc"), "abc");
        assert_eq!(render_text("a b"), "\"a b\"");
        assert!(!render_text("redis://u:pw@h").contains("pw"));
        assert!(!render_text(&"x".repeat(100)).contains("xxx"));
    }
}
