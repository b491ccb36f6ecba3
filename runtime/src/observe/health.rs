//! What `db.health()` reports: healthy / degraded / unhealthy, each
//! service's answer, and the reasons. The checks themselves are
//! `crate::endpoints::health`'s, since they need a `Db`.

use serde::Serialize;

use super::PoolStatus;
use super::metrics::BreakerState;

/// Overall verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    /// Everything answers.
    Healthy,
    /// Serving, but something needs attention (Redis down, pool saturated,
    /// a replica down or lagging).
    Degraded,
    /// PostgreSQL cannot be reached.
    Unhealthy,
}

/// One dependency's state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceHealth {
    /// `up`, `down`, `busy` (PostgreSQL, every pooled connection in use) or
    /// `not_configured` (Redis).
    pub status: &'static str,
    /// Round-trip time, when it answered.
    pub latency_ms: Option<f64>,
    /// Why it is down: the error with its causes (for PostgreSQL behind an
    /// open breaker, the last connect error too; for Redis, the last
    /// failure, such as `authentication failed`).
    pub error: Option<String>,
}

/// The result of [`Db::health`](crate::Db::health).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthReport {
    /// The verdict.
    pub status: Health,
    /// PostgreSQL.
    pub postgres: ServiceHealth,
    /// Redis.
    pub redis: ServiceHealth,
    /// Pool occupancy.
    pub pool: PoolStatus,
    /// The PostgreSQL circuit breaker.
    pub breaker: BreakerState,
    /// Each read replica (empty without `DB_REPLICA_URLS`). One that is
    /// down or lagging makes the verdict `Degraded`: reads go to the
    /// primary meanwhile.
    pub replicas: Vec<crate::replica::ReplicaStatus>,
    /// One sentence per problem found.
    pub reasons: Vec<String>,
}
