//! The [`Tx`] handle: the connection of one open transaction, its state
//! (open, poisoned, savepoint depth, pending invalidations) and its round
//! trips of transaction control, which go through the pipeline's
//! `round_trip` (bounded, traced, counted).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use deadpool_postgres::{ClientWrapper, Object};

use crate::cache::Invalidation;
use crate::error::{Error, Result};
use crate::executor::Executor;
use crate::executor::handle::Handle;
use crate::observe::counters::RoundTrip;
use crate::observe::counters::bump;
use crate::pipeline::conn::Conn;
use crate::pipeline::round_trip::round_trip;
use crate::pool::Db;

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
    /// Which run of the closure this is (1 = the first).
    attempt: u32,
}

impl std::fmt::Debug for Tx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tx")
            .field("depth", &self.depth())
            .field("attempt", &self.shared.attempt)
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
    /// A transaction whose `BEGIN` is about to be sent on `conn`; `bound`
    /// is the client-side bound on each of its round trips.
    pub(super) fn open(conn: Object, db: Db, bound: Option<Duration>, attempt: u32) -> Tx {
        Tx {
            shared: Arc::new(Shared {
                conn: Some(conn),
                db,
                depth: AtomicU32::new(0),
                open: AtomicBool::new(true),
                poisoned: AtomicBool::new(false),
                bound,
                pending: std::sync::Mutex::new(std::collections::HashSet::new()),
                check_session: AtomicBool::new(false),
                discard: AtomicBool::new(false),
                attempt,
            }),
        }
    }

    /// The invalidations of this transaction's writes, to apply after COMMIT.
    pub(super) fn take_pending(&self) -> std::collections::HashSet<Invalidation> {
        self.shared
            .pending
            .lock()
            .map(|mut p| std::mem::take(&mut *p))
            .unwrap_or_default()
    }

    fn client(&self) -> &ClientWrapper {
        self.shared
            .conn
            .as_ref()
            .expect("a Tx holds its connection until its last clone is dropped")
    }

    fn is_open(&self) -> bool {
        self.shared.open.load(Ordering::Acquire)
    }

    /// Which run of the transaction's closure this is: 1 the first time, 2
    /// after the first serialization failure or deadlock, and so on (see
    /// [`Db::transaction`](crate::Db::transaction)). Keep it to learn how
    /// many attempts a call took.
    pub fn attempt(&self) -> u32 {
        self.shared.attempt
    }

    /// Savepoint depth: 0 in the transaction itself, 1 inside one savepoint, ...
    pub fn depth(&self) -> u32 {
        self.shared.depth.load(Ordering::Acquire)
    }

    fn is_poisoned(&self) -> bool {
        self.shared.poisoned.load(Ordering::Acquire)
    }

    /// One round trip of transaction control (`kind`: BEGIN, SAVEPOINT,
    /// COMMIT, ROLLBACK) through the pipeline's send and observe stages:
    /// bounded, traced and counted.
    async fn control(
        &self,
        kind: RoundTrip,
        sql: &str,
    ) -> std::result::Result<std::result::Result<(), tokio_postgres::Error>, Error> {
        let inner = &self.shared.db.inner;
        let sent = self.client().batch_execute(sql);
        round_trip(
            (&inner.counters, &inner.target),
            kind,
            sql,
            self.shared.bound,
            sent,
        )
        .await
    }

    /// Sends `sql` (BEGIN, SAVEPOINT, ...) under the client-side bound;
    /// past it the connection is poisoned.
    pub(super) async fn batch(&self, kind: RoundTrip, sql: &str) -> Result<()> {
        if !self.is_open() {
            return Err(Error::TransactionDone);
        }
        if self.is_poisoned() {
            return Err(abandoned());
        }
        match self.control(kind, sql).await {
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
        self.batch(
            RoundTrip::Savepoint,
            &format!("SAVEPOINT strata_sp_{depth}"),
        )
        .await?;
        self.shared.depth.store(depth, Ordering::Release);
        let result = f(self.clone()).await;
        let end = match &result {
            Ok(_) => format!("RELEASE SAVEPOINT strata_sp_{depth}"),
            Err(_) => format!(
                "ROLLBACK TO SAVEPOINT strata_sp_{depth}; RELEASE SAVEPOINT strata_sp_{depth}"
            ),
        };
        self.batch(RoundTrip::Savepoint, &end).await?;
        self.shared.depth.store(depth - 1, Ordering::Release);
        result
    }

    pub(super) async fn commit(&self) -> Result<()> {
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
        // The route stage's epoch moves when this ends, however it does
        // (answered, or dropped after COMMIT was sent): it may have applied.
        let _wrote = self.shared.db.inner.replicas.mark();
        let sent = self.control(RoundTrip::Commit, "COMMIT").await;
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
                    Err(crate::pipeline::outcome_unknown(err))
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
    pub(super) async fn check_session(&self) {
        if self.is_open() || !self.shared.check_session.load(Ordering::Acquire) {
            return;
        }
        let (client, db) = (self.client(), &self.shared.db);
        // Boxed: a 5 KB future on a path only some transactions take.
        if Box::pin(crate::pipeline::guard::check_session(
            client,
            db,
            self.shared.bound,
        ))
        .await
        {
            self.shared.discard.store(false, Ordering::Release);
        }
    }

    pub(super) async fn rollback(&self) {
        if self.is_poisoned() {
            return;
        }
        let done = self.control(RoundTrip::Rollback, "ROLLBACK").await;
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
    type Scope = crate::tenant::Unscoped;
}

impl Handle for Tx {
    async fn __conn(&self, _kind: crate::executor::OpKind) -> Result<Conn<'_>> {
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
