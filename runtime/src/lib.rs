#![doc = include_str!("../../README.md")]

#[allow(unused_extern_crates)] // lets the derive's `::strata::` paths resolve in our own tests
extern crate self as strata;

mod config;
mod error;
mod executor;
mod metrics;
mod pool;
pub mod retry;
mod tx;
pub mod validate;

pub use config::{Config, Secret, SslMode};
pub use error::{Error, Result, TimeoutKind};
pub use executor::{Executor, OpKind, Params};
pub use metrics::{Metrics, PoolStatus, QueryMetrics, TxMetrics};
pub use pool::Db;
pub use tokio_postgres::Row;
pub use tokio_postgres::error::SqlState;
pub use tokio_postgres::types::ToSql;
pub use tx::{IsolationLevel, Tx, TxOptions};
pub use validate::{FieldError, ValidationErrors};

/// Everything an application usually needs: `use strata::prelude::*;`.
pub mod prelude {
    pub use crate::{Config, Db, Error, Executor, IsolationLevel, Result, Tx, TxOptions};
}

#[doc(hidden)]
pub mod __private {
    //! Used by `#[derive(Model)]`; not public API.
    pub use crate::executor::{Conn, run_execute, run_query};
}
