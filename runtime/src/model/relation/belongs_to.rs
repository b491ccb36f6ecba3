//! `belongs_to`: this model's field holds the target's primary key.
//! One level is one `find_many` of the distinct keys (through the cache
//! when the target is cached and the handle is not a transaction).

use std::collections::{HashMap, HashSet};
use std::fmt;

use super::{CachedLoad, LoadOn, Loading, Nested, Relation, RelationKey, sealed};
use crate::error::Result;
use crate::executor::Executor;
use crate::model::{Model, ModelExt};
use crate::tenant::RunsOn;

/// The relation from `S` to the `T` whose primary key one of `S`'s fields
/// holds, from `#[model(belongs_to(T, key = t_id))]` on `S`: the const
/// `S::T`. Included, each `S` is paired with `Option<T>`: `None` when the
/// key field is `None` or no visible `T` has the key.
pub struct BelongsTo<S, T: Model> {
    name: &'static str,
    key: fn(&S) -> Option<&T::Key>,
    cached: fn() -> Option<CachedLoad<T>>,
}

impl<S, T: Model> BelongsTo<S, T> {
    /// Called by generated code: the relation's name, how to read the key
    /// from an `S`, and how to read `T`s when `T` is cached.
    #[doc(hidden)]
    pub const fn new(
        name: &'static str,
        key: fn(&S) -> Option<&T::Key>,
        cached: fn() -> Option<CachedLoad<T>>,
    ) -> Self {
        BelongsTo { name, key, cached }
    }

    /// The relation's name: the const's, in lower case (`customer`).
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// Also loads `inner` for every included `T`: `Deal::CUSTOMER.include(Customer::REGION)`
    /// pairs each deal with `Option<(Customer, Option<Region>)>`.
    pub fn include<N: Relation<T>>(self, inner: N) -> Nested<Self, N> {
        Nested::new(self, inner)
    }

    /// The distinct keys of `parents`, in first-seen order.
    fn keys(&self, parents: &[S]) -> Vec<T::Key>
    where
        T::Key: RelationKey,
    {
        let mut seen = HashSet::new();
        parents
            .iter()
            .filter_map(self.key)
            .filter(|k| seen.insert(*k))
            .cloned()
            .collect()
    }

    /// Every visible `T` `parents` point at: one statement, none if no
    /// parent holds a key.
    pub(super) async fn targets<E>(&self, e: &E, parents: &[S]) -> Result<Vec<T>>
    where
        E: Executor + ?Sized,
        T: RunsOn<E::Scope>,
        T::Key: RelationKey,
    {
        let keys = self.keys(parents);
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        match (self.cached)() {
            // The cache serves committed rows only: a transaction, which
            // may see its own writes, reads PostgreSQL.
            Some(load) if !e.__in_tx() => load(e.__db(), &keys).await,
            _ => T::find_many(e, &keys).await,
        }
    }

    /// Each parent's target, cloned for every parent that points at it.
    pub(super) fn pair<X: Clone>(
        &self,
        parents: &[S],
        targets: Vec<X>,
        key: impl Fn(&X) -> &T::Key,
    ) -> Vec<Option<X>>
    where
        T::Key: RelationKey,
    {
        let by_key: HashMap<T::Key, X> =
            targets.into_iter().map(|x| (key(&x).clone(), x)).collect();
        parents
            .iter()
            .map(|p| (self.key)(p).and_then(|k| by_key.get(k)).cloned())
            .collect()
    }
}

impl<S, T: Model> Clone for BelongsTo<S, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S, T: Model> Copy for BelongsTo<S, T> {}

impl<S, T: Model> fmt::Debug for BelongsTo<S, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BelongsTo({}.{})", std::any::type_name::<T>(), self.name)
    }
}

impl<S: Model, T: Model> sealed::Sealed for BelongsTo<S, T> {}

impl<S: Model, T: Model + Clone> Relation<S> for BelongsTo<S, T> {
    type Loaded = Option<T>;
}

impl<S: Model, T: Model + Clone, Sc> LoadOn<S, Sc> for BelongsTo<S, T>
where
    T: RunsOn<Sc>,
    T::Key: RelationKey,
{
    fn __load<'a, E>(&'a self, e: &'a E, parents: &'a [S]) -> Loading<'a, Vec<Self::Loaded>>
    where
        E: Executor<Scope = Sc> + ?Sized,
    {
        Box::pin(async move {
            let targets = self.targets(e, parents).await?;
            Ok(self.pair(parents, targets, Model::key))
        })
    }
}
