//! Recovery after an outage: while the PostgreSQL breaker is open, one
//! background task per `Db` probes the server, so the first call after the
//! server is back does not wait out the breaker's cool-down.
//!
//! It lives with the pool, not the breaker, because a probe is a pooled
//! connect plus a round trip; the breaker itself stays a plain state machine.

use std::time::Duration;

use deadpool_postgres::{PoolError, TimeoutType};

use super::Inner;
use crate::error::{Error, TimeoutKind};
use crate::observe::counters::RoundTrip;
use crate::pipeline::round_trip::round_trip;

/// While the PostgreSQL breaker is open, tries one connect every probe
/// interval (one at a time: the breaker is half-open while it runs, so
/// calls keep failing fast) and closes the breaker on the first success,
/// leaving the new connection idle in the pool for the next call. Ends once
/// the breaker is closed, the pool is closed or the `Db` is dropped.
pub(crate) async fn probe_until_closed(inner: std::sync::Weak<Inner>) {
    let Some(every) = inner.upgrade().map(|i| i.breaker.probe_interval()) else {
        return;
    };
    loop {
        tokio::time::sleep(every).await;
        let Some(inner) = inner.upgrade() else { return };
        let breaker = &inner.breaker;
        if inner.pool.is_closed() || !breaker.is_open() {
            breaker.stop_probing();
            // A failure may have reopened it after the check and found the
            // job still claimed: take it back rather than leave none.
            if inner.pool.is_closed() || !breaker.is_open() || !breaker.start_probing() {
                return;
            }
            continue;
        }
        if !breaker.take_probe() {
            continue;
        }
        let timeouts = deadpool_postgres::Timeouts {
            wait: Some(Duration::ZERO),
            ..inner.pool.timeouts()
        };
        match inner.pool.timeout_get(&timeouts).await {
            // An idle pooled connection may be one the outage left dead but
            // open-looking: only a round trip on it is a verdict.
            Ok(conn) => match round_trip(
                (&inner.counters, &inner.target),
                RoundTrip::Probe,
                "SELECT 1",
                Some(inner.config.get_connect_timeout()),
                conn.batch_execute("SELECT 1"),
            )
            .await
            {
                Ok(Ok(())) => {
                    breaker.success();
                    tracing::info!("PostgreSQL answers again; circuit breaker closed");
                    drop(conn);
                }
                Ok(Err(e)) => {
                    drop(deadpool_postgres::Object::take(conn));
                    breaker.failure(&Error::from_pg(e));
                }
                Err(_) => {
                    drop(deadpool_postgres::Object::take(conn));
                    breaker.failure(&Error::Timeout {
                        kind: TimeoutKind::Connect,
                        source: None,
                    });
                }
            },
            // Every slot is taken by connections in use: no verdict.
            Err(PoolError::Timeout(TimeoutType::Wait)) => breaker.abandon_probe(),
            Err(PoolError::Closed) => {
                breaker.abandon_probe();
                breaker.stop_probing();
                return;
            }
            Err(PoolError::Timeout(_)) => {
                breaker.failure(&Error::Timeout {
                    kind: TimeoutKind::Connect,
                    source: None,
                });
            }
            Err(PoolError::Backend(e)) => {
                breaker.failure(&Error::from_pg(e));
            }
            Err(other) => {
                breaker.failure(&Error::Connection {
                    source: other.to_string().into(),
                });
            }
        }
    }
}
