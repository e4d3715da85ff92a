//! A table of bad inputs: each is refused with exactly one line that names
//! the right environment key and says what is accepted.

use infra_config::{ConfigError, SettingsLoader};

use crate::{load_err, write_file};

struct Case {
    env: Vec<(&'static str, String)>,
    key: &'static str,
    accepted: &'static str,
}

fn case(env: &[(&'static str, &str)], key: &'static str, accepted: &'static str) -> Case {
    Case {
        env: env.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
        key,
        accepted,
    }
}

#[test]
#[allow(clippy::too_many_lines)]
fn each_bad_input_gives_one_line_naming_its_key() {
    const DURATION: &str = "expected a duration with a unit, e.g. 250ms or 2s";
    const REMOTE: (&str, &str) = ("SOCIAL_QDRANT__MODE", "remote");
    let dir = tempfile::tempdir().unwrap();
    let cert = write_file(&dir, "client.pem", "cert");
    let cert = cert.to_str().unwrap().to_owned();
    let missing = dir
        .path()
        .join("missing-ca.pem")
        .to_str()
        .unwrap()
        .to_owned();

    let mut cases = vec![
        case(
            &[("SOCIAL_REDIS__PORT", "0")],
            "SOCIAL_REDIS__PORT",
            "a port number 1-65535",
        ),
        case(
            &[("SOCIAL_REDIS__PORT", "70000")],
            "SOCIAL_REDIS__PORT",
            "a port number 1-65535",
        ),
        case(
            &[("SOCIAL_REDIS__PORT", "abc")],
            "SOCIAL_REDIS__PORT",
            "a port number 1-65535",
        ),
        case(
            &[("SOCIAL_REDIS__PORT", "1.5")],
            "SOCIAL_REDIS__PORT",
            "a port number 1-65535",
        ),
        case(
            &[("SOCIAL_REDIS__URL", "http://cache:6379")],
            "SOCIAL_REDIS__URL",
            "rediss://",
        ),
        case(
            &[("SOCIAL_REDIS__URL", "unix:///tmp/redis.sock")],
            "SOCIAL_REDIS__URL",
            "redis://",
        ),
        case(
            &[("SOCIAL_REDIS__URL", "redis://cache:0")],
            "SOCIAL_REDIS__URL",
            "redis://",
        ),
        case(
            &[("SOCIAL_REDIS__URL", "redis://cache:6379/x")],
            "SOCIAL_REDIS__URL",
            "/db",
        ),
        case(
            &[("SOCIAL_REDIS__URL", "127.0.0.1:6379")],
            "SOCIAL_REDIS__URL",
            "redis://",
        ),
        case(
            &[("SOCIAL_REDIS__DB", "-1")],
            "SOCIAL_REDIS__DB",
            "0 or greater",
        ),
        case(
            &[("SOCIAL_REDIS__POOL__MAX_SIZE", "0")],
            "SOCIAL_REDIS__POOL__MAX_SIZE",
            "1-10000",
        ),
        case(
            &[("SOCIAL_REDIS__POOL__MAX_SIZE", "20000")],
            "SOCIAL_REDIS__POOL__MAX_SIZE",
            "1-10000",
        ),
        case(
            &[("SOCIAL_REDIS__COMMAND_TIMEOUT", "0s")],
            "SOCIAL_REDIS__COMMAND_TIMEOUT",
            "more than 0",
        ),
        case(
            &[("SOCIAL_REDIS__CONNECT_TIMEOUT", "2h")],
            "SOCIAL_REDIS__CONNECT_TIMEOUT",
            "at most 1h",
        ),
        case(
            &[("SOCIAL_REDIS__POOL__WAIT_TIMEOUT", "5")],
            "SOCIAL_REDIS__POOL__WAIT_TIMEOUT",
            DURATION,
        ),
        case(
            &[("SOCIAL_QDRANT__TIMEOUT", "5 parsecs")],
            "SOCIAL_QDRANT__TIMEOUT",
            DURATION,
        ),
        case(
            &[("SOCIAL_REDIS__RETRY__MAX_ATTEMPTS", "0")],
            "SOCIAL_REDIS__RETRY__MAX_ATTEMPTS",
            "1-100",
        ),
        case(
            &[("SOCIAL_QDRANT__RETRY__MAX_ATTEMPTS", "101")],
            "SOCIAL_QDRANT__RETRY__MAX_ATTEMPTS",
            "1-100",
        ),
        case(
            &[("SOCIAL_REDIS__RETRY__BASE_DELAY", "2s")],
            "SOCIAL_REDIS__RETRY__MAX_DELAY",
            "at least as long as SOCIAL_REDIS__RETRY__BASE_DELAY",
        ),
        case(
            &[("SOCIAL_REDIS__CIRCUIT__FAILURE_THRESHOLD", "0")],
            "SOCIAL_REDIS__CIRCUIT__FAILURE_THRESHOLD",
            "1 or greater",
        ),
        case(
            &[
                ("SOCIAL_REDIS__TLS__ENABLED", "true"),
                ("SOCIAL_REDIS__URL", "redis://cache:6379"),
            ],
            "SOCIAL_REDIS__TLS__ENABLED",
            "a rediss:// URL",
        ),
        case(
            &[
                ("SOCIAL_REDIS__TLS__ENABLED", "false"),
                ("SOCIAL_REDIS__URL", "rediss://cache:6379"),
            ],
            "SOCIAL_REDIS__TLS__ENABLED",
            "rediss://",
        ),
        case(
            &[("SOCIAL_REDIS__MODE", "cluster")],
            "SOCIAL_REDIS__NODES",
            "host:port",
        ),
        case(
            &[
                ("SOCIAL_REDIS__MODE", "sentinel"),
                ("SOCIAL_REDIS__NODES", "s1:26379"),
            ],
            "SOCIAL_REDIS__SENTINEL_MASTER",
            "master",
        ),
        case(
            &[
                ("SOCIAL_REDIS__MODE", "sentinel"),
                ("SOCIAL_REDIS__SENTINEL_MASTER", "m"),
            ],
            "SOCIAL_REDIS__NODES",
            "host:port",
        ),
        case(
            &[
                ("SOCIAL_REDIS__MODE", "cluster"),
                ("SOCIAL_REDIS__NODES", "a:7000,b"),
            ],
            "SOCIAL_REDIS__NODES",
            "host:port",
        ),
        case(
            &[
                ("SOCIAL_REDIS__MODE", "cluster"),
                ("SOCIAL_REDIS__NODES", "a:7000"),
                ("SOCIAL_REDIS__DB", "2"),
            ],
            "SOCIAL_REDIS__DB",
            "0 in cluster mode",
        ),
        case(
            &[("SOCIAL_REDIS__NODES", "a:7000")],
            "SOCIAL_REDIS__NODES",
            "cluster or sentinel",
        ),
        case(
            &[("SOCIAL_REDIS__MODE", "primary")],
            "SOCIAL_REDIS__MODE",
            "standalone, cluster, sentinel",
        ),
        case(
            &[("SOCIAL_QDRANT__MODE", "cloud")],
            "SOCIAL_QDRANT__MODE",
            "remote, embedded",
        ),
        case(
            &[("SOCIAL_QDRANT__COMPRESSION", "zstd")],
            "SOCIAL_QDRANT__COMPRESSION",
            "none, gzip",
        ),
        case(
            &[REMOTE, ("SOCIAL_QDRANT__URL", "ftp://q:6334")],
            "SOCIAL_QDRANT__URL",
            "http://host:6334",
        ),
        case(
            &[REMOTE, ("SOCIAL_QDRANT__URL", "http://q:6333")],
            "SOCIAL_QDRANT__URL",
            "6334",
        ),
        case(
            &[REMOTE, ("SOCIAL_QDRANT__PORT", "6333")],
            "SOCIAL_QDRANT__PORT",
            "6334",
        ),
        case(
            &[REMOTE, ("SOCIAL_QDRANT__PORT", "0")],
            "SOCIAL_QDRANT__PORT",
            "1-65535",
        ),
        case(
            &[
                REMOTE,
                ("SOCIAL_QDRANT__TLS__ENABLED", "true"),
                ("SOCIAL_QDRANT__URL", "http://q:6334"),
            ],
            "SOCIAL_QDRANT__TLS__ENABLED",
            "an https:// URL",
        ),
        case(
            &[
                REMOTE,
                ("SOCIAL_QDRANT__TLS__ENABLED", "false"),
                ("SOCIAL_QDRANT__URL", "https://q:6334"),
            ],
            "SOCIAL_QDRANT__TLS__ENABLED",
            "https://",
        ),
        case(
            &[REMOTE, ("SOCIAL_QDRANT__URL", "http://u:p@q:6334")],
            "SOCIAL_QDRANT__URL",
            "API key",
        ),
        case(
            &[("SOCIAL_QDRANT__URL", "http://q:6334")],
            "SOCIAL_QDRANT__URL",
            "SOCIAL_QDRANT__MODE=remote",
        ),
        case(
            &[
                REMOTE,
                ("SOCIAL_QDRANT__URL", "http://vectors.example:6334"),
                ("SOCIAL_QDRANT__API_KEY", "k-123"),
            ],
            "SOCIAL_QDRANT__API_KEY",
            "an https:// URL in SOCIAL_QDRANT__URL, or SOCIAL_QDRANT__TLS__ENABLED=true",
        ),
        case(
            &[
                REMOTE,
                ("SOCIAL_QDRANT__HOST", "10.0.0.7"),
                ("SOCIAL_QDRANT__API_KEY", "k-123"),
            ],
            "SOCIAL_QDRANT__API_KEY",
            "plain http:// only to localhost",
        ),
        case(
            &[REMOTE, ("SOCIAL_QDRANT__WRITE_ORDERING", "eventual")],
            "SOCIAL_QDRANT__WRITE_ORDERING",
            "weak, medium, strong",
        ),
        case(
            &[REMOTE, ("SOCIAL_QDRANT__READ_CONSISTENCY", "0")],
            "SOCIAL_QDRANT__READ_CONSISTENCY",
            "a number of replicas 1-100",
        ),
        case(
            &[REMOTE, ("SOCIAL_QDRANT__READ_CONSISTENCY", "most")],
            "SOCIAL_QDRANT__READ_CONSISTENCY",
            "all, majority, quorum",
        ),
        case(
            &[("SOCIAL_QDRANT__READ_CONSISTENCY", "majority")],
            "SOCIAL_QDRANT__READ_CONSISTENCY",
            "SOCIAL_QDRANT__MODE=remote",
        ),
        case(
            &[("SOCIAL_QDRANT__WRITE_ORDERING", "strong")],
            "SOCIAL_QDRANT__WRITE_ORDERING",
            "SOCIAL_QDRANT__MODE=remote",
        ),
        case(
            &[("SOCIAL_QDRANT__POOL_SIZE", "0")],
            "SOCIAL_QDRANT__POOL_SIZE",
            "1-64",
        ),
        case(
            &[("SOCIAL_HEALTH__CHECK_TIMEOUT", "0ms")],
            "SOCIAL_HEALTH__CHECK_TIMEOUT",
            "more than 0",
        ),
        case(
            &[("SOCIAL_HEALTH__CACHE_TTL", "0s")],
            "SOCIAL_HEALTH__CACHE_TTL",
            "more than 0",
        ),
        case(
            &[("SOCIAL_HTTP__PORT", "65536")],
            "SOCIAL_HTTP__PORT",
            "0-65535",
        ),
        case(
            &[("SOCIAL_HTTP__BODY_LIMIT", "0")],
            "SOCIAL_HTTP__BODY_LIMIT",
            "1 GiB",
        ),
        case(
            &[("SOCIAL_HTTP__HOST", "not a host")],
            "SOCIAL_HTTP__HOST",
            "host name or IP address",
        ),
        case(
            &[("SOCIAL_REDIS__TLS__ENABLED", "maybe")],
            "SOCIAL_REDIS__TLS__ENABLED",
            "true or false",
        ),
        case(
            &[("SOCIAL_REDIS__PASWORD", "x")],
            "SOCIAL_REDIS__PASWORD",
            "password",
        ),
        case(
            &[("SOCIAL_REDIS__POOL__SIZE", "4")],
            "SOCIAL_REDIS__POOL__SIZE",
            "max_size",
        ),
        case(
            &[("SOCIAL_REDIS_URL", "redis://cache")],
            "SOCIAL_REDIS_URL",
            "SOCIAL_REDIS__URL",
        ),
        case(
            &[("SOCIAL_REDIS__USERNAME", "app")],
            "SOCIAL_REDIS__USERNAME",
            "a password as well",
        ),
        case(
            &[
                ("SOCIAL_REDIS__URL", "redis://cache:6379"),
                ("SOCIAL_REDIS__HOST", "other"),
            ],
            "SOCIAL_REDIS__HOST",
            "either SOCIAL_REDIS__URL or",
        ),
        case(
            &[("SOCIAL_REDSI__URL", "redis://cache")],
            "SOCIAL_REDSI__URL",
            "one of the sections redis, qdrant,",
        ),
        case(
            &[("SOCIAL_CAHCE__TTL", "1m")],
            "SOCIAL_CAHCE__TTL",
            "(SOCIAL_<SECTION>__<KEY>)",
        ),
        case(
            &[("SOCIAL_HTTP__HOTS", "127.0.0.1")],
            "SOCIAL_HTTP__HOTS",
            "one of host, port,",
        ),
        case(
            &[("SOCIAL_LOG__FORMAT", "yaml")],
            "SOCIAL_LOG__FORMAT",
            "one of text, json",
        ),
        case(
            &[("SOCIAL_LOG__LEVEL", "infra=verbose")],
            "SOCIAL_LOG__LEVEL",
            "an EnvFilter directive list",
        ),
        case(
            &[("SOCIAL_METRICS__ENABLED", "sometimes")],
            "SOCIAL_METRICS__ENABLED",
            "true or false",
        ),
        case(
            &[("SOCIAL_METRICS__PATH", "metrics")],
            "SOCIAL_METRICS__PATH",
            "starting with /",
        ),
        case(
            &[("SOCIAL_METRICS__PATH", "/health/metrics")],
            "SOCIAL_METRICS__PATH",
            "not under /health",
        ),
        case(
            &[("SOCIAL_METRICS__PATH", "/my metrics")],
            "SOCIAL_METRICS__PATH",
            "without whitespace",
        ),
        case(
            &[("SOCIAL_OTEL__ENDPOINT", "grpc://collector:4317")],
            "SOCIAL_OTEL__ENDPOINT",
            "http:// or https://",
        ),
        case(
            &[("SOCIAL_OTEL__ENDPOINT", "collector:4317")],
            "SOCIAL_OTEL__ENDPOINT",
            "OTLP collector",
        ),
        case(
            &[("SOCIAL_OTEL__ENDPOINT", "https://u:p@collector:4317")],
            "SOCIAL_OTEL__ENDPOINT",
            "OTLP headers",
        ),
        case(
            &[("SOCIAL_OTEL__SERVICE_NAME", " ")],
            "SOCIAL_OTEL__SERVICE_NAME",
            "non-empty",
        ),
        case(
            &[("SOCIAL_CACHE__TTL", "60")],
            "SOCIAL_CACHE__TTL",
            DURATION,
        ),
        case(
            &[("SOCIAL_CACHE__TTL", "2h")],
            "SOCIAL_CACHE__TTL",
            "at most 1h",
        ),
        case(
            &[("SOCIAL_CACHE__TTL_JITTER", "80")],
            "SOCIAL_CACHE__TTL_JITTER",
            "a percentage 0-50",
        ),
        case(
            &[("SOCIAL_CACHE__TTL_JITTER", "300")],
            "SOCIAL_CACHE__TTL_JITTER",
            "a percentage 0-50",
        ),
        case(
            &[("SOCIAL_CACHE__MAX_VALUE_SIZE", "0")],
            "SOCIAL_CACHE__MAX_VALUE_SIZE",
            "a size in bytes 1-67108864 (64 MiB)",
        ),
        case(
            &[("SOCIAL_CACHE__LEASE_WAIT", "0ms")],
            "SOCIAL_CACHE__LEASE_WAIT",
            "more than 0",
        ),
        case(
            &[("SOCIAL_CACHE__UNCERTAIN_WRITE_WINDOW", "10")],
            "SOCIAL_CACHE__UNCERTAIN_WRITE_WINDOW",
            DURATION,
        ),
        case(
            &[("SOCIAL_CACHE__TIME", "1m")],
            "SOCIAL_CACHE__TIME",
            "one of ttl",
        ),
        case(
            &[("SOCIAL_HTTP__HOST", "0.0.0.0")],
            "SOCIAL_HTTP__AUTH__MODE",
            "one of auto, none, api_key, jwt, any",
        ),
        case(
            &[("SOCIAL_HTTP__AUTH__MODE", "basic")],
            "SOCIAL_HTTP__AUTH__MODE",
            "one of auto, none, api_key, jwt, any",
        ),
        case(
            &[("SOCIAL_HTTP__AUTH__MODE", "api_key")],
            "SOCIAL_HTTP__AUTH__API_KEYS",
            "name:scopes:key",
        ),
        case(
            &[("SOCIAL_HTTP__AUTH__MODE", "jwt")],
            "SOCIAL_HTTP__AUTH__JWT__SECRET",
            "32 bytes or more",
        ),
        case(
            &[
                ("SOCIAL_HTTP__AUTH__MODE", "any"),
                ("SOCIAL_HTTP__AUTH__API_KEYS", "ci:read:0123456789abcdef"),
            ],
            "SOCIAL_HTTP__AUTH__MODE",
            "one of auto",
        ),
        case(
            &[("SOCIAL_HTTP__AUTH__API_KEYS", "ci:read:short-key")],
            "SOCIAL_HTTP__AUTH__API_KEYS",
            "16 characters or more",
        ),
        case(
            &[("SOCIAL_HTTP__AUTH__API_KEYS", "ci:root:0123456789abcdef")],
            "SOCIAL_HTTP__AUTH__API_KEYS",
            "read, write, admin",
        ),
        case(
            &[("SOCIAL_HTTP__AUTH__API_KEYS", "0123456789abcdef")],
            "SOCIAL_HTTP__AUTH__API_KEYS",
            "name:scopes:key",
        ),
        case(
            &[("SOCIAL_HTTP__AUTH__API_KEYS", "ci:read:sha256:abc")],
            "SOCIAL_HTTP__AUTH__API_KEYS",
            "sha256:HEX",
        ),
        case(
            &[(
                "SOCIAL_HTTP__AUTH__API_KEYS",
                "ci:read:0123456789abcdef,ci:write:fedcba9876543210",
            )],
            "SOCIAL_HTTP__AUTH__API_KEYS",
            "name:scopes:key",
        ),
        case(
            &[("SOCIAL_HTTP__AUTH__JWT__SECRET", "too-short")],
            "SOCIAL_HTTP__AUTH__JWT__SECRET",
            "32 bytes or more",
        ),
        case(
            &[("SOCIAL_HTTP__AUTH__JWT__LEEWAY", "10m")],
            "SOCIAL_HTTP__AUTH__JWT__LEEWAY",
            "at most 5m",
        ),
        case(
            &[("SOCIAL_HTTP__AUTH__JWT__AUDIENCE", " ")],
            "SOCIAL_HTTP__AUTH__JWT__AUDIENCE",
            "non-blank",
        ),
        case(
            &[("SOCIAL_HTTP__CORS__ALLOWED_ORIGINS", "*")],
            "SOCIAL_HTTP__CORS__ALLOWED_ORIGINS",
            "no *",
        ),
        case(
            &[(
                "SOCIAL_HTTP__CORS__ALLOWED_ORIGINS",
                "https://app.example.com/login",
            )],
            "SOCIAL_HTTP__CORS__ALLOWED_ORIGINS",
            "no path",
        ),
        case(
            &[(
                "SOCIAL_HTTP__ROUTE_TIMEOUTS",
                "/collections=2s,/collections/{name}",
            )],
            "SOCIAL_HTTP__ROUTE_TIMEOUTS",
            "a comma-separated list of ROUTE=DURATION",
        ),
        case(
            &[("SOCIAL_HTTP__ROUTE_TIMEOUTS", "/collections=0s")],
            "SOCIAL_HTTP__ROUTE_TIMEOUTS",
            "more than 0 and at most 1h",
        ),
        case(
            &[("SOCIAL_HTTP__HEADER_READ_TIMEOUT", "0s")],
            "SOCIAL_HTTP__HEADER_READ_TIMEOUT",
            "more than 0",
        ),
        case(
            &[("SOCIAL_HTTP__MAX_CONNECTIONS", "0")],
            "SOCIAL_HTTP__MAX_CONNECTIONS",
            "1-100000",
        ),
        case(
            &[("SOCIAL_HTTP__CONCURRENCY_LIMIT", "0")],
            "SOCIAL_HTTP__CONCURRENCY_LIMIT",
            "1-100000",
        ),
        case(
            &[("SOCIAL_REDIS", "redis://cache")],
            "SOCIAL_REDIS",
            "keys below it, like SOCIAL_REDIS__<KEY>",
        ),
    ];
    cases.push(Case {
        env: vec![
            ("SOCIAL_REDIS__TLS__ENABLED", "true".into()),
            ("SOCIAL_REDIS__TLS__CA_FILE", missing),
        ],
        key: "SOCIAL_REDIS__TLS__CA_FILE",
        accepted: "an existing PEM file",
    });
    cases.push(Case {
        env: vec![
            ("SOCIAL_REDIS__TLS__ENABLED", "true".into()),
            ("SOCIAL_REDIS__TLS__CERT_FILE", cert.clone()),
        ],
        key: "SOCIAL_REDIS__TLS__KEY_FILE",
        accepted: "client key",
    });
    cases.push(Case {
        env: vec![("SOCIAL_REDIS__TLS__CERT_FILE", cert)],
        key: "SOCIAL_REDIS__TLS__CERT_FILE",
        accepted: "TLS on",
    });
    cases.push(Case {
        env: vec![
            ("SOCIAL_HTTP__AUTH__JWT__SECRET", "s".repeat(32)),
            (
                "SOCIAL_HTTP__AUTH__JWT__PUBLIC_KEY_FILE",
                write_file(&dir, "jwt.pem", "pem")
                    .to_str()
                    .unwrap()
                    .to_owned(),
            ),
        ],
        key: "SOCIAL_HTTP__AUTH__JWT__PUBLIC_KEY_FILE",
        accepted: "public key",
    });
    cases.push(Case {
        env: vec![(
            "SOCIAL_HTTP__AUTH__JWT__PUBLIC_KEY_FILE",
            dir.path().join("missing.pem").to_str().unwrap().to_owned(),
        )],
        key: "SOCIAL_HTTP__AUTH__JWT__PUBLIC_KEY_FILE",
        accepted: "an existing PEM file",
    });
    cases.push(Case {
        env: vec![
            (
                "SOCIAL_HTTP__AUTH__JWT__PUBLIC_KEY_FILE",
                write_file(&dir, "one.pem", "pem")
                    .to_str()
                    .unwrap()
                    .to_owned(),
            ),
            (
                "SOCIAL_HTTP__AUTH__JWT__JWKS_FILE",
                write_file(&dir, "jwks.json", "{}")
                    .to_str()
                    .unwrap()
                    .to_owned(),
            ),
        ],
        key: "SOCIAL_HTTP__AUTH__JWT__JWKS_FILE",
        accepted: "JWKS",
    });
    assert!(cases.len() >= 25);

    for case in &cases {
        let error = SettingsLoader::from_pairs(case.env.iter().map(|(k, v)| (*k, v.as_str())))
            .load()
            .err()
            .unwrap_or_else(|| panic!("{:?} was accepted", case.env));
        let problems = error.errors();
        assert_eq!(
            problems.len(),
            1,
            "{:?} gave several problems:\n{error}",
            case.env
        );
        let line = error.to_string();
        assert!(!line.contains('\n'), "not one line: {line}");
        assert_eq!(error.key(), Some(case.key), "{line}");
        assert!(line.starts_with(&format!("{} (", case.key)), "{line}");
        let (_, accepted) = line
            .split_once(", expected ")
            .unwrap_or_else(|| panic!("no 'expected': {line}"));
        let accepted = format!("expected {accepted}");
        assert!(
            accepted.contains(case.accepted),
            "{line}\n  should say what is accepted: {}",
            case.accepted
        );
    }
}

#[test]
fn several_bad_keys_are_reported_together() {
    let error = load_err(&[
        ("SOCIAL_REDIS__PORT", "0"),
        ("SOCIAL_REDIS__POOL__WAIT_TIMEOUT", "5"),
        ("SOCIAL_QDRANT__MODE", "cloud"),
        ("SOCIAL_HTTP__PORT", "x"),
        ("SOCIAL_HEALTH__CACHE_TTL", "0s"),
        ("SOCIAL_REDIS__PASWORD", "x"),
    ]);
    assert!(matches!(error, ConfigError::Many(_)), "{error:?}");
    let mut keys: Vec<_> = error.errors().iter().filter_map(ConfigError::key).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "SOCIAL_HEALTH__CACHE_TTL",
            "SOCIAL_HTTP__PORT",
            "SOCIAL_QDRANT__MODE",
            "SOCIAL_REDIS__PASWORD",
            "SOCIAL_REDIS__POOL__WAIT_TIMEOUT",
            "SOCIAL_REDIS__PORT",
        ]
    );
    assert_eq!(error.to_string().lines().count(), 6);
}

#[test]
fn the_documented_examples_read_as_promised() {
    let error = load_err(&[("SOCIAL_REDIS__PORT", "0")]);
    assert_eq!(
        error.to_string(),
        "SOCIAL_REDIS__PORT (redis.port): got 0, expected a port number 1-65535"
    );
    let error = load_err(&[("SOCIAL_REDIS__COMMAND_TIMEOUT", "5")]);
    assert_eq!(
        error.to_string(),
        "SOCIAL_REDIS__COMMAND_TIMEOUT (redis.command_timeout): got 5 (a number without a unit), \
         expected a duration with a unit, e.g. 250ms or 2s, more than 0 and at most 1h"
    );
    let error = load_err(&[("SOCIAL_REDIS__PASWORD", "x")]);
    let line = error.to_string();
    assert!(
        line.starts_with(
            "SOCIAL_REDIS__PASWORD (redis.pasword): unknown key, expected one of enabled, url,"
        ),
        "{line}"
    );
    let error = SettingsLoader::from_pairs([("APP_REDIS__PORT", "0")])
        .prefix("APP_")
        .load()
        .unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("APP_REDIS__PORT (redis.port)"),
        "{error}"
    );
}

#[test]
fn an_undeclared_key_in_any_section_is_refused() {
    use std::collections::BTreeSet;

    // Every section and sub-section of the key table (`redis`, `redis.pool`, ...).
    let sections: BTreeSet<String> = infra_config::schema::KEYS
        .iter()
        .flat_map(|key| {
            let parts: Vec<&str> = key.path.split('.').collect();
            (1..parts.len())
                .map(|depth| parts[..depth].join("."))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(sections.len() >= 12, "{sections:?}");
    for section in &sections {
        let key = format!(
            "SOCIAL_{}__NOT_A_KEY",
            section.to_uppercase().replace('.', "__")
        );
        let error = load_err(&[(key.as_str(), "1")]);
        assert_eq!(error.errors().len(), 1, "{error}");
        assert_eq!(error.key(), Some(key.as_str()), "{error}");
        assert!(
            error.to_string().contains("unknown key, expected one of "),
            "{error}"
        );
    }
}
