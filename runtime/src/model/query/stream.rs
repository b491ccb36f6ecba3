//! Streaming a query's rows as models ([`Query::stream`]): the statement
//! [`Query::all`] runs (same filters, order, limit, soft-delete visibility
//! and tenant scope), read through the pipeline's row stream and decoded
//! one row at a time.

use super::Query;
use super::render::Stmt;
use crate::error::Result;
use crate::executor::Executor;
use crate::model::Model;
use crate::pipeline::Around;
use crate::pipeline::stream::{ModelStream, RowStream, stream_query};
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
        let bound = self.bind(e, Stmt::All)?;
        stream_query(
            e,
            bound.sql.as_str(),
            &bound.params(),
            Around::read(M::META.name, rls),
        )
        .await
    }
}
