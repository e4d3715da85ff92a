//! Optional text values: an empty string means "not set".
//!
//! `.env` files and TOML files often carry `KEY=` or `key = ""` for a value
//! that is not used; treating those as unset keeps the defaults (or the lower
//! layer) in force instead of failing on an empty host or password.

use std::path::PathBuf;

use serde::{Deserialize, Deserializer, de};

/// A value built from the exact raw text of a key (no number or bool guessing).
pub(crate) trait FromText: Sized {
    /// Builds the value; the error never repeats the text.
    fn from_text(text: String) -> Result<Self, String>;
}

impl FromText for String {
    fn from_text(text: String) -> Result<Self, String> {
        Ok(text)
    }
}

impl FromText for PathBuf {
    fn from_text(text: String) -> Result<Self, String> {
        Ok(PathBuf::from(text))
    }
}

/// Deserializes an optional text value; an empty string becomes `None`.
///
/// Only strings are accepted: a TOML integer for a password would already have
/// lost its leading zeros, so it is refused (the key's error asks for a string).
pub(crate) fn optional<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: FromText,
{
    match Option::<String>::deserialize(deserializer)? {
        None => Ok(None),
        Some(text) if text.is_empty() => Ok(None),
        Some(text) => T::from_text(text).map(Some).map_err(de::Error::custom),
    }
}
