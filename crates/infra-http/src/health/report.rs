//! [`HealthReport`]: one round of checks and its `application/health+json` rendering.
//! Free of axum: the routes in the parent module serve it.

use infra_base::{ComponentHealth, ComponentReport, HealthStatus, aggregate};
use serde_json::{Map, Value, json};

/// The outcome of one round of checks: every component's report and their aggregate.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HealthReport {
    /// The service's status: the worst effective status ([`aggregate`]).
    pub status: HealthStatus,
    /// One report per component, in registration order.
    pub components: Vec<ComponentReport>,
}

impl HealthReport {
    /// Aggregates `components`.
    pub fn new(components: Vec<ComponentReport>) -> Self {
        Self {
            status: aggregate(&components),
            components,
        }
    }

    /// Whether the service may receive traffic: no critical component fails.
    pub fn is_ready(&self) -> bool {
        self.status != HealthStatus::Fail
    }

    /// The draft's JSON: `status`, optionally `serviceId`, and `checks` keyed
    /// `"<component>:responseTime"`, each an array of one object with `componentType`
    /// `"datastore"`, `observedValue` (latency in ms, when measured), `observedUnit` `"ms"`,
    /// the component's own `status`, `time` (RFC 3339) and, unless it passed, its
    /// client-safe `output`.
    pub fn to_health_json(&self, service_id: Option<&str>) -> Value {
        let mut checks = Map::new();
        for report in &self.components {
            let entry = checks
                .entry(format!("{}:responseTime", report.name))
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(items) = entry {
                items.push(check_json(&report.health));
            }
        }
        let mut body = Map::new();
        body.insert("status".into(), json!(self.status.as_str()));
        if let Some(id) = service_id {
            body.insert("serviceId".into(), json!(id));
        }
        body.insert("checks".into(), Value::Object(checks));
        Value::Object(body)
    }

    /// `"<name>: <output>"` for every failing critical component, `; `-separated.
    pub(super) fn critical_failures(&self) -> String {
        self.components
            .iter()
            .filter(|r| r.effective_status() == HealthStatus::Fail)
            .map(|r| {
                format!(
                    "{}: {}",
                    r.name,
                    r.health.output.as_deref().unwrap_or("fail")
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

fn check_json(health: &ComponentHealth) -> Value {
    let mut check = Map::new();
    check.insert("componentType".into(), json!("datastore"));
    if let Some(latency) = health.latency {
        check.insert("observedValue".into(), json!(latency.as_secs_f64() * 1e3));
        check.insert("observedUnit".into(), json!("ms"));
    }
    check.insert("status".into(), json!(health.status.as_str()));
    check.insert(
        "time".into(),
        json!(humantime::format_rfc3339_millis(health.checked_at).to_string()),
    );
    if health.status != HealthStatus::Pass
        && let Some(output) = &health.output
    {
        check.insert("output".into(), json!(output));
    }
    // Extra fields (the draft allows them): breaker state, pool use.
    for (key, value) in &health.details {
        check.entry(key.clone()).or_insert_with(|| value.clone());
    }
    Value::Object(check)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use infra_base::{ComponentHealth, ComponentReport};

    use super::HealthReport;

    #[test]
    fn component_details_are_fields_of_its_check() {
        let health = ComponentHealth::pass(Duration::from_millis(2))
            .with_detail("breakerState", "closed")
            .with_detail("poolInUse", 3);
        let report = HealthReport::new(vec![ComponentReport {
            name: "redis".into(),
            critical: false,
            health,
        }]);
        let json = report.to_health_json(None);
        let check = &json["checks"]["redis:responseTime"][0];
        assert_eq!(check["breakerState"], "closed");
        assert_eq!(check["poolInUse"], 3);
        assert_eq!(
            check["status"], "pass",
            "details never replace the draft's fields"
        );
    }
}
