//! The Redis Cluster harness (tests/src/redis_cluster.rs): three masters
//! with a replica each, and a `CLUSTER FAILOVER` that swaps one pair.
//!
//! The cache's tests on a cluster are `cache_consistency::cluster` and the
//! suites CI runs again with `STRATA_TEST_REDIS=cluster`; this pins the
//! harness they use.

use strata::prelude::*;
use strata_tests::redis_cluster::TestRedisCluster;

use super::models::{PRODUCTS, Product, product};

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

/// A handle whose `REDIS_CLUSTER` does not match the server: cached reads
/// still work (from PostgreSQL), and health names the setting to change,
/// both ways round.
#[tokio::test]
async fn a_cluster_setting_that_does_not_match_the_server_is_named_in_health() {
    let cluster = tokio::task::spawn_blocking(TestRedisCluster::start)
        .await
        .unwrap();
    let node = cluster.urls()[0].clone();
    let standalone = strata_tests::TestRedis::start();
    for (url, cluster_mode, says) in [
        (node, false, "REDIS_CLUSTER=true"),
        (standalone.url(), true, "REDIS_CLUSTER=false"),
    ] {
        let t =
            strata_tests::TestDb::with(|c| c.redis_url(url.clone()).redis_cluster(cluster_mode))
                .await;
        t.execute(PRODUCTS, &[]).await.unwrap();
        Product::insert(t.db(), product(1)).await.unwrap();
        for _ in 0..3 {
            assert_eq!(Product::get_cached(t.db(), 1).await.unwrap().price, 100);
        }
        let report = t.health().await;
        println!("redis_cluster({cluster_mode}) on {url}: {:?}", report.redis);
        assert_eq!(report.redis.status, "down", "{report:?}");
        let error = report.redis.error.clone().unwrap_or_default();
        assert!(error.contains(says), "{error}");
    }
}
