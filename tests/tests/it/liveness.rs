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
