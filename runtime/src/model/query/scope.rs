//! The **scope** stage for the query builder: on a tenant handle, a tenant
//! model's query gets `"<tenant>" = $1` as its first filter, so every
//! statement built from it (reads, counts, pages, bulk writes, cached
//! lists, whose keys hash the SQL and its values) is confined to the
//! tenant. Adding it as a filter, not as text, keeps one code path: the
//! shape cache, the parameter binding and the rendering all see it.

use std::borrow::Cow;

use super::Query;
use crate::error::Result;
use crate::executor::Executor;
use crate::model::Model;
use crate::model::column::{CmpOp, Cond, bound};
use crate::model::scope::Scope;

impl<M: Model> Query<M> {
    /// This query as it runs on `e`, and the model's scope there. On
    /// [`AllTenants`](crate::AllTenants) (no tenant) it runs unfiltered.
    pub(super) async fn scoped<'q, 'e, E: Executor + ?Sized>(
        &'q self,
        e: &'e E,
    ) -> Result<(Cow<'q, Query<M>>, Scope<'e>)> {
        let (Some(meta), Some(tenant)) = (&M::META.tenant, e.__tenant()) else {
            let none = Scope {
                tenant: None,
                text: None,
                rls: false,
                audited: M::META.audit.is_some(),
                model: M::META.name,
            };
            return Ok((Cow::Borrowed(self), none));
        };
        let scope = Scope::checked::<M, E>(e).await?;
        let mut q = self.clone();
        q.filters.insert(
            0,
            Cond::Cmp(meta.column, CmpOp::Eq, bound(tenant.sea_value())),
        );
        Ok((Cow::Owned(q), scope))
    }
}
