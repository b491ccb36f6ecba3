//! Quickstart: connect, create a table, insert, move money in a transaction.
//!
//! Run it against the local server (README, "Two commands"):
//!
//! ```text
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo run -p strata-examples --example quickstart
//! ```

use strata::prelude::*;

#[tokio::main]
async fn main() -> strata::Result<()> {
    // DATABASE_URL (or DB_HOST, DB_USER, ...) from the environment; every
    // timeout has a finite default, so a dead server fails fast.
    let db = Db::connect(Config::from_env()?).await?;
    println!("connected to {}", db.config()); // never prints the password

    // A scratch schema of our own keeps the example repeatable.
    db.execute("DROP SCHEMA IF EXISTS strata_quickstart CASCADE", &[]).await?;
    db.execute("CREATE SCHEMA strata_quickstart", &[]).await?;
    db.execute(
        "CREATE TABLE strata_quickstart.accounts (
             id      bigint PRIMARY KEY,
             owner   text   NOT NULL,
             balance bigint NOT NULL CHECK (balance >= 0))",
        &[],
    )
    .await?;

    // Statements are prepared once per connection and cached.
    for (id, owner, balance) in [(1i64, "ada", 100i64), (2, "grace", 50)] {
        db.execute(
            "INSERT INTO strata_quickstart.accounts VALUES ($1, $2, $3)",
            &[&id, &owner, &balance],
        )
        .await?;
    }

    // A serializable transfer: if another transaction conflicts, strata
    // rolls back and runs the closure again (with jittered backoff).
    db.transaction(TxOptions::serializable(), |tx| async move {
        tx.execute(
            "UPDATE strata_quickstart.accounts SET balance = balance - 30 WHERE id = 1",
            &[],
        )
        .await?;
        tx.execute(
            "UPDATE strata_quickstart.accounts SET balance = balance + 30 WHERE id = 2",
            &[],
        )
        .await?;
        Ok(())
    })
    .await?;

    // Constraint failures come back typed, and the transaction left nothing behind.
    let overdraft = db
        .transaction(TxOptions::new(), |tx| async move {
            tx.execute(
                "UPDATE strata_quickstart.accounts SET balance = balance - 1000 WHERE id = 1",
                &[],
            )
            .await
        })
        .await;
    if let Err(Error::CheckViolation { constraint, .. }) = &overdraft {
        println!("overdraft refused by {}", constraint.as_deref().unwrap_or("?"));
    }

    for row in db
        .query("SELECT owner, balance FROM strata_quickstart.accounts ORDER BY id", &[])
        .await?
    {
        let (owner, balance): (String, i64) = (row.get(0), row.get(1));
        println!("{owner:>6}: {balance}");
    }
    let m = db.metrics();
    println!(
        "queries {}, committed {}, rolled back {}",
        m.queries.total, m.transactions.committed, m.transactions.rolled_back
    );
    db.execute("DROP SCHEMA strata_quickstart CASCADE", &[]).await?;
    db.close().await;
    Ok(())
}
