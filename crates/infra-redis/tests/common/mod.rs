//! Helpers shared by the tier-2 test files (each file uses a subset).
#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use infra_config::{RedisSettings, SettingsLoader};
use infra_redis::RedisAdapter;

/// Settings loaded (and validated) from `SOCIAL_REDIS__<key>` pairs, as in production.
pub fn settings(pairs: &[(&str, &str)]) -> RedisSettings {
    let pairs: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (format!("SOCIAL_REDIS__{k}"), (*v).to_owned()))
        .collect();
    match SettingsLoader::from_pairs(pairs).load() {
        Ok(settings) => settings.redis,
        Err(err) => panic!("test settings refused: {err}"),
    }
}

/// An adapter for `url`, with the extra settings `pairs`.
pub fn adapter(url: &str, pairs: &[(&str, &str)]) -> Arc<RedisAdapter> {
    let mut all = vec![("URL", url)];
    all.extend_from_slice(pairs);
    Arc::new(RedisAdapter::from_settings(&settings(&all)).expect("adapter builds"))
}

/// Runs a blocking testkit call (starting servers, signals) off the async workers.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("blocking task")
}

/// Retries `attempt` until it returns `Some` or `deadline` passes; returns it and the time
/// it took.
pub async fn eventually<T, F, Fut>(deadline: Duration, mut attempt: F) -> (Option<T>, Duration)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(value) = attempt().await {
            return (Some(value), started.elapsed());
        }
        if started.elapsed() > deadline {
            return (None, started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A key unique to this test run.
pub fn key(name: &str) -> String {
    format!(
        "infra-redis-test:{}:{name}",
        infra_base::testing::unique_prefix()
    )
}
