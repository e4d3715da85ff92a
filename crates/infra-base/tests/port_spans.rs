//! Every port call through the standard stack is a `db` span with OpenTelemetry's
//! database fields, inside the caller's span. Its own test binary: a span test that
//! shares a process with tests that reach the same callsite without a subscriber can
//! lose the race in tracing-core's callsite interest cache.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use infra_base::layer::PortLayers;
use infra_base::resilience::{Resilience, RetryPolicy};
use infra_base::{ErrorKind, InfraError, MockVectorPort, VECTOR_BACKEND, VectorPort};
use tracing::span;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

const MS: Duration = Duration::from_millis(1);

/// A closed span: its name, fields and parent's name.
#[derive(Debug, Clone)]
struct ClosedSpan {
    name: &'static str,
    fields: BTreeMap<String, String>,
    parent: Option<&'static str>,
}

#[derive(Default)]
struct Fields(BTreeMap<String, String>);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

/// Keeps every closed span.
#[derive(Clone, Default)]
struct SpanCapture(Arc<Mutex<Vec<ClosedSpan>>>);

impl<S> tracing_subscriber::Layer<S> for SpanCapture
where
    S: tracing::Subscriber + for<'l> LookupSpan<'l>,
{
    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        ctx.span(id).unwrap().extensions_mut().insert(fields);
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, ctx: Context<'_, S>) {
        let span = ctx.span(id).unwrap();
        let mut extensions = span.extensions_mut();
        values.record(extensions.get_mut::<Fields>().unwrap());
    }

    fn on_close(&self, id: span::Id, ctx: Context<'_, S>) {
        let span = ctx.span(&id).unwrap();
        let fields = span.extensions().get::<Fields>().unwrap().0.clone();
        self.0.lock().unwrap().push(ClosedSpan {
            name: span.name(),
            fields,
            parent: span.parent().map(|p| p.name()),
        });
    }
}

#[tokio::test(start_paused = true)]
async fn every_call_is_a_db_span_inside_the_current_span_with_its_error_type() {
    let spans = SpanCapture::default();
    let subscriber = tracing_subscriber::registry()
        .with(spans.clone())
        .with(tracing_subscriber::filter::LevelFilter::DEBUG);
    let _guard = tracing::subscriber::set_default(subscriber);

    let mut mock = MockVectorPort::new();
    mock.expect_delete_collection().times(2).returning(|_| {
        Err(InfraError::new(
            ErrorKind::Timeout,
            VECTOR_BACKEND,
            "x",
            "slow",
        ))
    });
    let port = PortLayers::new(VECTOR_BACKEND)
        .server_address("qdrant.internal:6334")
        .resilience(
            Resilience::new(VECTOR_BACKEND)
                .with_retry(RetryPolicy::new(2, 10 * MS, 10 * MS).with_jitter(false)),
        )
        .wrap(Arc::new(mock));
    let request = tracing::info_span!("request");
    let err = tracing::Instrument::instrument(port.delete_collection("c"), request)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);

    let closed = spans.0.lock().unwrap().clone();
    let db: Vec<_> = closed.iter().filter(|s| s.name == "db").collect();
    assert_eq!(
        db.len(),
        1,
        "one span per call, retries inside it: {closed:?}"
    );
    let span = db[0];
    assert_eq!(span.parent, Some("request"));
    let field = |name: &str| span.fields.get(name).map(String::as_str);
    assert_eq!(field("db.system.name"), Some("qdrant"));
    assert_eq!(field("db.operation.name"), Some("delete_collection"));
    assert_eq!(field("server.address"), Some("qdrant.internal:6334"));
    assert_eq!(field("otel.kind"), Some("client"));
    assert_eq!(field("error.type"), Some("timeout"));
}
