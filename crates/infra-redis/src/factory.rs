//! The factory: one adapter per process, its port in the standard layers, its component.

use std::sync::Arc;

use infra_base::layer::PortLayers;
use infra_base::resilience::Resilience;
use infra_base::{Built, Component, InfraResult, REDIS_BACKEND, RedisPort};
use infra_config::RedisSettings;

use crate::adapter::RedisAdapter;

/// The name under which the adapter is registered as a [`Component`].
pub const COMPONENT_NAME: &str = "redis";

/// What [`build`] returns: the layered port for services, the subscriber
/// ([`Built::subscriber`]: pub/sub on connections of its own), the adapter's [`Component`]
/// (criticality from `SOCIAL_REDIS__CRITICAL`; closing it ends every subscription), the
/// resilience policy and the adapter (its exclusive-connection API).
pub type Redis = Built<dyn RedisPort, RedisAdapter>;

/// Builds the Redis adapter of `settings` (one pool for the process), its port in the
/// standard layers (tracing, metrics, retries and breaker from the settings) and its
/// component.
///
/// Nothing connects yet: [`Lifecycle::init`](infra_base::Lifecycle::init) (through the
/// component) connects and verifies. Install the metrics recorder before calling it.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use infra_base::redis::PubSubEvent;
/// use infra_base::{Components, RedisPortExt, SetOptions, SubscribeOptions, Topics};
/// use infra_config::Settings;
///
/// let settings = Settings::from_env()?;
/// let redis = infra_redis::build(&settings.redis)?;
/// let components = Components::new().with(redis.component());
/// components.init_all().await?;
///
/// let port = redis.port();
/// port.set_json("greeting", &"hello", SetOptions::default()).await?;
///
/// // Pub/sub beside the port: a bounded stream on a connection of its own.
/// let subscriber = redis.subscriber();
/// let mut events = subscriber
///     .subscribe(&Topics::new().channel("greetings"), SubscribeOptions::default())
///     .await?;
/// port.publish("greetings", b"hello").await?;
/// if let Some(PubSubEvent::Message(message)) = events.recv().await {
///     assert_eq!(message.payload, b"hello");
/// }
/// components.close_all().await; // ends `events`
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
    // timeout capped at it when a checkout opens a connection); a second timer per call
    // was most of what the port cost over raw redis-rs.
    let policy = Resilience::from_settings(REDIS_BACKEND, None, &settings.retry, &settings.circuit);
    // The adapter itself, not as `dyn RedisPort`: its calls and the layers around them are
    // one future, boxed once at the port (see `RedisCalls`).
    let port: Arc<dyn RedisPort> = Arc::new(
        PortLayers::new(REDIS_BACKEND)
            .server_address(adapter.endpoint())
            .resilience(policy.clone())
            .wrap(adapter.clone()),
    );
    let component = Component::new(COMPONENT_NAME, settings.critical, adapter.clone())
        .with_breaker(policy.breaker().cloned());
    tracing::debug!(
        backend = REDIS_BACKEND,
        operation = "build",
        mode = %adapter.mode(),
        endpoint = %adapter.endpoint(),
        pool_max_size = settings.pool.max_size,
        "redis adapter built"
    );
    Ok(Built::new(port, component, policy, adapter))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_gives_a_layered_port_and_a_component_critical_as_configured() {
        let settings = RedisSettings {
            critical: true,
            ..RedisSettings::default()
        };
        let redis = build(&settings).unwrap();
        let component = redis.component();
        assert_eq!(component.name, "redis");
        assert!(component.critical);
        assert!(component.breaker.is_some(), "health reports the breaker");
        // The adapter bounds each call by the command timeout; the policy adds no timer.
        assert_eq!(redis.policy().timeout(), None);
        assert_eq!(
            redis.policy().retry().attempts(),
            settings.retry.max_attempts
        );
        assert_eq!(redis.adapter().endpoint(), "127.0.0.1:6379");
    }

    #[tokio::test]
    async fn the_subscriber_checks_its_input_and_closes_with_the_component() {
        use infra_base::{ErrorKind, SubscribeOptions, Topics};
        // Port 1 on loopback: nothing listens; nothing is contacted before validation.
        let settings = RedisSettings {
            port: 1,
            ..RedisSettings::default()
        };
        let redis = build(&settings).unwrap();
        let subscriber = redis.subscriber();
        let err = subscriber
            .subscribe(&Topics::new(), SubscribeOptions::default())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        let topics = Topics::new().channel("c");
        let err = subscriber
            .subscribe(&topics, SubscribeOptions::default())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unavailable, "{}", err.chain());
        redis.component().lifecycle.close().await;
        let err = subscriber
            .subscribe(&topics, SubscribeOptions::default())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unavailable);
        assert_eq!(err.message(), "the Redis client has been closed");
    }
}
