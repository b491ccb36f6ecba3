//! Validation in an axum handler: a model with `#[validate(..)]` rules and
//! a cross-field rule (`validate_with`); `POST /events` inserts and
//! returns `Result<_, strata::Error>`: a validation error is a 422 and a
//! taken `#[model(unique)]` value a 409, each with every failing field as
//! JSON (strata's `IntoResponse`, feature `http`).
//!
//! Run it against the local server:
//!
//! ```text
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo run -p strata-examples --example validation_axum
//! ```
//!
//! It works in its own schema, `strata_example_validation_axum`, dropped at
//! the start and at the end, prints each response, and exits non-zero if a
//! status, the failing fields, or the rows written differ from what the
//! rules promise.

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{Request, StatusCode, header};
use axum::response::Json;
use axum::routing::post;
use serde_json::{Value, json};
use strata::prelude::*;
use tower::ServiceExt as _;

/// The scratch schema this example owns.
const SCHEMA: &str = "strata_example_validation_axum";

/// An event, with a rule on most fields and one across two of them.
#[derive(Model, Debug, Clone)]
#[model(
    schema = "strata_example_validation_axum",
    table = "events",
    validate_with = ends_after_start,
    // `NewEvent` is the request body: it derives `Deserialize` and
    // refuses unknown keys.
    derive_inputs(serde::Deserialize)
)]
struct Event {
    #[model(primary_key, generated)]
    id: i64,
    #[validate(length(min = 1, max = 100))] // characters, not bytes
    title: String,
    #[model(unique)]
    #[validate(email)]
    contact: String,
    #[validate(url)] // on an Option: checked only when Some
    link: Option<String>,
    #[validate(range(min = 0, max = 10_000))]
    price: i32,
    #[validate(pattern = "^[A-Z]{3}$")]
    currency: String,
    #[validate(non_empty, length(max = 5))] // a Vec counts elements
    tags: Vec<String>,
    #[validate(one_of("draft", "live"), custom = not_reserved)]
    status: String,
    starts_at: i64,
    ends_at: i64,
}

/// `custom`: the field's value by reference.
fn not_reserved(s: &str) -> Result<(), ValidationError> {
    if s == "admin" {
        return Err(ValidationError::new("reserved", "is reserved"));
    }
    Ok(())
}

/// `validate_with`: a rule over the fields of `NewEvent`/`Event`.
fn ends_after_start(e: &EventView<'_>) -> Result<(), ValidationErrors> {
    if e.ends_at <= e.starts_at {
        return Err(FieldError::new("ends_at", "after_start", "must be after the start").into());
    }
    Ok(())
}

/// `POST /events`: validates and inserts (strata validates before any SQL).
/// A `strata::Error` is a response (feature `http`): validation failures
/// are 422 and a taken unique value 409, both with per-field JSON; a
/// server-side failure is a 500 that does not leak the database's message.
async fn create_event(
    State(db): State<Db>,
    Json(new): Json<NewEvent>,
) -> Result<(StatusCode, Json<Value>), Error> {
    let event = Event::insert(&db, new).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"id": event.id, "title": event.title})),
    ))
}

/// The application.
fn app(db: &Db) -> Router {
    Router::new()
        .route("/events", post(create_event))
        .with_state(db.clone())
}

/// One JSON POST through the router: the status and the JSON body.
async fn post_json(
    app: &Router,
    body: &Value,
) -> Result<(StatusCode, Value), Box<dyn std::error::Error>> {
    let req = Request::builder()
        .method("POST")
        .uri("/events")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))?;
    let res = app.clone().oneshot(req).await?;
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), 64 * 1024).await?;
    Ok((status, serde_json::from_slice(&bytes)?))
}

/// The `field` of every error in a 422 body, in order.
fn fields(body: &Value) -> Vec<&str> {
    body["errors"]
        .as_array()
        .map(|errors| errors.iter().filter_map(|e| e["field"].as_str()).collect())
        .unwrap_or_default()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let db = Db::connect(Config::from_env()?).await?;
    db.execute(&format!("DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"), &[])
        .await?;
    db.execute(&format!("CREATE SCHEMA {SCHEMA}"), &[]).await?;
    db.execute(
        "CREATE TABLE strata_example_validation_axum.events (
             id bigserial PRIMARY KEY, title text NOT NULL, contact text NOT NULL UNIQUE,
             link text, price int NOT NULL, currency text NOT NULL, tags text[] NOT NULL,
             status text NOT NULL, starts_at bigint NOT NULL, ends_at bigint NOT NULL)",
        &[],
    )
    .await?;
    let outcome = walk_through(&db).await;
    db.execute(&format!("DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"), &[])
        .await?;
    db.close().await;
    outcome
}

async fn walk_through(db: &Db) -> Result<(), Box<dyn std::error::Error>> {
    let app = app(db);
    let valid = json!({
        "title": "Rust meetup", "contact": "org@example.com", "link": "https://example.com/meetup",
        "price": 0, "currency": "EUR", "tags": ["rust"], "status": "live",
        "starts_at": 1, "ends_at": 2
    });

    // 1. Valid: 201.
    let (status, body) = post_json(&app, &valid).await?;
    println!("valid event         {} {body}", status.as_u16());
    assert_eq!(status, StatusCode::CREATED);

    // 2. Everything wrong at once: 422 with every failing field, nothing written.
    let (status, body) = post_json(
        &app,
        &json!({
            "title": "", "contact": "not an email", "link": "nope",
            "price": 20000, "currency": "euro", "tags": [], "status": "admin",
            "starts_at": 5, "ends_at": 1
        }),
    )
    .await?;
    println!(
        "invalid event       {}\n{}",
        status.as_u16(),
        serde_json::to_string_pretty(&body)?
    );
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        fields(&body),
        [
            "title", "contact", "link", "price", "currency", "tags", "status", "status", "ends_at"
        ]
    );
    let codes: Vec<&str> = body["errors"]
        .as_array()
        .ok_or("errors is an array")?
        .iter()
        .filter_map(|e| e["code"].as_str())
        .collect();
    assert!(codes.contains(&"one_of") && codes.contains(&"reserved"));
    assert!(codes.contains(&"after_start"));

    // 3. Only the cross-field rule fails.
    let mut backwards = valid.clone();
    backwards["contact"] = json!("other@example.com");
    backwards["starts_at"] = json!(10);
    let (status, body) = post_json(&app, &backwards).await?;
    println!("ends before start   {} {body}", status.as_u16());
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&body), ["ends_at"]);

    // 4. A taken unique value: the database refuses it, and strata reports
    //    it in the same shape, naming the model field.
    let (status, body) = post_json(&app, &valid).await?;
    println!("duplicate contact   {} {body}", status.as_u16());
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(fields(&body), ["contact"]);
    assert_eq!(body["errors"][0]["code"], "unique");

    // The same rules without HTTP: `validate()` on the insert input.
    let errors = serde_json::from_value::<NewEvent>(json!({
        "title": "x".repeat(101), "contact": "a@b.co", "price": -1, "currency": "EUR",
        "tags": ["a"], "status": "draft", "starts_at": 1, "ends_at": 2
    }))?
    .validate()
    .expect_err("the title is too long and the price negative");
    println!("validate(): {errors}");
    assert_eq!(errors.fields(), ["title", "price"]);

    let rows: i64 = db
        .query_read_one(
            "SELECT count(*) FROM strata_example_validation_axum.events",
            &[],
        )
        .await?
        .get(0);
    println!("rows written: {rows}");
    assert_eq!(rows, 1, "only the valid event was written");
    Ok(())
}
