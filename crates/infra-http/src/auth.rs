//! Bearer authentication and per-route scopes: API keys and JWTs.
//!
//! [`Authenticator`] checks the `Authorization: Bearer <token>` header against the
//! configured API keys (compared as SHA-256 digests in constant time, so a key is never
//! compared byte by byte and may be configured as its digest only) and/or a JWT key (HS256
//! secret, an RS256 / ES256 public key from a PEM file, or a JWKS file whose keys are
//! chosen by the token's `kid`; `exp` is required, `nbf`, `iss` and `aud` are checked,
//! with the configured leeway). A token's scopes come from its API
//! key entry or from the JWT's `scope` (space-separated string) or `scopes` (array) claim;
//! words other than `read`, `write` and `admin` are ignored.
//!
//! [`RoutePolicy`] says what each route needs, by method and route template: the service
//! passes its table in (infra-http knows only its own health routes, which are public).
//! Scopes are ordered: `admin` implies `write`, which implies `read`. A matched route that
//! is not in the table needs `admin` (fail closed); a request that matches no route needs
//! any valid token (`read`), so unauthenticated clients cannot probe which paths exist.
//!
//! Outcomes, all `application/problem+json`:
//!
//! - no token, or a token that is refused: 401 with `WWW-Authenticate: Bearer` (plus
//!   `error="invalid_token"` when a token was presented), kind `unauthorized`;
//! - a valid token without the scope: 403 with `WWW-Authenticate: Bearer
//!   error="insufficient_scope"`, kind `forbidden`.
//!
//! The reason for a refusal is logged at `debug` (`info` for a valid token with too few
//! scopes, naming the key or the JWT subject); the token itself never is.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
pub use infra_config::Scope;
use infra_config::{ApiKeyCredential, AuthMode, AuthSettings};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::Problem;
use crate::health::{INFRA_PATH, LIVE_PATH, READY_PATH};

/// What a route requires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Served without a token.
    Public,
    /// Needs a token that grants this scope.
    Scope(Scope),
}

/// What each route needs, by method and route template (`/collections/{name}`).
///
/// The health routes are always public. `HEAD` is looked up as `GET`.
#[derive(Clone, Debug)]
pub struct RoutePolicy {
    rules: HashMap<(Method, String), Access>,
    public_paths: Vec<String>,
}

impl Default for RoutePolicy {
    fn default() -> Self {
        Self::new()
    }
}

impl RoutePolicy {
    /// A policy where only the health routes are public and every other route needs
    /// `admin`.
    pub fn new() -> Self {
        Self {
            rules: HashMap::new(),
            public_paths: vec![LIVE_PATH.into(), READY_PATH.into(), INFRA_PATH.into()],
        }
    }

    /// Serves `path` (a route template) to anyone, whatever the method.
    #[must_use]
    pub fn public(mut self, path: impl Into<String>) -> Self {
        self.public_paths.push(path.into());
        self
    }

    /// Requires `scope` for `method` on `path` (a route template).
    #[must_use]
    pub fn require(mut self, method: Method, path: impl Into<String>, scope: Scope) -> Self {
        self.rules
            .insert((method, path.into()), Access::Scope(scope));
        self
    }

    /// What `method` on the route template `route` needs; `None` means no route matched.
    pub fn access(&self, method: &Method, route: Option<&str>) -> Access {
        let Some(route) = route else {
            return Access::Scope(Scope::Read);
        };
        if self.public_paths.iter().any(|p| p == route) {
            return Access::Public;
        }
        let method = if method == Method::HEAD {
            Method::GET
        } else {
            method.clone()
        };
        self.rules
            .get(&(method, route.to_owned()))
            .copied()
            .unwrap_or(Access::Scope(Scope::Admin))
    }
}

/// Who a request was authenticated as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The API key's name, or the JWT's `sub` (empty when it has none).
    pub name: String,
    /// `api_key` or `jwt`.
    pub via: &'static str,
    /// The scopes granted.
    pub scopes: Vec<Scope>,
}

impl Principal {
    /// Whether one of the scopes grants `required`.
    pub fn grants(&self, required: Scope) -> bool {
        self.scopes.iter().any(|s| s.grants(required))
    }
}

/// Why a request was not authenticated (logged, never shown beyond 401).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthFailure {
    /// No `Authorization` header.
    Missing,
    /// An `Authorization` header that is not `Bearer <token>`.
    Malformed,
    /// A token that matches no API key and is not a valid JWT.
    Refused(String),
}

impl AuthFailure {
    fn token_presented(&self) -> bool {
        !matches!(self, Self::Missing)
    }
}

impl fmt::Display for AuthFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing => f.write_str("no Authorization header"),
            Self::Malformed => f.write_str("the Authorization header is not Bearer <token>"),
            Self::Refused(reason) => f.write_str(reason),
        }
    }
}

/// The authentication could not be set up (a public key file that cannot be used).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct AuthSetupError(String);

struct ApiKey {
    name: String,
    digest: [u8; 32],
    scopes: Vec<Scope>,
}

/// A verification key and the one algorithm it accepts.
struct VerifyingKey {
    kid: Option<String>,
    key: DecodingKey,
    validation: Validation,
}

/// The keys JWTs are checked with: one (secret or PEM), or a JWKS chosen by `kid`.
struct JwtVerifier {
    keys: Vec<VerifyingKey>,
}

impl JwtVerifier {
    /// The key for `token`: by its `kid`, or the only key when there is one and the token
    /// names none (or the only key has no `kid`).
    fn key_for(&self, token: &str) -> Result<&VerifyingKey, &'static str> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| "the token is not a valid JWT")?;
        if let [only] = self.keys.as_slice()
            && (only.kid.is_none() || header.kid.is_none() || only.kid == header.kid)
        {
            return Ok(only);
        }
        let Some(kid) = &header.kid else {
            return Err("the JWT names no kid and several keys are configured");
        };
        self.keys
            .iter()
            .find(|k| k.kid.as_deref() == Some(kid.as_str()))
            .ok_or("the JWT's kid matches no configured key")
    }
}

#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    scopes: Option<Vec<String>>,
}

/// Checks bearer tokens against the configured API keys and JWT key.
pub struct Authenticator {
    api_keys: Vec<ApiKey>,
    jwt: Option<JwtVerifier>,
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let jwt: Option<Vec<_>> = self.jwt.as_ref().map(|j| {
            j.keys
                .iter()
                .map(|k| (k.kid.clone(), k.validation.algorithms.clone()))
                .collect()
        });
        f.debug_struct("Authenticator")
            .field(
                "api_keys",
                &self.api_keys.iter().map(|k| &k.name).collect::<Vec<_>>(),
            )
            .field("jwt", &jwt)
            .finish()
    }
}

fn read_key_file(file: &std::path::Path) -> Result<Vec<u8>, AuthSetupError> {
    std::fs::read(file).map_err(|err| {
        AuthSetupError(format!(
            "cannot read the JWT key file {}: {err}",
            file.display()
        ))
    })
}

/// The RSA and P-256 keys of a JWKS file, with their algorithms.
fn jwks_keys(
    file: &std::path::Path,
) -> Result<Vec<(Option<String>, DecodingKey, Algorithm)>, AuthSetupError> {
    use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet};
    let text = read_key_file(file)?;
    let set: JwkSet = serde_json::from_slice(&text)
        .map_err(|err| AuthSetupError(format!("{} is not a JWKS: {err}", file.display())))?;
    let mut keys = Vec::new();
    for (position, jwk) in set.keys.iter().enumerate() {
        let algorithm = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => Algorithm::RS256,
            AlgorithmParameters::EllipticCurve(params) if params.curve == EllipticCurve::P256 => {
                Algorithm::ES256
            }
            _ => {
                return Err(AuthSetupError(format!(
                    "{}: key {} is neither RSA nor P-256 EC",
                    file.display(),
                    position + 1
                )));
            }
        };
        let key = DecodingKey::from_jwk(jwk).map_err(|err| {
            AuthSetupError(format!("{}: key {}: {err}", file.display(), position + 1))
        })?;
        keys.push((jwk.common.key_id.clone(), key, algorithm));
    }
    if keys.is_empty() {
        return Err(AuthSetupError(format!("{} holds no keys", file.display())));
    }
    Ok(keys)
}

/// The claim checks for `algorithm`: `exp` required, `nbf` checked, `iss` and `aud` when
/// configured (with no audience configured, a token that names one is refused: RFC 7519
/// 4.1.3, it is meant for someone else), with the leeway.
fn validation(jwt: &infra_config::JwtSettings, algorithm: Algorithm) -> Validation {
    let mut validation = Validation::new(algorithm);
    validation.leeway = jwt.leeway.as_secs();
    validation.validate_nbf = true;
    let mut required = vec!["exp"];
    if let Some(issuer) = &jwt.issuer {
        validation.set_issuer(&[issuer]);
        required.push("iss");
    }
    if let Some(audience) = &jwt.audience {
        validation.set_audience(&[audience]);
        required.push("aud");
    }
    validation.set_required_spec_claims(&required);
    validation
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

impl Authenticator {
    /// The authenticator for `settings`, or `None` when the effective mode is `none`.
    ///
    /// # Errors
    ///
    /// The public key or JWKS file cannot be read or holds no usable RSA or P-256 key.
    pub fn from_settings(settings: &AuthSettings) -> Result<Option<Self>, AuthSetupError> {
        let mode = settings.effective_mode();
        if mode == AuthMode::None {
            return Ok(None);
        }
        let api_keys = if matches!(mode, AuthMode::ApiKey | AuthMode::Any) {
            settings
                .api_keys
                .iter()
                .map(|entry| ApiKey {
                    name: entry.name.clone(),
                    digest: match &entry.credential {
                        ApiKeyCredential::Secret(secret) => {
                            sha256(secret.expose_secret().as_bytes())
                        }
                        ApiKeyCredential::Sha256(digest) => *digest,
                    },
                    scopes: entry.scopes.clone(),
                })
                .collect()
        } else {
            Vec::new()
        };
        let jwt = if matches!(mode, AuthMode::Jwt | AuthMode::Any) {
            Some(Self::jwt_verifier(settings)?)
        } else {
            None
        };
        Ok(Some(Self { api_keys, jwt }))
    }

    fn jwt_verifier(settings: &AuthSettings) -> Result<JwtVerifier, AuthSetupError> {
        let jwt = &settings.jwt;
        let keys: Vec<(Option<String>, DecodingKey, Algorithm)> = if let Some(secret) = &jwt.secret
        {
            vec![(
                None,
                DecodingKey::from_secret(secret.expose_secret().as_bytes()),
                Algorithm::HS256,
            )]
        } else if let Some(file) = &jwt.public_key_file {
            let pem = read_key_file(file)?;
            let key = if let Ok(key) = DecodingKey::from_rsa_pem(&pem) {
                (None, key, Algorithm::RS256)
            } else if let Ok(key) = DecodingKey::from_ec_pem(&pem) {
                (None, key, Algorithm::ES256)
            } else {
                return Err(AuthSetupError(format!(
                    "{} holds no RSA or EC public key in PEM form",
                    file.display()
                )));
            };
            vec![key]
        } else if let Some(file) = &jwt.jwks_file {
            jwks_keys(file)?
        } else {
            return Err(AuthSetupError(
                "JWT authentication needs a secret, a public key file or a JWKS file".to_owned(),
            ));
        };
        let keys = keys
            .into_iter()
            .map(|(kid, key, algorithm)| VerifyingKey {
                kid,
                key,
                validation: validation(jwt, algorithm),
            })
            .collect();
        Ok(JwtVerifier { keys })
    }

    /// Authenticates a request by its headers.
    ///
    /// # Errors
    ///
    /// No bearer token, or one that matches no API key and is no valid JWT.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Principal, AuthFailure> {
        let mut values = headers.get_all(header::AUTHORIZATION).iter();
        let value = values.next().ok_or(AuthFailure::Missing)?;
        if values.next().is_some() {
            return Err(AuthFailure::Malformed);
        }
        let token = value
            .to_str()
            .ok()
            .and_then(|v| {
                let (scheme, token) = v.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .filter(|t| !t.is_empty())
            .ok_or(AuthFailure::Malformed)?;
        if !self.api_keys.is_empty() {
            let digest = sha256(token.as_bytes());
            // Every key is compared, so timing does not tell how many were tried.
            let mut found = None;
            for key in &self.api_keys {
                if bool::from(key.digest.ct_eq(&digest)) {
                    found = Some(key);
                }
            }
            if let Some(key) = found {
                return Ok(Principal {
                    name: key.name.clone(),
                    via: "api_key",
                    scopes: key.scopes.clone(),
                });
            }
        }
        let Some(jwt) = &self.jwt else {
            return Err(AuthFailure::Refused(
                "the token matches no API key".to_owned(),
            ));
        };
        let key = jwt
            .key_for(token)
            .map_err(|reason| AuthFailure::Refused(reason.to_owned()))?;
        let data =
            jsonwebtoken::decode::<Claims>(token, &key.key, &key.validation).map_err(|err| {
                let reason = match err.kind() {
                    jsonwebtoken::errors::ErrorKind::ExpiredSignature => "the JWT has expired",
                    jsonwebtoken::errors::ErrorKind::ImmatureSignature => {
                        "the JWT is not valid yet (nbf)"
                    }
                    jsonwebtoken::errors::ErrorKind::InvalidAudience => {
                        "the JWT has the wrong audience"
                    }
                    jsonwebtoken::errors::ErrorKind::InvalidIssuer => {
                        "the JWT has the wrong issuer"
                    }
                    jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                        "the JWT signature is invalid"
                    }
                    jsonwebtoken::errors::ErrorKind::InvalidAlgorithm => {
                        "the JWT uses another algorithm"
                    }
                    jsonwebtoken::errors::ErrorKind::MissingRequiredClaim(_) => {
                        "the JWT lacks a required claim (exp, iss or aud)"
                    }
                    _ if self.api_keys.is_empty() => "the token is not a valid JWT",
                    _ => "the token matches no API key and is not a valid JWT",
                };
                AuthFailure::Refused(reason.to_owned())
            })?;
        let claims = data.claims;
        let words: Vec<String> = match (claims.scope, claims.scopes) {
            (_, Some(list)) => list,
            (Some(text), None) => text.split_whitespace().map(str::to_owned).collect(),
            (None, None) => Vec::new(),
        };
        let scopes = words.iter().filter_map(|w| Scope::from_name(w)).collect();
        Ok(Principal {
            name: claims.sub.unwrap_or_default(),
            via: "jwt",
            scopes,
        })
    }
}

/// The authenticator and the route policy that [`authorize`] applies.
#[derive(Debug, Clone)]
pub struct Guard {
    authenticator: Arc<Authenticator>,
    policy: Arc<RoutePolicy>,
}

impl Guard {
    /// A guard over `authenticator` with `policy`.
    pub fn new(authenticator: Authenticator, policy: RoutePolicy) -> Self {
        Self {
            authenticator: Arc::new(authenticator),
            policy: Arc::new(policy),
        }
    }
}

/// The realm named in `WWW-Authenticate`.
const REALM: &str = "infra";

fn unauthorized(failure: &AuthFailure) -> Response {
    let (detail, challenge) = if failure.token_presented() {
        (
            "The bearer token was not accepted.",
            format!("Bearer realm=\"{REALM}\", error=\"invalid_token\""),
        )
    } else {
        (
            "This route needs a bearer token (Authorization: Bearer <token>).",
            format!("Bearer realm=\"{REALM}\""),
        )
    };
    let mut response = Problem::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "Unauthorized",
        detail,
    )
    .into_response();
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

fn forbidden(required: Scope) -> Response {
    let mut response = Problem::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        "Forbidden",
        format!("This route needs the {required} scope."),
    )
    .into_response();
    let challenge =
        format!("Bearer realm=\"{REALM}\", error=\"insufficient_scope\", scope=\"{required}\"");
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

/// The middleware (`axum::middleware::from_fn_with_state(guard, authorize)`): answers 401
/// or 403 problems, or passes the request on with its [`Principal`] as an extension.
pub async fn authorize(State(guard): State<Guard>, mut req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str);
    let Access::Scope(required) = guard.policy.access(req.method(), route) else {
        return next.run(req).await;
    };
    match guard.authenticator.authenticate(req.headers()) {
        Err(failure) => {
            tracing::debug!(reason = %failure, "request not authenticated");
            unauthorized(&failure)
        }
        Ok(principal) if !principal.grants(required) => {
            tracing::info!(
                principal = %principal.name,
                via = principal.via,
                required = %required,
                "request refused: missing scope"
            );
            forbidden(required)
        }
        Ok(principal) => {
            tracing::debug!(principal = %principal.name, via = principal.via, "request authenticated");
            req.extensions_mut().insert(principal);
            next.run(req).await
        }
    }
}
