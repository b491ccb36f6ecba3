//! Leases and the epoch: what makes "no stale read after a write returned"
//! hold whatever Redis does. Used when Redis is configured (without Redis
//! there are no other processes' invalidations to lose).
//!
//! **The lease.** A process trusts its caches (L1 hits, every L2 read and
//! fill) only until `sent + L`, where `sent` is when it *sent* its last
//! successful confirmation (so the lease is conservative) and `L` is
//! `Config::cache_lease`. A confirmation (`task.rs`, every `L/4`) is one
//! round trip on a dedicated PostgreSQL connection (`pg.rs`) that
//! refreshes this process's row in `strata_cache_members` and reads the
//! epoch and the members seen within `2L`. Trust also needs the
//! invalidation subscription: when it is lost, L1 is flushed and trust
//! withdrawn at once; it comes back with the next confirmation. And the
//! subscription must be heard from: every `L/4` the process publishes a
//! heartbeat to itself, and trust also ends `L` after the last heartbeat
//! heard was sent (a black-holed connection never reports its loss). A
//! heartbeat heard after such a lapse flushes L1 before trust resumes.
//!
//! **Joining.** A chain of confirmations is unbroken while each is sent
//! before the previous one's lease ran out. The first of a chain (at start,
//! or after a lapse) flushes L1, and trust begins only `D = L/2` after it
//! was answered. Until then nothing is read from or stored in either tier.
//!
//! **The writer.** After a write commits it invalidates as before (local
//! generations, the `INVALIDATE` script, which publishes), then waits up to
//! the Redis timeout for acknowledgements from every member in its list
//! and from as many subscribers as `PUBLISH` counted. That fast path is
//! taken only if the writer is itself trusted, listening, and its member
//! list was read by a confirmation sent within the last `D` (a trusted
//! writer with an older list confirms once more first; it counts as having
//! acknowledged its own message). Otherwise (no
//! Redis, a timeout, a member silent) the writer bumps the epoch in
//! PostgreSQL and returns only `L` after the bump was answered.
//!
//! **Why that is enough.** Take a reader R holding the old row in L1 (or
//! able to read it from L2) when the write returns at `t`.
//! - Fast path. If R's trust began before `t`, its chain began at least `D`
//!   before `t`, so before the writer's list was read (sent within `D`
//!   before `t`), and R's row was then fresher than `2L`: R is in the list,
//!   and acknowledged only after dropping the row. If R's trust began after
//!   `t`, its L1 was empty then (flushed at the chain's start or at the
//!   subscription's loss, nothing filled while untrusted), and what it
//!   reads after is fresh: L2 was invalidated by the script before `t`.
//! - Slow path. R's lease from a confirmation sent before the bump ends
//!   before `bump + L <= t`. A confirmation sent after the bump reads the
//!   new epoch, and seeing a new epoch flushes L1 before trust is
//!   extended. L2 keys carry the epoch (`<prefix>:e<epoch>:..`), so the new
//!   epoch has no entries; a fill loaded before the bump carries the epoch
//!   snapshotted before its load, and lands under the retired one.
//! - The lease uses each process's monotonic clock; only durations are
//!   compared across processes (drift over `L` is negligible), and the
//!   writer waits a margin of `L/50 + 2 ms` over `L`.
//!
//! **Restarts and failovers.** A Redis connection is used for the model
//! cache only after its server's `run_id` was checked against the one
//! recorded with the epoch (`VERIFY` in `pg.rs`): another `run_id` (a
//! restart, with or without its dump; a promoted replica) bumps the epoch,
//! so entries that came back from a dump, or never got a replicated
//! invalidation, are never read. A read whose epoch snapshot is older than
//! its connection's is not sent.
//!
//! On a Redis Cluster each master is checked the same way, by its node id
//! (`VERIFY_NODE`): a node first seen, restarted (a new `run_id`) or
//! promoted (a new replication id; a failback changes it too) bumps the
//! epoch before anything is read from it, so entries a promoted replica
//! kept from before an invalidation it never received are never read.

mod clock;
mod pg;
pub(crate) mod task;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::Notify;

/// What flushes the owner's L1 (set once by the cache that owns the lease).
type Flush = Box<dyn Fn() + Send + Sync>;

/// One process's lease; see the module docs.
pub(crate) struct Lease {
    /// Clock time (`clock::now`) until which caches may be trusted; 0: not.
    until: AtomicU64,
    /// The epoch L2 keys are read and written under.
    epoch: AtomicU64,
    /// Whether the invalidation subscription is connected.
    listening: AtomicBool,
    length: Duration,
    state: Mutex<State>,
    pub(crate) link: pg::Link,
    flush: OnceLock<Flush>,
    /// Notified whenever trust may have changed.
    changed: Notify,
    /// Asks the confirmation task to confirm now.
    wake: Notify,
}

#[derive(Default)]
struct State {
    /// Answer time of the current chain's first confirmation, and the send
    /// time of its last one.
    chain: Option<(u64, u64)>,
    members: Vec<u64>,
    /// When the confirmation that read `members` was sent.
    list_sent: u64,
    /// When the last heartbeat heard back was sent (0: none yet).
    heard: u64,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease")
            .field("trusted", &self.is_trusted())
            .field("epoch", &self.epoch())
            .finish_non_exhaustive()
    }
}

impl Lease {
    pub(crate) fn new(
        pg: tokio_postgres::Config,
        tls: crate::tls::TlsSettings,
        prefix: String,
        instance: u64,
        length: Duration,
    ) -> Self {
        Lease {
            until: AtomicU64::new(0),
            epoch: AtomicU64::new(0),
            listening: AtomicBool::new(false),
            length,
            state: Mutex::new(State::default()),
            link: pg::Link::new(pg, tls, prefix, instance),
            flush: OnceLock::new(),
            changed: Notify::new(),
            wake: Notify::new(),
        }
    }

    /// Sets what flushes L1 (once).
    pub(crate) fn on_flush(&self, flush: Flush) {
        let _ = self.flush.set(flush);
    }

    fn flush(&self) {
        if let Some(flush) = self.flush.get() {
            flush();
        }
    }

    /// The join delay `D`, also the age a writer's member list may have.
    fn join(&self) -> u64 {
        clock::nanos(self.length / 2)
    }

    /// Whether the caches may be trusted now: one clock read, one load.
    #[inline]
    pub(crate) fn is_trusted(&self) -> bool {
        clock::now() < self.until.load(Ordering::Acquire)
    }

    /// The epoch to snapshot before a read.
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Moves to `epoch` if it is newer, flushing L1 first (a new epoch means
    /// some write's invalidation may have missed this process).
    fn adopt(&self, epoch: u64) {
        if epoch > self.epoch() {
            self.flush();
            self.epoch.fetch_max(epoch, Ordering::AcqRel);
        }
    }

    /// A confirmation sent at `sent` answered `epoch` and `members`.
    fn confirmed(&self, sent: u64, epoch: u64, members: Vec<u64>) {
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        let now = clock::now();
        let length = clock::nanos(self.length);
        let joined = match &mut st.chain {
            Some((first, last)) if sent < *last + length => {
                *last = sent;
                *first
            }
            _ => {
                self.flush();
                st.chain = Some((now, sent));
                now
            }
        };
        self.adopt(epoch);
        st.members = members;
        st.list_sent = sent;
        self.refresh(&st, now >= joined + self.join());
    }

    /// Sets `until` from the last confirmation and the last heartbeat
    /// (whichever was sent earlier), if `joined` and listening.
    fn refresh(&self, st: &State, joined: bool) {
        let trusted = joined && st.heard > 0 && self.listening.load(Ordering::Acquire);
        let until = match st.chain {
            Some((_, last)) if trusted => last.min(st.heard) + clock::nanos(self.length),
            _ => 0,
        };
        self.until.store(until, Ordering::Release);
        self.changed.notify_waiters();
    }

    /// This process heard its own heartbeat, sent at `sent`.
    pub(crate) fn heard(&self, sent: u64) {
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        if sent <= st.heard {
            return;
        }
        if st.heard > 0 && clock::now() >= st.heard + clock::nanos(self.length) {
            // Trust lapsed meanwhile: whatever was missed goes now.
            self.flush();
        }
        st.heard = sent;
        let joined = st
            .chain
            .is_some_and(|(first, _)| clock::now() >= first + self.join());
        self.refresh(&st, joined);
    }

    /// A heartbeat's payload: its send time on this process's clock.
    pub(crate) fn heartbeat() -> u64 {
        clock::now()
    }

    /// How often heartbeats go out.
    pub(crate) fn heartbeat_every(&self) -> Duration {
        self.length / 4
    }

    /// When the task should confirm next: at the join if one is pending.
    fn next_confirmation(&self) -> Duration {
        let every = self.length / 4;
        let Ok(st) = self.state.lock() else {
            return every;
        };
        match st.chain {
            Some((first, _)) if clock::now() < first + self.join() => {
                clock::until(first + self.join()).min(every)
            }
            _ => every,
        }
    }

    /// The subscription is lost: flush L1 and stop trusting, now.
    pub(crate) fn deaf(&self) {
        let Ok(_st) = self.state.lock() else { return };
        self.listening.store(false, Ordering::Release);
        self.until.store(0, Ordering::Release);
        self.flush();
    }

    /// The subscription is (again) connected: trust can come back.
    pub(crate) fn hearing(&self) {
        self.listening.store(true, Ordering::Release);
        self.wake.notify_one();
    }

    /// The members a write must hear from, if this process may take the
    /// fast path (trusted, listening, list fresh); `None` otherwise.
    pub(crate) fn members_for_write(&self) -> Option<Vec<u64>> {
        if !self.is_trusted() {
            return None;
        }
        let st = self.state.lock().ok()?;
        (clock::now() < st.list_sent + self.join()).then(|| st.members.clone())
    }

    /// [`Lease::members_for_write`], confirming first if this process is
    /// trusted but its member list is too old for the fast path (cheaper
    /// than the slow path, which a busy machine would otherwise take).
    pub(crate) async fn members_now(&self) -> Option<Vec<u64>> {
        if let Some(members) = self.members_for_write() {
            return Some(members);
        }
        if !self.is_trusted() {
            return None;
        }
        let sent = clock::now();
        let (epoch, members) = self.link.confirm(self.length * 2).await.ok()?;
        self.confirmed(sent, epoch, members);
        self.members_for_write()
    }

    /// The slow path: a new epoch, then `L` (and a margin) after it was
    /// answered, so every other process has either confirmed since (seen
    /// the new epoch, flushed L1) or stopped trusting its caches.
    pub(crate) async fn retire_everything(&self) {
        let mut last = String::new();
        for attempt in 0..3 {
            match self.link.bump().await {
                Ok(epoch) => {
                    let answered = clock::now();
                    if let Ok(_st) = self.state.lock() {
                        self.adopt(epoch);
                    }
                    let margin = self.length / 50 + Duration::from_millis(2);
                    tokio::time::sleep(clock::until(answered + clock::nanos(self.length + margin)))
                        .await;
                    return;
                }
                Err(err) => last = err,
            }
            tokio::time::sleep(Duration::from_millis(20 << attempt)).await;
        }
        tracing::error!(
            error = %last,
            "a write could not be confirmed to other processes, and the cache epoch \
             could not be bumped: other processes may serve the old row until their TTL"
        );
        // Still wait out a lease: a process that lost PostgreSQL too (the
        // usual case when this one did) stops trusting its caches by then.
        // The write is committed, so it still returns Ok.
        let margin = self.length / 50 + Duration::from_millis(2);
        tokio::time::sleep(self.length + margin).await;
    }

    /// The epoch under which a Redis with this `run_id` (on a cluster:
    /// `node` with this identity) may be read (a new one if that Redis is
    /// not the one recorded); `None` if PostgreSQL did not answer.
    pub(crate) async fn verify_redis(&self, node: Option<&str>, id: &str) -> Option<u64> {
        match self.link.verify(node, id).await {
            Ok(epoch) => {
                if let Ok(_st) = self.state.lock() {
                    self.adopt(epoch);
                }
                Some(epoch)
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot check which redis this is; not reading it");
                None
            }
        }
    }

    /// Waits until the caches are trusted, at most `bound`.
    pub(crate) async fn ready(&self, bound: Duration) {
        let _ = tokio::time::timeout(bound, async {
            loop {
                let changed = self.changed.notified();
                if self.is_trusted() {
                    return;
                }
                changed.await;
            }
        })
        .await;
    }
}
