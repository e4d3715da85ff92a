//! Test support for the infra crates. Only ever a dev-dependency.
//!
//! Use it in tests that need a real server or a misbehaving network: tier-2 suites get their
//! Redis and Qdrant from its providers (the order is in `docs/architecture.md`, "Two test
//! tiers and providers"), and the fault suites put its [`FaultProxy`] in front of them.
//! Tests that need no server use `infra-base`'s `mock` and `testing` features instead.
//!
//! - [`redis`]: local `redis-server` processes on 127.0.0.1: [`RedisServer`] (standalone,
//!   optionally with a password or an ACL user; kill, restart on the same port, pause and
//!   resume, `INFO` counters), [`RedisCluster`] (three or more masters joined into a real
//!   cluster), [`RedisTls`] (TLS with generated certificates) and [`RedisSentinel`] (master,
//!   replica, three sentinels, forced failover);
//! - [`provider`]: which Redis serves the standalone suites: an explicit URL, Docker, or a
//!   local server, in that order ([`RedisProvision`]);
//! - [`certs`]: a private CA and server/client certificates, plus the wrong ones
//!   ([`TestCerts`]);
//! - [`process`]: the managed child process behind every server: readiness with a bounded
//!   deadline and the log's last lines in errors, kill on drop, and a watchdog so that no
//!   server outlives the test process;
//! - [`resp`]: a minimal blocking RESP client for driving servers without the `redis` crate.
//! - [`qdrant`]: a Qdrant gRPC test server over any `VectorPort` (health, collections,
//!   points; API key, TLS, injected delay / `UNAVAILABLE` / dropped connections), and
//!   [`QdrantProvision`](qdrant::QdrantProvision): a real Qdrant from `INFRA_TEST_QDRANT_URL`,
//!   else a `qdrant/qdrant` container when Docker answers, else that test server.
//! - [`proxy`]: a TCP fault proxy on 127.0.0.1 in front of any server ([`FaultProxy`]):
//!   latency, blackhole, reset and refused connections on command ([`Fault`]), for timeout
//!   and recovery tests.
//!
//! Tests that start servers are tier 2: mark them
//! `#[ignore = "tier 2: starts redis-server; run by cargo xtask test-integration"]` so that
//! `cargo test --workspace` stays server-free; `cargo xtask test-integration` runs them with
//! `--ignored`.
//!
//! ```no_run
//! use infra_testkit::RedisServer;
//!
//! let server = RedisServer::builder().password("s3cret").start()?;
//! let url = server.url(); // redis://:s3cret@127.0.0.1:<port>
//! # let _ = url;
//! server.pause()?; // SIGSTOP: the server hangs
//! server.resume()?;
//! server.kill()?;
//! server.restart()?; // same port, same directory
//! let accepted = server.total_connections_received()?;
//! # let _ = accepted;
//! # Ok::<(), infra_testkit::Error>(())
//! ```

pub mod certs;
mod error;
pub mod ports;
pub mod process;
pub mod provider;
pub mod proxy;
pub mod qdrant;
pub mod redis;
pub mod resp;

pub use certs::TestCerts;
pub use error::{Error, Result};
pub use provider::{ProviderKind, RedisProvision};
pub use proxy::{Fault, FaultProxy};
pub use redis::{
    ClientAuth, RedisAuth, RedisCluster, RedisSentinel, RedisServer, RedisTls, ServerIdentity,
};
