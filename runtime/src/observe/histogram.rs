//! A lock-free latency histogram: log-linear buckets (four per power of
//! two) of relaxed atomic counters. Recording is one `fetch_add`; a
//! percentile is within 25% of the true value, which is what dashboards need.
//! A running sum (one more `fetch_add`) gives Prometheus its `_sum`, so
//! averages are exact.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

const BUCKETS: usize = 160;

/// See the module docs.
#[derive(Debug)]
pub(crate) struct Histogram {
    counts: Box<[AtomicU64]>,
    /// Every recorded value's sum, in microseconds.
    sum_us: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            sum_us: AtomicU64::new(0),
        }
    }
}

fn bucket(us: u64) -> usize {
    if us < 8 {
        return usize::try_from(us).unwrap_or(0);
    }
    let msb = 63 - us.leading_zeros();
    let sub = (us >> (msb - 2)) & 3;
    usize::try_from((u64::from(msb) - 1) * 4 + sub)
        .unwrap_or(BUCKETS - 1)
        .min(BUCKETS - 1)
}

/// The largest value (µs) that falls in bucket `idx`.
fn upper(idx: usize) -> u64 {
    let idx = idx as u64;
    if idx < 8 {
        return idx;
    }
    let msb = idx / 4 + 1;
    let sub = idx % 4;
    ((4 + sub) << (msb - 2)) + (1 << (msb - 2)) - 1
}

impl Histogram {
    pub(crate) fn record(&self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.counts[bucket(us)].fetch_add(1, Relaxed);
        self.sum_us.fetch_add(us, Relaxed);
    }

    /// The sum of every recorded value.
    pub(crate) fn sum(&self) -> Duration {
        Duration::from_micros(self.sum_us.load(Relaxed))
    }

    /// The given percentiles (0..=100), as durations.
    pub(crate) fn percentiles<const N: usize>(&self, ps: [f64; N]) -> [Duration; N] {
        let counts: Vec<u64> = self.counts.iter().map(|c| c.load(Relaxed)).collect();
        let total: u64 = counts.iter().sum();
        ps.map(|p| {
            if total == 0 {
                return Duration::ZERO;
            }
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                clippy::cast_precision_loss
            )]
            let rank = ((p / 100.0) * total as f64).ceil().max(1.0) as u64;
            let mut seen = 0;
            for (i, c) in counts.iter().enumerate() {
                seen += c;
                if seen >= rank {
                    return Duration::from_micros(upper(i));
                }
            }
            Duration::from_micros(upper(BUCKETS - 1))
        })
    }

    /// Cumulative counts at bucket upper bounds, for Prometheus `le` buckets.
    pub(crate) fn cumulative(&self, bounds_us: &[u64]) -> Vec<u64> {
        let counts: Vec<u64> = self.counts.iter().map(|c| c.load(Relaxed)).collect();
        bounds_us
            .iter()
            .map(|&b| {
                counts
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| upper(*i) <= b)
                    .map(|(_, c)| c)
                    .sum()
            })
            .collect()
    }

    pub(crate) fn count(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Relaxed)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_continuous_and_bound_their_values() {
        let mut last = 0;
        for us in [0u64, 1, 7, 8, 9, 15, 16, 17, 100, 1_000, 65_535, 1 << 30] {
            let b = bucket(us);
            assert!(b >= last, "{us}");
            last = b;
            assert!(upper(b) >= us, "{us} above its bucket's bound {}", upper(b));
            if b > 0 {
                assert!(upper(b - 1) < us, "{us} belongs to a lower bucket");
            }
        }
    }

    #[test]
    fn percentiles_are_close() {
        let h = Histogram::default();
        for ms in 1..=100u64 {
            h.record(Duration::from_millis(ms));
        }
        let [p50, p99] = h.percentiles([50.0, 99.0]);
        assert!(
            p50 >= Duration::from_millis(50) && p50 <= Duration::from_millis(63),
            "{p50:?}"
        );
        assert!(
            p99 >= Duration::from_millis(99) && p99 <= Duration::from_millis(124),
            "{p99:?}"
        );
        assert_eq!(h.count(), 100);
        assert_eq!(h.sum(), Duration::from_millis(5050));
    }
}
