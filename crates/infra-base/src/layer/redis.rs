//! [`Layered`] as a [`RedisPort`]: each method hands its descriptor and its call to the layer.
//!
//! The methods box the layer's future themselves instead of being `async fn`s: an
//! `async fn` here would wrap every call in one more state machine (built, moved into the
//! box and polled through) that only forwards. Their signatures are the ones
//! `#[async_trait]` gives the trait's methods.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use super::{Layer, Layered};
use crate::error::InfraResult;
use crate::redis::{Command, Pipeline, RedisPort, Reply, SetOptions, ops};
use crate::resilience::Idempotency;

/// The future a port method returns (`#[async_trait]`'s shape).
type Call<'a, T> = Pin<Box<dyn Future<Output = InfraResult<T>> + Send + 'a>>;

impl<P: RedisPort + ?Sized, L: Layer> RedisPort for Layered<P, L> {
    fn ping<'s, 'f>(&'s self) -> Call<'f, ()>
    where
        's: 'f,
        Self: 'f,
    {
        Box::pin(self.call(&ops::PING, move || self.inner.ping()))
    }

    fn get<'s, 'k, 'f>(&'s self, key: &'k str) -> Call<'f, Option<Vec<u8>>>
    where
        's: 'f,
        'k: 'f,
        Self: 'f,
    {
        Box::pin(self.call(&ops::GET, move || self.inner.get(key)))
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
        Box::pin(self.call(&ops::SET, move || self.inner.set(key, value, options)))
    }

    fn del<'s, 'k, 'f>(&'s self, keys: &'k [String]) -> Call<'f, u64>
    where
        's: 'f,
        'k: 'f,
        Self: 'f,
    {
        Box::pin(self.call(&ops::DEL, move || self.inner.del(keys)))
    }

    fn exists<'s, 'k, 'f>(&'s self, key: &'k str) -> Call<'f, bool>
    where
        's: 'f,
        'k: 'f,
        Self: 'f,
    {
        Box::pin(self.call(&ops::EXISTS, move || self.inner.exists(key)))
    }

    fn expire<'s, 'k, 'f>(&'s self, key: &'k str, ttl: Duration) -> Call<'f, bool>
    where
        's: 'f,
        'k: 'f,
        Self: 'f,
    {
        Box::pin(self.call(&ops::EXPIRE, move || self.inner.expire(key, ttl)))
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
        Box::pin(self.call(&ops::INCR_BY, move || {
            self.inner.incr_by(key, delta, ttl_on_create)
        }))
    }

    fn mget<'s, 'k, 'f>(&'s self, keys: &'k [String]) -> Call<'f, Vec<Option<Vec<u8>>>>
    where
        's: 'f,
        'k: 'f,
        Self: 'f,
    {
        Box::pin(self.call(&ops::MGET, move || self.inner.mget(keys)))
    }

    fn publish<'s, 'c, 'm, 'f>(&'s self, channel: &'c str, message: &'m [u8]) -> Call<'f, u64>
    where
        's: 'f,
        'c: 'f,
        'm: 'f,
        Self: 'f,
    {
        Box::pin(self.call(&ops::PUBLISH, move || self.inner.publish(channel, message)))
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
        Box::pin(self.call(ops::command(idempotency), move || {
            self.inner.command(command, idempotency)
        }))
    }

    fn pipeline<'s, 'p, 'f>(&'s self, pipeline: &'p Pipeline) -> Call<'f, Vec<Reply>>
    where
        's: 'f,
        'p: 'f,
        Self: 'f,
    {
        Box::pin(self.call(ops::pipeline(pipeline.idempotency()), move || {
            self.inner.pipeline(pipeline)
        }))
    }
}
