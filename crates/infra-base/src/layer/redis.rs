//! [`Layered`] as a [`RedisPort`]: each method hands its descriptor and its call to the layer.

use std::time::Duration;

use async_trait::async_trait;

use super::{Layer, Layered};
use crate::error::InfraResult;
use crate::redis::{Command, Pipeline, RedisPort, Reply, SetOptions, ops};
use crate::resilience::Idempotency;

#[async_trait]
impl<P: RedisPort + ?Sized, L: Layer> RedisPort for Layered<P, L> {
    async fn ping(&self) -> InfraResult<()> {
        self.call(&ops::PING, || self.inner.ping()).await
    }

    async fn get(&self, key: &str) -> InfraResult<Option<Vec<u8>>> {
        self.call(&ops::GET, || self.inner.get(key)).await
    }

    async fn set(&self, key: &str, value: &[u8], options: SetOptions) -> InfraResult<bool> {
        self.call(&ops::SET, || self.inner.set(key, value, options))
            .await
    }

    async fn del(&self, keys: &[String]) -> InfraResult<u64> {
        self.call(&ops::DEL, || self.inner.del(keys)).await
    }

    async fn exists(&self, key: &str) -> InfraResult<bool> {
        self.call(&ops::EXISTS, || self.inner.exists(key)).await
    }

    async fn expire(&self, key: &str, ttl: Duration) -> InfraResult<bool> {
        self.call(&ops::EXPIRE, || self.inner.expire(key, ttl))
            .await
    }

    async fn incr_by(
        &self,
        key: &str,
        delta: i64,
        ttl_on_create: Option<Duration>,
    ) -> InfraResult<i64> {
        self.call(&ops::INCR_BY, || {
            self.inner.incr_by(key, delta, ttl_on_create)
        })
        .await
    }

    async fn mget(&self, keys: &[String]) -> InfraResult<Vec<Option<Vec<u8>>>> {
        self.call(&ops::MGET, || self.inner.mget(keys)).await
    }

    async fn publish(&self, channel: &str, message: &[u8]) -> InfraResult<u64> {
        self.call(&ops::PUBLISH, || self.inner.publish(channel, message))
            .await
    }

    async fn command(&self, command: &Command, idempotency: Idempotency) -> InfraResult<Reply> {
        self.call(ops::command(idempotency), || {
            self.inner.command(command, idempotency)
        })
        .await
    }

    async fn pipeline(&self, pipeline: &Pipeline) -> InfraResult<Vec<Reply>> {
        self.call(ops::pipeline(pipeline.idempotency()), || {
            self.inner.pipeline(pipeline)
        })
        .await
    }
}
