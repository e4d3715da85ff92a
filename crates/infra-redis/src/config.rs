//! Settings -> client plan: everything the adapter needs, derived once from [`RedisSettings`].
//!
//! No network I/O happens here; only the TLS files named in the settings are read (and their
//! PEM contents checked), so that a bad certificate fails at build time with a clear message
//! instead of at the first connection.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use deadpool::managed::Timeouts;
use infra_base::{ErrorKind, InfraError, InfraResult, REDIS_BACKEND};
use infra_config::{RedisMode, RedisSettings};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{
    AsyncConnectionConfig, ClientTlsConfig, ConnectionAddr, ConnectionInfo, IntoConnectionInfo,
    ProtocolVersion, TlsCertificates, TlsMode,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use secrecy::{ExposeSecret, SecretString};

/// Which servers the pool connects to, with the client of the configured mode.
pub(crate) enum Target {
    /// One server.
    Standalone(redis::Client),
    /// A Redis Cluster, discovered from its seed nodes.
    Cluster(ClusterClient),
    /// The primary that the sentinels name.
    Sentinel(SentinelClient),
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The clients hold credentials: never print them.
        f.write_str(match self {
            Target::Standalone(_) => "Standalone",
            Target::Cluster(_) => "Cluster",
            Target::Sentinel(_) => "Sentinel",
        })
    }
}

/// Where subscriptions connect: a client per candidate server, built from the same URLs,
/// credentials and TLS material as the pool's (subscriptions use connections of their own).
pub(crate) enum PubSubTarget {
    /// The one server.
    Standalone(redis::Client),
    /// The primary the sentinels name, looked up again on every connection.
    Sentinel(SentinelClient),
    /// A Redis Cluster.
    Cluster {
        /// Each seed node: a plain `PUBLISH` reaches every node of a cluster, so any one
        /// delivers the messages; a reconnection tries the next seed.
        seeds: Vec<redis::Client>,
        /// A RESP3 cluster client for sharded subscriptions (`SSUBSCRIBE`), which must
        /// reach the shard of each channel.
        sharded: ClusterClient,
    },
}

/// The pool's size and timeouts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PoolPlan {
    /// Most connections the pool opens.
    pub(crate) max_size: usize,
    /// How long a checkout waits (`wait`), a connection takes to open (`create`), and a
    /// returned connection takes to check (`recycle`). All are always `Some`.
    pub(crate) timeouts: Timeouts,
}

impl PoolPlan {
    pub(crate) fn wait_timeout(&self) -> Duration {
        self.timeouts.wait.unwrap_or(Duration::ZERO)
    }
}

/// Everything the adapter needs, derived from the settings.
pub(crate) struct ClientPlan {
    pub(crate) mode: RedisMode,
    /// Where the adapter connects, for logs and start-up errors: `host:port` of the server, or
    /// of the seeds / sentinels. Never contains credentials.
    pub(crate) endpoint: String,
    pub(crate) tls: bool,
    /// The parsed node addresses (server, seeds or sentinels), credentials included.
    #[cfg_attr(
        not(test),
        expect(dead_code, reason = "inspected by the settings tests")
    )]
    pub(crate) nodes: Vec<ConnectionInfo>,
    pub(crate) target: Target,
    /// Where subscriptions connect.
    pub(crate) pubsub: PubSubTarget,
    /// Reconnection backoff of subscriptions: the settings' retry delays.
    pub(crate) retry_base_delay: Duration,
    pub(crate) retry_max_delay: Duration,
    /// Connect and response timeouts of standalone and sentinel connections (a cluster
    /// client carries its own copy).
    pub(crate) connection: AsyncConnectionConfig,
    pub(crate) pool: PoolPlan,
    pub(crate) connect_timeout: Duration,
    pub(crate) command_timeout: Duration,
}

impl fmt::Debug for ClientPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientPlan")
            .field("mode", &self.mode)
            .field("endpoint", &self.endpoint)
            .field("tls", &self.tls)
            .field("target", &self.target)
            .field("pool", &self.pool)
            .field("connect_timeout", &self.connect_timeout)
            .field("command_timeout", &self.command_timeout)
            .finish_non_exhaustive()
    }
}

fn invalid(message: impl Into<String>) -> InfraError {
    InfraError::new(ErrorKind::InvalidInput, REDIS_BACKEND, "build", message)
}

/// A settings URL parsed by redis-rs. The error never repeats the URL (it may hold a
/// password); redis-rs' own parse errors do not either.
fn parse_url(url: &SecretString, what: &str) -> InfraResult<ConnectionInfo> {
    url.expose_secret()
        .into_connection_info()
        .map_err(|err| invalid(format!("{what} is not a usable Redis URL")).with_source(err))
}

/// `host:port` of a node, without credentials.
fn authority(info: &ConnectionInfo) -> String {
    // `ConnectionAddr`'s Display is `host:port`; IPv6 hosts get brackets back.
    match info.addr() {
        ConnectionAddr::Tcp(host, port) | ConnectionAddr::TcpTls { host, port, .. }
            if host.contains(':') =>
        {
            format!("[{host}]:{port}")
        }
        addr => addr.to_string(),
    }
}

/// Builds the plan: parses the URLs the settings compose, loads TLS material, and creates
/// (without connecting) the client of the configured mode.
pub(crate) fn plan(settings: &RedisSettings) -> InfraResult<ClientPlan> {
    if !settings.enabled {
        return Err(InfraError::not_configured(REDIS_BACKEND, "build"));
    }
    let tls = settings.tls_enabled();
    let certificates = if tls {
        tls_certificates(settings)?
    } else {
        None
    };
    let connection = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(settings.connect_timeout))
        .set_response_timeout(Some(settings.command_timeout));
    let pool = PoolPlan {
        max_size: settings.pool.max_size.max(1),
        timeouts: Timeouts {
            wait: Some(settings.pool.wait_timeout),
            create: Some(settings.pool.create_timeout),
            recycle: Some(settings.pool.recycle_timeout),
        },
    };

    let urls = settings.node_urls();
    if urls.is_empty() {
        return Err(invalid(format!(
            "no Redis nodes configured for {} mode",
            settings.mode.as_str()
        )));
    }
    let nodes = urls
        .iter()
        .enumerate()
        .map(|(i, url)| parse_url(url, &format!("node {}", i + 1)))
        .collect::<InfraResult<Vec<_>>>()?;
    let authorities: Vec<String> = nodes.iter().map(authority).collect();

    let (endpoint, target, pubsub) = match settings.mode {
        RedisMode::Cluster => {
            let seeds = nodes
                .iter()
                .map(|info| node_client(info.clone(), certificates.clone()))
                .collect::<InfraResult<Vec<_>>>()?;
            let client = cluster_builder(settings, &nodes, certificates.clone())
                .build()
                .map_err(cluster_build_error)?;
            // Sharded subscriptions need RESP3 pushes (redis-rs resubscribes them after a
            // reconnection itself); each gets its push sender when it connects.
            let sharded = cluster_builder(settings, &nodes, certificates)
                .use_protocol(ProtocolVersion::RESP3)
                .build()
                .map_err(cluster_build_error)?;
            (
                format!("cluster seeds {}", authorities.join(", ")),
                Target::Cluster(client),
                PubSubTarget::Cluster { seeds, sharded },
            )
        }
        RedisMode::Sentinel => {
            let master = settings.sentinel_master.clone().unwrap_or_default();
            let client = sentinel_client(settings, &nodes, &master, tls, certificates.clone())?;
            let subscriptions = sentinel_client(settings, &nodes, &master, tls, certificates)?;
            (
                format!("sentinel master {master:?} via {}", authorities.join(", ")),
                Target::Sentinel(client),
                PubSubTarget::Sentinel(subscriptions),
            )
        }
        RedisMode::Standalone => {
            let client = node_client(nodes[0].clone(), certificates)?;
            (
                authorities[0].clone(),
                Target::Standalone(client.clone()),
                PubSubTarget::Standalone(client),
            )
        }
    };

    Ok(ClientPlan {
        mode: settings.mode,
        endpoint,
        tls,
        nodes,
        target,
        pubsub,
        retry_base_delay: settings.retry.base_delay,
        retry_max_delay: settings.retry.max_delay,
        connection,
        pool,
        connect_timeout: settings.connect_timeout,
        command_timeout: settings.command_timeout,
    })
}

/// The cluster client's builder: the seeds (with their credentials), the timeouts and the
/// TLS material of the settings.
fn cluster_builder(
    settings: &RedisSettings,
    nodes: &[ConnectionInfo],
    certificates: Option<TlsCertificates>,
) -> ClusterClientBuilder {
    let builder = ClusterClientBuilder::new(nodes.to_vec())
        .connection_timeout(settings.connect_timeout)
        .response_timeout(settings.command_timeout);
    match certificates {
        Some(certs) => builder.certs(certs),
        None => builder,
    }
}

fn cluster_build_error(err: redis::RedisError) -> InfraError {
    invalid("the cluster client cannot be built from the settings").with_source(err)
}

/// The client of one server: its URL's credentials and database, with the TLS material.
fn node_client(
    info: ConnectionInfo,
    certificates: Option<TlsCertificates>,
) -> InfraResult<redis::Client> {
    match certificates {
        Some(certs) => redis::Client::build_with_tls(info, certs),
        None => redis::Client::open(info),
    }
    .map_err(|err| invalid("the Redis client cannot be built from the settings").with_source(err))
}

/// The sentinel client: sentinels at `nodes` (no credentials, as the settings compose them),
/// the primary reached with the settings' user, password, database and TLS material.
fn sentinel_client(
    settings: &RedisSettings,
    nodes: &[ConnectionInfo],
    master: &str,
    tls: bool,
    certificates: Option<TlsCertificates>,
) -> InfraResult<SentinelClient> {
    let sentinels = nodes.iter().map(|info| info.addr().clone());
    let mut builder = SentinelClientBuilder::new(sentinels, master, SentinelServerType::Master)
        .map_err(|err| invalid("the sentinel client cannot be built").with_source(err))?
        .set_client_to_redis_db(settings.db);
    if let Some(username) = &settings.username {
        builder = builder.set_client_to_redis_username(username);
    }
    if let Some(password) = &settings.password {
        builder = builder.set_client_to_redis_password(password.expose_secret());
    }
    if tls {
        builder = builder
            .set_client_to_redis_tls_mode(TlsMode::Secure)
            .set_client_to_sentinel_tls_mode(TlsMode::Secure);
        if let Some(certs) = certificates {
            builder = builder
                .set_client_to_sentinel_certificates(certs.clone())
                .set_client_to_redis_certificates(certs);
        }
    }
    builder
        .build()
        .map_err(|err| invalid("the sentinel client cannot be built").with_source(err))
}

/// The CA bundle and client certificate named in the settings, checked to hold PEM data;
/// `None` when neither is set (the system roots verify the server).
fn tls_certificates(settings: &RedisSettings) -> InfraResult<Option<TlsCertificates>> {
    let tls = &settings.tls;
    let root_cert = match &tls.ca_file {
        Some(path) => {
            let pem = read_file("redis.tls.ca_file", path)?;
            let mut anchors = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|err| {
                    invalid(format!(
                        "redis.tls.ca_file: {} is not a PEM certificate bundle",
                        path.display()
                    ))
                    .with_source(err)
                })?;
                anchors.add(cert).map_err(|err| {
                    invalid(format!(
                        "redis.tls.ca_file: {} holds a certificate that is not a usable CA",
                        path.display()
                    ))
                    .with_source(err)
                })?;
            }
            if anchors.is_empty() {
                return Err(invalid(format!(
                    "redis.tls.ca_file: {} holds no PEM certificate",
                    path.display()
                )));
            }
            Some(pem)
        }
        None => None,
    };
    let client_tls = match (&tls.cert_file, &tls.key_file) {
        (Some(cert), Some(key)) => {
            let client_cert = read_file("redis.tls.cert_file", cert)?;
            let has_cert = CertificateDer::pem_slice_iter(&client_cert).any(|c| c.is_ok());
            if !has_cert {
                return Err(invalid(format!(
                    "redis.tls.cert_file: {} holds no PEM certificate",
                    cert.display()
                )));
            }
            let client_key = read_file("redis.tls.key_file", key)?;
            if PrivateKeyDer::from_pem_slice(&client_key).is_err() {
                // The parse error is not attached: it could quote key material.
                return Err(invalid(format!(
                    "redis.tls.key_file: {} holds no PEM private key",
                    key.display()
                )));
            }
            Some(ClientTlsConfig {
                client_cert,
                client_key,
            })
        }
        (None, None) => None,
        _ => {
            return Err(invalid(
                "redis.tls.cert_file and redis.tls.key_file must be set together",
            ));
        }
    };
    if root_cert.is_none() && client_tls.is_none() {
        return Ok(None);
    }
    install_crypto_provider();
    Ok(Some(TlsCertificates {
        client_tls,
        root_cert,
    }))
}

fn read_file(key: &str, path: &Path) -> InfraResult<Vec<u8>> {
    std::fs::read(path).map_err(|err| {
        invalid(format!("{key}: {} cannot be read", path.display())).with_source(err)
    })
}

/// Makes sure rustls has a process-wide crypto provider: redis-rs builds its TLS
/// configuration with `rustls::ClientConfig::builder()`, which panics when several providers
/// are compiled in and none was installed. Installing fails harmlessly when one already is.
pub(crate) fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use infra_config::{NodeAddr, Secret, SecretUrl};
    use redis::ProtocolVersion;

    use super::*;

    const MARKER: &str = "pw-M4RK3R";

    fn settings() -> RedisSettings {
        RedisSettings::default()
    }

    fn nodes(list: &[&str]) -> Vec<NodeAddr> {
        list.iter().map(|n| NodeAddr::parse(n).unwrap()).collect()
    }

    #[test]
    fn standalone_defaults_are_bounded() {
        let plan = plan(&settings()).unwrap();
        assert_eq!(plan.mode, RedisMode::Standalone);
        assert_eq!(plan.endpoint, "127.0.0.1:6379");
        assert!(!plan.tls);
        assert!(matches!(plan.target, Target::Standalone(_)));
        assert_eq!(plan.pool.max_size, 16);
        assert_eq!(plan.pool.timeouts.wait, Some(Duration::from_secs(1)));
        assert_eq!(plan.pool.timeouts.create, Some(Duration::from_secs(2)));
        assert_eq!(plan.pool.timeouts.recycle, Some(Duration::from_secs(1)));
        assert_eq!(plan.connect_timeout, Duration::from_secs(2));
        assert_eq!(plan.command_timeout, Duration::from_secs(1));
        let dbg = format!("{:?}", plan.connection);
        assert!(dbg.contains("response_timeout: Some(1s)"), "{dbg}");
        assert!(dbg.contains("connection_timeout: Some(2s)"), "{dbg}");
    }

    #[test]
    fn standalone_url_credentials_and_db_reach_the_client() {
        let mut s = settings();
        s.url =
            Some(SecretUrl::parse(&format!("redis://app:{MARKER}@cache.internal:6380/3")).unwrap());
        let plan = plan(&s).unwrap();
        assert_eq!(plan.endpoint, "cache.internal:6380");
        let Target::Standalone(client) = &plan.target else {
            panic!("standalone expected")
        };
        let info = client.get_connection_info();
        assert_eq!(
            info.addr(),
            &ConnectionAddr::Tcp("cache.internal".into(), 6380)
        );
        assert_eq!(info.redis_settings().username(), Some("app"));
        assert_eq!(info.redis_settings().password(), Some(MARKER));
        assert_eq!(info.redis_settings().db(), 3);
        assert_eq!(info.redis_settings().protocol(), ProtocolVersion::RESP2);
        assert!(!format!("{plan:?}").contains(MARKER));
        assert!(!plan.endpoint.contains(MARKER));
    }

    #[test]
    fn host_port_form_with_separate_password() {
        let mut s = settings();
        s.host = "::1".into();
        s.port = 7000;
        s.db = 2;
        s.password = Some(Secret::new("p@ss:w/rd"));
        let plan = plan(&s).unwrap();
        assert_eq!(plan.endpoint, "[::1]:7000");
        let info = &plan.nodes[0];
        assert_eq!(info.redis_settings().password(), Some("p@ss:w/rd"));
        assert_eq!(info.redis_settings().username(), None);
        assert_eq!(info.redis_settings().db(), 2);
    }

    #[test]
    fn rediss_url_turns_tls_on_with_verification() {
        let mut s = settings();
        s.url = Some(SecretUrl::parse("rediss://cache:6380/0").unwrap());
        let plan = plan(&s).unwrap();
        assert!(plan.tls);
        match plan.nodes[0].addr() {
            ConnectionAddr::TcpTls {
                host,
                port,
                insecure,
                ..
            } => {
                assert_eq!((host.as_str(), *port), ("cache", 6380));
                assert!(!insecure, "certificate and host name verification stay on");
            }
            other => panic!("TLS address expected, got {other:?}"),
        }
    }

    fn pem_file(contents: &str) -> (std::path::PathBuf, impl Drop) {
        struct Cleanup(std::path::PathBuf);
        impl Drop for Cleanup {
            fn drop(&mut self) {
                let _ = std::fs::remove_file(&self.0);
            }
        }
        let path = std::env::temp_dir().join(format!(
            "infra-redis-test-{}-{}.pem",
            std::process::id(),
            unique_suffix()
        ));
        std::fs::File::create(&path)
            .unwrap()
            .write_all(contents.as_bytes())
            .unwrap();
        (path.clone(), Cleanup(path))
    }

    fn unique_suffix() -> u128 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    }

    /// A self-signed test CA (EC P-256, valid until 2126) and its key: fixtures only.
    const TEST_CA: &str = "-----BEGIN CERTIFICATE-----
MIIBlDCCATmgAwIBAgIUQyvOL4BCQo3M4DeJr8GfGolXgEswCgYIKoZIzj0EAwIw
HjEcMBoGA1UEAwwTaW5mcmEtcmVkaXMgdGVzdCBDQTAgFw0yNjExMjcwMjA3MTRa
GA8yMTI2MTEwMzAyMDcxNFowHjEcMBoGA1UEAwwTaW5mcmEtcmVkaXMgdGVzdCBD
QTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABJlgtH+WbxA0YLD4nUcJijnqSD/0
dhTB8hWEdxHjN9QMGNxPG5ATp8zDZDpN3cKSePVY3As01h516nnn6u1qyQ+jUzBR
MB0GA1UdDgQWBBQTaAseoGW/qZ3e3hKITYUd++ytBTAfBgNVHSMEGDAWgBQTaAse
oGW/qZ3e3hKITYUd++ytBTAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0kA
MEYCIQCzCqNjB7zozUv+Y1lpAnO69Ai14HjLJ4yIIGzSlq0ZuwIhAJiSqRx6Vu/S
CoE2x36Zq9THTPMdffIk9soiyniwXrhm
-----END CERTIFICATE-----
";
    const TEST_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgKazHuRKxOBn26Ru3
TJ8Hu+x94lv7i8vbp1Dy/OJeU1+hRANCAASZYLR/lm8QNGCw+J1HCYo56kg/9HYU
wfIVhHcR4zfUDBjcTxuQE6fMw2Q6Td3Cknj1WNwLNNYedep55+rtaskP
-----END PRIVATE KEY-----
";

    #[test]
    fn tls_files_are_checked_at_build_time() {
        let (junk, _c1) = pem_file("not a certificate");
        let (bad_cert, _c2) =
            pem_file("-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n");
        let (ca, _c3) = pem_file(TEST_CA);
        let (key, _c4) = pem_file(TEST_KEY);
        let mut s = settings();
        s.tls.enabled = true;

        for (file, problem) in [
            (&junk, "holds no PEM certificate"),
            (&bad_cert, "not a usable CA"),
        ] {
            s.tls.ca_file = Some(file.clone());
            let err = plan(&s).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput);
            assert!(err.message().starts_with("redis.tls.ca_file:"), "{err}");
            assert!(err.message().contains(problem), "{err}");
        }
        s.tls.ca_file = Some(std::env::temp_dir().join("infra-redis-no-such-file.pem"));
        let err = plan(&s).unwrap_err();
        assert!(err.message().contains("cannot be read"), "{err}");

        s.tls.ca_file = Some(ca.clone());
        let built = plan(&s).unwrap();
        assert!(built.tls);
        assert!(matches!(
            built.nodes[0].addr(),
            ConnectionAddr::TcpTls {
                insecure: false,
                ..
            }
        ));

        // Mutual TLS: a certificate and its key.
        s.tls.cert_file = Some(ca.clone());
        s.tls.key_file = Some(junk);
        let err = plan(&s).unwrap_err();
        assert!(err.message().starts_with("redis.tls.key_file:"), "{err}");
        assert!(!err.chain().contains("MIGH"), "key material never appears");
        s.tls.key_file = Some(key);
        assert!(plan(&s).is_ok());
    }

    #[test]
    fn cluster_mode_uses_every_seed_with_shared_credentials() {
        let mut s = settings();
        s.mode = RedisMode::Cluster;
        s.nodes = nodes(&["10.0.0.1:7000", "10.0.0.2:7001"]);
        s.username = Some("app".into());
        s.password = Some(Secret::new(MARKER));
        let plan = plan(&s).unwrap();
        assert!(matches!(plan.target, Target::Cluster(_)));
        assert_eq!(plan.endpoint, "cluster seeds 10.0.0.1:7000, 10.0.0.2:7001");
        assert_eq!(plan.nodes.len(), 2);
        for node in &plan.nodes {
            assert_eq!(node.redis_settings().password(), Some(MARKER));
            assert_eq!(node.redis_settings().username(), Some("app"));
        }
        assert!(!format!("{plan:?}").contains(MARKER));
    }

    #[test]
    fn sentinel_mode_names_the_master_and_keeps_credentials_off_sentinels() {
        let mut s = settings();
        s.mode = RedisMode::Sentinel;
        s.nodes = nodes(&["127.0.0.1:26379", "127.0.0.1:26380"]);
        s.sentinel_master = Some("mymaster".into());
        s.password = Some(Secret::new(MARKER));
        s.db = 1;
        let plan = plan(&s).unwrap();
        assert!(matches!(plan.target, Target::Sentinel(_)));
        assert_eq!(
            plan.endpoint,
            "sentinel master \"mymaster\" via 127.0.0.1:26379, 127.0.0.1:26380"
        );
        for node in &plan.nodes {
            assert_eq!(node.redis_settings().password(), None);
        }
    }

    #[test]
    fn disabled_redis_is_not_configured() {
        let mut s = settings();
        s.enabled = false;
        assert_eq!(plan(&s).unwrap_err().kind(), ErrorKind::NotConfigured);
    }
}
