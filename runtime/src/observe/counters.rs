//! Counters that the runtime bumps on its hot paths: plain relaxed atomics,
//! no locks, read together by [`Db::metrics`](crate::Db::metrics).
//!
//! A leaf module: everything that counts (the pipeline, the cache, the
//! pool) depends on it, and it depends on nothing but the error type.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Live counters, one set per [`Db`](crate::Db).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) queries: AtomicU64,
    pub(crate) queries_failed: AtomicU64,
    pub(crate) failed_by_kind: [AtomicU64; FAILURE_KINDS.len()],
    pub(crate) reads_retried: AtomicU64,
    /// Model gets answered by a batched `= ANY($1)` statement.
    pub(crate) gets_batched: AtomicU64,
    /// Connection attempts that failed (refused, reset, timed out, or an
    /// error from the server while connecting) on a caller's checkout.
    pub(crate) connects_failed: AtomicU64,
    /// Failed connection attempts that were made again.
    pub(crate) connects_retried: AtomicU64,
    pub(crate) connections_discarded: AtomicU64,
    pub(crate) tx_committed: AtomicU64,
    pub(crate) tx_rolled_back: AtomicU64,
    pub(crate) tx_retried_serialization: AtomicU64,
    pub(crate) tx_retried_deadlock: AtomicU64,
    pub(crate) tx_retried_unique: AtomicU64,
    /// `db.transaction` calls that exhausted their retries.
    pub(crate) tx_gave_up: AtomicU64,
    /// Round trips sent, by [`RoundTrip`].
    pub(crate) round_trips: [AtomicU64; ROUND_TRIP_KINDS.len()],
    /// Round trips that failed or got no answer in time, by [`RoundTrip`].
    pub(crate) round_trips_failed: [AtomicU64; ROUND_TRIP_KINDS.len()],
}

/// The labels of round trips by what they carry, as
/// `strata_round_trips_total` carries them (`kind="commit"`, ..) and
/// [`RoundTripMetrics`](crate::RoundTripMetrics) lists them, in this order.
pub const ROUND_TRIP_KINDS: [&str; 10] = [
    "statement",
    "copy",
    "begin",
    "commit",
    "rollback",
    "savepoint",
    "session_check",
    "migration",
    "probe",
    "replica_check",
];

/// What one round trip to PostgreSQL carries; indexes [`ROUND_TRIP_KINDS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RoundTrip {
    /// A model or raw statement (with its read-only wrapper, if any).
    Statement,
    /// A binary `COPY .. FROM STDIN` and its rows.
    Copy,
    /// `BEGIN ..` of a transaction.
    Begin,
    /// `COMMIT`.
    Commit,
    /// `ROLLBACK`.
    Rollback,
    /// `SAVEPOINT`, `RELEASE` or `ROLLBACK TO SAVEPOINT`.
    Savepoint,
    /// The session probe after a raw statement the SQL guard cannot vouch for.
    SessionCheck,
    /// A statement of a migration run (lock, history, the migration's own).
    Migration,
    /// A health or circuit-breaker probe.
    Probe,
    /// The replica check: a WAL position read from the primary or a replica.
    ReplicaCheck,
}

impl RoundTrip {
    /// The metric label.
    pub(crate) fn label(self) -> &'static str {
        ROUND_TRIP_KINDS[self as usize]
    }
}

pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Relaxed);
}

/// Adds `n` to `counter`.
pub(crate) fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Relaxed);
}

/// The labels of failed statements by kind, as `strata_queries_failed_total`
/// carries them (`kind="circuit_open"`, ..) and
/// [`QueryMetrics::failed_by_kind`](crate::QueryMetrics::failed_by_kind) lists them, in this order.
pub const FAILURE_KINDS: [&str; 14] = [
    "not_found",
    "constraint",
    "conflict",
    "timeout",
    "connection",
    "outcome_unknown",
    "pool",
    "circuit_open",
    "invalid_input",
    "decode",
    "transaction_done",
    "database",
    "too_many_rows",
    "other",
];

/// The [`FAILURE_KINDS`] label of an error.
pub(crate) fn failure_label(err: &crate::Error) -> &'static str {
    FAILURE_KINDS[failure_kind(err)]
}

/// The [`FAILURE_KINDS`] index of an error.
fn failure_kind(err: &crate::Error) -> usize {
    use crate::Error as E;
    match err {
        E::NotFound { .. } => 0,
        E::Validation(_)
        | E::UniqueViolation { .. }
        | E::ForeignKeyViolation { .. }
        | E::CheckViolation { .. }
        | E::NotNullViolation { .. } => 1,
        E::Serialization { .. } | E::Deadlock { .. } | E::StaleVersion { .. } => 2,
        E::Timeout { .. } => 3,
        E::Connection { .. } => 4,
        E::OutcomeUnknown { .. } => 5,
        E::PoolExhausted { .. } | E::PoolClosed => 6,
        E::CircuitOpen => 7,
        E::InvalidInput { .. } => 8,
        E::Decode { .. } => 9,
        E::TransactionDone => 10,
        E::Database { .. } => 11,
        E::TooManyRows { .. } => 12,
        _ => 13,
    }
}

impl Counters {
    /// Counts one round trip and whether it succeeded.
    pub(crate) fn round_trip(&self, kind: RoundTrip, ok: bool) {
        bump(&self.round_trips[kind as usize]);
        if !ok {
            bump(&self.round_trips_failed[kind as usize]);
        }
    }

    /// Counts one failed statement, whatever stopped it: refused before
    /// sending, no connection, or an error from the server.
    pub(crate) fn failed(&self, err: &crate::Error) {
        bump(&self.queries_failed);
        bump(&self.failed_by_kind[failure_kind(err)]);
    }
}
