//! `cargo xtask test-integration`: tier 2, the suites against real servers.

use std::path::Path;
use std::time::Instant;

use crate::Result;
use crate::args::{self, Opt};
use crate::process::{cargo_bin, run_with_env};
use crate::servers::{
    ALLOW_SKIP_ENV, QDRANT_PROVIDER_ENV, QDRANT_URL_ENV, REDIS_PROVIDER_ENV, REDIS_URL_ENV,
    RedisProvider, allow_skip, choose_qdrant_provider, choose_redis_provider, docker_answers,
    local_redis_version, non_empty_env, redact_url,
};

/// The reason every tier-2 test gives in its `#[ignore = "..."]` attribute.
const TIER2_PREFIX: &str = "tier 2";

/// The error when nothing can provide Redis.
const NO_REDIS: &str = "no Redis available: set INFRA_TEST_REDIS_URL, start Docker, or install \
redis-server (apt-get install redis-server)";

/// The options that name servers, shared with `bench`.
pub(crate) const URL_OPTIONS: [Opt; 2] = [
    Opt::Value {
        name: "--redis-url",
        placeholder: "URL",
    },
    Opt::Value {
        name: "--qdrant-url",
        placeholder: "URL",
    },
];

/// The options of `cargo xtask test-integration`.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct IntegrationOptions {
    pub(crate) redis_url: Option<String>,
    pub(crate) qdrant_url: Option<String>,
}

impl IntegrationOptions {
    fn parse(args: &[String]) -> Result<Self> {
        let parsed = args::parse("test-integration", &URL_OPTIONS, args)?;
        Ok(Self::from_parsed(&parsed))
    }

    /// The URLs among already parsed options.
    pub(crate) fn from_parsed(parsed: &args::Parsed) -> Self {
        Self {
            redis_url: parsed.value("--redis-url"),
            qdrant_url: parsed.value("--qdrant-url"),
        }
    }
}

/// Tier 2: suites against real servers.
///
/// Resolves the Redis provider (a URL, else Docker, else a local redis-server) and prints
/// which provider serves each suite, then runs every `#[ignore = "tier 2: ..."]` test of
/// the workspace in one invocation, `cargo test --workspace --all-features --tests --
/// --ignored`: the same build as tier 1, so nothing is compiled again. No Redis is a
/// failure with a clear message, unless `INFRA_TEST_ALLOW_SKIP=1`, which turns it into a
/// loud skip.
pub(crate) fn run(root: &Path, args: &[String]) -> Result {
    let options = IntegrationOptions::parse(args)?;
    let started = Instant::now();
    let allow_skip = allow_skip();

    let url = match &options.redis_url {
        Some(url) => Some((url.clone(), "--redis-url")),
        None => non_empty_env(REDIS_URL_ENV).map(|u| (u, REDIS_URL_ENV)),
    };
    let docker_up = docker_answers();
    let docker = url.is_none() && docker_up;
    let local = local_redis_version();
    let standalone = choose_redis_provider(url, docker, local.as_deref().ok());
    let qdrant_url = options
        .qdrant_url
        .clone()
        .or_else(|| non_empty_env(QDRANT_URL_ENV));
    let qdrant = choose_qdrant_provider(qdrant_url.is_some(), docker_up);
    print_providers(
        standalone.as_ref(),
        local.as_deref(),
        qdrant,
        qdrant_url.as_deref(),
    );

    // The testkit's own tests and the cluster, TLS and sentinel suites start local
    // processes whatever serves the standalone suites.
    let local_version = match local {
        Ok(version) => version,
        Err(why) => {
            let message = format!(
                "the Redis suites cannot run: {why}. The cluster, TLS and sentinel suites always \
                 start local redis-server processes{}; install redis-server and redis-cli \
                 (Debian/Ubuntu: apt-get install redis-server; .ci/run does it)",
                if standalone.is_none() {
                    ", and no Redis is available for the standalone suites either (set \
                     INFRA_TEST_REDIS_URL or --redis-url, or start Docker)"
                } else {
                    ""
                }
            );
            if allow_skip {
                println!(
                    "xtask test-integration: SKIPPED every tier-2 suite ({ALLOW_SKIP_ENV}=1): \
                     {message}"
                );
                println!("xtask test-integration: WARNING: no tier-2 test ran");
                return Ok(());
            }
            return Err(format!(
                "{message}; or set {ALLOW_SKIP_ENV}=1 to skip them loudly"
            ));
        }
    };
    let Some(standalone) = standalone else {
        return Err(NO_REDIS.to_owned());
    };

    for (file, line, attribute) in non_tier2_ignores(root)? {
        println!(
            "xtask test-integration: WARNING: {file}:{line}: `{attribute}` is not a tier-2 \
             reason (\"{TIER2_PREFIX}: ...\") but runs here too: every ignored test is tier 2"
        );
    }

    let mut envs: Vec<(&str, &str)> = vec![(REDIS_PROVIDER_ENV, standalone.kind())];
    if let RedisProvider::Url { url, .. } = &standalone {
        envs.push((REDIS_URL_ENV, url));
    }
    envs.push((QDRANT_PROVIDER_ENV, qdrant));
    if let Some(url) = &qdrant_url {
        envs.push((QDRANT_URL_ENV, url));
    }
    run_with_env(
        root,
        &cargo_bin(),
        &[
            "test",
            "--workspace",
            "--all-features",
            "--tests",
            "--no-fail-fast",
            "--",
            "--ignored",
        ],
        &envs,
    )
    .map_err(|e| format!("tier-2 tests failed: {e}"))?;
    println!(
        "xtask test-integration: every tier-2 test passed in {:.0}s (redis standalone: {}, \
         cluster/TLS/sentinel: local redis-server {local_version}; qdrant: {qdrant})",
        started.elapsed().as_secs_f64(),
        standalone.kind(),
    );
    Ok(())
}

/// Prints which provider serves each suite.
fn print_providers(
    standalone: Option<&RedisProvider>,
    local: std::result::Result<&str, &String>,
    qdrant: &str,
    qdrant_url: Option<&str>,
) {
    let standalone = standalone.map_or_else(|| "NONE".to_owned(), RedisProvider::describe);
    let local = match local {
        Ok(version) => format!("local redis-server {version} (always local processes)"),
        Err(_) => "NONE (they always need a local redis-server)".to_owned(),
    };
    let qdrant = match (qdrant, qdrant_url) {
        ("url", Some(url)) => format!("url {}", redact_url(url)),
        ("docker", _) => {
            "docker (testcontainers, qdrant/qdrant image; a container per suite)".to_owned()
        }
        _ => "the in-process Qdrant gRPC test server (infra-testkit) over the embedded engine"
            .to_owned(),
    };
    println!("xtask test-integration: providers");
    println!("  redis standalone            {standalone}");
    println!("  redis cluster/TLS/sentinel  {local}");
    println!("  qdrant                      {qdrant}");
}

/// Every `#[ignore ...]` attribute under `crates/` whose reason does not start with
/// [`TIER2_PREFIX`], as (file, line, attribute).
fn non_tier2_ignores(root: &Path) -> Result<Vec<(String, usize, String)>> {
    let mut found = Vec::new();
    let mut dirs = vec![root.join("crates")];
    while let Some(dir) = dirs.pop() {
        let entries =
            std::fs::read_dir(&dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "target") {
                    dirs.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "rs") {
                let Ok(text) = std::fs::read_to_string(&path) else {
                    continue;
                };
                for (line, attribute) in ignores_without_tier2(&text) {
                    let shown = path
                        .strip_prefix(root)
                        .unwrap_or(&path)
                        .display()
                        .to_string();
                    found.push((shown, line, attribute));
                }
            }
        }
    }
    found.sort();
    Ok(found)
}

/// The 1-based line and text of each `#[ignore]` / `#[ignore = "..."]` attribute in `text`
/// whose reason does not start with [`TIER2_PREFIX`].
fn ignores_without_tier2(text: &str) -> Vec<(usize, String)> {
    text.lines()
        .enumerate()
        .filter_map(|(i, line)| {
            let attribute = line.trim();
            let rest = attribute.strip_prefix("#[ignore")?;
            let reason = rest.trim_start().strip_prefix('=').map(str::trim_start);
            let tier2 = reason
                .and_then(|r| r.strip_prefix('"'))
                .is_some_and(|r| r.starts_with(TIER2_PREFIX));
            (!tier2 && (rest.starts_with(']') || reason.is_some()))
                .then(|| (i + 1, attribute.to_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::strings;

    #[test]
    fn integration_options_parse() {
        assert_eq!(
            IntegrationOptions::parse(&[]).unwrap(),
            IntegrationOptions::default()
        );
        let options = IntegrationOptions::parse(&strings(&[
            "--redis-url",
            "redis://127.0.0.1:6379",
            "--qdrant-url=http://127.0.0.1:6334",
        ]))
        .unwrap();
        assert_eq!(options.redis_url.as_deref(), Some("redis://127.0.0.1:6379"));
        assert_eq!(options.qdrant_url.as_deref(), Some("http://127.0.0.1:6334"));
        assert!(IntegrationOptions::parse(&strings(&["--redis-url"])).is_err());
        assert!(IntegrationOptions::parse(&strings(&["--redis-url="])).is_err());
        let err = IntegrationOptions::parse(&strings(&["--verbose"])).unwrap_err();
        assert_eq!(
            err,
            "test-integration: unknown argument `--verbose` \
             (accepted: --redis-url URL, --qdrant-url URL)"
        );
    }

    #[test]
    fn ignores_without_a_tier2_reason_are_found() {
        let text = "#[test]\n#[ignore = \"tier 2: starts redis-server\"]\nfn a() {}\n\
                    #[ignore]\nfn b() {}\n    #[ignore = \"scratch\"]\n\
                    // #[ignored_thing]\n";
        assert_eq!(
            ignores_without_tier2(text),
            vec![
                (4, "#[ignore]".to_owned()),
                (6, "#[ignore = \"scratch\"]".to_owned())
            ]
        );
    }
}
