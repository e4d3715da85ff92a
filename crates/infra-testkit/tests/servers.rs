//! Tier 2: every kind of server really starts, answers, and goes away.
//!
//! Run by `cargo xtask test-integration` (`cargo test -p infra-testkit -- --ignored`).

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use infra_testkit::process::send_signal;
use infra_testkit::provider::ProviderKind;
use infra_testkit::resp::{Connection, Reply};
use infra_testkit::{
    ClientAuth, RedisCluster, RedisProvision, RedisSentinel, RedisServer, RedisTls, ServerIdentity,
    TestCerts,
};

const TIER2: &str = "tier 2: starts redis-server; run by cargo xtask test-integration";

fn alive(pid: u32) -> bool {
    send_signal(pid, "0").is_ok()
}

fn ping(addr: &str) -> Result<Reply, infra_testkit::Error> {
    Connection::connect(addr, Duration::from_millis(500))?.command(&["PING"])
}

fn pong() -> Reply {
    Reply::Status("PONG".into())
}

#[test]
#[ignore = "tier 2: starts redis-server; run by cargo xtask test-integration"]
fn standalone_answers_and_goes_away_on_drop() {
    let _ = TIER2;
    let server = RedisServer::start().unwrap();
    assert_eq!(server.url(), format!("redis://127.0.0.1:{}", server.port()));
    assert_eq!(ping(&server.addr()).unwrap(), pong());
    server.command_ok(&["SET", "k", "v"]).unwrap();
    assert_eq!(
        server.command_ok(&["GET", "k"]).unwrap(),
        Reply::Bulk(Some(b"v".to_vec()))
    );
    assert_eq!(server.role().unwrap(), "master");
    let pid = server.pid().unwrap();
    let dir = server.dir().to_path_buf();
    assert!(server.log_path().starts_with(&dir));
    drop(server);
    assert!(!alive(pid), "redis-server {pid} must be gone after drop");
    assert!(!dir.exists(), "the server's directory must be removed");
}

#[test]
#[ignore = "tier 2: starts redis-server; run by cargo xtask test-integration"]
fn kill_then_restart_on_the_same_port() {
    let server = RedisServer::start().unwrap();
    let port = server.port();
    let first = server.pid().unwrap();
    server.kill().unwrap();
    assert!(!server.is_running());
    assert!(!alive(first));
    assert!(
        ping(&server.addr()).is_err(),
        "a killed server must not answer"
    );
    server.restart().unwrap();
    assert_eq!(server.port(), port);
    let second = server.pid().unwrap();
    assert_ne!(first, second);
    assert_eq!(ping(&server.addr()).unwrap(), pong());
    // A restart of a running server works too, and the directory is kept.
    let dir = server.dir().to_path_buf();
    server.restart().unwrap();
    assert_eq!(server.dir(), dir);
    assert_eq!(server.command_ok(&["PING"]).unwrap(), pong());
    server.kill().unwrap();
    server.start_again().unwrap();
    assert_eq!(server.command_ok(&["PING"]).unwrap(), pong());
}

#[test]
#[ignore = "tier 2: starts redis-server; run by cargo xtask test-integration"]
fn pause_hangs_and_resume_recovers() {
    let server = RedisServer::start().unwrap();
    let mut conn = Connection::connect(&server.addr(), Duration::from_millis(300)).unwrap();
    assert_eq!(conn.command(&["PING"]).unwrap(), pong());
    server.pause().unwrap();
    assert!(server.is_paused());
    let started = Instant::now();
    assert!(
        conn.command(&["PING"]).is_err(),
        "a paused server must not answer"
    );
    assert!(started.elapsed() >= Duration::from_millis(250));
    server.resume().unwrap();
    assert!(!server.is_paused());
    assert_eq!(server.command_ok(&["PING"]).unwrap(), pong());
    // A paused server is killed on drop too.
    server.pause().unwrap();
    let pid = server.pid().unwrap();
    drop(server);
    assert!(!alive(pid));
}

#[test]
#[ignore = "tier 2: starts redis-server; run by cargo xtask test-integration"]
fn connection_counters_count_new_connections() {
    let server = RedisServer::start().unwrap();
    let before = server.total_connections_received().unwrap();
    let clients = server.connected_clients().unwrap();
    assert!(clients >= 1, "the admin connection is a client");
    for _ in 0..3 {
        assert_eq!(ping(&server.addr()).unwrap(), pong());
    }
    let after = server.total_connections_received().unwrap();
    assert_eq!(
        after - before,
        3,
        "the admin connection is reused, so only the three new connections count"
    );
    assert!(
        server
            .info_stat("total_commands_processed")
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > 0
    );
    assert!(server.info_stat("no_such_stat").is_err());
}

#[test]
#[ignore = "tier 2: starts redis-server; run by cargo xtask test-integration"]
fn password_and_acl_user_servers() {
    let server = RedisServer::builder().password("s3cr:t").start().unwrap();
    assert_eq!(
        server.url(),
        format!("redis://:s3cr%3At@127.0.0.1:{}", server.port())
    );
    assert_eq!(
        server.url_without_auth(),
        format!("redis://127.0.0.1:{}", server.port())
    );
    let mut conn = Connection::connect(&server.addr(), Duration::from_secs(2)).unwrap();
    let Reply::Error(noauth) = conn.command(&["GET", "k"]).unwrap() else {
        panic!("an unauthenticated command must fail");
    };
    assert!(noauth.starts_with("NOAUTH"), "{noauth}");
    let Reply::Error(wrong) = conn.command(&["AUTH", "wrong"]).unwrap() else {
        panic!("a wrong password must fail");
    };
    assert!(wrong.starts_with("WRONGPASS"), "{wrong}");
    assert_eq!(
        conn.command(&["AUTH", "s3cr:t"]).unwrap(),
        Reply::Status("OK".into())
    );
    assert_eq!(server.command_ok(&["PING"]).unwrap(), pong());

    let acl = RedisServer::builder()
        .acl_user("app", "pw")
        .start()
        .unwrap();
    assert_eq!(
        acl.url(),
        format!("redis://app:pw@127.0.0.1:{}", acl.port())
    );
    let mut conn = Connection::connect(&acl.addr(), Duration::from_secs(2)).unwrap();
    let Reply::Error(wrong) = conn.command(&["AUTH", "app", "nope"]).unwrap() else {
        panic!("a wrong password must fail");
    };
    assert!(wrong.starts_with("WRONGPASS"), "{wrong}");
    let Reply::Error(default_user) = conn.command(&["GET", "k"]).unwrap() else {
        panic!("the default user must be disabled");
    };
    assert!(default_user.starts_with("NOAUTH"), "{default_user}");
    assert_eq!(
        conn.command(&["AUTH", "app", "pw"]).unwrap(),
        Reply::Status("OK".into())
    );
    acl.restart().unwrap();
    assert_eq!(acl.command_ok(&["PING"]).unwrap(), pong());
}

#[test]
#[ignore = "tier 2: starts redis-server; run by cargo xtask test-integration"]
fn cluster_reaches_ok_and_serves_every_slot() {
    let cluster = RedisCluster::start().unwrap();
    let nodes = cluster.nodes();
    assert_eq!(nodes.len(), 3);
    for i in 0..3 {
        let info = cluster.cluster_info(i).unwrap();
        assert!(info.contains("cluster_state:ok"), "{info}");
    }
    // Every key is served by exactly one node; the others redirect.
    let mut served = 0;
    for node in cluster.servers() {
        match node.command(&["SET", "{k}", "v"]).unwrap() {
            Reply::Status(ok) if ok == "OK" => served += 1,
            Reply::Error(moved) => assert!(moved.starts_with("MOVED"), "{moved}"),
            other => panic!("unexpected reply {other}"),
        }
    }
    assert_eq!(served, 1);
    let pids: Vec<u32> = cluster
        .servers()
        .iter()
        .filter_map(RedisServer::pid)
        .collect();
    drop(cluster);
    assert!(pids.iter().all(|&pid| !alive(pid)));
}

#[test]
#[ignore = "tier 2: starts redis-server; run by cargo xtask test-integration"]
fn cluster_with_a_password() {
    let cluster = RedisCluster::builder().password("pw").start().unwrap();
    assert!(
        cluster
            .urls()
            .iter()
            .all(|u| u.starts_with("redis://:pw@127.0.0.1:"))
    );
    let mut conn = Connection::connect(&cluster.nodes()[0], Duration::from_secs(2)).unwrap();
    assert!(
        matches!(conn.command(&["CLUSTER", "INFO"]).unwrap(), Reply::Error(e) if e.starts_with("NOAUTH"))
    );
    // A killed node comes back on its port with its cluster configuration.
    let node = &cluster.servers()[1];
    node.kill().unwrap();
    node.start_again().unwrap();
    cluster.wait_ok(Duration::from_secs(30)).unwrap();
}

fn redis_cli_tls(tls: &RedisTls, ca: &std::path::Path, client_cert: bool) -> (bool, String) {
    let mut cmd = Command::new("redis-cli");
    cmd.arg("--tls").arg("--cacert").arg(ca);
    if client_cert {
        cmd.arg("--cert")
            .arg(&tls.certs().client().cert_file)
            .arg("--key")
            .arg(&tls.certs().client().key_file);
    }
    let out = cmd
        .args(["-h", "127.0.0.1", "-p", &tls.port().to_string(), "PING"])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success() && text.trim() == "PONG", text)
}

#[test]
#[ignore = "tier 2: starts redis-server; run by cargo xtask test-integration"]
fn tls_answers_with_the_ca_and_refuses_plain_and_wrong_ca() {
    let tls = RedisTls::start().unwrap();
    assert_eq!(tls.url(), format!("rediss://127.0.0.1:{}", tls.port()));
    let (ok, out) = redis_cli_tls(&tls, tls.certs().ca_file(), false);
    assert!(ok, "TLS PING with the CA (optional client auth): {out}");
    let (ok, out) = redis_cli_tls(&tls, tls.certs().wrong_ca_file(), false);
    assert!(
        !ok,
        "a client trusting the wrong CA must refuse the server: {out}"
    );
    assert!(
        ping(&tls.addr()).is_err(),
        "a plain PING on the TLS port must not get an answer"
    );
    // The admin side drives the process like any server.
    assert!(tls.admin().total_connections_received().unwrap() >= 1);
    tls.admin().restart().unwrap();
    tls.check_tls().unwrap();
}

#[test]
#[ignore = "tier 2: starts redis-server; run by cargo xtask test-integration"]
fn tls_variants_client_auth_and_wrong_host() {
    let certs = Arc::new(TestCerts::generate().unwrap());
    let required = RedisTls::builder()
        .certs(Arc::clone(&certs))
        .client_auth(ClientAuth::Required)
        .password("pw")
        .start()
        .unwrap();
    assert!(required.url().starts_with("rediss://:pw@127.0.0.1:"));
    let (ok, out) = redis_cli_tls(&required, certs.ca_file(), false);
    assert!(!ok, "a client without a certificate must be refused: {out}");

    let wrong_host = RedisTls::builder()
        .certs(Arc::clone(&certs))
        .identity(ServerIdentity::WrongHost)
        .start()
        .unwrap();
    assert_ne!(wrong_host.port(), required.port());
}

#[test]
#[ignore = "tier 2: starts redis-server; run by cargo xtask test-integration"]
fn sentinel_failover_promotes_the_replica_and_back() {
    let started = Instant::now();
    let setup = RedisSentinel::start().unwrap();
    eprintln!("sentinel setup ready in {:?}", started.elapsed());
    assert_eq!(setup.master_name(), "mymaster");
    assert_eq!(setup.sentinel_nodes().len(), 3);
    let first = setup.current_master().unwrap();
    assert_eq!(first, setup.data_nodes()[0].addr());
    assert_eq!(setup.master().unwrap().role().unwrap(), "master");

    let started = Instant::now();
    let second = setup.failover(Duration::from_mins(1)).unwrap();
    eprintln!("first failover in {:?}", started.elapsed());
    assert_eq!(second, setup.data_nodes()[1].addr());
    assert_eq!(setup.data_node(&second).unwrap().role().unwrap(), "master");
    let started = Instant::now();
    setup.settle(Duration::from_mins(1)).unwrap();
    eprintln!("settled in {:?}", started.elapsed());
    assert_eq!(setup.data_node(&first).unwrap().role().unwrap(), "slave");

    let started = Instant::now();
    let third = setup.failover(Duration::from_mins(1)).unwrap();
    eprintln!("second failover in {:?}", started.elapsed());
    assert_eq!(third, first);
}

#[test]
#[ignore = "tier 2: starts redis-server; run by cargo xtask test-integration"]
fn sentinel_with_a_password() {
    let setup = RedisSentinel::builder().password("pw").start().unwrap();
    let master = setup.master().unwrap();
    assert!(master.url().starts_with("redis://:pw@"));
    assert_eq!(master.command_ok(&["PING"]).unwrap(), pong());
    // The sentinels fail a dead master over by themselves.
    let old = master.addr();
    master.kill().unwrap();
    let started = Instant::now();
    let new = setup.wait_new_master(&old, Duration::from_mins(1)).unwrap();
    eprintln!("automatic failover in {:?}", started.elapsed());
    assert_eq!(new, setup.data_nodes()[1].addr());
    // The old master comes back as a replica of the new one.
    setup.data_node(&old).unwrap().start_again().unwrap();
    setup.settle(Duration::from_mins(1)).unwrap();
    assert_eq!(setup.data_node(&old).unwrap().role().unwrap(), "slave");
}

#[tokio::test]
#[ignore = "tier 2: starts redis-server; run by cargo xtask test-integration"]
async fn the_provider_serves_a_redis_that_answers() {
    let provision = RedisProvision::acquire().await.unwrap();
    eprintln!("provider: {}", provision.description());
    assert!(provision.url().starts_with("redis://") || provision.url().starts_with("rediss://"));
    if provision.kind() == ProviderKind::Local {
        let server = provision.local_server().unwrap();
        assert_eq!(server.url(), provision.url());
        assert_eq!(server.command_ok(&["PING"]).unwrap(), pong());
    }
    let shared = RedisProvision::shared().await.unwrap();
    let again = RedisProvision::shared().await.unwrap();
    assert!(std::ptr::eq(shared, again));
    assert_eq!(shared.kind(), provision.kind());
}
