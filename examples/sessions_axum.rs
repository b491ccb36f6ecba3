//! Sessions in an axum application: tower-sessions' `Session` extractor
//! on strata's session table (feature `tower-sessions`).
//!
//! Run it against the local services (the table is created in the first
//! schema of the `search_path` if missing):
//!
//! ```text
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
//!   cargo run -p strata-examples --example sessions_axum
//! ```
//!
//! It drives the router itself, no network: an anonymous request is
//! refused, a login sets the cookie, the cookie authenticates a request,
//! a logout destroys the session, and the old cookie is refused again.
//! It prints each step and exits.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::routing::{get, post};
use strata::sessions::{Sessions, TowerStore};
use strata::{Config, Db};
use tower::ServiceExt as _;
use tower_sessions::{Expiry, Session, SessionManagerLayer};

/// The key the user's name is kept under in the session.
const USER: &str = "user";

/// `POST /login`: a new session id (no session fixation), then the user.
async fn login(session: Session) -> Result<&'static str, StatusCode> {
    session
        .cycle_id()
        .await
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    session
        .insert(USER, "ann")
        .await
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    Ok("logged in")
}

/// `GET /me`: who the session belongs to, or 401.
async fn me(session: Session) -> Result<String, StatusCode> {
    match session.get::<String>(USER).await {
        Ok(Some(user)) => Ok(format!("hello {user}")),
        Ok(None) => Err(StatusCode::UNAUTHORIZED),
        Err(_) => Err(StatusCode::INTERNAL_SERVER_ERROR),
    }
}

/// `POST /logout`: removes the session from the store.
async fn logout(session: Session) -> Result<&'static str, StatusCode> {
    session
        .flush()
        .await
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    Ok("logged out")
}

/// The application: three routes behind the session layer.
pub(crate) fn app(db: &Db) -> Router {
    let store = TowerStore::new(Sessions::new(db));
    let layer = SessionManagerLayer::new(store)
        // Plain http in this example; keep `true` (the default) behind TLS.
        .with_secure(false)
        .with_expiry(Expiry::OnInactivity(
            tower_sessions::cookie::time::Duration::hours(1),
        ));
    Router::new()
        .route("/login", post(login))
        .route("/me", get(me))
        .route("/logout", post(logout))
        .layer(layer)
}

/// One request through the router: its status, body and `Set-Cookie`.
async fn call(
    app: &Router,
    method: &str,
    path: &str,
    cookie: Option<&str>,
) -> Result<(StatusCode, String, Option<String>), Box<dyn std::error::Error>> {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(c) = cookie {
        req = req.header(header::COOKIE, c);
    }
    let res = app.clone().oneshot(req.body(Body::empty())?).await?;
    let status = res.status();
    let set_cookie = res
        .headers()
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::to_owned);
    let body = axum::body::to_bytes(res.into_body(), 64 * 1024).await?;
    Ok((status, String::from_utf8(body.to_vec())?, set_cookie))
}

/// What the run saw: each step's name, status and body, and the sessions
/// left in the table.
#[derive(Debug)]
pub(crate) struct Summary {
    /// `(step, status, body)` in order.
    pub(crate) steps: Vec<(&'static str, u16, String)>,
    /// Rows in the sessions table after the logout.
    pub(crate) rows_left: i64,
}

/// Installs the table and drives the five steps.
pub(crate) async fn run(db: &Db) -> Result<Summary, Box<dyn std::error::Error>> {
    use strata::Executor as _;
    db.install_sessions().await?;
    let app = app(db);
    let mut steps = Vec::new();
    let mut record = |step, status: StatusCode, body: String| {
        println!("{step:<22} {} {body}", status.as_u16());
        steps.push((step, status.as_u16(), body));
    };

    let (status, body, _) = call(&app, "GET", "/me", None).await?;
    record("anonymous /me", status, body);

    let (status, body, cookie) = call(&app, "POST", "/login", None).await?;
    record("login", status, body);
    let cookie = cookie.ok_or("the login set no cookie")?;

    let (status, body, _) = call(&app, "GET", "/me", Some(&cookie)).await?;
    record("authenticated /me", status, body);

    let (status, body, _) = call(&app, "POST", "/logout", Some(&cookie)).await?;
    record("logout", status, body);

    let (status, body, _) = call(&app, "GET", "/me", Some(&cookie)).await?;
    record("/me after logout", status, body);

    let rows_left: i64 = db
        .query_one("SELECT count(*) FROM strata_sessions", &[])
        .await?
        .get(0);
    Ok(Summary { steps, rows_left })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    use strata::Executor as _;
    // A scratch schema of our own for the sessions table, dropped at the end.
    const SCHEMA: &str = "strata_example_sessions";
    let base = Db::connect(Config::from_env()?).await?;
    base.execute(&format!("DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"), &[])
        .await?;
    base.execute(&format!("CREATE SCHEMA {SCHEMA}"), &[])
        .await?;
    let db = Db::connect(base.config().clone().search_path(SCHEMA)).await?;
    let summary = run(&db).await;
    db.close().await;
    base.execute(&format!("DROP SCHEMA {SCHEMA} CASCADE"), &[])
        .await?;
    base.close().await;
    let summary = summary?;
    println!("live sessions left: {}", summary.rows_left);
    let statuses: Vec<u16> = summary.steps.iter().map(|s| s.1).collect();
    if statuses != [401, 200, 200, 200, 401] {
        return Err(format!("unexpected statuses {statuses:?}").into());
    }
    Ok(())
}
