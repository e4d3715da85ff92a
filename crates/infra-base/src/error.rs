//! The one error type every port and adapter returns.
//!
//! [`InfraError`] carries an [`ErrorKind`] (what went wrong, in terms a caller can act on),
//! the backend and operation it came from, a message that is safe to show a client, and the
//! original error as its `source`. Adapters turn their client errors into it in one private
//! function each; the HTTP layer turns it into a response in one place.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

/// Result alias used by every port.
pub type InfraResult<T> = Result<T, InfraError>;

/// What went wrong, in terms a caller can act on.
///
/// The kind decides retries ([`ErrorKind::is_transient`]), the circuit breaker and the HTTP
/// status. New kinds may be added, so match with a wildcard arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The backend could not be reached: connection refused, reset or closed.
    Unavailable,
    /// The operation did not finish within its deadline.
    Timeout,
    /// No pooled connection became free within the pool's wait timeout.
    PoolExhausted,
    /// The circuit breaker is open: the backend failed repeatedly and calls fail fast.
    CircuitOpen,
    /// The backend is not configured (or disabled) in this process.
    NotConfigured,
    /// The backend refused our credentials.
    Auth,
    /// The request itself is wrong (for example a vector of the wrong dimension).
    InvalidInput,
    /// The named resource (a collection, for instance) does not exist.
    NotFound,
    /// The resource exists in a state that conflicts with the request (for example a
    /// collection with another dimension or distance).
    Conflict,
    /// The backend does not offer what the request asks for, whatever its state (for
    /// example sharding on the embedded vector store). Not transient.
    Unsupported,
    /// Anything else: a bug, an unexpected reply, a protocol error.
    Internal,
}

impl ErrorKind {
    /// Every kind, for exhaustive tables in tests and documentation.
    pub const ALL: [ErrorKind; 11] = [
        ErrorKind::Unavailable,
        ErrorKind::Timeout,
        ErrorKind::PoolExhausted,
        ErrorKind::CircuitOpen,
        ErrorKind::NotConfigured,
        ErrorKind::Auth,
        ErrorKind::InvalidInput,
        ErrorKind::NotFound,
        ErrorKind::Conflict,
        ErrorKind::Unsupported,
        ErrorKind::Internal,
    ];

    /// Whether trying again later may succeed without anyone changing anything.
    ///
    /// Only transient errors are retried and counted by the circuit breaker. `CircuitOpen`
    /// is deliberately not transient: retrying into an open breaker defeats its purpose.
    pub const fn is_transient(self) -> bool {
        matches!(
            self,
            ErrorKind::Unavailable | ErrorKind::Timeout | ErrorKind::PoolExhausted
        )
    }

    /// Whether the error means the dependency cannot serve right now (HTTP 503).
    pub const fn is_dependency_failure(self) -> bool {
        matches!(
            self,
            ErrorKind::Unavailable
                | ErrorKind::Timeout
                | ErrorKind::PoolExhausted
                | ErrorKind::CircuitOpen
                | ErrorKind::NotConfigured
                | ErrorKind::Auth
        )
    }

    /// A stable snake_case name, used in logs and problem bodies.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Timeout => "timeout",
            ErrorKind::PoolExhausted => "pool_exhausted",
            ErrorKind::CircuitOpen => "circuit_open",
            ErrorKind::NotConfigured => "not_configured",
            ErrorKind::Auth => "auth",
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Internal => "internal",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// The error every port returns.
///
/// `Display` gives `"{backend} {operation}: {message}"`; the message must be safe to show a
/// client (adapters never put credentials, keys or internal addresses in it). The original
/// client error is kept as [`source`](StdError::source) for logs.
///
/// ```
/// use infra_base::{ErrorKind, InfraError};
///
/// let err = InfraError::new(ErrorKind::Timeout, "redis", "get", "no reply within 1s");
/// assert!(err.is_transient());
/// assert_eq!(err.to_string(), "redis get: no reply within 1s");
/// ```
pub struct InfraError(Box<Details>);

/// What an [`InfraError`] says, behind one pointer: every port call returns
/// `InfraResult<T>`, and each layer and `async fn` level moves it, so the `Result` stays as
/// small as its success value (the fields are about 100 bytes; an error is rare and may pay
/// the allocation).
struct Details {
    kind: ErrorKind,
    backend: &'static str,
    operation: &'static str,
    message: String,
    retry_after: Option<Duration>,
    source: Option<BoxError>,
}

impl InfraError {
    /// Creates an error of `kind` raised by `backend` (e.g. `"redis"`) during `operation`
    /// (e.g. `"get"`). `message` must be safe to show a client.
    pub fn new(
        kind: ErrorKind,
        backend: &'static str,
        operation: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self(Box::new(Details {
            kind,
            backend,
            operation,
            message: message.into(),
            retry_after: None,
            source: None,
        }))
    }

    /// The standard error for a port that this process does not have.
    pub fn not_configured(backend: &'static str, operation: &'static str) -> Self {
        Self::new(
            ErrorKind::NotConfigured,
            backend,
            operation,
            format!("{backend} is not configured in this service"),
        )
    }

    /// Attaches the underlying error, kept for logs as [`source`](StdError::source).
    #[must_use]
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.0.source = Some(source.into());
        self
    }

    /// Suggests when a client may try again (sent as `Retry-After` over HTTP).
    #[must_use]
    pub fn with_retry_after(mut self, after: Duration) -> Self {
        self.0.retry_after = Some(after);
        self
    }

    /// Replaces the operation name, for wrappers that know the caller's operation better.
    #[must_use]
    pub fn with_operation(mut self, operation: &'static str) -> Self {
        self.0.operation = operation;
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }

    /// The backend that raised the error (`"redis"`, `"qdrant"`, ...).
    pub fn backend(&self) -> &'static str {
        self.0.backend
    }

    /// The port operation that failed (`"get"`, `"search"`, ...).
    pub fn operation(&self) -> &'static str {
        self.0.operation
    }

    /// A message that is safe to show a client.
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// When the client may try again, if the error knows.
    pub fn retry_after(&self) -> Option<Duration> {
        self.0.retry_after
    }

    /// Shorthand for `self.kind().is_transient()`.
    pub fn is_transient(&self) -> bool {
        self.0.kind.is_transient()
    }

    /// The message followed by every source in the chain, `: `-separated, for logs.
    ///
    /// Sources come from client libraries; adapters are responsible for keeping secrets out
    /// of them (for example by never building an error from a URL with credentials).
    pub fn chain(&self) -> String {
        use fmt::Write as _;
        let mut out = self.to_string();
        let mut next = self.source();
        while let Some(err) = next {
            let _ = write!(out, ": {err}");
            next = err.source();
        }
        out
    }
}

impl fmt::Display for InfraError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.0.backend, self.0.operation, self.0.message
        )
    }
}

impl fmt::Debug for InfraError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InfraError")
            .field("kind", &self.0.kind)
            .field("backend", &self.0.backend)
            .field("operation", &self.0.operation)
            .field("message", &self.0.message)
            .field("retry_after", &self.0.retry_after)
            .field("source", &self.0.source)
            .finish()
    }
}

impl StdError for InfraError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.0
            .source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_is_one_pointer_so_results_stay_small() {
        assert_eq!(
            std::mem::size_of::<InfraError>(),
            std::mem::size_of::<usize>()
        );
        assert_eq!(
            std::mem::size_of::<InfraResult<Option<Vec<u8>>>>(),
            std::mem::size_of::<Option<Vec<u8>>>()
        );
    }

    #[test]
    fn transient_kinds_are_exactly_the_retryable_ones() {
        let transient: Vec<_> = ErrorKind::ALL
            .into_iter()
            .filter(|k| k.is_transient())
            .collect();
        assert_eq!(
            transient,
            [
                ErrorKind::Unavailable,
                ErrorKind::Timeout,
                ErrorKind::PoolExhausted
            ]
        );
    }

    #[test]
    fn dependency_failures_are_the_503_kinds() {
        for kind in ErrorKind::ALL {
            let expected = !matches!(
                kind,
                ErrorKind::InvalidInput
                    | ErrorKind::NotFound
                    | ErrorKind::Conflict
                    | ErrorKind::Unsupported
                    | ErrorKind::Internal
            );
            assert_eq!(kind.is_dependency_failure(), expected, "{kind}");
        }
    }

    #[test]
    fn kind_names_are_unique_snake_case() {
        let mut names: Vec<_> = ErrorKind::ALL.iter().map(|k| k.as_str()).collect();
        assert!(
            names
                .iter()
                .all(|n| n.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        );
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ErrorKind::ALL.len());
    }

    #[test]
    fn chain_includes_every_source_and_source_is_exposed() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let err = InfraError::new(ErrorKind::Unavailable, "redis", "get", "cannot connect")
            .with_source(io);
        assert_eq!(err.chain(), "redis get: cannot connect: refused");
        assert!(err.source().is_some());
        assert!(format!("{err:?}").contains("Unavailable"));
    }

    #[test]
    fn builders_set_fields() {
        let err = InfraError::not_configured("qdrant", "search")
            .with_retry_after(Duration::from_secs(5))
            .with_operation("upsert");
        assert_eq!(err.kind(), ErrorKind::NotConfigured);
        assert_eq!(err.backend(), "qdrant");
        assert_eq!(err.operation(), "upsert");
        assert_eq!(err.retry_after(), Some(Duration::from_secs(5)));
        assert!(!err.is_transient());
        assert_eq!(err.message(), "qdrant is not configured in this service");
    }
}
