//! The `qdrant` section: embedded store or remote server over gRPC, API key,
//! TLS, timeouts and resilience, plus the endpoint adapters connect to.

use std::fmt;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

use crate::choice::choice;
use crate::error::render_text;
use crate::net;
use crate::resilience::{CircuitSettings, RetrySettings};
use crate::schema::{self as keys};
use crate::secret::{Secret, SecretUrl};
use crate::validate::Checker;

/// Qdrant's gRPC port, which the Rust client speaks.
const DEFAULT_PORT: u16 = keys::QDRANT_PORT.default.u16();
/// Qdrant's REST port, which the gRPC client cannot use.
const REST_PORT: u16 = 6333;

choice! {
    /// Where vectors are stored.
    pub enum QdrantMode {
        /// A Qdrant server reached over gRPC (`url`, or `host`/`port`).
        Remote => "remote",
        /// An in-process store in the `path` directory; needs no server.
        Embedded => "embedded",
    }
    default = Embedded;
}

choice! {
    /// Compression of gRPC messages to a remote Qdrant.
    pub enum Compression {
        /// No compression.
        None => "none",
        /// gzip compression.
        Gzip => "gzip",
    }
    default = None;
}

choice! {
    /// How a remote Qdrant orders the writes to one point across a collection's replicas
    /// (Qdrant's `ordering`). It only matters with a replication factor above 1.
    pub enum WriteOrdering {
        /// Writes may be applied in different orders on different replicas; the fastest,
        /// Qdrant's default.
        Weak => "weak",
        /// Writes go through a leader chosen dynamically: consistent except for a short
        /// time after the leader changes.
        Medium => "medium",
        /// Writes go through the permanent leader: consistent, unavailable while it is down.
        Strong => "strong",
    }
    default = Weak;
}

/// What [`ReadConsistency::parse`] accepts (also the key's accepted values in the schema).
pub(crate) const READ_CONSISTENCY_ACCEPTED: &str =
    "all, majority, quorum, or a number of replicas 1-100";

/// How many replicas of a remote collection each read asks, and which points it keeps
/// (Qdrant's `read_consistency`). It only matters with a replication factor above 1;
/// unset, Qdrant asks one replica.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReadConsistency {
    /// Every replica; points present on all of them.
    All,
    /// A majority of the replicas (N/2 + 1); points present on all of those asked.
    Majority,
    /// Every replica; points present on a majority of them.
    Quorum,
    /// This many replicas, chosen at random; points present on all of them.
    Replicas(NonZeroU32),
}

impl ReadConsistency {
    /// The largest number of replicas [`ReadConsistency::Replicas`] accepts.
    pub const MAX_REPLICAS: u32 = 100;

    /// Reads `all`, `majority`, `quorum` (ignoring ASCII case) or a number of replicas
    /// from 1 to [`MAX_REPLICAS`](Self::MAX_REPLICAS); the error says what is accepted.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        for (word, value) in [
            ("all", Self::All),
            ("majority", Self::Majority),
            ("quorum", Self::Quorum),
        ] {
            if text.eq_ignore_ascii_case(word) {
                return Ok(value);
            }
        }
        match text
            .parse::<u32>()
            .ok()
            .filter(|n| *n <= Self::MAX_REPLICAS)
            .and_then(NonZeroU32::new)
        {
            Some(n) => Ok(Self::Replicas(n)),
            None => Err(format!("expected {READ_CONSISTENCY_ACCEPTED}")),
        }
    }
}

impl fmt::Display for ReadConsistency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::All => f.write_str("all"),
            Self::Majority => f.write_str("majority"),
            Self::Quorum => f.write_str("quorum"),
            Self::Replicas(n) => write!(f, "{n}"),
        }
    }
}

impl Serialize for ReadConsistency {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Reads an optional [`ReadConsistency`]: a word or a number, as text (the environment)
/// or as a TOML integer; an empty string is unset.
fn optional_read_consistency<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<ReadConsistency>, D::Error> {
    struct Visitor;

    impl<'de> de::Visitor<'de> for Visitor {
        type Value = Option<ReadConsistency>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(READ_CONSISTENCY_ACCEPTED)
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
            if text.is_empty() {
                return Ok(None);
            }
            ReadConsistency::parse(text).map(Some).map_err(E::custom)
        }

        fn visit_u64<E: de::Error>(self, n: u64) -> Result<Self::Value, E> {
            self.visit_str(&n.to_string())
        }

        fn visit_i64<E: de::Error>(self, n: i64) -> Result<Self::Value, E> {
            self.visit_str(&n.to_string())
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(Visitor)
        }
    }

    deserializer.deserialize_any(Visitor)
}

/// Settings of the vector store (`SOCIAL_QDRANT__*`).
///
/// The default is the embedded store, so a service runs with no server at
/// all. For a remote server set `mode = remote` and either `url` or
/// `host`/`port`; the keys that only a remote server uses are refused in
/// embedded mode, so that a forgotten `mode` does not silently keep data local.
///
/// Each field is one key: its default, bounds and accepted values are declared
/// once in [`crate::schema::KEYS`] (listed in `docs/configuration.md`), not
/// repeated here.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QdrantSettings {
    /// `remote` or `embedded`.
    pub mode: QdrantMode,
    /// gRPC endpoint, `http://host:6334` or `https://host:6334` (TLS); replaces
    /// `host` and `port`. Without a port it means 6334, the
    /// gRPC port, for `https://` too (not 443). Credentials in it are refused:
    /// use `api_key`.
    #[serde(deserialize_with = "crate::text::optional")]
    pub url: Option<SecretUrl>,
    /// Host name or IP address of the server.
    pub host: String,
    /// gRPC port (6333, the REST port, is refused).
    pub port: u16,
    /// API key sent with every request; never printed.
    /// Refused over plain `http://` to a host that is not loopback: it would
    /// cross the network unencrypted.
    #[serde(deserialize_with = "crate::text::optional")]
    pub api_key: Option<Secret>,
    /// TLS; an `https://` URL turns it on.
    pub tls: QdrantTlsSettings,
    /// Time for one request.
    #[serde(with = "crate::duration")]
    pub timeout: Duration,
    /// Time to establish the connection.
    #[serde(with = "crate::duration")]
    pub connect_timeout: Duration,
    /// HTTP/2 keep-alive interval of the gRPC channel.
    #[serde(with = "crate::duration")]
    pub keep_alive: Duration,
    /// Message compression.
    pub compression: Compression,
    /// Number of gRPC channels requests are spread over. One HTTP/2 channel
    /// multiplexes many concurrent requests; raise it
    /// only when measurements show one connection is the bottleneck.
    pub pool_size: usize,
    /// Remote: the ordering of every write (upserts, deletes, payload and vector
    /// updates) unless a call asks for another.
    pub write_ordering: WriteOrdering,
    /// Remote: how many replicas every read asks; unset, Qdrant's default (one).
    #[serde(deserialize_with = "optional_read_consistency")]
    pub read_consistency: Option<ReadConsistency>,
    /// Data directory of the embedded store.
    pub path: PathBuf,
    /// Remote: the largest gRPC message sent or received, in bytes.
    pub max_message_size: usize,
    /// Embedded: flush every write before it returns.
    pub flush_on_write: bool,
    /// Embedded: how often written collections are flushed in the background.
    #[serde(with = "crate::duration")]
    pub flush_interval: Duration,
    /// Embedded: engine calls running at once.
    pub max_concurrent_calls: usize,
    /// Embedded: the most collections the store holds.
    pub max_collections: usize,
    /// Embedded: whether exact (brute-force) search is allowed.
    pub exact_search: bool,
    /// Embedded: the largest collection (points) an exact search may scan.
    pub exact_search_max_points: u64,
    /// Retries of transient failures.
    pub retry: RetrySettings,
    /// Circuit breaker.
    pub circuit: CircuitSettings,
    /// Whether readiness fails when Qdrant fails.
    pub critical: bool,
}

impl Default for QdrantSettings {
    fn default() -> Self {
        Self {
            mode: QdrantMode::default(),
            url: None,
            host: keys::QDRANT_HOST.default.text().to_owned(),
            port: DEFAULT_PORT,
            api_key: None,
            tls: QdrantTlsSettings::default(),
            timeout: const { keys::QDRANT_TIMEOUT.default.duration() },
            connect_timeout: const { keys::QDRANT_CONNECT_TIMEOUT.default.duration() },
            keep_alive: const { keys::QDRANT_KEEP_ALIVE.default.duration() },
            compression: Compression::default(),
            pool_size: const { keys::QDRANT_POOL_SIZE.default.usize() },
            write_ordering: WriteOrdering::default(),
            read_consistency: None,
            path: PathBuf::from(keys::QDRANT_PATH.default.text()),
            max_message_size: const { keys::QDRANT_MAX_MESSAGE_SIZE.default.usize() },
            flush_on_write: const { keys::QDRANT_FLUSH_ON_WRITE.default.flag() },
            flush_interval: const { keys::QDRANT_FLUSH_INTERVAL.default.duration() },
            max_concurrent_calls: const { keys::QDRANT_MAX_CONCURRENT_CALLS.default.usize() },
            max_collections: const { keys::QDRANT_MAX_COLLECTIONS.default.usize() },
            exact_search: const { keys::QDRANT_EXACT_SEARCH.default.flag() },
            exact_search_max_points: const { keys::QDRANT_EXACT_SEARCH_MAX_POINTS.default.u64() },
            retry: RetrySettings::default(),
            circuit: CircuitSettings::default(),
            critical: const { keys::QDRANT_CRITICAL.default.flag() },
        }
    }
}

/// TLS towards a remote Qdrant (server verified with the system roots).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QdrantTlsSettings {
    /// Whether to use TLS (an `https://` URL implies true).
    /// When true, a plain `http://` URL is a configuration error.
    pub enabled: bool,
}

impl QdrantSettings {
    /// Whether the remote connection uses TLS: `tls.enabled`, or an `https://` URL.
    pub fn tls_enabled(&self) -> bool {
        self.tls.enabled || self.url.as_ref().is_some_and(|url| url.scheme() == "https")
    }

    /// The gRPC endpoint of a remote server, `http[s]://host:port`, without
    /// credentials or path: from `url`, or from `host`/`port` and TLS.
    ///
    /// A URL without a port means the gRPC port 6334, whatever the scheme:
    /// `https://q.example` is `https://q.example:6334`, not port 443 (a port
    /// that is written, even 443, is kept).
    pub fn endpoint(&self) -> String {
        let scheme = if self.tls_enabled() { "https" } else { "http" };
        match &self.url {
            Some(url) => {
                let parts = url.parts();
                let host = parts
                    .host()
                    .map_or_else(|| net::url_host(&self.host), |h| h.to_string());
                let port = url.written_port().unwrap_or(DEFAULT_PORT);
                format!("{scheme}://{host}:{port}")
            }
            None => format!("{scheme}://{}:{}", net::url_host(&self.host), self.port),
        }
    }

    pub(crate) fn validate(&self, cx: &mut Checker<'_>) {
        cx.duration("qdrant.timeout", self.timeout);
        cx.duration("qdrant.connect_timeout", self.connect_timeout);
        cx.duration("qdrant.keep_alive", self.keep_alive);
        cx.bounded("qdrant.pool_size", self.pool_size);
        cx.bounded("qdrant.max_message_size", self.max_message_size);
        cx.duration("qdrant.flush_interval", self.flush_interval);
        cx.bounded("qdrant.max_concurrent_calls", self.max_concurrent_calls);
        cx.bounded("qdrant.max_collections", self.max_collections);
        cx.bounded(
            "qdrant.exact_search_max_points",
            self.exact_search_max_points,
        );
        self.retry.validate(cx, "qdrant.retry");
        self.circuit.validate(cx, "qdrant.circuit");
        match self.mode {
            QdrantMode::Embedded => self.validate_embedded(cx),
            QdrantMode::Remote => self.validate_remote(cx),
        }
    }

    fn validate_embedded(&self, cx: &mut Checker<'_>) {
        if self.path.as_os_str().is_empty() {
            cx.refuse("qdrant.path", "an empty path in embedded mode");
        }
        let mode_key = cx.key("qdrant.mode");
        let remote_only = [
            ("qdrant.url", self.url.is_some()),
            ("qdrant.api_key", self.api_key.is_some()),
            ("qdrant.host", cx.is_explicit("qdrant.host")),
            ("qdrant.port", cx.is_explicit("qdrant.port")),
            ("qdrant.tls.enabled", self.tls.enabled),
            (
                "qdrant.write_ordering",
                cx.is_explicit("qdrant.write_ordering"),
            ),
            ("qdrant.read_consistency", self.read_consistency.is_some()),
        ];
        for (path, set) in remote_only {
            if set {
                cx.fail(
                    path,
                    "set while the mode is embedded",
                    format!("{mode_key}=remote to use a Qdrant server, or no value"),
                );
            }
        }
    }

    fn validate_remote(&self, cx: &mut Checker<'_>) {
        let host = match &self.url {
            Some(url) => url.parts().host_str().map(str::to_owned),
            None => Some(self.host.clone()),
        };
        let plain = self.url.as_ref().is_none_or(|url| url.scheme() == "http");
        if self.api_key.is_some()
            && plain
            && !self.tls_enabled()
            && host.as_deref().is_some_and(|host| !net::is_loopback(host))
        {
            let url_key = cx.key("qdrant.url");
            let tls_key = cx.key("qdrant.tls.enabled");
            cx.fail(
                "qdrant.api_key",
                "set while the connection to a non-loopback host is plain http://, \
                 so the key would cross the network unencrypted",
                format!(
                    "TLS whenever an API key is sent to another host: an https:// URL in \
                     {url_key}, or {tls_key}=true (plain http:// only to localhost, 127.0.0.1 \
                     or ::1)"
                ),
            );
        }
        let Some(url) = &self.url else {
            if let Err(problem) = net::check_host(&self.host) {
                cx.refuse(
                    "qdrant.host",
                    format!("got {} ({problem})", render_text(&self.host)),
                );
            }
            match self.port {
                0 => cx.refuse("qdrant.port", "got 0"),
                REST_PORT => {
                    cx.refuse(
                        "qdrant.port",
                        "got 6333, the REST port; the Rust client speaks gRPC",
                    );
                }
                _ => {}
            }
            return;
        };
        let url_key = cx.key("qdrant.url");
        for part in ["host", "port"] {
            let path = format!("qdrant.{part}");
            if cx.is_explicit(&path) {
                cx.fail(
                    &path,
                    format!("set together with {url_key}"),
                    format!("either {url_key} or the host/port keys, not both"),
                );
            }
        }
        let parts = url.parts();
        let scheme = parts.scheme();
        if !matches!(scheme, "http" | "https") {
            cx.refuse(
                "qdrant.url",
                format!("the value has {}", net::describe_scheme(scheme)),
            );
            return;
        }
        if url.has_password() || !url.username().is_empty() {
            let api_key = cx.key("qdrant.api_key");
            cx.fail(
                "qdrant.url",
                "the value carries credentials",
                format!("a URL without user or password; give the API key in {api_key}"),
            );
        }
        match url.written_port() {
            Some(0) => cx.refuse("qdrant.url", "the value has port 0"),
            Some(REST_PORT) => cx.refuse(
                "qdrant.url",
                "the value uses port 6333, the REST port; the Rust client speaks gRPC",
            ),
            _ => {}
        }
        if !matches!(parts.path(), "" | "/")
            || parts.query().is_some()
            || parts.fragment().is_some()
        {
            cx.refuse("qdrant.url", "the value has a path, query or fragment");
        }
        let tls_key = cx.key("qdrant.tls.enabled");
        if scheme == "http" && self.tls.enabled {
            cx.fail(
                "qdrant.tls.enabled",
                format!("true while {url_key} uses http:// (no TLS)"),
                "an https:// URL when TLS is enabled, or false",
            );
        }
        if scheme == "https" && !self.tls.enabled && cx.is_explicit("qdrant.tls.enabled") {
            cx.fail(
                "qdrant.tls.enabled",
                format!("false while {url_key} uses https:// (TLS)"),
                format!("true, or no value for {tls_key} (an https:// URL turns TLS on)"),
            );
        }
    }

    /// Makes implied settings explicit: an `https://` URL turns `tls.enabled` on.
    pub(crate) fn normalize(&mut self) {
        if self.mode == QdrantMode::Remote {
            self.tls.enabled = self.tls_enabled();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_from_parts_and_url() {
        let mut qdrant = QdrantSettings::default();
        assert_eq!(qdrant.endpoint(), "http://127.0.0.1:6334");
        qdrant.tls.enabled = true;
        qdrant.host = "::1".into();
        assert_eq!(qdrant.endpoint(), "https://[::1]:6334");
        qdrant.tls.enabled = false;
        qdrant.url = Some(SecretUrl::parse("https://vectors.example:6334/").unwrap());
        assert_eq!(qdrant.endpoint(), "https://vectors.example:6334");
        // Without a port, a URL means the gRPC port, for https:// too.
        qdrant.url = Some(SecretUrl::parse("http://qdrant").unwrap());
        assert_eq!(qdrant.endpoint(), "http://qdrant:6334");
        qdrant.url = Some(SecretUrl::parse("https://q.example").unwrap());
        assert_eq!(qdrant.endpoint(), "https://q.example:6334");
        qdrant.url = Some(SecretUrl::parse("https://q.example/").unwrap());
        assert_eq!(qdrant.endpoint(), "https://q.example:6334");
        // A written port is kept, even the scheme's default.
        qdrant.url = Some(SecretUrl::parse("https://q.example:443").unwrap());
        assert_eq!(qdrant.endpoint(), "https://q.example:443");
    }

    #[test]
    fn read_consistency_reads_words_and_replica_counts() {
        for (text, expected) in [
            ("all", ReadConsistency::All),
            ("Majority", ReadConsistency::Majority),
            (" quorum ", ReadConsistency::Quorum),
            ("1", ReadConsistency::Replicas(NonZeroU32::MIN)),
            (
                "100",
                ReadConsistency::Replicas(NonZeroU32::new(100).unwrap()),
            ),
        ] {
            let parsed = ReadConsistency::parse(text).unwrap();
            assert_eq!(parsed, expected, "{text}");
            assert_eq!(ReadConsistency::parse(&parsed.to_string()), Ok(parsed));
        }
        for bad in ["", "0", "101", "-1", "most", "2.5"] {
            let error = ReadConsistency::parse(bad).unwrap_err();
            assert!(error.contains("all, majority, quorum"), "{bad}: {error}");
        }
    }
}
