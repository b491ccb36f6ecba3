//! The read path of the model cache: L1, then L2, then PostgreSQL, with
//! concurrent misses on one key coalesced into one load, and fills that a
//! write made meanwhile turns away (see the "no stale set" rule in the
//! parent module's docs). It knows keys, values and a loader, not models:
//! the model-aware faces (`get_cached`, cached queries) are `crate::cached`.

use std::future::Future;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::hooks::Snapshot;
use super::l2::Snap;
use super::{Cache, l1, row_id};
use crate::error::{Error, Result};
use crate::observe::counters::bump;

impl Cache {
    /// How long entries of a model with `cache(ttl_secs = secs)` live
    /// (`Some(0)` is the configured default); `None` when the model is not
    /// cached or the cache is off, so reads go to PostgreSQL.
    pub(crate) fn ttl_for(&self, secs: Option<u64>) -> Option<Duration> {
        if self.is_off() {
            return None;
        }
        secs.map(|s| {
            if s == 0 {
                self.default_ttl
            } else {
                Duration::from_secs(s)
            }
        })
    }
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
pub(crate) async fn get_or_load<T, F, Fut>(
    cache: &Cache,
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
    // Served only under a valid lease (always, without Redis): see `lease/`.
    let trusted = cache.trusted();
    if let Some(v) = cache
        .l1
        .as_ref()
        .filter(|_| trusted)
        .and_then(|l1| l1.get::<T>(&key))
    {
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
    let mut seen = match l2_read::<T>(cache, table, &id, list).await {
        Seen::Hit(value) => {
            fill_l1(cache, table, gens, &key, ttl, &value);
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
    if let Some(v) = cache
        .l1
        .as_ref()
        .filter(|_| cache.trusted())
        .and_then(|l1| l1.get::<T>(&key))
    {
        bump(&counters.l1_hits);
        return Ok(v);
    }
    // ... and Redis, which is all there is without L1: read it again. With
    // L1, an uncontended miss has just read Redis and need not again.
    if waited || cache.l1.is_none() {
        match l2_read::<T>(cache, table, &id, list).await {
            Seen::Hit(value) => {
                fill_l1(cache, table, gens, &key, ttl, &value);
                return Ok(value);
            }
            other => seen = other,
        }
    }
    // L1 and Redis missed: load from PostgreSQL, then fill both tiers
    // unless a write happened since the snapshot taken before the load.
    let wgen = match seen {
        Seen::Miss(w) => Some(w),
        Seen::Hit(_) | Seen::Unavailable => None,
    };
    bump(&counters.misses);
    bump(&counters.loads);
    let result = match load().await {
        Ok(Some(value)) => {
            fill(cache, table, (&id, list), ttl, (gens, wgen), &key, &value).await;
            Ok(value)
        }
        Ok(None) => Err(Error::NotFound { what }),
        Err(err) => Err(err),
    };
    drop(inflight);
    result
}

/// What a Redis read found.
enum Seen<T> {
    /// A value that decodes.
    Hit(T),
    /// No usable value; the epoch and write generation seen, which guard
    /// the fill.
    Miss(Snap),
    /// No Redis, or Redis did not answer: load without filling it.
    Unavailable,
}

async fn l2_read<T: DeserializeOwned>(
    cache: &Cache,
    table: &'static str,
    id: &str,
    list: bool,
) -> Seen<T> {
    let Some(l2) = &cache.l2 else {
        return Seen::Unavailable;
    };
    // The epoch is read after the lease is checked: an epoch at least as
    // new as the confirmation that granted it.
    if !cache.trusted() {
        return Seen::Unavailable;
    }
    let epoch = cache.epoch();
    let counters = &cache.counters;
    let found = if list {
        l2.get_list(epoch, table, id, counters).await
    } else {
        l2.get_row(epoch, table, id, counters).await
    };
    match found {
        Some((w, bytes)) => match bytes.as_deref().and_then(decode::<T>) {
            Some(value) => {
                bump(&counters.l2_hits);
                Seen::Hit(value)
            }
            None => Seen::Miss((epoch, w)),
        },
        None => Seen::Unavailable,
    }
}

/// Puts `value` in L1 unless a write to `table` happened since `gens`.
fn fill_l1<T: Clone + Send + Sync + 'static>(
    cache: &Cache,
    table: &'static str,
    gens: super::Gens,
    l1_key: &str,
    ttl: Duration,
    value: &T,
) {
    if let Some(l1) = &cache.l1 {
        cache.fill_if_current(table, gens, || {
            l1.insert(l1_key.to_owned(), value.clone(), ttl);
        });
    }
}

/// Fills both tiers with what a loader read, each only if no write
/// happened since `snapshot` (taken before the load; see `hooks.rs` for
/// the one place it can be otherwise). A refused Redis fill is counted.
async fn fill<T: Serialize + Clone + Send + Sync + 'static>(
    cache: &Cache,
    table: &'static str,
    (id, list): (&str, bool),
    ttl: Duration,
    snapshot: Snapshot,
    l1_key: &str,
    value: &T,
) {
    let counters = &cache.counters;
    let (gens, wgen) = cache.before_fill(table, id, list, snapshot).await;
    if let (Some(l2), Some(w), true) = (&cache.l2, &wgen, cache.trusted())
        && let Some(bytes) = encode(value)
    {
        let stored = if list {
            l2.set_list(table, w, ttl, (id, &bytes), counters).await
        } else {
            l2.set_rows(table, w, ttl, &[(id.to_owned(), bytes)], counters)
                .await
        };
        if !stored {
            bump(&counters.stale_sets_refused);
        }
    }
    fill_l1(cache, table, gens, l1_key, ttl, value);
}

/// The visible rows of `M` with these keys: L1 first, then one Redis
/// round trip for the rest, then one SQL query for what is still missing.
/// Order follows `keys`; missing keys are skipped.
pub(crate) async fn get_many<T, K, F, Fut>(
    cache: &Cache,
    table: &'static str,
    keys: &[K],
    ttl: Duration,
    id_of: impl Fn(&T) -> String,
    load: F,
) -> Result<Vec<T>>
where
    T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    K: std::fmt::Debug + Clone,
    F: FnOnce(Vec<K>) -> Fut,
    Fut: Future<Output = Result<Vec<T>>>,
{
    let counters = &cache.counters;
    let gens = cache.gens(table);
    let trusted = cache.trusted();
    let epoch = cache.epoch();
    let ids: Vec<String> = keys.iter().map(row_id).collect();
    let mut found: Vec<Option<T>> = vec![None; keys.len()];
    let mut missing: Vec<usize> = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        match cache
            .l1
            .as_ref()
            .filter(|_| trusted)
            .and_then(|l1| l1.get::<T>(&l1::row_key(table, gens.row, id)))
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
    if let (Some(l2), false, true) = (&cache.l2, missing.is_empty(), trusted) {
        let wanted: Vec<String> = missing.iter().map(|&i| ids[i].clone()).collect();
        if let Some((w, values)) = l2.get_rows(epoch, table, &wanted, counters).await {
            let mut still = Vec::new();
            for (&i, bytes) in missing.iter().zip(values) {
                match bytes.as_deref().and_then(decode::<T>) {
                    Some(v) => {
                        bump(&counters.l2_hits);
                        found[i] = Some(v);
                    }
                    None => still.push(i),
                }
            }
            missing = still;
            wgen = Some((epoch, w));
        }
    }
    if !missing.is_empty() {
        bump(&counters.loads);
        for _ in &missing {
            bump(&counters.misses);
        }
        let wanted: Vec<K> = missing.iter().map(|&i| keys[i].clone()).collect();
        let rows = load(wanted).await?;
        let mut to_l2 = Vec::new();
        for row in rows {
            let id = id_of(&row);
            if let (Some(_), Some(bytes)) = (&wgen, encode(&row)) {
                to_l2.push((id.clone(), bytes));
            }
            if let Some(l1) = &cache.l1 {
                let key = l1::row_key(table, gens.row, &id);
                let value = row.clone();
                cache.fill_if_current(table, gens, || l1.insert(key, value, ttl));
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
