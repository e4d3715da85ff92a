//! [`VectorPort`](infra_base::VectorPort) over a remote Qdrant server, through gRPC.
//!
//! [`QdrantAdapter`] implements the port and its [`Lifecycle`](infra_base::Lifecycle);
//! [`build`] builds it from [`QdrantSettings`](infra_config::QdrantSettings) once per
//! process ([`RemoteQdrant`]), with the port in the standard layers (tracing, metrics,
//! timeout, retries, circuit breaker from the `retry`, `circuit` and `timeout` settings)
//! and the `"qdrant"` component.
//!
//! Use it at a service's composition root when the settings select a remote Qdrant
//! (`SOCIAL_QDRANT__MODE=remote`); the embedded mode is `infra-qdrant-edge`. Services
//! depend on `infra-base`'s `VectorPort`, never on this crate.
//!
//! ```no_run
//! use infra_base::{CollectionSpec, Components, Distance, SearchQuery, VectorPort};
//! use infra_config::SettingsLoader;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let settings = SettingsLoader::from_pairs([
//!     ("SOCIAL_QDRANT__MODE", "remote"),
//!     ("SOCIAL_QDRANT__URL", "http://127.0.0.1:6334"),
//! ])
//! .load()?;
//!
//! // Once per process, at the composition root (inside a tokio runtime).
//! let qdrant = infra_qdrant::build(&settings.qdrant)?;
//! let components = Components::new().with(qdrant.component());
//! components.init_all().await?; // HealthCheck; logs the server's version
//!
//! // Services only see `Arc<dyn VectorPort>`, in its layers (tracing, metrics, timeout,
//! // retries, breaker).
//! let vectors = qdrant.port();
//! vectors.ensure_collection(&CollectionSpec::new("items", 3, Distance::Cosine)).await?;
//! let hits = vectors.search("items", &SearchQuery::new(vec![0.1, 0.2, 0.3], 5)).await?;
//! println!("{} hits", hits.len());
//!
//! components.close_all().await;
//! # Ok(()) }
//! ```
//!
//! # Settings
//!
//! | setting                          | effect                                                    |
//! |----------------------------------|-----------------------------------------------------------|
//! | `url` or `host`/`port`           | the gRPC endpoint ([`QdrantSettings::endpoint`](infra_config::QdrantSettings::endpoint)) |
//! | `api_key`                        | sent as the `api-key` header of every request (marked sensitive) |
//! | `tls.enabled` / `https://`       | TLS (rustls), server verified against the platform's roots |
//! | `timeout`                        | deadline of every request: enforced here and sent as `grpc-timeout` |
//! | `connect_timeout`                | time to establish a connection                            |
//! | `keep_alive`                     | HTTP/2 PING interval, also while idle                     |
//! | `compression`                    | gzip of requests and responses                            |
//! | `pool_size`                      | number of HTTP/2 connections, used round-robin            |
//!
//! **TLS with a private CA**: like qdrant-client, which offers no CA option, the adapter
//! trusts the platform's roots as read by rustls-native-certs: the system store, or the PEM
//! bundle in `SSL_CERT_FILE` (or the directories in `SSL_CERT_DIR`). Put the CA there, or
//! build the adapter with [`QdrantAdapterBuilder::ca_certificate_pem`], which then trusts
//! only that CA.
//!
//! # Why qdrant-client's generated clients rather than its `Qdrant` wrapper
//!
//! The adapter sends qdrant-client's protobuf messages through its generated tonic clients
//! (`points_client`, `collections_client`, `qdrant_client`) over channels it configures
//! itself. Its `Qdrant` wrapper (qdrant-client 1.20) would lose what the settings ask for:
//!
//! - it has no keep-alive interval (only `keep_alive_while_idle`, which sends no PING
//!   without an interval);
//! - it turns a refused connection into `INTERNAL` with the URL in the message, and retries
//!   every `INTERNAL`/`UNAVAILABLE`/`CANCELLED`/`UNKNOWN` answer once on a new connection,
//!   so a hung server costs twice the timeout and retries happen under our own policy;
//! - its version check prints to stdout (here: [`Lifecycle::init`](infra_base::Lifecycle::init)
//!   logs the server version through `tracing` and warns when it is more than one minor
//!   version away from [`CLIENT_VERSION`]);
//! - its API-key interceptor puts a malformed key into an error message.
//!
//! # Behaviour
//!
//! - Names, vectors (names, kinds, dimension and finiteness, sparse vectors' indices),
//!   limits and thresholds are checked before anything is sent, with infra-base's
//!   validators. The collection's vectors come from a per-collection cache filled by
//!   `ensure_collection`/`collection_info`, refreshed from the server when it refuses a
//!   vector (the collection may have been re-created elsewhere) and dropped on
//!   `delete_collection` or a `NotFound`.
//! - Vectors map one-to-one onto Qdrant's: the unnamed vector is `VectorsConfig::Params`
//!   and a point's single vector, named dense vectors `ParamsMap` and named vectors (the
//!   unnamed one named `""` beside sparse ones), sparse vectors `sparse_vectors_config`
//!   (modifier `Idf` when declared). A spec's HNSW parameters, quantization (scalar int8,
//!   binary), on-disk flags and sharding go into `CreateCollection` through the fields
//!   Qdrant 1.18 reads (`always_ram`, `on_disk`, `on_disk_payload`, deprecated in
//!   qdrant-client 1.20 for `memory` fields an older server would ignore). Drift compares
//!   the declared vectors only (see `CollectionSpec`); `collection_info` reports every
//!   dense vector's dimension and distance and every sparse vector's modifier.
//! - `upsert`, `update_vectors`, `delete_points` and `update_payload` wait for the write (`wait: true`);
//!   `get` answers in request order; `count` is exact; search scores are Qdrant's; `scroll`
//!   passes Qdrant's `next_page_offset` through (and `order_by`, which Qdrant serves from a
//!   range index); `list_collections` is sorted.
//! - Payload indexes: `ensure_collection` reads the collection's `payload_schema`, refuses
//!   drift on a declared field (`Conflict`, nothing created), then creates each missing
//!   index with `CreateFieldIndex` (`wait: true`); `collection_info` reports the
//!   `payload_schema` (types the port does not model, such as geo, omitted).
//! - gRPC methods used: `qdrant.Qdrant/HealthCheck`, `qdrant.Collections/{Get, Create,
//!   Delete}`, `qdrant.Points/{Upsert, UpdateVectors, Get, Delete, Query, Count,
//!   CreateFieldIndex}` (`Query` with a `nearest` dense or sparse vector and `using`:
//!   `Search` is deprecated).
//! - Errors: one mapping from `tonic::Status` (see `error.rs`), client-safe messages, the
//!   status kept as the source.

mod adapter;
mod connection;
mod convert;
mod error;
mod factory;
mod index;
mod query;
mod raw;

pub use adapter::{CLIENT_VERSION, QdrantAdapter, QdrantAdapterBuilder, ServerInfo};
pub use factory::{RemoteQdrant, build, from_adapter};
pub use raw::RawClients;
