//! The reference service.
//!
//! Until the HTTP service lands (issue 5), the binary is the configuration front door:
//! it loads the settings exactly as the service will (defaults, optional TOML file, `.env`,
//! `SOCIAL_*` environment keys), validates them, and prints the effective configuration
//! with every secret redacted. A bad configuration exits with status 2 and one line per
//! problem, naming the key and what is accepted.

use std::io::Write;
use std::process::ExitCode;

use infra_config::{ConfigError, SettingsLoader};

const HELP: &str = "\
infra-server: reference service of the Redis + Qdrant base layer

usage: infra-server [config]

commands:
  config     load and validate the configuration, print it as JSON (secrets redacted);
             also the default when no command is given

configuration sources, later ones winning:
  built-in defaults < TOML file (SOCIAL_CONFIG_FILE) < .env < environment
  keys: SOCIAL_REDIS__*, SOCIAL_QDRANT__*, SOCIAL_HTTP__*, SOCIAL_HEALTH__*
  (every key is listed with its default in .env.example)

exit status: 0 on success, 2 when the configuration is invalid, 64 on a usage error
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] | ["config"] => print_config(),
        ["-h" | "--help" | "help"] => {
            print!("{HELP}");
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("infra-server: unknown arguments {args:?}\n\n{HELP}");
            ExitCode::from(64)
        }
    }
}

fn print_config() -> ExitCode {
    let settings = match SettingsLoader::new().load() {
        Ok(settings) => settings,
        Err(err) => return config_failure(&err),
    };
    match serde_json::to_string_pretty(&settings) {
        Ok(json) => {
            let mut out = std::io::stdout().lock();
            // A closed stdout (e.g. `| head`) is not worth a panic.
            let _ = writeln!(out, "{json}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("infra-server: cannot render the configuration: {err}");
            ExitCode::FAILURE
        }
    }
}

fn config_failure(err: &ConfigError) -> ExitCode {
    for line in err.to_string().lines() {
        eprintln!("configuration error: {line}");
    }
    ExitCode::from(2)
}
