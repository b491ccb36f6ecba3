//! The one trait every operation runs on: the pool handle ([`Db`]), a
//! transaction and a savepoint ([`Tx`]).
//!
//! The trait is sealed: the retry rules below depend on knowing whether a
//! statement runs on a pooled connection in autocommit mode or inside a
//! transaction, so only strata's own handles may implement it.
//!
//! Retry rules for one statement:
//! - Before sending, a pooled connection found closed is discarded and another
//!   taken: nothing was sent.
//! - A read (`OpKind::Read`) in autocommit mode that fails because its
//!   connection died is repeated once on a fresh connection: one opened
//!   after the failure (idle ones opened before it are discarded unused, as
//!   the fault that killed one backend may have killed them all unnoticed).
//! - A write in autocommit mode whose connection dies after it was sent is
//!   reported as [`Error::OutcomeUnknown`] and never repeated.
//! - Inside a transaction nothing is repeated per statement; a lost
//!   connection means the server rolled the transaction back (`Connection`).
//!
//! Client-side bound: the server's `statement_timeout` cannot help when the
//! network is silent (its cancel never arrives), so every round trip of a
//! statement is also bounded on the client, at the configured statement
//! timeout plus a small margin ([`client_bound`]). Past it the connection is
//! in an unknown state and is discarded (a transaction's connection is
//! poisoned, so the transaction can only end by closing it); the error is
//! `Timeout { kind: Statement }`, or `OutcomeUnknown` for an autocommit write.
//!
//! Input the protocol cannot carry (more than 65,535 parameters, a parameter
//! count that does not match the statement) is `Error::InvalidInput`, found
//! before the statement is sent; the connection stays usable.

use std::future::Future;
use std::ops::Deref;
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use deadpool_postgres::{ClientWrapper, Object};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;
use tracing::Instrument;

use crate::cache::Invalidation;
use crate::error::{Error, Result, TimeoutKind};
use crate::observe::counters::bump;
use crate::pool::Db;
use crate::raw::{Declared, Plan};

/// Statement parameters, as tokio-postgres takes them.
pub type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// Whether an operation only reads. Known per operation, so a read can be
/// retried after a connection loss (and later routed to a replica).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    /// No side effects: safe to repeat.
    Read,
    /// May change data: never repeated once sent.
    Write,
}

impl OpKind {
    /// Classifies raw SQL with strata's SQL tokenizer: `Read` only for a
    /// single `SELECT`, `VALUES`, `TABLE`, `SHOW` or `EXPLAIN` whose text
    /// shows no way to write (no `EXPLAIN ANALYZE`, `SELECT .. INTO`,
    /// `FOR UPDATE`/`FOR SHARE`, or data-modifying `WITH`), whatever its
    /// comments, case or spacing. Everything else is `Write`. The text
    /// cannot show whether a function it calls writes: see
    /// [`Executor::query_read`] for how the server settles that.
    pub fn of_sql(sql: &str) -> OpKind {
        match crate::sql::classify(sql) {
            crate::sql::Sql::One(stmt) if stmt.proven_read() => OpKind::Read,
            _ => OpKind::Write,
        }
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for crate::pool::Db {}
    impl Sealed for crate::tx::Tx {}
}

/// A connection lent to one statement: owned from the pool, or borrowed
/// from a transaction.
#[doc(hidden)]
#[derive(Debug)]
// A short-lived stack value per statement; boxing the pooled object would
// cost an allocation on every statement.
#[allow(clippy::large_enum_variant)]
pub enum Conn<'a> {
    /// Checked out of the pool for this statement (autocommit).
    Pooled(Object),
    /// The connection of an open transaction.
    InTx(&'a ClientWrapper),
}

impl Deref for Conn<'_> {
    type Target = ClientWrapper;
    fn deref(&self) -> &ClientWrapper {
        match self {
            Conn::Pooled(o) => o,
            Conn::InTx(c) => c,
        }
    }
}

impl Conn<'_> {
    /// A pooled connection opened before `failed_at`.
    fn opened_before(&self, failed_at: Option<std::time::Instant>) -> bool {
        match (self, failed_at) {
            (Conn::Pooled(o), Some(at)) => Object::metrics(o).created < at,
            _ => false,
        }
    }

    /// Throws a pooled connection away instead of returning it to the pool.
    fn discard(self, db: &Db) {
        if let Conn::Pooled(o) = self {
            bump(&db.inner.counters.connections_discarded);
            drop(Object::take(o));
        }
    }
}

/// Something statements run on: [`Db`] or [`Tx`]. Sealed.
///
/// Every model operation and the raw-SQL methods below are generic over it,
/// so the same code runs in autocommit mode, in a transaction or in a savepoint.
pub trait Executor: Send + Sync + sealed::Sealed {
    #[doc(hidden)]
    fn __conn(&self) -> impl Future<Output = Result<Conn<'_>>> + Send;

    #[doc(hidden)]
    fn __db(&self) -> &Db;

    /// The client-side bound on one round trip of a statement, if any.
    #[doc(hidden)]
    fn __statement_bound(&self) -> Option<Duration> {
        self.__db().inner.config.statement_timeout.map(client_bound)
    }

    /// Marks a transaction's connection as being in an unknown state (a
    /// statement outlived its client-side bound): it must never be used again.
    #[doc(hidden)]
    fn __poison(&self) {}

    /// Whether statements run inside a transaction (`Tx`), not on a pooled
    /// connection in autocommit mode.
    #[doc(hidden)]
    fn __in_tx(&self) -> bool {
        false
    }

    /// A raw statement ran that the SQL guard cannot vouch for: the
    /// transaction's connection is checked before it returns to the pool.
    #[doc(hidden)]
    fn __check_session_at_end(&self) {}

    /// Makes the cache forget what a write changed: now on `Db`, after
    /// `COMMIT` on a transaction (and never if it rolls back).
    #[doc(hidden)]
    fn __invalidate(&self, inv: Invalidation) -> impl Future<Output = ()> + Send;

    /// A guard that invalidates `inv` even if the write's future is dropped
    /// half-way; `None` inside a transaction (a dropped transaction rolls back).
    #[doc(hidden)]
    fn __write_guard(&self, _inv: Invalidation) -> Option<crate::cache::WriteGuard> {
        None
    }

    /// Runs a statement and returns its rows. The statement is prepared once
    /// per connection and cached.
    ///
    /// Raw SQL is read by strata's SQL tokenizer first (comments, nesting,
    /// quotes and dollar quotes included), and refused with
    /// `Error::InvalidInput` before anything is sent when it is several
    /// statements, transaction control (`BEGIN`, `COMMIT`, .., and on `Db`
    /// also savepoints: use [`Db::transaction`]), or changes the session
    /// (`SET` other than `SET LOCAL`, `RESET`, `SET ROLE`, `LISTEN`,
    /// `PREPARE`, `CREATE TEMP ..`, ..: a pooled connection's session is
    /// shared with every later borrower). After a statement the tokenizer
    /// cannot vouch for (DDL, `CALL`, `DO`, a call of a function that is not
    /// a known built-in) the server is asked whether the connection is in a
    /// transaction or carries session state, and such a connection is
    /// closed rather than pooled (in a transaction: after it ends).
    ///
    /// Once sent, it is never repeated: if its connection dies before the
    /// answer, the result is `Error::OutcomeUnknown`, whatever the SQL.
    /// Even a `SELECT` can change data (`nextval`, advisory locks, a
    /// function that writes), and strata cannot tell. A read that is safe to
    /// repeat goes through [`Executor::query_read`] instead.
    fn query(
        &self,
        sql: &str,
        params: Params<'_>,
    ) -> impl Future<Output = Result<Vec<Row>>> + Send {
        async move {
            run_raw(self, sql, params, Declared::Any, Op::Query)
                .await
                .map(Output::rows)
        }
    }

    /// Runs a statement that must return exactly one row.
    ///
    /// Returns `Error::NotFound` when it returns none; extra rows are ignored.
    fn query_one(&self, sql: &str, params: Params<'_>) -> impl Future<Output = Result<Row>> + Send {
        async move {
            self.query_opt(sql, params)
                .await?
                .ok_or(Error::NotFound { what: "row" })
        }
    }

    /// Runs a statement and returns its first row, if any.
    fn query_opt(
        &self,
        sql: &str,
        params: Params<'_>,
    ) -> impl Future<Output = Result<Option<Row>>> + Send {
        async move { Ok(self.query(sql, params).await?.into_iter().next()) }
    }

    /// Runs a read the caller declares safe to repeat, and returns its rows.
    ///
    /// Outside a transaction, if its connection dies it is repeated once on
    /// a fresh connection, as model reads are (inside a transaction nothing
    /// is repeated per statement). Two guards make sure a repeated statement
    /// cannot write:
    /// - the text must be a single `SELECT`, `VALUES`, `TABLE`, `SHOW` or
    ///   `EXPLAIN` that [`OpKind::of_sql`] proves a read (no `EXPLAIN
    ///   ANALYZE`, `SELECT .. INTO`, `FOR UPDATE`, data-modifying `WITH`);
    ///   anything else is `Error::InvalidInput`, before anything is sent;
    /// - outside a transaction it runs inside `BEGIN READ ONLY` .. `COMMIT`
    ///   (pipelined: still one round trip), so the server refuses a function
    ///   that writes, or `nextval`, with SQLSTATE 25006.
    fn query_read(
        &self,
        sql: &str,
        params: Params<'_>,
    ) -> impl Future<Output = Result<Vec<Row>>> + Send {
        async move {
            run_raw(self, sql, params, Declared::Read, Op::Query)
                .await
                .map(Output::rows)
        }
    }

    /// [`Executor::query_read`] for exactly one row: `Error::NotFound` when
    /// it returns none.
    fn query_read_one(
        &self,
        sql: &str,
        params: Params<'_>,
    ) -> impl Future<Output = Result<Row>> + Send {
        async move {
            self.query_read_opt(sql, params)
                .await?
                .ok_or(Error::NotFound { what: "row" })
        }
    }

    /// [`Executor::query_read`] for the first row, if any.
    fn query_read_opt(
        &self,
        sql: &str,
        params: Params<'_>,
    ) -> impl Future<Output = Result<Option<Row>>> + Send {
        async move { Ok(self.query_read(sql, params).await?.into_iter().next()) }
    }

    /// Runs a statement and returns the number of rows it affected. Never
    /// repeated once sent, like [`Executor::query`].
    fn execute(&self, sql: &str, params: Params<'_>) -> impl Future<Output = Result<u64>> + Send {
        async move {
            run_raw(self, sql, params, Declared::Any, Op::Execute)
                .await
                .map(Output::count)
        }
    }
}

#[derive(Clone, Copy)]
enum Op {
    Query,
    /// At most one row (a lookup by primary key): no `Vec` to allocate.
    QueryOpt,
    Execute,
}

enum Output {
    Rows(Vec<Row>),
    Row(Option<Row>),
    Count(u64),
}

// Each `Op` has one `Output`: `Query` rows, `QueryOpt` a row, `Execute` a
// count. The accessors are for the caller that chose the `Op`.
impl Output {
    fn rows(self) -> Vec<Row> {
        match self {
            Output::Rows(rows) => rows,
            _ => unreachable!("Op::Query returns rows"),
        }
    }

    fn row(self) -> Option<Row> {
        match self {
            Output::Row(row) => row,
            _ => unreachable!("Op::QueryOpt returns at most one row"),
        }
    }

    fn count(self) -> u64 {
        match self {
            Output::Count(n) => n,
            _ => unreachable!("Op::Execute returns a count"),
        }
    }
}

/// Runs a statement that returns at most one row (a primary-key lookup).
pub(crate) async fn run_query_opt<E: Executor + ?Sized>(
    e: &E,
    sql: &str,
    params: Params<'_>,
    kind: OpKind,
) -> Result<Option<Row>> {
    run(e, sql, params, kind, Op::QueryOpt, Plan::default())
        .await
        .map(Output::row)
}

/// Runs a query with an explicit [`OpKind`]. Used by generated model code,
/// which knows whether each statement reads.
#[doc(hidden)]
pub(crate) async fn run_query<E: Executor + ?Sized>(
    e: &E,
    sql: &str,
    params: Params<'_>,
    kind: OpKind,
) -> Result<Vec<Row>> {
    run(e, sql, params, kind, Op::Query, Plan::default())
        .await
        .map(Output::rows)
}

/// Runs a statement with an explicit [`OpKind`] and returns the affected row count.
#[doc(hidden)]
pub(crate) async fn run_execute<E: Executor + ?Sized>(
    e: &E,
    sql: &str,
    params: Params<'_>,
    kind: OpKind,
) -> Result<u64> {
    run(e, sql, params, kind, Op::Execute, Plan::default())
        .await
        .map(Output::count)
}

/// Raw SQL from the caller: checked by [`crate::raw::plan`] before
/// anything is sent, then run like a model statement, with the plan's
/// read-only wrapper and session probe.
async fn run_raw<E: Executor + ?Sized>(
    e: &E,
    sql: &str,
    params: Params<'_>,
    declared: Declared,
    op: Op,
) -> Result<Output> {
    let plan = counted(e, crate::raw::plan(sql, declared, e.__in_tx()))?;
    if plan.probe {
        e.__check_session_at_end();
    }
    let kind = match declared {
        Declared::Read => OpKind::Read,
        Declared::Any => OpKind::Write,
    };
    run(e, sql, params, kind, op, plan).await
}

async fn run<E: Executor + ?Sized>(
    e: &E,
    sql: &str,
    params: Params<'_>,
    kind: OpKind,
    op: Op,
    plan: Plan,
) -> Result<Output> {
    let span = tracing::info_span!(
        "db.statement",
        db.system = "postgresql",
        db.statement = sql,
        db.operation = crate::observe::operation(sql),
    );
    let started = std::time::Instant::now();
    // Entering and leaving a span nobody listens to, on every poll, is pure
    // overhead: instrument only when a subscriber wants the span.
    let result = if span.is_disabled() {
        run_inner(e, sql, params, kind, op, plan).await
    } else {
        run_inner(e, sql, params, kind, op, plan)
            .instrument(span)
            .await
    };
    let rows = match &result {
        Ok(Output::Rows(rows)) => rows.len() as u64,
        Ok(Output::Row(row)) => u64::from(row.is_some()),
        Ok(Output::Count(n)) => *n,
        Err(_) => 0,
    };
    e.__db()
        .inner
        .observer
        .statement(sql, params.len(), started.elapsed(), rows, result.is_ok());
    result
}

async fn run_inner<E: Executor + ?Sized>(
    e: &E,
    sql: &str,
    params: Params<'_>,
    kind: OpKind,
    op: Op,
    plan: Plan,
) -> Result<Output> {
    let db = e.__db();
    let counters = &db.inner.counters;
    bump(&counters.queries);
    // Every failure counts, the ones before anything is sent included
    // (breaker open, pool exhausted, connect timeout): they are what the
    // caller sees.
    let result = attempt(e, db, sql, params, kind, op, plan).await;
    if let Err(err) = &result {
        counters.failed(err);
    }
    result
}

async fn attempt<E: Executor + ?Sized>(
    e: &E,
    db: &Db,
    sql: &str,
    params: Params<'_>,
    kind: OpKind,
    op: Op,
    plan: Plan,
) -> Result<Output> {
    let counters = &db.inner.counters;
    if params.len() > MAX_PARAMS {
        return Err(Error::InvalidInput {
            reason: format!(
                "{} parameters; the PostgreSQL protocol carries at most {MAX_PARAMS}",
                params.len()
            ),
        });
    }
    if sql.len() > MAX_SQL_BYTES {
        return Err(Error::InvalidInput {
            reason: format!(
                "a {} byte statement; PostgreSQL accepts at most {MAX_SQL_BYTES} bytes of SQL \
                 in one message (pass large values as parameters)",
                sql.len()
            ),
        });
    }
    let bound = e.__statement_bound();
    // Dead pooled connections found before sending cost nothing to skip, but
    // bound the loop in case every new connection dies at once.
    let mut skips = db.inner.config.pool_max + 2;
    let mut retried = false;
    // When a read's connection died. A kill or a restart takes every backend
    // at once, but the client learns of each death only when it next reads
    // that socket: an idle connection opened before the failure may be just
    // as dead and still look open. The retry goes to one opened after it.
    let mut failed_at = None;
    loop {
        let mut conn = Lent::new(e.__conn().await?, db);
        let pooled = matches!(*conn, Conn::Pooled(_));
        if pooled && skips > 0 && (conn.is_closed() || conn.opened_before(failed_at)) {
            skips -= 1;
            conn.take().discard(db);
            continue;
        }
        // Preparing has no side effects: a connection lost here is retried
        // like a closed one.
        let prepared = bounded(bound, pin!(conn.prepare_cached(sql))).await;
        let stmt = match prepared {
            Ok(Ok(stmt)) => stmt,
            Err(elapsed) => {
                // Preparing never writes: a plain statement timeout.
                abandon(e, conn.take(), db);
                return Err(elapsed);
            }
            Ok(Err(err)) => {
                let err = Error::from_pg(err);
                if pooled && err.is_connection() && skips > 0 {
                    skips -= 1;
                    conn.take().discard(db);
                    continue;
                }
                return Err(err);
            }
        };
        if stmt.params().len() != params.len() {
            return Err(Error::InvalidInput {
                reason: format!(
                    "the statement takes {} parameters, {} were given",
                    stmt.params().len(),
                    params.len()
                ),
            });
        }
        if let Some(i) = crate::sql::values::nul_param(stmt.params(), params) {
            return Err(nul_refused(sql, i));
        }
        // From here the session may change (a statement the guard cannot
        // vouch for): if this future is dropped before the probe says the
        // session is clean, the connection is closed, not pooled.
        conn.armed = plan.probe && pooled;
        let sent = if plan.read_only && pooled {
            bounded(bound, pin!(read_only(&conn, &stmt, params, op))).await
        } else {
            bounded(bound, pin!(send(&conn, &stmt, params, op))).await
        };
        let sent = match sent {
            Ok(sent) => sent,
            Err(elapsed) => {
                let write = pooled && kind == OpKind::Write;
                abandon(e, conn.take(), db);
                return Err(if write {
                    Error::OutcomeUnknown {
                        source: "no answer within the client-side statement bound".into(),
                    }
                } else {
                    elapsed
                });
            }
        };
        match sent {
            Ok(out) => {
                if plan.probe && pooled {
                    keep_if_clean(conn, db, bound).await;
                }
                return Ok(out);
            }
            Err(err) => {
                let err = Error::from_pg(err);
                if !(pooled && err.is_connection()) {
                    if plan.probe && pooled {
                        keep_if_clean(conn, db, bound).await;
                    }
                    return Err(err);
                }
                conn.take().discard(db);
                match kind {
                    OpKind::Read if !retried => {
                        retried = true;
                        failed_at = Some(std::time::Instant::now());
                        bump(&counters.reads_retried);
                        continue;
                    }
                    OpKind::Read => return Err(err),
                    OpKind::Write => return Err(outcome_unknown(err)),
                }
            }
        }
    }
}

/// One round trip of a prepared statement.
async fn send(
    conn: &Conn<'_>,
    stmt: &tokio_postgres::Statement,
    params: Params<'_>,
    op: Op,
) -> std::result::Result<Output, tokio_postgres::Error> {
    Ok(match op {
        Op::Query => Output::Rows(conn.query(stmt, params).await?),
        Op::QueryOpt => Output::Row(conn.query_opt(stmt, params).await?),
        Op::Execute => Output::Count(conn.execute(stmt, params).await?),
    })
}

/// A declared read on a pooled connection, where the server enforces it:
/// `BEGIN READ ONLY`, the statement and `COMMIT` go out in one write and
/// come back in one round trip. A function that writes fails with 25006.
///
/// Cancellation cannot leave the connection inside the transaction: the
/// three requests are queued together on the first poll, and the
/// connection task sends all of them whether or not this future lives on.
async fn read_only(
    conn: &Conn<'_>,
    stmt: &tokio_postgres::Statement,
    params: Params<'_>,
    op: Op,
) -> std::result::Result<Output, tokio_postgres::Error> {
    let (begun, out, committed) = futures_util::future::join3(
        conn.batch_execute("BEGIN READ ONLY"),
        send(conn, stmt, params, op),
        conn.batch_execute("COMMIT"),
    )
    .await;
    begun?;
    let out = out?;
    committed?;
    Ok(out)
}

/// After a raw statement the SQL guard could not vouch for: the server says
/// whether the connection may go back to the pool; if not (or if it cannot
/// say, or this future is dropped first), the connection is closed.
async fn keep_if_clean(mut conn: Lent<'_, '_>, db: &Db, bound: Option<Duration>) {
    let login = db.inner.config.get_user();
    let clean = bounded(bound, pin!(crate::raw::session_is_clean(&conn, login))).await;
    if matches!(clean, Ok(Ok(true))) {
        conn.armed = false;
    } else {
        tracing::debug!("a raw statement changed the session; closing its connection");
    }
}

/// The connection one statement runs on. While `armed`, dropping it
/// (an error path, or the caller dropping the future) closes a pooled
/// connection instead of pooling it.
struct Lent<'c, 'd> {
    conn: Option<Conn<'c>>,
    db: &'d Db,
    armed: bool,
}

impl<'c, 'd> Lent<'c, 'd> {
    fn new(conn: Conn<'c>, db: &'d Db) -> Self {
        Lent {
            conn: Some(conn),
            db,
            armed: false,
        }
    }

    /// The connection, to discard or abandon by hand.
    fn take(&mut self) -> Conn<'c> {
        self.conn.take().expect("a lent connection is taken once")
    }
}

impl<'c> Deref for Lent<'c, '_> {
    type Target = Conn<'c>;
    fn deref(&self) -> &Conn<'c> {
        self.conn
            .as_ref()
            .expect("a lent connection is used before it is taken")
    }
}

impl Drop for Lent<'_, '_> {
    fn drop(&mut self) {
        if self.armed
            && let Some(conn) = self.conn.take()
        {
            conn.discard(self.db);
        }
    }
}

/// The PostgreSQL protocol's limit on bind parameters (a 16-bit count).
pub(crate) const MAX_PARAMS: usize = 65_535;

/// The largest message PostgreSQL reads (`PQ_LARGE_MESSAGE_LIMIT`, 1 GiB
/// less the allocator's slack), less the message header and the statement
/// name: SQL longer than this is refused before it is sent.
pub(crate) const MAX_SQL_BYTES: usize = (1 << 30) - 64;

/// The client-side bound for a server-side `statement_timeout`: a margin
/// (5%, at most 250 ms) lets the server's own 57014 arrive first when the
/// network works.
pub(crate) fn client_bound(timeout: Duration) -> Duration {
    timeout + (timeout / 20).min(Duration::from_millis(250))
}

/// Runs one round trip under `bound`; `Err` is the statement timeout.
///
/// The timer is armed only if the first poll does not finish the work: a
/// statement already prepared on this connection comes back at once, and
/// registering and cancelling a timer for it cost more than the lookup.
/// Callers pass a pinned reference (`pin!(..)`) so the round trip's future
/// is built in place rather than moved into the timer's.
pub(crate) async fn bounded<T>(
    bound: Option<Duration>,
    fut: impl Future<Output = T>,
) -> std::result::Result<T, Error> {
    let mut fut = std::pin::pin!(fut);
    let Some(limit) = bound else {
        return Ok(fut.await);
    };
    let first = std::future::poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await;
    if let Poll::Ready(out) = first {
        return Ok(out);
    }
    tokio::time::timeout(limit, fut)
        .await
        .map_err(|_| Error::Timeout {
            kind: TimeoutKind::Statement,
            source: None,
        })
}

/// A connection whose statement outlived the client-side bound: its state
/// is unknown. A pooled one is discarded; a transaction's is poisoned.
pub(crate) fn abandon<E: Executor + ?Sized>(e: &E, conn: Conn<'_>, db: &Db) {
    match conn {
        Conn::Pooled(_) => conn.discard(db),
        Conn::InTx(_) => e.__poison(),
    }
}

/// A text or `jsonb` parameter holding a NUL: refused before sending,
/// naming the column it binds where the SQL says.
pub(crate) fn nul_refused(sql: &str, index: usize) -> Error {
    let n = u32::try_from(index + 1).unwrap_or(u32::MAX);
    let what = match crate::sql::values::column_of(sql, n) {
        Some(column) => format!("column `{column}` (parameter ${n})"),
        None => format!("parameter ${n}"),
    };
    Error::InvalidInput {
        reason: format!(
            "the value for {what} holds a NUL character (\\0 or \\u0000), which PostgreSQL \
             cannot store in text or jsonb; remove it, or store the value as bytea"
        ),
    }
}

/// Counts input refused before a statement was built (a foreign cursor,
/// page 0, ..) as a failed statement, as the executor counts its own.
pub(crate) fn counted<E: Executor + ?Sized, T>(e: &E, result: Result<T>) -> Result<T> {
    if let Err(err) = &result {
        let counters = &e.__db().inner.counters;
        bump(&counters.queries);
        counters.failed(err);
    }
    result
}

/// A connection failure after a write was sent: the write may have applied.
pub(crate) fn outcome_unknown(err: Error) -> Error {
    match err {
        Error::Connection { source } => Error::OutcomeUnknown { source },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::OpKind::{self, *};

    #[test]
    fn classifies_raw_sql() {
        for (sql, kind) in [
            ("SELECT 1", Read),
            ("  select * from t", Read),
            ("(SELECT 1) UNION (SELECT 2)", Read),
            ("SHOW search_path", Read),
            ("VALUES (1)", Read),
            ("EXPLAIN SELECT 1", Read),
            ("EXPLAIN ANALYZE DELETE FROM t", Write),
            (
                "WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x",
                Write,
            ),
            ("INSERT INTO t VALUES (1) RETURNING id", Write),
            ("UPDATE t SET a = 1", Write),
            ("selectx", Write),
            ("", Write),
        ] {
            assert_eq!(OpKind::of_sql(sql), kind, "{sql}");
        }
    }
}
