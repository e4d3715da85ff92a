//! `SOCIAL_HTTP__ROUTE_TIMEOUTS`: time limits of single routes, by route template.
//!
//! One string in the environment (`/collections/{name}/search=5s,/collections=2s`), a
//! list of such entries or a table (`"/collections/{name}/search" = "5s"`) in TOML; it is
//! written back as a list of entries (`infra-server config`). The routes themselves are checked by the service that serves them, which alone
//! knows its route table.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

use crate::duration;

/// Route templates (`/collections/{name}/search`) and the time limit of each; a route not
/// listed gets [`HttpSettings::request_timeout`](crate::HttpSettings::request_timeout).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RouteTimeouts(BTreeMap<String, Duration>);

impl RouteTimeouts {
    /// No route has its own limit.
    pub fn new() -> Self {
        Self::default()
    }

    /// Gives `route` (a route template starting with `/`) its own limit.
    #[must_use]
    pub fn with(mut self, route: impl Into<String>, limit: Duration) -> Self {
        self.0.insert(route.into(), limit);
        self
    }

    /// The limit of `route`, if it has its own.
    pub fn get(&self, route: &str) -> Option<Duration> {
        self.0.get(route).copied()
    }

    /// Every route with its own limit, in route order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, Duration)> {
        self.0.iter().map(|(route, limit)| (route.as_str(), *limit))
    }

    /// Whether no route has its own limit.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for RouteTimeouts {
    /// The environment form: `ROUTE=DURATION` entries joined with commas.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (route, limit)) in self.iter().enumerate() {
            let comma = if i == 0 { "" } else { "," };
            write!(f, "{comma}{route}={}", humantime::format_duration(limit))?;
        }
        Ok(())
    }
}

impl Serialize for RouteTimeouts {
    /// A list of `ROUTE=DURATION` entries, as the environment takes them one by one.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(
            self.iter()
                .map(|(route, limit)| format!("{route}={}", humantime::format_duration(limit))),
        )
    }
}

impl<'de> Deserialize<'de> for RouteTimeouts {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            List(Vec<String>),
            Table(BTreeMap<String, String>),
        }
        let texts: Vec<String> = match Raw::deserialize(deserializer)? {
            Raw::Text(text) => text.split(',').map(str::to_owned).collect(),
            Raw::List(entries) => entries,
            Raw::Table(table) => table
                .into_iter()
                .map(|(route, limit)| format!("{route}={limit}"))
                .collect(),
        };
        let entries: Vec<(String, String)> = texts
            .iter()
            .map(|entry| entry.trim())
            .filter(|entry| !entry.is_empty())
            .enumerate()
            .map(|(i, entry)| {
                entry
                    .split_once('=')
                    .map(|(route, limit)| (route.trim().to_owned(), limit.trim().to_owned()))
                    .ok_or_else(|| {
                        de::Error::custom(format!(
                            "entry {}: no `=` between the route and its duration",
                            i + 1
                        ))
                    })
            })
            .collect::<Result<_, D::Error>>()?;
        let mut routes = BTreeMap::new();
        for (i, (route, limit)) in entries.into_iter().enumerate() {
            let entry = i + 1;
            if !route.starts_with('/') || route.contains(char::is_whitespace) {
                return Err(de::Error::custom(format!(
                    "entry {entry}: a route template starts with / and has no spaces"
                )));
            }
            let limit = duration::parse(&limit)
                .map_err(|problem| de::Error::custom(format!("entry {entry}: {problem}")))?;
            if routes.insert(route, limit).is_some() {
                return Err(de::Error::custom(format!(
                    "entry {entry}: a route listed twice"
                )));
            }
        }
        Ok(Self(routes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<RouteTimeouts, String> {
        let value = serde_json::Value::String(text.to_owned());
        RouteTimeouts::deserialize(value).map_err(|e| e.to_string())
    }

    #[test]
    fn entries_parse_and_print_back() {
        let routes = parse(" /collections/{name}/search=5s, /collections=250ms ,").unwrap();
        assert_eq!(
            routes.get("/collections/{name}/search"),
            Some(Duration::from_secs(5))
        );
        assert_eq!(routes.get("/collections"), Some(Duration::from_millis(250)));
        assert_eq!(routes.get("/health/live"), None);
        assert_eq!(
            routes.to_string(),
            "/collections=250ms,/collections/{name}/search=5s"
        );
        assert_eq!(parse(&routes.to_string()).unwrap(), routes);
        assert!(parse("").unwrap().is_empty());
    }

    #[test]
    fn a_list_or_a_table_is_accepted_too() {
        let value = serde_json::json!({ "/collections": "2s" });
        let routes = RouteTimeouts::deserialize(value).unwrap();
        assert_eq!(routes.get("/collections"), Some(Duration::from_secs(2)));
        let written = serde_json::to_value(&routes).unwrap();
        assert_eq!(written, serde_json::json!(["/collections=2s"]));
        assert_eq!(RouteTimeouts::deserialize(written).unwrap(), routes);
    }

    #[test]
    fn bad_entries_are_refused_by_position() {
        for (text, problem) in [
            ("/a=1s,/b", "entry 2: no `=`"),
            ("collections=1s", "entry 1: a route template starts with /"),
            ("/a b=1s", "entry 1: a route template starts with /"),
            ("/a=5", "entry 1: a number without a unit"),
            ("/a=1s,/a=2s", "entry 2: a route listed twice"),
        ] {
            let err = parse(text).unwrap_err();
            assert!(err.contains(problem), "{text}: {err}");
        }
    }
}
