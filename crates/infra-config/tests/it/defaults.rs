use std::path::Path;
use std::time::Duration;

use infra_config::{Compression, LogFormat, QdrantMode, RedisMode, Settings, SettingsLoader};

use crate::load_ok;

fn assert_defaults(s: &Settings) {
    let r = &s.redis;
    assert!(r.enabled);
    assert!(r.url.is_none());
    assert_eq!(r.host, "127.0.0.1");
    assert_eq!(r.port, 6379);
    assert_eq!(r.db, 0);
    assert!(r.username.is_none());
    assert!(r.password.is_none());
    assert_eq!(r.mode, RedisMode::Standalone);
    assert!(r.nodes.is_empty());
    assert!(r.sentinel_master.is_none());
    assert!(!r.tls.enabled);
    assert!(r.tls.ca_file.is_none() && r.tls.cert_file.is_none() && r.tls.key_file.is_none());
    assert_eq!(r.pool.max_size, 16);
    assert_eq!(r.pool.wait_timeout, Duration::from_secs(1));
    assert_eq!(r.pool.create_timeout, Duration::from_secs(2));
    assert_eq!(r.pool.recycle_timeout, Duration::from_secs(1));
    assert_eq!(r.connect_timeout, Duration::from_secs(2));
    assert_eq!(r.command_timeout, Duration::from_secs(1));
    assert_eq!(r.retry.max_attempts, 3);
    assert_eq!(r.retry.base_delay, Duration::from_millis(50));
    assert_eq!(r.retry.max_delay, Duration::from_secs(1));
    assert_eq!(r.circuit.failure_threshold, 5);
    assert_eq!(r.circuit.open_for, Duration::from_secs(1));
    assert!(!r.critical);

    let q = &s.qdrant;
    assert_eq!(q.mode, QdrantMode::Embedded);
    assert!(q.url.is_none());
    assert_eq!(q.host, "127.0.0.1");
    assert_eq!(q.port, 6334);
    assert!(q.api_key.is_none());
    assert!(!q.tls.enabled);
    assert_eq!(q.timeout, Duration::from_secs(5));
    assert_eq!(q.connect_timeout, Duration::from_secs(2));
    assert_eq!(q.keep_alive, Duration::from_secs(30));
    assert_eq!(q.compression, Compression::None);
    assert_eq!(q.pool_size, 1);
    assert_eq!(q.path, Path::new("./data/qdrant"));
    assert_eq!(q.retry.max_attempts, 3);
    assert_eq!(q.circuit.failure_threshold, 5);
    assert!(q.critical);

    assert_eq!(s.http.host, "127.0.0.1");
    assert_eq!(s.http.port, 8080);
    assert_eq!(s.http.shutdown_grace, Duration::from_secs(10));
    assert_eq!(s.http.request_timeout, Duration::from_secs(30));
    assert_eq!(s.http.body_limit, 1_048_576);
    assert_eq!(s.health.cache_ttl, Duration::from_secs(2));
    assert_eq!(s.health.check_timeout, Duration::from_secs(1));

    assert_eq!(s.log.format, LogFormat::Text);
    assert_eq!(s.log.level, "info");
    assert!(s.metrics.enabled);
    assert_eq!(s.metrics.path, "/metrics");
    assert!(s.otel.endpoint.is_none());
    assert_eq!(s.otel.service_name, "infra-server");
    // infra-server's catalog::DEFAULT_CACHE_TTL.
    assert_eq!(s.cache.ttl, Duration::from_mins(1));
    assert_eq!(
        (s.cache.ttl_jitter, s.cache.max_value_size),
        (10, 1_048_576)
    );
    assert!(s.cache.early_refresh && s.cache.lease);
    assert_eq!(s.cache.lease_wait, Duration::from_millis(500));
    assert_eq!(s.cache.uncertain_write_window, Duration::from_secs(10));
}

#[test]
fn default_values_are_the_documented_ones() {
    assert_defaults(&Settings::default());
}

#[test]
fn loading_nothing_gives_the_defaults_and_they_are_valid() {
    let settings = load_ok(&[]);
    assert_defaults(&settings);
    Settings::default().validate().expect("defaults are valid");
}

#[test]
fn variables_without_the_prefix_are_left_alone() {
    let settings = load_ok(&[("OTHER_REDIS__PORT", "1"), ("PATH", "/usr/bin")]);
    assert_defaults(&settings);
}

#[test]
fn every_variable_under_the_prefix_is_ours() {
    // An unknown section is refused, not left to "other components": with
    // the prefix SOCIAL_ it can only be a typo or a key that does not exist.
    let error = crate::load_err(&[("SOCIAL_DATABASE__URL", "postgres://u:p@db/app")]);
    assert_eq!(
        error.to_string(),
        "SOCIAL_DATABASE__URL (database.url): unknown section, expected a key of one of the \
         sections redis, qdrant, http, health, log, metrics, otel, cache \
         (SOCIAL_<SECTION>__<KEY>)"
    );
    // With an empty prefix, everything else in the environment is not ours.
    let settings = SettingsLoader::from_pairs([("DATABASE__URL", "x"), ("HTTP__PORT", "1")])
        .prefix("")
        .load()
        .unwrap();
    assert_eq!(settings.http.port, 1);
}

#[test]
fn defaults_serialize_with_human_durations() {
    let json = serde_json::to_value(Settings::default()).unwrap();
    assert_eq!(json["redis"]["retry"]["base_delay"], "50ms");
    assert_eq!(json["redis"]["pool"]["wait_timeout"], "1s");
    assert_eq!(json["http"]["request_timeout"], "30s");
    assert_eq!(json["redis"]["mode"], "standalone");
    assert_eq!(json["qdrant"]["mode"], "embedded");
    assert_eq!(json["redis"]["password"], serde_json::Value::Null);
    assert_eq!(json["log"]["format"], "text");
    assert_eq!(json["metrics"]["path"], "/metrics");
    assert_eq!(json["otel"]["endpoint"], serde_json::Value::Null);
    assert_eq!(json["cache"]["ttl"], "1m");
}
