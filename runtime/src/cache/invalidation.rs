//! What a write made stale ([`Invalidation`]), the cache id of a row, and
//! the guard that still invalidates when a write's caller is cancelled.
//!
//! An invalidation names a table and a scope, not keys: each tier turns it
//! into its own keys (L1 under the local generations, L2 in the
//! `INVALIDATE` script), and other processes get it as one message.

use std::sync::Arc;
use std::time::Duration;

use super::Cache;

/// What a write made stale. Every scope retires the model's cached lists.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Invalidation {
    pub(crate) table: &'static str,
    pub(crate) scope: Scope,
}

/// How much of a table a write touched.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Scope {
    /// One row, by its cache id.
    Row(String),
    /// New rows only (`insert_many`): cached rows stay valid.
    Lists,
    /// Rows it cannot name (bulk update/delete by filter).
    AllRows,
}

impl Invalidation {
    pub(crate) fn row(table: &'static str, row: String) -> Self {
        Invalidation {
            table,
            scope: Scope::Row(row),
        }
    }

    pub(crate) fn lists(table: &'static str) -> Self {
        Invalidation {
            table,
            scope: Scope::Lists,
        }
    }

    pub(crate) fn all(table: &'static str) -> Self {
        Invalidation {
            table,
            scope: Scope::AllRows,
        }
    }

    /// The mode and row arguments of the Redis script and message.
    pub(crate) fn mode(&self) -> (&'static str, &str) {
        match &self.scope {
            Scope::Row(id) => ("row", id),
            Scope::Lists => ("lists", ""),
            Scope::AllRows => ("all", ""),
        }
    }

    /// `instance|seq|table|mode|row`; `seq` 0 asks for no acknowledgement.
    #[cfg(feature = "redis")]
    pub(crate) fn message(&self, instance: u64, seq: u64) -> String {
        let (mode, row) = self.mode();
        format!("{instance}|{seq}|{}|{mode}|{row}", self.table)
    }
}

/// The cache id of a row: its primary key's `Debug` form. Reads and writes
/// must agree on it, so both call this.
pub(crate) fn row_id<K: std::fmt::Debug + ?Sized>(key: &K) -> String {
    format!("{key:?}")
}

/// Armed before an autocommit write is sent: if the caller's future is
/// dropped before the write's invalidation ran (mid-statement, or between
/// the answer and the invalidation), `Drop` spawns it, and repeats it once
/// the statement can no longer be running (after the statement timeout), so
/// a reader that loaded the old row in between cannot keep it cached.
#[derive(Debug)]
pub struct WriteGuard {
    cache: Arc<Cache>,
    inv: Option<Invalidation>,
    settle: Duration,
}

impl WriteGuard {
    pub(crate) fn new(cache: Arc<Cache>, inv: Invalidation, settle: Duration) -> Self {
        WriteGuard {
            cache,
            inv: Some(inv),
            settle,
        }
    }

    /// The write finished and its own invalidation ran (or it failed cleanly).
    pub(crate) fn disarm(mut self) {
        self.inv = None;
    }
}

impl Drop for WriteGuard {
    fn drop(&mut self) {
        let Some(inv) = self.inv.take() else { return };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let cache = self.cache.clone();
        let settle = self.settle;
        runtime.spawn(async move {
            cache.invalidate(&inv).await;
            tokio::time::sleep(settle).await;
            cache.invalidate(&inv).await;
        });
    }
}
