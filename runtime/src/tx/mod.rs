//! Transactions and savepoints.
//!
//! [`Db::transaction`] runs a closure inside `BEGIN` ... `COMMIT`, rolls back
//! when it returns `Err`, and repeats the whole closure when the server
//! reports a serialization failure or a deadlock (it rolled the attempt back,
//! so repeating is safe). The closure gets a [`Tx`] handle; `Tx::savepoint` nests.
//!
//! Cancellation safety: a [`Tx`] knows whether its connection is between
//! `BEGIN` and a finished `COMMIT`/`ROLLBACK`. If its last handle is dropped in that state
//! (the future was cancelled, the closure panicked, the timeout fired), the
//! connection is detached from the pool and closed, which makes the server
//! roll back. A connection inside a transaction never goes back to the pool.

pub(crate) mod actor;
mod handle;
mod install;
mod options;
mod run;

pub use handle::Tx;
pub use options::{IsolationLevel, TxOptions};
