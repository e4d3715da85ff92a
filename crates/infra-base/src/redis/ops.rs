//! The [`Operation`] descriptor of every [`RedisPort`](super::RedisPort) method: the one
//! list layers see (names are the `db.operation.name` of metrics and spans).

use crate::layer::Operation;

/// `PING`.
pub const PING: Operation = Operation::read("ping");
/// `GET`.
pub const GET: Operation = Operation::read("get");
/// `SET`: repeating it leaves the same state (a retried `SET ... NX` may answer `false`).
pub const SET: Operation = Operation::idempotent_write("set");
/// `DEL`: repeating it leaves the same state (a retried `DEL` may count fewer keys).
pub const DEL: Operation = Operation::idempotent_write("del");
/// `EXISTS`.
pub const EXISTS: Operation = Operation::read("exists");
/// `PEXPIRE`.
pub const EXPIRE: Operation = Operation::idempotent_write("expire");
/// `INCRBY` (with a TTL on create): never retried, a lost reply may have counted.
pub const INCR_BY: Operation = Operation::unsafe_write("incr_by");
/// `MGET`.
pub const MGET: Operation = Operation::read("mget");
/// `PUBLISH`: never retried, subscribers would receive the message twice.
pub const PUBLISH: Operation = Operation::unsafe_write("publish");

/// Every descriptor above, for layers that prepare per-operation state.
pub const ALL: &[Operation] = &[PING, GET, SET, DEL, EXISTS, EXPIRE, INCR_BY, MGET, PUBLISH];
