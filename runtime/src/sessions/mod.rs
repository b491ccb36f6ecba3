//! Server-side sessions: create, validate, slide, update, rotate, destroy
//! and clean up, on one PostgreSQL table read through strata's cache.
//!
//! ```text
//! let sessions = Sessions::new(&db);            // defaults: 7 days absolute, 24 h idle
//! let (token, s) = sessions.create(NewSession::for_user("42")).await?;
//! sessions.touch(token.as_str()).await?;        // Some(session) while it lives
//! ```
//!
//! **Tokens.** 256 random bits from the operating system, 43 characters of
//! URL-safe base64. The table is keyed by the token's SHA-256 hash, so the
//! database, Redis and the logs hold hashes only; a string that is not a
//! well-formed token is "no session" without a query, and a well-formed
//! forgery is a lookup by a hash unrelated to its text (see `token.rs`).
//!
//! **Expiry.** Every session has an absolute deadline (`expires_at`, set
//! by `create` and `rotate`) and an idle deadline (`idle_expires_at =
//! last_seen_at + idle`, moved by `touch`). It is alive at instant `t` iff
//! `t < expires_at` and `t < idle_expires_at`: alive one microsecond
//! before either deadline, dead at it. Why one clock, the application's
//! ([`Clock`]): a cached read must be checked on every call, and asking
//! the database for its time would cost the round trip the cache saves; so
//! writes, reads and `cleanup_expired` all use the same clock (truncated to
//! PostgreSQL's microseconds), and app servers' clock skew shifts the
//! edges by that skew.
//!
//! **Cache.** `get` reads through the model cache (L1, L2, PostgreSQL) and
//! re-checks the deadlines on every read, so an entry cached alive is
//! never served past its deadline. Destroy, rotate, update and touch
//! invalidate the entry in every process sharing the Redis (or the change
//! feed); `cleanup_expired` does not need to: what it removes is already
//! refused by the deadline check.
//!
//! **Touch throttling.** `touch` writes only when `last_seen_at` is older
//! than `touch_interval` (default a tenth of the idle window), so a busy
//! session writes at most once per interval, and the idle deadline it
//! reports may lag real activity by up to that interval.
//!
//! **Data.** A JSON object updated by `update` in one statement, `(data -
//! removed) || set`, under the row lock: two concurrent updates of
//! different keys both survive (no read-modify-write in the client).
//!
//! **Cleanup.** `cleanup_expired` deletes in batches of `cleanup_batch`
//! rows (`DELETE .. WHERE ctid = ANY(ARRAY(SELECT ctid .. LIMIT n FOR
//! UPDATE SKIP LOCKED))`), each batch its own autocommit statement: no
//! lock outlives one batch, and rows a live request holds are skipped,
//! not waited for.

mod cleanup;
mod clock;
mod ops;
mod row;
mod token;
#[cfg(feature = "tower-sessions")]
mod tower;

pub use cleanup::Cleanup;
pub use clock::Clock;
pub use ops::{DataPatch, NewSession};
pub use row::{Session, TABLE, install_statements};
pub use token::SessionToken;
#[cfg(feature = "tower-sessions")]
pub use tower::TowerStore;

use std::time::Duration;

use crate::error::{Error, Result};
use crate::pool::Db;

/// The session service: one handle per application, cheap to clone.
///
/// Settings are builder methods; every one has a default.
#[derive(Clone, Debug)]
pub struct Sessions {
    db: Db,
    absolute: Duration,
    idle: Duration,
    touch_interval: Option<Duration>,
    batch: u32,
    clock: Clock,
}

impl Sessions {
    /// The service on `db`'s pool and cache, with the default settings:
    /// 7 days absolute, 24 hours idle, touch interval a tenth of idle,
    /// cleanup batches of 1,000 rows, the system clock.
    ///
    /// The table must exist: [`Db::install_sessions`] or
    /// [`install_statements`] in a migration.
    pub fn new(db: &Db) -> Sessions {
        Sessions {
            db: db.clone(),
            absolute: Duration::from_secs(7 * 86_400),
            idle: Duration::from_secs(86_400),
            touch_interval: None,
            batch: 1_000,
            clock: Clock::system(),
        }
    }

    /// How long a session lives at most, from `create` or `rotate`,
    /// however active. Must be positive.
    pub fn absolute_timeout(mut self, value: std::time::Duration) -> Result<Self> {
        self.absolute = positive("absolute_timeout", value)?;
        Ok(self)
    }

    /// How long a session lives without a `touch`. Must be positive.
    pub fn idle_timeout(mut self, value: std::time::Duration) -> Result<Self> {
        self.idle = positive("idle_timeout", value)?;
        Ok(self)
    }

    /// The least time between two writes of one session's activity
    /// (default a tenth of the idle timeout). Must be positive and less
    /// than the idle timeout, or a busy session could idle out.
    pub fn touch_interval(mut self, value: std::time::Duration) -> Result<Self> {
        let interval = positive("touch_interval", value)?;
        if interval >= self.idle {
            return Err(Error::InvalidInput {
                reason: format!(
                    "touch_interval ({value:?}) must be shorter than idle_timeout; set idle_timeout first"
                ),
            });
        }
        self.touch_interval = Some(interval);
        Ok(self)
    }

    /// Rows `cleanup_expired` deletes per statement (default 1,000). Must
    /// be at least 1.
    pub fn cleanup_batch(mut self, rows: u32) -> Result<Self> {
        if rows == 0 {
            return Err(Error::InvalidInput {
                reason: "cleanup_batch must be at least 1 row".into(),
            });
        }
        self.batch = rows;
        Ok(self)
    }

    /// The clock every deadline is set and checked with (default the
    /// system clock). For tests, and for fleets that want one time source.
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The pool handle the service runs on.
    pub fn db(&self) -> &Db {
        &self.db
    }

    fn touch_every(&self) -> Duration {
        self.touch_interval.unwrap_or(self.idle / 10)
    }
}

/// A positive `Duration` under 100 years, or `Error::InvalidInput`.
fn positive(what: &str, value: Duration) -> Result<Duration> {
    match value {
        d if d >= Duration::from_micros(1) && d < Duration::from_secs(365 * 100 * 86_400) => Ok(d),
        _ => Err(Error::InvalidInput {
            reason: format!("{what} must be positive and under 100 years, not {value:?}"),
        }),
    }
}

impl Db {
    /// Creates the sessions table and its indexes if missing, in one
    /// transaction, in the first schema of the `search_path`. Idempotent.
    pub async fn install_sessions(&self) -> Result<()> {
        self.install_locked("strata_sessions", install_statements())
            .await
    }
}
