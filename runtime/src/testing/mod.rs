//! Test helpers for your own code (cargo feature `testing`): a fresh
//! PostgreSQL schema per test, and [`#[strata::test]`](crate::test), which
//! turns an `async fn` taking the database into a test on one.
//!
//! strata's own suite runs this way: every test gets a schema of its own,
//! so tests run in parallel (threads of one binary, or several processes)
//! against one database and leave nothing behind.
//!
//! ```no_run
//! use strata::prelude::*;
//!
//! #[derive(Model, Debug, Clone, PartialEq)]
//! #[model(table = "users")]
//! pub struct User {
//!     #[model(primary_key, generated)]
//!     pub id: i64,
//!     pub email: String,
//!     pub name: String,
//! }
//!
//! // A folder relative to Cargo.toml, compiled into the test and applied
//! // to the schema before the body runs.
//! #[strata::test(migrations = "../migrations")]
//! async fn inserts_and_reads_back(db: Db) -> strata::Result<()> {
//!     let new = NewUser { email: "ada@example.com".into(), name: "Ada".into() };
//!     let user = User::insert(&db, new).await?;
//!     assert_eq!(User::get(&db, user.id).await?, user);
//!     Ok(())
//! }
//! ```
//!
//! # What gets created and dropped
//!
//! - A schema named `strata_test_<pid>_<n>_<random>`, unique across the
//!   tests of a process and across processes, and a [`Db`] whose
//!   connections have it as their only `search_path`: unqualified names
//!   are the test's own (qualify what lives elsewhere: `public.citext`).
//! - A row for it in `public.strata_test_schemas` (created on first use).
//!   The first [`TestDb`] of a process drops the schemas listed there that
//!   are more than an hour old, left by test processes that were killed.
//! - Dropping the [`TestDb`] drops the schema (`CASCADE`) and its row, on a
//!   connection of its own, waiting at most 10 s for locks: a transaction
//!   the test leaked cannot hang the run, and its schema is then left for
//!   the sweep.
//!
//! # The server
//!
//! The variables of [`Config::from_env`]: `DATABASE_URL`, then `DB_HOST`,
//! `DB_PORT`, `DB_USER`, `DB_PASSWORD`, `DB_NAME` and the rest. When none
//! of those six is set, `postgres://postgres@127.0.0.1:5432/test`. The user
//! must be allowed to create schemas in the database. The other settings
//! (`DB_POOL_MAX`, `REDIS_URL`, ..) apply to every `TestDb` as they would
//! to the application; a `CACHE_PREFIX` gets the schema's name appended,
//! so tests sharing a Redis keep apart.

pub(crate) mod run;

use std::ops::Deref;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::config::Config;
use crate::error::{Error, Result, chain};
use crate::migrate::{Migrator, Step};
use crate::pool::Db;

/// The server when the environment names none.
const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
/// The variables that name the server; with none set, [`DEFAULT_URL`].
const SERVER_VARS: [&str; 6] = [
    "DATABASE_URL",
    "DB_HOST",
    "DB_PORT",
    "DB_USER",
    "DB_PASSWORD",
    "DB_NAME",
];
/// The Redis of [`with_redis`] when `REDIS_URL` is unset.
const DEFAULT_REDIS: &str = "redis://127.0.0.1:6379";
/// The registry of live test schemas, shared with strata's own harness.
const REGISTRY: &str = "public.strata_test_schemas";
/// Schemas in the registry older than this are from dead processes.
const STALE_AFTER: &str = "1 hour";
/// The longest the drop waits for a lock on the schema's objects.
const DROP_LOCK_TIMEOUT: &str = "10s";

static SWEPT: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A fresh schema and a [`Db`] whose connections use it as `search_path`;
/// dropping it drops the schema. Dereferences to the `Db`.
///
/// ```no_run
/// use strata::Executor;
/// use strata::testing::TestDb;
///
/// # async fn run() -> strata::Result<()> {
/// let db = TestDb::with(|config| config.pool_max(4)).await;
/// db.migrate("migrations").await?; // relative to the current directory
/// db.execute("INSERT INTO users (email) VALUES ('ada@example.com')", &[]).await?;
/// println!("schema {}", db.schema());
/// drop(db); // DROP SCHEMA .. CASCADE
/// # Ok(()) }
/// ```
///
/// Model operations take any [`Executor`](crate::Executor): pass
/// `db.db()` (or `&*db`), or take `db: Db` in a
/// [`#[strata::test]`](crate::test), which keeps the `TestDb` for you.
#[derive(Debug)]
pub struct TestDb {
    db: Db,
    schema: String,
    config: Config,
    /// The server without the schema: what the drop connects with.
    server: Config,
}

impl TestDb {
    /// A new schema on the server the environment names (see the
    /// [module docs](self)), with the pool settings it gives.
    ///
    /// # Panics
    ///
    /// If the environment does not parse as a [`Config`], the server
    /// cannot be reached or the schema cannot be created: a test cannot go
    /// on without its database, and the message says which step failed.
    pub async fn new() -> TestDb {
        Self::with(|config| config).await
    }

    /// [`TestDb::new`], with `tune` adjusting the config (already on the
    /// schema) before the `Db` connects: `TestDb::with(|c| c.pool_max(2))`,
    /// or [`with_redis`] for the cache's Redis tier.
    ///
    /// # Panics
    ///
    /// As [`TestDb::new`].
    pub async fn with(tune: impl FnOnce(Config) -> Config) -> TestDb {
        let server = server_config().unwrap_or_else(|e| panic!("strata::testing: {e}"));
        match Self::create(server, tune).await {
            Ok(db) => db,
            Err(e) => panic!("strata::testing: {e}"),
        }
    }

    /// The schema and the handle; a failure says which step failed.
    async fn create(
        server: Config,
        tune: impl FnOnce(Config) -> Config,
    ) -> std::result::Result<TestDb, String> {
        let admin = admin(&server).await?;
        SWEPT.get_or_init(|| sweep(&admin)).await;
        let schema = schema_name();
        admin
            .batch_execute(&format!("CREATE SCHEMA {}", ident(&schema)))
            .await
            .map_err(|e| failed(&format!("create the test schema {schema}"), e))?;
        // Without a registry (no CREATE on `public`) a killed test's schema
        // is not swept, but the test still runs and drops its own.
        let _ = admin
            .execute(
                &format!("INSERT INTO {REGISTRY} (name) VALUES ($1)"),
                &[&schema],
            )
            .await;
        // Named after the schema, so the drop can end the test's own
        // connections whatever state a panic left them in.
        let mut config = server
            .clone()
            .search_path(schema.clone())
            .application_name(schema.clone());
        if let Some(prefix) = &config.cache_prefix {
            // A CACHE_PREFIX from the environment would be shared by every
            // test: each schema gets its own part of it.
            config.cache_prefix = Some(format!("{prefix}:{schema}"));
        }
        let config = tune(config);
        match Db::connect(config.clone()).await {
            Ok(db) => Ok(TestDb {
                db,
                schema,
                config,
                server,
            }),
            Err(e) => {
                let why = format!("connect to the test schema {schema}: {}", chain(&e));
                drop_schema(server, schema);
                Err(why)
            }
        }
    }

    /// Applies the migrations in `dir` ([`Migrator::from_dir`]) to the
    /// schema; the history table is created there too. A relative `dir` is
    /// relative to the current directory, which under `cargo test` is the
    /// package's (where its `Cargo.toml` is).
    ///
    /// Returns the migration error, naming the file and line, if one fails.
    pub async fn migrate(&self, dir: impl AsRef<Path>) -> Result<Vec<Step>> {
        Migrator::from_dir(dir)?.up(&self.db).await
    }

    /// The schema's name.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// The config the `Db` was opened with: `Db::connect(t.config())` opens
    /// a second handle on the same schema.
    pub fn config(&self) -> Config {
        self.config.clone()
    }

    /// The `Db` handle.
    pub fn db(&self) -> &Db {
        &self.db
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
        drop_schema(self.server.clone(), std::mem::take(&mut self.schema));
    }
}

/// `config` with the cache's Redis tier: the `REDIS_URL` (and
/// `REDIS_CLUSTER`) the environment gave, else `redis://127.0.0.1:6379`.
/// Each test's keys live under its schema's prefix, so tests sharing one
/// Redis do not see each other's entries.
///
/// ```no_run
/// # async fn run() {
/// let db = strata::testing::TestDb::with(strata::testing::with_redis).await;
/// # let _ = db; }
/// ```
pub fn with_redis(config: Config) -> Config {
    if config.redis_url.is_some() {
        config
    } else {
        config.redis_url(DEFAULT_REDIS)
    }
}

/// The server's config: the environment's, or [`DEFAULT_URL`] if it names
/// no server.
fn server_config() -> Result<Config> {
    server_config_from(|key| std::env::var(key).ok())
}

fn server_config_from(env: impl Fn(&str) -> Option<String>) -> Result<Config> {
    let set = |key: &str| env(key).is_some_and(|v| !v.is_empty());
    let named = SERVER_VARS.iter().any(|key| set(key));
    Config::from_lookup(|key| {
        if key == "DATABASE_URL" && !named {
            Some(DEFAULT_URL.to_owned())
        } else {
            env(key)
        }
    })
}

/// `strata_test_<pid>_<n>_<random>`: unique within the process (the
/// counter) and across processes (the pid, and the random part for
/// processes of equal pid on different hosts, such as containers).
fn schema_name() -> String {
    format!(
        "strata_test_{}_{}_{:08x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        rand::random::<u32>()
    )
}

/// `name` as a quoted SQL identifier.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// An error of step `what` on the admin connection.
fn failed(what: &str, e: tokio_postgres::Error) -> String {
    format!("{what}: {}", chain(&Error::from_pg(e)))
}

/// One connection to the server outside any pool, with the pool's TLS;
/// the schema is created and dropped on it.
async fn admin(server: &Config) -> std::result::Result<tokio_postgres::Client, String> {
    use futures_util::StreamExt;
    let pg = server.to_pg();
    let connect = crate::tls::connect(&pg, &server.tls);
    let bound = server.get_connect_timeout() + Duration::from_secs(1);
    let (client, mut messages) = match tokio::time::timeout(bound, connect).await {
        Ok(Ok(pair)) => pair,
        Ok(Err(e)) => return Err(unreachable_server(server, &chain(&e))),
        Err(_) => return Err(unreachable_server(server, "the connect timed out")),
    };
    // Polling the messages drives the connection.
    tokio::spawn(async move { while messages.next().await.is_some() {} });
    Ok(client)
}

fn unreachable_server(server: &Config, why: &str) -> String {
    format!(
        "cannot connect to the test database `{}` as `{}` ({why}); check that PostgreSQL \
         is running and that DATABASE_URL names it",
        server.get_dbname(),
        server.get_user()
    )
}

/// Creates the registry, then drops the schemas of test processes that
/// died more than an hour ago. Errors only cost the sweep.
async fn sweep(admin: &tokio_postgres::Client) {
    let created = admin
        .batch_execute(&format!(
            "BEGIN;
             SELECT pg_advisory_xact_lock(7472616);
             CREATE TABLE IF NOT EXISTS {REGISTRY} (
                 name text PRIMARY KEY, created_at timestamptz NOT NULL DEFAULT now());
             COMMIT;"
        ))
        .await;
    if let Err(e) = created {
        tracing::warn!(error = %e, "strata::testing: no {REGISTRY}; schemas of killed tests will not be swept");
        return;
    }
    // Only what this helper would have created: its name pattern, and a
    // schema the current role owns. The registry is a table in `public`
    // anyone may have written to; it must not be a way to drop any schema.
    let sql = format!(
        "SELECT r.name FROM {REGISTRY} r
           JOIN pg_namespace n ON n.nspname = r.name
          WHERE r.created_at < now() - interval '{STALE_AFTER}'
            AND r.name LIKE 'strata\\_test\\_%'
            AND n.nspowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)"
    );
    let Ok(stale) = admin.query(&sql, &[]).await else {
        return;
    };
    for row in stale {
        let name: String = row.get(0);
        let _ = admin.batch_execute(&drop_sql(&name)).await;
    }
}

/// Drops `schema` and its registry row in one implicit transaction, with
/// bounded lock waits: if the drop fails, the row stays for the sweep.
fn drop_sql(schema: &str) -> String {
    let literal = schema.replace('\'', "''");
    // The test's own connections (named after the schema) go first: one
    // left inside a transaction by a panic would hold its locks until the
    // test's runtime, blocked in this drop, polled it again.
    format!(
        "SET lock_timeout = '{DROP_LOCK_TIMEOUT}';
         SET statement_timeout = '60s';
         SELECT pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE application_name = '{literal}' AND pid <> pg_backend_pid();
         DROP SCHEMA IF EXISTS {} CASCADE;
         DELETE FROM {REGISTRY} WHERE name = '{literal}';",
        ident(schema)
    )
}

/// Drops `schema` from a helper thread with its own runtime: a `Drop` runs
/// inside the test's runtime (or while it unwinds), where it cannot block
/// on async work. Never panics; a failure leaves the schema to the sweep.
fn drop_schema(server: Config, schema: String) {
    if schema.is_empty() {
        return;
    }
    let cleanup = std::thread::Builder::new()
        .name("strata-testdb-drop".into())
        .spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                let work = async {
                    let Ok(client) = admin(&server).await else {
                        return;
                    };
                    if let Err(e) = client.batch_execute(&drop_sql(&schema)).await {
                        tracing::warn!(%schema, error = %e, "strata::testing: the test schema was not dropped; the next run sweeps it");
                    }
                };
                let _ = tokio::time::timeout(Duration::from_secs(90), work).await;
            });
        });
    if let Ok(cleanup) = cleanup {
        let _ = cleanup.join();
    }
}

#[cfg(test)]
mod tests;
