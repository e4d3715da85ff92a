//! [`CollectionName`]: a collection name that cannot be built invalid.

use std::borrow::Borrow;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};

use super::VECTOR_BACKEND;
use crate::error::{ErrorKind, InfraError, InfraResult};

/// Longest collection name, in bytes (every accepted character is one byte).
pub const MAX_COLLECTION_NAME_LEN: usize = 255;

/// What a collection name accepts, as written in every refusal.
const ACCEPTED: &str =
    "expected 1-255 ASCII letters, digits, '_', '-' or '.', other than '.' and '..'";

/// A valid collection name: 1 to [`MAX_COLLECTION_NAME_LEN`] ASCII letters, digits, `_`,
/// `-` or `.`, other than `.` and `..`. The rule is Qdrant's portable subset, and it keeps
/// a name usable as one directory name (the embedded store keeps a collection in a
/// directory of that name), in a URL path segment and in a metric label.
///
/// The only ways to get one check the rule: [`parse`](Self::parse),
/// `TryFrom<&str>`/`TryFrom<String>`, [`FromStr`] and `Deserialize`, so a value of this
/// type is valid wherever it travels. It dereferences to `str`, displays and serializes as
/// the plain name.
///
/// # Where the ports use it
///
/// [`VectorPort`](super::VectorPort) methods keep taking `&str` names, and
/// [`CollectionSpec::name`](super::CollectionSpec::name) stays a `String`: both are what a
/// caller hands to the port, and the port's contract is to refuse an invalid name with
/// `InvalidInput` before anything is written (the conformance suite checks exactly that, so
/// it must be able to pass one). Every adapter parses those strings at its boundary through
/// this one type (`CollectionName::parse(name, operation)`), and works with
/// `CollectionName`s inside (the embedded store keys its collections by them). Changing
/// the signatures instead would touch every caller, mock and test of the port for no
/// check that the boundary does not already make, once.
///
/// ```
/// use infra_base::vector::CollectionName;
///
/// let name: CollectionName = "items_v2".parse().unwrap();
/// assert_eq!(name.as_str(), "items_v2");
/// assert!(CollectionName::try_from("a/b").is_err());
/// assert!(serde_json::from_str::<CollectionName>("\"..\"").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct CollectionName(Box<str>);

/// Why a text is not a [`CollectionName`]; says what is accepted, without echoing the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidCollectionName {
    /// The text is empty.
    #[error("invalid collection name: it is empty; {ACCEPTED}")]
    Empty,
    /// The text is longer than [`MAX_COLLECTION_NAME_LEN`] bytes.
    #[error("invalid collection name: it is {0} bytes long; {ACCEPTED}")]
    TooLong(usize),
    /// The text has a character outside the accepted set, at this byte offset.
    #[error(
        "invalid collection name: it has a character that is not accepted at byte {0}; {ACCEPTED}"
    )]
    Character(usize),
    /// The text is `.` or `..`.
    #[error("invalid collection name: '.' and '..' are not accepted; {ACCEPTED}")]
    Dots,
}

impl InvalidCollectionName {
    /// The [`InvalidInput`](ErrorKind::InvalidInput) error a port returns for it.
    pub fn into_error(self, operation: &'static str) -> InfraError {
        InfraError::new(
            ErrorKind::InvalidInput,
            VECTOR_BACKEND,
            operation,
            self.to_string(),
        )
    }
}

fn check(name: &str) -> Result<(), InvalidCollectionName> {
    if name.is_empty() {
        return Err(InvalidCollectionName::Empty);
    }
    if name.len() > MAX_COLLECTION_NAME_LEN {
        return Err(InvalidCollectionName::TooLong(name.len()));
    }
    if let Some(at) = name
        .bytes()
        .position(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')))
    {
        return Err(InvalidCollectionName::Character(at));
    }
    if name == "." || name == ".." {
        return Err(InvalidCollectionName::Dots);
    }
    Ok(())
}

impl CollectionName {
    /// Parses `name`, refusing an invalid one as the
    /// [`InvalidInput`](ErrorKind::InvalidInput) error of `operation`: what adapters call at
    /// their boundary.
    pub fn parse(name: &str, operation: &'static str) -> InfraResult<Self> {
        Self::try_from(name).map_err(|e| e.into_error(operation))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name, lowercased: two names with the same folded form would share one directory
    /// on a case-insensitive file system.
    pub fn folded(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

impl TryFrom<&str> for CollectionName {
    type Error = InvalidCollectionName;

    fn try_from(name: &str) -> Result<Self, Self::Error> {
        check(name)?;
        Ok(Self(name.into()))
    }
}

impl TryFrom<String> for CollectionName {
    type Error = InvalidCollectionName;

    fn try_from(name: String) -> Result<Self, Self::Error> {
        check(&name)?;
        Ok(Self(name.into_boxed_str()))
    }
}

impl FromStr for CollectionName {
    type Err = InvalidCollectionName;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::try_from(name)
    }
}

impl<'de> Deserialize<'de> for CollectionName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Self::try_from(name).map_err(serde::de::Error::custom)
    }
}

impl std::ops::Deref for CollectionName {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for CollectionName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for CollectionName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CollectionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for CollectionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl From<CollectionName> for String {
    fn from(name: CollectionName) -> Self {
        name.0.into_string()
    }
}

impl PartialEq<str> for CollectionName {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for CollectionName {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn valid_names_are_accepted_as_they_are() {
        for name in ["a", "items_v1.2-x", "A.b", "..a", &"x".repeat(255)] {
            let parsed = CollectionName::try_from(name).unwrap();
            assert_eq!(parsed.as_str(), name);
            assert_eq!(parsed.to_string(), name);
            assert_eq!(name.parse::<CollectionName>().unwrap(), parsed);
            assert_eq!(CollectionName::try_from(name.to_owned()).unwrap(), parsed);
        }
    }

    #[test]
    fn invalid_names_say_why_and_what_is_accepted() {
        let long = "x".repeat(256);
        let cases = [
            ("", InvalidCollectionName::Empty),
            (long.as_str(), InvalidCollectionName::TooLong(256)),
            ("a/b", InvalidCollectionName::Character(1)),
            ("has space", InvalidCollectionName::Character(3)),
            ("é", InvalidCollectionName::Character(0)),
            (".", InvalidCollectionName::Dots),
            ("..", InvalidCollectionName::Dots),
        ];
        for (name, expected) in cases {
            assert_eq!(CollectionName::try_from(name), Err(expected), "{name:?}");
            let err = CollectionName::parse(name, "search").unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput);
            assert_eq!(err.operation(), "search");
            assert!(
                err.message().contains("expected 1-255 ASCII"),
                "{}",
                err.message()
            );
        }
    }

    #[test]
    fn serde_is_the_plain_name_and_validates() {
        let name = CollectionName::try_from("items").unwrap();
        assert_eq!(serde_json::to_string(&name).unwrap(), "\"items\"");
        assert_eq!(
            serde_json::from_str::<CollectionName>("\"items\"").unwrap(),
            name
        );
        let err = serde_json::from_str::<CollectionName>("\"a/b\"").unwrap_err();
        assert!(err.to_string().contains("expected 1-255"), "{err}");
    }

    #[test]
    fn maps_keyed_by_names_are_looked_up_by_str() {
        let mut map = HashMap::new();
        map.insert(CollectionName::try_from("Items").unwrap(), 1);
        assert_eq!(map.get("Items"), Some(&1));
        assert_eq!(map.get("items"), None);
        assert_eq!(CollectionName::try_from("Items").unwrap().folded(), "items");
    }
}
