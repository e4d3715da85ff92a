//! Fault and lifecycle tests of the remote adapter, against the in-process Qdrant gRPC test
//! server (tier 1: no external server). They inject faults a real server cannot be asked
//! for, so they never run against one: see `real_server_not_applicable` in `tier2.rs`.

mod support;

use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use infra_base::{
    CollectionSpec, Distance, ErrorKind, HealthStatus, InfraResult, Lifecycle, Point, PointId,
    SearchQuery, VectorPort,
};
use infra_config::Compression;
use infra_qdrant::QdrantAdapter;
use infra_testkit::TestCerts;
use infra_testkit::qdrant::QdrantTestServer;

/// A margin for scheduling on a loaded 2-core machine.
const MARGIN: Duration = Duration::from_millis(500);

fn adapter(url: &str, api_key: Option<&str>) -> QdrantAdapter {
    QdrantAdapter::new(&support::settings(url, api_key)).expect("the adapter must build")
}

#[track_caller]
fn expect_kind<T: std::fmt::Debug>(result: InfraResult<T>, kind: ErrorKind, what: &str) {
    match result {
        Ok(value) => panic!("{what}: expected {kind}, got Ok({value:?})"),
        Err(err) => assert_eq!(err.kind(), kind, "{what}: {}", err.chain()),
    }
}

async fn items(store: &dyn VectorPort, name: &str, dimension: usize) {
    store
        .ensure_collection(&CollectionSpec::new(name, dimension, Distance::Dot))
        .await
        .expect("ensure_collection");
}

#[test]
fn building_outside_a_tokio_runtime_is_a_clear_error() {
    let err = QdrantAdapter::new(&support::settings("http://127.0.0.1:6334", None)).unwrap_err();
    assert!(err.message().contains("Tokio runtime"), "{}", err.message());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_is_honoured() {
    let server = support::server().await;
    // Set up with the default timeout: creating a collection on the embedded engine can
    // take longer than 300 ms on a loaded machine, and is not what is measured here.
    items(&adapter(&server.url(), None), "slow", 2).await;
    let mut settings = support::settings(&server.url(), None);
    settings.timeout = Duration::from_millis(300);
    let adapter = QdrantAdapter::new(&settings).unwrap();
    server.set_delay(Some(Duration::from_secs(3)));
    for op in ["ping", "search"] {
        let started = Instant::now();
        let result = match op {
            "ping" => adapter.ping().await,
            _ => adapter
                .search("slow", &SearchQuery::new(vec![1.0, 0.0], 3))
                .await
                .map(drop),
        };
        let elapsed = started.elapsed();
        expect_kind(result, ErrorKind::Timeout, op);
        assert!(
            elapsed >= settings.timeout && elapsed < settings.timeout + MARGIN,
            "{op} took {elapsed:?} with a timeout of {:?}",
            settings.timeout
        );
    }
    server.clear_faults();
    adapter.ping().await.expect("a ping once the delay is gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_unavailable_is_unavailable() {
    let server = support::server().await;
    let adapter = adapter(&server.url(), None);
    server.set_unavailable(true);
    expect_kind(adapter.ping().await, ErrorKind::Unavailable, "ping");
    expect_kind(
        adapter.count("any", &infra_base::Filter::default()).await,
        ErrorKind::Unavailable,
        "count",
    );
    server.set_unavailable(false);
    adapter.ping().await.expect("ping after the fault");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_gone_then_back_on_the_same_port() {
    let server = support::server().await;
    let adapter = adapter(&server.url(), None);
    items(&adapter, "kept", 2).await;
    adapter
        .upsert("kept", vec![Point::new(1, vec![1.0, 0.0])])
        .await
        .unwrap();

    server.stop().await;
    assert!(!server.is_running());
    for attempt in 0..3 {
        expect_kind(
            adapter.ping().await,
            ErrorKind::Unavailable,
            &format!("ping #{attempt} with the server gone"),
        );
    }
    expect_kind(
        adapter
            .search("kept", &SearchQuery::new(vec![1.0, 0.0], 1))
            .await,
        ErrorKind::Unavailable,
        "search with the server gone",
    );

    server.restart().await.expect("restart on the same port");
    let started = Instant::now();
    let mut last = None;
    // The recovery target of `docs/benchmarks.md` (scenario 5): the first success within
    // 1 s of the server's return, no restart.
    while started.elapsed() < Duration::from_secs(1) {
        match adapter.ping().await {
            Ok(()) => {
                last = None;
                break;
            }
            Err(err) => last = Some(err),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        last.is_none(),
        "no success within 1 s of the restart: {last:?}"
    );
    let hits = adapter
        .search("kept", &SearchQuery::new(vec![1.0, 0.0], 1))
        .await
        .expect("the same adapter serves again");
    assert_eq!(hits.len(), 1);
    println!("first success {:?} after the restart", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_is_unavailable_and_init_says_so() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let adapter = adapter(&format!("http://127.0.0.1:{port}"), None);
    expect_kind(adapter.ping().await, ErrorKind::Unavailable, "ping");
    let err = adapter.init().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{}", err.chain());
    assert!(
        err.message().starts_with("cannot start"),
        "{}",
        err.message()
    );
    assert!(!err.message().contains("127.0.0.1"), "{}", err.message());
    let health = adapter.health().await;
    assert_eq!(health.status, HealthStatus::Fail);
    assert!(health.output.unwrap().starts_with("unavailable"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_or_wrong_api_key_is_auth() {
    const KEY: &str = "s3cret-key-marker";
    let server = QdrantTestServer::builder(support::store().await)
        .api_key(KEY)
        .start()
        .await
        .unwrap();
    for (key, what) in [(None, "no key"), (Some("wrong-key-marker"), "a wrong key")] {
        let adapter = adapter(&server.url(), key);
        expect_kind(adapter.ping().await, ErrorKind::Auth, what);
        expect_kind(
            adapter
                .ensure_collection(&CollectionSpec::new("c", 2, Distance::Dot))
                .await,
            ErrorKind::Auth,
            what,
        );
        let err = adapter.init().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Auth, "init with {what}");
        assert!(!err.chain().contains(KEY) && !err.chain().contains("wrong-key-marker"));
    }
    let adapter = adapter(&server.url(), Some(KEY));
    adapter.init().await.expect("init with the key");
    items(&adapter, "c", 2).await;
    let debug = format!("{adapter:?}");
    assert!(!debug.contains(KEY), "{debug}");
}

/// The escape hatch's clients carry the adapter's API key through `request`, keep it out
/// of `Debug`, and reach calls the port does not offer; a closed adapter gives none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_clients_use_the_adapters_channel_and_key() {
    const KEY: &str = "raw-key-marker-51";
    let server = QdrantTestServer::builder(support::store().await)
        .api_key(KEY)
        .start()
        .await
        .unwrap();
    let adapter = adapter(&server.url(), Some(KEY));
    adapter.init().await.unwrap();
    items(&adapter, "raw_c", 2).await;
    let raw = adapter.raw_clients().unwrap();
    assert!(!format!("{raw:?}").contains(KEY));
    let listed = raw
        .collections()
        .list(raw.request(qdrant_client::qdrant::ListCollectionsRequest {}))
        .await
        .expect("the key is on the request")
        .into_inner();
    assert!(listed.collections.iter().any(|c| c.name == "raw_c"));
    let refused = raw
        .collections()
        .list(tonic::Request::new(
            qdrant_client::qdrant::ListCollectionsRequest {},
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
    adapter.close().await;
    expect_kind(adapter.raw_clients(), ErrorKind::Unavailable, "closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_dimension_is_invalid_input_before_sending() {
    let server = support::server().await;
    let adapter = adapter(&server.url(), None);
    items(&adapter, "dims", 3).await;
    let calls = server.calls();
    expect_kind(
        adapter
            .upsert("dims", vec![Point::new(1, vec![1.0, 0.0])])
            .await,
        ErrorKind::InvalidInput,
        "upsert of a vector of dimension 2",
    );
    expect_kind(
        adapter
            .search("dims", &SearchQuery::new(vec![1.0; 4], 3))
            .await,
        ErrorKind::InvalidInput,
        "search with a vector of dimension 4",
    );
    // One look at the collection per refusal (the cached dimension may be stale), no write.
    assert_eq!(
        server.calls() - calls,
        2,
        "only collection lookups reach the server"
    );
    let err = adapter
        .upsert("dims", vec![Point::new(1, vec![1.0, 0.0])])
        .await
        .unwrap_err();
    assert!(err.message().contains("dimension 2"), "{}", err.message());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collection_recreated_elsewhere_refreshes_the_cached_dimension() {
    let server = support::server().await;
    let ours = adapter(&server.url(), None);
    let theirs = adapter(&server.url(), None);
    items(&ours, "moved", 3).await;
    ours.upsert("moved", vec![Point::new(1, vec![1.0, 0.0, 0.0])])
        .await
        .unwrap();
    assert!(theirs.delete_collection("moved").await.unwrap());
    items(&theirs, "moved", 2).await;
    ours.upsert("moved", vec![Point::new(2, vec![0.0, 1.0])])
        .await
        .expect("the stale dimension 3 is refreshed to 2");
    expect_kind(
        ours.upsert("moved", vec![Point::new(3, vec![0.0, 1.0, 0.0])])
            .await,
        ErrorKind::InvalidInput,
        "the old dimension",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_measures_latency_and_close_makes_calls_unavailable() {
    let server = support::server().await;
    let adapter = adapter(&server.url(), None);
    let health = adapter.health().await;
    assert_eq!(health.status, HealthStatus::Pass, "{health:?}");
    assert!(health.latency.is_some());

    adapter.close().await;
    adapter.close().await; // idempotent
    assert!(adapter.is_closed());
    expect_kind(
        adapter.ping().await,
        ErrorKind::Unavailable,
        "ping after close",
    );
    expect_kind(
        adapter.collection_info("c").await,
        ErrorKind::Unavailable,
        "collection_info after close",
    );
    let health = adapter.health().await;
    assert_eq!(health.status, HealthStatus::Fail);
    assert_eq!(
        health.output.as_deref(),
        Some("unavailable: the Qdrant client is closed")
    );
}

#[tokio::test(flavor = "current_thread")]
async fn init_logs_the_server_version_and_warns_on_a_mismatch() {
    let (logs, _guard) = infra_base::testing::capture_logs();

    let current = support::server().await;
    let adapter = adapter(&current.url(), None);
    adapter.init().await.unwrap();
    let info = adapter.server_info().expect("server info after init");
    assert_eq!(info.version, infra_testkit::qdrant::DEFAULT_VERSION);
    assert!(
        logs.text().contains("qdrant server verified"),
        "{}",
        logs.text()
    );
    assert!(!logs.text().contains("WARN"), "{}", logs.text());

    let old = QdrantTestServer::builder(support::store().await)
        .version("1.18.2")
        .start()
        .await
        .unwrap();
    let adapter = self::adapter(&old.url(), None);
    adapter.init().await.expect("an old server still starts");
    let text = logs.text();
    assert!(
        text.contains("WARN") && text.contains("1.18.2") && text.contains("incompatible"),
        "{text}"
    );
    std::io::stdout().flush().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_refuses_a_server_that_is_not_qdrant() {
    // A gRPC server that answers the health check under another name.
    let other = QdrantTestServer::builder(support::store().await)
        .title("some other service")
        .start()
        .await
        .unwrap();
    let err = adapter(&other.url(), None).init().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Internal, "{}", err.chain());
    assert!(err.message().contains("Qdrant"), "{}", err.message());

    // A gRPC (HTTP/2) server without Qdrant's services: UNIMPLEMENTED.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_routes(tonic::service::Routes::default())
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    let err = adapter(&format!("http://{addr}"), None)
        .init()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Internal, "{}", err.chain());
    assert!(err.message().contains("6334"), "{}", err.chain());

    // An HTTP/1.1 server, such as Qdrant's REST port.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let _ = socket.read(&mut buf).await;
                let body = "{\"status\":\"not found\"}";
                let reply = format!(
                    "HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\n\
                     content-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(reply.as_bytes()).await;
            });
        }
    });
    let err = adapter(&format!("http://{addr}"), None)
        .init()
        .await
        .unwrap_err();
    println!("init against an HTTP/1.1 server: {}", err.chain());
    assert!(
        err.message().contains("6334") || err.message().contains("gRPC"),
        "a clear hint at the wrong port: {}",
        err.chain()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_private_ca() {
    let certs = TestCerts::generate().unwrap();
    let server = QdrantTestServer::builder(support::store().await)
        .tls(&certs.server().cert_pem, &certs.server().key_pem)
        .start()
        .await
        .unwrap();
    assert!(server.url().starts_with("https://"));
    let settings = support::settings(&server.url(), None);
    assert!(settings.tls_enabled());

    let trusted = QdrantAdapter::builder(&settings)
        .ca_certificate_pem(certs.ca().cert_pem.as_bytes())
        .build()
        .unwrap();
    trusted.init().await.expect("TLS with the server's CA");
    items(&trusted, "secure", 2).await;

    let wrong_ca = QdrantAdapter::builder(&settings)
        .ca_certificate_pem(certs.wrong_ca().cert_pem.as_bytes())
        .build()
        .unwrap();
    let err = wrong_ca.ping().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{}", err.chain());

    // The platform's roots (no SSL_CERT_FILE here) do not know the private CA.
    match QdrantAdapter::new(&settings) {
        Ok(system_roots) => expect_kind(
            system_roots.ping().await,
            ErrorKind::Unavailable,
            "ping with the platform's roots",
        ),
        Err(err) => assert!(err.message().contains("SSL_CERT_FILE"), "{}", err.message()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_and_a_channel_pool_work() {
    let server = support::server().await;
    let mut settings = support::settings(&server.url(), None);
    settings.compression = Compression::Gzip;
    settings.pool_size = 3;
    let adapter = Arc::new(QdrantAdapter::new(&settings).unwrap());
    items(&*adapter, "zipped", 64).await;
    let points: Vec<Point> = (0..200u64)
        .map(|i| {
            let base = u8::try_from(i % 7).unwrap();
            Point::new(i, (0..64u8).map(|d| f32::from((base + d) % 7)).collect())
        })
        .collect();
    adapter.upsert("zipped", points).await.unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..12 {
        let adapter = Arc::clone(&adapter);
        tasks.spawn(async move {
            adapter
                .search("zipped", &SearchQuery::new(vec![1.0; 64], 5))
                .await
        });
    }
    while let Some(result) = tasks.join_next().await {
        assert_eq!(result.unwrap().unwrap().len(), 5);
    }
}

/// An answer above `SOCIAL_QDRANT__MAX_MESSAGE_SIZE` is refused by the client as
/// `InvalidInput` naming the key (not buffered, and not a transient failure to retry), a
/// request above it is refused before it is sent, and smaller calls on the same adapter
/// keep working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_above_the_size_limit_are_refused_cleanly() {
    const DIMENSION: usize = 256;
    let server = support::server().await;
    // 200 points of 1 KiB vectors, written straight into the server's store: one answer
    // with all of them is about 200 KiB.
    let points: Vec<Point> = (0..200u16)
        .map(|i| Point::new(u64::from(i), vec![f32::from(i) + 1.0; DIMENSION]))
        .collect();
    items(&**server.store(), "big", DIMENSION).await;
    server.store().upsert("big", points.clone()).await.unwrap();

    let mut settings = support::settings(&server.url(), None);
    settings.max_message_size = 65_536;
    let adapter = QdrantAdapter::new(&settings).unwrap();
    let ids: Vec<PointId> = (0..200u64).map(PointId::from).collect();
    let refusals = [
        adapter.get("big", &ids, true).await.map(drop),
        adapter
            .search(
                "big",
                &SearchQuery::new(vec![1.0; DIMENSION], 200).with_vector(true),
            )
            .await
            .map(drop),
        adapter.upsert("big", points).await,
    ];
    for refusal in refusals {
        let err = refusal.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{}", err.chain());
        assert!(!err.is_transient());
        assert!(
            err.message().contains("SOCIAL_QDRANT__MAX_MESSAGE_SIZE"),
            "{}",
            err.message()
        );
    }
    let few = adapter.get("big", &ids[..5], true).await.unwrap();
    assert_eq!(few.len(), 5);
    let hits = adapter
        .search("big", &SearchQuery::new(vec![1.0; DIMENSION], 200))
        .await
        .unwrap();
    assert_eq!(hits.len(), 200, "without vectors the answer fits");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_resilient_port_retries_then_opens_the_breaker() {
    let server = support::server().await;
    let mut settings = support::settings(&server.url(), None);
    settings.retry.max_attempts = 3;
    settings.retry.base_delay = Duration::from_millis(10);
    settings.retry.max_delay = Duration::from_millis(20);
    settings.circuit.failure_threshold = 3;
    settings.circuit.open_for = Duration::from_secs(30);
    let qdrant = infra_qdrant::build(&settings).unwrap();
    let port = qdrant.port();
    assert_eq!(qdrant.component().name, "qdrant");

    server.set_unavailable(true);
    let before = server.calls();
    expect_kind(port.ping().await, ErrorKind::Unavailable, "ping, retried");
    assert_eq!(server.calls() - before, 3, "three attempts");
    let started = Instant::now();
    expect_kind(
        port.ping().await,
        ErrorKind::CircuitOpen,
        "ping, breaker open",
    );
    assert!(started.elapsed() < Duration::from_millis(50));
    assert_eq!(server.calls() - before, 3, "an open breaker sends nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_outside_the_subset_are_unimplemented() {
    use qdrant_client::qdrant::points_client::PointsClient;
    use qdrant_client::qdrant::{SearchMatrixPoints, SearchPoints};

    let server = support::server().await;
    let mut client = PointsClient::connect(server.url()).await.unwrap();
    let status = client
        .search_matrix_pairs(SearchMatrixPoints {
            collection_name: "c".into(),
            ..SearchMatrixPoints::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unimplemented);
    // The deprecated search is served, like a real server does.
    #[allow(deprecated)]
    let status = client
        .search(SearchPoints {
            collection_name: "missing".into(),
            vector: vec![1.0],
            limit: 1,
            ..SearchPoints::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::NotFound);
    assert_eq!(
        status.message(),
        "Not found: Collection `missing` doesn't exist!"
    );
}

/// The test server's `CreateFieldIndex`: what it serves answers like Qdrant, what it
/// does not model is `UNIMPLEMENTED`, and it never re-types an index.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn field_index_calls_of_the_test_server() {
    use qdrant_client::qdrant::points_client::PointsClient;
    use qdrant_client::qdrant::{
        CreateFieldIndexCollection, DeleteFieldIndexCollection, FieldType, IntegerIndexParams,
        PayloadIndexParams, payload_index_params::IndexParams,
    };

    let store = support::store().await;
    let server = QdrantTestServer::start(Arc::clone(&store)).await.unwrap();
    store
        .ensure_collection(&infra_base::CollectionSpec::new(
            "c",
            2,
            infra_base::Distance::Dot,
        ))
        .await
        .unwrap();
    let mut client = PointsClient::connect(server.url()).await.unwrap();
    let request =
        |collection: &str, field: &str, field_type: FieldType| CreateFieldIndexCollection {
            collection_name: collection.into(),
            wait: Some(true),
            field_name: field.into(),
            field_type: Some(field_type.into()),
            ..CreateFieldIndexCollection::default()
        };
    client
        .create_field_index(request("c", "rank", FieldType::Integer))
        .await
        .unwrap();
    // Again: idempotent, as in Qdrant.
    client
        .create_field_index(request("c", "rank", FieldType::Integer))
        .await
        .unwrap();
    let info = store.collection_info("c").await.unwrap();
    assert_eq!(
        info.indexes,
        [infra_base::FieldIndex::new(
            "rank",
            infra_base::PayloadIndex::Integer
        )]
    );
    let status = client
        .create_field_index(request("missing", "rank", FieldType::Integer))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::NotFound, "{status:?}");
    let status = client
        .create_field_index(request("c", "rank", FieldType::Keyword))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::FailedPrecondition, "{status:?}");
    assert!(status.message().contains("integer"), "{}", status.message());
    let status = client
        .create_field_index(request("c", "loc", FieldType::Geo))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unimplemented, "{status:?}");
    let mut flagged = request("c", "n", FieldType::Integer);
    flagged.field_index_params = Some(PayloadIndexParams {
        index_params: Some(IndexParams::IntegerIndexParams(IntegerIndexParams {
            lookup: Some(true),
            range: Some(false),
            ..IntegerIndexParams::default()
        })),
    });
    let status = client.create_field_index(flagged).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unimplemented, "{status:?}");
    let status = client
        .delete_field_index(DeleteFieldIndexCollection {
            collection_name: "c".into(),
            field_name: "rank".into(),
            ..DeleteFieldIndexCollection::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unimplemented, "{status:?}");
    assert_eq!(
        store.collection_info("c").await.unwrap().indexes.len(),
        1,
        "refused calls change no index"
    );
}
