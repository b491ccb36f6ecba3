//! Gap-free counters (`strata::sequence`): 8 × 1,000 concurrent callers
//! take unique numbers with no gap, through rollbacks and serialization
//! retries, watched from the table the numbers are written to; each tenant
//! counts on its own.

use std::collections::BTreeSet;

use strata::prelude::*;
use strata::sequence::{Sequence, install_sql};
use strata_tests::TestDb;

const NUMBERS: Sequence = Sequence::new("deal_number");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unique_and_gap_free_under_8x1000_with_rollbacks_and_serialization_retries() {
    let t = TestDb::with(|c| c.pool_max(8)).await;
    t.install_sequences().await.unwrap();
    t.execute(
        "CREATE TABLE numbered (n bigint PRIMARY KEY, task int NOT NULL)",
        &[],
    )
    .await
    .unwrap();

    const TASKS: i32 = 8;
    const CALLS: i32 = 1_000;
    let mut handles = Vec::new();
    for task in 0..TASKS {
        let db = t.db().clone();
        handles.push(tokio::spawn(async move {
            // Half the callers are serializable: a concurrent increment of
            // the same row is then SQLSTATE 40001 and the closure reruns.
            let opts = if task % 2 == 0 {
                TxOptions::serializable().max_retries(1_000)
            } else {
                TxOptions::default()
            };
            let mut committed = 0;
            for call in 0..CALLS {
                let abandon = call % 10 == 9;
                let out = db
                    .transaction(opts.clone(), |tx| async move {
                        let n = NUMBERS.next(&tx).await?;
                        tx.execute(
                            "INSERT INTO numbered (n, task) VALUES ($1, $2)",
                            &[&n, &task],
                        )
                        .await?;
                        if abandon {
                            // Fails after taking its number: the transaction rolls
                            // back, and the next caller must take the number again.
                            return Err(Error::NotFound { what: "abandoned" });
                        }
                        Ok(n)
                    })
                    .await;
                match out {
                    Ok(_) => committed += 1,
                    Err(Error::NotFound { what: "abandoned" }) if abandon => {}
                    Err(e) => panic!("task {task} call {call}: {e}"),
                }
            }
            committed
        }));
    }
    let mut committed = 0_i64;
    for h in handles {
        committed += h.await.unwrap();
    }
    assert_eq!(committed, i64::from(TASKS * CALLS * 9 / 10));

    // From the table's side: exactly 1..=committed, each once.
    let rows = t
        .query("SELECT n FROM numbered ORDER BY n", &[])
        .await
        .unwrap();
    let numbers: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
    let expected: Vec<i64> = (1..=committed).collect();
    assert_eq!(
        numbers.len(),
        expected.len(),
        "one row per committed caller"
    );
    assert!(
        numbers == expected,
        "numbers are 1..={committed} with no gap"
    );
    let current = t
        .transaction(TxOptions::default(), |tx| async move {
            NUMBERS.current(&tx).await
        })
        .await
        .unwrap();
    assert_eq!(current, Some(committed));

    let m = t.metrics().transactions;
    println!(
        "sequences: {committed} numbers, {} serialization retries, {} rolled back",
        m.retried_serialization, m.rolled_back
    );
    assert!(
        m.retried_serialization > 0,
        "the serializable callers were retried (the retry path is what this covers)"
    );
}

#[tokio::test]
async fn each_tenant_counts_from_one() {
    let t = TestDb::new().await;
    t.execute(&install_sql(), &[]).await.unwrap();
    let mut seen = BTreeSet::new();
    for round in 1..=3_i64 {
        for tenant in [7_i64, 8] {
            let n = t
                .tenant(tenant)
                .transaction(
                    TxOptions::default(),
                    |tx| async move { NUMBERS.next(&tx).await },
                )
                .await
                .unwrap();
            assert_eq!(n, round, "tenant {tenant} counts on its own");
            seen.insert((tenant, n));
        }
    }
    // A `Tx` counter (the whole database) is a third, separate counter.
    let n = t
        .transaction(
            TxOptions::default(),
            |tx| async move { NUMBERS.next(&tx).await },
        )
        .await
        .unwrap();
    assert_eq!(n, 1);
    assert_eq!(seen.len(), 6);
}

#[tokio::test]
async fn bad_names_and_a_missing_table_are_clear_errors() {
    let t = TestDb::new().await;
    let err = t
        .transaction(TxOptions::default(), |tx| async move {
            Sequence::new("").next(&tx).await
        })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }), "{err}");
    let long: &'static str = Box::leak("x".repeat(64).into_boxed_str());
    let err = t
        .transaction(TxOptions::default(), |tx| async move {
            Sequence::new(long).next(&tx).await
        })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }), "{err}");

    let err = t
        .transaction(
            TxOptions::default(),
            |tx| async move { NUMBERS.next(&tx).await },
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Some(&strata::SqlState::UNDEFINED_TABLE),
        "{err}"
    );
}
