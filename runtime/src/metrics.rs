//! Counters that the runtime bumps on its hot paths: plain relaxed atomics,
//! no locks, read together by [`Db::metrics`](crate::Db::metrics).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Live counters, one set per [`Db`](crate::Db).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) queries: AtomicU64,
    pub(crate) queries_failed: AtomicU64,
    pub(crate) reads_retried: AtomicU64,
    pub(crate) connections_discarded: AtomicU64,
    pub(crate) tx_committed: AtomicU64,
    pub(crate) tx_rolled_back: AtomicU64,
    pub(crate) tx_retried_serialization: AtomicU64,
    pub(crate) tx_retried_deadlock: AtomicU64,
    pub(crate) tx_retried_unique: AtomicU64,
}

pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Relaxed);
}

/// Pool occupancy at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStatus {
    /// Connections open now.
    pub size: usize,
    /// Open connections not checked out.
    pub idle: usize,
    /// Connections checked out.
    pub in_use: usize,
    /// Callers waiting for a connection.
    pub waiting: usize,
    /// The configured maximum.
    pub max: usize,
}

/// Statement counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueryMetrics {
    /// Statements run.
    pub total: u64,
    /// Statements that returned an error.
    pub failed: u64,
    /// Reads transparently repeated on a fresh connection after the first one died.
    pub reads_retried: u64,
    /// Connections thrown away because they were broken or in an unknown state.
    pub connections_discarded: u64,
}

/// Transaction counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TxMetrics {
    /// Transactions committed.
    pub committed: u64,
    /// Transaction attempts rolled back (including attempts that were then retried).
    pub rolled_back: u64,
    /// Retries after SQLSTATE 40001.
    pub retried_serialization: u64,
    /// Retries after SQLSTATE 40P01.
    pub retried_deadlock: u64,
    /// Retries after SQLSTATE 23505, for transactions that opted in.
    pub retried_unique: u64,
}

impl TxMetrics {
    /// All retries, whatever the cause.
    pub fn retried(&self) -> u64 {
        self.retried_serialization + self.retried_deadlock + self.retried_unique
    }
}

/// A point-in-time snapshot of a [`Db`](crate::Db)'s counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metrics {
    /// Pool occupancy.
    pub pool: PoolStatus,
    /// Statements.
    pub queries: QueryMetrics,
    /// Transactions.
    pub transactions: TxMetrics,
    /// The model cache.
    pub cache: crate::cache::CacheMetrics,
}

impl Counters {
    pub(crate) fn snapshot(&self, pool: PoolStatus, cache: crate::cache::CacheMetrics) -> Metrics {
        let get = |c: &AtomicU64| c.load(Relaxed);
        Metrics {
            pool,
            queries: QueryMetrics {
                total: get(&self.queries),
                failed: get(&self.queries_failed),
                reads_retried: get(&self.reads_retried),
                connections_discarded: get(&self.connections_discarded),
            },
            transactions: TxMetrics {
                committed: get(&self.tx_committed),
                rolled_back: get(&self.tx_rolled_back),
                retried_serialization: get(&self.tx_retried_serialization),
                retried_deadlock: get(&self.tx_retried_deadlock),
                retried_unique: get(&self.tx_retried_unique),
            },
            cache,
        }
    }
}
