//! Cancellation: a transaction future dropped at any await point never
//! leaks a transaction, a lock or half its writes to the next borrower.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use strata::prelude::*;
use strata_tests::TestDb;

async fn cancellation(iterations: u32) {
    let t = TestDb::with(|c| c.pool_max(1)).await;
    t.execute("CREATE TABLE t (it int NOT NULL, part int NOT NULL)", &[])
        .await
        .unwrap();
    // 0: not in the closure yet (acquire, BEGIN); 1: query; 2: savepoint; 3: COMMIT.
    let phase = Arc::new(AtomicU32::new(0));
    let run = |it: i32| {
        let (db, phase) = (t.db().clone(), phase.clone());
        async move {
            phase.store(0, Ordering::SeqCst);
            db.transaction(TxOptions::new(), move |tx| {
                let phase = phase.clone();
                async move {
                    phase.store(1, Ordering::SeqCst);
                    tx.execute("INSERT INTO t VALUES ($1, 1)", &[&it]).await?;
                    phase.store(2, Ordering::SeqCst);
                    tx.savepoint(|sp| async move {
                        sp.execute("INSERT INTO t VALUES ($1, 2)", &[&it]).await
                    })
                    .await?;
                    phase.store(3, Ordering::SeqCst);
                    Ok(())
                }
            })
            .await
        }
    };
    // Calibrate: how long one uncancelled transaction takes here.
    let t0 = Instant::now();
    for it in 0..20 {
        run(-1 - it).await.unwrap();
    }
    let typical = t0.elapsed() / 20;
    t.execute("DELETE FROM t", &[]).await.unwrap();
    let started = Instant::now();
    let (mut cancelled, mut completed, mut in_tx, mut leaked_locks, mut aborted_25p02) =
        (0, 0, 0, 0, 0);
    let (mut partial, mut other_errors) = (0, 0);
    let mut by_phase = [0u32; 4];
    for it in 0..i32::try_from(iterations).unwrap() {
        let limit = typical.mul_f64(rand::random_range(0.0..1.3));
        match tokio::time::timeout(limit, run(it)).await {
            Ok(Ok(())) => completed += 1,
            Ok(Err(_)) => other_errors += 1,
            Err(_) => {
                cancelled += 1;
                by_phase[phase.load(Ordering::SeqCst) as usize] += 1;
            }
        }
        // The next borrower: not inside a transaction (two statements get
        // two transaction ids), no locks, sees only whole transactions.
        let check = async {
            let first: i64 = t.query_one("SELECT txid_current()", &[]).await?.get(0);
            let row = t
                .query_one(
                    "SELECT txid_current(), \
                     (SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid() AND relation = 't'::regclass)",
                    &[],
                )
                .await?;
            Ok::<_, Error>((first == row.get::<_, i64>(0), row.get::<_, i64>(1)))
        };
        match check.await {
            Ok((same_tx, locks)) => {
                in_tx += u32::from(same_tx);
                leaked_locks += locks;
            }
            Err(e) => {
                if e.code() == Some(&strata::SqlState::IN_FAILED_SQL_TRANSACTION) {
                    aborted_25p02 += 1;
                } else {
                    other_errors += 1;
                }
            }
        }
        let parts: i64 = t
            .query_one("SELECT count(*) FROM t WHERE it = $1", &[&it])
            .await
            .unwrap()
            .get(0);
        partial += u32::from(parts == 1);
    }
    println!(
        "cancellation: iterations {iterations}, cancelled {cancelled} (begin {}, query {}, savepoint {}, commit {}), \
         completed {completed}, next borrower in a transaction {in_tx}, leaked locks {leaked_locks}, 25P02 {aborted_25p02}, \
         partial transactions visible {partial}, other errors {other_errors}, typical tx {typical:?}, time {:?}",
        by_phase[0],
        by_phase[1],
        by_phase[2],
        by_phase[3],
        started.elapsed()
    );
    assert!(
        cancelled > 0 && completed > 0,
        "the random bound should both cancel and let through"
    );
    assert_eq!(in_tx, 0, "a borrower got a connection inside a transaction");
    assert_eq!(leaked_locks, 0);
    assert_eq!(aborted_25p02, 0);
    assert_eq!(partial, 0, "half a transaction became visible");
    assert_eq!(other_errors, 0);
}

#[tokio::test]
async fn cancellation_at_any_await_point_never_leaks_a_transaction() {
    cancellation(2_000).await;
}

#[tokio::test]
#[ignore = "long: cargo test -p strata-tests --test it reliability -- --ignored"]
async fn cancellation_at_any_await_point_long() {
    cancellation(10_000).await;
}
