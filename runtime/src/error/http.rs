//! What an error means to an HTTP client: a status and a JSON body.
//!
//! The mapping lives here, not in each application, because only strata
//! knows which of its errors are the caller's (a validation failure, a
//! taken email, a stale version), which are worth retrying (a saturated
//! pool, a serialization failure that exhausted its retries) and which are
//! a bug or an outage. A 5xx body never carries the error's text (it can
//! name tables, constraints and servers); the handler's span logs it.

use serde::Serialize;

use super::Error;
use crate::validate::FieldError;

/// The JSON body of an error response: `{"error", "message", "errors"}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ErrorBody {
    /// A stable machine-readable code: `validation_failed`, `not_found`,
    /// `conflict`, `stale_version`, `invalid_input`, `unavailable` or
    /// `internal`.
    pub error: &'static str,
    /// A sentence for people. For 5xx it says nothing about the cause.
    pub message: String,
    /// Per-field failures (validation rules, a unique column), in the
    /// shape of [`crate::ValidationErrors`]; empty otherwise.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

impl Error {
    /// The HTTP status this error maps to:
    ///
    /// | status | errors |
    /// | --- | --- |
    /// | 400 | `InvalidInput` (a malformed cursor token, a bad argument) |
    /// | 404 | `NotFound` |
    /// | 409 | `UniqueViolation`, `StaleVersion` |
    /// | 422 | `Validation`, `ForeignKeyViolation`, `CheckViolation`, `NotNullViolation` |
    /// | 503 | `PoolExhausted`, `CircuitOpen`, `Timeout`, `Connection`, `PoolClosed`, `Serialization`, `Deadlock` (safe to retry later) |
    /// | 500 | everything else, `OutcomeUnknown` included (the write may have happened: not "retry") |
    pub fn http_status(&self) -> u16 {
        match self {
            Error::InvalidInput { .. } => 400,
            Error::NotFound { .. } => 404,
            Error::UniqueViolation { .. } | Error::StaleVersion { .. } => 409,
            Error::Validation(_)
            | Error::ForeignKeyViolation { .. }
            | Error::CheckViolation { .. }
            | Error::NotNullViolation { .. } => 422,
            Error::PoolExhausted { .. }
            | Error::CircuitOpen
            | Error::Timeout { .. }
            | Error::Connection { .. }
            | Error::PoolClosed
            | Error::Serialization { .. }
            | Error::Deadlock { .. } => 503,
            _ => 500,
        }
    }

    /// The response body for [`http_status`](Error::http_status): field
    /// errors for validation and unique violations, the error's text for
    /// the other 4xx, and a generic sentence for 5xx.
    pub fn http_body(&self) -> ErrorBody {
        let status = self.http_status();
        let error = match (status, self) {
            (409, Error::StaleVersion { .. }) => "stale_version",
            (400, _) => "invalid_input",
            (404, _) => "not_found",
            (409, _) => "conflict",
            (422, _) => "validation_failed",
            (503, _) => "unavailable",
            _ => "internal",
        };
        let message = match status {
            503 => "the database is busy or unreachable; try again shortly".to_owned(),
            500 => "internal error".to_owned(),
            _ => self.to_string(),
        };
        ErrorBody {
            error,
            message,
            errors: self.field_errors().map(|e| e.errors).unwrap_or_default(),
        }
    }
}

#[cfg(feature = "http")]
mod axum_response {
    use axum::http::{HeaderValue, StatusCode, header};
    use axum::response::{IntoResponse, Json, Response};

    use super::Error;
    use crate::validate::ValidationErrors;

    /// Lets a handler return `Result<_, strata::Error>`: the status of
    /// [`Error::http_status`] and the JSON of [`Error::http_body`]; a 503
    /// says `Retry-After: 1`, and a 5xx logs the error (with its causes).
    #[cfg_attr(docsrs, doc(cfg(feature = "http")))]
    impl IntoResponse for Error {
        fn into_response(self) -> Response {
            let status = StatusCode::from_u16(self.http_status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            if status.is_server_error() {
                tracing::error!(error = %super::super::chain(&self), status = status.as_u16(), "request failed");
            }
            let mut response = (status, Json(self.http_body())).into_response();
            if status == StatusCode::SERVICE_UNAVAILABLE {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            response
        }
    }

    /// 422 with the body of `Error::Validation(self)`.
    #[cfg_attr(docsrs, doc(cfg(feature = "http")))]
    impl IntoResponse for ValidationErrors {
        fn into_response(self) -> Response {
            Error::Validation(self).into_response()
        }
    }
}
