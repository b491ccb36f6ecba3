//! Cached list queries: `User::query()...cached().all(&db)` and
//! `.fetch_page(&db)`. A result is keyed by a hash of its SQL and
//! parameters under the model's write generation, so any write to the
//! model retires every cached list of it at once.

use std::future::Future;
use std::hash::{Hash, Hasher};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{CacheHandle, ttl_of};
use crate::cache::load::get_or_load;
use crate::error::Result;
use crate::model::{Model, Page, Query};
use crate::tenant::ListsOn;

/// A query whose results are cached, keyed by its SQL and parameters and
/// retired by any write to the model. Built with [`Query::cached`].
#[derive(Debug)]
pub struct CachedQuery<M> {
    query: Query<M>,
}

impl<M: Model> Query<M> {
    /// Caches this query's results (only for models with `cache(..)`).
    pub fn cached(self) -> CachedQuery<M> {
        CachedQuery { query: self }
    }
}

/// Debug-formats a string without quotes (list ids are already text).
struct Raw<'a>(&'a str);

impl std::fmt::Debug for Raw<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

fn query_id(kind: &str, sql: &str, values: &[sea_query::Value]) -> String {
    // Two independent 64-bit hashes: collisions are not a practical concern.
    let mut a = std::collections::hash_map::DefaultHasher::new();
    let mut b = std::collections::hash_map::DefaultHasher::new();
    0xa5u8.hash(&mut b);
    for h in [&mut a, &mut b] {
        kind.hash(h);
        sql.hash(h);
        format!("{values:?}").hash(h);
    }
    format!("{:016x}{:016x}", a.finish(), b.finish())
}

impl<M> CachedQuery<M>
where
    M: Model + Serialize + DeserializeOwned + Clone,
{
    /// Every matching row, cached (per tenant on a tenant handle).
    pub async fn all<C: CacheHandle>(&self, db: &C) -> Result<Vec<M>>
    where
        M: ListsOn<C::Scope>,
    {
        match ttl_of::<M>(db.__db()) {
            Some(ttl) => self.load(db, ttl, "all", |q| q.all(db)).await,
            None => self.query.all(db).await,
        }
    }

    /// One page with its total, cached.
    pub async fn fetch_page<C: CacheHandle>(&self, db: &C) -> Result<Page<M>>
    where
        M: ListsOn<C::Scope>,
    {
        match ttl_of::<M>(db.__db()) {
            Some(ttl) => {
                let kind = format!("page{:?}", self.query.page_spec());
                self.load(db, ttl, &kind, |q| q.fetch_page(db)).await
            }
            None => self.query.fetch_page(db).await,
        }
    }

    /// What `run` returns for this query, cached under the hash of `kind`
    /// (which result it is), the SQL and the parameters.
    async fn load<'a, C: CacheHandle, T, Fut>(
        &'a self,
        db: &'a C,
        ttl: Duration,
        kind: &str,
        run: impl FnOnce(&'a Query<M>) -> Fut,
    ) -> Result<T>
    where
        T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
        Fut: Future<Output = Result<T>>,
    {
        let (sql, values) = self.query.to_sql();
        // A tenant's lists are its own: the tenant is part of the key.
        let kind = match (&M::META.tenant, db.__tenant()) {
            (Some(_), Some(t)) => format!("{kind}@{}", t.text()),
            _ => kind.to_owned(),
        };
        let id = query_id(&kind, &sql, &values);
        let query = &self.query;
        get_or_load(
            &db.__db().inner.cache,
            M::META.qualified,
            M::META.table,
            &Raw(&id),
            true,
            ttl,
            || crate::replica::on_primary(async move { run(query).await.map(Some) }),
        )
        .await
    }
}
