//! The **acquire**, **send**, **classify** and **retry** stages of one
//! statement: the loop that gets a connection, prepares, sends, and decides
//! what a failure means.
//!
//! Retry rules:
//! - Before sending, a pooled connection found closed is discarded and
//!   another taken: nothing was sent. So is one whose prepare failed on a
//!   lost connection (preparing has no side effects).
//! - A read (`OpKind::Read`) in autocommit mode that fails because its
//!   connection died is repeated once on a fresh connection: one opened
//!   after the failure (idle ones opened before it are discarded unused, as
//!   the fault that killed one backend may have killed them all unnoticed).
//! - A write in autocommit mode whose connection dies after it was sent is
//!   reported as [`Error::OutcomeUnknown`] and never repeated. So is one
//!   whose answer did not come within the client-side bound.
//! - A read on a replica that the replica refused as a standby (a conflict
//!   with recovery, a function a standby cannot run), whose connection died,
//!   or that got no answer within the bound, is repeated once on the
//!   primary; the replica is marked down for the last two.
//! - Inside a transaction nothing is repeated per statement; a lost
//!   connection means the server rolled the transaction back (`Connection`).

use std::pin::pin;
use std::time::Duration;

use tokio_postgres::Statement;
use tokio_postgres::types::ToSql;

use super::actor::{self, Carry};
use super::conn::{Conn, Lent};
use super::limits::{check_count, check_sizes, nul_in_copy, nul_refused};
use super::send::{bounded, send, wrapped};
use super::{Op, Output, Request};
use crate::error::{Error, Result};
use crate::executor::{Executor, OpKind};
use crate::observe::counters::bump;
use crate::pool::Db;

pub(super) async fn attempt<E: Executor + ?Sized>(
    e: &E,
    db: &Db,
    req: Request<'_>,
) -> Result<Output> {
    let Request { kind, plan, .. } = req;
    let counters = &db.inner.counters;
    // An audited write outside a transaction carries the actor in it or
    // around it (inside one, its `BEGIN` set it). Not a COPY, whose rows
    // cannot be pipelined before `COMMIT`: the model layer gives an audited
    // one a transaction.
    let carry = match e.__in_tx() {
        true => Carry::Nothing,
        false => actor::carry(&req)?,
    };
    let (actor_text, with_actor): (&str, Vec<&(dyn ToSql + Sync)>);
    let (req, actor) = match &carry {
        Carry::Nothing => (req, ""),
        Carry::Wrap(suffix) => (req, suffix.as_str()),
        Carry::Inline { sql, actor } => {
            actor_text = actor;
            with_actor = req
                .params
                .iter()
                .copied()
                .chain([&actor_text as _])
                .collect();
            (
                Request {
                    sql,
                    params: &with_actor,
                    ..req
                },
                "",
            )
        }
    };
    check_sizes(req.sql, req.params)?;
    let bound = e.__statement_bound();
    let round_trip = req.round_trip();
    // Dead pooled connections found before sending cost nothing to skip, but
    // bound the loop in case every new connection dies at once.
    let mut skips = db.inner.config.pool_max + 2;
    let mut retried = false;
    // When a read's connection died. A kill or a restart takes every backend
    // at once, but the client learns of each death only when it next reads
    // that socket: an idle connection opened before the failure may be just
    // as dead and still look open. The retry goes to one opened after it.
    let mut failed_at = None;
    // Set when a replica cancelled the read (a conflict with recovery):
    // it is asked again of the primary, where no replay can cancel it.
    let mut primary = false;
    loop {
        // `Write` asks for the primary's pool: the route stage only moves reads.
        let route = if primary { OpKind::Write } else { kind };
        let mut conn = Lent::new(e.__conn(route).await?, db);
        let pooled = conn.is_pooled();
        if pooled && skips > 0 && (conn.is_closed() || conn.opened_before(failed_at)) {
            skips -= 1;
            conn.take().broke(db);
            continue;
        }
        let on_replica = matches!(&*conn, Conn::Replica(..));
        let prepared = bounded(bound, pin!(prepare(&conn, req))).await;
        let stmt = match prepared {
            Ok(Ok(stmt)) => stmt,
            Ok(Err(err)) if pooled && err.is_connection() && skips > 0 => {
                skips -= 1;
                conn.take().broke(db);
                continue;
            }
            Ok(Err(err)) => return Err(err),
            // A replica that does not answer: down, and the read goes to
            // the primary (preparing never writes).
            Err(_) if on_replica && !retried => {
                conn.take().broke(db);
                (retried, primary) = (true, true);
                bump(&counters.reads_retried);
                continue;
            }
            Err(elapsed) => {
                // Preparing never writes: a plain statement timeout.
                abandon(e, conn.take(), db);
                return Err(elapsed);
            }
        };
        // From here the session may change (a statement the guard cannot
        // vouch for): if this future is dropped before the probe says the
        // session is clean, the connection is closed, not pooled.
        conn.armed = plan.probe && pooled;
        let sent = if pooled && (plan.read_only || req.set_local.is_some() || !actor.is_empty()) {
            bounded(bound, pin!(wrapped(&conn, &stmt, req, actor))).await
        } else {
            bounded(bound, pin!(send(&conn, &stmt, req))).await
        };
        counters.round_trip(round_trip, matches!(sent, Ok(Ok(_))));
        let sent = match sent {
            Ok(sent) => sent,
            Err(_) if on_replica && !retried => {
                conn.take().broke(db);
                (retried, primary) = (true, true);
                bump(&counters.reads_retried);
                continue;
            }
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
        let err = match sent {
            Ok(out) => {
                if plan.probe && pooled {
                    keep_if_clean(conn, db, bound).await;
                }
                return Ok(out);
            }
            Err(err) => Error::from_pg(err),
        };
        if on_replica && standby_refusal(&err) && !retried {
            // The connection is healthy: it goes back to the pool.
            (retried, primary) = (true, true);
            bump(&counters.reads_retried);
            continue;
        }
        if !(pooled && err.is_connection()) {
            if plan.probe && pooled {
                keep_if_clean(conn, db, bound).await;
            }
            return Err(err);
        }
        let failed = conn.failed_now();
        conn.take().broke(db);
        match kind {
            OpKind::Read if !retried => {
                retried = true;
                // A replica's failure sends the read to the primary, not to
                // another replica that the same fault may have taken.
                primary |= on_replica;
                failed_at = Some(failed);
                bump(&counters.reads_retried);
            }
            OpKind::Read => return Err(err),
            OpKind::Write => return Err(outcome_unknown(err)),
        }
    }
}

/// Prepares the statement (cached per connection) and checks the values
/// against its parameter types. No side effects: nothing is executed.
async fn prepare(conn: &Conn<'_>, req: Request<'_>) -> Result<Statement> {
    let Request { sql, params, .. } = req;
    let Op::Copy(rows) = req.op else {
        let stmt = conn.prepare_cached(sql).await.map_err(Error::from_pg)?;
        check_count(stmt.params().len(), params.len())?;
        if let Some(i) = crate::sql::values::nul_param(stmt.params(), params) {
            return Err(nul_refused(sql, i));
        }
        return Ok(stmt);
    };
    // A COPY's column types come from its single-row insert, which the
    // connection's statement cache holds after the first call. A NUL in
    // text would fail the whole COPY at the server (22021): find it first,
    // and name the row and column.
    let stmt = conn
        .prepare_cached(rows.insert_sql())
        .await
        .map_err(Error::from_pg)?;
    let types = stmt.params();
    if crate::sql::values::checks_any(types) {
        for i in 0..rows.len() {
            if let Some(c) = crate::sql::values::nul_param(types, &rows.row(i)) {
                return Err(nul_in_copy(i, rows.column(c)));
            }
        }
    }
    Ok(stmt)
}

/// After a raw statement the SQL guard could not vouch for: the server says
/// whether the connection may go back to the pool; if not (or if it cannot
/// say, or this future is dropped first), the connection is closed.
///
/// Boxed: the probe's future is about 5 KB, more than the rest of a
/// statement's state together, and only raw statements the guard cannot
/// vouch for run it. Inline, every statement's future would carry (and
/// move) those bytes.
async fn keep_if_clean(mut conn: Lent<'_, '_>, db: &Db, bound: Option<Duration>) {
    if Box::pin(super::guard::check_session(&conn, db, bound)).await {
        conn.armed = false;
    }
}

/// What a hot standby refuses that the primary would run: a read cancelled
/// for a conflict with recovery (40001, 40P01), or one a standby cannot do
/// (25006 read-only, 0A000 unsupported, 55000 not in this state: e.g.
/// `txid_current()`, an unlogged table, `pg_current_wal_lsn()`).
fn standby_refusal(err: &Error) -> bool {
    match err {
        Error::Serialization { .. } | Error::Deadlock { .. } => true,
        Error::Database { code, .. } => {
            matches!(code.code(), "25006" | "0A000" | "55000")
        }
        _ => false,
    }
}

/// A connection whose statement outlived the client-side bound: its state
/// is unknown. A pooled one is discarded; a transaction's is poisoned.
pub(super) fn abandon<E: Executor + ?Sized>(e: &E, conn: Conn<'_>, db: &Db) {
    match conn {
        Conn::Pooled(_) | Conn::Replica(..) => conn.broke(db),
        Conn::InTx(_) => e.__poison(),
    }
}

/// A connection failure after a write was sent: the write may have applied.
pub(crate) fn outcome_unknown(err: Error) -> Error {
    match err {
        Error::Connection { source } => Error::OutcomeUnknown { source },
        other => other,
    }
}
