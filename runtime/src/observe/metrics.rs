//! The public snapshot of a `Db`'s counters ([`Db::metrics`](crate::Db::metrics)),
//! read from the live [`Counters`] and the [`Observer`]'s histograms.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::Observer;
use super::counters::{Counters, FAILURE_KINDS, ROUND_TRIP_KINDS};

/// Pool occupancy at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
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

/// Pool occupancy plus checkout counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct PoolMetrics {
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
    /// Checkouts so far.
    pub checkouts: u64,
    /// Connection attempts made for a caller that failed (refused, reset,
    /// timed out, or refused by the server), retried ones included.
    pub connect_failures: u64,
    /// Failed connection attempts that were repeated (`retry_attempts`).
    pub connect_retries: u64,
    /// Median wait for a checkout.
    pub wait_p50: std::time::Duration,
    /// 99th-percentile wait for a checkout.
    pub wait_p99: std::time::Duration,
}

/// Statement counters and latency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct QueryMetrics {
    /// Statements run.
    pub total: u64,
    /// Statements that returned an error, those refused or stopped before
    /// anything was sent (breaker open, pool exhausted, connect timeout,
    /// invalid input) included.
    pub failed: u64,
    /// `failed`, split by kind, in [`FAILURE_KINDS`] order.
    pub failed_by_kind: [u64; FAILURE_KINDS.len()],
    /// Statements slower than the slow-query threshold.
    pub slow: u64,
    /// Median latency.
    pub p50: std::time::Duration,
    /// 95th-percentile latency.
    pub p95: std::time::Duration,
    /// 99th-percentile latency.
    pub p99: std::time::Duration,
    /// Reads transparently repeated on a fresh connection after the first one died.
    pub reads_retried: u64,
    /// Model `get`s / `find`s answered by a batched `= ANY($1)` statement
    /// (the statement itself counts once in `total`).
    pub gets_batched: u64,
    /// Connections thrown away because they were broken or in an unknown state.
    pub connections_discarded: u64,
}

/// Transaction counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
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
    /// `db.transaction` calls that exhausted their retries and returned
    /// the last conflict to the caller.
    pub gave_up: u64,
}

impl QueryMetrics {
    /// Failed statements of one kind of [`FAILURE_KINDS`] (0 for an unknown one).
    pub fn failed_of(&self, kind: &str) -> u64 {
        FAILURE_KINDS
            .iter()
            .position(|k| *k == kind)
            .map_or(0, |i| self.failed_by_kind[i])
    }
}

impl TxMetrics {
    /// All retries, whatever the cause.
    pub fn retried(&self) -> u64 {
        self.retried_serialization + self.retried_deadlock + self.retried_unique
    }
}

/// Round trips to PostgreSQL by what they carried, in [`ROUND_TRIP_KINDS`]
/// order: statements, `COPY`, transaction control, savepoints, session
/// checks, migrations and probes. Every round trip strata makes is in one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct RoundTripMetrics {
    /// Round trips sent, by kind.
    pub sent: [u64; ROUND_TRIP_KINDS.len()],
    /// Of those, the ones that failed or got no answer in time, by kind.
    pub failed: [u64; ROUND_TRIP_KINDS.len()],
}

impl RoundTripMetrics {
    /// Round trips of one kind of [`ROUND_TRIP_KINDS`] (0 for an unknown one).
    pub fn sent_of(&self, kind: &str) -> u64 {
        kind_index(kind).map_or(0, |i| self.sent[i])
    }

    /// Failed round trips of one kind of [`ROUND_TRIP_KINDS`].
    pub fn failed_of(&self, kind: &str) -> u64 {
        kind_index(kind).map_or(0, |i| self.failed[i])
    }
}

fn kind_index(kind: &str) -> Option<usize> {
    ROUND_TRIP_KINDS.iter().position(|k| *k == kind)
}

/// A snapshot of the change feed's listener (`db.changes::<M>()` and the
/// cache channel share one per `Db`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[non_exhaustive]
pub struct ChangeMetrics {
    /// Notifications received (one per writing statement, or fewer when a
    /// transaction repeats one).
    pub notifications: u64,
    /// `Gap`s announced: reconnects, after which anything may have been
    /// missed (a lagging subscriber's own gaps are not counted here).
    pub gaps: u64,
    /// Times the listener connected again after losing its connection.
    pub reconnects: u64,
    /// The listener's backend pid while it is connected (as in
    /// `pg_stat_activity.pid`).
    pub listener_pid: Option<i32>,
    /// Connected and listening on every channel.
    pub live: bool,
}

/// A snapshot of the cache counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct CacheMetrics {
    /// Reads answered by the in-process tier.
    pub l1_hits: u64,
    /// Reads answered by Redis.
    pub l2_hits: u64,
    /// Reads that had to go to PostgreSQL.
    pub misses: u64,
    /// Loads from PostgreSQL made to fill the cache.
    pub loads: u64,
    /// Readers that waited for another reader's load of the same key.
    pub coalesced: u64,
    /// Invalidations applied by writes (here or, for L1, in other processes).
    pub invalidations: u64,
    /// Fills dropped because a write happened while they loaded.
    pub stale_sets_refused: u64,
    /// Redis calls that failed or timed out (each fell through).
    pub redis_errors: u64,
}

impl CacheMetrics {
    /// Hits over reads, in `[0, 1]`; 0 with no reads.
    pub fn hit_rate(&self) -> f64 {
        let hits = self.l1_hits + self.l2_hits;
        let reads = hits + self.misses;
        if reads == 0 {
            0.0
        } else {
            #[allow(clippy::cast_precision_loss)]
            let rate = hits as f64 / reads as f64;
            rate
        }
    }
}

/// The breaker's state, for metrics and health.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Calls go through.
    Closed,
    /// Calls fail fast until the cool-down ends.
    Open,
    /// One probe is in flight.
    HalfOpen,
}

/// A point-in-time snapshot of a [`Db`](crate::Db)'s counters.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct Metrics {
    /// Pool occupancy and checkouts.
    pub pool: PoolMetrics,
    /// Statements.
    pub queries: QueryMetrics,
    /// Transactions.
    pub transactions: TxMetrics,
    /// Round trips, by kind.
    pub round_trips: RoundTripMetrics,
    /// The model cache.
    pub cache: CacheMetrics,
    /// The PostgreSQL circuit breaker.
    pub breaker: BreakerState,
    /// The change feed's listener.
    pub changes: ChangeMetrics,
}

impl Counters {
    pub(crate) fn snapshot(
        &self,
        pool: PoolStatus,
        observer: &Observer,
        cache: CacheMetrics,
        breaker: BreakerState,
        changes: ChangeMetrics,
    ) -> Metrics {
        let get = |c: &AtomicU64| c.load(Relaxed);
        let [wait_p50, wait_p99] = observer.checkout_wait.percentiles([50.0, 99.0]);
        let [p50, p95, p99] = observer.latency.percentiles([50.0, 95.0, 99.0]);
        Metrics {
            pool: PoolMetrics {
                size: pool.size,
                idle: pool.idle,
                in_use: pool.in_use,
                waiting: pool.waiting,
                max: pool.max,
                checkouts: get(&observer.checkouts),
                connect_failures: get(&self.connects_failed),
                connect_retries: get(&self.connects_retried),
                wait_p50,
                wait_p99,
            },
            queries: QueryMetrics {
                total: get(&self.queries),
                failed: get(&self.queries_failed),
                failed_by_kind: std::array::from_fn(|i| get(&self.failed_by_kind[i])),
                slow: get(&observer.slow),
                p50,
                p95,
                p99,
                reads_retried: get(&self.reads_retried),
                gets_batched: get(&self.gets_batched),
                connections_discarded: get(&self.connections_discarded),
            },
            transactions: TxMetrics {
                committed: get(&self.tx_committed),
                rolled_back: get(&self.tx_rolled_back),
                retried_serialization: get(&self.tx_retried_serialization),
                gave_up: get(&self.tx_gave_up),
                retried_deadlock: get(&self.tx_retried_deadlock),
                retried_unique: get(&self.tx_retried_unique),
            },
            round_trips: RoundTripMetrics {
                sent: std::array::from_fn(|i| get(&self.round_trips[i])),
                failed: std::array::from_fn(|i| get(&self.round_trips_failed[i])),
            },
            cache,
            breaker,
            changes,
        }
    }
}
