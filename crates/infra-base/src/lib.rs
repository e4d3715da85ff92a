//! Ports, errors, health and resilience for services that use Redis and Qdrant.
//!
//! `infra-base` is what a service depends on instead of concrete clients:
//!
//! - [`RedisPort`] and [`VectorPort`]: object-safe async traits (`Arc<dyn RedisPort>`),
//!   with typed conveniences in [`RedisPortExt`] and [`VectorPortExt`];
//! - [`InfraError`] and [`ErrorKind`]: one error taxonomy for every adapter;
//! - [`Lifecycle`], [`Component`] and the health model ([`HealthStatus`],
//!   [`ComponentHealth`], [`aggregate`]);
//! - [`BaseService`]: constructor-injected ports with [`BaseService::require_redis`] and
//!   [`BaseService::require_vector`];
//! - [`layer`]: one mechanism for concerns around a port ([`layer::Layer`] over typed
//!   operation descriptors), with the standard stack of tracing, metrics and
//!   [`resilience`] (timeout, retry, circuit breaker);
//! - [`telemetry`]: the metrics every crate records, declared once.
//!
//! It depends on no Redis, Qdrant or HTTP crate. Features: `mock` adds mockall mocks
//! (`MockRedisPort`, `MockVectorPort`, `MockLifecycle`); `testing` adds the conformance
//! suites and in-memory ports (`testing`).

pub mod error;
pub mod health;
pub mod layer;
pub mod lifecycle;
pub mod redis;
pub mod resilience;
pub mod service;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
pub mod vector;

pub use error::{ErrorKind, InfraError, InfraResult};
pub use health::{ComponentHealth, ComponentReport, HealthStatus, aggregate};
pub use lifecycle::{Built, Component, Components, Lifecycle};
pub use redis::{
    Command, Pipeline, REDIS_BACKEND, RedisPort, RedisPortExt, Reply, Script, SetCondition,
    SetOptions,
};
pub use service::BaseService;
pub use vector::{
    CollectionInfo, CollectionSpec, Condition, Distance, EnsureOutcome, Filter, MatchValue,
    Payload, Point, PointId, Range, Record, ScoredPoint, SearchQuery, VECTOR_BACKEND, VectorPort,
    VectorPortExt,
};

#[cfg(feature = "mock")]
pub use lifecycle::MockLifecycle;
#[cfg(feature = "mock")]
pub use redis::MockRedisPort;
#[cfg(feature = "mock")]
pub use vector::MockVectorPort;

/// Compiles the README's examples as doctests, so the quick start cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
