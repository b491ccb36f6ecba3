//! The migration lock: a session-level advisory lock on a dedicated
//! connection, taken by polling `pg_try_advisory_lock`.
//!
//! Why polling: a migrator that waits in the blocking `pg_advisory_lock`
//! waits inside a statement, and a waiter inside a transaction holds a
//! snapshot. `CREATE INDEX CONCURRENTLY`, run by the migrator that holds the
//! lock, waits for every transaction that could see the table to finish, so
//! the two wait for each other forever (Flyway #1654). A poll is a single
//! short autocommit statement; between polls the waiter holds nothing.
//!
//! The connection is taken out of the pool for the whole run and closed at
//! the end, never returned: a session lock, a `SET`, or a transaction left
//! open by a cancelled run can then not leak to another borrower. If the run
//! is cancelled, dropping the connection closes it and the server releases
//! the lock and rolls back.
//!
//! The key is derived from the history table's schema-qualified name, so
//! migrators of different schemas (tests, tenants) do not block each other.

use std::time::{Duration, Instant};

use deadpool_postgres::{ClientWrapper, Object};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::pipeline::round_trip::Link;
use crate::pool::Db;

/// Longest pause between two polls.
const MAX_POLL: Duration = Duration::from_millis(500);

/// A connection owned by one migration run.
pub(crate) struct Session {
    client: ClientWrapper,
    db: Db,
    key: Option<i64>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("key", &self.key).finish()
    }
}

/// The advisory lock key for a schema-qualified history table name.
pub(crate) fn key_for(history: &str) -> i64 {
    let digest = Sha256::digest(format!("strata.migrate:{history}").as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

impl Session {
    /// Takes a connection out of the pool for good and turns off
    /// `statement_timeout` on it: a long index build is not a runaway query.
    pub(crate) async fn open(db: &Db) -> Result<Session> {
        let session = Session {
            client: Object::take(db.acquire().await?),
            db: db.clone(),
            key: None,
        };
        session
            .client()
            .batch_execute("SET statement_timeout = 0")
            .await
            .map_err(Error::from_pg)?;
        Ok(session)
    }

    /// The session's connection: every round trip on it is counted and
    /// traced (kind `migration`).
    pub(crate) fn client(&self) -> Link<'_> {
        Link::new(&self.client, &self.db)
    }

    /// Polls `pg_try_advisory_lock(key)` with backoff (10 ms doubling to
    /// 500 ms, with jitter) until it is granted or `timeout` passes.
    pub(crate) async fn lock(&mut self, key: i64, timeout: Option<Duration>) -> Result<()> {
        let started = Instant::now();
        let mut pause = Duration::from_millis(10);
        loop {
            let got: bool = self
                .client()
                .query_one("SELECT pg_try_advisory_lock($1)", &[&key])
                .await
                .map_err(Error::from_pg)?
                .get(0);
            if got {
                self.key = Some(key);
                return Ok(());
            }
            if pause == Duration::from_millis(10) {
                tracing::info!("another migrator holds the migration lock; waiting");
            }
            if let Some(limit) = timeout
                && started.elapsed() >= limit
            {
                return Err(Error::Migration {
                    version: None,
                    file: None,
                    line: None,
                    message: format!(
                        "gave up waiting for the migration lock after {limit:?}; another migrator is still running"
                    ),
                    source: None,
                });
            }
            let half = u64::try_from(pause.as_millis() / 2).unwrap_or(250);
            let jitter = Duration::from_millis(rand::random_range(0..=half));
            tokio::time::sleep(pause + jitter).await;
            pause = (pause * 2).min(MAX_POLL);
        }
    }

    /// Releases the lock and closes the connection.
    pub(crate) async fn close(self) {
        if let Some(key) = self.key {
            // Closing the connection releases it too; unlocking first just
            // lets a waiter in without waiting for the socket to close.
            let _ = self
                .client()
                .execute("SELECT pg_advisory_unlock($1)", &[&key])
                .await;
        }
    }
}
