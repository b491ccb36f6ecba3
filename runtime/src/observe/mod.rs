//! Observability: latency histograms, recent and slow statement logs,
//! health checks, Prometheus text, and (feature `http`) monitoring routes.
//!
//! Recording is built for the hot path: histogram buckets and counters are
//! relaxed atomics, the ring buffers never block, and `tracing` spans cost a
//! relaxed load when no subscriber listens.

pub(crate) mod counters;
mod health;
pub(crate) mod histogram;
mod history;
pub(crate) mod labels;
pub(crate) mod metrics;

#[cfg(feature = "http")]
pub use crate::endpoints::http;
pub use health::{Health, HealthReport, ServiceHealth};
pub use history::QueryRecord;
pub use metrics::{Metrics, PoolMetrics, PoolStatus, QueryMetrics, RoundTripMetrics, TxMetrics};

/// The `tracing` filter directive that keeps bind-parameter values out of
/// the logs: `tokio_postgres=info`.
///
/// strata never logs parameters, but tokio-postgres logs every statement's
/// parameter values at `debug` (through the `log` crate, which
/// `tracing-subscriber`'s `init()` bridges into `tracing`), so `RUST_LOG=debug`
/// would print passwords and personal data. Add this directive last, so it
/// wins over a broader level:
///
/// ```
/// use tracing_subscriber::EnvFilter;
///
/// let filter = EnvFilter::from_default_env()
///     .add_directive(strata::observe::DRIVER_LOG_DIRECTIVE.parse().unwrap());
/// # let _ = filter;
/// ```
pub const DRIVER_LOG_DIRECTIVE: &str = "tokio_postgres=info";

use std::time::Duration;

use histogram::Histogram;
use history::Ring;

/// Statements kept in the recent-queries ring.
const HISTORY: usize = 256;
/// Statements kept in the slow-queries ring.
const SLOW_HISTORY: usize = 128;

/// Per-`Db` recorder of statement and checkout timings.
#[derive(Debug)]
pub(crate) struct Observer {
    pub(crate) latency: Histogram,
    /// The same statements, per model and operation.
    pub(crate) by_model: labels::ByModel,
    pub(crate) checkout_wait: Histogram,
    pub(crate) slow: std::sync::atomic::AtomicU64,
    pub(crate) checkouts: std::sync::atomic::AtomicU64,
    history: Ring,
    slow_log: Ring,
    slow_threshold: Duration,
}

impl Observer {
    pub(crate) fn new(slow_threshold: Duration) -> Self {
        Observer {
            latency: Histogram::default(),
            by_model: labels::ByModel::default(),
            checkout_wait: Histogram::default(),
            slow: Default::default(),
            checkouts: Default::default(),
            history: Ring::new(HISTORY),
            slow_log: Ring::new(SLOW_HISTORY),
            slow_threshold,
        }
    }

    /// Records one finished statement of `model` (`""`: raw SQL); logs it
    /// if slow.
    pub(crate) fn statement(
        &self,
        model: &'static str,
        sql: &str,
        params: usize,
        elapsed: Duration,
        rows: u64,
        ok: bool,
    ) {
        self.latency.record(elapsed);
        self.by_model.record(model, sql, elapsed);
        if elapsed >= self.slow_threshold {
            counters::bump(&self.slow);
            tracing::warn!(
                db.system.name = "postgresql",
                db.query.text = sql,
                duration_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
                rows,
                params = format_args!("{params} redacted"),
                "slow query"
            );
            self.slow_log.push(sql, elapsed, rows, ok);
        }
        self.history.push(sql, elapsed, rows, ok);
    }

    /// Records one pool checkout and how long it waited.
    pub(crate) fn checkout(&self, waited: Duration) {
        counters::bump(&self.checkouts);
        self.checkout_wait.record(waited);
    }

    pub(crate) fn recent(&self) -> Vec<QueryRecord> {
        self.history.snapshot()
    }

    pub(crate) fn slow_queries(&self) -> Vec<QueryRecord> {
        self.slow_log.snapshot()
    }
}
