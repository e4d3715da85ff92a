//! How cached values become bytes: the [`Codec`] trait and its default, [`Json`].

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Turns values of `T` into the bytes stored in Redis and back.
///
/// A codec's errors are short descriptions (`"expected a list"`), logged at `debug` and
/// counted; they never fail a caller: a value that cannot be encoded is not stored, and
/// bytes that cannot be decoded (another format, another version of `T`) are a miss and
/// are overwritten by the next computation.
///
/// ```
/// use infra_base::cache::Codec;
///
/// /// UTF-8 text as is.
/// struct Text;
///
/// impl Codec<String> for Text {
///     fn encode(&self, value: &String) -> Result<Vec<u8>, String> {
///         Ok(value.as_bytes().to_vec())
///     }
///     fn decode(&self, bytes: &[u8]) -> Result<String, String> {
///         String::from_utf8(bytes.to_vec()).map_err(|e| e.to_string())
///     }
/// }
///
/// assert_eq!(Text.decode(&Text.encode(&"hi".to_owned()).unwrap()).unwrap(), "hi");
/// ```
pub trait Codec<T>: Send + Sync + 'static {
    /// The bytes of `value`.
    fn encode(&self, value: &T) -> Result<Vec<u8>, String>;
    /// The value of `bytes`, as written by [`encode`](Self::encode).
    fn decode(&self, bytes: &[u8]) -> Result<T, String>;
}

/// JSON through serde (the default codec).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Json;

impl<T: Serialize + DeserializeOwned> Codec<T> for Json {
    fn encode(&self, value: &T) -> Result<Vec<u8>, String> {
        serde_json::to_vec(value).map_err(|e| e.to_string())
    }

    fn decode(&self, bytes: &[u8]) -> Result<T, String> {
        serde_json::from_slice(bytes).map_err(|e| e.to_string())
    }
}
