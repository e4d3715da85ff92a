//! A unique marker used as the Redis password, inside a Redis URL and as the
//! Qdrant API key never shows in Debug, JSON, or any error message.

use infra_config::{ConfigError, ExposeSecret, Settings, SettingsLoader};

use crate::{load, load_ok, write_file};

const MARKER: &str = "Zq7-MARKER-s3cr3t";

fn assert_hidden(settings: &Settings) {
    let debug = format!("{settings:?}");
    let pretty = format!("{settings:#?}");
    let json = serde_json::to_string(settings).unwrap();
    for (what, text) in [
        ("Debug", &debug),
        ("pretty Debug", &pretty),
        ("JSON", &json),
    ] {
        assert!(!text.contains(MARKER), "{what} leaks the secret: {text}");
    }
}

fn assert_error_hidden(error: &ConfigError) {
    let display = error.to_string();
    let debug = format!("{error:?}");
    assert!(
        !display.contains(MARKER),
        "error leaks the secret: {display}"
    );
    assert!(
        !debug.contains(MARKER),
        "error Debug leaks the secret: {debug}"
    );
}

#[test]
fn secrets_are_redacted_in_debug_and_json() {
    let url = format!("redis://app:{MARKER}@cache:6379/0");
    let s = load_ok(&[
        ("SOCIAL_REDIS__URL", url.as_str()),
        ("SOCIAL_QDRANT__MODE", "remote"),
        ("SOCIAL_QDRANT__API_KEY", MARKER),
    ]);
    assert_hidden(&s);
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(json["redis"]["url"], "redis://app:***@cache:6379/0");
    assert_eq!(json["qdrant"]["api_key"], "[REDACTED]");
    // Adapters still get the real values.
    assert!(s.redis.connection_url().expose_secret().contains(MARKER));
    assert_eq!(s.qdrant.api_key.as_ref().unwrap().expose_secret(), MARKER);

    let s = load_ok(&[("SOCIAL_REDIS__PASSWORD", MARKER)]);
    assert_hidden(&s);
    assert_eq!(
        serde_json::to_value(&s).unwrap()["redis"]["password"],
        "[REDACTED]"
    );
    assert!(s.redis.connection_url().expose_secret().contains(MARKER));

    let loader = SettingsLoader::from_pairs([("SOCIAL_REDIS__PASSWORD", MARKER)]);
    assert!(!format!("{loader:?}").contains(MARKER));
}

#[test]
fn errors_on_secret_keys_never_echo_them() {
    let url = |text: &str| text.replace("{M}", MARKER);
    let cases: Vec<Vec<(&str, String)>> = vec![
        vec![("SOCIAL_REDIS__URL", url("http://app:{M}@cache:6379"))],
        vec![("SOCIAL_REDIS__URL", url("ftp://app:{M}@cache:6379"))],
        vec![("SOCIAL_REDIS__URL", url("app:{M}@cache:6379"))],
        vec![("SOCIAL_REDIS__URL", url("{M}"))],
        vec![("SOCIAL_REDIS__URL", url("redis://app:{M}@cache:99999"))],
        vec![("SOCIAL_REDIS__URL", url("redis://app:{M}@cache:6379/x?y=1"))],
        vec![("SOCIAL_REDIS__URL", url("redis://app:12/{M}@cache"))],
        vec![
            ("SOCIAL_REDIS__URL", url("redis://:{M}@cache:6379")),
            ("SOCIAL_REDIS__PASSWORD", url("{M}")),
        ],
        vec![
            ("SOCIAL_REDIS__URL", url("rediss://:{M}@cache:6379")),
            ("SOCIAL_REDIS__TLS__ENABLED", "false".into()),
        ],
        vec![
            ("SOCIAL_REDIS__URL", url("redis://:{M}@cache:6379")),
            ("SOCIAL_REDIS__MODE", "cluster".into()),
        ],
        vec![("SOCIAL_REDIS__PASWORD", url("{M}"))],
        vec![("SOCIAL_REDIS__PASSWORD__X", url("{M}"))],
        vec![("SOCIAL_REDIS", url("redis://app:{M}@cache"))],
        vec![("SOCIAL_REDIS_PASSWORD", url("{M}"))],
        vec![("SOCIAL_REDIS__HOST", url("redis://app:{M}@cache"))],
        vec![("SOCIAL_REDIS__NODES", url("app:{M}@cache:6379"))],
        vec![
            ("SOCIAL_REDIS__MODE", "cluster".into()),
            ("SOCIAL_REDIS__NODES", url("app:{M}@cache:6379")),
        ],
        vec![
            ("SOCIAL_QDRANT__MODE", "remote".into()),
            ("SOCIAL_QDRANT__URL", url("http://u:{M}@q:6334")),
        ],
        vec![
            ("SOCIAL_QDRANT__MODE", "remote".into()),
            ("SOCIAL_QDRANT__URL", url("http://q:6333/?api_key={M}")),
        ],
        vec![
            ("SOCIAL_QDRANT__MODE", "remote".into()),
            ("SOCIAL_QDRANT__URL", url("grpc://u:{M}@q:6334")),
        ],
        vec![("SOCIAL_QDRANT__API_KEY", url("{M}"))],
        vec![
            ("SOCIAL_QDRANT__MODE", "remote".into()),
            ("SOCIAL_QDRANT__URL", "http://vectors.example:6334".into()),
            ("SOCIAL_QDRANT__API_KEY", url("{M}")),
        ],
        vec![("SOCIAL_QDRANT__APIKEY", url("{M}"))],
        vec![("SOCIAL_REDSI__PASSWORD", url("{M}"))],
        vec![("SOCIAL_OTEL__ENDPOINT", url("https://u:{M}@collector:4317"))],
        vec![("SOCIAL_OTEL__ENDPOINT", url("{M}"))],
        vec![("SOCIAL_OTEL__ENDPOINT", url("ftp://collector/{M}"))],
        vec![("SOCIAL_DATABASE__URL", url("postgres://app:{M}@db/app"))],
        vec![("SOCIAL_HTTP__AUTH__API_KEYS", url("{M}"))],
        vec![("SOCIAL_HTTP__AUTH__API_KEYS", url("ci:root:{M}"))],
        vec![("SOCIAL_HTTP__AUTH__API_KEYS", url("ci:read:{M} x"))],
        vec![("SOCIAL_HTTP__AUTH__API_KEYS", url("ci:read:sha256:{M}"))],
        vec![(
            "SOCIAL_HTTP__AUTH__API_KEYS",
            url("ci:read:{M},ci:read:{M}"),
        )],
        vec![("SOCIAL_HTTP__AUTH__JWT__SECRET", url("{M}"))],
        vec![("SOCIAL_HTTP__AUTH__JWT__SECRET__X", url("{M}"))],
    ];
    for env in &cases {
        let error = SettingsLoader::from_pairs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .load()
            .err()
            .unwrap_or_else(|| panic!("expected an error for case {:?}", env[0].0));
        assert_error_hidden(&error);
        assert!(error.errors().iter().all(|e| e.key().is_some()), "{error}");
    }
}

#[test]
fn file_errors_never_echo_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let toml = write_file(
        &dir,
        "a.toml",
        &format!("[redis]\npassword = \"{MARKER}\nport = 1\n"),
    );
    let error = SettingsLoader::from_pairs(Vec::<(String, String)>::new())
        .toml_file(&toml)
        .load()
        .unwrap_err();
    assert!(matches!(error, ConfigError::Parse { .. }), "{error:?}");
    assert_error_hidden(&error);

    let toml = write_file(
        &dir,
        "b.toml",
        &format!("[redis]\nurl = \"ftp://u:{MARKER}@h\"\n"),
    );
    let error = SettingsLoader::from_pairs(Vec::<(String, String)>::new())
        .toml_file(&toml)
        .load()
        .unwrap_err();
    assert_eq!(error.key(), Some("SOCIAL_REDIS__URL"));
    assert_error_hidden(&error);

    let dotenv = write_file(
        &dir,
        "c.env",
        &format!("SOCIAL_REDIS__PASSWORD=\"{MARKER}\nX=1\n"),
    );
    let error = SettingsLoader::from_pairs(Vec::<(String, String)>::new())
        .dotenv(&dotenv)
        .load()
        .unwrap_err();
    assert_error_hidden(&error);
}

#[test]
fn loads_with_the_marker_are_otherwise_fine() {
    // The marker itself is a valid password and API key.
    let s = load(&[("SOCIAL_REDIS__PASSWORD", MARKER)]).unwrap();
    assert_hidden(&s);
}
