//! Cached reads of models, the layer above both the cache and the models:
//! `User::get_cached(&db, id)`, `find_many_cached`, cached list queries, and
//! the explicit invalidations raw SQL needs.
//!
//! Why a module of its own: the cache (`crate::cache`) sits below the
//! models, because every model write invalidates through it, so it knows
//! keys, values and loaders but not `Model`. What needs both lives here.

mod model;
mod query;
mod relation;

pub use model::CachedModelExt;
pub use query::CachedQuery;

/// A handle cached reads run on: [`Db`] and a tenant's
/// [`TenantDb`](crate::TenantDb), never a transaction (it may see its own
/// uncommitted writes, which must not reach a shared cache). Sealed.
pub trait CacheHandle: crate::Executor + sealed::Sealed {}

mod sealed {
    pub trait Sealed {}
    impl Sealed for crate::pool::Db {}
    impl<T: crate::tenant::TenantKey> Sealed for crate::tenant::TenantDb<T> {}
}

impl CacheHandle for Db {}
impl<T: crate::tenant::TenantKey> CacheHandle for crate::tenant::TenantDb<T> {}

use std::time::Duration;

use crate::model::Model;
use crate::pool::Db;

/// How long `M`'s entries live; `None` when `M` is not cached (no
/// `cache(..)` attribute), the cache is off, or the cache channel
/// (`Config::cache_feed`) is not yet listening for `M`, so reads go to
/// PostgreSQL.
fn ttl_of<M: Model>(db: &Db) -> Option<Duration> {
    let ttl = db.inner.cache.ttl_for(M::META.cache_ttl_secs)?;
    crate::changes::cache_ready::<M>(db).then_some(ttl)
}
