//! The one clock sessions are written and checked with.

use std::sync::Arc;

use crate::Timestamp;

/// Where [`Sessions`](super::Sessions) reads the time: the system clock by
/// default, or a function (a test's controllable clock, a fleet's shared
/// time source). A [`Timestamp`] holds microseconds, PostgreSQL's
/// `timestamptz` precision, so a deadline read back from the table is the
/// one that was written.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> Timestamp + Send + Sync>);

impl Clock {
    /// The system clock ([`Timestamp::now`]).
    pub fn system() -> Clock {
        Clock(Arc::new(Timestamp::now))
    }

    /// A clock that reads `now`.
    pub fn from_fn(now: impl Fn() -> Timestamp + Send + Sync + 'static) -> Clock {
        Clock(Arc::new(now))
    }

    /// The time, to the microsecond.
    pub fn now(&self) -> Timestamp {
        (self.0)()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Clock(..)")
    }
}
