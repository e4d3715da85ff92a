//! A real Redis Cluster of local `redis-server` nodes.

use std::thread;
use std::time::{Duration, Instant};

use super::{DEFAULT_STARTUP_TIMEOUT, Mode, RedisAuth, RedisServer, RedisServerBuilder, redis_cli};
use crate::error::{Error, Result};
use crate::resp::info_field;

/// Starts a [`RedisCluster`].
#[derive(Debug, Clone)]
#[must_use]
pub struct RedisClusterBuilder {
    masters: usize,
    auth: Option<RedisAuth>,
    node_timeout: Duration,
    startup_timeout: Duration,
    args: Vec<String>,
}

impl Default for RedisClusterBuilder {
    fn default() -> Self {
        Self {
            masters: 3,
            auth: None,
            node_timeout: Duration::from_secs(3),
            startup_timeout: Duration::from_secs(30),
            args: Vec::new(),
        }
    }
}

impl RedisClusterBuilder {
    /// How many masters (at least 3, Redis's minimum; default 3). There are no replicas.
    pub fn masters(mut self, masters: usize) -> Self {
        self.masters = masters;
        self
    }

    /// Every node requires `AUTH password` (and uses it between nodes).
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.auth = Some(RedisAuth::Password(password.into()));
        self
    }

    /// Every node has this ACL user (every permission) and no default user.
    pub fn acl_user(mut self, username: impl Into<String>, password: impl Into<String>) -> Self {
        self.auth = Some(RedisAuth::User {
            username: username.into(),
            password: password.into(),
        });
        self
    }

    /// `cluster-node-timeout` (default 3 s): how soon a dead node is marked failing.
    pub fn node_timeout(mut self, timeout: Duration) -> Self {
        self.node_timeout = timeout;
        self
    }

    /// How long the whole cluster may take to reach `cluster_state:ok` (default 30 s).
    pub fn startup_timeout(mut self, timeout: Duration) -> Self {
        self.startup_timeout = timeout;
        self
    }

    /// Adds a command-line argument to every node.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Starts the nodes, joins them with `redis-cli --cluster create`, and waits until every
    /// node reports `cluster_state:ok` with all slots assigned.
    pub fn start(self) -> Result<RedisCluster> {
        if self.masters < 3 {
            return Err(Error::new(format!(
                "a Redis cluster needs at least 3 masters, {} were asked for",
                self.masters
            )));
        }
        let node_timeout_ms = u64::try_from(self.node_timeout.as_millis()).unwrap_or(u64::MAX);
        let mut nodes = Vec::with_capacity(self.masters);
        for i in 0..self.masters {
            let mut builder = RedisServerBuilder::default()
                .name(format!("redis cluster node {i}"))
                .auth(self.auth.clone())
                .startup_timeout(DEFAULT_STARTUP_TIMEOUT)
                .mode(Mode::ClusterNode { node_timeout_ms })
                .args(self.args.iter().cloned());
            if let Some(auth) = &self.auth {
                builder = builder.args(auth.replica_args());
            }
            nodes.push(builder.start()?);
        }
        let cluster = RedisCluster {
            nodes,
            auth: self.auth,
        };
        cluster.create()?;
        cluster.wait_ok(self.startup_timeout)?;
        Ok(cluster)
    }
}

/// A Redis Cluster of at least three local masters (no replicas), all slots assigned,
/// `cluster_state:ok` on every node. Every node is killed when it is dropped.
///
/// Always local processes (no Docker, no URL): it fails with an install hint when
/// `redis-server` is missing.
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
    auth: Option<RedisAuth>,
}

impl RedisCluster {
    /// Starts a three-master cluster without authentication.
    pub fn start() -> Result<Self> {
        Self::builder().start()
    }

    /// A builder for more masters, a password or ACL user, and timeouts.
    pub fn builder() -> RedisClusterBuilder {
        RedisClusterBuilder::default()
    }

    /// Every node as `127.0.0.1:port` (the seed list a cluster client needs).
    pub fn nodes(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::addr).collect()
    }

    /// Every node as `redis://[user:password@]127.0.0.1:port`.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }

    /// The node servers, to kill, pause or inspect one.
    pub fn servers(&self) -> &[RedisServer] {
        &self.nodes
    }

    /// The authentication every node requires, if any.
    pub fn auth(&self) -> Option<&RedisAuth> {
        self.auth.as_ref()
    }

    /// `CLUSTER INFO` of node `index`.
    pub fn cluster_info(&self, index: usize) -> Result<String> {
        let node = self
            .nodes
            .get(index)
            .ok_or_else(|| Error::new(format!("the cluster has no node {index}")))?;
        let reply = node.command_ok(&["CLUSTER", "INFO"])?;
        reply
            .as_text()
            .ok_or_else(|| Error::new(format!("CLUSTER INFO answered {reply}")))
    }

    /// Waits until every running node reports `cluster_state:ok`, knows every node and sees
    /// all 16384 slots assigned.
    pub fn wait_ok(&self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let last = match self.check_ok() {
                Ok(()) => return Ok(()),
                Err(err) => err,
            };
            if Instant::now() >= deadline {
                return Err(last.context(format!(
                    "the cluster {} did not reach cluster_state:ok within {timeout:?}",
                    self.nodes().join(" ")
                )));
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    fn check_ok(&self) -> Result<()> {
        let expected_nodes = self.nodes.len().to_string();
        for (i, node) in self.nodes.iter().enumerate() {
            if !node.is_running() {
                continue;
            }
            let info = self.cluster_info(i)?;
            let field = |name: &str| info_field(&info, name).unwrap_or_default();
            if field("cluster_state") != "ok"
                || field("cluster_slots_assigned") != "16384"
                || field("cluster_known_nodes") != expected_nodes
            {
                return Err(Error::new(format!(
                    "node {} reports cluster_state:{} cluster_slots_assigned:{} cluster_known_nodes:{}",
                    node.addr(),
                    field("cluster_state"),
                    field("cluster_slots_assigned"),
                    field("cluster_known_nodes")
                )));
            }
        }
        Ok(())
    }

    /// `redis-cli --cluster create`: assigns the slots and joins the nodes.
    fn create(&self) -> Result<()> {
        let mut args = vec!["--cluster".to_owned(), "create".to_owned()];
        args.extend(self.nodes());
        args.extend([
            "--cluster-replicas".to_owned(),
            "0".to_owned(),
            "--cluster-yes".to_owned(),
        ]);
        if let Some(auth) = &self.auth {
            args.extend(auth.cli_args());
        }
        redis_cli(&args)
            .map(drop)
            .map_err(|e| e.context("joining the cluster"))
    }
}
