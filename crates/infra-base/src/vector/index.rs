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
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FieldIndex {
    /// Payload path of the field (dotted, Qdrant's grammar: `a.b`, `items[].sku`).
    pub field: String,
    /// The index type.
    #[serde(flatten)]
    pub index: PayloadIndex,
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
