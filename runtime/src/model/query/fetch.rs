//! Running a query's reads: the rows, one row, the count, whether any
//! row exists. Parameters borrow the filters' and the cursor's values in
//! place.

use sea_query::Value;
use sea_query_postgres::{PostgresValue, PostgresValues};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::Query;
use super::keyset::term_values;
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
        if let Some(values) = rendered {
            let values = PostgresValues(values.into_iter().map(PostgresValue).collect());
            return run_query(
                e,
                sql.as_str(),
                &values.as_params(),
                OpKind::Read,
                crate::pipeline::Around::rls(rls),
            )
            .await;
        }
        let tail_values = tail.bound().map(|n| n.map(|n| bound(Value::from(n))));
        let terms = self.after.as_ref().map(|c| self.keyset_terms(c));
        let mut params: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(self.filters.len() + 2);
        for c in &self.filters {
            c.params(&mut params);
        }
        if let (Some(cursor), Some(terms)) = (&self.after, &terms) {
            params.extend(term_values(terms, cursor).map(|v| v as &(dyn ToSql + Sync)));
        }
        params.extend(
            tail_values
                .iter()
                .flatten()
                .map(|v| v as &(dyn ToSql + Sync)),
        );
        run_query(
            e,
            sql.as_str(),
            &params,
            OpKind::Read,
            crate::pipeline::Around::rls(rls),
        )
        .await
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
