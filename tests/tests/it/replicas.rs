//! Read replicas (issue 22), on one test-owned primary with two streaming
//! replicas started by `pg_basebackup` (tests/src/replica.rs): one that
//! replays at once and one delayed by 500 ms. Each test works in a schema
//! of its own; the kill test makes a replica of its own to kill.
//!
//! Every promise is watched from the side that can break it: stale reads
//! are counted by the caller that wrote, a cache fill is checked against a
//! replica that still has the old row, and a replica is killed under reads.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use strata::prelude::*;
use strata::replica::ReplicaState;
use strata_tests::cluster::TestCluster;
use strata_tests::replica::TestReplica;

use crate::models::{PRODUCTS, Product, product};

struct Set {
    primary: TestCluster,
    live: TestReplica,
    delayed: TestReplica,
}

/// The primary and its two replicas, started on first use.
fn set() -> &'static Set {
    static SET: OnceLock<Set> = OnceLock::new();
    SET.get_or_init(|| {
        let primary = TestCluster::start();
        let live = TestReplica::start(&primary, None);
        let delayed = TestReplica::start(&primary, Some(Duration::from_millis(500)));
        Set {
            primary,
            live,
            delayed,
        }
    })
}

/// Polls `client` until `sql` returns `want` (an `i64`); returns the wait.
async fn wait_for(client: &tokio_postgres::Client, sql: &str, want: i64) -> Duration {
    let start = Instant::now();
    loop {
        let got: Option<i64> = client.query_one(sql, &[]).await.ok().map(|r| r.get(0));
        if got == Some(want) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "never saw {want} from {sql}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A schema of its own on the primary, made by `ddl`, and visible on
/// every replica of the set before this returns.
async fn schema(ddl: &str) -> String {
    let name = format!("r_{:08x}", rand::random::<u32>());
    let set = set();
    set.primary
        .admin()
        .await
        .batch_execute(&format!(
            "CREATE SCHEMA {name}; SET search_path = {name}; {ddl}; \
             CREATE TABLE ready (id int); INSERT INTO ready VALUES (1)"
        ))
        .await
        .unwrap();
    for r in [&set.live, &set.delayed] {
        wait_for(
            &r.admin().await,
            &format!("SELECT count(*) FROM {name}.ready"),
            1,
        )
        .await;
    }
    name
}

fn config(schema: &str, replicas: &[&TestReplica]) -> strata::Config {
    replicas.iter().fold(
        set().primary.config().search_path(schema).pool_max(8),
        |c, r| c.replica_url(r.url()),
    )
}

/// Waits until replica 0 of `db` has replayed every write of `db` and may
/// serve any read (its check loop runs every 100 ms by default).
async fn until_serving(db: &Db) -> Duration {
    let start = Instant::now();
    while !db.replicas()[0].caught_up {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the replica never served: {:?}",
            db.replicas()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    start.elapsed()
}

#[tokio::test]
async fn the_harness_streams_and_the_delayed_replica_lags() {
    let set = set();
    let name = schema("CREATE TABLE t (id int)").await;
    let (p, r, d) = (
        set.primary.admin().await,
        set.live.admin().await,
        set.delayed.admin().await,
    );
    for (who, c) in [("live", &r), ("delayed", &d)] {
        let in_recovery: bool = c
            .query_one("SELECT pg_is_in_recovery()", &[])
            .await
            .unwrap()
            .get(0);
        assert!(in_recovery, "the {who} replica is a standby");
    }
    p.batch_execute(&format!("INSERT INTO {name}.t VALUES (1)"))
        .await
        .unwrap();
    let count = format!("SELECT count(*) FROM {name}.t");
    let live_wait = wait_for(&r, &count, 1).await;
    let delayed_wait = live_wait + wait_for(&d, &count, 1).await;
    println!(
        "replica harness: live caught up in {live_wait:?}, delayed (500 ms) in {delayed_wait:?}"
    );
    // The lag tests are only meaningful if the delay holds.
    assert!(
        delayed_wait >= Duration::from_millis(400),
        "{delayed_wait:?}"
    );
}

#[tokio::test]
async fn reads_go_to_the_replica_and_writes_and_transactions_to_the_primary() {
    let name = schema(PRODUCTS).await;
    let set = set();
    let db = Db::connect(config(&name, &[&set.live])).await.unwrap();
    until_serving(&db).await;
    // A read with no write before it: the replica (its backends are in
    // recovery, which only a replica can say).
    let on_replica: bool = db
        .query_read_one("SELECT pg_is_in_recovery()", &[])
        .await
        .unwrap()
        .get(0);
    assert!(on_replica, "an idle handle's read goes to the replica");
    // Writes and transactions: the primary.
    Product::insert(&db, product(1)).await.unwrap();
    let in_tx: bool = db
        .transaction(TxOptions::default(), |tx| async move {
            let row = tx.query_read_one("SELECT pg_is_in_recovery()", &[]).await?;
            Ok(row.get::<_, bool>(0))
        })
        .await
        .unwrap();
    assert!(!in_tx, "a transaction's reads stay on the primary");
    // The write is readable at once (that it is the primary that answers is
    // checked on the delayed replica, in the read-your-writes test).
    let got = Product::get(&db, 1).await.unwrap();
    assert_eq!(got.name, "product 1");
    // Once the replica has replayed the write, model reads go there too.
    until_serving(&db).await;
    let wait = Instant::now();
    loop {
        let reads = db.replicas()[0].reads;
        Product::get(&db, 1).await.unwrap();
        if db.replicas()[0].reads > reads {
            break;
        }
        assert!(
            wait.elapsed() < Duration::from_secs(10),
            "get never used the replica"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // `on_primary` keeps a read off replicas.
    let pinned: bool =
        strata::replica::on_primary(db.query_read_one("SELECT pg_is_in_recovery()", &[]))
            .await
            .unwrap()
            .get(0);
    assert!(!pinned);
    // What a standby refuses (an unlogged table: 0A000) is asked again of
    // the primary, not returned as an error.
    db.execute("CREATE UNLOGGED TABLE scratch (n int)", &[])
        .await
        .unwrap();
    until_serving(&db).await;
    let tried = db.replicas()[0].reads;
    let n: i64 = db
        .query_read_one("SELECT count(*) FROM scratch", &[])
        .await
        .expect("a read the replica refuses runs on the primary")
        .get(0);
    assert_eq!(n, 0);
    assert!(
        db.replicas()[0].reads > tried,
        "it was tried on the replica first"
    );
    let text = db.prometheus();
    assert!(
        text.contains("strata_replica_up{replica=\"127.0.0.1:"),
        "{text}"
    );
    assert!(
        text.contains("strata_replica_reads_total{replica="),
        "{text}"
    );
    db.close().await;
}

/// Issue 22's promise: on a replica delayed by 500 ms, with read-your-writes
/// on, 0 stale reads in 10⁴, while the replica still serves reads.
#[tokio::test]
async fn read_your_writes_on_a_delayed_replica_has_no_stale_read() {
    let name = schema("CREATE TABLE kv (id int PRIMARY KEY, n bigint NOT NULL)").await;
    let set = set();
    let db = Db::connect(config(&name, &[&set.delayed])).await.unwrap();
    db.execute(
        "INSERT INTO kv SELECT g, 0 FROM generate_series(1, 8) g",
        &[],
    )
    .await
    .unwrap();
    // Right after a write the delayed replica cannot have it: the primary.
    let on_replica: bool = db
        .query_read_one("SELECT pg_is_in_recovery()", &[])
        .await
        .unwrap()
        .get(0);
    assert!(
        !on_replica,
        "a read right after the handle's write went to the replica"
    );
    until_serving(&db).await;
    let stale = std::sync::Arc::new(AtomicU64::new(0));
    let reads = std::sync::Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    // Four callers, each in a session of its own: write its row, then read
    // it back 500 times over about 0.6 s, so the later reads of each round
    // may use the replica once it has replayed the write.
    let callers = (1..=4).map(|id: i32| {
        let (db, stale, reads) = (db.clone(), stale.clone(), reads.clone());
        tokio::spawn(strata::replica::session(async move {
            for round in 1..=5i64 {
                db.execute("UPDATE kv SET n = $2 WHERE id = $1", &[&id, &round])
                    .await
                    .unwrap();
                for _ in 0..500 {
                    let n: i64 = db
                        .query_read_one("SELECT n FROM kv WHERE id = $1", &[&id])
                        .await
                        .unwrap()
                        .get(0);
                    reads.fetch_add(1, Ordering::Relaxed);
                    if n != round {
                        stale.fetch_add(1, Ordering::Relaxed);
                    }
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        }))
    });
    futures_util::future::join_all(callers)
        .await
        .into_iter()
        .for_each(|r| r.unwrap());
    let in_sessions = reads.load(Ordering::Relaxed);
    let on_replica = db.replicas()[0].reads;
    // Without a session the handle's own writes count for every caller:
    // write, then read from another task at once.
    let mut handle_stale = 0;
    for round in 11..=210i64 {
        db.execute("UPDATE kv SET n = $1 WHERE id = 5", &[&round])
            .await
            .unwrap();
        let reader = db.clone();
        let n: i64 = tokio::spawn(async move {
            reader
                .query_read_one("SELECT n FROM kv WHERE id = 5", &[])
                .await
                .unwrap()
                .get(0)
        })
        .await
        .unwrap();
        if n != round {
            handle_stale += 1;
        }
    }
    let stale = stale.load(Ordering::Relaxed);
    println!(
        "read-your-writes, replica delayed 500 ms: {in_sessions} reads in 4 sessions in {:?}, \
         {on_replica} on the replica, {stale} stale; 200 write-then-read pairs across tasks \
         without a session: {handle_stale} stale",
        started.elapsed()
    );
    assert_eq!(in_sessions, 10_000);
    assert_eq!(stale, 0, "a session read its own write stale");
    assert_eq!(handle_stale, 0, "a read after the handle's write was stale");
    // Not vacuous: the replica served a share of the reads.
    assert!(on_replica > 0, "the delayed replica never served a read");
    db.close().await;
}

/// A cache fill reads the primary: the delayed replica still has the old
/// row when another process's write and invalidation arrive.
#[tokio::test]
async fn a_cache_fill_never_reads_a_lagging_replica() {
    let name = schema(PRODUCTS).await;
    let set = set();
    let db = Db::connect(config(&name, &[&set.delayed])).await.unwrap();
    Product::insert(&db, product(1)).await.unwrap();
    until_serving(&db).await;
    assert_eq!(Product::get_cached(&db, 1).await.unwrap().price, 100);
    // Another process changes the row (this handle's epoch does not move)
    // and invalidates; the replica shows the old row for 500 ms more.
    let other = set.primary.admin().await;
    other
        .execute(
            &format!("UPDATE {name}.products SET price = 200 WHERE id = 1"),
            &[],
        )
        .await
        .unwrap();
    db.invalidate::<Product>(&1).await;
    let plain_before = db.replicas()[0].reads;
    let on_replica = Product::get(&db, 1).await.unwrap();
    let filled = Product::get_cached(&db, 1).await.unwrap();
    println!(
        "cache fill with a delayed replica: a plain get read price {} ({} on the replica), \
         the fill read {}",
        on_replica.price,
        db.replicas()[0].reads - plain_before,
        filled.price
    );
    assert_eq!(filled.price, 200, "the fill read the lagging replica");
    // Not vacuous: a plain read at that moment did get the old row there.
    assert_eq!(on_replica.price, 100, "the replica was not behind");
    db.close().await;
}

/// A replica killed under reads: they move to the primary with 0 failed
/// reads, and the replica serves again once it is back.
#[tokio::test]
async fn a_replica_killed_under_load_costs_no_read() {
    let name = schema(PRODUCTS).await;
    let set = set();
    let own = std::sync::Arc::new(TestReplica::start(&set.primary, None));
    wait_for(
        &own.admin().await,
        &format!("SELECT count(*) FROM {name}.ready"),
        1,
    )
    .await;
    let db = Db::connect(config(&name, &[&own])).await.unwrap();
    Product::insert(&db, product(1)).await.unwrap();
    until_serving(&db).await;
    let failed = std::sync::Arc::new(AtomicU64::new(0));
    let reads = std::sync::Arc::new(AtomicU64::new(0));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let (db, failed, reads, stop) =
                (db.clone(), failed.clone(), reads.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    match Product::get(&db, 1).await {
                        Ok(_) => reads.fetch_add(1, Ordering::Relaxed),
                        Err(e) => {
                            eprintln!("read failed: {e}");
                            failed.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before_kill = db.replicas()[0].reads;
    let killing = own.clone();
    tokio::task::spawn_blocking(move || killing.kill())
        .await
        .unwrap();
    let killed_at = reads.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(700)).await;
    let state = db.replicas()[0].state;
    let after_kill = reads.load(Ordering::Relaxed) - killed_at;
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.await.unwrap();
    }
    let failed = failed.load(Ordering::Relaxed);
    println!(
        "replica killed under 4 readers: {} reads, {failed} failed; {before_kill} on the \
         replica before the kill, {after_kill} after it (state {state:?}), {} retried",
        reads.load(Ordering::Relaxed),
        db.metrics().queries.reads_retried
    );
    assert_eq!(failed, 0);
    assert!(before_kill > 0, "the replica served before the kill");
    assert!(after_kill > 0, "reads went on after the kill");
    assert_eq!(state, ReplicaState::Down);
    let health = db.health().await;
    assert_eq!(
        health.status,
        strata::observe::Health::Degraded,
        "{health:?}"
    );
    own.start_again();
    let back = until_serving(&db).await;
    println!("the replica served again {back:?} after it accepted connections");
    // Back, it serves only what it has replayed since.
    db.execute("UPDATE products SET price = 777 WHERE id = 1", &[])
        .await
        .unwrap();
    assert_eq!(Product::get(&db, 1).await.unwrap().price, 777);
    until_serving(&db).await;
    let served = db.replicas()[0].reads;
    assert_eq!(Product::get(&db, 1).await.unwrap().price, 777);
    assert!(
        db.replicas()[0].reads > served,
        "the restarted replica serves again"
    );
    db.close().await;
}

#[tokio::test]
async fn an_unreachable_replica_does_not_stop_startup_and_a_primary_is_refused() {
    let name = schema(PRODUCTS).await;
    let set = set();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let db = Db::connect(
        set.primary
            .config()
            .search_path(name.as_str())
            .replica_url(format!("postgres://127.0.0.1:{port}")),
    )
    .await
    .expect("an unreachable replica does not stop startup");
    Product::insert(&db, product(1)).await.unwrap();
    assert_eq!(Product::get(&db, 1).await.unwrap().id, 1);
    let health = db.health().await;
    println!("health with an unreachable replica: {:?}", health.reasons);
    assert_eq!(health.status, strata::observe::Health::Degraded);
    assert_eq!(health.replicas[0].state, ReplicaState::Down);
    assert!(health.replicas[0].error.is_some());
    db.close().await;

    // The primary itself given as a replica.
    let err = Db::connect(set.primary.config().replica_url(set.primary.url()))
        .await
        .unwrap_err();
    let text = err.to_string();
    println!("a primary as a replica: {text}");
    assert!(matches!(
        err,
        strata::Error::Config {
            var: "DB_REPLICA_URLS",
            ..
        }
    ));
    assert!(text.contains("not in recovery"), "{text}");
}
