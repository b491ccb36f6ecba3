//! Mixed faults: the bank under killed backends, cut COMMITs and a server
//! restart never loses, duplicates or invents a transfer.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use strata::prelude::*;
use strata_tests::cluster::TestCluster;
use strata_tests::proxy::{CommitCut, FaultProxy};

use super::bank::{assert_ledger, audit, create_bank, figures, run_bank};
use super::{Outcome, cluster_db};

/// Terminates the backends of `app` on `cluster` (all, or one at random);
/// returns how many. Errors (the server restarting) count as 0.
async fn terminate(cluster: &TestCluster, app: &str, all: bool) -> u64 {
    let Ok((client, conn)) = tokio_postgres::connect(&cluster.url(), tokio_postgres::NoTls).await
    else {
        return 0;
    };
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let sql = if all {
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1"
    } else {
        "SELECT count(pg_terminate_backend(pid)) FROM (SELECT pid FROM pg_stat_activity \
         WHERE application_name = $1 ORDER BY random() LIMIT 1) p"
    };
    client
        .query_one(sql, &[&app])
        .await
        .map(|r| u64::try_from(r.get::<_, i64>(0)).unwrap_or(0))
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bank_under_faults_never_loses_or_duplicates() {
    let _exclusive = TestCluster::exclusive().await;
    let cluster = TestCluster::shared();
    let proxy = FaultProxy::start(&cluster.addr()).await;
    let app = format!("rel_faults_{:08x}", rand::random::<u32>());
    let db = cluster_db(cluster, &proxy, &app, |c| {
        c.pool_max(8).breaker_cooldown(Duration::from_millis(200))
    })
    .await;
    create_bank(&db, 10, 1_000).await;
    let stop = Arc::new(AtomicBool::new(false));
    let bank = {
        let (db, stop) = (db.clone(), stop.clone());
        tokio::spawn(async move {
            run_bank(
                &db,
                8,
                100,
                TxOptions::serializable().max_retries(30),
                10,
                10_000,
                Some(stop),
            )
            .await
        })
    };
    let started = Instant::now();
    let (mut killed, mut restarted_at) = (0, None);
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    for n in 1..=12u32 {
        tick.tick().await;
        killed += terminate(cluster, &app, false).await;
        if n % 4 == 0 {
            proxy.cut_next_commit(if n % 8 == 0 {
                CommitCut::Before
            } else {
                CommitCut::After
            });
        }
        if n == 6 {
            tokio::task::spawn_blocking(|| TestCluster::shared().restart())
                .await
                .unwrap();
            restarted_at = Some(Instant::now());
        }
    }
    // Let the armed cuts land before the workload stops (polled, bounded).
    let deadline = Instant::now() + Duration::from_secs(3);
    while proxy.commits_cut() < 3 && Instant::now() < deadline {
        // The poll's interval, not a synchronisation.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    proxy.disarm_commit_cuts();
    stop.store(true, Ordering::Relaxed);
    let (log, reads) = bank.await.unwrap();
    let restarted_at = restarted_at.unwrap();
    let recovered = log
        .iter()
        .filter(|t| t.outcome == Outcome::Ok && t.done > restarted_at)
        .map(|t| t.done - restarted_at)
        .min();
    let l = audit(&db, &log, 10, 1_000).await;
    figures(
        "bank under faults",
        &reads,
        &l,
        &db,
        &format!(
            ", backends terminated {killed}, commits cut {}, restarts 1, time to recover {recovered:?}, time {:?}",
            proxy.commits_cut(),
            started.elapsed()
        ),
    );
    assert_ledger(&reads, &l);
    // Armed: After at ticks 4 and 12, Before at tick 8.
    assert_eq!(proxy.commits_cut(), 3, "an armed COMMIT cut never landed");
    assert!(
        l.unknown >= proxy.commits_cut(),
        "every cut COMMIT must surface as OutcomeUnknown"
    );
    // OutcomeUnknown is a "maybe": the server holds the answer, and the
    // audit reads it. Both COMMITs cut after sending committed; the one cut
    // before rolled back (other unknowns, from kills, may add to either).
    assert!(
        l.unknown_applied >= 2,
        "a COMMIT cut after it was sent did not commit: {l:?}"
    );
    assert!(
        l.unknown - l.unknown_applied >= 1,
        "the COMMIT cut before it was sent committed: {l:?}"
    );
    assert!(
        l.ok > 0 && recovered.is_some(),
        "no transfer succeeded after the restart"
    );
}
