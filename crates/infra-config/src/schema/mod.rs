//! Every configuration key, declared once.
//!
//! [`KEYS`] is the one place where a key's path, type, default, bounds,
//! accepted values, secrecy and one-line documentation are written. The rest
//! is derived from it:
//!
//! - the `Default` impls of the settings structs read their values from these
//!   declarations (at compile time, inside `const` blocks, so a default of the
//!   wrong type does not compile);
//! - validation reads the bounds ([`Kind::Integer`]) from the key it checks;
//! - every error line ends with the key's [`Key::accepted`] text;
//! - whether a value may be quoted in an error is decided by the key's
//!   [`Sensitivity`] and [`Kind`] (a secret, a URL that may carry
//!   credentials, a list, a section or an undeclared key is never quoted);
//! - `.env.example` and `docs/configuration.md` are rendered from it
//!   ([`render_env_example`], [`render_markdown`]) and a test keeps the files
//!   on disk fresh (`cargo xtask codegen` rewrites them).
//!
//! Why a static table built with `const fn`s and a ten-line `macro_rules!`
//! rather than a derive macro or a configuration-schema crate: about seventy
//! keys do not justify a proc-macro dependency (compile time on small build
//! machines, one more crate to audit); a table of plain data is easy to review
//! and to grep; and tests check it against the serde shape of
//! [`Settings`](crate::Settings) (the same keys, and defaults that match
//! `Settings::default()`), so the two cannot drift apart.
//!
//! ```
//! use infra_config::schema::{self, Kind};
//!
//! let key = schema::find("redis.pool.max_size").unwrap();
//! assert_eq!(key.env_name("SOCIAL_"), "SOCIAL_REDIS__POOL__MAX_SIZE");
//! assert_eq!(key.kind, Kind::Integer { min: 1, max: Some(10_000) });
//! assert_eq!(key.accepted(), "a number 1-10000");
//! assert_eq!(key.default.render().as_deref(), Some("16"));
//! assert!(schema::find("redis.password").unwrap().is_secret());
//! ```

mod render;

use std::time::Duration;

use crate::auth::AuthMode;
use crate::duration;
use crate::http::RateLimitFailure;
use crate::log::LogFormat;
use crate::qdrant::{Compression, QdrantMode, READ_CONSISTENCY_ACCEPTED, WriteOrdering};
use crate::redis::RedisMode;

pub use render::{render_env_example, render_markdown};

/// One configuration key: its dotted path and everything known about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Key {
    /// Dotted path, as in a TOML file (`redis.pool.max_size`); the environment
    /// key is derived from it ([`Key::env_name`]).
    pub path: &'static str,
    /// What kind of value the key takes, with its bounds.
    pub kind: Kind,
    /// The value used when the key is not set.
    pub default: Value,
    /// What the key accepts, as the tail of an error line ("expected ...").
    /// `{range}`, `{choices}` and `{default}` are filled in from the key;
    /// read it with [`Key::accepted`].
    pub accepted_template: &'static str,
    /// Whether the value is a secret.
    pub sensitivity: Sensitivity,
    /// One-line description.
    pub doc: &'static str,
    /// Further explanation for `.env.example` and the documentation (may be empty).
    pub note: &'static str,
    /// A value to suggest in `.env.example` when the key has no default.
    pub example: Option<&'static str>,
}

/// The kind of value a key takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    /// `true`/`false` (also `yes/no`, `on/off`, `1/0` from the environment).
    Boolean,
    /// A whole number in `min..=max`; `max: None` means no bound beyond the
    /// field's type.
    Integer {
        /// The smallest accepted value.
        min: i64,
        /// The largest accepted value, if bounded.
        max: Option<i64>,
    },
    /// A duration with a unit (`250ms`, `2s`), more than 0 and at most 1h.
    Duration,
    /// Free text.
    Text,
    /// A URL.
    Url,
    /// A file or directory path.
    Path,
    /// One word of a closed set, matched ignoring case.
    Choice(&'static [&'static str]),
    /// A comma-separated list (`host:port` entries).
    List,
}

/// The default of a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Value {
    /// No value: the key is optional and unset by default.
    Unset,
    /// A boolean.
    Bool(bool),
    /// A whole number.
    Int(i64),
    /// A duration.
    Duration(Duration),
    /// Text: a string, a path or the word of a choice.
    Text(&'static str),
}

/// Whether a key's value may be shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Sensitivity {
    /// Not secret: shown in the effective configuration and, when short and
    /// harmless, quoted in error lines.
    Public,
    /// A secret (a password, an API key): redacted everywhere and never
    /// quoted in an error line.
    Secret,
    /// A URL that may carry credentials: shown with its password masked,
    /// never quoted in an error line.
    Credentials,
}

/// A top-level section of keys (`SOCIAL_<SECTION>__*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Section {
    /// The section's name in paths (`redis`).
    pub name: &'static str,
    /// A heading for the documentation.
    pub title: &'static str,
    /// What the section configures, for the documentation.
    pub doc: &'static str,
}

impl Key {
    /// A key with the given path, kind, default, accepted text and
    /// description; public, without note or example.
    const fn new(
        path: &'static str,
        kind: Kind,
        default: Value,
        accepted: &'static str,
        doc: &'static str,
    ) -> Self {
        Self {
            path,
            kind,
            default,
            accepted_template: accepted,
            sensitivity: Sensitivity::Public,
            doc,
            note: "",
            example: None,
        }
    }

    /// The same key under another path (shared groups such as `retry`).
    const fn at(self, path: &'static str) -> Self {
        Self { path, ..self }
    }

    const fn note(self, note: &'static str) -> Self {
        Self { note, ..self }
    }

    const fn example(self, example: &'static str) -> Self {
        Self {
            example: Some(example),
            ..self
        }
    }

    const fn secret(self) -> Self {
        Self {
            sensitivity: Sensitivity::Secret,
            ..self
        }
    }

    const fn credentials(self) -> Self {
        Self {
            sensitivity: Sensitivity::Credentials,
            ..self
        }
    }

    /// The environment key with `prefix`: `redis.pool.max_size` with
    /// `SOCIAL_` is `SOCIAL_REDIS__POOL__MAX_SIZE`.
    pub fn env_name(&self, prefix: &str) -> String {
        env_key(prefix, self.path)
    }

    /// The top-level section the key belongs to (`redis`).
    pub fn section(&self) -> &'static str {
        self.path.split('.').next().unwrap_or(self.path)
    }

    /// What the key accepts, e.g. `a number 1-10000`, as written after
    /// "expected" in error lines.
    pub fn accepted(&self) -> String {
        let mut text = self.accepted_template.to_owned();
        if text.contains("{range}") {
            text = text.replace("{range}", &self.range_text());
        }
        if let (true, Kind::Choice(words)) = (text.contains("{choices}"), self.kind) {
            text = text.replace("{choices}", &words.join(", "));
        }
        if text.contains("{default}") {
            let default = self.default.render().unwrap_or_default();
            text = text.replace("{default}", &default);
        }
        text
    }

    /// The bounds of an integer key in words: `1-10000`, `1 or greater`.
    fn range_text(&self) -> String {
        match self.kind {
            Kind::Integer {
                min,
                max: Some(max),
            } => format!("{min}-{max}"),
            Kind::Integer { min, max: None } => format!("{min} or greater"),
            _ => String::new(),
        }
    }

    /// Whether the value is a secret (redacted, never quoted).
    pub fn is_secret(&self) -> bool {
        self.sensitivity != Sensitivity::Public
    }

    /// Whether a value of this key may be quoted in an error line: public
    /// scalars only. A URL is never quoted (it may carry credentials even
    /// where they are refused), nor a list (its own parser describes its bad
    /// entries).
    pub(crate) fn may_quote(&self) -> bool {
        self.sensitivity == Sensitivity::Public && !matches!(self.kind, Kind::List | Kind::Url)
    }
}

impl Value {
    /// The default as it would be written in the environment; `None` when unset.
    pub fn render(&self) -> Option<String> {
        match *self {
            Value::Unset => None,
            Value::Bool(value) => Some(value.to_string()),
            Value::Int(value) => Some(value.to_string()),
            Value::Duration(value) => Some(humantime::format_duration(value).to_string()),
            Value::Text(text) => Some(text.to_owned()),
        }
    }

    /// A boolean default (evaluated at compile time by the `Default` impls).
    pub(crate) const fn flag(self) -> bool {
        match self {
            Value::Bool(value) => value,
            _ => panic!("the default is not a boolean"),
        }
    }

    /// A duration default.
    pub(crate) const fn duration(self) -> Duration {
        match self {
            Value::Duration(value) => value,
            _ => panic!("the default is not a duration"),
        }
    }

    /// A text default.
    pub(crate) const fn text(self) -> &'static str {
        match self {
            Value::Text(value) => value,
            _ => panic!("the default is not text"),
        }
    }

    /// An integer default.
    pub(crate) const fn int(self) -> i64 {
        match self {
            Value::Int(value) => value,
            _ => panic!("the default is not an integer"),
        }
    }

    /// An integer default that fits `u8`.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    pub(crate) const fn u8(self) -> u8 {
        let value = self.int();
        assert!(value >= 0 && value <= u8::MAX as i64, "out of range");
        value as u8
    }

    /// An integer default that fits `u16`.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    pub(crate) const fn u16(self) -> u16 {
        let value = self.int();
        assert!(value >= 0 && value <= u16::MAX as i64, "out of range");
        value as u16
    }

    /// An integer default that fits `u32`.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    pub(crate) const fn u32(self) -> u32 {
        let value = self.int();
        assert!(value >= 0 && value <= u32::MAX as i64, "out of range");
        value as u32
    }

    /// A non-negative integer default.
    #[allow(clippy::cast_sign_loss)]
    pub(crate) const fn u64(self) -> u64 {
        let value = self.int();
        assert!(value >= 0, "out of range");
        value as u64
    }

    /// A non-negative integer default that fits `usize`.
    #[allow(clippy::cast_possible_truncation)]
    pub(crate) const fn usize(self) -> usize {
        let value = self.u64();
        assert!(value <= usize::MAX as u64, "out of range");
        value as usize
    }
}

// Builders for the table below.

const fn flag(path: &'static str, default: bool, doc: &'static str) -> Key {
    Key::new(
        path,
        Kind::Boolean,
        Value::Bool(default),
        "true or false",
        doc,
    )
}

const fn int(
    path: &'static str,
    default: i64,
    (min, max): (i64, Option<i64>),
    accepted: &'static str,
    doc: &'static str,
) -> Key {
    Key::new(
        path,
        Kind::Integer { min, max },
        Value::Int(default),
        accepted,
        doc,
    )
}

const fn duration(path: &'static str, default: Duration, doc: &'static str) -> Key {
    Key::new(
        path,
        Kind::Duration,
        Value::Duration(default),
        duration::ACCEPTED,
        doc,
    )
}

const fn text(
    path: &'static str,
    default: Value,
    accepted: &'static str,
    doc: &'static str,
) -> Key {
    Key::new(path, Kind::Text, default, accepted, doc)
}

const fn choice(
    path: &'static str,
    words: &'static [&'static str],
    default: &'static str,
    doc: &'static str,
) -> Key {
    Key::new(
        path,
        Kind::Choice(words),
        Value::Text(default),
        "one of {choices}",
        doc,
    )
}

const fn pem_file(path: &'static str, doc: &'static str, example: &'static str) -> Key {
    Key::new(
        path,
        Kind::Path,
        Value::Unset,
        "the path of an existing PEM file",
        doc,
    )
    .example(example)
}

const HOST: &str = "a host name or IP address";
const LOCALHOST: &str = "127.0.0.1";
const PORT: (i64, Option<i64>) = (1, Some(65_535));
const PORT_TEXT: &str = "a port number {range}";

/// Declares each key as a crate-wide constant (read by the `Default` impls and
/// validation) and lists them all, in documentation order, in [`KEYS`].
macro_rules! keys {
    ($( $(#[$meta:meta])* $name:ident = $key:expr; )+) => {
        $( $(#[$meta])* pub(crate) const $name: Key = $key; )+

        /// Every configuration key, in documentation order.
        pub static KEYS: &[Key] = &[$($name),+];
    };
}

// Shared groups: the same keys under `redis.` and `qdrant.`; the `Default`
// impls of `RetrySettings` and `CircuitSettings` read these.

/// `<section>.retry.max_attempts`.
pub(crate) const RETRY_MAX_ATTEMPTS: Key = int(
    "retry.max_attempts",
    3,
    (1, Some(100)),
    "a number of attempts {range} (1 = no retry)",
    "Total attempts of one call, including the first (1 = no retry).",
);
/// `<section>.retry.base_delay`.
pub(crate) const RETRY_BASE_DELAY: Key = duration(
    "retry.base_delay",
    Duration::from_millis(50),
    "Delay before the first retry; it doubles up to MAX_DELAY.",
);
/// `<section>.retry.max_delay`.
pub(crate) const RETRY_MAX_DELAY: Key = duration(
    "retry.max_delay",
    Duration::from_secs(1),
    "Largest delay between attempts; at least BASE_DELAY.",
);
/// `<section>.circuit.failure_threshold`.
pub(crate) const CIRCUIT_FAILURE_THRESHOLD: Key = int(
    "circuit.failure_threshold",
    5,
    (1, None),
    "a number of consecutive failures, {range}",
    "Consecutive failures that open the circuit breaker.",
);
/// `<section>.circuit.open_for`.
pub(crate) const CIRCUIT_OPEN_FOR: Key = duration(
    "circuit.open_for",
    Duration::from_secs(1),
    "How long the open circuit fails calls at once before one probe call is let through.",
);

keys! {
    // Redis.
    REDIS_ENABLED = flag(
        "redis.enabled",
        true,
        "Whether the service uses Redis at all (when false, the section is not validated).",
    );
    REDIS_URL = Key::new(
        "redis.url",
        Kind::Url,
        Value::Unset,
        "redis://[user:password@]host:port/db, or rediss://... for TLS",
        "The server as one URL; rediss:// turns TLS on.",
    )
    .note(
        "Percent-encode special characters in the user name and password. \
         Cannot be combined with HOST/PORT/DB; unix sockets are not supported.",
    )
    .example("redis://127.0.0.1:6379/0")
    .credentials();
    REDIS_HOST = text("redis.host", Value::Text(LOCALHOST), HOST, "Host name or IP address of the server (instead of URL).");
    REDIS_PORT = int("redis.port", 6379, PORT, PORT_TEXT, "TCP port of the server (instead of URL).");
    REDIS_DB = int(
        "redis.db",
        0,
        (0, None),
        "a database number {range}",
        "Database number (instead of URL; Redis Cluster only has 0).",
    );
    REDIS_USERNAME = text(
        "redis.username",
        Value::Unset,
        "a user name (a string)",
        "ACL user name; needs a password.",
    );
    REDIS_PASSWORD = text(
        "redis.password",
        Value::Unset,
        "a password (a string)",
        "Password; may also be given next to a URL that has none.",
    )
    .example("change-me")
    .secret();
    REDIS_MODE = choice(
        "redis.mode",
        RedisMode::NAMES,
        RedisMode::DEFAULT_NAME,
        "Deployment layout.",
    );
    REDIS_NODES = Key::new(
        "redis.nodes",
        Kind::List,
        Value::Unset,
        "a comma-separated list of host:port, e.g. redis-1:6379,redis-2:6379",
        "Cluster seeds or sentinels, comma-separated host:port (IPv6 as [::1]:6379).",
    )
    .note(
        "Required in cluster and sentinel mode, refused in standalone mode. Cluster mode \
         only has database 0 and takes no URL (credentials go in USERNAME/PASSWORD).",
    )
    .example("redis-1:6379,redis-2:6379,redis-3:6379");
    REDIS_SENTINEL_MASTER = text(
        "redis.sentinel_master",
        Value::Unset,
        "the name of the master that the sentinels monitor",
        "Name of the primary the sentinels monitor (required in sentinel mode).",
    )
    .example("mymaster");
    REDIS_TLS_ENABLED = flag(
        "redis.tls.enabled",
        false,
        "Whether to use TLS (a rediss:// URL turns it on; true with a redis:// URL is refused).",
    );
    REDIS_TLS_CA_FILE = pem_file(
        "redis.tls.ca_file",
        "CA bundle to verify the server with, instead of the system roots.",
        "/etc/ssl/redis/ca.pem",
    );
    REDIS_TLS_CERT_FILE = pem_file(
        "redis.tls.cert_file",
        "Client certificate for mutual TLS; goes with KEY_FILE.",
        "/etc/ssl/redis/client.pem",
    );
    REDIS_TLS_KEY_FILE = pem_file(
        "redis.tls.key_file",
        "Client private key for mutual TLS; goes with CERT_FILE.",
        "/etc/ssl/redis/client.key",
    );
    REDIS_POOL_MAX_SIZE = int(
        "redis.pool.max_size",
        16,
        (1, Some(10_000)),
        "a number {range}",
        "Largest number of pooled connections.",
    );
    REDIS_POOL_WAIT_TIMEOUT = duration(
        "redis.pool.wait_timeout",
        Duration::from_secs(1),
        "How long a caller waits for a free connection before failing with PoolExhausted.",
    );
    REDIS_POOL_CREATE_TIMEOUT = duration(
        "redis.pool.create_timeout",
        Duration::from_secs(2),
        "Time to open a new pooled connection.",
    );
    REDIS_POOL_RECYCLE_TIMEOUT = duration(
        "redis.pool.recycle_timeout",
        Duration::from_secs(1),
        "Time to check a returned connection.",
    );
    REDIS_CONNECT_TIMEOUT = duration(
        "redis.connect_timeout",
        Duration::from_secs(2),
        "Time to establish a connection.",
    );
    REDIS_COMMAND_TIMEOUT = duration(
        "redis.command_timeout",
        Duration::from_secs(1),
        "Time for one command, including its reply.",
    );
    REDIS_RETRY_MAX_ATTEMPTS = RETRY_MAX_ATTEMPTS.at("redis.retry.max_attempts");
    REDIS_RETRY_BASE_DELAY = RETRY_BASE_DELAY.at("redis.retry.base_delay");
    REDIS_RETRY_MAX_DELAY = RETRY_MAX_DELAY.at("redis.retry.max_delay");
    REDIS_CIRCUIT_FAILURE_THRESHOLD = CIRCUIT_FAILURE_THRESHOLD.at("redis.circuit.failure_threshold");
    REDIS_CIRCUIT_OPEN_FOR = CIRCUIT_OPEN_FOR.at("redis.circuit.open_for");
    REDIS_CRITICAL = flag(
        "redis.critical",
        false,
        "Whether readiness fails when Redis fails (false: health only warns and the service runs without its cache).",
    );

    // Qdrant.
    QDRANT_MODE = choice(
        "qdrant.mode",
        QdrantMode::NAMES,
        QdrantMode::DEFAULT_NAME,
        "embedded: in-process store in PATH, no server; remote: a Qdrant server over gRPC.",
    )
    .note(
        "URL/HOST/PORT/API_KEY/TLS are refused in embedded mode, so that a forgotten MODE \
         does not silently keep data local.",
    );
    QDRANT_URL = Key::new(
        "qdrant.url",
        Kind::Url,
        Value::Unset,
        "http://host:6334, or https://host:6334 for TLS (the gRPC port)",
        "The remote server as one URL; https:// turns TLS on.",
    )
    .note(
        "The gRPC port is 6334 (also without a port in the URL); 6333 is the REST port \
         and is refused. No credentials in the URL: use API_KEY.",
    )
    .example("http://127.0.0.1:6334")
    .credentials();
    QDRANT_HOST = text("qdrant.host", Value::Text(LOCALHOST), HOST, "Host name or IP address of the remote server (instead of URL).");
    QDRANT_PORT = int(
        "qdrant.port",
        6334,
        PORT,
        "a gRPC port number {range} (default {default}; not 6333, the REST port)",
        "gRPC port of the remote server (instead of URL).",
    );
    QDRANT_API_KEY = text(
        "qdrant.api_key",
        Value::Unset,
        "an API key (a string)",
        "API key sent with every request.",
    )
    .note(
        "Refused over plain http:// to a host that is not loopback: use an https:// URL \
         or TLS__ENABLED=true.",
    )
    .example("change-me")
    .secret();
    QDRANT_TLS_ENABLED = flag(
        "qdrant.tls.enabled",
        false,
        "Whether to use TLS (an https:// URL turns it on; true with an http:// URL is refused).",
    );
    QDRANT_TIMEOUT = duration("qdrant.timeout", Duration::from_secs(5), "Time for one request.");
    QDRANT_CONNECT_TIMEOUT = duration(
        "qdrant.connect_timeout",
        Duration::from_secs(2),
        "Time to establish the connection.",
    );
    QDRANT_KEEP_ALIVE = duration(
        "qdrant.keep_alive",
        Duration::from_secs(30),
        "HTTP/2 keep-alive interval of the gRPC channel.",
    );
    QDRANT_COMPRESSION = choice(
        "qdrant.compression",
        Compression::NAMES,
        Compression::DEFAULT_NAME,
        "gRPC message compression.",
    );
    QDRANT_POOL_SIZE = int(
        "qdrant.pool_size",
        1,
        (1, Some(64)),
        "a number of gRPC channels {range}",
        "Number of gRPC channels; one HTTP/2 channel multiplexes many requests.",
    );
    QDRANT_WRITE_ORDERING = choice(
        "qdrant.write_ordering",
        WriteOrdering::NAMES,
        WriteOrdering::DEFAULT_NAME,
        "Remote: ordering of every write across a collection's replicas, unless a call asks for another.",
    )
    .note(
        "Matters only with a replication factor above 1. weak: replicas may apply writes \
         to one point in different orders (fastest); medium: through a dynamically chosen \
         leader; strong: through the permanent leader (consistent, unavailable while it \
         is down). Refused in embedded mode.",
    );
    QDRANT_READ_CONSISTENCY = text(
        "qdrant.read_consistency",
        Value::Unset,
        READ_CONSISTENCY_ACCEPTED,
        "Remote: how many replicas every read asks; unset, one (Qdrant's default).",
    )
    .note(
        "Matters only with a replication factor above 1. A number N: N replicas, points \
         present on all of them; majority: N/2+1 replicas; quorum: all replicas, points \
         present on a majority; all: all replicas, points present on all. Stronger reads \
         cost latency and fail while replicas are down. Refused in embedded mode.",
    )
    .example("majority");
    QDRANT_PATH = Key::new(
        "qdrant.path",
        Kind::Path,
        Value::Text("./data/qdrant"),
        "a directory path for the embedded store",
        "Data directory of the embedded store.",
    );
    QDRANT_MAX_MESSAGE_SIZE = int(
        "qdrant.max_message_size",
        64 << 20,
        (65_536, Some(1 << 30)),
        "a size in bytes {range} (64 KiB to 1 GiB)",
        "Remote: largest gRPC message sent or received, in bytes (default 64 MiB); a larger answer fails as invalid_input.",
    )
    .note(
        "Bounds the memory one answer can take (a search with vectors, a large get). Raise \
         it only for callers that read many large vectors at once; lowering it refuses \
         such answers instead of buffering them.",
    );
    QDRANT_FLUSH_ON_WRITE = flag(
        "qdrant.flush_on_write",
        true,
        "Embedded: every write is on disk before it returns, so a crash loses no acknowledged write.",
    )
    .note(
        "false: writes return before they are flushed and a crash loses up to \
         FLUSH_INTERVAL of them, for faster writes (a flush syncs the collection's files: \
         milliseconds to tens of milliseconds per write on a typical disk).",
    );
    QDRANT_FLUSH_INTERVAL = duration(
        "qdrant.flush_interval",
        Duration::from_secs(1),
        "Embedded: how often collections written since their last flush are flushed in the background.",
    )
    .note(
        "With FLUSH_ON_WRITE=false, the most a crash loses. Shorter: less loss, more disk \
         syncs. Writes made while an optimization runs are journaled and synced on this \
         interval (at once with FLUSH_ON_WRITE=true).",
    );
    QDRANT_MAX_CONCURRENT_CALLS = int(
        "qdrant.max_concurrent_calls",
        32,
        (1, Some(1024)),
        "a number of calls {range}",
        "Embedded: engine calls running at once; more wait for a slot within TIMEOUT, then fail as pool_exhausted.",
    )
    .note(
        "Each running call holds a thread of the blocking pool. Higher: more parallel \
         searches on many cores, more threads and memory under overload; a call whose \
         caller gave up before it got a slot never starts.",
    );
    QDRANT_MAX_COLLECTIONS = int(
        "qdrant.max_collections",
        100,
        (1, Some(10_000)),
        "a number of collections {range}",
        "Embedded: most collections the store holds; creating one more fails as conflict.",
    )
    .note(
        "Each collection is an open engine shard (files, memory maps, a write-ahead log) \
         that stays open while the store is. Collections that failed to load count too.",
    );
    QDRANT_EXACT_SEARCH = flag(
        "qdrant.exact_search",
        true,
        "Embedded: whether a search may ask for exact (brute-force) scoring; false refuses it as invalid_input.",
    );
    QDRANT_EXACT_SEARCH_MAX_POINTS = int(
        "qdrant.exact_search_max_points",
        100_000,
        (1, Some(1_000_000_000)),
        "a number of points {range}",
        "Embedded: largest collection (points) an exact search may scan; larger ones refuse it as invalid_input.",
    )
    .note(
        "An exact search reads every vector: its cost is points x dimension. Higher: full \
         recall on larger collections at the cost of CPU per query; approximate (HNSW) \
         search is never limited.",
    );
    QDRANT_RETRY_MAX_ATTEMPTS = RETRY_MAX_ATTEMPTS.at("qdrant.retry.max_attempts");
    QDRANT_RETRY_BASE_DELAY = RETRY_BASE_DELAY.at("qdrant.retry.base_delay");
    QDRANT_RETRY_MAX_DELAY = RETRY_MAX_DELAY.at("qdrant.retry.max_delay");
    QDRANT_CIRCUIT_FAILURE_THRESHOLD = CIRCUIT_FAILURE_THRESHOLD.at("qdrant.circuit.failure_threshold");
    QDRANT_CIRCUIT_OPEN_FOR = CIRCUIT_OPEN_FOR.at("qdrant.circuit.open_for");
    QDRANT_CRITICAL = flag("qdrant.critical", true, "Whether readiness fails when Qdrant fails.");

    // HTTP server.
    HTTP_HOST = text(
        "http.host",
        Value::Text(LOCALHOST),
        HOST,
        "Address to bind (127.0.0.1 or ::1 for loopback only).",
    )
    .note(
        "A non-loopback bind (0.0.0.0, ::, a LAN address) needs authentication \
         (AUTH__API_KEYS or AUTH__JWT__*) or an explicit AUTH__MODE=none; see \
         docs/security.md.",
    );
    HTTP_PORT = int(
        "http.port",
        8080,
        (0, Some(65_535)),
        "a port number {range} (0 = any free port)",
        "Port to bind; 0 picks a free port (tests).",
    );
    HTTP_SHUTDOWN_GRACE = duration(
        "http.shutdown_grace",
        Duration::from_secs(10),
        "How long in-flight requests may finish after shutdown starts.",
    );
    HTTP_REQUEST_TIMEOUT = duration(
        "http.request_timeout",
        Duration::from_secs(30),
        "Time limit of one request.",
    );
    HTTP_ROUTE_TIMEOUTS = Key::new(
        "http.route_timeouts",
        Kind::List,
        Value::Unset,
        "a comma-separated list of ROUTE=DURATION, ROUTE a route template the service \
         serves (a path of its OpenAPI document), DURATION with a unit, more than 0 and at \
         most 1h",
        "Time limits of single routes, overriding REQUEST_TIMEOUT for them.",
    )
    .note(
        "Route templates as in the OpenAPI document. The service refuses at start a \
         template it does not serve. A request over its limit gets 503 with Retry-After.",
    )
    .example("/collections/{name}/search=5s,/collections/{name}/items=2m");
    HTTP_BODY_LIMIT = int(
        "http.body_limit",
        1 << 20,
        (1, Some(1 << 30)),
        "a size in bytes {range} (1 GiB)",
        "Largest request body in bytes (default 1 MiB).",
    );
    HTTP_MAX_RESPONSE_BYTES = int(
        "http.max_response_bytes",
        16 << 20,
        (1 << 10, Some(1 << 30)),
        "a size in bytes {range} (1 KiB to 1 GiB)",
        "Largest JSON response body in bytes (default 16 MiB): a search whose answer would \
         be larger (limit x dimension with vectors, plus payloads) is refused with 422, \
         before it runs when the vectors alone exceed it.",
    );
    HTTP_HEADER_READ_TIMEOUT = duration(
        "http.header_read_timeout",
        Duration::from_secs(10),
        "Time a client has to send a request's headers; slower connections are closed.",
    )
    .note("Bounds slowloris clients that open connections and trickle headers.");
    HTTP_MAX_CONNECTIONS = int(
        "http.max_connections",
        1024,
        (1, Some(100_000)),
        "a number of connections {range}",
        "Largest number of open connections; further ones wait to be accepted.",
    );
    HTTP_CONCURRENCY_LIMIT = int(
        "http.concurrency_limit",
        256,
        (1, Some(100_000)),
        "a number of requests {range}",
        "Largest number of requests served at once; more get 503 with Retry-After at once.",
    )
    .note("Load shedding: refused requests are counted in http_server_requests_shed_total; health routes are never shed.");
    HTTP_AUTH_MODE = choice(
        "http.auth.mode",
        AuthMode::NAMES,
        AuthMode::DEFAULT_NAME,
        "How requests are authenticated: auto, none, api_key, jwt or any (either).",
    )
    .note(
        "auto: API keys and/or JWT when configured, none on a loopback HOST with nothing \
         configured, refused at load on any other HOST. none on a non-loopback HOST is \
         logged as a warning at start. Health routes, /openapi.json and the metrics path \
         are always public.",
    );
    HTTP_AUTH_API_KEYS = Key::new(
        "http.auth.api_keys",
        Kind::List,
        Value::Unset,
        "a comma-separated list of name:scopes:key or name:scopes:sha256:HEX, scopes \
         read, write, admin joined with +, keys of 16 characters or more",
        "Bearer API keys, comma-separated name:scopes:key entries.",
    )
    .note(
        "Scopes are ordered (admin implies write implies read). Give sha256:<64 hex \
         digits> (the SHA-256 of the key, e.g. printf %s KEY | sha256sum) instead of the \
         key to keep it out of configuration. Keys cannot contain commas or whitespace.",
    )
    .example("ci:read+write:change-me-to-a-long-random-key")
    .secret();
    HTTP_AUTH_JWT_SECRET = text(
        "http.auth.jwt.secret",
        Value::Unset,
        "a shared secret of 32 bytes or more",
        "HS256 secret that JWTs are verified with (exclusive with PUBLIC_KEY_FILE and JWKS_FILE).",
    )
    .example("change-me-to-32-or-more-random-bytes")
    .secret();
    HTTP_AUTH_JWT_PUBLIC_KEY_FILE = Key::new(
        "http.auth.jwt.public_key_file",
        Kind::Path,
        Value::Unset,
        "the path of an existing PEM file with an RSA or P-256 public key",
        "PEM public key that JWTs are verified with: RSA (RS256) or P-256 (ES256).",
    )
    .example("/etc/infra-server/jwt.pem");
    HTTP_AUTH_JWT_JWKS_FILE = Key::new(
        "http.auth.jwt.jwks_file",
        Kind::Path,
        Value::Unset,
        "the path of an existing JWKS (JSON Web Key Set) file",
        "JWKS file of RSA (RS256) and P-256 (ES256) public keys, chosen by the token's kid.",
    )
    .note(
        "Read once at start: after a key rotation, restart the service (or roll the pods). \
         A token without kid is accepted only when the set holds one key.",
    )
    .example("/etc/infra-server/jwks.json");
    HTTP_AUTH_JWT_ISSUER = text(
        "http.auth.jwt.issuer",
        Value::Unset,
        "an issuer (a non-blank string)",
        "Required iss claim of JWTs; unset: not checked.",
    )
    .example("https://auth.example.com/");
    HTTP_AUTH_JWT_AUDIENCE = text(
        "http.auth.jwt.audience",
        Value::Unset,
        "an audience (a non-blank string)",
        "Required aud claim of JWTs; unset: tokens that carry an aud are refused.",
    )
    .example("infra-server");
    HTTP_AUTH_JWT_LEEWAY = Key::new(
        "http.auth.jwt.leeway",
        Kind::Duration,
        Value::Duration(Duration::from_secs(30)),
        "a duration with a unit, e.g. 30s, at most 5m",
        "Clock skew allowed when checking exp and nbf.",
    );
    HTTP_CORS_ALLOWED_ORIGINS = Key::new(
        "http.cors.allowed_origins",
        Kind::List,
        Value::Unset,
        "a comma-separated list of origins such as https://app.example.com (no *, no path)",
        "Browser origins allowed to call the API (CORS); unset: no CORS headers.",
    )
    .example("https://app.example.com");
    HTTP_RATE_LIMIT_ENABLED = flag(
        "http.rate_limit.enabled",
        false,
        "Whether API requests are rate limited per client (GCRA on Redis; needs SOCIAL_REDIS__ENABLED).",
    )
    .note(
        "A client is its authenticated principal, else its IP address (an IPv6 address by \
         its /64). Refused requests get 429 with Retry-After, RateLimit and RateLimit-Policy; \
         health and metrics routes are never limited.",
    );
    HTTP_RATE_LIMIT_RATE = int(
        "http.rate_limit.rate",
        100,
        (1, Some(1_000_000)),
        "a number of requests {range}",
        "Requests a client may make per SOCIAL_HTTP__RATE_LIMIT__PERIOD.",
    );
    HTTP_RATE_LIMIT_PERIOD = duration(
        "http.rate_limit.period",
        Duration::from_mins(1),
        "The period of the rate limit.",
    );
    HTTP_RATE_LIMIT_BURST = int(
        "http.rate_limit.burst",
        0,
        (0, Some(1_000_000)),
        "a number of requests {range}",
        "Requests a client at rest may make at once; 0 means the rate.",
    );
    HTTP_RATE_LIMIT_ON_REDIS_FAILURE = choice(
        "http.rate_limit.on_redis_failure",
        RateLimitFailure::NAMES,
        RateLimitFailure::DEFAULT_NAME,
        "When Redis cannot answer: open lets requests through, closed refuses them with 503.",
    )
    .note("Either way the failure is counted in http_server_rate_limit_failures_total.");

    // Health endpoints.
    HEALTH_CACHE_TTL = duration(
        "health.cache_ttl",
        Duration::from_secs(2),
        "How long a check result is reused (probes never ping a dependency more often).",
    );
    HEALTH_CHECK_TIMEOUT = duration(
        "health.check_timeout",
        Duration::from_secs(1),
        "Time limit of one dependency check.",
    );
    HEALTH_FAIL_FAST = flag(
        "health.fail_fast",
        false,
        "Whether a critical dependency that cannot be reached at start stops start-up (true: exit 1, \
         for supervisors that restart; false: the service starts, /health/ready answers 503 until \
         the dependency answers, and it is initialized again in the background).",
    );

    // Logging.
    LOG_FORMAT = choice(
        "log.format",
        LogFormat::NAMES,
        LogFormat::DEFAULT_NAME,
        "Format of log lines: text for people, json (one object per line) for collectors.",
    );
    LOG_LEVEL = text(
        "log.level",
        Value::Text("info"),
        "an EnvFilter directive list, e.g. info or warn,infra_redis=debug \
         (levels: trace, debug, info, warn, error, off)",
        "Log filter, as a tracing EnvFilter directive list.",
    )
    .note("RUST_LOG, when set, wins at run time.");

    // Metrics.
    METRICS_ENABLED = flag(
        "metrics.enabled",
        true,
        "Whether the metrics endpoint is served (when false, PATH is not validated).",
    );
    METRICS_PATH = text(
        "metrics.path",
        Value::Text("/metrics"),
        "a URL path starting with /, without whitespace, query or fragment, not under \
         /health (e.g. /metrics)",
        "Route of the metrics endpoint.",
    );

    // OpenTelemetry.
    OTEL_ENDPOINT = Key::new(
        "otel.endpoint",
        Kind::Url,
        Value::Unset,
        "an http:// or https:// URL of an OTLP collector, without credentials, e.g. \
         http://127.0.0.1:4317",
        "OTLP collector that traces are exported to; unset means no export.",
    )
    .note("Credentials are refused in the URL: collectors take them as headers.")
    .example("http://127.0.0.1:4317");
    OTEL_SERVICE_NAME = text(
        "otel.service_name",
        Value::Text("infra-server"),
        "a service name (non-empty, without control characters)",
        "The service.name resource attribute of exported data.",
    );

    // Search cache.
    CACHE_TTL = duration(
        "cache.ttl",
        Duration::from_mins(1),
        "Lifetime of a cached search answer of the reference service.",
    );
    CACHE_TTL_JITTER = int(
        "cache.ttl_jitter",
        10,
        (0, Some(50)),
        "a percentage {range}",
        "Each answer's TTL is shortened by a random part of up to this percentage, so \
         answers cached together do not expire together.",
    );
    CACHE_MAX_VALUE_SIZE = int(
        "cache.max_value_size",
        1_048_576,
        (1, Some(67_108_864)),
        "a size in bytes {range} (64 MiB)",
        "Largest cached answer in bytes; a larger one is answered but not cached.",
    );
    CACHE_EARLY_REFRESH = flag(
        "cache.early_refresh",
        true,
        "Whether a hot answer is recomputed shortly before it expires (XFetch), so that its \
         expiry does not send every concurrent search to the vector store.",
    );
    CACHE_LEASE = flag(
        "cache.lease",
        true,
        "Whether instances sharing Redis wait for the one computing a missing answer \
         instead of all computing it (one SET NX per miss).",
    );
    CACHE_LEASE_WAIT = duration(
        "cache.lease_wait",
        Duration::from_millis(500),
        "Longest an instance waits for another's computation of a missing answer before \
         computing it itself; also the lease's lifetime.",
    );
    CACHE_UNCERTAIN_WRITE_WINDOW = duration(
        "cache.uncertain_write_window",
        Duration::from_secs(10),
        "After a write whose outcome is unknown (a timeout, a cancelled request, a \
         transport error), how long searches of its collection bypass the cache before it \
         is invalidated again.",
    )
    .note(
        "Make it longer than a write the service gave up on may take to be applied: \
         about SOCIAL_QDRANT__TIMEOUT x SOCIAL_QDRANT__RETRY__MAX_ATTEMPTS for a remote \
         store. A write applied later may be hidden by answers cached meanwhile, for at \
         most SOCIAL_CACHE__TTL.",
    );
}

/// The top-level sections, in documentation order.
pub static SECTIONS: &[Section] = &[
    Section {
        name: "redis",
        title: "Redis",
        doc: "The Redis client: server, credentials, TLS, pool, timeouts and resilience.",
    },
    Section {
        name: "qdrant",
        title: "Qdrant (vector store)",
        doc: "The vector store: the embedded engine (default) or a remote server over gRPC.",
    },
    Section {
        name: "http",
        title: "HTTP server",
        doc: "Where the service listens and how it bounds requests.",
    },
    Section {
        name: "health",
        title: "Health endpoints",
        doc: "How health checks are cached and bounded.",
    },
    Section {
        name: "log",
        title: "Logging",
        doc: "How the service writes its logs.",
    },
    Section {
        name: "metrics",
        title: "Metrics",
        doc: "Whether and where the service exposes its metrics.",
    },
    Section {
        name: "otel",
        title: "OpenTelemetry export",
        doc: "Export of traces to an OTLP collector; off unless ENDPOINT is set.",
    },
    Section {
        name: "cache",
        title: "Search cache",
        doc: "The Redis search cache of the reference service (infra-server).",
    },
];

/// The key declared at a dotted path.
pub fn find(path: &str) -> Option<&'static Key> {
    KEYS.iter().find(|key| key.path == path)
}

/// The names of the top-level sections (`redis`, `qdrant`, ...).
pub(crate) fn section_names() -> impl Iterator<Item = &'static str> {
    SECTIONS.iter().map(|section| section.name)
}

/// Whether `name` is a top-level section.
pub(crate) fn is_top_section(name: &str) -> bool {
    section_names().any(|section| section == name)
}

/// Whether a dotted path is a section or sub-section (`redis`, `redis.pool`)
/// rather than a key.
pub(crate) fn is_section(path: &str) -> bool {
    KEYS.iter().any(|key| {
        key.path
            .strip_prefix(path)
            .is_some_and(|rest| rest.starts_with('.'))
    })
}

/// What `path` accepts, as the tail of an error line.
pub(crate) fn accepted(path: &str) -> String {
    match find(path) {
        Some(key) => key.accepted(),
        None if is_section(path) => "a section of keys".to_owned(),
        None => "a known key".to_owned(),
    }
}

/// Whether a value at `path` may be quoted in an error line: only for a
/// declared public scalar key, never for secrets, URLs, lists, sections or
/// undeclared keys (someone may paste a URL with a password into `SOCIAL_REDIS`).
pub(crate) fn may_echo(path: &str) -> bool {
    find(path).is_some_and(Key::may_quote)
}

/// The environment key for a dotted path: `redis.pool.max_size` with prefix
/// `SOCIAL_` is `SOCIAL_REDIS__POOL__MAX_SIZE`.
pub(crate) fn env_key(prefix: &str, path: &str) -> String {
    let mut key = String::from(prefix);
    for (index, part) in path.split('.').enumerate() {
        if index > 0 {
            key.push_str("__");
        }
        key.push_str(&part.to_ascii_uppercase());
    }
    key
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::Settings;

    #[test]
    fn env_keys_follow_the_contract() {
        assert_eq!(
            env_key("SOCIAL_", "redis.pool.max_size"),
            "SOCIAL_REDIS__POOL__MAX_SIZE"
        );
        assert_eq!(env_key("APP_", "http.port"), "APP_HTTP__PORT");
        assert_eq!(
            REDIS_POOL_MAX_SIZE.env_name("SOCIAL_"),
            "SOCIAL_REDIS__POOL__MAX_SIZE"
        );
    }

    #[test]
    fn secrets_are_never_echoed() {
        for path in [
            "redis.url",
            "redis.password",
            "redis.nodes",
            "qdrant.api_key",
            "qdrant.url",
            "redis",
            "redis.pool",
            "redis.pasword",
        ] {
            assert!(!may_echo(path), "{path}");
        }
        for path in [
            "redis.port",
            "redis.mode",
            "http.host",
            "redis.pool.wait_timeout",
        ] {
            assert!(may_echo(path), "{path}");
        }
    }

    #[test]
    fn accepted_texts_are_filled_from_the_declaration() {
        assert_eq!(accepted("redis.port"), "a port number 1-65535");
        assert_eq!(accepted("redis.pool.max_size"), "a number 1-10000");
        assert_eq!(accepted("redis.db"), "a database number 0 or greater");
        assert_eq!(
            accepted("qdrant.port"),
            "a gRPC port number 1-65535 (default 6334; not 6333, the REST port)"
        );
        assert_eq!(
            accepted("redis.mode"),
            "one of standalone, cluster, sentinel"
        );
        assert_eq!(
            accepted("http.body_limit"),
            "a size in bytes 1-1073741824 (1 GiB)"
        );
        assert_eq!(accepted("redis.pool"), "a section of keys");
        for key in KEYS {
            assert!(!key.accepted().contains('{'), "{}", key.path);
        }
    }

    /// Every leaf of `Settings`' serde shape, with its default as text.
    fn settings_shape() -> BTreeMap<String, Option<String>> {
        fn walk(value: &serde_json::Value, path: &str, out: &mut BTreeMap<String, Option<String>>) {
            let text = match value {
                serde_json::Value::Object(map) => {
                    for (key, inner) in map {
                        let next = if path.is_empty() {
                            key.clone()
                        } else {
                            format!("{path}.{key}")
                        };
                        walk(inner, &next, out);
                    }
                    return;
                }
                serde_json::Value::Null => None,
                serde_json::Value::Array(items) if items.is_empty() => None,
                serde_json::Value::String(text) => Some(text.clone()),
                other => Some(other.to_string()),
            };
            out.insert(path.to_owned(), text);
        }
        let mut out = BTreeMap::new();
        walk(
            &serde_json::to_value(Settings::default()).unwrap(),
            "",
            &mut out,
        );
        out
    }

    #[test]
    fn the_table_matches_the_settings_and_their_defaults() {
        let shape = settings_shape();
        let declared: BTreeMap<String, Option<String>> = KEYS
            .iter()
            .map(|key| (key.path.to_owned(), key.default.render()))
            .collect();
        assert_eq!(declared, shape);
        assert_eq!(declared.len(), KEYS.len(), "a key is declared twice");
    }

    #[test]
    fn sections_and_keys_agree() {
        for key in KEYS {
            assert!(is_top_section(key.section()), "{}", key.path);
            assert!(
                !key.doc.is_empty() && !key.doc.contains('\n'),
                "{}",
                key.path
            );
        }
        for section in SECTIONS {
            assert!(KEYS.iter().any(|key| key.section() == section.name));
        }
        assert!(is_section("redis.tls") && !is_section("redis.port"));
    }
}
