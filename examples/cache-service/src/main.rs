//! A service that caches a computed value in Redis, using only `infra-config`,
//! `infra-base` and `infra-redis` (no HTTP, no vector store).
//!
//! It shows:
//!
//! 1. **Settings** from the usual `SOCIAL_*` keys (`SOCIAL_REDIS__URL`, `.env`, ...) through
//!    `infra_config::SettingsLoader`: a refused value is reported, key by key.
//! 2. **The port** built with `infra_redis::build` (the layered `RedisPort`: tracing,
//!    metrics, retries, circuit breaker) and initialized through its `Component`.
//! 3. **Cache-aside** ([`cached`]): read the key with `RedisPortExt::get_json`; on a miss,
//!    compute and store it with a TTL (`SetOptions::with_ttl`). The second call is a hit,
//!    and the key's TTL is read back with `RedisKeysExt::key_ttl`.
//! 4. **Redis down**: the same code against an address where nothing listens. The port's
//!    errors are `InfraError`s whose kind (`unavailable`, `timeout`, `circuit_open`) says
//!    the dependency is down, so the service computes the value itself and says so
//!    instead of failing.
//!
//! Run it against a local Redis (`docker compose up -d redis`, or `redis-server`):
//!
//! ```sh
//! SOCIAL_REDIS__URL=redis://127.0.0.1:6379 cargo run
//! ```
//!
//! It exits 0 when every step behaved as described, 1 otherwise (including when phase 1
//! finds no Redis), printing what happened.

use std::net::{Ipv4Addr, TcpListener};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use infra_base::redis::{KeyTtl, RedisKeysExt};
use infra_base::{Components, ErrorKind, InfraError, RedisPort, RedisPortExt, SetOptions};
use infra_config::{RedisMode, RedisSettings, SecretUrl, SettingsLoader};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The cache key of the computed report.
const KEY: &str = "cache-service:primes:200000";

/// Primes below this are counted: enough work to be worth caching.
const LIMIT: u64 = 200_000;

/// How long the cached report lives.
const TTL: Duration = Duration::from_secs(60);

/// The value the service computes and caches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct PrimeReport {
    /// Primes below this were counted.
    limit: u64,
    /// How many there are.
    count: u64,
    /// The largest of them.
    largest: u64,
}

/// Where a value came from.
#[derive(Debug)]
enum Source {
    /// Read from Redis.
    Cache,
    /// Computed and stored in Redis with the TTL.
    Computed,
    /// Computed because Redis failed with this error; nothing was stored.
    CacheDown(InfraError),
}

/// Counts how often the expensive computation ran.
#[derive(Default)]
struct Calculator {
    runs: AtomicU32,
}

impl Calculator {
    /// The expensive computation: a sieve of Eratosthenes.
    fn primes_below(&self, limit: u64) -> PrimeReport {
        self.runs.fetch_add(1, Ordering::Relaxed);
        let n = usize::try_from(limit).unwrap_or(usize::MAX);
        let mut composite = vec![false; n];
        let (mut count, mut largest) = (0, 0);
        for i in 2..n {
            if composite[i] {
                continue;
            }
            count += 1;
            largest = i as u64;
            for multiple in (i * i..n).step_by(i) {
                composite[multiple] = true;
            }
        }
        PrimeReport {
            limit,
            count,
            largest,
        }
    }

    fn runs(&self) -> u32 {
        self.runs.load(Ordering::Relaxed)
    }
}

/// Cache-aside through any `RedisPort`: the cached value when there is one, else the
/// computed value, stored for `ttl`.
///
/// A Redis failure never fails the caller: the value is computed and the error returned
/// beside it ([`Source::CacheDown`]). A stored value that no longer reads as `T`
/// (`InvalidInput`, say after a change of shape) counts as a miss and is overwritten.
async fn cached<T, F>(redis: &dyn RedisPort, key: &str, ttl: Duration, compute: F) -> (T, Source)
where
    T: Serialize + DeserializeOwned + Send + Sync,
    F: FnOnce() -> T,
{
    match redis.get_json::<T>(key).await {
        Ok(Some(value)) => return (value, Source::Cache),
        Ok(None) => {}
        Err(err) if err.kind() == ErrorKind::InvalidInput => {}
        Err(err) => return (compute(), Source::CacheDown(err)),
    }
    let value = compute();
    match redis.set_json(key, &value, SetOptions::with_ttl(ttl)).await {
        Ok(_) => (value, Source::Computed),
        Err(err) => (value, Source::CacheDown(err)),
    }
}

/// Whether `kind` means "the dependency is down right now".
fn is_down(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::Unavailable | ErrorKind::Timeout | ErrorKind::CircuitOpen
    )
}

/// Fails with `message` unless `condition` holds.
fn expect(condition: bool, message: impl FnOnce() -> String) -> Result<(), String> {
    if condition { Ok(()) } else { Err(message()) }
}

/// Phase 1: a reachable Redis. Returns the computed report.
async fn with_redis(
    settings: &RedisSettings,
    calculator: &Calculator,
) -> Result<PrimeReport, String> {
    let redis =
        infra_redis::build(settings).map_err(|e| format!("cannot build the Redis adapter: {e}"))?;
    let endpoint = redis.adapter().endpoint().to_owned();
    println!("phase 1: Redis at {endpoint}");
    let components = Components::new().with(redis.component());
    components
        .init_all()
        .await
        .map_err(|e| format!("Redis did not start: {e}"))?;
    let port = redis.port();
    // Redis is not critical by default (SOCIAL_REDIS__CRITICAL), so init_all starts
    // degraded without it; this phase needs it, so ask.
    port.ping().await.map_err(|e| {
        format!(
            "phase 1 needs a reachable Redis at {endpoint} ({}: {e}); start one \
             (`docker compose up -d redis`, or `redis-server`) or set SOCIAL_REDIS__URL",
            e.kind()
        )
    })?;

    // Start from a cold cache, whatever an earlier run left.
    port.del_one(KEY)
        .await
        .map_err(|e| format!("DEL {KEY} failed: {e}"))?;

    let (first, source) = cached(&*port, KEY, TTL, || calculator.primes_below(LIMIT)).await;
    println!(
        "  first call:  {source:?}: {} primes below {}, the largest {}",
        first.count, first.limit, first.largest
    );
    expect(matches!(source, Source::Computed), || {
        format!("the first call should compute and store the report, got {source:?}")
    })?;

    let (second, source) = cached(&*port, KEY, TTL, || calculator.primes_below(LIMIT)).await;
    println!("  second call: {source:?}: the same report, not computed again");
    expect(matches!(source, Source::Cache), || {
        format!("the second call should be a cache hit, got {source:?}")
    })?;
    expect(second == first, || {
        format!("the cached report {second:?} differs from the computed {first:?}")
    })?;
    expect(calculator.runs() == 1, || {
        format!("computed {} times, expected once", calculator.runs())
    })?;

    let ttl = port
        .key_ttl(KEY)
        .await
        .map_err(|e| format!("PTTL {KEY} failed: {e}"))?;
    println!("  key {KEY}: {ttl:?} (stored with a TTL of {TTL:?})");
    expect(
        matches!(ttl, KeyTtl::ExpiresIn(left) if !left.is_zero() && left <= TTL),
        || format!("the key should expire within {TTL:?}, found {ttl:?}"),
    )?;

    port.del_one(KEY)
        .await
        .map_err(|e| format!("DEL {KEY} failed: {e}"))?;
    components.close_all().await;
    Ok(first)
}

/// Phase 2: Redis down (an address where nothing listens). The service still answers.
async fn without_redis(
    settings: &RedisSettings,
    calculator: &Calculator,
    expected: &PrimeReport,
) -> Result<(), String> {
    let mut down = settings.clone();
    down.mode = RedisMode::Standalone;
    down.url = Some(SecretUrl::parse(&format!(
        "redis://127.0.0.1:{}",
        free_port()?
    ))?);
    let redis =
        infra_redis::build(&down).map_err(|e| format!("cannot build the Redis adapter: {e}"))?;
    println!(
        "phase 2: Redis at {} (nothing listens there)",
        redis.adapter().endpoint()
    );
    let components = Components::new().with(redis.component());
    // Non-critical: start-up goes on, degraded (the adapter logs a warning).
    components
        .init_all()
        .await
        .map_err(|e| format!("a non-critical Redis should not stop start-up: {e}"))?;
    let port = redis.port();

    let (value, source) = cached(&*port, KEY, TTL, || calculator.primes_below(LIMIT)).await;
    let Source::CacheDown(err) = &source else {
        return Err(format!("Redis is down, yet the cache answered {source:?}"));
    };
    println!(
        "  cache unavailable ({kind}, transient: {transient}): {err}",
        kind = err.kind(),
        transient = err.is_transient(),
    );
    println!(
        "  fell back to computing: {} primes below {}, the largest {}",
        value.count, value.limit, value.largest
    );
    expect(is_down(err.kind()), || {
        format!(
            "a refused connection should read as unavailable, timeout or circuit_open, got {}",
            err.kind()
        )
    })?;
    expect(&value == expected, || {
        format!("the fallback computed {value:?}, expected {expected:?}")
    })?;
    expect(calculator.runs() == 2, || {
        format!(
            "computed {} times in all, expected twice",
            calculator.runs()
        )
    })?;
    components.close_all().await;
    Ok(())
}

/// A local TCP port where nothing listens: bound, read, released.
fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(|e| format!("cannot bind a local port: {e}"))?;
    listener
        .local_addr()
        .map(|addr| addr.port())
        .map_err(|e| format!("cannot read the bound port: {e}"))
}

async fn run() -> Result<(), String> {
    let settings = SettingsLoader::new()
        .load()
        .map_err(|e| format!("the settings were refused:\n{e}"))?;
    let calculator = Calculator::default();
    let report = with_redis(&settings.redis, &calculator).await?;
    without_redis(&settings.redis, &calculator, &report).await?;
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => {
            println!(
                "cache-service: OK (a miss computed and cached, a hit served from Redis, \
                 Redis down handled by computing)"
            );
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("cache-service: FAILED: {message}");
            ExitCode::FAILURE
        }
    }
}
