//! [`RateLimiter`]: the generic cell rate algorithm (GCRA) in one Lua script, so one round
//! trip per check, on the server's clock.
//!
//! # The algorithm
//!
//! A [`RateLimit`] allows `rate` requests per `period` with a `burst`: the emission
//! interval is `T = period / rate`, and a key at rest may spend `burst` requests at once,
//! after which it earns one request back every `T`. The state is one number per key, the
//! *theoretical arrival time* (TAT) of the next request, in microseconds: a request is
//! allowed when `max(TAT, now) + T - burst * T <= now`, and then moves the TAT to
//! `max(TAT, now) + T`. The key expires when its TAT passes, when it would be equivalent to
//! a missing key, so idle clients cost no memory.
//!
//! `now` is the Redis server's clock (`TIME`, read inside the script): the clients' clocks
//! never enter the decision, so instances with skewed clocks share one limit correctly.
//! Redis 5 or later replicates a script's effects (the `SET`), not the script, so reading
//! the clock before writing is allowed.
//!
//! # Contract
//!
//! - A check is atomic: concurrent checks of one key from any number of instances never
//!   allow more than the limit (Redis runs one script at a time).
//! - A refused check changes nothing; [`RateLimitDecision::retry_after`] is exactly when
//!   the same check would be allowed (if nothing else is allowed meanwhile).
//! - A check is not idempotent: a retried check after a lost reply would count twice, so
//!   the resilience layer never retries it. Its errors are the port's; what to do when
//!   Redis is down (let requests through or refuse them) is the caller's policy.
//! - Each key is one Redis key, `{namespace}:{key}`: keys are independent, and any cluster
//!   slot works.
//! - Like every Redis primitive here, the state lives on one primary: a failover may lose
//!   recent decisions (clients get some requests back), never refuse more than allowed.
//!
//! # Why a script and not a crate
//!
//! The GCRA maths is a few lines; what matters is where it runs. Rust crates that
//! implement it (`governor`) keep the state in process memory and update it with an atomic
//! compare-and-swap: moved to Redis that becomes a read, a computation on the client's
//! clock and a conditional write, at least two round trips and retries under contention.
//! The Redis module that implements it (`redis-cell`'s `CL.THROTTLE`) needs the module
//! loaded on the server, which managed Redis services do not allow. The script needs
//! neither, and reads the server's clock.
//!
//! ```
//! # #[cfg(feature = "testing")]
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use std::sync::Arc;
//! use std::time::Duration;
//! use infra_base::RedisPort;
//! use infra_base::redis::rate_limit::{RateLimit, RateLimiter};
//! use infra_base::testing::MemoryRedis;
//!
//! let redis: Arc<dyn RedisPort> = Arc::new(MemoryRedis::new());
//! let limit = RateLimit::new(10, Duration::from_secs(1))?.with_burst(2)?;
//! let limiter = RateLimiter::new(redis, "api", limit)?;
//!
//! assert!(limiter.check("alice").await?.allowed);
//! assert!(limiter.check("alice").await?.allowed);
//! let refused = limiter.check("alice").await?;
//! assert!(!refused.allowed);
//! assert!(refused.retry_after <= Duration::from_millis(100));
//! assert!(limiter.check("bob").await?.allowed, "keys are independent");
//! # Ok::<(), infra_base::InfraError>(())
//! # }).unwrap();
//! ```

use std::fmt;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use super::{REDIS_BACKEND, RedisPort, RedisPortExt, Reply, Script};
use crate::error::{ErrorKind, InfraError, InfraResult};
use crate::resilience::Idempotency;

/// One GCRA check. `KEYS[1]` the key; `ARGV[1]` the emission interval in µs, `ARGV[2]` the
/// burst tolerance (`burst * interval`) in µs, `ARGV[3]` the cost. Answers
/// `{allowed, remaining, retry_after_us, reset_us}`.
pub(crate) static GCRA: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"-- infra-base rate limit: GCRA
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then
  tat = now
end
local new_tat = tat + interval * cost
local allow_at = new_tat - tolerance
if allow_at > now then
  local remaining = math.floor((now - (tat - tolerance)) / interval)
  if remaining < 0 then
    remaining = 0
  end
  return {0, remaining, allow_at - now, tat - now}
end
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.ceil((new_tat - now) / 1000))
return {1, math.floor((now - allow_at) / interval), 0, new_tat - now}
",
    )
});

/// The largest burst tolerance (`burst * period / rate`) accepted, in microseconds: about
/// 35 years, far inside the 2^53 that Lua's numbers hold exactly.
const MAX_TOLERANCE_MICROS: u128 = 1 << 50;

fn invalid(message: impl Into<String>) -> InfraError {
    InfraError::new(
        ErrorKind::InvalidInput,
        REDIS_BACKEND,
        "rate_limit",
        message,
    )
}

/// A rate: `rate` requests per `period`, with up to `burst` at once (see the
/// [module docs](self)).
///
/// ```
/// use std::time::Duration;
/// use infra_base::redis::rate_limit::RateLimit;
///
/// let limit = RateLimit::new(100, Duration::from_mins(1))?;
/// assert_eq!(limit.burst(), 100, "the burst defaults to the rate");
/// assert_eq!(limit.emission_interval(), Duration::from_millis(600));
/// assert!(RateLimit::new(0, Duration::from_secs(1)).is_err());
/// # Ok::<(), infra_base::InfraError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    rate: u32,
    period: Duration,
    burst: u32,
    interval_micros: u64,
}

impl RateLimit {
    /// `rate` requests per `period`, with a burst of `rate`.
    ///
    /// # Errors
    ///
    /// [`InvalidInput`](ErrorKind::InvalidInput) when `rate` is zero, or `period / rate`
    /// is shorter than one microsecond (the algorithm's precision) or the window is longer
    /// than about 35 years.
    pub fn new(rate: u32, period: Duration) -> InfraResult<Self> {
        if rate == 0 {
            return Err(invalid("a rate limit's rate must be at least 1"));
        }
        let interval = period.as_micros() / u128::from(rate);
        if interval == 0 {
            return Err(invalid(format!(
                "a rate limit allows at most one request per microsecond: {rate} per {} is \
                 more",
                humantime::format_duration(period)
            )));
        }
        let interval_micros = u64::try_from(interval)
            .ok()
            .filter(|_| interval * u128::from(rate) <= MAX_TOLERANCE_MICROS)
            .ok_or_else(|| invalid("a rate limit's period must be at most about 35 years"))?;
        Ok(Self {
            rate,
            period,
            burst: rate,
            interval_micros,
        })
    }

    /// The same rate with `burst` requests allowed at once.
    ///
    /// # Errors
    ///
    /// [`InvalidInput`](ErrorKind::InvalidInput) when `burst` is zero or `burst * period /
    /// rate` is longer than about 35 years.
    pub fn with_burst(mut self, burst: u32) -> InfraResult<Self> {
        if burst == 0 {
            return Err(invalid("a rate limit's burst must be at least 1"));
        }
        if u128::from(self.interval_micros) * u128::from(burst) > MAX_TOLERANCE_MICROS {
            return Err(invalid(
                "a rate limit's burst times its emission interval must be at most about 35 years",
            ));
        }
        self.burst = burst;
        Ok(self)
    }

    /// Requests per [`period`](Self::period).
    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// The period of the rate.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// Requests allowed at once by a key at rest.
    pub fn burst(&self) -> u32 {
        self.burst
    }

    /// The time one request earns back, `period / rate`, with microsecond precision.
    pub fn emission_interval(&self) -> Duration {
        Duration::from_micros(self.interval_micros)
    }

    /// The time a fully spent key takes to earn its whole burst back, `burst * period /
    /// rate`: the window of a `RateLimit-Policy` header whose quota is the burst.
    pub fn window(&self) -> Duration {
        self.emission_interval() * self.burst
    }
}

/// The answer of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitDecision {
    /// Whether the request may proceed (and was counted).
    pub allowed: bool,
    /// The limit's burst: the quota of a key at rest.
    pub limit: u32,
    /// How many more requests of cost 1 would be allowed right now.
    pub remaining: u64,
    /// When refused, how long until the same check would be allowed; zero when allowed.
    pub retry_after: Duration,
    /// How long until the key is back at rest (its whole burst available).
    pub reset: Duration,
}

/// A GCRA rate limiter over a [`RedisPort`]; see the [module docs](self).
#[derive(Clone)]
pub struct RateLimiter {
    port: Arc<dyn RedisPort>,
    namespace: Arc<str>,
    limit: RateLimit,
}

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("namespace", &self.namespace)
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

impl RateLimiter {
    /// A limiter of `limit` whose keys are `{namespace}:{key}`.
    ///
    /// # Errors
    ///
    /// [`InvalidInput`](ErrorKind::InvalidInput) when `namespace` is empty.
    pub fn new(port: Arc<dyn RedisPort>, namespace: &str, limit: RateLimit) -> InfraResult<Self> {
        if namespace.is_empty() {
            return Err(invalid("a rate limiter's namespace must not be empty"));
        }
        Ok(Self {
            port,
            namespace: namespace.into(),
            limit,
        })
    }

    /// The limit it applies.
    pub fn limit(&self) -> &RateLimit {
        &self.limit
    }

    /// The Redis key that holds `key`'s state.
    pub fn redis_key(&self, key: &str) -> String {
        format!("{}:{key}", self.namespace)
    }

    /// Counts one request of `key`: allowed, or refused with when to retry.
    ///
    /// # Errors
    ///
    /// The port's errors (never retried: see the [module docs](self)).
    pub async fn check(&self, key: &str) -> InfraResult<RateLimitDecision> {
        self.check_n(key, 1).await
    }

    /// Counts a request that costs `cost` units (a batch of `cost` items): allowed only when
    /// all of them are.
    ///
    /// # Errors
    ///
    /// [`InvalidInput`](ErrorKind::InvalidInput) when `cost` is zero or larger than the
    /// burst (it could never be allowed); the port's errors otherwise.
    pub async fn check_n(&self, key: &str, cost: u32) -> InfraResult<RateLimitDecision> {
        if cost == 0 || cost > self.limit.burst {
            return Err(invalid(format!(
                "a rate-limit check must cost 1 to the burst ({}), got {cost}",
                self.limit.burst
            )));
        }
        let interval = self.limit.interval_micros;
        let tolerance = interval * u64::from(self.limit.burst);
        let reply = self
            .port
            .eval_script(
                &GCRA,
                &[&self.redis_key(key)],
                &[
                    interval.to_string().as_bytes(),
                    tolerance.to_string().as_bytes(),
                    cost.to_string().as_bytes(),
                ],
                Idempotency::NonIdempotent,
            )
            .await
            .map_err(|e| e.with_operation("rate_limit"))?;
        decision(reply, self.limit.burst)
    }
}

fn decision(reply: Reply, limit: u32) -> InfraResult<RateLimitDecision> {
    let unexpected = || {
        InfraError::new(
            ErrorKind::Internal,
            REDIS_BACKEND,
            "rate_limit",
            "unexpected reply of the rate-limit script: expected four non-negative integers",
        )
    };
    let items = reply.into_array()?;
    let [allowed, remaining, retry_after, reset] = items.as_slice() else {
        return Err(unexpected());
    };
    let number =
        |r: &Reply| -> InfraResult<u64> { u64::try_from(r.as_int()?).map_err(|_| unexpected()) };
    Ok(RateLimitDecision {
        allowed: number(allowed)? == 1,
        limit,
        remaining: number(remaining)?,
        retry_after: Duration::from_micros(number(retry_after)?),
        reset: Duration::from_micros(number(reset)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_validated() {
        let limit = RateLimit::new(3, Duration::from_secs(1)).unwrap();
        assert_eq!(limit.emission_interval(), Duration::from_micros(333_333));
        assert_eq!(limit.burst(), 3);
        assert_eq!(limit.window(), Duration::from_micros(999_999));
        let limit = limit.with_burst(10).unwrap();
        assert_eq!(limit.window(), Duration::from_micros(3_333_330));
        for err in [
            RateLimit::new(0, Duration::from_secs(1)).unwrap_err(),
            RateLimit::new(2_000_000, Duration::from_secs(1)).unwrap_err(),
            RateLimit::new(1, Duration::from_hours(24 * 365 * 40)).unwrap_err(),
            limit.with_burst(0).unwrap_err(),
            RateLimit::new(1, Duration::from_hours(24 * 365))
                .unwrap()
                .with_burst(100)
                .unwrap_err(),
        ] {
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        }
    }

    #[test]
    fn replies_become_decisions() {
        let reply = Reply::Array(vec![
            Reply::Int(0),
            Reply::Int(0),
            Reply::Int(1500),
            Reply::Int(9000),
        ]);
        assert_eq!(
            decision(reply, 5).unwrap(),
            RateLimitDecision {
                allowed: false,
                limit: 5,
                remaining: 0,
                retry_after: Duration::from_micros(1500),
                reset: Duration::from_millis(9),
            }
        );
        let bad = Reply::Array(vec![
            Reply::Int(1),
            Reply::Int(-1),
            Reply::Int(0),
            Reply::Int(0),
        ]);
        assert_eq!(decision(bad, 5).unwrap_err().kind(), ErrorKind::Internal);
        assert!(decision(Reply::Int(1), 5).is_err());
    }
}
