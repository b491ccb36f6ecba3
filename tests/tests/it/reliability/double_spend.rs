//! Write skew: two racing withdrawals cannot overdraw under SERIALIZABLE,
//! and do under REPEATABLE READ (so the test has teeth).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use strata::prelude::*;
use strata_tests::TestDb;

/// 1,000 accounts holding 10 (as a ledger of withdrawals, no CHECK), two
/// racing withdrawals of 9 each: read the balance, then insert the
/// withdrawal. Returns (accounts below 0, withdrawals ok, failed).
async fn double_spend(opts: TxOptions) -> (i64, u64, u64, u64) {
    let t = TestDb::with(|c| c.pool_max(16)).await;
    t.execute(
        "CREATE TABLE withdrawals (account int NOT NULL, amount int NOT NULL)",
        &[],
    )
    .await
    .unwrap();
    t.execute("CREATE INDEX ON withdrawals (account)", &[])
        .await
        .unwrap();
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut tasks = Vec::new();
    for w in 0..16 {
        let (db, opts, ok, failed) = (t.db().clone(), opts.clone(), ok.clone(), failed.clone());
        // Workers w and w + 8 walk the same accounts in the same order.
        tasks.push(tokio::spawn(async move {
            for account in ((w % 8)..1_000).step_by(8) {
                let result = db
                    .transaction(opts.clone(), |tx| async move {
                        let balance: i64 = tx
                            .query_one(
                                "SELECT 10 - coalesce(sum(amount), 0) FROM withdrawals WHERE account = $1",
                                &[&account],
                            )
                            .await?
                            .get(0);
                        if balance < 9 {
                            return Ok(());
                        }
                        tokio::task::yield_now().await;
                        tx.execute("INSERT INTO withdrawals VALUES ($1, 9)", &[&account])
                            .await?;
                        Ok(())
                    })
                    .await;
                match result {
                    Ok(()) => ok.fetch_add(1, Ordering::Relaxed),
                    Err(_) => failed.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let negative: i64 = t
        .query_one(
            "SELECT count(*) FROM (SELECT account FROM withdrawals GROUP BY account HAVING 10 - sum(amount) < 0) n",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let retries = t.metrics().transactions.retried();
    (
        negative,
        ok.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed),
        retries,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn double_spend_is_impossible_under_serializable_and_shows_under_repeatable_read() {
    let started = Instant::now();
    let (neg_ser, ok_ser, failed_ser, retries_ser) =
        double_spend(TxOptions::serializable().max_retries(10)).await;
    let (neg_rr, ok_rr, failed_rr, _) = double_spend(TxOptions::repeatable_read()).await;
    println!(
        "double spend: serializable accounts below 0 {neg_ser} (ok {ok_ser}, failed {failed_ser}, retries {retries_ser}); \
         repeatable read accounts below 0 {neg_rr} (ok {ok_rr}, failed {failed_rr}); time {:?}",
        started.elapsed()
    );
    assert_eq!(neg_ser, 0, "SERIALIZABLE let an account go below 0");
    assert!(
        neg_rr > 0,
        "REPEATABLE READ write skew must show (the test has no teeth otherwise)"
    );
}
