//! A PostgreSQL cluster owned by the test process, so a test may stop,
//! restart or kill the server without touching the shared one.
//!
//! `initdb` runs as the `postgres` user (it refuses root) into a fresh
//! directory under the system temp dir; the server listens on a free
//! loopback port with trust authentication and `fsync=off`. The binaries
//! come from the newest `/usr/lib/postgresql/<version>/bin` (or
//! `STRATA_PG_BIN`).
//!
//! Teardown: `Drop` stops the postmaster with `pg_ctl stop -m immediate`
//! and removes the directory. The process-wide [`TestCluster::shared`]
//! instance lives in a static, whose `Drop` never runs, so every cluster
//! also gets a watchdog process that does the same once the test process
//! has exited, however it exited (a panic, `exit`, a signal).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// See the module docs.
#[derive(Debug)]
pub struct TestCluster {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
}

static SHARED: OnceLock<TestCluster> = OnceLock::new();
static EXCLUSIVE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The directory holding `initdb` and `pg_ctl`.
pub(crate) fn bin_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("STRATA_PG_BIN") {
        return dir.into();
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL binaries under /usr/lib/postgresql (or set STRATA_PG_BIN)")
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .expect("no initdb under /usr/lib/postgresql/*/bin")
        .1
}

/// Runs a command as the `postgres` user (as is, if we are not root) and
/// panics with its output if it fails.
pub(crate) fn as_postgres(program: &Path, args: &[&str]) {
    let root = std::env::var("USER").map(|u| u == "root").unwrap_or(false)
        || Command::new("id")
            .arg("-u")
            .output()
            .map(|o| o.stdout.starts_with(b"0\n"))
            .unwrap_or(false);
    let mut cmd = if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    };
    let out = cmd
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", program.display()));
    assert!(
        out.status.success(),
        "{} {args:?} failed: {}{}",
        program.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl TestCluster {
    /// Creates and starts a new cluster, owned by the caller.
    pub fn start() -> TestCluster {
        TestCluster::start_with(|_| String::new())
    }

    /// Like [`TestCluster::start`], with `setup` run on the data directory
    /// after `initdb` and before the server starts (to write certificates
    /// or `pg_hba.conf`); the text it returns is appended to
    /// `postgresql.conf`. Files it writes are handed to the `postgres` user.
    pub fn start_with(setup: impl FnOnce(&Path) -> String) -> TestCluster {
        let bin = bin_dir();
        let dir = std::env::temp_dir().join(format!(
            "strata-pg-{}-{:08x}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir).expect("create the cluster directory");
        let status = Command::new("chown")
            .args(["postgres:postgres"])
            .arg(&dir)
            .status();
        assert!(
            status.map(|s| s.success()).unwrap_or(false),
            "chown the cluster dir"
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let cluster = TestCluster { bin, dir, port };
        as_postgres(
            &cluster.bin.join("initdb"),
            &[
                "-D",
                cluster.data().to_str().expect("utf-8 path"),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-N",
                "--no-instructions",
            ],
        );
        let conf = format!(
            "\nlisten_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{}'\n\
             fsync = off\nfull_page_writes = off\nmax_connections = 200\nlog_min_messages = fatal\n",
            cluster.dir.display()
        );
        let path = cluster.data().join("postgresql.conf");
        let mut text = std::fs::read_to_string(&path).expect("read postgresql.conf");
        text.push_str(&conf);
        text.push_str(&setup(&cluster.data()));
        let status = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(cluster.data())
            .status();
        assert!(
            status.map(|s| s.success()).unwrap_or(false),
            "chown the data dir"
        );
        std::fs::write(&path, text).expect("write postgresql.conf");
        cluster.spawn_watchdog();
        cluster.pg_ctl(&["start", "-w", "-t", "30"]);
        cluster
    }

    /// The process-wide cluster, created on first use. Tests that stop or
    /// restart it must hold [`TestCluster::exclusive`] while they do.
    pub fn shared() -> &'static TestCluster {
        SHARED.get_or_init(TestCluster::start)
    }

    /// Serializes tests that stop, restart or kill the shared cluster.
    pub async fn exclusive() -> tokio::sync::MutexGuard<'static, ()> {
        EXCLUSIVE.lock().await
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

    /// Removes the cluster once this process is gone, even if it never
    /// runs `Drop` (statics, `exit`, signals).
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
        // Its own session, so a signal to the test's process group (a
        // timeout, ^C) does not take the watchdog with it.
        let _ = Command::new("setsid")
            .args(["sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
    }

    /// The TCP port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory of the server's Unix socket (a `host=` for local,
    /// non-TCP connections).
    pub fn socket_dir(&self) -> &Path {
        &self.dir
    }

    /// `127.0.0.1:<port>`, for a [`FaultProxy`](crate::proxy::FaultProxy) target.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `postgres://postgres@127.0.0.1:<port>/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// A strata config for this cluster (database `postgres`), before tuning.
    pub fn config(&self) -> strata::Config {
        strata::Config::from_url(&self.url()).expect("cluster URL parses")
    }

    /// A plain tokio-postgres connection straight to the server.
    pub async fn admin(&self) -> tokio_postgres::Client {
        let (client, conn) = tokio_postgres::connect(&self.url(), tokio_postgres::NoTls)
            .await
            .expect("connect to the test cluster");
        tokio::spawn(async move {
            let _ = conn.await;
        });
        client
    }

    /// `pg_ctl restart -m fast`: waits until the server accepts connections again.
    pub fn restart(&self) {
        self.pg_ctl(&["restart", "-m", "fast", "-w", "-t", "30"]);
    }

    /// `pg_ctl stop` with `mode` (`smart`, `fast` or `immediate`, the last
    /// being a crash: no checkpoint, recovery at the next start).
    pub fn stop(&self, mode: &str) {
        self.pg_ctl(&["stop", "-m", mode, "-w", "-t", "30"]);
    }

    /// Starts a stopped server and waits until it accepts connections.
    pub fn start_again(&self) {
        self.pg_ctl(&["start", "-w", "-t", "30"]);
    }

    /// Waits until a TCP connect to the server succeeds; returns when it did.
    pub fn wait_accepting(&self, limit: Duration) -> Instant {
        let deadline = Instant::now() + limit;
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Instant::now();
            }
            assert!(
                Instant::now() < deadline,
                "the test cluster did not come up"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        let data = self.data();
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&data)
            .args(["stop", "-m", "immediate"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
