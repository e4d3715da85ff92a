//! `.env.example` at the workspace root lists every supported key, and its
//! suggested values load.

use std::collections::BTreeSet;

use infra_config::{QdrantMode, Settings, SettingsLoader};

const EXAMPLE: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../.env.example"));

/// Every key of `Settings`, as `SOCIAL_*` names, from its JSON shape.
fn all_keys() -> BTreeSet<String> {
    fn walk(value: &serde_json::Value, path: &str, out: &mut BTreeSet<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, inner) in map {
                    let next = if path.is_empty() {
                        key.to_uppercase()
                    } else {
                        format!("{path}__{}", key.to_uppercase())
                    };
                    walk(inner, &next, out);
                }
            }
            _ => {
                out.insert(format!("SOCIAL_{path}"));
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(
        &serde_json::to_value(Settings::default()).unwrap(),
        "",
        &mut out,
    );
    out
}

/// `(key, value)` of every `# SOCIAL_KEY=value` line, in order.
fn example_lines() -> Vec<(String, String)> {
    EXAMPLE
        .lines()
        .filter_map(|line| line.strip_prefix("# SOCIAL_"))
        .filter_map(|rest| rest.split_once('='))
        .map(|(key, value)| (format!("SOCIAL_{key}"), value.to_owned()))
        .collect()
}

#[test]
fn every_key_is_documented() {
    let documented: BTreeSet<String> = example_lines().into_iter().map(|(key, _)| key).collect();
    let mut expected = all_keys();
    expected.insert("SOCIAL_CONFIG_FILE".to_owned());
    let missing: Vec<_> = expected.difference(&documented).collect();
    let unknown: Vec<_> = documented.difference(&expected).collect();
    assert!(
        missing.is_empty(),
        "keys missing from .env.example: {missing:?}"
    );
    assert!(
        unknown.is_empty(),
        ".env.example documents unknown keys: {unknown:?}"
    );
    assert!(
        EXAMPLE
            .lines()
            .all(|line| line.is_empty() || line.starts_with('#')),
        "everything is commented out"
    );
}

#[test]
fn the_docker_compose_block_loads() {
    let lines = example_lines();
    let block: Vec<_> = lines
        .iter()
        .take(4)
        .filter(|(key, _)| key != "SOCIAL_CONFIG_FILE")
        .cloned()
        .collect();
    let keys: Vec<_> = block.iter().map(|(key, _)| key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "SOCIAL_REDIS__URL",
            "SOCIAL_QDRANT__MODE",
            "SOCIAL_QDRANT__URL"
        ]
    );
    let s = SettingsLoader::from_pairs(block).load().unwrap();
    assert_eq!(s.qdrant.mode, QdrantMode::Remote);
    assert_eq!(s.qdrant.endpoint(), "http://127.0.0.1:6334");
}

#[test]
fn suggested_scalar_values_are_valid_one_by_one() {
    // Keys whose example is a placeholder that needs companions (a URL or a
    // remote-only key in embedded mode, TLS files, nodes in standalone mode, ...) are skipped.
    let needs_companions = [
        "SOCIAL_CONFIG_FILE",
        "SOCIAL_REDIS__URL",
        "SOCIAL_REDIS__NODES",
        "SOCIAL_REDIS__SENTINEL_MASTER",
        "SOCIAL_REDIS__TLS__CA_FILE",
        "SOCIAL_REDIS__TLS__CERT_FILE",
        "SOCIAL_REDIS__TLS__KEY_FILE",
        "SOCIAL_QDRANT__URL",
        "SOCIAL_QDRANT__HOST",
        "SOCIAL_QDRANT__PORT",
        "SOCIAL_QDRANT__API_KEY",
        "SOCIAL_QDRANT__MODE",
        "SOCIAL_QDRANT__WRITE_ORDERING",
        "SOCIAL_QDRANT__READ_CONSISTENCY",
        "SOCIAL_HTTP__AUTH__JWT__PUBLIC_KEY_FILE",
        "SOCIAL_HTTP__AUTH__JWT__JWKS_FILE",
    ];
    for (key, value) in example_lines() {
        if needs_companions.contains(&key.as_str()) {
            continue;
        }
        if let Err(error) = SettingsLoader::from_pairs([(key.as_str(), value.as_str())]).load() {
            panic!("{key}={value} from .env.example is refused: {error}");
        }
    }
}
