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
//! - **Bounded generations.** The generation keys live in Redis with a
//!   TTL, so a retired epoch's keys and an idle table's go away. Nothing
//!   may come back when one expires (and reads as 0 again): a write gives
//!   the counters it bumps at least a day (or the longest entry TTL used,
//!   if longer) plus a minute, and every fill makes the generation it
//!   filled under outlive its entries. So a generation expires only once
//!   no entry stored under it or an older one is alive, and the ABA case
//!   (a reader snapshots `wgen` = 0, a write makes it 1, it expires back
//!   to 0, the reader's stale fill matches) needs a fill to land a day
//!   after its snapshot.
//! - **One load per key.** Concurrent misses on one key wait for the first
//!   loader, then read what it stored.
//! - **Redis down is not an error.** L2 sits behind a breaker and a short
//!   timeout; calls fall through to PostgreSQL. Invalidations Redis missed are
//!   replayed when it answers again.
//! - **Other processes** drop their L1 entries on the invalidation messages
//!   published with each write, and acknowledge them; a write returns once
//!   every live process did, or once it has retired every cached entry
//!   everywhere (a new epoch, and a lease's wait). With Redis, caches are
//!   trusted only under a lease that PostgreSQL keeps confirming; a lost
//!   subscription flushes L1 at once. `lease/` holds the argument.
//!
//! Where each part lives: this file holds `Cache` (the local generations,
//! the in-flight map, the counters); `invalidation.rs` what a write made
//! stale; `load.rs` the read path, whose model-aware faces are
//! `crate::cached`; `l1.rs` the in-process tier; `l2/` the Redis tier (the
//! store, its scripts, the client wrapper and the replay after an outage);
//! `pubsub.rs` the cross-process messages and their acknowledgements;
//! `lease/` the leases, the epoch and the members (PostgreSQL's side);
//! `store.rs` the general `db.cache()` API; `hooks.rs` the test hooks.

mod hooks;
mod invalidation;
mod l1;
#[cfg(feature = "redis")]
mod l2;
#[cfg(not(feature = "redis"))]
#[path = "l2_off.rs"]
mod l2;
// The lease guards what Redis holds; a build without Redis never makes one.
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
mod lease;
pub(crate) mod load;
#[cfg(feature = "redis")]
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
use lease::Lease;

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

/// Local generation counters of one table, and the number of whole-L1
/// flushes when they were read (a flush retires every snapshot, also of
/// tables this process never invalidated).
#[derive(Debug, Default, Clone, Copy)]
struct Gens {
    write: u64,
    row: u64,
    flush: u64,
}

/// Every table's local generations, and the flush count.
#[derive(Debug, Default)]
struct GenTable {
    flushes: u64,
    tables: HashMap<String, Gens>,
}

/// The cache of one [`Db`](crate::Db).
pub(crate) struct Cache {
    pub(crate) l1: Option<L1>,
    pub(crate) l2: Option<Arc<L2>>,
    pub(crate) default_ttl: Duration,
    pub(crate) counters: Arc<CacheCounters>,
    /// Guards check-and-fill against bump-and-evict in L1.
    gens: Mutex<GenTable>,
    /// With Redis: when the caches may be trusted, and the epoch.
    pub(crate) lease: Option<Arc<Lease>>,
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
        // Leave the members, so other processes' writes stop waiting for
        // this one's acknowledgements (else they would for two leases).
        if let (Some(lease), Ok(runtime)) =
            (self.lease.take(), tokio::runtime::Handle::try_current())
        {
            runtime.spawn(async move { lease.link.leave().await });
        }
    }
}

/// How the cache is set up; from [`Config`](crate::Config).
#[derive(Debug, Clone)]
pub(crate) struct CacheSettings {
    pub(crate) l1_capacity: u64,
    pub(crate) redis_url: Option<String>,
    /// Whether `redis_url` lists Redis Cluster nodes.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) redis_cluster: bool,
    pub(crate) prefix: String,
    pub(crate) ttl: Duration,
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) redis_timeout: Duration,
    /// The lease's dedicated connection's settings.
    pub(crate) pg: tokio_postgres::Config,
    /// ... and its TLS, the pool's.
    pub(crate) pg_tls: crate::tls::TlsSettings,
    pub(crate) lease: Duration,
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
            redis_cluster: config.redis_cluster,
            prefix: config.cache_prefix.clone().unwrap_or_else(|| {
                format!(
                    "strata:{}:{}",
                    config.get_dbname(),
                    config.search_path.as_deref().unwrap_or("public")
                )
            }),
            ttl: config.cache_ttl,
            redis_timeout: config.cache_redis_timeout,
            pg: config.to_pg(),
            pg_tls: config.tls.clone(),
            lease: config.cache_lease,
            redis_tls: None,
        }
    }
}

impl Cache {
    pub(crate) fn new(settings: CacheSettings) -> crate::Result<Arc<Cache>> {
        let instance: u64 = rand::random();
        #[cfg(not(feature = "redis"))]
        if settings.redis_url.is_some() {
            return Err(crate::Error::Config {
                var: "REDIS_URL",
                reason:
                    "strata was built without its `redis` feature: enable it, or unset REDIS_URL"
                        .into(),
            });
        }
        let lease = settings.redis_url.as_ref().map(|_| {
            Arc::new(Lease::new(
                settings.pg.clone(),
                settings.pg_tls.clone(),
                settings.prefix.clone(),
                instance,
                settings.lease,
            ))
        });
        #[cfg(not(feature = "redis"))]
        let l2: Option<Arc<L2>> = None;
        #[cfg(feature = "redis")]
        let l2 = match (&settings.redis_url, &lease) {
            (Some(url), Some(lease)) => Some(Arc::new(
                L2::new(
                    url,
                    settings.redis_cluster,
                    settings.prefix.clone(),
                    instance,
                    settings.redis_timeout,
                    lease.clone(),
                    settings.redis_tls.as_ref(),
                )
                .map_err(|e| crate::Error::Config {
                    var: "REDIS_URL",
                    reason: if cfg!(not(feature = "tls")) && url.starts_with("rediss://") {
                        "rediss:// asks for TLS, but strata was built without its `tls` feature"
                            .to_owned()
                    } else {
                        format!("not a Redis URL ({e})")
                    },
                })?,
            )),
            _ => None,
        };
        let cache = Arc::new(Cache {
            l1: l1_tier(settings.l1_capacity),
            l2,
            default_ttl: settings.ttl,
            counters: Arc::new(CacheCounters::default()),
            gens: Mutex::new(GenTable::default()),
            lease,
            inflight: Mutex::new(HashMap::new()),
            subscriber: Mutex::new(Vec::new()),
            #[cfg(feature = "test-hooks")]
            hooks: hooks::Hooks::default(),
        });
        // The listener applies other processes' invalidations to L1 and
        // receives acknowledgements of ours, so it runs whenever Redis does.
        if let Some(lease) = &cache.lease {
            let weak = Arc::downgrade(&cache);
            lease.on_flush(Box::new(move || {
                if let Some(cache) = weak.upgrade() {
                    cache.flush_local();
                }
            }));
            #[cfg(feature = "redis")]
            let tasks = vec![
                tokio::spawn(pubsub::listen(Arc::downgrade(&cache))),
                tokio::spawn(l2::replay_missed(Arc::downgrade(&cache))),
                tokio::spawn(lease::task::confirm(lease.clone())),
                tokio::spawn(pubsub::heartbeat(Arc::downgrade(&cache))),
            ];
            #[cfg(not(feature = "redis"))]
            let tasks = vec![tokio::spawn(lease::task::confirm(lease.clone()))];
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

    /// Waits (at most `bound`) until the caches are trusted: a new handle
    /// with Redis serves from its caches only once its lease began.
    pub(crate) async fn ready(&self, bound: Duration) {
        if let Some(lease) = &self.lease {
            lease.ready(bound).await;
        }
    }

    /// Whether cached entries may be served (and stored) now: always
    /// without Redis, else while the lease holds.
    #[inline]
    pub(crate) fn trusted(&self) -> bool {
        self.lease.as_ref().is_none_or(|l| l.is_trusted())
    }

    /// The L2 epoch to snapshot before a read (0 without a lease).
    pub(crate) fn epoch(&self) -> u64 {
        self.lease.as_ref().map_or(0, |l| l.epoch())
    }

    fn gens(&self, table: &str) -> Gens {
        self.gens
            .lock()
            .map(|g| Gens {
                flush: g.flushes,
                ..g.tables.get(table).copied().unwrap_or_default()
            })
            .unwrap_or_default()
    }

    /// Runs `fill` only if the table's local write generation and the
    /// flush count are still those of `snap` and the caches are trusted,
    /// under the lock that invalidation and flushes take.
    fn fill_if_current(&self, table: &str, snap: Gens, fill: impl FnOnce()) -> bool {
        let Ok(gens) = self.gens.lock() else {
            return false;
        };
        let now = gens.tables.get(table).copied().unwrap_or_default();
        if now.write != snap.write || gens.flushes != snap.flush || !self.trusted() {
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
        let entry = gens.tables.entry(table.to_owned()).or_default();
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

    /// Drops everything this process holds (after a lost subscription, a
    /// lapsed lease, a new epoch), under the generation lock, so no fill
    /// that snapshotted before can land after.
    pub(crate) fn flush_local(&self) {
        if let Ok(mut gens) = self.gens.lock() {
            gens.flushes += 1;
            for g in gens.tables.values_mut() {
                g.write += 1;
                g.row += 1;
            }
            if let Some(l1) = &self.l1 {
                l1.clear();
            }
        }
    }

    /// Makes every tier forget what `inv` names, and tells other processes.
    pub(crate) async fn invalidate(&self, inv: &Invalidation) {
        if self.is_off() {
            return;
        }
        let (mode, row) = inv.mode();
        self.invalidate_local(inv.table, mode, row);
        if let (Some(l2), Some(lease)) = (&self.l2, &self.lease) {
            let members = lease.members_now().await;
            let delivered = l2.invalidate(inv, members, &self.counters).await;
            if !delivered {
                lease.retire_everything().await;
            }
        }
    }
}

/// The in-process tier, if `capacity` asks for one and the build has it
/// (without moka there is none: the README's "Cargo features" says so).
fn l1_tier(capacity: u64) -> Option<L1> {
    #[cfg(feature = "moka")]
    return (capacity > 0).then(|| L1::new(capacity));
    #[cfg(not(feature = "moka"))]
    {
        let _ = capacity;
        None
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
