//! [`RedisLock`]: a lease on a single Redis primary, with a random token, compare-and-delete
//! release, compare-and-expire extension, optional automatic extension and optional fencing
//! tokens. Every step is one Lua script, so one round trip.
//!
//! # Contract
//!
//! What a lock of this module guarantees, as long as the Redis primary that holds it keeps
//! running and keeps its data:
//!
//! - **Mutual exclusion for the lease.** At most one token holds the lock key at a time. A
//!   holder keeps it until it releases it or its TTL passes without an extension; nobody
//!   else can release or extend it (both compare the token first, in one script).
//! - **Acquire is safe under retry.** The acquire script sets the key when it is absent
//!   *or answers "acquired" when it already holds the caller's own token*. A reply lost on
//!   the network (a timeout after the server applied the `SET`) is therefore retried by
//!   the resilience layer, and the retry finds its own token and counts as acquired
//!   instead of reporting "held by someone else" and leaving a lock nobody owns until it
//!   expires. Release and extension are idempotent too.
//! - **Fencing tokens** (with [`LockOptions::fencing`]): every successful acquisition
//!   increments a counter in a companion key (`INCR`, in the same script) and returns its
//!   value; a retried acquire returns the same value. Tokens increase strictly from one
//!   holder to the next.
//! - **A bounded wait.** [`RedisLock::acquire`] tries until [`LockOptions::wait`] has
//!   passed, sleeping a jittered [`LockOptions::retry_delay`] (never longer than the
//!   holder's remaining TTL) between attempts, then fails as
//!   [`Conflict`](crate::ErrorKind::Conflict) with the holder's remaining TTL as
//!   `retry_after`.
//!
//! What it does **not** guarantee:
//!
//! - **Nothing across a failover.** Redis replicates asynchronously: a lock written to a
//!   primary that fails before the write reached a replica does not exist on the promoted
//!   replica, and a second client can acquire it while the first still believes it holds
//!   it. The same goes for a primary restarted without persistence, and for the fencing
//!   counter (a replica may lack its last increments). This is a single-primary lock
//!   (not Redlock); use it for efficiency (avoiding duplicate work), never alone for
//!   correctness across failures.
//! - **Nothing about the holder's own pace.** A lease expires on the server's clock. A
//!   holder paused longer than the TTL (a GC pause, a stalled VM, a slow network) may
//!   still be running its critical section after the lock passed to someone else.
//!   [`LockGuard::valid_until`] is a conservative local estimate of the lease's end (counted
//!   from before the acquire was sent), not a promise.
//! - **Nothing for writes elsewhere, unless fenced.** When the critical section writes to
//!   another system (a database, a file store), pass [`LockGuard::fencing_token`] along and
//!   have that system refuse a write whose token is lower than the highest it has seen.
//!   That is what makes the two cases above safe: a stale holder's late write is refused.
//!
//! # Keys and clusters
//!
//! A lock named `name` uses the key `lock:{name}` and, with fencing, `lock:{name}:fence`.
//! The braces are a cluster hash tag: both keys of the acquire script hash to one slot, as
//! Redis Cluster requires of a script's keys. Names are therefore refused when they
//! contain `{` or `}` (which would change the hash tag). The fencing counter has no TTL, so
//! it stays in Redis after the lock is gone: fencing is off by default, and a service that
//! creates locks per entity should only turn it on where a fenced write exists.
//!
//! ```
//! # #[cfg(feature = "testing")]
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use std::sync::Arc;
//! use std::time::Duration;
//! use infra_base::RedisPort;
//! use infra_base::redis::lock::{LockOptions, RedisLock};
//! use infra_base::testing::MemoryRedis;
//!
//! let redis: Arc<dyn RedisPort> = Arc::new(MemoryRedis::new());
//! let options = LockOptions::new(Duration::from_secs(10)).fencing(true);
//! let lock = RedisLock::new(Arc::clone(&redis), "invoice:42", options)?;
//!
//! let guard = lock.acquire().await?;
//! assert_eq!(guard.fencing_token(), Some(1));
//! assert!(lock.try_acquire().await?.is_none(), "held");
//! assert!(guard.release().await?);
//! assert_eq!(lock.acquire().await?.fencing_token(), Some(2));
//! # Ok::<(), infra_base::InfraError>(())
//! # }).unwrap();
//! ```

use std::fmt;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{REDIS_BACKEND, RedisPort, RedisPortExt, Reply, Script};
use crate::error::{ErrorKind, InfraError, InfraResult};
use crate::resilience::Idempotency;

/// Acquires the lock, or finds it already held by the caller's own token (a retry).
///
/// `KEYS[1]` the lock, `KEYS[2]` the fencing counter; `ARGV[1]` the token, `ARGV[2]` the
/// TTL in milliseconds, `ARGV[3]` `1` to issue a fencing token. Answers `{1, fence}` when
/// acquired (`fence` 0 without fencing) and `{0, pttl}` when held by another token.
pub(crate) static ACQUIRE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"-- infra-base lock: acquire
local held = redis.call('GET', KEYS[1])
if held and held ~= ARGV[1] then
  return {0, redis.call('PTTL', KEYS[1])}
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
local fence = 0
if ARGV[3] == '1' then
  if held then
    fence = tonumber(redis.call('GET', KEYS[2]) or '0')
  end
  if fence == 0 then
    fence = redis.call('INCR', KEYS[2])
  end
end
return {1, fence}
",
    )
});

/// Deletes the lock only if it holds `ARGV[1]`; answers 1 when it did.
pub(crate) static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"-- infra-base lock: release
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
",
    )
});

/// Sets the lock's TTL to `ARGV[2]` ms only if it holds `ARGV[1]`; answers 1 when it did.
pub(crate) static EXTEND: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"-- infra-base lock: extend
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
",
    )
});

/// The longest lock name and token accepted, in bytes.
pub const MAX_NAME_LEN: usize = 256;

/// How a [`RedisLock`] is held and waited for.
///
/// ```
/// use std::time::Duration;
/// use infra_base::redis::lock::LockOptions;
///
/// let options = LockOptions::new(Duration::from_secs(30))
///     .wait(Duration::from_secs(2))
///     .auto_extend(true);
/// assert_eq!(options.ttl_value(), Duration::from_secs(30));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockOptions {
    ttl: Duration,
    wait: Duration,
    retry_delay: Duration,
    auto_extend: bool,
    fencing: bool,
}

impl Default for LockOptions {
    /// A 30 s lease, waited for at most 5 s, retried about every 50 ms, without automatic
    /// extension or fencing.
    fn default() -> Self {
        Self::new(Duration::from_secs(30))
    }
}

impl LockOptions {
    /// A lease of `ttl` (rounded up to whole milliseconds), with the defaults otherwise.
    pub const fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            wait: Duration::from_secs(5),
            retry_delay: Duration::from_millis(50),
            auto_extend: false,
            fencing: false,
        }
    }

    /// How long [`RedisLock::acquire`] keeps trying; zero tries once.
    #[must_use]
    pub const fn wait(mut self, wait: Duration) -> Self {
        self.wait = wait;
        self
    }

    /// The mean delay between two attempts while waiting; each delay is drawn uniformly
    /// from half to one and a half times it (jitter), so that waiters do not retry in
    /// lockstep.
    #[must_use]
    pub const fn retry_delay(mut self, delay: Duration) -> Self {
        self.retry_delay = delay;
        self
    }

    /// Whether a held lock is extended in the background (every third of its TTL) until it
    /// is released or dropped.
    #[must_use]
    pub const fn auto_extend(mut self, enabled: bool) -> Self {
        self.auto_extend = enabled;
        self
    }

    /// Whether each acquisition issues a fencing token (see the [module docs](self)).
    #[must_use]
    pub const fn fencing(mut self, enabled: bool) -> Self {
        self.fencing = enabled;
        self
    }

    /// The lease's TTL.
    pub const fn ttl_value(&self) -> Duration {
        self.ttl
    }

    /// How long an acquire waits.
    pub const fn wait_value(&self) -> Duration {
        self.wait
    }

    /// Whether the lease is extended in the background.
    pub const fn auto_extends(&self) -> bool {
        self.auto_extend
    }

    /// Whether fencing tokens are issued.
    pub const fn fences(&self) -> bool {
        self.fencing
    }

    fn validate(&self) -> InfraResult<()> {
        if self.ttl < Duration::from_millis(1) || self.ttl > Duration::from_hours(24 * 365) {
            return Err(invalid(format!(
                "lock ttl must be between 1ms and 365 days, got {}",
                humantime::format_duration(self.ttl)
            )));
        }
        if self.auto_extend && self.ttl < Duration::from_millis(30) {
            return Err(invalid(
                "an automatically extended lock needs a ttl of at least 30ms (it is extended \
                 every third of it)",
            ));
        }
        if self.wait > Duration::from_hours(24) {
            return Err(invalid(format!(
                "lock wait must be at most 24h, got {}",
                humantime::format_duration(self.wait)
            )));
        }
        if !self.wait.is_zero()
            && (self.retry_delay.is_zero() || self.retry_delay > Duration::from_hours(1))
        {
            return Err(invalid(format!(
                "lock retry_delay must be between 1ns and 1h when wait is not zero, got {}",
                humantime::format_duration(self.retry_delay)
            )));
        }
        Ok(())
    }
}

fn invalid(message: impl Into<String>) -> InfraError {
    InfraError::new(ErrorKind::InvalidInput, REDIS_BACKEND, "lock", message)
}

/// Whole milliseconds, rounded up (the port's TTL precision).
fn millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX)
}

/// A named lock on Redis; see the [module docs](self) for its contract.
///
/// Cheap to clone (the port is shared); each [`acquire`](Self::acquire) that succeeds gives
/// a [`LockGuard`] with its own random token.
#[derive(Clone)]
pub struct RedisLock {
    port: Arc<dyn RedisPort>,
    key: Arc<str>,
    fence_key: Arc<str>,
    options: LockOptions,
}

impl fmt::Debug for RedisLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisLock")
            .field("key", &self.key)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// What one acquire attempt found.
enum Attempt {
    Acquired(LockGuard),
    /// Held by another token, which expires after this long (`None`: no expiry reported).
    Held(Option<Duration>),
}

impl RedisLock {
    /// A lock named `name` on `port`.
    ///
    /// # Errors
    ///
    /// [`InvalidInput`](ErrorKind::InvalidInput) when the name is empty, longer than
    /// [`MAX_NAME_LEN`] bytes or contains `{` or `}`, or when the options are out of range
    /// (a TTL under 1 ms, a zero retry delay with a non-zero wait, ...).
    pub fn new(port: Arc<dyn RedisPort>, name: &str, options: LockOptions) -> InfraResult<Self> {
        if name.is_empty() || name.len() > MAX_NAME_LEN {
            return Err(invalid(format!(
                "a lock name must be 1 to {MAX_NAME_LEN} bytes long"
            )));
        }
        if name.contains(['{', '}']) {
            return Err(invalid(
                "a lock name must not contain '{' or '}': the lock's keys put it in a cluster \
                 hash tag (lock:{name})",
            ));
        }
        options.validate()?;
        Ok(Self {
            port,
            key: format!("lock:{{{name}}}").into(),
            fence_key: format!("lock:{{{name}}}:fence").into(),
            options,
        })
    }

    /// The lock's key, `lock:{name}`.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The fencing counter's key, `lock:{name}:fence` (used only with fencing).
    pub fn fence_key(&self) -> &str {
        &self.fence_key
    }

    /// The options it was built with.
    pub fn options(&self) -> &LockOptions {
        &self.options
    }

    /// Tries once with a fresh random token: the guard, or `None` when another token holds
    /// the lock.
    ///
    /// # Errors
    ///
    /// The port's errors (`Unavailable`, `Timeout`, ...), after the resilience layer's
    /// retries: acquiring is retried like an idempotent call, since a retry that finds its
    /// own token counts as acquired.
    pub async fn try_acquire(&self) -> InfraResult<Option<LockGuard>> {
        self.try_acquire_with_token(&new_token()).await
    }

    /// Tries once with the caller's `token`: for a caller that must recognise its own
    /// lock after a retry of its own (a request id, a job id), since acquiring with a
    /// token that already holds the lock succeeds and renews the lease.
    ///
    /// # Errors
    ///
    /// As [`try_acquire`](Self::try_acquire); an empty token, or one longer than
    /// [`MAX_NAME_LEN`] bytes, is [`InvalidInput`](ErrorKind::InvalidInput).
    pub async fn try_acquire_with_token(&self, token: &str) -> InfraResult<Option<LockGuard>> {
        check_token(token)?;
        match self.attempt(token).await? {
            Attempt::Acquired(guard) => Ok(Some(guard)),
            Attempt::Held(_) => Ok(None),
        }
    }

    /// Acquires with a fresh random token, trying until [`LockOptions::wait`] has passed.
    ///
    /// # Errors
    ///
    /// [`Conflict`](ErrorKind::Conflict) when another token still held the lock at the end
    /// of the wait (with the holder's remaining TTL as
    /// [`retry_after`](InfraError::retry_after)); the port's errors as soon as an attempt
    /// fails (a Redis outage is not waited out here).
    pub async fn acquire(&self) -> InfraResult<LockGuard> {
        self.acquire_with_token(&new_token()).await
    }

    /// [`acquire`](Self::acquire) with the caller's token (see
    /// [`try_acquire_with_token`](Self::try_acquire_with_token)).
    ///
    /// # Errors
    ///
    /// As [`acquire`](Self::acquire) and
    /// [`try_acquire_with_token`](Self::try_acquire_with_token).
    pub async fn acquire_with_token(&self, token: &str) -> InfraResult<LockGuard> {
        check_token(token)?;
        let deadline = Instant::now() + self.options.wait;
        loop {
            let holder_ttl = match self.attempt(token).await? {
                Attempt::Acquired(guard) => return Ok(guard),
                Attempt::Held(ttl) => ttl,
            };
            let now = Instant::now();
            if now >= deadline {
                let mut err = InfraError::new(
                    ErrorKind::Conflict,
                    REDIS_BACKEND,
                    "lock",
                    format!(
                        "the lock is held by another owner: not acquired within {}",
                        humantime::format_duration(self.options.wait)
                    ),
                );
                if let Some(ttl) = holder_ttl {
                    err = err.with_retry_after(ttl);
                }
                return Err(err);
            }
            let mut delay = jittered(self.options.retry_delay).min(deadline - now);
            if let Some(ttl) = holder_ttl {
                // No point sleeping past the holder's expiry.
                delay = delay.min(ttl.max(Duration::from_millis(1)));
            }
            tokio::time::sleep(delay).await;
        }
    }

    async fn attempt(&self, token: &str) -> InfraResult<Attempt> {
        let ttl_ms = millis(self.options.ttl);
        let started = Instant::now();
        let reply = self
            .port
            .eval_script(
                &ACQUIRE,
                &[&self.key, &self.fence_key],
                &[
                    token.as_bytes(),
                    ttl_ms.to_string().as_bytes(),
                    if self.options.fencing { b"1" } else { b"0" },
                ],
                // Safe to repeat: a retry that finds its own token counts as acquired.
                Idempotency::Idempotent,
            )
            .await
            .map_err(|e| e.with_operation("lock"))?;
        let (acquired, value) = pair(reply)?;
        if !acquired {
            let ttl = u64::try_from(value).ok().map(Duration::from_millis);
            return Ok(Attempt::Held(ttl));
        }
        let fencing_token = if self.options.fencing {
            Some(u64::try_from(value).map_err(|_| unexpected("a fencing token"))?)
        } else {
            None
        };
        Ok(Attempt::Acquired(LockGuard::new(
            self,
            token,
            fencing_token,
            started + Duration::from_millis(ttl_ms),
        )))
    }
}

/// A fresh random token: 122 random bits (a UUID v4) as 32 hex digits.
fn new_token() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn check_token(token: &str) -> InfraResult<()> {
    if token.is_empty() || token.len() > MAX_NAME_LEN {
        return Err(invalid(format!(
            "a lock token must be 1 to {MAX_NAME_LEN} bytes long"
        )));
    }
    Ok(())
}

/// `delay` times a uniform factor in [0.5, 1.5).
fn jittered(delay: Duration) -> Duration {
    delay.mul_f64(0.5 + fastrand::f64())
}

fn unexpected(what: &str) -> InfraError {
    InfraError::new(
        ErrorKind::Internal,
        REDIS_BACKEND,
        "lock",
        format!("unexpected reply of the lock script: expected {what}"),
    )
}

/// The `{flag, value}` reply of the acquire script.
fn pair(reply: Reply) -> InfraResult<(bool, i64)> {
    let items = reply.into_array()?;
    match items.as_slice() {
        [flag, value] => Ok((flag.as_int()? == 1, value.as_int()?)),
        _ => Err(unexpected("two integers")),
    }
}

/// What a guard and its extension task share.
struct Held {
    port: Arc<dyn RedisPort>,
    key: Arc<str>,
    token: String,
    ttl: Duration,
    state: Mutex<HeldState>,
    lost: watch::Sender<bool>,
}

struct HeldState {
    valid_until: Instant,
    released: bool,
}

impl Held {
    fn state(&self) -> std::sync::MutexGuard<'_, HeldState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs the extend script: `true` while the lock still holds our token.
    async fn extend(&self) -> InfraResult<bool> {
        let ttl_ms = millis(self.ttl);
        let started = Instant::now();
        let reply = self
            .port
            .eval_script(
                &EXTEND,
                &[&self.key],
                &[self.token.as_bytes(), ttl_ms.to_string().as_bytes()],
                Idempotency::Idempotent,
            )
            .await
            .map_err(|e| e.with_operation("lock_extend"))?;
        let extended = reply.as_int()? == 1;
        if extended {
            self.state().valid_until = started + Duration::from_millis(ttl_ms);
        } else {
            self.lost.send_replace(true);
        }
        Ok(extended)
    }

    async fn release(&self) -> InfraResult<bool> {
        let reply = self
            .port
            .eval_script(
                &RELEASE,
                &[&self.key],
                &[self.token.as_bytes()],
                Idempotency::Idempotent,
            )
            .await
            .map_err(|e| e.with_operation("lock_release"))?;
        Ok(reply.as_int()? == 1)
    }
}

/// A held lock: its token, fencing token and lease.
///
/// Release it with [`release`](Self::release). Dropping it stops the automatic extension
/// and, inside a tokio runtime, releases the lock in a background task (best effort,
/// compare-and-delete, so it never deletes someone else's lock); outside one the lock
/// expires at its TTL.
pub struct LockGuard {
    held: Arc<Held>,
    fencing_token: Option<u64>,
    extender: Option<JoinHandle<()>>,
}

impl fmt::Debug for LockGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockGuard")
            .field("key", &self.held.key)
            .field("fencing_token", &self.fencing_token)
            .field("lost", &self.is_lost())
            .finish_non_exhaustive()
    }
}

impl LockGuard {
    fn new(
        lock: &RedisLock,
        token: &str,
        fencing_token: Option<u64>,
        valid_until: Instant,
    ) -> Self {
        let held = Arc::new(Held {
            port: Arc::clone(&lock.port),
            key: Arc::clone(&lock.key),
            token: token.to_owned(),
            ttl: lock.options.ttl,
            state: Mutex::new(HeldState {
                valid_until,
                released: false,
            }),
            lost: watch::Sender::new(false),
        });
        let extender = lock
            .options
            .auto_extend
            .then(|| tokio::spawn(extend_while_held(Arc::clone(&held))));
        Self {
            held,
            fencing_token,
            extender,
        }
    }

    /// The random (or caller-given) token the lock holds.
    pub fn token(&self) -> &str {
        &self.held.token
    }

    /// The lock's key.
    pub fn key(&self) -> &str {
        &self.held.key
    }

    /// The fencing token of this acquisition (with [`LockOptions::fencing`]): pass it to
    /// any system the critical section writes to, which refuses tokens lower than the
    /// highest it has seen.
    pub fn fencing_token(&self) -> Option<u64> {
        self.fencing_token
    }

    /// A conservative local estimate of when the lease ends: the TTL counted from before
    /// the last successful acquire or extension was sent. See the [module docs](self) for
    /// why this is an estimate.
    pub fn valid_until(&self) -> Instant {
        self.held.state().valid_until
    }

    /// Whether the lock is known lost: an extension found another token (or none), or the
    /// lease's estimated end has passed without a successful extension.
    pub fn is_lost(&self) -> bool {
        *self.held.lost.borrow() || Instant::now() >= self.valid_until()
    }

    /// Completes when an extension (automatic or [`extend`](Self::extend)) finds the lock
    /// lost, or when automatic extension could not renew the lease before it ended. Select
    /// on it beside the critical section to stop work that is no longer protected.
    pub async fn lost(&self) {
        let mut rx = self.held.lost.subscribe();
        // The sender lives as long as `self`, so the wait only ends with a loss.
        let _ = rx.wait_for(|lost| *lost).await;
    }

    /// Renews the lease to the full TTL: `true` while the lock still held this guard's
    /// token, `false` when it was lost (expired, or taken by someone else).
    ///
    /// # Errors
    ///
    /// The port's errors; the lease is then unchanged.
    pub async fn extend(&self) -> InfraResult<bool> {
        self.held.extend().await
    }

    /// Releases the lock: `true` when it still held this guard's token and is now deleted,
    /// `false` when it had already expired or passed to someone else (or a first attempt,
    /// whose reply was lost, already deleted it).
    ///
    /// # Errors
    ///
    /// The port's errors; the lock then expires at its TTL.
    pub async fn release(mut self) -> InfraResult<bool> {
        if let Some(task) = self.extender.take() {
            task.abort();
        }
        self.held.state().released = true;
        self.held.release().await
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if let Some(task) = self.extender.take() {
            task.abort();
        }
        let released = std::mem::replace(&mut self.held.state().released, true);
        if released {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let held = Arc::clone(&self.held);
            runtime.spawn(async move {
                if let Err(err) = held.release().await {
                    tracing::debug!(error = %err, "releasing a dropped lock guard failed; the lock expires at its ttl");
                }
            });
        }
    }
}

/// The automatic extension: renews the lease every third of its TTL; on an error, tries
/// again sooner until the lease's estimated end, then reports the lock lost.
async fn extend_while_held(held: Arc<Held>) {
    let period = held.ttl / 3;
    let mut delay = period;
    loop {
        tokio::time::sleep(delay).await;
        match held.extend().await {
            Ok(true) => delay = period,
            Ok(false) => {
                tracing::warn!("lock lost: an extension found it expired or held by another owner");
                return;
            }
            Err(err) => {
                let valid_until = held.state().valid_until;
                if Instant::now() >= valid_until {
                    tracing::warn!(error = %err, "lock lost: it could not be extended before its lease ended");
                    held.lost.send_replace(true);
                    return;
                }
                tracing::debug!(error = %err, "extending a lock failed; trying again");
                delay = (period / 4).min(valid_until - Instant::now());
            }
        }
    }
}
