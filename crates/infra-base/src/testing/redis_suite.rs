//! The Redis conformance cases: one function per behaviour of [`RedisPort`].
//!
//! Every case has the same shape, `async fn case(port: Arc<dyn RedisPort>, prefix: &str)`:
//! the port is an `Arc` because some cases spawn tasks, and the uniform signature lets one
//! table ([`redis_cases`](super::redis_cases)) and one macro
//! ([`redis_conformance_tests!`](crate::redis_conformance_tests)) run them all. A case
//! panics with a message naming the broken rule, and deletes its keys afterwards, even when
//! it fails.
//!
//! Every key a case touches is `{prefix}:name` (see [the prefix rules](super#prefixes)), so
//! the cases run unchanged on a standalone server and on a cluster. Waits for expiry are
//! real time (at most ~0.5 s per case), as real servers do not follow a paused clock.
// Every case panics on a contract violation by design; the module docs say so once.
#![allow(clippy::missing_panics_doc)]

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep, timeout};

use super::{check_prefix, expect_kind, guarded, join_all, ok};
use crate::error::ErrorKind;
use crate::redis::{RedisPort, RedisPortExt, SetOptions};

/// The keys of one case: all share the `{prefix}` hash tag, and all are deleted at the end.
#[derive(Clone)]
struct Keys {
    prefix: Arc<str>,
    used: Arc<Mutex<Vec<String>>>,
}

impl Keys {
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
