//! `BaseService` with mocked ports: missing ports, error propagation and log context.

use std::sync::Arc;

use infra_base::testing::capture_logs;
use infra_base::{
    BaseService, ErrorKind, InfraError, MockRedisPort, MockVectorPort, RedisPortExt, SearchQuery,
};

#[test]
fn missing_ports_are_not_configured_errors_that_map_to_503() {
    let service = BaseService::new("catalog");
    let redis = service.require_redis().err().expect("no redis was given");
    assert_eq!(redis.kind(), ErrorKind::NotConfigured);
    assert_eq!(redis.backend(), "redis");
    assert!(redis.kind().is_dependency_failure());
    let vector = service.require_vector().err().expect("no vector was given");
    assert_eq!(vector.kind(), ErrorKind::NotConfigured);
    assert_eq!(vector.backend(), "qdrant");
    assert!(service.redis().is_none() && service.vector().is_none());
}

#[test]
fn missing_port_is_logged_with_service_and_backend_context() {
    let (logs, _guard) = capture_logs();
    let service = BaseService::new("catalog");
    let _ = service.require_vector();
    let text = logs.text();
    assert!(text.contains("port not configured"), "{text}");
    assert!(text.contains("service=\"catalog\""), "{text}");
    assert!(text.contains("backend=\"qdrant\""), "{text}");
    assert!(text.contains("operation=\"require_vector\""), "{text}");
}

#[tokio::test(flavor = "current_thread")]
async fn configured_ports_are_returned_and_their_errors_pass_through_unchanged() {
    let mut redis = MockRedisPort::new();
    redis
        .expect_get()
        .withf(|key| key == "user:1")
        .times(1)
        .returning(|_| {
            Err(
                InfraError::new(ErrorKind::Unavailable, "redis", "get", "connection refused")
                    .with_source(std::io::Error::from(std::io::ErrorKind::ConnectionRefused)),
            )
        });
    let mut vector = MockVectorPort::new();
    vector.expect_search().times(1).returning(|_, _| {
        Err(InfraError::new(
            ErrorKind::InvalidInput,
            "qdrant",
            "search",
            "vector has dimension 2, the collection expects 3",
        ))
    });
    let service = BaseService::new("catalog")
        .with_redis(Arc::new(redis))
        .with_vector(Arc::new(vector));

    let err = service
        .require_redis()
        .unwrap()
        .get("user:1")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert!(err.is_transient());
    assert!(
        std::error::Error::source(&err).is_some(),
        "source chain kept"
    );

    let err = service
        .require_vector()
        .unwrap()
        .search("items", &SearchQuery::new(vec![1.0, 2.0], 3))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(!err.is_transient());
}

#[derive(serde::Deserialize, PartialEq, Debug)]
struct User {
    name: String,
}

#[tokio::test(flavor = "current_thread")]
async fn extension_helpers_work_through_the_trait_object() {
    let mut redis = MockRedisPort::new();
    redis
        .expect_get()
        .returning(|_| Ok(Some(br#"{"name":"ada"}"#.to_vec())));
    let service = BaseService::new("catalog").with_redis(Arc::new(redis));
    let port = service.require_redis().unwrap();

    let user: Option<User> = port.get_json("user:1").await.unwrap();
    assert_eq!(user, Some(User { name: "ada".into() }));
    let wrong: Result<Option<Vec<u8>>, _> = port.get_json("user:1").await;
    assert_eq!(wrong.unwrap_err().kind(), ErrorKind::InvalidInput);
}

#[test]
fn debug_output_names_ports_without_internals() {
    let service = BaseService::new("catalog").with_redis(Arc::new(MockRedisPort::new()));
    assert_eq!(
        format!("{service:?}"),
        r#"BaseService { name: "catalog", redis: true, vector: false }"#
    );
}

/// The typed helpers of every family reach a mock through its one general method,
/// `command`: a test expects the command (name, arguments, idempotency) and answers a
/// `Reply`.
#[tokio::test(flavor = "current_thread")]
async fn typed_helpers_reach_a_mock_through_command() {
    use infra_base::redis::prelude::*;

    let mut redis = MockRedisPort::new();
    redis
        .expect_command()
        .withf(|cmd, idempotency| {
            cmd.name() == "SADD" && cmd.args().len() == 3 && *idempotency == Idempotency::Idempotent
        })
        .times(1)
        .returning(|_, _| Ok(Reply::Int(2)));
    redis
        .expect_command()
        .withf(|cmd, idempotency| {
            cmd.name() == "XADD" && *idempotency == Idempotency::NonIdempotent
        })
        .times(1)
        .returning(|_, _| Ok(Reply::Bulk(b"1-0".to_vec())));
    let port: Arc<dyn RedisPort> = Arc::new(redis);
    assert_eq!(port.sadd("tags", &["a", "b"]).await.unwrap(), 2);
    let id = port
        .xadd("events", &[("kind", b"login")], XAddOptions::new())
        .await
        .unwrap();
    assert_eq!(id, "1-0");
}
