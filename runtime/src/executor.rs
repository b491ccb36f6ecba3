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
        fn __conn(&self) -> impl Future<Output = Result<Conn<'_>>> + Send;

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
