//! The metrics every crate of the workspace records, declared once.
//!
//! Library crates record through the [`metrics`] facade and pull in no exporter: with no
//! recorder installed, recording costs a few nanoseconds and goes nowhere. A service
//! installs one exporter at start-up (the reference service serves Prometheus text at
//! `/metrics`), calls [`describe`] so that every metric carries its help text and unit,
//! and only then builds its adapters: the layers register their handles when they are
//! built.
//!
//! Names follow Prometheus conventions (base unit in the name, `_total` on counters) and
//! OpenTelemetry's semantic conventions where one exists (`db.client.operation.duration`
//! becomes `db_client_operation_duration_seconds`; the attribute `db.system.name` becomes
//! the label `db_system_name`). Every label has a bounded set of values: backends,
//! operation names, error kinds, route templates, states. No key, collection name, id or
//! raw path is ever a label.

/// Label names (OpenTelemetry attribute names with `_` for `.`).
pub mod labels {
    /// `redis` or `qdrant` (OpenTelemetry `db.system.name`).
    pub const DB_SYSTEM: &str = "db_system_name";
    /// The port operation, e.g. `get`, `search` (`db.operation.name`).
    pub const DB_OPERATION: &str = "db_operation_name";
    /// The error kind of a failed call (`error.type`): `timeout`, `unavailable`, ...;
    /// absent on success.
    pub const ERROR_TYPE: &str = "error_type";
    /// A state: a breaker's `closed` / `open` / `half_open`, or a connection's `idle` /
    /// `used`.
    pub const STATE: &str = "state";
    /// A health component's name (`redis`, `qdrant`).
    pub const COMPONENT: &str = "component";
    /// A health check's result: `pass` / `warn` / `fail`.
    pub const STATUS: &str = "status";
    /// An HTTP method (`http.request.method`).
    pub const HTTP_METHOD: &str = "http_request_method";
    /// The matched route template, e.g. `/collections/{name}/search` (`http.route`);
    /// `unmatched` for a request no route matched.
    pub const HTTP_ROUTE: &str = "http_route";
    /// The response status code (`http.response.status_code`).
    pub const HTTP_STATUS: &str = "http_response_status_code";
    /// An outcome: a search-cache lookup's `hit`, `miss` or `bypass`; a cache call's
    /// `hit`, `miss`, `bypass` or `joined`; an invalidation attempt's `done`, `failed` or
    /// `abandoned`.
    pub const OUTCOME: &str = "outcome";
    /// What a rate limit did when its check failed: `open` (let the request through) or
    /// `closed` (refused it).
    pub const FAILURE_POLICY: &str = "failure_policy";
    /// A cache's fixed name (`infra_base::cache::CacheConfig::name`), never a key.
    pub const CACHE_NAME: &str = "cache_name";
    /// The cache's Redis call that failed: `generation`, `read`, `write`, `lease`,
    /// `invalidate`, or `decode` (stored bytes that could not be read).
    pub const CACHE_OPERATION: &str = "cache_operation";
    /// Why something happened: a computation's `miss`, `early_refresh` or `bypass`; a
    /// value not stored because `too_large` or not encodable (`encode`).
    pub const REASON: &str = "reason";
}

/// Latency of one port call as its caller saw it, retries and backoff included.
pub const DB_OPERATION_DURATION: &str = "db_client_operation_duration_seconds";
/// Retries made by the resilience layer.
pub const RETRIES: &str = "infra_port_retries_total";
/// A circuit breaker's state: 0 closed, 1 half-open, 2 open.
pub const BREAKER_STATE: &str = "infra_circuit_breaker_state";
/// A circuit breaker's transitions, by the state entered.
pub const BREAKER_TRANSITIONS: &str = "infra_circuit_breaker_transitions_total";
/// Connections of the Redis exclusive-connection pool, by state (`idle`, `used`).
pub const POOL_CONNECTIONS: &str = "db_client_connection_count";
/// The pool's maximum size.
pub const POOL_MAX: &str = "db_client_connection_max";
/// Callers waiting for a pooled connection.
pub const POOL_PENDING: &str = "db_client_connection_pending_requests";
/// Replacements of the shared (multiplexed) Redis connection after it broke.
pub const SHARED_CONNECTION_REPLACEMENTS: &str = "infra_redis_shared_connection_replacements_total";
/// Duration of one component health check.
pub const HEALTH_CHECK_DURATION: &str = "infra_health_check_duration_seconds";
/// Health checks run, by component and result.
pub const HEALTH_CHECKS: &str = "infra_health_checks_total";
/// Duration of one HTTP request, by method, route template and status.
pub const HTTP_REQUEST_DURATION: &str = "http_server_request_duration_seconds";
/// HTTP requests refused by load shedding (503 `overloaded`), by route template.
pub const HTTP_REQUESTS_SHED: &str = "http_server_requests_shed_total";
/// Search cache lookups by outcome.
pub const CACHE_REQUESTS: &str = "infra_search_cache_requests_total";
/// HTTP requests refused with 429 by the rate limit, by route template.
pub const HTTP_REQUESTS_RATE_LIMITED: &str = "http_server_requests_rate_limited_total";
/// Rate-limit checks that failed (Redis down, timed out, ...), by the policy applied and
/// the error kind.
pub const RATE_LIMIT_FAILURES: &str = "http_server_rate_limit_failures_total";
/// Calls of a `Cache` by outcome (`hit`, `miss`, `bypass`, `joined`).
pub const CACHE_OUTCOMES: &str = "infra_cache_requests_total";
/// Computations run by a `Cache`, by reason (`miss`, `early_refresh`, `bypass`).
pub const CACHE_COMPUTES: &str = "infra_cache_computes_total";
/// A `Cache`'s Redis calls that failed or timed out, and unreadable entries.
pub const CACHE_ERRORS: &str = "infra_cache_errors_total";
/// Values a `Cache` computed but did not store, by reason (`too_large`, `encode`).
pub const CACHE_NOT_STORED: &str = "infra_cache_values_not_stored_total";
/// Invalidation attempts of a `Cache`, by outcome (`done`, `failed`, `abandoned`).
pub const CACHE_INVALIDATIONS: &str = "infra_cache_invalidations_total";

/// Messages a pub/sub subscription received from the server (dropped ones included).
pub const PUBSUB_MESSAGES_RECEIVED: &str = "infra_pubsub_messages_received_total";
/// Messages a pub/sub subscription dropped because its consumer's buffer was full.
pub const PUBSUB_MESSAGES_DROPPED: &str = "infra_pubsub_messages_dropped_total";
/// Pub/sub subscriptions re-established after a lost connection (each one a gap).
pub const PUBSUB_RECONNECTS: &str = "infra_pubsub_reconnects_total";

/// Histogram buckets for every `_seconds` metric: 100 µs to 10 s.
pub const DURATION_BUCKETS: &[f64] = &[
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// What kind of metric a [`MetricInfo`] declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// Only goes up.
    Counter,
    /// Goes up and down.
    Gauge,
    /// Observations in buckets.
    Histogram,
}

impl MetricKind {
    /// The Prometheus `# TYPE` of the metric.
    pub const fn as_str(self) -> &'static str {
        match self {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Histogram => "histogram",
        }
    }
}

/// One metric: its name, kind, labels and meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricInfo {
    /// The name as exported.
    pub name: &'static str,
    /// Counter, gauge or histogram.
    pub kind: MetricKind,
    /// Its label names.
    pub labels: &'static [&'static str],
    /// What it means.
    pub help: &'static str,
}

/// Every metric the workspace records: the list `docs/observability.md` documents (a test
/// compares them) and [`describe`] registers.
pub const CATALOG: &[MetricInfo] = &[
    MetricInfo {
        name: DB_OPERATION_DURATION,
        kind: MetricKind::Histogram,
        labels: &[labels::DB_SYSTEM, labels::DB_OPERATION, labels::ERROR_TYPE],
        help: "Duration of a port call as the caller saw it (retries and backoff included); error_type is set on failures only",
    },
    MetricInfo {
        name: RETRIES,
        kind: MetricKind::Counter,
        labels: &[labels::DB_SYSTEM, labels::DB_OPERATION],
        help: "Attempts repeated by the resilience layer after a transient error",
    },
    MetricInfo {
        name: BREAKER_STATE,
        kind: MetricKind::Gauge,
        labels: &[labels::DB_SYSTEM],
        help: "Circuit breaker state: 0 closed, 1 half-open, 2 open",
    },
    MetricInfo {
        name: BREAKER_TRANSITIONS,
        kind: MetricKind::Counter,
        labels: &[labels::DB_SYSTEM, labels::STATE],
        help: "Circuit breaker transitions, by the state entered",
    },
    MetricInfo {
        name: POOL_CONNECTIONS,
        kind: MetricKind::Gauge,
        labels: &[labels::DB_SYSTEM, labels::STATE],
        help: "Connections of the Redis exclusive-connection pool, idle or used",
    },
    MetricInfo {
        name: POOL_MAX,
        kind: MetricKind::Gauge,
        labels: &[labels::DB_SYSTEM],
        help: "Maximum size of the Redis exclusive-connection pool",
    },
    MetricInfo {
        name: POOL_PENDING,
        kind: MetricKind::Gauge,
        labels: &[labels::DB_SYSTEM],
        help: "Callers waiting for a connection of the Redis exclusive-connection pool",
    },
    MetricInfo {
        name: SHARED_CONNECTION_REPLACEMENTS,
        kind: MetricKind::Counter,
        labels: &[labels::DB_SYSTEM],
        help: "Times the shared multiplexed Redis connection was found broken and replaced",
    },
    MetricInfo {
        name: HEALTH_CHECK_DURATION,
        kind: MetricKind::Histogram,
        labels: &[labels::COMPONENT],
        help: "Duration of one component health check (cached checks are not counted)",
    },
    MetricInfo {
        name: HEALTH_CHECKS,
        kind: MetricKind::Counter,
        labels: &[labels::COMPONENT, labels::STATUS],
        help: "Component health checks run, by result",
    },
    MetricInfo {
        name: HTTP_REQUEST_DURATION,
        kind: MetricKind::Histogram,
        labels: &[labels::HTTP_METHOD, labels::HTTP_ROUTE, labels::HTTP_STATUS],
        help: "Duration of an HTTP request, by method, route template and status code",
    },
    MetricInfo {
        name: HTTP_REQUESTS_SHED,
        kind: MetricKind::Counter,
        labels: &[labels::HTTP_ROUTE],
        help: "HTTP requests refused with 503 at the concurrency limit, by route template",
    },
    MetricInfo {
        name: CACHE_REQUESTS,
        kind: MetricKind::Counter,
        labels: &[labels::OUTCOME],
        help: "Search cache lookups by outcome: hit, miss or bypass",
    },
    MetricInfo {
        name: HTTP_REQUESTS_RATE_LIMITED,
        kind: MetricKind::Counter,
        labels: &[labels::HTTP_ROUTE],
        help: "HTTP requests refused with 429 by the per-client rate limit, by route template",
    },
    MetricInfo {
        name: RATE_LIMIT_FAILURES,
        kind: MetricKind::Counter,
        labels: &[labels::FAILURE_POLICY, labels::ERROR_TYPE],
        help: "Rate-limit checks that failed (Redis unreachable, timed out, ...), by the policy applied: open let the request through, closed refused it with 503",
    },
    MetricInfo {
        name: CACHE_OUTCOMES,
        kind: MetricKind::Counter,
        labels: &[labels::CACHE_NAME, labels::OUTCOME],
        help: "Cache calls by outcome: hit, miss (computed and stored), bypass (computed without the cache) or joined (waited for a concurrent call's computation)",
    },
    MetricInfo {
        name: CACHE_COMPUTES,
        kind: MetricKind::Counter,
        labels: &[labels::CACHE_NAME, labels::REASON],
        help: "Computations a cache ran, by reason: miss, early_refresh (XFetch) or bypass",
    },
    MetricInfo {
        name: CACHE_ERRORS,
        kind: MetricKind::Counter,
        labels: &[labels::CACHE_NAME, labels::CACHE_OPERATION],
        help: "Cache Redis calls that failed or timed out (generation, read, write, lease, invalidate) and unreadable entries (decode)",
    },
    MetricInfo {
        name: CACHE_NOT_STORED,
        kind: MetricKind::Counter,
        labels: &[labels::CACHE_NAME, labels::REASON],
        help: "Computed values a cache did not store: too_large or not encodable (encode)",
    },
    MetricInfo {
        name: CACHE_INVALIDATIONS,
        kind: MetricKind::Counter,
        labels: &[labels::CACHE_NAME, labels::OUTCOME],
        help: "Cache invalidation attempts: done, failed (retried) or abandoned (given up once entries had expired)",
    },
    MetricInfo {
        name: PUBSUB_MESSAGES_RECEIVED,
        kind: MetricKind::Counter,
        labels: &[labels::DB_SYSTEM],
        help: "Messages pub/sub subscriptions received from the server, those dropped for a slow consumer included",
    },
    MetricInfo {
        name: PUBSUB_MESSAGES_DROPPED,
        kind: MetricKind::Counter,
        labels: &[labels::DB_SYSTEM],
        help: "Messages pub/sub subscriptions dropped because the consumer's buffer was full (reported to it as Lagged)",
    },
    MetricInfo {
        name: PUBSUB_RECONNECTS,
        kind: MetricKind::Counter,
        labels: &[labels::DB_SYSTEM],
        help: "Pub/sub subscriptions re-established after a lost connection; messages published meanwhile were lost (a Gap event)",
    },
];

/// Registers the help text and unit of every metric in [`CATALOG`] with the installed
/// recorder. Call it once, after installing the recorder.
pub fn describe() {
    for metric in CATALOG {
        let unit = metric
            .name
            .ends_with("_seconds")
            .then_some(metrics::Unit::Seconds);
        match (metric.kind, unit) {
            (MetricKind::Counter, _) => metrics::describe_counter!(metric.name, metric.help),
            (MetricKind::Gauge, _) => metrics::describe_gauge!(metric.name, metric.help),
            (MetricKind::Histogram, Some(unit)) => {
                metrics::describe_histogram!(metric.name, unit, metric.help);
            }
            (MetricKind::Histogram, None) => metrics::describe_histogram!(metric.name, metric.help),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_prometheus_conventions() {
        for metric in CATALOG {
            assert!(
                metric
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{}",
                metric.name
            );
            match metric.kind {
                MetricKind::Counter => assert!(metric.name.ends_with("_total"), "{}", metric.name),
                MetricKind::Histogram => {
                    assert!(metric.name.ends_with("_seconds"), "{}", metric.name);
                }
                MetricKind::Gauge => assert!(!metric.name.ends_with("_total"), "{}", metric.name),
            }
        }
        let mut names: Vec<_> = CATALOG.iter().map(|m| m.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), CATALOG.len(), "a metric is declared twice");
    }

    #[test]
    fn buckets_span_100us_to_10s_in_order() {
        assert_eq!(DURATION_BUCKETS.first(), Some(&0.000_1));
        assert_eq!(DURATION_BUCKETS.last(), Some(&10.0));
        assert!(DURATION_BUCKETS.windows(2).all(|w| w[0] < w[1]));
    }
}
