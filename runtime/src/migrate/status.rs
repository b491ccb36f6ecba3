//! What a migration run reports: the steps it took and where each
//! migration stands.

use std::fmt;
use std::time::Duration;

use crate::Timestamp;

/// Which way a migration ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// `up.sql`: applied.
    Up,
    /// `down.sql`: reverted.
    Down,
}

/// One migration that ran.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Step {
    /// Its version.
    pub version: i64,
    /// Its name.
    pub name: String,
    /// Applied or reverted.
    pub direction: Direction,
    /// How long its statements (and history write) took.
    pub elapsed: Duration,
}

/// A migration about to run (see
/// [`Migrator::on_start`](crate::migrate::Migrator::on_start)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Starting {
    /// Its version.
    pub version: i64,
    /// Its name.
    pub name: String,
    /// Applying or reverting.
    pub direction: Direction,
}

/// Where a migration stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum State {
    /// Applied, and `up.sql` still has the checksum recorded then.
    Applied,
    /// On disk, not applied.
    Pending,
    /// Applied, but `up.sql` has changed since: its checksum differs from the
    /// recorded one. `up` refuses to run until the file is restored or the
    /// migration reverted.
    Changed,
    /// In the history table, but not among the migrations on disk.
    Missing,
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            State::Applied => "applied",
            State::Pending => "pending",
            State::Changed => "changed",
            State::Missing => "missing",
        })
    }
}

/// One line of [`Migrator::status`](crate::migrate::Migrator::status).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MigrationStatus {
    /// The version.
    pub version: i64,
    /// The name (from disk, or from the history for a missing one).
    pub name: String,
    /// Where it stands.
    pub state: State,
    /// When it was applied, if it was.
    pub applied_at: Option<Timestamp>,
    /// How long it took to apply, in milliseconds, if it was.
    pub execution_ms: Option<i64>,
}
