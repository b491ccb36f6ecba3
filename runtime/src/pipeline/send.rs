//! The **send** stage: one bounded round trip on a connection.
//!
//! Client-side bound: the server's `statement_timeout` cannot help when the
//! network is silent (its cancel never arrives), so every round trip is also
//! bounded on the client, at the configured statement timeout plus a small
//! margin ([`client_bound`]). Past it the connection is in an unknown state:
//! the caller discards a pooled one and poisons a transaction's.

use std::future::Future;
use std::task::Poll;
use std::time::Duration;

use tokio_postgres::Statement;
use tokio_postgres::binary_copy::BinaryCopyInWriter;

use super::conn::Conn;
use super::{CopyRows, Op, Output, Request};
use crate::error::{Error, TimeoutKind};

type PgResult<T> = std::result::Result<T, tokio_postgres::Error>;

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

/// One round trip of a prepared statement (or of a `COPY` and its rows).
pub(super) async fn send(conn: &Conn<'_>, stmt: &Statement, req: Request<'_>) -> PgResult<Output> {
    let Request { sql, params, .. } = req;
    Ok(match req.op {
        Op::Query => Output::Rows(conn.query(stmt, params).await?),
        Op::QueryOpt => Output::Row(conn.query_opt(stmt, params).await?),
        Op::Execute => Output::Count(conn.execute(stmt, params).await?),
        // Boxed: a COPY's writer state would otherwise widen every
        // statement's future, on the hot path, for the rare bulk insert.
        Op::Copy(rows) => Output::Count(Box::pin(copy(conn, stmt, sql, rows)).await?),
    })
}

/// A binary `COPY .. FROM STDIN`: `stmt` is the single-row insert, prepared
/// only for its column types.
async fn copy(conn: &Conn<'_>, stmt: &Statement, sql: &str, rows: &dyn CopyRows) -> PgResult<u64> {
    let sink = conn.copy_in(sql).await?;
    let writer = BinaryCopyInWriter::new(sink, stmt.params());
    let mut writer = std::pin::pin!(writer);
    for i in 0..rows.len() {
        writer.as_mut().write(&rows.row(i)).await?;
    }
    writer.finish().await
}

/// A statement inside a transaction of its own on a pooled connection:
/// `BEGIN`, the statement and `COMMIT` go out in one write and come back in
/// one round trip. Two reasons to wrap one:
/// - a declared read, where the server enforces it (`BEGIN READ ONLY`): a
///   function that writes fails with 25006;
/// - a tenant's statement under row-level security: `BEGIN` is followed by
///   `set_config('app.tenant_id', .., true)`, which ends with the
///   transaction, so the pooled connection never carries the tenant on.
///
/// Cancellation cannot leave the connection inside the transaction: the
/// three requests are queued together on the first poll, and the
/// connection task sends all of them whether or not this future lives on.
pub(super) async fn wrapped(
    conn: &Conn<'_>,
    stmt: &Statement,
    req: Request<'_>,
    actor: &str,
) -> PgResult<Output> {
    let begin = if req.plan.read_only {
        "BEGIN READ ONLY"
    } else {
        "BEGIN"
    };
    let begin = match (req.set_local, actor) {
        (None, "") => std::borrow::Cow::Borrowed(begin),
        (set, actor) => std::borrow::Cow::Owned(format!("{begin}{}{actor}", set.unwrap_or(""))),
    };
    let (begun, out, committed) = futures_util::future::join3(
        conn.batch_execute(&begin),
        send(conn, stmt, req),
        conn.batch_execute("COMMIT"),
    )
    .await;
    begun?;
    let out = out?;
    committed?;
    Ok(out)
}
