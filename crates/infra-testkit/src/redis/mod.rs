//! Local Redis servers for tests: standalone ([`RedisServer`]), cluster ([`RedisCluster`]),
//! TLS ([`RedisTls`]) and sentinel ([`RedisSentinel`]), with password or ACL-user variants.
//!
//! Every server is a `redis-server` process from `PATH`, bound to 127.0.0.1 on a free port,
//! with its own temporary directory (working directory, data, log), started and waited on
//! until it answers `PING`, and killed when dropped (see [`crate::process`] for the
//! no-orphans guarantee). There is no Docker fallback here: cluster, TLS and sentinel setups
//! are always local processes, and when `redis-server` is missing they fail with a message
//! saying how to install it, never skip.
//!
//! For the standalone suites, [`crate::provider`] chooses between an explicit URL, Docker
//! and a local server.

mod cluster;
mod sentinel;
mod tls;

use std::ffi::OsString;
use std::fmt::{self, Write as _};
use std::path::Path;
use std::process::Command;
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use tempfile::TempDir;

pub use cluster::{RedisCluster, RedisClusterBuilder};
pub use sentinel::{RedisSentinel, RedisSentinelBuilder};
pub use tls::{ClientAuth, RedisTls, RedisTlsBuilder, ServerIdentity};

use crate::error::{Error, Result};
use crate::ports::{LOOPBACK, free_port};
use crate::process::{ManagedProcess, ProcessSpec, write_file};
use crate::resp::{Connection, Reply, info_field};

/// How long a server may take to answer `PING` after it was started.
pub const DEFAULT_STARTUP_TIMEOUT: Duration = Duration::from_secs(15);

/// How long one admin command (`INFO`, `PING`, ...) may take before it fails.
pub const ADMIN_TIMEOUT: Duration = Duration::from_secs(5);

/// How many times a server is started on a fresh port when its port was taken meanwhile.
const PORT_ATTEMPTS: usize = 5;

/// The message for a machine without `redis-server`.
pub const INSTALL_HINT: &str = "install redis-server (Debian/Ubuntu: apt-get install redis-server; \
it provides redis-server and redis-cli)";

/// The local Redis installation: `redis-server` and `redis-cli` found on `PATH`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisInstall {
    /// The version printed by `redis-server --version`, e.g. `7.0.15`.
    pub version: String,
}

/// Checks once per process that `redis-server` and `redis-cli` run, and returns the
/// server's version; the error says how to install them.
pub fn redis_install() -> Result<RedisInstall> {
    static INSTALL: OnceLock<Result<RedisInstall>> = OnceLock::new();
    INSTALL.get_or_init(detect_install).clone()
}

fn detect_install() -> Result<RedisInstall> {
    let version = command_output("redis-server", &["--version"])?;
    command_output("redis-cli", &["--version"])?;
    // "Redis server v=7.0.15 sha=... malloc=..."
    let version = version
        .split_whitespace()
        .find_map(|word| word.strip_prefix("v="))
        .unwrap_or("unknown")
        .to_owned();
    Ok(RedisInstall { version })
}

fn command_output(program: &str, args: &[&str]) -> Result<String> {
    let output = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| Error::new(format!("`{program}` cannot be run ({e}): {INSTALL_HINT}")))?;
    if !output.status.success() {
        return Err(Error::new(format!(
            "`{program} {}` failed ({}): {INSTALL_HINT}",
            args.join(" "),
            output.status
        )));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// How clients authenticate to a server.
#[derive(Clone, PartialEq, Eq)]
pub enum RedisAuth {
    /// `requirepass`: `AUTH password` as the default user.
    Password(String),
    /// An ACL user with every permission; the default user is disabled.
    User {
        /// The ACL user name.
        username: String,
        /// Its password.
        password: String,
    },
}

impl fmt::Debug for RedisAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RedisAuth::Password(_) => f.write_str("Password(<redacted>)"),
            RedisAuth::User { username, .. } => f
                .debug_struct("User")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
        }
    }
}

impl RedisAuth {
    /// The ACL user name, `None` for the default user.
    pub fn username(&self) -> Option<&str> {
        match self {
            RedisAuth::Password(_) => None,
            RedisAuth::User { username, .. } => Some(username),
        }
    }

    /// The password.
    pub fn password(&self) -> &str {
        match self {
            RedisAuth::Password(password) | RedisAuth::User { password, .. } => password,
        }
    }

    /// `user:password@` (percent-encoded; the user is empty for [`RedisAuth::Password`]),
    /// ready to put after `redis://`.
    pub fn userinfo(&self) -> String {
        format!(
            "{}:{}@",
            percent_encode(self.username().unwrap_or("")),
            percent_encode(self.password())
        )
    }

    /// The server arguments that require this authentication.
    fn server_args(&self) -> Vec<String> {
        match self {
            RedisAuth::Password(password) => vec!["--requirepass".into(), password.clone()],
            RedisAuth::User { username, password } => vec![
                "--user".into(),
                "default".into(),
                "off".into(),
                "--user".into(),
                username.clone(),
                "on".into(),
                format!(">{password}"),
                "~*".into(),
                "&*".into(),
                "+@all".into(),
            ],
        }
    }

    /// The arguments a replica needs to authenticate to its master.
    fn replica_args(&self) -> Vec<String> {
        let mut args = vec!["--masterauth".into(), self.password().to_owned()];
        if let Some(user) = self.username() {
            args.extend(["--masteruser".into(), user.to_owned()]);
        }
        args
    }

    /// The arguments `redis-cli` needs.
    fn cli_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(user) = self.username() {
            args.extend(["--user".into(), user.to_owned()]);
        }
        args.extend([
            "--pass".into(),
            self.password().to_owned(),
            "--no-auth-warning".into(),
        ]);
        args
    }

    fn as_resp(&self) -> (Option<&str>, &str) {
        (self.username(), self.password())
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// What kind of process a [`RedisServer`] is; decides its extra ports and arguments.
#[derive(Debug, Clone)]
enum Mode {
    Standalone,
    /// A cluster node; its bus gets its own free port.
    ClusterNode {
        node_timeout_ms: u64,
    },
    /// A server whose TLS port is the one clients use; the plain port is kept for admin.
    Tls {
        tls_args: Vec<String>,
    },
    /// A sentinel; the body is the config file after `port` and `dir`.
    Sentinel {
        config: String,
    },
}

/// Starts a [`RedisServer`]: authentication, extra arguments, startup timeout.
#[derive(Debug, Clone)]
#[must_use]
pub struct RedisServerBuilder {
    name: String,
    auth: Option<RedisAuth>,
    args: Vec<String>,
    port: Option<u16>,
    startup_timeout: Duration,
    mode: Mode,
}

impl Default for RedisServerBuilder {
    fn default() -> Self {
        Self {
            name: "redis-server".into(),
            auth: None,
            args: Vec::new(),
            port: None,
            startup_timeout: DEFAULT_STARTUP_TIMEOUT,
            mode: Mode::Standalone,
        }
    }
}

impl RedisServerBuilder {
    /// Requires `AUTH password` (`requirepass`); the URL carries `:password@`.
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.auth = Some(RedisAuth::Password(password.into()));
        self
    }

    /// Creates an ACL user with every permission and disables the default user; the URL
    /// carries `username:password@`. `AUTH username wrong` then fails with `WRONGPASS`.
    pub fn acl_user(mut self, username: impl Into<String>, password: impl Into<String>) -> Self {
        self.auth = Some(RedisAuth::User {
            username: username.into(),
            password: password.into(),
        });
        self
    }

    /// Sets (or clears) the authentication.
    pub fn auth(mut self, auth: Option<RedisAuth>) -> Self {
        self.auth = auth;
        self
    }

    /// Adds a command-line argument, e.g. `.arg("--appendonly").arg("yes")`.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Adds command-line arguments.
    pub fn args(mut self, args: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Uses this port instead of a free one (no retry when it is taken).
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// How long the server may take to answer `PING` (default
    /// [`DEFAULT_STARTUP_TIMEOUT`]).
    pub fn startup_timeout(mut self, timeout: Duration) -> Self {
        self.startup_timeout = timeout;
        self
    }

    /// The name used in messages (default `redis-server`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// Starts the server and waits until it answers `PING`.
    pub fn start(self) -> Result<RedisServer> {
        redis_install()?;
        let mut last_error = None;
        for _ in 0..PORT_ATTEMPTS {
            let dir = tempfile::Builder::new()
                .prefix("infra-testkit-redis-")
                .tempdir()
                .map_err(|e| Error::new(format!("cannot create a temporary directory: {e}")))?;
            let port = match self.port {
                Some(port) => port,
                None => free_port()?,
            };
            let extra_port = match self.mode {
                Mode::ClusterNode { .. } | Mode::Tls { .. } => Some(free_port()?),
                Mode::Standalone | Mode::Sentinel { .. } => None,
            };
            let process = self.spawn(dir.path(), port, extra_port)?;
            let server = RedisServer {
                process,
                port,
                extra_port,
                auth: self.auth.clone(),
                startup_timeout: self.startup_timeout,
                admin: Mutex::new(None),
                dir,
            };
            match server.wait_ready() {
                Ok(()) => return Ok(server),
                // Another process took a port between our probe and the server's bind:
                // try again on fresh ports (the failed server and its directory go away).
                Err(err)
                    if self.port.is_none()
                        && server
                            .process
                            .log_tail(usize::MAX)
                            .contains("Address already in use") =>
                {
                    last_error = Some(err);
                }
                Err(err) => return Err(err),
            }
        }
        Err(last_error.unwrap_or_else(|| Error::new("no attempt was made to start redis-server")))
    }

    fn spawn(&self, dir: &Path, port: u16, extra_port: Option<u16>) -> Result<ManagedProcess> {
        let dir_text = dir.to_string_lossy().into_owned();
        let mut args: Vec<OsString> = Vec::new();
        match &self.mode {
            Mode::Sentinel { config } => {
                let path = dir.join("sentinel.conf");
                let contents = format!(
                    "port {port}\nbind {LOOPBACK}\ndaemonize no\ndir \"{dir_text}\"\n{config}"
                );
                write_file(&path, contents.as_bytes())?;
                args.push(path.into_os_string());
                args.push("--sentinel".into());
            }
            Mode::Standalone | Mode::ClusterNode { .. } | Mode::Tls { .. } => {
                for arg in base_args(port, &dir_text) {
                    args.push(arg.into());
                }
            }
        }
        match (&self.mode, extra_port) {
            (Mode::ClusterNode { node_timeout_ms }, Some(bus)) => {
                for arg in [
                    "--cluster-enabled".to_owned(),
                    "yes".into(),
                    "--cluster-config-file".into(),
                    "nodes.conf".into(),
                    "--cluster-port".into(),
                    bus.to_string(),
                    "--cluster-node-timeout".into(),
                    node_timeout_ms.to_string(),
                ] {
                    args.push(arg.into());
                }
            }
            (Mode::Tls { tls_args }, Some(tls_port)) => {
                args.push("--tls-port".into());
                args.push(tls_port.to_string().into());
                for arg in tls_args {
                    args.push(arg.into());
                }
            }
            _ => {}
        }
        if let Some(auth) = &self.auth
            && !matches!(self.mode, Mode::Sentinel { .. })
        {
            for arg in auth.server_args() {
                args.push(arg.into());
            }
        }
        for arg in &self.args {
            args.push(arg.into());
        }
        let mut spec = ProcessSpec::new(
            format!("{} on {LOOPBACK}:{port}", self.name),
            "redis-server",
            args,
            dir.join("redis.log"),
        );
        spec.current_dir = Some(dir.to_path_buf());
        spec.cleanup_dir = Some(dir.to_path_buf());
        ManagedProcess::spawn(spec)
    }
}

/// The arguments of every data node: loopback, its directory, no persistence by default,
/// logs to stdout (captured in `redis.log`), `DEBUG` allowed from loopback.
fn base_args(port: u16, dir: &str) -> Vec<String> {
    [
        "--port",
        &port.to_string(),
        "--bind",
        &LOOPBACK.to_string(),
        "--dir",
        dir,
        "--daemonize",
        "no",
        "--save",
        "",
        "--appendonly",
        "no",
        "--enable-debug-command",
        "local",
        "--repl-diskless-sync-delay",
        "0",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect()
}

/// A local `redis-server` on 127.0.0.1, killed when dropped.
///
/// Every method takes `&self` (share it with `Arc` between a load task and a chaos task).
/// The testkit keeps one admin connection to the server for [`command`](Self::command) and
/// the `INFO` helpers; it counts once in `total_connections_received` (again after a
/// restart).
pub struct RedisServer {
    // Dropped in declaration order: the process dies before its directory is removed.
    process: ManagedProcess,
    port: u16,
    extra_port: Option<u16>,
    auth: Option<RedisAuth>,
    startup_timeout: Duration,
    admin: Mutex<Option<Connection>>,
    dir: TempDir,
}

impl fmt::Debug for RedisServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisServer")
            .field("addr", &self.addr())
            .field("pid", &self.pid())
            .field("auth", &self.auth)
            .field("dir", &self.dir.path())
            .finish_non_exhaustive()
    }
}

impl RedisServer {
    /// Starts a standalone server without authentication on a free port.
    pub fn start() -> Result<Self> {
        Self::builder().start()
    }

    /// A builder for password, ACL user, extra arguments and timeouts.
    pub fn builder() -> RedisServerBuilder {
        RedisServerBuilder::default()
    }

    /// The server's (plain) port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:port`.
    pub fn addr(&self) -> String {
        format!("{LOOPBACK}:{}", self.port)
    }

    /// `redis://[user:password@]127.0.0.1:port`, with the credentials when the server
    /// requires them.
    pub fn url(&self) -> String {
        let userinfo = self
            .auth
            .as_ref()
            .map(RedisAuth::userinfo)
            .unwrap_or_default();
        format!("redis://{userinfo}{}", self.addr())
    }

    /// `redis://127.0.0.1:port`, without credentials.
    pub fn url_without_auth(&self) -> String {
        format!("redis://{}", self.addr())
    }

    /// The authentication the server requires, if any.
    pub fn auth(&self) -> Option<&RedisAuth> {
        self.auth.as_ref()
    }

    /// The pid of the running server, `None` after [`kill`](Self::kill).
    pub fn pid(&self) -> Option<u32> {
        self.process.pid()
    }

    /// Whether the server process runs (a paused server runs).
    pub fn is_running(&self) -> bool {
        self.process.is_running()
    }

    /// The server's directory (working directory, data files, `redis.log`), kept across
    /// [`restart`](Self::restart)s.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server's log file.
    pub fn log_path(&self) -> &Path {
        self.process.log_path()
    }

    /// The last `lines` lines of the server's log.
    pub fn log_tail(&self, lines: usize) -> String {
        self.process.log_tail(lines)
    }

    /// The managed process, for what the helpers here do not cover.
    pub fn process(&self) -> &ManagedProcess {
        &self.process
    }

    /// Kills the server with `SIGKILL`: connections reset, nothing is saved. The port stays
    /// reserved for [`restart`](Self::restart).
    pub fn kill(&self) -> Result<()> {
        self.drop_admin();
        self.process.kill()
    }

    /// Stops the server with `SIGTERM` (a clean shutdown), killing it after `grace`.
    pub fn shutdown(&self, grace: Duration) -> Result<()> {
        self.drop_admin();
        self.process.terminate(grace)
    }

    /// Kills the server if it runs, starts it again on the same port with the same
    /// arguments and directory, and waits until it answers `PING`.
    pub fn restart(&self) -> Result<()> {
        self.drop_admin();
        self.process.restart()?;
        self.wait_ready()
    }

    /// Starts the server again after [`kill`](Self::kill) (same port, arguments and
    /// directory) and waits until it answers; does nothing but wait when it runs.
    pub fn start_again(&self) -> Result<()> {
        self.process.start_if_stopped()?;
        self.wait_ready()
    }

    /// Freezes the server (`SIGSTOP`): connections stay open and nothing answers, like a
    /// hung server.
    pub fn pause(&self) -> Result<()> {
        self.process.pause()
    }

    /// Thaws a paused server (`SIGCONT`).
    pub fn resume(&self) -> Result<()> {
        self.process.resume()
    }

    /// Whether the server is paused.
    pub fn is_paused(&self) -> bool {
        self.process.is_paused()
    }

    /// Waits (up to the startup timeout) until the server answers `PING`.
    pub fn wait_ready(&self) -> Result<()> {
        self.process
            .wait_ready(self.startup_timeout, "ready (answering PING)", || {
                let mut conn = Connection::connect_with_auth(
                    &self.addr(),
                    Duration::from_secs(1),
                    self.auth.as_ref().map(RedisAuth::as_resp),
                )?;
                match conn.command(&["PING"])? {
                    Reply::Status(s) if s == "PONG" => Ok(()),
                    other => Err(Error::new(format!("PING answered {other}"))),
                }
            })
    }

    /// Runs one command on the admin connection (authenticated; opened on first use and
    /// again after a failure). An error reply is `Ok(Reply::Error)`.
    pub fn command<S: AsRef<[u8]>>(&self, args: &[S]) -> Result<Reply> {
        let mut admin = self.admin();
        let conn = match admin.as_mut() {
            Some(conn) => conn,
            None => admin.insert(Connection::connect_with_auth(
                &self.addr(),
                ADMIN_TIMEOUT,
                self.auth.as_ref().map(RedisAuth::as_resp),
            )?),
        };
        let result = conn.command(args);
        if result.is_err() {
            // A timed-out reply may still arrive: never reuse this connection.
            *admin = None;
        }
        result
    }

    /// Like [`command`](Self::command), with an error reply turned into `Err`.
    pub fn command_ok<S: AsRef<[u8]>>(&self, args: &[S]) -> Result<Reply> {
        self.command(args)?.into_result()
    }

    /// The text of `INFO section`.
    pub fn info(&self, section: &str) -> Result<String> {
        let reply = self.command_ok(&["INFO", section])?;
        reply
            .as_text()
            .ok_or_else(|| Error::new(format!("INFO {section} answered {reply}")))
    }

    /// One field of `INFO section`, e.g. `info_field("replication", "role")`.
    pub fn info_field(&self, section: &str, field: &str) -> Result<String> {
        let info = self.info(section)?;
        info_field(&info, field).ok_or_else(|| {
            Error::new(format!(
                "INFO {section} of {} has no field {field}",
                self.addr()
            ))
        })
    }

    /// One field of `INFO stats`, e.g. `info_stat("total_commands_processed")`.
    pub fn info_stat(&self, name: &str) -> Result<String> {
        self.info_field("stats", name)
    }

    /// `INFO stats` `total_connections_received`: connections accepted since the server
    /// (re)started, including the testkit's admin connection.
    pub fn total_connections_received(&self) -> Result<u64> {
        parse_u64(
            "total_connections_received",
            &self.info_stat("total_connections_received")?,
        )
    }

    /// `INFO clients` `connected_clients`, including the testkit's admin connection.
    pub fn connected_clients(&self) -> Result<u64> {
        parse_u64(
            "connected_clients",
            &self.info_field("clients", "connected_clients")?,
        )
    }

    /// The first element of `ROLE`: `master`, `slave` or `sentinel`.
    pub fn role(&self) -> Result<String> {
        let reply = self.command_ok(&["ROLE"])?;
        reply
            .as_array()
            .and_then(|items| items.first())
            .and_then(Reply::as_text)
            .ok_or_else(|| Error::new(format!("ROLE on {} answered {reply}", self.addr())))
    }

    /// The extra port of a cluster node (bus) or TLS server (TLS port).
    fn extra_port(&self) -> Option<u16> {
        self.extra_port
    }

    fn admin(&self) -> MutexGuard<'_, Option<Connection>> {
        self.admin.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn drop_admin(&self) {
        *self.admin() = None;
    }
}

fn parse_u64(name: &str, value: &str) -> Result<u64> {
    value
        .trim()
        .parse()
        .map_err(|_| Error::new(format!("{name} is not a number: {value:?}")))
}

/// Runs `redis-cli` with `args`, returning its stdout; fails on a non-zero exit.
fn redis_cli(args: &[String]) -> Result<String> {
    let output = Command::new("redis-cli")
        .args(args)
        .output()
        .map_err(|e| Error::new(format!("cannot run redis-cli ({e}): {INSTALL_HINT}")))?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if output.status.success() {
        Ok(stdout)
    } else {
        Err(Error::new(format!(
            "`redis-cli {}` failed ({}): {}{}",
            redact_cli_args(args),
            output.status,
            stdout.trim(),
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    }
}

/// The arguments with the value after `--pass` / `-a` hidden.
fn redact_cli_args(args: &[String]) -> String {
    let mut out = Vec::with_capacity(args.len());
    let mut hide = false;
    for arg in args {
        if hide {
            out.push("<redacted>");
            hide = false;
        } else {
            hide = arg == "--pass" || arg == "-a";
            out.push(arg.as_str());
        }
    }
    out.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_is_percent_encoded() {
        assert_eq!(
            RedisAuth::Password("s3cr:t@/".into()).userinfo(),
            ":s3cr%3At%40%2F@"
        );
        let user = RedisAuth::User {
            username: "app".into(),
            password: "pw".into(),
        };
        assert_eq!(user.userinfo(), "app:pw@");
        assert_eq!(user.username(), Some("app"));
    }

    #[test]
    fn auth_debug_never_shows_the_password() {
        let auth = RedisAuth::User {
            username: "app".into(),
            password: "marker-123".into(),
        };
        assert!(!format!("{auth:?}").contains("marker-123"));
        assert!(!format!("{:?}", RedisAuth::Password("marker-123".into())).contains("marker"));
    }

    #[test]
    fn cli_passwords_are_redacted_in_messages() {
        let args: Vec<String> = ["-p", "1", "--pass", "marker", "PING"]
            .into_iter()
            .map(str::to_owned)
            .collect();
        assert_eq!(redact_cli_args(&args), "-p 1 --pass <redacted> PING");
    }

    #[test]
    fn acl_users_disable_the_default_user() {
        let args = RedisAuth::User {
            username: "app".into(),
            password: "pw".into(),
        }
        .server_args();
        assert_eq!(&args[..3], ["--user", "default", "off"]);
        assert!(args.contains(&">pw".to_owned()));
    }
}
