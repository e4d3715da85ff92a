//! A local Redis Sentinel setup: one master, replicas, and at least three sentinels.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::thread;
use std::time::{Duration, Instant};

use super::{Mode, RedisAuth, RedisServer, RedisServerBuilder};
use crate::error::{Error, Result};
use crate::ports::LOOPBACK;
use crate::resp::{Reply, info_field};

/// Starts a [`RedisSentinel`].
#[derive(Debug, Clone)]
#[must_use]
pub struct RedisSentinelBuilder {
    master_name: String,
    replicas: usize,
    sentinels: usize,
    auth: Option<RedisAuth>,
    down_after: Duration,
    failover_timeout: Duration,
    startup_timeout: Duration,
}

impl Default for RedisSentinelBuilder {
    fn default() -> Self {
        Self {
            master_name: "mymaster".into(),
            replicas: 1,
            sentinels: 3,
            auth: None,
            down_after: Duration::from_secs(2),
            failover_timeout: Duration::from_secs(10),
            startup_timeout: Duration::from_secs(45),
        }
    }
}

impl RedisSentinelBuilder {
    /// The monitored master's name (default `mymaster`).
    pub fn master_name(mut self, name: impl Into<String>) -> Self {
        self.master_name = name.into();
        self
    }

    /// How many replicas (at least 1, default 1).
    pub fn replicas(mut self, replicas: usize) -> Self {
        self.replicas = replicas;
        self
    }

    /// How many sentinels (at least 3, default 3); the quorum is a majority.
    pub fn sentinels(mut self, sentinels: usize) -> Self {
        self.sentinels = sentinels;
        self
    }

    /// The data nodes require `AUTH password` (sentinels use it too; the sentinels
    /// themselves require no password).
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.auth = Some(RedisAuth::Password(password.into()));
        self
    }

    /// The data nodes have this ACL user and no default user.
    pub fn acl_user(mut self, username: impl Into<String>, password: impl Into<String>) -> Self {
        self.auth = Some(RedisAuth::User {
            username: username.into(),
            password: password.into(),
        });
        self
    }

    /// `down-after-milliseconds` (default 2 s): how soon a dead master is failed over
    /// automatically.
    pub fn down_after(mut self, after: Duration) -> Self {
        self.down_after = after;
        self
    }

    /// `failover-timeout` (default 10 s).
    pub fn failover_timeout(mut self, timeout: Duration) -> Self {
        self.failover_timeout = timeout;
        self
    }

    /// How long the setup may take until the sentinels agree (default 45 s).
    pub fn startup_timeout(mut self, timeout: Duration) -> Self {
        self.startup_timeout = timeout;
        self
    }

    /// Starts the master, the replicas (waiting until they are in sync), then the sentinels,
    /// and waits until every sentinel monitors the master, sees every replica and every
    /// other sentinel.
    pub fn start(self) -> Result<RedisSentinel> {
        if self.replicas < 1 || self.sentinels < 3 {
            return Err(Error::new(format!(
                "a sentinel setup needs at least 1 replica and 3 sentinels, got {} and {}",
                self.replicas, self.sentinels
            )));
        }
        let deadline = Instant::now() + self.startup_timeout;
        let data_node = |name: String| {
            let mut builder = RedisServerBuilder::default()
                .name(name)
                .auth(self.auth.clone());
            if let Some(auth) = &self.auth {
                // Any node may become a replica after a failover.
                builder = builder.args(auth.replica_args());
            }
            builder
        };
        let master = data_node("redis sentinel master".into()).start()?;
        let mut data = vec![master];
        for i in 0..self.replicas {
            let replica = data_node(format!("redis sentinel replica {i}"))
                .args([
                    "--replicaof".to_owned(),
                    LOOPBACK.to_string(),
                    data[0].port().to_string(),
                ])
                .start()?;
            data.push(replica);
        }
        wait_until(
            deadline,
            "the replicas to be in sync with the master",
            || replicas_online(&data[0], self.replicas),
        )?;

        let quorum = self.sentinels / 2 + 1;
        let name = &self.master_name;
        let mut config = format!(
            "sentinel monitor {name} {LOOPBACK} {port} {quorum}\n\
             sentinel down-after-milliseconds {name} {down}\n\
             sentinel failover-timeout {name} {failover}\n\
             sentinel parallel-syncs {name} 1\n",
            port = data[0].port(),
            down = self.down_after.as_millis(),
            failover = self.failover_timeout.as_millis(),
        );
        if let Some(auth) = &self.auth {
            if let Some(user) = auth.username() {
                let _ = writeln!(config, "sentinel auth-user {name} {user}");
            }
            let _ = writeln!(config, "sentinel auth-pass {name} \"{}\"", auth.password());
        }
        let mut sentinels = Vec::with_capacity(self.sentinels);
        for i in 0..self.sentinels {
            sentinels.push(
                RedisServerBuilder::default()
                    .name(format!("redis sentinel {i}"))
                    .mode(Mode::Sentinel {
                        config: config.clone(),
                    })
                    .start()?,
            );
        }
        let setup = RedisSentinel {
            master_name: self.master_name,
            sentinels,
            data,
            auth: self.auth,
        };
        let master_addr = setup.data[0].addr();
        wait_until(deadline, "the sentinels to agree on the setup", || {
            setup.check_sentinels(&master_addr)
        })?;
        Ok(setup)
    }
}

/// A local Redis Sentinel setup (see [`RedisSentinelBuilder::start`]): data nodes
/// ([`data_nodes`](Self::data_nodes), the first one is the initial master) and sentinels
/// ([`sentinel_nodes`](Self::sentinel_nodes)). Every process is killed when dropped.
///
/// Always local processes (no Docker, no URL).
#[derive(Debug)]
pub struct RedisSentinel {
    master_name: String,
    sentinels: Vec<RedisServer>,
    data: Vec<RedisServer>,
    auth: Option<RedisAuth>,
}

impl RedisSentinel {
    /// Starts a master, one replica and three sentinels, master name `mymaster`.
    pub fn start() -> Result<Self> {
        Self::builder().start()
    }

    /// A builder for the master name, replica and sentinel counts, auth and timeouts.
    pub fn builder() -> RedisSentinelBuilder {
        RedisSentinelBuilder::default()
    }

    /// The monitored master's name.
    pub fn master_name(&self) -> &str {
        &self.master_name
    }

    /// Every sentinel as `127.0.0.1:port` (what a sentinel client is configured with).
    pub fn sentinel_nodes(&self) -> Vec<String> {
        self.sentinels.iter().map(RedisServer::addr).collect()
    }

    /// The sentinel processes.
    pub fn sentinels(&self) -> &[RedisServer] {
        &self.sentinels
    }

    /// The data nodes (master and replicas); the first is the initial master.
    pub fn data_nodes(&self) -> &[RedisServer] {
        &self.data
    }

    /// The authentication the data nodes require, if any.
    pub fn auth(&self) -> Option<&RedisAuth> {
        self.auth.as_ref()
    }

    /// The master's `127.0.0.1:port` according to the first sentinel that answers
    /// `SENTINEL GET-MASTER-ADDR-BY-NAME`.
    pub fn current_master(&self) -> Result<String> {
        let mut last = None;
        for sentinel in self.live_sentinels() {
            match self.master_addr_from(sentinel) {
                Ok(addr) => return Ok(addr),
                Err(err) => last = Some(err),
            }
        }
        Err(last.unwrap_or_else(|| Error::new("there is no sentinel")))
    }

    /// The data node that is the master according to the sentinels.
    pub fn master(&self) -> Result<&RedisServer> {
        let addr = self.current_master()?;
        self.data_node(&addr)
    }

    /// Forces a failover and returns the new master's `127.0.0.1:port`.
    ///
    /// First settles the setup ([`settle`](Self::settle)), so that failovers can follow
    /// each other; then sends `SENTINEL FAILOVER <master>` (retried while a sentinel answers
    /// `INPROG` or `NOGOODSLAVE`), and waits until every running sentinel reports a new
    /// master and that node reports `role:master` (about a second). All of it is bounded by
    /// `timeout`.
    ///
    /// When it returns, the former master may still be a master accepting writes: the
    /// sentinels turn it into a replica of the new one only when they next poll it (up to
    /// ten seconds later), as in production. [`settle`](Self::settle) does that at once.
    pub fn failover(&self, timeout: Duration) -> Result<String> {
        let deadline = Instant::now() + timeout;
        let old = self.current_master()?;
        self.settle_until(deadline)?;
        let name = self.master_name.as_str();
        wait_until(deadline, "a sentinel to accept SENTINEL FAILOVER", || {
            let mut last = Error::new("no sentinel answered");
            for sentinel in self.live_sentinels() {
                match sentinel.command(&["SENTINEL", "FAILOVER", name]) {
                    Ok(Reply::Status(_)) => return Ok(()),
                    Ok(other) => {
                        last = Error::new(format!("{} answered {other}", sentinel.addr()));
                    }
                    Err(err) => last = err,
                }
            }
            Err(last)
        })?;
        self.wait_new_master_until(&old, deadline)
    }

    /// Waits (bounded by `timeout`) until every running sentinel reports a master other
    /// than `old` (`127.0.0.1:port`) and that node reports `role:master`; returns it. For
    /// failovers that the sentinels start themselves, e.g. after the master was killed
    /// (they act after `down-after`, 2 s by default).
    pub fn wait_new_master(&self, old: &str, timeout: Duration) -> Result<String> {
        self.wait_new_master_until(old, Instant::now() + timeout)
    }

    fn wait_new_master_until(&self, old: &str, deadline: Instant) -> Result<String> {
        let mut new = String::new();
        wait_until(deadline, "the sentinels to report a new master", || {
            let mut seen = Vec::with_capacity(self.sentinels.len());
            for sentinel in self.live_sentinels() {
                seen.push(self.master_addr_from(sentinel)?);
            }
            if seen.is_empty() {
                return Err(Error::new("no sentinel is running"));
            }
            if seen.iter().any(|addr| addr == old) || seen.windows(2).any(|w| w[0] != w[1]) {
                return Err(Error::new(format!(
                    "the sentinels report {} (the old master was {old})",
                    seen.join(", ")
                )));
            }
            let promoted = self.data_node(&seen[0])?;
            let role = promoted.role()?;
            if role != "master" {
                return Err(Error::new(format!(
                    "{} reports role {role}",
                    promoted.addr()
                )));
            }
            new.clone_from(&seen[0]);
            Ok(())
        })?;
        Ok(new)
    }

    /// Brings the setup to a settled state and waits (bounded by `timeout`) until it is:
    /// every running sentinel reports the same master, that node is `role:master`, every
    /// other running data node replicates from it with the link up, and every sentinel sees
    /// those replicas (flags `slave`) and the other sentinels.
    ///
    /// A data node that does not replicate from the master yet (the former master right
    /// after a failover, a restarted node) is sent `REPLICAOF` the master: what the sentinels
    /// would do on their next poll, up to ten seconds later.
    pub fn settle(&self, timeout: Duration) -> Result<()> {
        self.settle_until(Instant::now() + timeout)
    }

    fn settle_until(&self, deadline: Instant) -> Result<()> {
        wait_until(deadline, "the sentinel setup to settle", || {
            let master = self.current_master()?;
            self.check_settled(&master)
        })
    }

    fn check_settled(&self, master_addr: &str) -> Result<()> {
        let master = self.data_node(master_addr)?;
        let role = master.role()?;
        if role != "master" {
            return Err(Error::new(format!("{master_addr} reports role {role}")));
        }
        for node in self
            .data
            .iter()
            .filter(|n| n.addr() != master_addr && n.is_running() && !n.is_paused())
        {
            let info = node.info("replication")?;
            let upstream = format!(
                "{}:{}",
                info_field(&info, "master_host").unwrap_or_default(),
                info_field(&info, "master_port").unwrap_or_default()
            );
            if upstream != master_addr {
                node.command_ok(&[
                    "REPLICAOF".to_owned(),
                    LOOPBACK.to_string(),
                    master.port().to_string(),
                ])?;
            }
            let link = info_field(&info, "master_link_status").unwrap_or_default();
            if upstream != master_addr || link != "up" {
                return Err(Error::new(format!(
                    "{} replicates from {upstream:?} with link {link:?}, not from {master_addr}",
                    node.addr()
                )));
            }
        }
        self.check_sentinels(master_addr)
    }

    /// The data node listening on `addr` (`127.0.0.1:port`).
    pub fn data_node(&self, addr: &str) -> Result<&RedisServer> {
        self.data
            .iter()
            .find(|node| node.addr() == addr)
            .ok_or_else(|| Error::new(format!("{addr} is not a data node of this setup")))
    }

    /// The sentinels that run and are not paused.
    fn live_sentinels(&self) -> impl Iterator<Item = &RedisServer> {
        self.sentinels
            .iter()
            .filter(|s| s.is_running() && !s.is_paused())
    }

    fn master_addr_from(&self, sentinel: &RedisServer) -> Result<String> {
        let reply =
            sentinel.command_ok(&["SENTINEL", "GET-MASTER-ADDR-BY-NAME", &self.master_name])?;
        match reply.as_array() {
            Some([host, port]) => Ok(format!(
                "{}:{}",
                host.as_text().unwrap_or_default(),
                port.as_text().unwrap_or_default()
            )),
            _ => Err(Error::new(format!(
                "{} answered {reply} to GET-MASTER-ADDR-BY-NAME",
                sentinel.addr()
            ))),
        }
    }

    /// Every running sentinel monitors `master_addr` as a healthy master and sees every
    /// running replica (flags `slave`) and every other sentinel. (The sentinels' view of a
    /// replica's link refreshes only every ten seconds; the data nodes are asked directly.)
    fn check_sentinels(&self, master_addr: &str) -> Result<()> {
        let replicas = self.data.len() - 1;
        let others = self.sentinels.len() - 1;
        for sentinel in self.live_sentinels() {
            let at = sentinel.addr();
            let addr = self.master_addr_from(sentinel)?;
            if addr != master_addr {
                return Err(Error::new(format!("sentinel {at} reports master {addr}")));
            }
            let master = pairs(&sentinel.command_ok(&["SENTINEL", "MASTER", &self.master_name])?);
            let get = |key: &str| master.get(key).map_or("", String::as_str);
            if get("flags") != "master"
                || get("num-slaves") != replicas.to_string()
                || get("num-other-sentinels") != others.to_string()
            {
                return Err(Error::new(format!(
                    "sentinel {at} reports flags={} num-slaves={} num-other-sentinels={}",
                    get("flags"),
                    get("num-slaves"),
                    get("num-other-sentinels")
                )));
            }
            let listed = sentinel.command_ok(&["SENTINEL", "REPLICAS", &self.master_name])?;
            for replica in listed.as_array().unwrap_or_default() {
                let replica = pairs(replica);
                let replica_addr = format!(
                    "{}:{}",
                    replica.get("ip").map_or("", String::as_str),
                    replica.get("port").map_or("", String::as_str)
                );
                if self
                    .data_node(&replica_addr)
                    .is_ok_and(|node| !node.is_running())
                {
                    continue;
                }
                let flags = replica.get("flags").map_or("", String::as_str);
                if flags != "slave" {
                    return Err(Error::new(format!(
                        "sentinel {at} sees replica {replica_addr} with flags={flags}"
                    )));
                }
            }
        }
        Ok(())
    }
}

/// Whether `master` reports `expected` connected replicas, all `state=online`.
fn replicas_online(master: &RedisServer, expected: usize) -> Result<()> {
    let info = master.info("replication")?;
    let connected = info_field(&info, "connected_slaves").unwrap_or_default();
    let online = (0..expected)
        .filter(|i| {
            info_field(&info, &format!("slave{i}")).is_some_and(|s| s.contains("state=online"))
        })
        .count();
    if connected == expected.to_string() && online == expected {
        Ok(())
    } else {
        Err(Error::new(format!(
            "{} has connected_slaves:{connected}, {online} online",
            master.addr()
        )))
    }
}

/// A flat `[key, value, key, value, ...]` reply as a map.
fn pairs(reply: &Reply) -> HashMap<String, String> {
    reply
        .as_array()
        .unwrap_or_default()
        .chunks(2)
        .filter_map(|pair| match pair {
            [k, v] => Some((k.as_text()?, v.as_text()?)),
            _ => None,
        })
        .collect()
}

/// Polls `check` every 100 ms until it succeeds or `deadline` passes.
fn wait_until(deadline: Instant, what: &str, mut check: impl FnMut() -> Result<()>) -> Result<()> {
    loop {
        let last = match check() {
            Ok(()) => return Ok(()),
            Err(err) => err,
        };
        if Instant::now() >= deadline {
            return Err(last.context(format!("timed out waiting for {what}")));
        }
        thread::sleep(Duration::from_millis(100));
    }
}
