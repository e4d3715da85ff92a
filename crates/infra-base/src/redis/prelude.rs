//! Everything a caller of a [`RedisPort`] usually needs in scope: the port, its options,
//! and every extension trait, so that `use infra_base::redis::prelude::*;` makes every
//! typed helper callable on any port (`Arc<dyn RedisPort>`, an adapter, a mock).

pub use super::ext::{
    GetExExpiry, KeyTtl, KeyType, PendingRange, RedisHashesExt, RedisKeysExt, RedisListsExt,
    RedisPortExt, RedisSetsExt, RedisSortedSetsExt, RedisStreamsExt, RedisStringsExt, ScanOptions,
    ScoreComparison, StreamTrim, XAddOptions, XReadGroupOptions, ZAddOptions, ZRange,
};
pub use super::{Command, Pipeline, RedisPort, Reply, SetCondition, SetOptions};
pub use crate::resilience::Idempotency;
