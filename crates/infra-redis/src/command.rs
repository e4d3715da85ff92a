//! The general command path's conversions: infra-base's [`Command`] to a redis-rs [`Cmd`],
//! and a redis-rs [`Value`] to a [`Reply`].

use infra_base::redis::{Command, Reply};
use infra_base::{ErrorKind, InfraError, InfraResult, REDIS_BACKEND, SetCondition, SetOptions};
use redis::{Cmd, RedisError, Value};

use crate::error::map_redis_error;

/// An empty redis-rs command named `name`, with room for `args` more arguments of `bytes`
/// bytes in all.
///
/// `redis::cmd(name).arg(..)` starts from empty buffers and grows them (reallocating and
/// copying) as the arguments arrive: about 400 of a raw GET's 9,400 client instructions, and
/// more for a SET whose value crosses several growth steps (callgrind, "Instructions per
/// call" in docs/benchmarks.md). Every typed port call starts here instead.
pub(crate) fn sized_cmd(name: &[u8], args: usize, bytes: usize) -> Cmd {
    let mut cmd = Cmd::with_capacity(args + 1, name.len() + bytes);
    cmd.arg(name);
    cmd
}

/// The bytes of every key together (what a multi-key command carries besides its name).
pub(crate) fn total_len(keys: &[String]) -> usize {
    keys.iter().map(String::len).sum()
}

/// Room enough for one integer argument in decimal (`i64::MIN` is 20 characters).
pub(crate) const INTEGER_ARG: usize = 20;

/// The redis-rs command of `command`: its name, then its arguments, as bytes.
///
/// Sized up front from the command's own lengths, so that copying the arguments in never
/// grows (reallocates and copies again) the buffers `redis::cmd(name)` starts with.
pub(crate) fn to_cmd(command: &Command) -> Cmd {
    let args = command.args();
    let bytes = args.clone().map(<[u8]>::len).sum();
    let mut cmd = sized_cmd(command.name_bytes(), args.len(), bytes);
    for arg in args {
        cmd.arg(arg);
    }
    cmd
}

/// A general command's reply as redis-rs reads it, before [`to_reply`].
///
/// A type of its own rather than `Value`, which other port calls read too: a query type
/// that only `RedisPort::command` uses lets the compiler inline the shared query into that
/// one call's future, as it does for `get` (two state machines fewer per call, about 130
/// instructions; callgrind, docs/benchmarks.md).
pub(crate) struct CommandValue(pub(crate) Value);

impl redis::FromRedisValue for CommandValue {
    fn from_redis_value(value: Value) -> Result<Self, redis::ParsingError> {
        Ok(Self(value))
    }
}

/// The [`Reply`] of a redis-rs value, type for type.
///
/// An error reply nested in the value (an element of a pipeline's or a script's reply) is
/// the call's error, mapped like any other; RESP3 attributes are dropped (redis-rs
/// documents them as metadata of the value they annotate). Push messages and big numbers
/// never answer a command on this path (the adapter speaks RESP2 and subscribes nowhere);
/// should one come, it is an `Internal` error rather than a guess.
pub(crate) fn to_reply(value: Value, operation: &'static str) -> InfraResult<Reply> {
    let all = |items: Vec<Value>| -> InfraResult<Vec<Reply>> {
        items.into_iter().map(|v| to_reply(v, operation)).collect()
    };
    Ok(match value {
        Value::Nil => Reply::Nil,
        Value::Int(n) => Reply::Int(n),
        Value::BulkString(bytes) => Reply::Bulk(bytes),
        Value::SimpleString(text) => Reply::Simple(text),
        Value::Okay => Reply::Simple("OK".to_owned()),
        Value::Array(items) => Reply::Array(all(items)?),
        Value::Set(items) => Reply::Set(all(items)?),
        Value::Map(pairs) => Reply::Map(
            pairs
                .into_iter()
                .map(|(k, v)| Ok((to_reply(k, operation)?, to_reply(v, operation)?)))
                .collect::<InfraResult<_>>()?,
        ),
        Value::Attribute { data, .. } => to_reply(*data, operation)?,
        Value::Double(x) => Reply::Double(x),
        Value::Boolean(b) => Reply::Boolean(b),
        Value::VerbatimString { format, text } => Reply::Verbatim {
            format: format.to_string(),
            text,
        },
        Value::ServerError(err) => return Err(map_redis_error(RedisError::from(err), operation)),
        _ => {
            return Err(InfraError::new(
                ErrorKind::Internal,
                REDIS_BACKEND,
                operation,
                "unexpected reply type from the server (a push message or a big number)",
            ));
        }
    })
}

/// `INCRBY` that sets a TTL only when it creates the key, atomically (one key, so it is
/// valid in a cluster: the script runs on the key's node).
pub(crate) const INCR_WITH_TTL: &str = r"
local created = redis.call('EXISTS', KEYS[1]) == 0
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
if created then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return value
";

/// The port's TTL rule (milliseconds, rounded up; zero refused), shared with infra-base's
/// typed helpers.
pub(crate) use infra_base::redis::ttl_millis;

/// `SET key value [PX ms] [NX|XX]`.
pub(crate) fn set_command(key: &str, value: &[u8], options: SetOptions) -> InfraResult<Cmd> {
    // Room for `PX <millis>` and `NX`/`XX` too.
    let mut cmd = sized_cmd(b"SET", 5, key.len() + value.len() + 4 + INTEGER_ARG);
    cmd.arg(key).arg(value);
    if let Some(ttl) = options.ttl {
        cmd.arg("PX").arg(ttl_millis(ttl, "set")?);
    }
    match options.condition {
        SetCondition::Always => {}
        SetCondition::IfAbsent => {
            cmd.arg("NX");
        }
        SetCondition::IfPresent => {
            cmd.arg("XX");
        }
    }
    Ok(cmd)
}

/// The first server error of a failed pipeline or transaction (an `EXECABORT` carries the
/// errors of the commands refused when queued), so that it is mapped by its own code;
/// any other error as it is.
pub(crate) fn first_server_error(err: RedisError) -> RedisError {
    if err.kind() != redis::ErrorKind::Server(redis::ServerErrorKind::ExecAbort) {
        return err;
    }
    match err.clone().into_server_errors() {
        Some(errors) if !errors.is_empty() => RedisError::from(errors[0].1.clone()),
        _ => err,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// infra-base computes slots itself (it must not depend on redis-rs): it must agree
    /// with the cluster client that routes the commands.
    #[test]
    fn infra_base_key_slot_agrees_with_redis_rs() {
        use redis::cluster_routing::Slot;
        let mut keys: Vec<String> = (0..2000).map(|i| format!("key:{i}")).collect();
        keys.extend(
            [
                "",
                "{",
                "}",
                "{}",
                "{}{a}",
                "a{b}c",
                "{user:42}:x",
                "x{y",
                "é{ü}",
            ]
            .map(str::to_owned),
        );
        for key in &keys {
            let ours = infra_base::redis::key_slot(key);
            assert_eq!(Slot::new(ours), Some(Slot::for_key(key)), "slot of {key:?}");
        }
    }

    #[test]
    fn commands_keep_their_bytes() {
        let cmd = to_cmd(&Command::new("hset").arg("k").arg(b"\xff\x00").arg(7));
        let args: Vec<Vec<u8>> = cmd
            .args_iter()
            .map(|arg| match arg {
                redis::Arg::Simple(bytes) => bytes.to_vec(),
                _ => Vec::new(),
            })
            .collect();
        assert_eq!(
            args,
            [
                b"HSET".to_vec(),
                b"k".to_vec(),
                vec![0xff, 0],
                b"7".to_vec()
            ]
        );
    }

    #[test]
    fn values_map_type_for_type() {
        let value = Value::Array(vec![
            Value::Nil,
            Value::Int(-1),
            Value::BulkString(b"b".to_vec()),
            Value::SimpleString("PONG".into()),
            Value::Okay,
            Value::Map(vec![(Value::BulkString(b"k".to_vec()), Value::Double(1.5))]),
            Value::Set(vec![Value::Boolean(true)]),
            Value::VerbatimString {
                format: redis::VerbatimFormat::Text,
                text: "t".into(),
            },
            Value::Attribute {
                data: Box::new(Value::Int(3)),
                attributes: Vec::new(),
            },
        ]);
        let reply = to_reply(value, "command").unwrap();
        assert_eq!(
            reply,
            Reply::Array(vec![
                Reply::Nil,
                Reply::Int(-1),
                Reply::Bulk(b"b".to_vec()),
                Reply::Simple("PONG".into()),
                Reply::Simple("OK".into()),
                Reply::Map(vec![(Reply::Bulk(b"k".to_vec()), Reply::Double(1.5))]),
                Reply::Set(vec![Reply::Boolean(true)]),
                Reply::Verbatim {
                    format: "txt".into(),
                    text: "t".into()
                },
                Reply::Int(3),
            ])
        );
    }

    #[test]
    fn nested_error_replies_are_mapped_errors() {
        let wrongtype = redis::parse_redis_value(
            b"*2\r\n:1\r\n-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
        )
        .unwrap();
        let err = to_reply(wrongtype, "pipeline").unwrap_err();
        assert_eq!(
            (err.kind(), err.operation()),
            (ErrorKind::InvalidInput, "pipeline")
        );
    }

    #[test]
    fn ttls_are_whole_milliseconds_rounded_up() {
        assert_eq!(ttl_millis(Duration::from_micros(1), "set").unwrap(), 1);
        assert_eq!(ttl_millis(Duration::from_micros(1500), "set").unwrap(), 2);
        assert_eq!(ttl_millis(Duration::from_mins(1), "set").unwrap(), 60_000);
        let zero = ttl_millis(Duration::ZERO, "expire").unwrap_err();
        assert_eq!(zero.kind(), ErrorKind::InvalidInput);
        assert_eq!(zero.operation(), "expire");
        let huge = ttl_millis(Duration::MAX, "set").unwrap_err();
        assert_eq!(huge.kind(), ErrorKind::InvalidInput);
    }

    fn args(cmd: &Cmd) -> Vec<String> {
        cmd.args_iter()
            .map(|arg| match arg {
                redis::Arg::Simple(bytes) => String::from_utf8_lossy(bytes).into_owned(),
                _ => "<cursor>".to_owned(),
            })
            .collect()
    }

    #[test]
    fn set_commands() {
        let plain = set_command("k", b"v", SetOptions::default()).unwrap();
        assert_eq!(
            args(&plain),
            ["SET", "k", "v"],
            "no KEEPTTL: a plain SET clears the TTL"
        );
        let nx = set_command(
            "k",
            b"v",
            SetOptions::with_ttl(Duration::from_millis(1500)).if_absent(),
        )
        .unwrap();
        assert_eq!(args(&nx), ["SET", "k", "v", "PX", "1500", "NX"]);
        let xx = set_command("k", b"v", SetOptions::default().if_present()).unwrap();
        assert_eq!(args(&xx), ["SET", "k", "v", "XX"]);
        assert!(set_command("k", b"v", SetOptions::with_ttl(Duration::ZERO)).is_err());
    }
}
