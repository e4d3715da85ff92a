//! [`Script`]: a Lua script sent by its SHA1 (`EVALSHA`), and the `NOSCRIPT` signal that
//! makes [`RedisPortExt::eval_script`](super::RedisPortExt::eval_script) fall back to `EVAL`.

use std::fmt;
use std::sync::Arc;

use crate::error::{ErrorKind, InfraError};

use super::REDIS_BACKEND;

/// A Lua script for [`RedisPortExt::eval_script`](super::RedisPortExt::eval_script): its
/// source and its SHA1, computed once when it is built.
///
/// Build it once (a `static` with `LazyLock`, or a field) and reuse it: each call sends
/// only the SHA1 (`EVALSHA`), and the source only when the server does not know it yet.
/// Cloning is cheap.
///
/// ```
/// use infra_base::redis::Script;
///
/// let script = Script::new("return 1");
/// assert_eq!(script.sha1(), "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
/// assert_eq!(script.source(), "return 1");
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Script {
    source: Arc<str>,
    sha1: Arc<str>,
}

impl Script {
    /// A script of `source`; its SHA1 (lower-case hex, as Redis names scripts) is computed
    /// here.
    pub fn new(source: impl Into<Arc<str>>) -> Self {
        let source: Arc<str> = source.into();
        let sha1 = sha1_smol::Sha1::from(source.as_bytes())
            .digest()
            .to_string()
            .into();
        Self { source, sha1 }
    }

    /// The Lua source.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The SHA1 of the source, in lower-case hex.
    pub fn sha1(&self) -> &str {
        &self.sha1
    }
}

impl fmt::Debug for Script {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Script")
            .field("sha1", &self.sha1)
            .field("len", &self.source.len())
            .finish()
    }
}

/// The message of every `NOSCRIPT` error: adapters build it with [`noscript_error`] so that
/// [`is_noscript`] recognizes it whatever the backend.
pub const NOSCRIPT_MESSAGE: &str =
    "NOSCRIPT: the server does not know this script yet (send it with EVAL or SCRIPT LOAD)";

/// The error an adapter returns when the server answers `NOSCRIPT` to an `EVALSHA`:
/// [`ErrorKind::NotFound`] (the script is the missing resource; never retried) with
/// [`NOSCRIPT_MESSAGE`].
pub fn noscript_error(operation: &'static str) -> InfraError {
    InfraError::new(
        ErrorKind::NotFound,
        REDIS_BACKEND,
        operation,
        NOSCRIPT_MESSAGE,
    )
}

/// Whether `err` is the `NOSCRIPT` answer to an `EVALSHA` (see [`noscript_error`]).
pub fn is_noscript(err: &InfraError) -> bool {
    err.kind() == ErrorKind::NotFound && err.message() == NOSCRIPT_MESSAGE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha1_is_the_one_redis_computes() {
        // What `SCRIPT LOAD` answers for this source (the SHA1 of its bytes).
        let script = Script::new("return redis.call('GET', KEYS[1])");
        assert_eq!(script.sha1(), "d3c21d0c2b9ca22f82737626a27bcaf5d288f99f");
        assert_eq!(script.clone(), script);
        assert!(format!("{script:?}").contains("d3c21d0c"));
    }

    #[test]
    fn noscript_is_recognized_only_as_built() {
        let err = noscript_error("command");
        assert!(is_noscript(&err));
        assert_eq!(err.kind(), ErrorKind::NotFound);
        let other = InfraError::new(ErrorKind::NotFound, REDIS_BACKEND, "command", "gone");
        assert!(!is_noscript(&other));
    }
}
