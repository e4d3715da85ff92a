//! [`RedisKeysExt`]: commands on keys whatever they hold, and `SCAN` as a stream.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use futures_core::Stream;

use super::{count, unexpected_shape};
use crate::error::InfraResult;
use crate::redis::{Command, RedisPort, Reply};
use crate::resilience::Idempotency;

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

/// The type of value a key holds, as `TYPE` names it (a filter of [`ScanOptions`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// A string (also what counters are).
    String,
    /// A list.
    List,
    /// A set.
    Set,
    /// A sorted set.
    ZSet,
    /// A hash.
    Hash,
    /// A stream.
    Stream,
}

impl KeyType {
    /// The name Redis gives the type (`"string"`, `"zset"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::String => "string",
            KeyType::List => "list",
            KeyType::Set => "set",
            KeyType::ZSet => "zset",
            KeyType::Hash => "hash",
            KeyType::Stream => "stream",
        }
    }
}

/// What [`RedisKeysExt::scan`] walks: keys matching a glob pattern (`MATCH`), of one type
/// (`TYPE`), fetched `count` at a time (`COUNT`, a hint of the work per round trip; Redis
/// may answer a few more or fewer keys).
///
/// ```
/// use infra_base::redis::{KeyType, ScanOptions};
///
/// let options = ScanOptions::new().matching("session:*").count(500).of_type(KeyType::Hash);
/// assert_eq!(options.batch_hint(), 500);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanOptions {
    pattern: Option<String>,
    count: u32,
    key_type: Option<KeyType>,
}

impl Default for ScanOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl ScanOptions {
    /// Every key, 100 per round trip.
    pub fn new() -> Self {
        Self {
            pattern: None,
            count: 100,
            key_type: None,
        }
    }

    /// Only keys matching the glob `pattern` (`MATCH`: `*`, `?`, `[a-z]`, `\` escapes).
    /// The filter runs on the server after each batch is read, so a rare match may take
    /// many round trips: a prefix pattern (`user:42:*`) is the usual use.
    #[must_use]
    pub fn matching(mut self, pattern: impl Into<String>) -> Self {
        self.pattern = Some(pattern.into());
        self
    }

    /// How much work each round trip asks of the server (`COUNT`; 0 counts as 1). It bounds
    /// the memory the stream holds: one batch at a time.
    #[must_use]
    pub fn count(mut self, count: u32) -> Self {
        self.count = count.max(1);
        self
    }

    /// Only keys holding `key_type` (`TYPE`).
    #[must_use]
    pub fn of_type(mut self, key_type: KeyType) -> Self {
        self.key_type = Some(key_type);
        self
    }

    /// The `COUNT` sent with each `SCAN`.
    pub fn batch_hint(&self) -> u32 {
        self.count
    }

    fn command(&self, cursor: &str) -> Command {
        let mut cmd = Command::new("SCAN").arg(cursor);
        if let Some(pattern) = &self.pattern {
            cmd.push_arg("MATCH").push_arg(pattern.as_str());
        }
        cmd.push_arg("COUNT").push_arg(self.count);
        if let Some(key_type) = self.key_type {
            cmd.push_arg("TYPE").push_arg(key_type.as_str());
        }
        cmd
    }
}

/// A `SCAN` on its way.
type InFlight<'a> = Pin<Box<dyn Future<Output = InfraResult<Reply>> + Send + 'a>>;

/// Sends one `SCAN` on the port the stream walks.
type Fetch<'a> = Box<dyn Fn(Command) -> InFlight<'a> + Send + Sync + 'a>;

/// The keys of a `SCAN`, as a [`Stream`] of `InfraResult<String>` (see
/// [`RedisKeysExt::scan`]).
///
/// It holds one batch at a time and sends the next `SCAN` only when that batch is used up,
/// so memory stays bounded by the batch size whatever the number of keys. Use it with
/// `futures::StreamExt` (`next`, `try_collect`, ...) or [`next_key`](Self::next_key).
/// After an error of a `SCAN` the stream ends; a key that is not UTF-8 is an
/// [`InvalidInput`](crate::ErrorKind::InvalidInput) item, and the walk goes on.
pub struct KeyScan<'a> {
    fetch: Fetch<'a>,
    options: ScanOptions,
    /// The cursor of the next `SCAN`; `None` once the server answered cursor 0 (or failed).
    cursor: Option<String>,
    batch: VecDeque<InfraResult<String>>,
    in_flight: Option<InFlight<'a>>,
}

impl fmt::Debug for KeyScan<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyScan")
            .field("options", &self.options)
            .field("cursor", &self.cursor)
            .field("buffered", &self.batch.len())
            .field("in_flight", &self.in_flight.is_some())
            .finish_non_exhaustive()
    }
}

impl<'a> KeyScan<'a> {
    fn new<P: RedisPort + ?Sized>(port: &'a P, options: ScanOptions) -> Self {
        Self {
            fetch: Box::new(move |cmd: Command| -> InFlight<'a> {
                Box::pin(async move { port.command(&cmd, Idempotency::Idempotent).await })
            }),
            options,
            cursor: Some("0".to_owned()),
            batch: VecDeque::new(),
            in_flight: None,
        }
    }

    /// The next key, `None` when the walk is over: [`StreamExt::next`] without the
    /// `futures` crate.
    ///
    /// [`StreamExt::next`]: https://docs.rs/futures/latest/futures/stream/trait.StreamExt.html#method.next
    pub async fn next_key(&mut self) -> Option<InfraResult<String>> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }

    /// Takes in one `SCAN` reply: `[next cursor, [key, ...]]`.
    fn receive(&mut self, reply: Reply) -> InfraResult<()> {
        let [cursor, keys] = match reply {
            Reply::Array(parts) => <[Reply; 2]>::try_from(parts).map_err(|parts| {
                unexpected_shape("scan", "[cursor, keys]", &Reply::Array(parts))
            })?,
            other => return Err(unexpected_shape("scan", "[cursor, keys]", &other)),
        };
        let cursor = cursor.into_string()?;
        self.batch = keys
            .into_array()?
            .into_iter()
            .map(Reply::into_string)
            .collect();
        self.cursor = (cursor != "0").then_some(cursor);
        Ok(())
    }
}

impl Stream for KeyScan<'_> {
    type Item = InfraResult<String>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(key) = this.batch.pop_front() {
                return Poll::Ready(Some(key));
            }
            if let Some(in_flight) = this.in_flight.as_mut() {
                let reply = std::task::ready!(in_flight.as_mut().poll(cx));
                this.in_flight = None;
                if let Err(err) = reply.and_then(|reply| this.receive(reply)) {
                    this.cursor = None;
                    return Poll::Ready(Some(Err(err)));
                }
                continue;
            }
            let Some(cursor) = this.cursor.take() else {
                return Poll::Ready(None);
            };
            this.in_flight = Some((this.fetch)(this.options.command(&cursor)));
        }
    }
}

/// Key helpers for any [`RedisPort`] (`PTTL`, `PERSIST`, `UNLINK`, `SCAN`).
#[async_trait]
pub trait RedisKeysExt: RedisPort {
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

    /// `SCAN` as a stream of keys: walks the keyspace with a cursor, one batch of about
    /// [`count`](ScanOptions::count) keys per round trip, holding one batch at a time.
    ///
    /// Redis' guarantees apply: every key present for the whole walk is returned at least
    /// once; a key may come twice (the stream does not remember what it returned, so its
    /// memory stays bounded: deduplicate if it matters), and keys written or deleted
    /// during the walk may or may not come. Each `SCAN` is idempotent (a read) and retried
    /// by the resilience layer like any read.
    ///
    /// **Cluster**: a cursor belongs to one node, and redis-rs would route a `SCAN` (a
    /// command without a key) to a random node on every call. The cluster adapter
    /// (`infra-redis`) therefore walks every primary in turn, one node's cursor after the
    /// other, with a cursor of its own (`<primary index>:<node cursor>`, opaque to the
    /// stream): the walk covers the whole keyspace once, and costs one more round trip per
    /// batch (it asks the cluster for its primaries). A failover or resharding during the
    /// walk voids the guarantee above. Inside a pipeline a cluster `SCAN` is refused as
    /// [`InvalidInput`](crate::ErrorKind::InvalidInput).
    ///
    /// ```
    /// # #[cfg(feature = "testing")]
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use infra_base::redis::prelude::*;
    /// use infra_base::testing::MemoryRedis;
    ///
    /// let redis = MemoryRedis::new();
    /// redis.set("job:1", b"a", SetOptions::default()).await?;
    /// redis.set("other", b"b", SetOptions::default()).await?;
    /// let mut keys = redis.scan(ScanOptions::new().matching("job:*"));
    /// let mut found = Vec::new();
    /// while let Some(key) = keys.next_key().await {
    ///     found.push(key?);
    /// }
    /// assert_eq!(found, ["job:1"]);
    /// # Ok::<(), infra_base::InfraError>(())
    /// # }).unwrap();
    /// ```
    fn scan(&self, options: ScanOptions) -> KeyScan<'_> {
        KeyScan::new(self, options)
    }
}

impl<P: RedisPort + ?Sized> RedisKeysExt for P {}
