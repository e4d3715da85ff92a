//! [`RedisCalls`]: the port's methods as plain futures, for adapters and layers.
//!
//! [`RedisPort`] is an object-safe `#[async_trait]` trait, so every call through it returns
//! a boxed future: one allocation per call, which services pay once, at the
//! `Arc<dyn RedisPort>` they hold. An adapter that implemented `RedisPort` itself would be
//! boxed a second time inside [`Layered`](crate::layer::Layered) (the layer's future
//! awaiting the adapter's box). An adapter implements `RedisCalls` instead: it is a
//! `RedisPort` through the blanket impl below, and `Layered` over it builds one future for
//! the layers and the adapter's call together, boxed once.
//!
//! A fake or a mock may implement `RedisPort` directly; `Layered` takes it as
//! `Arc<dyn RedisPort>` (which is `RedisCalls` too, forwarding to its boxed futures).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use super::{Command, Pipeline, RedisPort, Reply, SetOptions};
use crate::error::InfraResult;
use crate::resilience::Idempotency;

/// The calls of [`RedisPort`] with futures that are not boxed: what an adapter implements.
///
/// Every `RedisCalls` type is a [`RedisPort`] (each call boxed once), and
/// [`Layered`](crate::layer::Layered) layers any `RedisCalls` type, so an adapter wrapped in
/// the standard layers costs one allocation per call, not two. Each method keeps the
/// contract of the [`RedisPort`] method of the same name.
///
/// ```
/// use std::time::Duration;
/// use infra_base::redis::{Command, Pipeline, RedisCalls, Reply};
/// use infra_base::resilience::Idempotency;
/// use infra_base::{ErrorKind, InfraError, InfraResult, RedisPort, SetOptions};
///
/// /// A store that holds nothing: every key is missing, every write is refused.
/// struct Empty;
///
/// fn refused(operation: &'static str) -> InfraError {
///     InfraError::new(ErrorKind::InvalidInput, "redis", operation, "this store is read-only")
/// }
///
/// impl RedisCalls for Empty {
///     async fn ping(&self) -> InfraResult<()> { Ok(()) }
///     async fn get(&self, _key: &str) -> InfraResult<Option<Vec<u8>>> { Ok(None) }
///     async fn set(&self, _: &str, _: &[u8], _: SetOptions) -> InfraResult<bool> {
///         Err(refused("set"))
///     }
///     async fn del(&self, _keys: &[String]) -> InfraResult<u64> { Ok(0) }
///     async fn exists(&self, _key: &str) -> InfraResult<bool> { Ok(false) }
///     async fn expire(&self, _: &str, _: Duration) -> InfraResult<bool> { Ok(false) }
///     async fn incr_by(&self, _: &str, _: i64, _: Option<Duration>) -> InfraResult<i64> {
///         Err(refused("incr_by"))
///     }
///     async fn mget(&self, keys: &[String]) -> InfraResult<Vec<Option<Vec<u8>>>> {
///         Ok(vec![None; keys.len()])
///     }
///     async fn publish(&self, _: &str, _: &[u8]) -> InfraResult<u64> { Ok(0) }
///     async fn command(&self, _: &Command, _: Idempotency) -> InfraResult<Reply> {
///         Err(refused("command"))
///     }
///     async fn pipeline(&self, _: &Pipeline) -> InfraResult<Vec<Reply>> {
///         Err(refused("pipeline"))
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let port: &dyn RedisPort = &Empty; // a RedisPort through the blanket impl
/// assert_eq!(port.get("k").await.unwrap(), None);
/// # });
/// ```
pub trait RedisCalls: Send + Sync + 'static {
    /// As [`RedisPort::ping`].
    fn ping(&self) -> impl Future<Output = InfraResult<()>> + Send + '_;

    /// As [`RedisPort::get`].
    fn get<'a>(
        &'a self,
        key: &'a str,
    ) -> impl Future<Output = InfraResult<Option<Vec<u8>>>> + Send + 'a;

    /// As [`RedisPort::set`].
    fn set<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        options: SetOptions,
    ) -> impl Future<Output = InfraResult<bool>> + Send + 'a;

    /// As [`RedisPort::del`].
    fn del<'a>(&'a self, keys: &'a [String]) -> impl Future<Output = InfraResult<u64>> + Send + 'a;

    /// As [`RedisPort::exists`].
    fn exists<'a>(&'a self, key: &'a str) -> impl Future<Output = InfraResult<bool>> + Send + 'a;

    /// As [`RedisPort::expire`].
    fn expire<'a>(
        &'a self,
        key: &'a str,
        ttl: Duration,
    ) -> impl Future<Output = InfraResult<bool>> + Send + 'a;

    /// As [`RedisPort::incr_by`].
    fn incr_by<'a>(
        &'a self,
        key: &'a str,
        delta: i64,
        ttl_on_create: Option<Duration>,
    ) -> impl Future<Output = InfraResult<i64>> + Send + 'a;

    /// As [`RedisPort::mget`].
    fn mget<'a>(
        &'a self,
        keys: &'a [String],
    ) -> impl Future<Output = InfraResult<Vec<Option<Vec<u8>>>>> + Send + 'a;

    /// As [`RedisPort::publish`].
    fn publish<'a>(
        &'a self,
        channel: &'a str,
        message: &'a [u8],
    ) -> impl Future<Output = InfraResult<u64>> + Send + 'a;

    /// As [`RedisPort::command`].
    fn command<'a>(
        &'a self,
        command: &'a Command,
        idempotency: Idempotency,
    ) -> impl Future<Output = InfraResult<Reply>> + Send + 'a;

    /// As [`RedisPort::pipeline`].
    fn pipeline<'a>(
        &'a self,
        pipeline: &'a Pipeline,
    ) -> impl Future<Output = InfraResult<Vec<Reply>>> + Send + 'a;
}

/// The future a [`RedisPort`] method returns (`#[async_trait]`'s shape).
pub(crate) type Call<'a, T> = Pin<Box<dyn Future<Output = InfraResult<T>> + Send + 'a>>;

/// Every [`RedisCalls`] type is a [`RedisPort`]: each call's future is boxed, once.
///
/// The methods box the future themselves instead of being `#[async_trait]` `async fn`s,
/// which would wrap it in one more state machine that only forwards. Their signatures are
/// the ones `#[async_trait]` gives the trait's methods.
impl<T: RedisCalls> RedisPort for T {
    fn ping<'s, 'f>(&'s self) -> Call<'f, ()>
    where
        's: 'f,
        Self: 'f,
    {
        Box::pin(RedisCalls::ping(self))
    }

    fn get<'s, 'k, 'f>(&'s self, key: &'k str) -> Call<'f, Option<Vec<u8>>>
    where
        's: 'f,
        'k: 'f,
        Self: 'f,
    {
        Box::pin(RedisCalls::get(self, key))
    }

    fn set<'s, 'k, 'v, 'f>(
        &'s self,
        key: &'k str,
        value: &'v [u8],
        options: SetOptions,
    ) -> Call<'f, bool>
    where
        's: 'f,
        'k: 'f,
        'v: 'f,
        Self: 'f,
    {
        Box::pin(RedisCalls::set(self, key, value, options))
    }

    fn del<'s, 'k, 'f>(&'s self, keys: &'k [String]) -> Call<'f, u64>
    where
        's: 'f,
        'k: 'f,
        Self: 'f,
    {
        Box::pin(RedisCalls::del(self, keys))
    }

    fn exists<'s, 'k, 'f>(&'s self, key: &'k str) -> Call<'f, bool>
    where
        's: 'f,
        'k: 'f,
        Self: 'f,
    {
        Box::pin(RedisCalls::exists(self, key))
    }

    fn expire<'s, 'k, 'f>(&'s self, key: &'k str, ttl: Duration) -> Call<'f, bool>
    where
        's: 'f,
        'k: 'f,
        Self: 'f,
    {
        Box::pin(RedisCalls::expire(self, key, ttl))
    }

    fn incr_by<'s, 'k, 'f>(
        &'s self,
        key: &'k str,
        delta: i64,
        ttl_on_create: Option<Duration>,
    ) -> Call<'f, i64>
    where
        's: 'f,
        'k: 'f,
        Self: 'f,
    {
        Box::pin(RedisCalls::incr_by(self, key, delta, ttl_on_create))
    }

    fn mget<'s, 'k, 'f>(&'s self, keys: &'k [String]) -> Call<'f, Vec<Option<Vec<u8>>>>
    where
        's: 'f,
        'k: 'f,
        Self: 'f,
    {
        Box::pin(RedisCalls::mget(self, keys))
    }

    fn publish<'s, 'c, 'm, 'f>(&'s self, channel: &'c str, message: &'m [u8]) -> Call<'f, u64>
    where
        's: 'f,
        'c: 'f,
        'm: 'f,
        Self: 'f,
    {
        Box::pin(RedisCalls::publish(self, channel, message))
    }

    fn command<'s, 'c, 'f>(
        &'s self,
        command: &'c Command,
        idempotency: Idempotency,
    ) -> Call<'f, Reply>
    where
        's: 'f,
        'c: 'f,
        Self: 'f,
    {
        Box::pin(RedisCalls::command(self, command, idempotency))
    }

    fn pipeline<'s, 'p, 'f>(&'s self, pipeline: &'p Pipeline) -> Call<'f, Vec<Reply>>
    where
        's: 'f,
        'p: 'f,
        Self: 'f,
    {
        Box::pin(RedisCalls::pipeline(self, pipeline))
    }
}

/// Any port as [`RedisCalls`] (a fake, a mock, a port already layered): its calls are its
/// boxed futures, so [`Layered`](crate::layer::Layered) takes any `Arc<dyn RedisPort>`.
impl RedisCalls for dyn RedisPort {
    fn ping(&self) -> impl Future<Output = InfraResult<()>> + Send + '_ {
        RedisPort::ping(self)
    }

    fn get<'a>(
        &'a self,
        key: &'a str,
    ) -> impl Future<Output = InfraResult<Option<Vec<u8>>>> + Send + 'a {
        RedisPort::get(self, key)
    }

    fn set<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        options: SetOptions,
    ) -> impl Future<Output = InfraResult<bool>> + Send + 'a {
        RedisPort::set(self, key, value, options)
    }

    fn del<'a>(&'a self, keys: &'a [String]) -> impl Future<Output = InfraResult<u64>> + Send + 'a {
        RedisPort::del(self, keys)
    }

    fn exists<'a>(&'a self, key: &'a str) -> impl Future<Output = InfraResult<bool>> + Send + 'a {
        RedisPort::exists(self, key)
    }

    fn expire<'a>(
        &'a self,
        key: &'a str,
        ttl: Duration,
    ) -> impl Future<Output = InfraResult<bool>> + Send + 'a {
        RedisPort::expire(self, key, ttl)
    }

    fn incr_by<'a>(
        &'a self,
        key: &'a str,
        delta: i64,
        ttl_on_create: Option<Duration>,
    ) -> impl Future<Output = InfraResult<i64>> + Send + 'a {
        RedisPort::incr_by(self, key, delta, ttl_on_create)
    }

    fn mget<'a>(
        &'a self,
        keys: &'a [String],
    ) -> impl Future<Output = InfraResult<Vec<Option<Vec<u8>>>>> + Send + 'a {
        RedisPort::mget(self, keys)
    }

    fn publish<'a>(
        &'a self,
        channel: &'a str,
        message: &'a [u8],
    ) -> impl Future<Output = InfraResult<u64>> + Send + 'a {
        RedisPort::publish(self, channel, message)
    }

    fn command<'a>(
        &'a self,
        command: &'a Command,
        idempotency: Idempotency,
    ) -> impl Future<Output = InfraResult<Reply>> + Send + 'a {
        RedisPort::command(self, command, idempotency)
    }

    fn pipeline<'a>(
        &'a self,
        pipeline: &'a Pipeline,
    ) -> impl Future<Output = InfraResult<Vec<Reply>>> + Send + 'a {
        RedisPort::pipeline(self, pipeline)
    }
}
