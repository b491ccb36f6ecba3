//! [`Db::transaction`]: `BEGIN`, the closure, `COMMIT` or `ROLLBACK`, and
//! the whole-closure retry after a serialization failure or deadlock.

use std::future::Future;
use std::time::Duration;

use tracing::Instrument;

use crate::error::{Error, Result, TimeoutKind};
use crate::executor::handle::Handle;
use crate::observe::counters::RoundTrip;
use crate::observe::counters::bump;
use crate::pipeline::send::client_bound;
use crate::pool::Db;

use super::{Tx, TxOptions};

/// The span of one transaction call, its retries included: OpenTelemetry's
/// database names, `TRANSACTION` as the operation and the span's name,
/// where it was called from, and (at the end) how many attempts it took.
fn span(location: &'static std::panic::Location<'static>) -> tracing::Span {
    tracing::info_span!(
        "db.transaction",
        otel.name = "TRANSACTION",
        db.system.name = "postgresql",
        db.operation.name = "TRANSACTION",
        code.location = %location,
        db.transaction.attempts = tracing::field::Empty,
    )
}

impl Db {
    /// Runs `f` in a transaction: commits if it returns `Ok`, rolls back if
    /// it returns `Err`, panics, is cancelled or times out.
    ///
    /// On a serialization failure (40001) or deadlock (40P01), in a statement
    /// or at `COMMIT`, the whole closure runs again on a fresh transaction,
    /// after an exponential backoff with jitter, up to `max_retries` times
    /// (default: `DB_TX_MAX_RETRIES`, 10). The closure must therefore be
    /// safe to run more than once: keep side effects outside the database
    /// out of it. [`Tx::attempt`] says which run this is.
    ///
    /// Errors: the closure's own error; `Timeout` past `opts.timeout`;
    /// `OutcomeUnknown` if the connection died after `COMMIT` was sent.
    /// When the retries run out, the last attempt's `Serialization` or
    /// `Deadlock` error (logged as a warning with the attempt count, and
    /// recorded on the span as `db.transaction.attempts`).
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
        let span = span(location);
        let begin = opts.begin_sql();
        self.run_transaction(opts, begin, f, location, span.clone())
            .instrument(span)
    }

    /// [`Db::transaction`] with its own `BEGIN` batch (a scoped transaction
    /// appends its `set_config`).
    #[track_caller]
    pub(crate) fn transaction_with<T, F, Fut>(
        &self,
        opts: TxOptions,
        begin: String,
        f: F,
    ) -> impl Future<Output = Result<T>> + use<'_, T, F, Fut>
    where
        F: FnMut(Tx) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let location = std::panic::Location::caller();
        let span = span(location);
        self.run_transaction(opts, begin, f, location, span.clone())
            .instrument(span)
    }

    async fn run_transaction<T, F, Fut>(
        &self,
        opts: TxOptions,
        begin: String,
        mut f: F,
        location: &'static std::panic::Location<'static>,
        span: tracing::Span,
    ) -> Result<T>
    where
        F: FnMut(Tx) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let _lease = self.inner.leases.open(location);
        let max_retries = opts.max_retries.unwrap_or(self.inner.config.tx_max_retries);
        let counters = &self.inner.counters;
        let mut attempt = 0;
        loop {
            let result = self
                .attempt(&begin, opts.timeout, attempt + 1, &mut f)
                .await;
            span.record("db.transaction.attempts", attempt + 1);
            let err = match result {
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
                bump(&counters.tx_gave_up);
                tracing::warn!(
                    attempts = attempt + 1,
                    error = %err,
                    "transaction gave up: every attempt conflicted (raise TxOptions::max_retries or DB_TX_MAX_RETRIES, or reduce contention)"
                );
                return Err(err);
            }
            bump(counter);
            tracing::debug!(attempt, error = %err, "transaction conflict; retrying");
            self.inner.backoff.sleep(attempt).await;
            attempt += 1;
        }
    }

    /// One attempt: `BEGIN`, the closure, then `COMMIT` or `ROLLBACK`.
    async fn attempt<T, F, Fut>(
        &self,
        begin: &str,
        timeout: Option<Duration>,
        attempt: u32,
        f: &mut F,
    ) -> Result<T>
    where
        F: FnMut(Tx) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        // A BEGIN that failed, or never went out, is a failed statement.
        let failed = |err: Error| {
            bump(&self.inner.counters.queries);
            self.inner.counters.failed(&err);
            err
        };
        // Only a transaction inside `with_actor` pays for a new `BEGIN` text.
        let actor = super::actor::begin_suffix().map_err(failed)?;
        let begin: std::borrow::Cow<'_, str> = if actor.is_empty() {
            begin.into()
        } else {
            format!("{begin}{actor}").into()
        };
        let conn = self.acquire().await.map_err(failed)?;
        let bound = match (self.inner.config.statement_timeout, timeout) {
            (Some(s), Some(t)) => Some(client_bound(s.max(t))),
            (s, t) => s.or(t).map(client_bound),
        };
        let tx = Tx::open(conn, self.clone(), bound, attempt);
        tx.batch(RoundTrip::Begin, &begin).await.map_err(failed)?;
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
        let result = match result {
            Ok(value) => self.commit(&tx).await.map(|()| value),
            Err(err) => {
                tx.rollback().await;
                Err(err)
            }
        };
        tx.check_session().await;
        result
    }

    /// `COMMIT`, then the cache invalidations of the transaction's writes.
    async fn commit(&self, tx: &Tx) -> Result<()> {
        let pending = tx.take_pending();
        // Armed before COMMIT is sent: if the caller drops this future
        // after the commit, or the commit's outcome is unknown, the guards
        // still retire what it changed.
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
            return committed;
        }
        if committed.is_ok() {
            for inv in &pending {
                self.__invalidate(inv.clone()).await;
            }
            guards
                .into_iter()
                .for_each(crate::cache::WriteGuard::disarm);
        }
        committed
    }
}
