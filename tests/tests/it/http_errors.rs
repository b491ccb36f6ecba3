//! `strata::Error` as an axum response (feature `http`): a handler returns
//! `Result<_, strata::Error>` and the client gets the status and JSON of
//! `Error::http_status` / `http_body`, from real failures of a real server.

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{Request, StatusCode};
use axum::routing::{get, post};
use serde_json::{Value, json};
use strata::prelude::*;
use strata_tests::TestDb;
use tower::ServiceExt as _;

#[derive(Model, Debug, Clone)]
#[model(table = "members", derive_inputs(serde::Deserialize))]
struct Member {
    #[model(primary_key, generated)]
    id: i64,
    #[model(unique)]
    #[validate(email)]
    email: String,
    #[model(version)]
    version: i32,
}

const TABLES: [&str; 2] = [
    "CREATE TABLE members (
        id bigserial PRIMARY KEY, email text NOT NULL UNIQUE CHECK (email <> 'banned@example.com'),
        version int NOT NULL DEFAULT 1)",
    "CREATE TABLE posts (id bigserial PRIMARY KEY, member_id bigint NOT NULL REFERENCES members)",
];

async fn setup(t: &TestDb) {
    for table in TABLES {
        t.execute(table, &[]).await.unwrap();
    }
}

async fn create(State(db): State<Db>, body: String) -> Result<axum::Json<Value>, strata::Error> {
    let input: Value = serde_json::from_str(&body).unwrap();
    let email = input["email"].as_str().unwrap_or_default().to_owned();
    let m = Member::insert(&db, NewMember { email }).await?;
    Ok(axum::Json(json!({ "id": m.id })))
}

/// The body through `strata::http::Input`: its rejections are strata's.
async fn join(
    State(db): State<Db>,
    strata::http::Input(new): strata::http::Input<NewMember>,
) -> Result<axum::Json<Value>, strata::Error> {
    let m = Member::insert(&db, new).await?;
    Ok(axum::Json(json!({ "id": m.id })))
}

async fn post_for(
    State(db): State<Db>,
    Path(id): Path<i64>,
) -> Result<axum::Json<Value>, strata::Error> {
    db.execute("INSERT INTO posts (member_id) VALUES ($1)", &[&id])
        .await?;
    Ok(axum::Json(Value::Null))
}

async fn slow(State(db): State<Db>) -> Result<axum::Json<Value>, strata::Error> {
    db.query("SELECT pg_sleep(2)", &[]).await?;
    Ok(axum::Json(Value::Null))
}

async fn show(
    State(db): State<Db>,
    Path(id): Path<i64>,
) -> Result<axum::Json<Value>, strata::Error> {
    let m = Member::get(&db, id).await?;
    Ok(axum::Json(json!({ "id": m.id, "email": m.email })))
}

async fn rename(
    State(db): State<Db>,
    Path((id, version)): Path<(i64, i32)>,
) -> Result<axum::Json<Value>, strata::Error> {
    let patch = MemberPatch {
        email: Some(format!("renamed{id}@example.com")),
        version: Some(version),
    };
    let m = Member::patch(&db, id, patch).await?;
    Ok(axum::Json(json!({ "version": m.version })))
}

async fn broken(State(db): State<Db>) -> Result<axum::Json<Value>, strata::Error> {
    db.query("SELECT secret_column FROM no_such_table", &[])
        .await?;
    Ok(axum::Json(Value::Null))
}

async fn busy(State(db): State<Db>) -> Result<axum::Json<Value>, strata::Error> {
    Member::get(&db, 1).await?;
    Ok(axum::Json(Value::Null))
}

fn app(db: &Db) -> Router {
    Router::new()
        .route("/members", post(create))
        .route("/members/{id}", get(show))
        .route("/members/{id}/rename/{version}", post(rename))
        .route("/broken", get(broken))
        .route("/join", post(join))
        .route("/members/{id}/posts", post(post_for))
        .route("/slow", get(slow))
        .route("/busy", get(busy))
        .with_state(db.clone())
}

async fn call(
    app: &Router,
    method: &str,
    uri: &str,
    body: &str,
) -> (StatusCode, Value, Option<String>) {
    call_as(app, method, uri, "application/json", body).await
}

async fn call_as(
    app: &Router,
    method: &str,
    uri: &str,
    content_type: &str,
    body: &str,
) -> (StatusCode, Value, Option<String>) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", content_type)
        .body(Body::from(body.to_owned()))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let retry = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, body, retry)
}

#[tokio::test]
async fn caller_mistakes_are_4xx_with_the_fields_named() {
    let t = TestDb::new().await;
    setup(&t).await;
    let app = app(&t);

    let (status, body, _) = call(&app, "POST", "/members", r#"{"email":"ada@example.com"}"#).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id = body["id"].as_i64().unwrap();

    let (status, body, _) = call(&app, "POST", "/members", r#"{"email":"not an email"}"#).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"], "validation_failed");
    assert_eq!(body["errors"][0]["field"], "email");
    assert_eq!(body["errors"][0]["code"], "email");

    let (status, body, _) = call(&app, "POST", "/members", r#"{"email":"ada@example.com"}"#).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"], "conflict");
    assert_eq!(body["errors"][0]["field"], "email");
    assert_eq!(body["errors"][0]["code"], "unique");

    assert!(
        !body.to_string().contains("members_email_key"),
        "no constraint names: {body}"
    );

    let (status, body, _) = call(&app, "GET", "/members/999999", "").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(
        body,
        json!({"error": "not_found", "message": "not found"}),
        "no table names"
    );

    // Rules the database keeps: a CHECK is 422, a missing parent 409.
    let (status, body, _) = call(
        &app,
        "POST",
        "/members",
        r#"{"email":"banned@example.com"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"], "validation_failed");
    assert!(!body.to_string().contains("members"), "{body}");
    let (status, body, _) = call(&app, "POST", "/members/999999/posts", "").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"], "conflict");
    assert!(!body.to_string().contains("posts"), "{body}");

    let (status, body, _) = call(&app, "POST", &format!("/members/{id}/rename/1"), "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body, _) = call(&app, "POST", &format!("/members/{id}/rename/1"), "").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"], "stale_version");
    assert_eq!(t.count("members").await, 1, "nothing else was written");
}

#[tokio::test]
async fn a_body_input_cannot_read_answers_in_the_same_format() {
    let t = TestDb::new().await;
    setup(&t).await;
    let app = app(&t);
    let (status, body, _) = call(&app, "POST", "/join", r#"{"email":"bo@example.com"}"#).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body, _) = call(
        &app,
        "POST",
        "/join",
        r#"{"email":"x@example.com","nmae":1}"#,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"], "invalid_body");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("unknown field `nmae`"),
        "{body}"
    );
    let (status, body, _) = call(&app, "POST", "/join", r#"{"email":"#).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_body");
    let (status, body, _) = call_as(
        &app,
        "POST",
        "/join",
        "text/plain",
        r#"{"email":"y@example.com"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    assert_eq!(body["error"], "invalid_body");
    assert_eq!(
        t.count("members").await,
        1,
        "only the good body was written"
    );
}

#[tokio::test]
async fn a_statement_timeout_is_a_504_without_retry_after() {
    let t =
        TestDb::with(|c| c.statement_timeout(Some(std::time::Duration::from_millis(100)))).await;
    let app = app(&t);
    let (status, body, retry) = call(&app, "GET", "/slow", "").await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{body}");
    assert_eq!(body["error"], "timeout");
    assert_eq!(retry, None, "it would time out again: no retry hint");
}

#[tokio::test]
async fn a_server_side_failure_is_a_500_that_says_nothing_about_the_schema() {
    let t = TestDb::new().await;
    let app = app(&t);
    let (status, body, retry) = call(&app, "GET", "/broken", "").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert_eq!(
        body,
        json!({"error": "internal", "message": "internal error"})
    );
    assert_eq!(retry, None);
}

#[tokio::test]
async fn a_saturated_pool_is_a_503_with_retry_after() {
    let t = TestDb::with(|c| {
        c.pool_max(1)
            .acquire_timeout(std::time::Duration::from_millis(100))
    })
    .await;
    setup(&t).await;
    let app = app(&t);
    let release = std::sync::Arc::new(tokio::sync::Notify::new());
    let taken = std::sync::Arc::new(tokio::sync::Notify::new());
    let db = t.db().clone();
    let (r, k) = (release.clone(), taken.clone());
    let holder = tokio::spawn(async move {
        db.transaction(TxOptions::default(), move |tx| {
            let (r, k) = (r.clone(), k.clone());
            async move {
                tx.execute("SELECT 1", &[]).await?;
                k.notify_one();
                r.notified().await;
                Ok(())
            }
        })
        .await
    });
    taken.notified().await;
    let (status, body, retry) = call(&app, "GET", "/busy", "").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"], "unavailable");
    assert_eq!(retry.as_deref(), Some("1"));
    release.notify_one();
    holder.await.unwrap().unwrap();
}

/// A 500's log line names the failure's kind and SQLSTATE, not
/// PostgreSQL's message, which quotes the value that failed to cast.
#[tokio::test]
async fn a_server_error_is_logged_without_the_values_in_it() {
    let captured = strata_tests::logs::Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(captured.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let t = TestDb::new().await;
    let canary = format!("canary-{:08x}", rand::random::<u32>());
    let app = Router::new()
        .route(
            "/cast",
            get(|State((db, canary)): State<(Db, String)>| async move {
                db.query("SELECT $1::text::int", &[&canary]).await?;
                Ok::<_, strata::Error>(axum::Json(Value::Null))
            }),
        )
        .with_state((t.db().clone(), canary.clone()));
    let (status, body, _) = call(&app, "GET", "/cast", "").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert!(!body.to_string().contains(&canary), "{body}");
    let logs = captured.text();
    assert!(
        logs.contains("request failed"),
        "the failure is logged: {logs}"
    );
    assert!(logs.contains("22P02"), "with its SQLSTATE: {logs}");
    assert!(!logs.contains(&canary), "but not the value: {logs}");
}
