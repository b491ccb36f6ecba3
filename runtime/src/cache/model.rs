//! Cached reads of models: `User::get_cached(&db, id)`, `find_many_cached`,
//! and cached list queries (`User::query()...cached().all(&db)`).
//!
//! Only models with `#[model(cache(ttl_secs = N))]` are cached; for others
//! these calls read PostgreSQL directly. Cached reads take `&Db`, never a
//! transaction: a transaction may see its own uncommitted writes, which must
//! not reach a shared cache.

use std::future::Future;
use std::hash::{Hash, Hasher};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Cache, l1, row_id};
use crate::error::{Error, Result};
use crate::model::{Model, ModelExt, Page, Query};
use crate::observe::counters::bump;
use crate::pool::Db;

fn ttl_of<M: Model>(cache: &Cache) -> Option<Duration> {
    if cache.is_off() {
        return None;
    }
    M::META.cache_ttl_secs.map(|s| {
        if s == 0 {
            cache.default_ttl
        } else {
            Duration::from_secs(s)
        }
    })
}

fn encode<T: Serialize>(value: &T) -> Option<Vec<u8>> {
    rmp_serde::to_vec(value).ok()
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    // An entry written by another version of the model does not decode:
    // treat it as a miss and overwrite it.
    rmp_serde::from_slice(bytes).ok()
}

/// Loads `key` through L1, then L2, then `load`, filling both tiers unless
/// a write happened meanwhile. Concurrent callers with the same key wait for
/// the first one and then read what it stored.
///
/// `table` is the model's qualified name (the cache keys' prefix); `load`
/// finding nothing is `NotFound` naming `what`, the table as the model
/// names it, as the uncached reads do.
#[allow(clippy::too_many_arguments)]
async fn get_or_load<T, F, Fut>(
    db: &Db,
    table: &'static str,
    what: &'static str,
    id: &(dyn std::fmt::Debug + Sync),
    list: bool,
    ttl: Duration,
    load: F,
) -> Result<T>
where
    T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    let cache = &db.inner.cache;
    let counters = &cache.counters;
    // One allocation on an L1 hit: the key is formatted straight from the
    // primary key (the same text `row_id` gives), the L2 id only on a miss.
    let l1_key = |gens: super::Gens| {
        if list {
            format!("{table}|q{}|{id:?}", gens.write)
        } else {
            format!("{table}|r{}|{id:?}", gens.row)
        }
    };
    let mut gens = cache.gens(table);
    let mut key = l1_key(gens);
    if let Some(v) = cache.l1.as_ref().and_then(|l1| l1.get::<T>(&key)) {
        bump(&counters.l1_hits);
        // A hit awaits nothing that can be pending: without taking part in
        // tokio's cooperative budget, a loop of hits would starve every
        // other task (timers included) on its worker. Once the budget is
        // spent this yields; otherwise it is a thread-local decrement.
        tokio::task::coop::consume_budget().await;
        return Ok(v);
    }
    let id = format!("{id:?}");
    // Redis before the in-flight map: an L2 hit never reaches PostgreSQL,
    // so it need not be coalesced, and skipping the map's lock, key copy
    // and hashing is most of what an L2 hit costs over a raw GET.
    let mut seen = match l2_read::<T>(db, table, &id, list).await {
        L2::Hit(value) => {
            fill_l1(db, table, gens, &key, ttl, &value);
            return Ok(value);
        }
        other => other,
    };
    // Dropped on every way out, cancellation included: removes the entry.
    let inflight = cache.inflight(&key);
    let lock = inflight.lock.clone();
    let (_guard, waited) = match lock.clone().try_lock_owned() {
        Ok(guard) => (guard, false),
        Err(_) => {
            bump(&counters.coalesced);
            (lock.lock_owned().await, true)
        }
    };
    // A loader may have finished between our Redis read and the lock
    // (we waited for it, or it ended just before we asked): it filled L1,
    // unless a write intervened ...
    gens = cache.gens(table);
    key = l1_key(gens);
    if let Some(v) = cache.l1.as_ref().and_then(|l1| l1.get::<T>(&key)) {
        bump(&counters.l1_hits);
        return Ok(v);
    }
    // ... and Redis, which is all there is without L1: read it again. With
    // L1, an uncontended miss has just read Redis and need not again.
    if waited || cache.l1.is_none() {
        match l2_read::<T>(db, table, &id, list).await {
            L2::Hit(value) => {
                fill_l1(db, table, gens, &key, ttl, &value);
                return Ok(value);
            }
            other => seen = other,
        }
    }
    let result = load_and_fill(db, (table, what), &id, list, ttl, gens, &key, seen, load).await;
    drop(inflight);
    result
}

/// What a Redis read found.
enum L2<T> {
    /// A value that decodes.
    Hit(T),
    /// No usable value; the write generation seen, which guards the fill.
    Miss(String),
    /// No Redis, or Redis did not answer: load without filling it.
    Unavailable,
}

async fn l2_read<T: DeserializeOwned>(db: &Db, table: &'static str, id: &str, list: bool) -> L2<T> {
    let cache = &db.inner.cache;
    let Some(l2) = &cache.l2 else {
        return L2::Unavailable;
    };
    let counters = &cache.counters;
    let found = if list {
        l2.get_list(table, id, counters).await
    } else {
        l2.get_row(table, id, counters).await
    };
    match found {
        Some((w, bytes)) => match bytes.as_deref().and_then(decode::<T>) {
            Some(value) => {
                bump(&counters.l2_hits);
                L2::Hit(value)
            }
            None => L2::Miss(w),
        },
        None => L2::Unavailable,
    }
}

/// Puts `value` in L1 unless a write to `table` happened since `gens`.
fn fill_l1<T: Clone + Send + Sync + 'static>(
    db: &Db,
    table: &'static str,
    gens: super::Gens,
    l1_key: &str,
    ttl: Duration,
    value: &T,
) {
    let cache = &db.inner.cache;
    if let Some(l1) = &cache.l1 {
        cache.fill_if_current(table, gens.write, || {
            l1.insert(l1_key.to_owned(), value.clone(), ttl);
        });
    }
}

/// Loads from PostgreSQL and fills both tiers, after L1 and Redis missed
/// (`seen` is what Redis said).
#[allow(clippy::too_many_arguments)]
async fn load_and_fill<T, F, Fut>(
    db: &Db,
    (table, what): (&'static str, &'static str),
    id: &str,
    list: bool,
    ttl: Duration,
    gens: super::Gens,
    l1_key: &str,
    seen: L2<T>,
    load: F,
) -> Result<T>
where
    T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    let cache = &db.inner.cache;
    let counters = &cache.counters;
    let wgen = match seen {
        L2::Miss(w) => Some(w),
        L2::Hit(_) | L2::Unavailable => None,
    };
    bump(&counters.misses);
    bump(&counters.loads);
    let loaded = load().await?;
    let Some(value) = loaded else {
        return Err(Error::NotFound { what });
    };
    cache.pause_before_fill().await;
    if let (Some(l2), Some(w)) = (&cache.l2, &wgen)
        && let Some(bytes) = encode(&value)
    {
        let w = if cache.protects() { w.as_str() } else { "*" };
        let stored = if list {
            l2.set_list(table, w, ttl, id, &bytes, counters).await
        } else {
            l2.set_rows(table, w, ttl, &[(id.to_owned(), bytes)], counters)
                .await
        };
        if !stored {
            bump(&counters.stale_sets_refused);
        }
    }
    fill_l1(db, table, gens, l1_key, ttl, &value);
    Ok(value)
}

/// Cached reads for every model that is `Serialize + DeserializeOwned +
/// Clone` (derive serde's traits on the model to use them).
pub trait CachedModelExt: Model + Serialize + DeserializeOwned + Clone {
    /// The row with this key, from L1, L2 or PostgreSQL, in that order.
    ///
    /// Returns `Error::NotFound` if there is no visible row. Redis being
    /// down or slow never turns into an error here.
    fn get_cached(db: &Db, key: Self::Key) -> impl Future<Output = Result<Self>> + Send {
        async move {
            let Some(ttl) = ttl_of::<Self>(&db.inner.cache) else {
                return Self::get(db, key).await;
            };
            let lookup = key.clone();
            get_or_load(
                db,
                Self::META.qualified,
                Self::META.table,
                &key,
                false,
                ttl,
                || async move { Self::find(db, lookup).await },
            )
            .await
        }
    }

    /// Like [`get_cached`](Self::get_cached), but `None` for a missing row.
    fn find_cached(db: &Db, key: Self::Key) -> impl Future<Output = Result<Option<Self>>> + Send {
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
    fn find_many_cached(
        db: &Db,
        keys: &[Self::Key],
    ) -> impl Future<Output = Result<Vec<Self>>> + Send {
        async move {
            let cache = &db.inner.cache;
            let Some(ttl) = ttl_of::<Self>(cache) else {
                return Self::find_many(db, keys).await;
            };
            let counters = &cache.counters;
            let table = Self::META.qualified;
            let gens = cache.gens(table);
            let ids: Vec<String> = keys.iter().map(row_id).collect();
            let mut found: Vec<Option<Self>> = vec![None; keys.len()];
            let mut missing: Vec<usize> = Vec::new();
            for (i, id) in ids.iter().enumerate() {
                match cache
                    .l1
                    .as_ref()
                    .and_then(|l1| l1.get::<Self>(&l1::row_key(table, gens.row, id)))
                {
                    Some(v) => {
                        bump(&counters.l1_hits);
                        found[i] = Some(v);
                    }
                    None => missing.push(i),
                }
            }
            if missing.is_empty() {
                // All L1 hits: see `get_or_load` on the cooperative budget.
                tokio::task::coop::consume_budget().await;
            }
            let mut wgen = None;
            if let (Some(l2), false) = (&cache.l2, missing.is_empty()) {
                let wanted: Vec<String> = missing.iter().map(|&i| ids[i].clone()).collect();
                if let Some((w, values)) = l2.get_rows(table, &wanted, counters).await {
                    let mut still = Vec::new();
                    for (&i, bytes) in missing.iter().zip(values) {
                        match bytes.as_deref().and_then(decode::<Self>) {
                            Some(v) => {
                                bump(&counters.l2_hits);
                                found[i] = Some(v);
                            }
                            None => still.push(i),
                        }
                    }
                    missing = still;
                    wgen = Some(w);
                }
            }
            if !missing.is_empty() {
                bump(&counters.loads);
                for _ in &missing {
                    bump(&counters.misses);
                }
                let wanted: Vec<Self::Key> = missing.iter().map(|&i| keys[i].clone()).collect();
                let rows = Self::find_many(db, &wanted).await?;
                let mut to_l2 = Vec::new();
                for row in rows {
                    let id = row_id(row.key());
                    if let (Some(_), Some(bytes)) = (&wgen, encode(&row)) {
                        to_l2.push((id.clone(), bytes));
                    }
                    if let Some(l1) = &cache.l1 {
                        let key = l1::row_key(table, gens.row, &id);
                        let value = row.clone();
                        cache.fill_if_current(table, gens.write, || l1.insert(key, value, ttl));
                    }
                    for &i in &missing {
                        if ids[i] == id {
                            found[i] = Some(row.clone());
                        }
                    }
                }
                if let (Some(l2), Some(w)) = (&cache.l2, &wgen) {
                    l2.set_rows(table, w, ttl, &to_l2, counters).await;
                }
            }
            Ok(found.into_iter().flatten().collect())
        }
    }
}

impl<M: Model + Serialize + DeserializeOwned + Clone> CachedModelExt for M {}

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
    /// Every matching row, cached.
    pub async fn all(&self, db: &Db) -> Result<Vec<M>> {
        let Some(ttl) = ttl_of::<M>(&db.inner.cache) else {
            return self.query.all(db).await;
        };
        let (sql, values) = self.query.to_sql();
        let id = query_id("all", &sql, &values);
        let query = &self.query;
        get_or_load(
            db,
            M::META.qualified,
            M::META.table,
            &Raw(&id),
            true,
            ttl,
            || async move { query.all(db).await.map(Some) },
        )
        .await
    }

    /// One page with its total, cached.
    pub async fn fetch_page(&self, db: &Db) -> Result<Page<M>> {
        let Some(ttl) = ttl_of::<M>(&db.inner.cache) else {
            return self.query.fetch_page(db).await;
        };
        let (sql, values) = self.query.to_sql();
        let id = query_id(&format!("page{:?}", self.query.page_spec()), &sql, &values);
        let query = &self.query;
        get_or_load(
            db,
            M::META.qualified,
            M::META.table,
            &Raw(&id),
            true,
            ttl,
            || async move { query.fetch_page(db).await.map(Some) },
        )
        .await
    }
}

impl Db {
    /// Forgets `M`'s cached row with this key, in every tier and process.
    ///
    /// Model writes do this themselves; call it after changing a cached
    /// model's table with raw SQL (`db.execute("UPDATE users ...")`), which
    /// strata cannot see.
    pub async fn invalidate<M: Model>(&self, key: &M::Key) {
        if M::META.cache_ttl_secs.is_some() {
            use crate::executor::handle::Handle;
            self.__invalidate(super::Invalidation::row(M::META.qualified, row_id(key)))
                .await;
        }
    }

    /// Forgets every cached row and list of `M` (after a raw-SQL bulk
    /// change or a migration that rewrote its table).
    pub async fn invalidate_all<M: Model>(&self) {
        if M::META.cache_ttl_secs.is_some() {
            use crate::executor::handle::Handle;
            self.__invalidate(super::Invalidation::all(M::META.qualified))
                .await;
        }
    }
}
