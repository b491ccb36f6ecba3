//! The PostgreSQL breaker: how many failures open it, how many probes get
//! through while it is open, and an abandoned probe does not wedge it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use strata::BreakerState;
use strata::prelude::*;
use strata_tests::TestDb;
use strata_tests::proxy::{FaultProxy, Mode};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn breaker_counts_its_probes() {
    let t = TestDb::new().await;
    let proxy = FaultProxy::start("127.0.0.1:5432").await;
    let cooldown = Duration::from_millis(200);
    let db = Db::connect(
        t.config()
            .port(proxy.port())
            .pool_max(2)
            .retry_attempts(0)
            .breaker_threshold(3)
            .breaker_cooldown(cooldown),
    )
    .await
    .unwrap();
    db.query_read("SELECT 1", &[]).await.unwrap();
    proxy.set_mode(Mode::Reject);
    // Whether or not the client has seen the cut yet, each call below fails
    // once at connecting (a dead idle connection is retried as a read).
    proxy.cut_all();
    let before = proxy.accepted();
    let mut failures = 0;
    loop {
        match db.query_read("SELECT 1", &[]).await {
            Err(Error::CircuitOpen) => break,
            Err(_) => failures += 1,
            Ok(_) => panic!("the proxy rejects everything"),
        }
        assert!(failures < 10, "the breaker never opened");
    }
    let to_open = proxy.accepted() - before;
    // Open: four callers hammer it for ~1 s; only probes reach the network.
    let open_at = Instant::now();
    let before = proxy.accepted();
    let calls = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (db, calls) = (db.clone(), calls.clone());
        tasks.push(tokio::spawn(async move {
            while open_at.elapsed() < Duration::from_millis(1_000) {
                let _ = db.query_read("SELECT 1", &[]).await;
                calls.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let elapsed = open_at.elapsed();
    let probes = proxy.accepted() - before;
    // While open, a background probe connects once per probe interval (the
    // cool-down, at most 100 ms); calls never reach the network.
    let probe_interval = cooldown.min(Duration::from_millis(100));
    let intervals = u64::try_from(elapsed.as_millis() / probe_interval.as_millis()).unwrap();
    // Back: the next probe closes it, and its connection serves the next
    // call. A caller that gives up mid-call must not wedge the breaker.
    proxy.set_mode(Mode::Forward);
    let before = proxy.accepted();
    let _abandoned = tokio::time::timeout(Duration::ZERO, db.query_read("SELECT 1", &[])).await;
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match db.query_read("SELECT 1", &[]).await {
                Ok(_) => break,
                Err(Error::CircuitOpen) => tokio::time::sleep(Duration::from_millis(5)).await,
                Err(other) => panic!("{other:?}"),
            }
        }
    })
    .await
    .expect("the breaker closes once the server accepts");
    let closed = db.metrics().breaker;
    let to_close = proxy.accepted() - before;
    println!(
        "breaker: failures to open {failures} ({to_open} connects), while open {} calls in {elapsed:?}, probes {probes} \
         (probe intervals {intervals}), connects to close {to_close}, state after success {closed:?}",
        calls.load(Ordering::Relaxed)
    );
    assert_eq!(failures, 3);
    assert_eq!(to_open, 3);
    assert!(probes >= 1, "half-open never let a probe through");
    assert!(
        probes <= intervals + 1,
        "more than one probe per probe interval"
    );
    // One probe closes it; a probe the failing proxy had already accepted
    // when it switched to forwarding may land as well (seen once under the
    // full suite's load), so at most two connects, never one per call.
    assert!(
        to_close <= 2,
        "{to_close} connects to close: one probe closes it"
    );
    assert_eq!(closed, BreakerState::Closed);
    // The probe that closed it made a round trip on its new connection:
    // counted and traced like every other.
    assert!(
        db.metrics().round_trips.sent_of("probe") >= 1,
        "{:?}",
        db.metrics().round_trips
    );
}
