//! The Redis client wrapper: one shared multiplexed connection behind a
//! breaker, a bound on every connect and call, and the error counting and
//! logging of failures. It knows nothing of what the calls mean.
//!
//! The connection does not reconnect by itself (no connection manager): a
//! broken one stays broken, and the next call opens a new one here, which
//! the store checks (which Redis is this? see `lease/`) before trusting
//! what it reads through it.
//!
//! A call is two steps, [`RedisClient::checkout`] then [`RedisClient::run`],
//! so that the store can replay missed invalidations on the connection in
//! between (see `replay.rs`) while the half-open probe guard stays held for
//! the whole call.

use std::sync::Mutex;
use std::time::Duration;

use redis::aio::MultiplexedConnection;

use crate::breaker::{Breaker, BreakerState, ProbeGuard};
use crate::cache::CacheCounters;
use crate::observe::counters::bump;

/// A Redis client behind a breaker and a per-call timeout.
pub(crate) struct RedisClient {
    client: redis::Client,
    /// The shared connection; `None` until the first call, and again after
    /// an I/O failure or timeout, so the next call connects afresh.
    conn: Mutex<Option<Slot>>,
    breaker: Breaker,
    timeout: Duration,
}

/// The shared connection, its number, and the epoch its server was
/// verified under (`None` until it was).
#[derive(Clone)]
struct Slot {
    conn: MultiplexedConnection,
    id: u64,
    verified: Option<u64>,
}

/// The connection of one call, and the guard of the call that is the
/// breaker's half-open probe: dropping that before a verdict lets another
/// call probe (else the breaker would stay half-open for good).
pub(super) struct Checkout<'a> {
    pub(super) conn: MultiplexedConnection,
    pub(super) probe: Option<ProbeGuard<'a>>,
    /// Which connection this is, for [`RedisClient::verified`].
    pub(super) id: u64,
    /// The epoch its server was verified under, if it was.
    pub(super) verified: Option<u64>,
}

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
        if let Some(slot) = self.conn.lock().ok().and_then(|c| c.clone()) {
            return Some(Checkout {
                conn: slot.conn,
                probe,
                id: slot.id,
                verified: slot.verified,
            });
        }
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout));
        match tokio::time::timeout(
            self.timeout * 2,
            self.client
                .get_multiplexed_async_connection_with_config(&config),
        )
        .await
        {
            Ok(Ok(conn)) => {
                let id = rand::random();
                if let Ok(mut slot) = self.conn.lock() {
                    *slot = Some(Slot {
                        conn: conn.clone(),
                        id,
                        verified: None,
                    });
                }
                Some(Checkout {
                    conn,
                    probe,
                    id,
                    verified: None,
                })
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

    /// Records that connection `id`'s server was verified under `epoch`.
    pub(super) fn verified(&self, id: u64, epoch: u64) {
        if let Ok(mut slot) = self.conn.lock()
            && let Some(slot) = slot.as_mut().filter(|s| s.id == id)
        {
            slot.verified = Some(epoch);
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
