//! The cache's promise on a Redis Cluster of the test's own (three
//! masters, a replica each; `strata_tests::redis_cluster`), through a
//! master failover: the writer and two readers are separate handles on the
//! cluster; every read is checked against the last price written.

use std::sync::Arc;
use std::time::{Duration, Instant};

use strata_tests::redis_cluster::TestRedisCluster;

use strata::prelude::*;

use super::Rig;

/// Writes before the failover and after it.
const BEFORE_WRITES: u64 = 6;
const AFTER_WRITES: u64 = 10;

/// The cache epoch now (see the runtime's `lease/`).
async fn epoch(rig: &Rig) -> i64 {
    let admin = strata_tests::admin().await;
    let sql = format!(
        "SELECT epoch FROM \"{}\".strata_cache_epoch",
        rig.t.schema()
    );
    admin.query_one(&sql, &[]).await.unwrap().get(0)
}

/// The master holding the products table's entries under the current epoch.
async fn master_of_products(cluster: &TestRedisCluster, rig: &Rig) -> u16 {
    let pattern = format!("*:e{}:\"products\"}}*", epoch(rig).await);
    cluster
        .masters()
        .into_iter()
        .find(|&m| cluster.holds(m, &pattern))
        .expect("a master holds the products entries")
}

/// The rig on a fresh cluster, with every handle naming every node, and
/// a third reader without L1 (so reads reach L2 whatever L1 holds).
async fn rig_on(cluster: &TestRedisCluster) -> Rig {
    let urls = cluster.urls().join(",");
    let mut rig = Rig::new(&urls, &[&urls, &urls]).await;
    let config = super::tuned(rig.t.config(), &urls).cache_l1_capacity(0);
    rig.readers.push(Db::connect(config).await.unwrap());
    rig.sample(1).await;
    // Not vacuous: the entries are in the cluster.
    master_of_products(cluster, &rig).await;
    rig
}

/// Runs `round` until `done`, at most `bound`; how long it took.
async fn until(
    rig: &mut Rig,
    bound: Duration,
    done: impl Fn() -> bool,
    mut round: impl AsyncFnMut(&mut Rig),
) -> Duration {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < bound, "not done within {bound:?}");
        round(rig).await;
    }
    started.elapsed()
}

/// The master of the products entries is killed while its replica is cut
/// off: writes invalidate on the master (each confirmed by every process,
/// so no epoch is bumped), the replica never gets them, and is promoted
/// holding the entries those writes retired.
/// Nothing is written until it serves; reads run throughout (through
/// `get_cached`, which falls through to PostgreSQL while the slot has no
/// master), and after. Only the check of the promoted node's identity
/// retires those entries: with it disabled, this test sees stale reads.
#[tokio::test]
async fn a_master_killed_and_a_stale_replica_promoted_serves_no_stale_row() {
    let mut cluster = Arc::new(TestRedisCluster::start());
    let mut rig = rig_on(&cluster).await;
    let master = master_of_products(&cluster, &rig).await;
    let replica = cluster.replica_of(master).expect("the master's replica");
    let rounds = rig.rounds_for(BEFORE_WRITES * 2 + AFTER_WRITES);
    // Off the runtime: the handles' leases keep confirming meanwhile.
    let cut = tokio::task::spawn_blocking({
        let cluster = cluster.clone();
        move || cluster.cut_replication(replica)
    });
    until(
        &mut rig,
        Duration::from_secs(30),
        || cut.is_finished(),
        async |rig: &mut Rig| rig.sample(1).await,
    )
    .await;
    cut.await.expect("replication cut");
    // Let every lease confirm once since (a stall would retire the writes).
    tokio::time::sleep(super::LEASE).await;
    let before = epoch(&rig).await;
    for _ in 0..BEFORE_WRITES {
        rig.write_and_sample(rounds).await;
    }
    assert_eq!(
        epoch(&rig).await,
        before,
        "the writes were confirmed, not retired"
    );
    assert_eq!(master_of_products(&cluster, &rig).await, master);
    rig.outage(true);
    Arc::get_mut(&mut cluster).expect("one owner").kill(master);
    let took = until(
        &mut rig,
        Duration::from_secs(30),
        || cluster.serves(replica),
        async |rig: &mut Rig| rig.sample(1).await,
    )
    .await;
    rig.outage(false);
    let l2_hits = |rig: &Rig| {
        rig.readers
            .iter()
            .map(|db| db.metrics().cache.l2_hits)
            .sum::<u64>()
    };
    let hits_before = l2_hits(&rig);
    rig.sample(rounds).await;
    // The readers lost their subscription with the master: they trust the
    // cache again only after a confirmation (and half a lease more), and
    // read the map again at most every 100 ms. So read on until the
    // promoted node has served (every read is still checked), bounded.
    let settle = Instant::now();
    let (hits, after) = loop {
        let seen = (l2_hits(&rig) - hits_before, epoch(&rig).await);
        if (seen.0 > 0 && seen.1 > before) || settle.elapsed() > Duration::from_secs(30) {
            break seen;
        }
        rig.sample(1).await;
    };
    println!(
        "redis cluster: {replica} promoted {took:?} after its master was killed; \
         epoch {before} -> {after}; {hits} L2 hits in the {:?} since",
        settle.elapsed()
    );
    // Not vacuous: the promoted node was read, under a new epoch.
    assert!(hits > 0, "no L2 hit after the promotion");
    assert!(after > before, "the promoted node did not retire the epoch");
    for _ in 0..AFTER_WRITES {
        rig.write_and_sample(rounds).await;
    }
    rig.report("redis cluster master killed, stale replica promoted");
}

/// `CLUSTER FAILOVER` hands the products entries' master over to its
/// replica, and back again (a failback: the old master, still holding its
/// old run id, serves again), under writes and reads.
#[tokio::test]
async fn a_failover_and_a_failback_serve_no_stale_row() {
    let cluster = Arc::new(TestRedisCluster::start());
    let mut rig = rig_on(&cluster).await;
    let master = master_of_products(&cluster, &rig).await;
    let replica = cluster.replica_of(master).expect("the master's replica");
    let rounds = rig.rounds_for(BEFORE_WRITES * 3 + AFTER_WRITES);
    for (from, to) in [(master, replica), (replica, master)] {
        for _ in 0..BEFORE_WRITES {
            rig.write_and_sample(rounds).await;
        }
        rig.outage(true);
        let handover = tokio::task::spawn_blocking({
            let cluster = cluster.clone();
            move || cluster.failover(to)
        });
        let took = until(
            &mut rig,
            Duration::from_secs(40),
            || handover.is_finished(),
            async |rig: &mut Rig| rig.write_and_sample(rounds).await,
        )
        .await;
        handover.await.expect("the failover");
        assert!(!cluster.serves(from), "{from} was demoted");
        println!("redis cluster: {to} took over from {from} in {took:?}");
        rig.outage(false);
    }
    for _ in 0..AFTER_WRITES {
        rig.write_and_sample(rounds).await;
    }
    rig.report("redis cluster failover and failback");
}
