//! [`RedisStringsExt`]: string commands beyond the port's own `get`/`set`.

use std::time::Duration;

use async_trait::async_trait;

use crate::error::InfraResult;
use crate::redis::ttl_millis;
use crate::redis::{Command, RedisPort};
use crate::resilience::Idempotency;

/// What `GETEX` does to the key's expiry while reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GetExExpiry {
    /// The key expires after this long (`PX`, millisecond precision; sub-millisecond parts
    /// round up, zero is [`InvalidInput`](crate::ErrorKind::InvalidInput)): a sliding
    /// expiry, such as a session touched on every read.
    In(Duration),
    /// The key's expiry is removed (`PERSIST`).
    Persist,
}

/// String helpers for any [`RedisPort`] (`MSET`, `GETDEL`, `GETEX`).
#[async_trait]
pub trait RedisStringsExt: RedisPort {
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

    /// `GETEX key PX ms | PERSIST`: reads a key (`None` when missing) and changes its
    /// expiry in the same step; a missing key stays missing. Idempotent: a repeat reads the
    /// same value and sets the expiry again, from the time of the repeat.
    async fn getex(&self, key: &str, expiry: GetExExpiry) -> InfraResult<Option<Vec<u8>>> {
        let cmd = Command::new("GETEX").arg(key);
        let cmd = match expiry {
            GetExExpiry::In(ttl) => cmd.arg("PX").arg(ttl_millis(ttl, "getex")?),
            GetExExpiry::Persist => cmd.arg("PERSIST"),
        };
        self.command(&cmd, Idempotency::Idempotent)
            .await?
            .into_opt_bytes()
    }
}

impl<P: RedisPort + ?Sized> RedisStringsExt for P {}
