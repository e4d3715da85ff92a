//! The real process environment and `./.env`, inside `figment::Jail` (which
//! serializes these tests, restores variables it set, and runs each in its
//! own temporary working directory).

// `Jail` closures return figment's own (large) error type.
#![allow(clippy::result_large_err)]

use std::time::Duration;

use figment::Jail;
use infra_config::{Secret, Settings, SettingsLoader};

#[test]
fn process_environment_beats_dotenv_which_is_exported_without_overriding() {
    Jail::expect_with(|jail| {
        jail.set_env("JAILTEST_REDIS__PORT", "7001");
        jail.create_file(
            "cfg.toml",
            "[health]\ncache_ttl = \"5s\"\n[http]\nport = 1\n",
        )?;
        jail.create_file(
            ".env",
            "JAILTEST_REDIS__PORT=7002\nJAILTEST_HTTP__PORT=9001\nJAILTEST_CONFIG_FILE=cfg.toml\nJAILTEST_REDIS__PASSWORD=0123\n",
        )?;
        let settings = SettingsLoader::new()
            .prefix("JAILTEST_")
            .load()
            .map_err(|e| e.to_string())?;
        assert_eq!(settings.redis.port, 7001, "environment beats .env");
        assert_eq!(settings.http.port, 9001, ".env beats TOML");
        assert_eq!(
            settings.health.cache_ttl,
            Duration::from_secs(5),
            "TOML named by CONFIG_FILE"
        );
        assert_eq!(
            settings.redis.password.as_ref().map(Secret::expose_secret),
            Some("0123")
        );
        // .env was exported, without overriding what was set.
        assert_eq!(std::env::var("JAILTEST_HTTP__PORT").as_deref(), Ok("9001"));
        assert_eq!(std::env::var("JAILTEST_REDIS__PORT").as_deref(), Ok("7001"));
        Ok(())
    });
}

#[test]
fn from_env_reads_the_social_prefix() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        jail.set_env("SOCIAL_REDIS__PASSWORD", "1.10");
        jail.set_env("SOCIAL_HTTP__PORT", "0");
        let settings = Settings::from_env().map_err(|e| e.to_string())?;
        assert_eq!(
            settings.redis.password.as_ref().map(Secret::expose_secret),
            Some("1.10")
        );
        assert_eq!(settings.http.port, 0);

        jail.set_env("SOCIAL_REDIS__PORT", "0");
        let error = Settings::from_env().expect_err("port 0 is refused");
        assert_eq!(error.key(), Some("SOCIAL_REDIS__PORT"));

        // A .env that does not parse is refused before anything is exported.
        jail.create_file(".env", "SOCIAL_HTTP__PORT=1\nBROKEN='\n")?;
        assert!(Settings::from_env().is_err());
        assert!(std::env::var("BROKEN").is_err());
        Ok(())
    });
}

#[test]
fn no_dotenv_ignores_the_file() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        jail.create_file(".env", "SOCIAL_HTTP__PORT=1234\n")?;
        let settings = SettingsLoader::new()
            .no_dotenv()
            .load()
            .map_err(|e| e.to_string())?;
        assert_eq!(settings.http.port, 8080);
        Ok(())
    });
}

#[test]
fn a_bad_key_in_dotenv_is_reported_once() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        // `.env` is exported into the process environment and read from both.
        jail.create_file(".env", "SOCIAL_REDSI__URL=x\nSOCIAL_REDIS_PORT=1\n")?;
        let error = Settings::from_env().expect_err("unknown keys are refused");
        let mut keys: Vec<_> = error.errors().iter().filter_map(|e| e.key()).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["SOCIAL_REDIS_PORT", "SOCIAL_REDSI__URL"], "{error}");
        Ok(())
    });
}
