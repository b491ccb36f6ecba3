//! A server restart under load: the breaker fails calls fast while the
//! server is down, and the first calls after it is back succeed.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use strata::BreakerState;
use strata::prelude::*;
use strata_tests::cluster::TestCluster;
use strata_tests::proxy::FaultProxy;

use super::{Outcome, cluster_db};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn restart_under_load_recovers_fast_and_fails_fast_meanwhile() {
    let _exclusive = TestCluster::exclusive().await;
    let cluster = TestCluster::shared();
    let proxy = FaultProxy::start(&cluster.addr()).await;
    let app = format!("rel_restart_{:08x}", rand::random::<u32>());
    let cooldown = Duration::from_millis(300);
    let db = cluster_db(cluster, &proxy, &app, |c| {
        c.pool_max(4)
            .breaker_threshold(3)
            .breaker_cooldown(cooldown)
            .connect_timeout(Duration::from_millis(500))
    })
    .await;
    db.execute("CREATE TABLE w (id bigint NOT NULL)", &[])
        .await
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    // (start, end, ok, circuit open, id if a write)
    type Call = (Instant, Instant, bool, bool, Option<(i64, Outcome)>);
    let mut tasks = Vec::new();
    for w in 0..4i64 {
        let (db, stop) = (db.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut calls: Vec<Call> = Vec::new();
            for n in 0.. {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let start = Instant::now();
                let (result, write) = if n % 2 == 0 {
                    let id = w * 1_000_000 + n;
                    let r = db
                        .execute("INSERT INTO w VALUES ($1)", &[&id])
                        .await
                        .map(|_| ());
                    let outcome = match &r {
                        Ok(()) => Outcome::Ok,
                        Err(Error::OutcomeUnknown { .. }) => Outcome::Unknown,
                        Err(_) => Outcome::Failed,
                    };
                    (r, Some((id, outcome)))
                } else {
                    (db.query_read("SELECT 1", &[]).await.map(|_| ()), None)
                };
                let end = Instant::now();
                let open = matches!(result, Err(Error::CircuitOpen));
                calls.push((start, end, result.is_ok(), open, write));
                if result.is_err() {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            }
            calls
        }));
    }
    // When the breaker first leaves `Closed`.
    let watch = {
        let (db, stop) = (db.clone(), stop.clone());
        tokio::spawn(async move {
            let mut open_since = None;
            while !stop.load(Ordering::Relaxed) {
                if open_since.is_none() && db.metrics().breaker != BreakerState::Closed {
                    open_since = Some(Instant::now());
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            open_since
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    // A thread that sees the server go down, then come up.
    let port = cluster.port();
    let updown = std::thread::spawn(move || {
        let connects = || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
        while connects() {
            std::thread::sleep(Duration::from_millis(1));
        }
        let down = Instant::now();
        while !connects() {
            std::thread::sleep(Duration::from_millis(1));
        }
        (down, Instant::now())
    });
    let accepts_before = proxy.accepted();
    let restart_began = Instant::now();
    tokio::task::spawn_blocking(|| TestCluster::shared().restart())
        .await
        .unwrap();
    let (down, up) = updown.join().unwrap();
    let accepts_at_up = proxy.accepted();
    let restart_for = restart_began.elapsed();
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    stop.store(true, Ordering::Relaxed);
    let open_since = watch.await.unwrap();
    let mut calls = Vec::new();
    for task in tasks {
        calls.extend(task.await.unwrap());
    }
    let first_success = calls
        .iter()
        .filter(|c| c.2 && c.1 > up)
        .map(|c| c.1 - up)
        .min();
    let mut fast: Vec<Duration> = calls.iter().filter(|c| c.3).map(|c| c.1 - c.0).collect();
    fast.sort();
    let p99 = fast.get(fast.len() * 99 / 100).copied().unwrap_or_default();
    let fast_max = fast.last().copied().unwrap_or_default();
    // Accepts while down: at most the failures that open the breaker plus
    // one background probe per probe interval (the cool-down, at most
    // 100 ms) over the whole restart (the server refuses connections while
    // it shuts down and starts, not only while its port is closed).
    let down_for = up - down;
    let probe_interval = cooldown.min(Duration::from_millis(100));
    // (The pool's own dead idle connections and the failures that open the
    // breaker come first: pool size + threshold.)
    let allowed =
        4 + 3 + u64::try_from(restart_for.as_millis() / probe_interval.as_millis()).unwrap() + 1;
    let accepts_down = accepts_at_up - accepts_before;
    let rows: HashMap<i64, i64> = db
        .query("SELECT id, count(*) FROM w GROUP BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let writes: Vec<(i64, Outcome)> = calls.iter().filter_map(|c| c.4).collect();
    let lost = writes
        .iter()
        .filter(|(id, o)| *o == Outcome::Ok && !rows.contains_key(id))
        .count();
    let duplicated = rows.values().filter(|n| **n > 1).count();
    println!(
        "restart: calls {}, ok {}, down for {down_for:?}, breaker opened {:?} after down, fail-fast calls {} (p99 {p99:?}, max {fast_max:?}), \
         proxy accepts while down {accepts_down} (allowed {allowed}), first success {first_success:?} after up, \
         acknowledged writes {}, lost {lost}, duplicated {duplicated}",
        calls.len(),
        calls.iter().filter(|c| c.2).count(),
        open_since.map(|o| o.saturating_duration_since(down)),
        fast.len(),
        writes.iter().filter(|w| w.1 == Outcome::Ok).count(),
    );
    assert!(
        !fast.is_empty(),
        "the breaker never failed a call fast while the server was down"
    );
    // Failing fast is an event, not a figure (p99 above is printed for the
    // record): while down, the calls the breaker refused made no connect,
    // so the network saw far fewer attempts than there were calls.
    assert!(
        fast.len() as u64 > 2 * accepts_down,
        "{} fail-fast calls for {accepts_down} connects while down",
        fast.len()
    );
    assert!(
        accepts_down <= allowed,
        "{accepts_down} connects while down, allowed {allowed}"
    );
    assert!(
        first_success.is_some(),
        "no call succeeded after the server came back"
    );
    assert_eq!((lost, duplicated), (0, 0));
}
