//! Quickstart: connect, create a table, insert through a model, move money
//! in a transaction, query, print.
//!
//! Run it against the local server (README, "Two commands"):
//!
//! ```text
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo run -p strata-examples --example quickstart
//! ```

use strata::prelude::*;

/// One row of `strata_quickstart.accounts`. The derive writes the SQL of
/// every CRUD statement at compile time and generates `NewAccount` (the
/// insert input), `AccountPatch` (a partial update) and typed column handles.
#[derive(Model, Debug, Clone)]
#[model(schema = "strata_quickstart", table = "accounts")]
struct Account {
    #[model(primary_key, generated)]
    id: i64,
    #[model(unique)]
    owner: String,
    balance: i64,
}

#[tokio::main]
async fn main() -> strata::Result<()> {
    // DATABASE_URL (or DB_HOST, DB_USER, ...) from the environment; every
    // timeout has a finite default, so a dead server fails fast.
    let db = Db::connect(Config::from_env()?).await?;
    println!("connected to {}", db.config()); // never prints the password
    run(&db).await?;
    db.close().await;
    Ok(())
}

/// The walk-through, on an open handle (the integration tests run it too).
/// Returns the accounts left with more than 10, by owner.
pub(crate) async fn run(db: &Db) -> strata::Result<Vec<(String, i64)>> {
    let db = db.clone();

    // A scratch schema of our own keeps the example repeatable.
    db.execute("DROP SCHEMA IF EXISTS strata_quickstart CASCADE", &[])
        .await?;
    db.execute("CREATE SCHEMA strata_quickstart", &[]).await?;
    db.execute(
        "CREATE TABLE strata_quickstart.accounts (
             id      bigserial PRIMARY KEY,
             owner   text   NOT NULL UNIQUE,
             balance bigint NOT NULL CHECK (balance >= 0))",
        &[],
    )
    .await?;

    // Inserts return the stored row, with the generated id filled in.
    let ada = Account::insert(
        &db,
        NewAccount {
            owner: "ada".into(),
            balance: 100,
        },
    )
    .await?;
    let grace = Account::insert(
        &db,
        NewAccount {
            owner: "grace".into(),
            balance: 50,
        },
    )
    .await?;

    // A serializable transfer: if another transaction conflicts, strata
    // rolls back and runs the closure again (with jittered backoff).
    db.transaction(TxOptions::serializable(), |tx| async move {
        let from = Account::get(&tx, ada.id).await?;
        Account::patch(
            &tx,
            ada.id,
            AccountPatch {
                balance: Some(from.balance - 30),
                ..Default::default()
            },
        )
        .await?;
        let to = Account::get(&tx, grace.id).await?;
        Account::patch(
            &tx,
            grace.id,
            AccountPatch {
                balance: Some(to.balance + 30),
                ..Default::default()
            },
        )
        .await?;
        Ok(())
    })
    .await?;

    // Constraint failures come back typed, and the transaction left nothing behind.
    let overdraft = db
        .transaction(TxOptions::new(), |tx| async move {
            Account::patch(
                &tx,
                ada.id,
                AccountPatch {
                    balance: Some(-1_000),
                    ..Default::default()
                },
            )
            .await
        })
        .await;
    if let Err(Error::CheckViolation { constraint, .. }) = &overdraft {
        println!(
            "overdraft refused by {}",
            constraint.as_deref().unwrap_or("?")
        );
    }

    // Typed filters: `Account::BALANCE.gt(..)` only takes an i64.
    let rich = Account::query()
        .filter(Account::BALANCE.gt(10))
        .order_by(Account::OWNER.asc())
        .all(&db)
        .await?;
    for account in &rich {
        println!("{:>6}: {}", account.owner, account.balance);
    }
    let m = db.metrics();
    println!(
        "queries {} (p50 {:?}), committed {}, rolled back {}",
        m.queries.total, m.queries.p50, m.transactions.committed, m.transactions.rolled_back
    );
    db.execute("DROP SCHEMA strata_quickstart CASCADE", &[])
        .await?;
    Ok(rich.into_iter().map(|a| (a.owner, a.balance)).collect())
}
