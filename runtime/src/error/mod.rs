//! One error type for everything strata does, with variants by meaning.
//!
//! PostgreSQL errors are classified once, at the driver boundary ([`Error::from_pg`]),
//! by SQLSTATE constant, so callers match on meaning (`UniqueViolation`,
//! `Serialization`) instead of parsing codes. `Display` says what happened at
//! this layer; the driver error is available through `source()`, never repeated
//! in the message.
//!
//! This module holds the type and its accessors; `classify` turns driver
//! errors into it and says which are transient, `decode` explains a column
//! that did not decode.

mod classify;
mod decode;
mod http;

use std::time::Duration;

use tokio_postgres::error::SqlState;

use crate::validate::{FieldError, ValidationErrors};

pub(crate) use classify::key_values;
use decode::DecodeDetail;
pub use decode::DecodeFailure;
pub use http::ErrorBody;

/// `Result` with [`strata::Error`](Error) as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The cause a variant carries as its `source()`.
type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Which bound a [`Error::Timeout`] hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimeoutKind {
    /// Waiting for a free pooled connection (`DB_ACQUIRE_TIMEOUT_MS`).
    Acquire,
    /// Opening a new connection (`DB_CONNECT_TIMEOUT_MS`).
    Connect,
    /// A statement ran past `statement_timeout` (SQLSTATE 57014) or the
    /// client-side statement bound.
    Statement,
    /// A transaction ran past its [`TxOptions::timeout`](crate::TxOptions::timeout).
    Transaction,
}

impl std::fmt::Display for TimeoutKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TimeoutKind::Acquire => "acquiring a pooled connection",
            TimeoutKind::Connect => "connecting to PostgreSQL",
            TimeoutKind::Statement => "running a statement",
            TimeoutKind::Transaction => "running a transaction",
        })
    }
}

/// The SQLSTATE the audit trigger refuses a write with when it has no actor
/// and the pool's policy is to refuse: [`Error::NoActor`].
pub const NO_ACTOR_SQLSTATE: &str = "SA001";

/// Everything that can go wrong in strata.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No row matched (`get`, `query_one`, `restore` of a missing row).
    #[error("no {what} found")]
    NotFound {
        /// What was looked for: a table name, or `row` for raw SQL.
        what: &'static str,
    },

    /// Input failed validation; nothing was sent to the database.
    #[error("validation failed: {0}")]
    Validation(ValidationErrors),

    /// SQLSTATE 23505: a unique constraint rejected the write.
    ///
    /// [`Error::field_errors`] turns it into a `unique` field error when
    /// `field` is known.
    #[error(
        "unique constraint {} violated{}",
        constraint.as_deref().unwrap_or("?"),
        row.map(|r| format!(" by row {r} of the batch")).unwrap_or_default()
    )]
    UniqueViolation {
        /// The violated constraint, as PostgreSQL names it.
        constraint: Option<String>,
        /// The table, when PostgreSQL reports it.
        table: Option<String>,
        /// The key columns, as PostgreSQL's detail names them
        /// (`Key (email)=(..) already exists.`); empty when it gives none.
        columns: Vec<String>,
        /// The model field of the violated `#[model(unique)]` (or primary
        /// key) column, filled in by the model operations; `None` for raw
        /// SQL or a constraint the model does not describe.
        field: Option<&'static str>,
        /// The 0-based index of the offending row in an
        /// [`insert_many`](crate::ModelExt::insert_many) batch, when the
        /// key values in PostgreSQL's detail match a row of the input (for
        /// a key repeated inside the batch, the later copy); `None`
        /// otherwise.
        row: Option<usize>,
        /// The driver error.
        #[source]
        source: Source,
    },

    /// SQLSTATE 23503: a foreign key rejected the write.
    #[error("foreign key constraint {} violated", constraint.as_deref().unwrap_or("?"))]
    ForeignKeyViolation {
        /// The violated constraint.
        constraint: Option<String>,
        /// The table, when PostgreSQL reports it.
        table: Option<String>,
        /// The driver error.
        #[source]
        source: Source,
    },

    /// SQLSTATE 23514: a CHECK constraint rejected the write.
    #[error("check constraint {} violated", constraint.as_deref().unwrap_or("?"))]
    CheckViolation {
        /// The violated constraint.
        constraint: Option<String>,
        /// The table, when PostgreSQL reports it.
        table: Option<String>,
        /// The driver error.
        #[source]
        source: Source,
    },

    /// SQLSTATE 23502: NULL written to a NOT NULL column.
    #[error("null value in column {} violates not-null constraint", column.as_deref().unwrap_or("?"))]
    NotNullViolation {
        /// The column.
        column: Option<String>,
        /// The table, when PostgreSQL reports it.
        table: Option<String>,
        /// The driver error.
        #[source]
        source: Source,
    },

    /// SQLSTATE 40001: the transaction could not be serialized. Retrying the
    /// whole transaction is safe.
    #[error("transaction could not be serialized")]
    Serialization {
        /// The driver error.
        #[source]
        source: Source,
    },

    /// SQLSTATE 40P01: the transaction was chosen as a deadlock victim.
    /// Retrying the whole transaction is safe.
    #[error("deadlock detected")]
    Deadlock {
        /// The driver error.
        #[source]
        source: Source,
    },

    /// A bound was exceeded; see [`TimeoutKind`].
    #[error("timed out {kind}")]
    Timeout {
        /// Which bound.
        kind: TimeoutKind,
        /// The driver error, if there is one.
        #[source]
        source: Option<Source>,
    },

    /// The connection failed or was lost, and the statement did not take
    /// effect: it never reached the server, or it ran inside a transaction
    /// the server has rolled back.
    #[error("connection to PostgreSQL failed")]
    Connection {
        /// The driver or I/O error.
        #[source]
        source: Source,
    },

    /// The connection was lost after a write or `COMMIT` was sent and before
    /// the server answered: the write may or may not have been applied.
    /// strata never retries this; check the data before trying again.
    #[error("connection lost after the write was sent; its outcome is unknown")]
    OutcomeUnknown {
        /// The driver or I/O error.
        #[source]
        source: Source,
    },

    /// No pooled connection became free within the acquire timeout.
    #[error("connection pool exhausted: no connection free after {waited:?}")]
    PoolExhausted {
        /// How long the caller waited.
        waited: Duration,
    },

    /// The pool was closed with [`Db::close`](crate::Db::close).
    #[error("the connection pool is closed")]
    PoolClosed,

    /// A statement was sent through a [`Tx`](crate::Tx) handle after its
    /// transaction had committed or rolled back, or after a savepoint of it
    /// was abandoned half-way (the transaction is then rolled back).
    #[error("the transaction has already finished")]
    TransactionDone,

    /// The circuit breaker is open after repeated connection failures; the
    /// call failed fast without touching the network.
    #[error("circuit breaker open: PostgreSQL is considered unreachable")]
    CircuitOpen,

    /// An optimistic-lock update found a different version than expected.
    #[error("stale version: the {table} row was changed by someone else")]
    StaleVersion {
        /// The table.
        table: &'static str,
    },

    /// A migration failed, or the migration history disagrees with the files
    /// (a changed checksum, a missing folder).
    ///
    /// `Display` is a sentence about the migration, naming the file and line
    /// when a statement failed; PostgreSQL's own error is the `source()`.
    #[error("{message}")]
    Migration {
        /// The version concerned, when the error is about one migration.
        version: Option<i64>,
        /// The SQL file whose statement failed (`<folder>/up.sql`).
        file: Option<String>,
        /// The 1-based line in `file`: where PostgreSQL's error position
        /// points, or where the failing statement starts if it gives none.
        line: Option<u32>,
        /// The sentence `Display` prints.
        message: String,
        /// The database error, when a statement failed.
        #[source]
        source: Option<Source>,
    },

    /// The configuration is invalid.
    #[error("invalid configuration: {var}: {reason}")]
    Config {
        /// The environment variable or setting.
        var: &'static str,
        /// What is wrong with it.
        reason: String,
    },

    /// The cache failed in a way the caller asked to see (the model cache
    /// itself never surfaces Redis failures).
    #[error("cache error: {0}")]
    Cache(String),

    /// A column could not be decoded into the requested Rust type.
    ///
    /// `Display` names the column, the PostgreSQL and Rust types when
    /// known, and what was wrong: `cannot decode column age (PostgreSQL
    /// text) as i32: the types do not match`, `... as String: the value is
    /// NULL`. From a model's decoding the source is a [`DecodeFailure`].
    #[error("cannot decode column {column}{}", DecodeDetail(source.as_ref()))]
    Decode {
        /// The column name.
        column: String,
        /// Why: a [`DecodeFailure`], the driver error, or a message.
        #[source]
        source: Source,
    },

    /// The statement or its parameters cannot be sent as they are (more
    /// parameters than the protocol carries, a parameter count that does not
    /// match the statement). Detected before the statement ran: nothing was
    /// applied, and the connection is still usable.
    #[error("invalid input: {reason}")]
    InvalidInput {
        /// What is wrong.
        reason: String,
    },

    /// A statement that must return one row (`query_one`, `query_read_one`)
    /// returned more. It ran to completion: a write in it has applied.
    #[error("the statement returned {rows} rows where exactly one was expected")]
    TooManyRows {
        /// How many rows it returned.
        rows: usize,
    },

    /// A write of an audited table had no actor, and the pool's policy
    /// ([`Config::audit_without_actor`](crate::Config::audit_without_actor))
    /// is to refuse it. The audit trigger refused it in the statement:
    /// nothing was written.
    #[error(
        "{table} is audited and this write has no actor: run it inside strata::audit::with_actor(..), or name a system actor with Config::audit_without_actor"
    )]
    NoActor {
        /// `schema.table` of the audited table.
        table: String,
        /// The driver error.
        #[source]
        source: Source,
    },

    /// Any other database error, with its SQLSTATE.
    #[error("database error {}: {message}", code.code())]
    Database {
        /// The SQLSTATE.
        code: SqlState,
        /// PostgreSQL's message.
        message: String,
        /// The driver error.
        #[source]
        source: Source,
    },
}

impl Error {
    /// The SQLSTATE, when the error came from PostgreSQL.
    pub fn code(&self) -> Option<&SqlState> {
        let source = match self {
            Error::UniqueViolation { source, .. }
            | Error::ForeignKeyViolation { source, .. }
            | Error::CheckViolation { source, .. }
            | Error::NotNullViolation { source, .. }
            | Error::Serialization { source }
            | Error::Deadlock { source }
            | Error::NoActor { source, .. }
            | Error::Database { source, .. } => source,
            Error::Timeout {
                source: Some(source),
                ..
            } => source,
            _ => return None,
        };
        source
            .downcast_ref::<tokio_postgres::Error>()
            .and_then(|e| e.code())
    }

    /// The constraint name of a constraint violation.
    pub fn constraint(&self) -> Option<&str> {
        match self {
            Error::UniqueViolation { constraint, .. }
            | Error::ForeignKeyViolation { constraint, .. }
            | Error::CheckViolation { constraint, .. } => constraint.as_deref(),
            _ => None,
        }
    }

    /// The field errors an API can show next to its form fields: the
    /// report of `Validation`, or a single `unique` error ("is already
    /// taken") for a `UniqueViolation` whose model field is known. `None`
    /// for every other error.
    pub fn field_errors(&self) -> Option<ValidationErrors> {
        match self {
            Error::Validation(errors) => Some(errors.clone()),
            Error::UniqueViolation {
                field: Some(field),
                row,
                ..
            } => Some(ValidationErrors::from(FieldError::new(
                match row {
                    Some(i) => std::borrow::Cow::Owned(format!("[{i}].{field}")),
                    None => std::borrow::Cow::Borrowed(*field),
                },
                "unique",
                "is already taken",
            ))),
            _ => None,
        }
    }
}

impl From<ValidationErrors> for Error {
    fn from(err: ValidationErrors) -> Self {
        Error::Validation(err)
    }
}

/// An error and its sources, `outer: inner: innermost`, for reports that
/// must say why (health): `Display` alone stops at strata's layer.
pub(crate) fn chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut next = err.source();
    while let Some(cause) = next {
        let shown = cause.to_string();
        // Some errors repeat their source's text in their own.
        if !out.ends_with(&shown) {
            out.push_str(": ");
            out.push_str(&shown);
        }
        next = cause.source();
    }
    out
}
