//! defaults < TOML file < .env < environment, and the file errors.

use std::time::Duration;

use infra_config::{ConfigError, RedisMode, SettingsLoader};

use crate::write_file;

const TOML: &str = r#"
[redis]
port = 7001
db = 1
password = "from-toml"

[http]
port = 1001

[qdrant]
critical = false
"#;

#[test]
fn environment_beats_dotenv_beats_toml_beats_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let toml = write_file(&dir, "config.toml", TOML);
    let dotenv = write_file(
        &dir,
        "test.env",
        "SOCIAL_REDIS__DB=0\nSOCIAL_HTTP__PORT=1002\n# comment\nSOCIAL_REDIS__PASSWORD='from dotenv'\nSOCIAL_HTTP__PORT=1999\n",
    );
    let s = SettingsLoader::from_pairs([("SOCIAL_HTTP__PORT", "1003")])
        .toml_file(&toml)
        .dotenv(&dotenv)
        .load()
        .unwrap();
    assert_eq!(s.http.port, 1003, "environment wins");
    assert_eq!(s.redis.db, 0, ".env beats TOML");
    assert_eq!(
        s.redis.password.unwrap().expose_secret(),
        "from dotenv",
        ".env beats TOML"
    );
    assert_eq!(s.redis.port, 7001, "TOML beats defaults");
    assert!(!s.qdrant.critical, "TOML booleans");
    assert_eq!(
        s.health.cache_ttl,
        Duration::from_secs(2),
        "defaults otherwise"
    );

    // Without the environment value, .env wins (its first value of a key).
    let s = SettingsLoader::from_pairs(Vec::<(String, String)>::new())
        .toml_file(&toml)
        .dotenv(&dotenv)
        .load()
        .unwrap();
    assert_eq!(s.http.port, 1002);
}

#[test]
fn toml_values_keep_their_types() {
    let dir = tempfile::tempdir().unwrap();
    let toml = write_file(
        &dir,
        "cluster.toml",
        "[redis]\nmode = \"cluster\"\nnodes = [\"t1:7000\", \" t2:7000 \"]\ncritical = true\n\
         [redis.pool]\nmax_size = 64\nwait_timeout = \"250ms\"\n",
    );
    let s = SettingsLoader::from_pairs(Vec::<(String, String)>::new())
        .toml_file(&toml)
        .load()
        .unwrap();
    assert_eq!(s.redis.mode, RedisMode::Cluster);
    let nodes: Vec<_> = s.redis.nodes.iter().map(ToString::to_string).collect();
    assert_eq!(nodes, ["t1:7000", "t2:7000"], "TOML arrays are node lists");
    assert!(s.redis.critical);
    assert_eq!(s.redis.pool.max_size, 64);
    assert_eq!(s.redis.pool.wait_timeout, Duration::from_millis(250));
}

#[test]
fn toml_read_consistency_is_a_word_or_an_integer() {
    let dir = tempfile::tempdir().unwrap();
    for (value, expected) in [("3", "3"), ("\"quorum\"", "quorum"), ("\"\"", "")] {
        let toml = write_file(
            &dir,
            "qdrant.toml",
            &format!("[qdrant]\nmode = \"remote\"\nread_consistency = {value}\n"),
        );
        let s = SettingsLoader::from_pairs(Vec::<(String, String)>::new())
            .toml_file(&toml)
            .load()
            .unwrap();
        let read = s.qdrant.read_consistency.map(|r| r.to_string());
        assert_eq!(read.as_deref().unwrap_or(""), expected, "{value}");
    }
}

#[test]
fn config_file_key_names_the_toml_file() {
    let dir = tempfile::tempdir().unwrap();
    let toml = write_file(&dir, "named.toml", "[http]\nport = 4242\n");
    let s = SettingsLoader::from_pairs([("SOCIAL_CONFIG_FILE", toml.to_str().unwrap())])
        .load()
        .unwrap();
    assert_eq!(s.http.port, 4242);

    // Also from .env, and with another prefix.
    let dotenv = write_file(
        &dir,
        ".env",
        &format!("APP_CONFIG_FILE={}\n", toml.display()),
    );
    let s = SettingsLoader::from_pairs(Vec::<(String, String)>::new())
        .prefix("APP_")
        .dotenv(&dotenv)
        .load()
        .unwrap();
    assert_eq!(s.http.port, 4242);
}

#[test]
fn missing_named_files_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.toml");
    let error = SettingsLoader::from_pairs([("SOCIAL_CONFIG_FILE", missing.to_str().unwrap())])
        .load()
        .unwrap_err();
    assert!(matches!(error, ConfigError::File { .. }), "{error:?}");
    let line = error.to_string();
    assert!(
        line.contains("nope.toml") && line.contains("SOCIAL_CONFIG_FILE"),
        "{line}"
    );
    assert!(!line.contains('\n'));

    let error = SettingsLoader::from_pairs(Vec::<(String, String)>::new())
        .toml_file(&missing)
        .load()
        .unwrap_err();
    assert!(matches!(error, ConfigError::File { .. }), "{error:?}");

    let error = SettingsLoader::from_pairs(Vec::<(String, String)>::new())
        .dotenv(dir.path().join("missing.env"))
        .load()
        .unwrap_err();
    assert!(matches!(error, ConfigError::File { .. }), "{error:?}");
}

#[test]
fn syntax_errors_name_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let toml = write_file(
        &dir,
        "bad.toml",
        "[redis]\nport = 1\nhost = \"unterminated\n",
    );
    let error = SettingsLoader::from_pairs(Vec::<(String, String)>::new())
        .toml_file(&toml)
        .load()
        .unwrap_err();
    match &error {
        ConfigError::Parse { line, .. } => assert_eq!(*line, Some(3), "{error}"),
        other => panic!("expected a parse error, got {other:?}"),
    }
    assert!(error.to_string().contains("bad.toml line 3"), "{error}");
    assert!(!error.to_string().contains('\n'), "{error}");

    let dotenv = write_file(
        &dir,
        "bad.env",
        "SOCIAL_HTTP__PORT=1\nSOCIAL_REDIS__PASSWORD='open\n",
    );
    let error = SettingsLoader::from_pairs(Vec::<(String, String)>::new())
        .dotenv(&dotenv)
        .load()
        .unwrap_err();
    assert!(matches!(error, ConfigError::Parse { .. }), "{error:?}");
    assert!(error.to_string().contains("bad.env"), "{error}");
}

#[test]
fn toml_files_are_checked_like_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let toml = write_file(
        &dir,
        "c.toml",
        "[reddis]\nport = 1\n[qdrant]\npath = \"\"\n[redis]\npassword = 123456\n",
    );
    let error = SettingsLoader::from_pairs(Vec::<(String, String)>::new())
        .toml_file(&toml)
        .load()
        .unwrap_err();
    let keys: Vec<_> = error.errors().iter().filter_map(ConfigError::key).collect();
    assert_eq!(keys.len(), 3, "{error}");
    for key in [
        "SOCIAL_REDDIS",
        "SOCIAL_QDRANT__PATH",
        "SOCIAL_REDIS__PASSWORD",
    ] {
        assert!(keys.contains(&key), "{key} missing in {error}");
    }
    assert!(!error.to_string().contains("123456"), "{error}");
}
