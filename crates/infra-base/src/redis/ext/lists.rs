//! [`RedisListsExt`]: the (non-blocking) list commands.

use async_trait::async_trait;

use super::{byte_strings, count};
use crate::error::InfraResult;
use crate::redis::{Command, RedisPort, Reply};
use crate::resilience::Idempotency;

/// List helpers for any [`RedisPort`] (`LPUSH`, `RPUSH`, `LRANGE`, `LTRIM`, `LLEN`,
/// `LPOP`, `RPOP`).
///
/// Values are opaque bytes. Indexes count from 0 at the head; negative ones count from the
/// tail (`-1` is the last element). The blocking pops (`BLPOP`, `BRPOP`, `BLMOVE`) are not
/// here: they would stall the shared connection, and [`RedisPort::command`] refuses them
/// (use an exclusive connection of the adapter). A key of another type is
/// [`InvalidInput`](crate::ErrorKind::InvalidInput) (`WRONGTYPE`).
#[async_trait]
pub trait RedisListsExt: RedisPort {
    /// `LPUSH key value ...`: inserts the values at the head, one after the other (the last
    /// one given ends first), returns the list's new length. An empty `values` sends
    /// nothing and answers the current length. Never retried: a repeat pushes again.
    async fn lpush(&self, key: &str, values: &[&[u8]]) -> InfraResult<u64> {
        push(self, "LPUSH", key, values).await
    }

    /// `RPUSH key value ...`: appends the values at the tail, in order, returns the list's
    /// new length. An empty `values` pushes nothing and answers the current length
    /// (`LLEN`). Never retried: a repeat pushes again.
    async fn rpush(&self, key: &str, values: &[&[u8]]) -> InfraResult<u64> {
        push(self, "RPUSH", key, values).await
    }

    /// `LRANGE key start stop`: the elements from `start` to `stop`, both included (`0, -1`
    /// is the whole list; empty when the key is missing or the range is past the end).
    async fn lrange(&self, key: &str, start: i64, stop: i64) -> InfraResult<Vec<Vec<u8>>> {
        let cmd = Command::new("LRANGE").arg(key).arg(start).arg(stop);
        byte_strings(self.command(&cmd, Idempotency::Idempotent).await?)
    }

    /// `LTRIM key start stop`: keeps only the elements from `start` to `stop` (a capped
    /// list: `LPUSH` then `LTRIM key 0 99`). Idempotent: trimming twice to the same range
    /// keeps the same elements.
    async fn ltrim(&self, key: &str, start: i64, stop: i64) -> InfraResult<()> {
        let cmd = Command::new("LTRIM").arg(key).arg(start).arg(stop);
        self.command(&cmd, Idempotency::Idempotent)
            .await?
            .expect_ok()
    }

    /// `LLEN key`: the list's length (0 when missing).
    async fn llen(&self, key: &str) -> InfraResult<u64> {
        let cmd = Command::new("LLEN").arg(key);
        count(&self.command(&cmd, Idempotency::Idempotent).await?)
    }

    /// `LPOP key count`: removes and returns up to `count` elements from the head, in
    /// order (empty when the key is missing; `count` 0 removes nothing). Never retried: a
    /// repeat after a lost reply would pop other elements and the first ones are lost.
    async fn lpop(&self, key: &str, count: u64) -> InfraResult<Vec<Vec<u8>>> {
        pop(self, "LPOP", key, count).await
    }

    /// `RPOP key count`: removes and returns up to `count` elements from the tail, the
    /// last one first. Never retried (see [`lpop`](Self::lpop)).
    async fn rpop(&self, key: &str, count: u64) -> InfraResult<Vec<Vec<u8>>> {
        pop(self, "RPOP", key, count).await
    }
}

impl<P: RedisPort + ?Sized> RedisListsExt for P {}

async fn push<P: RedisPort + ?Sized>(
    port: &P,
    name: &str,
    key: &str,
    values: &[&[u8]],
) -> InfraResult<u64> {
    if values.is_empty() {
        let cmd = Command::new("LLEN").arg(key);
        return count(&port.command(&cmd, Idempotency::Idempotent).await?);
    }
    let cmd = Command::new(name).arg(key).args_from(values);
    count(&port.command(&cmd, Idempotency::NonIdempotent).await?)
}

async fn pop<P: RedisPort + ?Sized>(
    port: &P,
    name: &str,
    key: &str,
    count: u64,
) -> InfraResult<Vec<Vec<u8>>> {
    if count == 0 {
        // `LPOP key 0` answers an empty array on Redis 7 but nil on 6.2: no round trip.
        return Ok(Vec::new());
    }
    let cmd = Command::new(name).arg(key).arg(count);
    // With a count, a missing key answers a null array.
    port.command(&cmd, Idempotency::NonIdempotent)
        .await?
        .into_opt_array()?
        .unwrap_or_default()
        .into_iter()
        .map(Reply::into_bytes)
        .collect()
}
