//! `Input<T>`: an axum JSON body extractor whose rejections answer in the
//! shape of [`crate::ErrorBody`], so a client sees one error format for a
//! body that does not parse and for a row that does not validate.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::response::{IntoResponse, Json, Response};
use serde::de::DeserializeOwned;

use crate::error::ErrorBody;

/// A JSON request body, as `axum::Json<T>` reads it (same content-type
/// check and serde errors), but a rejection is strata's error body: the
/// status axum chose (400 malformed JSON, 415 not `application/json`,
/// 422 a body of the wrong shape: an unknown key, a missing field, a
/// `null` for a NOT NULL column), `"error": "invalid_body"` and serde's
/// message naming the key.
///
/// ```no_run
/// # use strata::prelude::*;
/// # #[derive(strata::Model, Debug, Clone)]
/// # #[model(derive_inputs(serde::Deserialize))]
/// # struct User { id: i64, email: String }
/// use strata::http::Input;
///
/// async fn create(
///     axum::extract::State(db): axum::extract::State<strata::Db>,
///     Input(new): Input<NewUser>,
/// ) -> Result<axum::Json<i64>, strata::Error> {
///     Ok(axum::Json(User::insert(&db, new).await?.id))
/// }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Input<T>(pub T);

impl<T, S> FromRequest<S> for Input<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(Input(value)),
            Err(rejection) => Err(rejected(rejection)),
        }
    }
}

/// The response for a body axum could not read.
fn rejected(rejection: JsonRejection) -> Response {
    let body = ErrorBody {
        error: "invalid_body",
        message: rejection.body_text(),
        errors: Vec::new(),
    };
    (rejection.status(), Json(body)).into_response()
}
