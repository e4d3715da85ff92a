//! The gRPC channels to the server, built once from [`QdrantSettings`].
//!
//! One tonic [`Channel`] is one HTTP/2 connection that multiplexes any number of concurrent
//! requests; `pool_size` channels are used round-robin. Channels connect lazily (on the
//! first request) and reconnect by themselves after the server went away, so the adapter
//! never has to be rebuilt.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use infra_base::{ErrorKind, InfraError, InfraResult, VECTOR_BACKEND};
use infra_config::{Compression, QdrantSettings};
use tonic::codec::CompressionEncoding;
use tonic::metadata::AsciiMetadataValue;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

/// The header Qdrant reads the API key from.
pub(crate) const API_KEY_HEADER: &str = "api-key";

/// What every request needs besides its message: channels, key, timeout, compression.
pub(crate) struct Connection {
    channels: Box<[Channel]>,
    next: AtomicUsize,
}

impl Connection {
    /// The next channel, round-robin.
    pub(crate) fn channel(&self) -> Channel {
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.channels.len();
        self.channels[index].clone()
    }
}

/// The parts of the settings that shape requests, resolved once.
#[derive(Clone)]
pub(crate) struct RequestOptions {
    pub(crate) endpoint: String,
    pub(crate) timeout: Duration,
    pub(crate) api_key: Option<AsciiMetadataValue>,
    pub(crate) compression: Option<CompressionEncoding>,
    /// The largest gRPC message sent or received (`SOCIAL_QDRANT__MAX_MESSAGE_SIZE`).
    pub(crate) max_message_size: usize,
}

fn config_error(message: impl Into<String>) -> InfraError {
    InfraError::new(ErrorKind::Internal, VECTOR_BACKEND, "connect", message)
}

pub(crate) fn request_options(settings: &QdrantSettings) -> InfraResult<RequestOptions> {
    let api_key = settings
        .api_key
        .as_ref()
        .map(|key| {
            let mut value = AsciiMetadataValue::try_from(key.expose_secret()).map_err(|_| {
                InfraError::new(
                    ErrorKind::InvalidInput,
                    VECTOR_BACKEND,
                    "connect",
                    "the Qdrant API key contains characters that cannot be sent in a header",
                )
            })?;
            value.set_sensitive(true);
            Ok::<_, InfraError>(value)
        })
        .transpose()?;
    Ok(RequestOptions {
        endpoint: settings.endpoint(),
        timeout: settings.timeout,
        api_key,
        compression: match settings.compression {
            Compression::Gzip => Some(CompressionEncoding::Gzip),
            Compression::None => None,
        },
        max_message_size: settings.max_message_size,
    })
}

/// Builds the lazily connecting channels. Needs a Tokio runtime (the channels spawn their
/// connection tasks on it); no request is sent.
pub(crate) fn connect(settings: &QdrantSettings, ca_pem: Option<&[u8]>) -> InfraResult<Connection> {
    if tokio::runtime::Handle::try_current().is_err() {
        return Err(config_error(
            "the Qdrant adapter must be created within a Tokio runtime",
        ));
    }
    let endpoint = endpoint(settings, ca_pem)?;
    let channels = (0..settings.pool_size.max(1))
        .map(|_| endpoint.connect_lazy())
        .collect();
    Ok(Connection {
        channels,
        next: AtomicUsize::new(0),
    })
}

fn endpoint(settings: &QdrantSettings, ca_pem: Option<&[u8]>) -> InfraResult<Endpoint> {
    let url = settings.endpoint();
    let endpoint = Endpoint::from_shared(url)
        .map_err(|err| config_error("the Qdrant endpoint is not a valid URI").with_source(err))?
        .connect_timeout(settings.connect_timeout)
        .http2_keep_alive_interval(settings.keep_alive)
        .keep_alive_while_idle(true)
        .tcp_nodelay(true)
        .user_agent(concat!("infra-qdrant/", env!("CARGO_PKG_VERSION")))
        .map_err(|err| config_error("invalid user agent").with_source(err))?;
    if !settings.tls_enabled() {
        return Ok(endpoint);
    }
    // qdrant-client offers no CA option: it trusts the platform's roots, which
    // rustls-native-certs reads from the system store or from SSL_CERT_FILE / SSL_CERT_DIR.
    // The same holds here, unless the builder was given a CA, which is then the only root.
    let tls = match ca_pem {
        Some(pem) => ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem)),
        None => ClientTlsConfig::new().with_native_roots(),
    };
    endpoint.tls_config(tls).map_err(|err| {
        config_error(
            "cannot set up TLS towards Qdrant: no usable root certificate (install the \
             system CA bundle, or point SSL_CERT_FILE at a PEM bundle of the server's CA)",
        )
        .with_source(err)
    })
}
