//! The `http` section: where the service listens and how it bounds requests.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::auth::{AuthSettings, CorsSettings};
use crate::error::render_text;
use crate::net;
use crate::schema::{self as keys};
use crate::validate::Checker;

/// Settings of the HTTP server (`SOCIAL_HTTP__*`).
///
/// Each field is one key: its default, bounds and accepted values are declared
/// once in [`crate::schema::KEYS`] (listed in `docs/configuration.md`), not
/// repeated here.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSettings {
    /// Address to bind. A non-loopback address (`0.0.0.0`, `::`, a LAN
    /// address) needs authentication ([`AuthSettings`]) or an explicit
    /// `mode = none`.
    pub host: String,
    /// Port to bind (0 picks a free port, for tests).
    pub port: u16,
    /// How long in-flight requests may run after shutdown starts.
    #[serde(with = "crate::duration")]
    pub shutdown_grace: Duration,
    /// Time limit of one request.
    #[serde(with = "crate::duration")]
    pub request_timeout: Duration,
    /// Largest request body in bytes.
    pub body_limit: u64,
    /// Largest JSON response body in bytes (searches are checked before they run).
    pub max_response_bytes: u64,
    /// Time a client has to send a request's headers (slowloris defence).
    #[serde(with = "crate::duration")]
    pub header_read_timeout: Duration,
    /// Largest number of open connections; further ones wait in the kernel's
    /// accept queue.
    pub max_connections: u32,
    /// Largest number of requests served at once; more are refused at once
    /// with a 503 problem and `Retry-After` (load shedding).
    pub concurrency_limit: u32,
    /// Authentication.
    pub auth: AuthSettings,
    /// CORS (off unless origins are listed).
    pub cors: CorsSettings,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            host: keys::HTTP_HOST.default.text().to_owned(),
            port: const { keys::HTTP_PORT.default.u16() },
            shutdown_grace: const { keys::HTTP_SHUTDOWN_GRACE.default.duration() },
            request_timeout: const { keys::HTTP_REQUEST_TIMEOUT.default.duration() },
            body_limit: const { keys::HTTP_BODY_LIMIT.default.u64() },
            max_response_bytes: const { keys::HTTP_MAX_RESPONSE_BYTES.default.u64() },
            header_read_timeout: const { keys::HTTP_HEADER_READ_TIMEOUT.default.duration() },
            max_connections: const { keys::HTTP_MAX_CONNECTIONS.default.u32() },
            concurrency_limit: const { keys::HTTP_CONCURRENCY_LIMIT.default.u32() },
            auth: AuthSettings::default(),
            cors: CorsSettings::default(),
        }
    }
}

impl HttpSettings {
    /// Whether [`HttpSettings::host`] is a loopback address (`127.0.0.0/8`,
    /// `::1`, `localhost`).
    pub fn is_loopback(&self) -> bool {
        net::is_loopback(&self.host)
    }

    /// `host:port` to bind, with IPv6 in brackets, e.g. for `TcpListener::bind`.
    pub fn bind_address(&self) -> String {
        format!("{}:{}", net::url_host(&self.host), self.port)
    }

    pub(crate) fn validate(&self, cx: &mut Checker<'_>) {
        if let Err(problem) = net::check_host(&self.host) {
            cx.refuse(
                "http.host",
                format!("got {} ({problem})", render_text(&self.host)),
            );
        }
        cx.duration("http.shutdown_grace", self.shutdown_grace);
        cx.duration("http.request_timeout", self.request_timeout);
        cx.bounded("http.body_limit", self.body_limit);
        cx.bounded("http.max_response_bytes", self.max_response_bytes);
        cx.duration("http.header_read_timeout", self.header_read_timeout);
        cx.bounded("http.max_connections", self.max_connections);
        cx.bounded("http.concurrency_limit", self.concurrency_limit);
        self.auth.validate(&self.host, cx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_address_brackets_ipv6() {
        let mut http = HttpSettings::default();
        assert_eq!(http.bind_address(), "127.0.0.1:8080");
        http.host = "::".into();
        http.port = 0;
        assert_eq!(http.bind_address(), "[::]:0");
    }
}
