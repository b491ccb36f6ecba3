//! Running a query's reads: the rows, one row, the count, whether any
//! row exists. Parameters borrow the filters' and the cursor's values in
//! place.

use sea_query::Value;
use sea_query_postgres::{PostgresValue, PostgresValues};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::Query;
use super::cached::Sql;
use super::keyset::{Term, term_values};
use super::render::Stmt;
use crate::error::{Error, Result};
use crate::executor::{Executor, OpKind};
use crate::model::Model;
use crate::model::column::bound;
use crate::pipeline::{counted, run_query};
use crate::tenant::ListsOn;

impl<M: Model> Query<M> {
    /// Runs statement `stmt`. The parameters borrow the filters' and the
    /// cursor's values in place: nothing is copied per call.
    ///
    /// Returns `Error::InvalidInput` for a cursor of another query, or a
    /// `LIMIT` or `OFFSET` past PostgreSQL's `bigint`.
    pub(super) async fn rows<E: Executor + ?Sized>(&self, e: &E, stmt: Stmt) -> Result<Vec<Row>> {
        let (q, scope) = self.scoped(e).await?;
        q.rows_scoped(e, stmt, scope.rls).await
    }

    /// [`Query::rows`] of a query the scope stage has seen.
    async fn rows_scoped<E: Executor + ?Sized>(
        &self,
        e: &E,
        stmt: Stmt,
        rls: bool,
    ) -> Result<Vec<Row>> {
        let bound = self.bind(e, stmt)?;
        run_query(
            e,
            bound.sql.as_str(),
            &bound.params(),
            OpKind::Read,
            crate::pipeline::Around::read(M::META.name, rls),
        )
        .await
    }

    /// Statement `stmt` with what its parameters borrow, checked: a cursor
    /// of another query, or a `LIMIT` or `OFFSET` past PostgreSQL's
    /// `bigint`, is `Error::InvalidInput` (counted as a failure on `e`).
    pub(super) fn bind<E: Executor + ?Sized>(
        &self,
        e: &E,
        stmt: Stmt,
    ) -> Result<BoundQuery<'_, M>> {
        counted(e, self.check_cursor())?;
        let (limit, offset) = self.tail(stmt);
        for (what, n) in [("limit", limit), ("offset", offset)] {
            if n.is_some_and(|n| i64::try_from(n).is_err()) {
                return counted(
                    e,
                    Err(Error::InvalidInput {
                        reason: format!("{what} {} is past PostgreSQL's bigint", n.unwrap_or(0)),
                    }),
                );
            }
        }
        let (sql, tail, rendered) = self.sql(stmt);
        Ok(BoundQuery {
            query: self,
            sql,
            rendered: rendered.map(|v| PostgresValues(v.into_iter().map(PostgresValue).collect())),
            tail: tail.bound().map(|n| n.map(|n| bound(Value::from(n)))),
            terms: self.after.as_ref().map(|c| self.keyset_terms(c)),
        })
    }

    pub(super) fn decode(rows: &[Row]) -> Result<Vec<M>> {
        // Not `collect::<Result<Vec<_>>>()`: its size hint is 0, so a
        // 20-row page would grow the vector four times.
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            out.push(M::from_row(row)?);
        }
        Ok(out)
    }

    /// Every matching row.
    pub async fn all<E: Executor + ?Sized>(&self, e: &E) -> Result<Vec<M>>
    where
        M: ListsOn<E::Scope>,
    {
        Self::decode(&self.rows(e, Stmt::All).await?)
    }

    /// The first matching row; `Error::NotFound` if there is none.
    pub async fn one<E: Executor + ?Sized>(&self, e: &E) -> Result<M>
    where
        M: ListsOn<E::Scope>,
    {
        self.optional(e).await?.ok_or(Error::NotFound {
            what: M::META.table,
        })
    }

    /// The first matching row, if any.
    pub async fn optional<E: Executor + ?Sized>(&self, e: &E) -> Result<Option<M>>
    where
        M: ListsOn<E::Scope>,
    {
        let rows = self.rows(e, Stmt::Optional).await?;
        rows.first().map(M::from_row).transpose()
    }

    /// How many rows match (ignores limit, offset and order).
    pub async fn count<E: Executor + ?Sized>(&self, e: &E) -> Result<u64>
    where
        M: ListsOn<E::Scope>,
    {
        let rows = self.rows(e, Stmt::Count).await?;
        let n: i64 = rows
            .first()
            .map(|r| r.try_get(0))
            .transpose()
            .map_err(|e| Error::Decode {
                column: "count".into(),
                source: Box::new(e),
            })?
            .unwrap_or(0);
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Whether any row matches.
    pub async fn exists<E: Executor + ?Sized>(&self, e: &E) -> Result<bool>
    where
        M: ListsOn<E::Scope>,
    {
        Ok(!self.rows(e, Stmt::Exists).await?.is_empty())
    }
}

/// A query's statement, ready to send: its text and the values its
/// parameters borrow (the filters' and the cursor's in place). `rows` and
/// `stream` send the same one.
pub(super) struct BoundQuery<'q, M: Model> {
    query: &'q Query<M>,
    pub(super) sql: Sql,
    /// All of the values, for a statement rendered with them.
    rendered: Option<PostgresValues>,
    /// The `LIMIT` and `OFFSET` when bound.
    tail: [Option<crate::model::column::Bound>; 2],
    /// The keyset terms of the cursor, if any.
    terms: Option<Vec<Vec<Term>>>,
}

impl<M: Model> BoundQuery<'_, M> {
    /// The parameters, in placeholder order.
    pub(super) fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        if let Some(values) = &self.rendered {
            return values.as_params();
        }
        let q = self.query;
        let mut params: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(q.filters.len() + 2);
        for c in &q.filters {
            c.params(&mut params);
        }
        if let (Some(cursor), Some(terms)) = (&q.after, &self.terms) {
            params.extend(term_values(terms, cursor).map(|v| v as &(dyn ToSql + Sync)));
        }
        params.extend(self.tail.iter().flatten().map(|v| v as &(dyn ToSql + Sync)));
        params
    }
}
