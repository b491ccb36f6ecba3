//! The **route** stage: whether a read outside a transaction goes to a
//! streaming replica or to the primary, and each replica's health.
//!
//! Read-your-writes without a round trip per write. Every write through
//! the handle (an autocommit write statement, a transaction's end) bumps a
//! counter, the *epoch*, after it returns. The check loop (`pool::replicas`)
//! reads the epoch `E`, then the primary's WAL insert position `L`: every
//! write numbered up to `E` had returned before `L` was read, so its commit
//! record lies before `L`. A replica that has replayed `L` has therefore
//! replayed every one of those writes, and may serve a read that needs
//! nothing newer than `E`. What a read needs is the handle's epoch at the
//! time of the read, or, inside [`session`], the session's last write.
//! The cost is one `pg_current_wal_insert_lsn()` per check interval, not
//! one per write; the price is that a write keeps its readers on the
//! primary for up to one interval plus the replica's replay time.
//!
//! A replica further behind than `max_lag` (measured the same way: how
//! long ago the primary was at the position the replica has replayed) is
//! skipped; so is one that failed a connection or a check (down until a
//! check succeeds) and one that left recovery (promoted: it may have
//! forked from the primary, so it never serves reads again).

mod member;
mod scope;

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::config::replica::ReplicaSettings;
pub(crate) use member::Replica;
use member::Sample;
pub use scope::{on_primary, session};
pub(crate) use scope::{pinned_to_primary, scoped};

/// A replica's state, as health and metrics report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplicaState {
    /// Not checked yet.
    Unknown,
    /// Answering and in recovery: serves reads while within the lag bound.
    Up,
    /// A connection or a check failed; checked again every interval.
    Down,
    /// The server is not in recovery (promoted, or a primary by mistake):
    /// it never serves reads again through this handle.
    NotAReplica,
}

/// One replica in [`Db::replicas`](crate::Db::replicas).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ReplicaStatus {
    /// `host:port` (never credentials).
    pub name: String,
    /// Its state.
    pub state: ReplicaState,
    /// How far behind the primary it was at its last check, if it has been
    /// compared with it at all.
    pub lag: Option<Duration>,
    /// Whether a read that needs none of this handle's writes would be
    /// sent to it now (up, and within the lag bound).
    pub serving: bool,
    /// Whether it has replayed every write made through this handle, so
    /// that any read outside a session may go to it.
    pub caught_up: bool,
    /// Statements it has run.
    pub reads: u64,
    /// Connections or checks that failed.
    pub failures: u64,
    /// The last failure, when it is down or not a replica.
    pub error: Option<String>,
}

/// Every replica of one `Db`, the write epoch and the primary's samples.
pub(crate) struct Replicas {
    pub(crate) members: Vec<Replica>,
    epoch: AtomicU64,
    samples: Mutex<VecDeque<Sample>>,
    next: AtomicUsize,
    base: Instant,
    max_lag: Duration,
    /// How many samples to keep: enough to cover `max_lag`.
    keep: usize,
    /// The primary is one more slot of the read rotation.
    primary_reads: bool,
}

impl Replicas {
    pub(crate) fn new(members: Vec<Replica>, settings: &ReplicaSettings) -> Replicas {
        let (max_lag, every) = (settings.max_lag, settings.check_every);
        let span = max_lag.as_nanos() / every.as_nanos().max(1);
        Replicas {
            members,
            epoch: AtomicU64::new(0),
            samples: Mutex::new(VecDeque::new()),
            next: AtomicUsize::new(0),
            base: Instant::now(),
            max_lag,
            keep: usize::try_from(span).unwrap_or(4096).clamp(4, 4096) + 2,
            primary_reads: settings.primary_reads,
        }
    }

    /// Whether there are any: without replicas the stage does nothing.
    pub(crate) fn any(&self) -> bool {
        !self.members.is_empty()
    }

    fn now(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// A write through the handle has returned (or ended in a way that may
    /// have applied it).
    pub(crate) fn wrote(&self) {
        if self.any() {
            let e = self.epoch.fetch_add(1, Ordering::AcqRel) + 1;
            scope::wrote(e);
        }
    }

    /// A guard that counts a write when dropped: armed before the write is
    /// sent, so a caller that drops the future after sending (a timeout, a
    /// `select!`) still makes its next reads wait for what may have applied.
    pub(crate) fn mark(&self) -> WriteMark<'_> {
        WriteMark(self)
    }

    /// The replica a read outside a transaction goes to, if any may serve
    /// it; `None` means the primary.
    pub(crate) fn route(&self) -> Option<&Replica> {
        if !self.any() || pinned_to_primary() {
            return None;
        }
        let need = scope::session_needs().unwrap_or_else(|| self.epoch.load(Ordering::Acquire));
        let now = self.now();
        let n = self.members.len();
        let slots = n + usize::from(self.primary_reads);
        let start = self.next.fetch_add(1, Ordering::Relaxed) % slots;
        if start == n {
            return None; // the primary's turn
        }
        (0..n)
            .map(|k| &self.members[(start + k) % n])
            .find(|r| r.serves(need, now, self.max_lag))
    }

    /// Starts a check round: the epoch to pair with the primary's position,
    /// and when it was taken. Read the position after this.
    pub(crate) fn begin_sample(&self) -> (u64, u64) {
        (self.epoch.load(Ordering::Acquire), self.now())
    }

    /// Records the primary's position `lsn` read after `begin_sample`.
    pub(crate) fn sampled(&self, (epoch, at): (u64, u64), lsn: u64) {
        if let Ok(mut samples) = self.samples.lock() {
            samples.push_back(Sample { epoch, lsn, at });
            while samples.len() > self.keep {
                samples.pop_front();
            }
        }
    }

    /// Records a check of replica `i`: in recovery, replayed up to `lsn`.
    pub(crate) fn replayed(&self, i: usize, lsn: u64) {
        if let Ok(samples) = self.samples.lock() {
            self.members[i].checked(lsn, &samples);
        }
    }

    /// Each replica's status now.
    pub(crate) fn status(&self) -> Vec<ReplicaStatus> {
        let now = self.now();
        let need = self.epoch.load(Ordering::Acquire);
        self.members
            .iter()
            .map(|r| r.status(need, now, self.max_lag))
            .collect()
    }
}

/// See [`Replicas::mark`].
pub(crate) struct WriteMark<'a>(&'a Replicas);

impl Drop for WriteMark<'_> {
    fn drop(&mut self) {
        self.0.wrote();
    }
}
