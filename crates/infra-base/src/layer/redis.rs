//! [`Layered`] as [`RedisCalls`] (and so as a [`RedisPort`](crate::RedisPort)): each method
//! hands its descriptor and its call to the layer.
//!
//! The methods return the layer's future itself: over an adapter that implements
//! [`RedisCalls`], the layers and the adapter's call are one future, which the
//! `RedisPort` blanket impl boxes once.

use std::future::Future;
use std::time::Duration;

use super::{Layer, Layered};
use crate::error::InfraResult;
use crate::redis::{Command, Pipeline, RedisCalls, Reply, SetOptions, ops};
use crate::resilience::Idempotency;

impl<P: RedisCalls + ?Sized, L: Layer> RedisCalls for Layered<P, L> {
    fn ping(&self) -> impl Future<Output = InfraResult<()>> + Send + '_ {
        self.call(&ops::PING, move || self.inner.ping())
    }

    fn get<'a>(
        &'a self,
        key: &'a str,
    ) -> impl Future<Output = InfraResult<Option<Vec<u8>>>> + Send + 'a {
        self.call(&ops::GET, move || self.inner.get(key))
    }

    fn set<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        options: SetOptions,
    ) -> impl Future<Output = InfraResult<bool>> + Send + 'a {
        self.call(&ops::SET, move || self.inner.set(key, value, options))
    }

    fn del<'a>(&'a self, keys: &'a [String]) -> impl Future<Output = InfraResult<u64>> + Send + 'a {
        self.call(&ops::DEL, move || self.inner.del(keys))
    }

    fn exists<'a>(&'a self, key: &'a str) -> impl Future<Output = InfraResult<bool>> + Send + 'a {
        self.call(&ops::EXISTS, move || self.inner.exists(key))
    }

    fn expire<'a>(
        &'a self,
        key: &'a str,
        ttl: Duration,
    ) -> impl Future<Output = InfraResult<bool>> + Send + 'a {
        self.call(&ops::EXPIRE, move || self.inner.expire(key, ttl))
    }

    fn incr_by<'a>(
        &'a self,
        key: &'a str,
        delta: i64,
        ttl_on_create: Option<Duration>,
    ) -> impl Future<Output = InfraResult<i64>> + Send + 'a {
        self.call(&ops::INCR_BY, move || {
            self.inner.incr_by(key, delta, ttl_on_create)
        })
    }

    fn mget<'a>(
        &'a self,
        keys: &'a [String],
    ) -> impl Future<Output = InfraResult<Vec<Option<Vec<u8>>>>> + Send + 'a {
        self.call(&ops::MGET, move || self.inner.mget(keys))
    }

    fn publish<'a>(
        &'a self,
        channel: &'a str,
        message: &'a [u8],
    ) -> impl Future<Output = InfraResult<u64>> + Send + 'a {
        self.call(&ops::PUBLISH, move || self.inner.publish(channel, message))
    }

    fn command<'a>(
        &'a self,
        command: &'a Command,
        idempotency: Idempotency,
    ) -> impl Future<Output = InfraResult<Reply>> + Send + 'a {
        self.call(ops::command(idempotency), move || {
            self.inner.command(command, idempotency)
        })
    }

    fn pipeline<'a>(
        &'a self,
        pipeline: &'a Pipeline,
    ) -> impl Future<Output = InfraResult<Vec<Reply>>> + Send + 'a {
        self.call(ops::pipeline(pipeline.idempotency()), move || {
            self.inner.pipeline(pipeline)
        })
    }
}
