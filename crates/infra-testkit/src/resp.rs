//! A minimal, blocking RESP2 client over a std `TcpStream`, for driving test servers.
//!
//! It is what the testkit uses to check readiness (`PING`), read `INFO`, join clusters and
//! drive sentinels, without depending on the `redis` crate. It is not a Redis client for the
//! code under test: plain TCP only, one command at a time, every read and write bounded by
//! the connection's timeout.

use std::fmt;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::error::{Error, Result};

/// Replies longer than this are refused (a test server never sends one; a broken peer might).
const MAX_BULK_LEN: usize = 512 * 1024 * 1024;

/// One RESP2 reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `+OK`: a status line.
    Status(String),
    /// `-ERR ...`: an error reply, kept as a value (see [`Reply::into_result`]).
    Error(String),
    /// `:42`.
    Integer(i64),
    /// `$n` bulk string; `None` for the nil bulk string `$-1`.
    Bulk(Option<Vec<u8>>),
    /// `*n` array; `None` for the nil array `*-1`.
    Array(Option<Vec<Reply>>),
}

impl Reply {
    /// The reply as text, for status, bulk (lossy UTF-8) and integer replies.
    pub fn as_text(&self) -> Option<String> {
        match self {
            Reply::Status(s) => Some(s.clone()),
            Reply::Bulk(Some(bytes)) => Some(String::from_utf8_lossy(bytes).into_owned()),
            Reply::Integer(n) => Some(n.to_string()),
            _ => None,
        }
    }

    /// The elements of an array reply (empty for a nil array), `None` for other replies.
    pub fn as_array(&self) -> Option<&[Reply]> {
        match self {
            Reply::Array(Some(items)) => Some(items),
            Reply::Array(None) => Some(&[]),
            _ => None,
        }
    }

    /// `Err` for an error reply, the reply itself otherwise.
    pub fn into_result(self) -> Result<Reply> {
        match self {
            Reply::Error(message) => Err(Error::new(format!("server replied {message}"))),
            other => Ok(other),
        }
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reply::Status(s) => write!(f, "+{s}"),
            Reply::Error(s) => write!(f, "-{s}"),
            Reply::Integer(n) => write!(f, ":{n}"),
            Reply::Bulk(None) | Reply::Array(None) => f.write_str("(nil)"),
            Reply::Bulk(Some(bytes)) => write!(f, "{:?}", String::from_utf8_lossy(bytes)),
            Reply::Array(Some(items)) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
        }
    }
}

/// One blocking RESP2 connection.
#[derive(Debug)]
pub struct Connection {
    addr: SocketAddr,
    reader: BufReader<TcpStream>,
}

impl Connection {
    /// Connects to `addr` (e.g. `"127.0.0.1:6379"`); `timeout` bounds the connect and every
    /// later read and write.
    pub fn connect(addr: &str, timeout: Duration) -> Result<Self> {
        let addr = addr
            .to_socket_addrs()
            .map_err(|e| Error::new(format!("cannot resolve {addr}: {e}")))?
            .next()
            .ok_or_else(|| Error::new(format!("{addr} resolves to no address")))?;
        let stream = TcpStream::connect_timeout(&addr, timeout)
            .map_err(|e| Error::new(format!("cannot connect to {addr}: {e}")))?;
        stream
            .set_read_timeout(Some(timeout))
            .and_then(|()| stream.set_write_timeout(Some(timeout)))
            .and_then(|()| stream.set_nodelay(true))
            .map_err(|e| Error::new(format!("cannot configure the connection to {addr}: {e}")))?;
        Ok(Self {
            addr,
            reader: BufReader::new(stream),
        })
    }

    /// Connects, then authenticates with `AUTH [username] password` when `auth` is given.
    pub fn connect_with_auth(
        addr: &str,
        timeout: Duration,
        auth: Option<(Option<&str>, &str)>,
    ) -> Result<Self> {
        let mut conn = Self::connect(addr, timeout)?;
        if let Some((username, password)) = auth {
            let reply = match username {
                Some(user) => conn.command(&["AUTH", user, password])?,
                None => conn.command(&["AUTH", password])?,
            };
            reply
                .into_result()
                .map_err(|e| e.context(format!("AUTH on {addr}")))?;
        }
        Ok(conn)
    }

    /// The peer's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Sends one command and reads its reply. An error reply is `Ok(Reply::Error)`; only
    /// transport and protocol failures are `Err`.
    pub fn command<S: AsRef<[u8]>>(&mut self, args: &[S]) -> Result<Reply> {
        let addr = self.addr;
        let name = args
            .first()
            .map(|a| String::from_utf8_lossy(a.as_ref()).into_owned())
            .unwrap_or_default();
        self.send(args)
            .and_then(|()| read_reply(&mut self.reader))
            .map_err(|e| Error::new(format!("{name} on {addr}: {e}")))
    }

    /// Like [`command`](Self::command), with an error reply turned into `Err`.
    pub fn command_ok<S: AsRef<[u8]>>(&mut self, args: &[S]) -> Result<Reply> {
        let addr = self.addr;
        let name = args
            .first()
            .map(|a| String::from_utf8_lossy(a.as_ref()).into_owned())
            .unwrap_or_default();
        self.command(args)?
            .into_result()
            .map_err(|e| e.context(format!("{name} on {addr}")))
    }

    fn send<S: AsRef<[u8]>>(&mut self, args: &[S]) -> io::Result<()> {
        let stream = self.reader.get_mut();
        stream.write_all(&encode(args))?;
        stream.flush()
    }
}

/// Encodes a command as a RESP array of bulk strings.
fn encode<S: AsRef<[u8]>>(args: &[S]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        let arg = arg.as_ref();
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn protocol(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

fn read_line(reader: &mut impl BufRead) -> io::Result<String> {
    let mut line = Vec::new();
    reader.read_until(b'\n', &mut line)?;
    if line.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the server closed the connection",
        ));
    }
    if !line.ends_with(b"\r\n") {
        return Err(protocol("a reply line does not end with CRLF"));
    }
    line.truncate(line.len() - 2);
    String::from_utf8(line).map_err(|_| protocol("a reply line is not UTF-8"))
}

fn parse_len(text: &str) -> io::Result<Option<usize>> {
    let n: i64 = text
        .parse()
        .map_err(|_| protocol(format!("bad length {text:?}")))?;
    if n < 0 {
        return Ok(None);
    }
    let n = usize::try_from(n).map_err(|_| protocol(format!("bad length {text:?}")))?;
    if n > MAX_BULK_LEN {
        return Err(protocol(format!("length {n} is too large")));
    }
    Ok(Some(n))
}

fn read_reply(reader: &mut impl BufRead) -> io::Result<Reply> {
    let line = read_line(reader)?;
    let (kind, rest) = line.split_at_checked(1).unwrap_or(("", ""));
    match kind {
        "+" => Ok(Reply::Status(rest.to_owned())),
        "-" => Ok(Reply::Error(rest.to_owned())),
        ":" => rest
            .parse()
            .map(Reply::Integer)
            .map_err(|_| protocol(format!("bad integer {rest:?}"))),
        "$" => match parse_len(rest)? {
            None => Ok(Reply::Bulk(None)),
            Some(len) => {
                let mut data = vec![0; len + 2];
                reader.read_exact(&mut data)?;
                if !data.ends_with(b"\r\n") {
                    return Err(protocol("a bulk string does not end with CRLF"));
                }
                data.truncate(len);
                Ok(Reply::Bulk(Some(data)))
            }
        },
        "*" => match parse_len(rest)? {
            None => Ok(Reply::Array(None)),
            Some(len) => {
                let mut items = Vec::with_capacity(len.min(1024));
                for _ in 0..len {
                    items.push(read_reply(reader)?);
                }
                Ok(Reply::Array(Some(items)))
            }
        },
        _ => Err(protocol(format!("unexpected reply line {line:?}"))),
    }
}

/// The value of `field` in an `INFO` text (`field:value` lines), if present.
pub fn info_field(info: &str, field: &str) -> Option<String> {
    info.lines().find_map(|line| {
        let (key, value) = line.trim_end().split_once(':')?;
        (key == field).then(|| value.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> io::Result<Reply> {
        read_reply(&mut BufReader::new(bytes))
    }

    #[test]
    fn commands_are_encoded_as_bulk_arrays() {
        assert_eq!(
            encode(&["SET", "k", ""]),
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n".to_vec()
        );
    }

    #[test]
    fn every_reply_type_parses() {
        assert_eq!(parse(b"+PONG\r\n").unwrap(), Reply::Status("PONG".into()));
        assert_eq!(
            parse(b"-WRONGPASS invalid\r\n").unwrap(),
            Reply::Error("WRONGPASS invalid".into())
        );
        assert_eq!(parse(b":-7\r\n").unwrap(), Reply::Integer(-7));
        assert_eq!(parse(b"$-1\r\n").unwrap(), Reply::Bulk(None));
        assert_eq!(
            parse(b"$4\r\na\r\nb\r\n").unwrap(),
            Reply::Bulk(Some(b"a\r\nb".to_vec()))
        );
        assert_eq!(
            parse(b"*2\r\n$2\r\nhi\r\n*-1\r\n").unwrap(),
            Reply::Array(Some(vec![
                Reply::Bulk(Some(b"hi".to_vec())),
                Reply::Array(None)
            ]))
        );
    }

    #[test]
    fn broken_replies_are_errors() {
        assert!(parse(b"").is_err());
        assert!(parse(b"+OK\n").is_err());
        assert!(parse(b"?what\r\n").is_err());
        assert!(parse(b"$5\r\nab\r\n").is_err());
        assert!(parse(b":x\r\n").is_err());
    }

    #[test]
    fn error_replies_become_errors_on_request() {
        assert!(Reply::Error("NOAUTH".into()).into_result().is_err());
        assert_eq!(
            Reply::Integer(1)
                .into_result()
                .unwrap()
                .as_text()
                .as_deref(),
            Some("1")
        );
    }

    #[test]
    fn info_fields_are_found_by_exact_name() {
        let info = "# Stats\r\ntotal_connections_received:12\r\ntotal_commands_processed:40\r\n";
        assert_eq!(
            info_field(info, "total_connections_received").as_deref(),
            Some("12")
        );
        assert_eq!(info_field(info, "total_connections"), None);
    }
}
