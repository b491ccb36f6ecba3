//! The Redis Cluster harness (tests/src/redis_cluster.rs): three masters
//! with a replica each, and a `CLUSTER FAILOVER` that swaps one pair.
//!
//! The cache's tests on a cluster are `cache_consistency::cluster` and the
//! suites CI runs again with `STRATA_TEST_REDIS=cluster`; this pins the
//! harness they use.

use strata_tests::redis_cluster::TestRedisCluster;

#[test]
fn three_masters_one_replica_each_and_failover() {
    let cluster = TestRedisCluster::start();
    let masters = cluster.masters();
    let replicas = cluster.replicas();
    println!("redis cluster: masters {masters:?}, replicas {replicas:?}");
    assert_eq!(masters.len(), 3, "three masters");
    assert_eq!(replicas.len(), 3, "one replica per master");

    let promoted = replicas[0];
    cluster.failover(promoted);
    let after = cluster.masters();
    println!("after CLUSTER FAILOVER on {promoted}: masters {after:?}");
    assert!(after.contains(&promoted), "the replica was promoted");
    assert_eq!(after.len(), 3, "still three masters");
}
