//! Cut COMMITs: `OutcomeUnknown` means "maybe", and the server decides.
//! A connection cut before the COMMIT reached the server rolled back; one
//! cut after it committed. Either way the caller hears `OutcomeUnknown`,
//! the closure ran once, and the server's rows agree with the cut.

use std::sync::Arc;
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};

use strata::prelude::*;
use strata_tests::TestDb;
use strata_tests::proxy::{CommitCut, FaultProxy};

#[tokio::test]
async fn a_cut_commit_is_unknown_and_the_server_holds_the_actual_outcome() {
    let t = TestDb::new().await;
    // No key: a repeated transaction would show as a second row.
    t.execute("CREATE TABLE marker (id int NOT NULL)", &[])
        .await
        .unwrap();
    let proxy = FaultProxy::start("127.0.0.1:5432").await;
    let db = Db::connect(t.config().port(proxy.port())).await.unwrap();
    let mut line = String::new();
    for (id, cut, expected) in [(1, CommitCut::Before, 0), (2, CommitCut::After, 1)] {
        proxy.cut_next_commit(cut);
        let attempts = Arc::new(AtomicU32::new(0));
        let first_pid = Arc::new(AtomicI32::new(0));
        let result = db
            .transaction(TxOptions::new(), |tx| {
                let (attempts, first_pid) = (attempts.clone(), first_pid.clone());
                async move {
                    let pid: i32 = tx.query_one("SELECT pg_backend_pid()", &[]).await?.get(0);
                    if attempts.fetch_add(1, Ordering::SeqCst) == 0 {
                        first_pid.store(pid, Ordering::SeqCst);
                    }
                    tx.execute("INSERT INTO marker VALUES ($1)", &[&id]).await
                }
            })
            .await;
        // The server decides once the cut backend has run what reached it.
        super::wait_backend_gone(first_pid.load(Ordering::SeqCst)).await;
        let applied: i64 = t
            .query_one("SELECT count(*) FROM marker WHERE id = $1", &[&id])
            .await
            .unwrap()
            .get(0);
        line.push_str(&format!(
            "{cut:?}: {:?}, attempts {}, applied {applied}; ",
            result.as_ref().err().map(|e| e.to_string()),
            attempts.load(Ordering::SeqCst)
        ));
        assert_eq!(applied, expected, "{cut:?}: the server's outcome");
        assert!(
            matches!(result, Err(Error::OutcomeUnknown { .. })),
            "{cut:?}: {result:?}"
        );
        assert_eq!(attempts.load(Ordering::SeqCst), 1, "{cut:?}: repeated");
    }
    println!("commit cuts: {line}cuts made {}", proxy.commits_cut());
    assert_eq!(proxy.commits_cut(), 2);
    // The handle goes on working after both cuts.
    db.execute("INSERT INTO marker VALUES (3)", &[])
        .await
        .unwrap();
    assert_eq!(t.count("marker").await, 2);
}
