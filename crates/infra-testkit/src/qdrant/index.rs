//! Payload indexes: `CreateFieldIndex` requests as the port's [`FieldIndex`], and the
//! store's indexes as a collection's `payload_schema`.

use std::collections::HashMap;

use infra_base::{FieldIndex, PayloadIndex, TextTokenizer};
use qdrant_client::qdrant as pb;
use qdrant_client::qdrant::payload_index_params::IndexParams;
use tonic::Status;

use super::convert::unsupported;

/// The index a `CreateFieldIndex` request asks for. Supported: a field type, with no
/// parameters or (for text) parameters that set only the tokenizer (word, whitespace,
/// prefix or multilingual); anything else is `UNIMPLEMENTED`.
pub(super) fn requested(request: &pb::CreateFieldIndexCollection) -> Result<FieldIndex, Status> {
    let field_type = request
        .field_type
        .ok_or_else(|| Status::invalid_argument("Wrong input: a field index needs a field type"))?;
    let field_type = pb::FieldType::try_from(field_type)
        .map_err(|_| Status::invalid_argument("Wrong input: unknown field index type"))?;
    let text_params = match request
        .field_index_params
        .as_ref()
        .and_then(|p| p.index_params.as_ref())
    {
        None => None,
        Some(IndexParams::TextIndexParams(params))
            if field_type == pb::FieldType::Text
                && *params
                    == (pb::TextIndexParams {
                        tokenizer: params.tokenizer,
                        ..pb::TextIndexParams::default()
                    }) =>
        {
            Some(params.tokenizer)
        }
        Some(_) => {
            return Err(unsupported(
                "field index parameters other than a text tokenizer",
            ));
        }
    };
    let index = match field_type {
        pb::FieldType::Keyword => PayloadIndex::Keyword,
        pb::FieldType::Integer => PayloadIndex::Integer,
        pb::FieldType::Float => PayloadIndex::Float,
        pb::FieldType::Bool => PayloadIndex::Bool,
        pb::FieldType::Datetime => PayloadIndex::Datetime,
        pb::FieldType::Uuid => PayloadIndex::Uuid,
        pb::FieldType::Geo => return Err(unsupported("geo indexes")),
        pb::FieldType::Text => {
            let tokenizer = text_params.map_or(Ok(pb::TokenizerType::Word), |t| {
                pb::TokenizerType::try_from(t)
                    .map_err(|_| Status::invalid_argument("Wrong input: unknown tokenizer"))
            })?;
            PayloadIndex::text(match tokenizer {
                pb::TokenizerType::Word => TextTokenizer::Word,
                pb::TokenizerType::Whitespace => TextTokenizer::Whitespace,
                pb::TokenizerType::Prefix => TextTokenizer::Prefix,
                pb::TokenizerType::Multilingual => TextTokenizer::Multilingual,
                pb::TokenizerType::Unknown | pb::TokenizerType::Code => {
                    return Err(unsupported("this tokenizer"));
                }
            })
        }
    };
    Ok(FieldIndex::new(request.field_name.clone(), index))
}

/// The store's indexes as Qdrant's `payload_schema` (text indexes with their tokenizer).
pub(super) fn schema(indexes: &[FieldIndex]) -> HashMap<String, pb::PayloadSchemaInfo> {
    indexes
        .iter()
        .map(|index| {
            let (data_type, params) = match index.index {
                PayloadIndex::Keyword => (pb::PayloadSchemaType::Keyword, None),
                PayloadIndex::Integer => (pb::PayloadSchemaType::Integer, None),
                PayloadIndex::Float => (pb::PayloadSchemaType::Float, None),
                PayloadIndex::Bool => (pb::PayloadSchemaType::Bool, None),
                PayloadIndex::Datetime => (pb::PayloadSchemaType::Datetime, None),
                PayloadIndex::Uuid => (pb::PayloadSchemaType::Uuid, None),
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
                    (pb::PayloadSchemaType::Text, Some(params))
                }
            };
            let info = pb::PayloadSchemaInfo {
                data_type: data_type.into(),
                params,
                points: None,
            };
            (index.field.clone(), info)
        })
        .collect()
}
