//! The commands [`MemoryRedis`](super::MemoryRedis) emulates on the general command path:
//! strings, keys, hashes and sorted sets here, sets, lists, streams, `GETEX` and `SCAN` in
//! `memory_structures.rs`, with Redis' replies and errors, and the primitives' scripts
//! (`memory_scripts.rs`). Anything else is refused as
//! `InvalidInput` ("not supported by MemoryRedis: X"), never answered approximately.

use std::ops::Bound;
use std::time::Duration;

use tokio::time::Instant;

#[path = "memory_structures.rs"]
mod structures;

pub(super) use structures::StreamValue;

use super::{Entry, State, Value, deadline, invalid, not_an_integer, parse_integer};
use crate::error::InfraResult;
use crate::redis::{Command, Reply};

/// Every command the engine runs; the rest are refused before anything runs.
pub(super) const SUPPORTED: &[&str] = &[
    "PING",
    "ECHO",
    "TYPE",
    "GET",
    "SET",
    "GETDEL",
    "MGET",
    "MSET",
    "DEL",
    "UNLINK",
    "EXISTS",
    "INCR",
    "DECR",
    "INCRBY",
    "DECRBY",
    "EXPIRE",
    "PEXPIRE",
    "TTL",
    "PTTL",
    "PERSIST",
    "HSET",
    "HSETNX",
    "HGET",
    "HMGET",
    "HGETALL",
    "HDEL",
    "HEXISTS",
    "HLEN",
    "HINCRBY",
    "HKEYS",
    "HVALS",
    "ZADD",
    "ZINCRBY",
    "ZSCORE",
    "ZRANGE",
    "ZREM",
    "ZCARD",
    "TIME",
    "GETEX",
    "SCAN",
    "SADD",
    "SREM",
    "SISMEMBER",
    "SMEMBERS",
    "SCARD",
    "LPUSH",
    "RPUSH",
    "LRANGE",
    "LTRIM",
    "LLEN",
    "LPOP",
    "RPOP",
    "XADD",
    "XGROUP",
    "XREADGROUP",
    "XACK",
    "XAUTOCLAIM",
    "XPENDING",
    "XLEN",
    "XRANGE",
    "XDEL",
];

/// The refusal of a command (or an option) the engine does not emulate.
pub(super) fn unsupported(operation: &'static str, what: &str) -> crate::error::InfraError {
    invalid(
        operation,
        format!(
            "not supported by MemoryRedis: {what} (it emulates the commands of infra-base's \
             typed helpers: strings, keys, SCAN, hashes, sets, sorted sets, lists, streams, \
             and the scripts of its lock and rate limiter; test this against a real server)"
        ),
    )
}

/// Refuses a command the engine does not run, before anything runs.
pub(super) fn check_supported(command: &Command, operation: &'static str) -> InfraResult<()> {
    if matches!(command.name(), "EVAL" | "EVALSHA") {
        return match super::scripts::emulated(command) {
            Some(_) => Ok(()),
            None => Err(unsupported(
                operation,
                &format!("{} of a script it does not emulate", command.name()),
            )),
        };
    }
    if SUPPORTED.contains(&command.name()) {
        Ok(())
    } else {
        Err(unsupported(operation, command.name()))
    }
}

/// A hash's fields and values.
type Fields = Vec<(Vec<u8>, Vec<u8>)>;

/// A sorted set's members and scores, in Redis' order.
type Members = Vec<(Vec<u8>, f64)>;

fn ok() -> Reply {
    Reply::Simple("OK".to_owned())
}

fn int(n: usize) -> Reply {
    Reply::Int(i64::try_from(n).unwrap_or(i64::MAX))
}

fn bulk(bytes: &[u8]) -> Reply {
    Reply::Bulk(bytes.to_vec())
}

/// One command's run: its arguments and the operation errors name.
struct Call<'a> {
    name: &'a str,
    args: &'a [Vec<u8>],
    operation: &'static str,
}

impl<'a> Call<'a> {
    /// Fails unless the command has `min..=max` arguments (`max` `None`: unbounded).
    fn arity(&self, min: usize, max: Option<usize>) -> InfraResult<()> {
        let n = self.args.len();
        if n < min || max.is_some_and(|max| n > max) {
            return Err(invalid(
                self.operation,
                format!(
                    "wrong number of arguments for '{}' command",
                    self.name.to_ascii_lowercase()
                ),
            ));
        }
        Ok(())
    }

    /// Argument `i` as a key (the port's keys are text).
    fn key(&self, i: usize) -> InfraResult<&'a str> {
        std::str::from_utf8(&self.args[i])
            .map_err(|_| unsupported(self.operation, "keys that are not UTF-8"))
    }

    fn keys(&self, from: usize) -> InfraResult<Vec<&'a str>> {
        (from..self.args.len()).map(|i| self.key(i)).collect()
    }

    fn integer(&self, i: usize) -> InfraResult<i64> {
        parse_integer(&self.args[i]).ok_or_else(|| not_an_integer(self.operation))
    }

    fn word(&self, i: usize) -> String {
        String::from_utf8_lossy(&self.args[i]).to_ascii_uppercase()
    }

    fn syntax_error(&self) -> crate::error::InfraError {
        invalid(self.operation, "syntax error in the command's arguments")
    }
}

/// A TTL argument in `unit`s: positive, within Redis' range.
fn ttl_arg(call: &Call<'_>, i: usize, unit: Duration, now: Instant) -> InfraResult<Instant> {
    let n = call.integer(i)?;
    let units = u32::try_from(n)
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| invalid(call.operation, "the expiry is out of range"))?;
    deadline(unit * units, now, call.operation)
}

impl State {
    /// Runs one supported command (see [`check_supported`]).
    #[allow(clippy::too_many_lines)] // one arm per command, like Redis' command table
    pub(super) fn run(
        &mut self,
        command: &Command,
        now: Instant,
        operation: &'static str,
    ) -> InfraResult<Reply> {
        // The fake copies the arguments out once, to index them like Redis' own argv.
        let args: Vec<Vec<u8>> = command.args().map(<[u8]>::to_vec).collect();
        let call = Call {
            name: command.name(),
            args: &args,
            operation,
        };
        match call.name {
            "PING" => {
                call.arity(0, Some(1))?;
                Ok(call
                    .args
                    .first()
                    .map_or_else(|| Reply::Simple("PONG".to_owned()), |m| bulk(m)))
            }
            "ECHO" => {
                call.arity(1, Some(1))?;
                Ok(bulk(&call.args[0]))
            }
            "TIME" => {
                call.arity(0, Some(0))?;
                let micros = self.clock_micros(now);
                Ok(Reply::Array(vec![
                    bulk(micros.div_euclid(1_000_000).to_string().as_bytes()),
                    bulk(micros.rem_euclid(1_000_000).to_string().as_bytes()),
                ]))
            }
            "EVAL" | "EVALSHA" => match super::scripts::emulated(command) {
                Some(script) => self.run_script(call.args, script, now, operation),
                None => Err(unsupported(operation, call.name)),
            },
            "TYPE" => {
                call.arity(1, Some(1))?;
                let kind = self
                    .live(call.key(0)?, now)
                    .map_or("none", |e| e.value.type_name());
                Ok(Reply::Simple(kind.to_owned()))
            }
            "GET" | "GETDEL" => {
                call.arity(1, Some(1))?;
                let key = call.key(0)?;
                let Some(entry) = self.live(key, now) else {
                    return Ok(Reply::Nil);
                };
                let value = bulk(entry.as_str(operation)?);
                if call.name == "GETDEL" {
                    self.entries.remove(key);
                    self.wrote(now);
                }
                Ok(value)
            }
            "SET" => self.set(&call, now),
            "MGET" => {
                call.arity(1, None)?;
                let keys = call.keys(0)?;
                Ok(Reply::Array(
                    keys.into_iter()
                        .map(|k| match self.live(k, now).map(|e| &e.value) {
                            Some(Value::Str(v)) => bulk(v),
                            _ => Reply::Nil,
                        })
                        .collect(),
                ))
            }
            "MSET" => {
                call.arity(2, None)?;
                if !call.args.len().is_multiple_of(2) {
                    return Err(call.arity(usize::MAX, None).unwrap_err());
                }
                for pair in (0..call.args.len()).step_by(2) {
                    let entry = Entry::string(call.args[pair + 1].clone(), None);
                    self.entries.insert(call.key(pair)?.to_owned(), entry);
                }
                self.wrote(now);
                Ok(ok())
            }
            "DEL" | "UNLINK" => {
                call.arity(1, None)?;
                let mut deleted = 0;
                for key in call.keys(0)? {
                    if let Some(entry) = self.entries.remove(key) {
                        deleted += usize::from(entry.is_live(now));
                    }
                }
                Ok(int(deleted))
            }
            "EXISTS" => {
                call.arity(1, None)?;
                let keys = call.keys(0)?;
                Ok(int(keys
                    .into_iter()
                    .filter(|k| self.live(k, now).is_some())
                    .count()))
            }
            "INCR" | "DECR" | "INCRBY" | "DECRBY" => {
                let by = matches!(call.name, "INCRBY" | "DECRBY");
                call.arity(1 + usize::from(by), Some(1 + usize::from(by)))?;
                let delta = if by { call.integer(1)? } else { 1 };
                let delta = if call.name.starts_with('D') {
                    delta
                        .checked_neg()
                        .ok_or_else(|| not_an_integer(operation))?
                } else {
                    delta
                };
                let key = call.key(0)?;
                let current = match self.live(key, now) {
                    Some(entry) => Some(
                        parse_integer(entry.as_str(operation)?)
                            .ok_or_else(|| not_an_integer(operation))?,
                    ),
                    None => None,
                };
                let next = current
                    .unwrap_or(0)
                    .checked_add(delta)
                    .ok_or_else(|| not_an_integer(operation))?;
                let text = next.to_string().into_bytes();
                match self.live(key, now) {
                    Some(entry) => entry.value = Value::Str(text),
                    None => {
                        self.entries
                            .insert(key.to_owned(), Entry::string(text, None));
                    }
                }
                self.wrote(now);
                Ok(Reply::Int(next))
            }
            "EXPIRE" | "PEXPIRE" => {
                call.arity(2, Some(2))?;
                let key = call.key(0)?;
                let seconds = call.name == "EXPIRE";
                if call.integer(1)? <= 0 {
                    // Redis deletes the key at once.
                    let existed = self.live(key, now).is_some();
                    self.entries.remove(key);
                    return Ok(Reply::Int(i64::from(existed)));
                }
                let unit = if seconds {
                    Duration::from_secs(1)
                } else {
                    Duration::from_millis(1)
                };
                let at = ttl_arg(&call, 1, unit, now)?;
                Ok(Reply::Int(match self.live(key, now) {
                    Some(entry) => {
                        entry.expires_at = Some(at);
                        1
                    }
                    None => 0,
                }))
            }
            "TTL" | "PTTL" => {
                call.arity(1, Some(1))?;
                Ok(Reply::Int(match self.live(call.key(0)?, now) {
                    None => -2,
                    Some(Entry {
                        expires_at: None, ..
                    }) => -1,
                    Some(Entry {
                        expires_at: Some(at),
                        ..
                    }) => {
                        let left = at.saturating_duration_since(now).as_millis();
                        // TTL rounds to the nearest second, as Redis does.
                        let left = if call.name == "TTL" {
                            (left + 500) / 1000
                        } else {
                            left
                        };
                        i64::try_from(left).unwrap_or(i64::MAX)
                    }
                }))
            }
            "PERSIST" => {
                call.arity(1, Some(1))?;
                let cleared = self
                    .live(call.key(0)?, now)
                    .and_then(|e| e.expires_at.take())
                    .is_some();
                Ok(Reply::Int(i64::from(cleared)))
            }
            "GETEX" => self.getex(&call, now),
            "SCAN" => self.scan(&call, now),
            "SADD" | "SREM" | "SISMEMBER" | "SMEMBERS" | "SCARD" => self.run_set(&call, now),
            "LPUSH" | "RPUSH" | "LRANGE" | "LTRIM" | "LLEN" | "LPOP" | "RPOP" => {
                self.run_list(&call, now)
            }
            name if name.starts_with('X') => self.run_stream(&call, now),
            name if name.starts_with('Z') => self.run_zset(&call, now),
            _ => self.run_hash(&call, now),
        }
    }

    /// `SET key value [NX|XX] [EX s|PX ms|KEEPTTL]`.
    fn set(&mut self, call: &Call<'_>, now: Instant) -> InfraResult<Reply> {
        call.arity(2, None)?;
        let key = call.key(0)?;
        let mut condition = None;
        let mut expiry = None;
        let mut keep_ttl = false;
        let mut i = 2;
        while i < call.args.len() {
            let word = call.word(i);
            match word.as_str() {
                "NX" | "XX" if condition.is_none() => condition = Some(word == "NX"),
                "EX" | "PX" if expiry.is_none() && !keep_ttl && i + 1 < call.args.len() => {
                    let unit = if word == "EX" {
                        Duration::from_secs(1)
                    } else {
                        Duration::from_millis(1)
                    };
                    i += 1;
                    expiry = Some(ttl_arg(call, i, unit, now)?);
                }
                "KEEPTTL" if expiry.is_none() => keep_ttl = true,
                "GET" | "EXAT" | "PXAT" | "IFEQ" => {
                    return Err(unsupported(call.operation, &format!("SET ... {word}")));
                }
                _ => return Err(call.syntax_error()),
            }
            i += 1;
        }
        let existing = self.live(key, now).map(|e| e.expires_at);
        let allowed = match condition {
            None => true,
            Some(if_absent) => existing.is_none() == if_absent,
        };
        if !allowed {
            return Ok(Reply::Nil);
        }
        let expires_at = if keep_ttl { existing.flatten() } else { expiry };
        self.entries.insert(
            key.to_owned(),
            Entry::string(call.args[1].clone(), expires_at),
        );
        self.wrote(now);
        Ok(ok())
    }

    /// The hash of `key`: `None` when missing, `WRONGTYPE` for another type.
    fn hash(
        &mut self,
        key: &str,
        now: Instant,
        operation: &'static str,
    ) -> InfraResult<Option<&mut Fields>> {
        self.typed(key, now, operation, |value| match value {
            Value::Hash(fields) => Some(fields),
            _ => None,
        })
    }

    /// The hash of `key`, created empty when missing.
    fn hash_or_new(
        &mut self,
        key: &str,
        now: Instant,
        operation: &'static str,
    ) -> InfraResult<&mut Fields> {
        if self.hash(key, now, operation)?.is_none() {
            self.entries.insert(
                key.to_owned(),
                Entry {
                    value: Value::Hash(Vec::new()),
                    expires_at: None,
                },
            );
        }
        self.wrote(now);
        Ok(self
            .hash(key, now, operation)?
            .expect("the hash was just created"))
    }

    #[allow(clippy::too_many_lines)] // one arm per command
    fn run_hash(&mut self, call: &Call<'_>, now: Instant) -> InfraResult<Reply> {
        let operation = call.operation;
        let find = |fields: &[(Vec<u8>, Vec<u8>)], name: &[u8]| {
            fields.iter().position(|(f, _)| f.as_slice() == name)
        };
        match call.name {
            "HSET" | "HSETNX" => {
                if call.name == "HSETNX" {
                    call.arity(3, Some(3))?;
                } else if call.args.len() < 3 || call.args.len().is_multiple_of(2) {
                    return Err(call.arity(usize::MAX, None).unwrap_err());
                }
                let only_new = call.name == "HSETNX";
                let fields = self.hash_or_new(call.key(0)?, now, operation)?;
                let mut added = 0;
                for pair in (1..call.args.len()).step_by(2) {
                    let (name, value) = (&call.args[pair], &call.args[pair + 1]);
                    match find(fields, name) {
                        Some(_) if only_new => {}
                        Some(at) => fields[at].1.clone_from(value),
                        None => {
                            fields.push((name.clone(), value.clone()));
                            added += 1;
                        }
                    }
                }
                Ok(int(added))
            }
            "HGET" => {
                call.arity(2, Some(2))?;
                let fields = self.hash(call.key(0)?, now, operation)?;
                Ok(fields
                    .and_then(|f| find(f, &call.args[1]).map(|at| bulk(&f[at].1)))
                    .unwrap_or(Reply::Nil))
            }
            "HMGET" => {
                call.arity(2, None)?;
                let fields = self.hash(call.key(0)?, now, operation)?;
                let fields = fields.map(|f| f.as_slice()).unwrap_or_default();
                Ok(Reply::Array(
                    call.args[1..]
                        .iter()
                        .map(|name| find(fields, name).map_or(Reply::Nil, |at| bulk(&fields[at].1)))
                        .collect(),
                ))
            }
            "HGETALL" | "HKEYS" | "HVALS" => {
                call.arity(1, Some(1))?;
                let fields = self.hash(call.key(0)?, now, operation)?;
                let fields = fields.map(|f| f.as_slice()).unwrap_or_default();
                let (names, values) = match call.name {
                    "HGETALL" => (true, true),
                    "HKEYS" => (true, false),
                    _ => (false, true),
                };
                let mut items = Vec::new();
                for (name, value) in fields {
                    if names {
                        items.push(bulk(name));
                    }
                    if values {
                        items.push(bulk(value));
                    }
                }
                Ok(Reply::Array(items))
            }
            "HDEL" => {
                call.arity(2, None)?;
                let key = call.key(0)?;
                let Some(fields) = self.hash(key, now, operation)? else {
                    return Ok(Reply::Int(0));
                };
                let before = fields.len();
                fields.retain(|(name, _)| !call.args[1..].contains(name));
                let removed = before - fields.len();
                if fields.is_empty() {
                    // Redis deletes a hash with no fields left.
                    self.entries.remove(key);
                }
                Ok(int(removed))
            }
            "HEXISTS" => {
                call.arity(2, Some(2))?;
                let fields = self.hash(call.key(0)?, now, operation)?;
                let found = fields.is_some_and(|f| find(f, &call.args[1]).is_some());
                Ok(Reply::Int(i64::from(found)))
            }
            "HLEN" => {
                call.arity(1, Some(1))?;
                let fields = self.hash(call.key(0)?, now, operation)?;
                Ok(int(fields.map_or(0, |f| f.len())))
            }
            "HINCRBY" => {
                call.arity(3, Some(3))?;
                let delta = call.integer(2)?;
                let key = call.key(0)?;
                // Check before creating anything: a refused increment changes nothing.
                let current = match self.hash(key, now, operation)? {
                    Some(fields) => match find(fields, &call.args[1]) {
                        Some(at) => Some(
                            parse_integer(&fields[at].1)
                                .ok_or_else(|| not_an_integer(operation))?,
                        ),
                        None => None,
                    },
                    None => None,
                };
                let next = current
                    .unwrap_or(0)
                    .checked_add(delta)
                    .ok_or_else(|| not_an_integer(operation))?;
                let fields = self.hash_or_new(key, now, operation)?;
                let text = next.to_string().into_bytes();
                match find(fields, &call.args[1]) {
                    Some(at) => fields[at].1 = text,
                    None => fields.push((call.args[1].clone(), text)),
                }
                Ok(Reply::Int(next))
            }
            other => Err(unsupported(operation, other)),
        }
    }

    /// The sorted set of `key`: `None` when missing, `WRONGTYPE` for another type.
    fn zset(
        &mut self,
        key: &str,
        now: Instant,
        operation: &'static str,
    ) -> InfraResult<Option<&mut Members>> {
        self.typed(key, now, operation, |value| match value {
            Value::ZSet(members) => Some(members),
            _ => None,
        })
    }

    /// Sets `member`'s score to `f(current)` (creating the set and the member as needed),
    /// keeping Redis' order; returns the new score and whether the member is new.
    fn zset_update(
        &mut self,
        key: &str,
        member: &[u8],
        now: Instant,
        operation: &'static str,
        f: impl FnOnce(Option<f64>) -> InfraResult<f64>,
    ) -> InfraResult<(f64, bool)> {
        let current = self
            .zset(key, now, operation)?
            .and_then(|m| m.iter().find(|(name, _)| name.as_slice() == member))
            .map(|(_, score)| *score);
        let score = f(current)?;
        if self.zset(key, now, operation)?.is_none() {
            self.entries.insert(
                key.to_owned(),
                Entry {
                    value: Value::ZSet(Vec::new()),
                    expires_at: None,
                },
            );
        }
        self.wrote(now);
        let members = self
            .zset(key, now, operation)?
            .expect("the sorted set was just created");
        members.retain(|(name, _)| name.as_slice() != member);
        let at = members.partition_point(|(name, s)| {
            s.total_cmp(&score)
                .then_with(|| name.as_slice().cmp(member))
                .is_lt()
        });
        members.insert(at, (member.to_vec(), score));
        Ok((score, current.is_none()))
    }

    /// `ZRANGE key start stop [BYSCORE|BYLEX] [REV] [LIMIT offset count] [WITHSCORES]`.
    fn zrange(&mut self, call: &Call<'_>, now: Instant) -> InfraResult<Reply> {
        let operation = call.operation;
        call.arity(3, None)?;
        let (mut by, mut rev, mut limit, mut with_scores, mut i) = (None, false, None, false, 3);
        while i < call.args.len() {
            let word = call.word(i);
            match word.as_str() {
                "BYSCORE" | "BYLEX" if by.is_none() => by = Some(word.clone()),
                "REV" => rev = true,
                "WITHSCORES" => with_scores = true,
                "LIMIT" if i + 2 < call.args.len() => {
                    limit = Some((call.integer(i + 1)?, call.integer(i + 2)?));
                    i += 2;
                }
                _ => return Err(call.syntax_error()),
            }
            i += 1;
        }
        if limit.is_some() && by.is_none() {
            return Err(invalid(
                operation,
                "syntax error, LIMIT is only supported in combination with either BYSCORE or \
                 BYLEX",
            ));
        }
        if with_scores && by.as_deref() == Some("BYLEX") {
            return Err(invalid(
                operation,
                "syntax error, WITHSCORES not supported in combination with BYLEX",
            ));
        }
        // With REV, the bounds come high first.
        let (low, high) = if rev && by.is_some() { (2, 1) } else { (1, 2) };
        let members = self.zset(call.key(0)?, now, operation)?;
        let members: Vec<&(Vec<u8>, f64)> = match members {
            None => Vec::new(),
            Some(m) => {
                let mut m: Vec<_> = m.iter().collect();
                if rev {
                    m.reverse();
                }
                m
            }
        };
        let selected: Vec<&(Vec<u8>, f64)> = match by.as_deref() {
            None => {
                let (start, stop) = (call.integer(1)?, call.integer(2)?);
                let len = i64::try_from(members.len()).unwrap_or(i64::MAX);
                let clamp = |i: i64| if i < 0 { (len + i).max(0) } else { i };
                let (start, stop) = (clamp(start), clamp(stop).min(len - 1));
                if start > stop {
                    Vec::new()
                } else {
                    let (a, b) = (
                        usize::try_from(start).unwrap_or(0),
                        usize::try_from(stop).unwrap_or(0),
                    );
                    members[a..=b].to_vec()
                }
            }
            Some("BYSCORE") => {
                let min = score_bound(call, low)?;
                let max = score_bound(call, high)?;
                members
                    .into_iter()
                    .filter(|(_, s)| in_bounds(s, &min, &max, f64::total_cmp))
                    .collect()
            }
            Some(_) => match (lex_bound(call, low, true)?, lex_bound(call, high, false)?) {
                (Some(min), Some(max)) => members
                    .into_iter()
                    .filter(|(m, _)| in_bounds(m, &min, &max, Ord::cmp))
                    .collect(),
                _ => Vec::new(),
            },
        };
        let selected: Vec<_> = match limit {
            None => selected,
            Some((offset, count)) => {
                let offset = usize::try_from(offset).unwrap_or(usize::MAX);
                let count = usize::try_from(count).unwrap_or(usize::MAX);
                selected.into_iter().skip(offset).take(count).collect()
            }
        };
        let mut items = Vec::new();
        for (name, score) in selected {
            items.push(bulk(name));
            if with_scores {
                items.push(bulk(score.to_string().as_bytes()));
            }
        }
        Ok(Reply::Array(items))
    }

    #[allow(clippy::too_many_lines)] // one arm per command
    fn run_zset(&mut self, call: &Call<'_>, now: Instant) -> InfraResult<Reply> {
        let operation = call.operation;
        let score_arg = |i: usize| -> InfraResult<f64> {
            std::str::from_utf8(&call.args[i])
                .ok()
                .and_then(|t| t.parse::<f64>().ok())
                .filter(|x| !x.is_nan())
                .ok_or_else(|| invalid(operation, "the value is not a valid float"))
        };
        match call.name {
            "ZADD" => {
                call.arity(3, None)?;
                let key = call.key(0)?;
                let (mut nx, mut xx, mut gt, mut lt, mut ch, mut i) =
                    (false, false, false, false, false, 1);
                while i < call.args.len() {
                    match call.word(i).as_str() {
                        "NX" => nx = true,
                        "XX" => xx = true,
                        "GT" => gt = true,
                        "LT" => lt = true,
                        "CH" => ch = true,
                        "INCR" => return Err(unsupported(operation, "ZADD ... INCR")),
                        _ => break,
                    }
                    i += 1;
                }
                if nx && xx {
                    return Err(invalid(
                        operation,
                        "XX and NX options at the same time are not compatible",
                    ));
                }
                if (gt && lt) || (nx && (gt || lt)) {
                    return Err(invalid(
                        operation,
                        "GT, LT, and/or NX options at the same time are not compatible",
                    ));
                }
                let rest = call.args.len() - i;
                if rest == 0 || !rest.is_multiple_of(2) {
                    return Err(call.syntax_error());
                }
                let pairs: Vec<(f64, &Vec<u8>)> = (i..call.args.len())
                    .step_by(2)
                    .map(|i| Ok((score_arg(i)?, &call.args[i + 1])))
                    .collect::<InfraResult<_>>()?;
                // Checked before anything is written: a wrong type fails the whole call.
                self.zset(key, now, operation)?;
                let mut counted = 0;
                for (score, member) in pairs {
                    let current = self
                        .zset(key, now, operation)?
                        .and_then(|m| m.iter().find(|(name, _)| name == member))
                        .map(|(_, s)| *s);
                    let write = match current {
                        None => !xx,
                        Some(old) => {
                            let blocked = nx || (gt && score <= old) || (lt && score >= old);
                            !blocked && old.total_cmp(&score).is_ne()
                        }
                    };
                    if write {
                        self.zset_update(key, member, now, operation, |_| Ok(score))?;
                        counted += usize::from(current.is_none() || ch);
                    }
                }
                Ok(int(counted))
            }
            "ZINCRBY" => {
                call.arity(3, Some(3))?;
                let delta = score_arg(1)?;
                let (score, _) =
                    self.zset_update(call.key(0)?, &call.args[2], now, operation, |current| {
                        let next = current.unwrap_or(0.0) + delta;
                        if next.is_nan() {
                            return Err(invalid(operation, "the resulting score is not a number"));
                        }
                        Ok(next)
                    })?;
                Ok(bulk(score.to_string().as_bytes()))
            }
            "ZSCORE" => {
                call.arity(2, Some(2))?;
                let members = self.zset(call.key(0)?, now, operation)?;
                Ok(members
                    .and_then(|m| m.iter().find(|(name, _)| *name == call.args[1]))
                    .map_or(Reply::Nil, |(_, score)| bulk(score.to_string().as_bytes())))
            }
            "ZRANGE" => self.zrange(call, now),
            "ZREM" => {
                call.arity(2, None)?;
                let key = call.key(0)?;
                let Some(members) = self.zset(key, now, operation)? else {
                    return Ok(Reply::Int(0));
                };
                let before = members.len();
                members.retain(|(name, _)| !call.args[1..].contains(name));
                let removed = before - members.len();
                if members.is_empty() {
                    self.entries.remove(key);
                }
                Ok(int(removed))
            }
            "ZCARD" => {
                call.arity(1, Some(1))?;
                let members = self.zset(call.key(0)?, now, operation)?;
                Ok(int(members.map_or(0, |m| m.len())))
            }
            other => Err(unsupported(operation, other)),
        }
    }
}

/// A score bound of `ZRANGE ... BYSCORE`: `-inf`, `+inf`, `x` or `(x`.
fn score_bound(call: &Call<'_>, i: usize) -> InfraResult<Bound<f64>> {
    let arg = &call.args[i];
    let (exclusive, text) = match arg.strip_prefix(b"(") {
        Some(rest) => (true, rest),
        None => (false, arg.as_slice()),
    };
    let x = std::str::from_utf8(text)
        .ok()
        .and_then(|t| t.parse::<f64>().ok())
        .filter(|x| !x.is_nan())
        .ok_or_else(|| invalid(call.operation, "min or max is not a float"))?;
    Ok(if exclusive {
        Bound::Excluded(x)
    } else {
        Bound::Included(x)
    })
}

/// A member bound of `ZRANGE ... BYLEX`: `-`, `+`, `[m` or `(m`; `None` when the bound
/// admits no member (`+` as the minimum, `-` as the maximum).
fn lex_bound(call: &Call<'_>, i: usize, is_min: bool) -> InfraResult<Option<Bound<Vec<u8>>>> {
    let arg = &call.args[i];
    match (arg.split_first(), is_min) {
        (Some((b'-', [])), true) | (Some((b'+', [])), false) => Ok(Some(Bound::Unbounded)),
        (Some((b'-' | b'+', [])), _) => Ok(None),
        (Some((b'[', rest)), _) => Ok(Some(Bound::Included(rest.to_vec()))),
        (Some((b'(', rest)), _) => Ok(Some(Bound::Excluded(rest.to_vec()))),
        _ => Err(invalid(
            call.operation,
            "min or max not valid string range item",
        )),
    }
}

/// Whether `x` is within `min..max` under `cmp`.
fn in_bounds<T: ?Sized, B: std::borrow::Borrow<T>>(
    x: &T,
    min: &Bound<B>,
    max: &Bound<B>,
    cmp: impl Fn(&T, &T) -> std::cmp::Ordering,
) -> bool {
    let above = match min {
        Bound::Unbounded => true,
        Bound::Included(m) => cmp(x, m.borrow()).is_ge(),
        Bound::Excluded(m) => cmp(x, m.borrow()).is_gt(),
    };
    let below = match max {
        Bound::Unbounded => true,
        Bound::Included(m) => cmp(x, m.borrow()).is_le(),
        Bound::Excluded(m) => cmp(x, m.borrow()).is_lt(),
    };
    above && below
}
