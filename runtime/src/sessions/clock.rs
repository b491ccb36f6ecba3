//! The one clock sessions are written and checked with.

use std::sync::Arc;

use chrono::{DateTime, SubsecRound, Utc};

/// Where [`Sessions`](super::Sessions) reads the time: the system clock by
/// default, or a function (a test's controllable clock, a fleet's shared
/// time source). Readings are truncated to microseconds, PostgreSQL's
/// `timestamptz` precision, so a deadline read back from the table is the
/// one that was written.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>);

impl Clock {
    /// The system clock (`Utc::now`).
    pub fn system() -> Clock {
        Clock(Arc::new(Utc::now))
    }

    /// A clock that reads `now`.
    pub fn from_fn(now: impl Fn() -> DateTime<Utc> + Send + Sync + 'static) -> Clock {
        Clock(Arc::new(now))
    }

    /// The time, to the microsecond.
    pub fn now(&self) -> DateTime<Utc> {
        (self.0)().trunc_subsecs(6)
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Clock(..)")
    }
}
