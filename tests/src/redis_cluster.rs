//! A local Redis Cluster owned by the test: three masters with one replica
//! each, six `redis-server` processes on free loopback ports, joined with
//! `redis-cli --cluster create ... --cluster-replicas 1`.
//!
//! Every node has its own `--dir` under the system temp dir (no shared
//! `nodes.conf`). `Drop` kills the processes and removes the directory; a
//! watchdog does the same once the test process has exited.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// See the module docs.
#[derive(Debug)]
pub struct TestRedisCluster {
    dir: PathBuf,
    ports: Vec<u16>,
    nodes: Vec<Child>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// `redis-cli -p <port> <args>`, its stdout as text ("" if it failed to
/// run, or got no answer within 2 s: a frozen node).
fn cli(port: u16, args: &[&str]) -> String {
    Command::new("timeout")
        .args(["2", "redis-cli", "-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

impl TestRedisCluster {
    /// Starts six nodes, creates the cluster and waits until every node
    /// reports `cluster_state:ok`.
    pub fn start() -> TestRedisCluster {
        let dir = std::env::temp_dir().join(format!(
            "strata-redis-cluster-{}-{:08x}",
            std::process::id(),
            rand::random::<u32>()
        ));
        let mut cluster = TestRedisCluster {
            dir,
            ports: Vec::new(),
            nodes: Vec::new(),
        };
        // A cluster bus port is the client port + 10000: keep both free.
        while cluster.ports.len() < 6 {
            let port = free_port();
            let bus_free =
                port < 55535 && std::net::TcpListener::bind(("127.0.0.1", port + 10000)).is_ok();
            if bus_free && !cluster.ports.contains(&port) {
                cluster.ports.push(port);
            }
        }
        for &port in &cluster.ports {
            let node_dir = cluster.dir.join(port.to_string());
            std::fs::create_dir_all(&node_dir).expect("create the node directory");
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--cluster-enabled", "yes", "--cluster-node-timeout", "1000"])
                // A replica cut off for a while may still be promoted.
                .args(["--cluster-replica-validity-factor", "0"])
                .args(["--cluster-config-file", "nodes.conf"])
                .arg("--dir")
                .arg(&node_dir)
                .args(["--save", "", "--appendonly", "no", "--loglevel", "warning"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start redis-server");
            cluster.nodes.push(child);
        }
        cluster.spawn_watchdog();
        for &port in &cluster.ports {
            cluster.wait(|| cli(port, &["ping"]).trim() == "PONG", "a node to answer");
        }
        let addrs: Vec<String> = cluster
            .ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        let out = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addrs)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .expect("run redis-cli --cluster create");
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        for &port in &cluster.ports {
            cluster.wait(
                || cli(port, &["cluster", "info"]).contains("cluster_state:ok"),
                "cluster_state:ok on every node",
            );
        }
        cluster
    }

    fn wait(&self, mut ok: impl FnMut() -> bool, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !ok() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn spawn_watchdog(&self) {
        let pids: Vec<String> = self.nodes.iter().map(|c| c.id().to_string()).collect();
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; kill -9 {pids} 2>/dev/null; rm -rf {dir}",
            pid = std::process::id(),
            pids = pids.join(" "),
            dir = self.dir.display(),
        );
        let _ = Command::new("setsid")
            .args(["sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
    }

    /// The six client ports, in start order.
    pub fn ports(&self) -> &[u16] {
        &self.ports
    }

    /// `redis://127.0.0.1:<port>` for every node (cluster seed URLs).
    pub fn urls(&self) -> Vec<String> {
        self.ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}"))
            .collect()
    }

    /// The ports of the nodes that are masters now (from `CLUSTER NODES`).
    pub fn masters(&self) -> Vec<u16> {
        self.roles("master")
    }

    /// The ports of the nodes that are replicas now.
    pub fn replicas(&self) -> Vec<u16> {
        self.roles("slave")
    }

    fn roles(&self, role: &str) -> Vec<u16> {
        self.ports
            .iter()
            .copied()
            .filter(|&p| cli(p, &["info", "replication"]).contains(&format!("role:{role}")))
            .collect()
    }

    /// `CLUSTER FAILOVER` on the replica at `port`: it becomes a master once
    /// the handover completes and its old master has become its replica
    /// (this waits for both).
    ///
    /// A manual failover needs the replica in sync, and Redis aborts one
    /// that does not finish within its own timeout without telling the
    /// caller: so this waits for the replication link first and asks again
    /// (up to three times) if a handover did not happen.
    pub fn failover(&self, port: u16) {
        self.wait(
            || cli(port, &["info", "replication"]).contains("master_link_status:up"),
            "the replica's link to its master",
        );
        let promoted = || {
            let masters = self.masters();
            masters.contains(&port) && masters.len() == 3
        };
        for _ in 0..3 {
            let reply = cli(port, &["cluster", "failover"]);
            assert!(reply.contains("OK"), "CLUSTER FAILOVER refused: {reply}");
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if promoted() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        panic!("timed out waiting for the replica to be promoted and its old master demoted");
    }
}

impl TestRedisCluster {
    /// `redis-cli` against the node at `port`; its output.
    pub fn cli(&self, port: u16, args: &[&str]) -> String {
        cli(port, args)
    }

    /// The port of the master the replica at `port` follows.
    pub fn master_of(&self, port: u16) -> Option<u16> {
        cli(port, &["info", "replication"])
            .lines()
            .find_map(|l| l.strip_prefix("master_port:"))
            .and_then(|p| p.trim().parse().ok())
    }

    /// The port of the replica that follows the master at `port`.
    pub fn replica_of(&self, port: u16) -> Option<u16> {
        self.replicas()
            .into_iter()
            .find(|&r| self.master_of(r) == Some(port))
    }

    /// Whether the node at `port` holds a key matching `pattern`.
    pub fn holds(&self, port: u16, pattern: &str) -> bool {
        !cli(port, &["--scan", "--pattern", pattern])
            .trim()
            .is_empty()
    }

    fn child(&mut self, port: u16) -> &mut Child {
        let i = self.ports.iter().position(|&p| p == port).expect("a node");
        &mut self.nodes[i]
    }

    /// Kills the node at `port` (SIGKILL): the cluster fails it over.
    pub fn kill(&mut self, port: u16) {
        let child = self.child(port);
        let _ = child.kill();
        let _ = child.wait();
    }

    fn signal(&mut self, port: u16, signal: &str) {
        let pid = self.child(port).id().to_string();
        let ok = Command::new("kill")
            .args([signal, &pid])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill {signal} {pid}");
    }

    /// Stops the node at `port` (SIGSTOP): connected, silent.
    pub fn freeze(&mut self, port: u16) {
        self.signal(port, "-STOP");
    }

    /// Resumes a frozen node (SIGCONT).
    pub fn thaw(&mut self, port: u16) {
        self.signal(port, "-CONT");
    }

    /// Cuts the replica at `port` off its master's writes, for good: its
    /// replication link is killed and it cannot sync again (a wrong
    /// `masterauth` fails its handshake), while it stays in the cluster
    /// and can be promoted. (Freezing it would not do: what the master sent
    /// meanwhile waits in its socket and is applied once it resumes.)
    pub fn cut_replication(&self, port: u16) {
        let master = self.master_of(port).expect("a replica");
        let offset = |p: u16, field: &str| -> i64 {
            cli(p, &["info", "replication"])
                .lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(-1)
        };
        // First in sync, so it holds what was written so far.
        let target = offset(master, "master_repl_offset:");
        self.wait(
            || offset(port, "slave_repl_offset:") >= target,
            "the replica to catch up",
        );
        cli(port, &["config", "set", "masterauth", "no-such-password"]);
        cli(master, &["client", "kill", "type", "replica"]);
        self.wait(
            || cli(port, &["info", "replication"]).contains("master_link_status:down"),
            "the replica's link to be down",
        );
    }

    /// Whether the node at `port` is a master of a cluster whose state is ok.
    pub fn serves(&self, port: u16) -> bool {
        cli(port, &["info", "replication"]).contains("role:master")
            && cli(port, &["cluster", "info"]).contains("cluster_state:ok")
    }
}

impl Drop for TestRedisCluster {
    fn drop(&mut self) {
        for child in &mut self.nodes {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
