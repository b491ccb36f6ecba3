//! How a transaction runs: isolation level, access mode, timeout and
//! retries, and the `BEGIN` they make.

use std::time::Duration;

/// Transaction isolation level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum IsolationLevel {
    /// Each statement sees data committed before it began (PostgreSQL's default).
    #[default]
    ReadCommitted,
    /// Every statement sees the snapshot taken at the first statement.
    RepeatableRead,
    /// As if transactions ran one at a time; conflicting ones fail with
    /// 40001 and are retried by strata.
    Serializable,
}

impl IsolationLevel {
    fn sql(self) -> &'static str {
        match self {
            IsolationLevel::ReadCommitted => "READ COMMITTED",
            IsolationLevel::RepeatableRead => "REPEATABLE READ",
            IsolationLevel::Serializable => "SERIALIZABLE",
        }
    }
}

/// How to run a transaction: isolation, access mode, timeout and retries.
#[derive(Debug, Clone)]
pub struct TxOptions {
    pub(super) isolation: IsolationLevel,
    pub(super) read_only: bool,
    pub(super) deferrable: bool,
    pub(super) timeout: Option<Duration>,
    pub(super) max_retries: Option<u32>,
    pub(super) retry_on_unique: bool,
}

impl Default for TxOptions {
    fn default() -> Self {
        TxOptions {
            isolation: IsolationLevel::ReadCommitted,
            read_only: false,
            deferrable: false,
            timeout: None,
            max_retries: None,
            retry_on_unique: false,
        }
    }
}

impl TxOptions {
    /// `READ COMMITTED`, read-write, retries from the config.
    pub fn new() -> Self {
        Self::default()
    }

    /// `SERIALIZABLE`.
    pub fn serializable() -> Self {
        Self::default().isolation(IsolationLevel::Serializable)
    }

    /// `REPEATABLE READ`.
    pub fn repeatable_read() -> Self {
        Self::default().isolation(IsolationLevel::RepeatableRead)
    }

    /// `READ COMMITTED`.
    pub fn read_committed() -> Self {
        Self::default()
    }

    /// Sets the isolation level.
    #[must_use]
    pub fn isolation(mut self, level: IsolationLevel) -> Self {
        self.isolation = level;
        self
    }

    /// `READ ONLY`: PostgreSQL rejects writes (SQLSTATE 25006).
    #[must_use]
    pub fn read_only(mut self, yes: bool) -> Self {
        self.read_only = yes;
        self
    }

    /// `DEFERRABLE`: with `SERIALIZABLE` and `READ ONLY`, waits for a safe
    /// snapshot and then can never fail with a serialization error.
    #[must_use]
    pub fn deferrable(mut self, yes: bool) -> Self {
        self.deferrable = yes;
        self
    }

    /// Bound on one attempt, from `BEGIN` to the closure's end. Past it the
    /// attempt is abandoned (its connection closed, so the server rolls back)
    /// and the call returns `Error::Timeout` with `TimeoutKind::Transaction`.
    /// Also sets `statement_timeout` for the transaction's statements.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// How many times the closure is repeated after 40001/40P01 (default:
    /// the config's [`tx_max_retries`](crate::Config::tx_max_retries),
    /// 10). `0` disables retries.
    #[must_use]
    pub fn max_retries(mut self, n: u32) -> Self {
        self.max_retries = Some(n);
        self
    }

    /// Also repeat after a unique violation (23505), for closures that pick a
    /// fresh value (an id, a slug) on every attempt.
    #[must_use]
    pub fn retry_on_unique(mut self, yes: bool) -> Self {
        self.retry_on_unique = yes;
        self
    }

    pub(crate) fn begin_sql(&self) -> String {
        let mut sql = format!("BEGIN ISOLATION LEVEL {}", self.isolation.sql());
        sql.push_str(if self.read_only {
            ", READ ONLY"
        } else {
            ", READ WRITE"
        });
        if self.deferrable {
            sql.push_str(", DEFERRABLE");
        }
        if let Some(t) = self.timeout {
            sql.push_str(&format!(
                "; SET LOCAL statement_timeout = {}",
                t.as_millis().max(1)
            ));
        }
        sql
    }
}
