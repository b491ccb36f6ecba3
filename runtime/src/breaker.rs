//! A small circuit breaker: after `threshold` consecutive failures it opens
//! for `cooldown`; then one probe is let through (half-open); a success
//! closes it. One guards PostgreSQL connects (calls fail fast with
//! `CircuitOpen`), one guards Redis (calls fall through to PostgreSQL).
//!
//! The PostgreSQL breaker does not wait out its cool-down to notice that
//! the server is back: while it is open, a background task
//! (`pool/recovery.rs`) tries one real connect every
//! [`Breaker::probe_interval`] (at most 100 ms), never two at a time, and
//! closes the breaker as soon as one succeeds. Calls meanwhile fail fast.

use std::sync::Mutex;
use std::time::{Duration, Instant};

pub use crate::observe::metrics::BreakerState;

#[derive(Debug)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen,
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct Breaker {
    state: Mutex<State>,
    /// True exactly while the state is `Closed { failures: 0 }`: the hot
    /// path reads this flag instead of taking the lock.
    clean: std::sync::atomic::AtomicBool,
    threshold: u32,
    cooldown: Duration,
    /// The error of the last failure since the last success, for health
    /// reports: "breaker open" alone does not say why.
    cause: Mutex<Option<String>>,
    /// A background prober is running (PostgreSQL only).
    probing: std::sync::atomic::AtomicBool,
}

/// Held by a call that may be the breaker's half-open probe: if the call
/// ends without a verdict (it was cancelled, or it only waited for a pool
/// slot), `Drop` tells the breaker the probe was abandoned, so another call
/// can probe. A no-op unless the breaker is half-open; a caller that gave a
/// verdict may `forget` it.
pub(crate) struct ProbeGuard<'a>(pub(crate) &'a Breaker);

impl Drop for ProbeGuard<'_> {
    fn drop(&mut self) {
        self.0.abandon_probe();
    }
}

/// What a success did to the breaker.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Recovered {
    /// It was already closed with no failures.
    No,
    /// It had seen failures and is closed again.
    Yes,
}

impl Breaker {
    pub(crate) fn new(threshold: u32, cooldown: Duration) -> Self {
        Breaker {
            state: Mutex::new(State::Closed { failures: 0 }),
            clean: std::sync::atomic::AtomicBool::new(true),
            threshold: threshold.max(1),
            cooldown,
            cause: Mutex::new(None),
            probing: std::sync::atomic::AtomicBool::new(false),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// No failure since the last success: calls go ahead, and a success has
    /// nothing to report. One relaxed load.
    pub(crate) fn is_clean(&self) -> bool {
        self.clean.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether a call may go ahead. While open, `false` without waiting;
    /// once the cool-down has passed, `true` for exactly one probe.
    pub(crate) fn allow(&self) -> bool {
        let mut state = self.lock();
        match *state {
            State::Closed { .. } => true,
            State::HalfOpen => false,
            State::Open { until } if Instant::now() >= until => {
                *state = State::HalfOpen;
                true
            }
            State::Open { .. } => false,
        }
    }

    /// A probe ended without a verdict (its caller was cancelled, or it
    /// only waited for a pool slot): reopen with the cool-down already over,
    /// so the next call probes. Without this the breaker would stay
    /// half-open, refusing every call, forever.
    pub(crate) fn abandon_probe(&self) {
        let mut state = self.lock();
        if matches!(*state, State::HalfOpen) {
            *state = State::Open {
                until: Instant::now(),
            };
        }
    }

    pub(crate) fn success(&self) -> Recovered {
        let mut state = self.lock();
        let recovered = match *state {
            State::Closed { failures: 0 } => Recovered::No,
            _ => Recovered::Yes,
        };
        *state = State::Closed { failures: 0 };
        self.clean.store(true, std::sync::atomic::Ordering::Relaxed);
        drop(state);
        if recovered == Recovered::Yes
            && let Ok(mut cause) = self.cause.lock()
        {
            *cause = None;
        }
        recovered
    }

    /// Records a failed call and why it failed (the whole error chain).
    /// Returns the previous cause, so a caller can log only changes.
    pub(crate) fn failure(&self, cause: &dyn std::error::Error) -> Option<String> {
        let cause = crate::error::chain(cause);
        let previous = self
            .cause
            .lock()
            .ok()
            .and_then(|mut slot| slot.replace(cause));
        self.count_failure();
        previous
    }

    /// The error of the last failure since the last success.
    pub(crate) fn last_cause(&self) -> Option<String> {
        self.cause.lock().ok().and_then(|c| c.clone())
    }

    fn count_failure(&self) {
        let mut state = self.lock();
        self.clean
            .store(false, std::sync::atomic::Ordering::Relaxed);
        *state = match *state {
            State::Closed { failures } if failures + 1 < self.threshold => State::Closed {
                failures: failures + 1,
            },
            _ => State::Open {
                until: Instant::now() + self.cooldown,
            },
        };
    }

    /// How often the background prober tries to connect while the breaker
    /// is open: the cool-down, but at most 100 ms (and at least 5 ms).
    pub(crate) fn probe_interval(&self) -> Duration {
        self.cooldown
            .clamp(Duration::from_millis(5), Duration::from_millis(100))
    }

    /// Claims the background prober's job: true if none was running, in
    /// which case the caller starts one.
    pub(crate) fn start_probing(&self) -> bool {
        self.probing
            .compare_exchange(
                false,
                true,
                std::sync::atomic::Ordering::AcqRel,
                std::sync::atomic::Ordering::Acquire,
            )
            .is_ok()
    }

    /// Called by the prober as it ends, so the next opening starts a new one.
    pub(crate) fn stop_probing(&self) {
        self.probing
            .store(false, std::sync::atomic::Ordering::Release);
    }

    /// Turns an open breaker half-open for the prober, cool-down or not;
    /// false if it is not open (closed, or a caller's probe is in flight).
    pub(crate) fn take_probe(&self) -> bool {
        let mut state = self.lock();
        if matches!(*state, State::Open { .. }) {
            *state = State::HalfOpen;
            true
        } else {
            false
        }
    }

    /// True while calls are being refused.
    pub(crate) fn is_open(&self) -> bool {
        !matches!(*self.lock(), State::Closed { .. })
    }

    pub(crate) fn state(&self) -> BreakerState {
        match *self.lock() {
            State::Closed { .. } => BreakerState::Closed,
            State::Open { .. } => BreakerState::Open,
            State::HalfOpen => BreakerState::HalfOpen,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Refused;

    impl std::fmt::Display for Refused {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("refused")
        }
    }

    impl std::error::Error for Refused {}

    #[test]
    fn opens_probes_once_and_closes() {
        let b = Breaker::new(2, Duration::from_millis(30));
        assert!(b.allow());
        b.failure(&Refused);
        assert!(b.allow(), "one failure is below the threshold");
        b.failure(&Refused);
        assert_eq!(b.last_cause().as_deref(), Some("refused"));
        assert!(!b.allow(), "open after two");
        std::thread::sleep(Duration::from_millis(40));
        assert!(b.allow(), "one probe after the cool-down");
        assert!(!b.allow(), "only one");
        assert_eq!(b.success(), Recovered::Yes);
        assert_eq!(b.last_cause(), None, "a success clears the cause");
        assert!(b.allow());
        assert_eq!(b.success(), Recovered::No);
    }

    #[test]
    fn an_abandoned_probe_lets_the_next_one_through() {
        let b = Breaker::new(1, Duration::ZERO);
        b.failure(&Refused);
        assert!(b.allow(), "probe");
        assert!(!b.allow(), "half-open");
        b.abandon_probe();
        assert!(b.allow(), "a new probe once the first was abandoned");
    }
}
