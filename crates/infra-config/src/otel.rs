//! The `otel` section: export of traces to an OpenTelemetry (OTLP) collector.

use serde::{Deserialize, Serialize, Serializer};

use crate::net;
use crate::schema as keys;
use crate::text::FromText;
use crate::validate::Checker;

/// Settings of OpenTelemetry export (`SOCIAL_OTEL__*`).
///
/// With no `endpoint` (the default) nothing is exported.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OtelSettings {
    /// The OTLP collector, an `http://` or `https://` URL such as
    /// `http://127.0.0.1:4317` (`otel.endpoint`); unset by default, which
    /// means no export. Credentials in it are refused: collectors take them
    /// as headers.
    #[serde(
        deserialize_with = "crate::text::optional",
        serialize_with = "serialize_endpoint"
    )]
    pub endpoint: Option<url::Url>,
    /// The `service.name` resource attribute of exported data (`otel.service_name`).
    pub service_name: String,
}

impl Default for OtelSettings {
    fn default() -> Self {
        Self {
            endpoint: None,
            service_name: keys::OTEL_SERVICE_NAME.default.text().to_owned(),
        }
    }
}

impl FromText for url::Url {
    fn from_text(text: String) -> Result<Self, String> {
        url::Url::parse(&text).map_err(|error| format!("the value is not a valid URL ({error})"))
    }
}

// serde's `serialize_with` hands over `&Option<T>`.
#[allow(clippy::ref_option)]
fn serialize_endpoint<S: Serializer>(
    endpoint: &Option<url::Url>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match endpoint {
        Some(url) => serializer.serialize_some(url.as_str()),
        None => serializer.serialize_none(),
    }
}

impl OtelSettings {
    pub(crate) fn validate(&self, cx: &mut Checker<'_>) {
        if self.service_name.trim().is_empty() || self.service_name.chars().any(char::is_control) {
            let problem = if self.service_name.trim().is_empty() {
                "an empty name"
            } else {
                "a control character in the name"
            };
            cx.refuse("otel.service_name", format!("got {problem}"));
        }
        let Some(url) = &self.endpoint else {
            return;
        };
        if !matches!(url.scheme(), "http" | "https") {
            cx.refuse(
                "otel.endpoint",
                format!("the value has {}", net::describe_scheme(url.scheme())),
            );
            return;
        }
        if url.host_str().is_none_or(str::is_empty) {
            cx.refuse("otel.endpoint", "the value has no host");
        }
        if url.port() == Some(0) {
            cx.refuse("otel.endpoint", "the value has port 0");
        }
        if !url.username().is_empty() || url.password().is_some() {
            cx.fail(
                "otel.endpoint",
                "the value carries credentials",
                "a URL without user or password; give collector credentials as OTLP headers \
                 (OTEL_EXPORTER_OTLP_HEADERS)",
            );
        }
        if url.query().is_some() || url.fragment().is_some() {
            cx.refuse(
                "otel.endpoint",
                "the value has a query or fragment, which is not supported",
            );
        }
    }
}
