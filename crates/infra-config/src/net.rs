//! Network addresses: host names, `host:port` node lists, URL building blocks.

use std::fmt;
use std::net::Ipv6Addr;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

/// One `host:port` address of a cluster seed or a sentinel.
///
/// Written `host:port`, or `[v6-address]:port` for IPv6.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NodeAddr {
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// TCP port, 1-65535.
    pub port: u16,
}

impl NodeAddr {
    /// Parses `host:port`; the error says what is wrong without repeating input
    /// that could hold credentials.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.contains('@') {
            return Err(
                "an entry contains credentials (`@`); give them in the username and \
                        password keys instead"
                    .to_owned(),
            );
        }
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let (host, port) = rest
                .split_once("]:")
                .ok_or_else(|| format!("`{}` is not [ipv6]:port", text.escape_debug()))?;
            (host, port)
        } else {
            let (host, port) = text.rsplit_once(':').ok_or_else(|| {
                format!("`{}` has no port (expected host:port)", text.escape_debug())
            })?;
            if host.contains(':') {
                return Err(format!(
                    "`{}` is ambiguous: write IPv6 addresses in brackets, e.g. [::1]:6379",
                    text.escape_debug()
                ));
            }
            (host, port)
        };
        check_host(host).map_err(|problem| format!("`{}` has {problem}", text.escape_debug()))?;
        let port = match port.parse::<u16>() {
            Ok(port) if port != 0 => port,
            _ => {
                return Err(format!(
                    "`{}` has an invalid port (expected 1-65535)",
                    text.escape_debug()
                ));
            }
        };
        Ok(Self {
            host: host.to_owned(),
            port,
        })
    }

    /// `host:port` as used in a URL authority (IPv6 in brackets).
    pub fn authority(&self) -> String {
        format!("{}:{}", url_host(&self.host), self.port)
    }
}

impl fmt::Display for NodeAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.authority())
    }
}

impl FromStr for NodeAddr {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        Self::parse(text)
    }
}

impl Serialize for NodeAddr {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for NodeAddr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(de::Error::custom)
    }
}

/// Checks a host name or IP address (IPv6 with or without brackets).
pub(crate) fn check_host(host: &str) -> Result<(), &'static str> {
    if host.is_empty() {
        return Err("an empty host");
    }
    if host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("whitespace in the host");
    }
    if host.contains(':') && !host.starts_with('[') {
        return host
            .parse::<Ipv6Addr>()
            .map(|_| ())
            .map_err(|_| "an invalid host");
    }
    url::Host::parse(host)
        .map(|_| ())
        .map_err(|_| "an invalid host")
}

/// Whether a host (name or address, IPv6 with or without brackets) is the
/// loopback interface: `localhost` (and `*.localhost`), `127.0.0.0/8`, `::1`.
pub(crate) fn is_loopback(host: &str) -> bool {
    let bare = host
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(address) = bare.parse::<std::net::IpAddr>() {
        return address.is_loopback();
    }
    let name = bare.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

/// A host as written in a URL: IPv6 addresses get brackets.
pub(crate) fn url_host(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

/// Percent-encodes everything except RFC 3986 unreserved characters, so that
/// any user name or password is safe inside a URL's userinfo.
pub(crate) fn percent_encode(text: &str, out: &mut String) {
    use std::fmt::Write as _;
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
}

/// Describes a URL scheme for an error line without repeating arbitrary text:
/// a URL without `//` (`user:pass@host`) parses with the user name as scheme.
pub(crate) fn describe_scheme(scheme: &str) -> String {
    const KNOWN: &[&str] = &[
        "redis",
        "rediss",
        "redis+unix",
        "unix",
        "http",
        "https",
        "grpc",
        "grpcs",
        "tcp",
        "tls",
        "ws",
        "wss",
        "valkey",
        "valkeys",
        "file",
    ];
    if KNOWN.contains(&scheme) {
        format!("the scheme {scheme}://")
    } else {
        "an unsupported scheme".to_owned()
    }
}

/// `#[serde(with = "crate::net::node_list")]`: a comma-separated string
/// (`a:6379, b:6379`) or a TOML array of `host:port` strings.
pub(crate) mod node_list {
    use std::fmt;

    use serde::{Deserializer, Serializer, de, ser::SerializeSeq};

    use super::NodeAddr;

    /// Writes the nodes as an array of `host:port` strings.
    pub(crate) fn serialize<S: Serializer>(
        nodes: &[NodeAddr],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(nodes.len()))?;
        for node in nodes {
            seq.serialize_element(node)?;
        }
        seq.end()
    }

    /// Reads a comma-separated string or an array; empty entries are skipped.
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<NodeAddr>, D::Error> {
        deserializer.deserialize_any(NodesVisitor)
    }

    struct NodesVisitor;

    fn parse_entry<E: de::Error>(position: usize, text: &str) -> Result<NodeAddr, E> {
        NodeAddr::parse(text).map_err(|problem| E::custom(format!("entry {position}: {problem}")))
    }

    impl<'de> de::Visitor<'de> for NodesVisitor {
        type Value = Vec<NodeAddr>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a comma-separated list of host:port")
        }

        fn visit_str<E: de::Error>(self, value: &str) -> Result<Vec<NodeAddr>, E> {
            value
                .split(',')
                .map(str::trim)
                .filter(|entry| !entry.is_empty())
                .enumerate()
                .map(|(index, entry)| parse_entry(index + 1, entry))
                .collect()
        }

        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<NodeAddr>, A::Error> {
            let mut nodes = Vec::new();
            while let Some(entry) = seq.next_element::<String>()? {
                let entry = entry.trim();
                if !entry.is_empty() {
                    nodes.push(parse_entry(nodes.len() + 1, entry)?);
                }
            }
            Ok(nodes)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nodes() {
        assert_eq!(
            NodeAddr::parse(" redis-1:7000 ").unwrap(),
            NodeAddr {
                host: "redis-1".into(),
                port: 7000
            }
        );
        let v6 = NodeAddr::parse("[::1]:6379").unwrap();
        assert_eq!(
            v6,
            NodeAddr {
                host: "::1".into(),
                port: 6379
            }
        );
        assert_eq!(v6.to_string(), "[::1]:6379");
    }

    #[test]
    fn refuses_bad_nodes_without_echoing_credentials() {
        for bad in [
            "host",
            "host:0",
            "host:70000",
            "host:x",
            ":6379",
            "::1:6379",
            "a b:1",
            "[::1]",
        ] {
            assert!(NodeAddr::parse(bad).is_err(), "{bad}");
        }
        let error = NodeAddr::parse("user:hunter2@host:1").unwrap_err();
        assert!(!error.contains("hunter2"), "{error}");
    }

    #[test]
    fn encodes_userinfo() {
        let mut out = String::new();
        percent_encode("p@ss:w/rd%41 é~", &mut out);
        assert_eq!(out, "p%40ss%3Aw%2Frd%2541%20%C3%A9~");
    }

    #[test]
    fn loopback_hosts() {
        for host in [
            "localhost",
            "LOCALHOST.",
            "a.localhost",
            "127.0.0.1",
            "127.1.2.3",
            "::1",
            "[::1]",
        ] {
            assert!(is_loopback(host), "{host}");
        }
        for host in [
            "qdrant",
            "10.0.0.1",
            "0.0.0.0",
            "::",
            "[2001:db8::1]",
            "localhost.example",
        ] {
            assert!(!is_loopback(host), "{host}");
        }
    }

    #[test]
    fn checks_hosts() {
        for good in [
            "localhost",
            "127.0.0.1",
            "::1",
            "[::1]",
            "redis.internal",
            "my_host",
        ] {
            assert_eq!(check_host(good), Ok(()), "{good}");
        }
        for bad in ["", "a b", "a/b", "a@b", "::zz", "host:1"] {
            assert!(check_host(bad).is_err(), "{bad}");
        }
    }
}
