//! The monitoring routes of the `http` feature (`/health`, `/metrics`,
//! `/metrics.json`, `/slow-queries`, `/query-history`, `/pool`,
//! `/transactions`) mounted under `/ops` in an application's axum `Router`
//! and protected by a bearer token, driven in-process with
//! `tower::ServiceExt::oneshot` (no network).
//!
//! Run it against the local server:
//!
//! ```text
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo run -p strata-examples --example monitoring_axum
//! ```
//!
//! It does a little work in its own schema, `strata_example_monitoring`
//! (dropped at the start and at the end), calls every route, prints each
//! status and the first lines of `/metrics`, and exits non-zero if a route
//! answers otherwise than documented.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::routing::get;
use strata::prelude::*;
use tower::ServiceExt as _;

/// The scratch schema this example owns.
const SCHEMA: &str = "strata_example_monitoring";

/// The bearer token the monitoring routes require.
const TOKEN: &str = "example-token";

/// The application: its own route, and strata's monitoring routes under `/ops`.
fn app(db: &Db) -> Router {
    Router::new()
        .route("/", get(|| async { "the application" }))
        .nest(
            "/ops",
            strata::observe::http::router(db.clone(), Some(TOKEN.into())),
        )
}

/// One GET through the router: its status, content type and body.
async fn call(
    app: &Router,
    path: &str,
    token: Option<&str>,
) -> Result<(StatusCode, String, String), Box<dyn std::error::Error>> {
    let mut req = Request::builder().uri(path);
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let res = app.clone().oneshot(req.body(Body::empty())?).await?;
    let status = res.status();
    let content_type = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = axum::body::to_bytes(res.into_body(), 1 << 20).await?;
    Ok((status, content_type, String::from_utf8(body.to_vec())?))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Statements over 20 ms count as slow, so `/slow-queries` has one to show.
    let db = Db::connect(Config::from_env()?.slow_query(Duration::from_millis(20))).await?;
    db.execute(&format!("DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"), &[])
        .await?;
    db.execute(&format!("CREATE SCHEMA {SCHEMA}"), &[]).await?;
    let outcome = walk_through(&db).await;
    db.execute(&format!("DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"), &[])
        .await?;
    db.close().await;
    outcome
}

async fn walk_through(db: &Db) -> Result<(), Box<dyn std::error::Error>> {
    // Some work for the metrics to count: statements, a transaction, a slow read.
    db.execute(
        "CREATE TABLE strata_example_monitoring.hits (id bigserial PRIMARY KEY, path text NOT NULL)",
        &[],
    )
    .await?;
    db.transaction(TxOptions::new(), |tx| async move {
        for path in ["/", "/about", "/"] {
            tx.execute(
                "INSERT INTO strata_example_monitoring.hits (path) VALUES ($1)",
                &[&path],
            )
            .await?;
        }
        Ok(())
    })
    .await?;
    db.query_read("SELECT pg_sleep(0.05)", &[]).await?;

    let app = app(db);
    let (status, _, body) = call(&app, "/", None).await?;
    println!("GET /                   {} {body}", status.as_u16());
    assert_eq!(status, StatusCode::OK);

    // Without the token: 401 and no data.
    let (status, _, body) = call(&app, "/ops/metrics", None).await?;
    println!(
        "GET /ops/metrics        {} (no token) {body}",
        status.as_u16()
    );
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(!body.contains("strata_"));
    let (status, _, _) = call(&app, "/ops/health", Some("wrong")).await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // /health: the report as JSON, 200 unless PostgreSQL is down.
    let (status, _, body) = call(&app, "/ops/health", Some(TOKEN)).await?;
    let health: serde_json::Value = serde_json::from_str(&body)?;
    println!(
        "GET /ops/health         {} status {}, postgres {}",
        status.as_u16(),
        health["status"],
        health["postgres"]["status"]
    );
    assert_eq!(status, StatusCode::OK);
    assert_eq!(health["postgres"]["status"], "up");

    // /metrics: the Prometheus text exposition.
    let (status, content_type, body) = call(&app, "/ops/metrics", Some(TOKEN)).await?;
    println!("GET /ops/metrics        {} {content_type}", status.as_u16());
    for line in body.lines().take(12) {
        println!("    {line}");
    }
    println!("    ... ({} lines)", body.lines().count());
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.starts_with("text/plain"));
    let committed = body
        .lines()
        .find(|l| l.starts_with("strata_transactions_total{") && l.contains("committed"))
        .ok_or("no committed transactions in /metrics")?;
    println!("    {committed}");
    assert!(body.contains("strata_queries_total"));

    // The JSON routes.
    for path in [
        "/ops/metrics.json",
        "/ops/slow-queries",
        "/ops/query-history",
        "/ops/pool",
        "/ops/transactions",
    ] {
        let (status, content_type, body) = call(&app, path, Some(TOKEN)).await?;
        let json: serde_json::Value = serde_json::from_str(&body)?;
        let summary = match &json {
            serde_json::Value::Array(items) => format!("{} entries", items.len()),
            serde_json::Value::Object(fields) => {
                let keys: Vec<&str> = fields.keys().map(String::as_str).collect();
                format!("{{{}}}", keys.join(", "))
            }
            other => other.to_string(),
        };
        println!("GET {path:<20} {} {summary}", status.as_u16());
        assert_eq!(status, StatusCode::OK);
        assert!(content_type.starts_with("application/json"));
        match path {
            "/ops/slow-queries" => {
                let slow = json.as_array().ok_or("an array")?;
                assert!(
                    slow.iter().any(|q| q.to_string().contains("pg_sleep")),
                    "the 50 ms read is listed as slow"
                );
            }
            "/ops/transactions" => assert_eq!(json["committed"], 1),
            _ => {}
        }
    }
    Ok(())
}
