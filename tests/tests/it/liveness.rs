//! Liveness: a loop of cache hits lets other tasks run, and the breaker
//! closes as soon as PostgreSQL accepts connections again.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use strata::prelude::*;
use strata_tests::TestDb;

use super::models::*;

/// On a current-thread runtime, nothing else runs unless the running task
/// yields. A loop of L1 hits never awaited anything that could be pending,
/// so a timer or a spawned task starved for as long as the loop ran.
#[tokio::test(flavor = "current_thread")]
async fn a_loop_of_l1_hits_lets_other_tasks_run() {
    let t = TestDb::new().await;
    t.execute(PRODUCTS, &[]).await.unwrap();
    Product::insert(t.db(), product(1)).await.unwrap();
    Product::insert(t.db(), product(2)).await.unwrap();
    Product::get_cached(t.db(), 1).await.unwrap();
    Product::find_many_cached(t.db(), &[1, 2]).await.unwrap();
    let before = t.metrics().cache.l1_hits;

    let ticks = Arc::new(AtomicU64::new(0));
    let ticker = {
        let ticks = ticks.clone();
        tokio::spawn(async move {
            loop {
                ticks.fetch_add(1, Ordering::Relaxed);
                tokio::task::yield_now().await;
            }
        })
    };
    for _ in 0..20_000 {
        Product::get_cached(t.db(), 1).await.unwrap();
    }
    let after_get = ticks.load(Ordering::Relaxed);
    for _ in 0..20_000 {
        Product::find_many_cached(t.db(), &[1, 2]).await.unwrap();
    }
    let after_many = ticks.load(Ordering::Relaxed);
    ticker.abort();
    assert_eq!(
        t.metrics().cache.l1_hits - before,
        20_000 + 40_000,
        "every read was an L1 hit"
    );
    assert!(
        after_get > 0,
        "the spawned task never ran during get_cached hits"
    );
    assert!(
        after_many > after_get,
        "the spawned task never ran during find_many_cached hits"
    );
}

/// Recovery follows the server, not the cool-down: with a 30 s cool-down,
/// the old breaker refused every call for 30 s after PostgreSQL came back.
/// Now a background probe (one connect at a time, every ≤ 100 ms) closes it
/// as soon as the server accepts, while calls fail fast meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_breaker_closes_once_postgres_accepts_not_after_its_cooldown() {
    use std::time::Duration;
    use strata::BreakerState;
    use strata_tests::cluster::TestCluster;
    use strata_tests::proxy::FaultProxy;

    let _exclusive = TestCluster::exclusive().await;
    let cluster = TestCluster::shared();
    let proxy = FaultProxy::start(&cluster.addr()).await;
    let schema = format!("live_{:08x}", rand::random::<u32>());
    cluster
        .admin()
        .await
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .await
        .unwrap();
    let db = Db::connect(
        cluster
            .config()
            .port(proxy.port())
            .search_path(schema)
            .pool_max(2)
            .retry_attempts(0)
            .breaker_threshold(2)
            .breaker_cooldown(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(1)),
    )
    .await
    .unwrap();
    db.query_read("SELECT 1", &[]).await.unwrap();

    tokio::task::spawn_blocking(|| TestCluster::shared().stop("fast"))
        .await
        .unwrap();
    let mut failures = 0;
    loop {
        match db.query_read("SELECT 1", &[]).await {
            Err(Error::CircuitOpen) => break,
            Err(_) => failures += 1,
            Ok(_) => panic!("the server is stopped"),
        }
        assert!(failures < 10, "the breaker never opened");
    }
    // Down: calls fail fast, and only the probe reaches the network.
    for _ in 0..100 {
        assert!(matches!(
            db.query_read("SELECT 1", &[]).await,
            Err(Error::CircuitOpen)
        ));
    }
    let accepted_down = proxy.accepted();

    tokio::task::spawn_blocking(|| TestCluster::shared().start_again())
        .await
        .unwrap();
    // The server accepts connections (a raw connect works) ...
    cluster
        .admin()
        .await
        .simple_query("SELECT 1")
        .await
        .unwrap();
    let accepted_up = proxy.accepted();
    // ... so the breaker must close long before its 30 s cool-down.
    let mut refused = 0u32;
    let recovered = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match db.query_read("SELECT 1", &[]).await {
                Ok(_) => break,
                Err(Error::CircuitOpen) => refused += 1,
                Err(other) => panic!("{other:?}"),
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    let probes_to_close = proxy.accepted() - accepted_up;
    println!(
        "breaker recovery: {failures} failures to open, proxy accepts while down {accepted_down}, \
         {refused} calls refused after the server accepted, {probes_to_close} connects to close"
    );
    assert!(
        recovered.is_ok(),
        "the breaker still refused calls 10 s after the server accepted (cool-down 30 s)"
    );
    assert_eq!(db.metrics().breaker, BreakerState::Closed);
    assert!(
        probes_to_close <= 3,
        "closing took {probes_to_close} connects: the probe runs one at a time"
    );
}
