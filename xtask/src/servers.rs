//! Where the tier-2 tests and the bench get their servers: the environment variables,
//! the provider order (a URL, else Docker, else local processes) and the probes behind it;
//! and [`RedisForRun`], a Redis chosen in the same order for a program xtask runs itself
//! (the examples).

use std::env;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::Result;

/// The environment variable with an explicit Redis URL (also `--redis-url`).
pub(crate) const REDIS_URL_ENV: &str = "INFRA_TEST_REDIS_URL";

/// The environment variable that tells the tests which Redis provider xtask chose.
pub(crate) const REDIS_PROVIDER_ENV: &str = "INFRA_TEST_REDIS_PROVIDER";

/// The environment variable with an explicit Qdrant URL (also `--qdrant-url`).
pub(crate) const QDRANT_URL_ENV: &str = "INFRA_TEST_QDRANT_URL";

/// The environment variable that tells the tests which Qdrant provider xtask chose.
pub(crate) const QDRANT_PROVIDER_ENV: &str = "INFRA_TEST_QDRANT_PROVIDER";

/// Set to `1` to skip the suites that have no server instead of failing.
pub(crate) const ALLOW_SKIP_ENV: &str = "INFRA_TEST_ALLOW_SKIP";

/// How long `docker info` may take before Docker counts as unavailable.
const DOCKER_INFO_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether `INFRA_TEST_ALLOW_SKIP=1`.
pub(crate) fn allow_skip() -> bool {
    env::var(ALLOW_SKIP_ENV).is_ok_and(|v| v.trim() == "1")
}

/// The variable's value, unless it is unset or blank.
pub(crate) fn non_empty_env(name: &str) -> Option<String> {
    env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Where the standalone Redis suites get their server (in this order; see
/// `docs/architecture.md`, "Where is X", test servers and providers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RedisProvider {
    /// A URL from `--redis-url` or `INFRA_TEST_REDIS_URL`; `source` says which.
    Url { url: String, source: &'static str },
    /// A container through testcontainers, started by the tests.
    Docker,
    /// A local `redis-server` of this version, started by the tests.
    Local { version: String },
}

impl RedisProvider {
    /// The value of `INFRA_TEST_REDIS_PROVIDER` for the tests.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            RedisProvider::Url { .. } => "url",
            RedisProvider::Docker => "docker",
            RedisProvider::Local { .. } => "local",
        }
    }

    pub(crate) fn describe(&self) -> String {
        match self {
            RedisProvider::Url { url, source } => format!("url {} ({source})", redact_url(url)),
            RedisProvider::Docker => {
                "docker (testcontainers, redis image; a container per suite)".to_owned()
            }
            RedisProvider::Local { version } => format!(
                "local redis-server {version} (a process per test on a free 127.0.0.1 port)"
            ),
        }
    }
}

/// Chooses the standalone provider: URL, else Docker, else a local redis-server.
pub(crate) fn choose_redis_provider(
    url: Option<(String, &'static str)>,
    docker: bool,
    local_version: Option<&str>,
) -> Option<RedisProvider> {
    if let Some((url, source)) = url {
        Some(RedisProvider::Url { url, source })
    } else if docker {
        Some(RedisProvider::Docker)
    } else {
        local_version.map(|version| RedisProvider::Local {
            version: version.to_owned(),
        })
    }
}

/// The Qdrant provider (the value of `INFRA_TEST_QDRANT_PROVIDER`): a URL, else Docker,
/// else the in-process test server, which is always available.
pub(crate) fn choose_qdrant_provider(url: bool, docker: bool) -> &'static str {
    if url {
        "url"
    } else if docker {
        "docker"
    } else {
        "test-server"
    }
}

/// Whether a Docker daemon answers `docker info` within [`DOCKER_INFO_TIMEOUT`].
pub(crate) fn docker_answers() -> bool {
    let Ok(mut child) = Command::new("docker")
        .arg("info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    else {
        return false;
    };
    let deadline = Instant::now() + DOCKER_INFO_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status.success(),
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(50)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
        }
    }
}

/// The version of the `redis-server` on PATH, when it and `redis-cli` both run.
pub(crate) fn local_redis_version() -> Result<String> {
    let server = Command::new("redis-server")
        .arg("--version")
        .output()
        .map_err(|e| format!("redis-server is not on PATH ({e})"))?;
    if !server.status.success() {
        return Err(format!(
            "`redis-server --version` failed ({})",
            server.status
        ));
    }
    let cli = Command::new("redis-cli")
        .arg("--version")
        .output()
        .map_err(|e| format!("redis-cli is not on PATH ({e})"))?;
    if !cli.status.success() {
        return Err(format!("`redis-cli --version` failed ({})", cli.status));
    }
    Ok(parse_redis_version(&String::from_utf8_lossy(
        &server.stdout,
    )))
}

/// How long a Redis started for a run may take to answer `PING`.
const REDIS_START_TIMEOUT: Duration = Duration::from_secs(20);

/// A Redis server for a program that xtask runs (the examples), chosen the way tier 2
/// chooses one: a URL (`--redis-url`, `INFRA_TEST_REDIS_URL`), else a Docker container of
/// `docker-compose.yml`'s Redis image, else a local `redis-server` on a free port. What
/// xtask started is stopped when this is dropped.
#[derive(Debug)]
pub(crate) struct RedisForRun {
    url: String,
    description: String,
    started: Started,
}

#[derive(Debug)]
enum Started {
    Nothing,
    Process(Child),
    Container(String),
}

impl RedisForRun {
    /// Finds or starts a Redis; `Ok(None)` when no provider is available (no URL, no
    /// Docker daemon, no `redis-server`).
    pub(crate) fn provide(
        root: &Path,
        url: Option<(String, &'static str)>,
    ) -> Result<Option<Self>> {
        let docker = url.is_none() && docker_answers();
        let local = local_redis_version().ok();
        match choose_redis_provider(url, docker, local.as_deref()) {
            None => Ok(None),
            Some(RedisProvider::Url { url, source }) => Ok(Some(Self {
                description: format!("url {} ({source})", redact_url(&url)),
                url,
                started: Started::Nothing,
            })),
            Some(RedisProvider::Docker) => start_container(&compose_redis_image(root)?).map(Some),
            Some(RedisProvider::Local { version }) => start_local(&version).map(Some),
        }
    }

    /// The server's URL.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// Which provider serves it, for the log (credentials redacted).
    pub(crate) fn describe(&self) -> &str {
        &self.description
    }
}

impl Drop for RedisForRun {
    fn drop(&mut self) {
        match &mut self.started {
            Started::Nothing => {}
            Started::Process(child) => {
                let _ = child.kill();
                let _ = child.wait();
            }
            Started::Container(id) => {
                let _ = Command::new("docker")
                    .args(["rm", "--force", id.as_str()])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        }
    }
}

/// Starts `redis-server` (no persistence) on a free loopback port and waits for `PING`.
fn start_local(version: &str) -> Result<RedisForRun> {
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map_err(|e| format!("cannot find a free local port: {e}"))?
        .port();
    let child = Command::new("redis-server")
        .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .args(["--save", "", "--appendonly", "no"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start redis-server: {e}"))?;
    let redis = RedisForRun {
        url: format!("redis://127.0.0.1:{port}"),
        description: format!("local redis-server {version} on 127.0.0.1:{port}, started by xtask"),
        started: Started::Process(child),
    };
    wait_for_pong(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))?;
    Ok(redis)
}

/// Starts a container of `image` with its port 6379 published on a free loopback port.
fn start_container(image: &str) -> Result<RedisForRun> {
    let run = Command::new("docker")
        .args([
            "run",
            "--detach",
            "--rm",
            "--publish",
            "127.0.0.1::6379",
            image,
        ])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run docker: {e}"))?;
    if !run.status.success() {
        return Err(format!(
            "`docker run {image}` failed: {}",
            String::from_utf8_lossy(&run.stderr).trim()
        ));
    }
    let id = String::from_utf8_lossy(&run.stdout).trim().to_owned();
    let mut redis = RedisForRun {
        url: String::new(),
        description: String::new(),
        started: Started::Container(id.clone()),
    };
    let port = Command::new("docker")
        .args(["port", id.as_str(), "6379/tcp"])
        .output()
        .map_err(|e| format!("cannot run docker port: {e}"))?;
    let published = String::from_utf8_lossy(&port.stdout);
    let addr: SocketAddr = published
        .lines()
        .find_map(|line| line.trim().parse().ok())
        .ok_or_else(|| format!("`docker port {id} 6379/tcp` printed no address: {published}"))?;
    redis.url = format!("redis://{addr}");
    redis.description = format!("docker container {image} on {addr}, started by xtask");
    wait_for_pong(addr)?;
    Ok(redis)
}

/// The Redis image of `docker-compose.yml` (`image: redis:...`), so that the container
/// matches the one developers run.
fn compose_redis_image(root: &Path) -> Result<String> {
    let path = root.join("docker-compose.yml");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    text.lines()
        .filter_map(|line| line.trim().strip_prefix("image:"))
        .map(str::trim)
        .find(|image| image.starts_with("redis:"))
        .map(str::to_owned)
        .ok_or_else(|| format!("{} names no `image: redis:...`", path.display()))
}

/// Waits until the server at `addr` answers `PING` with `+PONG`.
fn wait_for_pong(addr: SocketAddr) -> Result {
    let deadline = Instant::now() + REDIS_START_TIMEOUT;
    loop {
        if answers_ping(addr) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "the Redis started on {addr} did not answer PING within {}s",
                REDIS_START_TIMEOUT.as_secs()
            ));
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// One `PING` over a fresh connection, each step bounded.
fn answers_ping(addr: SocketAddr) -> bool {
    let timeout = Duration::from_millis(500);
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, timeout) else {
        return false;
    };
    let mut reply = [0u8; 5];
    stream.set_read_timeout(Some(timeout)).is_ok()
        && stream.write_all(b"PING\r\n").is_ok()
        && stream.read_exact(&mut reply).is_ok()
        && &reply == b"+PONG"
}

/// `7.0.15` from `Redis server v=7.0.15 sha=... malloc=...`.
fn parse_redis_version(output: &str) -> String {
    output
        .split_whitespace()
        .find_map(|word| word.strip_prefix("v="))
        .unwrap_or("(unknown version)")
        .to_owned()
}

/// The URL with the password of its userinfo replaced by `***`.
pub(crate) fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "<a URL without scheme>".to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
            let hidden = if userinfo.contains(':') { ":***" } else { "" };
            format!("{scheme}://{user}{hidden}@{host}{path}")
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_provider_follows_the_documented_order() {
        let url = || Some(("redis://h:1".to_owned(), "--redis-url"));
        assert!(matches!(
            choose_redis_provider(url(), true, Some("7.0.15")),
            Some(RedisProvider::Url { .. })
        ));
        assert_eq!(
            choose_redis_provider(None, true, Some("7.0.15")),
            Some(RedisProvider::Docker)
        );
        assert_eq!(
            choose_redis_provider(None, false, Some("7.0.15")),
            Some(RedisProvider::Local {
                version: "7.0.15".to_owned()
            })
        );
        assert_eq!(choose_redis_provider(None, false, None), None);
    }

    #[test]
    fn qdrant_provider_follows_the_documented_order() {
        assert_eq!(choose_qdrant_provider(true, true), "url");
        assert_eq!(choose_qdrant_provider(false, true), "docker");
        assert_eq!(choose_qdrant_provider(false, false), "test-server");
    }

    #[test]
    fn redis_versions_and_urls_are_read_and_redacted() {
        assert_eq!(
            parse_redis_version("Redis server v=7.0.15 sha=00000000:0 malloc=jemalloc-5.3.0"),
            "7.0.15"
        );
        assert_eq!(
            redact_url("redis://app:marker@127.0.0.1:6379/0"),
            "redis://app:***@127.0.0.1:6379/0"
        );
        assert_eq!(redact_url("rediss://:marker@h:1"), "rediss://:***@h:1");
        assert_eq!(
            redact_url("redis://127.0.0.1:6379"),
            "redis://127.0.0.1:6379"
        );
        assert!(!redact_url("marker").contains("marker"));
    }

    #[test]
    fn the_compose_files_redis_image_is_found() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let image = compose_redis_image(root).unwrap();
        assert!(
            image.starts_with("redis:") && image.len() > "redis:".len(),
            "{image}"
        );
    }

    #[test]
    fn a_port_where_nothing_listens_does_not_answer_ping() {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        assert!(!answers_ping(SocketAddr::from((Ipv4Addr::LOCALHOST, port))));
    }
}
