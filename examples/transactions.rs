//! Transactions: `db.transaction` with a closure that commits on `Ok` and
//! rolls back on `Err`, savepoints (an `Err` inside one rolls back to it and
//! the transaction goes on), and SERIALIZABLE transfers from several tasks
//! at once, where strata runs a conflicting closure again and
//! `Tx::attempt()` says which run it is.
//!
//! Run it against the local server:
//!
//! ```text
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo run -p strata-examples --example transactions
//! ```
//!
//! It works in its own schema, `strata_example_transactions`, dropped at
//! the start and at the end, and exits non-zero if a rolled-back write is
//! visible, a committed one is missing, or money appears or disappears.

use std::time::Duration;

use strata::prelude::*;

/// The scratch schema this example owns.
const SCHEMA: &str = "strata_example_transactions";

/// An account; the table refuses a negative balance.
#[derive(Model, Debug, Clone)]
#[model(schema = "strata_example_transactions", table = "accounts")]
struct Account {
    #[model(primary_key, generated)]
    id: i64,
    #[model(unique)]
    owner: String,
    balance: i64,
}

/// Concurrent transferring tasks, and transfers per task.
const TASKS: usize = 4;
const TRANSFERS: usize = 5;

#[tokio::main]
async fn main() -> strata::Result<()> {
    let db = Db::connect(Config::from_env()?).await?;
    db.execute(&format!("DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"), &[])
        .await?;
    db.execute(&format!("CREATE SCHEMA {SCHEMA}"), &[]).await?;
    db.execute(
        "CREATE TABLE strata_example_transactions.accounts (
             id bigserial PRIMARY KEY, owner text NOT NULL UNIQUE,
             balance bigint NOT NULL CHECK (balance >= 0))",
        &[],
    )
    .await?;
    db.execute(
        "CREATE TABLE strata_example_transactions.ledger (
             id bigserial PRIMARY KEY, note text NOT NULL)",
        &[],
    )
    .await?;
    let outcome = walk_through(&db).await;
    db.execute(&format!("DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"), &[])
        .await?;
    db.close().await;
    outcome
}

/// The ledger's notes, in order.
async fn ledger(db: &Db) -> strata::Result<Vec<String>> {
    Ok(db
        .query_read(
            "SELECT note FROM strata_example_transactions.ledger ORDER BY id",
            &[],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

fn new_account(owner: &str, balance: i64) -> NewAccount {
    NewAccount {
        owner: owner.into(),
        balance,
    }
}

async fn walk_through(db: &Db) -> strata::Result<()> {
    // 1. A transaction that commits: both inserts or neither.
    let (ada, grace) = db
        .transaction(TxOptions::new(), |tx| async move {
            let ada = Account::insert(&tx, new_account("ada", 100)).await?;
            let grace = Account::insert(&tx, new_account("grace", 100)).await?;
            tx.execute(
                "INSERT INTO strata_example_transactions.ledger (note) VALUES ('opened two')",
                &[],
            )
            .await?;
            Ok((ada.id, grace.id))
        })
        .await?;
    println!("committed: two accounts and a ledger line");
    assert_eq!(Account::query().count(db).await?, 2);

    // 2. A closure that returns Err rolls everything back, even the writes
    //    that succeeded before the error.
    let failed: strata::Result<()> = db
        .transaction(TxOptions::new(), |tx| async move {
            Account::insert(&tx, new_account("alan", 50)).await?;
            tx.execute(
                "INSERT INTO strata_example_transactions.ledger (note) VALUES ('opened alan')",
                &[],
            )
            .await?;
            Err(Error::InvalidInput {
                reason: "the application changed its mind".into(),
            })
        })
        .await;
    println!("rolled back: {}", failed.unwrap_err());
    let alan = Account::query()
        .filter(Account::OWNER.eq("alan"))
        .count(db)
        .await?;
    assert_eq!(alan, 0, "the rolled-back account must be absent");
    assert_eq!(ledger(db).await?, ["opened two"]);

    // A database error inside the closure (the CHECK constraint) does the same.
    let overdraft = db
        .transaction(TxOptions::new(), |tx| async move {
            Account::patch(
                &tx,
                grace,
                AccountPatch {
                    balance: Some(200),
                    ..Default::default()
                },
            )
            .await?;
            Account::patch(
                &tx,
                ada,
                AccountPatch {
                    balance: Some(-100),
                    ..Default::default()
                },
            )
            .await
        })
        .await;
    assert!(matches!(overdraft, Err(Error::CheckViolation { .. })));
    println!("rolled back: the overdraft (CHECK violation), grace keeps 100");
    assert_eq!(Account::get(db, grace).await?.balance, 100);

    // 3. Savepoints: an Err inside one undoes only its own writes; the
    //    transaction goes on and commits. They nest: an Err in the inner
    //    one undoes only the inner one's writes.
    db.transaction(TxOptions::new(), |tx| async move {
        tx.execute(
            "INSERT INTO strata_example_transactions.ledger (note) VALUES ('outer')",
            &[],
        )
        .await?;
        let undone = tx
            .savepoint(|sp| async move {
                sp.execute(
                    "INSERT INTO strata_example_transactions.ledger (note) VALUES ('undone')",
                    &[],
                )
                .await?;
                Err::<(), _>(Error::InvalidInput {
                    reason: "undo this savepoint".into(),
                })
            })
            .await;
        assert!(undone.is_err());
        tx.savepoint(|sp| async move {
            sp.execute(
                "INSERT INTO strata_example_transactions.ledger (note) VALUES ('kept')",
                &[],
            )
            .await?;
            let inner = sp
                .savepoint(|inner| async move {
                    inner
                        .execute(
                            "INSERT INTO strata_example_transactions.ledger (note) \
                             VALUES ('inner, undone')",
                            &[],
                        )
                        .await?;
                    Err::<(), _>(Error::InvalidInput {
                        reason: "undo the inner savepoint".into(),
                    })
                })
                .await;
            assert!(inner.is_err());
            Ok(())
        })
        .await?;
        Ok(())
    })
    .await?;
    println!("savepoints: ledger {:?}", ledger(db).await?);
    assert_eq!(ledger(db).await?, ["opened two", "outer", "kept"]);

    // 4. SERIALIZABLE transfers from several tasks at once. Each one reads
    //    both balances, waits a little (so the tasks overlap), and writes
    //    both: PostgreSQL refuses all but one of a conflicting group with
    //    40001, and strata runs the refused closures again.
    let before = db.metrics().transactions;
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            let mut attempts = Vec::new();
            for _ in 0..TRANSFERS {
                let (from, to) = if task % 2 == 0 {
                    (ada, grace)
                } else {
                    (grace, ada)
                };
                let opts = TxOptions::serializable().max_retries(50);
                let attempt = db
                    .transaction(opts, |tx| async move {
                        let a = Account::get(&tx, from).await?;
                        let b = Account::get(&tx, to).await?;
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        let patch = |balance| AccountPatch {
                            balance: Some(balance),
                            ..Default::default()
                        };
                        // Rows are written in key order, so two transfers
                        // never wait for each other's locks in a cycle.
                        let mut writes = [(from, a.balance - 1), (to, b.balance + 1)];
                        writes.sort_unstable();
                        for (id, balance) in writes {
                            Account::patch(&tx, id, patch(balance)).await?;
                        }
                        // Which run of the closure committed: 1 without a conflict.
                        Ok(tx.attempt())
                    })
                    .await?;
                attempts.push(attempt);
            }
            Ok::<Vec<u32>, Error>(attempts)
        }));
    }
    let mut all_attempts = Vec::new();
    for task in tasks {
        all_attempts.extend(task.await.expect("transfer task panicked")?);
    }
    let after = db.metrics().transactions;
    let runs: u32 = all_attempts.iter().sum();
    let retried = all_attempts.iter().filter(|&&a| a > 1).count();
    println!(
        "{} serializable transfers from {TASKS} tasks: {runs} runs of the closure, \
         {retried} transfers needed more than one (most: {}), \
         {} serialization retries in db.metrics()",
        all_attempts.len(),
        all_attempts.iter().max().copied().unwrap_or(0),
        after.retried_serialization - before.retried_serialization,
    );
    assert_eq!(all_attempts.len(), TASKS * TRANSFERS);
    assert!(all_attempts.iter().all(|&a| a >= 1));
    let extra_runs: u64 = all_attempts.iter().map(|&a| u64::from(a - 1)).sum();
    assert_eq!(
        extra_runs,
        after.retried_serialization - before.retried_serialization
            + (after.retried_deadlock - before.retried_deadlock),
        "every extra run is a counted retry"
    );
    // Half the tasks move ada -> grace and half grace -> ada: the balances
    // end where they started, and the total never changes.
    let ada_balance = Account::get(db, ada).await?.balance;
    let grace_balance = Account::get(db, grace).await?.balance;
    println!("balances after: ada {ada_balance}, grace {grace_balance}");
    assert_eq!(ada_balance + grace_balance, 200);
    assert_eq!((ada_balance, grace_balance), (100, 100));
    Ok(())
}
