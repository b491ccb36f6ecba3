//! A cached `belongs_to` target: an include reads it with
//! `find_many_cached`. Here, not in `model/relation/`, because only this
//! layer knows both the cache and the models.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::CachedModelExt;
use crate::model::Model;
use crate::model::Query;
use crate::model::relation::{CachedList, CachedLoad, Loading, Pick, ViaCache};
use crate::pool::Db;
use crate::tenant::{ListsOn, RunsOn, Unscoped};

/// Chosen over `ViaQuery` when `T` can be cached. A tenant model is not:
/// the cache's batch lookup names rows by key alone, so its
/// `find_many_cached` would read PostgreSQL anyway.
impl<T> ViaCache<T> for &Pick<T>
where
    T: Model + Serialize + DeserializeOwned + Clone + RunsOn<Unscoped> + ListsOn<Unscoped>,
{
    fn cached_load(&self) -> Option<CachedLoad<T>> {
        Some(load::<T>)
    }

    fn cached_list(&self) -> Option<CachedList<T>> {
        Some(list::<T>)
    }
}

fn list<'a, T>(db: &'a Db, query: Query<T>) -> Loading<'a, Vec<T>>
where
    T: Model + Serialize + DeserializeOwned + Clone + RunsOn<Unscoped> + ListsOn<Unscoped>,
{
    Box::pin(async move { query.cached().all(db).await })
}

fn load<'a, T>(db: &'a Db, keys: &'a [T::Key]) -> Loading<'a, Vec<T>>
where
    T: Model + Serialize + DeserializeOwned + Clone + RunsOn<Unscoped> + ListsOn<Unscoped>,
{
    Box::pin(T::find_many_cached(db, keys))
}
