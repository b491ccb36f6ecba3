//! The **acquire** stage's result: the connection one statement runs on.
//!
//! A statement runs either on a connection checked out of the pool for it
//! (autocommit) or on the connection of an open transaction. [`Lent`] owns
//! it for the statement's lifetime and decides, when dropped, whether a
//! pooled connection goes back to the pool or is closed.

use std::ops::Deref;

use deadpool_postgres::{ClientWrapper, Object};

use crate::observe::counters::bump;
use crate::pool::Db;

/// A connection lent to one statement: owned from the pool, or borrowed
/// from a transaction.
#[derive(Debug)]
// A short-lived stack value per statement; boxing the pooled object would
// cost an allocation on every statement.
#[allow(clippy::large_enum_variant)]
pub enum Conn<'a> {
    /// Checked out of the pool for this statement (autocommit).
    Pooled(Object),
    /// Borrowed, not the statement's own: the connection of an open
    /// transaction, or one the batch stage pipelines several reads on.
    /// Nothing is retried on it, and a failure is its owner's to handle.
    InTx(&'a ClientWrapper),
}

impl Deref for Conn<'_> {
    type Target = ClientWrapper;
    fn deref(&self) -> &ClientWrapper {
        match self {
            Conn::Pooled(o) => o,
            Conn::InTx(c) => c,
        }
    }
}

impl Conn<'_> {
    /// Whether this is a pooled connection in autocommit mode.
    pub(crate) fn is_pooled(&self) -> bool {
        matches!(self, Conn::Pooled(_))
    }

    /// A pooled connection opened before `failed_at`.
    pub(super) fn opened_before(&self, failed_at: Option<std::time::Instant>) -> bool {
        match (self, failed_at) {
            (Conn::Pooled(o), Some(at)) => Object::metrics(o).created < at,
            _ => false,
        }
    }

    /// Throws a pooled connection away instead of returning it to the pool.
    pub(crate) fn discard(self, db: &Db) {
        if let Conn::Pooled(o) = self {
            bump(&db.inner.counters.connections_discarded);
            drop(Object::take(o));
        }
    }
}

/// The connection one statement runs on. While `armed`, dropping it
/// (an error path, or the caller dropping the future) closes a pooled
/// connection instead of pooling it.
pub(super) struct Lent<'c, 'd> {
    conn: Option<Conn<'c>>,
    db: &'d Db,
    pub(super) armed: bool,
}

impl<'c, 'd> Lent<'c, 'd> {
    pub(super) fn new(conn: Conn<'c>, db: &'d Db) -> Self {
        Lent {
            conn: Some(conn),
            db,
            armed: false,
        }
    }

    /// The connection, to discard or abandon by hand.
    pub(super) fn take(&mut self) -> Conn<'c> {
        self.conn.take().expect("a lent connection is taken once")
    }
}

impl<'c> Deref for Lent<'c, '_> {
    type Target = Conn<'c>;
    fn deref(&self) -> &Conn<'c> {
        self.conn
            .as_ref()
            .expect("a lent connection is used before it is taken")
    }
}

impl Drop for Lent<'_, '_> {
    fn drop(&mut self) {
        if self.armed
            && let Some(conn) = self.conn.take()
        {
            conn.discard(self.db);
        }
    }
}
