//! Who is acting, for the audit log: a task-local value, never a
//! thread-local. A thread-local outlives the request on a work-stealing
//! runtime and is read by the next task on that thread, which is how other
//! libraries recorded one request's user on another's changes.
//!
//! It lives with the transactions because that is where it reaches the
//! server: every transaction begun inside [`with_actor`] sets
//! `strata.actor` with `set_config(.., true)` in its `BEGIN` batch, so the
//! setting ends with the transaction and no pooled connection carries it.

use std::future::Future;
use std::sync::Arc;

tokio::task_local! {
    static ACTOR: Arc<str>;
}

/// Runs `fut` with `actor` as the audit log's actor: the transactions it
/// begins record `actor` on every audited row they change.
///
/// Task-local: a `tokio::spawn` inside `fut` starts without an actor; wrap
/// the spawned future in `with_actor` too.
pub fn with_actor<F: Future>(actor: impl Into<String>, fut: F) -> impl Future<Output = F::Output> {
    let actor: Arc<str> = Arc::from(actor.into());
    ACTOR.scope(actor, fut)
}

/// The actor of the current task, if it runs inside [`with_actor`].
pub fn current_actor() -> Option<Arc<str>> {
    ACTOR.try_with(Arc::clone).ok()
}

/// The statements that follow `BEGIN` for the current actor: `""` without
/// one.
pub(crate) fn begin_suffix() -> crate::Result<String> {
    match current_actor() {
        None => Ok(String::new()),
        Some(actor) => set_actor(&actor),
    }
}

/// `; SELECT set_config('strata.actor', '<actor>', true)`: the actor as a
/// SQL literal (quotes doubled). One with a NUL, which no PostgreSQL text
/// can hold, is refused before anything is sent.
pub(crate) fn set_actor(actor: &str) -> crate::Result<String> {
    check(actor)?;
    Ok(format!(
        "; SELECT set_config('strata.actor', '{}', true)",
        actor.replace('\'', "''")
    ))
}

/// Refuses an actor no PostgreSQL text can hold (one with a NUL), before
/// anything is sent.
pub(crate) fn check(actor: &str) -> crate::Result<()> {
    match actor.contains('\0') {
        true => Err(crate::Error::InvalidInput {
            reason: "the audit actor contains a NUL byte, which PostgreSQL text cannot hold".into(),
        }),
        false => Ok(()),
    }
}
