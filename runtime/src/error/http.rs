//! What an error means to an HTTP client: a status and a JSON body.
//!
//! The mapping lives here, not in each application, because only strata
//! knows which of its errors are the caller's (a validation failure, a
//! taken email, a stale version), which are worth retrying (a saturated
//! pool, a serialization failure that exhausted its retries) and which are
//! a bug or an outage. No body carries the error's text (it can name
//! tables, constraints and servers, and quote values): each code has a
//! fixed sentence, and the log line names the kind and SQLSTATE.

use serde::Serialize;

use super::{Error, TimeoutKind};
use crate::validate::FieldError;

/// The JSON body of an error response: `{"error", "message", "errors"}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ErrorBody {
    /// A stable machine-readable code: `invalid_input`, `not_found`,
    /// `conflict`, `stale_version`, `validation_failed`, `unavailable`,
    /// `timeout`, `outcome_unknown`, `internal`, or `invalid_body` (a
    /// request body `strata::http::Input` could not read).
    pub error: &'static str,
    /// A fixed sentence for people, one per code: nothing of the error's
    /// own text (constraint, table and column names, SQL) reaches a client.
    pub message: String,
    /// Per-field failures (validation rules, a unique column), in the
    /// shape of [`crate::ValidationErrors`]; empty otherwise.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// What one class of error tells a client: the status, the body's code
/// and a fixed sentence. Fixed, because an error's own text names
/// constraints, tables and SQL: what a client may see is chosen here.
struct Class {
    status: u16,
    code: &'static str,
    message: &'static str,
}

impl Error {
    fn http_class(&self) -> Class {
        let class = |status, code, message| Class {
            status,
            code,
            message,
        };
        match self {
            Error::InvalidInput { .. } => {
                class(400, "invalid_input", "the request has an invalid value")
            }
            Error::NotFound { .. } => class(404, "not_found", "not found"),
            Error::UniqueViolation { .. } => class(409, "conflict", "a value is already taken"),
            Error::ForeignKeyViolation { .. } => class(
                409,
                "conflict",
                "the change conflicts with related data (a missing or a still-referenced row)",
            ),
            Error::StaleVersion { .. } => class(
                409,
                "stale_version",
                "the row has changed since it was read; read it again and retry",
            ),
            Error::Validation(_) => class(422, "validation_failed", "validation failed"),
            Error::CheckViolation { .. } => class(
                422,
                "validation_failed",
                "a value breaks a rule of the data",
            ),
            Error::Timeout {
                kind: TimeoutKind::Statement | TimeoutKind::Transaction,
                ..
            } => class(504, "timeout", "the request took too long"),
            Error::OutcomeUnknown { .. } => class(
                500,
                "outcome_unknown",
                "the write may or may not have been applied; check before retrying",
            ),
            e if e.is_transient() || matches!(e, Error::CircuitOpen | Error::PoolClosed) => class(
                503,
                "unavailable",
                "the database is busy or unreachable; try again shortly",
            ),
            _ => class(500, "internal", "internal error"),
        }
    }

    /// The HTTP status this error maps to:
    ///
    /// | status | errors |
    /// | --- | --- |
    /// | 400 | `InvalidInput` (an altered cursor token, a bad page, a NUL in text, ..) |
    /// | 404 | `NotFound` |
    /// | 409 | `UniqueViolation`, `ForeignKeyViolation`, `StaleVersion` |
    /// | 422 | `Validation`, `CheckViolation` |
    /// | 503 | what [`is_transient`](Error::is_transient) says may pass (serialization failures and deadlocks that exhausted their retries, lost connections, a full pool, connect timeouts), `CircuitOpen`, `PoolClosed` |
    /// | 504 | a statement or transaction timeout (it would time out again: not "retry soon") |
    /// | 500 | everything else: `OutcomeUnknown` (code `outcome_unknown`: the write may have happened), a NOT NULL violation (the model and the table disagree), decode and database errors |
    pub fn http_status(&self) -> u16 {
        self.http_class().status
    }

    /// The response body for [`http_status`](Error::http_status): a code, a
    /// fixed sentence per code (never the error's own text, which names
    /// constraints, tables and SQL), and the field errors of a validation
    /// failure or a unique violation on a `#[model(unique)]` field.
    pub fn http_body(&self) -> ErrorBody {
        let class = self.http_class();
        ErrorBody {
            error: class.code,
            message: class.message.to_owned(),
            errors: self.field_errors().map(|e| e.errors).unwrap_or_default(),
        }
    }
}
