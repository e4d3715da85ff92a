//! With feature `otel`: request spans and port-call spans reach an OTLP/gRPC collector
//! (an in-process one on 127.0.0.1), parented and with their database fields.

mod common;

use std::sync::{Arc, Mutex};

use common::TestApp;
use infra_config::SettingsLoader;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use serde_json::json;
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;

/// Keeps every span exported to it, and the `service.name` of their resource.
#[derive(Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<Span>>>,
    services: Arc<Mutex<Vec<String>>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        for resource_spans in request.into_inner().resource_spans {
            if let Some(resource) = &resource_spans.resource {
                for kv in &resource.attributes {
                    if kv.key == "service.name"
                        && let Some(value) = string_of(kv.value.as_ref())
                    {
                        self.services.lock().unwrap().push(value);
                    }
                }
            }
            for scope in resource_spans.scope_spans {
                self.spans.lock().unwrap().extend(scope.spans);
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

fn string_of(value: Option<&opentelemetry_proto::tonic::common::v1::AnyValue>) -> Option<String> {
    match value?.value.as_ref()? {
        any_value::Value::StringValue(s) => Some(s.clone()),
        _ => None,
    }
}

fn attribute(span: &Span, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| string_of(kv.value.as_ref()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_and_port_spans_reach_an_otlp_collector() {
    let collector = Collector::default();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(collector.clone()))
            .serve_with_incoming(TcpIncoming::from(listener)),
    );
    let settings = SettingsLoader::from_pairs([
        ("SOCIAL_OTEL__ENDPOINT", endpoint.as_str()),
        ("SOCIAL_OTEL__SERVICE_NAME", "otel-test"),
    ])
    .load()
    .expect("valid settings");
    let guard = infra_server::observability::init_service_telemetry(&settings);

    let app = TestApp::spawn(&[]).await;
    app.create("items", 2, "cosine").await;
    app.upsert("items", json!([{ "id": 1, "vector": [1.0, 0.0] }]))
        .await;
    let (_, ids) = app
        .search("items", &json!({ "vector": [1.0, 0.0], "limit": 1 }))
        .await;
    assert_eq!(ids, [json!(1)]);
    // Dropping the guard flushes the exporter (a blocking call: off the async workers).
    tokio::task::spawn_blocking(move || drop(guard))
        .await
        .unwrap();

    let spans = collector.spans.lock().unwrap().clone();
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    let request = spans
        .iter()
        .find(|s| s.name == "POST /collections/{name}/search")
        .unwrap_or_else(|| panic!("no request span named by route template in {names:?}"));
    assert_eq!(request.kind, SpanKind::Server as i32);
    let search = spans
        .iter()
        .find(|s| attribute(s, "db.operation.name").as_deref() == Some("search"))
        .unwrap_or_else(|| panic!("no port span for the search in {names:?}"));
    assert_eq!(search.name, "search");
    assert_eq!(search.kind, SpanKind::Client as i32);
    assert_eq!(
        attribute(search, "db.system.name").as_deref(),
        Some("qdrant")
    );
    assert_eq!(search.trace_id, request.trace_id, "one trace per request");
    assert_eq!(
        search.parent_span_id, request.span_id,
        "the port call is the request's child"
    );
    assert!(
        collector
            .services
            .lock()
            .unwrap()
            .iter()
            .all(|s| s == "otel-test")
    );
    assert!(
        !spans.iter().any(|s| s.name.contains("/collections/items")),
        "a raw path became a span name: {names:?}"
    );
}
