//! [`RedisStreamsExt`]: streams and consumer groups, non-blocking.

use std::time::Duration;

use async_trait::async_trait;

use super::{count, invalid_argument, millis, unexpected_shape};
use crate::error::{ErrorKind, InfraError, InfraResult};
use crate::redis::{Command, REDIS_BACKEND, RedisPort, Reply};
use crate::resilience::Idempotency;

/// The message of the error every port gives for `XGROUP CREATE` of a group that exists
/// (`BUSYGROUP`): [`ErrorKind::Conflict`] with this message, recognized by
/// [`is_busygroup`].
pub const BUSYGROUP_MESSAGE: &str = "BUSYGROUP: the consumer group already exists on this stream";

/// The error an adapter returns for a `BUSYGROUP` reply (see [`BUSYGROUP_MESSAGE`]).
pub fn busygroup_error(operation: &'static str) -> InfraError {
    InfraError::new(
        ErrorKind::Conflict,
        REDIS_BACKEND,
        operation,
        BUSYGROUP_MESSAGE,
    )
}

/// Whether `err` is the `BUSYGROUP` answer to `XGROUP CREATE` (see [`busygroup_error`]).
pub fn is_busygroup(err: &InfraError) -> bool {
    err.kind() == ErrorKind::Conflict && err.message() == BUSYGROUP_MESSAGE
}

/// One entry of a stream: its id (`<ms>-<seq>`) and its fields, in the order written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEntry {
    /// The entry's id.
    pub id: String,
    /// Its fields and values. Empty for an entry that was deleted (`XDEL`) while pending
    /// in a group: Redis answers it with no fields (`XADD` never writes an entry without).
    pub fields: Vec<(String, Vec<u8>)>,
}

impl StreamEntry {
    /// The value of the first field named `name`.
    pub fn field(&self, name: &str) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|(field, _)| field == name)
            .map(|(_, value)| value.as_slice())
    }
}

/// How `XADD` trims the stream as it appends (`MAXLEN` or `MINID`, exact or approximate).
///
/// Approximate trimming (`~`) removes whole internal nodes only, so the stream may keep a
/// few more entries than asked; it is much cheaper and what a capped log usually wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamTrim {
    by: TrimBy,
    approximate: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum TrimBy {
    MaxLen(u64),
    MinId(String),
}

impl StreamTrim {
    /// Keeps at most `len` entries, the newest (`MAXLEN`), exactly.
    pub fn max_len(len: u64) -> Self {
        Self {
            by: TrimBy::MaxLen(len),
            approximate: false,
        }
    }

    /// Removes the entries whose id is lower than `id` (`MINID`), exactly: keeps a time
    /// window (`"1700000000000"` keeps what was added since that millisecond).
    pub fn min_id(id: impl Into<String>) -> Self {
        Self {
            by: TrimBy::MinId(id.into()),
            approximate: false,
        }
    }

    /// Trims approximately (`~`): at least as many entries are kept as asked.
    #[must_use]
    pub fn approximate(mut self) -> Self {
        self.approximate = true;
        self
    }

    fn push_args(&self, cmd: &mut Command) {
        match &self.by {
            TrimBy::MaxLen(_) => cmd.push_arg("MAXLEN"),
            TrimBy::MinId(_) => cmd.push_arg("MINID"),
        };
        cmd.push_arg(if self.approximate { "~" } else { "=" });
        match &self.by {
            TrimBy::MaxLen(len) => cmd.push_arg(*len),
            TrimBy::MinId(id) => cmd.push_arg(id.as_str()),
        };
    }
}

/// Options of [`RedisStreamsExt::xadd`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct XAddOptions {
    /// The entry's id; `None` lets the server pick the next one (`*`), which is what a
    /// producer almost always wants.
    pub id: Option<String>,
    /// Trimming done in the same step.
    pub trim: Option<StreamTrim>,
}

impl XAddOptions {
    /// A server-assigned id, no trimming.
    pub fn new() -> Self {
        Self::default()
    }

    /// Trims the stream as it appends.
    #[must_use]
    pub fn trim(mut self, trim: StreamTrim) -> Self {
        self.trim = Some(trim);
        self
    }

    /// Uses `id` instead of a server-assigned one (it must be greater than the last).
    #[must_use]
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }
}

/// Options of [`RedisStreamsExt::xreadgroup`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XReadGroupOptions {
    /// At most this many entries (`COUNT`); `None`: every one available.
    pub count: Option<u64>,
    /// Which entries: `">"` (the default) for entries never delivered to the group; an id
    /// (`"0"`) for this consumer's own pending entries after it, to recover after a crash.
    pub start: String,
    /// Acknowledge on delivery (`NOACK`): nothing enters the pending list, so nothing is
    /// redelivered after a crash.
    pub no_ack: bool,
}

impl Default for XReadGroupOptions {
    fn default() -> Self {
        Self {
            count: None,
            start: ">".to_owned(),
            no_ack: false,
        }
    }
}

impl XReadGroupOptions {
    /// New entries (`>`), all of them, acknowledged explicitly.
    pub fn new() -> Self {
        Self::default()
    }

    /// At most `count` entries.
    #[must_use]
    pub fn count(mut self, count: u64) -> Self {
        self.count = Some(count);
        self
    }

    /// This consumer's pending entries after `id` (`"0"` for all of them).
    #[must_use]
    pub fn pending_after(mut self, id: impl Into<String>) -> Self {
        self.start = id.into();
        self
    }

    /// Acknowledges on delivery (`NOACK`).
    #[must_use]
    pub fn no_ack(mut self) -> Self {
        self.no_ack = true;
        self
    }
}

/// What `XAUTOCLAIM` answers: the entries claimed, where to continue, and the ids of
/// pending entries that no longer exist (removed from the pending list by the call).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoClaim {
    /// The id to start the next call from; `"0-0"` when the whole pending list was walked.
    pub next: String,
    /// The entries now owned by the claiming consumer.
    pub entries: Vec<StreamEntry>,
    /// Pending ids whose entries were deleted from the stream (Redis 7 and later).
    pub deleted: Vec<String>,
}

/// The summary form of `XPENDING`: the group's pending entries at a glance.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PendingSummary {
    /// How many entries were delivered and not acknowledged.
    pub count: u64,
    /// The lowest pending id (`None` when nothing is pending).
    pub lowest: Option<String>,
    /// The highest pending id.
    pub highest: Option<String>,
    /// Each consumer with pending entries and how many it has.
    pub consumers: Vec<(String, u64)>,
}

/// One pending entry, from the extended form of `XPENDING`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingEntry {
    /// The entry's id.
    pub id: String,
    /// The consumer that owns it.
    pub consumer: String,
    /// How long since it was last delivered.
    pub idle: Duration,
    /// How many times it was delivered.
    pub deliveries: u64,
}

/// Which pending entries the extended `XPENDING` lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRange {
    /// The lowest id (`"-"`: from the first).
    pub start: String,
    /// The highest id (`"+"`: to the last).
    pub end: String,
    /// At most this many entries.
    pub count: u64,
    /// Only entries idle at least this long (`IDLE`).
    pub min_idle: Option<Duration>,
    /// Only this consumer's entries.
    pub consumer: Option<String>,
}

impl PendingRange {
    /// The first `count` pending entries of the group.
    pub fn first(count: u64) -> Self {
        Self {
            start: "-".to_owned(),
            end: "+".to_owned(),
            count,
            min_idle: None,
            consumer: None,
        }
    }

    /// Only entries idle at least `idle`.
    #[must_use]
    pub fn idle_at_least(mut self, idle: Duration) -> Self {
        self.min_idle = Some(idle);
        self
    }

    /// Only `consumer`'s entries.
    #[must_use]
    pub fn of_consumer(mut self, consumer: impl Into<String>) -> Self {
        self.consumer = Some(consumer.into());
        self
    }
}

/// Stream helpers for any [`RedisPort`]: appending with trimming, consumer groups
/// (`XGROUP CREATE`, `XREADGROUP`, `XACK`, `XAUTOCLAIM`, `XPENDING`), `XLEN`, `XRANGE`.
///
/// Reads never block: [`xreadgroup`](Self::xreadgroup) sends no `BLOCK` (a blocking read
/// would stall every other caller of the shared connection, and
/// [`RedisPort::command`] refuses `XREAD`/`XREADGROUP ... BLOCK`). A consumer polls: it
/// reads, and when nothing came it sleeps a little before reading again; or it blocks on an
/// exclusive connection of the adapter. In a cluster a stream is one key, so each call goes
/// to one node.
///
/// ```
/// # #[cfg(feature = "testing")]
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use infra_base::redis::prelude::*;
/// use infra_base::testing::MemoryRedis;
///
/// let redis = MemoryRedis::new();
/// redis.xgroup_create_if_missing("jobs", "workers", "0").await?;
/// let id = redis.xadd("jobs", &[("task", b"resize")], XAddOptions::new()).await?;
/// let got = redis.xreadgroup("jobs", "workers", "w1", &XReadGroupOptions::new().count(10)).await?;
/// assert_eq!(got[0].id, id);
/// assert_eq!(redis.xack("jobs", "workers", &[&id]).await?, 1);
/// # Ok::<(), infra_base::InfraError>(())
/// # }).unwrap();
/// ```
#[async_trait]
pub trait RedisStreamsExt: RedisPort {
    /// `XADD key [MAXLEN|MINID [=|~] n] id field value ...`: appends an entry (creating the
    /// stream), returns its id. At least one field is needed
    /// ([`InvalidInput`](crate::ErrorKind::InvalidInput) otherwise). Never retried: a
    /// repeat after a lost reply appends a second entry.
    async fn xadd(
        &self,
        key: &str,
        fields: &[(&str, &[u8])],
        options: XAddOptions,
    ) -> InfraResult<String> {
        if fields.is_empty() {
            return Err(invalid_argument(
                "xadd",
                "XADD needs at least one field and value",
            ));
        }
        let mut cmd = Command::new("XADD").arg(key);
        if let Some(trim) = &options.trim {
            trim.push_args(&mut cmd);
        }
        cmd.push_arg(options.id.as_deref().unwrap_or("*"));
        for (field, value) in fields {
            cmd.push_arg(*field).push_arg(*value);
        }
        self.command(&cmd, Idempotency::NonIdempotent)
            .await?
            .into_string()
    }

    /// `XGROUP CREATE key group start [MKSTREAM]`: creates a consumer group that reads
    /// after `start` (`"$"`: only new entries; `"0"`: the whole stream), creating the
    /// stream when `mkstream`. A group that exists already is
    /// [`Conflict`](crate::ErrorKind::Conflict) ([`is_busygroup`]); a missing stream
    /// without `mkstream` is [`NotFound`](crate::ErrorKind::NotFound). Never
    /// retried (a repeat after a lost reply would fail as `BUSYGROUP`): see
    /// [`xgroup_create_if_missing`](Self::xgroup_create_if_missing).
    async fn xgroup_create(
        &self,
        key: &str,
        group: &str,
        start: &str,
        mkstream: bool,
    ) -> InfraResult<()> {
        let mut cmd = Command::new("XGROUP")
            .arg("CREATE")
            .arg(key)
            .arg(group)
            .arg(start);
        if mkstream {
            cmd.push_arg("MKSTREAM");
        }
        self.command(&cmd, Idempotency::NonIdempotent)
            .await?
            .expect_ok()
    }

    /// Creates the group (and the stream) unless the group exists: `true` when it was
    /// created, `false` when it was there (`BUSYGROUP` is success here). Idempotent, so
    /// safe to call at every start of a consumer. An existing group keeps its position.
    async fn xgroup_create_if_missing(
        &self,
        key: &str,
        group: &str,
        start: &str,
    ) -> InfraResult<bool> {
        let cmd = Command::new("XGROUP")
            .arg("CREATE")
            .arg(key)
            .arg(group)
            .arg(start)
            .arg("MKSTREAM");
        match self.command(&cmd, Idempotency::Idempotent).await {
            Ok(reply) => reply.expect_ok().map(|()| true),
            Err(err) if is_busygroup(&err) => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// `XREADGROUP GROUP group consumer [COUNT n] [NOACK] STREAMS key start`, without
    /// `BLOCK`: the entries available now (empty when none), delivered to `consumer`.
    /// Unless `no_ack`, each enters the group's pending list until
    /// [`xack`](Self::xack)ed. A missing stream or group is
    /// [`NotFound`](crate::ErrorKind::NotFound) (`NOGROUP`). Never retried: a
    /// repeat would deliver the next entries, and the first ones would wait in the
    /// pending list until claimed.
    async fn xreadgroup(
        &self,
        key: &str,
        group: &str,
        consumer: &str,
        options: &XReadGroupOptions,
    ) -> InfraResult<Vec<StreamEntry>> {
        let mut cmd = Command::new("XREADGROUP")
            .arg("GROUP")
            .arg(group)
            .arg(consumer);
        if let Some(count) = options.count {
            cmd.push_arg("COUNT").push_arg(count);
        }
        if options.no_ack {
            cmd.push_arg("NOACK");
        }
        cmd.push_arg("STREAMS")
            .push_arg(key)
            .push_arg(options.start.as_str());
        let reply = self.command(&cmd, Idempotency::NonIdempotent).await?;
        // One stream asked: nil (nothing new), or its entries under its name (an array of
        // [name, entries] in RESP2, a map in RESP3).
        let streams = match reply {
            Reply::Nil => return Ok(Vec::new()),
            Reply::Map(pairs) => pairs,
            Reply::Array(items) => items
                .into_iter()
                .map(|item| match item {
                    Reply::Array(pair) => <[Reply; 2]>::try_from(pair)
                        .map(|[name, entries]| (name, entries))
                        .map_err(|p| {
                            unexpected_shape("xreadgroup", "[stream, entries]", &Reply::Array(p))
                        }),
                    other => Err(unexpected_shape("xreadgroup", "[stream, entries]", &other)),
                })
                .collect::<InfraResult<_>>()?,
            other => {
                return Err(unexpected_shape(
                    "xreadgroup",
                    "an array of streams",
                    &other,
                ));
            }
        };
        let mut entries = Vec::new();
        for (_, stream) in streams {
            entries.extend(stream_entries(stream)?);
        }
        Ok(entries)
    }

    /// `XACK key group id ...`: acknowledges entries, removing them from the pending list;
    /// returns how many were pending. Idempotent (a repeat acknowledges nothing more).
    async fn xack(&self, key: &str, group: &str, ids: &[&str]) -> InfraResult<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        let cmd = Command::new("XACK").arg(key).arg(group).args_from(ids);
        count(&self.command(&cmd, Idempotency::Idempotent).await?)
    }

    /// `XAUTOCLAIM key group consumer min-idle start [COUNT n]`: gives `consumer` the
    /// pending entries idle for at least `min_idle` (their consumer likely died), from
    /// `start` (`"0-0"` for the beginning), at most `count` per call (Redis' default 100).
    /// Continue from [`AutoClaim::next`] until it is `"0-0"`. Never retried: a repeat
    /// would count another delivery of each entry.
    async fn xautoclaim(
        &self,
        key: &str,
        group: &str,
        consumer: &str,
        min_idle: Duration,
        start: &str,
        count: Option<u64>,
    ) -> InfraResult<AutoClaim> {
        let mut cmd = Command::new("XAUTOCLAIM")
            .arg(key)
            .arg(group)
            .arg(consumer)
            .arg(millis(min_idle))
            .arg(start);
        if let Some(count) = count {
            cmd.push_arg("COUNT").push_arg(count);
        }
        let reply = self.command(&cmd, Idempotency::NonIdempotent).await?;
        let items = reply.into_array()?;
        if !(2..=3).contains(&items.len()) {
            return Err(invalid_argument(
                "xautoclaim",
                "expected [next, entries, deleted] from XAUTOCLAIM",
            ));
        }
        let mut parts = items.into_iter();
        let (Some(next), Some(entries)) = (parts.next(), parts.next()) else {
            return Err(invalid_argument(
                "xautoclaim",
                "expected [next, entries, deleted] from XAUTOCLAIM",
            ));
        };
        let deleted = match parts.next() {
            // Redis 6.2 answers two elements, without the deleted ids.
            None => Vec::new(),
            Some(deleted) => deleted
                .into_array()?
                .into_iter()
                .map(Reply::into_string)
                .collect::<InfraResult<_>>()?,
        };
        Ok(AutoClaim {
            next: next.into_string()?,
            entries: stream_entries(entries)?,
            deleted,
        })
    }

    /// `XPENDING key group`: how many entries are pending, their id range and who holds
    /// them. A missing stream or group is [`NotFound`](crate::ErrorKind::NotFound).
    async fn xpending(&self, key: &str, group: &str) -> InfraResult<PendingSummary> {
        let cmd = Command::new("XPENDING").arg(key).arg(group);
        let reply = self.command(&cmd, Idempotency::Idempotent).await?;
        let items = reply.into_array()?;
        let Ok([pending, lowest, highest, consumers]) = <[Reply; 4]>::try_from(items) else {
            return Err(invalid_argument(
                "xpending",
                "expected [count, lowest, highest, consumers] from XPENDING",
            ));
        };
        let consumers = consumers
            .into_opt_array()?
            .unwrap_or_default()
            .into_iter()
            .map(|pair| {
                let mut pair = pair.into_array()?.into_iter();
                match (pair.next(), pair.next()) {
                    (Some(name), Some(n)) => Ok((name.into_string()?, count(&n)?)),
                    _ => Err(invalid_argument(
                        "xpending",
                        "expected [consumer, count] pairs from XPENDING",
                    )),
                }
            })
            .collect::<InfraResult<_>>()?;
        Ok(PendingSummary {
            count: count(&pending)?,
            lowest: lowest.into_opt_bytes()?.map(lossless_text).transpose()?,
            highest: highest.into_opt_bytes()?.map(lossless_text).transpose()?,
            consumers,
        })
    }

    /// `XPENDING key group [IDLE ms] start end count [consumer]`: the pending entries in
    /// `range`, each with its consumer, idle time and delivery count.
    async fn xpending_range(
        &self,
        key: &str,
        group: &str,
        range: &PendingRange,
    ) -> InfraResult<Vec<PendingEntry>> {
        let mut cmd = Command::new("XPENDING").arg(key).arg(group);
        if let Some(idle) = range.min_idle {
            cmd.push_arg("IDLE").push_arg(millis(idle));
        }
        cmd.push_arg(range.start.as_str())
            .push_arg(range.end.as_str())
            .push_arg(range.count);
        if let Some(consumer) = &range.consumer {
            cmd.push_arg(consumer.as_str());
        }
        self.command(&cmd, Idempotency::Idempotent)
            .await?
            .into_array()?
            .into_iter()
            .map(|item| {
                let items = item.into_array()?;
                let Ok([id, consumer, idle, deliveries]) = <[Reply; 4]>::try_from(items) else {
                    return Err(invalid_argument(
                        "xpending_range",
                        "expected [id, consumer, idle, deliveries] from XPENDING",
                    ));
                };
                Ok(PendingEntry {
                    id: id.into_string()?,
                    consumer: consumer.into_string()?,
                    idle: Duration::from_millis(count(&idle)?),
                    deliveries: count(&deliveries)?,
                })
            })
            .collect()
    }

    /// `XLEN key`: how many entries the stream has (0 when missing).
    async fn xlen(&self, key: &str) -> InfraResult<u64> {
        let cmd = Command::new("XLEN").arg(key);
        count(&self.command(&cmd, Idempotency::Idempotent).await?)
    }

    /// `XRANGE key start end [COUNT n]`: the entries with ids from `start` to `end`, both
    /// included (`"-"` and `"+"` for the ends; `"(id"` excludes `id`), oldest first.
    async fn xrange(
        &self,
        key: &str,
        start: &str,
        end: &str,
        count: Option<u64>,
    ) -> InfraResult<Vec<StreamEntry>> {
        let mut cmd = Command::new("XRANGE").arg(key).arg(start).arg(end);
        if let Some(count) = count {
            cmd.push_arg("COUNT").push_arg(count);
        }
        stream_entries(self.command(&cmd, Idempotency::Idempotent).await?)
    }
}

impl<P: RedisPort + ?Sized> RedisStreamsExt for P {}

fn lossless_text(bytes: Vec<u8>) -> InfraResult<String> {
    Reply::Bulk(bytes).into_string()
}

/// The entries of a reply: an array of `[id, [field, value, ...]]` (fields nil or empty
/// for a deleted entry still pending).
fn stream_entries(reply: Reply) -> InfraResult<Vec<StreamEntry>> {
    reply
        .into_array()?
        .into_iter()
        .map(|entry| {
            let items = entry.into_array()?;
            let Ok([id, fields]) = <[Reply; 2]>::try_from(items) else {
                return Err(invalid_argument(
                    "stream",
                    "expected stream entries as [id, fields]",
                ));
            };
            let fields = match fields {
                Reply::Nil => Vec::new(),
                fields => fields
                    .into_pairs()?
                    .into_iter()
                    .map(|(name, value)| Ok((name.into_string()?, value.into_bytes()?)))
                    .collect::<InfraResult<_>>()?,
            };
            Ok(StreamEntry {
                id: id.into_string()?,
                fields,
            })
        })
        .collect()
}
