//! Bulk writes on every matching row: `update`, `delete` (soft when the
//! model has soft delete) and `hard_delete`, through the model write path
//! that invalidates the cache.

use sea_query::{Alias, Expr, PostgresQueryBuilder};
use sea_query_postgres::PostgresBinder;

use super::render::table_ref;
use super::{Query, Visibility};
use crate::error::Result;
use crate::executor::Executor;
use crate::model::Model;
use crate::model::column::Assignment;
use crate::model::effects::write_many;
use crate::pipeline::counted;
use crate::tenant::ListsOn;

impl<M: Model> Query<M> {
    /// Sets columns on every matching row; returns how many changed.
    /// Soft-deleted rows are left alone unless the query includes them.
    pub async fn update<E, I>(&self, e: &E, assignments: I) -> Result<u64>
    where
        E: Executor + ?Sized,
        I: IntoIterator<Item = Assignment<M>>,
        M: ListsOn<E::Scope>,
    {
        counted(e, self.check_cursor())?;
        let (this, scope) = self.scoped(e).await?;
        let mut q = sea_query::Query::update();
        q.table(table_ref(M::META));
        let mut any = false;
        for a in assignments {
            q.value(Alias::new(a.column), a.value);
            any = true;
        }
        if !any {
            return Ok(0);
        }
        for c in this.conditions() {
            q.and_where(c);
        }
        let (sql, values) = q.build_postgres(PostgresQueryBuilder);
        write_many::<M, E>(e, scope, &sql, &values.as_params()).await
    }

    /// Deletes every matching row (soft delete when the model has one);
    /// returns how many.
    pub async fn delete<E: Executor + ?Sized>(&self, e: &E) -> Result<u64>
    where
        M: ListsOn<E::Scope>,
    {
        counted(e, self.check_cursor())?;
        let (this, scope) = self.scoped(e).await?;
        match M::META.deleted_at {
            Some(deleted_at) => {
                let mut q = sea_query::Query::update();
                q.table(table_ref(M::META))
                    .value(Alias::new(deleted_at), Expr::cust("now()"));
                let mut live = this.into_owned();
                live.visibility = Visibility::Live;
                for c in live.conditions() {
                    q.and_where(c);
                }
                let (sql, values) = q.build_postgres(PostgresQueryBuilder);
                write_many::<M, E>(e, scope, &sql, &values.as_params()).await
            }
            None => self.hard_delete(e).await,
        }
    }

    /// Removes every matching row for good; returns how many.
    pub async fn hard_delete<E: Executor + ?Sized>(&self, e: &E) -> Result<u64>
    where
        M: ListsOn<E::Scope>,
    {
        counted(e, self.check_cursor())?;
        let (this, scope) = self.scoped(e).await?;
        let mut q = sea_query::Query::delete();
        q.from_table(table_ref(M::META));
        for c in this.conditions() {
            q.and_where(c);
        }
        let (sql, values) = q.build_postgres(PostgresQueryBuilder);
        write_many::<M, E>(e, scope, &sql, &values.as_params()).await
    }
}
