//! Guards on raw SQL, so that no pooled connection goes back to the pool
//! inside a transaction or with session state a borrower changed, and a
//! statement strata may repeat cannot write.
//!
//! Three layers, each a fact rather than a guess:
//! 1. The text, read by a real tokenizer ([`crate::sql`]): transaction
//!    control and session-level commands are refused before sending, on any
//!    spelling (comments, nesting, case, `;;`, option lists). Several
//!    statements in one call are refused, as the extended protocol would.
//! 2. The server, for reads strata may repeat: on a pooled connection a
//!    declared read runs inside `BEGIN READ ONLY` .. `COMMIT`, pipelined in
//!    one round trip, so a function that writes (or `nextval`) is refused by
//!    PostgreSQL itself (25006) however the SQL is spelled.
//! 3. The server again, for whatever the text cannot prove harmless (DDL,
//!    `CALL`, `DO`, a call of a function not known to leave the session
//!    alone, a statement naming `pg_temp`, `pg_settings` or `CREATE`): on
//!    the same connection afterwards `RESET ALL` undoes every setting, and
//!    a probe asks the server whether it is inside a transaction block or
//!    carries other session state (role, session authorization, advisory
//!    locks, `LISTEN`, prepared statements, holdable cursors, temporary
//!    tables). Such a connection is closed, not pooled; so is one whose
//!    caller gave up while its statement or probe was in flight.
//!
//! Why a probe, not the protocol: PostgreSQL reports the transaction state
//! in every `ReadyForQuery`, but tokio-postgres does not expose it. The
//! probe costs a round trip, so it only follows statements layer 1 cannot
//! vouch for; plain `SELECT`/DML of built-in functions skip it.

use std::time::Duration;

use deadpool_postgres::ClientWrapper;

use super::round_trip::traced;
use super::send::bounded;
use crate::error::{Error, Result};
use crate::observe::counters::RoundTrip;
use crate::pool::Db;
use crate::sql::{Class, Sql, classify};

/// How the caller declared a raw statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Declared {
    /// `query`, `execute`: may write; never repeated once sent.
    Any,
    /// `query_read`: a read, repeated after a lost connection.
    Read,
}

/// What the executor does around one raw statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Plan {
    /// Run inside `BEGIN READ ONLY` .. `COMMIT` (pooled declared reads).
    pub(crate) read_only: bool,
    /// Ask the server afterwards whether the session was changed.
    pub(crate) probe: bool,
}

/// Checks raw SQL before anything is sent; `in_tx` is whether it runs
/// inside `db.transaction(..)`.
pub(crate) fn plan(sql: &str, declared: Declared, in_tx: bool) -> Result<Plan> {
    let stmt = match classify(sql) {
        Sql::One(stmt) => stmt,
        Sql::Many(n) => {
            return Err(refused(format!(
                "{n} statements in one call; strata sends one statement per call (the \
                 extended protocol carries one): make one call per statement"
            )));
        }
        // The server answers an empty statement with nothing: harmless.
        Sql::Empty => return Ok(Plan::default()),
        // The server will refuse it too; nothing it could run is proven.
        Sql::Unlexable(_) if declared == Declared::Read => {
            return Err(refused(
                "the statement does not parse (an unterminated comment or quote), so it \
                 cannot be proven a read"
                    .into(),
            ));
        }
        Sql::Unlexable(_) => {
            return Ok(Plan {
                read_only: false,
                probe: true,
            });
        }
    };
    let head = &stmt.head;
    match stmt.class {
        Class::Transaction if in_tx => {
            return Err(refused(format!(
                "`{head}` inside `db.transaction(..)`: strata begins, commits and rolls back \
                 the transaction itself; return `Ok` or `Err` from the closure instead"
            )));
        }
        Class::Transaction | Class::Savepoint if !in_tx => {
            return Err(refused(format!(
                "`{head}` on a pooled connection would leave it in a transaction state other \
                 callers inherit; run the statements in `db.transaction(..)` instead"
            )));
        }
        Class::Session => {
            return Err(refused(format!(
                "`{head}` changes the session, and a pooled connection's session is shared \
                 with every later borrower; use `SET LOCAL` inside `db.transaction(..)` for a \
                 setting, or `Config` for every connection"
            )));
        }
        _ => {}
    }
    if declared == Declared::Read
        && let Some(why) = stmt.not_read
    {
        return Err(refused(format!(
            "`{head}` is not a read ({why}): `query_read` repeats its statement after a lost \
             connection, so it takes only a single SELECT, VALUES, TABLE, SHOW or EXPLAIN \
             (without ANALYZE) that cannot write; run this with `query`"
        )));
    }
    let unproven = matches!(stmt.class, Class::Other)
        || stmt.calls_unknown_function
        || stmt.names_session_objects;
    Ok(Plan {
        read_only: declared == Declared::Read && !in_tx,
        probe: unproven,
    })
}

fn refused(reason: String) -> Error {
    Error::InvalidInput { reason }
}

/// Sets a transaction-local marker; only inside a transaction block does
/// it survive to the next statement.
const MARK: &str = "SELECT pg_catalog.set_config('strata.probe', 'on', true)";

/// True if the connection is inside a transaction block or carries state a
/// later borrower would inherit. `$1` is the user the pool logs in as.
const DIRTY: &str = "SELECT pg_catalog.current_setting('strata.probe', true) = 'on' \
    OR EXISTS (SELECT FROM pg_catalog.pg_settings WHERE source = 'session') \
    OR pg_catalog.current_setting('role') <> 'none' \
    OR session_user <> $1::text \
    OR EXISTS (SELECT FROM pg_catalog.pg_locks WHERE locktype = 'advisory' \
               AND pid = pg_catalog.pg_backend_pid()) \
    OR EXISTS (SELECT FROM pg_catalog.pg_listening_channels()) \
    OR EXISTS (SELECT FROM pg_catalog.pg_prepared_statements WHERE from_sql) \
    OR EXISTS (SELECT FROM pg_catalog.pg_cursors WHERE is_holdable) \
    OR EXISTS (SELECT FROM pg_catalog.pg_class \
               WHERE relnamespace = pg_catalog.pg_my_temp_schema())";

/// Cleans what a probe cannot list, and asks the server whether `client`
/// may go back to the pool: `Ok(true)` when it is outside any transaction
/// block and carries no session state.
///
/// `RESET ALL` first puts every setting back to its value at connect time,
/// custom ones (`app.tenant`, which `pg_settings` does not show) included:
/// so a setting need not be seen to be undone. It leaves the role and the
/// session authorization alone, which the check then compares. All three
/// statements go out in one write (tokio-postgres pipelines requests
/// polled together), so this is one round trip.
async fn session_is_clean(client: &ClientWrapper, login: &str) -> Result<bool> {
    let mark = client.prepare_cached(MARK).await.map_err(Error::from_pg)?;
    let dirty = client.prepare_cached(DIRTY).await.map_err(Error::from_pg)?;
    let (reset, marked, found) = futures_util::future::join3(
        client.batch_execute("RESET ALL"),
        client.execute(&mark, &[]),
        client.query_one(&dirty, &[&login]),
    )
    .await;
    reset.map_err(Error::from_pg)?;
    marked.map_err(Error::from_pg)?;
    let dirty: bool = found.map_err(Error::from_pg)?.get(0);
    Ok(!dirty)
}

/// The session probe as a round trip of its own (kind `session_check`):
/// `true` if `client` may go back to the pool. A probe that fails or gets
/// no answer within `bound` is a "no".
pub(crate) async fn check_session(
    client: &ClientWrapper,
    db: &Db,
    bound: Option<Duration>,
) -> bool {
    let login = db.inner.config.get_user();
    let kind = RoundTrip::SessionCheck;
    let check = bounded(bound, session_is_clean(client, login));
    let answer = traced(&db.inner.target, DIRTY, kind, check).await;
    db.inner
        .counters
        .round_trip(kind, matches!(answer, Ok(Ok(_))));
    let clean = matches!(answer, Ok(Ok(true)));
    if !clean {
        tracing::debug!("a raw statement changed the session; closing its connection");
    }
    clean
}
