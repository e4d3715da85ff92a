//! The `redis` section: where the Redis server is, how to authenticate, TLS,
//! pool, timeouts and resilience, plus the connection URLs adapters need.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use secrecy::zeroize::Zeroizing;
use serde::{Deserialize, Serialize};

use crate::choice::choice;
use crate::error::render_text;
use crate::net::{self, NodeAddr};
use crate::resilience::{CircuitSettings, RetrySettings};
use crate::schema::{self as keys};
use crate::secret::{Secret, SecretUrl};
use crate::validate::Checker;

/// The default Redis port (of a URL without one, too).
const DEFAULT_PORT: u16 = keys::REDIS_PORT.default.u16();

choice! {
    /// How the Redis deployment is laid out.
    pub enum RedisMode {
        /// One server (`url`, or `host`/`port`).
        Standalone => "standalone",
        /// Redis Cluster; `nodes` are the seed nodes.
        Cluster => "cluster",
        /// Sentinel-managed primary; `nodes` are the sentinels.
        Sentinel => "sentinel",
    }
    default = Standalone;
}

/// Settings of the Redis client (`SOCIAL_REDIS__*`).
///
/// The server is given either as `url` or as `host`/`port`/`db`/`username`/
/// `password` (not both). A password may also be given separately from a URL
/// that has none, so that the URL can live in plain configuration and the
/// password in a secret store.
///
/// Each field is one key: its default, bounds and accepted values are declared
/// once in [`crate::schema::KEYS`] (listed in `docs/configuration.md`), not
/// repeated here.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisSettings {
    /// Whether the service uses Redis at all. When false, the
    /// rest of the section is parsed but not validated.
    pub enabled: bool,
    /// `redis://[user:password@]host:port/db` or `rediss://...` (TLS);
    /// replaces `host`, `port` and `db`.
    #[serde(deserialize_with = "crate::text::optional")]
    pub url: Option<SecretUrl>,
    /// Host name or IP address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Database number (Redis Cluster only has 0).
    pub db: i64,
    /// ACL user name; needs a password.
    #[serde(deserialize_with = "crate::text::optional")]
    pub username: Option<String>,
    /// Password; never printed.
    #[serde(deserialize_with = "crate::text::optional")]
    pub password: Option<Secret>,
    /// Deployment layout.
    pub mode: RedisMode,
    /// Cluster seeds or sentinels as `host:port`; required in cluster and
    /// sentinel mode, refused in standalone mode.
    #[serde(with = "crate::net::node_list")]
    pub nodes: Vec<NodeAddr>,
    /// Name of the primary the sentinels monitor; required in sentinel mode.
    #[serde(deserialize_with = "crate::text::optional")]
    pub sentinel_master: Option<String>,
    /// TLS; a `rediss://` URL turns it on.
    pub tls: RedisTlsSettings,
    /// Connection pool.
    pub pool: PoolSettings,
    /// Time to establish a connection.
    #[serde(with = "crate::duration")]
    pub connect_timeout: Duration,
    /// Time for one command, including its reply.
    #[serde(with = "crate::duration")]
    pub command_timeout: Duration,
    /// Retries of transient failures.
    pub retry: RetrySettings,
    /// Circuit breaker.
    pub circuit: CircuitSettings,
    /// Whether readiness fails when Redis fails (when false it only warns,
    /// and the service runs without its cache).
    pub critical: bool,
}

impl Default for RedisSettings {
    fn default() -> Self {
        Self {
            enabled: const { keys::REDIS_ENABLED.default.flag() },
            url: None,
            host: keys::REDIS_HOST.default.text().to_owned(),
            port: DEFAULT_PORT,
            db: const { keys::REDIS_DB.default.int() },
            username: None,
            password: None,
            mode: RedisMode::Standalone,
            nodes: Vec::new(),
            sentinel_master: None,
            tls: RedisTlsSettings::default(),
            pool: PoolSettings::default(),
            connect_timeout: const { keys::REDIS_CONNECT_TIMEOUT.default.duration() },
            command_timeout: const { keys::REDIS_COMMAND_TIMEOUT.default.duration() },
            retry: RetrySettings::default(),
            circuit: CircuitSettings::default(),
            critical: const { keys::REDIS_CRITICAL.default.flag() },
        }
    }
}

/// TLS towards Redis. Certificates are PEM files that must exist at load.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisTlsSettings {
    /// Whether to use TLS (a `rediss://` URL implies true).
    pub enabled: bool,
    /// CA bundle to verify the server with, instead of the system roots.
    #[serde(deserialize_with = "crate::text::optional")]
    pub ca_file: Option<PathBuf>,
    /// Client certificate for mutual TLS; needs `key_file`.
    #[serde(deserialize_with = "crate::text::optional")]
    pub cert_file: Option<PathBuf>,
    /// Client private key for mutual TLS; needs `cert_file`.
    #[serde(deserialize_with = "crate::text::optional")]
    pub key_file: Option<PathBuf>,
}

/// The Redis connection pool.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PoolSettings {
    /// Largest number of connections (`redis.pool.max_size`).
    pub max_size: usize,
    /// How long a caller waits for a free connection before `PoolExhausted`.
    #[serde(with = "crate::duration")]
    pub wait_timeout: Duration,
    /// Time to open a new pooled connection.
    #[serde(with = "crate::duration")]
    pub create_timeout: Duration,
    /// Time to check a returned connection.
    #[serde(with = "crate::duration")]
    pub recycle_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_size: const { keys::REDIS_POOL_MAX_SIZE.default.usize() },
            wait_timeout: const { keys::REDIS_POOL_WAIT_TIMEOUT.default.duration() },
            create_timeout: const { keys::REDIS_POOL_CREATE_TIMEOUT.default.duration() },
            recycle_timeout: const { keys::REDIS_POOL_RECYCLE_TIMEOUT.default.duration() },
        }
    }
}

impl RedisSettings {
    /// Whether connections use TLS: `tls.enabled`, or a `rediss://` URL.
    pub fn tls_enabled(&self) -> bool {
        self.tls.enabled
            || self
                .url
                .as_ref()
                .is_some_and(|url| url.scheme() == "rediss")
    }

    /// The URL of the standalone server, credentials included and
    /// percent-encoded: `redis[s]://[user:pass@]host:port/db`.
    ///
    /// Built from `url` (plus `username`/`password` when the URL has none) or
    /// from `host`/`port`/`db`. In cluster and sentinel mode use
    /// [`RedisSettings::node_urls`] instead.
    pub fn connection_url(&self) -> SecretString {
        let url = if let Some(url) = &self.url {
            let parts = url.parts();
            let host = parts
                .host()
                .map_or_else(|| self.host.clone(), |h| h.to_string());
            let port = parts.port().unwrap_or(DEFAULT_PORT);
            let db = db_from_path(parts.path()).unwrap_or(self.db);
            self.build(&format!("{host}:{port}"), Some(db), true)
        } else {
            let authority = format!("{}:{}", net::url_host(&self.host), self.port);
            self.build(&authority, Some(self.db), true)
        };
        into_secret(url)
    }

    /// One URL per node, for the adapter of the configured mode:
    ///
    /// - standalone: just [`RedisSettings::connection_url`];
    /// - cluster: `redis[s]://[user:pass@]host:port` per seed node (cluster
    ///   nodes share the credentials);
    /// - sentinel: `redis[s]://host:port` per sentinel, without credentials:
    ///   those (and `db`) belong to the primary named `sentinel_master`, and
    ///   the adapter passes them from `username`/`password`/`db`.
    pub fn node_urls(&self) -> Vec<SecretString> {
        match self.mode {
            RedisMode::Standalone => vec![self.connection_url()],
            RedisMode::Cluster => self
                .nodes
                .iter()
                .map(|node| into_secret(self.build(&node.authority(), None, true)))
                .collect(),
            RedisMode::Sentinel => self
                .nodes
                .iter()
                .map(|node| into_secret(self.build(&node.authority(), None, false)))
                .collect(),
        }
    }

    fn scheme(&self) -> &'static str {
        if self.tls_enabled() {
            "rediss"
        } else {
            "redis"
        }
    }

    /// `scheme://[userinfo@]authority[/db]`, kept in zeroized memory.
    fn build(&self, authority: &str, db: Option<i64>, credentials: bool) -> Zeroizing<String> {
        let mut out = Zeroizing::new(String::with_capacity(64));
        out.push_str(self.scheme());
        out.push_str("://");
        if credentials {
            self.push_userinfo(&mut out);
        }
        out.push_str(authority);
        if let Some(db) = db {
            let _ = write!(out, "/{db}");
        }
        out
    }

    fn push_userinfo(&self, out: &mut String) {
        let url_user = self
            .url
            .as_ref()
            .map(SecretUrl::username)
            .filter(|u| !u.is_empty());
        let url_password = self.url.as_ref().and_then(SecretUrl::password_encoded);
        let has_user = url_user.is_some() || self.username.is_some();
        let has_password = url_password.is_some() || self.password.is_some();
        if !has_user && !has_password {
            return;
        }
        match (url_user, &self.username) {
            (Some(user), _) => out.push_str(user),
            (None, Some(user)) => net::percent_encode(user, out),
            (None, None) => {}
        }
        if let Some(password) = &url_password {
            out.push(':');
            out.push_str(password);
        } else if let Some(password) = &self.password {
            out.push(':');
            net::percent_encode(password.expose_secret(), out);
        }
        out.push('@');
    }

    pub(crate) fn validate(&self, cx: &mut Checker<'_>) {
        if !self.enabled {
            return;
        }
        cx.bounded("redis.pool.max_size", self.pool.max_size);
        cx.duration("redis.pool.wait_timeout", self.pool.wait_timeout);
        cx.duration("redis.pool.create_timeout", self.pool.create_timeout);
        cx.duration("redis.pool.recycle_timeout", self.pool.recycle_timeout);
        cx.duration("redis.connect_timeout", self.connect_timeout);
        cx.duration("redis.command_timeout", self.command_timeout);
        self.retry.validate(cx, "redis.retry");
        self.circuit.validate(cx, "redis.circuit");
        match self.mode {
            RedisMode::Standalone => self.validate_standalone(cx),
            RedisMode::Cluster | RedisMode::Sentinel => self.validate_nodes(cx),
        }
        self.validate_credentials(cx);
        self.validate_tls(cx);
    }

    fn validate_standalone(&self, cx: &mut Checker<'_>) {
        let mode_key = cx.key("redis.mode");
        if !self.nodes.is_empty() {
            cx.fail(
                "redis.nodes",
                "set while the mode is standalone",
                format!(
                    "no nodes in standalone mode (set {mode_key}=cluster or sentinel to use them)"
                ),
            );
        }
        if self.sentinel_master.is_some() {
            cx.fail(
                "redis.sentinel_master",
                "set while the mode is standalone",
                format!("it only in sentinel mode ({mode_key}=sentinel)"),
            );
        }
        if let Some(url) = &self.url {
            validate_url(cx, url);
        } else {
            if let Err(problem) = net::check_host(&self.host) {
                cx.refuse(
                    "redis.host",
                    format!("got {} ({problem})", render_text(&self.host)),
                );
            }
            cx.bounded("redis.port", self.port);
            cx.bounded("redis.db", self.db);
        }
    }

    fn validate_nodes(&self, cx: &mut Checker<'_>) {
        let mode = self.mode.as_str();
        let nodes_key = cx.key("redis.nodes");
        if self.url.is_some() {
            let (user, password) = (cx.key("redis.username"), cx.key("redis.password"));
            cx.fail(
                "redis.url",
                format!("set while the mode is {mode}"),
                format!("no URL in {mode} mode: list the servers in {nodes_key}, credentials in {user}/{password}"),
            );
        }
        for part in ["host", "port"] {
            let path = format!("redis.{part}");
            if cx.is_explicit(&path) {
                cx.fail(
                    &path,
                    format!("set while the mode is {mode}"),
                    format!("the servers listed in {nodes_key} instead"),
                );
            }
        }
        if self.nodes.is_empty() {
            cx.refuse("redis.nodes", format!("missing, required in {mode} mode"));
        }
        match self.mode {
            RedisMode::Cluster => {
                if self.db != 0 {
                    cx.fail(
                        "redis.db",
                        format!("got {}, but Redis Cluster only has database 0", self.db),
                        "0 in cluster mode",
                    );
                }
                if self.sentinel_master.is_some() {
                    let mode_key = cx.key("redis.mode");
                    cx.fail(
                        "redis.sentinel_master",
                        "set while the mode is cluster",
                        format!("it only in sentinel mode ({mode_key}=sentinel)"),
                    );
                }
            }
            RedisMode::Sentinel => {
                cx.bounded("redis.db", self.db);
                match &self.sentinel_master {
                    None => cx.refuse(
                        "redis.sentinel_master",
                        "missing, required in sentinel mode",
                    ),
                    Some(name) if name.trim().is_empty() || name.contains(char::is_whitespace) => {
                        cx.refuse(
                            "redis.sentinel_master",
                            format!("got {}", render_text(name)),
                        );
                    }
                    Some(_) => {}
                }
            }
            RedisMode::Standalone => {}
        }
    }

    fn validate_credentials(&self, cx: &mut Checker<'_>) {
        let url_key = cx.key("redis.url");
        let url_user = self
            .url
            .as_ref()
            .is_some_and(|url| !url.username().is_empty());
        let url_password = self.url.as_ref().is_some_and(SecretUrl::has_password);
        if url_password && self.password.is_some() {
            cx.fail(
                "redis.password",
                format!("set while {url_key} also carries a password"),
                "the password in one place only",
            );
        }
        if url_user && self.username.is_some() {
            cx.fail(
                "redis.username",
                format!("set while {url_key} also carries a user name"),
                "the user name in one place only",
            );
        }
        let has_password = url_password || self.password.is_some();
        if (url_user || self.username.is_some()) && !has_password {
            let password_key = cx.key("redis.password");
            let path = if self.username.is_some() {
                "redis.username"
            } else {
                "redis.url"
            };
            cx.fail(
                path,
                "a user name without a password",
                format!("a password as well (in the URL or {password_key}): Redis users authenticate with both"),
            );
        }
    }

    fn validate_tls(&self, cx: &mut Checker<'_>) {
        let url_key = cx.key("redis.url");
        let tls_key = cx.key("redis.tls.enabled");
        if let Some(url) = &self.url {
            match url.scheme() {
                "redis" if self.tls.enabled => cx.fail(
                    "redis.tls.enabled",
                    format!("true while {url_key} uses redis:// (no TLS)"),
                    "a rediss:// URL when TLS is enabled, or false",
                ),
                "rediss" if !self.tls.enabled && cx.is_explicit("redis.tls.enabled") => cx.fail(
                    "redis.tls.enabled",
                    format!("false while {url_key} uses rediss:// (TLS)"),
                    "true, or no value (a rediss:// URL turns TLS on)",
                ),
                _ => {}
            }
        }
        let files = [
            ("redis.tls.ca_file", &self.tls.ca_file),
            ("redis.tls.cert_file", &self.tls.cert_file),
            ("redis.tls.key_file", &self.tls.key_file),
        ];
        for (path, file) in files {
            let Some(file) = file else { continue };
            if self.tls_enabled() {
                cx.existing_file(path, file);
            } else {
                cx.fail(
                    path,
                    "set while TLS is off",
                    format!("TLS on ({tls_key}=true or a rediss:// URL) to use it"),
                );
            }
        }
        if !self.tls_enabled() {
            return;
        }
        match (&self.tls.cert_file, &self.tls.key_file) {
            (Some(_), None) => {
                let cert = cx.key("redis.tls.cert_file");
                cx.fail(
                    "redis.tls.key_file",
                    format!("missing while {cert} is set"),
                    "the client key that goes with the client certificate",
                );
            }
            (None, Some(_)) => {
                let key = cx.key("redis.tls.key_file");
                cx.fail(
                    "redis.tls.cert_file",
                    format!("missing while {key} is set"),
                    "the client certificate that goes with the client key",
                );
            }
            _ => {}
        }
    }

    /// Makes implied settings explicit, so that the effective configuration
    /// shows them: a `rediss://` URL turns `tls.enabled` on.
    pub(crate) fn normalize(&mut self) {
        self.tls.enabled = self.tls_enabled();
    }
}

/// Checks a standalone server URL: scheme, host, port, path, and that it is
/// not combined with the host/port/db keys.
fn validate_url(cx: &mut Checker<'_>, url: &SecretUrl) {
    let url_key = cx.key("redis.url");
    for part in ["host", "port", "db"] {
        let path = format!("redis.{part}");
        if cx.is_explicit(&path) {
            cx.fail(
                &path,
                format!("set together with {url_key}"),
                format!("either {url_key} or the host/port/db keys, not both"),
            );
        }
    }
    let parts = url.parts();
    match parts.scheme() {
        "redis" | "rediss" => {}
        "unix" | "redis+unix" => {
            cx.refuse(
                "redis.url",
                "the value is a unix socket URL, which is not supported",
            );
            return;
        }
        other => {
            cx.refuse(
                "redis.url",
                format!("the value has {}", net::describe_scheme(other)),
            );
            return;
        }
    }
    if parts.host_str().is_none_or(str::is_empty) {
        cx.refuse("redis.url", "the value has no host");
    }
    if parts.port() == Some(0) {
        cx.refuse("redis.url", "the value has port 0");
    }
    if db_from_path(parts.path()).is_none() && !matches!(parts.path(), "" | "/") {
        cx.refuse("redis.url", "the value has a path that is not /<db number>");
    }
    if parts.query().is_some() || parts.fragment().is_some() {
        cx.refuse(
            "redis.url",
            "the value has a query or fragment, which is not supported",
        );
    }
}

/// The database number of a URL path: `/3` is 3, `` and `/` are none.
fn db_from_path(path: &str) -> Option<i64> {
    let digits = path.strip_prefix('/')?;
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn into_secret(mut text: Zeroizing<String>) -> SecretString {
    SecretString::from(std::mem::take(&mut *text))
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    fn settings() -> RedisSettings {
        RedisSettings::default()
    }

    #[test]
    fn composes_url_from_parts_with_encoded_userinfo() {
        let mut redis = settings();
        redis.host = "cache.internal".into();
        redis.port = 6380;
        redis.db = 2;
        redis.username = Some("app user".into());
        redis.password = Some(Secret::new("p@ss:w/rd"));
        assert_eq!(
            redis.connection_url().expose_secret(),
            "redis://app%20user:p%40ss%3Aw%2Frd@cache.internal:6380/2"
        );
        redis.tls.enabled = true;
        redis.username = None;
        assert!(
            redis
                .connection_url()
                .expose_secret()
                .starts_with("rediss://:p%40ss")
        );
    }

    #[test]
    fn defaults_give_local_redis() {
        assert_eq!(
            settings().connection_url().expose_secret(),
            "redis://127.0.0.1:6379/0"
        );
    }

    #[test]
    fn url_form_takes_a_separate_password() {
        let mut redis = settings();
        redis.url = Some(SecretUrl::parse("rediss://cache:7000/4").unwrap());
        redis.password = Some(Secret::new("0123"));
        assert_eq!(
            redis.connection_url().expose_secret(),
            "rediss://:0123@cache:7000/4"
        );
        redis.password = None;
        redis.url = Some(SecretUrl::parse("redis://u:p%40@[::1]").unwrap());
        assert_eq!(
            redis.connection_url().expose_secret(),
            "redis://u:p%40@[::1]:6379/0"
        );
    }

    #[test]
    fn node_urls_follow_the_mode() {
        let mut redis = settings();
        redis.password = Some(Secret::new("pw"));
        redis.nodes = vec![
            NodeAddr::parse("a:7000").unwrap(),
            NodeAddr::parse("[::1]:7001").unwrap(),
        ];
        redis.mode = RedisMode::Cluster;
        let urls: Vec<_> = redis
            .node_urls()
            .iter()
            .map(|u| u.expose_secret().to_owned())
            .collect();
        assert_eq!(urls, ["redis://:pw@a:7000", "redis://:pw@[::1]:7001"]);
        redis.mode = RedisMode::Sentinel;
        let urls: Vec<_> = redis
            .node_urls()
            .iter()
            .map(|u| u.expose_secret().to_owned())
            .collect();
        assert_eq!(urls, ["redis://a:7000", "redis://[::1]:7001"]);
        redis.mode = RedisMode::Standalone;
        assert_eq!(redis.node_urls().len(), 1);
    }

    #[test]
    fn db_paths() {
        assert_eq!(db_from_path("/3"), Some(3));
        assert_eq!(db_from_path("/"), None);
        assert_eq!(db_from_path("/x"), None);
        assert_eq!(db_from_path(""), None);
    }
}
