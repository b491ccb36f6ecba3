//! Reads spread over a primary and one streaming replica (issue 22): 8
//! tasks doing `BenchUser::get`, on a `Db` with `replica_primary_reads`
//! (the primary and the replica take turns), on one whose replica takes
//! every read, and on the primary alone (the baseline), with hand-written
//! tokio-postgres on the primary beside them. No writes run, so every
//! read may use the replica.
//!
//! The servers are a test-owned primary and a `pg_basebackup` replica
//! (`strata_tests`' harness), on the same machine as the benchmark: they
//! share its cores, so the figure shows the routing's cost and what a
//! second server gains on this box, not on separate hosts. The table is
//! logged: an unlogged one does not reach a replica.

use std::sync::Arc;
use std::time::{Duration, Instant};

use strata::{Config, Db};
use strata_tests::cluster::TestCluster;
use strata_tests::replica::TestReplica;

use crate::batched::Gets;
use crate::harness::{BoxError, Budget, Case, Contender, Op};
use crate::raw::Raw;

/// Tasks in the case.
const TASKS: usize = 8;

/// The servers, kept until the benchmark ends.
#[allow(dead_code)] // held for their `Drop`
pub(crate) struct Servers {
    primary: TestCluster,
    replica: TestReplica,
}

impl std::fmt::Debug for Servers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Servers").finish_non_exhaustive()
    }
}

/// Starts the primary and its replica, seeds the primary (logged) and
/// waits until the replica serves; returns the case.
pub(crate) async fn case(pool: usize, budget: Budget) -> Result<(Case, Servers), BoxError> {
    let primary = TestCluster::start();
    let url = primary.url();
    crate::seed::recreate(&url, true).await?;
    let replica = TestReplica::start(&primary, None);
    let base = Config::from_url(&url)?.pool_max(pool);
    let alone = Db::connect(base.clone()).await?;
    let spread = Db::connect(
        base.clone()
            .replica_url(replica.url())
            .replica_primary_reads(true),
    )
    .await?;
    let offloaded = Db::connect(base.replica_url(replica.url())).await?;
    for db in [&spread, &offloaded] {
        let started = Instant::now();
        while !db.replicas().first().is_some_and(|r| r.caught_up) {
            if started.elapsed() > Duration::from_secs(30) {
                return Err(format!("the replica never served: {:?}", db.replicas()).into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let raw: Arc<dyn Contender> = Arc::new(Raw::connect(&url, pool).await?);
    let contenders: Vec<Arc<dyn Contender>> = vec![
        Arc::new(Gets {
            db: alone,
            name: "primary alone",
        }),
        Arc::new(Gets {
            db: spread,
            name: "primary + replica",
        }),
        Arc::new(Gets {
            db: offloaded,
            name: "replica only",
        }),
        raw,
    ];
    let case = Case {
        label: format!("replica get c={TASKS}"),
        op: Op::Get,
        concurrency: TASKS,
        budget,
        baseline: "primary alone".into(),
        contenders,
    };
    Ok((case, Servers { primary, replica }))
}
