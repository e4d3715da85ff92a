//! The factory: one adapter per process, wrapped in the resilience policy of the settings.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use infra_base::resilience::{BreakerConfig, Resilience, ResilientRedis, RetryPolicy};
use infra_base::{Component, InfraResult, Lifecycle, REDIS_BACKEND, RedisPort};
use infra_config::{CircuitSettings, RedisSettings, RetrySettings};

use crate::adapter::RedisAdapter;

/// The name under which the adapter is registered as a [`Component`].
pub const COMPONENT_NAME: &str = "redis";

/// The resilience policy of one backend from its settings: `timeout` per attempt, the retry
/// settings, and a circuit breaker.
///
/// This conversion knows nothing about Redis; it lives here until a second adapter needs it
/// (the Qdrant adapter takes the same `RetrySettings`/`CircuitSettings`), and is a candidate
/// to move to a shared place (infra-base cannot depend on infra-config, so a small glue
/// module or crate).
pub fn resilience_policy(
    backend: &'static str,
    timeout: Duration,
    retry: &RetrySettings,
    circuit: &CircuitSettings,
) -> Resilience {
    Resilience::new(backend)
        .with_timeout(timeout)
        .with_retry(RetryPolicy::new(
            retry.max_attempts,
            retry.base_delay,
            retry.max_delay,
        ))
        .with_breaker(BreakerConfig {
            failure_threshold: circuit.failure_threshold,
            open_for: circuit.open_for,
        })
}

/// What [`build`] returns: the adapter, and the port to hand to services.
///
/// Build it once per process at the composition root, hand [`port`](Self::port) to the
/// services (through `BaseService`), and register [`component`](Self::component) so that
/// start-up, health and shutdown include Redis.
#[derive(Clone)]
pub struct Redis {
    adapter: Arc<RedisAdapter>,
    policy: Resilience,
    port: Arc<dyn RedisPort>,
}

impl fmt::Debug for Redis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redis")
            .field("adapter", &self.adapter)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Redis {
    /// The port with the resilience policy (retries of idempotent calls, circuit breaker;
    /// each attempt bounded by the command timeout in the adapter): what services use.
    pub fn port(&self) -> Arc<dyn RedisPort> {
        Arc::clone(&self.port)
    }

    /// The adapter itself: its [`RedisPort`] without the policy, its [`Lifecycle`], and the
    /// exclusive-connection API.
    pub fn adapter(&self) -> &Arc<RedisAdapter> {
        &self.adapter
    }

    /// The resilience policy the port runs under (its breaker state, for metrics).
    pub fn policy(&self) -> &Resilience {
        &self.policy
    }

    /// The adapter as a [`Component`] named `"redis"`; `critical` decides whether readiness
    /// fails when Redis does (`settings.critical`).
    pub fn component(&self, critical: bool) -> Component {
        let lifecycle: Arc<dyn Lifecycle> = self.adapter.clone();
        Component::new(COMPONENT_NAME, critical, lifecycle)
    }
}

/// Builds the Redis adapter of `settings` (one pool for the process) and its resilient port.
///
/// Nothing connects yet: [`Lifecycle::init`] (through the component) connects and verifies.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use infra_base::{Components, RedisPortExt, SetOptions};
/// use infra_config::Settings;
///
/// let settings = Settings::from_env()?;
/// let redis = infra_redis::build(&settings.redis)?;
/// let components = Components::new().with(redis.component(settings.redis.critical));
/// components.init_all().await?;
///
/// let port = redis.port();
/// port.set_json("greeting", &"hello", SetOptions::default()).await?;
/// components.close_all().await;
/// # Ok(()) }
/// ```
///
/// # Errors
///
/// Those of [`RedisAdapter::from_settings`].
pub fn build(settings: &RedisSettings) -> InfraResult<Redis> {
    let adapter = Arc::new(RedisAdapter::from_settings(settings)?);
    // No timer in the policy: the adapter bounds every stage of a call by the command
    // timeout itself (redis-rs's response timeout on the command, the pool's create
    // timeout capped at it when a checkout opens a connection), and a second timer per
    // call was most of what the port cost over raw redis-rs (docs/benchmarks.md).
    let policy = resilience_policy(
        REDIS_BACKEND,
        settings.command_timeout,
        &settings.retry,
        &settings.circuit,
    )
    .with_timeout(None);
    let inner: Arc<dyn RedisPort> = adapter.clone();
    let port: Arc<dyn RedisPort> = Arc::new(ResilientRedis::new(inner, policy.clone()));
    tracing::debug!(
        backend = REDIS_BACKEND,
        operation = "build",
        mode = %adapter.mode(),
        endpoint = %adapter.endpoint(),
        pool_max_size = settings.pool.max_size,
        "redis adapter built"
    );
    Ok(Redis {
        adapter,
        policy,
        port,
    })
}

#[cfg(test)]
mod tests {
    use infra_base::resilience::BreakerState;

    use super::*;

    #[test]
    fn policy_follows_the_settings() {
        let retry = RetrySettings {
            max_attempts: 4,
            base_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(500),
        };
        let circuit = CircuitSettings {
            failure_threshold: 7,
            open_for: Duration::from_secs(3),
        };
        let policy = resilience_policy("redis", Duration::from_millis(250), &retry, &circuit);
        assert_eq!(policy.backend(), "redis");
        assert_eq!(policy.timeout(), Some(Duration::from_millis(250)));
        assert_eq!(policy.retry().attempts(), 4);
        assert_eq!(policy.retry().base_delay, Duration::from_millis(20));
        assert_eq!(policy.retry().max_delay, Duration::from_millis(500));
        assert!(policy.retry().jitter);
        assert_eq!(policy.breaker_state(), Some(BreakerState::Closed));
        let breaker = format!("{:?}", policy.breaker().unwrap());
        assert!(breaker.contains("failure_threshold: 7"), "{breaker}");
    }

    #[test]
    fn build_gives_a_resilient_port_and_a_component() {
        let settings = RedisSettings::default();
        let redis = build(&settings).unwrap();
        let component = redis.component(true);
        assert_eq!(component.name, "redis");
        assert!(component.critical);
        // The adapter bounds each call by the command timeout; the policy adds no timer.
        assert_eq!(redis.policy().timeout(), None);
        assert_eq!(redis.adapter().endpoint(), "127.0.0.1:6379");
    }
}
