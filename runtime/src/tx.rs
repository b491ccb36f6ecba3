//! Transactions and savepoints.
//!
//! [`Db::transaction`] runs a closure inside `BEGIN` ... `COMMIT`, rolls back
//! when it returns `Err`, and repeats the whole closure when the server
//! reports a serialization failure or a deadlock (it rolled the attempt back,
//! so repeating is safe). The closure gets a [`Tx`] handle; `Tx::savepoint` nests.
//!
//! Cancellation safety: a [`Tx`] knows whether its connection is between
//! `BEGIN` and a finished `COMMIT`/`ROLLBACK`. If its last handle is dropped in that state
//! (the future was cancelled, the closure panicked, the timeout fired), the
//! connection is detached from the pool and closed, which makes the server
//! roll back. A connection inside a transaction never goes back to the pool.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use deadpool_postgres::{ClientWrapper, Object};
use tracing::Instrument;

use crate::cache::Invalidation;
use crate::error::{Error, Result, TimeoutKind};
use crate::executor::{Conn, Executor, bounded, client_bound, outcome_unknown};
use crate::observe::counters::bump;
use crate::pool::Db;

/// Transaction isolation level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum IsolationLevel {
    /// Each statement sees data committed before it began (PostgreSQL's default).
    #[default]
    ReadCommitted,
    /// Every statement sees the snapshot taken at the first statement.
    RepeatableRead,
    /// As if transactions ran one at a time; conflicting ones fail with
    /// 40001 and are retried by strata.
    Serializable,
}

impl IsolationLevel {
    fn sql(self) -> &'static str {
        match self {
            IsolationLevel::ReadCommitted => "READ COMMITTED",
            IsolationLevel::RepeatableRead => "REPEATABLE READ",
            IsolationLevel::Serializable => "SERIALIZABLE",
        }
    }
}

/// How to run a transaction: isolation, access mode, timeout and retries.
#[derive(Debug, Clone)]
pub struct TxOptions {
    isolation: IsolationLevel,
    read_only: bool,
    deferrable: bool,
    timeout: Option<Duration>,
    max_retries: Option<u32>,
    retry_on_unique: bool,
}

impl Default for TxOptions {
    fn default() -> Self {
        TxOptions {
            isolation: IsolationLevel::ReadCommitted,
            read_only: false,
            deferrable: false,
            timeout: None,
            max_retries: None,
            retry_on_unique: false,
        }
    }
}

impl TxOptions {
    /// `READ COMMITTED`, read-write, retries from the config.
    pub fn new() -> Self {
        Self::default()
    }

    /// `SERIALIZABLE`.
    pub fn serializable() -> Self {
        Self::default().isolation(IsolationLevel::Serializable)
    }

    /// `REPEATABLE READ`.
    pub fn repeatable_read() -> Self {
        Self::default().isolation(IsolationLevel::RepeatableRead)
    }

    /// `READ COMMITTED`.
    pub fn read_committed() -> Self {
        Self::default()
    }

    /// Sets the isolation level.
    #[must_use]
    pub fn isolation(mut self, level: IsolationLevel) -> Self {
        self.isolation = level;
        self
    }

    /// `READ ONLY`: PostgreSQL rejects writes (SQLSTATE 25006).
    #[must_use]
    pub fn read_only(mut self, yes: bool) -> Self {
        self.read_only = yes;
        self
    }

    /// `DEFERRABLE`: with `SERIALIZABLE` and `READ ONLY`, waits for a safe
    /// snapshot and then can never fail with a serialization error.
    #[must_use]
    pub fn deferrable(mut self, yes: bool) -> Self {
        self.deferrable = yes;
        self
    }

    /// Bound on one attempt, from `BEGIN` to the closure's end. Past it the
    /// attempt is abandoned (its connection closed, so the server rolls back)
    /// and the call returns `Error::Timeout` with `TimeoutKind::Transaction`.
    /// Also sets `statement_timeout` for the transaction's statements.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// How many times the closure is repeated after 40001/40P01 (default:
    /// the config's `retry_attempts`). `0` disables retries.
    #[must_use]
    pub fn max_retries(mut self, n: u32) -> Self {
        self.max_retries = Some(n);
        self
    }

    /// Also repeat after a unique violation (23505), for closures that pick a
    /// fresh value (an id, a slug) on every attempt.
    #[must_use]
    pub fn retry_on_unique(mut self, yes: bool) -> Self {
        self.retry_on_unique = yes;
        self
    }

    fn begin_sql(&self) -> String {
        let mut sql = format!("BEGIN ISOLATION LEVEL {}", self.isolation.sql());
        sql.push_str(if self.read_only {
            ", READ ONLY"
        } else {
            ", READ WRITE"
        });
        if self.deferrable {
            sql.push_str(", DEFERRABLE");
        }
        if let Some(t) = self.timeout {
            sql.push_str(&format!(
                "; SET LOCAL statement_timeout = {}",
                t.as_millis().max(1)
            ));
        }
        sql
    }
}

/// A handle to an open transaction (or, inside [`Tx::savepoint`], a
/// savepoint of one). Cheap to clone; every clone drives the same connection.
///
/// It implements [`Executor`], so model operations and raw SQL take `&tx`
/// wherever they take `&db`. Once the transaction has committed or rolled
/// back, statements through a leftover clone fail with
/// `Error::TransactionDone` instead of running in autocommit mode.
#[derive(Clone)]
pub struct Tx {
    shared: Arc<Shared>,
}

struct Shared {
    /// `Some` until `Drop`, which takes it to discard a connection left open.
    conn: Option<Object>,
    db: Db,
    /// Savepoint nesting depth; 0 at the top level.
    depth: AtomicU32,
    /// True between `BEGIN` being sent and `COMMIT`/`ROLLBACK` finishing.
    open: AtomicBool,
    /// A round trip outlived its client-side bound: the connection's state
    /// is unknown, nothing more is sent on it, and it is discarded.
    poisoned: AtomicBool,
    /// Client-side bound on each round trip (the statement timeout, or the
    /// transaction's own timeout if larger, plus a margin).
    bound: Option<Duration>,
    /// Cache invalidations of this transaction's writes, applied after COMMIT.
    pending: std::sync::Mutex<std::collections::HashSet<Invalidation>>,
    /// A raw statement ran that the SQL guard cannot vouch for (DDL, a call
    /// of a user's function, ..): the server is asked after the transaction
    /// ends whether the session is clean, before the connection is pooled.
    check_session: AtomicBool,
    /// Close the connection, never pool it: set when a raw statement asks
    /// for the session check, cleared only when the check finds it clean.
    discard: AtomicBool,
}

impl std::fmt::Debug for Tx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tx")
            .field("depth", &self.depth())
            .field("open", &self.shared.open.load(Ordering::Acquire))
            .finish()
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        if (*self.open.get_mut() || *self.discard.get_mut())
            && let Some(obj) = self.conn.take()
        {
            // Unknown state (cancelled mid-statement, panic, timeout): close
            // the connection so the server rolls back; never pool it. Or a
            // changed session, found after the transaction ended.
            bump(&self.db.inner.counters.connections_discarded);
            if *self.open.get_mut() {
                bump(&self.db.inner.counters.tx_rolled_back);
            }
            drop(Object::take(obj));
        }
    }
}

impl Tx {
    fn client(&self) -> &ClientWrapper {
        self.shared
            .conn
            .as_ref()
            .expect("a Tx holds its connection until its last clone is dropped")
    }

    fn is_open(&self) -> bool {
        self.shared.open.load(Ordering::Acquire)
    }

    /// Savepoint depth: 0 in the transaction itself, 1 inside one savepoint, ...
    pub fn depth(&self) -> u32 {
        self.shared.depth.load(Ordering::Acquire)
    }

    fn is_poisoned(&self) -> bool {
        self.shared.poisoned.load(Ordering::Acquire)
    }

    /// Sends `sql` (BEGIN, SAVEPOINT, ...) under the client-side bound;
    /// past it the connection is poisoned.
    async fn batch(&self, sql: &str) -> Result<()> {
        if !self.is_open() {
            return Err(Error::TransactionDone);
        }
        if self.is_poisoned() {
            return Err(abandoned());
        }
        match bounded(self.shared.bound, self.client().batch_execute(sql)).await {
            Ok(result) => result.map_err(Error::from_pg),
            Err(elapsed) => {
                self.__poison();
                Err(elapsed)
            }
        }
    }

    /// Runs `f` inside a `SAVEPOINT`: if it returns `Err`, the work it did
    /// is rolled back (`ROLLBACK TO SAVEPOINT`), the transaction goes on, and
    /// the error is returned. Nests to any depth.
    ///
    /// ```no_run
    /// # use strata::prelude::*;
    /// # async fn f(db: Db) -> strata::Result<()> {
    /// db.transaction(TxOptions::new(), |tx| async move {
    ///     tx.execute("INSERT INTO log VALUES ('kept')", &[]).await?;
    ///     let _ = tx
    ///         .savepoint(|sp| async move {
    ///             sp.execute("INSERT INTO log VALUES ('undone')", &[]).await?;
    ///             Err::<(), _>(Error::NotFound { what: "thing" })
    ///         })
    ///         .await;
    ///     Ok(())
    /// })
    /// .await
    /// # }
    /// ```
    pub async fn savepoint<T, F, Fut>(&self, f: F) -> Result<T>
    where
        F: FnOnce(Tx) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let depth = self.depth() + 1;
        self.batch(&format!("SAVEPOINT strata_sp_{depth}")).await?;
        self.shared.depth.store(depth, Ordering::Release);
        let result = f(self.clone()).await;
        let end = match &result {
            Ok(_) => format!("RELEASE SAVEPOINT strata_sp_{depth}"),
            Err(_) => format!(
                "ROLLBACK TO SAVEPOINT strata_sp_{depth}; RELEASE SAVEPOINT strata_sp_{depth}"
            ),
        };
        self.batch(&end).await?;
        self.shared.depth.store(depth - 1, Ordering::Release);
        result
    }

    async fn commit(&self) -> Result<()> {
        if self.depth() != 0 {
            // A savepoint future was dropped half-way: the transaction is not
            // in the state the closure believes. Refuse to commit.
            self.rollback().await;
            return Err(Error::TransactionDone);
        }
        if self.is_poisoned() {
            // Never sent: the server rolls back when the connection closes.
            return Err(abandoned());
        }
        let sent = bounded(self.shared.bound, self.client().batch_execute("COMMIT")).await;
        let Ok(sent) = sent else {
            // COMMIT was sent and no answer came: it may have applied.
            self.__poison();
            return Err(Error::OutcomeUnknown {
                source: "no answer to COMMIT within the client-side statement bound".into(),
            });
        };
        match sent {
            Ok(()) => {
                self.shared.open.store(false, Ordering::Release);
                bump(&self.shared.db.inner.counters.tx_committed);
                Ok(())
            }
            Err(err) => {
                // A DbError means the server refused to commit (40001 at
                // commit time, a deferred constraint) and rolled back: the
                // connection is idle and healthy, so it may go back to the
                // pool. No DbError means the answer was lost: outcome
                // unknown; the connection stays marked open and is discarded.
                let err = Error::from_pg(err);
                if err.is_connection() {
                    Err(outcome_unknown(err))
                } else {
                    self.shared.open.store(false, Ordering::Release);
                    bump(&self.shared.db.inner.counters.tx_rolled_back);
                    Err(err)
                }
            }
        }
    }

    /// After the transaction ended: if a raw statement in it could have
    /// changed the session, asks the server, and marks the connection for
    /// closing unless it is clean.
    async fn check_session(&self) {
        if self.is_open() || !self.shared.check_session.load(Ordering::Acquire) {
            return;
        }
        let login = self.shared.db.inner.config.get_user();
        let clean = bounded(
            self.shared.bound,
            crate::raw::session_is_clean(self.client(), login),
        )
        .await;
        if matches!(clean, Ok(Ok(true))) {
            self.shared.discard.store(false, Ordering::Release);
        } else {
            tracing::debug!("a raw statement changed the session; closing its connection");
        }
    }

    async fn rollback(&self) {
        if self.is_poisoned() {
            return;
        }
        let done = bounded(self.shared.bound, self.client().batch_execute("ROLLBACK")).await;
        if matches!(done, Ok(Ok(()))) {
            self.shared.open.store(false, Ordering::Release);
            bump(&self.shared.db.inner.counters.tx_rolled_back);
        }
        // On failure the connection stays marked open and is discarded.
    }
}

/// Statements on a poisoned transaction: nothing is sent, the server rolls
/// back when the connection closes.
fn abandoned() -> Error {
    Error::Connection {
        source: "the transaction's connection was abandoned after a round trip timed out".into(),
    }
}

impl Executor for Tx {
    async fn __conn(&self) -> Result<Conn<'_>> {
        if !self.is_open() {
            return Err(Error::TransactionDone);
        }
        if self.is_poisoned() {
            return Err(abandoned());
        }
        Ok(Conn::InTx(self.client()))
    }

    fn __statement_bound(&self) -> Option<Duration> {
        self.shared.bound
    }

    fn __poison(&self) {
        self.shared.poisoned.store(true, Ordering::Release);
    }

    fn __db(&self) -> &Db {
        &self.shared.db
    }

    fn __in_tx(&self) -> bool {
        true
    }

    fn __check_session_at_end(&self) {
        self.shared.check_session.store(true, Ordering::Release);
        // Until the check says otherwise: a transaction dropped before it
        // (cancelled after COMMIT, say) closes its connection.
        self.shared.discard.store(true, Ordering::Release);
    }

    async fn __invalidate(&self, inv: Invalidation) {
        if let Ok(mut pending) = self.shared.pending.lock() {
            pending.insert(inv);
        }
    }
}

impl Db {
    /// Runs `f` in a transaction: commits if it returns `Ok`, rolls back if
    /// it returns `Err`, panics, is cancelled or times out.
    ///
    /// On a serialization failure (40001) or deadlock (40P01), in a statement
    /// or at `COMMIT`, the whole closure runs again on a fresh transaction,
    /// after an exponential backoff with jitter, up to `max_retries` times.
    /// The closure must therefore be safe to run more than once: keep side
    /// effects outside the database out of it.
    ///
    /// Errors: the closure's own error; `Timeout` past `opts.timeout`;
    /// `OutcomeUnknown` if the connection died after `COMMIT` was sent.
    ///
    /// The closure gets an owned [`Tx`] handle and returns a future (write
    /// `|tx| async move { ... }`). An `async |tx|` closure would read better,
    /// but rustc cannot yet prove such futures `Send` (rust-lang/rust#110338),
    /// and a transaction that cannot run inside `tokio::spawn` is no use.
    ///
    /// ```no_run
    /// # use strata::prelude::*;
    /// # async fn f(db: Db) -> strata::Result<()> {
    /// db.transaction(TxOptions::serializable(), |tx| async move {
    ///     tx.execute("UPDATE accounts SET balance = balance - 10 WHERE id = 1", &[]).await?;
    ///     tx.execute("UPDATE accounts SET balance = balance + 10 WHERE id = 2", &[]).await?;
    ///     Ok(())
    /// })
    /// .await
    /// # }
    /// ```
    #[track_caller]
    pub fn transaction<T, F, Fut>(
        &self,
        opts: TxOptions,
        f: F,
    ) -> impl Future<Output = Result<T>> + use<'_, T, F, Fut>
    where
        F: FnMut(Tx) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let location = std::panic::Location::caller();
        let span = tracing::info_span!(
            "db.transaction",
            db.system = "postgresql",
            db.operation = "TRANSACTION",
            code.location = %location,
        );
        self.run_transaction(opts, f, location).instrument(span)
    }

    async fn run_transaction<T, F, Fut>(
        &self,
        opts: TxOptions,
        mut f: F,
        location: &'static std::panic::Location<'static>,
    ) -> Result<T>
    where
        F: FnMut(Tx) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let _lease = self.inner.leases.open(location);
        let max_retries = opts.max_retries.unwrap_or(self.inner.config.retry_attempts);
        let begin = opts.begin_sql();
        let counters = &self.inner.counters;
        let mut attempt = 0;
        loop {
            let err = match self.attempt(&begin, opts.timeout, &mut f).await {
                Ok(value) => return Ok(value),
                Err(err) => err,
            };
            let counter = match &err {
                Error::Serialization { .. } => &counters.tx_retried_serialization,
                Error::Deadlock { .. } => &counters.tx_retried_deadlock,
                Error::UniqueViolation { .. } if opts.retry_on_unique => {
                    &counters.tx_retried_unique
                }
                _ => return Err(err),
            };
            if attempt >= max_retries {
                return Err(err);
            }
            bump(counter);
            tracing::debug!(attempt, error = %err, "transaction conflict; retrying");
            self.inner.backoff.sleep(attempt).await;
            attempt += 1;
        }
    }

    async fn attempt<T, F, Fut>(
        &self,
        begin: &str,
        timeout: Option<Duration>,
        f: &mut F,
    ) -> Result<T>
    where
        F: FnMut(Tx) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let conn = match self.acquire().await {
            Ok(conn) => conn,
            Err(err) => {
                // The BEGIN that never went out is a failed statement too.
                bump(&self.inner.counters.queries);
                self.inner.counters.failed(&err);
                return Err(err);
            }
        };
        let tx = Tx {
            shared: Arc::new(Shared {
                conn: Some(conn),
                db: self.clone(),
                depth: AtomicU32::new(0),
                open: AtomicBool::new(true),
                poisoned: AtomicBool::new(false),
                bound: match (self.inner.config.statement_timeout, timeout) {
                    (Some(s), Some(t)) => Some(client_bound(s.max(t))),
                    (s, t) => s.or(t).map(client_bound),
                },
                pending: std::sync::Mutex::new(std::collections::HashSet::new()),
                check_session: AtomicBool::new(false),
                discard: AtomicBool::new(false),
            }),
        };
        if let Err(err) = tx.batch(begin).await {
            bump(&self.inner.counters.queries);
            self.inner.counters.failed(&err);
            return Err(err);
        }
        let result = self.run_closure(&tx, timeout, f).await;
        tx.check_session().await;
        result
    }

    /// The closure, then `COMMIT` or `ROLLBACK`.
    async fn run_closure<T, F, Fut>(
        &self,
        tx: &Tx,
        timeout: Option<Duration>,
        f: &mut F,
    ) -> Result<T>
    where
        F: FnMut(Tx) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let result = match timeout {
            None => f(tx.clone()).await,
            Some(limit) => match tokio::time::timeout(limit, f(tx.clone())).await {
                Ok(result) => result,
                Err(_) => {
                    // The connection is still open in the transaction: the
                    // caller drops the last handle, which closes it and makes
                    // the server roll back.
                    return Err(Error::Timeout {
                        kind: TimeoutKind::Transaction,
                        source: None,
                    });
                }
            },
        };
        match result {
            Ok(value) => {
                let pending = tx
                    .shared
                    .pending
                    .lock()
                    .map(|mut p| std::mem::take(&mut *p))
                    .unwrap_or_default();
                // Armed before COMMIT is sent: if the caller drops this
                // future after the commit, or the commit's outcome is
                // unknown, the guards still retire what it changed.
                let guards: Vec<_> = pending
                    .iter()
                    .filter_map(|inv| self.__write_guard(inv.clone()))
                    .collect();
                let committed = tx.commit().await;
                if let Err(err) = &committed
                    && !matches!(err, Error::OutcomeUnknown { .. })
                {
                    // Refused by the server: nothing changed.
                    guards
                        .into_iter()
                        .for_each(crate::cache::WriteGuard::disarm);
                    return Err(committed.unwrap_err());
                }
                if committed.is_ok() {
                    for inv in &pending {
                        self.__invalidate(inv.clone()).await;
                    }
                    guards
                        .into_iter()
                        .for_each(crate::cache::WriteGuard::disarm);
                }
                committed.map(|()| value)
            }
            Err(err) => {
                tx.rollback().await;
                Err(err)
            }
        }
    }
}
