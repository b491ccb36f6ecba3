//! Killed backends: terminating every connection of the pool fails no
//! idempotent read and loses no write.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use strata::prelude::*;
use strata_tests::TestDb;

use super::Outcome;

async fn kill_every_backend(rounds: u32) {
    let app = format!("rel_kill_{:08x}", rand::random::<u32>());
    let t = {
        let app = app.clone();
        TestDb::with(move |c| c.pool_max(8).application_name(app)).await
    };
    t.execute("CREATE TABLE kv (id int PRIMARY KEY, v int NOT NULL)", &[])
        .await
        .unwrap();
    t.execute(
        "INSERT INTO kv SELECT g, g * 7 FROM generate_series(1, 100) g",
        &[],
    )
    .await
    .unwrap();
    t.execute("CREATE TABLE w (id bigint NOT NULL)", &[])
        .await
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let (reads, read_failed, wrong) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let first_error = Arc::new(Mutex::new(None::<String>));
    let mut readers = Vec::new();
    for _ in 0..16 {
        let (db, stop, reads, read_failed, wrong, first_error) = (
            t.db().clone(),
            stop.clone(),
            reads.clone(),
            read_failed.clone(),
            wrong.clone(),
            first_error.clone(),
        );
        readers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let id = rand::random_range(1..=100i32);
                match db
                    .query_read_one("SELECT v FROM kv WHERE id = $1", &[&id])
                    .await
                {
                    Ok(row) => {
                        reads.fetch_add(1, Ordering::Relaxed);
                        wrong.fetch_add(
                            u64::from(row.get::<_, i32>(0) != id * 7),
                            Ordering::Relaxed,
                        );
                    }
                    Err(e) => {
                        read_failed.fetch_add(1, Ordering::Relaxed);
                        first_error.lock().unwrap().get_or_insert(format!("{e:?}"));
                    }
                }
            }
        }));
    }
    let mut writers = Vec::new();
    for w in 0..2i64 {
        let (db, stop) = (t.db().clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let mut log = Vec::new();
            for n in 0.. {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let id = w * 1_000_000 + n;
                let outcome = match db.execute("INSERT INTO w VALUES ($1)", &[&id]).await {
                    Ok(_) => Outcome::Ok,
                    Err(Error::OutcomeUnknown { .. }) => Outcome::Unknown,
                    Err(_) => Outcome::Failed,
                };
                log.push((id, outcome));
            }
            log
        }));
    }
    let admin = strata_tests::admin().await;
    let mut recoveries = Vec::new();
    let mut killed = 0;
    let started = Instant::now();
    for _ in 0..rounds {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let n: i64 = admin
            .query_one(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
                &[&app],
            )
            .await
            .unwrap()
            .get(0);
        killed += n;
        let kill = Instant::now();
        let mut back = None;
        while kill.elapsed() < Duration::from_millis(500) {
            let live: i64 = admin
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
                    &[&app],
                )
                .await
                .unwrap()
                .get(0);
            if live >= 8 {
                back = Some(kill.elapsed());
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        recoveries.push(back);
        tokio::time::sleep(Duration::from_millis(500).saturating_sub(kill.elapsed())).await;
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.await.unwrap();
    }
    let mut log = Vec::new();
    for w in writers {
        log.extend(w.await.unwrap());
    }
    let rows: HashMap<i64, i64> = t
        .query("SELECT id, count(*) FROM w GROUP BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let (mut lost, mut duplicated, mut phantom, mut unknown) = (0, 0, 0, 0);
    for (id, outcome) in &log {
        let n = rows.get(id).copied().unwrap_or(0);
        duplicated += u32::from(n > 1);
        match outcome {
            Outcome::Ok => lost += u32::from(n == 0),
            Outcome::Failed => phantom += u32::from(n > 0),
            Outcome::Unknown => unknown += 1,
            Outcome::Declined => {}
        }
    }
    let slowest = recoveries
        .iter()
        .map(|r| r.unwrap_or(Duration::MAX))
        .max()
        .unwrap_or_default();
    println!(
        "kill every backend: rounds {rounds}, backends terminated {killed}, reads checked {}, failed reads {}, wrong reads {}, \
         writes {}, unknown {unknown}, lost {lost}, duplicated {duplicated}, phantom {phantom}, reads retried {}, \
         pool back to 8 after each kill {:?}, slowest {slowest:?}, time {:?}, first error {:?}",
        reads.load(Ordering::Relaxed),
        read_failed.load(Ordering::Relaxed),
        wrong.load(Ordering::Relaxed),
        log.len(),
        t.metrics().queries.reads_retried,
        recoveries,
        started.elapsed(),
        first_error.lock().unwrap()
    );
    assert_eq!(
        read_failed.load(Ordering::Relaxed),
        0,
        "an idempotent read failed"
    );
    assert_eq!(wrong.load(Ordering::Relaxed), 0);
    assert_eq!((lost, duplicated, phantom), (0, 0, 0));
    assert!(
        recoveries
            .iter()
            .all(|r| r.is_some_and(|d| d <= Duration::from_secs(1))),
        "pool not back to full size within 1 s of a kill: {recoveries:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_every_backend_fails_no_read_and_loses_no_write() {
    kill_every_backend(5).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "long: cargo test -p strata-tests --test it reliability -- --ignored"]
async fn killing_every_backend_long() {
    kill_every_backend(30).await;
}
