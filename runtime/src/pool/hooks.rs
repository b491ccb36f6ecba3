//! The cache's test hooks on `Db` (feature `test-hooks`, hidden from the
//! docs; see `cache/hooks.rs` for what they do). Here rather than in the
//! cache, which sits below the handle and does not know `Db`.

use super::Db;
use crate::cache::FillGate;

impl Db {
    /// Test hook: the next cache loader pauses between reading
    /// PostgreSQL and filling the cache, so a test can interleave a
    /// write there.
    #[doc(hidden)]
    pub fn __pause_cache_fills(&self, gate: Option<FillGate>) {
        self.inner.cache.set_fill_gate(gate);
    }

    /// Test switch: turns the cache's stale-set protection off, to show
    /// a test detects its absence. Never call this in an application.
    #[doc(hidden)]
    pub fn __set_stale_set_protection(&self, on: bool) {
        self.inner.cache.set_stale_set_protection(on);
    }
}
