//! [`QdrantAdapter`]: the [`VectorPort`] and [`Lifecycle`] of a remote Qdrant server.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use async_trait::async_trait;
use infra_base::vector::{Alias, AliasChange, check_batch, validate_collection_name};
use infra_base::{
    CollectionInfo, CollectionSpec, ComponentHealth, CountRequest, EnsureOutcome, ErrorKind,
    FacetHit, FacetRequest, FieldIndex, GroupsRequest, InfraError, InfraResult, Lifecycle,
    PayloadUpdate, Point, PointGroup, PointId, PointSelector, PointVectors, QueryRequest, Record,
    ScoredPoint, ScrollPage, ScrollRequest, SearchQuery, VECTOR_BACKEND, VectorPort, VectorSchema,
    WriteOptions, WriteOrdering,
};
use infra_config::QdrantSettings;
use qdrant_client::qdrant as pb;
use qdrant_client::qdrant::collections_client::CollectionsClient;
use qdrant_client::qdrant::points_client::PointsClient;
use qdrant_client::qdrant::qdrant_client::QdrantClient as ServiceClient;
use tonic::transport::Channel;
use tonic::{Code, Status};

use crate::connection::{self, Connection, RequestOptions};
use crate::convert;
use crate::error::{self, map_status};
use crate::index::Indexes;
use crate::raw::RawClients;

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The Qdrant version qdrant-client's protocol was generated from (the workspace pins
/// qdrant-client 1.20): servers within one minor version of it are supported.
pub const CLIENT_VERSION: (u64, u64) = (1, 20);

/// What the server said about itself in its health check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInfo {
    /// The server's title (`"qdrant - vector search engine"`).
    pub title: String,
    /// Its version (`"1.18.2"`).
    pub version: String,
    /// Its commit, when it reports one.
    pub commit: Option<String>,
}

/// A [`VectorPort`] over a remote Qdrant server, through the gRPC clients that qdrant-client
/// generates (see the crate documentation for why not its `Qdrant` wrapper).
///
/// Create it once per process ([`new`](Self::new) or [`builder`](Self::builder)) and share
/// it (`Arc`); creating it sends nothing, [`init`](Lifecycle::init) checks the server.
/// Every request carries the API key, the settings' timeout (enforced here and sent as the
/// gRPC deadline) and compression; vectors and names are checked before anything is sent.
/// Writes carry the configured write ordering (`SOCIAL_QDRANT__WRITE_ORDERING`) unless the
/// call asks for another ([`VectorPort::upsert_with`]); reads carry the configured read
/// consistency (`SOCIAL_QDRANT__READ_CONSISTENCY`), or none, which Qdrant reads as one
/// replica.
pub struct QdrantAdapter {
    options: RequestOptions,
    /// The ordering of writes that do not ask for one.
    write_ordering: WriteOrdering,
    /// The read consistency of every read; `None` leaves Qdrant's default.
    read_consistency: Option<pb::ReadConsistency>,
    connection: RwLock<Option<Arc<Connection>>>,
    /// The vectors of each collection seen, for the client-side vector checks.
    schemas: Mutex<HashMap<String, Arc<VectorSchema>>>,
    server: Mutex<Option<ServerInfo>>,
}

/// Builds a [`QdrantAdapter`] with options that the settings do not carry.
#[derive(Clone)]
pub struct QdrantAdapterBuilder {
    settings: QdrantSettings,
    ca_pem: Option<Vec<u8>>,
}

impl fmt::Debug for QdrantAdapterBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QdrantAdapterBuilder")
            .field("endpoint", &self.settings.endpoint())
            .field("ca_certificate", &self.ca_pem.is_some())
            .finish_non_exhaustive()
    }
}

impl QdrantAdapterBuilder {
    /// Trusts only this CA (PEM) for the server's certificate, instead of the platform's
    /// roots. `QdrantSettings` has no CA key: without this, a private CA must be in the
    /// system store or in `SSL_CERT_FILE`.
    #[must_use]
    pub fn ca_certificate_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_pem = Some(pem.into());
        self
    }

    /// Builds the adapter: resolves the settings and creates the lazily connecting channels.
    /// Must run within a Tokio runtime; sends nothing.
    pub fn build(self) -> InfraResult<QdrantAdapter> {
        let options = connection::request_options(&self.settings)?;
        let connection = connection::connect(&self.settings, self.ca_pem.as_deref())?;
        tracing::debug!(
            backend = VECTOR_BACKEND,
            endpoint = %options.endpoint,
            pool_size = self.settings.pool_size,
            tls = self.settings.tls_enabled(),
            api_key = options.api_key.is_some(),
            "qdrant client created"
        );
        Ok(QdrantAdapter {
            options,
            write_ordering: convert::configured_ordering(self.settings.write_ordering),
            read_consistency: self
                .settings
                .read_consistency
                .map(convert::read_consistency),
            connection: RwLock::new(Some(Arc::new(connection))),
            schemas: Mutex::default(),
            server: Mutex::default(),
        })
    }
}

impl fmt::Debug for QdrantAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QdrantAdapter")
            .field("endpoint", &self.options.endpoint)
            .field("timeout", &self.options.timeout)
            .field(
                "api_key",
                &self.options.api_key.as_ref().map(|_| "[REDACTED]"),
            )
            .field("compression", &self.options.compression)
            .field("max_message_size", &self.options.max_message_size)
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

impl QdrantAdapter {
    /// The adapter for `settings` (see [`QdrantAdapterBuilder::build`]).
    pub fn new(settings: &QdrantSettings) -> InfraResult<Self> {
        Self::builder(settings).build()
    }

    /// A builder, for options that the settings do not carry (a private CA).
    pub fn builder(settings: &QdrantSettings) -> QdrantAdapterBuilder {
        QdrantAdapterBuilder {
            settings: settings.clone(),
            ca_pem: None,
        }
    }

    /// The gRPC endpoint, `http[s]://host:port` (never with credentials).
    pub fn endpoint(&self) -> &str {
        &self.options.endpoint
    }

    /// What the server reported at the last successful [`init`](Lifecycle::init).
    pub fn server_info(&self) -> Option<ServerInfo> {
        self.server
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Whether [`close`](Lifecycle::close) was called.
    pub fn is_closed(&self) -> bool {
        self.connection
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .is_none()
    }

    fn channel(&self, operation: &'static str) -> InfraResult<Channel> {
        let connection = self
            .connection
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        connection.map(|c| c.channel()).ok_or_else(|| {
            InfraError::new(
                ErrorKind::Unavailable,
                VECTOR_BACKEND,
                operation,
                "the Qdrant client is closed",
            )
        })
    }

    /// The escape hatch: qdrant-client's generated clients on this adapter's channel, for
    /// calls the port does not cover, outside its guarantees (see [`RawClients`]).
    ///
    /// # Errors
    ///
    /// `Unavailable` once the adapter is closed.
    pub fn raw_clients(&self) -> InfraResult<RawClients> {
        Ok(RawClients::new(
            self.channel("raw_clients")?,
            self.options.clone(),
        ))
    }

    /// Every client bounds the messages it sends and receives by `max_message_size`, so a
    /// huge answer is refused (`InvalidInput`, see `map_status`) instead of buffered.
    fn points(&self, operation: &'static str) -> InfraResult<PointsClient<Channel>> {
        Ok(RawClients::new(self.channel(operation)?, self.options.clone()).points())
    }

    fn collections(&self, operation: &'static str) -> InfraResult<CollectionsClient<Channel>> {
        Ok(RawClients::new(self.channel(operation)?, self.options.clone()).collections())
    }

    fn service(&self, operation: &'static str) -> InfraResult<ServiceClient<Channel>> {
        Ok(ServiceClient::new(self.channel(operation)?)
            .max_decoding_message_size(self.options.max_message_size)
            .max_encoding_message_size(self.options.max_message_size))
    }

    /// A request with the API key and the deadline.
    fn request<T>(&self, message: T) -> tonic::Request<T> {
        RawClients::request_with(&self.options, message)
    }

    /// [`request`](Self::request) for a message that carries data (points, ids, a
    /// vector): one larger than `max_message_size` is refused before it is sent, as the
    /// same `InvalidInput` as an answer above the limit (tonic would reset the stream).
    fn checked_request<T: prost::Message>(
        &self,
        operation: &'static str,
        message: T,
    ) -> InfraResult<tonic::Request<T>> {
        let len = message.encoded_len();
        if len > self.options.max_message_size {
            return Err(error::message_too_large(
                operation,
                false,
                len,
                self.options.max_message_size,
            ));
        }
        Ok(self.request(message))
    }

    /// Runs one RPC under the request timeout, keeping the raw status. Boxed: tonic's call
    /// futures are large, and every port method awaits one or more.
    fn raw<'a, T: 'a>(
        &'a self,
        operation: &'static str,
        call: impl Future<Output = Result<tonic::Response<T>, Status>> + Send + 'a,
    ) -> BoxFuture<'a, InfraResult<Result<T, Status>>> {
        Box::pin(async move {
            match tokio::time::timeout(self.options.timeout, call).await {
                Ok(result) => Ok(result.map(tonic::Response::into_inner)),
                Err(_elapsed) => Err(error::timeout(operation, self.options.timeout)),
            }
        })
    }

    /// Runs one RPC under the request timeout and maps its failure.
    fn rpc<'a, T: 'a>(
        &'a self,
        operation: &'static str,
        call: impl Future<Output = Result<tonic::Response<T>, Status>> + Send + 'a,
    ) -> BoxFuture<'a, InfraResult<T>> {
        Box::pin(async move {
            self.raw(operation, call)
                .await?
                .map_err(|status| map_status(operation, status))
                .inspect_err(|err| {
                    tracing::debug!(backend = VECTOR_BACKEND, operation, kind = %err.kind(),
                        error = %err.chain(), "qdrant request failed");
                })
        })
    }

    /// Forgets a collection's vectors when the server says it does not exist.
    /// The ordering a write sends: the call's, else the configured one.
    fn ordering(&self, ordering: Option<WriteOrdering>) -> pb::WriteOrdering {
        convert::write_ordering(ordering.unwrap_or(self.write_ordering))
    }

    fn on_collection<T>(&self, collection: &str, result: InfraResult<T>) -> InfraResult<T> {
        if result
            .as_ref()
            .is_err_and(|err| err.kind() == ErrorKind::NotFound)
        {
            self.forget(collection);
        }
        result
    }

    fn cached_schema(&self, collection: &str) -> Option<Arc<VectorSchema>> {
        self.schemas
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(collection)
            .cloned()
    }

    fn remember(&self, collection: &str, schema: VectorSchema) {
        self.schemas
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(collection.to_owned(), Arc::new(schema));
    }

    fn forget(&self, collection: &str) {
        self.schemas
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(collection);
    }

    async fn health_check(&self, operation: &'static str) -> InfraResult<pb::HealthCheckReply> {
        let mut client = self.service(operation)?;
        self.rpc(
            operation,
            client.health_check(self.request(pb::HealthCheckRequest {})),
        )
        .await
    }

    /// Reads a collection's description from the server, and remembers its vectors.
    async fn describe(&self, name: &str, operation: &'static str) -> InfraResult<CollectionInfo> {
        self.describe_indexed(name, operation)
            .await
            .map(|(info, _)| info)
    }

    /// [`describe`](Self::describe), with every index of the collection's `payload_schema`
    /// (including the types the port does not model, which `CollectionInfo` omits).
    async fn describe_indexed(
        &self,
        name: &str,
        operation: &'static str,
    ) -> InfraResult<(CollectionInfo, Indexes)> {
        let mut client = self.collections(operation)?;
        let message = pb::GetCollectionInfoRequest {
            collection_name: name.to_owned(),
        };
        let result = self
            .rpc(operation, client.get(self.request(message)))
            .await
            .and_then(|reply| {
                let indexes = reply
                    .result
                    .as_ref()
                    .map(|info| Indexes::from_schema(&info.payload_schema))
                    .unwrap_or_default();
                convert::from_collection_info(reply.result, operation)
                    .map(|described| (described, indexes))
            });
        let ((vectors, points_count), indexes) = self.on_collection(name, result)?;
        self.remember(name, vectors.clone());
        let info = CollectionInfo::new(name, vectors, points_count, indexes.modelled.clone());
        Ok((info, indexes))
    }

    /// Checks an existing collection against `spec` (schema, then index drift), then
    /// creates the declared indexes it lacks.
    async fn reuse(
        &self,
        spec: &CollectionSpec,
        existing: &CollectionInfo,
        indexes: &Indexes,
    ) -> InfraResult<EnsureOutcome> {
        spec.check_existing(&existing.vectors)?;
        self.create_indexes(&spec.name, &indexes.missing(spec)?)
            .await?;
        Ok(EnsureOutcome::AlreadyExists)
    }

    /// Creates payload indexes one by one, each waited for (`CreateFieldIndex`,
    /// `wait=true`). After a failure the ones before it exist; the next `ensure_collection`
    /// creates the rest.
    async fn create_indexes(&self, collection: &str, indexes: &[&FieldIndex]) -> InfraResult<()> {
        const OP: &str = "ensure_collection";
        for index in indexes {
            let mut client = self.points(OP)?;
            let message = crate::index::create_request(collection, index);
            self.rpc(OP, client.create_field_index(self.request(message)))
                .await?;
            tracing::info!(backend = VECTOR_BACKEND, collection = %collection,
                field = %index.field, index = %index.index, "payload index created");
        }
        Ok(())
    }

    /// Checks what is about to be sent against the collection's vectors: the cached ones,
    /// else (or when the cached ones refuse it, since the collection may have been
    /// re-created elsewhere) the server's. A missing collection is `NotFound`.
    async fn check_against_schema(
        &self,
        collection: &str,
        operation: &'static str,
        check: impl Fn(&VectorSchema) -> InfraResult<()> + Send,
    ) -> InfraResult<()> {
        if let Some(schema) = self.cached_schema(collection)
            && check(&schema).is_ok()
        {
            return Ok(());
        }
        let info = self.describe(collection, operation).await?;
        check(&info.vectors)
    }

    /// Verifies the server: answers, is Qdrant, and its version (logged; a version the
    /// client does not support is a warning).
    async fn verify(&self) -> InfraResult<ServerInfo> {
        let mut client = self.service("init")?;
        let reply = match self
            .raw(
                "init",
                client.health_check(self.request(pb::HealthCheckRequest {})),
            )
            .await?
        {
            Ok(reply) => reply,
            Err(status) => return Err(init_failure(status)),
        };
        if !reply.title.to_ascii_lowercase().contains("qdrant") {
            return Err(InfraError::new(
                ErrorKind::Internal,
                VECTOR_BACKEND,
                "init",
                "the server answered Qdrant's health check but does not call itself Qdrant",
            ));
        }
        let info = ServerInfo {
            title: reply.title,
            version: reply.version,
            commit: reply.commit,
        };
        match parse_version(&info.version) {
            Some(server) if is_supported(server) => tracing::info!(
                backend = VECTOR_BACKEND,
                endpoint = %self.options.endpoint,
                server_version = %info.version,
                "qdrant server verified"
            ),
            _ => tracing::warn!(
                backend = VECTOR_BACKEND,
                endpoint = %self.options.endpoint,
                server_version = %info.version,
                client_version = %format_args!("{}.{}", CLIENT_VERSION.0, CLIENT_VERSION.1),
                "the qdrant server's version may be incompatible with this client: major \
                 versions should match and minor versions differ by at most one"
            ),
        }
        Ok(info)
    }
}

/// The clear start-up error for a health check that failed with `status`.
///
/// A server that answers without implementing Qdrant's health check (another gRPC
/// service, or an HTTP/2 server such as Qdrant's REST port) or that breaks the HTTP/2
/// protocol is not Qdrant's gRPC endpoint; a server that accepts the connection and drops it
/// without an answer (an HTTP/1.1 server does) may not be either: the message says so.
fn init_failure(status: Status) -> InfraError {
    const HINT: &str = "check that the URL points at Qdrant's gRPC port (6334), not its REST \
                        port (6333) or another service";
    let code = status.code();
    let protocol_error = matches!(code, Code::Internal | Code::Unknown)
        && status.message().to_ascii_lowercase().contains("protocol");
    if code == Code::Unimplemented || protocol_error {
        return InfraError::new(
            ErrorKind::Internal,
            VECTOR_BACKEND,
            "init",
            format!("the server does not speak Qdrant's gRPC API: {HINT}"),
        )
        .with_source(status);
    }
    let connected = matches!(code, Code::Unknown | Code::Internal | Code::Cancelled);
    let err = map_status("init", status);
    let message = if connected && err.kind() == ErrorKind::Unavailable {
        format!(
            "cannot start: the server accepted the connection but closed it without a gRPC \
             answer: {HINT}"
        )
    } else {
        format!("cannot start: {}", err.message())
    };
    InfraError::new(err.kind(), VECTOR_BACKEND, "init", message).with_source(err)
}

/// `(major, minor)` of a version such as `1.18.2` or `1.18.0-dev`.
fn parse_version(version: &str) -> Option<(u64, u64)> {
    let mut parts = version.trim().trim_start_matches('v').split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts
        .next()?
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()?;
    Some((major, minor))
}

/// qdrant-client's own rule: same major version, minor versions at most one apart.
fn is_supported((major, minor): (u64, u64)) -> bool {
    major == CLIENT_VERSION.0 && minor.abs_diff(CLIENT_VERSION.1) <= 1
}

#[async_trait]
impl VectorPort for QdrantAdapter {
    async fn ping(&self) -> InfraResult<()> {
        self.health_check("ping").await.map(drop)
    }

    async fn ensure_collection(&self, spec: &CollectionSpec) -> InfraResult<EnsureOutcome> {
        const OP: &str = "ensure_collection";
        spec.validate()?;
        match self.describe_indexed(&spec.name, OP).await {
            Ok((existing, indexes)) => return self.reuse(spec, &existing, &indexes).await,
            Err(err) if err.kind() == ErrorKind::NotFound => {}
            Err(err) => return Err(err),
        }
        let message = convert::create_collection(spec);
        let mut client = self.collections(OP)?;
        let created = self.rpc(OP, client.create(self.request(message))).await;
        let failure = match created {
            Ok(reply) if reply.result => {
                self.remember(&spec.name, spec.vectors.reported());
                tracing::info!(backend = VECTOR_BACKEND, collection = %spec.name,
                    vectors = %spec.vectors, "collection created");
                let declared: Vec<&FieldIndex> = spec.indexes.iter().collect();
                self.create_indexes(&spec.name, &declared).await?;
                return Ok(EnsureOutcome::Created);
            }
            Ok(_) => InfraError::new(
                ErrorKind::Internal,
                VECTOR_BACKEND,
                OP,
                "the Qdrant server did not create the collection",
            ),
            Err(err) if err.is_transient() => return Err(err),
            Err(err) => err,
        };
        // Someone else may have created it in between (Qdrant then answers ALREADY_EXISTS):
        // what exists now decides.
        match self.describe_indexed(&spec.name, OP).await {
            Ok((existing, indexes)) => self.reuse(spec, &existing, &indexes).await,
            Err(err) if err.kind() == ErrorKind::NotFound => Err(failure),
            Err(err) => Err(err),
        }
    }

    async fn collection_info(&self, name: &str) -> InfraResult<CollectionInfo> {
        validate_collection_name(name, "collection_info")?;
        self.describe(name, "collection_info").await
    }

    async fn delete_collection(&self, name: &str) -> InfraResult<bool> {
        const OP: &str = "delete_collection";
        validate_collection_name(name, OP)?;
        let mut client = self.collections(OP)?;
        let message = pb::DeleteCollection {
            collection_name: name.to_owned(),
            timeout: None,
        };
        let result = self.rpc(OP, client.delete(self.request(message))).await;
        self.forget(name);
        match result {
            Ok(reply) => {
                if reply.result {
                    tracing::info!(backend = VECTOR_BACKEND, collection = %name, "collection deleted");
                }
                Ok(reply.result)
            }
            Err(err) if err.kind() == ErrorKind::NotFound => Ok(false),
            Err(err) => Err(err),
        }
    }

    async fn upsert(&self, collection: &str, points: Vec<Point>) -> InfraResult<()> {
        self.upsert_with(collection, points, &WriteOptions::default())
            .await
    }

    async fn upsert_with(
        &self,
        collection: &str,
        points: Vec<Point>,
        options: &WriteOptions,
    ) -> InfraResult<()> {
        const OP: &str = "upsert";
        validate_collection_name(collection, OP)?;
        self.check_against_schema(collection, OP, |schema| {
            points
                .iter()
                .try_for_each(|p| schema.check_vectors(&p.vectors, OP))
        })
        .await?;
        if points.is_empty() {
            return Ok(());
        }
        let message = pb::UpsertPoints {
            collection_name: collection.to_owned(),
            wait: Some(options.wait),
            ordering: Some(self.ordering(options.ordering)),
            points: points
                .into_iter()
                .map(|p| pb::PointStruct {
                    id: Some(convert::point_id(p.id)),
                    payload: convert::payload(p.payload),
                    vectors: Some(convert::vectors(p.vectors)),
                })
                .collect(),
            ..pb::UpsertPoints::default()
        };
        let mut client = self.points(OP)?;
        let result = self
            .rpc(OP, client.upsert(self.checked_request(OP, message)?))
            .await;
        self.on_collection(collection, result).map(drop)
    }

    async fn get(
        &self,
        collection: &str,
        ids: &[PointId],
        with_vector: bool,
    ) -> InfraResult<Vec<Record>> {
        const OP: &str = "get";
        validate_collection_name(collection, OP)?;
        let mut seen = HashSet::with_capacity(ids.len());
        let unique: Vec<PointId> = ids.iter().copied().filter(|id| seen.insert(*id)).collect();
        if unique.is_empty() {
            self.check_against_schema(collection, OP, |_| Ok(()))
                .await?;
            return Ok(Vec::new());
        }
        let message = pb::GetPoints {
            collection_name: collection.to_owned(),
            ids: unique.iter().copied().map(convert::point_id).collect(),
            with_payload: Some(convert::with_payload(true)),
            with_vectors: Some(convert::with_vectors(with_vector)),
            read_consistency: self.read_consistency,
            ..pb::GetPoints::default()
        };
        let mut client = self.points(OP)?;
        let result = self
            .rpc(OP, client.get(self.checked_request(OP, message)?))
            .await;
        let reply = self.on_collection(collection, result)?;
        let mut found = HashMap::with_capacity(reply.result.len());
        for point in reply.result {
            let record = convert::from_retrieved_point(point, with_vector, OP)?;
            found.insert(record.id, record);
        }
        Ok(unique
            .into_iter()
            .filter_map(|id| found.remove(&id))
            .collect())
    }

    async fn delete_points(&self, collection: &str, selector: &PointSelector) -> InfraResult<()> {
        const OP: &str = "delete_points";
        validate_collection_name(collection, OP)?;
        selector.validate(OP)?;
        if matches!(selector, PointSelector::Ids(ids) if ids.is_empty()) {
            return self.check_against_schema(collection, OP, |_| Ok(())).await;
        }
        let message = pb::DeletePoints {
            collection_name: collection.to_owned(),
            wait: Some(true),
            ordering: Some(self.ordering(None)),
            points: Some(convert::points_selector(selector, OP)?),
            ..pb::DeletePoints::default()
        };
        let mut client = self.points(OP)?;
        let result = self
            .rpc(OP, client.delete(self.checked_request(OP, message)?))
            .await;
        self.on_collection(collection, result).map(drop)
    }

    async fn update_vectors(&self, collection: &str, points: &[PointVectors]) -> InfraResult<()> {
        const OP: &str = "update_vectors";
        validate_collection_name(collection, OP)?;
        self.check_against_schema(collection, OP, |schema| {
            points.iter().try_for_each(|p| p.validate(schema, OP))
        })
        .await?;
        if points.is_empty() {
            return Ok(());
        }
        let message = pb::UpdatePointVectors {
            collection_name: collection.to_owned(),
            wait: Some(true),
            ordering: Some(self.ordering(None)),
            points: convert::point_vectors(points),
            ..pb::UpdatePointVectors::default()
        };
        let mut client = self.points(OP)?;
        let result = self
            .rpc(
                OP,
                client.update_vectors(self.checked_request(OP, message)?),
            )
            .await;
        self.on_collection(collection, result).map(drop)
    }

    async fn search(&self, collection: &str, query: &SearchQuery) -> InfraResult<Vec<ScoredPoint>> {
        const OP: &str = "search";
        validate_collection_name(collection, OP)?;
        self.check_against_schema(collection, OP, |schema| query.validate(schema))
            .await?;
        let message = pb::QueryPoints {
            collection_name: collection.to_owned(),
            query: Some(convert::nearest(query)),
            using: convert::using(query),
            filter: convert::filter(&query.filter, OP)?,
            limit: Some(query.limit as u64),
            with_payload: Some(convert::with_payload(query.with_payload)),
            with_vectors: Some(convert::with_vectors(query.with_vector)),
            params: query.exact.then(|| pb::SearchParams {
                exact: Some(true),
                ..pb::SearchParams::default()
            }),
            score_threshold: query.score_threshold,
            read_consistency: self.read_consistency,
            ..pb::QueryPoints::default()
        };
        let mut client = self.points(OP)?;
        let result = self
            .rpc(OP, client.query(self.checked_request(OP, message)?))
            .await;
        let reply = self.on_collection(collection, result)?;
        reply
            .result
            .into_iter()
            .map(|hit| convert::from_scored_point(hit, query.with_payload, query.with_vector, OP))
            .collect()
    }

    async fn query(
        &self,
        collection: &str,
        request: &QueryRequest,
    ) -> InfraResult<Vec<ScoredPoint>> {
        const OP: &str = "query";
        validate_collection_name(collection, OP)?;
        self.check_against_schema(collection, OP, |schema| request.validate(schema))
            .await?;
        let mut message = crate::query::query_points(collection, request)?;
        message.read_consistency = self.read_consistency;
        let mut client = self.points(OP)?;
        let result = self
            .rpc(OP, client.query(self.checked_request(OP, message)?))
            .await;
        let reply = self.on_collection(collection, result)?;
        let wants_payload = request.with_payload.wants_payload();
        reply
            .result
            .into_iter()
            .map(|hit| convert::from_scored_point(hit, wants_payload, request.with_vector, OP))
            .collect()
    }

    async fn query_batch(
        &self,
        collection: &str,
        requests: &[QueryRequest],
    ) -> InfraResult<Vec<Vec<ScoredPoint>>> {
        const OP: &str = "query_batch";
        validate_collection_name(collection, OP)?;
        check_batch(requests.len())?;
        if requests.is_empty() {
            return Ok(Vec::new());
        }
        self.check_against_schema(collection, OP, |schema| {
            requests.iter().try_for_each(|r| r.validate(schema))
        })
        .await?;
        let message = pb::QueryBatchPoints {
            collection_name: collection.to_owned(),
            query_points: requests
                .iter()
                .map(|r| crate::query::query_points(collection, r))
                .collect::<InfraResult<_>>()?,
            read_consistency: self.read_consistency,
            ..pb::QueryBatchPoints::default()
        };
        let mut client = self.points(OP)?;
        let result = self
            .rpc(OP, client.query_batch(self.checked_request(OP, message)?))
            .await;
        let reply = self.on_collection(collection, result)?;
        if reply.result.len() != requests.len() {
            return Err(InfraError::new(
                ErrorKind::Internal,
                VECTOR_BACKEND,
                OP,
                format!(
                    "Qdrant answered {} of {} queries",
                    reply.result.len(),
                    requests.len()
                ),
            ));
        }
        reply
            .result
            .into_iter()
            .zip(requests)
            .map(|(answer, request)| {
                let wants_payload = request.with_payload.wants_payload();
                answer
                    .result
                    .into_iter()
                    .map(|hit| {
                        convert::from_scored_point(hit, wants_payload, request.with_vector, OP)
                    })
                    .collect()
            })
            .collect()
    }

    async fn query_groups(
        &self,
        collection: &str,
        request: &GroupsRequest,
    ) -> InfraResult<Vec<PointGroup>> {
        const OP: &str = "query_groups";
        validate_collection_name(collection, OP)?;
        request.validate_grouping()?;
        self.check_against_schema(collection, OP, |schema| request.query.validate(schema))
            .await?;
        let mut message = crate::query::query_point_groups(collection, request)?;
        message.read_consistency = self.read_consistency;
        let mut client = self.points(OP)?;
        let result = self
            .rpc(OP, client.query_groups(self.checked_request(OP, message)?))
            .await;
        let reply = self.on_collection(collection, result)?;
        let (wants_payload, with_vector) = (
            request.query.with_payload.wants_payload(),
            request.query.with_vector,
        );
        let lookup_vector = request.with_lookup.as_ref().is_some_and(|l| l.with_vector);
        reply
            .result
            .map(|r| r.groups)
            .unwrap_or_default()
            .into_iter()
            .map(|group| {
                Ok(PointGroup {
                    id: crate::query::from_group_id(group.id)?,
                    hits: group
                        .hits
                        .into_iter()
                        .map(|hit| convert::from_scored_point(hit, wants_payload, with_vector, OP))
                        .collect::<InfraResult<_>>()?,
                    lookup: group
                        .lookup
                        .map(|point| convert::from_retrieved_point(point, lookup_vector, OP))
                        .transpose()?,
                })
            })
            .collect()
    }

    async fn count_points(&self, collection: &str, request: &CountRequest) -> InfraResult<u64> {
        const OP: &str = "count";
        validate_collection_name(collection, OP)?;
        request.validate()?;
        let message = pb::CountPoints {
            collection_name: collection.to_owned(),
            filter: convert::filter(&request.filter, OP)?,
            exact: Some(request.exact),
            read_consistency: self.read_consistency,
            ..pb::CountPoints::default()
        };
        let mut client = self.points(OP)?;
        let result = self.rpc(OP, client.count(self.request(message))).await;
        let reply = self.on_collection(collection, result)?;
        Ok(reply.result.map_or(0, |r| r.count))
    }

    async fn facet(&self, collection: &str, request: &FacetRequest) -> InfraResult<Vec<FacetHit>> {
        const OP: &str = "facet";
        validate_collection_name(collection, OP)?;
        request.validate()?;
        let message = pb::FacetCounts {
            collection_name: collection.to_owned(),
            key: request.key.clone(),
            filter: convert::filter(&request.filter, OP)?,
            // Validated: at most MAX_FACET_LIMIT.
            limit: Some(request.limit as u64),
            exact: Some(request.exact),
            read_consistency: self.read_consistency,
            ..pb::FacetCounts::default()
        };
        let mut client = self.points(OP)?;
        let result = self.rpc(OP, client.facet(self.request(message))).await;
        let reply = self.on_collection(collection, result)?;
        reply
            .hits
            .into_iter()
            .map(|hit| convert::from_facet_hit(hit, OP))
            .collect()
    }

    async fn scroll(&self, collection: &str, request: &ScrollRequest) -> InfraResult<ScrollPage> {
        const OP: &str = "scroll";
        validate_collection_name(collection, OP)?;
        request.validate()?;
        let message = pb::ScrollPoints {
            collection_name: collection.to_owned(),
            filter: convert::filter(&request.filter, OP)?,
            offset: request.offset.map(convert::point_id),
            // Validated: at most MAX_SCROLL_LIMIT.
            limit: Some(u32::try_from(request.limit).unwrap_or(u32::MAX)),
            with_payload: Some(convert::with_payload(request.with_payload)),
            with_vectors: Some(convert::with_vectors(request.with_vector)),
            order_by: request.order_by.as_ref().map(convert::order_by),
            read_consistency: self.read_consistency,
            ..pb::ScrollPoints::default()
        };
        let mut client = self.points(OP)?;
        let result = self
            .rpc(OP, client.scroll(self.checked_request(OP, message)?))
            .await;
        let reply = self.on_collection(collection, result)?;
        let points = reply
            .result
            .into_iter()
            .map(|point| {
                Ok(Record {
                    id: convert::from_point_id(point.id, OP)?,
                    payload: if request.with_payload {
                        convert::from_payload(point.payload)
                    } else {
                        infra_base::Payload::new()
                    },
                    vectors: if request.with_vector {
                        convert::from_vectors(point.vectors)
                    } else {
                        None
                    },
                })
            })
            .collect::<InfraResult<Vec<_>>>()?;
        let next_page_offset = match reply.next_page_offset {
            Some(id) => Some(convert::from_point_id(Some(id), OP)?),
            None => None,
        };
        Ok(ScrollPage {
            points,
            next_page_offset,
        })
    }

    async fn update_payload(
        &self,
        collection: &str,
        selector: &PointSelector,
        update: &PayloadUpdate,
    ) -> InfraResult<()> {
        const OP: &str = "update_payload";
        validate_collection_name(collection, OP)?;
        update.validate()?;
        selector.validate(OP)?;
        if matches!(selector, PointSelector::Ids(ids) if ids.is_empty()) {
            return self.check_against_schema(collection, OP, |_| Ok(())).await;
        }
        let points = Some(convert::points_selector(selector, OP)?);
        let ordering = Some(self.ordering(None));
        let mut client = self.points(OP)?;
        let set = |payload: &infra_base::Payload| pb::SetPayloadPoints {
            collection_name: collection.to_owned(),
            wait: Some(true),
            ordering,
            payload: convert::payload(payload.clone()),
            points_selector: points.clone(),
            ..pb::SetPayloadPoints::default()
        };
        let result = match update {
            PayloadUpdate::Set(payload) => {
                let request = self.checked_request(OP, set(payload))?;
                self.rpc(OP, client.set_payload(request)).await
            }
            PayloadUpdate::Overwrite(payload) => {
                let request = self.checked_request(OP, set(payload))?;
                self.rpc(OP, client.overwrite_payload(request)).await
            }
            PayloadUpdate::DeleteKeys(keys) => {
                let message = pb::DeletePayloadPoints {
                    collection_name: collection.to_owned(),
                    wait: Some(true),
                    ordering,
                    keys: keys.clone(),
                    points_selector: points.clone(),
                    ..pb::DeletePayloadPoints::default()
                };
                let request = self.checked_request(OP, message)?;
                self.rpc(OP, client.delete_payload(request)).await
            }
            PayloadUpdate::Clear => {
                let message = pb::ClearPayloadPoints {
                    collection_name: collection.to_owned(),
                    wait: Some(true),
                    ordering,
                    points: points.clone(),
                    ..pb::ClearPayloadPoints::default()
                };
                let request = self.checked_request(OP, message)?;
                self.rpc(OP, client.clear_payload(request)).await
            }
        };
        self.on_collection(collection, result).map(drop)
    }

    async fn list_collections(&self) -> InfraResult<Vec<String>> {
        const OP: &str = "list_collections";
        let mut client = self.collections(OP)?;
        let reply = self
            .rpc(OP, client.list(self.request(pb::ListCollectionsRequest {})))
            .await?;
        let mut names: Vec<String> = reply.collections.into_iter().map(|c| c.name).collect();
        names.sort_unstable();
        names.dedup();
        Ok(names)
    }

    async fn update_aliases(&self, changes: &[AliasChange]) -> InfraResult<()> {
        const OP: &str = "update_aliases";
        AliasChange::validate_all(changes)?;
        if changes.is_empty() {
            return Ok(());
        }
        let mut client = self.collections(OP)?;
        let message = pb::ChangeAliases {
            actions: changes.iter().map(convert::alias_operation).collect(),
            timeout: None,
        };
        let result = self
            .rpc(OP, client.update_aliases(self.request(message)))
            .await;
        // A name may now designate another collection: vectors are asked again.
        self.schemas
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        result.map(|_| ())
    }

    async fn list_aliases(&self) -> InfraResult<Vec<Alias>> {
        const OP: &str = "list_aliases";
        let mut client = self.collections(OP)?;
        let reply = self
            .rpc(
                OP,
                client.list_aliases(self.request(pb::ListAliasesRequest {})),
            )
            .await?;
        let mut aliases: Vec<Alias> = reply
            .aliases
            .into_iter()
            .map(|a| Alias {
                alias: a.alias_name,
                collection: a.collection_name,
            })
            .collect();
        aliases.sort_unstable();
        Ok(aliases)
    }
}

#[async_trait]
impl Lifecycle for QdrantAdapter {
    async fn init(&self) -> InfraResult<()> {
        // A failure is logged once, by whoever handles it (`Components::init_all` does).
        let info = self.verify().await?;
        *self.server.lock().unwrap_or_else(PoisonError::into_inner) = Some(info);
        Ok(())
    }

    async fn health(&self) -> ComponentHealth {
        ComponentHealth::measure(self.ping()).await
    }

    async fn close(&self) {
        let connection = self
            .connection
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        self.schemas
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        if connection.is_some() {
            tracing::info!(backend = VECTOR_BACKEND, endpoint = %self.options.endpoint,
                "qdrant client closed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_and_follow_the_clients_rule() {
        assert_eq!(parse_version("1.18.2"), Some((1, 18)));
        assert_eq!(parse_version("v1.20.0-dev"), Some((1, 20)));
        assert_eq!(parse_version("1.19-rc1"), Some((1, 19)));
        assert_eq!(parse_version("dev"), None);
        assert!(is_supported((1, 19)) && is_supported((1, 20)) && is_supported((1, 21)));
        assert!(!is_supported((1, 18)) && !is_supported((2, 20)));
    }

    #[tokio::test]
    async fn writes_and_reads_carry_the_configured_consistency() {
        use infra_config::{QdrantMode, ReadConsistency};
        use pb::read_consistency::Value;

        let mut settings = QdrantSettings {
            mode: QdrantMode::Remote,
            ..QdrantSettings::default()
        };
        let adapter = QdrantAdapter::new(&settings).unwrap();
        let weak = convert::write_ordering(WriteOrdering::Weak);
        assert_eq!(adapter.ordering(None), weak, "Qdrant's default ordering");
        assert_eq!(
            adapter.read_consistency, None,
            "Qdrant's default: one replica"
        );

        settings.write_ordering = infra_config::WriteOrdering::Strong;
        settings.read_consistency = Some(ReadConsistency::Majority);
        let adapter = QdrantAdapter::new(&settings).unwrap();
        let ordering = adapter.ordering(None);
        assert_eq!(ordering.r#type, i32::from(pb::WriteOrderingType::Strong));
        let ordering = adapter.ordering(Some(WriteOrdering::Medium));
        assert_eq!(
            ordering.r#type,
            i32::from(pb::WriteOrderingType::Medium),
            "a call's ordering wins over the configured one"
        );
        let majority = i32::from(pb::ReadConsistencyType::Majority);
        assert_eq!(
            adapter.read_consistency.and_then(|r| r.value),
            Some(Value::Type(majority))
        );

        settings.read_consistency = ReadConsistency::parse("3").ok();
        let adapter = QdrantAdapter::new(&settings).unwrap();
        assert_eq!(
            adapter.read_consistency.and_then(|r| r.value),
            Some(Value::Factor(3))
        );
    }

    #[test]
    fn init_failures_explain_a_non_qdrant_server() {
        let err = init_failure(Status::unimplemented("unknown service qdrant.Qdrant"));
        assert_eq!(err.kind(), ErrorKind::Internal);
        assert!(err.message().contains("6334"), "{}", err.message());
        let err = init_failure(Status::internal(
            "h2 protocol error: frame with invalid size",
        ));
        assert_eq!(err.kind(), ErrorKind::Internal);
        let err = init_failure(Status::unavailable("tcp connect error"));
        assert_eq!(err.kind(), ErrorKind::Unavailable);
        assert!(
            err.message().starts_with("cannot start"),
            "{}",
            err.message()
        );
        assert!(!err.message().contains("6334"), "{}", err.message());
        let err = init_failure(Status::unknown("transport error"));
        assert_eq!(err.kind(), ErrorKind::Unavailable);
        assert!(err.message().contains("6334"), "{}", err.message());
    }
}
