//! Applying or reverting one migration, statement by statement.
//!
//! A file runs as the statements [`split`](super::split) finds, one at a
//! time, so a failure names the line it happened on. Normally they all run
//! in one transaction together with the history insert (or delete): a
//! failing statement rolls the whole migration back and the history stays
//! as it was. A file starting with `-- strata:no-transaction` runs each
//! statement in autocommit mode (for `CREATE INDEX CONCURRENTLY`, which
//! refuses to run in a transaction) and is recorded only after all of them
//! succeed.

use std::time::{Duration, Instant};

use crate::pipeline::round_trip::Link;
use tokio_postgres::error::ErrorPosition;

use crate::error::{Error, Result};

use super::history::History;
use super::source::{Migration, is_no_transaction};
use super::split::{Statement, split};
use super::{Direction, Step};
use crate::sql::lex::Token;

/// Runs `m`'s `up.sql` or `down.sql` and records the result in `history`.
pub(crate) async fn run(
    client: Link<'_>,
    history: &History,
    m: &Migration,
    direction: Direction,
) -> Result<Step> {
    let (file, sql) = match direction {
        Direction::Up => ("up.sql", m.up_sql()),
        Direction::Down => (
            "down.sql",
            m.down_sql().ok_or_else(|| Error::Migration {
                version: Some(m.version()),
                file: Some(m.file("down.sql")),
                line: None,
                message: format!(
                    "migration {} cannot be reverted: it has no down.sql",
                    m.label()
                ),
                source: None,
            })?,
        ),
    };
    let no_tx = is_no_transaction(sql);
    let started = Instant::now();
    if no_tx {
        for stmt in split(sql) {
            exec_no_tx(client, m, file, &stmt).await?;
        }
        record(client, history, m, direction, started.elapsed())
            .await
            .map_err(|e| failed(m, "could not be recorded in the history table", e))?;
    } else {
        // An audited table's changes name the migration as their actor
        // (or the caller's, inside `with_actor`).
        let actor = match crate::tx::actor::current_actor() {
            Some(actor) => actor.to_string(),
            None => format!("migration:{}", m.label()),
        };
        let begin = format!("BEGIN{}", crate::tx::actor::set_actor(&actor)?);
        client
            .batch_execute(&begin)
            .await
            .map_err(|e| failed(m, "could not start its transaction", e))?;
        let result = async {
            for stmt in split(sql) {
                exec(client, m, file, &stmt, no_tx).await?;
            }
            record(client, history, m, direction, started.elapsed())
                .await
                .map_err(|e| {
                    failed(
                        m,
                        "could not be recorded in the history table; it was rolled back",
                        e,
                    )
                })
        }
        .await;
        if let Err(err) = result {
            // If ROLLBACK fails too, the connection is gone and the server
            // rolls back by itself.
            let _ = client.batch_execute("ROLLBACK").await;
            return Err(err);
        }
        client
            .batch_execute("COMMIT")
            .await
            .map_err(|e| failed(m, "failed at COMMIT; it was rolled back", e))?;
    }
    Ok(Step {
        version: m.version(),
        name: m.name().to_owned(),
        direction,
        elapsed: started.elapsed(),
    })
}

async fn record(
    client: Link<'_>,
    history: &History,
    m: &Migration,
    direction: Direction,
    elapsed: Duration,
) -> std::result::Result<(), tokio_postgres::Error> {
    match direction {
        Direction::Up => {
            let ms = i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX);
            history.insert(client, m, ms).await
        }
        Direction::Down => history.delete(client, m.version()).await,
    }
}

/// One statement of a `-- strata:no-transaction` file.
///
/// A failed `CREATE INDEX CONCURRENTLY` leaves an INVALID index behind,
/// which makes the rerun fail with "already exists". So before such a
/// statement, an INVALID index of the name it builds (left by an earlier
/// run whose connection died) is dropped; and when it fails, the INVALID
/// indexes it created (found through `pg_index.indisvalid`) are dropped and
/// named in the error. Migrations hold the migration lock, so no other
/// migrator is building them.
async fn exec_no_tx(
    client: Link<'_>,
    m: &Migration,
    file: &str,
    stmt: &Statement<'_>,
) -> Result<()> {
    let Some(index) = concurrent_index(stmt.sql) else {
        return exec(client, m, file, stmt, true).await;
    };
    if let Some(name) = &index
        && let Ok(row) = client
            .query_opt(
                "SELECT i.indisvalid FROM pg_index i WHERE i.indexrelid = to_regclass($1)",
                &[name],
            )
            .await
        && row.is_some_and(|r| !r.get::<_, bool>(0))
    {
        tracing::warn!(
            index = %name,
            migration = %m.label(),
            "dropping the INVALID index an earlier failed run left, before building it again"
        );
        client
            .batch_execute(&format!("DROP INDEX CONCURRENTLY IF EXISTS {name}"))
            .await
            .map_err(|e| {
                failed(
                    m,
                    &format!("could not drop the INVALID index {name} an earlier run left"),
                    e,
                )
            })?;
    }
    let before = invalid_indexes(client).await.unwrap_or_default();
    let Err(err) = exec(client, m, file, stmt, true).await else {
        return Ok(());
    };
    let Error::Migration {
        version,
        file,
        line,
        mut message,
        source,
    } = err
    else {
        return Err(err);
    };
    let left: Vec<(u32, String)> = invalid_indexes(client)
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|i| !before.contains(i))
        .collect();
    for (_, name) in &left {
        let dropped = client
            .batch_execute(&format!("DROP INDEX CONCURRENTLY IF EXISTS {name}"))
            .await;
        message.push_str(&match dropped {
            Ok(()) => format!(
                "; the INVALID index {name} it left was dropped, so it can run again once the cause is fixed"
            ),
            Err(_) => format!(
                "; it left the INVALID index {name}: drop it (DROP INDEX CONCURRENTLY {name}) before running it again"
            ),
        });
    }
    if left.is_empty()
        && let Some(name) = &index
    {
        message.push_str(&format!(" (building index {name})"));
    }
    Err(Error::Migration {
        version,
        file,
        line,
        message,
        source,
    })
}

/// INVALID indexes now, as (oid, name as `regclass` prints it).
async fn invalid_indexes(
    client: Link<'_>,
) -> std::result::Result<Vec<(u32, String)>, tokio_postgres::Error> {
    Ok(client
        .query(
            "SELECT i.indexrelid::oid, i.indexrelid::regclass::text FROM pg_index i
              WHERE NOT i.indisvalid",
            &[],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect())
}

/// `Some` for a `CREATE [UNIQUE] INDEX CONCURRENTLY` statement, with the
/// index name it gives (as written, quotes and schema included), or `None`
/// inside when it names none.
fn concurrent_index(sql: &str) -> Option<Option<String>> {
    // The tokenizer skips comments wherever they are, and keeps a quoted
    // index name whole (quotes included, as `to_regclass` takes it).
    let tokens = crate::sql::lex::tokens(sql).ok()?;
    let is = |i: usize, w: &str| tokens.get(i).is_some_and(|t| t.is(w));
    if !is(0, "create") {
        return None;
    }
    let mut i = 1;
    if is(i, "unique") {
        i += 1;
    }
    if !(is(i, "index") && is(i + 1, "concurrently")) {
        return None;
    }
    i += 2;
    if is(i, "if") && is(i + 1, "not") && is(i + 2, "exists") {
        i += 3;
    }
    Some(match tokens.get(i) {
        Some(t) if t.is("on") => None,
        Some(Token::Word(name) | Token::QuotedIdent(name)) => Some((*name).to_owned()),
        _ => None,
    })
}

async fn exec(
    client: Link<'_>,
    m: &Migration,
    file: &str,
    stmt: &Statement<'_>,
    no_tx: bool,
) -> Result<()> {
    let Err(err) = client.batch_execute(stmt.sql).await else {
        return Ok(());
    };
    let line = match err.as_db_error().and_then(|db| db.position()) {
        Some(ErrorPosition::Original(pos)) => stmt.line_of(*pos),
        _ => stmt.line,
    };
    let path = m.file(file);
    let outcome = if no_tx {
        "it runs without a transaction, so the statements before that line stay applied, \
         and it was not recorded"
    } else {
        "it was rolled back and not recorded"
    };
    Err(Error::Migration {
        version: Some(m.version()),
        message: format!(
            "migration {} failed at line {line} of {path}; {outcome}",
            m.label()
        ),
        file: Some(path),
        line: Some(line),
        source: Some(Box::new(Error::from_pg(err))),
    })
}

fn failed(m: &Migration, what: &str, err: tokio_postgres::Error) -> Error {
    Error::Migration {
        version: Some(m.version()),
        file: None,
        line: None,
        message: format!("migration {} {what}", m.label()),
        source: Some(Box::new(Error::from_pg(err))),
    }
}

#[cfg(test)]
mod tests {
    use super::concurrent_index;

    #[test]
    fn finds_the_index_a_concurrent_build_names() {
        let name = |s: &str| concurrent_index(s);
        assert_eq!(
            name("CREATE INDEX CONCURRENTLY a_idx ON t (a)"),
            Some(Some("a_idx".into()))
        );
        assert_eq!(
            name(
                "-- strata:no-transaction\ncreate unique index concurrently if not exists \"B\" on t (b)"
            ),
            Some(Some("\"B\"".into()))
        );
        assert_eq!(name("CREATE INDEX CONCURRENTLY ON t (a)"), Some(None));
        assert_eq!(name("CREATE INDEX a_idx ON t (a)"), None);
        assert_eq!(name("VACUUM t"), None);
        // Comments anywhere, as the server reads them.
        assert_eq!(
            name("/* build */ CREATE /* x */ INDEX\n-- y\nCONCURRENTLY c_idx ON t (c)"),
            Some(Some("c_idx".into()))
        );
    }
}
