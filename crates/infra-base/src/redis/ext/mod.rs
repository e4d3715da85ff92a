//! Typed conveniences over [`RedisPort`], one extension trait per data type, each
//! implemented for every port (including `dyn RedisPort` and mocks): bring them all into
//! scope with `use infra_base::redis::prelude::*`.
//!
//! | trait | commands |
//! |---|---|
//! | [`RedisPortExt`] | JSON and text values, `del_one`, scripts (`EVALSHA` then `EVAL`) |
//! | [`RedisKeysExt`] | `PTTL`, `PERSIST`, `UNLINK`, `SCAN` as a stream of keys |
//! | [`RedisStringsExt`] | `MSET`, `GETDEL`, `GETEX` |
//! | [`RedisHashesExt`] | `HSET`, `HGET`, `HMGET`, `HGETALL`, `HINCRBY`, `HDEL` |
//! | [`RedisSetsExt`] | `SADD`, `SREM`, `SISMEMBER`, `SMEMBERS`, `SCARD` |
//! | [`RedisSortedSetsExt`] | `ZADD` (with options), `ZINCRBY`, `ZSCORE`, `ZRANGE` (by rank, score, lex), `ZREM`, `ZCARD` |
//! | [`RedisListsExt`] | `LPUSH`, `RPUSH`, `LRANGE`, `LTRIM`, `LLEN`, `LPOP`, `RPOP` |
//! | [`RedisStreamsExt`] | `XADD`, `XGROUP CREATE`, `XREADGROUP`, `XACK`, `XAUTOCLAIM`, `XPENDING`, `XLEN`, `XRANGE` |
//!
//! Every helper is built on [`RedisPort::command`], so it goes through the port's layers
//! (tracing, metrics, resilience) and works on mocks through `command`. Each states its
//! [`Idempotency`] (only an idempotent call is retried after a transient failure). A reply
//! of an unexpected shape is an [`ErrorKind::InvalidInput`] naming what was expected, as
//! [`Reply`]'s accessors report it; no helper panics on a reply.

mod hashes;
mod keys;
mod lists;
mod sets;
mod sorted_sets;
mod streams;
mod strings;

use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Command, REDIS_BACKEND, RedisPort, Reply, Script, SetOptions, is_noscript};
use crate::error::{ErrorKind, InfraError, InfraResult};
use crate::resilience::Idempotency;

pub use hashes::RedisHashesExt;
pub use keys::{KeyScan, KeyTtl, KeyType, RedisKeysExt, ScanOptions};
pub use lists::RedisListsExt;
pub use sets::RedisSetsExt;
pub use sorted_sets::{RedisSortedSetsExt, ScoreComparison, ZAddOptions, ZAddUpdate, ZRange};
pub use streams::{
    AutoClaim, BUSYGROUP_MESSAGE, PendingEntry, PendingRange, PendingSummary, RedisStreamsExt,
    StreamEntry, StreamTrim, XAddOptions, XReadGroupOptions, busygroup_error, is_busygroup,
};
pub use strings::{GetExExpiry, RedisStringsExt};

/// JSON and text values and scripts for any [`RedisPort`]; the other families are in their
/// own traits (see [`redis::ext`](crate::redis::ext) and [`prelude`](crate::redis::prelude)).
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
}

/// A count reply (never negative) as `u64`.
pub(super) fn count(reply: &Reply) -> InfraResult<u64> {
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

/// An error for a reply whose shape is not the one `operation` expects (never a panic).
pub(super) fn unexpected_shape(operation: &'static str, expected: &str, got: &Reply) -> InfraError {
    InfraError::new(
        ErrorKind::InvalidInput,
        REDIS_BACKEND,
        operation,
        format!("expected {expected}, got {}", got.kind_name()),
    )
}

/// The elements of an array reply as text (members, keys).
pub(super) fn strings(reply: Reply) -> InfraResult<Vec<String>> {
    reply
        .into_array()?
        .into_iter()
        .map(Reply::into_string)
        .collect()
}

/// The elements of an array reply as bytes (values).
pub(super) fn byte_strings(reply: Reply) -> InfraResult<Vec<Vec<u8>>> {
    reply
        .into_array()?
        .into_iter()
        .map(Reply::into_bytes)
        .collect()
}

/// An argument refused before anything is sent.
pub(super) fn invalid_argument(operation: &'static str, message: impl Into<String>) -> InfraError {
    InfraError::new(ErrorKind::InvalidInput, REDIS_BACKEND, operation, message)
}

/// A duration in whole milliseconds (an idle time), saturating at Redis' range.
pub(super) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis())
        .unwrap_or(u64::MAX)
        .min(i64::MAX.unsigned_abs())
}

#[cfg(test)]
mod tests {
    //! Reply shapes the helpers must parse (RESP2 and RESP3) or refuse without panicking,
    //! on a port that answers one canned reply to every command.

    use std::sync::Mutex;

    use super::*;
    use crate::redis::Pipeline;

    /// Answers `reply` to every command, and remembers the last command sent.
    struct Canned {
        reply: Reply,
        sent: Mutex<Option<(Command, Idempotency)>>,
    }

    fn canned(reply: Reply) -> Canned {
        Canned {
            reply,
            sent: Mutex::new(None),
        }
    }

    impl Canned {
        fn sent(&self) -> (Command, Idempotency) {
            self.sent
                .lock()
                .unwrap()
                .clone()
                .expect("a command was sent")
        }
    }

    #[async_trait]
    impl RedisPort for Canned {
        async fn ping(&self) -> InfraResult<()> {
            Ok(())
        }
        async fn get(&self, _: &str) -> InfraResult<Option<Vec<u8>>> {
            Ok(None)
        }
        async fn set(&self, _: &str, _: &[u8], _: SetOptions) -> InfraResult<bool> {
            Ok(true)
        }
        async fn del(&self, _: &[String]) -> InfraResult<u64> {
            Ok(0)
        }
        async fn exists(&self, _: &str) -> InfraResult<bool> {
            Ok(false)
        }
        async fn expire(&self, _: &str, _: Duration) -> InfraResult<bool> {
            Ok(false)
        }
        async fn incr_by(&self, _: &str, _: i64, _: Option<Duration>) -> InfraResult<i64> {
            Ok(0)
        }
        async fn mget(&self, _: &[String]) -> InfraResult<Vec<Option<Vec<u8>>>> {
            Ok(Vec::new())
        }
        async fn publish(&self, _: &str, _: &[u8]) -> InfraResult<u64> {
            Ok(0)
        }
        async fn command(&self, command: &Command, idempotency: Idempotency) -> InfraResult<Reply> {
            *self.sent.lock().unwrap() = Some((command.clone(), idempotency));
            Ok(self.reply.clone())
        }
        async fn pipeline(&self, _: &Pipeline) -> InfraResult<Vec<Reply>> {
            Ok(Vec::new())
        }
    }

    fn bulk(text: &str) -> Reply {
        Reply::Bulk(text.as_bytes().to_vec())
    }

    fn args(command: &Command) -> Vec<String> {
        command
            .args()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect()
    }

    fn entry(id: &str, fields: &[&str]) -> Reply {
        Reply::Array(vec![
            bulk(id),
            Reply::Array(fields.iter().map(|f| bulk(f)).collect()),
        ])
    }

    #[tokio::test]
    async fn xreadgroup_reads_resp2_resp3_and_nil() {
        let resp2 = canned(Reply::Array(vec![Reply::Array(vec![
            bulk("s"),
            Reply::Array(vec![entry("1-0", &["f", "v"])]),
        ])]));
        let got = resp2
            .xreadgroup("s", "g", "c", &XReadGroupOptions::new().count(5).no_ack())
            .await
            .unwrap();
        assert_eq!(got[0].id, "1-0");
        assert_eq!(got[0].field("f"), Some(&b"v"[..]));
        let (cmd, idempotency) = resp2.sent();
        assert_eq!(
            args(&cmd),
            [
                "GROUP", "g", "c", "COUNT", "5", "NOACK", "STREAMS", "s", ">"
            ]
        );
        assert_eq!(idempotency, Idempotency::NonIdempotent);
        let resp3 = canned(Reply::Map(vec![(
            bulk("s"),
            Reply::Array(vec![Reply::Array(vec![bulk("2-0"), Reply::Nil])]),
        )]));
        let got = resp3
            .xreadgroup("s", "g", "c", &XReadGroupOptions::new())
            .await
            .unwrap();
        assert!(got[0].fields.is_empty(), "a deleted entry has no fields");
        let none = canned(Reply::Nil);
        assert!(
            none.xreadgroup("s", "g", "c", &XReadGroupOptions::new())
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn unexpected_shapes_are_errors_not_panics() {
        for reply in [
            Reply::Int(1),
            Reply::Array(vec![Reply::Int(1)]),
            Reply::Array(vec![Reply::Array(vec![bulk("s")])]),
            Reply::Array(vec![bulk("0")]),
        ] {
            let port = canned(reply.clone());
            let read = port
                .xreadgroup("s", "g", "c", &XReadGroupOptions::new())
                .await;
            assert_eq!(
                read.unwrap_err().kind(),
                ErrorKind::InvalidInput,
                "{reply:?}"
            );
            assert!(
                port.xautoclaim("s", "g", "c", Duration::ZERO, "0", None)
                    .await
                    .is_err()
            );
            assert!(port.xpending("s", "g").await.is_err());
            assert!(
                port.xpending_range("s", "g", &PendingRange::first(1))
                    .await
                    .is_err()
            );
            assert!(port.xrange("s", "-", "+", None).await.is_err());
            assert!(
                port.zrange_scores("z", &ZRange::by_rank(0, -1))
                    .await
                    .is_err()
            );
            let mut scan = port.scan(ScanOptions::new());
            assert!(scan.next_key().await.unwrap().is_err(), "{reply:?}");
            assert!(scan.next_key().await.is_none(), "a failed scan ends");
        }
    }

    #[tokio::test]
    async fn xautoclaim_and_xpending_parse() {
        let port = canned(Reply::Array(vec![
            bulk("0-0"),
            Reply::Array(vec![entry("3-0", &["k", "v"])]),
            Reply::Array(vec![bulk("1-0")]),
        ]));
        let claim = port
            .xautoclaim("s", "g", "c", Duration::from_millis(1500), "0-0", Some(10))
            .await
            .unwrap();
        assert_eq!(claim.next, "0-0");
        assert_eq!(claim.entries[0].id, "3-0");
        assert_eq!(claim.deleted, ["1-0"]);
        assert_eq!(
            args(&port.sent().0),
            ["s", "g", "c", "1500", "0-0", "COUNT", "10"]
        );
        let summary = canned(Reply::Array(vec![
            Reply::Int(3),
            bulk("1-0"),
            bulk("3-0"),
            Reply::Array(vec![Reply::Array(vec![bulk("a"), bulk("3")])]),
        ]));
        let summary = summary.xpending("s", "g").await.unwrap();
        assert_eq!(summary.count, 3);
        assert_eq!(summary.consumers, [("a".to_owned(), 3)]);
        let empty = canned(Reply::Array(vec![
            Reply::Int(0),
            Reply::Nil,
            Reply::Nil,
            Reply::Nil,
        ]));
        assert_eq!(
            empty.xpending("s", "g").await.unwrap(),
            PendingSummary::default()
        );
    }

    #[tokio::test]
    async fn options_become_arguments() {
        let port = canned(bulk("1-0"));
        let trim = StreamTrim::min_id("5").approximate();
        port.xadd("s", &[("f", b"v")], XAddOptions::new().trim(trim))
            .await
            .unwrap();
        let (cmd, idempotency) = port.sent();
        assert_eq!(args(&cmd), ["s", "MINID", "~", "5", "*", "f", "v"]);
        assert_eq!(idempotency, Idempotency::NonIdempotent);
        let port = canned(Reply::Array(vec![]));
        let range = ZRange::by_score(
            std::ops::Bound::Included(1.0),
            std::ops::Bound::Excluded(2.5),
        )
        .rev()
        .limit(3, 4);
        port.zrange("z", &range).await.unwrap();
        assert_eq!(
            args(&port.sent().0),
            ["z", "(2.5", "1", "BYSCORE", "REV", "LIMIT", "3", "4"]
        );
        port.zrange(
            "z",
            &ZRange::by_lex(std::ops::Bound::Unbounded, std::ops::Bound::Included("m")),
        )
        .await
        .unwrap();
        assert_eq!(args(&port.sent().0), ["z", "-", "[m", "BYLEX"]);
        let zadd = canned(Reply::Int(1));
        let opts = ZAddOptions::new()
            .only_existing()
            .only_if(ScoreComparison::Greater)
            .count_changed();
        zadd.zadd_with("z", &[(1.0, "m")], opts).await.unwrap();
        let (cmd, idempotency) = zadd.sent();
        assert_eq!(args(&cmd), ["z", "XX", "GT", "CH", "1", "m"]);
        assert_eq!(idempotency, Idempotency::Idempotent);
        let scan = canned(Reply::Array(vec![bulk("0"), Reply::Array(vec![bulk("k")])]));
        let mut keys = scan.scan(
            ScanOptions::new()
                .matching("a*")
                .count(0)
                .of_type(KeyType::Stream),
        );
        assert_eq!(keys.next_key().await.unwrap().unwrap(), "k");
        assert!(keys.next_key().await.is_none());
        assert_eq!(
            args(&scan.sent().0),
            ["0", "MATCH", "a*", "COUNT", "1", "TYPE", "stream"]
        );
        let list = canned(Reply::Nil);
        assert!(
            list.lpop("l", 3).await.unwrap().is_empty(),
            "nil: a missing list"
        );
        let getex = canned(Reply::Nil);
        getex
            .getex("k", GetExExpiry::In(Duration::from_micros(1500)))
            .await
            .unwrap();
        assert_eq!(
            args(&getex.sent().0),
            ["k", "PX", "2"],
            "sub-millisecond parts round up"
        );
    }
}
