//! The general command path's values: [`Command`], [`Pipeline`], and the one check every
//! adapter applies before sending them, [`validate_command`].

use std::fmt::{self, Write as _};

use smallvec::SmallVec;

use crate::error::{ErrorKind, InfraError, InfraResult};
use crate::resilience::Idempotency;

use super::REDIS_BACKEND;

/// A value usable as one argument of a [`Command`]: its bytes as Redis receives them.
///
/// Text and byte strings are sent as they are; integers as decimal text; floats with
/// Rust's shortest round-trip formatting (`1.5`, `inf`, `-inf`), which Redis parses.
///
/// An implementation writes into the command's own buffer ([`ArgBuf`]), so that adding an
/// argument allocates nothing of its own.
///
/// ```
/// use std::fmt::Write as _;
/// use infra_base::redis::{ArgBuf, Command, ToArg};
///
/// /// A user id, sent as `user:<n>`.
/// struct UserKey(u64);
///
/// impl ToArg for UserKey {
///     fn write_arg(&self, out: &mut ArgBuf<'_>) {
///         let _ = write!(out, "user:{}", self.0);
///     }
/// }
///
/// let cmd = Command::new("GET").arg(UserKey(42));
/// assert!(cmd.args().eq([b"user:42"]));
/// ```
pub trait ToArg {
    /// Writes the argument's bytes (and nothing else: the command records where the
    /// argument ends).
    fn write_arg(&self, out: &mut ArgBuf<'_>);
}

/// Where a [`ToArg`] writes one argument: the end of its command's buffer. Bytes go in
/// with [`push_bytes`](Self::push_bytes), text with [`std::fmt::Write`] (`write!`).
pub struct ArgBuf<'a> {
    buf: &'a mut Buf,
}

impl ArgBuf<'_> {
    /// Appends `bytes` to the argument.
    #[inline]
    pub fn push_bytes(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }
}

impl fmt::Write for ArgBuf<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.push_bytes(s.as_bytes());
        Ok(())
    }
}

impl fmt::Debug for ArgBuf<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArgBuf").finish_non_exhaustive()
    }
}

impl ToArg for str {
    #[inline]
    fn write_arg(&self, out: &mut ArgBuf<'_>) {
        out.push_bytes(self.as_bytes());
    }
}

impl ToArg for String {
    #[inline]
    fn write_arg(&self, out: &mut ArgBuf<'_>) {
        out.push_bytes(self.as_bytes());
    }
}

impl ToArg for [u8] {
    #[inline]
    fn write_arg(&self, out: &mut ArgBuf<'_>) {
        out.push_bytes(self);
    }
}

impl<const N: usize> ToArg for [u8; N] {
    #[inline]
    fn write_arg(&self, out: &mut ArgBuf<'_>) {
        out.push_bytes(self);
    }
}

impl ToArg for Vec<u8> {
    #[inline]
    fn write_arg(&self, out: &mut ArgBuf<'_>) {
        out.push_bytes(self);
    }
}

impl<T: ToArg + ?Sized> ToArg for &T {
    #[inline]
    fn write_arg(&self, out: &mut ArgBuf<'_>) {
        (**self).write_arg(out);
    }
}

macro_rules! decimal_args {
    ($($ty:ty)*) => {$(
        impl ToArg for $ty {
            fn write_arg(&self, out: &mut ArgBuf<'_>) {
                // Writing to an `ArgBuf` cannot fail.
                let _ = write!(out, "{self}");
            }
        }
    )*};
}

decimal_args!(i8 i16 i32 i64 i128 isize u8 u16 u32 u64 u128 usize f32 f64);

/// A command's bytes: inline up to [`INLINE`] bytes, on the heap beyond.
type Buf = SmallVec<[u8; INLINE]>;

/// How many bytes a command keeps inline: a name and a key of up to about 60 bytes (a
/// `GET`, an `INCR`, a `TTL`) are built without allocating at all. Larger commands (a `SET`
/// of a value) allocate once, and again only when their arguments keep growing.
const INLINE: usize = 64;

/// Where each argument ends: inline up to [`INLINE_ARGS`] arguments, on the heap beyond.
type Ends = SmallVec<[usize; INLINE_ARGS]>;

/// How many argument bounds a command keeps inline: enough for a `SET` with a TTL, an
/// `HSET` of one field, a `ZADD` of two members.
const INLINE_ARGS: usize = 4;

/// One Redis command: its name and its arguments, as bytes.
///
/// Built with [`Command::new`] and [`arg`](Command::arg); sent with
/// [`RedisPort::command`](super::RedisPort::command) (or in a [`Pipeline`]). The name is
/// kept in upper case; arguments are opaque bytes.
///
/// A command is its bytes (the name, then every argument, back to back) and where each
/// argument ends, as redis-rs keeps its own commands. Up to 64 bytes and four arguments
/// (a name and a key of about 60) it is kept inline and building it allocates nothing;
/// beyond, it allocates once and grows as arguments arrive. That keeps the general command
/// path close to the cost of a typed call such as [`RedisPort::get`](super::RedisPort::get).
///
/// ```
/// use infra_base::redis::Command;
///
/// let cmd = Command::new("hset").arg("user:1").arg("name").arg(b"Ada").arg(42);
/// assert_eq!(cmd.name(), "HSET");
/// assert_eq!(cmd.args().len(), 4);
/// assert!(cmd.args().eq([&b"user:1"[..], b"name", b"Ada", b"42"]));
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Command {
    /// The name's bytes, then every argument's, back to back.
    buf: Buf,
    /// Where the name ends in `buf`.
    name_len: usize,
    /// Where each argument ends in `buf`, in order.
    ends: Ends,
}

impl Command {
    /// A command named `name` (`"GET"`, `"hset"`: case does not matter), without arguments.
    /// A multi-word command (`CLIENT ID`, `SCRIPT LOAD`) is the first word, then the rest
    /// as arguments.
    pub fn new(name: impl AsRef<str>) -> Self {
        let name = name.as_ref().as_bytes();
        let mut buf = Buf::from_slice(name);
        // Upper-casing ASCII bytes only keeps the name valid UTF-8.
        buf.make_ascii_uppercase();
        Self {
            buf,
            name_len: name.len(),
            ends: Ends::new(),
        }
    }

    /// Appends one argument.
    #[must_use]
    #[inline]
    pub fn arg(mut self, arg: impl ToArg) -> Self {
        self.push_arg(arg);
        self
    }

    /// Appends every argument of `args`, in order.
    #[must_use]
    pub fn args_from<I>(mut self, args: I) -> Self
    where
        I: IntoIterator,
        I::Item: ToArg,
    {
        for arg in args {
            self.push_arg(arg);
        }
        self
    }

    /// Appends one argument in place (for loops).
    #[inline]
    pub fn push_arg(&mut self, arg: impl ToArg) -> &mut Self {
        arg.write_arg(&mut ArgBuf { buf: &mut self.buf });
        self.ends.push(self.buf.len());
        self
    }

    /// The command's name, in upper case, as the bytes sent to Redis: what an adapter
    /// copies into its client's command, without [`name`](Self::name)'s UTF-8 check.
    #[inline]
    pub fn name_bytes(&self) -> &[u8] {
        &self.buf[..self.name_len]
    }

    /// The command's name, in upper case.
    pub fn name(&self) -> &str {
        // Always valid: `new` stores a `str` whose ASCII letters alone were upper-cased.
        std::str::from_utf8(self.name_bytes()).unwrap_or_default()
    }

    /// The arguments, after the name, in order.
    #[inline]
    pub fn args(&self) -> Args<'_> {
        Args {
            buf: &self.buf,
            start: self.name_len,
            ends: self.ends.iter(),
        }
    }

    /// The `i`-th argument as upper-case text, when it is ASCII (for subcommands and flags).
    fn word(&self, i: usize) -> Option<String> {
        let arg = self.args().nth(i)?;
        arg.is_ascii()
            .then(|| String::from_utf8_lossy(arg).to_ascii_uppercase())
    }
}

/// Shows the name and each argument as an escaped byte string:
/// `Command { name: "SET", args: [b"k", b"\xff"] }`.
impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Command")
            .field("name", &self.name())
            .field("args", &ArgsDebug(self))
            .finish()
    }
}

/// A command's arguments as a list of escaped byte strings.
struct ArgsDebug<'a>(&'a Command);

impl fmt::Debug for ArgsDebug<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Bytes<'a>(&'a [u8]);
        impl fmt::Debug for Bytes<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "b\"{}\"", self.0.escape_ascii())
            }
        }
        f.debug_list().entries(self.0.args().map(Bytes)).finish()
    }
}

/// The arguments of a [`Command`], in order: see [`Command::args`].
#[derive(Debug, Clone)]
pub struct Args<'a> {
    /// The command's bytes.
    buf: &'a [u8],
    /// Where the next argument starts.
    start: usize,
    /// Where each argument not yet returned ends.
    ends: std::slice::Iter<'a, usize>,
}

impl<'a> Iterator for Args<'a> {
    type Item = &'a [u8];

    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        let end = *self.ends.next()?;
        let arg = self.buf.get(self.start..end)?;
        self.start = end;
        Some(arg)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.ends.size_hint()
    }
}

impl ExactSizeIterator for Args<'_> {}

/// Several commands sent in one round trip, answered in order.
///
/// A plain pipeline only saves round trips: other clients' commands may run between its
/// commands, and when one command fails the others still run. An
/// [`atomic`](Pipeline::atomic) pipeline is a `MULTI`/`EXEC` transaction: its commands run
/// one after the other with nothing in between, or (when one is refused before `EXEC`,
/// such as an unknown command) not at all. In a cluster, every key of a pipeline must hash to one slot
/// (give them a common hash tag, `{user:42}:a` and `{user:42}:b`).
///
/// The caller states its [`Idempotency`]: whether the whole pipeline may be sent again
/// after a transient failure (a lost reply). Only the caller knows: a pipeline of `SET`s
/// is idempotent, one with an `INCRBY` or an `RPUSH` is not.
///
/// ```
/// use infra_base::redis::{Command, Pipeline};
/// use infra_base::resilience::Idempotency;
///
/// let pipe = Pipeline::atomic(Idempotency::NonIdempotent)
///     .with(Command::new("INCR").arg("{user:1}:visits"))
///     .with(Command::new("EXPIRE").arg("{user:1}:visits").arg(60));
/// assert_eq!(pipe.len(), 2);
/// assert!(pipe.is_atomic());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pipeline {
    commands: Vec<Command>,
    atomic: bool,
    idempotency: Idempotency,
}

impl Pipeline {
    /// An empty plain pipeline (no transaction).
    pub fn new(idempotency: Idempotency) -> Self {
        Self {
            commands: Vec::new(),
            atomic: false,
            idempotency,
        }
    }

    /// An empty transaction: its commands are sent inside `MULTI` ... `EXEC`.
    pub fn atomic(idempotency: Idempotency) -> Self {
        Self {
            commands: Vec::new(),
            atomic: true,
            idempotency,
        }
    }

    /// Appends a command.
    #[must_use]
    pub fn with(mut self, command: Command) -> Self {
        self.commands.push(command);
        self
    }

    /// Appends a command in place (for loops).
    pub fn push(&mut self, command: Command) -> &mut Self {
        self.commands.push(command);
        self
    }

    /// The commands, in order.
    pub fn commands(&self) -> &[Command] {
        &self.commands
    }

    /// Whether it is a `MULTI`/`EXEC` transaction.
    pub fn is_atomic(&self) -> bool {
        self.atomic
    }

    /// Whether the caller allows it to be sent again after a transient failure.
    pub fn idempotency(&self) -> Idempotency {
        self.idempotency
    }

    /// How many commands it holds.
    pub fn len(&self) -> usize {
        self.commands.len()
    }

    /// Whether it holds no command (sending it sends nothing and answers no reply).
    pub fn is_empty(&self) -> bool {
        self.commands.is_empty()
    }
}

/// Where a refused command should go instead.
const USE_EXCLUSIVE: &str = "use an exclusive connection (infra_redis::RedisAdapter::exclusive)";

/// Why the shared command path refuses a command, from its name alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// Blocks its connection until data arrives or a timeout passes: on a shared
    /// multiplexed connection it would stall every other caller's replies.
    Blocking,
    /// `XREAD`/`XREADGROUP`: blocking only with a `BLOCK` option.
    BlockingWithOption,
    /// Turns the connection into a push stream.
    PushStream,
    /// Opens or ends a transaction on the connection.
    Transaction,
    /// Keeps optimistic-lock state on the connection.
    OptimisticLock,
    /// Changes the connection's session (database, credentials, protocol, mode).
    Session,
    /// `CLIENT`: refused but for the subcommands that only read.
    Client,
    /// Replication and server control.
    ServerAdmin,
}

/// The refusal a command name falls under, if any: one `match`, so that the commands that
/// pass (nearly all) cost a few comparisons.
fn refusal(name: &[u8]) -> Option<Refusal> {
    Some(match name {
        b"BLPOP" | b"BRPOP" | b"BRPOPLPUSH" | b"BLMOVE" | b"BLMPOP" | b"BZPOPMIN" | b"BZPOPMAX"
        | b"BZMPOP" | b"WAIT" | b"WAITAOF" => Refusal::Blocking,
        b"XREAD" | b"XREADGROUP" => Refusal::BlockingWithOption,
        b"SUBSCRIBE" | b"PSUBSCRIBE" | b"SSUBSCRIBE" | b"UNSUBSCRIBE" | b"PUNSUBSCRIBE"
        | b"SUNSUBSCRIBE" | b"MONITOR" => Refusal::PushStream,
        b"MULTI" | b"EXEC" | b"DISCARD" => Refusal::Transaction,
        b"WATCH" | b"UNWATCH" => Refusal::OptimisticLock,
        b"SELECT" | b"AUTH" | b"HELLO" | b"RESET" | b"QUIT" | b"READONLY" | b"READWRITE" => {
            Refusal::Session
        }
        b"CLIENT" => Refusal::Client,
        b"SYNC" | b"PSYNC" | b"SHUTDOWN" | b"REPLICAOF" | b"SLAVEOF" => Refusal::ServerAdmin,
        _ => return None,
    })
}

/// `CLIENT` subcommands that only read: allowed, the rest (`REPLY OFF`, `SETNAME`,
/// `TRACKING`, `KILL`, `PAUSE`, ...) are refused.
const CLIENT_READS: &[&str] = &["ID", "INFO", "GETNAME", "LIST"];

/// Checks that `command` may be sent on the shared command path of
/// [`RedisPort::command`](super::RedisPort::command) and
/// [`RedisPort::pipeline`](super::RedisPort::pipeline): the one check every adapter (and
/// the in-memory fake) applies before sending anything, so every port refuses the same
/// commands with the same [`ErrorKind::InvalidInput`] message, naming the right tool:
///
/// | refused | why | instead |
/// |---|---|---|
/// | `BLPOP`, `BRPOP`, `BRPOPLPUSH`, `BLMOVE`, `BLMPOP`, `BZPOPMIN`, `BZPOPMAX`, `BZMPOP`, `XREAD`/`XREADGROUP` with `BLOCK`, `WAIT`, `WAITAOF` | block the shared connection | an exclusive connection, or the non-blocking variant |
/// | `(P|S)SUBSCRIBE`, `(P|S)UNSUBSCRIBE`, `MONITOR` | turn the connection into a push stream | an exclusive connection (a subscriber) |
/// | `MULTI`, `EXEC`, `DISCARD` | open a transaction on the connection | [`Pipeline::atomic`] |
/// | `WATCH`, `UNWATCH` | optimistic locks live on the connection | an exclusive connection |
/// | `SELECT`, `AUTH`, `HELLO`, `RESET`, `QUIT`, `READONLY`, `READWRITE`, `CLIENT` (but `CLIENT ID`/`INFO`/`GETNAME`/`LIST`) | change the connection's session | the settings (`SOCIAL_REDIS__*`) |
/// | `SYNC`, `PSYNC`, `SHUTDOWN`, `REPLICAOF`, `SLAVEOF` | replication and server control | an operator's tool |
///
/// A name that is empty or contains whitespace (`"CLIENT ID"` as one word) is refused too.
///
/// ```
/// use infra_base::ErrorKind;
/// use infra_base::redis::{Command, validate_command};
///
/// assert!(validate_command(&Command::new("HGET").arg("k").arg("f"), "command").is_ok());
/// let err = validate_command(&Command::new("blpop").arg("q").arg(0), "command").unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::InvalidInput);
/// assert!(err.message().starts_with("BLPOP blocks its connection"));
/// ```
pub fn validate_command(command: &Command, operation: &'static str) -> InfraResult<()> {
    let bytes = command.name_bytes();
    if bytes.is_empty() || !bytes.iter().all(u8::is_ascii_graphic) {
        return Err(refused(
            operation,
            format!(
                "{:?} is not a command name: give the first word only (\"CLIENT\", then \
                 \"ID\" as an argument)",
                command.name()
            ),
        ));
    }
    let Some(refusal) = refusal(bytes) else {
        return Ok(());
    };
    // Read as text only to refuse.
    let name = command.name();
    let message = match refusal {
        Refusal::BlockingWithOption if !xread_blocks(command) => return Ok(()),
        Refusal::Blocking | Refusal::BlockingWithOption => format!(
            "{name} blocks its connection and is not allowed on the shared command path: \
             {USE_EXCLUSIVE}, or the non-blocking variant"
        ),
        Refusal::PushStream => format!(
            "{name} turns its connection into a push stream and is not allowed on the \
             shared command path: {USE_EXCLUSIVE} as a subscriber"
        ),
        Refusal::Transaction => format!(
            "{name} is not allowed on the shared command path: send the transaction as \
             RedisPort::pipeline with Pipeline::atomic (MULTI/EXEC around it)"
        ),
        Refusal::OptimisticLock => format!(
            "{name} keeps state on its connection and is not allowed on the shared command \
             path: {USE_EXCLUSIVE} for WATCH/MULTI/EXEC, or a script (eval_script)"
        ),
        Refusal::Session => format!(
            "{name} changes the connection's session and is not allowed on the shared \
             command path: the database, credentials and protocol come from the settings \
             (SOCIAL_REDIS__*)"
        ),
        Refusal::Client => {
            let sub = command.word(0).unwrap_or_default();
            if CLIENT_READS.contains(&sub.as_str()) {
                return Ok(());
            }
            format!(
                "CLIENT {sub} is not allowed on the shared command path (only CLIENT ID, \
                 INFO, GETNAME and LIST are): the connection's session comes from the \
                 settings (SOCIAL_REDIS__*), or {USE_EXCLUSIVE}"
            )
        }
        Refusal::ServerAdmin => format!(
            "{name} is a replication or server-control command and is not allowed through \
             the port"
        ),
    };
    Err(refused(operation, message))
}

/// The error of a refused command.
fn refused(operation: &'static str, message: String) -> InfraError {
    InfraError::new(ErrorKind::InvalidInput, REDIS_BACKEND, operation, message)
}

/// Whether an `XREAD`/`XREADGROUP` has a `BLOCK` option (options come before `STREAMS`).
fn xread_blocks(command: &Command) -> bool {
    (0..command.args().len())
        .map_while(|i| command.word(i).filter(|w| w != "STREAMS"))
        .any(|w| w == "BLOCK")
}

#[cfg(test)]
mod tests {
    use super::*;

    // The refused names as the table in `validate_command`'s docs lists them: the spec the
    // `match` in `refusal` is checked against.
    /// Commands that block their connection until data arrives or a timeout passes: on a
    /// shared multiplexed connection they would stall every other caller's replies.
    const BLOCKING: &[&str] = &[
        "BLPOP",
        "BRPOP",
        "BRPOPLPUSH",
        "BLMOVE",
        "BLMPOP",
        "BZPOPMIN",
        "BZPOPMAX",
        "BZMPOP",
        "WAIT",
        "WAITAOF",
    ];

    /// Commands that change or depend on the state of their connection: on a shared
    /// connection they would leak that state into other callers' commands.
    const PUBSUB: &[&str] = &[
        "SUBSCRIBE",
        "PSUBSCRIBE",
        "SSUBSCRIBE",
        "UNSUBSCRIBE",
        "PUNSUBSCRIBE",
        "SUNSUBSCRIBE",
    ];
    const TRANSACTION: &[&str] = &["MULTI", "EXEC", "DISCARD"];
    const OPTIMISTIC_LOCK: &[&str] = &["WATCH", "UNWATCH"];
    const SESSION: &[&str] = &[
        "SELECT",
        "AUTH",
        "HELLO",
        "RESET",
        "QUIT",
        "READONLY",
        "READWRITE",
    ];
    const SERVER_ADMIN: &[&str] = &["SYNC", "PSYNC", "SHUTDOWN", "REPLICAOF", "SLAVEOF"];

    fn refused(cmd: &Command) -> String {
        let err = validate_command(cmd, "command").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert_eq!(err.operation(), "command");
        err.message().to_owned()
    }

    #[test]
    fn arguments_are_bytes() {
        let cmd = Command::new("zadd")
            .arg("k")
            .arg(1.5)
            .arg(-3_i64)
            .arg(String::from("m"))
            .arg(vec![0xff_u8])
            .args_from(["a", "b"]);
        assert_eq!(cmd.name(), "ZADD");
        assert_eq!(cmd.name_bytes(), b"ZADD");
        let args: Vec<&[u8]> = cmd.args().collect();
        assert_eq!(args, [&b"k"[..], b"1.5", b"-3", b"m", b"\xff", b"a", b"b"]);
        let mut cmd = Command::new("DEL");
        cmd.push_arg("x").push_arg(String::from("y"));
        assert_eq!(cmd.args().len(), 2);
        assert!(Command::new("X").arg(f64::INFINITY).args().eq([b"inf"]));
    }

    #[test]
    fn arguments_keep_their_bounds_however_long_or_empty() {
        let long = vec![b'x'; 1000];
        let cmd = Command::new("set")
            .arg("")
            .arg(long.as_slice())
            .arg(&b""[..])
            .arg(u64::MAX);
        assert_eq!(cmd.name(), "SET");
        let args: Vec<&[u8]> = cmd.args().collect();
        assert_eq!(args, [&b""[..], &long[..], b"", b"18446744073709551615"]);
        assert_eq!(cmd.args().len(), 4);
        assert_eq!(Command::new("PING").args().next(), None);
        // Equal commands built differently are equal; a moved argument boundary is not.
        assert_eq!(Command::new("get").arg("k"), Command::new("GET").arg(b"k"));
        assert_ne!(
            Command::new("MSET").arg("ab").arg("c"),
            Command::new("MSET").arg("a").arg("bc")
        );
    }

    #[test]
    fn a_name_and_a_short_key_fit_inline_and_larger_commands_spill_once() {
        let key = format!("user:{}", "0".repeat(56));
        let get = Command::new("GET").arg(key.as_str());
        assert_eq!(get.buf.len(), INLINE);
        assert!(!get.buf.spilled() && !get.ends.spilled());
        let set = Command::new("SET")
            .arg("user:42")
            .arg([7_u8; 64].as_slice())
            .arg("PX")
            .arg(1500);
        assert!(set.buf.spilled() && !set.ends.spilled());
        assert!(
            set.args()
                .eq([&b"user:42"[..], &[7_u8; 64][..], b"PX", b"1500"])
        );
        let mset = Command::new("MSET").args_from(["a", "1", "b", "2", "c", "3"]);
        assert!(mset.ends.spilled());
        assert!(mset.args().eq([b"a", b"1", b"b", b"2", b"c", b"3"]));
        assert_eq!(mset.args().len(), 6);
    }

    #[test]
    fn debug_shows_name_and_escaped_arguments() {
        let cmd = Command::new("set").arg("k").arg(vec![0xff_u8, b'"']);
        assert_eq!(
            format!("{cmd:?}"),
            r#"Command { name: "SET", args: [b"k", b"\xff\""] }"#
        );
    }

    #[test]
    fn ordinary_commands_pass() {
        for cmd in [
            Command::new("GET").arg("k"),
            Command::new("hset").arg("k").arg("f").arg("v"),
            Command::new("XREAD")
                .arg("COUNT")
                .arg(2)
                .arg("STREAMS")
                .arg("block")
                .arg(0),
            Command::new("client").arg("id"),
            Command::new("CLIENT").arg("info"),
            Command::new("EVALSHA").arg("abc").arg(0),
        ] {
            validate_command(&cmd, "command").unwrap();
        }
    }

    #[test]
    fn blocking_commands_are_refused_with_the_right_tool() {
        for name in BLOCKING {
            let message = refused(&Command::new(name.to_lowercase()).arg("k").arg(0));
            assert!(message.starts_with(&format!("{name} blocks")), "{message}");
            assert!(message.contains("RedisAdapter::exclusive"), "{message}");
        }
        for name in ["XREAD", "xreadgroup"] {
            let cmd = Command::new(name)
                .arg("COUNT")
                .arg(1)
                .arg("block")
                .arg(100)
                .arg("STREAMS")
                .arg("s")
                .arg("$");
            assert!(refused(&cmd).contains("blocks"));
        }
    }

    #[test]
    fn connection_state_commands_are_refused() {
        for name in PUBSUB.iter().chain(["MONITOR"].iter()) {
            assert!(refused(&Command::new(*name).arg("ch")).contains("push stream"));
        }
        for name in TRANSACTION {
            assert!(refused(&Command::new(*name)).contains("Pipeline::atomic"));
        }
        for name in OPTIMISTIC_LOCK {
            assert!(refused(&Command::new(*name).arg("k")).contains("exclusive"));
        }
        for name in SESSION {
            assert!(refused(&Command::new(*name).arg("1")).contains("SOCIAL_REDIS__"));
        }
        for name in SERVER_ADMIN {
            assert!(refused(&Command::new(*name)).contains("server-control"));
        }
        for sub in ["SETNAME", "reply", "TRACKING", "KILL"] {
            let message = refused(&Command::new("CLIENT").arg(sub).arg("x"));
            assert!(message.starts_with("CLIENT "), "{message}");
        }
        assert!(refused(&Command::new("CLIENT")).contains("only CLIENT ID"));
    }

    #[test]
    fn malformed_names_are_refused() {
        for name in ["", "CLIENT ID", "GET\n"] {
            assert!(refused(&Command::new(name)).contains("not a command name"));
        }
    }

    #[test]
    fn pipelines_keep_order_and_flags() {
        let mut pipe = Pipeline::new(Idempotency::Idempotent);
        assert!(pipe.is_empty());
        pipe.push(Command::new("GET").arg("a"))
            .push(Command::new("GET").arg("b"));
        let pipe = pipe.with(Command::new("GET").arg("c"));
        assert_eq!(pipe.len(), 3);
        assert!(!pipe.is_atomic());
        assert_eq!(pipe.idempotency(), Idempotency::Idempotent);
        assert!(pipe.commands()[2].args().eq([b"c"]));
    }
}
