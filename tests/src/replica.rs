//! A streaming replica of a test-owned [`TestCluster`], started by the
//! test with `pg_basebackup`, on a loopback port of its own.
//!
//! `pg_basebackup -R` writes `standby.signal` and `primary_conninfo`, so
//! the copy starts in recovery and streams from the primary; an optional
//! `recovery_min_apply_delay` makes it lag by a known amount (the lag tests).
//!
//! Teardown mirrors [`TestCluster`]: `Drop` stops it with
//! `pg_ctl stop -m immediate` and removes the directory, and a watchdog
//! process does the same once the test process has exited.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::cluster::{TestCluster, as_postgres, bin_dir};

/// See the module docs.
#[derive(Debug)]
pub struct TestReplica {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
}

impl TestReplica {
    /// Base-backs-up `primary` and starts the copy as a hot standby;
    /// `apply_delay` sets `recovery_min_apply_delay` (none: replays at once).
    /// Returns once the replica accepts connections.
    pub fn start(primary: &TestCluster, apply_delay: Option<Duration>) -> TestReplica {
        let bin = bin_dir();
        let dir = std::env::temp_dir().join(format!(
            "strata-replica-{}-{:08x}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir).expect("create the replica directory");
        let status = Command::new("chown")
            .args(["postgres:postgres"])
            .arg(&dir)
            .status();
        assert!(
            status.map(|s| s.success()).unwrap_or(false),
            "chown the replica dir"
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let replica = TestReplica { bin, dir, port };
        let data = replica.data();
        let primary_port = primary.port().to_string();
        as_postgres(
            &replica.bin.join("pg_basebackup"),
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &primary_port,
                "-U",
                "postgres",
                "-D",
                data.to_str().expect("utf-8 path"),
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
            ],
        );
        // Later settings win in postgresql.conf: override the primary's copy.
        let mut conf = format!(
            "\nport = {port}\nunix_socket_directories = '{}'\nhot_standby = on\n\
             hot_standby_feedback = on\n",
            replica.dir.display()
        );
        if let Some(delay) = apply_delay {
            conf.push_str(&format!(
                "recovery_min_apply_delay = '{}ms'\n",
                delay.as_millis()
            ));
        }
        let path = data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&path).expect("read postgresql.conf");
        text.push_str(&conf);
        std::fs::write(&path, text).expect("write postgresql.conf");
        let status = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&data)
            .status();
        assert!(
            status.map(|s| s.success()).unwrap_or(false),
            "chown the replica data dir"
        );
        replica.spawn_watchdog();
        replica.pg_ctl(&["start", "-w", "-t", "30"]);
        replica
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn pg_ctl(&self, args: &[&str]) {
        let data = self.data();
        let log = self.dir.join("server.log");
        let mut all = vec![
            "-D",
            data.to_str().expect("utf-8 path"),
            "-l",
            log.to_str().expect("utf-8 path"),
        ];
        all.extend_from_slice(args);
        as_postgres(&self.bin.join("pg_ctl"), &all);
    }

    fn spawn_watchdog(&self) {
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; \
             runuser -u postgres -- {pg_ctl} -D {data} stop -m immediate >/dev/null 2>&1; \
             rm -rf {dir}",
            pid = std::process::id(),
            pg_ctl = self.bin.join("pg_ctl").display(),
            data = self.data().display(),
            dir = self.dir.display(),
        );
        let _ = Command::new("setsid")
            .args(["sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
    }

    /// The TCP port the replica listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `postgres://postgres@127.0.0.1:<port>/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// A plain tokio-postgres connection straight to the replica.
    pub async fn admin(&self) -> tokio_postgres::Client {
        let (client, conn) = tokio_postgres::connect(&self.url(), tokio_postgres::NoTls)
            .await
            .expect("connect to the test replica");
        tokio::spawn(async move {
            let _ = conn.await;
        });
        client
    }

    /// Kills the replica (`pg_ctl stop -m immediate`), as a crash would.
    pub fn kill(&self) {
        self.pg_ctl(&["stop", "-m", "immediate", "-w", "-t", "30"]);
    }

    /// Starts a stopped replica again; it resumes streaming.
    pub fn start_again(&self) {
        self.pg_ctl(&["start", "-w", "-t", "30"]);
    }
}

impl Drop for TestReplica {
    fn drop(&mut self) {
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.data())
            .args(["stop", "-m", "immediate"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
