//! The `log` section: how the service writes its logs.

use serde::{Deserialize, Serialize};

use crate::choice::choice;
use crate::error::render_text;
use crate::schema as keys;
use crate::validate::Checker;

choice! {
    /// How log lines are written.
    pub enum LogFormat {
        /// Human-readable lines.
        Text => "text",
        /// One JSON object per line, for log collectors.
        Json => "json",
    }
    default = Text;
}

/// Settings of logging (`SOCIAL_LOG__*`).
///
/// `level` is the filter used when `RUST_LOG` is not set: at run time
/// `RUST_LOG` wins, so an operator can raise verbosity without touching the
/// configuration.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    /// `text` or `json` (`log.format`).
    pub format: LogFormat,
    /// A `tracing_subscriber::EnvFilter` directive list such as `info` or
    /// `warn,infra_redis=debug` (`log.level`).
    pub level: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: LogFormat::default(),
            level: keys::LOG_LEVEL.default.text().to_owned(),
        }
    }
}

impl LogSettings {
    pub(crate) fn validate(&self, cx: &mut Checker<'_>) {
        if let Err(problem) = check_directives(&self.level) {
            cx.refuse(
                "log.level",
                format!("got {} ({problem})", render_text(&self.level)),
            );
        }
    }
}

/// The level words of a directive, as `EnvFilter` reads them (ignoring case).
const LEVELS: &[&str] = &["trace", "debug", "info", "warn", "error", "off"];

/// Checks the shape of an `EnvFilter` directive list without depending on
/// `tracing-subscriber`: comma-separated `level`, `target`, `target=level`
/// or `target[span{field=value}]=level` directives.
fn check_directives(text: &str) -> Result<(), String> {
    if text.trim().is_empty() {
        return Err("an empty filter".to_owned());
    }
    if text.chars().any(char::is_control) {
        return Err("a control character".to_owned());
    }
    for (index, directive) in text.split(',').map(str::trim).enumerate() {
        let position = index + 1;
        if directive.is_empty() {
            return Err(format!("directive {position} is empty"));
        }
        if directive.contains(char::is_whitespace) {
            return Err(format!("directive {position} contains whitespace"));
        }
        // The level follows the last `=` outside a `[span{...}]` part.
        let outside = directive.rfind(']').map_or(0, |end| end + 1);
        if directive[..outside].matches('[').count() != directive[..outside].matches(']').count()
            || (outside == 0 && directive.contains('['))
        {
            return Err(format!("directive {position} has an unclosed `[`"));
        }
        let (target, level) = match directive[outside..].rfind('=') {
            Some(at) => {
                let at = outside + at;
                (&directive[..at], Some(&directive[at + 1..]))
            }
            None => (directive, None),
        };
        match level {
            Some(level) if !is_level(level) => {
                return Err(format!("directive {position} has an unknown level"));
            }
            Some(_) if target.is_empty() => {
                return Err(format!("directive {position} has no target before `=`"));
            }
            _ => {}
        }
        let name = target.split('[').next().unwrap_or_default();
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '-' | '.'))
        {
            return Err(format!("directive {position} has an invalid target"));
        }
    }
    Ok(())
}

fn is_level(word: &str) -> bool {
    LEVELS.iter().any(|level| level.eq_ignore_ascii_case(word))
        || matches!(word, "0" | "1" | "2" | "3" | "4" | "5")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directives() {
        for good in [
            "info",
            "WARN",
            "warn,infra_redis=debug",
            "infra_redis::adapter=trace, info",
            "infra_redis",
            "my-crate=off",
            "h2[conn{id=1}]=debug",
            "[request]=trace",
        ] {
            assert_eq!(check_directives(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            " ",
            "info,,debug",
            "infra=verbose",
            "=info",
            "a b=info",
            "x[span=info",
            "tar/get=info",
        ] {
            assert!(check_directives(bad).is_err(), "{bad}");
        }
    }
}
