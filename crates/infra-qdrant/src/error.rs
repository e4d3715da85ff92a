//! The one place where a gRPC failure becomes an [`InfraError`].
//!
//! Every RPC of the adapter fails with a [`tonic::Status`]: the server's own status, or one
//! that tonic made from a transport failure (connection refused, reset, closed). This module
//! turns it into a kind and a client-safe message; the status itself is kept as the error's
//! source, for logs.

use std::error::Error as StdError;
use std::time::Duration;

use infra_base::{ErrorKind, InfraError, VECTOR_BACKEND};
use tonic::{Code, Status};

/// Longest part of a server message copied into a client-facing error.
const MAX_SERVER_TEXT: usize = 300;

/// The error of an operation whose RPC failed with `status`.
///
/// | gRPC status                                   | kind           |
/// |-----------------------------------------------|----------------|
/// | `UNAVAILABLE`, transport failures, `CANCELLED` | `Unavailable`  |
/// | `RESOURCE_EXHAUSTED` (rate limited)           | `Unavailable`  |
/// | `DEADLINE_EXCEEDED`, tonic's "Timeout expired" | `Timeout`      |
/// | `UNAUTHENTICATED`, `PERMISSION_DENIED`         | `Auth`         |
/// | `INVALID_ARGUMENT`                            | `InvalidInput` |
/// | `OUT_OF_RANGE` from the client's message size limit | `InvalidInput` |
/// | `NOT_FOUND`                                   | `NotFound`     |
/// | `ALREADY_EXISTS`                              | `Conflict`     |
/// | anything else                                 | `Internal`     |
///
/// A missing collection is `NotFound` whatever the code, because Qdrant reports it as
/// `NOT_FOUND` for most calls but as another code for some, always with a message starting
/// "Not found: Collection". The message is a fixed text for transport, auth and internal
/// failures (a transport error may name an address), and the server's own, shortened text
/// for input errors, which describe the request (for example a wrong vector dimension).
pub(crate) fn map_status(operation: &'static str, status: Status) -> InfraError {
    let (kind, message) = classify(&status);
    let mut err = InfraError::new(kind, VECTOR_BACKEND, operation, message);
    if status.code() == Code::ResourceExhausted {
        err = err.with_retry_after(Duration::from_secs(1));
    }
    err.with_source(status)
}

/// The error of an RPC that did not finish within the adapter's request timeout.
pub(crate) fn timeout(operation: &'static str, limit: Duration) -> InfraError {
    InfraError::new(
        ErrorKind::Timeout,
        VECTOR_BACKEND,
        operation,
        format!(
            "the Qdrant server did not answer within {}",
            humantime::format_duration(limit)
        ),
    )
}

fn classify(status: &Status) -> (ErrorKind, String) {
    let text = status.message();
    if is_missing_collection(text) {
        return (ErrorKind::NotFound, server_text(text));
    }
    if status.code() == Code::OutOfRange && text.contains("message length too large") {
        return (ErrorKind::InvalidInput, message_too_large_text(text));
    }
    match status.code() {
        Code::Cancelled if text.contains("Timeout expired") => {
            (ErrorKind::Timeout, "the request timed out".to_owned())
        }
        Code::Unavailable | Code::Cancelled => (ErrorKind::Unavailable, unreachable_text()),
        Code::Unknown | Code::Internal if is_transport_failure(status) => {
            (ErrorKind::Unavailable, unreachable_text())
        }
        Code::ResourceExhausted => (
            ErrorKind::Unavailable,
            "the Qdrant server is rate limiting requests".to_owned(),
        ),
        Code::DeadlineExceeded => (
            ErrorKind::Timeout,
            "the Qdrant server did not finish the request within its deadline".to_owned(),
        ),
        Code::Unauthenticated => (
            ErrorKind::Auth,
            "the Qdrant server refused the request: missing or wrong API key".to_owned(),
        ),
        Code::PermissionDenied => (
            ErrorKind::Auth,
            "the Qdrant server refused the request: the API key lacks the permission".to_owned(),
        ),
        Code::InvalidArgument => (ErrorKind::InvalidInput, server_text(text)),
        Code::NotFound => (ErrorKind::NotFound, server_text(text)),
        Code::AlreadyExists => (ErrorKind::Conflict, server_text(text)),
        Code::Unimplemented => (
            ErrorKind::Internal,
            "the server does not implement this Qdrant gRPC method (is it a Qdrant gRPC \
             endpoint, port 6334, of a compatible version?)"
                .to_owned(),
        ),
        code => (
            ErrorKind::Internal,
            format!("the Qdrant server failed the request ({code:?})"),
        ),
    }
}

/// tonic's refusal of a message above the limit: "Error, decoded message length too large:
/// found N bytes, the limit is: M bytes" (an answer; "encoded" for a request).
fn message_too_large_text(text: &str) -> String {
    let sizes = text
        .split_once("found ")
        .map(|(_, rest)| format!(" (found {})", rest.trim_end_matches('.')))
        .unwrap_or_default();
    too_large_text(text.contains("decoded"), &sizes)
}

fn too_large_text(answer: bool, sizes: &str) -> String {
    let what = if answer {
        "the Qdrant server's answer is larger than"
    } else {
        "the request is larger than"
    };
    format!(
        "{what} the gRPC message size limit{sizes}: ask for fewer points, vectors or \
         payloads at once, or raise SOCIAL_QDRANT__MAX_MESSAGE_SIZE"
    )
}

/// The `InvalidInput` error of a message of `len` bytes above the `limit`: an answer, or a
/// request refused before it is sent.
pub(crate) fn message_too_large(
    operation: &'static str,
    answer: bool,
    len: usize,
    limit: usize,
) -> InfraError {
    InfraError::new(
        ErrorKind::InvalidInput,
        VECTOR_BACKEND,
        operation,
        too_large_text(
            answer,
            &format!(" (found {len} bytes, the limit is: {limit} bytes)"),
        ),
    )
}

fn unreachable_text() -> String {
    "cannot reach the Qdrant server: connection refused, reset or closed".to_owned()
}

/// Qdrant's text for a missing collection: "Not found: Collection `x` doesn't exist!".
fn is_missing_collection(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    lower.contains("not found: collection")
        || (lower.contains("collection")
            && (lower.contains("doesn't exist") || lower.contains("does not exist")))
}

/// Whether tonic built the status from a failure of the connection rather than from an
/// answer of the server: an I/O or transport error in its source chain, or tonic's own
/// texts for them.
fn is_transport_failure(status: &Status) -> bool {
    let mut next: Option<&(dyn StdError + 'static)> = status.source();
    while let Some(err) = next {
        if err.is::<std::io::Error>() || err.is::<tonic::transport::Error>() {
            return true;
        }
        next = err.source();
    }
    let text = status.message();
    [
        "transport error",
        "connection",
        "broken pipe",
        "h2 protocol error",
    ]
    .iter()
    .any(|needle| text.to_ascii_lowercase().contains(needle))
}

/// The server's message, shortened and stripped of control characters.
fn server_text(text: &str) -> String {
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let clean = clean.trim();
    if clean.is_empty() {
        return "the Qdrant server refused the request".to_owned();
    }
    match clean.char_indices().nth(MAX_SERVER_TEXT) {
        Some((cut, _)) => format!("{}…", &clean[..cut]),
        None => clean.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(status: Status) -> ErrorKind {
        map_status("search", status).kind()
    }

    #[test]
    fn codes_map_to_kinds() {
        let cases = [
            (Status::unavailable("x"), ErrorKind::Unavailable),
            (Status::cancelled("h2 canceled"), ErrorKind::Unavailable),
            (Status::cancelled("Timeout expired"), ErrorKind::Timeout),
            (
                Status::resource_exhausted("slow down"),
                ErrorKind::Unavailable,
            ),
            (Status::deadline_exceeded("late"), ErrorKind::Timeout),
            (Status::unauthenticated("Invalid api-key"), ErrorKind::Auth),
            (Status::permission_denied("read only"), ErrorKind::Auth),
            (
                Status::invalid_argument(
                    "Wrong input: Vector dimension error: expected dim: 3, got 2",
                ),
                ErrorKind::InvalidInput,
            ),
            (Status::not_found("Not found: point 7"), ErrorKind::NotFound),
            (
                Status::already_exists("Wrong input: Collection `a` already exists!"),
                ErrorKind::Conflict,
            ),
            (Status::unimplemented(""), ErrorKind::Internal),
            (
                Status::internal("Service internal error: disk"),
                ErrorKind::Internal,
            ),
            (
                Status::failed_precondition("Storage locked"),
                ErrorKind::Internal,
            ),
            (Status::unknown("transport error"), ErrorKind::Unavailable),
            (Status::unknown("weird"), ErrorKind::Internal),
        ];
        for (status, expected) in cases {
            let text = format!("{status:?}");
            assert_eq!(kind(status), expected, "{text}");
        }
    }

    #[test]
    fn the_message_size_limit_is_invalid_input_naming_the_key() {
        for (text, what) in [
            (
                "Error, decoded message length too large: found 204800 bytes, the limit is: \
                 65536 bytes",
                "answer",
            ),
            (
                "Error, encoded message length too large: found 9 bytes, the limit is: 8 bytes",
                "request",
            ),
        ] {
            let err = map_status("get", Status::out_of_range(text));
            assert_eq!(err.kind(), ErrorKind::InvalidInput);
            assert!(err.message().contains(what), "{}", err.message());
            assert!(
                err.message().contains("MAX_MESSAGE_SIZE"),
                "{}",
                err.message()
            );
        }
        assert_eq!(kind(Status::out_of_range("offset")), ErrorKind::Internal);
    }

    #[test]
    fn a_missing_collection_is_not_found_whatever_the_code() {
        for status in [
            Status::not_found("Not found: Collection `c` doesn't exist!"),
            Status::invalid_argument("Not found: Collection `c` doesn't exist!"),
            Status::internal("Collection `c` does not exist"),
        ] {
            assert_eq!(kind(status), ErrorKind::NotFound);
        }
    }

    #[test]
    fn transport_failures_in_the_source_chain_are_unavailable() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by peer");
        let status = Status::from_error(Box::new(io));
        assert_eq!(kind(status), ErrorKind::Unavailable);
    }

    #[test]
    fn messages_are_client_safe_and_sources_kept() {
        let status = Status::unavailable("tcp connect error: 10.1.2.3:6334: Connection refused");
        let err = map_status("upsert", status);
        assert!(!err.message().contains("10.1.2.3"), "{}", err.message());
        assert!(
            err.chain().contains("10.1.2.3"),
            "the source stays for logs"
        );
        assert_eq!(err.operation(), "upsert");
        assert_eq!(err.backend(), "qdrant");

        let err = map_status("search", Status::internal("panic at /srv/qdrant/lib.rs:1"));
        assert!(!err.message().contains("/srv"), "{}", err.message());

        let long = "x".repeat(1000);
        let err = map_status("search", Status::invalid_argument(format!("bad\n{long}")));
        assert!(err.message().chars().count() <= MAX_SERVER_TEXT + 1);
        assert!(!err.message().contains('\n'));
    }

    #[test]
    fn rate_limits_suggest_a_retry() {
        let err = map_status("search", Status::resource_exhausted("slow down"));
        assert_eq!(err.retry_after(), Some(Duration::from_secs(1)));
        assert!(err.is_transient());
    }

    #[test]
    fn adapter_timeouts_name_the_limit() {
        let err = timeout("get", Duration::from_millis(250));
        assert_eq!(err.kind(), ErrorKind::Timeout);
        assert!(err.message().contains("250ms"));
    }
}
