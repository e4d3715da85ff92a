//! The [`Operation`] descriptor of every [`RedisPort`](super::RedisPort) method: the one
//! list layers see (names are the `db.operation.name` of metrics and spans).

use crate::layer::Operation;
use crate::resilience::Idempotency;

/// `PING`.
pub static PING: Operation = Operation::read("ping");
/// `GET`.
pub static GET: Operation = Operation::read("get");
/// `SET`: repeating it leaves the same state (a retried `SET ... NX` may answer `false`).
pub static SET: Operation = Operation::idempotent_write("set");
/// `DEL`: repeating it leaves the same state (a retried `DEL` may count fewer keys).
pub static DEL: Operation = Operation::idempotent_write("del");
/// `EXISTS`.
pub static EXISTS: Operation = Operation::read("exists");
/// `PEXPIRE`.
pub static EXPIRE: Operation = Operation::idempotent_write("expire");
/// `INCRBY` (with a TTL on create): never retried, a lost reply may have counted.
pub static INCR_BY: Operation = Operation::unsafe_write("incr_by");
/// `MGET`.
pub static MGET: Operation = Operation::read("mget");
/// `PUBLISH`: never retried, subscribers would receive the message twice.
pub static PUBLISH: Operation = Operation::unsafe_write("publish");

// The general command path. The caller states the idempotency of each call, and a
// descriptor's idempotency is fixed, so each method has two descriptors of one name, picked
// by the argument ([`command`], [`pipeline`]): the resilience layer retries exactly what the
// caller declared safe to repeat.
//
// The name (the `db.operation.name` label of metrics and spans) is the bounded `command` /
// `pipeline`, not the Redis command's name. A per-command label (`HGET`) would be bounded
// only if the name were checked against a fixed list of known commands, which every Redis
// release and module extends (a name outside the list would need an `other` bucket, and the
// list would need upkeep in this crate); the layers are also shared by every port and see
// only `&'static` descriptors, so a per-command label would mean one descriptor per known
// command. Callers who need per-command latency record it around their own call, where
// the command is known statically; the port's metrics answer "how is the general path
// doing" with two series per outcome.

/// Any command through [`RedisPort::command`](super::RedisPort::command), stated
/// idempotent by its caller: retried on transient errors. Counted as a write: the port
/// does not know what the command does.
pub static COMMAND: Operation = Operation::idempotent_write("command");
/// Any command through [`RedisPort::command`](super::RedisPort::command), stated
/// non-idempotent by its caller: never retried.
pub static COMMAND_NON_IDEMPOTENT: Operation = Operation::unsafe_write("command");
/// A pipeline or transaction through [`RedisPort::pipeline`](super::RedisPort::pipeline),
/// stated idempotent by its caller: retried (the whole pipeline) on transient errors.
pub static PIPELINE: Operation = Operation::idempotent_write("pipeline");
/// A pipeline or transaction stated non-idempotent by its caller: never retried.
pub static PIPELINE_NON_IDEMPOTENT: Operation = Operation::unsafe_write("pipeline");

/// The descriptor of a [`RedisPort::command`](super::RedisPort::command) call with the
/// caller's `idempotency`.
pub const fn command(idempotency: Idempotency) -> &'static Operation {
    match idempotency {
        Idempotency::Idempotent => &COMMAND,
        Idempotency::NonIdempotent => &COMMAND_NON_IDEMPOTENT,
    }
}

/// The descriptor of a [`RedisPort::pipeline`](super::RedisPort::pipeline) call with the
/// caller's `idempotency`.
pub const fn pipeline(idempotency: Idempotency) -> &'static Operation {
    match idempotency {
        Idempotency::Idempotent => &PIPELINE,
        Idempotency::NonIdempotent => &PIPELINE_NON_IDEMPOTENT,
    }
}

/// Every descriptor above, for layers that prepare per-operation state (`command` and
/// `pipeline` appear twice, once per idempotency, under one name).
pub static ALL: &[&Operation] = &[
    &PING,
    &GET,
    &SET,
    &DEL,
    &EXISTS,
    &EXPIRE,
    &INCR_BY,
    &MGET,
    &PUBLISH,
    &COMMAND,
    &COMMAND_NON_IDEMPOTENT,
    &PIPELINE,
    &PIPELINE_NON_IDEMPOTENT,
];
