//! Secret values: passwords, API keys and URLs that may carry credentials.
//!
//! Both types print a redacted form in `Debug`, `Display` and `Serialize`, so
//! that `Settings` can be logged or dumped as JSON without leaking anything.
//! The real value is reachable only through `expose_secret()`, which the
//! adapters call when they build a client. Serialization is therefore one-way:
//! it is meant for showing the effective configuration, not for round trips.

use std::fmt;

use secrecy::zeroize::Zeroizing;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

use crate::text::FromText;

/// What a whole secret prints as.
pub(crate) const REDACTED: &str = "[REDACTED]";
/// What the password of a URL prints as.
pub(crate) const MASK: &str = "***";

/// A secret string (a password or an API key) that never prints its value.
///
/// Deserialized from the exact raw text (`0123` stays `0123`); an integer in
/// a TOML file is refused so that no digits are lost.
#[derive(Clone)]
pub struct Secret(SecretString);

impl Secret {
    /// Wraps a value so that it is redacted everywhere it could be printed.
    pub fn new(value: impl Into<String>) -> Self {
        Self(SecretString::from(value.into()))
    }

    /// The real value, for the adapter that authenticates with it.
    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }
}

impl ExposeSecret<str> for Secret {
    fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(REDACTED)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::from_text(text).map_err(de::Error::custom)
    }
}

impl FromText for Secret {
    fn from_text(text: String) -> Result<Self, String> {
        Ok(Self::new(text))
    }
}

/// A URL that may carry a user name and password (`redis://user:pass@host`).
///
/// It prints with the password replaced by `***` (and, defensively, with any
/// query, fragment or unusual path replaced too); the full URL is reachable
/// only through [`SecretUrl::expose_secret`].
#[derive(Clone)]
pub struct SecretUrl {
    raw: SecretString,
    /// The parsed URL with the password removed; never printed as is.
    parts: url::Url,
    has_password: bool,
    redacted: String,
}

impl SecretUrl {
    /// Parses a URL; the error describes the problem without repeating the input.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parts = url::Url::parse(text)
            .map_err(|error| format!("the value is not a valid URL ({error})"))?;
        let has_password = parts.password().is_some();
        if has_password {
            // Fails only for URLs without a host; those are redacted wholesale below.
            let _ = parts.set_password(None);
        }
        let redacted = redact(&parts, has_password);
        Ok(Self {
            raw: SecretString::from(text.to_owned()),
            parts,
            has_password,
            redacted,
        })
    }

    /// The full URL, credentials included, for the adapter that connects with it.
    pub fn expose_secret(&self) -> &str {
        self.raw.expose_secret()
    }

    /// The URL with its password replaced by `***`, safe to log.
    pub fn redacted(&self) -> &str {
        &self.redacted
    }

    /// The scheme, e.g. `redis` or `https`.
    pub fn scheme(&self) -> &str {
        self.parts.scheme()
    }

    /// The host as written in the URL (IPv6 addresses in brackets), if any.
    pub fn host(&self) -> Option<String> {
        self.parts.host().map(|host| host.to_string())
    }

    /// The explicit port, or the scheme's well-known port (80/443 for http/https).
    pub fn port(&self) -> Option<u16> {
        self.parts.port_or_known_default()
    }

    /// The user name (percent-encoded as written), empty when there is none.
    pub fn username(&self) -> &str {
        self.parts.username()
    }

    /// Whether the URL carries a password.
    pub fn has_password(&self) -> bool {
        self.has_password
    }

    /// The password as written in the URL (still percent-encoded), if any.
    pub(crate) fn password_encoded(&self) -> Option<Zeroizing<String>> {
        let url = url::Url::parse(self.raw.expose_secret()).ok()?;
        url.password()
            .map(|password| Zeroizing::new(password.to_owned()))
    }

    /// The port as written in the URL, even when it is the scheme's default
    /// (`https://h:443` gives 443, `https://h` gives none): the parsed URL
    /// forgets a written default port, which a gRPC endpoint must not.
    pub(crate) fn written_port(&self) -> Option<u16> {
        if let Some(port) = self.parts.port() {
            return Some(port);
        }
        let raw = self.raw.expose_secret();
        let rest = raw.split_once("://")?.1;
        let authority = rest.split(['/', '?', '#']).next()?;
        let host_port = authority
            .rsplit_once('@')
            .map_or(authority, |(_, tail)| tail);
        let port = match host_port.strip_prefix('[') {
            Some(v6) => v6.split_once("]:")?.1,
            None => host_port.rsplit_once(':')?.1,
        };
        if port.is_empty() {
            return None;
        }
        self.parts.port_or_known_default()
    }

    /// The parsed URL without its password, for validation.
    pub(crate) fn parts(&self) -> &url::Url {
        &self.parts
    }
}

/// Builds the printable form: password masked, and anything else that could
/// hide a secret (a query, a fragment, an unusual path) masked as well.
fn redact(parts: &url::Url, has_password: bool) -> String {
    if parts.cannot_be_a_base() || !parts.has_host() {
        return format!("{}:{MASK}", parts.scheme());
    }
    let mut shown = parts.clone();
    if has_password {
        let _ = shown.set_password(Some(MASK));
    }
    let path = shown.path();
    let plain_path = path.is_empty()
        || path == "/"
        || path
            .strip_prefix('/')
            .is_some_and(|rest| rest.chars().all(|c| c.is_ascii_digit()));
    if !plain_path {
        shown.set_path(&format!("/{MASK}"));
    }
    if shown.query().is_some() {
        shown.set_query(Some(MASK));
    }
    if shown.fragment().is_some() {
        shown.set_fragment(Some(MASK));
    }
    shown.to_string()
}

impl FromText for SecretUrl {
    fn from_text(text: String) -> Result<Self, String> {
        let text = Zeroizing::new(text);
        Self::parse(&text)
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.redacted, f)
    }
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted)
    }
}

impl Serialize for SecretUrl {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.redacted)
    }
}

impl<'de> Deserialize<'de> for SecretUrl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::from_text(text).map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MARKER: &str = "s3cr3t-M4RK3R";

    #[test]
    fn secret_never_prints() {
        let secret = Secret::new(MARKER);
        assert_eq!(secret.expose_secret(), MARKER);
        assert_eq!(format!("{secret:?}"), REDACTED);
        assert_eq!(secret.to_string(), REDACTED);
        assert_eq!(serde_json::to_string(&secret).unwrap(), "\"[REDACTED]\"");
    }

    #[test]
    fn url_password_is_masked() {
        let url = SecretUrl::parse(&format!("redis://user:{MARKER}@cache:6380/2")).unwrap();
        assert_eq!(url.redacted(), "redis://user:***@cache:6380/2");
        assert_eq!(format!("{url:?}"), "\"redis://user:***@cache:6380/2\"");
        assert!(url.expose_secret().contains(MARKER));
        assert!(url.has_password());
        assert_eq!(url.username(), "user");
        assert_eq!(url.host().as_deref(), Some("cache"));
        assert_eq!(url.port(), Some(6380));
        assert_eq!(
            url.password_encoded().as_deref().map(String::as_str),
            Some(MARKER)
        );
    }

    #[test]
    fn odd_urls_hide_everything_that_could_be_secret() {
        for text in [
            format!("user:{MARKER}@host"),
            format!("redis:{MARKER}@host"),
            format!("redis://u:1/{MARKER}@host"),
            format!("redis://host/0?password={MARKER}"),
            format!("redis://host/0#{MARKER}"),
        ] {
            let url = SecretUrl::parse(&text).unwrap();
            assert!(!url.redacted().contains(MARKER), "{}", url.redacted());
        }
    }

    #[test]
    fn written_ports_include_scheme_defaults() {
        let port = |text: &str| SecretUrl::parse(text).unwrap().written_port();
        assert_eq!(port("https://q:443"), Some(443));
        assert_eq!(port("http://u:p@[::1]:80/"), Some(80));
        assert_eq!(port("https://q:6334"), Some(6334));
        assert_eq!(port("https://q"), None);
        assert_eq!(port("http://u:p%3A1@q/"), None);
        assert_eq!(port("http://q:/"), None);
    }

    #[test]
    fn parse_errors_do_not_echo() {
        let error = SecretUrl::parse(&format!("redis://u:{MARKER}@host:99999")).unwrap_err();
        assert!(!error.contains(MARKER), "{error}");
        assert!(error.contains("not a valid URL"), "{error}");
    }
}
