//! Tier 1: the deployment files agree with the service they deploy.
//!
//! Reads `Dockerfile`, `docker-compose.yml` and `deploy/kubernetes/` from the workspace
//! root and checks them against the real service: every probe path is a route the router
//! answers (200 or 503, never 404), the ports agree, the termination grace period covers
//! the preStop sleep and `SOCIAL_HTTP__SHUTDOWN_GRACE`, every `SOCIAL_*` key loads through
//! infra-config's `SettingsLoader`, and the image has its healthcheck, stop signal and
//! non-root user. No network, no Docker, no cluster. See docs/deployment.md.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use infra_config::schema::{self, Sensitivity};
use infra_config::{QdrantMode, Settings, SettingsLoader};
use serde::Deserialize as _;
use serde_json::Value;
use tower::ServiceExt;

/// The only placeholder a committed Secret may hold.
const PLACEHOLDER: &str = "REPLACE_ME";

/// The key of the API key list, whose values have a format.
const API_KEYS: &str = "SOCIAL_HTTP__AUTH__API_KEYS";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(path: &str) -> String {
    let full = root().join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("read {}: {e}", full.display()))
}

/// Every document of a YAML file, as JSON values.
fn yaml_documents(path: &str) -> Vec<Value> {
    let text = read(path);
    serde_norway::Deserializer::from_str(&text)
        .map(|doc| Value::deserialize(doc).unwrap_or_else(|e| panic!("{path}: {e}")))
        .filter(|doc| !doc.is_null())
        .collect()
}

/// The one document of a YAML file.
fn yaml(path: &str) -> Value {
    let mut docs = yaml_documents(path);
    assert_eq!(docs.len(), 1, "{path}: expected one YAML document");
    docs.remove(0)
}

/// The one object of `kind` in a manifest file.
fn manifest(path: &str, kind: &str) -> Value {
    let doc = yaml(path);
    assert_eq!(doc["kind"], kind, "{path}");
    doc
}

fn str_map(value: &Value, what: &str) -> BTreeMap<String, String> {
    value
        .as_object()
        .unwrap_or_else(|| panic!("{what}: expected a map"))
        .iter()
        .map(|(k, v)| {
            let v = v
                .as_str()
                .unwrap_or_else(|| panic!("{what}: {k} is {v}, not a string (quote it)"));
            (k.clone(), v.to_owned())
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Dockerfile
// ---------------------------------------------------------------------------------------

/// One instruction: keyword (upper case) and its arguments, continuation lines joined.
#[derive(Debug)]
struct Instruction {
    keyword: String,
    args: String,
}

fn dockerfile() -> Vec<Instruction> {
    let text = read("Dockerfile");
    let mut instructions = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        if let Some(head) = trimmed.strip_suffix('\\') {
            current.push_str(head);
            current.push(' ');
            continue;
        }
        current.push_str(trimmed);
        let (keyword, args) = current
            .split_once(char::is_whitespace)
            .unwrap_or((&current, ""));
        instructions.push(Instruction {
            keyword: keyword.to_ascii_uppercase(),
            args: args.trim().to_owned(),
        });
        current.clear();
    }
    assert!(
        current.is_empty(),
        "Dockerfile ends inside a continued line"
    );
    instructions
}

/// The instructions of the last stage (the image that runs).
fn runtime_stage(all: &[Instruction]) -> &[Instruction] {
    let last_from = all
        .iter()
        .rposition(|i| i.keyword == "FROM")
        .expect("a FROM");
    &all[last_from..]
}

/// `ENV` pairs of the runtime stage (the `KEY=VALUE ...` form, values without spaces).
fn dockerfile_env(stage: &[Instruction]) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for instruction in stage.iter().filter(|i| i.keyword == "ENV") {
        for pair in instruction.args.split_whitespace() {
            let (key, value) = pair
                .split_once('=')
                .unwrap_or_else(|| panic!("Dockerfile: ENV {pair}: use KEY=VALUE"));
            assert!(
                !value.starts_with('"'),
                "Dockerfile: ENV {key}: unquoted values only"
            );
            env.insert(key.to_owned(), value.to_owned());
        }
    }
    env
}

/// The port of an `http://host:port` URL.
fn url_port(url: &str) -> u16 {
    let authority = url
        .strip_prefix("http://")
        .unwrap_or_else(|| panic!("{url}: expected http://"))
        .trim_end_matches('/');
    authority
        .rsplit_once(':')
        .and_then(|(_, port)| port.parse().ok())
        .unwrap_or_else(|| panic!("{url}: expected an explicit port"))
}

/// Checks an exec-form healthcheck command and returns the port it asks.
fn check_command_port(command: &[&str], what: &str) -> u16 {
    let program = command.first().copied().unwrap_or_default();
    assert!(
        program == "infra-server" || program.ends_with("/infra-server"),
        "{what}: runs {program:?}, not infra-server"
    );
    // Without --url, `check` opens the embedded store, which the running service holds
    // locked: inside the container only the --url form works.
    match &command[1..] {
        ["check", "--url", url] => url_port(url),
        ["check", arg] if arg.starts_with("--url=") => url_port(&arg["--url=".len()..]),
        other => panic!("{what}: expected `infra-server check --url URL`, got {other:?}"),
    }
}

#[test]
fn the_image_runs_the_service_as_a_non_root_user_with_healthcheck_and_stop_signal() {
    let all = dockerfile();
    let stages: Vec<&Instruction> = all.iter().filter(|i| i.keyword == "FROM").collect();
    assert!(stages.len() >= 2, "a multi-stage build: {stages:?}");
    for stage in &stages {
        let image = stage.args.split_whitespace().next().unwrap();
        let tag = image.rsplit('/').next().unwrap();
        assert!(
            tag.contains(':') && !tag.ends_with(":latest"),
            "FROM {image}: pin a tag"
        );
    }
    assert!(
        all.iter().any(|i| i.keyword == "RUN"
            && i.args
                .contains("cargo build --release --locked -p infra-server")),
        "the build stage builds infra-server with --release --locked"
    );

    let stage = runtime_stage(&all);
    let last = |keyword: &str| {
        stage
            .iter()
            .rev()
            .find(|i| i.keyword == keyword)
            .unwrap_or_else(|| panic!("the runtime stage has no {keyword}"))
    };

    let user = &last("USER").args;
    let name = user.split(':').next().unwrap();
    assert!(!matches!(name, "" | "root" | "0"), "USER {user}: not root");
    assert!(
        name.parse::<u32>().is_ok(),
        "USER {user}: numeric, so that Kubernetes' runAsNonRoot can verify it"
    );

    assert_eq!(last("STOPSIGNAL").args, "SIGTERM");

    let healthcheck = &last("HEALTHCHECK").args;
    let (_, command) = healthcheck
        .split_once("CMD ")
        .expect("HEALTHCHECK ... CMD [...]");
    let command: Vec<String> = serde_json::from_str(command.trim())
        .unwrap_or_else(|e| panic!("HEALTHCHECK: exec form (a JSON array) expected: {e}"));
    let command: Vec<&str> = command.iter().map(String::as_str).collect();
    let probed = check_command_port(&command, "HEALTHCHECK");

    let env = dockerfile_env(stage);
    check_placement(&env, false, "Dockerfile ENV");
    assert_eq!(
        env.get("SOCIAL_HTTP__HOST").map(String::as_str),
        Some("0.0.0.0"),
        "the image binds every interface"
    );
    let port: u16 = env["SOCIAL_HTTP__PORT"].parse().unwrap();
    let exposed: u16 = last("EXPOSE")
        .args
        .trim_end_matches("/tcp")
        .parse()
        .expect("EXPOSE PORT");
    assert_eq!(
        (exposed, probed),
        (port, port),
        "EXPOSE, HEALTHCHECK and SOCIAL_HTTP__PORT"
    );

    let volume = &last("VOLUME").args;
    let path = &env["SOCIAL_QDRANT__PATH"];
    assert!(
        volume.contains(Path::new(path).parent().unwrap().to_str().unwrap()),
        "SOCIAL_QDRANT__PATH {path} lies in the VOLUME {volume}"
    );

    let entrypoint = &last("ENTRYPOINT").args;
    assert!(
        entrypoint.contains("infra-server"),
        "ENTRYPOINT {entrypoint}"
    );

    // The image binds every interface, so it needs credentials (or an explicit
    // SOCIAL_HTTP__AUTH__MODE=none) before it starts: the Secret or the compose file adds them.
    let error = SettingsLoader::from_pairs(env.clone()).load().unwrap_err();
    assert_eq!(
        error.key(),
        Some("SOCIAL_HTTP__AUTH__MODE"),
        "the image alone is refused for want of authentication: {error}"
    );
    let mut configured = env.clone();
    configured.insert(
        API_KEYS.into(),
        declared(API_KEYS, "test").example.unwrap().into(),
    );
    let settings = load(&configured, "Dockerfile ENV with API keys");
    assert_eq!(settings.qdrant.mode, QdrantMode::Embedded);
}

#[test]
fn the_dockerignore_keeps_build_output_and_secrets_out() {
    let ignore = read(".dockerignore");
    let entries: BTreeSet<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.trim_end_matches('/'))
        .collect();
    for needed in ["target", ".git", ".env", "data"] {
        assert!(entries.contains(needed), ".dockerignore lacks {needed}");
    }
}

// ---------------------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------------------

/// The declaration of a `SOCIAL_*` environment key in infra-config's key table.
fn declared(name: &str, what: &str) -> &'static schema::Key {
    let path = name
        .strip_prefix("SOCIAL_")
        .unwrap_or_else(|| panic!("{what}: {name} is not a SOCIAL_ key"))
        .to_ascii_lowercase()
        .replace("__", ".");
    schema::find(&path)
        .unwrap_or_else(|| panic!("{what}: {name} is not a key infra-config declares"))
}

/// Where a key may be written: a secret (password, API key) only in a Secret; a URL that
/// may carry credentials outside a Secret only without them.
fn check_placement(env: &BTreeMap<String, String>, in_secret: bool, what: &str) {
    for (name, value) in env.iter().filter(|(k, _)| k.starts_with("SOCIAL_")) {
        let key = declared(name, what);
        match key.sensitivity {
            Sensitivity::Secret => {
                assert!(in_secret, "{what}: {name} is a secret: put it in a Secret");
            }
            Sensitivity::Credentials => assert!(
                in_secret || !value.contains('@'),
                "{what}: {name} carries credentials: put them in a Secret"
            ),
            _ => assert!(
                !in_secret,
                "{what}: {name} is no secret: put it in the ConfigMap"
            ),
        }
    }
}

/// Loads `env` through the service's own loader; every `SOCIAL_*` key must also be
/// declared in infra-config's key table (`SOCIAL_CONFIG_FILE` is not used here).
fn load(env: &BTreeMap<String, String>, what: &str) -> Settings {
    for name in env.keys().filter(|k| k.starts_with("SOCIAL_")) {
        declared(name, what);
    }
    SettingsLoader::from_pairs(env.clone())
        .load()
        .unwrap_or_else(|e| panic!("{what}: the service refuses its configuration:\n{e}"))
}

/// Later maps win, as with `envFrom` (a later source wins) over the image's `ENV`.
fn layered(layers: &[&BTreeMap<String, String>]) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for layer in layers {
        env.extend(layer.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    env
}

// ---------------------------------------------------------------------------------------
// Kubernetes
// ---------------------------------------------------------------------------------------

const EMBEDDED: &str = "deploy/kubernetes/embedded";
const REMOTE: &str = "deploy/kubernetes/remote-qdrant";

fn configmap_data(dir: &str) -> BTreeMap<String, String> {
    let path = format!("{dir}/configmap.yaml");
    let data = str_map(&manifest(&path, "ConfigMap")["data"], &path);
    check_placement(&data, false, &path);
    data
}

fn secret_data(dir: &str) -> BTreeMap<String, String> {
    let path = format!("{dir}/secret.yaml");
    let secret = manifest(&path, "Secret");
    assert!(
        secret.get("data").is_none(),
        "{path}: use stringData with placeholders"
    );
    let mut data = str_map(&secret["stringData"], &path);
    for (key, value) in &data {
        assert_eq!(value, PLACEHOLDER, "{path}: {key} must stay a placeholder");
    }
    check_placement(&data, true, &path);
    // A placeholder stands for a real value: where the key has a format (the API key
    // list), load the example the key table declares for it instead.
    if let Some(value) = data.get_mut(API_KEYS) {
        let example = declared(API_KEYS, &path).example.expect("an example");
        example.clone_into(value);
    }
    data
}

/// The pod's environment: the image's ENV, then the ConfigMap, then the Secret (the order
/// of `envFrom` in deployment.yaml, checked below).
fn pod_env(configmaps: &[&str], secrets: &[&str]) -> BTreeMap<String, String> {
    let image = dockerfile_env(runtime_stage(&dockerfile()));
    let mut layers = vec![image];
    layers.extend(configmaps.iter().map(|dir| configmap_data(dir)));
    layers.extend(secrets.iter().map(|dir| secret_data(dir)));
    layered(&layers.iter().collect::<Vec<_>>())
}

fn deployment() -> Value {
    manifest(&format!("{EMBEDDED}/deployment.yaml"), "Deployment")
}

fn container(deployment: &Value) -> &Value {
    let containers = deployment["spec"]["template"]["spec"]["containers"]
        .as_array()
        .expect("containers");
    assert_eq!(containers.len(), 1, "one container");
    &containers[0]
}

/// The container's ports by name.
fn container_ports(container: &Value) -> BTreeMap<String, u64> {
    container["ports"]
        .as_array()
        .expect("ports")
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap_or_default().to_owned(),
                p["containerPort"].as_u64().expect("containerPort"),
            )
        })
        .collect()
}

/// A port given by number or by the container port's name.
fn resolve_port(port: &Value, ports: &BTreeMap<String, u64>, what: &str) -> u64 {
    port.as_u64()
        .or_else(|| port.as_str().and_then(|name| ports.get(name).copied()))
        .unwrap_or_else(|| panic!("{what}: port {port} is no container port"))
}

const PROBES: [&str; 3] = ["startupProbe", "livenessProbe", "readinessProbe"];

/// `(probe, path, port)` of every HTTP probe.
fn probes(container: &Value) -> Vec<(&'static str, String, u64)> {
    let ports = container_ports(container);
    PROBES
        .iter()
        .map(|probe| {
            let get = &container[*probe]["httpGet"];
            let path = get["path"]
                .as_str()
                .unwrap_or_else(|| panic!("{probe}: an httpGet probe"));
            (
                *probe,
                path.to_owned(),
                resolve_port(&get["port"], &ports, probe),
            )
        })
        .collect()
}

#[test]
fn kubernetes_ports_agree_with_the_configuration() {
    let deployment = deployment();
    let container = container(&deployment);
    let ports = container_ports(container);
    let http = ports
        .get("http")
        .copied()
        .expect("a container port named http");
    let env = pod_env(&[EMBEDDED], &[EMBEDDED]);
    let configured: u64 = env["SOCIAL_HTTP__PORT"].parse().unwrap();
    assert_eq!(http, configured, "containerPort = SOCIAL_HTTP__PORT");

    let service = manifest(&format!("{EMBEDDED}/service.yaml"), "Service");
    for port in service["spec"]["ports"].as_array().expect("Service ports") {
        assert_eq!(
            resolve_port(&port["targetPort"], &ports, "Service targetPort"),
            configured,
            "Service targetPort = SOCIAL_HTTP__PORT"
        );
    }
    assert_eq!(
        service["spec"]["type"], "ClusterIP",
        "no authentication yet: not exposed outside the cluster"
    );
    for (probe, _, port) in probes(container) {
        assert_eq!(port, configured, "{probe} probes SOCIAL_HTTP__PORT");
    }

    // The selectors select the pod template.
    let labels = &deployment["spec"]["template"]["metadata"]["labels"];
    let selectors = [
        service["spec"]["selector"].clone(),
        deployment["spec"]["selector"]["matchLabels"].clone(),
        manifest(&format!("{EMBEDDED}/pdb.yaml"), "PodDisruptionBudget")["spec"]["selector"]
            ["matchLabels"]
            .clone(),
    ];
    for selector in selectors {
        for (key, value) in selector.as_object().expect("a selector") {
            assert_eq!(&labels[key], value, "selector {key}");
        }
    }
}

#[test]
fn the_termination_grace_period_covers_pre_stop_and_shutdown_grace() {
    let deployment = deployment();
    let spec = &deployment["spec"]["template"]["spec"];
    let container = container(&deployment);
    let termination = spec["terminationGracePeriodSeconds"]
        .as_u64()
        .expect("terminationGracePeriodSeconds");
    let pre_stop = &container["lifecycle"]["preStop"];
    let sleep = pre_stop["sleep"]["seconds"]
        .as_u64()
        .expect("a preStop sleep action");

    let env = pod_env(&[EMBEDDED], &[EMBEDDED]);
    let text = env
        .get("SOCIAL_HTTP__SHUTDOWN_GRACE")
        .expect("configmap.yaml states SOCIAL_HTTP__SHUTDOWN_GRACE");
    let grace = humantime::parse_duration(text).expect("a humantime duration");
    // The service reads the same value.
    assert_eq!(load(&env, "deployment").http.shutdown_grace, grace);

    let needed = Duration::from_secs(sleep) + grace;
    assert!(
        Duration::from_secs(termination) >= needed,
        "terminationGracePeriodSeconds {termination}s < preStop {sleep}s + shutdown grace {text}"
    );

    // Compose has no preStop: SIGTERM, then the grace, before SIGKILL.
    let compose = yaml("docker-compose.yml");
    let service = &compose["services"]["infra-server"];
    let stop = humantime::parse_duration(
        service["stop_grace_period"]
            .as_str()
            .expect("stop_grace_period"),
    )
    .unwrap();
    let compose_grace = service["environment"]["SOCIAL_HTTP__SHUTDOWN_GRACE"]
        .as_str()
        .map_or(Ok(grace), humantime::parse_duration)
        .unwrap();
    assert!(
        stop > compose_grace,
        "compose stop_grace_period must exceed SOCIAL_HTTP__SHUTDOWN_GRACE"
    );
}

#[test]
fn kubernetes_configuration_loads_in_both_modes() {
    let volume_path = |deployment: &Value| -> String {
        container(deployment)["volumeMounts"][0]["mountPath"]
            .as_str()
            .expect("a volume mount")
            .to_owned()
    };
    let deployment = deployment();
    let mount = volume_path(&deployment);

    // envFrom: ConfigMap first, Secret second (a later source wins).
    let env_from: Vec<String> = container(&deployment)["envFrom"]
        .as_array()
        .expect("envFrom")
        .iter()
        .map(|source| {
            source
                .as_object()
                .and_then(|o| o.keys().next().cloned())
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(env_from, ["configMapRef", "secretRef"]);
    assert!(
        container(&deployment).get("env").is_none(),
        "all configuration comes from the ConfigMap and the Secret"
    );

    let embedded = load(&pod_env(&[EMBEDDED], &[EMBEDDED]), "embedded");
    assert_eq!(embedded.qdrant.mode, QdrantMode::Embedded);
    assert_eq!(embedded.http.host, "0.0.0.0");
    assert_eq!(
        embedded.http.auth.effective_mode(),
        infra_config::AuthMode::ApiKey,
        "the Secret's API keys turn authentication on"
    );
    assert!(
        embedded.qdrant.path.starts_with(&mount),
        "the embedded store {} lies on the volume mounted at {mount}",
        embedded.qdrant.path.display()
    );

    let remote = load(
        &pod_env(&[EMBEDDED, REMOTE], &[EMBEDDED, REMOTE]),
        "remote-qdrant",
    );
    assert_eq!(remote.qdrant.mode, QdrantMode::Remote);
}

#[test]
fn the_embedded_store_runs_once_and_remote_qdrant_scales_out() {
    let deployment = deployment();
    let spec = &deployment["spec"];
    assert_eq!(spec["replicas"], 1, "the embedded store is single-node");
    assert_eq!(spec["strategy"]["type"], "Recreate");
    let volumes = spec["template"]["spec"]["volumes"].as_array().unwrap();
    let claim = volumes
        .iter()
        .find_map(|v| v["persistentVolumeClaim"]["claimName"].as_str())
        .expect("the embedded store on a PersistentVolumeClaim");
    let pvc = manifest(&format!("{EMBEDDED}/pvc.yaml"), "PersistentVolumeClaim");
    assert_eq!(pvc["metadata"]["name"], claim);

    let patch = manifest(&format!("{REMOTE}/deployment.yaml"), "Deployment");
    assert!(
        patch["spec"]["replicas"].as_u64().unwrap() > 1,
        "remote Qdrant: several replicas"
    );
    assert_eq!(patch["spec"]["strategy"]["type"], "RollingUpdate");

    // Each kustomization lists every manifest of its directory.
    for (dir, key) in [(EMBEDDED, "resources"), (REMOTE, "patches")] {
        let kustomization = yaml(&format!("{dir}/kustomization.yaml"));
        let listed: BTreeSet<String> = kustomization[key]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|entry| entry.as_str().or_else(|| entry["path"].as_str()))
            .map(str::to_owned)
            .collect();
        let present: BTreeSet<String> = std::fs::read_dir(root().join(dir))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|name| {
                Path::new(name)
                    .extension()
                    .is_some_and(|ext| ext.eq_ignore_ascii_case("yaml"))
                    && name != "kustomization.yaml"
            })
            .collect();
        assert_eq!(listed, present, "{dir}/kustomization.yaml {key}");
    }
}

#[test]
fn the_pod_is_locked_down() {
    let deployment = deployment();
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_ne!(pod["securityContext"]["runAsUser"], 0);
    assert_eq!(pod["automountServiceAccountToken"], false);
    let security = &container(&deployment)["securityContext"];
    assert_eq!(security["allowPrivilegeEscalation"], false);
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(security["capabilities"]["drop"], serde_json::json!(["ALL"]));
    let resources = &container(&deployment)["resources"];
    for key in ["requests", "limits"] {
        assert!(
            resources[key]["memory"].is_string(),
            "resources.{key}.memory"
        );
    }
}

/// Every probe path is served by the real router: 200 or 503, never 404. The router is
/// built in-process from a real `Application` (embedded store in a temp dir, Redis
/// absent), as tests/http.rs does; no request goes over the network.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_probe_path_is_a_route_the_service_serves() {
    let deployment = deployment();
    let mut paths: BTreeSet<String> = probes(container(&deployment))
        .into_iter()
        .map(|(_, path, _)| path)
        .collect();
    // The image's and compose's healthcheck (`check --url`) reads /health/infra.
    paths.insert(infra_http::health::INFRA_PATH.to_owned());

    let dir = tempfile::tempdir().unwrap();
    let app = infra_server::Application::build(&common::settings(dir.path(), &[]))
        .await
        .expect("the service starts")
        .handle_os_signals(false);
    let router = infra_server::api::api(
        std::sync::Arc::clone(app.catalog()),
        app.state(),
        infra_server::response::ResponseLimit::new(1 << 20),
    )
    .router;
    let get = |path: String| {
        let router = router.clone();
        async move {
            router
                .oneshot(Request::get(&path).body(Body::empty()).unwrap())
                .await
                .unwrap()
                .status()
        }
    };

    for path in &paths {
        assert!(
            app.routes()
                .iter()
                .any(|r| r.method == "GET" && r.path == path.as_str()),
            "{path} is not in the route table"
        );
        let status = get(path.clone()).await;
        assert!(
            matches!(status, StatusCode::OK | StatusCode::SERVICE_UNAVAILABLE),
            "{path}: {status}"
        );
    }
    // Redis is absent and not critical: ready, with a warning.
    assert_eq!(get("/health/ready".into()).await, StatusCode::OK);

    // At shutdown readiness fails at once; liveness does not.
    app.shutdown().trigger();
    assert_eq!(
        get("/health/ready".into()).await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(get("/health/live".into()).await, StatusCode::OK);
    app.state().components().close_all().await;
}

// ---------------------------------------------------------------------------------------
// docker-compose.yml
// ---------------------------------------------------------------------------------------

#[test]
fn compose_runs_the_service_against_the_compose_redis_and_qdrant() {
    let compose = yaml("docker-compose.yml");
    let services = &compose["services"];
    for existing in ["redis", "qdrant"] {
        assert!(
            services[existing].is_object(),
            "the {existing} service stays"
        );
    }
    let service = &services["infra-server"];
    assert_eq!(service["build"]["dockerfile"], "Dockerfile");
    for dependency in ["redis", "qdrant"] {
        assert_eq!(
            service["depends_on"][dependency]["condition"], "service_healthy",
            "infra-server waits for a healthy {dependency}"
        );
    }

    let test: Vec<&str> = service["healthcheck"]["test"]
        .as_array()
        .expect("healthcheck.test as a list")
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(test[0], "CMD");
    let probed = check_command_port(&test[1..], "compose healthcheck");

    let image = dockerfile_env(runtime_stage(&dockerfile()));
    let environment = str_map(&service["environment"], "compose environment");
    check_placement(&environment, false, "docker-compose.yml");
    let env = layered(&[&image, &environment]);
    let settings = load(&env, "docker-compose.yml");
    assert_eq!(settings.qdrant.mode, QdrantMode::Remote);
    assert_eq!(settings.qdrant.endpoint(), "http://qdrant:6334");
    assert!(settings.redis.enabled);
    let port = settings.http.port;
    assert_eq!(probed, port, "the healthcheck asks SOCIAL_HTTP__PORT");
    let published: Vec<&str> = service["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    for mapping in published {
        assert!(
            mapping.starts_with("127.0.0.1:"),
            "{mapping}: no authentication yet, publish on loopback only"
        );
        assert!(
            mapping.ends_with(&format!(":{port}")),
            "{mapping} maps to SOCIAL_HTTP__PORT"
        );
    }
}

// ---------------------------------------------------------------------------------------
// docs/deployment.md
// ---------------------------------------------------------------------------------------

#[test]
fn the_docs_give_the_lint_command_ci_runs() {
    let docs = read("docs/deployment.md");
    assert!(docs.contains("bash deploy/lint.sh"), "docs/deployment.md");
    let script = read("deploy/lint.sh");
    assert!(script.contains("hadolint"), "deploy/lint.sh runs hadolint");
}
