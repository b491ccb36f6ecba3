//! Cached reads of models: `User::get_cached(&db, id)`, `find_many_cached`,
//! and the explicit invalidations raw SQL needs (`db.invalidate::<User>`).
//! Cached list queries are `query.rs`'s; the read path is the cache's
//! (`crate::cache::load`).
//!
//! Only models with `#[model(cache(ttl_secs = N))]` are cached; for others
//! these calls read PostgreSQL directly. Cached reads take `&Db`, never a
//! transaction: a transaction may see its own uncommitted writes, which must
//! not reach a shared cache.

use std::future::Future;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{CacheHandle, ttl_of};
use crate::cache::load::{get_many, get_or_load};
use crate::cache::{Invalidation, row_id};
use crate::error::{Error, Result};
use crate::model::scope::Scope;
use crate::model::{Model, ModelExt};
use crate::pool::Db;
// A fill reads the primary: a lagging replica could hand the cache a row
// older than an invalidation another process has already published.
use crate::replica::on_primary;
use crate::tenant::RunsOn;

/// Debug-formats a string without quotes (a tenant's row id is already text).
struct Raw<'a>(&'a str);

impl std::fmt::Debug for Raw<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// Cached reads for every model that is `Serialize + DeserializeOwned +
/// Clone` (derive serde's traits on the model to use them).
pub trait CachedModelExt: Model + Serialize + DeserializeOwned + Clone {
    /// The row with this key, from L1, L2 or PostgreSQL, in that order.
    ///
    /// Returns `Error::NotFound` if there is no visible row. Redis being
    /// down or slow never turns into an error here.
    ///
    /// On a [`TenantDb`](crate::TenantDb) the entry is the tenant's own:
    /// cache keys carry the tenant.
    fn get_cached<C: CacheHandle>(
        db: &C,
        key: Self::Key,
    ) -> impl Future<Output = Result<Self>> + Send
    where
        Self: RunsOn<C::Scope>,
    {
        async move {
            let Some(ttl) = ttl_of::<Self>(db.__db()) else {
                return Self::get(db, key).await;
            };
            let scope = Scope::of::<Self, C>(db)?;
            let lookup = key.clone();
            let load = || on_primary(async move { Self::find(db, lookup).await });
            let (cache, table, what) = (
                &db.__db().inner.cache,
                Self::META.qualified,
                Self::META.table,
            );
            match scope.text {
                None => get_or_load(cache, table, what, &key, false, ttl, load).await,
                Some(_) => {
                    let id = scope.row_id(&key);
                    get_or_load(cache, table, what, &Raw(&id), false, ttl, load).await
                }
            }
        }
    }

    /// Like [`get_cached`](Self::get_cached), but `None` for a missing row.
    fn find_cached<C: CacheHandle>(
        db: &C,
        key: Self::Key,
    ) -> impl Future<Output = Result<Option<Self>>> + Send
    where
        Self: RunsOn<C::Scope>,
    {
        async move {
            match Self::get_cached(db, key).await {
                Ok(v) => Ok(Some(v)),
                Err(Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        }
    }

    /// The visible rows with these keys: L1 first, then one Redis round
    /// trip for the rest, then one SQL query for what is still missing.
    /// Order follows `keys`; missing keys are skipped.
    fn find_many_cached<C: CacheHandle>(
        db: &C,
        keys: &[Self::Key],
    ) -> impl Future<Output = Result<Vec<Self>>> + Send
    where
        Self: RunsOn<C::Scope>,
    {
        async move {
            match ttl_of::<Self>(db.__db()) {
                Some(ttl) if Self::META.tenant.is_some() => {
                    // The cache's batch lookup names rows by key alone.
                    let _ = ttl;
                    Self::find_many(db, keys).await
                }
                Some(ttl) => {
                    get_many(
                        &db.__db().inner.cache,
                        Self::META.qualified,
                        keys,
                        ttl,
                        |row: &Self| row_id(row.key()),
                        |wanted| on_primary(async move { Self::find_many(db, &wanted).await }),
                    )
                    .await
                }
                None => Self::find_many(db, keys).await,
            }
        }
    }
}

impl<M: Model + Serialize + DeserializeOwned + Clone> CachedModelExt for M {}

impl Db {
    /// Forgets `M`'s cached row with this key, in every tier and process.
    ///
    /// Model writes do this themselves; call it after changing a cached
    /// model's table with raw SQL (`db.execute("UPDATE users ...")`), which
    /// strata cannot see.
    ///
    /// A tenant model's rows are cached per tenant and a key alone does
    /// not say which: here every cached row of `M` is forgotten.
    pub async fn invalidate<M: Model>(&self, key: &M::Key) {
        if M::META.cache_ttl_secs.is_some() {
            use crate::executor::handle::Handle;
            let inv = if M::META.tenant.is_some() {
                Invalidation::all(M::META.qualified)
            } else {
                Invalidation::row(M::META.qualified, row_id(key))
            };
            self.__invalidate(inv).await;
        }
    }

    /// Forgets every cached row and list of `M` (after a raw-SQL bulk
    /// change or a migration that rewrote its table).
    pub async fn invalidate_all<M: Model>(&self) {
        if M::META.cache_ttl_secs.is_some() {
            use crate::executor::handle::Handle;
            self.__invalidate(Invalidation::all(M::META.qualified))
                .await;
        }
    }
}
