//! [`RedisHashesExt`]: the hash commands.

use std::collections::HashMap;

use async_trait::async_trait;

use super::count;
use crate::error::InfraResult;
use crate::redis::{Command, RedisPort, Reply};
use crate::resilience::Idempotency;

/// Hash helpers for any [`RedisPort`] (`HSET`, `HGET`, `HMGET`, `HGETALL`, `HINCRBY`,
/// `HDEL`).
///
/// Empty field lists answer at once without a round trip (Redis refuses `HSET key` and
/// `HDEL key` without fields). A key of another type is
/// [`InvalidInput`](crate::ErrorKind::InvalidInput) (`WRONGTYPE`).
#[async_trait]
pub trait RedisHashesExt: RedisPort {
    /// `HSET key field value ...`: writes the fields, returns how many were new.
    /// Idempotent (a repeat writes the same values; it may count fewer new fields).
    async fn hset(&self, key: &str, fields: &[(&str, &[u8])]) -> InfraResult<u64> {
        if fields.is_empty() {
            return Ok(0);
        }
        let mut cmd = Command::new("HSET").arg(key);
        for (field, value) in fields {
            cmd.push_arg(*field).push_arg(*value);
        }
        count(&self.command(&cmd, Idempotency::Idempotent).await?)
    }

    /// `HGET key field`: the field's value, `None` when the field or the key is missing.
    async fn hget(&self, key: &str, field: &str) -> InfraResult<Option<Vec<u8>>> {
        let cmd = Command::new("HGET").arg(key).arg(field);
        self.command(&cmd, Idempotency::Idempotent)
            .await?
            .into_opt_bytes()
    }

    /// `HMGET key field ...`: the values in the order asked, `None` for missing fields.
    async fn hmget(&self, key: &str, fields: &[&str]) -> InfraResult<Vec<Option<Vec<u8>>>> {
        if fields.is_empty() {
            return Ok(Vec::new());
        }
        let cmd = Command::new("HMGET").arg(key).args_from(fields);
        self.command(&cmd, Idempotency::Idempotent)
            .await?
            .into_array()?
            .into_iter()
            .map(Reply::into_opt_bytes)
            .collect()
    }

    /// `HGETALL key`: every field and value; empty when the key is missing. Field names
    /// that are not UTF-8 are [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput).
    async fn hgetall(&self, key: &str) -> InfraResult<HashMap<String, Vec<u8>>> {
        let cmd = Command::new("HGETALL").arg(key);
        self.command(&cmd, Idempotency::Idempotent)
            .await?
            .into_pairs()?
            .into_iter()
            .map(|(field, value)| Ok((field.into_string()?, value.into_bytes()?)))
            .collect()
    }

    /// `HINCRBY key field delta`: adds `delta` to an integer field (missing counts as 0),
    /// returns the new value. Never retried (a lost reply may have counted).
    async fn hincrby(&self, key: &str, field: &str, delta: i64) -> InfraResult<i64> {
        let cmd = Command::new("HINCRBY").arg(key).arg(field).arg(delta);
        self.command(&cmd, Idempotency::NonIdempotent)
            .await?
            .as_int()
    }

    /// `HDEL key field ...`: removes fields, returns how many existed. Idempotent.
    async fn hdel(&self, key: &str, fields: &[&str]) -> InfraResult<u64> {
        if fields.is_empty() {
            return Ok(0);
        }
        let cmd = Command::new("HDEL").arg(key).args_from(fields);
        count(&self.command(&cmd, Idempotency::Idempotent).await?)
    }
}

impl<P: RedisPort + ?Sized> RedisHashesExt for P {}
