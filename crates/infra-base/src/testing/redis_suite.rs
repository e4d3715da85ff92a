//! The Redis conformance cases: one function per behaviour of [`RedisPort`].
//!
//! Every case has the same shape, `async fn case(port: Arc<dyn RedisPort>, prefix: &str)`:
//! the port is an `Arc` because some cases spawn tasks, and the uniform signature lets one
//! table ([`redis_cases`](super::redis_cases)) and one macro
//! ([`redis_conformance_tests!`](crate::redis_conformance_tests)) run them all. A case
//! panics with a message naming the broken rule, and deletes its keys afterwards, even when
//! it fails.
//!
//! The cases of [`for_each_redis_scripting_case!`](crate::for_each_redis_scripting_case)
//! need a server that runs Lua; a port that cannot (the in-memory one) runs, under the same
//! names, the cases of [`without_scripting`] instead, which check that it refuses scripts
//! explicitly.
//!
//! The lock and rate-limit cases need the scripts of
//! [`lock`](crate::redis::lock) and [`rate_limit`](crate::redis::rate_limit): real servers
//! run them, and [`MemoryRedis`](super::MemoryRedis) emulates exactly those scripts, so
//! they run on every port.
//!
//! Every key a case touches is `{prefix}:name` (see [the prefix rules](super#prefixes)), so
//! the cases run unchanged on a standalone server and on a cluster. Waits for expiry are
//! real time (at most ~0.5 s per case), as real servers do not follow a paused clock.
// Every case panics on a contract violation by design; the module docs say so once.
#![allow(clippy::missing_panics_doc)]

use std::future::Future;
use std::ops::Bound;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep, timeout};

use super::{check_prefix, expect_kind, guarded, join_all, ok};
use crate::error::{ErrorKind, InfraResult};
use crate::redis::prelude::*;
use crate::redis::{
    LockOptions, PendingRange, RateLimit, RateLimiter, RedisLock, Script, hash_tag, is_busygroup,
    is_noscript, key_slot,
};
use crate::resilience::Idempotency::{Idempotent, NonIdempotent};

/// The keys of one case: all share the `{prefix}` hash tag, and all are deleted at the end.
#[derive(Clone)]
struct Keys {
    prefix: Arc<str>,
    used: Arc<Mutex<Vec<String>>>,
}

impl Keys {
    /// Deletes `key` with the case's keys (it must share their hash tag).
    fn track(&self, key: &str) {
        self.used
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(key.to_owned());
    }

    fn key(&self, name: &str) -> String {
        let key = format!("{{{}}}:{name}", self.prefix);
        self.used
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(key.clone());
        key
    }
}

/// Runs a case body with its keys, then deletes them (see [`guarded`]).
async fn scoped<F, Fut>(port: Arc<dyn RedisPort>, prefix: &str, body: F)
where
    F: FnOnce(Arc<dyn RedisPort>, Keys) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    check_prefix(prefix);
    let keys = Keys {
        prefix: prefix.into(),
        used: Arc::default(),
    };
    let used = Arc::clone(&keys.used);
    let cleanup_port = Arc::clone(&port);
    let cleanup = async move {
        let mut keys = std::mem::take(&mut *used.lock().unwrap_or_else(PoisonError::into_inner));
        keys.sort_unstable();
        keys.dedup();
        if !keys.is_empty() {
            let _ = cleanup_port.del(&keys).await;
        }
    };
    guarded(body(port, keys), cleanup).await;
}

/// A short description of a value, so a failure never dumps 64 KiB.
fn describe(value: Option<&[u8]>) -> String {
    match value {
        None => "no value".to_owned(),
        Some(v) if v.len() <= 64 => format!("{:?}", String::from_utf8_lossy(v)),
        Some(v) => format!(
            "{} bytes starting {:?}",
            v.len(),
            String::from_utf8_lossy(&v[..32])
        ),
    }
}

#[track_caller]
#[allow(clippy::needless_pass_by_value)] // takes a call's result as it comes
fn assert_value(actual: Option<Vec<u8>>, expected: Option<&[u8]>, what: &str) {
    let actual = actual.as_deref();
    assert!(
        actual == expected,
        "{what}: expected {}, read {}",
        describe(expected),
        describe(actual)
    );
}

const SHORT_TTL: Duration = Duration::from_millis(300);
/// Long enough after [`SHORT_TTL`] for any server to have expired the key.
const PAST_SHORT_TTL: Duration = Duration::from_millis(450);

/// `PING` succeeds.
pub async fn ping(port: Arc<dyn RedisPort>, prefix: &str) {
    scoped(port, prefix, |redis, _| async move {
        ok(redis.ping().await, "ping");
    })
    .await;
}

/// A missing key reads as `None` (never an error) everywhere, and nothing creates it.
pub async fn get_missing_is_none(port: Arc<dyn RedisPort>, prefix: &str) {
    scoped(port, prefix, |redis, keys| async move {
        let k = keys.key("missing");
        assert_value(ok(redis.get(&k).await, "get"), None, "get of a missing key");
        assert!(
            !ok(redis.exists(&k).await, "exists"),
            "a missing key must not exist"
        );
        assert_eq!(
            ok(redis.mget(std::slice::from_ref(&k)).await, "mget"),
            vec![None],
            "mget of a missing key"
        );
        assert_eq!(ok(redis.del(std::slice::from_ref(&k)).await, "del"), 0);
        assert!(
            !ok(redis.expire(&k, Duration::from_secs(10)).await, "expire"),
            "expire of a missing key must return false"
        );
        assert_value(
            ok(redis.get(&k).await, "get"),
            None,
            "expire must not create a key",
        );
    })
    .await;
}

/// A plain `SET` writes and reports it; `GET` reads the value back, whatever the key's
/// characters.
pub async fn set_then_get(port: Arc<dyn RedisPort>, prefix: &str) {
    scoped(port, prefix, |redis, keys| async move {
        let cases: [(&str, &[u8]); 4] = [
            ("plain", b"hello"),
            (
                "spaces and \u{fc}n\u{ef}code \u{2713}",
                "v\u{e4}lue \u{2713}".as_bytes(),
            ),
            ("colon:separated:key", b"x"),
            ("line\nbreak", b"y"),
        ];
        for (name, value) in cases {
            let k = keys.key(name);
            assert!(
                ok(redis.set(&k, value, SetOptions::default()).await, "set"),
                "a plain SET of {k:?} must report that it wrote"
            );
            assert_value(
                ok(redis.get(&k).await, "get"),
                Some(value),
                &format!("get {k:?}"),
            );
        }
    })
    .await;
}

/// Values are opaque bytes: non-UTF-8, empty and 64 KiB values round-trip unchanged.
pub async fn binary_values_round_trip(port: Arc<dyn RedisPort>, prefix: &str) {
    scoped(port, prefix, |redis, keys| async move {
        let all_bytes: Vec<u8> = (0..=255u8).rev().collect();
        let large: Vec<u8> = (0..64 * 1024u32)
            .map(|i| u8::try_from(i.wrapping_mul(31) % 251).unwrap_or(0))
            .collect();
        let cases: [(&str, &[u8]); 3] = [("binary", &all_bytes), ("empty", b""), ("large", &large)];
        let mut names = Vec::new();
        for (name, value) in cases {
            let k = keys.key(name);
            ok(redis.set(&k, value, SetOptions::default()).await, "set");
            assert_value(
                ok(redis.get(&k).await, "get"),
                Some(value),
                &format!("{name} value"),
            );
            names.push(k);
        }
        let values = ok(redis.mget(&names).await, "mget");
        assert_eq!(values.len(), 3, "mget must return one entry per key");
        for ((name, expected), actual) in cases.into_iter().zip(values) {
            assert_value(
                actual,
                Some(expected),
                &format!("{name} value read by mget"),
            );
        }
    })
    .await;
}

/// A second plain `SET` replaces the value.
pub async fn set_overwrites(port: Arc<dyn RedisPort>, prefix: &str) {
    scoped(port, prefix, |redis, keys| async move {
        let k = keys.key("k");
        ok(redis.set(&k, b"first", SetOptions::default()).await, "set");
        assert!(
            ok(redis.set(&k, b"second", SetOptions::default()).await, "set"),
            "overwriting with a plain SET must report that it wrote"
        );
        assert_value(
            ok(redis.get(&k).await, "get"),
            Some(b"second"),
            "overwritten value",
        );
    })
    .await;
}

/// `NX` writes only an absent key and reports whether it wrote.
pub async fn set_if_absent(port: Arc<dyn RedisPort>, prefix: &str) {
    scoped(port, prefix, |redis, keys| async move {
        let k = keys.key("lock");
        let nx = SetOptions::default().if_absent();
        assert!(
            ok(redis.set(&k, b"owner-1", nx).await, "set NX"),
            "SET NX of an absent key must write"
        );
        assert!(
            !ok(redis.set(&k, b"owner-2", nx).await, "set NX"),
            "SET NX of an existing key must return false"
        );
        assert_value(
            ok(redis.get(&k).await, "get"),
            Some(b"owner-1"),
            "SET NX of an existing key must not change it",
        );
    })
    .await;
}

/// `XX` writes only an existing key and reports whether it wrote.
pub async fn set_if_present(port: Arc<dyn RedisPort>, prefix: &str) {
    scoped(port, prefix, |redis, keys| async move {
        let k = keys.key("k");
        let xx = SetOptions::default().if_present();
        assert!(
            !ok(redis.set(&k, b"v1", xx).await, "set XX"),
            "SET XX of an absent key must return false"
        );
        assert_value(
            ok(redis.get(&k).await, "get"),
            None,
            "SET XX of an absent key must not create it",
        );
        ok(redis.set(&k, b"v1", SetOptions::default()).await, "set");
        assert!(
            ok(redis.set(&k, b"v2", xx).await, "set XX"),
            "SET XX of an existing key must write"
        );
        assert_value(
            ok(redis.get(&k).await, "get"),
            Some(b"v2"),
            "value after SET XX",
        );
    })
    .await;
}

/// A key written with a TTL is readable, then gone once the TTL has passed.
pub async fn set_with_ttl_expires(port: Arc<dyn RedisPort>, prefix: &str) {
    scoped(port, prefix, |redis, keys| async move {
        let k = keys.key("k");
        let started = Instant::now();
        assert!(ok(
            redis.set(&k, b"v", SetOptions::with_ttl(SHORT_TTL)).await,
            "set with ttl"
        ));
        let read = ok(redis.get(&k).await, "get");
        // Only meaningful when the machine was not so slow that the TTL already passed.
        if started.elapsed() < SHORT_TTL {
            assert_value(read, Some(b"v"), "a key within its TTL");
        }
        sleep(PAST_SHORT_TTL).await;
        assert_value(ok(redis.get(&k).await, "get"), None, "a key past its TTL");
        assert!(
            !ok(redis.exists(&k).await, "exists"),
            "a key past its TTL must not exist"
        );
        assert_eq!(
            ok(redis.mget(std::slice::from_ref(&k)).await, "mget"),
            vec![None],
            "mget of a key past its TTL"
        );
    })
    .await;
}

/// A plain `SET` over a key with a TTL removes the TTL (as Redis' `SET` without `KEEPTTL`):
/// `ttl: None` means "kept until deleted".
pub async fn set_without_ttl_clears_previous_ttl(port: Arc<dyn RedisPort>, prefix: &str) {
    scoped(port, prefix, |redis, keys| async move {
        let k = keys.key("k");
        ok(
            redis.set(&k, b"v1", SetOptions::with_ttl(SHORT_TTL)).await,
            "set with ttl",
        );
        ok(redis.set(&k, b"v2", SetOptions::default()).await, "set");
        sleep(PAST_SHORT_TTL).await;
        assert_value(
            ok(redis.get(&k).await, "get"),
            Some(b"v2"),
            "a SET without TTL must clear the key's previous TTL",
        );
    })
    .await;
}

/// A sub-millisecond TTL is rounded up to one millisecond, not truncated to an invalid zero.
pub async fn sub_millisecond_ttl_is_rounded_up(port: Arc<dyn RedisPort>, prefix: &str) {
    scoped(port, prefix, |redis, keys| async move {
        let tiny = Duration::from_micros(500);
        let a = keys.key("a");
        assert!(
            ok(
                redis.set(&a, b"v", SetOptions::with_ttl(tiny)).await,
                "set with a 500us ttl"
            ),
            "SET with a sub-millisecond TTL must write"
        );
        let b = keys.key("b");
        ok(redis.set(&b, b"v", SetOptions::default()).await, "set");
        assert!(ok(redis.expire(&b, tiny).await, "expire with a 500us ttl"));
        sleep(Duration::from_millis(100)).await;
        assert_value(
            ok(redis.get(&a).await, "get"),
            None,
            "a key past a 1 ms TTL",
        );
        assert_value(
            ok(redis.get(&b).await, "get"),
            None,
            "a key past a 1 ms expire",
        );
    })
    .await;
}

/// A zero TTL is refused as `InvalidInput` by `set`, `expire` and `incr_by`, and nothing
/// changes.
pub async fn zero_ttl_is_invalid_input(port: Arc<dyn RedisPort>, prefix: &str) {
    scoped(port, prefix, |redis, keys| async move {
        let zero = Duration::ZERO;
        let a = keys.key("a");
        expect_kind(
            redis.set(&a, b"v", SetOptions::with_ttl(zero)).await,
            ErrorKind::InvalidInput,
            "set with a zero ttl",
        );
        assert_value(
            ok(redis.get(&a).await, "get"),
            None,
            "a refused SET must not write",
        );

        let b = keys.key("b");
        ok(redis.set(&b, b"v", SetOptions::default()).await, "set");
        expect_kind(
            redis.expire(&b, zero).await,
            ErrorKind::InvalidInput,
            "expire with a zero ttl",
        );
        assert_value(
            ok(redis.get(&b).await, "get"),
            Some(b"v"),
            "a refused expire must leave the key",
        );

        let c = keys.key("c");
        expect_kind(
            redis.incr_by(&c, 1, Some(zero)).await,
            ErrorKind::InvalidInput,
            "incr_by with a zero ttl_on_create",
        );
        assert_value(
            ok(redis.get(&c).await, "get"),
            None,
            "a refused incr_by must not create",
        );
    })
    .await;
}

/// `DEL` removes the keys and counts only those that existed.
pub async fn del_counts_existing_keys(port: Arc<dyn RedisPort>, prefix: &str) {
    scoped(port, prefix, |redis, keys| async move {
        let [a, b, c, missing] = ["a", "b", "c", "missing"].map(|n| keys.key(n));
        for k in [&a, &b, &c] {
            ok(redis.set(k, b"v", SetOptions::default()).await, "set");
        }
        assert_eq!(
            ok(redis.del(&[a.clone(), b.clone(), missing]).await, "del"),
            2,
            "del of two existing keys and a missing one"
        );
        assert_value(ok(redis.get(&a).await, "get"), None, "a deleted key");
        assert_value(
            ok(redis.get(&c).await, "get"),
            Some(b"v"),
            "a key not deleted",
        );
        assert_eq!(ok(redis.del(std::slice::from_ref(&c)).await, "del"), 1);
        assert_eq!(ok(redis.del(std::slice::from_ref(&c)).await, "del"), 0);
    })
    .await;
}

/// `EXISTS` follows writes and deletes; a key holding an empty value exists.
pub async fn exists_reports_presence(port: Arc<dyn RedisPort>, prefix: &str) {
    scoped(port, prefix, |redis, keys| async move {
        let k = keys.key("k");
        assert!(!ok(redis.exists(&k).await, "exists"));
        ok(redis.set(&k, b"", SetOptions::default()).await, "set");
        assert!(
            ok(redis.exists(&k).await, "exists"),
            "a key holding an empty value must exist"
        );
        ok(redis.del(std::slice::from_ref(&k)).await, "del");
        assert!(
            !ok(redis.exists(&k).await, "exists"),
            "a deleted key must not exist"
        );
    })
    .await;
}

/// `EXPIRE` returns whether the key exists, and the key vanishes after the TTL, also when it
/// replaces a longer one.
pub async fn expire_sets_expiry_of_existing_keys(port: Arc<dyn RedisPort>, prefix: &str) {
    scoped(port, prefix, |redis, keys| async move {
        let plain = keys.key("plain");
        let long = keys.key("long");
        let missing = keys.key("missing");
        ok(redis.set(&plain, b"v", SetOptions::default()).await, "set");
        let hour = SetOptions::with_ttl(Duration::from_hours(1));
        ok(redis.set(&long, b"v", hour).await, "set");
        let started = Instant::now();
        assert!(
            ok(redis.expire(&plain, SHORT_TTL).await, "expire"),
            "expire of an existing key"
        );
        assert!(
            ok(redis.expire(&long, SHORT_TTL).await, "expire"),
            "expire shortening a TTL"
        );
        assert!(
            !ok(redis.expire(&missing, SHORT_TTL).await, "expire"),
            "expire of a missing key must return false"
        );
        let present = ok(redis.exists(&plain).await, "exists");
        if started.elapsed() < SHORT_TTL {
            assert!(present, "a key within its new TTL must exist");
        }
        sleep(PAST_SHORT_TTL).await;
        assert!(
            !ok(redis.exists(&plain).await, "exists"),
            "a key past its expire"
        );
        assert!(
            !ok(redis.exists(&long).await, "exists"),
            "a key past its shortened TTL"
        );
        assert!(
            !ok(redis.exists(&missing).await, "exists"),
            "expire must not create keys"
        );
    })
    .await;
}

/// `incr_by` starts a missing key at 0, adds positive and negative deltas, and stores the
/// decimal text that `GET` reads.
pub async fn incr_by_creates_and_adds(port: Arc<dyn RedisPort>, prefix: &str) {
    scoped(port, prefix, |redis, keys| async move {
        let k = keys.key("counter");
        assert_eq!(
            ok(redis.incr_by(&k, 5, None).await, "incr_by"),
            5,
            "incr_by creating"
        );
        assert_eq!(ok(redis.incr_by(&k, 10, None).await, "incr_by"), 15);
        assert_eq!(
            ok(redis.incr_by(&k, -20, None).await, "incr_by"),
            -5,
            "negative delta"
        );
        assert_eq!(
            ok(redis.incr_by(&k, 0, None).await, "incr_by"),
            -5,
            "zero delta"
        );
        assert_value(
            ok(redis.get(&k).await, "get"),
            Some(b"-5"),
            "a counter read by GET",
        );

        let text = keys.key("text");
        ok(redis.set(&text, b"41", SetOptions::default()).await, "set");
        assert_eq!(
            ok(redis.incr_by(&text, 1, None).await, "incr_by"),
            42,
            "incr_by of a key written as decimal text"
        );
    })
    .await;
}

/// `ttl_on_create` applies only when the call creates the key: a later call does not extend
/// it, and an existing key without expiry does not get one.
pub async fn incr_by_ttl_applies_only_on_create(port: Arc<dyn RedisPort>, prefix: &str) {
    scoped(port, prefix, |redis, keys| async move {
        let window = keys.key("window");
        let long = Some(Duration::from_hours(1));
        assert_eq!(
            ok(redis.incr_by(&window, 1, Some(SHORT_TTL)).await, "incr_by"),
            1
        );
        assert_eq!(ok(redis.incr_by(&window, 1, long).await, "incr_by"), 2);

        let plain = keys.key("plain");
        ok(redis.set(&plain, b"5", SetOptions::default()).await, "set");
        assert_eq!(
            ok(
                redis
                    .incr_by(&plain, 1, Some(Duration::from_millis(100)))
                    .await,
                "incr_by"
            ),
            6
        );

        sleep(PAST_SHORT_TTL).await;
        assert!(
            !ok(redis.exists(&window).await, "exists"),
            "the counter must expire after the TTL given on create; a later incr_by must not \
             extend it"
        );
        assert_value(
            ok(redis.get(&plain).await, "get"),
            Some(b"6"),
            "ttl_on_create must not add an expiry to an existing key",
        );
        assert_eq!(
            ok(redis.incr_by(&window, 1, long).await, "incr_by"),
            1,
            "an expired counter starts a new window"
        );
    })
    .await;
}

/// `incr_by` on a value that is not an integer is `InvalidInput` and leaves it unchanged.
pub async fn incr_by_non_integer_is_invalid_input(port: Arc<dyn RedisPort>, prefix: &str) {
    scoped(port, prefix, |redis, keys| async move {
        let values: [&[u8]; 3] = [b"abc", b"1.5", b"\xff\xfe"];
        for (i, value) in values.into_iter().enumerate() {
            let k = keys.key(&format!("k{i}"));
            ok(redis.set(&k, value, SetOptions::default()).await, "set");
            expect_kind(
                redis.incr_by(&k, 1, None).await,
                ErrorKind::InvalidInput,
                &format!("incr_by of {}", describe(Some(value))),
            );
            assert_value(
                ok(redis.get(&k).await, "get"),
                Some(value),
                "a refused incr_by must not change the value",
            );
        }
    })
    .await;
}

/// `MGET` answers in the order asked, with `None` for missing keys (and repeats).
pub async fn mget_keeps_order_with_missing_keys(port: Arc<dyn RedisPort>, prefix: &str) {
    scoped(port, prefix, |redis, keys| async move {
        let [a, b, c] = ["a", "b", "c"].map(|n| keys.key(n));
        ok(redis.set(&a, b"1", SetOptions::default()).await, "set");
        ok(redis.set(&c, b"3", SetOptions::default()).await, "set");
        let values = ok(redis.mget(&[c.clone(), b, a.clone(), a]).await, "mget");
        assert_eq!(
            values,
            vec![
                Some(b"3".to_vec()),
                None,
                Some(b"1".to_vec()),
                Some(b"1".to_vec())
            ],
            "mget must answer in request order with None for missing keys"
        );
    })
    .await;
}

/// `MGET` of no keys is empty and `DEL` of no keys deletes nothing (no protocol error).
pub async fn empty_key_lists(port: Arc<dyn RedisPort>, prefix: &str) {
    scoped(port, prefix, |redis, _| async move {
        assert_eq!(
            ok(redis.mget(&[]).await, "mget of no keys"),
            Vec::<Option<Vec<u8>>>::new()
        );
        assert_eq!(ok(redis.del(&[]).await, "del of no keys"), 0);
    })
    .await;
}

/// `PUBLISH` succeeds with a receiver count, for text, binary and empty messages.
pub async fn publish_returns_receiver_count(port: Arc<dyn RedisPort>, prefix: &str) {
    scoped(port, prefix, |redis, keys| async move {
        let channel = keys.key("events");
        for message in [&b"hello"[..], b"\x00\xff", b""] {
            // Any count is valid: another client may subscribe to anything.
            ok(redis.publish(&channel, message).await, "publish");
        }
    })
    .await;
}

/// [`RedisPortExt`]'s JSON and text helpers round-trip, and report wrong contents as
/// `InvalidInput`.
pub async fn json_helpers_round_trip(port: Arc<dyn RedisPort>, prefix: &str) {
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Profile {
        name: String,
        tags: Vec<String>,
        score: f64,
        manager: Option<Box<Profile>>,
    }

    scoped(port, prefix, |redis, keys| async move {
        let profile = Profile {
            name: "Ada \u{2713}".into(),
            tags: vec!["admin".into(), "ops".into()],
            score: 4.5,
            manager: Some(Box::new(Profile {
                name: "Grace".into(),
                tags: Vec::new(),
                score: -1.25,
                manager: None,
            })),
        };
        let k = keys.key("profile");
        assert!(ok(
            redis.set_json(&k, &profile, SetOptions::default()).await,
            "set_json"
        ));
        let back: Option<Profile> = ok(redis.get_json(&k).await, "get_json");
        assert_eq!(back.as_ref(), Some(&profile), "get_json after set_json");
        let missing: Option<Profile> = ok(redis.get_json(&keys.key("none")).await, "get_json");
        assert!(missing.is_none(), "get_json of a missing key");

        let junk = keys.key("junk");
        ok(
            redis.set(&junk, b"not json", SetOptions::default()).await,
            "set",
        );
        expect_kind(
            redis.get_json::<Profile>(&junk).await,
            ErrorKind::InvalidInput,
            "get_json of a value that is not JSON",
        );
        let binary = keys.key("binary");
        ok(
            redis.set(&binary, b"\xff", SetOptions::default()).await,
            "set",
        );
        expect_kind(
            redis.get_string(&binary).await,
            ErrorKind::InvalidInput,
            "get_string of a value that is not UTF-8",
        );
        let text = keys.key("text");
        ok(
            redis
                .set(&text, "h\u{e9}llo".as_bytes(), SetOptions::default())
                .await,
            "set",
        );
        assert_eq!(
            ok(redis.get_string(&text).await, "get_string").as_deref(),
            Some("h\u{e9}llo")
        );
        assert!(
            ok(redis.del_one(&k).await, "del_one"),
            "del_one of an existing key"
        );
        assert!(
            !ok(redis.del_one(&k).await, "del_one"),
            "del_one of a deleted key"
        );
    })
    .await;
}

/// Many tasks sharing the port each read back their own writes, and concurrent increments
/// are never lost.
pub async fn concurrent_tasks_read_their_own_values(port: Arc<dyn RedisPort>, prefix: &str) {
    const TASKS: usize = 32;
    const ROUNDS: usize = 20;
    scoped(port, prefix, |redis, keys| async move {
        let counter = keys.key("counter");
        let mut tasks = JoinSet::new();
        for task in 0..TASKS {
            let redis = Arc::clone(&redis);
            let keys = keys.clone();
            let counter = counter.clone();
            tasks.spawn(async move {
                for round in 0..ROUNDS {
                    let k = keys.key(&format!("t{task}-r{round}"));
                    let value = format!("task {task} round {round} {}", fastrand::u64(..));
                    ok(
                        redis.set(&k, value.as_bytes(), SetOptions::default()).await,
                        "set",
                    );
                    assert_value(
                        ok(redis.get(&k).await, "get"),
                        Some(value.as_bytes()),
                        "a task reading its own write",
                    );
                    ok(redis.incr_by(&counter, 1, None).await, "incr_by");
                }
            });
        }
        join_all(tasks).await;
        let total = i64::try_from(TASKS * ROUNDS).unwrap_or(i64::MAX);
        assert_eq!(
            ok(redis.incr_by(&counter, 0, None).await, "incr_by"),
            total,
            "concurrent increments must all count"
        );
    })
    .await;
}

/// Calls cancelled mid-flight (futures dropped at random points) never make a later call
/// read another call's reply.
pub async fn cancelled_calls_do_not_corrupt_later_calls(port: Arc<dyn RedisPort>, prefix: &str) {
    const KEYS: usize = 16;
    scoped(port, prefix, |redis, keys| async move {
        let names: Arc<Vec<String>> =
            Arc::new((0..KEYS).map(|i| keys.key(&format!("k{i}"))).collect());
        let value = |i: usize| format!("value of key {i}").into_bytes();
        for (i, k) in names.iter().enumerate() {
            ok(redis.set(k, &value(i), SetOptions::default()).await, "set");
        }
        let mut tasks = JoinSet::new();
        for task in 0..8u64 {
            let redis = Arc::clone(&redis);
            let names = Arc::clone(&names);
            tasks.spawn(async move {
                let mut rng = fastrand::Rng::with_seed(task);
                for _ in 0..50 {
                    let i = rng.usize(..KEYS);
                    let budget = Duration::from_micros(rng.u64(0..400));
                    // Results are irrelevant: most of these are cancelled.
                    if rng.bool() {
                        let _ = timeout(budget, redis.get(&names[i])).await;
                    } else {
                        let bytes = value(i);
                        let write = redis.set(&names[i], &bytes, SetOptions::default());
                        let _ = timeout(budget, write).await;
                    }
                }
                for (i, k) in names.iter().enumerate() {
                    assert_value(
                        ok(redis.get(k).await, "get"),
                        Some(value(i).as_slice()),
                        "a read after cancelled calls",
                    );
                }
            });
        }
        join_all(tasks).await;
    })
    .await;
}

/// Fails the case unless the call failed as `InvalidInput` with a message containing `needle`.
#[track_caller]
fn expect_refusal<T: std::fmt::Debug>(result: InfraResult<T>, needle: &str, what: &str) {
    match result {
        Ok(value) => panic!("{what}: expected an invalid_input error, got Ok({value:?})"),
        Err(err) => {
            assert_eq!(
                err.kind(),
                ErrorKind::InvalidInput,
                "{what}: expected an invalid_input error, got: {}",
                err.chain()
            );
            assert!(
                err.message().contains(needle),
                "{what}: the message must name {needle:?}, got: {}",
                err.message()
            );
        }
    }
}

/// `command` answers each RESP type as its [`Reply`]: `OK` as a simple string, a value as
/// a bulk string, a missing one as nil, counters as integers, `MGET` as an array; an error
/// reply (`WRONGTYPE`) is `InvalidInput`.
pub async fn command_replies_by_type(port: Arc<dyn RedisPort>, prefix: &str) {
    scoped(port, prefix, |redis, keys| async move {
        let [k, counter, missing] = ["k", "counter", "missing"].map(|n| keys.key(n));
        let run = |cmd: Command| {
            let redis = Arc::clone(&redis);
            async move { redis.command(&cmd, NonIdempotent).await }
        };
        let set = ok(run(Command::new("SET").arg(&k).arg(b"v\xff")).await, "SET");
        assert_eq!(set, Reply::Simple("OK".into()), "SET answers OK");
        assert_eq!(
            ok(run(Command::new("GET").arg(&k)).await, "GET"),
            Reply::Bulk(b"v\xff".to_vec()),
            "GET answers the bytes as a bulk string"
        );
        assert_eq!(
            ok(run(Command::new("get").arg(&missing)).await, "get"),
            Reply::Nil,
            "GET of a missing key answers nil (names are case-insensitive)"
        );
        assert_eq!(
            ok(
                run(Command::new("INCRBY").arg(&counter).arg(-7)).await,
                "INCRBY"
            ),
            Reply::Int(-7)
        );
        assert_eq!(
            ok(
                run(Command::new("EXISTS").arg(&k).arg(&missing).arg(&k)).await,
                "EXISTS"
            ),
            Reply::Int(2),
            "EXISTS counts every existing key named"
        );
        let mget = ok(
            run(Command::new("MGET").arg(&k).arg(&missing)).await,
            "MGET",
        );
        assert_eq!(
            mget,
            Reply::Array(vec![Reply::Bulk(b"v\xff".to_vec()), Reply::Nil])
        );
        assert_eq!(
            ok(run(Command::new("PTTL").arg(&k)).await, "PTTL")
                .as_int()
                .ok(),
            Some(-1),
            "PTTL of a key without expiry"
        );
        expect_kind(
            run(Command::new("HGET").arg(&k).arg("f")).await,
            ErrorKind::InvalidInput,
            "HGET of a string key (WRONGTYPE)",
        );
        // The typed ports see what the command path wrote.
        assert_value(
            ok(redis.get(&counter).await, "get"),
            Some(b"-7"),
            "a counter written by INCRBY",
        );
    })
    .await;
}

/// The hash helpers round-trip through `command`: `hset` counts new fields, `hget` and
/// `hmget` read them (`None` when missing), `hgetall` reads all, `hincrby` adds, `hdel`
/// removes; wrong types and non-integers are `InvalidInput`.
pub async fn hash_helpers_round_trip(port: Arc<dyn RedisPort>, prefix: &str) {
    scoped(port, prefix, |redis, keys| async move {
        let h = keys.key("user");
        let fields: [(&str, &[u8]); 2] = [("name", b"Ada"), ("bytes", b"\x00\xff")];
        assert_eq!(
            ok(redis.hset(&h, &fields).await, "hset"),
            2,
            "two new fields"
        );
        assert_eq!(
            ok(
                redis.hset(&h, &[("name", b"Grace"), ("age", b"36")]).await,
                "hset"
            ),
            1,
            "one new field, one overwritten"
        );
        assert_eq!(ok(redis.hset(&h, &[]).await, "hset of no fields"), 0);
        assert_value(
            ok(redis.hget(&h, "name").await, "hget"),
            Some(b"Grace"),
            "hget",
        );
        assert_value(
            ok(redis.hget(&h, "none").await, "hget"),
            None,
            "a missing field",
        );
        assert_value(
            ok(redis.hget(&keys.key("nohash"), "f").await, "hget"),
            None,
            "a field of a missing key",
        );
        assert_eq!(
            ok(redis.hmget(&h, &["age", "none", "bytes"]).await, "hmget"),
            vec![Some(b"36".to_vec()), None, Some(b"\x00\xff".to_vec())],
            "hmget answers in the order asked"
        );
        let all = ok(redis.hgetall(&h).await, "hgetall");
        assert_eq!(all.len(), 3, "hgetall reads every field: {all:?}");
        assert_eq!(all.get("bytes").map(Vec::as_slice), Some(&b"\x00\xff"[..]));
        assert!(
            ok(redis.hgetall(&keys.key("nohash")).await, "hgetall").is_empty(),
            "hgetall of a missing key is empty"
        );
        assert_eq!(ok(redis.hincrby(&h, "age", 4).await, "hincrby"), 40);
        assert_eq!(ok(redis.hincrby(&h, "visits", -2).await, "hincrby"), -2);
        expect_kind(
            redis.hincrby(&h, "name", 1).await,
            ErrorKind::InvalidInput,
            "hincrby of a field that is not an integer",
        );
        assert_eq!(
            ok(redis.hdel(&h, &["name", "none", "bytes"]).await, "hdel"),
            2,
            "hdel counts the fields that existed"
        );
        assert_eq!(ok(redis.hdel(&h, &[]).await, "hdel of no fields"), 0);
        let left = ok(redis.hgetall(&h).await, "hgetall");
        let mut names: Vec<&str> = left.keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, ["age", "visits"]);
        let text = keys.key("text");
        ok(redis.set(&text, b"v", SetOptions::default()).await, "set");
        expect_kind(
            redis.hset(&text, &[("f", b"v")]).await,
            ErrorKind::InvalidInput,
            "hset of a string key (WRONGTYPE)",
        );
        expect_kind(
            redis.get(&h).await,
            ErrorKind::InvalidInput,
            "get of a hash key (WRONGTYPE)",
        );
        assert_eq!(
            ok(redis.del(std::slice::from_ref(&h)).await, "del"),
            1,
            "del removes a hash"
        );
    })
    .await;
}

/// The string and key helpers: `mset`, `getdel`, `key_ttl`, `persist`, `unlink`.
pub async fn string_and_key_helpers(port: Arc<dyn RedisPort>, prefix: &str) {
    scoped(port, prefix, |redis, keys| async move {
        let [a, b, c, missing] = ["a", "b", "c", "missing"].map(|k| keys.key(k));
        ok(redis.mset(&[(&a, b"1"), (&b, b"\xff")]).await, "mset");
        ok(redis.mset(&[]).await, "mset of nothing");
        assert_eq!(
            ok(redis.mget(&[a.clone(), b.clone()]).await, "mget"),
            vec![Some(b"1".to_vec()), Some(b"\xff".to_vec())],
            "mset wrote every key"
        );
        assert_value(ok(redis.getdel(&a).await, "getdel"), Some(b"1"), "getdel");
        assert_value(
            ok(redis.getdel(&a).await, "getdel"),
            None,
            "getdel of a deleted key",
        );
        assert_eq!(
            ok(redis.key_ttl(&missing).await, "key_ttl"),
            KeyTtl::Missing
        );
        assert_eq!(ok(redis.key_ttl(&b).await, "key_ttl"), KeyTtl::Persistent);
        ok(
            redis
                .set(&c, b"v", SetOptions::with_ttl(Duration::from_mins(1)))
                .await,
            "set",
        );
        match ok(redis.key_ttl(&c).await, "key_ttl") {
            KeyTtl::ExpiresIn(left) => assert!(
                left > Duration::from_secs(50) && left <= Duration::from_mins(1),
                "key_ttl of a key set to expire in 60 s: {left:?}"
            ),
            other => panic!("key_ttl of a key with a TTL: expected ExpiresIn, got {other:?}"),
        }
        assert!(
            ok(redis.persist(&c).await, "persist"),
            "persist of a key with a TTL"
        );
        assert!(
            !ok(redis.persist(&c).await, "persist"),
            "persist of a persistent key"
        );
        assert_eq!(ok(redis.key_ttl(&c).await, "key_ttl"), KeyTtl::Persistent);
        assert_eq!(
            ok(redis.unlink(&[&b, &c, &missing]).await, "unlink"),
            2,
            "unlink counts the keys that existed"
        );
        assert_eq!(ok(redis.unlink(&[]).await, "unlink of nothing"), 0);
        assert!(
            !ok(redis.exists(&b).await, "exists"),
            "an unlinked key is gone"
        );
    })
    .await;
}

/// The sorted-set helpers: `zadd` counts new members, `zrange_with_scores` orders by score
/// (then member), `zincrby` adds, `zscore` reads, `zrem` removes, `zcard` counts.
pub async fn sorted_set_helpers_round_trip(port: Arc<dyn RedisPort>, prefix: &str) {
    scoped(port, prefix, |redis, keys| async move {
        let z = keys.key("board");
        assert_eq!(
            ok(
                redis
                    .zadd(&z, &[(3.0, "carol"), (1.5, "ada"), (2.0, "bob")])
                    .await,
                "zadd"
            ),
            3
        );
        assert_eq!(
            ok(redis.zadd(&z, &[(1.5, "bea"), (2.5, "bob")]).await, "zadd"),
            1,
            "one new member, one score updated"
        );
        assert_eq!(ok(redis.zadd(&z, &[]).await, "zadd of nothing"), 0);
        let board = ok(redis.zrange_with_scores(&z, 0, -1).await, "zrange");
        assert_eq!(
            board,
            vec![
                ("ada".to_owned(), 1.5),
                ("bea".to_owned(), 1.5),
                ("bob".to_owned(), 2.5),
                ("carol".to_owned(), 3.0)
            ],
            "ascending score, equal scores by member"
        );
        let top = ok(redis.zrange_with_scores(&z, -2, -1).await, "zrange");
        assert_eq!(top.len(), 2, "negative ranks count from the end: {top:?}");
        assert_eq!(top[1].0, "carol");
        assert!(
            ok(redis.zrange_with_scores(&z, 5, 10).await, "zrange").is_empty(),
            "a range past the end is empty"
        );
        let score = ok(redis.zincrby(&z, 0.25, "ada").await, "zincrby");
        assert!(
            (score - 1.75).abs() < 1e-9,
            "zincrby answers the new score: {score}"
        );
        let new = ok(redis.zincrby(&z, -4.0, "dan").await, "zincrby");
        assert!(
            (new + 4.0).abs() < 1e-9,
            "zincrby creates a missing member at 0"
        );
        let read = ok(redis.zscore(&z, "bob").await, "zscore");
        assert!(
            read.is_some_and(|s| (s - 2.5).abs() < 1e-9),
            "zscore: {read:?}"
        );
        assert_eq!(ok(redis.zscore(&z, "nobody").await, "zscore"), None);
        assert_eq!(ok(redis.zcard(&z).await, "zcard"), 5);
        assert_eq!(
            ok(redis.zrem(&z, &["dan", "nobody", "bea"]).await, "zrem"),
            2
        );
        assert_eq!(ok(redis.zrem(&z, &[]).await, "zrem of nothing"), 0);
        assert_eq!(ok(redis.zcard(&z).await, "zcard"), 3);
        assert_eq!(ok(redis.zcard(&keys.key("none")).await, "zcard"), 0);
        let first = ok(redis.zrange_with_scores(&z, 0, 0).await, "zrange");
        assert_eq!(first[0].0, "ada", "the lowest score first: {first:?}");
        expect_kind(
            redis.zadd(&keys.key("none"), &[(f64::NAN, "x")]).await,
            ErrorKind::InvalidInput,
            "zadd of a NaN score",
        );
        expect_kind(
            redis.hget(&z, "f").await,
            ErrorKind::InvalidInput,
            "hget of a sorted set (WRONGTYPE)",
        );
    })
    .await;
}

/// The set helpers: `sadd` counts new members, `srem` removed ones, `sismember`,
/// `smembers` (any order) and `scard` read; a missing key is an empty set; wrong types are
/// `InvalidInput`.
pub async fn set_helpers_round_trip(port: Arc<dyn RedisPort>, prefix: &str) {
    scoped(port, prefix, |redis, keys| async move {
        let (s, missing, text) = (keys.key("tags"), keys.key("none"), keys.key("text"));
        assert_eq!(ok(redis.sadd(&s, &["a", "b", "c"]).await, "sadd"), 3);
        assert_eq!(
            ok(redis.sadd(&s, &["c", "d", "d"]).await, "sadd"),
            1,
            "sadd counts only new members, once each"
        );
        assert_eq!(ok(redis.sadd(&s, &[]).await, "sadd of nothing"), 0);
        assert!(ok(redis.sismember(&s, "b").await, "sismember"));
        assert!(!ok(redis.sismember(&s, "z").await, "sismember"));
        assert!(!ok(
            redis.sismember(&missing, "a").await,
            "sismember of a missing key"
        ));
        let mut members = ok(redis.smembers(&s).await, "smembers");
        members.sort();
        assert_eq!(members, ["a", "b", "c", "d"]);
        assert_eq!(ok(redis.scard(&s).await, "scard"), 4);
        assert_eq!(ok(redis.srem(&s, &["a", "z"]).await, "srem"), 1);
        assert_eq!(ok(redis.srem(&s, &[]).await, "srem of nothing"), 0);
        assert_eq!(ok(redis.scard(&s).await, "scard"), 3);
        assert!(ok(redis.smembers(&missing).await, "smembers").is_empty());
        assert_eq!(ok(redis.scard(&missing).await, "scard"), 0);
        ok(
            redis.srem(&s, &["b", "c", "d"]).await,
            "srem of every member",
        );
        assert!(
            !ok(redis.exists(&s).await, "exists"),
            "a set without members no longer exists"
        );
        ok(redis.set(&text, b"v", SetOptions::default()).await, "set");
        expect_kind(
            redis.sadd(&text, &["a"]).await,
            ErrorKind::InvalidInput,
            "sadd on a string (WRONGTYPE)",
        );
        expect_kind(
            redis.smembers(&text).await,
            ErrorKind::InvalidInput,
            "smembers of a string (WRONGTYPE)",
        );
    })
    .await;
}

/// `zadd_with`'s options (`NX`, `XX`, `GT`, `LT`, `CH`) and `zrange`'s three kinds of
/// range, reversed and paged; option combinations Redis refuses are `InvalidInput` before
/// anything is sent.
#[allow(clippy::too_many_lines)] // every option, then every kind of range
pub async fn sorted_set_options_and_ranges(port: Arc<dyn RedisPort>, prefix: &str) {
    scoped(port, prefix, |redis, keys| async move {
        let z = keys.key("scores");
        let members = [(1.0, "a"), (2.0, "b"), (3.0, "c"), (4.0, "d"), (5.0, "e")];
        assert_eq!(ok(redis.zadd(&z, &members).await, "zadd"), 5);
        let opts = ZAddOptions::new();
        assert_eq!(
            ok(
                redis
                    .zadd_with(&z, &[(9.0, "a"), (6.0, "f")], opts.only_new())
                    .await,
                "zadd NX"
            ),
            1,
            "NX adds new members only"
        );
        assert_eq!(ok(redis.zscore(&z, "a").await, "zscore"), Some(1.0));
        assert_eq!(
            ok(
                redis
                    .zadd_with(&z, &[(1.5, "a"), (7.0, "g")], opts.only_existing())
                    .await,
                "zadd XX"
            ),
            0,
            "XX adds nothing (and counts no update without CH)"
        );
        assert_eq!(ok(redis.zscore(&z, "a").await, "zscore"), Some(1.5));
        assert_eq!(ok(redis.zscore(&z, "g").await, "zscore"), None);
        let gt_ch = opts.only_if(ScoreComparison::Greater).count_changed();
        assert_eq!(
            ok(
                redis
                    .zadd_with(&z, &[(0.5, "a"), (2.5, "b"), (8.0, "h")], gt_ch)
                    .await,
                "zadd GT CH"
            ),
            2,
            "GT raises b, keeps a, adds h; CH counts both"
        );
        assert_eq!(ok(redis.zscore(&z, "a").await, "zscore"), Some(1.5));
        assert_eq!(ok(redis.zscore(&z, "b").await, "zscore"), Some(2.5));
        let lt = opts.only_if(ScoreComparison::Less).count_changed();
        assert_eq!(
            ok(
                redis.zadd_with(&z, &[(0.5, "a"), (9.0, "c")], lt).await,
                "zadd LT"
            ),
            1
        );
        assert_eq!(ok(redis.zscore(&z, "a").await, "zscore"), Some(0.5));
        expect_refusal(
            redis
                .zadd_with(
                    &z,
                    &[(1.0, "x")],
                    opts.only_new().only_if(ScoreComparison::Less),
                )
                .await,
            "cannot be combined",
            "zadd NX with LT",
        );
        // a 0.5, b 2.5, c 3, d 4, e 5, f 6, h 8.
        assert_eq!(
            ok(
                redis.zrange(&z, &ZRange::by_rank(0, 2)).await,
                "zrange by rank"
            ),
            ["a", "b", "c"]
        );
        assert_eq!(
            ok(
                redis.zrange(&z, &ZRange::by_rank(0, 1).rev()).await,
                "zrange REV"
            ),
            ["h", "f"],
            "ranks count from the top with REV"
        );
        let by_score = ZRange::by_score(Bound::Excluded(2.5), Bound::Included(6.0));
        assert_eq!(
            ok(redis.zrange(&z, &by_score).await, "zrange BYSCORE"),
            ["c", "d", "e", "f"]
        );
        assert_eq!(
            ok(
                redis.zrange(&z, &by_score.clone().rev().limit(1, 2)).await,
                "zrange BYSCORE REV LIMIT"
            ),
            ["e", "d"],
            "bounds are given low to high even with REV; LIMIT pages in the walk's order"
        );
        let scored = ok(
            redis
                .zrange_scores(
                    &z,
                    &ZRange::by_score(Bound::Unbounded, Bound::Excluded(2.5)),
                )
                .await,
            "zrange BYSCORE WITHSCORES",
        );
        assert_eq!(scored, [("a".to_owned(), 0.5)]);
        let lex = keys.key("names");
        let names = [(0.0, "alice"), (0.0, "bob"), (0.0, "carol"), (0.0, "dave")];
        ok(redis.zadd(&lex, &names).await, "zadd");
        assert_eq!(
            ok(
                redis
                    .zrange(
                        &lex,
                        &ZRange::by_lex(Bound::Included("b"), Bound::Excluded("d"))
                    )
                    .await,
                "zrange BYLEX"
            ),
            ["bob", "carol"]
        );
        assert_eq!(
            ok(
                redis
                    .zrange(
                        &lex,
                        &ZRange::by_lex(Bound::Unbounded, Bound::Unbounded)
                            .rev()
                            .limit(0, 1)
                    )
                    .await,
                "zrange BYLEX REV LIMIT"
            ),
            ["dave"]
        );
        expect_refusal(
            redis.zrange(&z, &ZRange::by_rank(0, 1).limit(0, 1)).await,
            "LIMIT",
            "zrange by rank with LIMIT",
        );
        expect_refusal(
            redis
                .zrange_scores(&lex, &ZRange::by_lex(Bound::Unbounded, Bound::Unbounded))
                .await,
            "BYLEX",
            "zrange_scores by lex",
        );
        assert!(
            ok(
                redis.zrange(&keys.key("none"), &by_score).await,
                "zrange of a missing key"
            )
            .is_empty()
        );
    })
    .await;
}

/// The list helpers: pushes answer the new length and keep Redis' order, `lrange` and
/// `ltrim` take negative indexes, pops take a count and a list that empties is gone.
pub async fn list_helpers_round_trip(port: Arc<dyn RedisPort>, prefix: &str) {
    scoped(port, prefix, |redis, keys| async move {
        let (l, missing, text) = (keys.key("queue"), keys.key("none"), keys.key("text"));
        assert_eq!(ok(redis.rpush(&l, &[b"c", b"d"]).await, "rpush"), 2);
        assert_eq!(
            ok(redis.lpush(&l, &[b"b", b"a"]).await, "lpush"),
            4,
            "lpush answers the new length"
        );
        assert_eq!(ok(redis.rpush(&l, &[]).await, "rpush of nothing"), 4);
        let all = ok(redis.lrange(&l, 0, -1).await, "lrange");
        assert_eq!(
            all,
            [b"a".to_vec(), b"b".to_vec(), b"c".to_vec(), b"d".to_vec()],
            "lpush inserts one after the other at the head"
        );
        assert_eq!(
            ok(redis.lrange(&l, -2, -1).await, "lrange"),
            [b"c".to_vec(), b"d".to_vec()]
        );
        assert!(ok(redis.lrange(&l, 10, 20).await, "lrange").is_empty());
        ok(redis.rpush(&l, &[b"e", b"\xff"]).await, "rpush");
        ok(redis.ltrim(&l, 1, -2).await, "ltrim");
        assert_eq!(ok(redis.llen(&l).await, "llen"), 4, "ltrim keeps b..e");
        assert_eq!(
            ok(redis.lpop(&l, 2).await, "lpop"),
            [b"b".to_vec(), b"c".to_vec()]
        );
        assert_eq!(
            ok(redis.rpop(&l, 5).await, "rpop"),
            [b"e".to_vec(), b"d".to_vec()],
            "rpop answers the tail first, at most what the list holds"
        );
        assert_eq!(ok(redis.llen(&l).await, "llen"), 0);
        assert!(
            !ok(redis.exists(&l).await, "exists"),
            "an empty list is gone"
        );
        assert!(ok(redis.lpop(&missing, 3).await, "lpop of a missing key").is_empty());
        assert!(ok(redis.rpop(&missing, 0).await, "rpop of nothing").is_empty());
        assert_eq!(ok(redis.llen(&missing).await, "llen"), 0);
        ok(redis.rpush(&l, &[b"x"]).await, "rpush");
        ok(redis.ltrim(&l, 5, 10).await, "ltrim past the end");
        assert!(
            !ok(redis.exists(&l).await, "exists"),
            "a list trimmed to nothing is gone"
        );
        ok(redis.set(&text, b"v", SetOptions::default()).await, "set");
        expect_kind(
            redis.rpush(&text, &[b"x"]).await,
            ErrorKind::InvalidInput,
            "rpush on a string (WRONGTYPE)",
        );
    })
    .await;
}

/// Streams with a consumer group: `xadd` (with exact and approximate trimming), `xlen`,
/// `xrange`; `xgroup_create_if_missing` twice, a plain second `xgroup_create` as
/// `BUSYGROUP`; `xreadgroup` without blocking, `xpending` in both forms, `xack`, and
/// `xautoclaim` of an entry left idle by a consumer that went away.
#[allow(clippy::too_many_lines)] // one story, from producer to recovery
pub async fn stream_consumer_group_round_trip(port: Arc<dyn RedisPort>, prefix: &str) {
    scoped(port, prefix, |redis, keys| async move {
        let s = keys.key("events");
        assert!(
            ok(
                redis.xgroup_create_if_missing(&s, "g", "0").await,
                "xgroup create"
            ),
            "the first call creates the group (and the stream)"
        );
        assert!(
            !ok(
                redis.xgroup_create_if_missing(&s, "g", "0").await,
                "xgroup create again"
            ),
            "a second call finds it: BUSYGROUP is success"
        );
        match redis.xgroup_create(&s, "g", "$", false).await {
            Err(err) => assert!(
                is_busygroup(&err),
                "xgroup_create of an existing group: expected BUSYGROUP, got {}",
                err.chain()
            ),
            Ok(()) => panic!("xgroup_create of an existing group succeeded"),
        }
        expect_kind(
            redis
                .xgroup_create(&keys.key("none"), "g", "$", false)
                .await,
            ErrorKind::NotFound,
            "xgroup_create of a missing stream without MKSTREAM",
        );
        let mut ids = Vec::new();
        for n in 0..5_u8 {
            let id = ok(
                redis
                    .xadd(
                        &s,
                        &[("n", &[b'0' + n]), ("kind", b"test")],
                        XAddOptions::new(),
                    )
                    .await,
                "xadd",
            );
            ids.push(id);
        }
        assert!(
            ids.windows(2).all(|w| w[0] != w[1]),
            "xadd answers a new id each time: {ids:?}"
        );
        assert_eq!(ok(redis.xlen(&s).await, "xlen"), 5);
        let range = ok(redis.xrange(&s, "-", "+", Some(2)).await, "xrange");
        assert_eq!(range.len(), 2);
        assert_eq!(range[0].id, ids[0]);
        assert_eq!(range[1].field("n"), Some(&b"1"[..]));
        assert_eq!(
            range[0].fields,
            [
                ("n".to_owned(), b"0".to_vec()),
                ("kind".to_owned(), b"test".to_vec())
            ],
            "fields keep their order"
        );
        let read = XReadGroupOptions::new().count(3);
        let first = ok(
            redis.xreadgroup(&s, "g", "alice", &read).await,
            "xreadgroup",
        );
        assert_eq!(
            first.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
            ids[..3].iter().map(String::as_str).collect::<Vec<_>>(),
            "a group reads from its start, COUNT at a time"
        );
        let rest = ok(
            redis
                .xreadgroup(&s, "g", "bob", &XReadGroupOptions::new())
                .await,
            "xreadgroup",
        );
        assert_eq!(
            rest.len(),
            2,
            "another consumer gets the entries not yet delivered"
        );
        assert!(
            ok(redis.xreadgroup(&s, "g", "bob", &read).await, "xreadgroup").is_empty(),
            "nothing new: an empty answer at once, never a wait"
        );
        let summary = ok(redis.xpending(&s, "g").await, "xpending");
        assert_eq!(summary.count, 5);
        assert_eq!(summary.lowest.as_deref(), Some(ids[0].as_str()));
        assert_eq!(summary.highest.as_deref(), Some(ids[4].as_str()));
        assert_eq!(
            summary.consumers,
            [("alice".to_owned(), 3), ("bob".to_owned(), 2)]
        );
        let acked = ids[..2].iter().map(String::as_str).collect::<Vec<_>>();
        assert_eq!(ok(redis.xack(&s, "g", &acked).await, "xack"), 2);
        assert_eq!(ok(redis.xack(&s, "g", &acked).await, "xack again"), 0);
        // alice still holds ids[2], and goes away; it idles past the claim threshold.
        sleep(Duration::from_millis(120)).await;
        let idle = ok(
            redis
                .xpending_range(&s, "g", &PendingRange::first(10).of_consumer("alice"))
                .await,
            "xpending extended",
        );
        assert_eq!(idle.len(), 1, "alice's pending entries: {idle:?}");
        assert_eq!(idle[0].id, ids[2]);
        assert_eq!(idle[0].deliveries, 1);
        assert!(idle[0].idle >= Duration::from_millis(100), "{idle:?}");
        // bob's entries are idle too: claim one at a time, from the start.
        let claim = ok(
            redis
                .xautoclaim(&s, "g", "carol", Duration::from_millis(100), "0-0", Some(1))
                .await,
            "xautoclaim",
        );
        assert_eq!(claim.entries.len(), 1, "{claim:?}");
        assert_eq!(claim.entries[0].id, ids[2], "the oldest idle entry first");
        assert_eq!(claim.entries[0].field("n"), Some(&b"2"[..]));
        assert_eq!(claim.next, ids[3], "the next pending id to continue from");
        assert!(claim.deleted.is_empty());
        let carol = ok(
            redis
                .xpending_range(&s, "g", &PendingRange::first(10).of_consumer("carol"))
                .await,
            "xpending extended",
        );
        assert_eq!(carol.len(), 1);
        assert_eq!(carol[0].deliveries, 2, "a claim counts a delivery");
        let fresh = ok(
            redis
                .xautoclaim(&s, "g", "dave", Duration::from_mins(1), "0-0", None)
                .await,
            "xautoclaim",
        );
        assert!(
            fresh.entries.is_empty(),
            "nothing is idle for a minute: {fresh:?}"
        );
        assert_eq!(fresh.next, "0-0", "the whole pending list was walked");
        expect_kind(
            redis.xreadgroup(&s, "nogroup", "x", &read).await,
            ErrorKind::NotFound,
            "xreadgroup of a missing group (NOGROUP)",
        );
        // Trimming on append: exact MAXLEN, approximate accepted, MINID.
        let capped = keys.key("capped");
        for n in 0..4_u8 {
            ok(
                redis
                    .xadd(
                        &capped,
                        &[("n", &[b'0' + n])],
                        XAddOptions::new().trim(StreamTrim::max_len(2)),
                    )
                    .await,
                "xadd MAXLEN",
            );
        }
        assert_eq!(
            ok(redis.xlen(&capped).await, "xlen"),
            2,
            "MAXLEN = 2 keeps two"
        );
        let kept = ok(redis.xrange(&capped, "-", "+", None).await, "xrange");
        assert_eq!(kept[0].field("n"), Some(&b"2"[..]), "the newest are kept");
        ok(
            redis
                .xadd(
                    &capped,
                    &[("n", b"4")],
                    XAddOptions::new().trim(StreamTrim::max_len(1).approximate()),
                )
                .await,
            "xadd MAXLEN ~",
        );
        assert!(ok(redis.xlen(&capped).await, "xlen") >= 1);
        let last = ok(
            redis
                .xadd(
                    &capped,
                    &[("n", b"5")],
                    XAddOptions::new().id("9999999999999-0"),
                )
                .await,
            "xadd with an id",
        );
        assert_eq!(last, "9999999999999-0");
        ok(
            redis
                .xadd(
                    &capped,
                    &[("n", b"6")],
                    XAddOptions::new().trim(StreamTrim::min_id(last.clone())),
                )
                .await,
            "xadd MINID",
        );
        let after_min = ok(redis.xrange(&capped, "-", "+", None).await, "xrange");
        assert_eq!(
            after_min.len(),
            2,
            "MINID drops every entry below it: {after_min:?}"
        );
        assert_eq!(after_min[0].id, last);
        expect_refusal(
            redis.xadd(&capped, &[], XAddOptions::new()).await,
            "at least one field",
            "xadd without fields",
        );
    })
    .await;
}

/// `getex` reads a string and sets or removes its expiry in the same step; a missing key
/// stays missing, a zero TTL is `InvalidInput`.
pub async fn getex_reads_and_changes_expiry(port: Arc<dyn RedisPort>, prefix: &str) {
    scoped(port, prefix, |redis, keys| async move {
        let (k, missing) = (keys.key("session"), keys.key("none"));
        ok(redis.set(&k, b"v", SetOptions::default()).await, "set");
        assert_value(
            ok(
                redis
                    .getex(&k, GetExExpiry::In(Duration::from_mins(1)))
                    .await,
                "getex PX",
            ),
            Some(b"v"),
            "getex",
        );
        match ok(redis.key_ttl(&k).await, "key_ttl") {
            KeyTtl::ExpiresIn(left) => assert!(
                left > Duration::from_secs(50) && left <= Duration::from_mins(1),
                "getex set a 60 s expiry: {left:?}"
            ),
            other => panic!("getex with a TTL: expected ExpiresIn, got {other:?}"),
        }
        assert_value(
            ok(redis.getex(&k, GetExExpiry::Persist).await, "getex PERSIST"),
            Some(b"v"),
            "getex",
        );
        assert_eq!(ok(redis.key_ttl(&k).await, "key_ttl"), KeyTtl::Persistent);
        assert_value(
            ok(redis.getex(&missing, GetExExpiry::Persist).await, "getex"),
            None,
            "getex of a missing key",
        );
        assert!(!ok(redis.exists(&missing).await, "exists"));
        expect_kind(
            redis.getex(&k, GetExExpiry::In(Duration::ZERO)).await,
            ErrorKind::InvalidInput,
            "getex with a zero TTL",
        );
        ok(redis.getex(&k, GetExExpiry::In(SHORT_TTL)).await, "getex");
        sleep(PAST_SHORT_TTL).await;
        assert!(
            !ok(redis.exists(&k).await, "exists"),
            "the key expired after getex's TTL"
        );
    })
    .await;
}

/// `scan` streams every key matching a prefix across many batches (more keys than
/// `COUNT`), with bounded batches; a `TYPE` filter keeps one type.
pub async fn scan_streams_keys_by_prefix(port: Arc<dyn RedisPort>, prefix: &str) {
    let tag = hash_tag(prefix);
    scoped(port, prefix, |redis, keys| async move {
        let mut expected = std::collections::BTreeSet::new();
        let entries: Vec<String> = (0..25).map(|n| keys.key(&format!("scan:{n}"))).collect();
        let pairs: Vec<(&str, &[u8])> = entries.iter().map(|k| (k.as_str(), &b"v"[..])).collect();
        ok(redis.mset(&pairs).await, "mset");
        expected.extend(entries.iter().cloned());
        let hash = keys.key("scan:hash");
        ok(redis.hset(&hash, &[("f", b"v")]).await, "hset");
        ok(
            redis
                .set(&keys.key("other"), b"v", SetOptions::default())
                .await,
            "set",
        );
        let pattern = format!("{tag}:scan:*");
        let mut found = std::collections::BTreeSet::new();
        let mut stream = redis.scan(ScanOptions::new().matching(pattern.clone()).count(10));
        while let Some(key) = stream.next_key().await {
            let key = ok(key, "scan");
            assert!(
                key.starts_with(&format!("{tag}:scan:")),
                "scan MATCH returned {key}"
            );
            found.insert(key);
        }
        expected.insert(hash.clone());
        assert_eq!(
            found, expected,
            "scan returns every matching key (duplicates allowed)"
        );
        let mut hashes = Vec::new();
        let mut stream = redis.scan(
            ScanOptions::new()
                .matching(pattern)
                .count(10)
                .of_type(KeyType::Hash),
        );
        while let Some(key) = stream.next_key().await {
            hashes.push(ok(key, "scan TYPE"));
        }
        hashes.dedup();
        assert_eq!(hashes, [hash], "scan TYPE hash keeps the hash only");
    })
    .await;
}

/// Keys under one hash tag share a cluster slot (`key_slot`), and commands over several
/// of them run everywhere: an atomic pipeline across two keys, and `MSET`/`DEL` across
/// different tags (split per slot by a cluster client). The CROSSSLOT refusal itself is
/// cluster-only and tested by the cluster adapter's own tests.
pub async fn hash_tagged_keys_share_a_slot(port: Arc<dyn RedisPort>, prefix: &str) {
    let prefix = prefix.to_owned();
    scoped(port, &prefix.clone(), |redis, keys| async move {
        let (from, to) = (keys.key("from"), keys.key("to"));
        let tag = hash_tag(&prefix);
        assert!(
            from.starts_with(&tag),
            "case keys start with the tag {tag}: {from}"
        );
        assert_eq!(key_slot(&from), key_slot(&to), "one tag, one slot");
        assert_eq!(
            key_slot(&from),
            key_slot(&prefix),
            "the tag is what is hashed"
        );
        ok(redis.sadd(&from, &["m"]).await, "sadd");
        let mv = Pipeline::atomic(NonIdempotent)
            .with(Command::new("SREM").arg(&from).arg("m"))
            .with(Command::new("SADD").arg(&to).arg("m"));
        let replies = ok(
            redis.pipeline(&mv).await,
            "atomic pipeline over two tagged keys",
        );
        assert_eq!(replies, [Reply::Int(1), Reply::Int(1)]);
        assert!(ok(redis.sismember(&to, "m").await, "sismember"));
        // Another tag: deleted by the case itself (tracked keys share the case's tag).
        let other = format!("{}:x", hash_tag(&format!("{prefix}-other")));
        ok(
            redis.mset(&[(&from, b"1"), (&other, b"2")]).await,
            "mset across two tags",
        );
        assert_eq!(
            ok(
                redis.mget(&[from.clone(), other.clone()]).await,
                "mget across two tags"
            ),
            [Some(b"1".to_vec()), Some(b"2".to_vec())]
        );
        assert_eq!(
            ok(
                redis.del(&[from.clone(), other.clone()]).await,
                "del across two tags"
            ),
            2
        );
    })
    .await;
}

/// A plain pipeline sends several commands and answers every reply in order; an empty one
/// answers nothing. A command that fails fails the call, and the other commands still ran.
pub async fn pipeline_replies_in_order(port: Arc<dyn RedisPort>, prefix: &str) {
    scoped(port, prefix, |redis, keys| async move {
        let [a, n, h, late] = ["a", "n", "h", "late"].map(|k| keys.key(k));
        let pipe = Pipeline::new(NonIdempotent)
            .with(Command::new("SET").arg(&a).arg("1"))
            .with(Command::new("INCRBY").arg(&n).arg(5))
            .with(Command::new("GET").arg(&a))
            .with(Command::new("HSET").arg(&h).arg("f").arg("v"))
            .with(Command::new("HGET").arg(&h).arg("f"))
            .with(Command::new("INCRBY").arg(&n).arg(5))
            .with(Command::new("DEL").arg(&a));
        let replies = ok(redis.pipeline(&pipe).await, "pipeline");
        assert_eq!(
            replies,
            vec![
                Reply::Simple("OK".into()),
                Reply::Int(5),
                Reply::Bulk(b"1".to_vec()),
                Reply::Int(1),
                Reply::Bulk(b"v".to_vec()),
                Reply::Int(10),
                Reply::Int(1),
            ],
            "one reply per command, in order"
        );
        assert_eq!(
            ok(
                redis.pipeline(&Pipeline::new(Idempotent)).await,
                "empty pipeline"
            ),
            Vec::<Reply>::new()
        );
        let failing = Pipeline::new(NonIdempotent)
            .with(Command::new("INCRBY").arg(&n).arg(1))
            .with(Command::new("HGET").arg(&n).arg("f"))
            .with(Command::new("SET").arg(&late).arg("ran"));
        expect_kind(
            redis.pipeline(&failing).await,
            ErrorKind::InvalidInput,
            "a pipeline with a WRONGTYPE command",
        );
        assert_value(
            ok(redis.get(&late).await, "get"),
            Some(b"ran"),
            "the commands after a failed one in a plain pipeline still run",
        );
        assert_value(
            ok(redis.get(&n).await, "get"),
            Some(b"11"),
            "and those before",
        );
    })
    .await;
}

/// An atomic pipeline (`MULTI`/`EXEC`) answers its commands' replies in order, and
/// concurrent transactions never interleave.
pub async fn atomic_pipeline_is_a_transaction(port: Arc<dyn RedisPort>, prefix: &str) {
    scoped(port, prefix, |redis, keys| async move {
        let [x, h] = ["x", "h"].map(|k| keys.key(k));
        let pipe = Pipeline::atomic(NonIdempotent)
            .with(Command::new("INCR").arg(&x))
            .with(Command::new("INCR").arg(&x))
            .with(Command::new("GET").arg(&x))
            .with(Command::new("HSET").arg(&h).arg("a").arg(1).arg("b").arg(2))
            .with(Command::new("HGETALL").arg(&h));
        let mut replies = ok(redis.pipeline(&pipe).await, "atomic pipeline");
        assert_eq!(replies.len(), 5, "one reply per command: {replies:?}");
        let all = replies.pop().map(Reply::into_pairs);
        assert_eq!(
            replies,
            vec![
                Reply::Int(1),
                Reply::Int(2),
                Reply::Bulk(b"2".to_vec()),
                Reply::Int(2)
            ]
        );
        let all = ok(all.expect("a reply"), "HGETALL pairs");
        assert_eq!(all.len(), 2, "HGETALL in a transaction: {all:?}");

        // A command failing when it runs (WRONGTYPE) fails the call; Redis has no
        // rollback, so the others ran.
        let after = keys.key("after");
        let failing = Pipeline::atomic(NonIdempotent)
            .with(Command::new("INCR").arg(&x))
            .with(Command::new("HGET").arg(&x).arg("f"))
            .with(Command::new("SET").arg(&after).arg("ran"));
        expect_kind(
            redis.pipeline(&failing).await,
            ErrorKind::InvalidInput,
            "a transaction with a WRONGTYPE command",
        );
        assert_value(
            ok(redis.get(&x).await, "get"),
            Some(b"3"),
            "INCR before it ran",
        );
        assert_value(
            ok(redis.get(&after).await, "get"),
            Some(b"ran"),
            "SET after it ran",
        );
        // A command refused when queued (unknown to the server) aborts the whole
        // transaction before anything runs.
        let aborted = Pipeline::atomic(NonIdempotent)
            .with(Command::new("INCR").arg(&x))
            .with(Command::new("NOSUCHCOMMAND").arg(&x));
        expect_kind(
            redis.pipeline(&aborted).await,
            ErrorKind::InvalidInput,
            "a transaction with an unknown command",
        );
        assert_value(
            ok(redis.get(&x).await, "get"),
            Some(b"3"),
            "an aborted transaction runs nothing",
        );

        let counter = keys.key("counter");
        let mut tasks = JoinSet::new();
        for _ in 0..8 {
            let redis = Arc::clone(&redis);
            let counter = counter.clone();
            tasks.spawn(async move {
                for _ in 0..10 {
                    let pipe = Pipeline::atomic(NonIdempotent)
                        .with(Command::new("INCR").arg(&counter))
                        .with(Command::new("INCR").arg(&counter));
                    let replies = ok(redis.pipeline(&pipe).await, "atomic pipeline");
                    let first = ok(replies[0].as_int(), "an integer");
                    let second = ok(replies[1].as_int(), "an integer");
                    assert_eq!(
                        second,
                        first + 1,
                        "nothing runs between the commands of a transaction"
                    );
                }
            });
        }
        join_all(tasks).await;
        assert_value(
            ok(redis.get(&counter).await, "get"),
            Some(b"160"),
            "every transaction ran",
        );
    })
    .await;
}

/// Blocking and connection-state commands are refused as `InvalidInput` naming the right
/// tool, by `command` and inside a pipeline, before anything is sent.
pub async fn refused_commands_are_invalid_input(port: Arc<dyn RedisPort>, prefix: &str) {
    scoped(port, prefix, |redis, keys| async move {
        let q = keys.key("queue");
        let refused = [
            (Command::new("BLPOP").arg(&q).arg(1), "exclusive"),
            (Command::new("brpop").arg(&q).arg(0), "exclusive"),
            (Command::new("BZPOPMIN").arg(&q).arg(0), "exclusive"),
            (
                Command::new("XREAD")
                    .arg("BLOCK")
                    .arg(0)
                    .arg("STREAMS")
                    .arg(&q)
                    .arg("$"),
                "exclusive",
            ),
            (Command::new("SUBSCRIBE").arg(&q), "subscriber"),
            (Command::new("MULTI"), "Pipeline::atomic"),
            (Command::new("WATCH").arg(&q), "exclusive"),
            (Command::new("SELECT").arg(1), "SOCIAL_REDIS__"),
            (
                Command::new("CLIENT").arg("SETNAME").arg("x"),
                "CLIENT SETNAME",
            ),
        ];
        for (cmd, tool) in refused {
            let what = format!("{} through command", cmd.name());
            expect_refusal(redis.command(&cmd, Idempotent).await, tool, &what);
            let k = keys.key("pipelined");
            let pipe = Pipeline::new(NonIdempotent)
                .with(Command::new("SET").arg(&k).arg("sent"))
                .with(cmd);
            expect_refusal(redis.pipeline(&pipe).await, tool, "a pipeline with it");
            assert_value(
                ok(redis.get(&k).await, "get"),
                None,
                "a refused pipeline must send nothing",
            );
        }
        ok(redis.ping().await, "the port still works after refusals");
    })
    .await;
}

/// A lock of the case: named after the prefix, so its keys (`lock:{prefix}`,
/// `lock:{prefix}:fence`) share the case's hash tag, and deleted with them.
fn case_lock(redis: &Arc<dyn RedisPort>, keys: &Keys, options: LockOptions) -> RedisLock {
    let lock = ok(
        RedisLock::new(Arc::clone(redis), &keys.prefix, options),
        "RedisLock::new",
    );
    keys.track(lock.key());
    keys.track(lock.fence_key());
    lock
}

/// A lock excludes every other token; it expires at its TTL when its holder vanishes, and
/// the vanished holder can then neither release nor extend the next holder's lock.
pub async fn lock_excludes_other_tokens_and_expires(port: Arc<dyn RedisPort>, prefix: &str) {
    scoped(port, prefix, |redis, keys| async move {
        let lock = case_lock(
            &redis,
            &keys,
            LockOptions::new(SHORT_TTL).wait(Duration::ZERO),
        );
        let first = ok(lock.try_acquire().await, "try_acquire").expect("a free lock is acquired");
        assert_eq!(
            first.fencing_token(),
            None,
            "no fencing token unless asked for"
        );
        assert!(
            ok(lock.try_acquire().await, "try_acquire").is_none(),
            "a held lock must not be acquired by another token"
        );
        expect_kind(
            lock.acquire().await,
            ErrorKind::Conflict,
            "acquire of a held lock",
        );
        assert!(
            ok(first.extend().await, "extend"),
            "the holder extends its lock"
        );
        sleep(PAST_SHORT_TTL).await;
        let second = ok(lock.try_acquire().await, "try_acquire")
            .expect("an expired lock must be free for the next holder");
        assert_ne!(
            first.token(),
            second.token(),
            "every acquire draws a new token"
        );
        assert!(
            !ok(first.extend().await, "extend by a stale token"),
            "a stale holder must not extend the next holder's lock"
        );
        assert!(first.is_lost(), "a failed extension marks the guard lost");
        assert!(
            !ok(first.release().await, "release by a stale token"),
            "a stale holder must not release the next holder's lock"
        );
        assert!(
            ok(lock.try_acquire().await, "try_acquire").is_none(),
            "the next holder still holds it"
        );
        assert!(ok(second.release().await, "release"), "the holder releases");
        let third = ok(lock.try_acquire().await, "try_acquire").expect("a released lock is free");
        drop(third);
    })
    .await;
}

/// Acquiring with a token that already holds the lock (a retry after a lost reply)
/// succeeds and returns the same fencing token; fencing tokens grow with each holder.
pub async fn lock_acquire_is_safe_under_retry(port: Arc<dyn RedisPort>, prefix: &str) {
    scoped(port, prefix, |redis, keys| async move {
        let options = LockOptions::new(Duration::from_secs(10)).fencing(true);
        let lock = case_lock(&redis, &keys, options);
        let first = ok(lock.try_acquire_with_token("request-1").await, "acquire")
            .expect("a free lock is acquired");
        let retried = ok(
            lock.try_acquire_with_token("request-1").await,
            "retried acquire",
        )
        .expect("a retried acquire that finds its own token must count as acquired");
        assert_eq!(
            retried.fencing_token(),
            first.fencing_token(),
            "a retry must not issue a new fencing token"
        );
        assert!(
            ok(lock.try_acquire_with_token("request-2").await, "acquire").is_none(),
            "another token must not acquire it"
        );
        let fence = first.fencing_token().expect("fencing is on");
        assert!(
            ok(retried.release().await, "release"),
            "the holder releases"
        );
        assert!(
            !ok(first.release().await, "release again"),
            "a second release reports that the lock was no longer held"
        );
        let next = ok(lock.acquire().await, "acquire");
        assert_eq!(
            next.fencing_token(),
            Some(fence + 1),
            "the next holder gets the next fencing token"
        );
        assert!(ok(next.release().await, "release"));
    })
    .await;
}

/// Many tasks contending for one lock: exactly one holds it at a time, and the fencing
/// tokens they are given increase strictly in the order they enter.
pub async fn lock_contention_one_holder_at_a_time(port: Arc<dyn RedisPort>, prefix: &str) {
    const TASKS: usize = 8;
    const ROUNDS: usize = 3;
    scoped(port, prefix, |redis, keys| async move {
        let options = LockOptions::new(Duration::from_secs(30))
            .fencing(true)
            .wait(Duration::from_mins(1))
            .retry_delay(Duration::from_millis(5));
        let lock = case_lock(&redis, &keys, options);
        let inside = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let entered = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = JoinSet::new();
        for _ in 0..TASKS {
            let (lock, inside, entered) = (lock.clone(), Arc::clone(&inside), Arc::clone(&entered));
            tasks.spawn(async move {
                for _ in 0..ROUNDS {
                    let guard = ok(lock.acquire().await, "acquire under contention");
                    assert!(
                        !inside.swap(true, std::sync::atomic::Ordering::SeqCst),
                        "two holders inside the critical section at once"
                    );
                    entered
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(guard.fencing_token().expect("fencing is on"));
                    tokio::task::yield_now().await;
                    inside.store(false, std::sync::atomic::Ordering::SeqCst);
                    assert!(ok(guard.release().await, "release"), "the holder releases");
                }
            });
        }
        join_all(tasks).await;
        let entered = entered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        assert_eq!(
            entered.len(),
            TASKS * ROUNDS,
            "every acquisition entered once"
        );
        assert!(
            entered.windows(2).all(|w| w[0] < w[1]),
            "fencing tokens must increase strictly in the order holders enter: {entered:?}"
        );
    })
    .await;
}

/// An automatically extended lock outlives its TTL while held, and is free once released.
pub async fn lock_auto_extension_outlives_the_ttl(port: Arc<dyn RedisPort>, prefix: &str) {
    scoped(port, prefix, |redis, keys| async move {
        let options = LockOptions::new(Duration::from_millis(150))
            .auto_extend(true)
            .wait(Duration::ZERO);
        let lock = case_lock(&redis, &keys, options);
        let guard = ok(lock.acquire().await, "acquire");
        sleep(PAST_SHORT_TTL).await;
        assert!(
            ok(lock.try_acquire().await, "try_acquire").is_none(),
            "an extended lock must still be held after three of its TTLs"
        );
        assert!(!guard.is_lost(), "the extension keeps the guard valid");
        assert!(
            ok(guard.release().await, "release"),
            "released by its holder"
        );
        let next = ok(lock.try_acquire().await, "try_acquire");
        assert!(next.is_some(), "a released lock is free");
    })
    .await;
}

/// A rate limiter for the case, its keys under the case's hash tag.
fn case_limiter(redis: &Arc<dyn RedisPort>, keys: &Keys, limit: RateLimit) -> RateLimiter {
    let limiter = ok(
        RateLimiter::new(Arc::clone(redis), &format!("{{{}}}:rl", keys.prefix), limit),
        "RateLimiter::new",
    );
    for key in ["a", "b"] {
        keys.track(&limiter.redis_key(key));
    }
    limiter
}

/// GCRA: a key at rest spends its burst, then is refused with the time the next request
/// earns back; a refusal counts nothing; keys are independent.
pub async fn rate_limit_burst_then_refusal(port: Arc<dyn RedisPort>, prefix: &str) {
    scoped(port, prefix, |redis, keys| async move {
        // One request a minute, three at once: nothing is earned back during the case.
        let limit = ok(RateLimit::new(1, Duration::from_mins(1)), "limit");
        let limit = ok(limit.with_burst(3), "burst");
        let limiter = case_limiter(&redis, &keys, limit);
        for remaining in [2, 1, 0] {
            let decision = ok(limiter.check("a").await, "check");
            assert!(decision.allowed, "within the burst: {decision:?}");
            assert_eq!(decision.remaining, remaining, "{decision:?}");
            assert_eq!(decision.retry_after, Duration::ZERO);
            assert!(decision.limit == 3 && decision.reset <= Duration::from_mins(3));
        }
        for _ in 0..2 {
            let refused = ok(limiter.check("a").await, "check");
            assert!(!refused.allowed, "past the burst: {refused:?}");
            assert_eq!(refused.remaining, 0);
            assert!(
                refused.retry_after > Duration::from_secs(55)
                    && refused.retry_after <= Duration::from_mins(1),
                "the next request is earned back one emission interval after the first: \
                 {refused:?}"
            );
            assert!(
                refused.reset > Duration::from_mins(2) && refused.reset <= Duration::from_mins(3),
                "the whole burst is back three intervals after the first request: {refused:?}"
            );
        }
        expect_kind(
            limiter.check_n("a", 4).await,
            ErrorKind::InvalidInput,
            "cost over the burst",
        );
        let other = ok(limiter.check_n("b", 3).await, "check_n");
        assert!(
            other.allowed && other.remaining == 0,
            "keys are independent: {other:?}"
        );
        assert!(!ok(limiter.check("b").await, "check").allowed);
    })
    .await;
}

/// GCRA: a refused key is allowed again once its `retry_after` has passed, one request per
/// emission interval.
pub async fn rate_limit_replenishes(port: Arc<dyn RedisPort>, prefix: &str) {
    scoped(port, prefix, |redis, keys| async move {
        // One request per 100 ms, one at a time.
        let limit = ok(RateLimit::new(10, Duration::from_secs(1)), "limit");
        let limiter = case_limiter(&redis, &keys, ok(limit.with_burst(1), "burst"));
        assert!(ok(limiter.check("a").await, "check").allowed);
        let refused = ok(limiter.check("a").await, "check");
        assert!(!refused.allowed, "{refused:?}");
        assert!(
            refused.retry_after > Duration::ZERO
                && refused.retry_after <= Duration::from_millis(100),
            "{refused:?}"
        );
        sleep(refused.retry_after + Duration::from_millis(5)).await;
        let again = ok(limiter.check("a").await, "check");
        assert!(
            again.allowed,
            "allowed once retry_after has passed: {again:?}"
        );
    })
    .await;
}

/// [`RedisPortExt::eval_script`] sends `EVALSHA`, falls back to `EVAL` on `NOSCRIPT`, which
/// loads the script: a later `EVALSHA` finds it. Needs Lua on the server (see
/// [`without_scripting`] for ports without).
pub async fn eval_script_falls_back_to_eval_on_noscript(port: Arc<dyn RedisPort>, prefix: &str) {
    scoped(port, prefix, |redis, keys| async move {
        let k = keys.key("counter");
        // A source no server has seen: the prefix is unique.
        let script = Script::new(format!(
            "-- conformance {prefix}\nreturn redis.call('INCRBY', KEYS[1], ARGV[1])",
            prefix = keys.prefix
        ));
        let evalsha = Command::new("EVALSHA")
            .arg(script.sha1())
            .arg(1)
            .arg(&k)
            .arg(1);
        match redis.command(&evalsha, NonIdempotent).await {
            Err(err) if is_noscript(&err) => {}
            other => panic!("EVALSHA of an unknown script must be NOSCRIPT, got {other:?}"),
        }
        let reply = ok(
            redis
                .eval_script(&script, &[&k], &[b"5".as_slice()], NonIdempotent)
                .await,
            "eval_script of an unknown script",
        );
        assert_eq!(
            reply,
            Reply::Int(5),
            "the fallback EVAL ran the script once"
        );
        assert_eq!(
            ok(redis.command(&evalsha, NonIdempotent).await, "EVALSHA"),
            Reply::Int(6),
            "EVAL loaded the script: EVALSHA finds it"
        );
        let reply = ok(
            redis
                .eval_script(&script, &[&k], &[b"10".as_slice()], NonIdempotent)
                .await,
            "eval_script of a known script",
        );
        assert_eq!(reply, Reply::Int(16));
        let table = Script::new("return {1, 'two', false}");
        assert_eq!(
            ok(
                redis.eval_script(&table, &[], &[], NonIdempotent).await,
                "eval_script returning a table"
            ),
            // Lua's false is a nil reply (RESP2).
            Reply::Array(vec![
                Reply::Int(1),
                Reply::Bulk(b"two".to_vec()),
                Reply::Nil
            ])
        );
    })
    .await;
}

/// The cases that replace the scripting cases on a port declared without Lua
/// (`without_scripting` in [`redis_conformance_tests!`](crate::redis_conformance_tests),
/// or [`redis_cases_without_scripting`](super::redis_cases_without_scripting)): under the
/// same names, they check that scripts are refused explicitly (`InvalidInput`) and change
/// nothing, never answered wrongly. This is the only way a scripting case is skipped.
pub mod without_scripting {
    use super::{
        Arc, Command, ErrorKind, NonIdempotent, RedisPort, RedisPortExt, Script, assert_value, ok,
        scoped,
    };

    /// `eval_script`, `EVAL` and `EVALSHA` are refused as `InvalidInput`, and nothing runs.
    pub async fn eval_script_falls_back_to_eval_on_noscript(
        port: Arc<dyn RedisPort>,
        prefix: &str,
    ) {
        scoped(port, prefix, |redis, keys| async move {
            let k = keys.key("counter");
            let script = Script::new("return redis.call('INCRBY', KEYS[1], ARGV[1])");
            let refused = [
                redis
                    .eval_script(&script, &[&k], &[b"5".as_slice()], NonIdempotent)
                    .await,
                redis
                    .command(
                        &Command::new("EVAL")
                            .arg(script.source())
                            .arg(1)
                            .arg(&k)
                            .arg(5),
                        NonIdempotent,
                    )
                    .await,
            ];
            for result in refused {
                match result {
                    Err(err) => assert_eq!(
                        err.kind(),
                        ErrorKind::InvalidInput,
                        "a port without scripting must refuse scripts as invalid_input, got: {}",
                        err.chain()
                    ),
                    Ok(reply) => panic!(
                        "a port declared without scripting answered a script with {reply:?}: \
                         drop `without_scripting` and run the scripting cases"
                    ),
                }
            }
            assert_value(
                ok(redis.get(&k).await, "get"),
                None,
                "a refused script must change nothing",
            );
        })
        .await;
    }
}
