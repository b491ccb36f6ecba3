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

use tokio_postgres::Client;
use tokio_postgres::error::ErrorPosition;

use crate::error::{Error, Result};

use super::history::History;
use super::source::{Migration, is_no_transaction};
use super::split::{Statement, split};
use super::{Direction, Step};

/// Runs `m`'s `up.sql` or `down.sql` and records the result in `history`.
pub(crate) async fn run(
    client: &Client,
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
            exec(client, m, file, &stmt, no_tx).await?;
        }
        record(client, history, m, direction, started.elapsed())
            .await
            .map_err(|e| failed(m, "could not be recorded in the history table", e))?;
    } else {
        client
            .batch_execute("BEGIN")
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
    client: &Client,
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

async fn exec(
    client: &Client,
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
