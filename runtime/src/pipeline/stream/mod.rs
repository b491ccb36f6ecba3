//! Streaming a statement's rows ([`RowStream`]): the **acquire**, **send**
//! and **observe** stages for a read whose rows are handed to the caller as
//! they arrive, never collected, so memory stays flat however many rows.
//!
//! Why `query_raw`, not a portal: tokio-postgres stops reading a socket while a request's one-batch
//! channel is full, so TCP pauses the server; a portal needs a `Transaction`, which a `Tx` lacks.
//!
//! The stages as a stream runs them:
//! - guard: raw SQL is checked as `query_read` checks it (`Declared::Read`):
//!   a write is `Error::InvalidInput` before anything is sent;
//! - acquire: a pooled connection (dead ones skipped before sending; a
//!   connection lost before the first row is retried once, as a read), or
//!   the transaction's;
//! - send: on a pooled connection a raw stream runs inside `BEGIN READ ONLY`
//!   .. `COMMIT` (and a tenant's under row-level security inside `BEGIN`,
//!   `set_config` .. `COMMIT`), all three queued in one write; each wait for
//!   the next rows is bounded by the client-side statement bound;
//! - observe: one span, one query in `db.metrics()` (a failure counts as
//!   one), one history entry when the stream ends, fails or is dropped.
//!
//! Dropped before its end, a stream's pooled connection is closed, never
//! pooled: it may be inside the `BEGIN` with rows still on the wire.
//! Inside a transaction the connection stays the transaction's: the driver
//! reads and discards the rest of the rows before the next statement.

mod open;
mod typed;

pub use typed::FromRowStream;

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use futures_util::{Stream, StreamExt};
use tokio_postgres::{Row, SimpleQueryStream};

use super::conn::Lent;
use crate::error::{Error, Result, TimeoutKind};
use crate::observe::counters::RoundTrip;
use crate::pool::Db;

pub(crate) use open::{stream_query, stream_raw};

/// The rows of one statement, read as they arrive: a
/// [`Stream`](futures_util::Stream) of `Result<Row>`, from
/// [`Executor::fetch_stream`](crate::Executor::fetch_stream).
///
/// It borrows the handle it runs on (a `Db`'s pooled connection is held
/// until the stream ends or is dropped; a `Tx`'s stream runs on the
/// transaction's connection). An error ends it: the `Err` item is the last.
/// Dropping it early is fine (see
/// [`Executor::fetch_stream`](crate::Executor::fetch_stream)).
pub struct RowStream<'a> {
    /// The driver's rows; `None` once they ended.
    rows: Option<Pin<Box<tokio_postgres::RowStream>>>,
    /// The `COMMIT` queued behind the statement on a pooled connection.
    commit: Option<Pin<Box<SimpleQueryStream>>>,
    /// The connection: armed (closed if dropped) while rows may be in flight.
    conn: Option<Lent<'a, 'a>>,
    db: &'a Db,
    /// Marks a transaction's connection unusable (no answer within the bound).
    poison: Option<Box<dyn Fn() + Send + Sync + 'a>>,
    /// The pooled connection ran SQL the guard cannot vouch for: closed at the end.
    close_at_end: bool,
    bound: Option<Duration>,
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    waiting: bool,
    span: tracing::Span,
    sql: Box<str>,
    /// The model's name (`""`: raw SQL), for the metrics.
    model: &'static str,
    params: usize,
    started: Instant,
    seen: u64,
    /// The statement was recorded in the metrics and history.
    recorded: bool,
}

impl fmt::Debug for RowStream<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RowStream")
            .field("sql", &self.sql)
            .field("rows_read", &self.seen)
            .field("done", &self.recorded)
            .finish_non_exhaustive()
    }
}

impl RowStream<'_> {
    /// How many rows the stream has yielded so far.
    pub fn rows_read(&self) -> u64 {
        self.seen
    }

    /// Records the statement once: its round trip, its failure if any,
    /// its latency and history entry.
    fn record(&mut self, failure: Option<&Error>) {
        if std::mem::replace(&mut self.recorded, true) {
            return;
        }
        let counters = &self.db.inner.counters;
        counters.round_trip(RoundTrip::Statement, failure.is_none());
        if let Some(err) = failure {
            counters.failed(err);
        }
        self.db.inner.observer.statement(
            self.model,
            &self.sql,
            self.params,
            self.started.elapsed(),
            self.seen,
            failure.is_none(),
        );
    }

    /// The stream ended cleanly: the connection goes back to the pool (or
    /// is closed after SQL the guard could not vouch for).
    fn finish(&mut self) -> Poll<Option<Result<Row>>> {
        self.rows = None;
        self.commit = None;
        if let Some(mut lent) = self.conn.take() {
            lent.armed = self.close_at_end;
        }
        self.record(None);
        Poll::Ready(None)
    }

    /// The stream failed: `err` is its last item. `abandoned`: no answer
    /// came within the client-side bound, so the connection's state is
    /// unknown.
    fn fail(&mut self, err: Error, abandoned: bool) -> Poll<Option<Result<Row>>> {
        self.rows = None;
        self.commit = None;
        if let Some(mut lent) = self.conn.take() {
            match (&err, self.poison.take()) {
                (_, Some(poison)) if abandoned => poison(),
                // Lost, or in an unknown state: never pooled.
                (Error::Connection { .. }, _) => lent.take().discard(self.db),
                _ if abandoned => lent.take().discard(self.db),
                // A statement error: the server ended the statement (and the
                // queued `COMMIT` ends its transaction) before anything a
                // later borrower sends, so the connection is clean.
                _ => lent.armed = self.close_at_end,
            }
        }
        self.record(Some(&err));
        Poll::Ready(Some(Err(err)))
    }

    /// The client-side bound on one wait for the driver: `Err` when it passed.
    fn waited(&mut self, cx: &mut Context<'_>) -> std::result::Result<(), Error> {
        let Some(bound) = self.bound else {
            return Ok(());
        };
        let deadline = tokio::time::Instant::now() + bound;
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if !self.waiting {
            self.waiting = true;
            timer.as_mut().reset(deadline);
        }
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Err(Error::Timeout {
                kind: TimeoutKind::Statement,
                source: None,
            }),
            Poll::Pending => Ok(()),
        }
    }

    fn poll_rows(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Row>>> {
        loop {
            let polled = match (&mut self.rows, &mut self.commit) {
                (Some(rows), _) => match rows.as_mut().poll_next(cx) {
                    Poll::Ready(None) => {
                        self.rows = None;
                        continue;
                    }
                    Poll::Ready(Some(Ok(row))) => {
                        self.waiting = false;
                        self.seen += 1;
                        return Poll::Ready(Some(Ok(row)));
                    }
                    other => other.map(|r| r.map(|r| r.map(drop))),
                },
                (None, Some(commit)) => commit
                    .as_mut()
                    .poll_next(cx)
                    .map(|m| m.map(|m| m.map(drop))),
                (None, None) => return self.finish(),
            };
            match polled {
                Poll::Ready(Some(Ok(()))) => self.waiting = false,
                Poll::Ready(None) => return self.finish(),
                Poll::Ready(Some(Err(err))) => return self.fail(Error::from_pg(err), false),
                Poll::Pending => {
                    if let Err(elapsed) = self.waited(cx) {
                        return self.fail(elapsed, true);
                    }
                    return Poll::Pending;
                }
            }
        }
    }
}

impl Stream for RowStream<'_> {
    type Item = Result<Row>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Row>>> {
        let this = &mut *self;
        if this.recorded {
            return Poll::Ready(None);
        }
        if this.span.is_disabled() {
            return this.poll_rows(cx);
        }
        let span = this.span.clone();
        let _entered = span.enter();
        this.poll_rows(cx)
    }
}

impl Drop for RowStream<'_> {
    fn drop(&mut self) {
        // Dropped before its end: not a failure the caller saw. The armed
        // connection closes as `Lent` drops.
        self.record(None);
    }
}

/// A stream's rows decoded one at a time: a [`Stream`](futures_util::Stream)
/// of `Result<M>`, from [`Query::stream`](crate::Query::stream).
///
/// A row that does not decode is an `Err` item and ends the stream, as a
/// failed statement does.
pub struct ModelStream<'a, M> {
    rows: RowStream<'a>,
    decode: fn(&Row) -> Result<M>,
    failed: bool,
}

impl<M> fmt::Debug for ModelStream<'_, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModelStream")
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}

impl<M> ModelStream<'_, M> {
    /// How many rows the stream has read so far.
    pub fn rows_read(&self) -> u64 {
        self.rows.rows_read()
    }
}

impl<'a> RowStream<'a> {
    /// Decodes every row with `decode`.
    pub(crate) fn decoded<M>(self, decode: fn(&Row) -> Result<M>) -> ModelStream<'a, M> {
        ModelStream {
            rows: self,
            decode,
            failed: false,
        }
    }
}

impl<M> Stream for ModelStream<'_, M> {
    type Item = Result<M>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<M>>> {
        let this = &mut *self;
        if this.failed {
            return Poll::Ready(None);
        }
        let decoded = match ready!(this.rows.poll_next_unpin(cx)) {
            None => return Poll::Ready(None),
            Some(row) => row.and_then(|row| (this.decode)(&row)),
        };
        this.failed = decoded.is_err();
        Poll::Ready(Some(decoded))
    }
}
