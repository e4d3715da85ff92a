//! A local `redis-server` that serves clients over TLS with test certificates.

use std::sync::Arc;

use super::{Mode, RedisAuth, RedisServer, RedisServerBuilder, redis_cli};
use crate::certs::TestCerts;
use crate::error::{Error, Result};
use crate::ports::LOOPBACK;

/// `tls-auth-clients`: whether clients must present a certificate signed by the CA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientAuth {
    /// `no`: client certificates are neither asked for nor checked.
    No,
    /// `optional` (default): a certificate is checked when a client presents one.
    #[default]
    Optional,
    /// `yes`: a client without a certificate signed by the CA is refused.
    Required,
}

impl ClientAuth {
    fn as_config(self) -> &'static str {
        match self {
            ClientAuth::No => "no",
            ClientAuth::Optional => "optional",
            ClientAuth::Required => "yes",
        }
    }
}

/// Which certificate the server presents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ServerIdentity {
    /// The certificate for `localhost` and 127.0.0.1 (default): verification succeeds.
    #[default]
    Localhost,
    /// The certificate for [`WRONG_HOST`](crate::certs::WRONG_HOST) only, signed by the
    /// same CA: a client verifying the host name must refuse it.
    WrongHost,
}

/// Starts a [`RedisTls`].
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct RedisTlsBuilder {
    certs: Option<Arc<TestCerts>>,
    client_auth: ClientAuth,
    identity: ServerIdentity,
    auth: Option<RedisAuth>,
}

impl RedisTlsBuilder {
    /// Uses these certificates instead of generating new ones (e.g. two servers, one CA).
    pub fn certs(mut self, certs: Arc<TestCerts>) -> Self {
        self.certs = Some(certs);
        self
    }

    /// `tls-auth-clients` (default [`ClientAuth::Optional`]).
    pub fn client_auth(mut self, client_auth: ClientAuth) -> Self {
        self.client_auth = client_auth;
        self
    }

    /// Which certificate the server presents (default [`ServerIdentity::Localhost`]).
    pub fn identity(mut self, identity: ServerIdentity) -> Self {
        self.identity = identity;
        self
    }

    /// Requires `AUTH password` too.
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.auth = Some(RedisAuth::Password(password.into()));
        self
    }

    /// Requires an ACL user too (the default user is disabled).
    pub fn acl_user(mut self, username: impl Into<String>, password: impl Into<String>) -> Self {
        self.auth = Some(RedisAuth::User {
            username: username.into(),
            password: password.into(),
        });
        self
    }

    /// Starts the server and waits until it answers `PING` over TLS (checked with
    /// `redis-cli --tls`, verifying the certificate against the CA).
    pub fn start(self) -> Result<RedisTls> {
        let certs = match self.certs {
            Some(certs) => certs,
            None => Arc::new(TestCerts::generate()?),
        };
        let server_pair = match self.identity {
            ServerIdentity::Localhost => certs.server(),
            ServerIdentity::WrongHost => certs.wrong_host_cert(),
        };
        let path = |p: &std::path::Path| p.to_string_lossy().into_owned();
        let tls_args = vec![
            "--tls-cert-file".to_owned(),
            path(&server_pair.cert_file),
            "--tls-key-file".to_owned(),
            path(&server_pair.key_file),
            "--tls-ca-cert-file".to_owned(),
            path(certs.ca_file()),
            "--tls-auth-clients".to_owned(),
            self.client_auth.as_config().to_owned(),
        ];
        let server = RedisServerBuilder::default()
            .name("redis-server (TLS)")
            .auth(self.auth)
            .mode(Mode::Tls { tls_args })
            .start()?;
        let tls_port = server
            .extra_port()
            .ok_or_else(|| Error::new("the TLS server has no TLS port"))?;
        let tls = RedisTls {
            server,
            certs,
            tls_port,
        };
        tls.check_tls()?;
        Ok(tls)
    }
}

/// A local `redis-server` serving TLS on [`port`](Self::port), with certificates from
/// [`TestCerts`], killed when dropped.
///
/// Clients connect to [`url`](Self::url) (`rediss://127.0.0.1:port`) trusting
/// [`TestCerts::ca_file`]. A plain connection to that port is refused. The server also
/// listens on a plain admin port, used only by the testkit ([`admin`](Self::admin)) for
/// readiness, `INFO` and chaos; do not point the code under test at it.
///
/// Always a local process (no Docker, no URL).
#[derive(Debug)]
pub struct RedisTls {
    server: RedisServer,
    certs: Arc<TestCerts>,
    tls_port: u16,
}

impl RedisTls {
    /// Starts a TLS server with fresh certificates, `tls-auth-clients optional`, and the
    /// `localhost` certificate.
    pub fn start() -> Result<Self> {
        Self::builder().start()
    }

    /// A builder for client authentication, the server identity, shared certificates and
    /// a password.
    pub fn builder() -> RedisTlsBuilder {
        RedisTlsBuilder::default()
    }

    /// The TLS port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.tls_port
    }

    /// `127.0.0.1:tls-port`.
    pub fn addr(&self) -> String {
        format!("{LOOPBACK}:{}", self.tls_port)
    }

    /// `rediss://[user:password@]127.0.0.1:tls-port`.
    pub fn url(&self) -> String {
        let userinfo = self
            .server
            .auth()
            .map(RedisAuth::userinfo)
            .unwrap_or_default();
        format!("rediss://{userinfo}{}", self.addr())
    }

    /// `rediss://localhost:tls-port` (credentials included), for clients that verify a
    /// DNS name rather than an IP address. `localhost` must resolve to 127.0.0.1.
    pub fn url_localhost(&self) -> String {
        let userinfo = self
            .server
            .auth()
            .map(RedisAuth::userinfo)
            .unwrap_or_default();
        format!("rediss://{userinfo}localhost:{}", self.tls_port)
    }

    /// The certificates (CA, client, wrong CA, ...).
    pub fn certs(&self) -> &Arc<TestCerts> {
        &self.certs
    }

    /// The authentication the server requires, if any.
    pub fn auth(&self) -> Option<&RedisAuth> {
        self.server.auth()
    }

    /// The server process behind its plain admin port: kill, restart, pause, `INFO`.
    pub fn admin(&self) -> &RedisServer {
        &self.server
    }

    /// Checks with `redis-cli --tls` that the TLS port answers `PING`, verifying the server
    /// certificate against the CA and presenting the client certificate.
    pub fn check_tls(&self) -> Result<()> {
        let path = |p: &std::path::Path| p.to_string_lossy().into_owned();
        let mut args = vec![
            "--tls".to_owned(),
            "--cacert".to_owned(),
            path(self.certs.ca_file()),
            "--cert".to_owned(),
            path(&self.certs.client().cert_file),
            "--key".to_owned(),
            path(&self.certs.client().key_file),
            "-h".to_owned(),
            LOOPBACK.to_string(),
            "-p".to_owned(),
            self.tls_port.to_string(),
        ];
        if let Some(auth) = self.server.auth() {
            args.extend(auth.cli_args());
        }
        args.push("PING".to_owned());
        let out = redis_cli(&args).map_err(|e| {
            self.server
                .process()
                .failure(&format!("does not answer PING over TLS ({e})"))
        })?;
        if out.trim() == "PONG" {
            Ok(())
        } else {
            Err(self
                .server
                .process()
                .failure(&format!("answered {:?} to PING over TLS", out.trim())))
        }
    }
}
