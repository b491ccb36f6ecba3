//! The pool's background upkeep: transaction leases (so a transaction
//! that holds its connection too long is reported with where it began) and
//! the idle reaper that trims connections back to `pool_min`.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::{Db, Inner};

/// Transactions holding a connection, for leak reports.
#[derive(Debug, Default)]
pub(crate) struct Leases {
    next: std::sync::atomic::AtomicU64,
    open: std::sync::Mutex<std::collections::HashMap<u64, Lease>>,
}

#[derive(Debug)]
struct Lease {
    since: Instant,
    location: &'static std::panic::Location<'static>,
    reported: bool,
}

/// Removes its lease when the transaction ends, however it ends.
#[derive(Debug)]
pub(crate) struct LeaseGuard<'a> {
    leases: &'a Leases,
    id: u64,
}

impl Leases {
    pub(crate) fn open(&self, location: &'static std::panic::Location<'static>) -> LeaseGuard<'_> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut open) = self.open.lock() {
            open.insert(
                id,
                Lease {
                    since: Instant::now(),
                    location,
                    reported: false,
                },
            );
        }
        LeaseGuard { leases: self, id }
    }

    /// Warns once about each lease older than `threshold`; returns how many
    /// were reported now.
    fn report(&self, threshold: Duration) -> usize {
        let Ok(mut open) = self.open.lock() else {
            return 0;
        };
        let mut reported = 0;
        for lease in open.values_mut() {
            let held = lease.since.elapsed();
            if !lease.reported && held >= threshold {
                lease.reported = true;
                reported += 1;
                tracing::warn!(
                    held_ms = u64::try_from(held.as_millis()).unwrap_or(u64::MAX),
                    location = %lease.location,
                    "connection held past the leak threshold by a transaction started at {}",
                    lease.location
                );
            }
        }
        reported
    }

    /// Where each connection held past `threshold` was taken.
    pub(crate) fn held_longer_than(&self, threshold: Duration) -> Vec<String> {
        self.open
            .lock()
            .map(|open| {
                open.values()
                    .filter(|l| l.since.elapsed() >= threshold)
                    .map(|l| l.location.to_string())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for LeaseGuard<'_> {
    fn drop(&mut self) {
        if let Ok(mut open) = self.leases.open.lock() {
            open.remove(&self.id);
        }
    }
}

/// Scans transaction leases and reports those past the leak threshold.
pub(super) async fn watch_leases(inner: std::sync::Weak<Inner>) {
    let threshold = match inner.upgrade() {
        Some(inner) => inner.config.leak_threshold,
        None => return,
    };
    let every = (threshold / 4).clamp(Duration::from_millis(50), Duration::from_millis(500));
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        inner.leases.report(threshold);
    }
}

impl Db {
    /// Source locations of transactions holding their connection longer
    /// than the leak threshold right now.
    pub fn leaked_connections(&self) -> Vec<String> {
        self.inner
            .leases
            .held_longer_than(self.inner.config.leak_threshold)
    }
}

/// Closes connections idle for longer than `idle`, keeping `pool_min`.
pub(super) async fn reap_idle(inner: std::sync::Weak<Inner>, idle: Duration) {
    let mut tick = tokio::time::interval(idle.div_f64(2.0).max(Duration::from_millis(50)));
    tick.tick().await;
    loop {
        tick.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        let min = inner.config.pool_min;
        let mut keep = inner.pool.status().size;
        inner.pool.retain(|_, metrics| {
            if keep > min && metrics.last_used() > idle {
                keep -= 1;
                false
            } else {
                true
            }
        });
    }
}
