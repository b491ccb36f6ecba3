//! One error type for everything strata does, with variants by meaning.
//!
//! PostgreSQL errors are classified once, at the driver boundary ([`Error::from_pg`]),
//! by SQLSTATE constant, so callers match on meaning (`UniqueViolation`,
//! `Serialization`) instead of parsing codes. `Display` says what happened at
//! this layer; the driver error is available through `source()`, never repeated
//! in the message.

use std::time::Duration;

use tokio_postgres::error::SqlState;

use crate::validate::{FieldError, ValidationErrors};

/// `Result` with [`strata::Error`](Error) as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

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

/// Why a column of a model did not decode: the source of [`Error::Decode`]
/// from the derive's decoding, which knows both types. Its own source is
/// the driver error.
#[derive(Debug)]
pub struct DecodeFailure {
    rust_type: &'static str,
    pg_type: Option<tokio_postgres::types::Type>,
    source: tokio_postgres::Error,
}

impl DecodeFailure {
    /// The Rust type the column was read as, short (`Option<i32>`).
    pub fn rust_type(&self) -> String {
        short_type_name(self.rust_type)
    }

    /// The column's PostgreSQL type, when the row described it.
    pub fn pg_type(&self) -> Option<&tokio_postgres::types::Type> {
        self.pg_type.as_ref()
    }

    /// True when the value was NULL and the Rust type is not an `Option`.
    pub fn was_null(&self) -> bool {
        inner_cause(&self.source).is_some_and(|c| c.is::<postgres_types::WasNull>())
    }
}

impl std::fmt::Display for DecodeFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(pg) = &self.pg_type {
            write!(f, " (PostgreSQL {pg})")?;
        }
        write!(f, " as {}: ", self.rust_type())?;
        match inner_cause(&self.source) {
            Some(c) if c.is::<postgres_types::WasNull>() => f.write_str("the value is NULL"),
            Some(c) if c.is::<postgres_types::WrongType>() => f.write_str("the types do not match"),
            Some(c) => write!(f, "{c}"),
            None => write!(f, "{}", self.source),
        }
    }
}

impl std::error::Error for DecodeFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// The cause tokio-postgres wraps in its "error deserializing column" error.
fn inner_cause(err: &tokio_postgres::Error) -> Option<&(dyn std::error::Error + 'static)> {
    std::error::Error::source(err)
}

/// What `Error::Decode` prints after the column name.
struct DecodeDetail<'a>(&'a (dyn std::error::Error + Send + Sync + 'static));

impl std::fmt::Display for DecodeDetail<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let source = self.0;
        if let Some(failure) = source.downcast_ref::<DecodeFailure>() {
            return write!(f, "{failure}");
        }
        if let Some(pg) = source.downcast_ref::<tokio_postgres::Error>() {
            return match inner_cause(pg) {
                Some(c) if c.is::<postgres_types::WasNull>() => {
                    f.write_str(": the value is NULL and the Rust type is not an Option")
                }
                // Names both types: "cannot convert between the Rust type
                // `i32` and the Postgres type `text`".
                Some(c) => write!(f, ": {c}"),
                None => write!(f, ": {pg}"),
            };
        }
        write!(f, ": {source}")
    }
}

/// `core::option::Option<alloc::string::String>` → `Option<String>`.
fn short_type_name(full: &str) -> String {
    let mut out = String::with_capacity(full.len());
    let mut ident = String::new();
    let mut chars = full.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_alphanumeric() || c == '_' {
            ident.push(c);
        } else if c == ':' && chars.peek() == Some(&':') {
            chars.next();
            ident.clear();
        } else {
            out.push_str(&ident);
            ident.clear();
            out.push(c);
        }
    }
    out.push_str(&ident);
    out
}

impl Error {
    /// A model column that did not decode as `rust_type`.
    pub(crate) fn decode(
        column: &str,
        rust_type: &'static str,
        pg_type: Option<&tokio_postgres::types::Type>,
        err: tokio_postgres::Error,
    ) -> Error {
        Error::Decode {
            column: column.to_owned(),
            source: Box::new(DecodeFailure {
                rust_type,
                pg_type: pg_type.cloned(),
                source: err,
            }),
        }
    }

    /// True exactly when repeating the failed unit is safe and may succeed.
    ///
    /// - `Serialization`, `Deadlock`: the server rolled the transaction back;
    ///   retry the whole transaction (strata's [`Db::transaction`](crate::Db::transaction) does).
    /// - `Connection`: nothing took effect (see the variant); a new connection may work.
    /// - `PoolExhausted`, `Timeout` while acquiring or connecting: nothing was sent.
    ///
    /// Everything else is not transient: constraint violations repeat,
    /// `OutcomeUnknown` may already have been applied, and a statement timeout
    /// would time out again.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Serialization { .. } | Error::Deadlock { .. } => true,
            Error::Connection { .. } | Error::PoolExhausted { .. } => true,
            Error::Timeout { kind, .. } => {
                matches!(kind, TimeoutKind::Acquire | TimeoutKind::Connect)
            }
            _ => false,
        }
    }

    /// The SQLSTATE, when the error came from PostgreSQL.
    pub fn code(&self) -> Option<&SqlState> {
        let source = match self {
            Error::UniqueViolation { source, .. }
            | Error::ForeignKeyViolation { source, .. }
            | Error::CheckViolation { source, .. }
            | Error::NotNullViolation { source, .. }
            | Error::Serialization { source }
            | Error::Deadlock { source }
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

    /// True for errors caused by a lost or unusable connection.
    pub fn is_connection(&self) -> bool {
        matches!(
            self,
            Error::Connection { .. } | Error::OutcomeUnknown { .. }
        )
    }

    /// Classifies a tokio-postgres error. This is the only place SQLSTATEs
    /// are turned into meaning.
    ///
    /// An error without a `DbError` is an I/O or protocol failure of the
    /// connection, so it becomes `Connection`; callers that know a write was
    /// in flight turn that into `OutcomeUnknown`.
    pub fn from_pg(err: tokio_postgres::Error) -> Error {
        let Some(db) = err.as_db_error() else {
            return Error::from_client(err);
        };
        let code = db.code().clone();
        let constraint = db.constraint().map(str::to_owned);
        let table = db.table().map(str::to_owned);
        let column = db.column().map(str::to_owned);
        let message = db.message().to_owned();
        let columns = db.detail().map(key_columns).unwrap_or_default();
        let source: Source = Box::new(err);
        match code {
            SqlState::UNIQUE_VIOLATION => Error::UniqueViolation {
                constraint,
                table,
                columns,
                field: None,
                row: None,
                source,
            },
            SqlState::FOREIGN_KEY_VIOLATION => Error::ForeignKeyViolation {
                constraint,
                table,
                source,
            },
            SqlState::CHECK_VIOLATION => Error::CheckViolation {
                constraint,
                table,
                source,
            },
            SqlState::NOT_NULL_VIOLATION => Error::NotNullViolation {
                column,
                table,
                source,
            },
            SqlState::T_R_SERIALIZATION_FAILURE => Error::Serialization { source },
            SqlState::T_R_DEADLOCK_DETECTED => Error::Deadlock { source },
            SqlState::QUERY_CANCELED => Error::Timeout {
                kind: TimeoutKind::Statement,
                source: Some(source),
            },
            // The server is going away or refused us: the connection is gone
            // and whatever was running on it did not commit.
            SqlState::ADMIN_SHUTDOWN
            | SqlState::CRASH_SHUTDOWN
            | SqlState::CANNOT_CONNECT_NOW
            | SqlState::TOO_MANY_CONNECTIONS => Error::Connection { source },
            ref c if c.code().starts_with("08") => Error::Connection { source },
            code => Error::Database {
                code,
                message,
                source,
            },
        }
    }
}

impl Error {
    /// Classifies a tokio-postgres error that did not come from the server.
    ///
    /// tokio-postgres keeps its error kind private, so the kind is read from
    /// its fixed `Display` text (stable across 0.7). Encoding a parameter
    /// fails before anything is sent, and decoding a column after the
    /// statement ran: neither says anything about the connection, which must
    /// not be thrown away (nor a write reported as of unknown outcome).
    /// Everything else (I/O, a closed connection, a protocol error) is the
    /// connection's failure.
    fn from_client(err: tokio_postgres::Error) -> Error {
        let shown = err.to_string();
        if shown.starts_with("error serializing parameter") {
            let cause = std::error::Error::source(&err)
                .map(|c| format!(": {c}"))
                .unwrap_or_default();
            Error::InvalidInput {
                reason: format!("{shown}{cause}"),
            }
        } else if let Some(rest) = shown.strip_prefix("error deserializing column ") {
            Error::Decode {
                column: rest.to_owned(),
                source: Box::new(err),
            }
        } else if shown.starts_with("query returned an unexpected number of rows") {
            // More than one row where at most one was asked for (a "primary
            // key" that is not unique in the database): the statement ran
            // and the connection is fine.
            Error::Database {
                code: SqlState::CARDINALITY_VIOLATION,
                message: shown,
                source: Box::new(err),
            }
        } else if let Some(rest) = shown.strip_prefix("invalid column ") {
            Error::Decode {
                column: rest.trim_matches('`').to_owned(),
                source: Box::new(err),
            }
        } else {
            Error::Connection {
                source: Box::new(err),
            }
        }
    }
}

impl From<tokio_postgres::Error> for Error {
    fn from(err: tokio_postgres::Error) -> Self {
        Error::from_pg(err)
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

/// The value list of a key violation's detail, `Key (a, b)=(1, x) already
/// exists.` → `1, x` (PostgreSQL's text forms joined by `, `); `None` for
/// another shape.
pub(crate) fn key_values(detail: &str) -> Option<&str> {
    let rest = detail.strip_prefix("Key (")?;
    let (_, values) = rest.split_once(")=(")?;
    values.strip_suffix(") already exists.")
}

/// The column list of a key violation's detail, `Key (a, b)=(1, 2) already
/// exists.` → `["a", "b"]`; empty when the detail has another shape (an
/// expression index, a message in another language).
fn key_columns(detail: &str) -> Vec<String> {
    let Some(rest) = detail.strip_prefix("Key (") else {
        return Vec::new();
    };
    let Some((list, _)) = rest.split_once(")=(") else {
        return Vec::new();
    };
    list.split(", ")
        .map(|c| {
            c.strip_prefix('"')
                .and_then(|c| c.strip_suffix('"'))
                .map_or_else(|| c.to_owned(), |c| c.replace("\"\"", "\""))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{key_columns, key_values, short_type_name};

    #[test]
    fn key_values_of_a_detail() {
        assert_eq!(
            key_values("Key (email)=(a@b.c) already exists."),
            Some("a@b.c")
        );
        assert_eq!(
            key_values("Key (a, b)=(1, x) y) already exists."),
            Some("1, x) y")
        );
        assert_eq!(key_values("Schlüssel (email)=(x) existiert bereits."), None);
    }

    #[test]
    fn short_type_names() {
        assert_eq!(
            short_type_name("core::option::Option<alloc::string::String>"),
            "Option<String>"
        );
        assert_eq!(short_type_name("i32"), "i32");
        assert_eq!(
            short_type_name("chrono::datetime::DateTime<chrono::offset::utc::Utc>"),
            "DateTime<Utc>"
        );
        assert_eq!(short_type_name("&str"), "&str");
        assert_eq!(
            short_type_name("(i64, alloc::vec::Vec<u8>)"),
            "(i64, Vec<u8>)"
        );
    }

    #[test]
    fn key_columns_of_a_detail() {
        assert_eq!(
            key_columns("Key (email)=(a@b.c) already exists."),
            ["email"]
        );
        assert_eq!(key_columns("Key (a, b)=(1, 2) already exists."), ["a", "b"]);
        assert_eq!(
            key_columns("Key (\"Total Cents\")=(1) already exists."),
            ["Total Cents"]
        );
        assert!(key_columns("Schlüssel (email)=(x) existiert bereits.").is_empty());
    }
}
