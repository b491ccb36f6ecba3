//! Opening a stream: the guard, the scope stage, acquire and send, up to
//! the server's acceptance of the statement (its `BindComplete`), after
//! which [`RowStream`] reads the rows.

use std::pin::Pin;
use std::time::Instant;

use futures_util::StreamExt;
use tokio_postgres::{SimpleQueryStream, Statement};

use super::RowStream;
use crate::error::{Error, Result};
use crate::executor::{Executor, OpKind, Params};
use crate::observe::counters::{RoundTrip, bump};
use crate::pipeline::attempt::abandon;
use crate::pipeline::conn::{Conn, Lent};
use crate::pipeline::guard::{self, Declared};
use crate::pipeline::limits::{check_count, check_sizes, counted, nul_refused};
use crate::pipeline::send::bounded;
use crate::pipeline::{Around, Audited, Op, Request, round_trip};
use crate::pool::Db;

/// Raw SQL as a stream: checked as a declared read (`query_read`), then
/// run with the plan's read-only wrapper on a pooled connection.
pub(crate) async fn stream_raw<'e, E: Executor + ?Sized>(
    e: &'e E,
    sql: &str,
    params: Params<'_>,
) -> Result<RowStream<'e>> {
    let plan = counted(e, guard::plan(sql, Declared::Read, e.__in_tx()))?;
    if plan.probe {
        e.__check_session_at_end();
    }
    let req = Request {
        sql,
        params,
        kind: OpKind::Read,
        op: Op::Query,
        plan,
        set_local: None,
        audited: Audited::No,
        model: "",
    }
    .scoped(e, Around::read("", true));
    open(e, req).await
}

/// A model's read as a stream; `around` says whether the tenant is set.
pub(crate) async fn stream_query<'e, E: Executor + ?Sized>(
    e: &'e E,
    sql: &str,
    params: Params<'_>,
    around: Around,
) -> Result<RowStream<'e>> {
    let req = Request::model(sql, params, OpKind::Read, Op::Query).scoped(e, around);
    open(e, req).await
}

/// The observe stage around [`start`]: the query is counted now, a failure
/// to start here, and the rest when the stream ends.
async fn open<'e, E: Executor + ?Sized>(e: &'e E, req: Request<'_>) -> Result<RowStream<'e>> {
    let db = e.__db();
    let started = Instant::now();
    bump(&db.inner.counters.queries);
    let span = round_trip::span(&db.inner.target, req.sql, RoundTrip::Statement);
    let opened = if span.is_disabled() {
        start(e, db, req).await
    } else {
        tracing::Instrument::instrument(start(e, db, req), span.clone()).await
    };
    let poison: Option<Box<dyn Fn() + Send + Sync + 'e>> = match e.__in_tx() {
        true => Some(Box::new(move || e.__poison())),
        false => None,
    };
    let mut stream = RowStream {
        rows: None,
        commit: None,
        conn: None,
        db,
        poison,
        close_at_end: req.plan.probe && !e.__in_tx(),
        bound: e.__statement_bound(),
        timer: None,
        waiting: false,
        span,
        sql: req.sql.into(),
        model: req.model,
        params: req.params.len(),
        started,
        seen: 0,
        recorded: false,
    };
    match opened {
        Ok(Started { conn, rows, commit }) => {
            stream.conn = Some(conn);
            stream.rows = Some(rows);
            stream.commit = commit;
            Ok(stream)
        }
        Err((err, sent)) => {
            if !sent {
                // Nothing reached the server: no round trip to count.
                stream.recorded = true;
                db.inner.counters.failed(&err);
                db.inner.observer.statement(
                    req.model,
                    req.sql,
                    req.params.len(),
                    started.elapsed(),
                    0,
                    false,
                );
            } else {
                stream.record(Some(&err));
            }
            Err(err)
        }
    }
}

/// A stream whose statement the server has accepted (its `BindComplete`
/// arrived): rows follow.
struct Started<'e> {
    conn: Lent<'e, 'e>,
    rows: Pin<Box<tokio_postgres::RowStream>>,
    commit: Option<Pin<Box<SimpleQueryStream>>>,
}

/// Acquire and send, with the retry rules of a read
/// ([`attempt`](super::attempt)): dead pooled connections are skipped
/// before sending, and one lost before any row is retried once on a
/// connection opened after the loss. The `bool` says whether the failure
/// came after the statement was sent.
async fn start<'e, E: Executor + ?Sized>(
    e: &'e E,
    db: &'e Db,
    req: Request<'_>,
) -> std::result::Result<Started<'e>, (Error, bool)> {
    let unsent = |err| (err, false);
    check_sizes(req.sql, req.params).map_err(unsent)?;
    let bound = e.__statement_bound();
    let mut skips = db.inner.config.pool_max + 2;
    let mut failed_at = None;
    loop {
        let mut conn = Lent::new(e.__conn(req.kind).await.map_err(unsent)?, db);
        let pooled = conn.is_pooled();
        if pooled && skips > 0 && (conn.is_closed() || conn.opened_before(failed_at)) {
            skips -= 1;
            conn.take().broke(db);
            continue;
        }
        let stmt = match bounded(bound, prepare(&conn, req.sql, req.params)).await {
            Ok(Ok(stmt)) => stmt,
            Ok(Err(err)) if pooled && err.is_connection() && skips > 0 => {
                skips -= 1;
                conn.take().broke(db);
                continue;
            }
            Ok(Err(err)) => return Err(unsent(err)),
            Err(elapsed) => {
                abandon(e, conn.take(), db);
                return Err(unsent(elapsed));
            }
        };
        // From here rows (and a `BEGIN`) may be on the wire: a pooled
        // connection dropped before the stream's end is closed.
        conn.armed = pooled;
        let wrap = pooled && (req.plan.read_only || req.set_local.is_some());
        let sent = bounded(bound, send(&conn, &stmt, req, wrap)).await;
        let err = match sent {
            Ok(Ok((rows, commit))) => return Ok(Started { conn, rows, commit }),
            Ok(Err(err)) => Error::from_pg(err),
            Err(elapsed) => {
                abandon(e, conn.take(), db);
                return Err((elapsed, true));
            }
        };
        if !(pooled && err.is_connection()) {
            // The statement was refused (or failed at once): its `COMMIT`
            // is queued behind it, so the connection is clean for the next
            // borrower. A transaction's connection stays the transaction's.
            conn.armed = false;
            return Err((err, true));
        }
        let failed = conn.failed_now();
        conn.take().broke(db);
        if failed_at.is_some() {
            return Err((err, true));
        }
        failed_at = Some(failed);
        bump(&db.inner.counters.reads_retried);
    }
}

/// Prepares the statement (cached per connection) and checks the values
/// against its parameter types, as every statement's prepare does.
async fn prepare(conn: &Conn<'_>, sql: &str, params: Params<'_>) -> Result<Statement> {
    let stmt = conn.prepare_cached(sql).await.map_err(Error::from_pg)?;
    check_count(stmt.params().len(), params.len())?;
    if let Some(i) = crate::sql::values::nul_param(stmt.params(), params) {
        return Err(nul_refused(sql, i));
    }
    Ok(stmt)
}

type Sent = (
    Pin<Box<tokio_postgres::RowStream>>,
    Option<Pin<Box<SimpleQueryStream>>>,
);

/// Sends the statement; `wrap`ped (pooled reads, tenants under row-level
/// security) `BEGIN [READ ONLY]` [+ the tenant], the statement and `COMMIT`
/// are queued together on the first poll, in that order, so the
/// connection task sends all three whether or not this future lives on,
/// and the server ends the transaction after the last row. Returns once
/// the server accepted the statement.
async fn send(
    conn: &Conn<'_>,
    stmt: &Statement,
    req: Request<'_>,
    wrap: bool,
) -> std::result::Result<Sent, tokio_postgres::Error> {
    let params = req.params.iter().copied();
    if !wrap {
        return Ok((Box::pin(conn.query_raw(stmt, params).await?), None));
    }
    let begin = match (req.plan.read_only, req.set_local) {
        (true, None) => std::borrow::Cow::Borrowed("BEGIN READ ONLY"),
        (false, None) => std::borrow::Cow::Borrowed("BEGIN"),
        (read_only, Some(set)) => {
            let begin = if read_only {
                "BEGIN READ ONLY"
            } else {
                "BEGIN"
            };
            std::borrow::Cow::Owned(format!("{begin}{set}"))
        }
    };
    let (begun, rows, commit) = futures_util::future::join3(
        conn.simple_query_raw(&begin),
        conn.query_raw(stmt, params),
        conn.simple_query_raw("COMMIT"),
    )
    .await;
    // `BEGIN`'s answer came before the statement's: already here.
    let mut begun = Box::pin(begun?);
    while let Some(message) = begun.next().await {
        message?;
    }
    Ok((Box::pin(rows?), Some(Box::pin(commit?))))
}
