//! `infra-server check`: one-shot health of every component, as a table.
//!
//! Two sources:
//!
//! - [`check_components`] (the default): builds the components from the configuration
//!   exactly as `serve` does, initializes and checks each once (under
//!   `SOCIAL_HEALTH__CHECK_TIMEOUT`), then closes them. Use it before starting the service
//!   or to diagnose a configuration. In embedded mode it opens the store's data directory,
//!   which a running service holds locked: inside a running container use the other source.
//! - [`check_running`] (`--url http://host:port`): asks a running service's
//!   `/health/infra`, the same report the load balancer sees. This is the container
//!   healthcheck.
//!
//! Either way the service is ready unless a critical component fails (a failing
//! non-critical component, Redis by default, only makes the status `warn`).

use std::fmt::Write as _;
use std::time::Duration;

use infra_base::{HealthStatus, aggregate};
use infra_config::Settings;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::composition;

/// One component's line of the table.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckRow {
    /// Component name (`redis`, `qdrant`).
    pub component: String,
    /// Whether its failure fails the service; unknown when read from a running service.
    pub critical: Option<bool>,
    /// The component's own check result.
    pub status: HealthStatus,
    /// How long the check took, in milliseconds.
    pub latency_ms: Option<f64>,
    /// Why it did not pass (client-safe).
    pub detail: Option<String>,
}

/// The outcome of a check: every component and the service's status.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckReport {
    /// Where the results come from.
    pub source: String,
    /// One row per component.
    pub rows: Vec<CheckRow>,
    /// The service's status (worst effective status of its components).
    pub status: HealthStatus,
}

impl CheckReport {
    /// Whether the service is ready: no critical component fails.
    pub fn is_ready(&self) -> bool {
        self.status != HealthStatus::Fail
    }

    /// The table printed by `infra-server check`.
    pub fn render(&self) -> String {
        let header = ["COMPONENT", "CRITICAL", "STATUS", "LATENCY", "DETAIL"];
        let rows: Vec<[String; 5]> = self
            .rows
            .iter()
            .map(|r| {
                [
                    r.component.clone(),
                    match r.critical {
                        Some(true) => "yes".to_owned(),
                        Some(false) => "no".to_owned(),
                        None => "-".to_owned(),
                    },
                    r.status.to_string(),
                    r.latency_ms
                        .map_or_else(|| "-".to_owned(), |ms| format!("{ms:.1} ms")),
                    r.detail.clone().unwrap_or_default(),
                ]
            })
            .collect();
        let mut widths = header.map(str::len);
        for row in &rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let mut out = format!("source: {}\n", self.source);
        let mut line = |cells: &[&str]| {
            let mut text = String::new();
            for (i, cell) in cells.iter().enumerate() {
                if i + 1 == cells.len() {
                    text.push_str(cell);
                } else {
                    let _ = write!(text, "{cell:<width$}  ", width = widths[i]);
                }
            }
            out.push_str(text.trim_end());
            out.push('\n');
        };
        line(&header);
        for row in &rows {
            line(&row.each_ref().map(String::as_str));
        }
        let verdict = if self.is_ready() {
            "ready"
        } else {
            "not ready"
        };
        let _ = writeln!(out, "status: {} ({verdict})", self.status);
        out
    }
}

/// Checks every configured component directly (see the [module docs](self)).
///
/// # Errors
///
/// A critical adapter cannot even be built (its error's chain, client-safe).
pub async fn check_components(settings: &Settings) -> Result<CheckReport, String> {
    let wiring = composition::wire(settings).map_err(|e| e.chain())?;
    let components = wiring.components;
    // `init` connects (and, for the embedded store, opens the data directory); its error
    // shows up again in the health check that follows.
    for component in components.iter() {
        if let Err(err) = component.lifecycle.init().await {
            tracing::debug!(component = %component.name, error = %err.chain(), "init failed");
        }
    }
    let reports = components.check_all(settings.health.check_timeout).await;
    components.close_all().await;
    let status = aggregate(&reports);
    let rows = reports
        .into_iter()
        .map(|r| CheckRow {
            component: r.name,
            critical: Some(r.critical),
            status: r.health.status,
            latency_ms: r.health.latency.map(|l| l.as_secs_f64() * 1e3),
            detail: r.health.output,
        })
        .collect();
    Ok(CheckReport {
        source: "direct checks of the configured components".to_owned(),
        rows,
        status,
    })
}

/// Asks the running service at `base_url` (`http://host:port`) for `/health/infra`.
///
/// # Errors
///
/// The URL is not `http://host[:port][/]`, the service does not answer within `timeout`,
/// or its answer is not a health report.
pub async fn check_running(base_url: &str, timeout: Duration) -> Result<CheckReport, String> {
    let authority = parse_base_url(base_url)?;
    let url = format!("http://{authority}/health/infra");
    let (status, body) = tokio::time::timeout(timeout, http_get(&authority, "/health/infra"))
        .await
        .map_err(|_| {
            format!(
                "{url}: no answer within {}",
                humantime::format_duration(timeout)
            )
        })?
        .map_err(|e| format!("{url}: {e}"))?;
    let json: Value = serde_json::from_slice(&body)
        .map_err(|e| format!("{url}: answered {status} without a health report ({e})"))?;
    let service_status = parse_status(json.get("status"))
        .ok_or_else(|| format!("{url}: answered {status} without a health status"))?;
    let mut rows = Vec::new();
    if let Some(checks) = json.get("checks").and_then(Value::as_object) {
        for (key, entries) in checks {
            let component = key.split(':').next().unwrap_or(key).to_owned();
            for entry in entries.as_array().into_iter().flatten() {
                rows.push(CheckRow {
                    component: component.clone(),
                    critical: None,
                    status: parse_status(entry.get("status")).unwrap_or(HealthStatus::Fail),
                    latency_ms: entry.get("observedValue").and_then(Value::as_f64),
                    detail: entry
                        .get("output")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                });
            }
        }
    }
    // A 503 is not ready whatever the body says.
    let status = if status == 200 {
        service_status
    } else {
        HealthStatus::Fail
    };
    Ok(CheckReport {
        source: url,
        rows,
        status,
    })
}

fn parse_status(value: Option<&Value>) -> Option<HealthStatus> {
    match value?.as_str()? {
        "pass" => Some(HealthStatus::Pass),
        "warn" => Some(HealthStatus::Warn),
        "fail" => Some(HealthStatus::Fail),
        _ => None,
    }
}

/// `host:port` of an `http://host[:port][/]` URL (port 80 by default).
fn parse_base_url(url: &str) -> Result<String, String> {
    let rest = url.strip_prefix("http://").ok_or_else(|| {
        format!("--url {url:?}: expected http://host:port (the service speaks plain HTTP)")
    })?;
    let authority = rest.trim_end_matches('/');
    if authority.is_empty() || authority.contains(['/', '?', '#', '@', ' ']) {
        return Err(format!(
            "--url {url:?}: expected http://host:port without path, query or credentials"
        ));
    }
    let has_port = match authority.rfind(':') {
        Some(colon) => !authority[colon..].contains(']'),
        None => false,
    };
    Ok(if has_port {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    })
}

/// A minimal HTTP/1.0 GET (the server then closes the connection after a plain body):
/// the status code and the body.
async fn http_get(authority: &str, path: &str) -> std::io::Result<(u16, Vec<u8>)> {
    let mut stream = tokio::net::TcpStream::connect(authority).await?;
    let request = format!(
        "GET {path} HTTP/1.0\r\nHost: {authority}\r\nAccept: application/health+json\r\n\
         User-Agent: infra-server-check\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    stream.take(1024 * 1024).read_to_end(&mut response).await?;
    let invalid =
        |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned());
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| invalid("incomplete HTTP response"))?;
    let head = String::from_utf8_lossy(&response[..split]);
    let status = head
        .lines()
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| invalid("not an HTTP response"))?;
    Ok((status, response[split + 4..].to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_plain_http_authorities() {
        assert_eq!(
            parse_base_url("http://127.0.0.1:8080/").unwrap(),
            "127.0.0.1:8080"
        );
        assert_eq!(parse_base_url("http://localhost").unwrap(), "localhost:80");
        assert_eq!(parse_base_url("http://[::1]:9000").unwrap(), "[::1]:9000");
        assert_eq!(parse_base_url("http://[::1]").unwrap(), "[::1]:80");
        for bad in [
            "https://x:1",
            "127.0.0.1:8080",
            "http://",
            "http://h:1/api",
            "http://u:p@h:1",
        ] {
            assert!(parse_base_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_table_aligns_columns_and_states_the_verdict() {
        let report = CheckReport {
            source: "test".to_owned(),
            rows: vec![
                CheckRow {
                    component: "redis".to_owned(),
                    critical: Some(false),
                    status: HealthStatus::Fail,
                    latency_ms: Some(0.42),
                    detail: Some("unavailable: connection refused".to_owned()),
                },
                CheckRow {
                    component: "qdrant".to_owned(),
                    critical: Some(true),
                    status: HealthStatus::Pass,
                    latency_ms: Some(1.0),
                    detail: None,
                },
            ],
            status: HealthStatus::Warn,
        };
        let table = report.render();
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines[0], "source: test");
        assert_eq!(lines[1], "COMPONENT  CRITICAL  STATUS  LATENCY  DETAIL");
        assert_eq!(
            lines[2],
            "redis      no        fail    0.4 ms   unavailable: connection refused"
        );
        assert_eq!(lines[3], "qdrant     yes       pass    1.0 ms");
        assert_eq!(lines[4], "status: warn (ready)");
        assert!(report.is_ready());
    }
}
