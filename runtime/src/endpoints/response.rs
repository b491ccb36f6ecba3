//! `strata::Error` and `ValidationErrors` as axum responses (feature
//! `http`): the status and body of `Error::http_status` / `http_body`,
//! plus what the server logs. Here rather than in `error`, which the
//! layers keep below `observe` (whose failure kinds the log names).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};

use crate::error::Error;
use crate::validate::ValidationErrors;

/// Lets a handler return `Result<_, strata::Error>`: the status of
/// [`Error::http_status`] and the JSON of [`Error::http_body`]; a 503
/// says `Retry-After: 1`. A 5xx or 400 is logged with its kind, SQLSTATE
/// and constraint (not its text, which may quote values).
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        // What the server side needs to find the cause, without the
        // error's text: PostgreSQL's messages and details can quote row
        // values, which strata never logs.
        let kind = crate::observe::counters::failure_label(&self);
        let sqlstate = self.code().map(|c| c.code().to_owned());
        let constraint = self.constraint().map(str::to_owned);
        match status.as_u16() {
            500 | 504 => tracing::error!(
                status = status.as_u16(),
                kind,
                ?sqlstate,
                ?constraint,
                "request failed"
            ),
            503 => tracing::warn!(
                status = 503,
                kind,
                ?sqlstate,
                "request failed: database unavailable"
            ),
            400 => tracing::warn!(status = 400, kind, "request refused: invalid input"),
            _ => {}
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
