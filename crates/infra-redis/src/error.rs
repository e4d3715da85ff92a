//! The one place where redis-rs and pool errors become [`InfraError`]s.
//!
//! [`map_error`] decides the [`ErrorKind`] and a client-safe message; the original error is
//! kept as the `source`. Messages never contain a URL, a password, a key or a value: they are
//! fixed texts per class of failure, plus the server's `host:port` for start-up errors only
//! (`endpoint`), which operators need and which [`Lifecycle::init`](infra_base::Lifecycle::init)
//! reports at start-up, not to HTTP clients. redis-rs never puts the URL or the password in
//! its errors (its URL parse errors are fixed strings, its `RedisConnectionInfo` `Debug`
//! redacts the password). Server error replies can quote command arguments only for unknown
//! commands, which the typed methods never send; a caller's own
//! [`RedisPort::command`](infra_base::RedisPort::command) can, so for that path the source
//! chain (logs only, never the message) may quote the first arguments of an unknown
//! command.

use std::error::Error as StdError;
use std::io;
use std::sync::Arc;

use deadpool::managed::{PoolError, TimeoutType};
use infra_base::redis::{BUSYGROUP_MESSAGE, NOSCRIPT_MESSAGE};
use infra_base::{ErrorKind, InfraError, REDIS_BACKEND};
use redis::{ErrorKind as RedisKind, RedisError, ServerErrorKind};

/// A failure from redis-rs or from the pool, before mapping.
#[derive(Debug)]
pub(crate) enum Failure {
    /// An error from redis-rs: connecting, I/O, a timeout or a server reply.
    Redis(RedisError),
    /// An error from the pool: a wait/create/recycle timeout, closed, or a connect error.
    Pool(PoolError<RedisError>),
}

impl From<RedisError> for Failure {
    fn from(err: RedisError) -> Self {
        Failure::Redis(err)
    }
}

impl From<PoolError<RedisError>> for Failure {
    fn from(err: PoolError<RedisError>) -> Self {
        Failure::Pool(err)
    }
}

/// Maps a redis-rs error to an [`InfraError`] of the `redis` backend, with a client-safe
/// message and the error as its source.
///
/// This is the adapter's own mapping, public for code that uses
/// [`RedisAdapter::exclusive`](crate::RedisAdapter::exclusive) and gets redis-rs errors:
///
/// | redis-rs error | kind |
/// |---|---|
/// | I/O timeout (connect or response timeout) | `Timeout` |
/// | connection refused, reset, aborted, broken pipe, closed, other I/O | `Unavailable` |
/// | TLS verification failed (untrusted CA, wrong host name, expired or refused certificate) | `Auth` |
/// | `READONLY`, `MASTERDOWN`, `CLUSTERDOWN`, `TRYAGAIN`, `LOADING`, no sentinel knows the master | `Unavailable` |
/// | authentication failed, `NOAUTH`, `WRONGPASS`, `NOPERM` | `Auth` |
///
/// A TLS verification failure is `Auth`, not `Unavailable`: the server could not prove
/// who it is (or refused who we are), which no retry fixes, so it must neither be retried
/// nor count as an outage; like every `Auth` error it still answers 503 over HTTP.
/// | `WRONGTYPE`, not an integer or float / out of range, invalid expire time | `InvalidInput` |
/// | wrong number of arguments, syntax error, unknown command (commands a caller built) | `InvalidInput` |
/// | `CROSSSLOT` (keys in different cluster slots; the message names hash tags) | `InvalidInput` |
/// | `EXECABORT` (a transaction refused before it ran) | `InvalidInput` |
/// | `BUSYGROUP` (`XGROUP CREATE` of an existing group) | `Conflict` with [`BUSYGROUP_MESSAGE`] ([`is_busygroup`](infra_base::redis::is_busygroup)) |
/// | `NOGROUP`, `XGROUP CREATE` of a missing stream | `NotFound` |
/// | `NOSCRIPT` | `NotFound` with [`NOSCRIPT_MESSAGE`] ([`is_noscript`](infra_base::redis::is_noscript)) |
/// | anything else | `Internal` |
pub fn map_redis_error(err: RedisError, operation: &'static str) -> InfraError {
    map_error(Failure::Redis(err), operation, None)
}

/// The mapping itself: pool errors (a wait timeout is `PoolExhausted`) and redis-rs errors.
///
/// `endpoint` (`host:port`, never credentials) is named in the message when given: start-up
/// errors use it, per-request errors do not.
pub(crate) fn map_error(
    failure: Failure,
    operation: &'static str,
    endpoint: Option<&str>,
) -> InfraError {
    let (kind, message, source) = parts(failure);
    let message = match endpoint {
        Some(endpoint) => format!("{endpoint}: {message}"),
        None => message,
    };
    build(kind, operation, message, source)
}

/// [`map_error`] for start-up ([`Lifecycle::init`](infra_base::Lifecycle::init)): names the
/// endpoint, and with TLS on says what a timeout most likely means.
pub(crate) fn map_startup_error(
    failure: Failure,
    operation: &'static str,
    endpoint: &str,
    tls: bool,
) -> InfraError {
    let (kind, mut message, source) = parts(failure);
    if tls && kind == ErrorKind::Timeout {
        // A plain server reads the ClientHello as the start of a command line and waits
        // for the rest: the handshake neither completes nor fails.
        message.push_str(
            " (TLS is enabled: a server that does not serve TLS on this port never \
             completes the handshake)",
        );
    }
    build(kind, operation, format!("{endpoint}: {message}"), source)
}

fn build(
    kind: ErrorKind,
    operation: &'static str,
    message: String,
    source: Option<RedisError>,
) -> InfraError {
    let error = InfraError::new(kind, REDIS_BACKEND, operation, message);
    match source {
        Some(source) => error.with_source(source),
        None => error,
    }
}

/// The kind, client-safe message and source of a failure.
fn parts(failure: Failure) -> (ErrorKind, String, Option<RedisError>) {
    match failure {
        Failure::Pool(PoolError::Timeout(TimeoutType::Wait)) => (
            ErrorKind::PoolExhausted,
            "no pooled connection became free within the pool wait timeout".to_owned(),
            None,
        ),
        Failure::Pool(PoolError::Timeout(TimeoutType::Create)) => (
            ErrorKind::Timeout,
            "opening a connection took longer than its timeout (the pool create timeout, or \
             the command timeout for a port call)"
                .to_owned(),
            None,
        ),
        Failure::Pool(PoolError::Timeout(TimeoutType::Recycle)) => (
            ErrorKind::Timeout,
            "checking a pooled connection took longer than the pool recycle timeout".to_owned(),
            None,
        ),
        Failure::Pool(PoolError::Closed) => (
            ErrorKind::Unavailable,
            "the Redis client has been closed".to_owned(),
            None,
        ),
        Failure::Pool(PoolError::NoRuntimeSpecified) => (
            ErrorKind::Internal,
            "the connection pool has no async runtime".to_owned(),
            None,
        ),
        Failure::Pool(PoolError::PostCreateHook(_)) => (
            ErrorKind::Internal,
            "a connection pool hook failed".to_owned(),
            None,
        ),
        Failure::Pool(PoolError::Backend(err)) | Failure::Redis(err) => {
            let (kind, message) = classify(&err);
            (kind, message, Some(err))
        }
    }
}

/// The kind and message of a redis-rs error.
fn classify(err: &RedisError) -> (ErrorKind, String) {
    use ErrorKind::{Auth, Conflict, Internal, InvalidInput, NotFound, Timeout, Unavailable};

    if err.is_timeout() {
        return (Timeout, "no reply within the timeout".to_owned());
    }
    if let Some(problem) = tls_problem(err) {
        return (Auth, problem);
    }
    if err.is_connection_refusal() {
        return (Unavailable, "connection refused".to_owned());
    }
    if err.is_io_error()
        && io_error(err).is_none()
        && let Some(found) = err.detail().and_then(classify_flattened)
    {
        return found;
    }
    if err.is_io_error() {
        let text = match io_kind(err) {
            Some(io::ErrorKind::ConnectionReset) => "connection reset by the server",
            Some(io::ErrorKind::BrokenPipe) => "connection closed (broken pipe)",
            Some(io::ErrorKind::ConnectionAborted) => "connection aborted",
            Some(io::ErrorKind::UnexpectedEof) => "connection closed by the server",
            Some(io::ErrorKind::NotConnected) => "not connected",
            _ if err.is_connection_dropped() => "connection closed",
            _ => "I/O error talking to the server",
        };
        return (Unavailable, text.to_owned());
    }
    let (kind, text) = match err.kind() {
        RedisKind::AuthenticationFailed => (Auth, "the server refused the credentials"),
        RedisKind::Server(server) => match server {
            ServerErrorKind::ReadOnly => (
                Unavailable,
                "the server is a read-only replica (a failover may be in progress)",
            ),
            ServerErrorKind::MasterDown => (Unavailable, "the primary is down"),
            ServerErrorKind::ClusterDown => (Unavailable, "the cluster is down"),
            ServerErrorKind::TryAgain => (Unavailable, "the cluster is resharding; try again"),
            ServerErrorKind::BusyLoading => (Unavailable, "the server is loading its dataset"),
            ServerErrorKind::NoPerm => (Auth, "the user lacks permission for this command"),
            ServerErrorKind::NoScript => (NotFound, NOSCRIPT_MESSAGE),
            ServerErrorKind::CrossSlot => (InvalidInput, CROSSSLOT),
            ServerErrorKind::ExecAbort => (
                InvalidInput,
                "the transaction was aborted before it ran (EXECABORT): a command of it was \
                 refused when queued",
            ),
            ServerErrorKind::ResponseError if is_bad_argument(err.detail()) => {
                (InvalidInput, bad_argument_text(err.detail()))
            }
            ServerErrorKind::ResponseError
                if err
                    .detail()
                    .is_some_and(|d| d.contains("requires the key to exist")) =>
            {
                (NotFound, NO_STREAM)
            }
            _ => (Internal, "unexpected error reply from the server"),
        },
        RedisKind::Extension => match err.code() {
            Some("NOAUTH") => (Auth, "the server requires authentication"),
            Some("WRONGPASS") => (Auth, "the server refused the credentials"),
            Some("WRONGTYPE") => (InvalidInput, "the key holds a value of another type"),
            Some("BUSYGROUP") => (Conflict, BUSYGROUP_MESSAGE),
            Some("NOGROUP") => (NotFound, NOGROUP),
            _ => (Internal, "unexpected error reply from the server"),
        },
        RedisKind::MasterNameNotFoundBySentinel => {
            (Unavailable, "no sentinel knows the configured primary")
        }
        RedisKind::NoValidReplicasFoundBySentinel => {
            (Unavailable, "no sentinel knows a valid replica")
        }
        RedisKind::ClusterConnectionNotFound => (
            Unavailable,
            "no connection to the cluster node owning the key",
        ),
        RedisKind::InvalidClientConfig | RedisKind::EmptySentinelList => {
            (InvalidInput, "invalid Redis client configuration")
        }
        _ => (Internal, "unexpected reply or client error"),
    };
    (kind, text.to_owned())
}

const TLS_UNTRUSTED: &str = "TLS handshake failed: the server certificate is not signed by a \
                             trusted CA (check redis.tls.ca_file)";
const TLS_WRONG_HOST: &str =
    "TLS handshake failed: the server certificate is not valid for the host name";
const TLS_EXPIRED: &str = "TLS handshake failed: the server certificate has expired";
const TLS_CLIENT_CERT_REQUIRED: &str = "TLS handshake failed: the server requires a client \
                                        certificate (redis.tls.cert_file and key_file)";
const TLS_CLIENT_CERT_REFUSED: &str =
    "TLS handshake failed: the server refused the client certificate";

/// Errors that redis-rs flattened into text: the cluster client reports a failure to reach
/// any seed as `Io` "Failed to create initial connections" with the last node's error as
/// its detail string (`cluster_async`), which would otherwise all read as "connection
/// closed".
fn classify_flattened(detail: &str) -> Option<(ErrorKind, String)> {
    let has = |needle: &str| detail.contains(needle);
    let (kind, text) = if has("AuthenticationFailed") || has("WRONGPASS") || has("NOAUTH") {
        (ErrorKind::Auth, "the server refused the credentials")
    } else if has("UnknownIssuer") || has("BadSignature") {
        (ErrorKind::Auth, TLS_UNTRUSTED)
    } else if has("NotValidForName") || has("not valid for name") {
        (ErrorKind::Auth, TLS_WRONG_HOST)
    } else if has("CertificateRequired") {
        (ErrorKind::Auth, TLS_CLIENT_CERT_REQUIRED)
    } else if has("Connection refused") {
        (ErrorKind::Unavailable, "connection refused")
    } else if has("timed out") || has("TimedOut") {
        (ErrorKind::Timeout, "no reply within the timeout")
    } else {
        return None;
    };
    Some((kind, text.to_owned()))
}

/// The message of a cluster's `CROSSSLOT` (from the server, or from redis-rs for a
/// pipeline whose commands route to different slots).
const CROSSSLOT: &str = "the keys of this command or pipeline hash to different cluster \
                         slots (CROSSSLOT): give keys used together a common hash tag, \
                         e.g. {user:42}:profile and {user:42}:visits";

/// The message of `NOGROUP` (a stream command naming a group, or a stream, that does not
/// exist).
const NOGROUP: &str = "NOGROUP: no such stream or consumer group";

/// The message of `XGROUP CREATE` on a missing stream without `MKSTREAM`.
const NO_STREAM: &str = "the stream does not exist: XGROUP CREATE needs it, or MKSTREAM";

/// Server replies that mean the request's arguments or the stored value do not fit: a
/// value that is not a number, and, for commands a caller built itself
/// ([`RedisPort::command`](infra_base::RedisPort::command)), a wrong argument count, a
/// syntax error or an unknown command.
fn is_bad_argument(detail: Option<&str>) -> bool {
    detail.is_some_and(|d| {
        d.contains("not an integer")
            || d.contains("not a valid float")
            || d.contains("out of range")
            || d.contains("overflow")
            || d.contains("invalid expire time")
            || d.contains("not compatible")
            || d.contains("Invalid stream ID")
            || d.contains("equal or smaller than the target stream top item")
            || d.contains("not valid string range item")
            || d.contains("is not a float")
            || d.contains("wrong number of arguments")
            || d.starts_with("syntax error")
            || d.starts_with("unknown command")
            || d.starts_with("unknown subcommand")
    })
}

fn bad_argument_text(detail: Option<&str>) -> &'static str {
    match detail {
        Some(d) if d.contains("invalid expire time") => "the expiry is out of range",
        Some(d) if d.contains("wrong number of arguments") => {
            "wrong number of arguments for the command"
        }
        Some(d) if d.starts_with("syntax error") => "syntax error in the command's arguments",
        Some(d) if d.starts_with("unknown command") || d.starts_with("unknown subcommand") => {
            "the server does not know this command"
        }
        Some(d) if d.contains("not a valid float") => "the value is not a valid float",
        Some(d) if d.contains("not compatible") => "options of the command that cannot be combined",
        Some(d)
            if d.contains("Invalid stream ID")
                || d.contains("equal or smaller than the target stream top item") =>
        {
            "the stream id is not valid, or not greater than the stream's last id"
        }
        Some(d) if d.contains("not valid string range item") || d.contains("is not a float") => {
            "a range bound is not valid"
        }
        _ => "the value is not an integer or the result is out of range",
    }
}

/// The `io::Error` inside a redis-rs I/O error, if any.
///
/// redis-rs keeps it as an `Arc<dyn Error>`, which `source()` exposes as such.
fn io_error(err: &RedisError) -> Option<&io::Error> {
    let source = err.source()?;
    if let Some(shared) = source.downcast_ref::<Arc<dyn StdError + Send + Sync>>() {
        return (**shared).downcast_ref::<io::Error>();
    }
    source.downcast_ref::<io::Error>()
}

fn io_kind(err: &RedisError) -> Option<io::ErrorKind> {
    io_error(err).map(io::Error::kind)
}

/// A client-safe description of a failed TLS handshake (tokio-rustls reports rustls errors
/// as `io::Error`s wrapping a `rustls::Error`).
fn tls_problem(err: &RedisError) -> Option<String> {
    use rustls::CertificateError as Cert;

    let inner = io_error(err)?.get_ref()?;
    let tls = inner.downcast_ref::<rustls::Error>()?;
    let text = match tls {
        rustls::Error::InvalidCertificate(cert) => match cert {
            Cert::UnknownIssuer | Cert::BadSignature | Cert::InvalidPurpose => {
                TLS_UNTRUSTED.to_owned()
            }
            Cert::NotValidForName | Cert::NotValidForNameContext { .. } => {
                TLS_WRONG_HOST.to_owned()
            }
            Cert::Expired | Cert::ExpiredContext { .. } => TLS_EXPIRED.to_owned(),
            other => format!("TLS handshake failed: invalid server certificate ({other:?})"),
        },
        rustls::Error::AlertReceived(rustls::AlertDescription::CertificateRequired) => {
            TLS_CLIENT_CERT_REQUIRED.to_owned()
        }
        rustls::Error::AlertReceived(
            rustls::AlertDescription::UnknownCA
            | rustls::AlertDescription::BadCertificate
            | rustls::AlertDescription::CertificateUnknown
            | rustls::AlertDescription::CertificateRevoked
            | rustls::AlertDescription::CertificateExpired,
        ) => TLS_CLIENT_CERT_REFUSED.to_owned(),
        rustls::Error::AlertReceived(alert) => {
            format!("TLS handshake failed: the server sent alert {alert:?}")
        }
        _ => "TLS handshake failed".to_owned(),
    };
    Some(text)
}

/// Maps a failure of a port call and logs it at debug (no key, no value).
///
/// The log has no latency: the port's layers time every call (the metrics layer's
/// histogram, the span), so a successful call reads no clock here.
pub(crate) fn call_failed(operation: &'static str, failure: Failure) -> InfraError {
    let err = map_error(failure, operation, None);
    tracing::debug!(
        backend = REDIS_BACKEND,
        operation,
        kind = %err.kind(),
        error = %err.chain(),
        "redis call failed"
    );
    err
}

#[cfg(test)]
mod tests {
    use super::*;

    fn io(kind: io::ErrorKind) -> RedisError {
        RedisError::from(io::Error::from(kind))
    }

    fn reply(code: &str, detail: &str) -> RedisError {
        redis::make_extension_error(code.to_owned(), Some(detail.to_owned()))
    }

    /// A server error reply of a kind redis-rs knows, parsed like a real reply.
    fn known_reply(line: &str) -> RedisError {
        let value = redis::parse_redis_value(format!("-{line}\r\n").as_bytes()).unwrap();
        value.extract_error().unwrap_err()
    }

    fn kind_of(err: RedisError) -> ErrorKind {
        map_redis_error(err, "get").kind()
    }

    fn check(cases: Vec<(&str, RedisError, ErrorKind)>) {
        for (name, err, expected) in cases {
            assert_eq!(kind_of(err), expected, "{name}");
        }
    }

    #[test]
    fn mapping_table_connections() {
        use ErrorKind::*;
        check(vec![
            ("refused", io(io::ErrorKind::ConnectionRefused), Unavailable),
            ("reset", io(io::ErrorKind::ConnectionReset), Unavailable),
            ("broken pipe", io(io::ErrorKind::BrokenPipe), Unavailable),
            ("aborted", io(io::ErrorKind::ConnectionAborted), Unavailable),
            ("eof", io(io::ErrorKind::UnexpectedEof), Unavailable),
            (
                "not connected",
                io(io::ErrorKind::NotConnected),
                Unavailable,
            ),
            (
                "dns",
                RedisError::from(io::Error::other("failed to lookup address")),
                Unavailable,
            ),
            ("timeout", io(io::ErrorKind::TimedOut), Timeout),
        ]);
    }

    #[test]
    fn mapping_table_replies() {
        use ErrorKind::*;
        check(vec![
            (
                "auth failed",
                RedisError::from((
                    RedisKind::AuthenticationFailed,
                    "Password authentication failed",
                )),
                Auth,
            ),
            ("noauth", reply("NOAUTH", "Authentication required."), Auth),
            (
                "wrongpass",
                reply(
                    "WRONGPASS",
                    "invalid username-password pair or user is disabled.",
                ),
                Auth,
            ),
            (
                "noperm",
                known_reply("NOPERM this user has no permissions"),
                Auth,
            ),
            (
                "wrongtype",
                reply(
                    "WRONGTYPE",
                    "Operation against a key holding the wrong kind of value",
                ),
                InvalidInput,
            ),
            (
                "not an integer",
                known_reply("ERR value is not an integer or out of range"),
                InvalidInput,
            ),
            (
                "overflow",
                known_reply("ERR increment or decrement would overflow"),
                InvalidInput,
            ),
            (
                "invalid expire",
                known_reply("ERR invalid expire time in 'set' command"),
                InvalidInput,
            ),
            (
                "readonly",
                known_reply("READONLY You can't write against a read only replica."),
                Unavailable,
            ),
            (
                "loading",
                known_reply("LOADING Redis is loading the dataset in memory"),
                Unavailable,
            ),
            (
                "masterdown",
                known_reply("MASTERDOWN Link with MASTER is down"),
                Unavailable,
            ),
            (
                "clusterdown",
                known_reply("CLUSTERDOWN The cluster is down"),
                Unavailable,
            ),
            ("generic err", known_reply("ERR something odd"), Internal),
            (
                "noscript",
                known_reply("NOSCRIPT No matching script. Please use EVAL."),
                NotFound,
            ),
            (
                "sentinel",
                RedisError::from((
                    RedisKind::MasterNameNotFoundBySentinel,
                    "Master with given name not found in sentinel",
                )),
                Unavailable,
            ),
            (
                "parse",
                RedisError::from((RedisKind::Parse, "bad reply")),
                Internal,
            ),
            (
                "type",
                RedisError::from((
                    RedisKind::UnexpectedReturnType,
                    "Response was of incompatible type",
                )),
                Internal,
            ),
            (
                "other extension",
                reply("BUSYKEY", "Target key name already exists."),
                Internal,
            ),
        ]);
    }

    /// The cluster client flattens a failure to reach any seed into text.
    #[test]
    fn mapping_table_flattened_cluster_errors() {
        use ErrorKind::*;
        let seeds = |detail: &str| {
            RedisError::from((
                RedisKind::Io,
                "Failed to create initial connections",
                detail.to_owned(),
            ))
        };
        check(vec![
            (
                "auth",
                seeds("Io: Password authentication failed - AuthenticationFailed"),
                Auth,
            ),
            (
                "refused",
                seeds("Connection refused (os error 111)"),
                Unavailable,
            ),
            ("timeout", seeds("connection timed out"), Timeout),
            (
                "untrusted",
                seeds("invalid peer certificate: UnknownIssuer"),
                Auth,
            ),
            ("other", seeds("something else"), Unavailable),
        ]);
        let err = map_redis_error(seeds("invalid peer certificate: UnknownIssuer"), "init");
        assert!(err.message().contains("trusted CA"), "{err}");
    }

    /// Replies to commands a caller built itself (`RedisPort::command`).
    #[test]
    fn mapping_table_command_path() {
        use ErrorKind::*;
        check(vec![
            (
                "crossslot",
                known_reply("CROSSSLOT Keys in request don't hash to the same slot"),
                InvalidInput,
            ),
            (
                "wrong arity",
                known_reply("ERR wrong number of arguments for 'hset' command"),
                InvalidInput,
            ),
            ("syntax", known_reply("ERR syntax error"), InvalidInput),
            (
                "unknown command",
                known_reply("ERR unknown command 'NOPE', with args beginning with: "),
                InvalidInput,
            ),
            (
                "float",
                known_reply("ERR value is not a valid float"),
                InvalidInput,
            ),
            (
                "execabort",
                known_reply("EXECABORT Transaction discarded because of previous errors."),
                InvalidInput,
            ),
        ]);
    }

    #[test]
    fn noscript_and_crossslot_are_recognizable() {
        let err = map_redis_error(known_reply("NOSCRIPT No matching script."), "command");
        assert!(infra_base::redis::is_noscript(&err), "{err}");
        let err = map_redis_error(
            known_reply("CROSSSLOT Keys in request don't hash to the same slot"),
            "command",
        );
        assert!(err.message().contains("hash tag"), "{err}");
        // redis-rs's own refusal of a pipeline routed to several slots.
        let err = RedisError::from((
            RedisKind::Server(ServerErrorKind::CrossSlot),
            "Received crossed slots in pipeline",
        ));
        let err = map_redis_error(err, "pipeline");
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.message().contains("{user:42}"), "{err}");
    }

    #[test]
    fn pool_errors() {
        let map = |e: PoolError<RedisError>| map_error(Failure::Pool(e), "get", None);
        let wait = map(PoolError::Timeout(TimeoutType::Wait));
        assert_eq!(wait.kind(), ErrorKind::PoolExhausted);
        assert!(wait.is_transient());
        assert_eq!(
            map(PoolError::Timeout(TimeoutType::Create)).kind(),
            ErrorKind::Timeout
        );
        assert_eq!(
            map(PoolError::Timeout(TimeoutType::Recycle)).kind(),
            ErrorKind::Timeout
        );
        assert_eq!(map(PoolError::Closed).kind(), ErrorKind::Unavailable);
        assert_eq!(
            map(PoolError::NoRuntimeSpecified).kind(),
            ErrorKind::Internal
        );
        let backend = map(PoolError::Backend(io(io::ErrorKind::ConnectionRefused)));
        assert_eq!(backend.kind(), ErrorKind::Unavailable);
        assert!(
            backend.source().is_some(),
            "the redis error is kept as source"
        );
    }

    #[test]
    fn messages_name_the_endpoint_only_when_asked_and_keep_the_source() {
        let err = map_error(
            Failure::Redis(io(io::ErrorKind::ConnectionRefused)),
            "init",
            Some("10.1.2.3:6380"),
        );
        assert_eq!(
            err.to_string(),
            "redis init: 10.1.2.3:6380: connection refused"
        );
        assert_eq!(err.operation(), "init");
        assert!(err.source().is_some());
        let err = map_redis_error(io(io::ErrorKind::ConnectionRefused), "get");
        assert_eq!(err.message(), "connection refused");
        assert_eq!(err.backend(), "redis");
    }

    #[test]
    fn messages_never_echo_server_details() {
        // Server replies stay in the source; the message is a fixed text.
        let err = map_redis_error(reply("WRONGTYPE", "user:42 secret-ish detail"), "get");
        assert!(!err.message().contains("user:42"), "{}", err.message());
        assert!(
            err.chain().contains("user:42"),
            "the source keeps the detail for logs"
        );
    }

    #[test]
    fn tls_certificate_errors_are_explained() {
        let tls =
            |e: rustls::Error| RedisError::from(io::Error::new(io::ErrorKind::InvalidData, e));
        let unknown = map_redis_error(
            tls(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer,
            )),
            "init",
        );
        assert_eq!(unknown.kind(), ErrorKind::Auth);
        assert!(!unknown.is_transient(), "a wrong CA is never retried");
        assert!(
            unknown.message().contains("not signed by a trusted CA"),
            "{unknown}"
        );
        let name = map_redis_error(
            tls(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName,
            )),
            "init",
        );
        assert_eq!(name.kind(), ErrorKind::Auth);
        assert!(
            name.message().contains("not valid for the host name"),
            "{name}"
        );
    }
}
