//! The rate-limit layer: 429 with Retry-After, RateLimit and RateLimit-Policy and a
//! problem body; keys by principal, then peer address; fail open or closed with a metric;
//! and the peer address that the server puts in every request. On MemoryRedis, which
//! emulates the limiter's script on tokio's clock (exact numbers on a paused clock).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::get;
use infra_base::redis::{RateLimit, RateLimiter};
use infra_base::telemetry::{HTTP_REQUESTS_RATE_LIMITED, RATE_LIMIT_FAILURES, labels};
use infra_base::testing::MemoryRedis;
use infra_base::testing::metrics::{MetricsCapture, SampleValue};
use infra_base::{BaseService, Components, ErrorKind, RedisPort};
use infra_config::{HealthSettings, HttpSettings};
use infra_http::rate_limit::{FailurePolicy, RateLimitLayer, default_key};
use infra_http::{AppState, PROBLEM_JSON, Principal, Scope, Server};
use serde_json::Value;
use tower::ServiceExt;

/// `/items` behind a limit of one request a minute with a burst of `burst`.
fn app(
    redis: &Arc<MemoryRedis>,
    burst: u32,
    layer: impl FnOnce(RateLimitLayer) -> RateLimitLayer,
) -> Router {
    let port: Arc<dyn RedisPort> = Arc::clone(redis) as Arc<dyn RedisPort>;
    let limit = RateLimit::new(1, Duration::from_mins(1))
        .unwrap()
        .with_burst(burst)
        .unwrap();
    let limiter = RateLimiter::new(port, "rl", limit).unwrap();
    Router::new()
        .route("/items", get(|| async { "items" }))
        .layer(layer(RateLimitLayer::new(limiter)))
}

fn from(ip: &str) -> Request {
    let mut req = Request::get("/items").body(Body::empty()).unwrap();
    let peer: SocketAddr = (ip.parse::<std::net::IpAddr>().unwrap(), 40_000).into();
    req.extensions_mut().insert(ConnectInfo(peer));
    req
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).map(|v| v.to_str().unwrap())
}

async fn body_json(response: Response) -> Value {
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_burst_then_429_with_retry_after_ratelimit_headers_and_a_problem() {
    let redis = Arc::new(MemoryRedis::new());
    let app = app(&redis, 2, |layer| layer.named("api").unwrap());

    for (remaining, reset) in [(1, 60), (0, 120)] {
        let ok = app.clone().oneshot(from("203.0.113.7")).await.unwrap();
        assert_eq!(ok.status(), StatusCode::OK);
        assert_eq!(
            header(ok.headers(), "ratelimit-policy"),
            Some(r#""api";q=2;w=120"#)
        );
        let state = format!(r#""api";r={remaining};t={reset}"#);
        assert_eq!(header(ok.headers(), "ratelimit"), Some(state.as_str()));
    }
    let refused = app.clone().oneshot(from("203.0.113.7")).await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let headers = refused.headers().clone();
    assert_eq!(header(&headers, "retry-after"), Some("60"));
    assert_eq!(header(&headers, "ratelimit"), Some(r#""api";r=0;t=120"#));
    assert_eq!(
        header(&headers, "ratelimit-policy"),
        Some(r#""api";q=2;w=120"#)
    );
    assert_eq!(
        header(&headers, header::CONTENT_TYPE.as_str()),
        Some(PROBLEM_JSON)
    );
    let body = body_json(refused).await;
    assert_eq!(body["status"], 429);
    assert_eq!(body["kind"], "rate_limited");
    assert_eq!(body["type"], "https://errors.social.invalid/rate_limited");
    assert!(
        body["detail"].as_str().unwrap().contains("retry in 60 s"),
        "{body}"
    );

    // Another client is not affected; the first is allowed again once Retry-After passed.
    let other = app.clone().oneshot(from("198.51.100.1")).await.unwrap();
    assert_eq!(other.status(), StatusCode::OK);
    tokio::time::advance(Duration::from_mins(1)).await;
    let again = app.clone().oneshot(from("203.0.113.7")).await.unwrap();
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(
        header(again.headers(), "ratelimit"),
        Some(r#""api";r=0;t=120"#)
    );
}

#[tokio::test(start_paused = true)]
async fn clients_are_keyed_by_principal_then_by_address() {
    let principal = |name: &str| Principal {
        name: name.into(),
        via: "api_key",
        scopes: vec![Scope::Read],
    };
    let with = |ip: &str, who: Option<Principal>| {
        let mut req = from(ip);
        if let Some(p) = who {
            req.extensions_mut().insert(p);
        }
        req
    };
    assert_eq!(
        default_key(&with("203.0.113.7", Some(principal("ada")))).as_deref(),
        Some("principal:api_key:ada")
    );
    assert_eq!(
        default_key(&with("203.0.113.7", Some(principal("")))).as_deref(),
        Some("ip:203.0.113.7"),
        "a nameless principal is keyed by address"
    );
    assert_eq!(
        default_key(&with("2001:db8:1:2::9", None)).as_deref(),
        Some("ip:2001:db8:1:2::/64")
    );
    let bare = Request::get("/").body(Body::empty()).unwrap();
    assert_eq!(default_key(&bare).as_deref(), Some("unknown"));

    let redis = Arc::new(MemoryRedis::new());
    let app = app(&redis, 1, |layer| layer);
    let status = |req: Request| {
        let app = app.clone();
        async move { app.oneshot(req).await.unwrap().status() }
    };
    // Two principals behind one address each have their own limit ...
    assert_eq!(
        status(with("10.0.0.1", Some(principal("ada")))).await,
        StatusCode::OK
    );
    assert_eq!(
        status(with("10.0.0.1", Some(principal("bob")))).await,
        StatusCode::OK
    );
    assert_eq!(
        status(with("10.0.0.2", Some(principal("ada")))).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // ... and one IPv6 client cannot escape it by rotating addresses within its /64.
    assert_eq!(status(with("2001:db8::1", None)).await, StatusCode::OK);
    assert_eq!(
        status(with("2001:db8::2", None)).await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test(start_paused = true)]
async fn a_key_function_may_exempt_requests() {
    let redis = Arc::new(MemoryRedis::new());
    let app = app(&redis, 1, |layer| {
        layer.key_with(|req| {
            req.headers()
                .get("x-tenant")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        })
    });
    for _ in 0..3 {
        let response = app.clone().oneshot(from("203.0.113.7")).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "no key: not limited");
        assert!(response.headers().get("ratelimit").is_none());
    }
    let tenant = || {
        let mut req = from("203.0.113.7");
        req.headers_mut()
            .insert("x-tenant", "acme".parse().unwrap());
        req
    };
    assert_eq!(
        app.clone().oneshot(tenant()).await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        app.clone().oneshot(tenant()).await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[test]
fn policy_names_are_structured_field_safe() {
    let redis = Arc::new(MemoryRedis::new());
    let limiter = RateLimiter::new(
        redis,
        "rl",
        RateLimit::new(1, Duration::from_secs(1)).unwrap(),
    )
    .unwrap();
    for bad in ["", "a b", "quote\"d", &"x".repeat(65)] {
        let err = RateLimitLayer::new(limiter.clone()).named(bad).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{bad:?}");
    }
    assert!(RateLimitLayer::new(limiter).named("per-user_1.v2").is_ok());
}

#[test]
fn redis_down_follows_the_failure_policy_and_is_counted() {
    let capture = MetricsCapture::new();
    capture.block_on(async {
        let redis = Arc::new(MemoryRedis::new());
        redis.fail_with(Some(ErrorKind::Unavailable));
        let open = app(&redis, 1, |layer| layer);
        for _ in 0..2 {
            let response = open.clone().oneshot(from("203.0.113.7")).await.unwrap();
            assert_eq!(
                response.status(),
                StatusCode::OK,
                "fail open lets requests through"
            );
            assert!(
                response.headers().get("ratelimit").is_none(),
                "no limit was applied"
            );
        }
        let closed = app(&redis, 1, |layer| layer.on_failure(FailurePolicy::Closed));
        let response = closed.oneshot(from("203.0.113.7")).await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::SERVICE_UNAVAILABLE,
            "fail closed refuses"
        );
        assert_eq!(header(response.headers(), "retry-after"), Some("1"));
        let body = body_json(response).await;
        assert_eq!(
            (body["kind"].as_str(), body["backend"].as_str()),
            (Some("unavailable"), Some("redis"))
        );
    });
    let samples = capture.samples();
    let failures = |policy: &str| {
        MetricsCapture::find(
            &samples,
            RATE_LIMIT_FAILURES,
            &[
                (labels::FAILURE_POLICY, policy),
                (labels::ERROR_TYPE, "unavailable"),
            ],
        )
        .map(|s| s.value.clone())
    };
    assert_eq!(failures("open"), Some(SampleValue::Counter(2)));
    assert_eq!(failures("closed"), Some(SampleValue::Counter(1)));
}

#[test]
fn refusals_are_counted_by_route() {
    let capture = MetricsCapture::new();
    capture.block_on(async {
        let redis = Arc::new(MemoryRedis::new());
        let app = app(&redis, 1, |layer| layer);
        let statuses: Vec<_> = [0, 1, 2]
            .map(|_| app.clone().oneshot(from("203.0.113.7")))
            .into_iter()
            .collect();
        let mut refused = 0;
        for response in statuses {
            refused +=
                usize::from(response.await.unwrap().status() == StatusCode::TOO_MANY_REQUESTS);
        }
        assert_eq!(refused, 2);
    });
    let samples = capture.samples();
    assert_eq!(
        MetricsCapture::find(
            &samples,
            HTTP_REQUESTS_RATE_LIMITED,
            &[(labels::HTTP_ROUTE, "/items")]
        )
        .map(|s| s.value.clone()),
        Some(SampleValue::Counter(2))
    );
}

#[tokio::test]
async fn the_server_gives_every_request_its_peer_address() {
    let settings = HttpSettings {
        host: "127.0.0.1".into(),
        port: 0,
        ..HttpSettings::default()
    };
    let health = HealthSettings {
        cache_ttl: Duration::from_secs(30),
        check_timeout: Duration::from_millis(500),
        ..HealthSettings::default()
    };
    let state = AppState::new(BaseService::new("peer"), Components::new(), &health);
    let server = Server::bind(&settings)
        .await
        .unwrap()
        .handle_os_signals(false);
    let addr = server.local_addr();
    let router = Router::new().route(
        "/key",
        get(|req: Request| async move { default_key(&req).unwrap_or_default() }),
    );
    let serving = tokio::spawn(server.serve(router, state.clone()));
    let key = reqwest::get(format!("http://{addr}/key"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(key, "ip:127.0.0.1");
    state.shutdown().trigger();
    serving.await.unwrap().unwrap();
}
