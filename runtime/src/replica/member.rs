//! One replica's state: its pool, what the last check learned, and the
//! rule for whether it may serve a read. `pub` only so the pipeline's
//! connection type can name it; the module is private.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::Duration;

use super::{ReplicaState, ReplicaStatus};

const STATES: [ReplicaState; 4] = [
    ReplicaState::Unknown,
    ReplicaState::Up,
    ReplicaState::Down,
    ReplicaState::NotAReplica,
];

/// One sample of the primary: every write up to `epoch` lies before `lsn`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Sample {
    pub(super) epoch: u64,
    pub(super) lsn: u64,
    /// Nanoseconds since `Replicas::base`, taken before `lsn` was read.
    pub(super) at: u64,
}

/// A replica: its pool and what the last check learned.
pub struct Replica {
    /// `host:port`.
    pub(crate) name: String,
    pub(crate) pool: deadpool_postgres::Pool,
    state: AtomicU8,
    /// Every write numbered up to this has been replayed here.
    safe_epoch: AtomicU64,
    /// When the primary was last known to be no further than this replica
    /// (ns since `base`, plus one; 0: never).
    fresh_at: AtomicU64,
    reads: AtomicU64,
    failures: AtomicU64,
    error: Mutex<Option<String>>,
}

impl std::fmt::Debug for Replica {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replica")
            .field("name", &self.name)
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

impl Replica {
    pub(crate) fn new(name: String, pool: deadpool_postgres::Pool) -> Replica {
        Replica {
            name,
            pool,
            state: AtomicU8::new(ReplicaState::Unknown as u8),
            safe_epoch: AtomicU64::new(0),
            fresh_at: AtomicU64::new(0),
            reads: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            error: Mutex::new(None),
        }
    }

    pub(crate) fn state(&self) -> ReplicaState {
        STATES[usize::from(self.state.load(Ordering::Acquire))]
    }

    fn set_state(&self, state: ReplicaState) {
        self.state.store(state as u8, Ordering::Release);
    }

    /// A connection to it or a check of it failed: no reads until a check
    /// succeeds. Its idle connections are dropped, since whatever broke one
    /// (a restart, a kill) broke them all, and each would fail a read.
    pub(crate) fn failed(&self, why: &dyn std::fmt::Display) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut e) = self.error.lock() {
            *e = Some(why.to_string());
        }
        if self.state() != ReplicaState::NotAReplica {
            self.set_state(ReplicaState::Down);
        }
        self.forget();
        self.pool.retain(|_, _| false);
    }

    /// Drops what it was known to have replayed: it serves nothing until a
    /// check credits it again.
    fn forget(&self) {
        self.safe_epoch.store(0, Ordering::Release);
        self.fresh_at.store(0, Ordering::Release);
    }

    /// A statement got a connection to it.
    pub(crate) fn served(&self) {
        self.reads.fetch_add(1, Ordering::Relaxed);
    }

    /// A check found it answering but not in recovery.
    pub(crate) fn not_a_replica(&self) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut e) = self.error.lock() {
            *e = Some("the server is not in recovery (it is a primary)".into());
        }
        self.set_state(ReplicaState::NotAReplica);
        self.forget();
        self.pool.retain(|_, _| false);
    }

    /// A check found it in recovery, replayed up to `replayed`.
    pub(super) fn checked(&self, replayed: u64, samples: &VecDeque<Sample>) {
        if self.state() == ReplicaState::NotAReplica {
            return;
        }
        if let Some(s) = samples.iter().rev().find(|s| s.lsn <= replayed) {
            // Stored, not raised: a standby that restarted (or was rebuilt
            // from an older backup) may have replayed less than it had.
            self.safe_epoch.store(s.epoch, Ordering::Release);
            self.fresh_at.store(s.at + 1, Ordering::Release);
        } else {
            self.forget();
        }
        if let Ok(mut e) = self.error.lock() {
            *e = None;
        }
        self.set_state(ReplicaState::Up);
    }

    /// How far behind the primary it is known to be, `now` ns since base.
    pub(super) fn lag(&self, now: u64) -> Option<Duration> {
        match self.fresh_at.load(Ordering::Acquire) {
            0 => None,
            at => Some(Duration::from_nanos(now.saturating_sub(at - 1))),
        }
    }

    /// Whether it may serve a read that needs every write up to `need`.
    pub(super) fn serves(&self, need: u64, now: u64, max_lag: Duration) -> bool {
        self.state() == ReplicaState::Up
            && self.safe_epoch.load(Ordering::Acquire) >= need
            && self.lag(now).is_some_and(|lag| lag <= max_lag)
    }

    /// Its status for a read needing `need`, at `now`.
    pub(super) fn status(&self, need: u64, now: u64, max_lag: Duration) -> ReplicaStatus {
        ReplicaStatus {
            name: self.name.clone(),
            state: self.state(),
            lag: self.lag(now),
            serving: self.serves(0, now, max_lag),
            caught_up: self.serves(need, now, max_lag),
            reads: self.reads.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            error: self.error.lock().ok().and_then(|e| e.clone()),
        }
    }
}
