//! Payload indexes: the port's [`PayloadIndex`] as the engine's field schemas, and the
//! engine's payload schema read back.

use infra_base::{CollectionSpec, FieldIndex, InfraResult, PayloadIndex, TextTokenizer};
use qdrant_edge::{
    CreateIndex, EdgeShard, FieldIndexOperations, PayloadFieldSchema, PayloadIndexInfo,
    PayloadSchemaParams, PayloadSchemaType, TextIndexParams, TokenizerType, UpdateOperation,
};

use crate::convert::payload_path;
use crate::error::engine_error;

/// The engine's field schema of an index type.
fn field_schema(index: PayloadIndex) -> PayloadFieldSchema {
    let plain = |kind| PayloadFieldSchema::FieldType(kind);
    match index {
        PayloadIndex::Keyword => plain(PayloadSchemaType::Keyword),
        PayloadIndex::Integer => plain(PayloadSchemaType::Integer),
        PayloadIndex::Float => plain(PayloadSchemaType::Float),
        PayloadIndex::Bool => plain(PayloadSchemaType::Bool),
        PayloadIndex::Datetime => plain(PayloadSchemaType::Datetime),
        PayloadIndex::Uuid => plain(PayloadSchemaType::Uuid),
        PayloadIndex::Text { tokenizer } => {
            PayloadFieldSchema::FieldParams(PayloadSchemaParams::Text(TextIndexParams {
                tokenizer: match tokenizer {
                    TextTokenizer::Word => TokenizerType::Word,
                    TextTokenizer::Whitespace => TokenizerType::Whitespace,
                    TextTokenizer::Prefix => TokenizerType::Prefix,
                    TextTokenizer::Multilingual => TokenizerType::Multilingual,
                },
                ..TextIndexParams::default()
            }))
        }
    }
}

/// The port's type of an index the engine reports, or the engine's name of a type the
/// port does not model (`geo`).
fn port_index(info: &PayloadIndexInfo) -> Result<PayloadIndex, &'static str> {
    Ok(match info.data_type {
        PayloadSchemaType::Keyword => PayloadIndex::Keyword,
        PayloadSchemaType::Integer => PayloadIndex::Integer,
        PayloadSchemaType::Float => PayloadIndex::Float,
        PayloadSchemaType::Bool => PayloadIndex::Bool,
        PayloadSchemaType::Datetime => PayloadIndex::Datetime,
        PayloadSchemaType::Uuid => PayloadIndex::Uuid,
        PayloadSchemaType::Geo => return Err("geo"),
        PayloadSchemaType::Text => {
            // An index created without parameters uses the default (word) tokenizer.
            let tokenizer = match &info.params {
                Some(PayloadSchemaParams::Text(params)) => params.tokenizer,
                _ => TokenizerType::default(),
            };
            PayloadIndex::text(match tokenizer {
                TokenizerType::Word => TextTokenizer::Word,
                TokenizerType::Whitespace => TextTokenizer::Whitespace,
                TokenizerType::Prefix => TextTokenizer::Prefix,
                TokenizerType::Multilingual => TextTokenizer::Multilingual,
            })
        }
    })
}

/// The shard's payload indexes: the ones the port models, sorted by field, and the
/// fields with an index of another type (with its name).
pub(crate) fn shard_indexes(shard: &EdgeShard) -> (Vec<FieldIndex>, Vec<(String, &'static str)>) {
    let mut modelled = Vec::new();
    let mut other = Vec::new();
    for (path, info) in shard.info().payload_schema {
        match port_index(&info) {
            Ok(index) => modelled.push(FieldIndex::new(path.to_string(), index)),
            Err(kind) => other.push((path.to_string(), kind)),
        }
    }
    modelled.sort_by(|a, b| a.field.cmp(&b.field));
    (modelled, other)
}

/// The declared indexes the shard lacks (`Conflict` on one of another type), checked for
/// every field before anything is created.
pub(crate) fn missing<'a>(
    spec: &'a CollectionSpec,
    shard: &EdgeShard,
) -> InfraResult<Vec<&'a FieldIndex>> {
    let (existing, other) = shard_indexes(shard);
    for declared in &spec.indexes {
        if let Some((field, kind)) = other.iter().find(|(f, _)| *f == declared.field) {
            return Err(spec.index_conflict(field, kind, declared.index));
        }
    }
    spec.missing_indexes(&existing)
}

/// Creates `indexes` in the shard (the caller holds the collection's writer lock and
/// flushes afterwards).
pub(crate) fn create(
    shard: &EdgeShard,
    indexes: &[&FieldIndex],
    operation: &'static str,
) -> InfraResult<()> {
    // Every path is parsed before anything is created.
    let creates = indexes
        .iter()
        .map(|index| {
            Ok(CreateIndex {
                field_name: payload_path(&index.field, operation)?,
                field_schema: Some(field_schema(index.index)),
            })
        })
        .collect::<InfraResult<Vec<_>>>()?;
    for create in creates {
        shard
            .update(UpdateOperation::FieldIndexOperation(
                FieldIndexOperations::CreateIndex(create),
            ))
            .map_err(|e| engine_error(operation, e))?;
    }
    Ok(())
}
