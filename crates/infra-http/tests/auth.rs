//! Authentication and route scopes, in process: every outcome of the bearer check, API
//! keys by secret and by digest, JWTs (HS256, ES256) with their claims, public routes,
//! CORS preflights, and that no token is ever logged.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use axum::routing::get;
use infra_base::testing::capture_logs;
use infra_config::{HttpSettings, SettingsLoader};
use infra_http::{Authenticator, Guard, PROBLEM_JSON, RoutePolicy, Scope, secured_layers};
use jsonwebtoken::{EncodingKey, Header};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tower::ServiceExt;

const READER: &str = "reader-key-0123456789";
const WRITER: &str = "writer-key-0123456789";
const ADMIN: &str = "admin-key-0123456789";
const HASHED: &str = "hashed-key-0123456789";
const JWT_SECRET: &str = "an-hs256-secret-of-at-least-32-bytes!";

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

fn settings(pairs: &[(&str, &str)]) -> HttpSettings {
    SettingsLoader::from_pairs(pairs.iter().copied())
        .load()
        .expect("valid settings")
        .http
}

fn api_key_settings() -> HttpSettings {
    let digest = hex(&Sha256::digest(HASHED.as_bytes()));
    let keys = format!(
        "reader:read:{READER},writer:write:{WRITER},admin:admin:{ADMIN},hashed:read+write:sha256:{digest}"
    );
    settings(&[("SOCIAL_HTTP__AUTH__API_KEYS", &keys)])
}

fn jwt_settings(extra: &[(&str, &str)]) -> HttpSettings {
    let mut pairs = vec![
        ("SOCIAL_HTTP__AUTH__JWT__SECRET", JWT_SECRET),
        ("SOCIAL_HTTP__AUTH__JWT__ISSUER", "https://issuer.test/"),
        ("SOCIAL_HTTP__AUTH__JWT__AUDIENCE", "infra"),
        ("SOCIAL_HTTP__AUTH__JWT__LEEWAY", "0s"),
    ];
    pairs.extend_from_slice(extra);
    settings(&pairs)
}

fn policy() -> RoutePolicy {
    RoutePolicy::new()
        .public("/openapi.json")
        .require(Method::GET, "/things/{id}", Scope::Read)
        .require(Method::PUT, "/things/{id}", Scope::Write)
        .require(Method::DELETE, "/things", Scope::Admin)
}

fn app(http: &HttpSettings) -> Router {
    let router = Router::new()
        .route("/health/live", get(|| async { "live" }))
        .route("/openapi.json", get(|| async { "{}" }))
        .route(
            "/things/{id}",
            get(|| async { "thing" }).put(|| async { "stored" }),
        )
        .route("/things", axum::routing::delete(|| async { "gone" }))
        .route("/unlisted", get(|| async { "unlisted" }));
    let guard = Authenticator::from_settings(&http.auth)
        .expect("authenticator")
        .map(|auth| Guard::new(auth, policy()));
    assert!(guard.is_some(), "authentication is on");
    secured_layers(router, http, guard)
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Value,
}

async fn send(app: &Router, method: Method, uri: &str, token: Option<&str>) -> Answer {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        body,
    }
}

fn challenge(answer: &Answer) -> &str {
    answer
        .headers
        .get(header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

fn assert_unauthorized(answer: &Answer, token_presented: bool) {
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{:?}", answer.body);
    assert_eq!(answer.headers[header::CONTENT_TYPE], PROBLEM_JSON);
    assert_eq!(answer.body["kind"], "unauthorized");
    assert_eq!(answer.body["status"], 401);
    assert!(
        challenge(answer).starts_with("Bearer"),
        "{}",
        challenge(answer)
    );
    assert_eq!(
        challenge(answer).contains("error=\"invalid_token\""),
        token_presented,
        "{}",
        challenge(answer)
    );
}

fn assert_forbidden(answer: &Answer, scope: &str) {
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{:?}", answer.body);
    assert_eq!(answer.headers[header::CONTENT_TYPE], PROBLEM_JSON);
    assert_eq!(answer.body["kind"], "forbidden");
    assert!(
        challenge(answer).contains("error=\"insufficient_scope\"")
            && challenge(answer).contains(&format!("scope=\"{scope}\"")),
        "{}",
        challenge(answer)
    );
}

#[tokio::test]
async fn public_routes_stay_public() {
    let app = app(&api_key_settings());
    for path in ["/health/live", "/openapi.json"] {
        let answer = send(&app, Method::GET, path, None).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}");
        // A bad token on a public route is ignored, not refused.
        let answer = send(&app, Method::GET, path, Some("wrong")).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}");
    }
}

#[tokio::test]
async fn no_bad_or_malformed_token_is_401() {
    let app = app(&api_key_settings());
    assert_unauthorized(&send(&app, Method::GET, "/things/1", None).await, false);
    assert_unauthorized(
        &send(&app, Method::GET, "/things/1", Some("not-a-key-0123456789")).await,
        true,
    );
    // A key with one character changed.
    let near = format!("{}X", &READER[..READER.len() - 1]);
    assert_unauthorized(
        &send(&app, Method::GET, "/things/1", Some(&near)).await,
        true,
    );
    for value in ["Basic cmVhZGVyOnB3", "Bearer", "Bearer    ", READER] {
        let request = Request::builder()
            .uri("/things/1")
            .header(header::AUTHORIZATION, value)
            .body(Body::empty())
            .unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{value}");
    }
    // Unknown routes need a token too (no probing of what exists), then 404.
    assert_unauthorized(&send(&app, Method::GET, "/nothing/here", None).await, false);
    let answer = send(&app, Method::GET, "/nothing/here", Some(READER)).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn api_keys_by_secret_and_by_hash_with_ordered_scopes() {
    let app = app(&api_key_settings());
    let ok = |a: &Answer| a.status == StatusCode::OK;
    // read
    assert!(ok(&send(&app, Method::GET, "/things/1", Some(READER)).await));
    assert!(ok(
        &send(&app, Method::HEAD, "/things/1", Some(READER)).await
    ));
    assert_forbidden(
        &send(&app, Method::PUT, "/things/1", Some(READER)).await,
        "write",
    );
    assert_forbidden(
        &send(&app, Method::DELETE, "/things", Some(READER)).await,
        "admin",
    );
    // write implies read
    assert!(ok(&send(&app, Method::GET, "/things/1", Some(WRITER)).await));
    assert!(ok(&send(&app, Method::PUT, "/things/1", Some(WRITER)).await));
    assert_forbidden(
        &send(&app, Method::DELETE, "/things", Some(WRITER)).await,
        "admin",
    );
    // admin implies everything
    for (method, path) in [
        (Method::GET, "/things/1"),
        (Method::PUT, "/things/1"),
        (Method::DELETE, "/things"),
    ] {
        assert!(ok(&send(&app, method, path, Some(ADMIN)).await), "{path}");
    }
    // configured by its SHA-256 digest only
    assert!(ok(&send(&app, Method::PUT, "/things/1", Some(HASHED)).await));
    // a route missing from the table needs admin (fail closed)
    assert_forbidden(
        &send(&app, Method::GET, "/unlisted", Some(WRITER)).await,
        "admin",
    );
    assert!(ok(&send(&app, Method::GET, "/unlisted", Some(ADMIN)).await));
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn hs256(claims: &Value) -> String {
    jsonwebtoken::encode(
        &Header::default(),
        claims,
        &EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .unwrap()
}

fn claims(scope: Value) -> Value {
    let mut claims = json!({
        "sub": "user-1",
        "iss": "https://issuer.test/",
        "aud": "infra",
        "exp": now() + 300,
    });
    match scope {
        Value::String(_) => claims["scope"] = scope,
        Value::Array(_) => claims["scopes"] = scope,
        _ => {}
    }
    claims
}

#[tokio::test]
async fn hs256_jwts_with_their_claims() {
    let app = app(&jwt_settings(&[]));
    let read = hs256(&claims(json!("openid read")));
    assert_eq!(
        send(&app, Method::GET, "/things/1", Some(&read))
            .await
            .status,
        StatusCode::OK
    );
    assert_forbidden(
        &send(&app, Method::PUT, "/things/1", Some(&read)).await,
        "write",
    );
    let admin = hs256(&claims(json!(["admin"])));
    assert_eq!(
        send(&app, Method::DELETE, "/things", Some(&admin))
            .await
            .status,
        StatusCode::OK
    );
    let none = hs256(&claims(Value::Null));
    assert_forbidden(
        &send(&app, Method::GET, "/things/1", Some(&none)).await,
        "read",
    );

    let refused = |edit: &dyn Fn(&mut Value)| {
        let mut c = claims(json!("admin"));
        edit(&mut c);
        hs256(&c)
    };
    let cases = [
        ("expired", refused(&|c| c["exp"] = json!(now() - 5))),
        (
            "no exp",
            refused(&|c| drop(c.as_object_mut().unwrap().remove("exp"))),
        ),
        ("wrong audience", refused(&|c| c["aud"] = json!("other"))),
        (
            "no audience",
            refused(&|c| drop(c.as_object_mut().unwrap().remove("aud"))),
        ),
        (
            "wrong issuer",
            refused(&|c| c["iss"] = json!("https://evil.test/")),
        ),
        ("not yet valid", refused(&|c| c["nbf"] = json!(now() + 120))),
    ];
    for (what, token) in &cases {
        let answer = send(&app, Method::GET, "/things/1", Some(token)).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{what}");
        assert!(challenge(&answer).contains("invalid_token"), "{what}");
    }
    // Signed with another secret, or with "none".
    let forged = jsonwebtoken::encode(
        &Header::default(),
        &claims(json!("admin")),
        &EncodingKey::from_secret(b"another-secret-of-at-least-32-bytes!!"),
    )
    .unwrap();
    assert_unauthorized(
        &send(&app, Method::GET, "/things/1", Some(&forged)).await,
        true,
    );
    let unsigned = {
        use base64_like::encode;
        format!(
            "{}.{}.",
            encode(br#"{"alg":"none","typ":"JWT"}"#),
            encode(claims(json!("admin")).to_string().as_bytes())
        )
    };
    assert_unauthorized(
        &send(&app, Method::GET, "/things/1", Some(&unsigned)).await,
        true,
    );
}

#[tokio::test]
async fn leeway_accepts_a_token_just_expired() {
    let app = app(&jwt_settings(&[("SOCIAL_HTTP__AUTH__JWT__LEEWAY", "1m")]));
    let mut c = claims(json!("read"));
    c["exp"] = json!(now() - 10);
    assert_eq!(
        send(&app, Method::GET, "/things/1", Some(&hs256(&c)))
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn es256_jwts_from_a_pem_public_key() {
    let key = rcgen::KeyPair::generate().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pem = dir.path().join("jwt.pem");
    std::fs::write(&pem, key.public_key_pem()).unwrap();
    let http = settings(&[
        ("SOCIAL_HTTP__AUTH__MODE", "jwt"),
        (
            "SOCIAL_HTTP__AUTH__JWT__PUBLIC_KEY_FILE",
            pem.to_str().unwrap(),
        ),
    ]);
    let app = app(&http);
    let private = EncodingKey::from_ec_pem(key.serialize_pem().as_bytes()).unwrap();
    let token = jsonwebtoken::encode(
        &Header::new(jsonwebtoken::Algorithm::ES256),
        &json!({"sub": "svc", "exp": now() + 60, "scope": "write"}),
        &private,
    )
    .unwrap();
    assert_eq!(
        send(&app, Method::PUT, "/things/1", Some(&token))
            .await
            .status,
        StatusCode::OK
    );
    // No audience configured: a token meant for some audience is refused.
    let for_other = jsonwebtoken::encode(
        &Header::new(jsonwebtoken::Algorithm::ES256),
        &json!({"sub": "svc", "exp": now() + 60, "scope": "write", "aud": "billing"}),
        &private,
    )
    .unwrap();
    assert_unauthorized(
        &send(&app, Method::GET, "/things/1", Some(&for_other)).await,
        true,
    );
    // An HS256 token cannot pass for the public key (algorithm confusion).
    let confused = jsonwebtoken::encode(
        &Header::default(),
        &json!({"sub": "svc", "exp": now() + 60, "scope": "admin"}),
        &EncodingKey::from_secret(key.public_key_pem().as_bytes()),
    )
    .unwrap();
    assert_unauthorized(
        &send(&app, Method::GET, "/things/1", Some(&confused)).await,
        true,
    );
    // A file that is no public key is refused when the server is set up.
    std::fs::write(&pem, "not a key").unwrap();
    assert!(Authenticator::from_settings(&http.auth).is_err());
}

#[tokio::test]
async fn rs256_jwts_from_a_pem_public_key() {
    // A key pair made for this test only (openssl genpkey -algorithm RSA).
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let public = format!("{fixtures}/jwt-rs256-TEST-ONLY.pub");
    let private = std::fs::read(format!("{fixtures}/jwt-rs256-TEST-ONLY.key")).unwrap();
    let app = app(&settings(&[
        ("SOCIAL_HTTP__AUTH__JWT__PUBLIC_KEY_FILE", &public),
        ("SOCIAL_HTTP__AUTH__JWT__AUDIENCE", "infra"),
    ]));
    let sign = |claims: &Value| {
        jsonwebtoken::encode(
            &Header::new(jsonwebtoken::Algorithm::RS256),
            claims,
            &EncodingKey::from_rsa_pem(&private).unwrap(),
        )
        .unwrap()
    };
    let token =
        sign(&json!({"sub": "svc", "aud": "infra", "exp": now() + 60, "scopes": ["admin"]}));
    assert_eq!(
        send(&app, Method::DELETE, "/things", Some(&token))
            .await
            .status,
        StatusCode::OK
    );
    let wrong_audience = sign(&json!({"aud": "billing", "exp": now() + 60, "scope": "admin"}));
    assert_unauthorized(
        &send(&app, Method::GET, "/things/1", Some(&wrong_audience)).await,
        true,
    );
    let expired = sign(&json!({"aud": "infra", "exp": now() - 120, "scope": "admin"}));
    assert_unauthorized(
        &send(&app, Method::GET, "/things/1", Some(&expired)).await,
        true,
    );
}

/// A P-256 public key as a JWK with `kid`.
fn ec_jwk(key: &rcgen::KeyPair, kid: &str) -> Value {
    let point = key.public_key_raw();
    assert_eq!(
        (point.len(), point[0]),
        (65, 4),
        "an uncompressed P-256 point"
    );
    json!({
        "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
        "x": base64_like::encode(&point[1..33]),
        "y": base64_like::encode(&point[33..]),
    })
}

#[tokio::test]
async fn jwks_keys_are_chosen_by_kid() {
    let (one, two) = (
        rcgen::KeyPair::generate().unwrap(),
        rcgen::KeyPair::generate().unwrap(),
    );
    let dir = tempfile::tempdir().unwrap();
    let jwks = dir.path().join("jwks.json");
    let set = json!({ "keys": [ec_jwk(&one, "k1"), ec_jwk(&two, "k2")] });
    std::fs::write(&jwks, set.to_string()).unwrap();
    let app = app(&settings(&[(
        "SOCIAL_HTTP__AUTH__JWT__JWKS_FILE",
        jwks.to_str().unwrap(),
    )]));
    let sign = |key: &rcgen::KeyPair, kid: Option<&str>| {
        let mut header = Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = kid.map(str::to_owned);
        jsonwebtoken::encode(
            &header,
            &json!({"exp": now() + 60, "scope": "read"}),
            &EncodingKey::from_ec_pem(key.serialize_pem().as_bytes()).unwrap(),
        )
        .unwrap()
    };
    for (key, kid) in [(&one, "k1"), (&two, "k2")] {
        let token = sign(key, Some(kid));
        assert_eq!(
            send(&app, Method::GET, "/things/1", Some(&token))
                .await
                .status,
            StatusCode::OK,
            "{kid}"
        );
    }
    for (what, token) in [
        ("signed by k2, naming k1", sign(&two, Some("k1"))),
        ("no kid among two keys", sign(&one, None)),
        ("an unknown kid", sign(&one, Some("k3"))),
    ] {
        let answer = send(&app, Method::GET, "/things/1", Some(&token)).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{what}");
        assert!(challenge(&answer).contains("invalid_token"), "{what}");
    }
    // A JWKS that is not one, or holds no usable key, stops the set-up.
    let http = settings(&[("SOCIAL_HTTP__AUTH__JWT__JWKS_FILE", jwks.to_str().unwrap())]);
    for bad in [
        "not json",
        r#"{"keys": []}"#,
        r#"{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}"#,
    ] {
        std::fs::write(&jwks, bad).unwrap();
        assert!(Authenticator::from_settings(&http.auth).is_err(), "{bad}");
    }
}

#[tokio::test]
async fn any_mode_takes_api_keys_and_jwts() {
    let app = app(&settings(&[
        (
            "SOCIAL_HTTP__AUTH__API_KEYS",
            &format!("reader:read:{READER}"),
        ),
        ("SOCIAL_HTTP__AUTH__JWT__SECRET", JWT_SECRET),
    ]));
    let jwt = hs256(&json!({"exp": now() + 60, "scope": "read"}));
    for token in [READER, jwt.as_str()] {
        assert_eq!(
            send(&app, Method::GET, "/things/1", Some(token))
                .await
                .status,
            StatusCode::OK
        );
    }
}

#[tokio::test]
async fn tokens_are_never_logged_and_reasons_are() {
    let (logs, _guard) = capture_logs();
    let app = app(&api_key_settings());
    send(
        &app,
        Method::GET,
        "/things/1",
        Some("secret-token-XYZZY-0123"),
    )
    .await;
    send(&app, Method::PUT, "/things/1", Some(READER)).await;
    let text = logs.text();
    assert!(!text.contains("XYZZY") && !text.contains(READER), "{text}");
    assert!(text.contains("matches no API key"), "{text}");
    assert!(
        text.contains("missing scope") && text.contains("reader"),
        "{text}"
    );
}

#[tokio::test]
async fn cors_preflight_is_answered_before_authentication() {
    let mut http = api_key_settings();
    http.cors.allowed_origins = vec!["https://app.example.com".into()];
    let app = app(&http);
    let preflight = |origin: &str| {
        Request::builder()
            .method(Method::OPTIONS)
            .uri("/things/1")
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "PUT")
            .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "authorization")
            .body(Body::empty())
            .unwrap()
    };
    let response = app
        .clone()
        .oneshot(preflight("https://app.example.com"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "https://app.example.com"
    );
    let response = app
        .clone()
        .oneshot(preflight("https://evil.example.com"))
        .await
        .unwrap();
    assert!(
        !response
            .headers()
            .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN)
    );
    // A refusal carries the CORS headers, so the browser lets the page read the 401.
    let request = Request::builder()
        .uri("/things/1")
        .header(header::ORIGIN, "https://app.example.com")
        .body(Body::empty())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        response
            .headers()
            .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN)
    );
}

#[test]
fn no_authenticator_on_loopback_without_credentials() {
    let http = settings(&[]);
    assert!(Authenticator::from_settings(&http.auth).unwrap().is_none());
}

/// base64url without padding, for hand-made tokens.
mod base64_like {
    pub(crate) fn encode(bytes: &[u8]) -> String {
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..=chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            }
        }
        out
    }
}
