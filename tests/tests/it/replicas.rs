//! The streaming-replica harness (tests/src/replica.rs): a replica made by
//! `pg_basebackup` is in recovery and replays the primary's writes, and a
//! delayed one does not show a write before its apply delay.
//!
//! Routing reads to replicas (issue 22) is not implemented yet; these tests
//! pin the harness the routing tests will build on.

use std::time::{Duration, Instant};

use strata_tests::cluster::TestCluster;
use strata_tests::replica::TestReplica;

/// Polls `replica` until `select count(*) from t` is `want`; returns the wait.
async fn wait_count(replica: &tokio_postgres::Client, table: &str, want: i64) -> Duration {
    let start = Instant::now();
    loop {
        let got: Option<i64> = match replica
            .query_one(&format!("select count(*) from {table}"), &[])
            .await
        {
            Ok(row) => Some(row.get(0)),
            Err(_) => None, // the table itself may not have replayed yet
        };
        if got == Some(want) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "replica never caught up"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn replica_streams_and_delayed_replica_lags() {
    let primary = TestCluster::start();
    let live = TestReplica::start(&primary, None);
    let delayed = TestReplica::start(&primary, Some(Duration::from_millis(500)));
    let p = primary.admin().await;
    let r = live.admin().await;
    let d = delayed.admin().await;

    for (name, c) in [("live", &r), ("delayed", &d)] {
        let in_recovery: bool = c
            .query_one("select pg_is_in_recovery()", &[])
            .await
            .unwrap()
            .get(0);
        assert!(in_recovery, "the {name} replica is a standby");
    }
    let primary_recovery: bool = p
        .query_one("select pg_is_in_recovery()", &[])
        .await
        .unwrap()
        .get(0);
    assert!(!primary_recovery);

    p.batch_execute("create table harness_t (id int); insert into harness_t values (1)")
        .await
        .unwrap();
    let live_wait = wait_count(&r, "harness_t", 1).await;
    // Both waits start when the write returned.
    let delayed_wait = live_wait + wait_count(&d, "harness_t", 1).await;
    println!(
        "replica harness: live replica caught up in {live_wait:?}, delayed (500 ms) in {delayed_wait:?}"
    );
    // The delay is the promise under test: a replica that applied at once
    // would make the routing lag tests meaningless.
    assert!(
        delayed_wait >= Duration::from_millis(400),
        "the delayed replica showed the write after {delayed_wait:?}"
    );

    // A killed replica refuses connections; started again it resumes streaming.
    live.kill();
    assert!(
        tokio_postgres::connect(&live.url(), tokio_postgres::NoTls)
            .await
            .is_err()
    );
    live.start_again();
    p.batch_execute("insert into harness_t values (2)")
        .await
        .unwrap();
    let r = live.admin().await;
    wait_count(&r, "harness_t", 2).await;
}
