//! Test harness: every test gets its own PostgreSQL schema on the local
//! server, so tests run in parallel and leave nothing behind.
//!
//! `DATABASE_URL` overrides the default `postgres://postgres@127.0.0.1:5432/test`.
//! Each schema is recorded in `public.strata_test_schemas`; schemas older
//! than an hour (from a test process that was killed before its `Drop` ran)
//! are swept the first time a process creates one.

pub mod cluster;
pub mod logs;
pub mod proxy;
pub mod redis_cluster;
pub mod replica;
pub mod tls;

use std::ops::Deref;
use std::sync::atomic::{AtomicU32, Ordering};

use strata::{Config, Db, Executor};
use tokio::sync::OnceCell;

/// The server every test talks to.
pub fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A plain tokio-postgres connection to the test server, for setup and checks
/// that must not go through strata.
pub async fn admin() -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(&database_url(), tokio_postgres::NoTls)
        .await
        .expect("connect to the test PostgreSQL (is it running? see README)");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}

static SWEPT: OnceCell<()> = OnceCell::const_new();
static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Removes schemas of test processes that died more than an hour ago.
async fn sweep(admin: &tokio_postgres::Client) {
    admin
        .batch_execute(
            "BEGIN;
             SELECT pg_advisory_xact_lock(7472616);
             CREATE TABLE IF NOT EXISTS public.strata_test_schemas (
                 name text PRIMARY KEY, created_at timestamptz NOT NULL DEFAULT now());
             COMMIT;",
        )
        .await
        .expect("create the test schema registry");
    let stale = admin
        .query(
            "SELECT name FROM public.strata_test_schemas WHERE created_at < now() - interval '1 hour'",
            &[],
        )
        .await
        .expect("read the test schema registry");
    for row in stale {
        let name: String = row.get(0);
        let _ = admin
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS \"{name}\" CASCADE;
                 DELETE FROM public.strata_test_schemas WHERE name = '{name}';"
            ))
            .await;
    }
}

/// A fresh schema and a [`Db`] whose connections use it as `search_path`.
/// Dereferences to the `Db`. Dropping it drops the schema.
#[derive(Debug)]
pub struct TestDb {
    db: Db,
    schema: String,
    config: Config,
}

impl TestDb {
    /// A new schema with default pool settings.
    pub async fn new() -> TestDb {
        Self::with(|c| c).await
    }

    /// A new schema; `tune` adjusts the config before connecting.
    pub async fn with(tune: impl FnOnce(Config) -> Config) -> TestDb {
        let admin = admin().await;
        SWEPT.get_or_init(|| sweep(&admin)).await;
        let schema = format!(
            "strata_test_{}_{}_{:08x}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            rand::random::<u32>()
        );
        admin
            .batch_execute(&format!(
                "CREATE SCHEMA \"{schema}\";
                 INSERT INTO public.strata_test_schemas (name) VALUES ('{schema}');"
            ))
            .await
            .expect("create the test schema");
        let base = Config::from_url(&database_url()).expect("DATABASE_URL parses");
        let config = tune(base.search_path(schema.clone()));
        let db = Db::connect(config.clone())
            .await
            .expect("connect strata to the test schema");
        TestDb { db, schema, config }
    }

    /// The schema's name.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// The config `db` was opened with: open a second handle on the same schema.
    pub fn config(&self) -> Config {
        self.config.clone()
    }

    /// The `Db` handle.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// `SELECT count(*)` of a table in the test's schema; panics on error.
    pub async fn count(&self, table: &str) -> i64 {
        self.db
            .query_read_one(&format!("SELECT count(*) FROM \"{table}\""), &[])
            .await
            .unwrap_or_else(|e| panic!("count {table}: {e}"))
            .get(0)
    }
}

impl Deref for TestDb {
    type Target = Db;
    fn deref(&self) -> &Db {
        &self.db
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // Drop runs inside the test's runtime (or while it unwinds), where we
        // cannot block on async work; a helper thread with its own runtime can.
        let schema = self.schema.clone();
        let url = database_url();
        let cleanup = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime for cleanup");
            rt.block_on(async move {
                let Ok((client, conn)) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await
                else {
                    return;
                };
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                // A bounded lock wait: a leaked transaction must not hang the
                // test; its schema is then left for the next sweep.
                let _ = client
                    .batch_execute(&format!(
                        "SET lock_timeout = '10s';
                         DROP SCHEMA IF EXISTS \"{schema}\" CASCADE;
                         DELETE FROM public.strata_test_schemas WHERE name = '{schema}';"
                    ))
                    .await;
            });
        });
        let _ = cleanup.join();
    }
}

/// The Redis every test shares: `REDIS_URL` (default
/// `redis://127.0.0.1:6379`), or with `STRATA_TEST_REDIS=cluster` a Redis
/// Cluster this test binary starts once (three masters, a replica each),
/// named by every node's URL, comma separated. Each test's keys live under
/// its own schema's prefix.
pub fn redis_url() -> String {
    if std::env::var("STRATA_TEST_REDIS").is_ok_and(|v| v == "cluster") {
        static CLUSTER: std::sync::OnceLock<redis_cluster::TestRedisCluster> =
            std::sync::OnceLock::new();
        return CLUSTER
            .get_or_init(redis_cluster::TestRedisCluster::start)
            .urls()
            .join(",");
    }
    std::env::var("REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "redis://127.0.0.1:6379".into())
}

/// `config` on the Redis at `url`: a cluster if `url` lists several nodes
/// (the harness always names a cluster by all of its nodes).
pub fn on_redis(config: Config, url: &str) -> Config {
    config
        .redis_url(url.to_owned())
        .redis_cluster(url.contains(','))
}

/// `config` on the shared Redis ([`redis_url`]).
pub fn with_redis(config: Config) -> Config {
    on_redis(config, &redis_url())
}

/// A Redis server owned by one test, on a free port, so the test may kill,
/// pause and restart it without touching the shared one. Killed on drop.
#[derive(Debug)]
pub struct TestRedis {
    port: u16,
    child: Option<std::process::Child>,
    /// With persistence: the directory of its dump file (removed on drop).
    dir: Option<std::path::PathBuf>,
}

impl TestRedis {
    /// Starts `redis-server` on a free loopback port and waits until it answers.
    pub fn start() -> TestRedis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let mut redis = TestRedis {
            port,
            child: None,
            dir: None,
        };
        redis.restart();
        redis
    }

    /// Like [`TestRedis::start`], but with a dump file of its own: a
    /// [`TestRedis::save`] before [`TestRedis::kill`] makes
    /// [`TestRedis::restart`] come back with the saved data.
    pub fn start_persistent() -> TestRedis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let dir = std::env::temp_dir().join(format!("strata-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a dump directory");
        let mut redis = TestRedis {
            port,
            child: None,
            dir: Some(dir),
        };
        redis.restart();
        redis
    }

    /// Runs one `redis-cli` command against this server; its output.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = std::process::Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("run redis-cli");
        assert!(out.status.success(), "redis-cli {args:?} failed");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `SAVE`: writes the dump file now (persistent servers only).
    pub fn save(&self) {
        assert!(self.dir.is_some(), "save needs start_persistent");
        assert!(self.cli(&["SAVE"]).contains("OK"), "SAVE failed");
    }

    /// Makes this server a replica of `primary` and waits until it has
    /// synced (`master_link_status:up`).
    pub fn replicate(&self, primary: &TestRedis) {
        self.cli(&["REPLICAOF", "127.0.0.1", &primary.port.to_string()]);
        for _ in 0..500 {
            if self
                .cli(&["INFO", "replication"])
                .contains("master_link_status:up")
            {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("replica on port {} did not sync", self.port);
    }

    /// Stops the process (SIGSTOP): connections stay open, nothing answers.
    pub fn freeze(&self) {
        self.signal("-STOP");
    }

    /// Resumes a frozen process (SIGCONT).
    pub fn thaw(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, sig: &str) {
        let pid = self
            .child
            .as_ref()
            .expect("redis is running")
            .id()
            .to_string();
        let status = std::process::Command::new("kill")
            .args([sig, &pid])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {sig} {pid}");
    }

    /// `REPLICAOF NO ONE`: a replica becomes a primary (a failover).
    pub fn promote(&self) {
        self.cli(&["REPLICAOF", "NO", "ONE"]);
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server (SIGKILL): connections drop at once.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // A frozen process dies of SIGKILL too; CONT first is harmless.
            let _ = std::process::Command::new("kill")
                .args(["-CONT", &child.id().to_string()])
                .status();
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port (empty: nothing persists).
    pub fn restart(&mut self) {
        self.kill();
        let mut command = std::process::Command::new("redis-server");
        command
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--loglevel", "warning"]);
        // Always a directory of its own: a replica writes the RDB it syncs
        // (and `SAVE` one) into `--dir`, which is otherwise the test's cwd,
        // the repository.
        let scratch = std::env::temp_dir().join(format!("strata-redis-{}", self.port));
        let dir = self.dir.clone().unwrap_or_else(|| {
            let _ = std::fs::create_dir_all(&scratch);
            scratch
        });
        command.arg("--dir").arg(dir);
        let child = command
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start redis-server (is it installed?)");
        self.child = Some(child);
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("redis-server on port {} did not come up", self.port);
    }

    /// Makes the server stall every client for `ms` milliseconds (CLIENT
    /// PAUSE): calls time out without the connection dropping.
    pub fn pause(&self, ms: u64) {
        let status = std::process::Command::new("redis-cli")
            .args([
                "-p",
                &self.port.to_string(),
                "CLIENT",
                "PAUSE",
                &ms.to_string(),
                "ALL",
            ])
            .stdout(std::process::Stdio::null())
            .status()
            .expect("run redis-cli");
        assert!(status.success());
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        self.kill();
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
