//! Ports, errors, health and resilience for services that use Redis and Qdrant.
//!
//! `infra-base` is what a service depends on instead of concrete clients:
//!
//! - [`RedisPort`] and [`VectorPort`]: object-safe async traits (`Arc<dyn RedisPort>`),
//!   with typed conveniences in extension traits ([`VectorPortExt`]; for Redis one per
//!   data type, [`RedisPortExt`], [`RedisSetsExt`], [`RedisStreamsExt`], ..., all in
//!   [`redis::prelude`]), and two Redis primitives with written contracts: [`RedisLock`]
//!   and [`RateLimiter`]; [`RedisSubscriber`] for pub/sub, a bounded [`Subscription`]
//!   stream with gap and lag events;
//! - [`InfraError`] and [`ErrorKind`]: one error taxonomy for every adapter;
//! - [`Lifecycle`], [`Component`] and the health model ([`HealthStatus`],
//!   [`ComponentHealth`], [`aggregate`]);
//! - [`BaseService`]: constructor-injected ports with [`BaseService::require_redis`] and
//!   [`BaseService::require_vector`];
//! - [`layer`]: one mechanism for concerns around a port ([`layer::Layer`] over typed
//!   operation descriptors), with the standard stack of tracing, metrics and
//!   [`resilience`] (timeout, retry, circuit breaker);
//! - [`cache`]: `get_or_compute` over a [`RedisPort`] (single flight, stampede lease,
//!   early refresh, negative caching, generation-based invalidation);
//! - [`telemetry`]: the metrics every crate records, declared once.
//!
//! It depends on no Redis, Qdrant or HTTP crate. Features: `mock` adds mockall mocks
//! (`MockRedisPort`, `MockVectorPort`, `MockLifecycle`); `testing` adds the conformance
//! suites and in-memory ports (`testing`).
//!
//! Use it in a service's domain code, which should name ports and never an adapter; in an
//! adapter crate, which implements a port and [`Lifecycle`]; and in tests, through `mock`
//! and `testing`. The composition root (`infra-server`'s `composition` module) builds the
//! adapters and hands their ports to a [`BaseService`]. `docs/architecture.md` describes
//! the ports' contracts and where each concern lives.
//!
//! ```
//! use infra_base::{BaseService, ErrorKind, InfraResult, RedisPortExt, SetOptions};
//!
//! /// Domain code: depends on the port, not on an adapter.
//! async fn remember(service: &BaseService, user: &str) -> InfraResult<()> {
//!     let redis = service.require_redis()?; // NotConfigured (HTTP 503) without Redis
//!     redis.set_json(&format!("seen:{user}"), &true, SetOptions::default()).await?;
//!     Ok(())
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
//! // A service given no Redis port: the call fails with a clear, typed error.
//! let service = BaseService::new("demo");
//! let err = remember(&service, "alice").await.unwrap_err();
//! assert_eq!(err.kind(), ErrorKind::NotConfigured);
//! assert!(!err.kind().is_transient()); // never retried
//! # });
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod cache;
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
    Command, LockGuard, LockOptions, Pipeline, REDIS_BACKEND, RateLimit, RateLimitDecision,
    RateLimiter, RedisHashesExt, RedisKeysExt, RedisListsExt, RedisLock, RedisPort, RedisPortExt,
    RedisSetsExt, RedisSortedSetsExt, RedisStreamsExt, RedisStringsExt, RedisSubscriber, Reply,
    Script, SetCondition, SetOptions, SubscribeOptions, Subscription, Topics,
};
pub use service::BaseService;
pub use vector::{
    AnyValues, CollectionInfo, CollectionName, CollectionSpec, Condition, CountRequest,
    DatetimeRange, Distance, EnsureOutcome, FacetHit, FacetRequest, FacetValue, FieldIndex, Filter,
    Fusion, GeoPoint, GroupId, GroupsRequest, HnswParams, LookupLocation, MatchValue, MinShould,
    Payload, PayloadIndex, PayloadSelector, PayloadUpdate, Point, PointGroup, PointId,
    PointSelector, PointVectors, Prefetch, Quantization, Query, QueryRequest, Range, Recommend,
    RecommendStrategy, Record, ScoredPoint, ScrollPage, ScrollRequest, SearchQuery, SparseParams,
    SparseVector, TextTokenizer, UNNAMED_VECTOR, VECTOR_BACKEND, ValuesCount, Vector, VectorInput,
    VectorParams, VectorPort, VectorPortExt, VectorSchema, Vectors, WithLookup, WriteOptions,
    WriteOrdering,
};

#[cfg(feature = "mock")]
pub use lifecycle::MockLifecycle;
#[cfg(feature = "mock")]
pub use redis::MockRedisPort;
#[cfg(feature = "mock")]
pub use redis::MockRedisSubscriber;
#[cfg(feature = "mock")]
pub use vector::MockVectorPort;

/// Compiles the README's examples as doctests, so the quick start cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
