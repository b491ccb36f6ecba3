//! Removing expired sessions in bounded batches.

use std::time::{Duration, Instant};

use super::Sessions;
use super::row::TABLE;
use crate::error::Result;
use crate::executor::Executor;

/// What one [`Sessions::cleanup_expired`] run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Cleanup {
    /// Sessions removed.
    pub removed: u64,
    /// `DELETE` statements run (the last one removed fewer than a batch).
    pub batches: u64,
    /// The longest of those statements, send to answer: the longest any
    /// row lock of the run was held.
    pub longest_batch: Duration,
}

impl Sessions {
    /// Deletes every session dead now (past either deadline), at most
    /// `cleanup_batch` rows per statement, until a statement removes
    /// fewer. Each batch is its own autocommit statement that skips rows
    /// another transaction holds (`FOR UPDATE SKIP LOCKED`), so it never
    /// waits on a live request and no lock outlives one batch. Run it from
    /// a periodic task; concurrent runs share the work.
    pub async fn cleanup_expired(&self) -> Result<Cleanup> {
        let now = self.clock.now();
        let batch = i64::from(self.batch);
        let sql = format!(
            "DELETE FROM {TABLE} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {TABLE} \
             WHERE LEAST(expires_at, idle_expires_at) <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED))"
        );
        let mut done = Cleanup::default();
        loop {
            let started = Instant::now();
            let removed = self.db.execute(&sql, &[&now, &batch]).await?;
            done.longest_batch = done.longest_batch.max(started.elapsed());
            done.batches += 1;
            done.removed += removed;
            if removed < u64::from(self.batch) {
                return Ok(done);
            }
        }
    }
}
