//! The `http` section: where the service listens and how it bounds requests.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::auth::{AuthSettings, CorsSettings};
use crate::choice::choice;
use crate::error::render_text;
use crate::net;
use crate::route_timeout::RouteTimeouts;
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
    /// Time limit of one request, unless its route has its own in
    /// [`route_timeouts`](Self::route_timeouts).
    #[serde(with = "crate::duration")]
    pub request_timeout: Duration,
    /// Time limits of single routes, by route template (a slow bulk upsert, a search
    /// that must answer fast); the service refuses a template it does not serve.
    pub route_timeouts: RouteTimeouts,
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
    /// Per-client rate limiting of the API (off by default; needs Redis).
    pub rate_limit: RateLimitSettings,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            host: keys::HTTP_HOST.default.text().to_owned(),
            port: const { keys::HTTP_PORT.default.u16() },
            shutdown_grace: const { keys::HTTP_SHUTDOWN_GRACE.default.duration() },
            request_timeout: const { keys::HTTP_REQUEST_TIMEOUT.default.duration() },
            route_timeouts: RouteTimeouts::new(),
            body_limit: const { keys::HTTP_BODY_LIMIT.default.u64() },
            max_response_bytes: const { keys::HTTP_MAX_RESPONSE_BYTES.default.u64() },
            header_read_timeout: const { keys::HTTP_HEADER_READ_TIMEOUT.default.duration() },
            max_connections: const { keys::HTTP_MAX_CONNECTIONS.default.u32() },
            concurrency_limit: const { keys::HTTP_CONCURRENCY_LIMIT.default.u32() },
            auth: AuthSettings::default(),
            cors: CorsSettings::default(),
            rate_limit: RateLimitSettings::default(),
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

    /// The time limit of a request to `route` (a route template).
    pub fn timeout_for(&self, route: &str) -> Duration {
        self.route_timeouts
            .get(route)
            .unwrap_or(self.request_timeout)
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
        for (route, limit) in self.route_timeouts.iter() {
            if limit.is_zero() || limit > crate::duration::MAX {
                cx.refuse(
                    "http.route_timeouts",
                    format!("{route}: got {}", humantime::format_duration(limit)),
                );
            }
        }
        cx.bounded("http.body_limit", self.body_limit);
        cx.bounded("http.max_response_bytes", self.max_response_bytes);
        cx.duration("http.header_read_timeout", self.header_read_timeout);
        cx.bounded("http.max_connections", self.max_connections);
        cx.bounded("http.concurrency_limit", self.concurrency_limit);
        self.auth.validate(&self.host, cx);
        self.rate_limit.validate(cx);
    }
}

choice! {
    /// What a rate limit does when Redis cannot answer (`http.rate_limit.on_redis_failure`).
    pub enum RateLimitFailure {
        /// Let the request through, unlimited (availability first).
        Open => "open",
        /// Refuse the request with 503 and `Retry-After` (protection first).
        Closed => "closed",
    }
    default = Open;
}

/// Per-client rate limiting of the API (`SOCIAL_HTTP__RATE_LIMIT__*`): GCRA on Redis,
/// `rate` requests per `period` with up to `burst` at once.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitSettings {
    /// Whether API requests are rate limited.
    pub enabled: bool,
    /// Requests a client may make per [`period`](Self::period).
    pub rate: u32,
    /// The period of the rate.
    #[serde(with = "crate::duration")]
    pub period: Duration,
    /// Requests a client at rest may make at once; 0 means [`rate`](Self::rate).
    pub burst: u32,
    /// What happens to requests when Redis cannot answer.
    pub on_redis_failure: RateLimitFailure,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            enabled: const { keys::HTTP_RATE_LIMIT_ENABLED.default.flag() },
            rate: const { keys::HTTP_RATE_LIMIT_RATE.default.u32() },
            period: const { keys::HTTP_RATE_LIMIT_PERIOD.default.duration() },
            burst: const { keys::HTTP_RATE_LIMIT_BURST.default.u32() },
            on_redis_failure: RateLimitFailure::default(),
        }
    }
}

impl RateLimitSettings {
    /// The burst in force: [`burst`](Self::burst), or [`rate`](Self::rate) when it is 0.
    pub fn effective_burst(&self) -> u32 {
        if self.burst == 0 {
            self.rate
        } else {
            self.burst
        }
    }

    fn validate(&self, cx: &mut Checker<'_>) {
        cx.bounded("http.rate_limit.rate", self.rate);
        cx.bounded("http.rate_limit.burst", self.burst);
        cx.duration("http.rate_limit.period", self.period);
        if self.rate > 0 && self.period.as_micros() < u128::from(self.rate) {
            cx.refuse(
                "http.rate_limit.period",
                format!(
                    "got {} for a rate of {}: at most one request per microsecond can be \
                     limited",
                    humantime::format_duration(self.period),
                    self.rate
                ),
            );
        }
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

    #[test]
    fn the_rate_limit_needs_redis_and_a_rate_it_can_represent() {
        let mut settings = crate::Settings::default();
        settings.http.rate_limit.enabled = true;
        settings.validate().unwrap();
        assert_eq!(
            settings.http.rate_limit.effective_burst(),
            100,
            "0 means the rate"
        );
        settings.http.rate_limit.burst = 7;
        assert_eq!(settings.http.rate_limit.effective_burst(), 7);

        settings.redis.enabled = false;
        let err = settings.validate().unwrap_err().to_string();
        assert!(err.contains("SOCIAL_HTTP__RATE_LIMIT__ENABLED"), "{err}");
        settings.redis.enabled = true;
        settings.http.rate_limit.rate = 1_000;
        settings.http.rate_limit.period = Duration::from_micros(999);
        let err = settings.validate().unwrap_err().to_string();
        assert!(err.contains("SOCIAL_HTTP__RATE_LIMIT__PERIOD"), "{err}");
        assert!(err.contains("one request per microsecond"), "{err}");
    }
}
