//! Streaming a query's rows as models ([`Query::stream`]): the statement
//! [`Query::all`] runs (same filters, order, limit, soft-delete visibility
//! and tenant scope), read through the pipeline's row stream and decoded
//! one row at a time.

use sea_query::Value;
use sea_query_postgres::{PostgresValue, PostgresValues};
use tokio_postgres::types::ToSql;

use super::Query;
use super::keyset::term_values;
use super::render::Stmt;
use crate::error::{Error, Result};
use crate::executor::Executor;
use crate::model::Model;
use crate::model::column::bound;
use crate::pipeline::stream::{ModelStream, RowStream, stream_query};
use crate::pipeline::{Around, counted};
use crate::tenant::ListsOn;

impl<M: Model> Query<M> {
    /// Every matching row, as [`Query::all`] selects them, streamed: a
    /// [`ModelStream`], a `Stream` of `Result<M>`, in bounded memory
    /// however many rows match.
    ///
    /// The stream borrows `e` (not the query). A row that does not decode
    /// is an `Error::Decode` item, and ends the stream; so does a failure
    /// of the statement or its connection. What a dropped stream does to
    /// its connection is described at [`Executor::fetch_stream`].
    pub async fn stream<'e, E: Executor + ?Sized>(&self, e: &'e E) -> Result<ModelStream<'e, M>>
    where
        M: ListsOn<E::Scope>,
    {
        let (q, scope) = self.scoped(e).await?;
        let rows = q.stream_scoped(e, scope.rls).await?;
        Ok(rows.decoded(M::from_row))
    }

    /// [`Query::stream`] of a query the scope stage has seen; the
    /// parameters are bound as [`Query::all`] binds them.
    async fn stream_scoped<'e, E: Executor + ?Sized>(
        &self,
        e: &'e E,
        rls: bool,
    ) -> Result<RowStream<'e>> {
        let stmt = Stmt::All;
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
        let around = Around::rls(rls);
        let (sql, tail, rendered) = self.sql(stmt);
        if let Some(values) = rendered {
            let values = PostgresValues(values.into_iter().map(PostgresValue).collect());
            return stream_query(e, sql.as_str(), &values.as_params(), around).await;
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
        stream_query(e, sql.as_str(), &params, around).await
    }
}
