//! Typed conveniences over [`RedisPort`], available on every port (including `dyn RedisPort`).

use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{REDIS_BACKEND, RedisPort, SetOptions};
use crate::error::{ErrorKind, InfraError, InfraResult};

/// JSON and string helpers for any [`RedisPort`].
///
/// ```
/// # #[cfg(feature = "testing")]
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use infra_base::{RedisPortExt, SetOptions};
/// use infra_base::testing::MemoryRedis;
///
/// let redis = MemoryRedis::new();
/// redis.set_json("user:1", &vec![1, 2, 3], SetOptions::default()).await?;
/// let back: Option<Vec<u32>> = redis.get_json("user:1").await?;
/// assert_eq!(back, Some(vec![1, 2, 3]));
/// # Ok::<(), infra_base::InfraError>(())
/// # }).unwrap();
/// ```
#[async_trait]
pub trait RedisPortExt: RedisPort {
    /// Reads a key holding JSON. A value that is not valid JSON for `T` is
    /// [`ErrorKind::InvalidInput`], so a cache can treat it as a miss.
    async fn get_json<T: DeserializeOwned>(&self, key: &str) -> InfraResult<Option<T>> {
        match self.get(key).await? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                InfraError::new(
                    ErrorKind::InvalidInput,
                    REDIS_BACKEND,
                    "get_json",
                    "stored value is not the expected JSON",
                )
                .with_source(e)
            }),
        }
    }

    /// Writes `value` as JSON.
    async fn set_json<T: Serialize + Sync>(
        &self,
        key: &str,
        value: &T,
        options: SetOptions,
    ) -> InfraResult<bool> {
        let bytes = serde_json::to_vec(value).map_err(|e| {
            InfraError::new(
                ErrorKind::InvalidInput,
                REDIS_BACKEND,
                "set_json",
                "value cannot be serialized as JSON",
            )
            .with_source(e)
        })?;
        self.set(key, &bytes, options).await
    }

    /// Reads a key holding UTF-8 text.
    async fn get_string(&self, key: &str) -> InfraResult<Option<String>> {
        match self.get(key).await? {
            None => Ok(None),
            Some(bytes) => String::from_utf8(bytes).map(Some).map_err(|e| {
                InfraError::new(
                    ErrorKind::InvalidInput,
                    REDIS_BACKEND,
                    "get_string",
                    "stored value is not UTF-8 text",
                )
                .with_source(e)
            }),
        }
    }

    /// Deletes a single key; `true` when it existed.
    async fn del_one(&self, key: &str) -> InfraResult<bool> {
        Ok(self.del(&[key.to_owned()]).await? > 0)
    }
}

impl<P: RedisPort + ?Sized> RedisPortExt for P {}
