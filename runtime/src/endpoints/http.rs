//! Monitoring routes (cargo feature `http`): mount [`router`] in an axum app.
//!
//! | route | answer |
//! | --- | --- |
//! | `GET /health` | the [`HealthReport`](crate::observe::HealthReport) as JSON; 200, or 503 when unhealthy |
//! | `GET /metrics` | Prometheus text exposition |
//! | `GET /metrics.json` | [`Metrics`](crate::Metrics) as JSON |
//! | `GET /slow-queries` | recent slow statements as JSON |
//! | `GET /query-history` | recent statements as JSON |
//! | `GET /pool` | pool occupancy and checkout waits as JSON |
//! | `GET /transactions` | transaction counters as JSON |
//!
//! With a token, every route requires `Authorization: Bearer <token>`; a
//! missing or wrong token gets 401 and no data. The comparison takes the
//! same time wherever the tokens differ.

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;

use crate::observe::Health;
use crate::pool::Db;

#[derive(Clone)]
struct AppState {
    db: Db,
    token: Option<std::sync::Arc<str>>,
}

/// The monitoring routes for `db`, protected by `token` when given.
///
/// ```no_run
/// # async fn f(db: strata::Db) -> std::io::Result<()> {
/// let app = strata::observe::http::router(db, Some("s3cret".into()));
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:9090").await?;
/// axum::serve(listener, app).await
/// # }
/// ```
pub fn router(db: Db, token: Option<String>) -> Router {
    let state = AppState {
        db,
        token: token.map(Into::into),
    };
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(prometheus))
        .route("/metrics.json", get(metrics))
        .route("/slow-queries", get(slow_queries))
        .route("/query-history", get(query_history))
        .route("/pool", get(pool))
        .route("/transactions", get(transactions))
        .route_layer(middleware::from_fn_with_state(state.clone(), authorize))
        .with_state(state)
}

fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn authorize(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if let Some(token) = &state.token {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !same(given.as_bytes(), token.as_bytes()) {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                "unauthorized",
            )
                .into_response();
        }
    }
    next.run(request).await
}

async fn health(State(state): State<AppState>) -> Response {
    let report = state.db.health().await;
    let code = if report.status == Health::Unhealthy {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (code, Json(report)).into_response()
}

async fn prometheus(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.db.prometheus(),
    )
        .into_response()
}

async fn metrics(State(state): State<AppState>) -> Response {
    Json(state.db.metrics()).into_response()
}

async fn slow_queries(State(state): State<AppState>) -> Response {
    Json(state.db.slow_queries()).into_response()
}

async fn query_history(State(state): State<AppState>) -> Response {
    Json(state.db.recent_queries()).into_response()
}

async fn pool(State(state): State<AppState>) -> Response {
    Json(state.db.metrics().pool).into_response()
}

async fn transactions(State(state): State<AppState>) -> Response {
    Json(state.db.metrics().transactions).into_response()
}
