//! The escape hatch: qdrant-client's generated gRPC clients on the adapter's own
//! connection, for calls the port does not cover.

use qdrant_client::qdrant::collections_client::CollectionsClient;
use qdrant_client::qdrant::points_client::PointsClient;
use tonic::transport::Channel;

use crate::connection::{API_KEY_HEADER, RequestOptions};

/// qdrant-client's generated gRPC clients on the adapter's configured channel: the
/// endpoint, TLS, keep-alive and connection pool of `SOCIAL_QDRANT__*`, the message size
/// limit and compression already applied. [`request`](Self::request) adds the API key and
/// the timeout to a message.
///
/// **Outside the port's guarantees**: a call made here has no retry, no circuit breaker,
/// no metrics or span, and its errors are tonic's `Status`, not
/// [`InfraError`](infra_base::InfraError)s. Use it for what
/// [`VectorPort`](infra_base::VectorPort) does not offer (cluster operations, snapshots,
/// ...), and ask for the port to grow when a call becomes daily use.
///
/// ```no_run
/// # async fn run(adapter: &infra_qdrant::QdrantAdapter) -> Result<(), Box<dyn std::error::Error>> {
/// use qdrant_client::qdrant::ListSnapshotsRequest;
///
/// let raw = adapter.raw_clients()?;
/// let request = raw.request(ListSnapshotsRequest { collection_name: "items".into() });
/// // Snapshots are served by qdrant-client's `SnapshotsClient`, built on `raw.channel()`.
/// # let _ = request;
/// let collections = raw.collections().list(raw.request(Default::default())).await?;
/// println!("{} collections", collections.into_inner().collections.len());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RawClients {
    channel: Channel,
    options: RequestOptions,
}

impl std::fmt::Debug for RawClients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawClients")
            .field("endpoint", &self.options.endpoint)
            .field(
                "api_key",
                &self.options.api_key.as_ref().map(|_| "<redacted>"),
            )
            .finish_non_exhaustive()
    }
}

impl RawClients {
    pub(crate) fn new(channel: Channel, options: RequestOptions) -> Self {
        Self { channel, options }
    }

    /// The configured channel, for generated clients not offered here (snapshots, the
    /// service client). Apply [`request`](Self::request) to every message.
    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }

    /// The points service client (upsert, query, scroll, facet, ...).
    pub fn points(&self) -> PointsClient<Channel> {
        let mut client = PointsClient::new(self.channel())
            .max_decoding_message_size(self.options.max_message_size)
            .max_encoding_message_size(self.options.max_message_size);
        if let Some(encoding) = self.options.compression {
            client = client.send_compressed(encoding).accept_compressed(encoding);
        }
        client
    }

    /// The collections service client (create, update, aliases, cluster setup, ...).
    pub fn collections(&self) -> CollectionsClient<Channel> {
        let mut client = CollectionsClient::new(self.channel())
            .max_decoding_message_size(self.options.max_message_size)
            .max_encoding_message_size(self.options.max_message_size);
        if let Some(encoding) = self.options.compression {
            client = client.send_compressed(encoding).accept_compressed(encoding);
        }
        client
    }

    /// `message` as a request with the API key and the timeout of the settings.
    pub fn request<T>(&self, message: T) -> tonic::Request<T> {
        Self::request_with(&self.options, message)
    }

    /// The adapter's requests and the escape hatch's, built one way.
    pub(crate) fn request_with<T>(options: &RequestOptions, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request.set_timeout(options.timeout);
        if let Some(key) = &options.api_key {
            request.metadata_mut().insert(API_KEY_HEADER, key.clone());
        }
        request
    }
}
