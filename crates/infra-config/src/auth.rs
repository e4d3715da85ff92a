//! The `http.auth` and `http.cors` sections: who may call the service.
//!
//! API keys are read from one list key (`SOCIAL_HTTP__AUTH__API_KEYS`), each entry
//! `name:scopes:credential` where scopes are `read`, `write` and `admin` joined with `+`
//! and the credential is the key itself (at least 16 characters) or `sha256:` and the
//! 64 hex digits of its SHA-256 digest, so that the plaintext need not sit in
//! configuration. Errors name the entry by position and never repeat it.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

use crate::choice::choice;
use crate::net;
use crate::schema as keys;
use crate::secret::{REDACTED, Secret};
use crate::validate::Checker;

choice! {
    /// How requests are authenticated (`http.auth.mode`).
    pub enum AuthMode {
        /// API keys and/or JWT when configured; none on a loopback address with nothing
        /// configured; refused at load on a non-loopback address with nothing configured.
        Auto => "auto",
        /// No authentication: every route is public (logged as a warning at start on a
        /// non-loopback address).
        None => "none",
        /// Bearer API keys only.
        ApiKey => "api_key",
        /// Bearer JWTs only.
        Jwt => "jwt",
        /// Either an API key or a JWT.
        Any => "any",
    }
    default = Auto;
}

choice! {
    /// A permission granted to a caller. Scopes are ordered: `admin` implies `write`,
    /// which implies `read`.
    pub enum Scope {
        /// Read data.
        Read => "read",
        /// Create, change and delete data.
        Write => "write",
        /// Manage collections (create and delete them).
        Admin => "admin",
    }
    default = Read;
}

impl Scope {
    /// The scope's rank: read 0, write 1, admin 2.
    const fn rank(self) -> u8 {
        match self {
            Self::Read => 0,
            Self::Write => 1,
            Self::Admin => 2,
        }
    }

    /// Whether holding `self` grants `required` (`admin` grants everything, `write`
    /// grants `read`).
    pub const fn grants(self, required: Scope) -> bool {
        self.rank() >= required.rank()
    }
}

/// The smallest length of a plaintext API key.
pub const MIN_API_KEY_LEN: usize = 16;
/// The smallest length of an HS256 secret, in bytes.
pub const MIN_JWT_SECRET_LEN: usize = 32;
/// The largest JWT leeway.
pub const MAX_JWT_LEEWAY: Duration = Duration::from_mins(5);

/// How an API key is recognised.
#[derive(Clone, Debug)]
pub enum ApiKeyCredential {
    /// The key itself (redacted when printed).
    Secret(Secret),
    /// The SHA-256 digest of the key.
    Sha256([u8; 32]),
}

/// One configured API key: a name for logs, its scopes and its credential.
#[derive(Clone, Debug)]
pub struct ApiKeyEntry {
    /// A name for logs (`A-Z a-z 0-9 _ . -`, at most 64 characters); never the key.
    pub name: String,
    /// The scopes granted (at least one).
    pub scopes: Vec<Scope>,
    /// The key, or its digest.
    pub credential: ApiKeyCredential,
}

impl ApiKeyEntry {
    /// Parses `name:scope+scope:secret` or `name:scope+scope:sha256:HEX`; the error never
    /// repeats the input.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parts = text.trim().splitn(3, ':');
        let name = parts.next().unwrap_or_default();
        let (Some(scopes), Some(credential)) = (parts.next(), parts.next()) else {
            return Err("not of the form name:scopes:key".to_owned());
        };
        if name.is_empty()
            || name.len() > 64
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        {
            return Err(
                "a name that is empty, longer than 64 characters or not made of A-Z a-z 0-9 _ . -"
                    .to_owned(),
            );
        }
        let mut granted = Vec::new();
        for word in scopes.split('+') {
            let scope = Scope::from_name(word.trim())
                .ok_or_else(|| format!("key {name}: an unknown scope (read, write, admin)"))?;
            if !granted.contains(&scope) {
                granted.push(scope);
            }
        }
        let credential = if let Some(hex) = credential.strip_prefix("sha256:") {
            ApiKeyCredential::Sha256(
                decode_sha256_hex(hex)
                    .ok_or_else(|| format!("key {name}: sha256: needs 64 hex digits"))?,
            )
        } else {
            if credential.chars().count() < MIN_API_KEY_LEN {
                return Err(format!(
                    "key {name}: shorter than {MIN_API_KEY_LEN} characters"
                ));
            }
            if credential
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
            {
                return Err(format!("key {name}: whitespace in the key"));
            }
            ApiKeyCredential::Secret(Secret::new(credential))
        };
        Ok(Self {
            name: name.to_owned(),
            scopes: granted,
            credential,
        })
    }
}

fn decode_sha256_hex(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.as_bytes();
    if hex.len() != 64 {
        return None;
    }
    let digit = |b: u8| char::from(b).to_digit(16);
    let mut out = [0u8; 32];
    for (i, pair) in hex.chunks_exact(2).enumerate() {
        let value = digit(pair[0])? * 16 + digit(pair[1])?;
        out[i] = u8::try_from(value).ok()?;
    }
    Some(out)
}

impl fmt::Display for ApiKeyEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scopes: Vec<&str> = self.scopes.iter().map(|s| s.as_str()).collect();
        let kind = match self.credential {
            ApiKeyCredential::Secret(_) => "",
            ApiKeyCredential::Sha256(_) => "sha256:",
        };
        write!(f, "{}:{}:{kind}{REDACTED}", self.name, scopes.join("+"))
    }
}

impl Serialize for ApiKeyEntry {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// `#[serde(with = "crate::auth::api_key_list")]`: a comma-separated string or an array.
pub(crate) mod api_key_list {
    use super::{ApiKeyEntry, Deserializer, Serializer, de, fmt};
    use serde::ser::SerializeSeq;

    pub(crate) fn serialize<S: Serializer>(
        entries: &[ApiKeyEntry],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(entries.len()))?;
        for entry in entries {
            seq.serialize_element(entry)?;
        }
        seq.end()
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<ApiKeyEntry>, D::Error> {
        deserializer.deserialize_any(Visitor)
    }

    struct Visitor;

    fn entry<E: de::Error>(position: usize, text: &str) -> Result<ApiKeyEntry, E> {
        ApiKeyEntry::parse(text)
            .map_err(|problem| E::custom(format!("entry {position}: {problem}")))
    }

    impl<'de> de::Visitor<'de> for Visitor {
        type Value = Vec<ApiKeyEntry>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a comma-separated list of name:scopes:key")
        }

        fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
            value
                .split(',')
                .map(str::trim)
                .filter(|e| !e.is_empty())
                .enumerate()
                .map(|(i, e)| entry(i + 1, e))
                .collect()
        }

        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(text) = seq.next_element::<String>()? {
                let text = text.trim();
                if !text.is_empty() {
                    out.push(entry(out.len() + 1, text)?);
                }
            }
            Ok(out)
        }
    }
}

/// JWT verification (`SOCIAL_HTTP__AUTH__JWT__*`): an HS256 secret or an RS256/ES256
/// public key, plus the claims checked.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JwtSettings {
    /// HS256 shared secret (at least 32 bytes); exclusive with `public_key_file`.
    #[serde(deserialize_with = "crate::text::optional")]
    pub secret: Option<Secret>,
    /// PEM file with an RSA (RS256) or P-256 EC (ES256) public key.
    #[serde(deserialize_with = "crate::text::optional")]
    pub public_key_file: Option<PathBuf>,
    /// JWKS file (a JSON Web Key Set) of RSA and P-256 public keys, chosen by the
    /// token's `kid`.
    #[serde(deserialize_with = "crate::text::optional")]
    pub jwks_file: Option<PathBuf>,
    /// Required `iss` claim, when set.
    #[serde(deserialize_with = "crate::text::optional")]
    pub issuer: Option<String>,
    /// Required `aud` claim, when set.
    #[serde(deserialize_with = "crate::text::optional")]
    pub audience: Option<String>,
    /// Clock skew allowed on `exp` and `nbf`.
    #[serde(with = "crate::duration")]
    pub leeway: Duration,
}

impl Default for JwtSettings {
    fn default() -> Self {
        Self {
            secret: None,
            public_key_file: None,
            jwks_file: None,
            issuer: None,
            audience: None,
            leeway: const { keys::HTTP_AUTH_JWT_LEEWAY.default.duration() },
        }
    }
}

impl JwtSettings {
    /// Whether a verification key is configured.
    pub fn is_configured(&self) -> bool {
        self.secret.is_some() || self.public_key_file.is_some() || self.jwks_file.is_some()
    }
}

/// Authentication settings (`SOCIAL_HTTP__AUTH__*`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// How requests are authenticated.
    pub mode: AuthMode,
    /// The API keys accepted.
    #[serde(with = "api_key_list")]
    pub api_keys: Vec<ApiKeyEntry>,
    /// JWT verification.
    pub jwt: JwtSettings,
}

impl AuthSettings {
    /// The mode in force for a server bound to `host`: [`AuthMode::Auto`] resolved to
    /// `api_key`, `jwt`, `any` (both configured) or `none` (nothing configured; only valid
    /// on loopback, validation refuses it elsewhere). Never returns `Auto`.
    pub fn effective_mode(&self) -> AuthMode {
        match self.mode {
            AuthMode::Auto => match (!self.api_keys.is_empty(), self.jwt.is_configured()) {
                (true, true) => AuthMode::Any,
                (true, false) => AuthMode::ApiKey,
                (false, true) => AuthMode::Jwt,
                (false, false) => AuthMode::None,
            },
            other => other,
        }
    }

    pub(crate) fn validate(&self, host: &str, cx: &mut Checker<'_>) {
        let jwt = &self.jwt;
        if jwt.secret.is_some() && jwt.public_key_file.is_some() {
            cx.refuse(
                "http.auth.jwt.public_key_file",
                format!(
                    "set together with {} (choose HS256 or a public key)",
                    cx.key("http.auth.jwt.secret")
                ),
            );
        } else if jwt.jwks_file.is_some() && (jwt.secret.is_some() || jwt.public_key_file.is_some())
        {
            cx.refuse(
                "http.auth.jwt.jwks_file",
                format!(
                    "set together with {} or {} (choose one kind of key)",
                    cx.key("http.auth.jwt.secret"),
                    cx.key("http.auth.jwt.public_key_file")
                ),
            );
        }
        if let Some(secret) = &jwt.secret
            && secret.expose_secret().len() < MIN_JWT_SECRET_LEN
        {
            cx.refuse(
                "http.auth.jwt.secret",
                format!("shorter than {MIN_JWT_SECRET_LEN} bytes"),
            );
        }
        if let Some(file) = &jwt.public_key_file {
            cx.existing_file("http.auth.jwt.public_key_file", file);
        }
        if let Some(file) = &jwt.jwks_file {
            cx.existing_file("http.auth.jwt.jwks_file", file);
        }
        if jwt.leeway > MAX_JWT_LEEWAY {
            cx.refuse(
                "http.auth.jwt.leeway",
                format!("got {}", humantime::format_duration(jwt.leeway)),
            );
        }
        for (label, value) in [
            ("http.auth.jwt.issuer", &jwt.issuer),
            ("http.auth.jwt.audience", &jwt.audience),
        ] {
            if value
                .as_deref()
                .is_some_and(|v| v.trim().is_empty() || v.chars().any(char::is_control))
            {
                cx.refuse(label, "blank or with control characters");
            }
        }
        let mut names: Vec<&str> = self.api_keys.iter().map(|k| k.name.as_str()).collect();
        names.sort_unstable();
        if let Some(name) = names.windows(2).find_map(|pair| match pair {
            [a, b] if a == b => Some(*a),
            _ => None,
        }) {
            cx.refuse(
                "http.auth.api_keys",
                format!("the name {name} is used twice"),
            );
        }
        let keys_missing = self.api_keys.is_empty();
        let jwt_missing = !jwt.is_configured();
        let mode_key = cx.key("http.auth.mode");
        match self.mode {
            AuthMode::ApiKey if keys_missing => cx.refuse(
                "http.auth.api_keys",
                format!("missing, required when {mode_key}=api_key"),
            ),
            AuthMode::Jwt if jwt_missing => cx.refuse(
                "http.auth.jwt.secret",
                format!(
                    "missing (nor {} or {}), one is required when {mode_key}=jwt",
                    cx.key("http.auth.jwt.public_key_file"),
                    cx.key("http.auth.jwt.jwks_file")
                ),
            ),
            AuthMode::Any if keys_missing || jwt_missing => cx.refuse(
                "http.auth.mode",
                "any needs both API keys and a JWT key; use api_key or jwt for one of them",
            ),
            AuthMode::Auto
                if keys_missing
                    && jwt_missing
                    && net::check_host(host).is_ok()
                    && !net::is_loopback(host) =>
            {
                cx.refuse(
                    "http.auth.mode",
                    format!(
                        "no API keys or JWT key while {} is not a loopback address \
                         (every route would be open to the network)",
                        cx.key("http.host")
                    ),
                );
            }
            _ => {}
        }
    }
}

/// CORS settings (`SOCIAL_HTTP__CORS__*`): off unless origins are listed.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CorsSettings {
    /// Origins (`https://app.example.com`) whose browsers may call the API; empty means
    /// no CORS headers at all.
    #[serde(deserialize_with = "origin_list")]
    pub allowed_origins: Vec<String>,
}

fn origin_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        One(String),
        Many(Vec<String>),
    }
    let entries: Vec<String> = match Raw::deserialize(deserializer)? {
        Raw::One(text) => text.split(',').map(str::to_owned).collect(),
        Raw::Many(items) => items,
    };
    let mut out = Vec::new();
    for (position, entry) in entries
        .iter()
        .map(|e| e.trim())
        .filter(|e| !e.is_empty())
        .enumerate()
    {
        check_origin(entry)
            .map_err(|problem| de::Error::custom(format!("entry {}: {problem}", position + 1)))?;
        out.push(entry.trim_end_matches('/').to_owned());
    }
    Ok(out)
}

/// An origin is `scheme://host[:port]`, without path, query or credentials.
fn check_origin(origin: &str) -> Result<(), &'static str> {
    if origin == "*" {
        return Err("* is refused: list the origins");
    }
    let url = url::Url::parse(origin).map_err(|_| "not a URL")?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("not an http:// or https:// origin");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("credentials in an origin");
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err("a path, query or fragment in an origin");
    }
    if url.host_str().is_none() {
        return Err("no host");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_api_keys_without_echoing_them() {
        let entry = ApiKeyEntry::parse("ci:read+write:0123456789abcdef-x").unwrap();
        assert_eq!(entry.name, "ci");
        assert_eq!(entry.scopes, [Scope::Read, Scope::Write]);
        assert!(matches!(entry.credential, ApiKeyCredential::Secret(_)));
        assert_eq!(entry.to_string(), "ci:read+write:[REDACTED]");
        let hash = "a".repeat(64);
        let entry = ApiKeyEntry::parse(&format!("ops:admin:sha256:{hash}")).unwrap();
        assert!(matches!(entry.credential, ApiKeyCredential::Sha256(d) if d == [0xaa; 32]));
        for bad in [
            "hunter2hunter2hunter2",
            "ci:read",
            ":read:hunter2hunter2hunter2",
            "c i:read:hunter2hunter2hunter2",
            "ci:root:hunter2hunter2hunter2",
            "ci:read:hunter2",
            "ci:read:sha256:hunter2",
            "ci:read:hunter2 hunter2 hunter2",
        ] {
            let error = ApiKeyEntry::parse(bad).unwrap_err();
            assert!(!error.contains("hunter2"), "{error}");
        }
    }

    #[test]
    fn scopes_are_ordered() {
        assert!(Scope::Admin.grants(Scope::Write) && Scope::Admin.grants(Scope::Read));
        assert!(Scope::Write.grants(Scope::Read) && !Scope::Write.grants(Scope::Admin));
        assert!(!Scope::Read.grants(Scope::Write));
    }

    #[test]
    fn origins() {
        assert!(check_origin("https://app.example.com").is_ok());
        assert!(check_origin("http://localhost:3000").is_ok());
        for bad in [
            "*",
            "app.example.com",
            "https://u:p@x",
            "https://x/path",
            "ftp://x",
        ] {
            assert!(check_origin(bad).is_err(), "{bad}");
        }
    }
}
