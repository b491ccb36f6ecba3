//! The task-local scopes that change where a task's reads may go:
//! [`session`] (read-your-writes for the scope's own writes only) and
//! [`on_primary`] (never a replica).
//!
//! Task-locals, not thread-locals: a task moves between threads, and a
//! thread runs many tasks, so a thread-local would leak one request's
//! writes into another's routing. Neither crosses `tokio::spawn`.

use std::cell::Cell;
use std::future::Future;

tokio::task_local! {
    /// The epoch of the scope's last write (0: none yet).
    static SESSION: Cell<u64>;
    static PRIMARY: ();
}

/// Runs `fut` as one read-your-writes session: its reads wait (by going
/// to the primary) only for the writes made inside it, not for every
/// write of the process.
///
/// Without a session, a read after any write through the same [`Db`](crate::Db)
/// is kept off replicas until they have replayed it: always safe, but
/// under a steady stream of writes it sends most reads to the primary.
/// Wrap each request (or job) in a session to keep the guarantee per
/// caller and let other callers' reads use replicas.
///
/// ```
/// # async fn f(db: strata::Db) -> strata::Result<()> {
/// use strata::Executor;
/// strata::replica::session(async {
///     db.execute("UPDATE t SET n = n + 1", &[]).await?;
///     // Sees the update: this session's write is not on a replica yet.
///     let _ = db.query_read("SELECT n FROM t", &[]).await?;
///     Ok::<_, strata::Error>(())
/// })
/// .await
/// # }
/// ```
pub async fn session<F: Future>(fut: F) -> F::Output {
    SESSION.scope(Cell::new(0), fut).await
}

/// Runs `fut` with every read on the primary: for a read that must see
/// other processes' latest writes (a check before a payment, say).
pub async fn on_primary<F: Future>(fut: F) -> F::Output {
    PRIMARY.scope((), fut).await
}

/// Whether the current task is inside [`on_primary`].
pub(crate) fn pinned_to_primary() -> bool {
    PRIMARY.try_with(|_| ()).is_ok()
}

/// Whether the current task is inside either scope (the batch stage, whose
/// statements run in another task, lets such gets run on their own).
pub(crate) fn scoped() -> bool {
    pinned_to_primary() || SESSION.try_with(|_| ()).is_ok()
}

/// The session's last write epoch, if the task is in a session.
pub(super) fn session_needs() -> Option<u64> {
    SESSION.try_with(Cell::get).ok()
}

/// Records a write (epoch `e`) in the task's session, if any.
pub(super) fn wrote(e: u64) {
    let _ = SESSION.try_with(|last| last.set(last.get().max(e)));
}
