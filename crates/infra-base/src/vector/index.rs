//! Payload indexes: what a [`CollectionSpec`](super::CollectionSpec) declares and
//! [`CollectionInfo`](super::CollectionInfo) reports, with Qdrant's index types.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest payload path an index may be declared on, in bytes.
pub const MAX_INDEX_FIELD_LEN: usize = 255;

/// How a full-text index splits text into tokens, as Qdrant names the tokenizers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TextTokenizer {
    /// Splits on spaces, punctuation and special characters (Qdrant's default).
    #[default]
    Word,
    /// Splits on whitespace only.
    Whitespace,
    /// Word tokens, each also indexed by its prefixes (prefix search).
    Prefix,
    /// Language-aware splitting, for scripts without spaces between words.
    Multilingual,
}

impl fmt::Display for TextTokenizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TextTokenizer::Word => "word",
            TextTokenizer::Whitespace => "whitespace",
            TextTokenizer::Prefix => "prefix",
            TextTokenizer::Multilingual => "multilingual",
        })
    }
}

/// The type of a payload index, as Qdrant's field schemas name them.
///
/// Integer, float and datetime indexes are *range* indexes: they serve range filters and
/// [`OrderBy`](super::OrderBy) (see [`supports_order_by`](Self::supports_order_by)).
/// Serialized tagged: `{"type": "integer"}`, `{"type": "text", "tokenizer": "prefix"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PayloadIndex {
    /// Exact string matches.
    Keyword,
    /// Integers: matches and ranges (lookup and range both enabled, Qdrant's default).
    Integer,
    /// Floating-point numbers: ranges.
    Float,
    /// Booleans.
    Bool,
    /// RFC 3339 date-times: ranges.
    Datetime,
    /// UUID strings: exact matches, stored compactly.
    Uuid,
    /// Full-text search with the given tokenizer.
    Text {
        /// How text is split into tokens.
        #[serde(default)]
        tokenizer: TextTokenizer,
    },
}

impl PayloadIndex {
    /// A full-text index with `tokenizer`.
    pub const fn text(tokenizer: TextTokenizer) -> Self {
        PayloadIndex::Text { tokenizer }
    }

    /// Whether a scroll can be ordered by a field with this index (a range index).
    pub const fn supports_order_by(self) -> bool {
        matches!(
            self,
            PayloadIndex::Integer | PayloadIndex::Float | PayloadIndex::Datetime
        )
    }
}

impl fmt::Display for PayloadIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PayloadIndex::Keyword => f.write_str("keyword"),
            PayloadIndex::Integer => f.write_str("integer"),
            PayloadIndex::Float => f.write_str("float"),
            PayloadIndex::Bool => f.write_str("bool"),
            PayloadIndex::Datetime => f.write_str("datetime"),
            PayloadIndex::Uuid => f.write_str("uuid"),
            PayloadIndex::Text { tokenizer } => write!(f, "text ({tokenizer} tokenizer)"),
        }
    }
}

/// A payload index on one field: `{"field": "price", "type": "integer"}` in JSON.
///
/// Read strictly: an unknown key, or a `tokenizer` on an index other than `text`, is an
/// error rather than silently ignored (a client that sends one meant something else).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "StrictFieldIndex")]
pub struct FieldIndex {
    /// Payload path of the field (dotted, Qdrant's grammar: `a.b`, `items[].sku`).
    pub field: String,
    /// The index type.
    #[serde(flatten)]
    pub index: PayloadIndex,
}

/// The JSON form of a [`FieldIndex`], flat, with every key known.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StrictFieldIndex {
    field: String,
    #[serde(rename = "type")]
    kind: IndexKind,
    /// Absent or a tokenizer; `null` is refused like any other wrong type.
    #[serde(default, deserialize_with = "some_tokenizer")]
    tokenizer: Option<TextTokenizer>,
}

fn some_tokenizer<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<TextTokenizer>, D::Error> {
    TextTokenizer::deserialize(deserializer).map(Some)
}

/// The `type` key of a [`FieldIndex`].
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum IndexKind {
    Keyword,
    Integer,
    Float,
    Bool,
    Datetime,
    Uuid,
    Text,
}

impl TryFrom<StrictFieldIndex> for FieldIndex {
    type Error = String;

    fn try_from(raw: StrictFieldIndex) -> Result<Self, Self::Error> {
        let index = match (raw.kind, raw.tokenizer) {
            (IndexKind::Text, tokenizer) => PayloadIndex::Text {
                tokenizer: tokenizer.unwrap_or_default(),
            },
            (_, Some(_)) => {
                return Err(format!(
                    "index on {}: a tokenizer is for text indexes only",
                    raw.field
                ));
            }
            (IndexKind::Keyword, None) => PayloadIndex::Keyword,
            (IndexKind::Integer, None) => PayloadIndex::Integer,
            (IndexKind::Float, None) => PayloadIndex::Float,
            (IndexKind::Bool, None) => PayloadIndex::Bool,
            (IndexKind::Datetime, None) => PayloadIndex::Datetime,
            (IndexKind::Uuid, None) => PayloadIndex::Uuid,
        };
        Ok(Self {
            field: raw.field,
            index,
        })
    }
}

impl FieldIndex {
    /// An index of type `index` on `field`.
    pub fn new(field: impl Into<String>, index: PayloadIndex) -> Self {
        Self {
            field: field.into(),
            index,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn field_indexes_serialize_flat_and_tagged() {
        let text = FieldIndex::new("title", PayloadIndex::text(TextTokenizer::Prefix));
        let value = serde_json::to_value(&text).unwrap();
        assert_eq!(
            value,
            json!({"field": "title", "type": "text", "tokenizer": "prefix"})
        );
        assert_eq!(serde_json::from_value::<FieldIndex>(value).unwrap(), text);
        let default_text: FieldIndex =
            serde_json::from_value(json!({"field": "t", "type": "text"})).unwrap();
        assert_eq!(default_text.index, PayloadIndex::text(TextTokenizer::Word));
        let integer: FieldIndex =
            serde_json::from_value(json!({"field": "n", "type": "integer"})).unwrap();
        assert_eq!(integer, FieldIndex::new("n", PayloadIndex::Integer));
        assert!(
            serde_json::from_value::<FieldIndex>(json!({"field": "g", "type": "geo"})).is_err()
        );
    }

    #[test]
    fn a_tokenizer_off_a_text_index_or_an_unknown_key_is_refused() {
        for bad in [
            json!({"field": "k", "type": "keyword", "tokenizer": "word"}),
            json!({"field": "k", "type": "keyword", "tokenizer": "nonsense"}),
            json!({"field": "t", "type": "text", "tokenizer": "nonsense"}),
            json!({"field": "k", "type": "keyword", "extra": 1}),
            json!({"field": "t", "type": "text", "tokenizer": null}),
        ] {
            let err = serde_json::from_value::<FieldIndex>(bad.clone());
            assert!(err.is_err(), "{bad} was accepted");
        }
        let err = serde_json::from_value::<FieldIndex>(
            json!({"field": "k", "type": "keyword", "tokenizer": "word"}),
        )
        .unwrap_err();
        assert!(err.to_string().contains("for text indexes only"), "{err}");
    }

    #[test]
    fn only_numeric_and_datetime_indexes_order_scrolls() {
        let ordering: Vec<_> = [
            PayloadIndex::Keyword,
            PayloadIndex::Integer,
            PayloadIndex::Float,
            PayloadIndex::Bool,
            PayloadIndex::Datetime,
            PayloadIndex::Uuid,
            PayloadIndex::text(TextTokenizer::Word),
        ]
        .into_iter()
        .filter(|i| i.supports_order_by())
        .collect();
        assert_eq!(
            ordering,
            [
                PayloadIndex::Integer,
                PayloadIndex::Float,
                PayloadIndex::Datetime
            ]
        );
        assert_eq!(
            PayloadIndex::text(TextTokenizer::Multilingual).to_string(),
            "text (multilingual tokenizer)"
        );
    }
}
