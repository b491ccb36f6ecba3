//! The layered cache: L1 in-process (moka), L2 Redis, both optional.
//!
//! Correctness rules, and how each is kept:
//! - **Every write invalidates what it made stale.** Model writes call
//!   `Cache::invalidate` after they succeed (after `COMMIT` inside a
//!   transaction, never after a rollback). Each model has two counters: the
//!   *write generation* (every write bumps it; cached lists are keyed by it,
//!   so one bump retires all of them in O(1)) and the *row generation*
//!   (bumped by bulk writes that cannot name their rows; row keys include it).
//! - **No stale set.** A reader snapshots the write generation before it
//!   loads from PostgreSQL and stores what it loaded only if the generation
//!   is unchanged: atomically in Redis (a Lua script), and under the local
//!   generation lock in L1. A reader that loaded the old row before a write
//!   therefore cannot put it back after the write's invalidation.
//! - **One load per key.** Concurrent misses on one key wait for the first
//!   loader, then read what it stored.
//! - **Redis down is not an error.** L2 sits behind a breaker and a short
//!   timeout; calls fall through to PostgreSQL. Invalidations Redis missed are
//!   replayed when it answers again.
//! - **Other processes** drop their L1 entries on the invalidation messages
//!   published with each write; after a lost subscription, L1 is flushed.
//!
//! Where each part lives: this file holds `Cache` (the local generations,
//! the in-flight map, the counters); `invalidation.rs` what a write made
//! stale; `load.rs` the read path, whose model-aware faces are
//! `crate::cached`; `l1.rs` the in-process tier; `l2/` the Redis tier (the
//! store, its scripts, the client wrapper and the replay after an outage);
//! `pubsub.rs` the cross-process messages and their acknowledgements;
//! `store.rs` the general `db.cache()` API; `hooks.rs` the test hooks.

mod hooks;
mod invalidation;
mod l1;
mod l2;
pub(crate) mod load;
mod pubsub;
mod store;

pub use crate::cached::{CachedModelExt, CachedQuery};
pub use crate::observe::metrics::CacheMetrics;
#[cfg(feature = "test-hooks")]
#[doc(hidden)]
pub use hooks::FillGate;
pub(crate) use invalidation::row_id;
pub use invalidation::{Invalidation, WriteGuard};
pub use store::CacheStore;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::observe::counters::bump;
use l1::L1;
use l2::L2;

/// Cache counters, bumped without locks.
#[derive(Debug, Default)]
pub(crate) struct CacheCounters {
    pub(crate) l1_hits: AtomicU64,
    pub(crate) l2_hits: AtomicU64,
    pub(crate) misses: AtomicU64,
    pub(crate) loads: AtomicU64,
    pub(crate) coalesced: AtomicU64,
    pub(crate) invalidations: AtomicU64,
    pub(crate) stale_sets_refused: AtomicU64,
    pub(crate) redis_errors: AtomicU64,
}

/// Local generation counters of one table.
#[derive(Debug, Default, Clone, Copy)]
struct Gens {
    write: u64,
    row: u64,
}

/// The cache of one [`Db`](crate::Db).
pub(crate) struct Cache {
    pub(crate) l1: Option<L1>,
    pub(crate) l2: Option<Arc<L2>>,
    pub(crate) default_ttl: Duration,
    pub(crate) counters: Arc<CacheCounters>,
    /// Guards check-and-fill against bump-and-evict in L1.
    gens: Mutex<HashMap<String, Gens>>,
    inflight: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    subscriber: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// Only with the `test-hooks` feature; see `hooks.rs`.
    #[cfg(feature = "test-hooks")]
    hooks: hooks::Hooks,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("l1", &self.l1.is_some())
            .field("l2", &self.l2)
            .finish_non_exhaustive()
    }
}

impl Drop for Cache {
    fn drop(&mut self) {
        if let Ok(tasks) = self.subscriber.get_mut() {
            for task in tasks.drain(..) {
                task.abort();
            }
        }
    }
}

/// How the cache is set up; from [`Config`](crate::Config).
#[derive(Debug, Clone)]
pub(crate) struct CacheSettings {
    pub(crate) l1_capacity: u64,
    pub(crate) redis_url: Option<String>,
    pub(crate) prefix: String,
    pub(crate) ttl: Duration,
    pub(crate) redis_timeout: Duration,
    /// TLS certificates for a `rediss://` URL (set by `Db::connect`).
    pub(crate) redis_tls: Option<crate::tls::RedisTls>,
}

impl CacheSettings {
    /// The cache's part of a `Config` (the Redis key prefix defaults to
    /// `strata:<dbname>:<search_path>`).
    pub(crate) fn from_config(config: &crate::config::Config) -> Self {
        CacheSettings {
            l1_capacity: config.cache_l1_capacity,
            redis_url: config.redis_url.as_ref().map(|s| s.expose().to_owned()),
            prefix: config.cache_prefix.clone().unwrap_or_else(|| {
                format!(
                    "strata:{}:{}",
                    config.get_dbname(),
                    config.search_path.as_deref().unwrap_or("public")
                )
            }),
            ttl: config.cache_ttl,
            redis_timeout: config.cache_redis_timeout,
            redis_tls: None,
        }
    }
}

impl Cache {
    pub(crate) fn new(settings: CacheSettings) -> crate::Result<Arc<Cache>> {
        let instance: u64 = rand::random();
        let l2 = match &settings.redis_url {
            None => None,
            Some(url) => Some(Arc::new(
                L2::new(
                    url,
                    settings.prefix.clone(),
                    instance,
                    settings.redis_timeout,
                    settings.redis_tls.as_ref(),
                )
                .map_err(|e| crate::Error::Config {
                    var: "REDIS_URL",
                    reason: format!("not a Redis URL ({e})"),
                })?,
            )),
        };
        let cache = Arc::new(Cache {
            l1: (settings.l1_capacity > 0).then(|| L1::new(settings.l1_capacity)),
            l2,
            default_ttl: settings.ttl,
            counters: Arc::new(CacheCounters::default()),
            gens: Mutex::new(HashMap::new()),
            inflight: Mutex::new(HashMap::new()),
            subscriber: Mutex::new(Vec::new()),
            #[cfg(feature = "test-hooks")]
            hooks: hooks::Hooks::default(),
        });
        // The listener applies other processes' invalidations to L1 and
        // receives acknowledgements of ours, so it runs whenever Redis does.
        if cache.l2.is_some() {
            let tasks = vec![
                tokio::spawn(pubsub::listen(Arc::downgrade(&cache))),
                tokio::spawn(l2::replay_missed(Arc::downgrade(&cache))),
            ];
            if let Ok(mut slot) = cache.subscriber.lock() {
                *slot = tasks;
            }
        }
        Ok(cache)
    }

    /// True when neither tier is configured.
    pub(crate) fn is_off(&self) -> bool {
        self.l1.is_none() && self.l2.is_none()
    }

    pub(crate) fn metrics(&self) -> CacheMetrics {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Relaxed);
        CacheMetrics {
            l1_hits: get(&c.l1_hits),
            l2_hits: get(&c.l2_hits),
            misses: get(&c.misses),
            loads: get(&c.loads),
            coalesced: get(&c.coalesced),
            invalidations: get(&c.invalidations),
            stale_sets_refused: get(&c.stale_sets_refused),
            redis_errors: get(&c.redis_errors),
        }
    }

    fn gens(&self, table: &str) -> Gens {
        self.gens
            .lock()
            .map(|g| g.get(table).copied().unwrap_or_default())
            .unwrap_or_default()
    }

    /// Runs `fill` only if the table's local write generation is still
    /// `write`, under the lock that invalidation takes.
    fn fill_if_current(&self, table: &str, write: u64, fill: impl FnOnce()) -> bool {
        let Ok(gens) = self.gens.lock() else {
            return false;
        };
        if gens.get(table).copied().unwrap_or_default().write != write {
            bump(&self.counters.stale_sets_refused);
            return false;
        }
        fill();
        true
    }

    /// Applies an invalidation to this process's L1: `mode` and `row` as in
    /// [`Invalidation::mode`].
    pub(crate) fn invalidate_local(&self, table: &str, mode: &str, row: &str) {
        bump(&self.counters.invalidations);
        let Ok(mut gens) = self.gens.lock() else {
            return;
        };
        let entry = gens.entry(table.to_owned()).or_default();
        entry.write += 1;
        match mode {
            "row" => {
                if let Some(l1) = &self.l1 {
                    l1.remove(&l1::row_key(table, entry.row, row));
                }
            }
            "lists" => {}
            _ => entry.row += 1,
        }
    }

    /// Drops everything this process holds (after a lost subscription).
    pub(crate) fn flush_local(&self) {
        if let Ok(mut gens) = self.gens.lock() {
            for g in gens.values_mut() {
                g.write += 1;
                g.row += 1;
            }
        }
        if let Some(l1) = &self.l1 {
            l1.clear();
        }
    }

    /// Makes every tier forget what `inv` names, and tells other processes.
    pub(crate) async fn invalidate(&self, inv: &Invalidation) {
        if self.is_off() {
            return;
        }
        let (mode, row) = inv.mode();
        self.invalidate_local(inv.table, mode, row);
        if let Some(l2) = &self.l2 {
            l2.invalidate(inv, &self.counters).await;
        }
    }
}

/// Removes a loader's `inflight` entry however the load ends, cancelled
/// included, so the map cannot grow without bound.
pub(crate) struct Inflight<'a> {
    cache: &'a Cache,
    key: String,
    lock: Arc<tokio::sync::Mutex<()>>,
}

impl Drop for Inflight<'_> {
    fn drop(&mut self) {
        self.cache.done(&self.key, &self.lock);
    }
}

impl Cache {
    /// The lock that makes concurrent misses on `key` load once.
    fn inflight(&self, key: &str) -> Inflight<'_> {
        let mut map = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
        let lock = map.entry(key.to_owned()).or_default().clone();
        Inflight {
            cache: self,
            key: key.to_owned(),
            lock,
        }
    }

    /// Removes `key`'s entry if it is still `lock` (a later loader may
    /// have put its own there).
    fn done(&self, key: &str, lock: &Arc<tokio::sync::Mutex<()>>) {
        if let Ok(mut map) = self.inflight.lock()
            && map.get(key).is_some_and(|l| Arc::ptr_eq(l, lock))
        {
            map.remove(key);
        }
    }
}
