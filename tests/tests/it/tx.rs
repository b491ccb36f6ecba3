//! Transactions: commit, rollback, savepoints, retries, timeouts, cancellation.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use strata::prelude::*;
use strata_tests::TestDb;

use super::reliability::{Outcome, transfer};

async fn bank(db: &Db, accounts: i64, balance: i64) {
    db.execute(
        "CREATE TABLE accounts (id bigint PRIMARY KEY, balance bigint NOT NULL CHECK (balance >= 0));
         ",
        &[],
    )
    .await
    .unwrap();
    db.execute(
        "CREATE TABLE transfers (id bigint PRIMARY KEY, src bigint NOT NULL, dst bigint NOT NULL, amount bigint NOT NULL)",
        &[],
    )
    .await
    .unwrap();
    db.execute(
        "INSERT INTO accounts SELECT g, $1 FROM generate_series(1, $2::bigint) g",
        &[&balance, &accounts],
    )
    .await
    .unwrap();
}

async fn total(db: &Db) -> i64 {
    let row = db
        .query_one("SELECT sum(balance)::bigint FROM accounts", &[])
        .await
        .unwrap();
    row.get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bank_transfers_keep_the_total_under_serializable_retries() {
    let t = TestDb::with(|c| c.pool_max(8)).await;
    bank(&t, 10, 1_000).await;
    let next_id = Arc::new(AtomicU64::new(1));
    let ok = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for task in 0..8u64 {
        let db = t.db().clone();
        let next_id = next_id.clone();
        let ok = ok.clone();
        tasks.push(tokio::spawn(async move {
            let mut seed = task * 7919 + 1;
            for _ in 0..200 {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let src = i64::try_from(seed >> 33).unwrap() % 10 + 1;
                let dst = (src + i64::try_from(seed % 9).unwrap()) % 10 + 1;
                let amount = i64::try_from(seed % 50).unwrap() + 1;
                let id = i64::try_from(next_id.fetch_add(1, Ordering::Relaxed)).unwrap();
                let opts = TxOptions::serializable().max_retries(50);
                match transfer(&db, opts, id, src, dst, amount).await {
                    Outcome::Ok => {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Outcome::Declined => {}
                    other => panic!("transfer failed after retries: {other:?}"),
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(total(&t).await, 10_000, "money was created or destroyed");
    let transfers = t.count("transfers").await;
    assert_eq!(
        transfers,
        i64::try_from(ok.load(Ordering::Relaxed)).unwrap()
    );
    // Replaying the recorded transfers reproduces every balance: none lost, none twice.
    let mismatched: i64 = t
        .query_one(
            "SELECT count(*) FROM accounts a WHERE a.balance <> 1000
               - coalesce((SELECT sum(amount) FROM transfers WHERE src = a.id), 0)
               + coalesce((SELECT sum(amount) FROM transfers WHERE dst = a.id), 0)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(mismatched, 0);
    let m = t.metrics().transactions;
    println!(
        "bank: transfers ok {} of 1600, committed {}, rolled back {}, retried {} (serialization {}, deadlock {})",
        ok.load(Ordering::Relaxed),
        m.committed,
        m.rolled_back,
        m.retried(),
        m.retried_serialization,
        m.retried_deadlock
    );
    assert!(m.retried() > 0, "8 writers on 10 rows must conflict");
}

/// What 8 tasks x 100 SERIALIZABLE transfers over 10 accounts came to:
/// (committed, gave up, declined, attempts, most attempts of one call).
type Tally = (u64, u64, u64, u64, u32);

/// Runs the contended transfers with `opts`; `max_attempts` is how many
/// runs a call that gives up must have had.
async fn contended_transfers(db: &Db, opts: TxOptions, max_attempts: u32) -> Tally {
    let mut tasks = Vec::new();
    for task in 0..8u64 {
        let db = db.clone();
        let opts = opts.clone();
        tasks.push(tokio::spawn(async move {
            let mut tally: Tally = (0, 0, 0, 0, 0);
            let mut seed = task * 7919 + 3;
            for _ in 0..100 {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let src = i64::try_from(seed >> 33).unwrap() % 10 + 1;
                let dst = (src + i64::try_from(seed % 9).unwrap()) % 10 + 1;
                let amount = i64::try_from(seed % 50).unwrap() + 1;
                let seen = Arc::new(std::sync::atomic::AtomicU32::new(0));
                let result = db
                    .transaction(opts.clone(), {
                        let seen = seen.clone();
                        move |tx| {
                            let seen = seen.clone();
                            async move {
                                seen.store(tx.attempt(), Ordering::Relaxed);
                                tx.execute(
                                    "UPDATE accounts SET balance = balance - $1 WHERE id = $2",
                                    &[&amount, &src],
                                )
                                .await?;
                                tx.execute(
                                    "UPDATE accounts SET balance = balance + $1 WHERE id = $2",
                                    &[&amount, &dst],
                                )
                                .await?;
                                Ok(())
                            }
                        }
                    })
                    .await;
                let n = seen.load(Ordering::Relaxed);
                tally.3 += u64::from(n);
                tally.4 = tally.4.max(n);
                match result {
                    Ok(()) => tally.0 += 1,
                    Err(Error::Serialization { .. } | Error::Deadlock { .. }) => {
                        assert_eq!(n, max_attempts, "gave up before the retries ran out");
                        tally.1 += 1;
                    }
                    Err(Error::CheckViolation { .. }) => tally.2 += 1,
                    Err(other) => panic!("transfer failed: {other:?}"),
                }
            }
            tally
        }));
    }
    let mut sum: Tally = (0, 0, 0, 0, 0);
    for task in tasks {
        let t = task.await.unwrap();
        sum = (
            sum.0 + t.0,
            sum.1 + t.1,
            sum.2 + t.2,
            sum.3 + t.3,
            sum.4.max(t.4),
        );
    }
    sum
}

/// The default retries under the contention the issue measured, against
/// the old default of three in the same run, and `Tx::attempt`: the
/// attempts each call reports add up to the retries counted, and a call
/// that gave up ran 1 + its retries times.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn contended_transfers_under_the_default_retries_report_their_attempts() {
    let t = TestDb::with(|c| c.pool_max(8)).await;
    bank(&t, 10, 1_000).await;
    for (what, opts, max_attempts) in [
        (
            "3 retries (the old default)",
            TxOptions::serializable().max_retries(3),
            4,
        ),
        (
            "the default (DB_TX_MAX_RETRIES=10)",
            TxOptions::serializable(),
            11,
        ),
    ] {
        let before = t.metrics().transactions;
        let (ok, gave_up, declined, attempts, most) =
            contended_transfers(&t, opts, max_attempts).await;
        let after = t.metrics().transactions;
        let retried = after.retried() - before.retried();
        assert_eq!(
            after.gave_up - before.gave_up,
            gave_up,
            "every call that gave up is counted"
        );
        println!(
            "contended transfers, {what}: {ok} committed, {gave_up} gave up, {declined} declined \
             of 800; {attempts} attempts (most for one call: {most}); {retried} retries"
        );
        assert_eq!(ok + gave_up + declined, 800);
        assert_eq!(
            attempts - 800,
            retried,
            "the attempts reported are the retries counted"
        );
        assert!(retried > 0, "8 writers on 10 rows must conflict");
    }
    assert_eq!(total(&t).await, 10_000, "money was created or destroyed");
}

#[tokio::test]
async fn failing_savepoint_keeps_the_outer_writes() {
    let t = TestDb::new().await;
    t.execute("CREATE TABLE t (v text)", &[]).await.unwrap();
    let inner: Result<()> = t
        .transaction(TxOptions::new(), |tx| async move {
            tx.execute("INSERT INTO t VALUES ('outer')", &[]).await?;
            let nested = tx
                .savepoint(|sp| async move {
                    assert_eq!(sp.depth(), 1);
                    sp.execute("INSERT INTO t VALUES ('inner')", &[]).await?;
                    // Deeper still, and that one succeeds before the middle fails.
                    sp.savepoint(|deep| async move {
                        assert_eq!(deep.depth(), 2);
                        deep.execute("INSERT INTO t VALUES ('deep')", &[]).await
                    })
                    .await?;
                    sp.execute("INSERT INTO nope VALUES (1)", &[]).await?;
                    Ok(())
                })
                .await;
            assert!(matches!(nested, Err(Error::Database { .. })), "{nested:?}");
            // The transaction is usable after the failed savepoint.
            tx.execute("INSERT INTO t VALUES ('after')", &[]).await?;
            Ok(())
        })
        .await;
    inner.unwrap();
    let rows: Vec<String> = t
        .query("SELECT v FROM t ORDER BY v", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(rows, ["after", "outer"]);
}

#[tokio::test]
async fn failing_outer_closure_leaves_nothing() {
    let t = TestDb::new().await;
    t.execute("CREATE TABLE t (v int)", &[]).await.unwrap();
    let err = t
        .transaction(TxOptions::new(), |tx| async move {
            tx.execute("INSERT INTO t VALUES (1)", &[]).await?;
            tx.savepoint(|sp| async move { sp.execute("INSERT INTO t VALUES (2)", &[]).await })
                .await?;
            Err::<(), _>(Error::NotFound { what: "anything" })
        })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }));
    let n = t.count("t").await;
    assert_eq!(n, 0);
    assert_eq!(t.metrics().transactions.rolled_back, 1);
    assert_eq!(t.pool_status().in_use, 0);
}

#[tokio::test]
async fn transaction_past_its_timeout_rolls_back() {
    let t = TestDb::new().await;
    t.execute("CREATE TABLE t (v int)", &[]).await.unwrap();
    let err = t
        .transaction(
            TxOptions::new().timeout(Duration::from_millis(300)),
            |tx| async move {
                tx.execute("INSERT INTO t VALUES (1)", &[]).await?;
                tokio::time::sleep(Duration::from_secs(5)).await;
                Ok(())
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Timeout {
                kind: strata::TimeoutKind::Transaction,
                ..
            }
        ),
        "{err:?}"
    );
    // A statement that outlives the timeout is cancelled by the server too.
    let err = t
        .transaction(
            TxOptions::new().timeout(Duration::from_millis(300)),
            |tx| async move { tx.execute("SELECT pg_sleep(5)", &[]).await },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    let n = t.count("t").await;
    assert_eq!(n, 0);
}

#[tokio::test]
async fn panic_and_cancellation_never_pool_an_open_transaction() {
    let t = TestDb::with(|c| c.pool_max(1)).await;
    t.execute("CREATE TABLE t (v int)", &[]).await.unwrap();
    // Cancelled half-way: the future is dropped with the transaction open.
    let db = t.db().clone();
    let cancelled = tokio::time::timeout(Duration::from_millis(100), async move {
        db.transaction(TxOptions::new(), |tx| async move {
            tx.execute("INSERT INTO t VALUES (1)", &[]).await?;
            std::future::pending::<()>().await;
            Ok(())
        })
        .await
    })
    .await;
    assert!(cancelled.is_err());
    // Panicked half-way.
    let db = t.db().clone();
    let panicked = tokio::spawn(async move {
        db.transaction(TxOptions::new(), |tx| async move {
            tx.execute("INSERT INTO t VALUES (2)", &[]).await?;
            panic!("boom");
            #[allow(unreachable_code)]
            Ok(())
        })
        .await
    })
    .await;
    assert!(panicked.is_err());
    // The next borrower is not inside the abandoned transaction: it holds no
    // lock on `t` and sees none of the uncommitted rows.
    let locks: i64 = t
        .query_one(
            "SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid() AND relation = 't'::regclass",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        locks, 0,
        "a connection came back from the pool inside a transaction"
    );
    let n = t.count("t").await;
    assert_eq!(n, 0, "uncommitted writes must be gone");
}

#[tokio::test]
async fn read_only_transaction_rejects_writes() {
    let t = TestDb::new().await;
    t.execute("CREATE TABLE t (v int)", &[]).await.unwrap();
    let err = t
        .transaction(
            TxOptions::serializable().read_only(true).deferrable(true),
            |tx| async move { tx.execute("INSERT INTO t VALUES (1)", &[]).await },
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Some(&strata::SqlState::READ_ONLY_SQL_TRANSACTION)
    );
}

#[tokio::test]
async fn deadlocks_are_retried() {
    let t = TestDb::new().await;
    bank(&t, 2, 100).await;
    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    let run = |first: i64, second: i64| {
        let db = t.db().clone();
        let barrier = barrier.clone();
        tokio::spawn(async move {
            let mut tries = 0;
            db.transaction(TxOptions::new().max_retries(5), |tx| {
                tries += 1;
                let first_try = tries == 1;
                let barrier = barrier.clone();
                async move {
                    tx.execute(
                        "UPDATE accounts SET balance = balance + 1 WHERE id = $1",
                        &[&first],
                    )
                    .await?;
                    if first_try {
                        barrier.wait().await;
                    }
                    tx.execute(
                        "UPDATE accounts SET balance = balance + 1 WHERE id = $1",
                        &[&second],
                    )
                    .await
                }
            })
            .await
        })
    };
    let (a, b) = (run(1, 2), run(2, 1));
    a.await.unwrap().unwrap();
    b.await.unwrap().unwrap();
    assert_eq!(total(&t).await, 204);
    assert_eq!(t.metrics().transactions.retried_deadlock, 1);
}
