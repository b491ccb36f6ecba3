//! `db.health()`: a PostgreSQL round trip, a Redis ping, pool saturation
//! and the breaker, folded into healthy / degraded / unhealthy with reasons
//! (the report's types are `crate::observe`'s).

use std::time::{Duration, Instant};

use crate::executor::Executor;
use crate::observe::metrics::BreakerState;
use crate::observe::{Health, HealthReport, ServiceHealth};
use crate::pool::Db;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

impl Db {
    /// Checks PostgreSQL (`SELECT 1`), Redis (`PING`, if configured), the
    /// pool and the breaker. Never fails: problems are in the report.
    pub async fn health(&self) -> HealthReport {
        let mut reasons = Vec::new();
        let started = Instant::now();
        // The primary's answer: a replica's is in `replicas`.
        let primary = crate::replica::on_primary(self.query_read_one("SELECT 1", &[]));
        let postgres = match primary.await {
            Ok(_) => ServiceHealth {
                status: "up",
                latency_ms: Some(ms(started.elapsed())),
                error: None,
            },
            // Every connection busy: PostgreSQL is up, the service is
            // saturated. Reporting "down" would get busy pods restarted
            // exactly under load.
            Err(err @ crate::Error::PoolExhausted { .. }) => {
                reasons.push(format!("pool: {err}"));
                ServiceHealth {
                    status: "busy",
                    latency_ms: None,
                    error: Some(err.to_string()),
                }
            }
            Err(err) => {
                // The whole chain: "connection to PostgreSQL failed" alone
                // does not say refused, timed out or password.
                let mut error = crate::error::chain(&err);
                if matches!(err, crate::Error::CircuitOpen)
                    && let Some(cause) = self.inner.breaker.last_cause()
                {
                    error = format!("{error}; last connect error: {cause}");
                }
                reasons.push(format!("postgres: {error}"));
                ServiceHealth {
                    status: "down",
                    latency_ms: None,
                    error: Some(error),
                }
            }
        };
        let redis = match &self.inner.cache.l2 {
            None => ServiceHealth {
                status: "not_configured",
                latency_ms: None,
                error: None,
            },
            Some(l2) => {
                let started = Instant::now();
                if self.cache().ping().await {
                    ServiceHealth {
                        status: "up",
                        latency_ms: Some(ms(started.elapsed())),
                        error: None,
                    }
                } else {
                    // Why the PING failed, or why the breaker that refused
                    // it opened: a wrong password, a refused connect, a
                    // timeout.
                    let error = l2
                        .last_cause()
                        .unwrap_or_else(|| "no answer to PING".into());
                    reasons.push(format!(
                        "redis: {error}; cached reads fall through to postgres"
                    ));
                    ServiceHealth {
                        status: "down",
                        latency_ms: None,
                        error: Some(error),
                    }
                }
            }
        };
        let pool = self.pool_status();
        if pool.waiting > 0 && pool.in_use >= pool.max {
            reasons.push(format!(
                "pool: saturated ({} in use of {}, {} waiting)",
                pool.in_use, pool.max, pool.waiting
            ));
        }
        let breaker = self.inner.breaker.state();
        if breaker != BreakerState::Closed {
            reasons.push(format!("postgres circuit breaker is {breaker:?}"));
        }
        let replicas = self.replicas();
        for r in &replicas {
            if !r.serving {
                let why = match (&r.error, r.lag) {
                    (Some(e), _) => e.clone(),
                    (None, Some(lag)) => format!("{lag:?} behind the primary"),
                    (None, None) => "not checked yet".into(),
                };
                reasons.push(format!(
                    "replica {} is {:?} ({why}); its reads go elsewhere",
                    r.name, r.state
                ));
            }
        }
        let status = if postgres.status == "down" {
            Health::Unhealthy
        } else if reasons.is_empty() {
            Health::Healthy
        } else {
            Health::Degraded
        };
        HealthReport {
            status,
            postgres,
            redis,
            pool,
            breaker,
            replicas,
            reasons,
        }
    }
}
