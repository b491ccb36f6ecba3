//! The lease clock: monotonic nanoseconds since the first call in this
//! process, so a deadline fits in one atomic.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

static BASE: OnceLock<Instant> = OnceLock::new();

/// Nanoseconds since this process first asked (monotonic; never 0 after
/// the first call returns, so 0 can mean "never").
pub(crate) fn now() -> u64 {
    let base = *BASE.get_or_init(Instant::now);
    u64::try_from(base.elapsed().as_nanos())
        .unwrap_or(u64::MAX)
        .saturating_add(1)
}

/// `d` in the clock's unit.
pub(crate) fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// How long from now until `at` (zero if it has passed).
pub(crate) fn until(at: u64) -> Duration {
    Duration::from_nanos(at.saturating_sub(now()))
}
