//! The Redis client wrapper: one shared connection manager behind a
//! breaker, a bound on every connect and call, and the error counting and
//! logging of failures. It knows nothing of what the calls mean.
//!
//! A call is two steps, [`RedisClient::checkout`] then [`RedisClient::run`],
//! so that the store can replay missed invalidations on the connection in
//! between (see `replay.rs`) while the half-open probe guard stays held for
//! the whole call.

use std::sync::Mutex;
use std::time::Duration;

use redis::aio::ConnectionManager;

use crate::breaker::{Breaker, BreakerState, ProbeGuard};
use crate::cache::CacheCounters;
use crate::observe::counters::bump;

/// A Redis client behind a breaker and a per-call timeout.
pub(crate) struct RedisClient {
    client: redis::Client,
    /// The shared connection; `None` until the first call, and again after
    /// an I/O failure or timeout, so the next call connects afresh.
    conn: Mutex<Option<ConnectionManager>>,
    breaker: Breaker,
    timeout: Duration,
}

/// The connection of one call, and the guard of the call that is the
/// breaker's half-open probe: dropping that before a verdict lets another
/// call probe (else the breaker would stay half-open for good).
pub(super) type Checkout<'a> = (ConnectionManager, Option<ProbeGuard<'a>>);

impl RedisClient {
    pub(super) fn new(
        url: &str,
        timeout: Duration,
        tls: Option<&crate::tls::RedisTls>,
    ) -> Result<Self, redis::RedisError> {
        Ok(RedisClient {
            client: crate::tls::redis_client(url, tls)?,
            conn: Mutex::new(None),
            breaker: Breaker::new(3, Duration::from_millis(500)),
            timeout,
        })
    }

    /// The client, for subscriptions (which take connections of their own).
    pub(crate) fn client(&self) -> &redis::Client {
        &self.client
    }

    /// The bound on one Redis call.
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// True while the breaker refuses calls.
    pub(crate) fn is_open(&self) -> bool {
        self.breaker.is_open()
    }

    /// Why Redis last failed, since it last answered.
    pub(crate) fn last_cause(&self) -> Option<String> {
        self.breaker.last_cause()
    }

    /// A connection, if the breaker allows a call and Redis can be reached.
    pub(super) async fn checkout(&self, counters: &CacheCounters) -> Option<Checkout<'_>> {
        if !self.breaker.allow() {
            return None;
        }
        let probe =
            (self.breaker.state() == BreakerState::HalfOpen).then(|| ProbeGuard(&self.breaker));
        if let Some(conn) = self.conn.lock().ok().and_then(|c| c.clone()) {
            return Some((conn, probe));
        }
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(1);
        match tokio::time::timeout(
            self.timeout * 2,
            self.client.get_connection_manager_with_config(config),
        )
        .await
        {
            Ok(Ok(conn)) => {
                if let Ok(mut slot) = self.conn.lock() {
                    *slot = Some(conn.clone());
                }
                Some((conn, probe))
            }
            Ok(Err(err)) => {
                let auth = err.kind() == redis::ErrorKind::AuthenticationFailed
                    || matches!(err.code(), Some("WRONGPASS" | "NOAUTH"));
                let cause = if auth {
                    format!("authentication failed (check the credentials in REDIS_URL): {err}")
                } else {
                    format!("cannot connect: {err}")
                };
                self.failed(counters, cause);
                None
            }
            Err(_) => {
                let cause = format!("no answer within {:?} while connecting", self.timeout * 2);
                self.failed(counters, cause);
                None
            }
        }
    }

    /// Runs one command (on a checked-out connection) with the timeout,
    /// feeding the breaker; `_probe` is the checkout's guard, held until the
    /// verdict. `None` when Redis is unavailable (I/O error, timeout),
    /// `Some(Err)` when Redis answered with an error (the connection is fine).
    pub(super) async fn run<T>(
        &self,
        _probe: Option<ProbeGuard<'_>>,
        counters: &CacheCounters,
        command: impl Future<Output = redis::RedisResult<T>>,
    ) -> Option<redis::RedisResult<T>> {
        match tokio::time::timeout(self.timeout, command).await {
            Ok(Ok(value)) => {
                self.breaker.success();
                Some(Ok(value))
            }
            Ok(Err(err))
                if !(err.is_io_error()
                    || err.is_timeout()
                    || err.is_connection_dropped()
                    || err.is_connection_refusal()) =>
            {
                // Redis answered (WRONGTYPE, a script error): not an outage.
                self.breaker.success();
                bump(&counters.redis_errors);
                Some(Err(err))
            }
            Ok(Err(err)) => {
                tracing::debug!(error = %err, "redis call failed; falling through");
                self.lost(counters, format!("call failed: {err}"));
                None
            }
            Err(_) => {
                tracing::debug!("redis call timed out; falling through");
                self.lost(counters, format!("no answer within {:?}", self.timeout));
                None
            }
        }
    }

    /// A connect or call failed: feeds the breaker with the cause, which
    /// health reports, and logs it when it differs from the last one (so
    /// an outage logs once, not once per call).
    fn failed(&self, counters: &CacheCounters, cause: String) {
        bump(&counters.redis_errors);
        let err: Box<dyn std::error::Error + Send + Sync> = cause.into();
        if self.breaker.failure(&*err).as_deref() != Some(&err.to_string()) {
            tracing::warn!(error = %err, "redis failed; cached reads fall through to postgres");
        }
    }

    /// An I/O failure or timeout: feed the breaker and drop the connection,
    /// so the next call connects afresh instead of reusing one that may be
    /// stalled or half-closed.
    pub(super) fn lost(&self, counters: &CacheCounters, cause: String) {
        self.failed(counters, cause);
        if let Ok(mut slot) = self.conn.lock() {
            *slot = None;
        }
    }
}
