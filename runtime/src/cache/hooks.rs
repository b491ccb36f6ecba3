//! Test hooks, compiled only with the `test-hooks` feature (off by default;
//! the `tests` crate turns it on) and hidden from the docs:
//! - [`FillGate`]: the next loader stops between its database read and its
//!   fill, so a test can interleave a write there
//!   (`Db::__pause_cache_fills`);
//! - a switch that turns the stale-set protection off, to show that the
//!   interleaving test catches its absence (`Db::__set_stale_set_protection`).
//!
//! The switch does not reach the Lua scripts, which know nothing of tests.
//! With it off, a fill is checked against the generations read *after* the
//! load instead of before it: exactly the bug the protection exists to
//! prevent, so both tiers then take the stale fill. Without the feature,
//! `Cache` has no hooks field and [`Cache::before_fill`] hands its
//! snapshot back.

use super::{Cache, Gens};

/// What a fill is checked against: the local generations, and the Redis
/// epoch and write generation (`None`: no Redis snapshot, so no Redis fill).
pub(super) type Snapshot = (Gens, Option<super::l2::Snap>);

#[cfg(not(feature = "test-hooks"))]
impl Cache {
    /// Called between a loader's database read and its fill; returns the
    /// snapshot the fill is checked against: the one taken before the load.
    pub(super) async fn before_fill(&self, _: &str, _: &str, _: bool, taken: Snapshot) -> Snapshot {
        taken
    }
}

#[cfg(feature = "test-hooks")]
pub use on::FillGate;
#[cfg(feature = "test-hooks")]
pub(super) use on::Hooks;

#[cfg(feature = "test-hooks")]
mod on {
    use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
    use std::sync::{Arc, Mutex};

    use super::{Cache, Snapshot};

    /// Where a paused loader signals and waits; see
    /// `Db::__pause_cache_fills` (`pool/hooks.rs`).
    #[derive(Debug, Clone)]
    #[doc(hidden)]
    pub struct FillGate {
        /// Notified when a loader has read the database and is about to fill.
        pub reached: Arc<tokio::sync::Notify>,
        /// The loader fills once this is notified.
        pub proceed: Arc<tokio::sync::Notify>,
    }

    /// The gate a loader stops at (taken by the first one) and the switch.
    #[derive(Debug)]
    pub(in crate::cache) struct Hooks {
        fill_gate: Mutex<Option<FillGate>>,
        /// `false` turns off the stale-set check.
        protect: AtomicBool,
    }

    impl Default for Hooks {
        fn default() -> Self {
            Hooks {
                fill_gate: Mutex::new(None),
                protect: AtomicBool::new(true),
            }
        }
    }

    impl Cache {
        /// Called between a loader's database read and its fill: waits at
        /// the gate if one is set, then returns the snapshot the fill is
        /// checked against: the one taken before the load, or, with the
        /// protection off, one taken now (see the module docs).
        pub(in crate::cache) async fn before_fill(
            &self,
            table: &str,
            id: &str,
            list: bool,
            taken: Snapshot,
        ) -> Snapshot {
            let gate = self.hooks.fill_gate.lock().ok().and_then(|mut g| g.take());
            if let Some(gate) = gate {
                gate.reached.notify_one();
                gate.proceed.notified().await;
            }
            if self.hooks.protect.load(Relaxed) {
                return taken;
            }
            let (mut gens, wgen) = taken;
            gens.write = self.gens(table).write;
            let epoch = wgen.as_ref().map_or(0, |(e, _)| *e);
            let wgen = match (&self.l2, wgen) {
                (Some(l2), Some(_)) if list => l2.get_list(epoch, table, id, &self.counters).await,
                (Some(l2), Some(_)) => l2.get_row(epoch, table, id, &self.counters).await,
                _ => None,
            };
            (gens, wgen.map(|(now, _)| (epoch, now)))
        }
    }

    impl Cache {
        /// The next loader stops at `gate` (`None` removes it).
        pub(crate) fn set_fill_gate(&self, gate: Option<FillGate>) {
            if let Ok(mut slot) = self.hooks.fill_gate.lock() {
                *slot = gate;
            }
        }

        /// Turns the stale-set protection off or on again.
        pub(crate) fn set_stale_set_protection(&self, on: bool) {
            self.hooks.protect.store(on, Relaxed);
        }
    }
}
