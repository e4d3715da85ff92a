//! What each key accepts, in words, and which keys must never be echoed.
//!
//! Error lines end with "expected ..." (what a key accepts); this table is the one
//! place those words live, so that a type error found by serde and a rule
//! broken in validation describe a key the same way.

use crate::duration;

/// The top-level sections this crate owns under the prefix.
pub(crate) const SECTIONS: &[&str] = &["redis", "qdrant", "http", "health"];

/// The largest Redis pool.
pub(crate) const MAX_POOL_SIZE: usize = 10_000;
/// The largest number of gRPC channels to Qdrant.
pub(crate) const MAX_QDRANT_CHANNELS: usize = 64;
/// The largest number of attempts of one operation.
pub(crate) const MAX_ATTEMPTS: u32 = 100;
/// The largest HTTP request body (1 GiB).
pub(crate) const MAX_BODY_LIMIT: u64 = 1 << 30;
/// Qdrant's REST port, which the gRPC client cannot use.
pub(crate) const QDRANT_REST_PORT: u16 = 6333;

/// What a section accepts; [`crate::error`] adds an example key.
pub(crate) const SECTION: &str = "a section of keys";

/// The leaf name of a dotted path (`redis.pool.max_size` -> `max_size`).
fn leaf(path: &str) -> &str {
    path.rsplit('.').next().unwrap_or(path)
}

/// What `path` accepts, as the tail of an error line.
pub(crate) fn accepted(path: &str) -> &'static str {
    match path {
        "redis.url" => "redis://[user:password@]host:port/db, or rediss://... for TLS",
        "qdrant.url" => "http://host:6334, or https://host:6334 for TLS (the gRPC port)",
        "qdrant.port" => "a gRPC port number 1-65535 (default 6334; not 6333, the REST port)",
        "redis.port" => "a port number 1-65535",
        "http.port" => "a port number 0-65535 (0 = any free port)",
        "redis.db" => "a database number 0 or greater",
        "redis.password" => "a password (a string)",
        "qdrant.api_key" => "an API key (a string)",
        "redis.username" => "a user name (a string)",
        "redis.mode" => "one of standalone, cluster, sentinel",
        "qdrant.mode" => "one of remote, embedded",
        "qdrant.compression" => "one of none, gzip",
        "redis.nodes" => "a comma-separated list of host:port, e.g. redis-1:6379,redis-2:6379",
        "redis.sentinel_master" => "the name of the master that the sentinels monitor",
        "redis.pool.max_size" => "a number 1-10000",
        "qdrant.pool_size" => "a number of gRPC channels 1-64",
        "redis.retry.max_attempts" | "qdrant.retry.max_attempts" => {
            "a number of attempts 1-100 (1 = no retry)"
        }
        "redis.circuit.failure_threshold" | "qdrant.circuit.failure_threshold" => {
            "a number of consecutive failures, 1 or greater"
        }
        "qdrant.path" => "a directory path for the embedded store",
        "http.body_limit" => "a size in bytes 1-1073741824 (1 GiB)",
        "redis" | "qdrant" | "http" | "health" => SECTION,
        _ => match leaf(path) {
            "enabled" | "critical" => "true or false",
            "host" => "a host name or IP address",
            "ca_file" | "cert_file" | "key_file" => "the path of an existing PEM file",
            "tls" | "pool" | "retry" | "circuit" => SECTION,
            "wait_timeout" | "create_timeout" | "recycle_timeout" | "connect_timeout"
            | "command_timeout" | "timeout" | "keep_alive" | "base_delay" | "max_delay"
            | "open_for" | "shutdown_grace" | "request_timeout" | "cache_ttl" | "check_timeout" => {
                duration::ACCEPTED
            }
            _ => "a known key",
        },
    }
}

/// Whether a value at `path` may be quoted in an error line.
///
/// Secrets and URLs never are; neither are sections (someone may paste a URL
/// with a password into `SOCIAL_REDIS`), the node list (only its own safe
/// messages are shown) nor any key this crate does not know.
pub(crate) fn may_echo(path: &str) -> bool {
    const NEVER: &[&str] = &[
        "redis.url",
        "redis.password",
        "redis.nodes",
        "qdrant.url",
        "qdrant.api_key",
    ];
    if NEVER
        .iter()
        .any(|secret| path == *secret || path.starts_with(&format!("{secret}.")))
    {
        return false;
    }
    !matches!(accepted(path), "a known key" | SECTION)
}

/// The environment key for a dotted path: `redis.pool.max_size` with prefix
/// `SOCIAL_` is `SOCIAL_REDIS__POOL__MAX_SIZE`.
pub(crate) fn env_key(prefix: &str, path: &str) -> String {
    let mut key = String::from(prefix);
    for (index, part) in path.split('.').enumerate() {
        if index > 0 {
            key.push_str("__");
        }
        key.push_str(&part.to_ascii_uppercase());
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_keys_follow_the_contract() {
        assert_eq!(
            env_key("SOCIAL_", "redis.pool.max_size"),
            "SOCIAL_REDIS__POOL__MAX_SIZE"
        );
        assert_eq!(env_key("APP_", "http.port"), "APP_HTTP__PORT");
    }

    #[test]
    fn secrets_are_never_echoed() {
        for path in [
            "redis.url",
            "redis.password",
            "qdrant.api_key",
            "qdrant.url",
            "redis",
        ] {
            assert!(!may_echo(path), "{path}");
        }
        for path in [
            "redis.port",
            "redis.mode",
            "http.host",
            "redis.pool.wait_timeout",
        ] {
            assert!(may_echo(path), "{path}");
        }
    }

    #[test]
    fn ports_describe_their_rules() {
        assert!(accepted("qdrant.port").contains("6333"));
        assert_eq!(accepted("redis.port"), "a port number 1-65535");
    }
}
