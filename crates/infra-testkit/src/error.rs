//! The one error type of the testkit: a message that says what failed and what to do.

use std::fmt;

/// Why a test server could not be provisioned or driven.
///
/// The message is meant for a test failure: it names the server (`redis-server on
/// 127.0.0.1:6390`), what was attempted, and, when a process failed, the last lines of its
/// log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    message: String,
}

impl Error {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }

    /// The full message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// This error with `context: ` in front of its message.
    #[must_use]
    pub fn context(self, context: impl fmt::Display) -> Self {
        Self::new(format!("{context}: {}", self.message))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// The testkit's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_is_prepended() {
        let err = Error::new("connection refused").context("PING 127.0.0.1:1");
        assert_eq!(err.to_string(), "PING 127.0.0.1:1: connection refused");
        assert_eq!(err.message(), "PING 127.0.0.1:1: connection refused");
    }
}
