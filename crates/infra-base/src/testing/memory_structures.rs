//! The sets, lists, streams (with consumer groups), `GETEX` and `SCAN` of
//! [`MemoryRedis`](super::super::MemoryRedis), with Redis' replies and errors.

use std::collections::{BTreeMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::time::Duration;

use tokio::time::Instant;

use super::super::{Entry, State, Value, invalid};
use super::{Call, bulk, int, ok, ttl_arg, unsupported};
use crate::error::{ErrorKind, InfraError, InfraResult};
use crate::redis::{REDIS_BACKEND, Reply, busygroup_error};

/// A stream id: milliseconds and sequence number.
type Sid = (u64, u64);

/// An entry's fields and values, in the order written.
type Fields = Vec<(Vec<u8>, Vec<u8>)>;

/// A stream: its entries in id order, its last id and its consumer groups.
#[derive(Debug, Default)]
pub(crate) struct StreamValue {
    entries: BTreeMap<Sid, Fields>,
    last: Sid,
    groups: Vec<Group>,
}

#[derive(Debug)]
struct Group {
    name: Vec<u8>,
    last_delivered: Sid,
    pending: BTreeMap<Sid, Pending>,
    consumers: Vec<Vec<u8>>,
}

#[derive(Debug)]
struct Pending {
    consumer: Vec<u8>,
    delivered_at: Instant,
    deliveries: u64,
}

impl Group {
    fn see(&mut self, consumer: &[u8]) {
        if !self.consumers.iter().any(|c| c == consumer) {
            self.consumers.push(consumer.to_vec());
        }
    }
}

fn sid_text((ms, seq): Sid) -> Vec<u8> {
    format!("{ms}-{seq}").into_bytes()
}

/// A stream id argument: `ms-seq`, or `ms` with `missing_seq` as its sequence number.
fn parse_sid(arg: &[u8], missing_seq: u64) -> Option<Sid> {
    let text = std::str::from_utf8(arg).ok()?;
    match text.split_once('-') {
        Some((ms, seq)) => Some((ms.parse().ok()?, seq.parse().ok()?)),
        None => Some((text.parse().ok()?, missing_seq)),
    }
}

/// The next id after `sid` (for an exclusive `(id` bound), `None` past the last one.
fn after(sid: Sid) -> Option<Sid> {
    match sid.1.checked_add(1) {
        Some(seq) => Some((sid.0, seq)),
        None => sid.0.checked_add(1).map(|ms| (ms, 0)),
    }
}

fn invalid_id(operation: &'static str) -> InfraError {
    invalid(
        operation,
        "Invalid stream ID specified as stream command argument",
    )
}

/// A range bound of `XRANGE` / `XPENDING`: `-`, `+`, an id, or `(id` (exclusive).
fn range_bound(call: &Call<'_>, i: usize, start: bool) -> InfraResult<Option<Sid>> {
    let arg = &call.args[i];
    match arg.as_slice() {
        b"-" => return Ok(Some((0, 0))),
        b"+" => return Ok(Some((u64::MAX, u64::MAX))),
        _ => {}
    }
    let (exclusive, arg) = match arg.strip_prefix(b"(") {
        Some(rest) => (true, rest),
        None => (false, arg.as_slice()),
    };
    let sid = parse_sid(arg, if start { 0 } else { u64::MAX })
        .ok_or_else(|| invalid_id(call.operation))?;
    Ok(match (exclusive, start) {
        (false, _) => Some(sid),
        (true, true) => after(sid),
        (true, false) => before(sid),
    })
}

fn before(sid: Sid) -> Option<Sid> {
    match sid.1.checked_sub(1) {
        Some(seq) => Some((sid.0, seq)),
        None => sid.0.checked_sub(1).map(|ms| (ms, u64::MAX)),
    }
}

fn entry_reply(sid: Sid, fields: Option<&Fields>) -> Reply {
    let fields = fields.map_or(Reply::Nil, |fields| {
        Reply::Array(
            fields
                .iter()
                .flat_map(|(f, v)| [bulk(f), bulk(v)])
                .collect(),
        )
    });
    Reply::Array(vec![bulk(&sid_text(sid)), fields])
}

fn no_group(operation: &'static str) -> InfraError {
    InfraError::new(
        ErrorKind::NotFound,
        REDIS_BACKEND,
        operation,
        "NOGROUP: no such stream or consumer group",
    )
}

/// Redis' glob matching (`MATCH` of `SCAN`): `*`, `?`, `[...]` with `^` and ranges, `\`.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|i| glob(rest, &text[i..])),
        Some((b'?', rest)) => !text.is_empty() && glob(rest, &text[1..]),
        Some((b'[', rest)) => {
            let Some((&c, text_rest)) = text.split_first() else {
                return false;
            };
            let (negate, mut p) = match rest.split_first() {
                Some((b'^', r)) => (true, r),
                _ => (false, rest),
            };
            let mut matched = false;
            loop {
                match p {
                    [] => break,
                    [b']', r @ ..] => {
                        p = r;
                        break;
                    }
                    [b'\\', e, r @ ..] => {
                        matched |= *e == c;
                        p = r;
                    }
                    [lo, b'-', hi, r @ ..] if *hi != b']' => {
                        let (lo, hi) = if lo <= hi { (*lo, *hi) } else { (*hi, *lo) };
                        matched |= (lo..=hi).contains(&c);
                        p = r;
                    }
                    [x, r @ ..] => {
                        matched |= *x == c;
                        p = r;
                    }
                }
            }
            matched != negate && glob(p, text_rest)
        }
        Some((b'\\', [e, rest @ ..])) => text.first() == Some(e) && glob(rest, &text[1..]),
        Some((c, rest)) => text.first() == Some(c) && glob(rest, &text[1..]),
    }
}

/// The position of a key in the walk of `SCAN` (never 0, the cursor that ends a walk): a
/// walk visits keys by this position, so a key present for the whole walk is returned
/// whatever is written or deleted meanwhile, as with Redis' reverse-binary cursor.
fn scan_position(key: &str) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut hasher);
    (hasher.finish() >> 1).max(1)
}

impl State {
    fn set_members(
        &mut self,
        key: &str,
        now: Instant,
        operation: &'static str,
    ) -> InfraResult<Option<&mut Vec<Vec<u8>>>> {
        self.typed(key, now, operation, |value| match value {
            Value::Set(members) => Some(members),
            _ => None,
        })
    }

    fn list(
        &mut self,
        key: &str,
        now: Instant,
        operation: &'static str,
    ) -> InfraResult<Option<&mut VecDeque<Vec<u8>>>> {
        self.typed(key, now, operation, |value| match value {
            Value::List(items) => Some(items),
            _ => None,
        })
    }

    fn stream(
        &mut self,
        key: &str,
        now: Instant,
        operation: &'static str,
    ) -> InfraResult<Option<&mut StreamValue>> {
        self.typed(key, now, operation, |value| match value {
            Value::Stream(stream) => Some(stream),
            _ => None,
        })
    }

    /// Creates `key` holding `value` when it is missing (the caller checked its type).
    fn create(&mut self, key: &str, now: Instant, value: impl FnOnce() -> Value) {
        if self.live(key, now).is_none() {
            self.entries.insert(
                key.to_owned(),
                Entry {
                    value: value(),
                    expires_at: None,
                },
            );
        }
        self.wrote(now);
    }

    /// Deletes `key` when the collection it holds became empty (Redis never keeps one).
    fn drop_if_empty(&mut self, key: &str) {
        let empty = match self.entries.get(key).map(|e| &e.value) {
            Some(Value::Set(m)) => m.is_empty(),
            Some(Value::List(items)) => items.is_empty(),
            _ => false,
        };
        if empty {
            self.entries.remove(key);
        }
    }

    /// `GETEX key [PX ms | EX s | PERSIST]`.
    pub(super) fn getex(&mut self, call: &Call<'_>, now: Instant) -> InfraResult<Reply> {
        call.arity(1, Some(3))?;
        let key = call.key(0)?;
        let change = match call.args.len() {
            1 => None,
            2 if call.word(1) == "PERSIST" => Some(None),
            3 if matches!(call.word(1).as_str(), "EX" | "PX") => {
                let unit = if call.word(1) == "EX" {
                    Duration::from_secs(1)
                } else {
                    Duration::from_millis(1)
                };
                Some(Some(ttl_arg(call, 2, unit, now)?))
            }
            3 if matches!(call.word(1).as_str(), "EXAT" | "PXAT") => {
                return Err(unsupported(
                    call.operation,
                    &format!("GETEX ... {}", call.word(1)),
                ));
            }
            _ => return Err(call.syntax_error()),
        };
        let Some(entry) = self.live(key, now) else {
            return Ok(Reply::Nil);
        };
        let value = bulk(entry.as_str(call.operation)?);
        if let Some(expires_at) = change {
            entry.expires_at = expires_at;
        }
        Ok(value)
    }

    /// `SCAN cursor [MATCH pattern] [COUNT n] [TYPE type]`.
    pub(super) fn scan(&mut self, call: &Call<'_>, now: Instant) -> InfraResult<Reply> {
        call.arity(1, None)?;
        let cursor: u64 = std::str::from_utf8(&call.args[0])
            .ok()
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| invalid(call.operation, "invalid cursor"))?;
        let (mut pattern, mut count, mut kind) = (None, 10_usize, None);
        let mut i = 1;
        while i < call.args.len() {
            let value = call.args.get(i + 1).ok_or_else(|| call.syntax_error())?;
            match call.word(i).as_str() {
                "MATCH" => pattern = Some(value.clone()),
                "COUNT" => {
                    count = usize::try_from(call.integer(i + 1)?)
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| call.syntax_error())?;
                }
                "TYPE" => kind = Some(String::from_utf8_lossy(value).to_ascii_lowercase()),
                _ => return Err(call.syntax_error()),
            }
            i += 2;
        }
        self.entries.retain(|_, e| e.is_live(now));
        let mut walk: Vec<(u64, &String, &Entry)> = self
            .entries
            .iter()
            .map(|(k, e)| (scan_position(k), k, e))
            .filter(|(position, _, _)| *position >= cursor)
            .collect();
        walk.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(b.1)));
        // One batch of `count` keys, never splitting keys of one position.
        let mut end = walk.len().min(count);
        while end < walk.len() && end > 0 && walk[end].0 == walk[end - 1].0 {
            end += 1;
        }
        let next = walk.get(end).map_or(0, |(position, _, _)| *position);
        let keys = walk[..end]
            .iter()
            .filter(|(_, k, _)| pattern.as_ref().is_none_or(|p| glob(p, k.as_bytes())))
            .filter(|(_, _, e)| {
                kind.as_ref()
                    .is_none_or(|t| t.as_str() == e.value.type_name())
            })
            .map(|(_, k, _)| bulk(k.as_bytes()))
            .collect();
        Ok(Reply::Array(vec![
            bulk(next.to_string().as_bytes()),
            Reply::Array(keys),
        ]))
    }

    /// `SADD`, `SREM`, `SISMEMBER`, `SMEMBERS`, `SCARD`.
    pub(super) fn run_set(&mut self, call: &Call<'_>, now: Instant) -> InfraResult<Reply> {
        let operation = call.operation;
        match call.name {
            "SADD" => {
                call.arity(2, None)?;
                let key = call.key(0)?;
                self.set_members(key, now, operation)?;
                self.create(key, now, || Value::Set(Vec::new()));
                let members = self
                    .set_members(key, now, operation)?
                    .expect("the set was just created");
                let mut added = 0;
                for member in &call.args[1..] {
                    if !members.contains(member) {
                        members.push(member.clone());
                        added += 1;
                    }
                }
                Ok(int(added))
            }
            "SREM" => {
                call.arity(2, None)?;
                let key = call.key(0)?;
                let Some(members) = self.set_members(key, now, operation)? else {
                    return Ok(Reply::Int(0));
                };
                let before = members.len();
                members.retain(|m| !call.args[1..].contains(m));
                let removed = before - members.len();
                self.drop_if_empty(key);
                Ok(int(removed))
            }
            "SISMEMBER" => {
                call.arity(2, Some(2))?;
                let members = self.set_members(call.key(0)?, now, operation)?;
                Ok(Reply::Int(i64::from(
                    members.is_some_and(|m| m.contains(&call.args[1])),
                )))
            }
            "SMEMBERS" => {
                call.arity(1, Some(1))?;
                let members = self.set_members(call.key(0)?, now, operation)?;
                Ok(Reply::Array(members.map_or_else(Vec::new, |m| {
                    m.iter().map(|x| bulk(x)).collect()
                })))
            }
            "SCARD" => {
                call.arity(1, Some(1))?;
                let members = self.set_members(call.key(0)?, now, operation)?;
                Ok(int(members.map_or(0, |m| m.len())))
            }
            other => Err(unsupported(operation, other)),
        }
    }

    /// `LPUSH`, `RPUSH`, `LRANGE`, `LTRIM`, `LLEN`, `LPOP`, `RPOP`.
    #[allow(clippy::too_many_lines)] // one arm per command
    pub(super) fn run_list(&mut self, call: &Call<'_>, now: Instant) -> InfraResult<Reply> {
        let operation = call.operation;
        // Redis' clamping of a start..=stop index range to a list of `len`.
        let span = |start: i64, stop: i64, len: usize| -> Option<(usize, usize)> {
            let len = i64::try_from(len).unwrap_or(i64::MAX);
            let start = if start < 0 {
                (len + start).max(0)
            } else {
                start
            };
            let stop = if stop < 0 {
                len + stop
            } else {
                stop.min(len - 1)
            };
            (start <= stop && start < len)
                .then(|| (usize::try_from(start).ok(), usize::try_from(stop).ok()))
                .and_then(|(a, b)| Some((a?, b?)))
        };
        match call.name {
            "LPUSH" | "RPUSH" => {
                call.arity(2, None)?;
                let key = call.key(0)?;
                self.list(key, now, operation)?;
                self.create(key, now, || Value::List(VecDeque::new()));
                let items = self
                    .list(key, now, operation)?
                    .expect("the list was just created");
                for value in &call.args[1..] {
                    if call.name == "LPUSH" {
                        items.push_front(value.clone());
                    } else {
                        items.push_back(value.clone());
                    }
                }
                Ok(int(items.len()))
            }
            "LRANGE" => {
                call.arity(3, Some(3))?;
                let (start, stop) = (call.integer(1)?, call.integer(2)?);
                let items = self.list(call.key(0)?, now, operation)?;
                let items = items.map(|l| &*l);
                let out = match items.and_then(|l| span(start, stop, l.len()).map(|s| (l, s))) {
                    Some((list, (a, b))) => list.range(a..=b).map(|v| bulk(v)).collect(),
                    None => Vec::new(),
                };
                Ok(Reply::Array(out))
            }
            "LTRIM" => {
                call.arity(3, Some(3))?;
                let key = call.key(0)?;
                let (start, stop) = (call.integer(1)?, call.integer(2)?);
                if let Some(items) = self.list(key, now, operation)? {
                    match span(start, stop, items.len()) {
                        Some((a, b)) => {
                            items.truncate(b + 1);
                            items.drain(..a);
                        }
                        None => items.clear(),
                    }
                    self.drop_if_empty(key);
                    self.wrote(now);
                }
                Ok(ok())
            }
            "LLEN" => {
                call.arity(1, Some(1))?;
                let items = self.list(call.key(0)?, now, operation)?;
                Ok(int(items.map_or(0, |l| l.len())))
            }
            "LPOP" | "RPOP" => {
                call.arity(1, Some(2))?;
                let key = call.key(0)?;
                let count = match call.args.get(1) {
                    None => None,
                    Some(_) => Some(usize::try_from(call.integer(1)?).map_err(|_| {
                        invalid(operation, "value is out of range, must be positive")
                    })?),
                };
                let Some(items) = self.list(key, now, operation)? else {
                    return Ok(Reply::Nil);
                };
                let mut popped = Vec::new();
                for _ in 0..count.unwrap_or(1) {
                    let item = if call.name == "LPOP" {
                        items.pop_front()
                    } else {
                        items.pop_back()
                    };
                    match item {
                        Some(item) => popped.push(bulk(&item)),
                        None => break,
                    }
                }
                self.drop_if_empty(key);
                self.wrote(now);
                Ok(match count {
                    Some(_) => Reply::Array(popped),
                    None => popped.pop().unwrap_or(Reply::Nil),
                })
            }
            other => Err(unsupported(operation, other)),
        }
    }

    /// The stream commands: `XADD`, `XGROUP CREATE`, `XREADGROUP`, `XACK`, `XAUTOCLAIM`,
    /// `XPENDING`, `XLEN`, `XRANGE`, `XDEL`.
    #[allow(clippy::too_many_lines)] // one arm per command
    pub(super) fn run_stream(&mut self, call: &Call<'_>, now: Instant) -> InfraResult<Reply> {
        let operation = call.operation;
        match call.name {
            "XADD" => self.xadd(call, now),
            "XGROUP" => {
                call.arity(1, None)?;
                if call.word(0) != "CREATE" {
                    return Err(unsupported(operation, &format!("XGROUP {}", call.word(0))));
                }
                call.arity(4, Some(5))?;
                let mkstream = match call.args.get(4) {
                    None => false,
                    Some(_) if call.word(4) == "MKSTREAM" => true,
                    Some(_) => return Err(call.syntax_error()),
                };
                let key = call.key(1)?;
                if self.stream(key, now, operation)?.is_none() {
                    if !mkstream {
                        return Err(InfraError::new(
                            ErrorKind::NotFound,
                            REDIS_BACKEND,
                            operation,
                            "the stream does not exist: XGROUP CREATE needs it, or MKSTREAM",
                        ));
                    }
                    self.create(key, now, || Value::Stream(Box::default()));
                }
                let stream = self
                    .stream(key, now, operation)?
                    .expect("the stream exists");
                let name = call.args[2].clone();
                if stream.groups.iter().any(|g| g.name == name) {
                    return Err(busygroup_error(operation));
                }
                let last_delivered = match call.args[3].as_slice() {
                    b"$" => stream.last,
                    arg => parse_sid(arg, 0).ok_or_else(|| invalid_id(operation))?,
                };
                stream.groups.push(Group {
                    name,
                    last_delivered,
                    pending: BTreeMap::new(),
                    consumers: Vec::new(),
                });
                Ok(ok())
            }
            "XREADGROUP" => self.xreadgroup(call, now),
            "XACK" => {
                call.arity(3, None)?;
                let ids = call.args[2..]
                    .iter()
                    .map(|a| parse_sid(a, 0).ok_or_else(|| invalid_id(operation)))
                    .collect::<InfraResult<Vec<_>>>()?;
                let Some(stream) = self.stream(call.key(0)?, now, operation)? else {
                    return Ok(Reply::Int(0));
                };
                let Some(group) = stream.groups.iter_mut().find(|g| g.name == call.args[1]) else {
                    return Ok(Reply::Int(0));
                };
                let acked = ids
                    .iter()
                    .filter(|id| group.pending.remove(*id).is_some())
                    .count();
                Ok(int(acked))
            }
            "XAUTOCLAIM" => {
                call.arity(5, Some(7))?;
                let min_idle = Duration::from_millis(
                    u64::try_from(call.integer(3)?)
                        .map_err(|_| invalid(operation, "Invalid min-idle-time argument"))?,
                );
                let start = parse_sid(&call.args[4], 0).ok_or_else(|| invalid_id(operation))?;
                let mut count = 100_usize;
                match call.args.len() {
                    5 => {}
                    7 if call.word(5) == "COUNT" => {
                        count = usize::try_from(call.integer(6)?)
                            .ok()
                            .filter(|n| *n > 0)
                            .ok_or_else(|| call.syntax_error())?;
                    }
                    _ if call.args.iter().any(|a| a.eq_ignore_ascii_case(b"JUSTID")) => {
                        return Err(unsupported(operation, "XAUTOCLAIM ... JUSTID"));
                    }
                    _ => return Err(call.syntax_error()),
                }
                let consumer = call.args[2].clone();
                let stream = self
                    .stream(call.key(0)?, now, operation)?
                    .ok_or_else(|| no_group(operation))?;
                let group = stream
                    .groups
                    .iter_mut()
                    .find(|g| g.name == call.args[1])
                    .ok_or_else(|| no_group(operation))?;
                group.see(&consumer);
                let ids: Vec<Sid> = group.pending.range(start..).map(|(id, _)| *id).collect();
                let (mut claimed, mut deleted, mut next) = (Vec::new(), Vec::new(), (0, 0));
                for (scanned, id) in ids.into_iter().enumerate() {
                    if scanned == count {
                        next = id;
                        break;
                    }
                    let Some(fields) = stream.entries.get(&id) else {
                        group.pending.remove(&id);
                        deleted.push(bulk(&sid_text(id)));
                        continue;
                    };
                    let pending = group.pending.get_mut(&id).expect("listed just above");
                    if now.saturating_duration_since(pending.delivered_at) < min_idle {
                        continue;
                    }
                    pending.consumer.clone_from(&consumer);
                    pending.delivered_at = now;
                    pending.deliveries += 1;
                    claimed.push(entry_reply(id, Some(fields)));
                }
                Ok(Reply::Array(vec![
                    bulk(&sid_text(next)),
                    Reply::Array(claimed),
                    Reply::Array(deleted),
                ]))
            }
            "XPENDING" => self.xpending(call, now),
            "XLEN" => {
                call.arity(1, Some(1))?;
                let stream = self.stream(call.key(0)?, now, operation)?;
                Ok(int(stream.map_or(0, |s| s.entries.len())))
            }
            "XRANGE" => {
                if call.args.len() != 3 && call.args.len() != 5 {
                    return Err(call.arity(usize::MAX, None).unwrap_err());
                }
                let count = if call.args.len() == 5 {
                    if call.word(3) != "COUNT" {
                        return Err(call.syntax_error());
                    }
                    usize::try_from(call.integer(4)?).unwrap_or(0)
                } else {
                    usize::MAX
                };
                let (start, end) = (range_bound(call, 1, true)?, range_bound(call, 2, false)?);
                let stream = self.stream(call.key(0)?, now, operation)?;
                let (Some(stream), Some(start), Some(end)) = (stream, start, end) else {
                    return Ok(Reply::Array(Vec::new()));
                };
                if start > end {
                    return Ok(Reply::Array(Vec::new()));
                }
                Ok(Reply::Array(
                    stream
                        .entries
                        .range(start..=end)
                        .take(count)
                        .map(|(id, fields)| entry_reply(*id, Some(fields)))
                        .collect(),
                ))
            }
            "XDEL" => {
                call.arity(2, None)?;
                let ids = call.args[1..]
                    .iter()
                    .map(|a| parse_sid(a, 0).ok_or_else(|| invalid_id(operation)))
                    .collect::<InfraResult<Vec<_>>>()?;
                let Some(stream) = self.stream(call.key(0)?, now, operation)? else {
                    return Ok(Reply::Int(0));
                };
                Ok(int(ids
                    .iter()
                    .filter(|id| stream.entries.remove(*id).is_some())
                    .count()))
            }
            other => Err(unsupported(operation, other)),
        }
    }

    /// `XADD key [MAXLEN|MINID [=|~] threshold] id|* field value ...`.
    fn xadd(&mut self, call: &Call<'_>, now: Instant) -> InfraResult<Reply> {
        let operation = call.operation;
        call.arity(4, None)?;
        let key = call.key(0)?;
        let mut i = 1;
        let mut trim = None;
        loop {
            if i >= call.args.len() {
                return Err(call.syntax_error());
            }
            let word = call.word(i);
            match word.as_str() {
                "NOMKSTREAM" | "LIMIT" => {
                    return Err(unsupported(operation, &format!("XADD ... {word}")));
                }
                "MAXLEN" | "MINID" if trim.is_none() => {
                    i += 1;
                    if matches!(call.args.get(i).map(Vec::as_slice), Some(b"=" | b"~")) {
                        i += 1;
                    }
                    let threshold = call.args.get(i).ok_or_else(|| call.syntax_error())?;
                    trim = Some(if word == "MAXLEN" {
                        let n = call.integer(i)?;
                        (
                            Some(usize::try_from(n).map_err(|_| {
                                invalid(operation, "The MAXLEN argument must be >= 0.")
                            })?),
                            None,
                        )
                    } else {
                        (
                            None,
                            Some(parse_sid(threshold, 0).ok_or_else(|| invalid_id(operation))?),
                        )
                    });
                    i += 1;
                }
                _ => break,
            }
        }
        if call.args.len() <= i + 1 || !(call.args.len() - i - 1).is_multiple_of(2) {
            return Err(call.arity(usize::MAX, None).unwrap_err());
        }
        self.stream(key, now, operation)?;
        let wall_ms = u64::try_from(self.clock_micros(now) / 1000).unwrap_or(0);
        let last = self.stream(key, now, operation)?.map_or((0, 0), |s| s.last);
        let id = match call.args[i].as_slice() {
            b"*" => {
                if wall_ms > last.0 {
                    (wall_ms, 0)
                } else {
                    after(last).ok_or_else(|| invalid_id(operation))?
                }
            }
            arg => {
                let text = std::str::from_utf8(arg).map_err(|_| invalid_id(operation))?;
                let id = match text.strip_suffix("-*") {
                    Some(ms) => {
                        let ms: u64 = ms.parse().map_err(|_| invalid_id(operation))?;
                        (if ms == last.0 {
                            after(last)
                        } else {
                            Some((ms, 0))
                        })
                        .ok_or_else(|| invalid_id(operation))?
                    }
                    None => parse_sid(arg, 0).ok_or_else(|| invalid_id(operation))?,
                };
                if id <= last || id == (0, 0) {
                    return Err(invalid(
                        operation,
                        "The ID specified in XADD is equal or smaller than the target stream \
                         top item",
                    ));
                }
                id
            }
        };
        let fields = call.args[i + 1..]
            .chunks(2)
            .map(|pair| (pair[0].clone(), pair[1].clone()))
            .collect();
        self.create(key, now, || Value::Stream(Box::default()));
        let stream = self
            .stream(key, now, operation)?
            .expect("the stream was just created");
        stream.entries.insert(id, fields);
        stream.last = id;
        match trim {
            Some((Some(max_len), _)) => {
                while stream.entries.len() > max_len {
                    stream.entries.pop_first();
                }
            }
            Some((None, Some(min_id))) => stream.entries.retain(|id, _| *id >= min_id),
            _ => {}
        }
        Ok(bulk(&sid_text(id)))
    }

    /// `XREADGROUP GROUP group consumer [COUNT n] [NOACK] STREAMS key ... id ...`.
    #[allow(clippy::too_many_lines)] // options, then one walk per stream
    fn xreadgroup(&mut self, call: &Call<'_>, now: Instant) -> InfraResult<Reply> {
        let operation = call.operation;
        call.arity(6, None)?;
        if call.word(0) != "GROUP" {
            return Err(call.syntax_error());
        }
        let (group_name, consumer) = (call.args[1].clone(), call.args[2].clone());
        let (mut count, mut no_ack, mut i) = (usize::MAX, false, 3);
        loop {
            match call.word(i).as_str() {
                "COUNT" => {
                    count = usize::try_from(call.integer(i + 1)?).unwrap_or(0);
                    if count == 0 {
                        count = usize::MAX;
                    }
                    i += 2;
                }
                "NOACK" => {
                    no_ack = true;
                    i += 1;
                }
                "STREAMS" => break,
                _ => return Err(call.syntax_error()),
            }
            if i >= call.args.len() {
                return Err(call.syntax_error());
            }
        }
        let rest = &call.args[i + 1..];
        if rest.is_empty() || !rest.len().is_multiple_of(2) {
            return Err(invalid(
                operation,
                "Unbalanced 'xreadgroup' list of streams: for each stream key an ID or '>' \
                 must be specified.",
            ));
        }
        let streams = rest.len() / 2;
        let mut replies = Vec::new();
        let mut any_new = false;
        for s in 0..streams {
            let key = call.key(i + 1 + s)?;
            let start = &rest[streams + s];
            let stream = self
                .stream(key, now, operation)?
                .ok_or_else(|| no_group(operation))?;
            let group = stream
                .groups
                .iter_mut()
                .find(|g| g.name == group_name)
                .ok_or_else(|| no_group(operation))?;
            group.see(&consumer);
            let mut entries = Vec::new();
            if start.as_slice() == b">" {
                let from = after(group.last_delivered);
                let new: Vec<Sid> = from
                    .map(|from| {
                        stream
                            .entries
                            .range(from..)
                            .take(count)
                            .map(|(id, _)| *id)
                            .collect()
                    })
                    .unwrap_or_default();
                for id in new {
                    group.last_delivered = id;
                    if !no_ack {
                        group.pending.insert(
                            id,
                            Pending {
                                consumer: consumer.clone(),
                                delivered_at: now,
                                deliveries: 1,
                            },
                        );
                    }
                    entries.push(entry_reply(id, stream.entries.get(&id)));
                }
                if entries.is_empty() {
                    continue;
                }
                any_new = true;
            } else {
                let from = parse_sid(start, 0).ok_or_else(|| invalid_id(operation))?;
                for (id, _) in group
                    .pending
                    .range(after(from).unwrap_or((u64::MAX, u64::MAX))..)
                    .filter(|(_, p)| p.consumer == consumer)
                    .take(count)
                {
                    entries.push(entry_reply(*id, stream.entries.get(id)));
                }
                any_new = true;
            }
            replies.push(Reply::Array(vec![
                bulk(key.as_bytes()),
                Reply::Array(entries),
            ]));
        }
        self.wrote(now);
        Ok(if any_new {
            Reply::Array(replies)
        } else {
            Reply::Nil
        })
    }

    /// `XPENDING key group` and `XPENDING key group [IDLE ms] start end count [consumer]`.
    fn xpending(&mut self, call: &Call<'_>, now: Instant) -> InfraResult<Reply> {
        let operation = call.operation;
        call.arity(2, Some(7))?;
        let stream = self
            .stream(call.key(0)?, now, operation)?
            .ok_or_else(|| no_group(operation))?;
        let group = stream
            .groups
            .iter()
            .find(|g| g.name == call.args[1])
            .ok_or_else(|| no_group(operation))?;
        if call.args.len() == 2 {
            if group.pending.is_empty() {
                return Ok(Reply::Array(vec![
                    Reply::Int(0),
                    Reply::Nil,
                    Reply::Nil,
                    Reply::Nil,
                ]));
            }
            let mut consumers: Vec<(Vec<u8>, usize)> = Vec::new();
            for pending in group.pending.values() {
                match consumers.iter_mut().find(|(c, _)| *c == pending.consumer) {
                    Some((_, n)) => *n += 1,
                    None => consumers.push((pending.consumer.clone(), 1)),
                }
            }
            consumers.sort();
            let first = group.pending.keys().next().copied().unwrap_or_default();
            let last = group
                .pending
                .keys()
                .next_back()
                .copied()
                .unwrap_or_default();
            return Ok(Reply::Array(vec![
                int(group.pending.len()),
                bulk(&sid_text(first)),
                bulk(&sid_text(last)),
                Reply::Array(
                    consumers
                        .into_iter()
                        .map(|(c, n)| Reply::Array(vec![bulk(&c), bulk(n.to_string().as_bytes())]))
                        .collect(),
                ),
            ]));
        }
        let mut i = 2;
        let mut min_idle = Duration::ZERO;
        if call.word(i) == "IDLE" {
            min_idle = Duration::from_millis(u64::try_from(call.integer(i + 1)?).unwrap_or(0));
            i += 2;
        }
        if call.args.len() < i + 3 || call.args.len() > i + 4 {
            return Err(call.syntax_error());
        }
        let (start, end) = (
            range_bound(call, i, true)?,
            range_bound(call, i + 1, false)?,
        );
        let count = usize::try_from(call.integer(i + 2)?).unwrap_or(0);
        let consumer = call.args.get(i + 3);
        let (Some(start), Some(end)) = (start, end) else {
            return Ok(Reply::Array(Vec::new()));
        };
        if start > end {
            return Ok(Reply::Array(Vec::new()));
        }
        Ok(Reply::Array(
            group
                .pending
                .range(start..=end)
                .filter(|(_, p)| consumer.is_none_or(|c| *c == p.consumer))
                .filter(|(_, p)| now.saturating_duration_since(p.delivered_at) >= min_idle)
                .take(count)
                .map(|(id, p)| {
                    let idle = now.saturating_duration_since(p.delivered_at).as_millis();
                    Reply::Array(vec![
                        bulk(&sid_text(*id)),
                        bulk(&p.consumer),
                        Reply::Int(i64::try_from(idle).unwrap_or(i64::MAX)),
                        Reply::Int(i64::try_from(p.deliveries).unwrap_or(i64::MAX)),
                    ])
                })
                .collect(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_follows_redis() {
        assert!(glob(b"user:*", b"user:42"));
        assert!(!glob(b"user:*", b"users"));
        assert!(glob(b"h?llo", b"hello"));
        assert!(glob(b"h[ae]llo", b"hallo"));
        assert!(!glob(b"h[^e]llo", b"hello"));
        assert!(glob(b"h[a-b]llo", b"hbllo"));
        assert!(glob(b"a\\*b", b"a*b"));
        assert!(!glob(b"a\\*b", b"axb"));
        assert!(glob(b"*", b""));
    }

    /// Redis' `SCAN` guarantee holds on the fake's cursor: keys present for the whole walk
    /// are all returned, whatever is deleted or added between batches.
    #[tokio::test]
    async fn scan_returns_every_key_present_throughout() {
        use crate::redis::prelude::*;
        use crate::testing::MemoryRedis;

        let redis = MemoryRedis::new();
        let key = |n: u32| format!("k:{n}");
        for n in 0..60 {
            redis
                .set(&key(n), b"v", SetOptions::default())
                .await
                .unwrap();
        }
        let mut seen = std::collections::BTreeSet::new();
        let mut scan = redis.scan(ScanOptions::new().count(5));
        let mut churned = false;
        while let Some(found) = scan.next_key().await {
            seen.insert(found.unwrap());
            if !churned && seen.len() == 5 {
                churned = true;
                // Delete keys 50..60 and add 100..110 mid-walk.
                let gone: Vec<String> = (50..60).map(key).collect();
                redis.del(&gone).await.unwrap();
                for n in 100..110 {
                    redis
                        .set(&key(n), b"v", SetOptions::default())
                        .await
                        .unwrap();
                }
            }
        }
        for n in 0..50 {
            assert!(
                seen.contains(&key(n)),
                "{} present throughout, not returned",
                key(n)
            );
        }
    }

    #[test]
    fn ids_parse_and_step() {
        assert_eq!(parse_sid(b"5-3", 0), Some((5, 3)));
        assert_eq!(parse_sid(b"5", u64::MAX), Some((5, u64::MAX)));
        assert_eq!(parse_sid(b"x", 0), None);
        assert_eq!(after((1, u64::MAX)), Some((2, 0)));
        assert_eq!(before((2, 0)), Some((1, u64::MAX)));
        assert_eq!(before((0, 0)), None);
    }
}
