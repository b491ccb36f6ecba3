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
    /// Checked out of a replica's pool for this read (autocommit): the
    /// route stage sent it there.
    Replica(Object, &'a crate::replica::Replica),
    /// Borrowed, not the statement's own: the connection of an open
    /// transaction, or one the batch stage pipelines several reads on.
    /// Nothing is retried on it, and a failure is its owner's to handle.
    InTx(&'a ClientWrapper),
}

impl Deref for Conn<'_> {
    type Target = ClientWrapper;
    fn deref(&self) -> &ClientWrapper {
        match self {
            Conn::Pooled(o) | Conn::Replica(o, _) => o,
            Conn::InTx(c) => c,
        }
    }
}

impl Conn<'_> {
    /// Whether this is a pooled connection in autocommit mode.
    pub(crate) fn is_pooled(&self) -> bool {
        matches!(self, Conn::Pooled(_) | Conn::Replica(..))
    }

    /// Which server it is on: the primary is 0, a replica its address.
    fn server(&self) -> usize {
        match self {
            Conn::Replica(_, r) => std::ptr::from_ref(*r) as usize,
            _ => 0,
        }
    }

    /// When a pooled connection to this one's server failed, for
    /// [`Conn::opened_before`].
    pub(super) fn failed_now(&self) -> Failed {
        Failed(self.server(), std::time::Instant::now())
    }

    /// A pooled connection to the server of `failed` opened before that
    /// failure: it may be just as dead. Another server's are not suspect.
    pub(super) fn opened_before(&self, failed: Option<Failed>) -> bool {
        match (self, failed) {
            (Conn::Pooled(o) | Conn::Replica(o, _), Some(Failed(server, at))) => {
                server == self.server() && Object::metrics(o).created < at
            }
            _ => false,
        }
    }

    /// Throws a pooled connection away instead of returning it to the
    /// pool (a stream dropped half-way, a session a raw statement changed).
    pub(crate) fn discard(self, db: &Db) {
        match self {
            Conn::Pooled(o) | Conn::Replica(o, _) => {
                bump(&db.inner.counters.connections_discarded);
                drop(Object::take(o));
            }
            Conn::InTx(_) => {}
        }
    }

    /// Throws away a connection that broke or did not answer in time; a
    /// replica's also marks the replica down until its next check succeeds.
    pub(crate) fn broke(self, db: &Db) {
        if let Conn::Replica(_, r) = &self {
            r.failed(&"a connection to it broke or did not answer in time");
        }
        self.discard(db);
    }
}

/// A connection failure: on which server (see [`Conn::failed_now`]), when.
#[derive(Clone, Copy)]
pub(super) struct Failed(usize, std::time::Instant);

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
