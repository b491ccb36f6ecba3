//! The change feed: `db.changes::<User>()` yields, in commit order, the key
//! and kind of every write to `users`, whoever made it.
//!
//! How: `AFTER .. FOR EACH STATEMENT` triggers with transition tables send
//! one `pg_notify` per statement with the touched keys as JSON, on a channel
//! named after the table; the `Db`'s listener (`crate::notify`) receives
//! them on a dedicated connection.
//!
//! Why statement triggers and NOTIFY: a trigger sees every write (strata's,
//! raw SQL, other applications), and a NOTIFY sent inside the writing
//! transaction is delivered only at COMMIT, never after a rollback. One
//! notification per statement, not per row, keeps a bulk write to one
//! message (or to one table-level event when its keys do not fit).

mod cache;
mod sql;

pub(crate) use cache::cache_ready;
pub use sql::{install_sql, uninstall_sql};

use std::collections::VecDeque;
use std::marker::PhantomData;

use serde::de::DeserializeOwned;

use crate::error::Result;
use crate::executor::Executor;
use crate::model::Model;
use crate::notify::{Kind, Raw, Subscription};
use crate::pool::Db;
use crate::tx::TxOptions;

/// The kind of write. A soft delete is an `Update` (the row is still there).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ChangeKind {
    /// `INSERT` (also an upsert that inserted).
    Insert,
    /// `UPDATE`, including soft deletes, restores and upserts that updated.
    Update,
    /// `DELETE` or `TRUNCATE`.
    Delete,
}

impl From<Kind> for ChangeKind {
    fn from(kind: Kind) -> Self {
        match kind {
            Kind::Insert => ChangeKind::Insert,
            Kind::Update => ChangeKind::Update,
            Kind::Delete => ChangeKind::Delete,
        }
    }
}

/// One event of a [`Changes`] feed.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ChangeEvent<K> {
    /// The row with this primary key was written (committed).
    Row {
        /// The row's primary key.
        key: K,
        /// What the write was.
        kind: ChangeKind,
    },
    /// Some rows of the table were written, too many to name in one
    /// notification (over 1000 keys or about 8000 bytes), or a `TRUNCATE`.
    Table {
        /// What the writes were.
        kind: ChangeKind,
    },
    /// Changes may have been missed just before this event: the listener's
    /// connection was lost and re-established, or this subscriber fell more
    /// than 1024 notifications behind. Re-read what you track.
    Gap,
}

/// A subscription to one model's changes; see [`Db::changes`]. Dropping it
/// unsubscribes (and closes the listener's connection if nothing else uses
/// it).
#[derive(Debug)]
pub struct Changes<M: Model> {
    sub: Subscription,
    pending: VecDeque<ChangeEvent<M::Key>>,
    _model: PhantomData<fn() -> M>,
}

impl<M: Model> Changes<M>
where
    M::Key: DeserializeOwned,
{
    /// The next event; waits for one. `None` only once the `Db` is gone.
    ///
    /// Events come in commit order. A statement's keys come one `Row` each;
    /// a key that does not decode as `M::Key` becomes a `Table` event, so
    /// nothing is dropped silently.
    pub async fn next(&mut self) -> Option<ChangeEvent<M::Key>> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(event);
            }
            match self.sub.next().await? {
                Raw::Gap => return Some(ChangeEvent::Gap),
                Raw::Table { kind } => return Some(ChangeEvent::Table { kind: kind.into() }),
                Raw::Rows { kind, keys } => {
                    let kind = kind.into();
                    let typed: Option<Vec<M::Key>> = keys
                        .into_iter()
                        .map(|k| serde_json::from_value(k).ok())
                        .collect();
                    match typed {
                        Some(keys) => self
                            .pending
                            .extend(keys.into_iter().map(|key| ChangeEvent::Row { key, kind })),
                        None => return Some(ChangeEvent::Table { kind }),
                    }
                }
            }
        }
    }

    /// The events as a `futures` stream.
    pub fn into_stream(self) -> impl futures_util::Stream<Item = ChangeEvent<M::Key>> + Send {
        futures_util::stream::unfold(self, |mut feed| async move {
            let event = feed.next().await?;
            Some((event, feed))
        })
    }

    /// The `NOTIFY` channel this feed listens on: `strata_` and the md5 of
    /// the quoted `schema.table` (39 bytes whatever the names' length).
    pub fn channel(&self) -> &str {
        self.sub.channel()
    }
}

impl Db {
    /// Subscribes to `M`'s changes: every committed write to its table, by
    /// strata or anyone else, once the table has the feed's triggers
    /// ([`Db::install_changes`] or [`install_sql`] in a migration).
    ///
    /// Returns once the listener is listening: every write committed after
    /// that is delivered, or a [`ChangeEvent::Gap`] comes before the next
    /// event. All feeds of one `Db` (and its cache channel) share one
    /// dedicated connection, opened from this `Db`'s config. Returns the
    /// connect error (or `Error::Timeout`) if the listener cannot connect,
    /// and `Error::InvalidInput` if the table does not exist.
    pub async fn changes<M: Model>(&self) -> Result<Changes<M>>
    where
        M::Key: DeserializeOwned,
    {
        let sub = self.inner.hub.subscribe(M::META.qualified).await?;
        Ok(Changes {
            sub,
            pending: VecDeque::new(),
            _model: PhantomData,
        })
    }

    /// Installs the feed's triggers on `M`'s table (what [`install_sql`]
    /// returns), in one transaction. Idempotent; safe to run from several
    /// processes at once.
    pub async fn install_changes<M: Model>(&self) -> Result<()> {
        self.run_all(sql::install_statements(M::META)).await
    }

    /// Removes the feed's triggers from `M`'s table (what
    /// [`uninstall_sql`] returns).
    pub async fn uninstall_changes<M: Model>(&self) -> Result<()> {
        self.run_all(sql::uninstall_statements(M::META)).await
    }

    async fn run_all(&self, statements: Vec<String>) -> Result<()> {
        let statements = std::sync::Arc::new(statements);
        self.transaction(TxOptions::default(), move |tx| {
            let statements = statements.clone();
            async move {
                for s in statements.iter() {
                    tx.execute(s, &[]).await?;
                }
                Ok(())
            }
        })
        .await
    }
}
