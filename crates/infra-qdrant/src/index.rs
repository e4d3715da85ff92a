//! Payload indexes: the port's [`PayloadIndex`] as Qdrant's field types and index
//! parameters, and a collection's `payload_schema` read back.

use std::collections::HashMap;

use infra_base::{CollectionSpec, FieldIndex, InfraResult, PayloadIndex, TextTokenizer};
use qdrant_client::qdrant as pb;
use qdrant_client::qdrant::payload_index_params::IndexParams;

/// The `CreateFieldIndex` request of one index, waiting until the index is built.
pub(crate) fn create_request(
    collection: &str,
    index: &FieldIndex,
) -> pb::CreateFieldIndexCollection {
    let (field_type, params) = match index.index {
        PayloadIndex::Keyword => (pb::FieldType::Keyword, None),
        PayloadIndex::Integer => (pb::FieldType::Integer, None),
        PayloadIndex::Float => (pb::FieldType::Float, None),
        PayloadIndex::Bool => (pb::FieldType::Bool, None),
        PayloadIndex::Datetime => (pb::FieldType::Datetime, None),
        PayloadIndex::Uuid => (pb::FieldType::Uuid, None),
        PayloadIndex::Text { tokenizer } => {
            let tokenizer = match tokenizer {
                TextTokenizer::Word => pb::TokenizerType::Word,
                TextTokenizer::Whitespace => pb::TokenizerType::Whitespace,
                TextTokenizer::Prefix => pb::TokenizerType::Prefix,
                TextTokenizer::Multilingual => pb::TokenizerType::Multilingual,
            };
            let params = pb::PayloadIndexParams {
                index_params: Some(IndexParams::TextIndexParams(pb::TextIndexParams {
                    tokenizer: tokenizer.into(),
                    ..pb::TextIndexParams::default()
                })),
            };
            (pb::FieldType::Text, Some(params))
        }
    };
    pb::CreateFieldIndexCollection {
        collection_name: collection.to_owned(),
        wait: Some(true),
        field_name: index.field.clone(),
        field_type: Some(field_type.into()),
        field_index_params: params,
        ..pb::CreateFieldIndexCollection::default()
    }
}

/// The port's type of one `payload_schema` entry, or Qdrant's name of a type the port does
/// not model (`geo`, a text index with another tokenizer).
fn port_index(info: &pb::PayloadSchemaInfo) -> Result<PayloadIndex, String> {
    let kind = pb::PayloadSchemaType::try_from(info.data_type)
        .unwrap_or(pb::PayloadSchemaType::UnknownType);
    Ok(match kind {
        pb::PayloadSchemaType::Keyword => PayloadIndex::Keyword,
        pb::PayloadSchemaType::Integer => PayloadIndex::Integer,
        pb::PayloadSchemaType::Float => PayloadIndex::Float,
        pb::PayloadSchemaType::Bool => PayloadIndex::Bool,
        pb::PayloadSchemaType::Datetime => PayloadIndex::Datetime,
        pb::PayloadSchemaType::Uuid => PayloadIndex::Uuid,
        pb::PayloadSchemaType::Geo => return Err("geo".to_owned()),
        pb::PayloadSchemaType::UnknownType => {
            return Err(format!("unknown (type {})", info.data_type));
        }
        pb::PayloadSchemaType::Text => {
            let tokenizer = match info.params.as_ref().and_then(|p| p.index_params.as_ref()) {
                Some(IndexParams::TextIndexParams(params)) => {
                    pb::TokenizerType::try_from(params.tokenizer)
                        .unwrap_or(pb::TokenizerType::Unknown)
                }
                // Created without parameters: Qdrant's default tokenizer.
                _ => pb::TokenizerType::Word,
            };
            PayloadIndex::text(match tokenizer {
                pb::TokenizerType::Word => TextTokenizer::Word,
                pb::TokenizerType::Whitespace => TextTokenizer::Whitespace,
                pb::TokenizerType::Prefix => TextTokenizer::Prefix,
                pb::TokenizerType::Multilingual => TextTokenizer::Multilingual,
                other => {
                    return Err(format!(
                        "text ({} tokenizer)",
                        other.as_str_name().to_lowercase()
                    ));
                }
            })
        }
    })
}

/// A collection's indexes, read from its `payload_schema`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Indexes {
    /// The indexes of types the port models, sorted by field.
    pub(crate) modelled: Vec<FieldIndex>,
    /// The fields with an index of another type, and Qdrant's name of that type.
    pub(crate) other: Vec<(String, String)>,
}

impl Indexes {
    pub(crate) fn from_schema(schema: &HashMap<String, pb::PayloadSchemaInfo>) -> Self {
        let mut indexes = Self::default();
        for (field, info) in schema {
            match port_index(info) {
                Ok(index) => indexes.modelled.push(FieldIndex::new(field.clone(), index)),
                Err(kind) => indexes.other.push((field.clone(), kind)),
            }
        }
        indexes.modelled.sort_by(|a, b| a.field.cmp(&b.field));
        indexes
    }

    /// The declared indexes the collection lacks; `Conflict` when a declared field has an
    /// index of another type.
    pub(crate) fn missing<'a>(&self, spec: &'a CollectionSpec) -> InfraResult<Vec<&'a FieldIndex>> {
        for declared in &spec.indexes {
            if let Some((field, kind)) = self.other.iter().find(|(f, _)| *f == declared.field) {
                return Err(spec.index_conflict(field, kind, declared.index));
            }
        }
        spec.missing_indexes(&self.modelled)
    }
}

#[cfg(test)]
mod tests {
    use infra_base::{Distance, ErrorKind};

    use super::*;

    fn schema_entry(
        kind: pb::PayloadSchemaType,
        tokenizer: Option<pb::TokenizerType>,
    ) -> pb::PayloadSchemaInfo {
        pb::PayloadSchemaInfo {
            data_type: kind.into(),
            params: tokenizer.map(|t| pb::PayloadIndexParams {
                index_params: Some(IndexParams::TextIndexParams(pb::TextIndexParams {
                    tokenizer: t.into(),
                    ..pb::TextIndexParams::default()
                })),
            }),
            points: Some(3),
        }
    }

    #[test]
    fn created_indexes_read_back_as_declared() {
        let declared = [
            PayloadIndex::Keyword,
            PayloadIndex::Integer,
            PayloadIndex::Float,
            PayloadIndex::Bool,
            PayloadIndex::Datetime,
            PayloadIndex::Uuid,
            PayloadIndex::text(TextTokenizer::Word),
            PayloadIndex::text(TextTokenizer::Whitespace),
            PayloadIndex::text(TextTokenizer::Prefix),
            PayloadIndex::text(TextTokenizer::Multilingual),
        ];
        for index in declared {
            let request = create_request("c", &FieldIndex::new("f", index));
            assert_eq!(request.wait, Some(true));
            let kind = match pb::FieldType::try_from(request.field_type.unwrap()).unwrap() {
                pb::FieldType::Keyword => pb::PayloadSchemaType::Keyword,
                pb::FieldType::Integer => pb::PayloadSchemaType::Integer,
                pb::FieldType::Float => pb::PayloadSchemaType::Float,
                pb::FieldType::Geo => pb::PayloadSchemaType::Geo,
                pb::FieldType::Text => pb::PayloadSchemaType::Text,
                pb::FieldType::Bool => pb::PayloadSchemaType::Bool,
                pb::FieldType::Datetime => pb::PayloadSchemaType::Datetime,
                pb::FieldType::Uuid => pb::PayloadSchemaType::Uuid,
            };
            let info = pb::PayloadSchemaInfo {
                data_type: kind.into(),
                params: request.field_index_params,
                points: None,
            };
            assert_eq!(port_index(&info), Ok(index));
        }
    }

    #[test]
    fn unmodelled_indexes_are_drift_on_declared_fields_only() {
        let schema = HashMap::from([
            (
                "loc".to_owned(),
                schema_entry(pb::PayloadSchemaType::Geo, None),
            ),
            (
                "t".to_owned(),
                schema_entry(pb::PayloadSchemaType::Text, None),
            ),
            (
                "code".to_owned(),
                schema_entry(pb::PayloadSchemaType::Text, Some(pb::TokenizerType::Code)),
            ),
        ]);
        let indexes = Indexes::from_schema(&schema);
        assert_eq!(
            indexes.modelled,
            [FieldIndex::new(
                "t",
                PayloadIndex::text(TextTokenizer::Word)
            )]
        );
        let spec =
            CollectionSpec::new("c", 2, Distance::Dot).with_index("n", PayloadIndex::Integer);
        assert_eq!(
            indexes.missing(&spec).unwrap(),
            [&FieldIndex::new("n", PayloadIndex::Integer)]
        );
        let geo =
            CollectionSpec::new("c", 2, Distance::Dot).with_index("loc", PayloadIndex::Keyword);
        let err = indexes.missing(&geo).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Conflict);
        assert!(err.message().contains("geo"), "{}", err.message());
        let code = CollectionSpec::new("c", 2, Distance::Dot)
            .with_index("code", PayloadIndex::text(TextTokenizer::Word));
        let err = indexes.missing(&code).unwrap_err();
        assert!(
            err.message().contains("text (code tokenizer)"),
            "{}",
            err.message()
        );
    }
}
