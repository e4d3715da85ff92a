//! [`RedisSetsExt`]: the set commands.

use async_trait::async_trait;

use super::{count, strings};
use crate::error::InfraResult;
use crate::redis::{Command, RedisPort};
use crate::resilience::Idempotency;

/// Set helpers for any [`RedisPort`] (`SADD`, `SREM`, `SISMEMBER`, `SMEMBERS`, `SCARD`).
///
/// Members are text (identifiers, tags). Empty member lists answer at once without a round
/// trip (Redis refuses `SADD key` without members). A key of another type is
/// [`InvalidInput`](crate::ErrorKind::InvalidInput) (`WRONGTYPE`).
#[async_trait]
pub trait RedisSetsExt: RedisPort {
    /// `SADD key member ...`: adds members, returns how many were new. Idempotent (a repeat
    /// adds nothing more; it may count fewer new members).
    async fn sadd(&self, key: &str, members: &[&str]) -> InfraResult<u64> {
        if members.is_empty() {
            return Ok(0);
        }
        let cmd = Command::new("SADD").arg(key).args_from(members);
        count(&self.command(&cmd, Idempotency::Idempotent).await?)
    }

    /// `SREM key member ...`: removes members, returns how many were there. Idempotent.
    async fn srem(&self, key: &str, members: &[&str]) -> InfraResult<u64> {
        if members.is_empty() {
            return Ok(0);
        }
        let cmd = Command::new("SREM").arg(key).args_from(members);
        count(&self.command(&cmd, Idempotency::Idempotent).await?)
    }

    /// `SISMEMBER key member`: whether `member` is in the set (`false` when the key is
    /// missing).
    async fn sismember(&self, key: &str, member: &str) -> InfraResult<bool> {
        let cmd = Command::new("SISMEMBER").arg(key).arg(member);
        self.command(&cmd, Idempotency::Idempotent).await?.as_bool()
    }

    /// `SMEMBERS key`: every member, in no particular order (empty when the key is
    /// missing). It reads the whole set in one reply: for a large set, walk it with
    /// `SSCAN` through [`RedisPort::command`].
    async fn smembers(&self, key: &str) -> InfraResult<Vec<String>> {
        let cmd = Command::new("SMEMBERS").arg(key);
        strings(self.command(&cmd, Idempotency::Idempotent).await?)
    }

    /// `SCARD key`: how many members the set has (0 when missing).
    async fn scard(&self, key: &str) -> InfraResult<u64> {
        let cmd = Command::new("SCARD").arg(key);
        count(&self.command(&cmd, Idempotency::Idempotent).await?)
    }
}

impl<P: RedisPort + ?Sized> RedisSetsExt for P {}
