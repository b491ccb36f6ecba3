//! The change feed (`db.changes::<M>()`) and its cache channel, against
//! real PostgreSQL. Writers and listeners are separate `Db` handles with
//! their own connections.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use strata::changes::{ChangeEvent, ChangeKind, Changes};
use strata::prelude::*;
use strata_tests::{TestDb, admin};
use tokio::sync::Mutex;

use super::models::*;

/// Text keys, for payloads that outgrow NOTIFY before they reach 1000 keys.
#[derive(strata::Model, Debug, Clone, PartialEq)]
#[model(table = "tags")]
struct Tag {
    #[model(primary_key)]
    name: String,
    n: i32,
}

/// A table whose `schema.table` is far past the 63 bytes of a channel name.
#[derive(strata::Model, Debug, Clone, PartialEq)]
#[model(table = "a_table_whose_name_is_long_enough_to_overflow_any_channel_name")]
struct Long {
    id: i64,
}

/// A schema with `ddl` and the feed's triggers on `M`.
async fn with_feed<M: Model>(ddl: &str, tune: impl FnOnce(Config) -> Config) -> TestDb {
    let t = TestDb::with(tune).await;
    t.execute(ddl, &[]).await.unwrap();
    t.install_changes::<M>().await.unwrap();
    t
}

/// The next event, bounded so a missing one fails the test instead of hanging it.
async fn next<M: Model>(feed: &mut Changes<M>) -> ChangeEvent<M::Key>
where
    M::Key: serde::de::DeserializeOwned,
{
    tokio::time::timeout(Duration::from_secs(20), feed.next())
        .await
        .expect("an event within 20 s")
        .expect("the feed is open")
}

fn row<K>(key: K, kind: ChangeKind) -> ChangeEvent<K> {
    ChangeEvent::Row { key, kind }
}

/// A plain connection on the test's schema, outside strata.
async fn raw(t: &TestDb) -> tokio_postgres::Client {
    let c = admin().await;
    c.batch_execute(&format!("SET search_path = \"{}\"", t.schema()))
        .await
        .unwrap();
    c
}

#[tokio::test]
async fn events_arrive_on_commit_and_never_after_a_rollback() {
    let t = with_feed::<Product>(PRODUCTS, |c| c).await;
    let listener = Db::connect(t.config()).await.unwrap();
    let feed = Arc::new(Mutex::new(listener.changes::<Product>().await.unwrap()));
    let db = t.db().clone();

    // Inside the transaction, a write made meanwhile in autocommit arrives,
    // and the transaction's own does not: events come in commit order, so
    // had the insert of 1 been sent at once, it would come first.
    let (f, other) = (feed.clone(), db.clone());
    t.transaction(TxOptions::default(), move |tx| {
        let (f, other) = (f.clone(), other.clone());
        async move {
            Product::insert(&tx, product(1)).await?;
            Product::insert(&other, product(1000)).await?;
            let mut f = f.lock().await;
            assert_eq!(next(&mut f).await, row(1000, ChangeKind::Insert));
            Ok(())
        }
    })
    .await
    .unwrap();
    let mut f = feed.lock().await;
    assert_eq!(next(&mut f).await, row(1, ChangeKind::Insert), "at COMMIT");
    drop(f);

    // A rolled-back transaction sends nothing: the next event is the marker.
    let rolled_back = t
        .transaction(TxOptions::default(), |tx| async move {
            Product::insert(&tx, product(2)).await?;
            Err::<(), _>(Error::InvalidInput {
                reason: "roll back".into(),
            })
        })
        .await;
    assert!(rolled_back.is_err());
    Product::insert(&db, product(1001)).await.unwrap();
    let mut f = feed.lock().await;
    assert_eq!(next(&mut f).await, row(1001, ChangeKind::Insert));
    assert_eq!(listener.metrics().changes.gaps, 0);
}

#[tokio::test]
async fn every_kind_of_write_with_its_typed_key_raw_sql_included() {
    let t = with_feed::<User>(USERS, |c| c).await;
    let listener = Db::connect(t.config()).await.unwrap();
    let mut feed = listener.changes::<User>().await.unwrap();
    assert_eq!(feed.channel().len(), 39);

    let u = User::insert(t.db(), new_user(1)).await.unwrap();
    assert_eq!(next(&mut feed).await, row(u.id, ChangeKind::Insert));
    let patch = UserPatch {
        age: Some(40),
        ..Default::default()
    };
    User::patch(t.db(), u.id, patch).await.unwrap();
    assert_eq!(next(&mut feed).await, row(u.id, ChangeKind::Update));
    User::delete(t.db(), u.id).await.unwrap(); // soft
    assert_eq!(next(&mut feed).await, row(u.id, ChangeKind::Update));
    User::restore(t.db(), u.id).await.unwrap();
    assert_eq!(next(&mut feed).await, row(u.id, ChangeKind::Update));
    // Raw SQL, and another client altogether.
    t.execute("UPDATE users SET age = 41 WHERE id = $1", &[&u.id])
        .await
        .unwrap();
    assert_eq!(next(&mut feed).await, row(u.id, ChangeKind::Update));
    raw(&t)
        .await
        .execute("UPDATE users SET age = 42 WHERE id = $1", &[&u.id])
        .await
        .unwrap();
    assert_eq!(next(&mut feed).await, row(u.id, ChangeKind::Update));
    // A statement that changes nothing sends nothing.
    t.execute("UPDATE users SET age = 1 WHERE id = -1", &[])
        .await
        .unwrap();
    User::hard_delete(t.db(), u.id).await.unwrap();
    assert_eq!(next(&mut feed).await, row(u.id, ChangeKind::Delete));
    // An update that changes the key names the old and the new one.
    let v = User::insert(t.db(), new_user(2)).await.unwrap();
    assert_eq!(next(&mut feed).await, row(v.id, ChangeKind::Insert));
    t.execute("UPDATE users SET id = 777 WHERE id = $1", &[&v.id])
        .await
        .unwrap();
    let mut keys = vec![next(&mut feed).await, next(&mut feed).await];
    keys.sort_by_key(|e| format!("{e:?}"));
    let mut want = vec![row(777, ChangeKind::Update), row(v.id, ChangeKind::Update)];
    want.sort_by_key(|e| format!("{e:?}"));
    assert_eq!(keys, want);
    t.execute("TRUNCATE users", &[]).await.unwrap();
    assert_eq!(
        next(&mut feed).await,
        ChangeEvent::Table {
            kind: ChangeKind::Delete
        }
    );

    // Uuid keys arrive typed too.
    t.execute(DOCS, &[]).await.unwrap();
    t.install_changes::<Doc>().await.unwrap();
    let mut docs = listener.changes::<Doc>().await.unwrap();
    let id = uuid::Uuid::new_v4();
    t.execute("INSERT INTO docs (id, title) VALUES ($1, 'x')", &[&id])
        .await
        .unwrap();
    assert_eq!(next(&mut docs).await, row(id, ChangeKind::Insert));

    // Without the triggers, writes are silent; installing again is enough.
    t.uninstall_changes::<User>().await.unwrap();
    let silent = User::insert(t.db(), new_user(3)).await.unwrap();
    t.install_changes::<User>().await.unwrap();
    t.install_changes::<User>().await.unwrap(); // idempotent
    let heard = User::insert(t.db(), new_user(4)).await.unwrap();
    assert_eq!(next(&mut feed).await, row(heard.id, ChangeKind::Insert));
    assert_ne!(silent.id, heard.id);
}

#[tokio::test]
async fn a_write_too_big_for_one_notification_is_a_table_event() {
    let t = with_feed::<Product>(PRODUCTS, |c| c).await;
    t.execute(
        "CREATE TABLE tags (name text PRIMARY KEY, n int NOT NULL)",
        &[],
    )
    .await
    .unwrap();
    t.install_changes::<Tag>().await.unwrap();
    let listener = Db::connect(t.config()).await.unwrap();
    let mut feed = listener.changes::<Product>().await.unwrap();
    let mut tags = listener.changes::<Tag>().await.unwrap();

    // 500 integer keys fit: one row event each.
    let rows: Vec<NewProduct> = (1..=500).map(product).collect();
    Product::insert_many(t.db(), &rows).await.unwrap();
    for id in 1..=500 {
        assert_eq!(next(&mut feed).await, row(id, ChangeKind::Insert));
    }
    // 2000 (through COPY) do not.
    let rows: Vec<NewProduct> = (501..=2500).map(product).collect();
    Product::insert_many(t.db(), &rows).await.unwrap();
    assert_eq!(
        next(&mut feed).await,
        ChangeEvent::Table {
            kind: ChangeKind::Insert
        }
    );
    t.execute("UPDATE products SET price = price + 1", &[])
        .await
        .unwrap();
    assert_eq!(
        next(&mut feed).await,
        ChangeEvent::Table {
            kind: ChangeKind::Update
        }
    );
    // 100 keys of 100 bytes are past NOTIFY's 8000-byte payload.
    t.execute(
        "INSERT INTO tags SELECT repeat('x', 96) || lpad(g::text, 4, '0'), g FROM generate_series(1, 100) g",
        &[],
    )
    .await
    .unwrap();
    assert_eq!(
        next(&mut tags).await,
        ChangeEvent::Table {
            kind: ChangeKind::Insert
        }
    );
    t.execute("DELETE FROM tags WHERE n = 1", &[])
        .await
        .unwrap();
    let gone = format!("{}0001", "x".repeat(96));
    assert_eq!(next(&mut tags).await, row(gone, ChangeKind::Delete));
}

#[tokio::test]
async fn a_long_schema_and_table_name_still_has_a_channel() {
    let t = with_feed::<Long>(
        "CREATE TABLE a_table_whose_name_is_long_enough_to_overflow_any_channel_name (id bigint PRIMARY KEY)",
        |c| c,
    )
    .await;
    assert!(t.schema().len() + Long::META.table.len() > 63);
    let listener = Db::connect(t.config()).await.unwrap();
    let feed = listener.changes::<Long>().await.unwrap();
    assert_eq!(feed.channel().len(), 39);
    // As a `futures` stream.
    let mut stream = std::pin::pin!(feed.into_stream());
    Long::insert(t.db(), NewLong { id: 5 }).await.unwrap();
    let event = tokio::time::timeout(Duration::from_secs(20), stream.next()).await;
    assert_eq!(event.unwrap(), Some(row(5, ChangeKind::Insert)));
}

#[tokio::test]
async fn a_subscriber_that_falls_behind_gets_a_gap_not_silence() {
    let t = with_feed::<Product>(PRODUCTS, |c| c).await;
    let listener = Db::connect(t.config()).await.unwrap();
    let mut feed = listener.changes::<Product>().await.unwrap();
    // 1500 statements in one transaction: 1500 notifications at COMMIT,
    // more than the subscriber's buffer holds while it is not reading.
    t.transaction(TxOptions::default(), |tx| async move {
        for id in 1..=1500 {
            Product::insert(&tx, product(id)).await?;
        }
        Ok(())
    })
    .await
    .unwrap();
    // A marker after the burst: usually dropped with the overflow.
    let other = Db::connect(t.config()).await.unwrap();
    Product::insert(&other, product(9999)).await.unwrap();
    let mut before_gap = Vec::new();
    loop {
        match next(&mut feed).await {
            ChangeEvent::Row { key, .. } => before_gap.push(key),
            ChangeEvent::Gap => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    // What came before the gap is a prefix, in commit order.
    assert!(!before_gap.is_empty() && before_gap.len() < 1500);
    assert_eq!(
        before_gap,
        (1..=i64::try_from(before_gap.len()).unwrap()).collect::<Vec<_>>()
    );
    // Once the subscriber has caught up, events flow again. The marker was
    // dropped with the overflow, or (when its notification reached the
    // listener after the subscriber had made room) comes right after the
    // gap, in commit order: either way nothing is lost silently.
    Product::insert(&other, product(10_000)).await.unwrap();
    let mut after = next(&mut feed).await;
    if after == row(9999, ChangeKind::Insert) {
        after = next(&mut feed).await;
    }
    assert_eq!(after, row(10_000, ChangeKind::Insert));
    println!(
        "lagging subscriber: 1501 writes unread, {} events before the gap",
        before_gap.len()
    );
}

/// A listener's backend killed while four tasks insert: every committed
/// write is delivered, or a `Gap` covers it.
///
/// The check: events come in commit order, so a write that was not
/// delivered must have committed after the last event delivered before
/// some `Gap` was written (its insert returned after that event's insert
/// started), and before that `Gap` arrived (its insert started before the
/// `Gap` was received). A write outside every such window that was not
/// delivered is a lost change.
#[tokio::test]
async fn a_listener_killed_during_a_write_storm_loses_nothing_silently() {
    let t = with_feed::<Product>(PRODUCTS, |c| c.pool_max(8)).await;
    let listener = Db::connect(t.config()).await.unwrap();
    let mut feed = listener.changes::<Product>().await.unwrap();
    let pid = listener.metrics().changes.listener_pid.expect("connected");

    const TASKS: i64 = 4;
    const PER_TASK: i64 = 400;
    let epoch = Instant::now();
    let mut writers = Vec::new();
    for w in 0..TASKS {
        let db = t.db().clone();
        writers.push(tokio::spawn(async move {
            let mut spans = Vec::new();
            for i in 0..PER_TASK {
                let id = w * PER_TASK + i + 1;
                let started = epoch.elapsed();
                Product::insert(&db, product(id)).await.unwrap();
                spans.push((id, started, epoch.elapsed()));
            }
            spans
        }));
    }
    // Events as they come: (key or gap, when received).
    let mut seen: Vec<(Option<i64>, Duration)> = Vec::new();
    let mut killed_at = None;
    let total = TASKS * PER_TASK;
    let admin = admin().await;
    while seen.iter().filter(|(k, _)| k.is_some()).count() < usize::try_from(total).unwrap() {
        let event = tokio::time::timeout(Duration::from_secs(5), feed.next()).await;
        let Ok(Some(event)) = event else {
            break; // nothing more: the storm is over and some were missed
        };
        let at = epoch.elapsed();
        match event {
            ChangeEvent::Row { key, .. } => seen.push((Some(key), at)),
            ChangeEvent::Gap => seen.push((None, at)),
            other => panic!("unexpected {other:?}"),
        }
        if killed_at.is_none() && seen.len() == 200 {
            admin
                .execute("SELECT pg_terminate_backend($1)", &[&pid])
                .await
                .unwrap();
            killed_at = Some(epoch.elapsed());
        }
    }
    let mut spans = Vec::new();
    for w in writers {
        spans.extend(w.await.unwrap());
    }
    let started_of: std::collections::HashMap<i64, Duration> =
        spans.iter().map(|(id, s, _)| (*id, *s)).collect();
    // Each gap's window: from the start of the insert of the last event
    // before it (or the beginning), to its arrival.
    let mut windows = Vec::new();
    let mut last_key = None;
    for (key, at) in &seen {
        match key {
            Some(k) => last_key = Some(*k),
            None => windows.push((last_key.map_or(Duration::ZERO, |k| started_of[&k]), *at)),
        }
    }
    let delivered: std::collections::HashSet<i64> = seen.iter().filter_map(|(k, _)| *k).collect();
    let missed: Vec<_> = spans
        .iter()
        .filter(|(id, _, _)| !delivered.contains(id))
        .collect();
    let uncovered: Vec<_> = missed
        .iter()
        .filter(|(_, started, returned)| {
            !windows
                .iter()
                .any(|(from, gap)| *returned >= *from && *started <= *gap)
        })
        .collect();
    let gap_at = seen.iter().find(|(k, _)| k.is_none()).map(|(_, at)| *at);
    println!(
        "write storm: {total} writes by {TASKS} tasks, {} events, {} gaps, {} not delivered \
         (all inside a gap's window: {}), reconnect (kill -> Gap) {:?}, reconnects {}",
        delivered.len(),
        windows.len(),
        missed.len(),
        uncovered.is_empty(),
        gap_at.zip(killed_at).map(|(g, k)| g.saturating_sub(k)),
        listener.metrics().changes.reconnects,
    );
    assert!(killed_at.is_some(), "the listener was killed mid-storm");
    assert!(!windows.is_empty(), "a Gap after the kill");
    assert!(uncovered.is_empty(), "lost without a Gap: {uncovered:?}");
    assert_ne!(listener.metrics().changes.listener_pid, Some(pid));
    assert!(listener.metrics().changes.live);
}

/// `Config::cache_feed`: two handles with L1 only and no Redis.
#[tokio::test]
async fn the_cache_channel_keeps_another_handles_l1_fresh_without_redis() {
    let t = with_feed::<Product>(PRODUCTS, |c| c.cache_feed(true)).await;
    for id in 1..=3 {
        Product::insert(t.db(), product(id)).await.unwrap();
    }
    let b = Db::connect(t.config()).await.unwrap();
    // The same setup without the channel: what L1 did before it.
    let plain = Db::connect(t.config().cache_feed(false)).await.unwrap();
    // The first cached read starts B's channel for the model and skips
    // L1; once a feed of B's is subscribed (queued after it), it listens.
    assert_eq!(Product::get_cached(&b, 1).await.unwrap().price, 100);
    let mut feed = b.changes::<Product>().await.unwrap();
    for db in [&b, &plain] {
        Product::get_cached(db, 1).await.unwrap();
        Product::get_cached(db, 1).await.unwrap();
        assert_eq!(db.metrics().cache.l1_hits, 1, "B and the control use L1");
    }

    // A row event: B drops the row before its own subscribers see it.
    let patched = Instant::now();
    let patch = ProductPatch {
        price: Some(200),
        ..Default::default()
    };
    Product::patch(t.db(), 1, patch).await.unwrap();
    let returned = patched.elapsed();
    assert_eq!(next(&mut feed).await, row(1, ChangeKind::Update));
    let lag = patched.elapsed() - returned;
    assert_eq!(Product::get_cached(&b, 1).await.unwrap().price, 200);
    assert_eq!(
        Product::get_cached(&plain, 1).await.unwrap().price,
        100,
        "without the channel, L1 keeps the old row"
    );
    println!("cache channel: patch returned in {returned:?}; B applied it {lag:?} later");

    // A gap flushes B's L1. A write the triggers do not see (replica
    // mode) leaves B's entry stale; killing B's listener must drop it.
    Product::get_cached(&b, 2).await.unwrap();
    let hidden = raw(&t).await;
    hidden
        .batch_execute(
            "SET session_replication_role = replica;
             UPDATE products SET price = 300 WHERE id IN (1, 2)",
        )
        .await
        .unwrap();
    assert_eq!(
        Product::get_cached(&b, 2).await.unwrap().price,
        100,
        "stale"
    );
    let pid = b.metrics().changes.listener_pid.unwrap();
    admin()
        .await
        .execute("SELECT pg_terminate_backend($1)", &[&pid])
        .await
        .unwrap();
    assert_eq!(next(&mut feed).await, ChangeEvent::Gap);
    assert_eq!(Product::get_cached(&b, 1).await.unwrap().price, 300);
    assert_eq!(Product::get_cached(&b, 2).await.unwrap().price, 300);
    assert_eq!(b.metrics().changes.gaps, 1);

    // A table event drops every row of the model.
    Product::get_cached(&b, 3).await.unwrap();
    hidden
        .batch_execute("UPDATE products SET price = 400 WHERE id = 3")
        .await
        .unwrap();
    let rows: Vec<NewProduct> = (10..2010).map(product).collect();
    Product::insert_many(t.db(), &rows).await.unwrap();
    assert_eq!(
        next(&mut feed).await,
        ChangeEvent::Table {
            kind: ChangeKind::Insert
        }
    );
    assert_eq!(Product::get_cached(&b, 3).await.unwrap().price, 400);
}

/// Without the triggers nothing would tell L1 of a write: the cache
/// channel keeps such a model out of L1.
#[tokio::test]
async fn the_cache_channel_keeps_a_table_without_triggers_out_of_l1() {
    let t = TestDb::with(|c| c.cache_feed(true)).await;
    t.execute(PRODUCTS, &[]).await.unwrap();
    Product::insert(t.db(), product(1)).await.unwrap();
    Product::get_cached(t.db(), 1).await.unwrap(); // starts the channel
    // Queued after the channel's check: once this returns, it was made.
    let _feed = t.changes::<Product>().await.unwrap();
    for _ in 0..3 {
        Product::get_cached(t.db(), 1).await.unwrap();
    }
    let m = t.metrics().cache;
    assert_eq!(m.l1_hits, 0, "{m:?}");

    // With the triggers, a later handle caches it.
    t.install_changes::<Product>().await.unwrap();
    let b = Db::connect(t.config()).await.unwrap();
    Product::get_cached(&b, 1).await.unwrap();
    let _feed = b.changes::<Product>().await.unwrap();
    Product::get_cached(&b, 1).await.unwrap();
    Product::get_cached(&b, 1).await.unwrap();
    assert_eq!(b.metrics().cache.l1_hits, 1);
}

#[tokio::test]
async fn dropping_the_last_feed_closes_the_listeners_connection() {
    let t = with_feed::<Product>(PRODUCTS, |c| c).await;
    let feed = t.changes::<Product>().await.unwrap();
    let pid = t.metrics().changes.listener_pid.unwrap();
    let admin = admin().await;
    let alive = async |pid: i32| -> bool {
        let n: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = $1",
                &[&pid],
            )
            .await
            .unwrap()
            .get(0);
        n > 0
    };
    assert!(alive(pid).await);
    drop(feed);
    // The backend goes away on its own schedule: poll for it, bounded.
    let deadline = Instant::now() + Duration::from_secs(20);
    while alive(pid).await {
        assert!(
            Instant::now() < deadline,
            "the listener's backend is still there"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(t.metrics().changes.listener_pid, None);
    // A new feed opens a new connection.
    let mut feed = t.changes::<Product>().await.unwrap();
    Product::insert(t.db(), product(1)).await.unwrap();
    assert_eq!(next(&mut feed).await, row(1, ChangeKind::Insert));
}

#[tokio::test]
async fn closing_the_db_ends_its_feeds() {
    let t = with_feed::<Product>(PRODUCTS, |c| c).await;
    let db = Db::connect(t.config()).await.unwrap();
    let mut feed = db.changes::<Product>().await.unwrap();
    db.close().await;
    let end = tokio::time::timeout(Duration::from_secs(20), feed.next()).await;
    assert_eq!(end.expect("the feed ends"), None);
    assert!(matches!(
        db.changes::<Product>().await,
        Err(Error::PoolClosed)
    ));
}

/// A listener whose connection is cut, and whose reconnects are refused
/// for a while, keeps retrying by itself; once it is back, `Gap` comes
/// before any new event. A connection that goes silent (every byte
/// swallowed) is found by the heartbeat, and recovers the same way.
#[tokio::test]
async fn the_listener_reconnects_with_backoff_after_a_cut_and_a_black_hole() {
    use strata_tests::proxy::{FaultProxy, Mode};
    let t = with_feed::<Product>(PRODUCTS, |c| c).await;
    let proxy = FaultProxy::start("127.0.0.1:5432").await;
    let via_proxy = t.config().host("127.0.0.1").port(proxy.port());
    let listener = Db::connect(via_proxy.connect_timeout(Duration::from_millis(500)))
        .await
        .unwrap();
    let mut feed = listener.changes::<Product>().await.unwrap();
    Product::insert(t.db(), product(1)).await.unwrap();
    assert_eq!(next(&mut feed).await, row(1, ChangeKind::Insert));

    // Cut, and refuse reconnects: the listener retries on its own.
    let before = proxy.accepted();
    proxy.set_mode(Mode::Reject);
    proxy.cut_all();
    let started = Instant::now();
    while proxy.accepted() < before + 3 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no reconnect attempts"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(!listener.metrics().changes.live);
    for id in 2..=20 {
        Product::insert(t.db(), product(id)).await.unwrap(); // missed
    }
    proxy.set_mode(Mode::Forward);
    assert_eq!(next(&mut feed).await, ChangeEvent::Gap);
    let attempts = proxy.accepted() - before;
    Product::insert(t.db(), product(21)).await.unwrap();
    assert_eq!(next(&mut feed).await, row(21, ChangeKind::Insert));
    println!(
        "cut: back after {:?} and {attempts} connection attempts",
        started.elapsed()
    );

    // A black hole: nothing errors, the heartbeat must notice.
    let holed = Instant::now();
    proxy.set_mode(Mode::Stall);
    Product::insert(t.db(), product(22)).await.unwrap(); // swallowed
    let wait = async {
        while listener.metrics().changes.live {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(20), wait)
        .await
        .expect("the heartbeat notices a silent connection");
    let noticed = holed.elapsed();
    proxy.set_mode(Mode::Forward);
    proxy.cut_all(); // the stalled connection itself never closes
    assert_eq!(next(&mut feed).await, ChangeEvent::Gap);
    Product::insert(t.db(), product(23)).await.unwrap();
    assert_eq!(next(&mut feed).await, row(23, ChangeKind::Insert));
    println!("black hole: noticed after {noticed:?}");
    assert_eq!(listener.metrics().changes.gaps, 2);
    let text = listener.prometheus();
    assert!(text.contains("strata_changes_gaps_total 2"), "{text}");
    assert!(text.contains("strata_changes_listener_up 1"), "{text}");
}
