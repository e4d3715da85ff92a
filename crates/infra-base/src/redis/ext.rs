//! Typed conveniences over [`RedisPort`], available on every port (including `dyn RedisPort`).

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Command, REDIS_BACKEND, RedisPort, Reply, Script, SetOptions, is_noscript};
use crate::error::{ErrorKind, InfraError, InfraResult};
use crate::resilience::Idempotency;

/// JSON, string, hash and script helpers for any [`RedisPort`].
///
/// The hash helpers and [`eval_script`](Self::eval_script) are built on
/// [`RedisPort::command`]; each states its idempotency (retried only when repeating it is
/// harmless). Empty field lists answer at once without a round trip (Redis refuses
/// `HSET key` and `HDEL key` without fields).
///
/// ```
/// # #[cfg(feature = "testing")]
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use infra_base::{RedisPortExt, SetOptions};
/// use infra_base::testing::MemoryRedis;
///
/// let redis = MemoryRedis::new();
/// redis.set_json("user:1", &vec![1, 2, 3], SetOptions::default()).await?;
/// let back: Option<Vec<u32>> = redis.get_json("user:1").await?;
/// assert_eq!(back, Some(vec![1, 2, 3]));
/// # Ok::<(), infra_base::InfraError>(())
/// # }).unwrap();
/// ```
#[async_trait]
pub trait RedisPortExt: RedisPort {
    /// Reads a key holding JSON. A value that is not valid JSON for `T` is
    /// [`ErrorKind::InvalidInput`], so a cache can treat it as a miss.
    async fn get_json<T: DeserializeOwned>(&self, key: &str) -> InfraResult<Option<T>> {
        match self.get(key).await? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                InfraError::new(
                    ErrorKind::InvalidInput,
                    REDIS_BACKEND,
                    "get_json",
                    "stored value is not the expected JSON",
                )
                .with_source(e)
            }),
        }
    }

    /// Writes `value` as JSON.
    async fn set_json<T: Serialize + Sync>(
        &self,
        key: &str,
        value: &T,
        options: SetOptions,
    ) -> InfraResult<bool> {
        let bytes = serde_json::to_vec(value).map_err(|e| {
            InfraError::new(
                ErrorKind::InvalidInput,
                REDIS_BACKEND,
                "set_json",
                "value cannot be serialized as JSON",
            )
            .with_source(e)
        })?;
        self.set(key, &bytes, options).await
    }

    /// Reads a key holding UTF-8 text.
    async fn get_string(&self, key: &str) -> InfraResult<Option<String>> {
        match self.get(key).await? {
            None => Ok(None),
            Some(bytes) => String::from_utf8(bytes).map(Some).map_err(|e| {
                InfraError::new(
                    ErrorKind::InvalidInput,
                    REDIS_BACKEND,
                    "get_string",
                    "stored value is not UTF-8 text",
                )
                .with_source(e)
            }),
        }
    }

    /// Deletes a single key; `true` when it existed.
    async fn del_one(&self, key: &str) -> InfraResult<bool> {
        Ok(self.del(&[key.to_owned()]).await? > 0)
    }

    /// Runs `script` with `keys` and `args` (`KEYS` and `ARGV` in Lua): sends `EVALSHA`,
    /// and on `NOSCRIPT` (the server does not know the script yet, or flushed it) sends
    /// `EVAL` with the source once, which also loads it for later calls.
    ///
    /// `idempotency` states whether the script may run again after a transient failure;
    /// the fallback is not a repetition (`EVALSHA` refused with `NOSCRIPT` ran nothing).
    /// In a cluster every key must hash to one slot.
    async fn eval_script(
        &self,
        script: &Script,
        keys: &[&str],
        args: &[&[u8]],
        idempotency: Idempotency,
    ) -> InfraResult<Reply> {
        let call = |name: &str, body: &str| {
            Command::new(name)
                .arg(body)
                .arg(keys.len())
                .args_from(keys)
                .args_from(args)
        };
        match self
            .command(&call("EVALSHA", script.sha1()), idempotency)
            .await
        {
            Err(err) if is_noscript(&err) => {
                self.command(&call("EVAL", script.source()), idempotency)
                    .await
            }
            other => other,
        }
    }

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
    /// that are not UTF-8 are [`ErrorKind::InvalidInput`].
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

    /// `MSET key value ...`: writes every key at once (without expiry). Idempotent. In a
    /// cluster every key must hash to one slot.
    async fn mset(&self, entries: &[(&str, &[u8])]) -> InfraResult<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut cmd = Command::new("MSET");
        for (key, value) in entries {
            cmd.push_arg(*key).push_arg(*value);
        }
        self.command(&cmd, Idempotency::Idempotent)
            .await?
            .expect_ok()
    }

    /// `GETDEL key`: reads and deletes a key (`None` when missing). Never retried: a
    /// repeat after a lost reply would read `None` and lose the value.
    async fn getdel(&self, key: &str) -> InfraResult<Option<Vec<u8>>> {
        let cmd = Command::new("GETDEL").arg(key);
        self.command(&cmd, Idempotency::NonIdempotent)
            .await?
            .into_opt_bytes()
    }

    /// `PTTL key`: the key's remaining time to live.
    async fn key_ttl(&self, key: &str) -> InfraResult<KeyTtl> {
        let cmd = Command::new("PTTL").arg(key);
        match self
            .command(&cmd, Idempotency::Idempotent)
            .await?
            .as_int()?
        {
            -2 => Ok(KeyTtl::Missing),
            -1 => Ok(KeyTtl::Persistent),
            ms => Ok(KeyTtl::ExpiresIn(Duration::from_millis(
                u64::try_from(ms).unwrap_or(0),
            ))),
        }
    }

    /// `PERSIST key`: removes the key's expiry; `true` when it had one. Idempotent.
    async fn persist(&self, key: &str) -> InfraResult<bool> {
        let cmd = Command::new("PERSIST").arg(key);
        self.command(&cmd, Idempotency::Idempotent).await?.as_bool()
    }

    /// `UNLINK key ...`: deletes keys, reclaiming memory in the background; returns how
    /// many existed. Idempotent.
    async fn unlink(&self, keys: &[&str]) -> InfraResult<u64> {
        if keys.is_empty() {
            return Ok(0);
        }
        let cmd = Command::new("UNLINK").args_from(keys);
        count(&self.command(&cmd, Idempotency::Idempotent).await?)
    }

    /// `ZADD key score member ...`: adds members or updates their scores; returns how
    /// many were new. Idempotent.
    async fn zadd(&self, key: &str, members: &[(f64, &str)]) -> InfraResult<u64> {
        if members.is_empty() {
            return Ok(0);
        }
        let mut cmd = Command::new("ZADD").arg(key);
        for (score, member) in members {
            cmd.push_arg(*score).push_arg(*member);
        }
        count(&self.command(&cmd, Idempotency::Idempotent).await?)
    }

    /// `ZINCRBY key delta member`: adds `delta` to the member's score (a missing member
    /// counts as 0), returns the new score. Never retried.
    async fn zincrby(&self, key: &str, delta: f64, member: &str) -> InfraResult<f64> {
        let cmd = Command::new("ZINCRBY").arg(key).arg(delta).arg(member);
        self.command(&cmd, Idempotency::NonIdempotent)
            .await?
            .as_double()
    }

    /// `ZSCORE key member`: the member's score, `None` when missing.
    async fn zscore(&self, key: &str, member: &str) -> InfraResult<Option<f64>> {
        let cmd = Command::new("ZSCORE").arg(key).arg(member);
        self.command(&cmd, Idempotency::Idempotent)
            .await?
            .as_opt_double()
    }

    /// `ZRANGE key start stop WITHSCORES`: members by rank (lowest score first; negative
    /// indexes count from the end, `0, -1` is everything), with their scores.
    async fn zrange_with_scores(
        &self,
        key: &str,
        start: i64,
        stop: i64,
    ) -> InfraResult<Vec<(String, f64)>> {
        let cmd = Command::new("ZRANGE")
            .arg(key)
            .arg(start)
            .arg(stop)
            .arg("WITHSCORES");
        let items = self
            .command(&cmd, Idempotency::Idempotent)
            .await?
            .into_array()?;
        // RESP2 answers a flat list (member, score, member, score ...), RESP3 a list of
        // [member, score] pairs.
        let nested = !items.is_empty()
            && items
                .iter()
                .all(|item| matches!(item, Reply::Array(pair) if pair.len() == 2));
        let pairs = if nested {
            items
                .into_iter()
                .map(|item| {
                    let mut pair = item.into_array()?.into_iter();
                    Ok((
                        pair.next().unwrap_or(Reply::Nil),
                        pair.next().unwrap_or(Reply::Nil),
                    ))
                })
                .collect::<InfraResult<Vec<_>>>()?
        } else {
            Reply::Array(items).into_pairs()?
        };
        pairs
            .into_iter()
            .map(|(member, score)| Ok((member.into_string()?, score.as_double()?)))
            .collect()
    }

    /// `ZREM key member ...`: removes members, returns how many existed. Idempotent.
    async fn zrem(&self, key: &str, members: &[&str]) -> InfraResult<u64> {
        if members.is_empty() {
            return Ok(0);
        }
        let cmd = Command::new("ZREM").arg(key).args_from(members);
        count(&self.command(&cmd, Idempotency::Idempotent).await?)
    }

    /// `ZCARD key`: how many members the sorted set has (0 when missing).
    async fn zcard(&self, key: &str) -> InfraResult<u64> {
        let cmd = Command::new("ZCARD").arg(key);
        count(&self.command(&cmd, Idempotency::Idempotent).await?)
    }
}

/// The remaining time to live of a key, as `PTTL` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyTtl {
    /// The key does not exist.
    Missing,
    /// The key exists and has no expiry.
    Persistent,
    /// The key expires after this long (millisecond precision).
    ExpiresIn(Duration),
}

/// A count reply (never negative) as `u64`.
fn count(reply: &Reply) -> InfraResult<u64> {
    let n = reply.as_int()?;
    u64::try_from(n).map_err(|_| {
        InfraError::new(
            ErrorKind::Internal,
            REDIS_BACKEND,
            "reply",
            format!("expected a count, got the negative integer {n}"),
        )
    })
}

impl<P: RedisPort + ?Sized> RedisPortExt for P {}
