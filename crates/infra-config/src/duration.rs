//! Human-readable durations (`250ms`, `2s`, `1m`) for settings fields.
//!
//! Used as `#[serde(with = "crate::duration")]`: a duration is written with a
//! unit so that nobody has to guess whether `5` means seconds or milliseconds;
//! a bare number is refused. Durations serialize back as humantime strings.

use std::fmt;
use std::time::Duration;

use serde::{Deserializer, Serializer, de};

/// The largest duration any setting accepts: anything longer is a typo.
pub(crate) const MAX: Duration = Duration::from_hours(1);

/// What a duration key accepts, for error lines.
pub(crate) const ACCEPTED: &str =
    "a duration with a unit, e.g. 250ms or 2s, more than 0 and at most 1h";

/// Parses a duration with a unit; the error names the problem without the input.
pub(crate) fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("an empty value".to_owned());
    }
    if is_bare_number(text) {
        return Err("a number without a unit".to_owned());
    }
    humantime::parse_duration(text).map_err(|error| describe(&error))
}

fn is_bare_number(text: &str) -> bool {
    text.chars().any(|c| c.is_ascii_digit())
        && text
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | '_'))
}

fn describe(error: &humantime::DurationError) -> String {
    use humantime::DurationError as E;
    match error {
        E::InvalidCharacter(_) => "an invalid character".to_owned(),
        E::NumberExpected(_) => "a unit without a number".to_owned(),
        E::UnknownUnit { unit, .. } if unit.is_empty() => "a number without a unit".to_owned(),
        E::UnknownUnit { unit, .. } => format!("unknown unit `{}`", unit.escape_debug()),
        E::NumberOverflow => "a number that is too large or too precise".to_owned(),
        E::Empty => "an empty value".to_owned(),
    }
}

/// Serializes a duration as a humantime string such as `1s` or `250ms`.
pub(crate) fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(&humantime::format_duration(*value))
}

/// Deserializes a duration from a string with a unit; numbers are refused.
pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Duration, D::Error> {
    deserializer.deserialize_any(DurationVisitor)
}

struct DurationVisitor;

impl de::Visitor<'_> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(ACCEPTED)
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Duration, E> {
        parse(value).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Duration, E> {
        Err(E::custom("a number without a unit"))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Duration, E> {
        Err(E::custom("a number without a unit"))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Duration, E> {
        Err(E::custom("a number without a unit"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse(" 1m "), Ok(Duration::from_mins(1)));
        assert_eq!(parse("1h 30m"), Ok(Duration::from_mins(90)));
        assert_eq!(parse("1.5s"), Ok(Duration::from_millis(1500)));
    }

    #[test]
    fn refuses_bare_numbers_and_garbage() {
        for bare in ["0", "5", "1.5", "-3", "1_000"] {
            assert_eq!(
                parse(bare),
                Err("a number without a unit".to_owned()),
                "{bare}"
            );
        }
        assert_eq!(parse(""), Err("an empty value".to_owned()));
        assert_eq!(parse("5 parsecs"), Err("unknown unit `parsecs`".to_owned()));
        assert_eq!(parse("ms"), Err("a unit without a number".to_owned()));
    }

    #[test]
    fn formats_back_as_humantime() {
        let text = humantime::format_duration(Duration::from_millis(1500)).to_string();
        assert_eq!(text, "1s 500ms");
        assert_eq!(parse(&text), Ok(Duration::from_millis(1500)));
    }
}
