//! The one trait every operation runs on: the pool handle ([`Db`]), a
//! transaction and a savepoint ([`Tx`]).
//!
//! The trait is sealed by a private supertrait ([`handle::Handle`]): the
//! statement pipeline ([`crate::pipeline`]) needs to know whether a
//! statement runs on a pooled connection in autocommit mode or inside a
//! transaction, where its connection comes from and where its cache
//! invalidations go, so only strata's own handles may implement it, and
//! none of that is public API. The retry rules, the client-side bound and
//! the input checks are the pipeline's (`runtime/src/pipeline/`).

use std::future::Future;

use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use crate::error::{Error, Result};
use crate::pipeline::{Declared, Op, Output, run_raw};
use crate::row::FromRow;
#[cfg(doc)]
use crate::{pool::Db, tx::Tx};

/// Statement parameters, as tokio-postgres takes them.
pub type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// An owned list of statement parameters (what the derive builds for a row).
pub type ParamList<'a> = Vec<&'a (dyn ToSql + Sync)>;

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

pub(crate) mod handle {
    //! What the pipeline asks of a handle: not public API.

    use std::future::Future;
    use std::time::Duration;

    use crate::cache::{Invalidation, WriteGuard};
    use crate::error::Result;
    use crate::pipeline::conn::Conn;
    use crate::pool::Db;

    /// The private supertrait of [`Executor`](super::Executor): only
    /// strata's handles implement it, so only they implement `Executor`.
    pub trait Handle {
        /// The connection a statement of `kind` runs on: a transaction's
        /// own, or (on `Db`) a pooled one, from a replica for a read the
        /// route stage sends there.
        fn __conn(&self, kind: super::OpKind) -> impl Future<Output = Result<Conn<'_>>> + Send;

        fn __db(&self) -> &Db;

        /// The client-side bound on one round trip of a statement, if any.
        fn __statement_bound(&self) -> Option<Duration> {
            self.__db()
                .inner
                .config
                .statement_timeout
                .map(crate::pipeline::send::client_bound)
        }

        /// Marks a transaction's connection as being in an unknown state (a
        /// statement outlived its client-side bound): it must never be used again.
        fn __poison(&self) {}

        /// Whether statements run inside a transaction (`Tx`), not on a pooled
        /// connection in autocommit mode.
        fn __in_tx(&self) -> bool {
            false
        }

        /// A raw statement ran that the SQL guard cannot vouch for: the
        /// transaction's connection is checked before it returns to the pool.
        fn __check_session_at_end(&self) {}

        /// Makes the cache forget what a write changed: now on `Db`, after
        /// `COMMIT` on a transaction (and never if it rolls back).
        fn __invalidate(&self, inv: Invalidation) -> impl Future<Output = ()> + Send;

        /// A guard that invalidates `inv` even if the write's future is dropped
        /// half-way; `None` inside a transaction (a dropped transaction rolls back).
        fn __write_guard(&self, _inv: Invalidation) -> Option<WriteGuard> {
            None
        }

        /// Whether a model `get` on this handle may join a batch of
        /// concurrent gets (`model::batch`): `Db` in autocommit, when
        /// configured.
        fn __batches_gets(&self) -> bool {
            false
        }

        /// The tenant a scoped handle's statements are scoped to.
        fn __tenant(&self) -> Option<&dyn crate::tenant::TenantParam> {
            None
        }

        /// Whether the connection already carries the tenant setting (a
        /// scoped transaction set it after `BEGIN`).
        fn __tenant_set(&self) -> bool {
            false
        }
    }
}

/// Something statements run on: [`Db`] or [`Tx`]. Sealed.
///
/// Every model operation and the raw-SQL methods below are generic over it,
/// so the same code runs in autocommit mode, in a transaction or in a savepoint.
pub trait Executor: Send + Sync + handle::Handle {
    /// Which tenants the handle's statements are scoped to:
    /// [`Unscoped`](crate::tenant::Unscoped) for `Db` and `Tx`,
    /// [`Scoped<T>`](crate::tenant::Scoped) for a `TenantDb<T>` and its
    /// transactions. A tenant model's operations compile only where it is
    /// `Scoped` (see [`crate::tenant`]).
    type Scope;

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
    /// Returns `Error::NotFound` when it returns none and
    /// `Error::TooManyRows` when it returns more, as tokio-postgres does.
    fn query_one(&self, sql: &str, params: Params<'_>) -> impl Future<Output = Result<Row>> + Send {
        async move {
            self.query_opt(sql, params)
                .await?
                .ok_or(Error::NotFound { what: "row" })
        }
    }

    /// Runs a statement that returns at most one row.
    ///
    /// Returns `Error::TooManyRows` when it returns more, as tokio-postgres
    /// does.
    fn query_opt(
        &self,
        sql: &str,
        params: Params<'_>,
    ) -> impl Future<Output = Result<Option<Row>>> + Send {
        async move { at_most_one(self, self.query(sql, params).await?) }
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
    /// it returns none, `Error::TooManyRows` when it returns more.
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

    /// [`Executor::query_read`] for at most one row: `Error::TooManyRows`
    /// when it returns more.
    fn query_read_opt(
        &self,
        sql: &str,
        params: Params<'_>,
    ) -> impl Future<Output = Result<Option<Row>>> + Send {
        async move { at_most_one(self, self.query_read(sql, params).await?) }
    }

    /// [`Executor::query`], each row decoded as `R` by column name
    /// ([`FromRow`], usually `#[derive(FromRow)]`). Columns are looked up
    /// once for all the rows; columns `R` does not read are ignored.
    ///
    /// A row that does not decode is `Error::Decode` naming the column: one
    /// the statement did not return (its source a
    /// [`MissingColumn`](crate::MissingColumn) listing the ones it did), a
    /// value of another type, or NULL for a field that is not an `Option`.
    /// No rows is `Ok` of none, whatever the columns.
    fn query_as<R: FromRow>(
        &self,
        sql: &str,
        params: Params<'_>,
    ) -> impl Future<Output = Result<Vec<R>>> + Send {
        async move { decoded(self, R::from_rows(&self.query(sql, params).await?)) }
    }

    /// [`Executor::query_one`] decoded as `R`, as [`Executor::query_as`] does.
    fn query_as_one<R: FromRow>(
        &self,
        sql: &str,
        params: Params<'_>,
    ) -> impl Future<Output = Result<R>> + Send {
        async move { decoded(self, R::decode_row(&self.query_one(sql, params).await?)) }
    }

    /// [`Executor::query_opt`] decoded as `R`, as [`Executor::query_as`] does.
    fn query_as_opt<R: FromRow>(
        &self,
        sql: &str,
        params: Params<'_>,
    ) -> impl Future<Output = Result<Option<R>>> + Send {
        async move {
            let row = self.query_opt(sql, params).await?;
            decoded(self, row.as_ref().map(R::decode_row).transpose())
        }
    }

    /// [`Executor::query_read`] (a read, repeated once on a fresh
    /// connection if its connection dies), decoded as `R` as
    /// [`Executor::query_as`] does.
    fn query_read_as<R: FromRow>(
        &self,
        sql: &str,
        params: Params<'_>,
    ) -> impl Future<Output = Result<Vec<R>>> + Send {
        async move { decoded(self, R::from_rows(&self.query_read(sql, params).await?)) }
    }

    /// [`Executor::query_read_one`] decoded as `R`.
    fn query_read_as_one<R: FromRow>(
        &self,
        sql: &str,
        params: Params<'_>,
    ) -> impl Future<Output = Result<R>> + Send {
        async move {
            decoded(
                self,
                R::decode_row(&self.query_read_one(sql, params).await?),
            )
        }
    }

    /// [`Executor::query_read_opt`] decoded as `R`.
    fn query_read_as_opt<R: FromRow>(
        &self,
        sql: &str,
        params: Params<'_>,
    ) -> impl Future<Output = Result<Option<R>>> + Send {
        async move {
            let row = self.query_read_opt(sql, params).await?;
            decoded(self, row.as_ref().map(R::decode_row).transpose())
        }
    }

    /// Runs a read and streams its rows as they arrive, in bounded memory
    /// however many there are: a [`RowStream`](crate::RowStream), a
    /// `Stream` of `Result<Row>`.
    ///
    /// The SQL is checked as [`Executor::query_read`] checks it (a write is
    /// `Error::InvalidInput` before anything is sent), and on a pooled
    /// connection it runs inside `BEGIN READ ONLY` .. `COMMIT`, so the
    /// server refuses a function that writes. Inside a transaction it runs
    /// on the transaction's connection and borrows the transaction.
    ///
    /// The stream counts as one query in `db.metrics()`, a failure as one.
    /// A failure mid-stream (the statement fails, the connection is lost:
    /// `Error::Connection`) is one `Err` item and the stream ends; rows
    /// already yielded are never read again. Dropped before its end, the
    /// stream's pooled connection is closed rather than pooled; inside a
    /// transaction the driver reads and discards the rest of the rows
    /// before the transaction's next statement. The server's
    /// `statement_timeout` covers the whole stream, the time the caller
    /// spends between rows included.
    fn fetch_stream(
        &self,
        sql: &str,
        params: Params<'_>,
    ) -> impl Future<Output = Result<crate::RowStream<'_>>> + Send {
        crate::pipeline::stream::stream_raw(self, sql, params)
    }

    /// [`Executor::fetch_stream`], each row decoded as `R` by column name
    /// ([`FromRow`]), the columns looked up once on the first row. A row
    /// that does not decode is an `Err` item and ends the stream.
    fn fetch_stream_as<R: FromRow>(
        &self,
        sql: &str,
        params: Params<'_>,
    ) -> impl Future<Output = Result<crate::FromRowStream<'_, R>>> + Send {
        async move { Ok(self.fetch_stream(sql, params).await?.rows_as::<R>()) }
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

/// The row of a statement that returns at most one. More is a failure the
/// caller sees, so it is counted as one (`too_many_rows`), although the
/// statement itself succeeded and was counted in `queries.total`.
fn at_most_one<E: Executor + ?Sized>(on: &E, rows: Vec<Row>) -> Result<Option<Row>> {
    if rows.len() > 1 {
        let err = Error::TooManyRows { rows: rows.len() };
        on.__db().inner.counters.failed(&err);
        return Err(err);
    }
    Ok(rows.into_iter().next())
}

/// Rows of a statement that did not decode are a failure the caller sees,
/// counted as one (`decode`) as [`at_most_one`] counts its own.
fn decoded<E: Executor + ?Sized, T>(on: &E, result: Result<T>) -> Result<T> {
    if let Err(err) = &result {
        on.__db().inner.counters.failed(err);
    }
    result
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
