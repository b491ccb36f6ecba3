//! `has_many`: the target's field holds this model's primary key. One
//! level is one `Target::query()` with `"fk" = ANY($1)`, so the target's
//! soft delete and tenant scope apply as in any of its queries; for a
//! cached target it is that query as a cached list.

use std::collections::{HashMap, HashSet};
use std::fmt;

use super::{CachedList, LoadOn, Loading, Nested, Relation, RelationKey, sealed};
use crate::error::Result;
use crate::executor::Executor;
use crate::model::{Column, Model, ModelExt};
use crate::tenant::ListsOn;

/// The relation from `S` to the `T`s whose field holds `S`'s primary key,
/// from `#[model(has_many(T, key = s_id))]` on `S`: the const `S::TS`.
/// Included, each `S` is paired with `Vec<T>`, its visible `T`s in
/// primary key order.
pub struct HasMany<S: Model, T: Model> {
    name: &'static str,
    column: &'static str,
    fk: fn(&T) -> Option<&S::Key>,
    cached: fn() -> Option<CachedList<T>>,
}

impl<S: Model, T: Model> HasMany<S, T> {
    /// Called by generated code: the relation's name, the target's key
    /// column (unquoted) and how to read it from a `T`.
    #[doc(hidden)]
    pub const fn new(
        name: &'static str,
        column: &'static str,
        fk: fn(&T) -> Option<&S::Key>,
        cached: fn() -> Option<CachedList<T>>,
    ) -> Self {
        HasMany {
            name,
            column,
            fk,
            cached,
        }
    }

    /// The relation's name: the const's, in lower case (`scenarios`).
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// Also loads `inner` for every included `T`: `Deal::SCENARIOS.include(Scenario::TASKS)`
    /// pairs each deal with `Vec<(Scenario, Vec<Task>)>`.
    pub fn include<N: Relation<T>>(self, inner: N) -> Nested<Self, N> {
        Nested::new(self, inner)
    }
}

impl<S: Model, T: Model> HasMany<S, T>
where
    S::Key: RelationKey,
{
    /// Every visible `T` of `parents`, in primary key order: one
    /// statement, none without parents.
    pub(super) async fn children<E>(&self, e: &E, parents: &[S]) -> Result<Vec<T>>
    where
        E: Executor + ?Sized,
        T: ListsOn<E::Scope>,
    {
        let mut seen = HashSet::new();
        let keys: Vec<S::Key> = parents
            .iter()
            .map(Model::key)
            .filter(|k| seen.insert(*k))
            .cloned()
            .collect();
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let pk: Column<T, ()> = Column::new(T::META.primary_key);
        let query = T::query()
            .filter_any(self.column, RelationKey::__array(keys))
            .order_by(pk.asc());
        match (self.cached)() {
            // A cached target (never a tenant model): the level is a cached
            // list. A transaction, which may see its own writes, reads
            // PostgreSQL.
            Some(list) if !e.__in_tx() => list(e.__db(), query).await,
            _ => query.all(e).await,
        }
    }

    /// The children of each parent, in the order they came.
    pub(super) fn group<X>(
        &self,
        parents: &[S],
        children: Vec<X>,
        fk: impl Fn(&X) -> Option<&S::Key>,
    ) -> Vec<Vec<X>> {
        let mut at: HashMap<&S::Key, usize> = HashMap::with_capacity(parents.len());
        for (i, p) in parents.iter().enumerate() {
            at.entry(p.key()).or_insert(i);
        }
        let mut out: Vec<Vec<X>> = parents.iter().map(|_| Vec::new()).collect();
        for child in children {
            let slot = fk(&child).and_then(|k| at.get(k).copied());
            if let Some(i) = slot {
                out[i].push(child);
            }
        }
        out
    }

    /// The key column's value of a `T`.
    pub(super) fn fk_of<'t>(&self, child: &'t T) -> Option<&'t S::Key> {
        (self.fk)(child)
    }
}

impl<S: Model, T: Model> Clone for HasMany<S, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S: Model, T: Model> Copy for HasMany<S, T> {}

impl<S: Model, T: Model> fmt::Debug for HasMany<S, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HasMany({}.{})", std::any::type_name::<T>(), self.column)
    }
}

impl<S: Model, T: Model> sealed::Sealed for HasMany<S, T> {}

impl<S: Model, T: Model> Relation<S> for HasMany<S, T> {
    type Loaded = Vec<T>;
}

impl<S: Model, T: Model, Sc> LoadOn<S, Sc> for HasMany<S, T>
where
    T: ListsOn<Sc>,
    S::Key: RelationKey,
{
    fn __load<'a, E>(&'a self, e: &'a E, parents: &'a [S]) -> Loading<'a, Vec<Self::Loaded>>
    where
        E: Executor<Scope = Sc> + ?Sized,
    {
        Box::pin(async move {
            let children = self.children(e, parents).await?;
            Ok(self.group(parents, children, |c| self.fk_of(c)))
        })
    }
}
