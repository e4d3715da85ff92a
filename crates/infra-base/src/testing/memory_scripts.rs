//! The Lua scripts [`MemoryRedis`](super::MemoryRedis) runs without Lua: the scripts of
//! infra-base's own primitives ([`lock`](crate::redis::lock) and
//! [`rate_limit`](crate::redis::rate_limit)), recognised by their SHA1 (for `EVALSHA`) or
//! by the SHA1 of their source (for `EVAL`) and emulated natively, one `redis.call` of the
//! script at a time through the same command engine, so that services' tests of code that
//! takes a lock or checks a limit need no server. Any other script is refused as
//! `InvalidInput` ("not supported by MemoryRedis"). The conformance suite runs the same
//! lock and rate-limit cases on this emulation and on real servers, so the two cannot
//! drift apart unnoticed.

use std::time::{SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use super::{State, invalid};
use crate::error::InfraResult;
use crate::redis::lock::{ACQUIRE, EXTEND, RELEASE};
use crate::redis::rate_limit::GCRA;
use crate::redis::{Command, Reply, Script};

/// The scripts the engine emulates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Emulated {
    LockAcquire,
    LockRelease,
    LockExtend,
    Gcra,
}

impl Emulated {
    /// The emulated script whose SHA1 is `sha1`, if any.
    fn by_sha1(sha1: &[u8]) -> Option<Self> {
        [
            (&*ACQUIRE, Self::LockAcquire),
            (&*RELEASE, Self::LockRelease),
            (&*EXTEND, Self::LockExtend),
            (&*GCRA, Self::Gcra),
        ]
        .into_iter()
        .find(|(script, _)| script.sha1().as_bytes().eq_ignore_ascii_case(sha1))
        .map(|(_, emulated)| emulated)
    }

    /// How many keys and arguments the script reads.
    fn arity(self) -> (usize, usize) {
        match self {
            Self::LockAcquire => (2, 3),
            Self::LockRelease => (1, 1),
            Self::LockExtend => (1, 2),
            Self::Gcra => (1, 3),
        }
    }
}

/// The emulated script an `EVAL` or `EVALSHA` command runs, if the engine knows it.
pub(super) fn emulated(command: &Command) -> Option<Emulated> {
    let first = command.args().next()?;
    match command.name() {
        "EVALSHA" => Emulated::by_sha1(first),
        "EVAL" => {
            let source = std::str::from_utf8(first).ok()?;
            Emulated::by_sha1(Script::new(source).sha1().as_bytes())
        }
        _ => None,
    }
}

fn int(reply: &Reply) -> i64 {
    reply.as_int().unwrap_or(0)
}

impl State {
    /// The server's clock in microseconds since the Unix epoch: the wall clock when the
    /// store first read it, advanced by tokio's clock since, so that a test with a paused
    /// clock controls it with `tokio::time::advance`.
    pub(super) fn clock_micros(&mut self, now: Instant) -> i64 {
        let (origin, base) = *self.clock.get_or_insert_with(|| {
            let wall = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
            (now, wall)
        });
        let elapsed =
            i64::try_from(now.saturating_duration_since(origin).as_micros()).unwrap_or(i64::MAX);
        base.saturating_add(elapsed)
    }

    /// Runs an `EVAL`/`EVALSHA` of an [`emulated`] script; `args` are the command's
    /// arguments, as the engine copied them.
    pub(super) fn run_script(
        &mut self,
        args: &[Vec<u8>],
        script: Emulated,
        now: Instant,
        operation: &'static str,
    ) -> InfraResult<Reply> {
        let (want_keys, want_args) = script.arity();
        let numkeys = args
            .get(1)
            .and_then(|n| std::str::from_utf8(n).ok())
            .and_then(|n| n.parse::<usize>().ok());
        if numkeys != Some(want_keys) || args.len() != 2 + want_keys + want_args {
            return Err(invalid(
                operation,
                format!(
                    "MemoryRedis runs this script only with {want_keys} key(s) and \
                     {want_args} argument(s), as its Rust caller sends it"
                ),
            ));
        }
        let keys = &args[2..2 + want_keys];
        let values = &args[2 + want_keys..];
        match script {
            Emulated::LockAcquire => self.lock_acquire(keys, values, now, operation),
            Emulated::LockRelease | Emulated::LockExtend => {
                let held = self.run(&Command::new("GET").arg(&keys[0]), now, operation)?;
                if held != Reply::Bulk(values[0].clone()) {
                    return Ok(Reply::Int(0));
                }
                let cmd = if script == Emulated::LockRelease {
                    Command::new("DEL").arg(&keys[0])
                } else {
                    Command::new("PEXPIRE").arg(&keys[0]).arg(&values[1])
                };
                self.run(&cmd, now, operation)
            }
            Emulated::Gcra => self.gcra(&keys[0], values, now, operation),
        }
    }

    /// The lock's acquire script (`crate::redis::lock::ACQUIRE`), step for step.
    fn lock_acquire(
        &mut self,
        keys: &[Vec<u8>],
        values: &[Vec<u8>],
        now: Instant,
        operation: &'static str,
    ) -> InfraResult<Reply> {
        let mut call = |cmd: Command| self.run(&cmd, now, operation);
        let held = call(Command::new("GET").arg(&keys[0]))?;
        if !held.is_nil() && held != Reply::Bulk(values[0].clone()) {
            let pttl = call(Command::new("PTTL").arg(&keys[0]))?;
            return Ok(Reply::Array(vec![Reply::Int(0), pttl]));
        }
        call(
            Command::new("SET")
                .arg(&keys[0])
                .arg(&values[0])
                .arg("PX")
                .arg(&values[1]),
        )?;
        let mut fence = 0;
        if values[2] == b"1" {
            if !held.is_nil() {
                fence = call(Command::new("GET").arg(&keys[1]))?
                    .as_opt_int()
                    .ok()
                    .flatten()
                    .unwrap_or(0);
            }
            if fence == 0 {
                fence = int(&call(Command::new("INCR").arg(&keys[1]))?);
            }
        }
        Ok(Reply::Array(vec![Reply::Int(1), Reply::Int(fence)]))
    }

    /// The rate limiter's GCRA script (`crate::redis::rate_limit::GCRA`), step for step,
    /// in integers (the script's numbers stay far below 2^53, where Lua's are exact).
    fn gcra(
        &mut self,
        key: &[u8],
        values: &[Vec<u8>],
        now: Instant,
        operation: &'static str,
    ) -> InfraResult<Reply> {
        let number = |i: usize| {
            std::str::from_utf8(&values[i])
                .ok()
                .and_then(|n| n.parse::<i64>().ok())
                .filter(|n| *n > 0)
                .ok_or_else(|| {
                    invalid(
                        operation,
                        "the rate-limit script's arguments must be positive integers",
                    )
                })
        };
        let (interval, tolerance, cost) = (number(0)?, number(1)?, number(2)?);
        let now_us = self.clock_micros(now);
        let stored = self.run(&Command::new("GET").arg(key), now, operation)?;
        let tat = stored
            .as_opt_int()
            .ok()
            .flatten()
            .map_or(now_us, |tat| tat.max(now_us));
        let new_tat = tat + interval * cost;
        let allow_at = new_tat - tolerance;
        if allow_at > now_us {
            let remaining = (now_us - (tat - tolerance)).div_euclid(interval).max(0);
            return Ok(Reply::Array(vec![
                Reply::Int(0),
                Reply::Int(remaining),
                Reply::Int(allow_at - now_us),
                Reply::Int(tat - now_us),
            ]));
        }
        let ttl_ms = (new_tat - now_us + 999) / 1000;
        let set = Command::new("SET")
            .arg(key)
            .arg(new_tat)
            .arg("PX")
            .arg(ttl_ms);
        self.run(&set, now, operation)?;
        Ok(Reply::Array(vec![
            Reply::Int(1),
            Reply::Int((now_us - allow_at) / interval),
            Reply::Int(0),
            Reply::Int(new_tat - now_us),
        ]))
    }
}
