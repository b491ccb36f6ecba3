//! The one place a driver error becomes an [`Error`] by meaning, and the
//! predicates that decide what a caller may do next.
//!
//! SQLSTATEs are matched against `tokio_postgres::error::SqlState`
//! constants, never string literals; an error without a `DbError` is the
//! connection's failure (see [`Error::from_pg`]).

use tokio_postgres::error::SqlState;

use super::{Error, Source, TimeoutKind};

impl Error {
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
        let schema = db.schema().map(str::to_owned);
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
            ref c if c.code() == super::NO_ACTOR_SQLSTATE => Error::NoActor {
                table: match (schema, table) {
                    (Some(schema), Some(t)) => format!("{schema}.{t}"),
                    (_, t) => t.unwrap_or_default(),
                },
                source,
            },
            code => Error::Database {
                code,
                message,
                source,
            },
        }
    }

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
        .map(|c| crate::sql::ident::unquote(c).unwrap_or_else(|| c.to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{key_columns, key_values};

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
