//! [`Reply`]: what Redis answers to a [`Command`](super::Command), mirroring RESP.

use std::fmt;

use crate::error::{ErrorKind, InfraError, InfraResult};

use super::REDIS_BACKEND;

/// One reply of Redis, type for type as RESP2 and RESP3 carry it.
///
/// Error replies are not a variant: a command answered with an error fails with an
/// [`InfraError`] (whose kind the adapter maps: `WRONGTYPE` is `InvalidInput`, ...). The
/// typed accessors ([`as_int`](Reply::as_int), [`into_bytes`](Reply::into_bytes), ...)
/// fail with [`ErrorKind::InvalidInput`] naming what they expected and what came.
///
/// ```
/// use infra_base::redis::Reply;
///
/// assert_eq!(Reply::Int(3).as_int()?, 3);
/// assert_eq!(Reply::Bulk(b"42".to_vec()).as_int()?, 42);
/// assert_eq!(Reply::Nil.into_opt_bytes()?, None);
/// let err = Reply::Simple("OK".into()).into_array().unwrap_err();
/// assert_eq!(err.message(), "expected an array reply, got a simple string");
/// # Ok::<(), infra_base::InfraError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Reply {
    /// No value: a missing key, a null bulk string or a null array (RESP3 null).
    Nil,
    /// An integer.
    Int(i64),
    /// A binary-safe bulk string.
    Bulk(Vec<u8>),
    /// A simple (status) string, such as `OK` or `PONG`.
    Simple(String),
    /// An array of replies, in order.
    Array(Vec<Reply>),
    /// A RESP3 map, in the order the server sent its pairs.
    Map(Vec<(Reply, Reply)>),
    /// A RESP3 set, in the order the server sent its members.
    Set(Vec<Reply>),
    /// A RESP3 double.
    Double(f64),
    /// A RESP3 boolean.
    Boolean(bool),
    /// A RESP3 verbatim string: its format (`txt`, `mkd`) and its text.
    Verbatim {
        /// The three-letter format.
        format: String,
        /// The text.
        text: String,
    },
}

/// The operation named by accessor errors.
const OPERATION: &str = "reply";

impl Reply {
    /// What kind of reply this is, for messages: `"an integer"`, `"nil"`, ...
    pub fn kind_name(&self) -> &'static str {
        match self {
            Reply::Nil => "nil",
            Reply::Int(_) => "an integer",
            Reply::Bulk(_) => "a bulk string",
            Reply::Simple(_) => "a simple string",
            Reply::Array(_) => "an array",
            Reply::Map(_) => "a map",
            Reply::Set(_) => "a set",
            Reply::Double(_) => "a double",
            Reply::Boolean(_) => "a boolean",
            Reply::Verbatim { .. } => "a verbatim string",
        }
    }

    fn unexpected(&self, expected: &str) -> InfraError {
        InfraError::new(
            ErrorKind::InvalidInput,
            REDIS_BACKEND,
            OPERATION,
            format!("expected {expected} reply, got {}", self.kind_name()),
        )
    }

    /// Whether it is [`Reply::Nil`].
    pub fn is_nil(&self) -> bool {
        matches!(self, Reply::Nil)
    }

    /// The integer: an [`Int`](Reply::Int), or a bulk or simple string holding the decimal
    /// text of one (Redis answers some counters as text).
    pub fn as_int(&self) -> InfraResult<i64> {
        match self {
            Reply::Int(n) => Ok(*n),
            Reply::Bulk(bytes) => std::str::from_utf8(bytes)
                .ok()
                .and_then(|t| t.parse().ok())
                .ok_or_else(|| self.unexpected("an integer")),
            Reply::Simple(text) => text.parse().map_err(|_| self.unexpected("an integer")),
            _ => Err(self.unexpected("an integer")),
        }
    }

    /// The integer, or `None` for [`Nil`](Reply::Nil).
    pub fn as_opt_int(&self) -> InfraResult<Option<i64>> {
        if self.is_nil() {
            Ok(None)
        } else {
            self.as_int().map(Some)
        }
    }

    /// The floating-point number: a [`Double`](Reply::Double), an [`Int`](Reply::Int), or
    /// a string holding one (`ZSCORE` answers `"1.5"` in RESP2; `inf` and `-inf` parse).
    pub fn as_double(&self) -> InfraResult<f64> {
        match self {
            Reply::Double(x) => Ok(*x),
            #[allow(clippy::cast_precision_loss)] // scores are doubles in Redis too
            Reply::Int(n) => Ok(*n as f64),
            Reply::Bulk(bytes) => std::str::from_utf8(bytes)
                .ok()
                .and_then(|t| t.parse().ok())
                .ok_or_else(|| self.unexpected("a double")),
            Reply::Simple(text) => text.parse().map_err(|_| self.unexpected("a double")),
            _ => Err(self.unexpected("a double")),
        }
    }

    /// The double, or `None` for [`Nil`](Reply::Nil) (`ZSCORE` of a missing member).
    pub fn as_opt_double(&self) -> InfraResult<Option<f64>> {
        if self.is_nil() {
            Ok(None)
        } else {
            self.as_double().map(Some)
        }
    }

    /// The boolean: a [`Boolean`](Reply::Boolean), or the integers 0 and 1 (RESP2's way).
    pub fn as_bool(&self) -> InfraResult<bool> {
        match self {
            Reply::Boolean(b) => Ok(*b),
            Reply::Int(0) => Ok(false),
            Reply::Int(1) => Ok(true),
            _ => Err(self.unexpected("a boolean")),
        }
    }

    /// Succeeds on the simple string `OK` (the reply of `SET`, `MSET`, ...).
    pub fn expect_ok(&self) -> InfraResult<()> {
        match self {
            Reply::Simple(text) if text == "OK" => Ok(()),
            _ => Err(self.unexpected("an OK")),
        }
    }

    /// The bytes of a bulk, simple or verbatim string.
    pub fn into_bytes(self) -> InfraResult<Vec<u8>> {
        match self {
            Reply::Bulk(bytes) => Ok(bytes),
            Reply::Simple(text) | Reply::Verbatim { text, .. } => Ok(text.into_bytes()),
            other => Err(other.unexpected("a string")),
        }
    }

    /// The bytes, or `None` for [`Nil`](Reply::Nil) (`GET`, `HGET` of something missing).
    pub fn into_opt_bytes(self) -> InfraResult<Option<Vec<u8>>> {
        if self.is_nil() {
            Ok(None)
        } else {
            self.into_bytes().map(Some)
        }
    }

    /// A string reply as UTF-8 text.
    pub fn into_string(self) -> InfraResult<String> {
        let bytes = self.into_bytes()?;
        String::from_utf8(bytes).map_err(|e| {
            InfraError::new(
                ErrorKind::InvalidInput,
                REDIS_BACKEND,
                OPERATION,
                "expected a UTF-8 text reply, got a bulk string that is not UTF-8",
            )
            .with_source(e)
        })
    }

    /// The elements of an array or a set.
    pub fn into_array(self) -> InfraResult<Vec<Reply>> {
        match self {
            Reply::Array(items) | Reply::Set(items) => Ok(items),
            other => Err(other.unexpected("an array")),
        }
    }

    /// The elements, or `None` for [`Nil`](Reply::Nil) (a null array).
    pub fn into_opt_array(self) -> InfraResult<Option<Vec<Reply>>> {
        if self.is_nil() {
            Ok(None)
        } else {
            self.into_array().map(Some)
        }
    }

    /// The pairs of a map: a RESP3 [`Map`](Reply::Map), or a RESP2 array of alternating
    /// keys and values (`HGETALL`, `CONFIG GET`), in the server's order.
    pub fn into_pairs(self) -> InfraResult<Vec<(Reply, Reply)>> {
        match self {
            Reply::Map(pairs) => Ok(pairs),
            Reply::Array(items) if items.len() % 2 == 0 => {
                let mut pairs = Vec::with_capacity(items.len() / 2);
                let mut items = items.into_iter();
                while let (Some(k), Some(v)) = (items.next(), items.next()) {
                    pairs.push((k, v));
                }
                Ok(pairs)
            }
            Reply::Array(_) => Err(InfraError::new(
                ErrorKind::InvalidInput,
                REDIS_BACKEND,
                OPERATION,
                "expected a map reply, got an array of odd length",
            )),
            other => Err(other.unexpected("a map")),
        }
    }
}

impl fmt::Display for Reply {
    /// A short description for logs and messages: the kind and, for scalars, the value
    /// (strings are cut at 64 bytes).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MAX: usize = 64;
        match self {
            Reply::Nil => f.write_str("nil"),
            Reply::Int(n) => write!(f, "{n}"),
            Reply::Double(x) => write!(f, "{x}"),
            Reply::Boolean(b) => write!(f, "{b}"),
            Reply::Bulk(bytes) => {
                let shown = &bytes[..bytes.len().min(MAX)];
                write!(f, "{:?}", String::from_utf8_lossy(shown))?;
                if bytes.len() > MAX {
                    write!(f, "... ({} bytes)", bytes.len())?;
                }
                Ok(())
            }
            Reply::Simple(text) | Reply::Verbatim { text, .. } => write!(f, "{text}"),
            Reply::Array(items) | Reply::Set(items) => {
                write!(f, "{} of {} elements", self.kind_name(), items.len())
            }
            Reply::Map(pairs) => write!(f, "a map of {} pairs", pairs.len()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(text: &str) -> Reply {
        Reply::Bulk(text.as_bytes().to_vec())
    }

    #[test]
    fn integers_and_doubles() {
        assert_eq!(Reply::Int(-4).as_int().unwrap(), -4);
        assert_eq!(bulk("17").as_int().unwrap(), 17);
        assert_eq!(Reply::Simple("9".into()).as_int().unwrap(), 9);
        assert_eq!(Reply::Nil.as_opt_int().unwrap(), None);
        let err = bulk("x").as_int().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert_eq!(
            err.message(),
            "expected an integer reply, got a bulk string"
        );
        assert!((bulk("1.5").as_double().unwrap() - 1.5).abs() < f64::EPSILON);
        assert!(bulk("-inf").as_double().unwrap().is_infinite());
        assert!((Reply::Double(2.0).as_double().unwrap() - 2.0).abs() < f64::EPSILON);
        assert!((Reply::Int(3).as_double().unwrap() - 3.0).abs() < f64::EPSILON);
        assert_eq!(Reply::Nil.as_opt_double().unwrap(), None);
        assert!(Reply::Array(vec![]).as_double().is_err());
    }

    #[test]
    fn booleans_and_ok() {
        assert!(Reply::Int(1).as_bool().unwrap());
        assert!(!Reply::Boolean(false).as_bool().unwrap());
        assert!(Reply::Int(2).as_bool().is_err());
        Reply::Simple("OK".into()).expect_ok().unwrap();
        assert_eq!(
            Reply::Nil.expect_ok().unwrap_err().message(),
            "expected an OK reply, got nil"
        );
    }

    #[test]
    fn strings() {
        assert_eq!(bulk("v").into_bytes().unwrap(), b"v");
        assert_eq!(Reply::Simple("OK".into()).into_string().unwrap(), "OK");
        assert_eq!(Reply::Nil.into_opt_bytes().unwrap(), None);
        assert!(Reply::Int(1).into_bytes().is_err());
        let err = Reply::Bulk(vec![0xff]).into_string().unwrap_err();
        assert!(err.message().contains("not UTF-8"));
        let verbatim = Reply::Verbatim {
            format: "txt".into(),
            text: "hi".into(),
        };
        assert_eq!(verbatim.into_string().unwrap(), "hi");
    }

    #[test]
    fn arrays_and_maps() {
        let flat = Reply::Array(vec![bulk("a"), bulk("1"), bulk("b"), bulk("2")]);
        let pairs = flat.into_pairs().unwrap();
        assert_eq!(pairs, [(bulk("a"), bulk("1")), (bulk("b"), bulk("2"))]);
        let map = Reply::Map(vec![(bulk("k"), Reply::Int(1))]);
        assert_eq!(map.into_pairs().unwrap().len(), 1);
        assert!(Reply::Array(vec![Reply::Nil]).into_pairs().is_err());
        assert_eq!(Reply::Set(vec![Reply::Nil]).into_array().unwrap().len(), 1);
        assert_eq!(Reply::Nil.into_opt_array().unwrap(), None);
        assert!(Reply::Int(0).into_array().is_err());
    }

    #[test]
    fn display_is_short() {
        assert_eq!(Reply::Int(5).to_string(), "5");
        let long = Reply::Bulk(vec![b'x'; 100]);
        assert!(long.to_string().ends_with("... (100 bytes)"));
        assert_eq!(
            Reply::Array(vec![Reply::Nil; 2]).to_string(),
            "an array of 2 elements"
        );
        assert_eq!(Reply::Nil.to_string(), "nil");
    }
}
