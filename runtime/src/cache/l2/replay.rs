//! The invalidation replay: what is re-sent to Redis after an outage.
//!
//! An invalidation that cannot reach Redis is remembered here, and sent
//! again before any other command once Redis answers, so a write made while
//! Redis was down cannot leave a stale entry behind once it is back. Up to
//! [`MAX_PENDING`] rows are kept one by one; past that, a table is replayed
//! as "every row" (a bigger invalidation is always safe, a lost one never).
//!
//! Every L2 call replays first, but a process whose reads are all L1 hits
//! may not call Redis for a long time, so [`replay_missed`] also pings while
//! anything is pending.

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::cache::{Cache, CacheCounters, Invalidation};
use crate::observe::counters::bump;

/// Invalidations kept for replay while Redis is unreachable.
const MAX_PENDING: usize = 10_000;

/// The invalidations Redis missed.
#[derive(Default)]
pub(super) struct Replay {
    pending: Mutex<Pending>,
    /// Whether `pending` holds anything: checked (one load) before every call.
    has_pending: AtomicBool,
}

#[derive(Default)]
struct Pending {
    rows: Vec<Invalidation>,
    /// Tables whose row invalidations overflowed: replayed as "every row".
    overflowed: HashSet<&'static str>,
}

impl Replay {
    /// Whether invalidations are waiting to be replayed.
    pub(super) fn has_pending(&self) -> bool {
        self.has_pending.load(Ordering::Acquire)
    }

    /// Keeps `inv`, which did not reach Redis, for the next replay.
    pub(super) fn remember(&self, inv: &Invalidation) {
        if let Ok(mut p) = self.pending.lock() {
            self.has_pending.store(true, Ordering::Release);
            if p.rows.len() < MAX_PENDING {
                p.rows.push(inv.clone());
            } else {
                p.overflowed.insert(inv.table);
            }
        }
    }

    /// Sends every pending invalidation with `send`, each bounded by
    /// `timeout`; false if some still failed (they stay pending).
    pub(super) async fn run<F, Fut>(
        &self,
        timeout: Duration,
        counters: &CacheCounters,
        send: F,
    ) -> bool
    where
        F: Fn(&Invalidation) -> Fut,
        Fut: Future<Output = redis::RedisResult<()>>,
    {
        let pending = match self.pending.lock() {
            Ok(mut p) => {
                self.has_pending.store(false, Ordering::Release);
                std::mem::take(&mut *p)
            }
            Err(_) => return false,
        };
        if pending.rows.is_empty() && pending.overflowed.is_empty() {
            return true;
        }
        tracing::info!(
            rows = pending.rows.len(),
            tables = pending.overflowed.len(),
            "redis is back; replaying missed invalidations"
        );
        let mut failed = Vec::new();
        let everything = pending.overflowed.iter().map(|t| Invalidation::all(t));
        for inv in pending.rows.into_iter().chain(everything) {
            // After one failure the rest stay pending untried: a Redis that
            // does not answer would otherwise cost one timeout per entry.
            let ok = failed.is_empty()
                && tokio::time::timeout(timeout, send(&inv))
                    .await
                    .is_ok_and(|r| r.is_ok());
            if !ok {
                if failed.is_empty() {
                    bump(&counters.redis_errors);
                }
                failed.push(inv);
            }
        }
        if failed.is_empty() {
            return true;
        }
        if let Ok(mut p) = self.pending.lock() {
            p.rows.extend(failed);
            self.has_pending.store(true, Ordering::Release);
        }
        false
    }
}

/// Retries invalidations Redis missed until they land: pings (which
/// replays first) every 100 ms while any are pending. Ends with the cache.
pub(crate) async fn replay_missed(cache: std::sync::Weak<Cache>) {
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tick.tick().await;
        let Some(cache) = cache.upgrade() else { return };
        if let Some(l2) = &cache.l2
            && l2.has_pending()
        {
            l2.ping(&cache.counters).await;
        }
    }
}
