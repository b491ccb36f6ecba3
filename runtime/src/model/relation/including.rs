//! The query a relation is included in: `Deal::query().include(..)`.

use super::{LoadOn, Relation};
use crate::error::Result;
use crate::executor::Executor;
use crate::model::{Model, Query};
use crate::tenant::ListsOn;

/// A query of `M` that also loads relation `R` for every row, from
/// [`Query::include`]. Each row comes back paired with what `R` loads
/// for it: `(Deal, Option<Customer>)`, `(Deal, Vec<Scenario>)`, ..
#[derive(Debug, Clone)]
#[must_use = "an include does nothing until `.all(&db)` runs it"]
pub struct Including<M, R> {
    query: Query<M>,
    relation: R,
}

impl<M: Model, R: Relation<M>> Including<M, R> {
    pub(crate) fn new(query: Query<M>, relation: R) -> Self {
        Including { query, relation }
    }

    /// Every matching row with its relations, in the query's order: the
    /// query's statement, then one statement per relation and level (none
    /// for a level with no keys to load).
    ///
    /// Fails as the query and each related model's reads do; nothing is
    /// returned unless every level loaded.
    pub async fn all<E: Executor + ?Sized>(&self, e: &E) -> Result<Vec<(M, R::Loaded)>>
    where
        M: ListsOn<E::Scope>,
        R: LoadOn<M, E::Scope>,
    {
        let parents = self.query.all(e).await?;
        self.load(e, parents).await
    }

    /// The first matching row with its relations, if there is one.
    pub async fn optional<E: Executor + ?Sized>(&self, e: &E) -> Result<Option<(M, R::Loaded)>>
    where
        M: ListsOn<E::Scope>,
        R: LoadOn<M, E::Scope>,
    {
        let parent = self.query.optional(e).await?;
        Ok(self.load(e, parent.into_iter().collect()).await?.pop())
    }

    async fn load<E: Executor + ?Sized>(
        &self,
        e: &E,
        parents: Vec<M>,
    ) -> Result<Vec<(M, R::Loaded)>>
    where
        R: LoadOn<M, E::Scope>,
    {
        if parents.is_empty() {
            return Ok(Vec::new());
        }
        let loaded = self.relation.__load(e, &parents).await?;
        Ok(parents.into_iter().zip(loaded).collect())
    }
}
