//! One test per Redis outage mode; see the parent module for what each
//! measures and asserts.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use strata::prelude::*;
use strata_tests::TestRedis;
use strata_tests::proxy::{FaultProxy, Mode};

use super::Rig;
use crate::models::Product;

/// Writes during the outage (each may wait out the lease) and after it.
const OUTAGE_WRITES: u64 = 6;
const AFTER_WRITES: u64 = 10;

/// The outage's writes, then Redis comes back (`back`), then more writes;
/// reads sampled after each.
async fn outage_then(rig: &mut Rig, back: impl AsyncFnOnce(&mut Rig)) {
    rig.outage(true);
    let rounds = rig.rounds_for(OUTAGE_WRITES + AFTER_WRITES);
    for _ in 0..OUTAGE_WRITES {
        rig.write_and_sample(rounds).await;
    }
    back(rig).await;
    rig.outage(false);
    rig.sample(rounds).await;
    let rounds = rig.rounds_for(AFTER_WRITES);
    for _ in 0..AFTER_WRITES {
        rig.write_and_sample(rounds).await;
    }
}

/// Redis killed (under a reader's `get_cached`, which never fails), writes
/// while it is down, then it is started again, empty.
#[tokio::test]
async fn redis_down_serves_no_stale_row() {
    let mut redis = TestRedis::start();
    let url = redis.url();
    let mut rig = Rig::new(&url, &[&url, &url]).await;
    // A reader hammers get_cached while Redis dies under it.
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let hammer = {
        let (db, stop, errors) = (rig.readers[0].clone(), stop.clone(), errors.clone());
        tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let id = i64::try_from(n).unwrap() % super::ROWS;
                if Product::get_cached(&db, id).await.is_err() {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
                n += 1;
            }
            n
        })
    };
    tokio::task::yield_now().await;
    redis.kill();
    outage_then(&mut rig, async |rig: &mut Rig| {
        stop.store(true, Ordering::Relaxed);
        redis.restart();
        rig.sample(1).await;
    })
    .await;
    let hammered = hammer.await.unwrap();
    println!(
        "redis down: {hammered} reads under the kill, {} failed",
        errors.load(Ordering::Relaxed)
    );
    assert_eq!(
        errors.load(Ordering::Relaxed),
        0,
        "reads failed while redis died"
    );
    rig.sample(1).await;
    rig.report("redis down");
}

/// Redis killed and at once started again, empty: the readers' L1 copies
/// and subscriptions are from before.
#[tokio::test]
async fn redis_restarted_empty_serves_no_stale_row() {
    let mut redis = TestRedis::start();
    let url = redis.url();
    let mut rig = Rig::new(&url, &[&url, &url]).await;
    redis.kill();
    redis.restart();
    outage_then(&mut rig, async |_: &mut Rig| {}).await;
    rig.report("redis restarted empty");
}

/// Redis saved its data, then writes invalidated (and acknowledged) rows,
/// then it died and came back from the dump file, with the entries those
/// writes had retired. Fresh processes start meanwhile.
#[tokio::test]
async fn redis_restarted_with_old_data_serves_no_stale_row() {
    let mut redis = TestRedis::start_persistent();
    let url = redis.url();
    let mut rig = Rig::new(&url, &[&url, &url]).await;
    redis.save();
    let rounds = rig.rounds_for(OUTAGE_WRITES + AFTER_WRITES);
    for _ in 0..OUTAGE_WRITES {
        rig.write_and_sample(rounds).await;
    }
    redis.kill();
    redis.restart();
    // A process that starts now knows nothing of the writes before.
    rig.add_reader(&url).await;
    rig.add_reader(&url).await;
    outage_then(&mut rig, async |_: &mut Rig| {}).await;
    rig.report("redis restarted with old data");
}

/// Redis frozen (SIGSTOP: connections open, nothing answers) while writes
/// go on, then resumed; it runs the queued commands late.
#[tokio::test]
async fn redis_paused_serves_no_stale_row() {
    let redis = TestRedis::start();
    let url = redis.url();
    let mut rig = Rig::new(&url, &[&url, &url]).await;
    redis.freeze();
    outage_then(&mut rig, async |rig: &mut Rig| {
        redis.thaw();
        rig.sample(1).await;
    })
    .await;
    rig.report("redis paused");
}

/// One reader reaches Redis through a proxy that black-holes it (its
/// connections stay open, nothing arrives), then cuts it; the writer and
/// the other reader see a healthy Redis throughout.
#[tokio::test]
async fn redis_partitioned_from_one_process_serves_no_stale_row() {
    let redis = TestRedis::start();
    let url = redis.url();
    let proxy = FaultProxy::start_raw(&format!("127.0.0.1:{}", redis.port())).await;
    let cut_off = format!("redis://127.0.0.1:{}", proxy.port());
    let mut rig = Rig::new(&url, &[&cut_off, &url]).await;
    proxy.set_mode(Mode::Stall);
    outage_then(&mut rig, async |rig: &mut Rig| {
        proxy.cut_all();
        rig.write_and_sample(1).await;
        proxy.set_mode(Mode::Forward);
    })
    .await;
    rig.report("redis partitioned from one process");
}

/// Every handle reaches Redis through one address (a proxy). The primary
/// has a replica that stops receiving (frozen) while writes invalidate
/// rows on the primary; the primary dies, the replica is promoted and the
/// address points at it: it holds the entries those writes retired.
#[tokio::test]
async fn redis_failed_over_serves_no_stale_row() {
    let mut primary = TestRedis::start();
    let replica = TestRedis::start();
    replica.replicate(&primary);
    let proxy = FaultProxy::start_raw(&format!("127.0.0.1:{}", primary.port())).await;
    let url = format!("redis://127.0.0.1:{}", proxy.port());
    let mut rig = Rig::new(&url, &[&url, &url]).await;
    replica.freeze();
    let rounds = rig.rounds_for(OUTAGE_WRITES + AFTER_WRITES);
    for _ in 0..OUTAGE_WRITES {
        rig.write_and_sample(rounds).await;
    }
    primary.kill();
    replica.thaw();
    replica.promote();
    proxy.retarget(&format!("127.0.0.1:{}", replica.port()));
    proxy.cut_all();
    rig.add_reader(&url).await;
    outage_then(&mut rig, async |_: &mut Rig| {}).await;
    rig.report("redis failed over");
}
