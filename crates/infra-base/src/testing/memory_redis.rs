//! [`MemoryRedis`]: an in-process [`RedisPort`] that keeps the port's contract.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use crate::error::{ErrorKind, InfraError, InfraResult};
use crate::health::ComponentHealth;
use crate::lifecycle::Lifecycle;
use crate::redis::{
    Command, Message, Pipeline, REDIS_BACKEND, RedisPort, RedisSubscriber, Reply, SetCondition,
    SetOptions, SubscribeOptions, Subscription, SubscriptionFeed, Topics, validate_command,
};
use crate::resilience::Idempotency;

#[path = "memory_commands.rs"]
mod commands;
#[path = "memory_scripts.rs"]
mod scripts;

/// How many writes between two sweeps of expired keys (expiry is otherwise lazy).
const SWEEP_EVERY: u64 = 1024;

/// An in-memory [`RedisPort`] (and [`Lifecycle`]) for tests: a drop-in for a Redis adapter
/// that needs no server.
///
/// It keeps the port's contract, checked by the conformance suite: opaque byte values,
/// millisecond TTLs (sub-millisecond parts round up, zero is
/// [`InvalidInput`](ErrorKind::InvalidInput)), `NX`/`XX`, Redis' integer semantics for
/// `incr_by`, and lazy expiry measured with [`tokio::time::Instant`], so a test with a
/// paused clock (`#[tokio::test(start_paused = true)]`) controls expiry with
/// `tokio::time::advance`.
///
/// On the general command path ([`command`](RedisPort::command),
/// [`pipeline`](RedisPort::pipeline)) it emulates what infra-base's typed helpers send,
/// with Redis' replies and errors (`WRONGTYPE` and non-numbers are `InvalidInput`, as the
/// Redis adapter maps them; `BUSYGROUP` is `Conflict`, `NOGROUP` `NotFound`):
/// - strings and keys: `GET`, `SET` with `NX`/`XX`/`EX`/`PX`/`KEEPTTL`, `GETDEL`, `GETEX`
///   (`EX`/`PX`/`PERSIST`), `MGET`, `MSET`, `DEL`, `UNLINK`, `EXISTS`, `INCR`/`DECR`(`BY`),
///   `EXPIRE`, `PEXPIRE`, `TTL`, `PTTL`, `PERSIST`, `TYPE`, `SCAN` (`MATCH`, `COUNT`,
///   `TYPE`), `PING`, `ECHO`, `TIME`;
/// - hashes: `HSET`, `HSETNX`, `HGET`, `HMGET`, `HGETALL`, `HDEL`, `HEXISTS`, `HLEN`,
///   `HINCRBY`, `HKEYS`, `HVALS`;
/// - sets: `SADD`, `SREM`, `SISMEMBER`, `SMEMBERS`, `SCARD`;
/// - sorted sets: `ZADD` (`NX`/`XX`/`GT`/`LT`/`CH`), `ZRANGE` (by rank, `BYSCORE`,
///   `BYLEX`, `REV`, `LIMIT`, `WITHSCORES`), `ZINCRBY`, `ZSCORE`, `ZREM`, `ZCARD`;
/// - lists: `LPUSH`, `RPUSH`, `LRANGE`, `LTRIM`, `LLEN`, `LPOP`/`RPOP` (with a count);
/// - streams: `XADD` (`MAXLEN`/`MINID`, `=`/`~`: approximate trims exactly), `XGROUP
///   CREATE` (`MKSTREAM`), `XREADGROUP` (never blocking), `XACK`, `XAUTOCLAIM`, `XPENDING`
///   (both forms), `XLEN`, `XRANGE`, `XDEL`.
///
/// Any other command or option (`SUNION`, `ZADD ... INCR`, `XADD ... NOMKSTREAM`, scripts,
/// ...) is refused as [`InvalidInput`](ErrorKind::InvalidInput) with "not supported by
/// MemoryRedis: X", never answered approximately. Its `SCAN` cursor is its own (a position
/// in a hash order), with Redis' guarantee: a key present for the whole walk is returned.
///
/// It cannot run Lua, with one exception: the scripts of infra-base's own primitives
/// ([`RedisLock`](crate::redis::RedisLock) and [`RateLimiter`](crate::redis::RateLimiter)),
/// recognised by their SHA1 and emulated natively, so that a service's tests of code that
/// locks or rate-limits need no server (the conformance suite checks the emulation against
/// real servers). Their clock (`TIME`) is the wall clock when the store first reads it,
/// advanced by tokio's clock, so a paused clock controls rate limits too. Any other script
/// is refused, so the conformance suite runs on it with `without_scripting` (see
/// [`redis_conformance_tests!`](crate::redis_conformance_tests)). A pipeline runs under
/// one lock, so even a plain one is atomic here.
///
/// It is a [`RedisSubscriber`] too: [`publish`](RedisPort::publish) delivers to its
/// subscriptions (channels and glob patterns) and returns the receiver count Redis would.
/// Beyond the port, [`ttl`](Self::ttl) reads a key's remaining time, and
/// [`fail_with`](Self::fail_with) makes every call fail, to test how a service degrades. After
/// [`close`](Lifecycle::close) every call fails as [`Unavailable`](ErrorKind::Unavailable).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use infra_base::{RedisPort, SetOptions};
/// use infra_base::testing::MemoryRedis;
///
/// let redis = MemoryRedis::new();
/// assert!(redis.set("k", b"v", SetOptions::default().if_absent()).await?);
/// assert!(!redis.set("k", b"w", SetOptions::default().if_absent()).await?);
/// assert_eq!(redis.get("k").await?, Some(b"v".to_vec()));
/// # Ok::<(), infra_base::InfraError>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Default)]
pub struct MemoryRedis {
    state: Mutex<State>,
    /// Live subscriptions, in the order they were made.
    subscribers: Mutex<Vec<MemorySubscription>>,
    closed: AtomicBool,
    fault: Mutex<Option<ErrorKind>>,
}

/// One subscription: its topics and the feed of its stream.
#[derive(Debug)]
struct MemorySubscription {
    topics: Topics,
    feed: SubscriptionFeed,
}

#[derive(Debug, Default)]
struct State {
    entries: HashMap<String, Entry>,
    writes: u64,
    /// The clock of `TIME` and the scripts: when it was first read, and the wall clock
    /// then, in microseconds since the Unix epoch.
    clock: Option<(Instant, i64)>,
}

#[derive(Debug)]
struct Entry {
    value: Value,
    expires_at: Option<Instant>,
}

/// What a key holds: the types [`MemoryRedis`] emulates.
#[derive(Debug)]
enum Value {
    Str(Vec<u8>),
    /// Fields in insertion order, as a small Redis hash (listpack) keeps them.
    Hash(Vec<(Vec<u8>, Vec<u8>)>),
    /// Members ordered by score, then by member bytes, as Redis orders them.
    ZSet(Vec<(Vec<u8>, f64)>),
    /// Members in insertion order (Redis promises no order).
    Set(Vec<Vec<u8>>),
    /// Elements from head to tail.
    List(std::collections::VecDeque<Vec<u8>>),
    /// Entries, last id and consumer groups.
    Stream(Box<commands::StreamValue>),
}

impl Value {
    /// The name `TYPE` answers.
    fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::Hash(_) => "hash",
            Value::ZSet(_) => "zset",
            Value::Set(_) => "set",
            Value::List(_) => "list",
            Value::Stream(_) => "stream",
        }
    }
}

impl Entry {
    fn string(value: Vec<u8>, expires_at: Option<Instant>) -> Self {
        Self {
            value: Value::Str(value),
            expires_at,
        }
    }

    /// The string value; another type is `WRONGTYPE` (`InvalidInput`).
    fn as_str(&self, operation: &'static str) -> InfraResult<&Vec<u8>> {
        match &self.value {
            Value::Str(bytes) => Ok(bytes),
            _ => Err(wrong_type(operation)),
        }
    }
}

impl Entry {
    fn is_live(&self, now: Instant) -> bool {
        self.expires_at.is_none_or(|at| at > now)
    }
}

impl State {
    /// The live entry under `key`, removing it when it has expired (lazy expiry).
    fn live(&mut self, key: &str, now: Instant) -> Option<&mut Entry> {
        if self.entries.get(key).is_some_and(|e| !e.is_live(now)) {
            self.entries.remove(key);
        }
        self.entries.get_mut(key)
    }

    /// The value of `key` as the type `pick` selects: `None` when the key is missing,
    /// `WRONGTYPE` (`InvalidInput`) when it holds another type.
    fn typed<T>(
        &mut self,
        key: &str,
        now: Instant,
        operation: &'static str,
        pick: fn(&mut Value) -> Option<&mut T>,
    ) -> InfraResult<Option<&mut T>> {
        match self.live(key, now) {
            None => Ok(None),
            Some(entry) => pick(&mut entry.value)
                .map(Some)
                .ok_or_else(|| wrong_type(operation)),
        }
    }

    /// Counts a write and sweeps expired keys now and then, so memory stays bounded.
    fn wrote(&mut self, now: Instant) {
        self.writes += 1;
        if self.writes.is_multiple_of(SWEEP_EVERY) {
            self.entries.retain(|_, e| e.is_live(now));
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn invalid(operation: &'static str, message: impl Into<String>) -> InfraError {
    InfraError::new(ErrorKind::InvalidInput, REDIS_BACKEND, operation, message)
}

/// `WRONGTYPE`, with the message the Redis adapter gives it.
fn wrong_type(operation: &'static str) -> InfraError {
    invalid(operation, "the key holds a value of another type")
}

/// A value that is not an integer, with the message the Redis adapter gives it.
fn not_an_integer(operation: &'static str) -> InfraError {
    invalid(
        operation,
        "the value is not an integer or the result is out of range",
    )
}

/// The deadline of a key written now with `ttl`, with Redis' millisecond precision.
fn deadline(ttl: Duration, now: Instant, operation: &'static str) -> InfraResult<Instant> {
    if ttl.is_zero() {
        return Err(invalid(operation, "ttl must be greater than zero"));
    }
    // Sub-millisecond parts round up, as the port documents.
    let millis = u64::try_from(ttl.as_nanos().div_ceil(1_000_000))
        .ok()
        .filter(|ms| i64::try_from(*ms).is_ok());
    millis
        .and_then(|ms| now.checked_add(Duration::from_millis(ms)))
        .ok_or_else(|| invalid(operation, "ttl is too large"))
}

/// Redis' notion of an integer value: the canonical decimal text of an `i64`.
fn parse_integer(value: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(value).ok()?;
    let n: i64 = text.parse().ok()?;
    (n.to_string() == text).then_some(n)
}

impl MemoryRedis {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The remaining time to live of `key` (like `PTTL`): `None` when the key does not
    /// exist or has no expiry.
    pub fn ttl(&self, key: &str) -> Option<Duration> {
        let now = Instant::now();
        let mut state = lock(&self.state);
        state
            .live(key, now)
            .and_then(|e| e.expires_at)
            .map(|at| at.saturating_duration_since(now))
    }

    /// Makes every later call fail with an error of `kind` (`None` heals the store), to
    /// test retries, breakers and degraded modes without a real outage.
    pub fn fail_with(&self, kind: Option<ErrorKind>) {
        *lock(&self.fault) = kind;
    }

    /// Whether [`close`](Lifecycle::close) was called.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    fn check(&self, operation: &'static str) -> InfraResult<()> {
        if self.is_closed() {
            return Err(InfraError::new(
                ErrorKind::Unavailable,
                REDIS_BACKEND,
                operation,
                "the store is closed",
            ));
        }
        if let Some(kind) = *lock(&self.fault) {
            return Err(InfraError::new(
                kind,
                REDIS_BACKEND,
                operation,
                "injected failure",
            ));
        }
        Ok(())
    }
}

#[async_trait]
impl RedisPort for MemoryRedis {
    async fn ping(&self) -> InfraResult<()> {
        self.check("ping")
    }

    async fn get(&self, key: &str) -> InfraResult<Option<Vec<u8>>> {
        self.check("get")?;
        let now = Instant::now();
        let mut state = lock(&self.state);
        match state.live(key, now) {
            Some(entry) => Ok(Some(entry.as_str("get")?.clone())),
            None => Ok(None),
        }
    }

    async fn set(&self, key: &str, value: &[u8], options: SetOptions) -> InfraResult<bool> {
        self.check("set")?;
        let now = Instant::now();
        let expires_at = options
            .ttl
            .map(|ttl| deadline(ttl, now, "set"))
            .transpose()?;
        let mut state = lock(&self.state);
        let exists = state.live(key, now).is_some();
        let allowed = match options.condition {
            SetCondition::Always => true,
            SetCondition::IfAbsent => !exists,
            SetCondition::IfPresent => exists,
        };
        if allowed {
            // Like SET without KEEPTTL: the new expiry (or none) replaces the old one.
            state
                .entries
                .insert(key.to_owned(), Entry::string(value.to_vec(), expires_at));
            state.wrote(now);
        }
        Ok(allowed)
    }

    async fn del(&self, keys: &[String]) -> InfraResult<u64> {
        self.check("del")?;
        let now = Instant::now();
        let mut state = lock(&self.state);
        let mut deleted = 0;
        for key in keys {
            if let Some(entry) = state.entries.remove(key) {
                deleted += u64::from(entry.is_live(now));
            }
        }
        Ok(deleted)
    }

    async fn exists(&self, key: &str) -> InfraResult<bool> {
        self.check("exists")?;
        let now = Instant::now();
        Ok(lock(&self.state).live(key, now).is_some())
    }

    async fn expire(&self, key: &str, ttl: Duration) -> InfraResult<bool> {
        self.check("expire")?;
        let now = Instant::now();
        let at = deadline(ttl, now, "expire")?;
        let mut state = lock(&self.state);
        Ok(match state.live(key, now) {
            Some(entry) => {
                entry.expires_at = Some(at);
                true
            }
            None => false,
        })
    }

    async fn incr_by(
        &self,
        key: &str,
        delta: i64,
        ttl_on_create: Option<Duration>,
    ) -> InfraResult<i64> {
        self.check("incr_by")?;
        let now = Instant::now();
        let create_expiry = ttl_on_create
            .map(|ttl| deadline(ttl, now, "incr_by"))
            .transpose()?;
        let mut state = lock(&self.state);
        let value = if let Some(entry) = state.live(key, now) {
            let current = parse_integer(entry.as_str("incr_by")?)
                .ok_or_else(|| invalid("incr_by", "the stored value is not an integer"))?;
            let next = current.checked_add(delta).ok_or_else(|| {
                invalid("incr_by", "the increment would overflow a 64-bit integer")
            })?;
            // An existing key keeps its expiry.
            entry.value = Value::Str(next.to_string().into_bytes());
            next
        } else {
            let entry = Entry::string(delta.to_string().into_bytes(), create_expiry);
            state.entries.insert(key.to_owned(), entry);
            delta
        };
        state.wrote(now);
        Ok(value)
    }

    async fn mget(&self, keys: &[String]) -> InfraResult<Vec<Option<Vec<u8>>>> {
        self.check("mget")?;
        let now = Instant::now();
        let mut state = lock(&self.state);
        // Like MGET: a key of another type reads as missing.
        Ok(keys
            .iter()
            .map(|key| match state.live(key, now).map(|e| &e.value) {
                Some(Value::Str(bytes)) => Some(bytes.clone()),
                _ => None,
            })
            .collect())
    }

    async fn publish(&self, channel: &str, message: &[u8]) -> InfraResult<u64> {
        self.check("publish")?;
        let mut subscribers = lock(&self.subscribers);
        // Dropped subscriptions are unsubscribed: they neither receive nor count.
        subscribers.retain(|sub| !sub.feed.is_closed());
        // As Redis counts: one per matching channel subscription, one per matching pattern
        // (a subscription to both `news` and `n*` receives the message twice).
        let mut received = 0;
        for sub in subscribers.iter() {
            let exact = sub.topics.channels().iter().any(|c| c == channel);
            let patterns = sub
                .topics
                .patterns()
                .iter()
                .filter(|p| glob_match(p.as_bytes(), channel.as_bytes()));
            let deliveries = exact
                .then_some(None)
                .into_iter()
                .chain(patterns.map(|p| Some(p.clone())));
            for pattern in deliveries {
                sub.feed.message(Message {
                    channel: channel.to_owned(),
                    pattern,
                    payload: message.to_vec(),
                });
                received += 1;
            }
        }
        Ok(received)
    }

    async fn command(&self, command: &Command, idempotency: Idempotency) -> InfraResult<Reply> {
        const OPERATION: &str = "command";
        let _ = idempotency;
        validate_command(command, OPERATION)?;
        self.check(OPERATION)?;
        commands::check_supported(command, OPERATION)?;
        let now = Instant::now();
        lock(&self.state).run(command, now, OPERATION)
    }

    async fn pipeline(&self, pipeline: &Pipeline) -> InfraResult<Vec<Reply>> {
        const OPERATION: &str = "pipeline";
        // Everything is checked before anything runs: a refused command refuses the whole
        // pipeline, as Redis aborts a transaction with a command refused when queued.
        for command in pipeline.commands() {
            validate_command(command, OPERATION)?;
        }
        if pipeline.is_empty() {
            return Ok(Vec::new());
        }
        self.check(OPERATION)?;
        for command in pipeline.commands() {
            commands::check_supported(command, OPERATION)?;
        }
        let now = Instant::now();
        // One lock for the whole pipeline: nothing runs in between, which a plain pipeline
        // allows and a transaction requires. Like Redis, a command that fails does not stop
        // the others; the call then fails with the first error.
        let mut state = lock(&self.state);
        let mut replies = Vec::with_capacity(pipeline.len());
        let mut first_error = None;
        for command in pipeline.commands() {
            match state.run(command, now, OPERATION) {
                Ok(reply) => replies.push(reply),
                Err(err) => {
                    first_error.get_or_insert(err);
                }
            }
        }
        match first_error {
            None => Ok(replies),
            Some(err) => Err(err),
        }
    }
}

/// Subscriptions receive what [`publish`](RedisPort::publish) sends, at once, through the
/// bounded buffer of the contract ([`crate::redis::pubsub`]): a full buffer drops and
/// counts. There is no connection to lose, so no [`Gap`](crate::redis::PubSubEvent::Gap)
/// ever happens; [`close`](Lifecycle::close) ends every stream. Sharded channels are
/// refused as [`InvalidInput`](ErrorKind::InvalidInput) (there is no `SPUBLISH` here).
#[async_trait]
impl RedisSubscriber for MemoryRedis {
    async fn subscribe(
        &self,
        topics: &Topics,
        options: SubscribeOptions,
    ) -> InfraResult<Subscription> {
        topics.validate(REDIS_BACKEND)?;
        topics.refuse_sharded(REDIS_BACKEND, "by MemoryRedis")?;
        options.validate(REDIS_BACKEND)?;
        self.check("subscribe")?;
        let (feed, subscription) = Subscription::channel(REDIS_BACKEND, options.buffer);
        lock(&self.subscribers).push(MemorySubscription {
            topics: topics.clone(),
            feed,
        });
        Ok(subscription)
    }
}

/// Redis' glob matching of channels against `PSUBSCRIBE` patterns (`stringmatchlen`): `*`,
/// `?`, `[abc]`, `[^a-z]` (ranges either way round), and `\` escaping the next byte.
fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|skip| glob_match(rest, &text[skip..])),
        Some((b'?', rest)) => !text.is_empty() && glob_match(rest, &text[1..]),
        Some((b'[', rest)) => {
            let Some((&first, tail)) = text.split_first() else {
                return false;
            };
            let (negate, mut class) = match rest.split_first() {
                Some((b'^', after)) => (true, after),
                _ => (false, rest),
            };
            let mut matched = false;
            loop {
                match class {
                    // An unclosed class ends at the end of the pattern, as in Redis.
                    [] => break,
                    [b']', after @ ..] => {
                        class = after;
                        break;
                    }
                    [b'\\', escaped, after @ ..] => {
                        matched |= *escaped == first;
                        class = after;
                    }
                    [low, b'-', high, after @ ..] if *high != b']' => {
                        let (low, high) = if low <= high {
                            (*low, *high)
                        } else {
                            (*high, *low)
                        };
                        matched |= (low..=high).contains(&first);
                        class = after;
                    }
                    [single, after @ ..] => {
                        matched |= *single == first;
                        class = after;
                    }
                }
            }
            matched != negate && glob_match(class, tail)
        }
        Some((b'\\', [escaped, rest @ ..])) => {
            text.first() == Some(escaped) && glob_match(rest, &text[1..])
        }
        Some((literal, rest)) => text.first() == Some(literal) && glob_match(rest, &text[1..]),
    }
}

#[async_trait]
impl Lifecycle for MemoryRedis {
    async fn init(&self) -> InfraResult<()> {
        self.check("init")
    }

    async fn health(&self) -> ComponentHealth {
        ComponentHealth::measure(self.ping()).await
    }

    async fn close(&self) {
        self.closed.store(true, Ordering::Release);
        // Dropping the feeds ends every subscription's stream.
        lock(&self.subscribers).clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::HealthStatus;

    #[tokio::test(start_paused = true)]
    async fn ttl_follows_the_paused_clock_to_the_millisecond() {
        let redis = MemoryRedis::new();
        redis
            .set("k", b"v", SetOptions::with_ttl(Duration::from_millis(100)))
            .await
            .unwrap();
        assert_eq!(redis.ttl("k"), Some(Duration::from_millis(100)));
        tokio::time::advance(Duration::from_millis(99)).await;
        assert!(redis.exists("k").await.unwrap());
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(!redis.exists("k").await.unwrap());
        assert_eq!(redis.ttl("k"), None);
    }

    #[tokio::test(start_paused = true)]
    async fn sub_millisecond_ttls_round_up() {
        let redis = MemoryRedis::new();
        redis
            .set(
                "k",
                b"v",
                SetOptions::with_ttl(Duration::from_micros(1_001)),
            )
            .await
            .unwrap();
        assert_eq!(redis.ttl("k"), Some(Duration::from_millis(2)));
        let err = redis
            .set("k", b"v", SetOptions::with_ttl(Duration::MAX))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
    }

    #[tokio::test(start_paused = true)]
    async fn incr_by_keeps_the_expiry_of_an_existing_key() {
        let redis = MemoryRedis::new();
        let window = Some(Duration::from_mins(1));
        assert_eq!(redis.incr_by("c", 1, window).await.unwrap(), 1);
        tokio::time::advance(Duration::from_secs(59)).await;
        assert_eq!(redis.incr_by("c", 1, window).await.unwrap(), 2);
        assert_eq!(redis.ttl("c"), Some(Duration::from_secs(1)));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(redis.incr_by("c", 1, window).await.unwrap(), 1);
    }

    #[tokio::test]
    async fn integers_are_canonical_decimal_text_and_overflow_is_refused() {
        let redis = MemoryRedis::new();
        for bad in [&b"+1"[..], b"01", b" 1", b"1.0", b"", b"\xff"] {
            redis.set("k", bad, SetOptions::default()).await.unwrap();
            let err = redis.incr_by("k", 1, None).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{bad:?}");
        }
        redis
            .set("k", i64::MAX.to_string().as_bytes(), SetOptions::default())
            .await
            .unwrap();
        let err = redis.incr_by("k", 1, None).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert_eq!(redis.incr_by("k", -1, None).await.unwrap(), i64::MAX - 1);
    }

    use crate::redis::PubSubEvent;

    fn message(event: Option<PubSubEvent>) -> Message {
        match event {
            Some(PubSubEvent::Message(m)) => m,
            other => panic!("a message expected, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn publish_delivers_to_channel_subscribers_and_counts_them() {
        let redis = MemoryRedis::new();
        assert_eq!(redis.publish("ch", b"nobody").await.unwrap(), 0);
        let topics = Topics::new().channel("ch");
        let mut first = redis
            .subscribe(&topics, SubscribeOptions::default())
            .await
            .unwrap();
        let second = redis
            .subscribe(&topics, SubscribeOptions::default())
            .await
            .unwrap();
        assert_eq!(redis.publish("ch", b"one").await.unwrap(), 2);
        drop(second);
        assert_eq!(redis.publish("ch", b"two").await.unwrap(), 1);
        let one = message(first.recv().await);
        assert_eq!(
            (one.channel.as_str(), one.pattern, one.payload),
            ("ch", None, b"one".to_vec())
        );
        assert_eq!(message(first.recv().await).payload, b"two");
        assert_eq!(redis.publish("other", b"x").await.unwrap(), 0);
        first.close();
        assert_eq!(
            redis.publish("ch", b"three").await.unwrap(),
            0,
            "close unsubscribes"
        );
    }

    #[tokio::test]
    async fn patterns_match_as_redis_globs_and_count_per_match() {
        let redis = MemoryRedis::new();
        let topics = Topics::new()
            .channel("news.tech")
            .pattern("news.*")
            .pattern("n?ws.[a-t]*");
        let mut sub = redis
            .subscribe(&topics, SubscribeOptions::default())
            .await
            .unwrap();
        // The exact channel and both patterns match: three deliveries, counted as Redis does.
        assert_eq!(redis.publish("news.tech", b"a").await.unwrap(), 3);
        let mut patterns = Vec::new();
        for _ in 0..3 {
            let m = message(sub.recv().await);
            assert_eq!(m.channel, "news.tech");
            patterns.push(m.pattern);
        }
        assert_eq!(
            patterns,
            [None, Some("news.*".into()), Some("n?ws.[a-t]*".into())]
        );
        assert_eq!(redis.publish("news.weather", b"b").await.unwrap(), 1);
        assert_eq!(message(sub.recv().await).pattern.as_deref(), Some("news.*"));
        assert_eq!(redis.publish("sports", b"c").await.unwrap(), 0);
    }

    #[test]
    fn glob_matching_follows_redis() {
        for (pattern, text, expected) in [
            ("*", "", true),
            ("a*", "abc", true),
            ("a*c", "abbbc", true),
            ("a*c", "abd", false),
            ("h?llo", "hello", true),
            ("h?llo", "hllo", false),
            ("h[ae]llo", "hallo", true),
            ("h[ae]llo", "hillo", false),
            ("h[^e]llo", "hallo", true),
            ("h[^e]llo", "hello", false),
            ("h[a-c]llo", "hbllo", true),
            ("h[c-a]llo", "hbllo", true),
            ("h[a-c]llo", "hdllo", false),
            ("a\\*", "a*", true),
            ("a\\*", "ab", false),
            ("[\\]]x", "]x", true),
            ("abc", "abcd", false),
        ] {
            assert_eq!(
                glob_match(pattern.as_bytes(), text.as_bytes()),
                expected,
                "{pattern:?} against {text:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_slow_consumer_lags_with_a_count_and_publish_never_blocks() {
        let redis = MemoryRedis::new();
        let topics = Topics::new().channel("c");
        let mut sub = redis
            .subscribe(&topics, SubscribeOptions::with_buffer(2))
            .await
            .unwrap();
        for i in 0..5u8 {
            assert_eq!(
                redis.publish("c", &[i]).await.unwrap(),
                1,
                "dropped ones count too"
            );
        }
        assert_eq!(message(sub.recv().await).payload, [0]);
        assert_eq!(message(sub.recv().await).payload, [1]);
        assert_eq!(sub.recv().await, Some(PubSubEvent::Lagged { dropped: 3 }));
        redis.publish("c", &[5]).await.unwrap();
        assert_eq!(message(sub.recv().await).payload, [5]);
    }

    #[tokio::test]
    async fn bad_subscriptions_are_refused_and_close_ends_streams() {
        let redis = MemoryRedis::new();
        let opts = SubscribeOptions::default();
        for (topics, options) in [
            (Topics::new(), opts),
            (Topics::new().sharded("s"), opts),
            (Topics::new().channel("c"), SubscribeOptions::with_buffer(0)),
        ] {
            let err = redis.subscribe(&topics, options).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        }
        let mut sub = redis
            .subscribe(&Topics::new().channel("c"), opts)
            .await
            .unwrap();
        redis.publish("c", b"last").await.unwrap();
        redis.close().await;
        assert_eq!(
            message(sub.recv().await).payload,
            b"last",
            "buffered messages are read"
        );
        assert_eq!(sub.recv().await, None);
        let err = redis
            .subscribe(&Topics::new().channel("c"), opts)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unavailable);
    }

    #[tokio::test]
    async fn injected_faults_and_close_fail_every_call() {
        let redis = MemoryRedis::new();
        redis.init().await.unwrap();
        assert_eq!(redis.health().await.status, HealthStatus::Pass);
        redis.fail_with(Some(ErrorKind::Timeout));
        let err = redis.get("k").await.unwrap_err();
        assert_eq!((err.kind(), err.operation()), (ErrorKind::Timeout, "get"));
        redis.fail_with(None);
        assert!(redis.ping().await.is_ok());

        redis.close().await;
        redis.close().await;
        assert!(redis.is_closed());
        let err = redis
            .set("k", b"v", SetOptions::default())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unavailable);
        assert_eq!(
            redis.init().await.unwrap_err().kind(),
            ErrorKind::Unavailable
        );
        let health = redis.health().await;
        assert_eq!(health.status, HealthStatus::Fail);
        assert_eq!(
            health.output.as_deref(),
            Some("unavailable: the store is closed")
        );
    }

    async fn run(redis: &MemoryRedis, cmd: Command) -> InfraResult<Reply> {
        redis.command(&cmd, Idempotency::NonIdempotent).await
    }

    #[tokio::test(start_paused = true)]
    async fn set_options_and_ttls_follow_redis() {
        let redis = MemoryRedis::new();
        let set = |args: &[&str]| Command::new("SET").args_from(args);
        assert_eq!(
            run(&redis, set(&["k", "v", "PX", "1500"])).await.unwrap(),
            Reply::Simple("OK".into())
        );
        assert_eq!(
            run(&redis, Command::new("PTTL").arg("k")).await.unwrap(),
            Reply::Int(1500)
        );
        assert_eq!(
            run(&redis, Command::new("TTL").arg("k")).await.unwrap(),
            Reply::Int(2)
        );
        assert_eq!(
            run(&redis, set(&["k", "w", "nx"])).await.unwrap(),
            Reply::Nil
        );
        run(&redis, set(&["k", "w", "XX", "KEEPTTL"]))
            .await
            .unwrap();
        assert_eq!(redis.ttl("k"), Some(Duration::from_millis(1500)), "KEEPTTL");
        assert_eq!(redis.get("k").await.unwrap(), Some(b"w".to_vec()));
        run(&redis, set(&["k", "x", "EX", "10"])).await.unwrap();
        assert_eq!(redis.ttl("k"), Some(Duration::from_secs(10)));
        assert_eq!(
            run(&redis, Command::new("PERSIST").arg("k")).await.unwrap(),
            Reply::Int(1)
        );
        assert_eq!(
            run(&redis, Command::new("TTL").arg("k")).await.unwrap(),
            Reply::Int(-1)
        );
        assert_eq!(
            run(&redis, Command::new("TTL").arg("none")).await.unwrap(),
            Reply::Int(-2)
        );
        for bad in [
            &["k", "v", "PX", "0"][..],
            &["k", "v", "EX", "x"],
            &["k", "v", "BOGUS"],
        ] {
            let err = run(&redis, set(bad)).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{bad:?}");
        }
        run(&redis, Command::new("PEXPIRE").arg("k").arg(100))
            .await
            .unwrap();
        tokio::time::advance(Duration::from_millis(100)).await;
        assert_eq!(
            run(&redis, Command::new("GET").arg("k")).await.unwrap(),
            Reply::Nil
        );
        run(&redis, set(&["k", "v"])).await.unwrap();
        assert_eq!(
            run(&redis, Command::new("EXPIRE").arg("k").arg(0))
                .await
                .unwrap(),
            Reply::Int(1),
            "a non-positive EXPIRE deletes the key, as in Redis"
        );
        assert!(!redis.exists("k").await.unwrap());
    }

    #[tokio::test]
    async fn unsupported_commands_and_options_are_refused_by_name() {
        let redis = MemoryRedis::new();
        for (cmd, name) in [
            (Command::new("SUNION").arg("a").arg("b"), "SUNION"),
            (Command::new("EVALSHA").arg("abc").arg(0), "EVALSHA"),
            (
                Command::new("SET").arg("k").arg("v").arg("GET"),
                "SET ... GET",
            ),
            (
                Command::new("ZADD").arg("z").arg("INCR").arg(1).arg("m"),
                "ZADD ... INCR",
            ),
            (
                Command::new("XADD")
                    .arg("s")
                    .arg("NOMKSTREAM")
                    .arg("*")
                    .arg("f")
                    .arg("v"),
                "XADD ... NOMKSTREAM",
            ),
        ] {
            let err = run(&redis, cmd).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput);
            assert!(
                err.message()
                    .starts_with(&format!("not supported by MemoryRedis: {name} ")),
                "{}",
                err.message()
            );
        }
        // Nothing of a pipeline runs when one of its commands is not supported.
        let pipe = Pipeline::new(Idempotency::NonIdempotent)
            .with(Command::new("SET").arg("k").arg("v"))
            .with(Command::new("SINTER").arg("s").arg("t"));
        let err = redis.pipeline(&pipe).await.unwrap_err();
        assert!(err.message().contains("SINTER"), "{err}");
        assert!(!redis.exists("k").await.unwrap());
        let err = run(&redis, Command::new("HSET").arg("h").arg("f"))
            .await
            .unwrap_err();
        assert_eq!(
            err.message(),
            "wrong number of arguments for 'hset' command"
        );
        let err = run(&redis, Command::new("BLPOP").arg("q").arg(0))
            .await
            .unwrap_err();
        assert!(
            err.message().contains("blocks"),
            "validated like every port: {err}"
        );
    }

    #[tokio::test]
    async fn types_are_kept_apart() {
        let redis = MemoryRedis::new();
        redis.set("s", b"1", SetOptions::default()).await.unwrap();
        run(&redis, Command::new("HSET").arg("h").arg("f").arg("1"))
            .await
            .unwrap();
        run(&redis, Command::new("ZADD").arg("z").arg(1).arg("m"))
            .await
            .unwrap();
        for (key, kind) in [
            ("s", "string"),
            ("h", "hash"),
            ("z", "zset"),
            ("none", "none"),
        ] {
            let reply = run(&redis, Command::new("TYPE").arg(key)).await.unwrap();
            assert_eq!(reply, Reply::Simple(kind.into()));
        }
        assert_eq!(
            redis.get("h").await.unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        assert_eq!(
            redis.incr_by("z", 1, None).await.unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        assert_eq!(
            redis.mget(&["s".into(), "h".into()]).await.unwrap(),
            vec![Some(b"1".to_vec()), None],
            "MGET reads a key of another type as missing"
        );
        let err = run(&redis, Command::new("HINCRBY").arg("s").arg("f").arg(1))
            .await
            .unwrap_err();
        assert_eq!(err.message(), "the key holds a value of another type");
        assert_eq!(
            run(&redis, Command::new("HDEL").arg("h").arg("f"))
                .await
                .unwrap(),
            Reply::Int(1)
        );
        assert!(
            !redis.exists("h").await.unwrap(),
            "an emptied hash is deleted"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn expired_keys_are_swept_by_later_writes() {
        let redis = MemoryRedis::new();
        let short = SetOptions::with_ttl(Duration::from_millis(1));
        // The sweep runs on every SWEEP_EVERY-th write: make the last write be one.
        for i in 0..SWEEP_EVERY - 1 {
            redis.set(&format!("k{i}"), b"v", short).await.unwrap();
        }
        tokio::time::advance(Duration::from_millis(2)).await;
        redis
            .set("last", b"v", SetOptions::default())
            .await
            .unwrap();
        assert!(lock(&redis.state).entries.len() < 10);
    }
}
