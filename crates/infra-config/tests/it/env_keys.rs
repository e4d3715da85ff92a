//! Every `SOCIAL_*` key of the contract (the keys `.env.example` lists) is read from the
//! environment into the right field.

use std::num::NonZeroU32;
use std::path::Path;
use std::time::Duration;

use infra_config::{
    ApiKeyCredential, AuthMode, Compression, ExposeSecret, LogFormat, NodeAddr, QdrantMode,
    ReadConsistency, RedisMode, Scope, Secret, WriteOrdering,
};

use crate::{load_ok, write_file};

#[test]
fn redis_host_form_keys() {
    let dir = tempfile::tempdir().unwrap();
    let ca = write_file(&dir, "ca.pem", "ca");
    let cert = write_file(&dir, "client.pem", "cert");
    let key = write_file(&dir, "client.key", "key");
    let (ca, cert, key) = (
        ca.to_str().unwrap(),
        cert.to_str().unwrap(),
        key.to_str().unwrap(),
    );
    let s = load_ok(&[
        ("SOCIAL_REDIS__ENABLED", "true"),
        ("SOCIAL_REDIS__HOST", "cache.internal"),
        ("SOCIAL_REDIS__PORT", "6380"),
        ("SOCIAL_REDIS__DB", "3"),
        ("SOCIAL_REDIS__USERNAME", "app"),
        ("SOCIAL_REDIS__PASSWORD", "pa ss"),
        ("SOCIAL_REDIS__MODE", "standalone"),
        ("SOCIAL_REDIS__TLS__ENABLED", "true"),
        ("SOCIAL_REDIS__TLS__CA_FILE", ca),
        ("SOCIAL_REDIS__TLS__CERT_FILE", cert),
        ("SOCIAL_REDIS__TLS__KEY_FILE", key),
        ("SOCIAL_REDIS__POOL__MAX_SIZE", "32"),
        ("SOCIAL_REDIS__POOL__WAIT_TIMEOUT", "250ms"),
        ("SOCIAL_REDIS__POOL__CREATE_TIMEOUT", "3s"),
        ("SOCIAL_REDIS__POOL__RECYCLE_TIMEOUT", "500ms"),
        ("SOCIAL_REDIS__CONNECT_TIMEOUT", "4s"),
        ("SOCIAL_REDIS__COMMAND_TIMEOUT", "750ms"),
        ("SOCIAL_REDIS__RETRY__MAX_ATTEMPTS", "5"),
        ("SOCIAL_REDIS__RETRY__BASE_DELAY", "20ms"),
        ("SOCIAL_REDIS__RETRY__MAX_DELAY", "2s"),
        ("SOCIAL_REDIS__CIRCUIT__FAILURE_THRESHOLD", "7"),
        ("SOCIAL_REDIS__CIRCUIT__OPEN_FOR", "1m"),
        ("SOCIAL_REDIS__CRITICAL", "true"),
    ]);
    let r = &s.redis;
    assert!(r.enabled);
    assert_eq!(r.host, "cache.internal");
    assert_eq!(r.port, 6380);
    assert_eq!(r.db, 3);
    assert_eq!(r.username.as_deref(), Some("app"));
    assert_eq!(
        r.password.as_ref().map(Secret::expose_secret),
        Some("pa ss")
    );
    assert_eq!(r.mode, RedisMode::Standalone);
    assert!(r.tls.enabled && r.tls_enabled());
    assert_eq!(r.tls.ca_file.as_deref(), Some(Path::new(ca)));
    assert_eq!(r.tls.cert_file.as_deref(), Some(Path::new(cert)));
    assert_eq!(r.tls.key_file.as_deref(), Some(Path::new(key)));
    assert_eq!(r.pool.max_size, 32);
    assert_eq!(r.pool.wait_timeout, Duration::from_millis(250));
    assert_eq!(r.pool.create_timeout, Duration::from_secs(3));
    assert_eq!(r.pool.recycle_timeout, Duration::from_millis(500));
    assert_eq!(r.connect_timeout, Duration::from_secs(4));
    assert_eq!(r.command_timeout, Duration::from_millis(750));
    assert_eq!(r.retry.max_attempts, 5);
    assert_eq!(r.retry.base_delay, Duration::from_millis(20));
    assert_eq!(r.retry.max_delay, Duration::from_secs(2));
    assert_eq!(r.circuit.failure_threshold, 7);
    assert_eq!(r.circuit.open_for, Duration::from_mins(1));
    assert!(r.critical);
    assert_eq!(
        r.connection_url().expose_secret(),
        "rediss://app:pa%20ss@cache.internal:6380/3"
    );
}

#[test]
fn redis_url_form() {
    let s = load_ok(&[("SOCIAL_REDIS__URL", "rediss://app:s%40cret@cache:7000/2")]);
    let url = s.redis.url.as_ref().expect("url");
    assert_eq!(url.redacted(), "rediss://app:***@cache:7000/2");
    // A rediss:// URL turns TLS on, and the effective settings say so.
    assert!(s.redis.tls.enabled);
    assert_eq!(
        s.redis.connection_url().expose_secret(),
        "rediss://app:s%40cret@cache:7000/2"
    );
}

#[test]
fn redis_can_be_disabled() {
    // A disabled section is parsed but not validated.
    let s = load_ok(&[
        ("SOCIAL_REDIS__ENABLED", "false"),
        ("SOCIAL_REDIS__PORT", "0"),
    ]);
    assert!(!s.redis.enabled);
}

#[test]
fn redis_cluster_nodes() {
    let s = load_ok(&[
        ("SOCIAL_REDIS__MODE", "cluster"),
        (
            "SOCIAL_REDIS__NODES",
            "redis-1:7000, redis-2:7001,[::1]:7002,",
        ),
        ("SOCIAL_REDIS__PASSWORD", "pw"),
    ]);
    assert_eq!(s.redis.mode, RedisMode::Cluster);
    assert_eq!(
        s.redis.nodes,
        [
            NodeAddr {
                host: "redis-1".into(),
                port: 7000
            },
            NodeAddr {
                host: "redis-2".into(),
                port: 7001
            },
            NodeAddr {
                host: "::1".into(),
                port: 7002
            },
        ]
    );
    let urls: Vec<_> = s
        .redis
        .node_urls()
        .iter()
        .map(|u| u.expose_secret().to_owned())
        .collect();
    assert_eq!(
        urls,
        [
            "redis://:pw@redis-1:7000",
            "redis://:pw@redis-2:7001",
            "redis://:pw@[::1]:7002"
        ]
    );
}

#[test]
fn redis_sentinel_keys() {
    let s = load_ok(&[
        ("SOCIAL_REDIS__MODE", "Sentinel"),
        ("SOCIAL_REDIS__NODES", "s1:26379,s2:26379"),
        ("SOCIAL_REDIS__SENTINEL_MASTER", "mymaster"),
        ("SOCIAL_REDIS__DB", "1"),
    ]);
    assert_eq!(s.redis.mode, RedisMode::Sentinel);
    assert_eq!(s.redis.sentinel_master.as_deref(), Some("mymaster"));
    assert_eq!(s.redis.nodes.len(), 2);
}

#[test]
fn qdrant_remote_host_form_keys() {
    let s = load_ok(&[
        ("SOCIAL_QDRANT__MODE", "remote"),
        ("SOCIAL_QDRANT__HOST", "vectors.internal"),
        ("SOCIAL_QDRANT__PORT", "16334"),
        ("SOCIAL_QDRANT__API_KEY", "k-123"),
        ("SOCIAL_QDRANT__TLS__ENABLED", "true"),
        ("SOCIAL_QDRANT__TIMEOUT", "7s"),
        ("SOCIAL_QDRANT__CONNECT_TIMEOUT", "1500ms"),
        ("SOCIAL_QDRANT__KEEP_ALIVE", "45s"),
        ("SOCIAL_QDRANT__COMPRESSION", "gzip"),
        ("SOCIAL_QDRANT__POOL_SIZE", "4"),
        ("SOCIAL_QDRANT__WRITE_ORDERING", "Strong"),
        ("SOCIAL_QDRANT__READ_CONSISTENCY", "2"),
        ("SOCIAL_QDRANT__RETRY__MAX_ATTEMPTS", "2"),
        ("SOCIAL_QDRANT__RETRY__BASE_DELAY", "10ms"),
        ("SOCIAL_QDRANT__RETRY__MAX_DELAY", "100ms"),
        ("SOCIAL_QDRANT__CIRCUIT__FAILURE_THRESHOLD", "9"),
        ("SOCIAL_QDRANT__CIRCUIT__OPEN_FOR", "3s"),
        ("SOCIAL_QDRANT__CRITICAL", "false"),
    ]);
    let q = &s.qdrant;
    assert_eq!(q.mode, QdrantMode::Remote);
    assert_eq!(q.host, "vectors.internal");
    assert_eq!(q.port, 16334);
    assert_eq!(q.api_key.as_ref().map(Secret::expose_secret), Some("k-123"));
    assert!(q.tls.enabled);
    assert_eq!(q.timeout, Duration::from_secs(7));
    assert_eq!(q.connect_timeout, Duration::from_millis(1500));
    assert_eq!(q.keep_alive, Duration::from_secs(45));
    assert_eq!(q.compression, Compression::Gzip);
    assert_eq!(q.pool_size, 4);
    assert_eq!(q.write_ordering, WriteOrdering::Strong);
    assert_eq!(
        q.read_consistency,
        Some(ReadConsistency::Replicas(NonZeroU32::new(2).unwrap()))
    );
    assert_eq!(q.retry.max_attempts, 2);
    assert_eq!(q.retry.base_delay, Duration::from_millis(10));
    assert_eq!(q.retry.max_delay, Duration::from_millis(100));
    assert_eq!(q.circuit.failure_threshold, 9);
    assert_eq!(q.circuit.open_for, Duration::from_secs(3));
    assert!(!q.critical);
    assert_eq!(q.endpoint(), "https://vectors.internal:16334");
}

#[test]
fn qdrant_url_form_and_embedded_path() {
    let s = load_ok(&[
        ("SOCIAL_QDRANT__MODE", "remote"),
        ("SOCIAL_QDRANT__URL", "https://q.example:6334"),
    ]);
    assert!(s.qdrant.tls.enabled, "an https URL turns TLS on");
    assert_eq!(s.qdrant.endpoint(), "https://q.example:6334");

    let s = load_ok(&[
        ("SOCIAL_QDRANT__MODE", "embedded"),
        ("SOCIAL_QDRANT__PATH", "/var/lib/vectors"),
    ]);
    assert_eq!(s.qdrant.mode, QdrantMode::Embedded);
    assert_eq!(s.qdrant.path, Path::new("/var/lib/vectors"));
}

#[test]
fn qdrant_urls_without_a_port_mean_the_grpc_port() {
    for (url, endpoint) in [
        ("https://q.example", "https://q.example:6334"),
        ("http://127.0.0.1", "http://127.0.0.1:6334"),
        ("https://q.example:443", "https://q.example:443"),
        ("https://[::1]/", "https://[::1]:6334"),
    ] {
        let s = load_ok(&[
            ("SOCIAL_QDRANT__MODE", "remote"),
            ("SOCIAL_QDRANT__URL", url),
        ]);
        assert_eq!(s.qdrant.endpoint(), endpoint, "{url}");
    }
}

#[test]
fn a_qdrant_api_key_needs_tls_unless_the_server_is_local() {
    for pairs in [
        [("SOCIAL_QDRANT__URL", "http://127.0.0.1:6334"), ("", "")],
        [("SOCIAL_QDRANT__URL", "http://localhost:6334"), ("", "")],
        [("SOCIAL_QDRANT__URL", "http://[::1]:6334"), ("", "")],
        [("SOCIAL_QDRANT__URL", "https://vectors.example"), ("", "")],
        [
            ("SOCIAL_QDRANT__HOST", "vectors.example"),
            ("SOCIAL_QDRANT__TLS__ENABLED", "true"),
        ],
        [("SOCIAL_QDRANT__HOST", "::1"), ("", "")],
    ] {
        let mut env = vec![
            ("SOCIAL_QDRANT__MODE", "remote"),
            ("SOCIAL_QDRANT__API_KEY", "k-123"),
        ];
        env.extend(pairs.iter().filter(|(key, _)| !key.is_empty()).copied());
        let s = load_ok(&env);
        assert!(s.qdrant.api_key.is_some(), "{env:?}");
    }
}

#[test]
fn http_and_health_keys() {
    let s = load_ok(&[
        ("SOCIAL_HTTP__HOST", "0.0.0.0"),
        ("SOCIAL_HTTP__PORT", "0"),
        ("SOCIAL_HTTP__SHUTDOWN_GRACE", "15s"),
        ("SOCIAL_HTTP__REQUEST_TIMEOUT", "1m"),
        ("SOCIAL_HTTP__BODY_LIMIT", "2097152"),
        ("SOCIAL_HEALTH__CACHE_TTL", "500ms"),
        ("SOCIAL_HEALTH__CHECK_TIMEOUT", "300ms"),
        ("SOCIAL_HTTP__HEADER_READ_TIMEOUT", "5s"),
        ("SOCIAL_HTTP__MAX_CONNECTIONS", "64"),
        ("SOCIAL_HTTP__CONCURRENCY_LIMIT", "8"),
        ("SOCIAL_HTTP__AUTH__MODE", "NONE"),
        (
            "SOCIAL_HTTP__CORS__ALLOWED_ORIGINS",
            "https://app.example.com/, http://localhost:3000",
        ),
    ]);
    assert_eq!(s.http.header_read_timeout, Duration::from_secs(5));
    assert_eq!(s.http.max_connections, 64);
    assert_eq!(s.http.concurrency_limit, 8);
    assert_eq!(s.http.auth.mode, AuthMode::None);
    assert_eq!(s.http.auth.effective_mode(), AuthMode::None);
    assert_eq!(
        s.http.cors.allowed_origins,
        ["https://app.example.com", "http://localhost:3000"]
    );
    assert_eq!(s.http.host, "0.0.0.0");
    assert_eq!(s.http.port, 0);
    assert_eq!(s.http.shutdown_grace, Duration::from_secs(15));
    assert_eq!(s.http.request_timeout, Duration::from_mins(1));
    assert_eq!(s.http.body_limit, 2_097_152);
    assert_eq!(s.http.bind_address(), "0.0.0.0:0");
    assert_eq!(s.health.cache_ttl, Duration::from_millis(500));
    assert_eq!(s.health.check_timeout, Duration::from_millis(300));
}

#[test]
fn auth_keys() {
    let hash = "0f".repeat(32);
    let s = load_ok(&[
        ("SOCIAL_HTTP__HOST", "0.0.0.0"),
        (
            "SOCIAL_HTTP__AUTH__API_KEYS",
            &format!("ci:read+write:0123456789abcdef:x, ops:admin:sha256:{hash}"),
        ),
        ("SOCIAL_HTTP__AUTH__JWT__SECRET", &"s".repeat(32)),
        (
            "SOCIAL_HTTP__AUTH__JWT__ISSUER",
            "https://auth.example.com/",
        ),
        ("SOCIAL_HTTP__AUTH__JWT__AUDIENCE", "infra-server"),
        ("SOCIAL_HTTP__AUTH__JWT__LEEWAY", "0s"),
    ]);
    let auth = &s.http.auth;
    assert_eq!(auth.mode, AuthMode::Auto);
    assert_eq!(auth.effective_mode(), AuthMode::Any);
    assert_eq!(auth.api_keys.len(), 2);
    assert_eq!(auth.api_keys[0].name, "ci");
    assert_eq!(auth.api_keys[0].scopes, [Scope::Read, Scope::Write]);
    assert!(matches!(
        &auth.api_keys[0].credential,
        ApiKeyCredential::Secret(key) if key.expose_secret() == "0123456789abcdef:x"
    ));
    assert!(matches!(
        auth.api_keys[1].credential,
        ApiKeyCredential::Sha256(digest) if digest == [0x0f; 32]
    ));
    assert_eq!(auth.jwt.leeway, Duration::ZERO);
    assert_eq!(auth.jwt.audience.as_deref(), Some("infra-server"));
    let shown = format!("{s:?} {}", serde_json::to_string(&s).unwrap());
    assert!(
        !shown.contains("0123456789abcdef") && !shown.contains(&hash),
        "{shown}"
    );
    assert!(!shown.contains(&"s".repeat(32)), "{shown}");

    // Loopback with nothing configured: no authentication.
    let s = load_ok(&[]);
    assert_eq!(s.http.auth.effective_mode(), AuthMode::None);
}

#[test]
fn log_metrics_otel_and_cache_keys() {
    let s = load_ok(&[
        ("SOCIAL_LOG__FORMAT", "JSON"),
        ("SOCIAL_LOG__LEVEL", "warn,infra_redis=debug"),
        ("SOCIAL_METRICS__ENABLED", "false"),
        ("SOCIAL_METRICS__PATH", "/internal/metrics"),
        ("SOCIAL_OTEL__ENDPOINT", "https://otel.internal:4317"),
        ("SOCIAL_OTEL__SERVICE_NAME", "catalog"),
        ("SOCIAL_CACHE__TTL", "90s"),
        ("SOCIAL_CACHE__TTL_JITTER", "0"),
        ("SOCIAL_CACHE__MAX_VALUE_SIZE", "4096"),
        ("SOCIAL_CACHE__EARLY_REFRESH", "off"),
        ("SOCIAL_CACHE__LEASE", "false"),
        ("SOCIAL_CACHE__LEASE_WAIT", "2s"),
        ("SOCIAL_CACHE__UNCERTAIN_WRITE_WINDOW", "30s"),
    ]);
    assert_eq!(s.log.format, LogFormat::Json);
    assert_eq!(s.log.level, "warn,infra_redis=debug");
    assert!(!s.metrics.enabled);
    assert_eq!(s.metrics.path, "/internal/metrics");
    assert_eq!(
        s.otel.endpoint.as_ref().map(url::Url::as_str),
        Some("https://otel.internal:4317/")
    );
    assert_eq!(s.otel.service_name, "catalog");
    assert_eq!(s.cache.ttl, Duration::from_secs(90));
    assert_eq!((s.cache.ttl_jitter, s.cache.max_value_size), (0, 4096));
    assert!(!s.cache.early_refresh && !s.cache.lease);
    assert_eq!(s.cache.lease_wait, Duration::from_secs(2));
    assert_eq!(s.cache.uncertain_write_window, Duration::from_secs(30));
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(json["log"]["format"], "json");
    assert_eq!(json["otel"]["endpoint"], "https://otel.internal:4317/");
    assert_eq!(json["cache"]["ttl"], "1m 30s");
}

#[test]
fn string_keys_keep_their_exact_text() {
    // figment's Env provider would read these as 123, 1.1 and true.
    for raw in [
        "0123",
        "1.10",
        "true",
        "-0",
        "1e3",
        "[a,b]",
        "{x=1}",
        "\"quoted\"",
    ] {
        let s = load_ok(&[
            ("SOCIAL_REDIS__PASSWORD", raw),
            ("SOCIAL_REDIS__USERNAME", raw),
            ("SOCIAL_QDRANT__MODE", "remote"),
            ("SOCIAL_QDRANT__API_KEY", raw),
        ]);
        assert_eq!(s.redis.password.as_ref().unwrap().expose_secret(), raw);
        assert_eq!(s.redis.username.as_deref(), Some(raw));
        assert_eq!(s.qdrant.api_key.as_ref().unwrap().expose_secret(), raw);
    }
    let s = load_ok(&[
        ("SOCIAL_REDIS__MODE", "sentinel"),
        ("SOCIAL_REDIS__NODES", "s:26379"),
        ("SOCIAL_REDIS__SENTINEL_MASTER", "0123"),
    ]);
    assert_eq!(s.redis.sentinel_master.as_deref(), Some("0123"));
}

#[test]
fn booleans_and_numbers_are_read_leniently_from_text() {
    for (text, expected) in [
        ("true", true),
        ("TRUE", true),
        ("yes", true),
        ("1", true),
        ("on", true),
    ] {
        let s = load_ok(&[("SOCIAL_REDIS__CRITICAL", text)]);
        assert_eq!(s.redis.critical, expected, "{text}");
    }
    for text in ["false", "no", "0", "off"] {
        let s = load_ok(&[("SOCIAL_QDRANT__CRITICAL", text)]);
        assert!(!s.qdrant.critical, "{text}");
    }
    let s = load_ok(&[("SOCIAL_REDIS__PORT", "06380"), ("SOCIAL_REDIS__DB", "0")]);
    assert_eq!(s.redis.port, 6380);
}

#[test]
fn empty_values_count_as_unset() {
    let s = load_ok(&[("SOCIAL_REDIS__PASSWORD", ""), ("SOCIAL_REDIS__PORT", "")]);
    assert!(s.redis.password.is_none());
    assert_eq!(s.redis.port, 6379);
}

#[test]
fn keys_and_prefix_ignore_case_and_prefix_is_configurable() {
    let s =
        SettingsLoader::from_pairs([("myapp_redis__port", "7777"), ("SOCIAL_REDIS__PORT", "1")])
            .prefix("MYAPP_")
            .load()
            .unwrap();
    assert_eq!(s.redis.port, 7777);
}

use infra_config::SettingsLoader;
