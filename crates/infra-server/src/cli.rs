//! The command line: `serve` (default), `check`, `config`, `--help`, `--version`.
//!
//! Parsed by hand: three subcommands and one option do not pay for an argument parser.

use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use infra_config::{ConfigError, Settings, SettingsLoader};

use crate::app::{Application, StartupError};
use crate::check;
use crate::observability;

/// The `--help` text.
pub const HELP: &str = "\
infra-server: reference service of the Redis + Qdrant base layer

A vector catalog over HTTP: collections of items (id, vector, JSON payload),
similarity search with payload filters, search answers cached in Redis.

usage:
  infra-server [serve]            run the service (the default command)
  infra-server check [--url URL]  one-shot health of every component, as a table
  infra-server config             print the effective configuration as JSON
  infra-server --help | --version

serve
  Binds SOCIAL_HTTP__HOST:SOCIAL_HTTP__PORT (default 127.0.0.1:8080; port 0 picks a
  free one) and prints `infra-server listening on http://ADDRESS` on stdout. Stops
  gracefully on SIGTERM or Ctrl-C: readiness turns 503, in-flight requests finish
  within SOCIAL_HTTP__SHUTDOWN_GRACE, then connections close.
  With no configuration at all it needs no server: vectors live in the embedded
  store in ./data/qdrant, and Redis (redis://127.0.0.1:6379) is optional: without
  it searches are answered uncached and health reports `warn`.
  Routes: /collections..., /health/{live,ready,infra}, /openapi.json (the API).
  With authentication on, /collections... need a bearer token (docs/security.md).

check
  Without --url: builds, initializes and checks every configured component once
  (as `serve` would), then closes them. In embedded mode this opens the data
  directory, which a running service holds locked.
  With --url http://HOST:PORT: asks that running service's /health/infra instead;
  use this form as a container healthcheck.
  Exit status 0 when ready (no critical component fails), 1 when not.

config
  Loads and validates the configuration and prints it as JSON, secrets redacted.

configuration, later sources winning:
  built-in defaults < TOML file (SOCIAL_CONFIG_FILE) < .env < environment
  SOCIAL_QDRANT__MODE      embedded (default) | remote
  SOCIAL_QDRANT__PATH      data directory of the embedded store (./data/qdrant)
  SOCIAL_QDRANT__URL       gRPC endpoint of a remote Qdrant (http://127.0.0.1:6334)
  SOCIAL_QDRANT__API_KEY, SOCIAL_QDRANT__TIMEOUT, SOCIAL_QDRANT__CRITICAL (true)
  SOCIAL_REDIS__URL        redis://[user:pass@]host:port/db (redis://127.0.0.1:6379)
  SOCIAL_REDIS__ENABLED    false: no Redis, searches are never cached
  SOCIAL_REDIS__CRITICAL   true: readiness fails while Redis does (default false)
  SOCIAL_REDIS__COMMAND_TIMEOUT  also bounds each search-cache call (1s)
  SOCIAL_HTTP__HOST, SOCIAL_HTTP__PORT, SOCIAL_HTTP__SHUTDOWN_GRACE,
  SOCIAL_HTTP__REQUEST_TIMEOUT, SOCIAL_HTTP__BODY_LIMIT,
  SOCIAL_HTTP__HEADER_READ_TIMEOUT, SOCIAL_HTTP__MAX_CONNECTIONS,
  SOCIAL_HTTP__CONCURRENCY_LIMIT
  SOCIAL_HTTP__AUTH__MODE  auto (default) | none | api_key | jwt | any; a
                           non-loopback HOST needs credentials or MODE=none
  SOCIAL_HTTP__AUTH__API_KEYS  name:scopes:key entries (scopes read+write+admin)
  SOCIAL_HTTP__AUTH__JWT__SECRET | __PUBLIC_KEY_FILE, __ISSUER, __AUDIENCE
  SOCIAL_HEALTH__CACHE_TTL, SOCIAL_HEALTH__CHECK_TIMEOUT
  (every key, with its default, is listed in .env.example)
  RUST_LOG                 log filter, logs go to stderr (default: info for serve,
                           warn otherwise)

exit status: 0 success, 1 not ready or failed to start, 2 invalid configuration,
64 usage error
";

/// A parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Run the service.
    Serve,
    /// One-shot health; `url`: ask a running service instead of the components.
    Check {
        /// Base URL of a running service.
        url: Option<String>,
    },
    /// Print the effective configuration.
    Config,
    /// Print the help.
    Help,
    /// Print the version.
    Version,
}

/// Parses the arguments after the program name.
///
/// # Errors
///
/// A usage error message.
pub fn parse(args: &[String]) -> Result<Command, String> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        [] | ["serve"] => Ok(Command::Serve),
        ["config"] => Ok(Command::Config),
        ["check"] => Ok(Command::Check { url: None }),
        ["check", "--url", url] => Ok(Command::Check {
            url: Some((*url).to_owned()),
        }),
        ["check", arg] if arg.starts_with("--url=") => Ok(Command::Check {
            url: Some(arg["--url=".len()..].to_owned()),
        }),
        ["-h" | "--help" | "help"] | [_, "-h" | "--help"] => Ok(Command::Help),
        ["-V" | "--version"] => Ok(Command::Version),
        _ => Err(format!("unknown arguments {args:?}")),
    }
}

/// Runs the binary: parses the arguments and dispatches.
pub fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match parse(&args) {
        Ok(Command::Serve) => serve(),
        Ok(Command::Check { url }) => run_check(url.as_deref()),
        Ok(Command::Config) => print_config(),
        Ok(Command::Help) => {
            print!("{HELP}");
            ExitCode::SUCCESS
        }
        Ok(Command::Version) => {
            println!("infra-server {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("infra-server: {message}\n\n{HELP}");
            ExitCode::from(64)
        }
    }
}

/// Loads the settings first thing, before any thread exists (`.env` is exported into the
/// process environment).
fn load_settings() -> Result<Settings, ExitCode> {
    SettingsLoader::new()
        .load()
        .map_err(|err| config_failure(&err))
}

fn config_failure(err: &ConfigError) -> ExitCode {
    for line in err.to_string().lines() {
        eprintln!("configuration error: {line}");
    }
    ExitCode::from(2)
}

fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|err| {
            eprintln!("infra-server: cannot start the async runtime: {err}");
            ExitCode::FAILURE
        })
}

fn serve() -> ExitCode {
    let settings = match load_settings() {
        Ok(settings) => settings,
        Err(code) => return code,
    };
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    // Within the runtime: the OpenTelemetry exporter's gRPC client needs one. The guard
    // flushes the exporter when `serve` returns.
    let _telemetry = {
        let _runtime = runtime.enter();
        observability::init_service_telemetry(&settings)
    };
    runtime.block_on(async {
        let app = match Application::build(&settings).await {
            Ok(app) => app,
            Err(StartupError::Settings(problem)) => {
                tracing::error!(error = %problem, "invalid configuration");
                eprintln!("infra-server: invalid configuration: {problem}");
                return ExitCode::from(2);
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot start");
                eprintln!("infra-server: cannot start: {err}");
                return ExitCode::FAILURE;
            }
        };
        {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "infra-server listening on http://{}", app.local_addr());
            let _ = out.flush();
        }
        match app.run_until_stopped().await {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("infra-server: the server failed: {err}");
                ExitCode::FAILURE
            }
        }
    })
}

fn run_check(url: Option<&str>) -> ExitCode {
    let settings = match load_settings() {
        Ok(settings) => settings,
        Err(code) => return code,
    };
    observability::init_logging(settings.log.format, "warn");
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    let report = runtime.block_on(async {
        match url {
            None => check::check_components(&settings).await,
            Some(url) => {
                // The service answers from its health cache; allow it one round of checks.
                let timeout = settings.health.check_timeout + Duration::from_secs(2);
                check::check_running(url, timeout).await
            }
        }
    });
    match report {
        Ok(report) => {
            print!("{}", report.render());
            let _ = std::io::stdout().flush();
            if report.is_ready() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(message) => {
            eprintln!("infra-server check: {message}");
            ExitCode::FAILURE
        }
    }
}

fn print_config() -> ExitCode {
    let settings = match load_settings() {
        Ok(settings) => settings,
        Err(code) => return code,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn commands_parse() {
        assert_eq!(parse(&args(&[])), Ok(Command::Serve));
        assert_eq!(parse(&args(&["serve"])), Ok(Command::Serve));
        assert_eq!(parse(&args(&["config"])), Ok(Command::Config));
        assert_eq!(parse(&args(&["check"])), Ok(Command::Check { url: None }));
        let url = Some("http://127.0.0.1:8080".to_owned());
        assert_eq!(
            parse(&args(&["check", "--url", "http://127.0.0.1:8080"])),
            Ok(Command::Check { url: url.clone() })
        );
        assert_eq!(
            parse(&args(&["check", "--url=http://127.0.0.1:8080"])),
            Ok(Command::Check { url })
        );
        assert_eq!(parse(&args(&["--help"])), Ok(Command::Help));
        assert_eq!(parse(&args(&["check", "--help"])), Ok(Command::Help));
        assert_eq!(parse(&args(&["--version"])), Ok(Command::Version));
        for bad in [
            &["frobnicate"][..],
            &["check", "--url"],
            &["serve", "now"],
            &["config", "x"],
        ] {
            assert!(parse(&args(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn help_names_every_command_and_the_main_keys() {
        for word in [
            "serve",
            "check",
            "--url",
            "config",
            "SOCIAL_QDRANT__MODE",
            "SOCIAL_REDIS__URL",
            "SOCIAL_REDIS__CRITICAL",
            "SOCIAL_HTTP__PORT",
            "/openapi.json",
        ] {
            assert!(HELP.contains(word), "{word}");
        }
    }
}
