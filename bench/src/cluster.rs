//! L2 hits on a Redis Cluster (issue 22): 8 tasks doing
//! `CachedUser::get_cached` with the in-process tier off, on a test-owned
//! cluster (three masters, a replica each; `strata_tests::redis_cluster`)
//! and on the standalone Redis beside it, with a hand-written `GET` of the
//! very entry on each and hand-written tokio-postgres (the read the cache
//! saves) in the same run.
//!
//! A table's entries share one hash tag (its invalidation is one slot's
//! business), so one table's hits all go to one master: the figure is the
//! routing's cost, not a spread over three. The cluster's six processes
//! share this machine's cores with PostgreSQL and the benchmark.

use std::sync::Arc;

use strata::{CachedModelExt, Config, Db};
use strata_tests::redis_cluster::TestRedisCluster;

use crate::derived::{CachedUser, Strata};
use crate::harness::{BoxError, BoxFut, Budget, Case, Contender, Op, OpResult, WARM_IDS, warm_id};
use crate::redis_raw::{RedisGet, row_prefix};

/// Tasks in the case.
const TASKS: usize = 8;

/// `get_cached` on a handle without L1: every hit is an L2 hit.
struct L2Gets {
    db: Db,
    name: &'static str,
}

impl Contender for L2Gets {
    fn name(&self) -> &str {
        self.name
    }

    fn supports(&self, op: Op) -> bool {
        op == Op::CachedL2
    }

    fn run(&self, _op: Op, arg: u64) -> BoxFut<'_, OpResult> {
        Box::pin(async move {
            drop(CachedUser::get_cached(&self.db, warm_id(arg)).await?);
            Ok(())
        })
    }
}

/// Another contender's `Get` in a cached-read case: what a cache hit saves.
struct Uncached(Arc<dyn Contender>);

impl Contender for Uncached {
    fn name(&self) -> &str {
        self.0.name()
    }

    fn supports(&self, op: Op) -> bool {
        op == Op::CachedL2
    }

    fn run(&self, _op: Op, arg: u64) -> BoxFut<'_, OpResult> {
        self.0.run(Op::Get, arg)
    }
}

/// The cluster, kept until the benchmark ends (for its `Drop`).
#[derive(Debug)]
pub(crate) struct Servers(#[allow(dead_code)] TestRedisCluster);

/// Starts the cluster, fills it through a handle without L1 and finds the
/// master holding the entries; returns the case. `standalone` is the
/// benchmark's L2 handle on the standalone Redis at `redis` (already
/// warmed), `raw` the tokio-postgres contender.
pub(crate) async fn case(
    url: &str,
    pool: usize,
    strata: &Strata,
    (redis, prefix): (&str, &str),
    raw: Arc<dyn Contender>,
    budget: Budget,
) -> Result<(Case, Servers), BoxError> {
    // Off the runtime: the other handles' leases keep confirming meanwhile.
    let cluster = tokio::task::spawn_blocking(TestRedisCluster::start).await?;
    // A prefix of its own: one prefix's lease names one Redis deployment.
    let cluster_prefix = format!("{prefix}:cluster");
    let config = Config::from_url(url)?
        .pool_max(pool)
        .redis_url(cluster.urls().join(","))
        .redis_cluster(true)
        .cache_prefix(&cluster_prefix)
        .cache_l1_capacity(0);
    let on_cluster = Db::connect(config).await?;
    for id in 1..=i64::try_from(WARM_IDS)? {
        CachedUser::get_cached(&on_cluster, id).await?;
    }
    let mut node = None;
    for port in cluster.masters() {
        let node_url = format!("redis://127.0.0.1:{port}");
        if let Some(keys) = row_prefix(&node_url, &cluster_prefix).await? {
            node = Some((node_url, keys));
        }
    }
    let (node_url, node_keys) = node.ok_or("no master holds the L2 entry for id 1")?;
    let standalone_keys = row_prefix(redis, prefix)
        .await?
        .ok_or("no L2 entry for id 1 on the standalone Redis")?;
    let contenders: Vec<Arc<dyn Contender>> = vec![
        Arc::new(L2Gets {
            db: on_cluster,
            name: "strata cluster",
        }),
        Arc::new(
            RedisGet::connect(&node_url, node_keys)
                .await?
                .named("GET cluster node"),
        ),
        Arc::new(L2Gets {
            db: strata.l2.clone(),
            name: "strata standalone",
        }),
        Arc::new(RedisGet::connect(redis, standalone_keys).await?),
        Arc::new(Uncached(raw)),
    ];
    let case = Case {
        label: format!("cluster get_cached c={TASKS}"),
        op: Op::CachedL2,
        concurrency: TASKS,
        budget,
        baseline: "GET cluster node".into(),
        contenders,
    };
    Ok((case, Servers(cluster)))
}
