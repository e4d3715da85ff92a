//! Which Redis serves the standalone suites (`docs/architecture.md`, "Two test tiers and
//! providers"), in this order:
//!
//! 1. **url**: `INFRA_TEST_REDIS_URL` (set by `cargo xtask test-integration --redis-url`);
//! 2. **docker**: when a Docker daemon answers (`docker info` succeeds), a `redis` container
//!    through testcontainers-modules' Redis module (image tag [`DOCKER_REDIS_TAG`], the same
//!    as docker-compose.yml); if the container cannot start (no network for the image, ...)
//!    this says so loudly and falls back to a local server;
//! 3. **local**: a `redis-server` from `PATH` on a free 127.0.0.1 port with its own
//!    temporary directory ([`RedisServer`]);
//! 4. otherwise an error saying how to get one of them; never a silent skip.
//!
//! `INFRA_TEST_REDIS_PROVIDER=url|docker|local` forces one provider (xtask sets it to the
//! provider it reported, so the report and the tests agree); a forced provider that cannot
//! serve is an error, with no fallback.
//!
//! Cluster, TLS and sentinel setups never come from here: they are always local processes
//! ([`RedisCluster`](crate::redis::RedisCluster), [`RedisTls`](crate::redis::RedisTls),
//! [`RedisSentinel`](crate::redis::RedisSentinel)).
//!
//! Each acquisition prints its provider to stderr the first time in a process, e.g.
//! `redis provider: local redis-server 7.0.15 on 127.0.0.1:38211`, bypassing the test
//! harness's output capture.

use std::fmt;
use std::io::Write;
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use testcontainers_modules::redis::{REDIS_PORT, Redis};
use testcontainers_modules::testcontainers::ImageExt;
use testcontainers_modules::testcontainers::runners::AsyncRunner;

use crate::error::{Error, Result};
use crate::process::Watchdog;
use crate::redis::{RedisServer, redis_install};
use crate::resp::{Connection, Reply};

/// The environment variable holding an explicit Redis URL.
pub const URL_ENV: &str = "INFRA_TEST_REDIS_URL";

/// The environment variable forcing a provider: `url`, `docker` or `local`.
pub const PROVIDER_ENV: &str = "INFRA_TEST_REDIS_PROVIDER";

/// The `redis` image tag used with Docker (the one docker-compose.yml pins).
pub const DOCKER_REDIS_TAG: &str = "7.4.2-alpine";

/// The error when nothing can provide Redis.
pub const NO_REDIS: &str = "no Redis available: set INFRA_TEST_REDIS_URL, start Docker, or \
install redis-server (apt-get install redis-server)";

/// How long `docker info` may take to answer.
const DOCKER_INFO_TIMEOUT: Duration = Duration::from_secs(10);

/// Where a provisioned Redis comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProviderKind {
    /// An explicit URL (`INFRA_TEST_REDIS_URL`): a server someone else runs.
    Url,
    /// A container started through testcontainers.
    Docker,
    /// A local `redis-server` process.
    Local,
}

impl ProviderKind {
    /// `url`, `docker` or `local`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Url => "url",
            ProviderKind::Docker => "docker",
            ProviderKind::Local => "local",
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ProviderKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "url" => Ok(ProviderKind::Url),
            "docker" => Ok(ProviderKind::Docker),
            "local" => Ok(ProviderKind::Local),
            other => Err(Error::new(format!(
                "{PROVIDER_ENV}={other:?} is not a provider: use url, docker or local"
            ))),
        }
    }
}

/// A Redis for a standalone suite, kept alive as long as this value lives.
///
/// Dropping it stops what it started (kills the local server, removes the container); a
/// URL is left alone.
pub struct RedisProvision {
    kind: ProviderKind,
    url: String,
    description: String,
    guard: Guard,
}

enum Guard {
    Url,
    Local(Box<RedisServer>),
    /// Held for its `Drop`, which removes the container.
    Docker {
        _container: DockerContainer,
    },
}

impl fmt::Debug for RedisProvision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisProvision")
            .field("kind", &self.kind)
            .field("description", &self.description)
            .finish_non_exhaustive()
    }
}

impl RedisProvision {
    /// Provides a Redis in the order of the [module docs](self), prints the provider once
    /// per process, and returns it. A new local server or container per call; see
    /// [`shared`](Self::shared) to share one per test process.
    ///
    /// Blocking work (starting a process, `docker info`) runs on tokio's blocking pool, so
    /// this must be called within a tokio runtime.
    pub async fn acquire() -> Result<Self> {
        let provision = Self::resolve().await?;
        announce(&provision);
        Ok(provision)
    }

    /// One provision per test process, acquired on first use; every later call returns the
    /// same one. A local server or container lives until the process ends (a watchdog
    /// then stops it). Tests that kill, pause or restart the server must use
    /// [`acquire`](Self::acquire) or [`RedisServer`] instead.
    pub async fn shared() -> Result<&'static Self> {
        static SHARED: tokio::sync::OnceCell<RedisProvision> = tokio::sync::OnceCell::const_new();
        SHARED.get_or_try_init(Self::acquire).await
    }

    /// Where this Redis comes from.
    pub fn kind(&self) -> ProviderKind {
        self.kind
    }

    /// The URL to connect to, with credentials if the URL given had them.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A one-line description without secrets, e.g. `local redis-server 7.0.15 on
    /// 127.0.0.1:38211`.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The local server when the provider is [`ProviderKind::Local`] (to kill, pause or
    /// read `INFO`), `None` otherwise.
    pub fn local_server(&self) -> Option<&RedisServer> {
        match &self.guard {
            Guard::Local(server) => Some(server),
            Guard::Url | Guard::Docker { .. } => None,
        }
    }

    async fn resolve() -> Result<Self> {
        let forced = match std::env::var(PROVIDER_ENV) {
            Ok(value) if !value.trim().is_empty() => Some(value.parse::<ProviderKind>()?),
            _ => None,
        };
        let url = std::env::var(URL_ENV).ok().filter(|u| !u.trim().is_empty());
        match (forced, url) {
            (Some(ProviderKind::Url) | None, Some(url)) => from_url(url).await,
            (Some(ProviderKind::Url), None) => Err(Error::new(format!(
                "{PROVIDER_ENV}=url but {URL_ENV} is not set"
            ))),
            (Some(ProviderKind::Docker), _) => {
                if !docker_available().await {
                    return Err(Error::new(format!(
                        "{PROVIDER_ENV}=docker but no Docker daemon answers `docker info`"
                    )));
                }
                from_docker().await
            }
            (Some(ProviderKind::Local), _) => from_local().await,
            (None, None) => {
                if docker_available().await {
                    match from_docker().await {
                        Ok(provision) => return Ok(provision),
                        Err(err) => say(&format!(
                            "redis provider: WARNING: Docker answers but the Redis container \
                             did not start ({err}); falling back to a local redis-server"
                        )),
                    }
                }
                if redis_install().is_ok() {
                    from_local().await
                } else {
                    Err(Error::new(NO_REDIS))
                }
            }
        }
    }
}

/// Writes one line to stderr, bypassing the test harness's capture.
fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

fn announce(provision: &RedisProvision) {
    static ANNOUNCED: AtomicBool = AtomicBool::new(false);
    if !ANNOUNCED.swap(true, Ordering::Relaxed) {
        say(&format!("redis provider: {}", provision.description));
    }
}

/// Runs blocking work off the async workers.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::new(format!("a provisioning task failed: {e}")))
}

async fn from_url(url: String) -> Result<RedisProvision> {
    let redacted = redact_url(&url);
    let shown = redacted.clone();
    let checked = url.clone();
    blocking(move || ping_url(&checked))
        .await?
        .map_err(|e| e.context(format!("{URL_ENV}={shown} is not usable")))?;
    Ok(RedisProvision {
        kind: ProviderKind::Url,
        url,
        description: format!("url {redacted} ({URL_ENV})"),
        guard: Guard::Url,
    })
}

async fn from_local() -> Result<RedisProvision> {
    let server = blocking(|| redis_install().and_then(|_| RedisServer::start()))
        .await?
        .map_err(|e| e.context("local redis-server provider"))?;
    let version = redis_install().map(|i| i.version).unwrap_or_default();
    Ok(RedisProvision {
        kind: ProviderKind::Local,
        url: server.url(),
        description: format!("local redis-server {version} on {}", server.addr()),
        guard: Guard::Local(Box::new(server)),
    })
}

async fn from_docker() -> Result<RedisProvision> {
    let container = Redis::default()
        .with_tag(DOCKER_REDIS_TAG)
        .start()
        .await
        .map_err(|e| Error::new(format!("cannot start redis:{DOCKER_REDIS_TAG}: {e}")))?;
    let (docker, addr) = DockerContainer::adopt(container, REDIS_PORT).await?;
    let url = format!("redis://{addr}");
    let checked = url.clone();
    blocking(move || wait_for_ping(&checked, Duration::from_secs(30)))
        .await?
        .map_err(|e| e.context("the Redis container"))?;
    Ok(RedisProvision {
        kind: ProviderKind::Docker,
        url,
        description: format!("docker redis:{DOCKER_REDIS_TAG} on {addr}"),
        guard: Guard::Docker { _container: docker },
    })
}

/// A container started through testcontainers, removed on drop.
///
/// testcontainers' own drop needs a live runtime, which a `static` provision or a test
/// ending in a panic does not have; so the container is taken over: removed synchronously
/// on drop, or by a watchdog when the process ends first.
pub(crate) struct DockerContainer {
    id: String,
    watchdog: Option<Watchdog>,
}

impl DockerContainer {
    /// Takes `container` over and returns it with the `host:port` its `port` is published
    /// on (`127.0.0.1` when Docker says `localhost`).
    pub(crate) async fn adopt<I: testcontainers_modules::testcontainers::Image>(
        container: testcontainers_modules::testcontainers::ContainerAsync<I>,
        port: impl Into<testcontainers_modules::testcontainers::core::ContainerPort>,
    ) -> Result<(Self, String)> {
        let id = container.id().to_owned();
        let watchdog = Watchdog::arm_command(&["docker", "rm", "-f", "-v", &id]);
        let host_port = container.get_host_port_ipv4(port).await;
        let host = container.get_host().await;
        std::mem::forget(container);
        let adopted = Self {
            id,
            watchdog: watchdog.ok(),
        };
        let host_port =
            host_port.map_err(|e| Error::new(format!("cannot read the container's port: {e}")))?;
        let host = match host {
            Ok(host) if host.to_string() != "localhost" => host.to_string(),
            _ => "127.0.0.1".to_owned(),
        };
        Ok((adopted, format!("{host}:{host_port}")))
    }
}

impl Drop for DockerContainer {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["rm", "-f", "-v", &self.id])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if let Some(watchdog) = self.watchdog.take() {
            watchdog.disarm();
        }
    }
}

/// Whether a Docker daemon answers `docker info` (checked once per process).
pub async fn docker_available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    if let Some(&known) = AVAILABLE.get() {
        return known;
    }
    let answer = blocking(docker_info_succeeds).await.unwrap_or(false);
    *AVAILABLE.get_or_init(|| answer)
}

fn docker_info_succeeds() -> bool {
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

/// The URL with its password replaced by `***`.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(parsed) => parsed.to_string(),
        Err(_) => "<an unparsable URL>".to_owned(),
    }
}

/// Checks that a `redis://` URL answers `PING` (with its credentials); `rediss://` URLs
/// are only parsed (the testkit speaks no TLS).
fn ping_url(url: &str) -> Result<()> {
    let parsed = url::Url::parse(url).map_err(|e| Error::new(format!("not a URL: {e}")))?;
    match parsed.scheme() {
        "redis" => {}
        "rediss" => return Ok(()),
        other => {
            return Err(Error::new(format!(
                "scheme {other:?} is not redis:// or rediss://"
            )));
        }
    }
    let host = parsed
        .host_str()
        .ok_or_else(|| Error::new("the URL has no host"))?;
    let addr = format!("{host}:{}", parsed.port().unwrap_or(6379));
    let password = parsed.password().map(percent_decode);
    let username = (!parsed.username().is_empty()).then(|| percent_decode(parsed.username()));
    let auth = password
        .as_deref()
        .map(|password| (username.as_deref(), password));
    let mut conn = Connection::connect_with_auth(&addr, Duration::from_secs(5), auth)?;
    match conn.command(&["PING"])? {
        Reply::Status(s) if s == "PONG" => Ok(()),
        other => Err(Error::new(format!("PING answered {other}"))),
    }
}

fn wait_for_ping(url: &str, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        match ping_url(url) {
            Ok(()) => return Ok(()),
            Err(err) if Instant::now() >= deadline => {
                return Err(err.context(format!("no PONG within {timeout:?}")));
            }
            Err(_) => thread::sleep(Duration::from_millis(100)),
        }
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = text.get(i + 1..i + 3)
            && let Ok(byte) = u8::from_str_radix(hex, 16)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_kinds_parse_and_print() {
        for kind in [ProviderKind::Url, ProviderKind::Docker, ProviderKind::Local] {
            assert_eq!(kind.to_string().parse::<ProviderKind>().unwrap(), kind);
        }
        assert_eq!(
            " Docker ".parse::<ProviderKind>().unwrap(),
            ProviderKind::Docker
        );
        let err = "podman".parse::<ProviderKind>().unwrap_err();
        assert!(err.message().contains("url, docker or local"), "{err}");
    }

    #[test]
    fn urls_are_redacted() {
        assert_eq!(
            redact_url("redis://app:marker@127.0.0.1:6379/0"),
            "redis://app:***@127.0.0.1:6379/0"
        );
        assert_eq!(
            redact_url("redis://127.0.0.1:6379"),
            "redis://127.0.0.1:6379"
        );
        assert!(!redact_url("not a url marker").contains("marker"));
    }

    #[test]
    fn bad_urls_are_refused_before_connecting() {
        assert!(ping_url("http://127.0.0.1:6379").is_err());
        assert!(ping_url("not a url").is_err());
        assert!(ping_url("rediss://127.0.0.1:1").is_ok());
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("s3cr%3At%40"), "s3cr:t@");
        assert_eq!(percent_decode("100%"), "100%");
    }
}
