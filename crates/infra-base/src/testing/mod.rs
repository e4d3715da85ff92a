//! Conformance suites and in-memory ports (feature `testing`).
//!
//! Every adapter of a port must behave the same way, so the behaviour is written down once,
//! here, as one `async fn` per behaviour (object_store's style), and run against every
//! backend: the in-memory ports of this module, the Redis adapter on a real server
//! (standalone and cluster), the remote Qdrant adapter and the embedded one.
//!
//! - [`MemoryRedis`] and [`MemoryVector`]: faithful in-process implementations of
//!   [`RedisPort`] and [`VectorPort`], for services' tests and to validate the suites;
//! - [`pubsub_suite`]: the cases of [`RedisSubscriber`](crate::RedisSubscriber)'s delivery
//!   contract, run by [`pubsub_conformance_tests!`](crate::pubsub_conformance_tests) on a
//!   port and a subscriber of one deployment;
//! - [`redis_suite`] and [`vector_suite`]: the cases. Each takes the port as
//!   `Arc<dyn …Port>` (some cases spawn tasks) and a unique `prefix`; it panics with a clear
//!   message when the port breaks its contract, and cleans up its keys or collections;
//! - [`redis_conformance_tests!`](crate::redis_conformance_tests) and
//!   [`vector_conformance_tests!`](crate::vector_conformance_tests): generate one `#[test]`
//!   per case in the calling crate;
//! - [`redis_cases`] and [`vector_cases`]: the same cases as a table, with [`run_cases`], for
//!   runners that report by name (`cargo xtask test-integration`);
//!   [`redis_cases_without_scripting`] for a port that cannot run Lua (see
//!   [`for_each_redis_scripting_case!`](crate::for_each_redis_scripting_case));
//! - [`capture_logs`]: the tracing events of the current thread as text, for tests of what
//!   is logged (and that no secret ever is).
//!
//! The list of case names lives in one place, [`for_each_redis_case!`](crate::for_each_redis_case)
//! and [`for_each_vector_case!`](crate::for_each_vector_case); the macros and the tables are
//! derived from it, so they cannot drift apart.
//!
//! # Prefixes
//!
//! A prefix isolates a case from every other case on a shared server. Use
//! [`unique_prefix`]; a hand-made prefix must be non-empty ASCII letters, digits, `_` or
//! `-` (it becomes part of Qdrant collection names), and never contain `{` or `}`: Redis
//! cases build every key as `{prefix}:name`, so that all keys of a case share one hash tag
//! and multi-key commands (`MGET`, `DEL`) stay within one cluster slot.
//!
//! # Real servers
//!
//! The cases hold against real Redis and Qdrant: they wait at most ~0.5 s for a TTL, compare
//! floats with a tolerance, never rely on the order of equal scores, and read exact counts
//! with `count` (Qdrant's `points_count` may lag).

mod logs;
mod macros;
mod memory_redis;
mod memory_vector;
pub mod metrics;
pub mod pubsub_suite;
pub mod redis_suite;
pub mod vector_suite;

use std::any::Any;
use std::fmt::{self, Debug};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

pub use logs::{CapturedLogs, LogCaptureGuard, capture_logs};
pub use memory_redis::MemoryRedis;
pub use memory_vector::MemoryVector;

use crate::error::{ErrorKind, InfraResult};
use crate::redis::RedisPort;
use crate::vector::VectorPort;

/// The boxed future of one case, so cases of different bodies fit in one table.
pub type CaseFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// One conformance case: its name and how to run it on a port with a prefix.
///
/// `P` is the port's trait object (`dyn RedisPort`, `dyn VectorPort`). The future panics
/// when the port breaks its contract.
pub struct ConformanceCase<P: ?Sized> {
    /// The case's name, equal to its function's name in the suite module.
    pub name: &'static str,
    /// Runs the case on a port with a unique prefix (see [`unique_prefix`]).
    pub run: fn(Arc<P>, String) -> CaseFuture,
}

impl<P: ?Sized> Clone for ConformanceCase<P> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<P: ?Sized> Copy for ConformanceCase<P> {}

impl<P: ?Sized> fmt::Debug for ConformanceCase<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConformanceCase")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Builds a case table from a suite module and the case names given by a
/// `for_each_*_case!` macro.
/// `$suite` is a parenthesized module path, `(redis_suite)`, so that it stays one token
/// tree inside the repetition over the cases.
macro_rules! case_table {
    ($suite:tt ; $($case:ident)*) => {
        vec![$( case_entry!($suite $case) ),*]
    };
}

/// One entry of a [`case_table!`].
macro_rules! case_entry {
    (($($suite:ident)::+) $case:ident) => {
        ConformanceCase {
            name: stringify!($case),
            run: |port, prefix| Box::pin(async move { $($suite)::+::$case(port, &prefix).await }),
        }
    };
}

/// Every Redis case, in suite order (the scripting cases last), for runners that report by
/// name.
pub fn redis_cases() -> Vec<ConformanceCase<dyn RedisPort>> {
    let mut cases = crate::for_each_redis_case!(case_table, (redis_suite));
    cases.extend(crate::for_each_redis_scripting_case!(
        case_table,
        (redis_suite)
    ));
    cases
}

/// The Redis cases for a port declared unable to run Lua (the explicit capability flag of
/// the suite, see [`for_each_redis_scripting_case!`](crate::for_each_redis_scripting_case)):
/// as [`redis_cases`], with the scripting cases replaced, under the same names, by checks
/// that scripts are refused ([`redis_suite::without_scripting`]).
pub fn redis_cases_without_scripting() -> Vec<ConformanceCase<dyn RedisPort>> {
    let mut cases = crate::for_each_redis_case!(case_table, (redis_suite));
    cases.extend(crate::for_each_redis_scripting_case!(
        case_table,
        (redis_suite::without_scripting)
    ));
    cases
}

/// Every vector case, in suite order, for runners that report by name.
pub fn vector_cases() -> Vec<ConformanceCase<dyn VectorPort>> {
    crate::for_each_vector_case!(case_table, (vector_suite))
}

/// A fresh prefix (`conf` + a simple UUID v4) that no other test uses, valid both in Redis
/// hash tags and in Qdrant collection names.
pub fn unique_prefix() -> String {
    format!("conf{}", uuid::Uuid::new_v4().simple())
}

/// How long one case may take before the generated test fails instead of hanging.
pub const CASE_TIMEOUT: Duration = Duration::from_mins(2);

/// Runs one case to completion on a fresh multi-threaded runtime (2 workers), failing after
/// [`CASE_TIMEOUT`].
///
/// This is what each test generated by the conformance macros calls, so the calling crate
/// needs no tokio features of its own.
///
/// # Panics
///
/// When the case panics (a contract violation), times out, or the runtime cannot start.
pub fn block_on_case<F: Future<Output = ()>>(case: F) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("the conformance runtime must start");
    runtime.block_on(async {
        let finished = tokio::time::timeout(CASE_TIMEOUT, case).await;
        assert!(
            finished.is_ok(),
            "the conformance case did not finish within {CASE_TIMEOUT:?}"
        );
    });
}

/// The result of one case run by [`run_cases`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseOutcome {
    /// The case's name.
    pub name: &'static str,
    /// How long it ran.
    pub elapsed: Duration,
    /// Why it failed (its panic message, or a timeout), `None` when it passed.
    pub failure: Option<String>,
}

impl CaseOutcome {
    /// Whether the case passed.
    pub fn passed(&self) -> bool {
        self.failure.is_none()
    }
}

/// Runs `cases` one after the other on one shared `port`, each in its own task with a fresh
/// prefix and under `timeout`, and reports every outcome instead of stopping at the first
/// failure.
///
/// Must be called within a tokio runtime. A failing case's panic message is also printed by
/// the panic hook, as usual.
pub async fn run_cases<P>(
    cases: &[ConformanceCase<P>],
    port: &Arc<P>,
    timeout: Duration,
) -> Vec<CaseOutcome>
where
    P: ?Sized + Send + Sync + 'static,
{
    let mut outcomes = Vec::with_capacity(cases.len());
    for case in cases {
        let started = tokio::time::Instant::now();
        let handle = tokio::spawn((case.run)(Arc::clone(port), unique_prefix()));
        let abort = handle.abort_handle();
        let failure = match tokio::time::timeout(timeout, handle).await {
            Ok(Ok(())) => None,
            Ok(Err(err)) if err.is_panic() => Some(panic_message(err.into_panic().as_ref())),
            Ok(Err(err)) => Some(format!("the case's task failed: {err}")),
            Err(_) => {
                abort.abort();
                Some(format!("the case did not finish within {timeout:?}"))
            }
        };
        outcomes.push(CaseOutcome {
            name: case.name,
            elapsed: started.elapsed(),
            failure,
        });
    }
    outcomes
}

/// The text of a panic payload (`panic!` gives a `&str` or a `String`).
fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "the case panicked with a non-text payload".to_owned()
    }
}

/// Runs a case body in its own task, then `cleanup` (bounded), then re-raises the body's
/// panic: cases clean up after themselves even when they fail.
async fn guarded<B, C>(body: B, cleanup: C)
where
    B: Future<Output = ()> + Send + 'static,
    C: Future<Output = ()>,
{
    let outcome = tokio::spawn(body).await;
    // Cleanup is best effort: a hung backend must not hang the case.
    let _ = tokio::time::timeout(Duration::from_secs(10), cleanup).await;
    if let Err(err) = outcome {
        if err.is_panic() {
            std::panic::resume_unwind(err.into_panic());
        }
        panic!("the case's task was cancelled: {err}");
    }
}

/// Unwraps a port call's result, failing the case with the error's kind and chain.
#[track_caller]
fn ok<T>(result: InfraResult<T>, what: &str) -> T {
    match result {
        Ok(value) => value,
        Err(err) => panic!(
            "{what}: expected success, got a {} error: {}",
            err.kind(),
            err.chain()
        ),
    }
}

/// Fails the case unless the call failed with an error of `kind`.
#[track_caller]
fn expect_kind<T: Debug>(result: InfraResult<T>, kind: ErrorKind, what: &str) {
    match result {
        Ok(value) => panic!("{what}: expected a {kind} error, got Ok({value:?})"),
        Err(err) => assert_eq!(
            err.kind(),
            kind,
            "{what}: expected a {kind} error, got: {}",
            err.chain()
        ),
    }
}

/// Waits for every task, re-raising the first panic (with its message) after all finished.
async fn join_all(mut tasks: tokio::task::JoinSet<()>) {
    let mut first_panic = None;
    while let Some(joined) = tasks.join_next().await {
        if let Err(err) = joined {
            if err.is_panic() {
                first_panic.get_or_insert(err.into_panic());
            } else {
                panic!("a case's task was cancelled: {err}");
            }
        }
    }
    if let Some(payload) = first_panic {
        std::panic::resume_unwind(payload);
    }
}

/// Checks a caller-supplied prefix (see the module docs).
fn check_prefix(prefix: &str) {
    assert!(
        !prefix.is_empty()
            && prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-')),
        "conformance prefix {prefix:?} must be non-empty ASCII letters, digits, '_' or '-' \
         (no braces: it is used as a Redis hash tag and in collection names)"
    );
}

#[cfg(test)]
mod tests;
