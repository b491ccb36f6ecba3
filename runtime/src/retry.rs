//! Exponential backoff with full jitter.
//!
//! strata retries only two kinds of unit: a connection attempt (nothing was
//! sent yet) and a whole transaction closure after 40001/40P01 (the server
//! rolled it back). A statement that may have taken effect is never repeated.

use std::time::Duration;

use rand::Rng;

/// Backoff schedule: attempt `n` (0-based) sleeps a uniformly random time in
/// `[0, min(cap, base * 2^n)]` ("full jitter"), which spreads contending
/// retriers apart instead of waking them in lockstep.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
}

impl Backoff {
    /// A schedule starting at `base`, never sleeping more than `cap`.
    pub fn new(base: Duration, cap: Duration) -> Self {
        Backoff { base, cap }
    }

    /// The upper bound of the sleep before retry number `attempt`.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(16)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// A random sleep for retry number `attempt`.
    pub fn delay(&self, attempt: u32) -> Duration {
        let ceiling = self.ceiling(attempt);
        if ceiling.is_zero() {
            return ceiling;
        }
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(rand::rng().random_range(0..=nanos))
    }

    /// Sleeps for [`Backoff::delay`].
    pub async fn sleep(&self, attempt: u32) {
        tokio::time::sleep(self.delay(attempt)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_exponentially_and_is_capped() {
        let b = Backoff::new(Duration::from_millis(10), Duration::from_millis(100));
        assert_eq!(b.ceiling(0), Duration::from_millis(10));
        assert_eq!(b.ceiling(2), Duration::from_millis(40));
        assert_eq!(b.ceiling(10), Duration::from_millis(100));
        assert_eq!(b.ceiling(u32::MAX), Duration::from_millis(100));
        for n in 0..20 {
            assert!(b.delay(n) <= b.ceiling(n));
        }
    }

    #[test]
    fn jitter_spreads() {
        let b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let samples: std::collections::HashSet<_> = (0..50).map(|_| b.delay(3)).collect();
        assert!(samples.len() > 40, "full jitter should rarely repeat");
    }
}
