//! The layered cache against real Redis and PostgreSQL.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use strata::Health;
use strata::cache::FillGate;
use strata::prelude::*;
use strata_tests::proxy::{FaultProxy, Mode};
use strata_tests::{TestDb, TestRedis, redis_url};

use super::models::*;

/// A test schema with the products table and a Redis-backed cache.
async fn cached(redis: &str) -> TestDb {
    let redis = redis.to_owned();
    let t = TestDb::with(move |c| strata_tests::on_redis(c, &redis)).await;
    t.execute(PRODUCTS, &[]).await.unwrap();
    t
}

/// A second handle on the same schema and Redis: behaves like another process.
async fn other_process(t: &TestDb) -> Db {
    Db::connect(t.config()).await.unwrap()
}

fn price(v: i32) -> ProductPatch {
    ProductPatch {
        price: Some(v),
        ..Default::default()
    }
}

#[tokio::test]
async fn reads_go_l1_then_l2_then_postgres() {
    let t = cached(&redis_url()).await;
    Product::insert(t.db(), product(1)).await.unwrap();
    let first = Product::get_cached(t.db(), 1).await.unwrap();
    let again = Product::get_cached(t.db(), 1).await.unwrap();
    assert_eq!(first, again);
    let m = t.metrics().cache;
    assert_eq!((m.loads, m.l1_hits, m.l2_hits), (1, 1, 0), "{m:?}");

    let b = other_process(&t).await;
    assert_eq!(Product::get_cached(&b, 1).await.unwrap(), first);
    let m = b.metrics().cache;
    assert_eq!((m.loads, m.l1_hits, m.l2_hits), (0, 0, 1), "{m:?}");
    assert!(matches!(
        Product::get_cached(t.db(), 99).await,
        Err(Error::NotFound { .. })
    ));
    assert_eq!(Product::find_cached(t.db(), 99).await.unwrap(), None);
}

/// A Redis row read is one MGET under the row generation this process saw
/// last. Another process retiring every row (a bulk update) moves that
/// generation: the read must notice, and must not serve the value still
/// stored under the old one.
#[tokio::test]
async fn an_l2_read_follows_a_row_generation_moved_by_another_process() {
    let t = cached(&redis_url()).await;
    Product::insert(t.db(), product(1)).await.unwrap();
    let l2_only = || Db::connect(t.config().cache_l1_capacity(0));
    let (a, b) = (l2_only().await.unwrap(), l2_only().await.unwrap());
    let first = Product::get_cached(&a, 1).await.unwrap();
    assert_eq!(Product::get_cached(&b, 1).await.unwrap(), first);
    assert_eq!(b.metrics().cache.l2_hits, 1);

    let changed = Product::query()
        .update(&a, [Product::PRICE.set(first.price + 1)])
        .await
        .unwrap();
    assert_eq!(changed, 1);
    let seen = Product::get_cached(&b, 1).await.unwrap();
    assert_eq!(
        seen.price,
        first.price + 1,
        "not the row under the old generation"
    );
    assert_eq!(b.metrics().cache.loads, 1, "{:?}", b.metrics().cache);
    // Stored under the new generation, and read from there.
    assert_eq!(Product::get_cached(&a, 1).await.unwrap(), seen);
    assert_eq!(Product::get_cached(&b, 1).await.unwrap(), seen);
    assert_eq!(b.metrics().cache.l2_hits, 2);
}

#[tokio::test]
async fn concurrent_misses_on_one_key_load_once() {
    let t = cached(&redis_url()).await;
    Product::insert(t.db(), product(7)).await.unwrap();
    let before = t.metrics().queries.total;
    let barrier = Arc::new(tokio::sync::Barrier::new(100));
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let db = t.db().clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                Product::get_cached(&db, 7).await.unwrap()
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().id, 7);
    }
    let m = t.metrics();
    assert_eq!(m.cache.loads, 1, "{:?}", m.cache);
    assert_eq!(m.queries.total - before, 1, "one SQL query for 100 misses");
    println!(
        "coalescing: 100 readers, 1 load, {} waited",
        m.cache.coalesced
    );
}

/// Reader loads v1, a writer commits v2 and invalidates, then the reader
/// tries to fill: it must not store v1. Returns what a fresh read sees.
async fn stale_set_interleaving(t: &TestDb, protect: bool) -> i32 {
    t.__set_stale_set_protection(protect);
    let gate = FillGate {
        reached: Arc::new(tokio::sync::Notify::new()),
        proceed: Arc::new(tokio::sync::Notify::new()),
    };
    t.__pause_cache_fills(Some(gate.clone()));
    let reader = {
        let db = t.db().clone();
        tokio::spawn(async move { Product::get_cached(&db, 1).await.unwrap() })
    };
    gate.reached.notified().await; // the reader has read the old row
    Product::patch(t.db(), 1, price(200)).await.unwrap();
    gate.proceed.notify_one(); // now it tries to fill
    assert_eq!(
        reader.await.unwrap().price,
        100,
        "the reader itself saw the old row"
    );
    let b = other_process(t).await;
    let through_l2 = Product::get_cached(&b, 1).await.unwrap().price;
    let through_l1 = Product::get_cached(t.db(), 1).await.unwrap().price;
    assert_eq!(through_l1, through_l2);
    through_l1
}

#[tokio::test]
async fn a_slow_reader_cannot_put_back_a_row_a_write_replaced() {
    let t = cached(&redis_url()).await;
    Product::insert(t.db(), product(1)).await.unwrap();
    assert_eq!(stale_set_interleaving(&t, true).await, 200);
    let m = t.metrics().cache;
    assert!(m.stale_sets_refused >= 2, "both tiers refused: {m:?}");
}

#[tokio::test]
async fn without_the_protection_the_interleaving_serves_stale_data() {
    // Shows the test above has teeth: the same interleaving, check disabled.
    let t = cached(&redis_url()).await;
    Product::insert(t.db(), product(1)).await.unwrap();
    assert_eq!(stale_set_interleaving(&t, false).await, 100);
}

#[tokio::test]
async fn a_write_through_one_handle_is_never_read_stale_through_another() {
    let t = cached(&redis_url()).await;
    let b = other_process(&t).await;
    Product::insert(t.db(), product(1)).await.unwrap();
    let mut stale = 0;
    for i in 0..100 {
        // B caches the current row in its L1 (and L2).
        let seen = Product::get_cached(&b, 1).await.unwrap();
        assert_eq!(seen.price, 100 + i);
        // A writes; when the call returns B must not serve the old row.
        if i % 2 == 0 {
            Product::patch(t.db(), 1, price(101 + i)).await.unwrap();
        } else {
            t.transaction(TxOptions::new(), |tx| async move {
                Product::patch(&tx, 1, price(101 + i)).await.map(|_| ())
            })
            .await
            .unwrap();
        }
        if Product::get_cached(&b, 1).await.unwrap().price != 101 + i {
            stale += 1;
        }
    }
    println!("cross-handle: 100 writes, {stale} stale reads");
    assert_eq!(stale, 0);
    assert!(b.metrics().cache.l1_hits >= 50, "{:?}", b.metrics().cache);
}

#[tokio::test]
async fn rollback_leaves_the_cache_alone_and_commit_invalidates() {
    let t = cached(&redis_url()).await;
    Product::insert(t.db(), product(1)).await.unwrap();
    Product::get_cached(t.db(), 1).await.unwrap();
    let invalidations = t.metrics().cache.invalidations;
    let err = t
        .transaction(TxOptions::new(), |tx| async move {
            Product::patch(&tx, 1, price(5)).await?;
            Err::<(), _>(Error::NotFound { what: "a reason" })
        })
        .await;
    assert!(err.is_err());
    assert_eq!(
        t.metrics().cache.invalidations,
        invalidations,
        "rollback invalidated"
    );
    assert_eq!(Product::get_cached(t.db(), 1).await.unwrap().price, 100);
    t.transaction(TxOptions::new(), |tx| async move {
        Product::patch(&tx, 1, price(6)).await?;
        // Not yet committed: other readers still get the committed row.
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(Product::get_cached(t.db(), 1).await.unwrap().price, 6);
}

#[tokio::test]
async fn cached_lists_and_many_follow_every_write_path() {
    let t = cached(&redis_url()).await;
    let b = other_process(&t).await;
    for id in 1..=5 {
        Product::insert(t.db(), product(id)).await.unwrap();
    }
    let cheap = || {
        Product::query()
            .filter(Product::PRICE.le(100))
            .order_by(Product::ID.asc())
    };
    assert_eq!(cheap().cached().all(&b).await.unwrap().len(), 5);
    assert_eq!(cheap().cached().all(&b).await.unwrap().len(), 5);
    assert!(b.metrics().cache.l1_hits >= 1);
    let page = cheap().page(1, 2).cached().fetch_page(&b).await.unwrap();
    assert_eq!((page.items.len(), page.total), (2, 5));

    // Every write path retires the cached list on the other handle.
    Product::patch(t.db(), 1, price(500)).await.unwrap();
    assert_eq!(cheap().cached().all(&b).await.unwrap().len(), 4);
    Product::insert_many(t.db(), vec![product(6), product(7)])
        .await
        .unwrap();
    assert_eq!(cheap().cached().all(&b).await.unwrap().len(), 6);
    Product::query()
        .filter(Product::ID.ge(6))
        .update(t.db(), [Product::PRICE.set(900)])
        .await
        .unwrap();
    assert_eq!(cheap().cached().all(&b).await.unwrap().len(), 4);
    assert_eq!(Product::get_cached(&b, 6).await.unwrap().price, 900);
    Product::delete(t.db(), 2).await.unwrap();
    assert_eq!(cheap().cached().all(&b).await.unwrap().len(), 3);
    assert!(Product::find_cached(&b, 2).await.unwrap().is_none());
    let page = cheap().page(1, 2).cached().fetch_page(&b).await.unwrap();
    assert_eq!(page.total, 3);

    // find_many_cached: some from L1, the rest from one SQL query.
    Product::get_cached(&b, 3).await.unwrap();
    let many = Product::find_many_cached(&b, &[3, 4, 5, 404])
        .await
        .unwrap();
    assert_eq!(many.iter().map(|p| p.id).collect::<Vec<_>>(), [3, 4, 5]);
    let again = Product::find_many_cached(&b, &[3, 4, 5]).await.unwrap();
    assert_eq!(again, many);
    Product::hard_delete(t.db(), 4).await.unwrap();
    let after = Product::find_many_cached(&b, &[3, 4, 5]).await.unwrap();
    assert_eq!(after.iter().map(|p| p.id).collect::<Vec<_>>(), [3, 5]);
}

/// A cached model with soft delete, for the write paths `Product` lacks.
#[derive(strata::Model, Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[model(table = "items", soft_delete, cache(ttl_secs = 60))]
pub(crate) struct Item {
    pub id: i64,
    pub price: i32,
    #[model(deleted_at)]
    pub deleted_at: Option<chrono::DateTime<chrono::Utc>>,
}

fn item(id: i64, price: i32) -> NewItem {
    NewItem { id, price }
}

#[tokio::test]
async fn cached_rows_and_lists_follow_insert_update_upsert_delete_restore_and_bulk_delete() {
    let t = TestDb::with(strata_tests::with_redis).await;
    t.execute(
        "CREATE TABLE items (id bigint PRIMARY KEY, price int NOT NULL, deleted_at timestamptz)",
        &[],
    )
    .await
    .unwrap();
    let (a, b) = (t.db(), other_process(&t).await);
    Item::insert(a, item(1, 100)).await.unwrap();
    let cheap = || {
        Item::query()
            .filter(Item::PRICE.le(100))
            .order_by(Item::ID.asc())
    };
    // What `b` sees, read twice so the second answer comes from its cache.
    let seen = || async {
        let ids = |v: Vec<Item>| v.into_iter().map(|i| i.id).collect::<Vec<_>>();
        let list = ids(cheap().cached().all(&b).await.unwrap());
        assert_eq!(ids(cheap().cached().all(&b).await.unwrap()), list);
        let mut rows = Vec::new();
        for id in 1..=3 {
            let row = Item::find_cached(&b, id).await.unwrap().map(|i| i.price);
            assert_eq!(
                Item::find_cached(&b, id).await.unwrap().map(|i| i.price),
                row
            );
            rows.push(row);
        }
        (list, rows)
    };
    assert_eq!(seen().await, (vec![1], vec![Some(100), None, None]));
    let hits = b.metrics().cache.l1_hits;

    Item::insert(a, item(2, 50)).await.unwrap();
    assert_eq!(
        seen().await,
        (vec![1, 2], vec![Some(100), Some(50), None]),
        "insert"
    );

    let mut row = Item::get(a, 2).await.unwrap();
    row.price = 900;
    Item::update(a, &row).await.unwrap();
    assert_eq!(
        seen().await,
        (vec![1], vec![Some(100), Some(900), None]),
        "update"
    );

    Item::upsert(a, item(2, 60)).await.unwrap();
    assert_eq!(
        seen().await,
        (vec![1, 2], vec![Some(100), Some(60), None]),
        "upsert (update)"
    );
    Item::upsert(a, item(3, 70)).await.unwrap();
    assert_eq!(
        seen().await,
        (vec![1, 2, 3], vec![Some(100), Some(60), Some(70)]),
        "upsert (insert)"
    );

    Item::delete(a, 3).await.unwrap();
    assert_eq!(
        seen().await,
        (vec![1, 2], vec![Some(100), Some(60), None]),
        "soft delete"
    );
    Item::restore(a, 3).await.unwrap();
    assert_eq!(
        seen().await,
        (vec![1, 2, 3], vec![Some(100), Some(60), Some(70)]),
        "restore"
    );

    let n = Item::query()
        .filter(Item::ID.ge(2))
        .delete(a)
        .await
        .unwrap();
    assert_eq!(n, 2);
    assert_eq!(
        seen().await,
        (vec![1], vec![Some(100), None, None]),
        "bulk delete"
    );
    assert!(
        b.metrics().cache.l1_hits > hits + 20,
        "the reads came from the cache: {:?}",
        b.metrics().cache
    );
}

#[tokio::test]
async fn reads_survive_a_dead_redis_and_caching_resumes() {
    let mut redis = TestRedis::start();
    let t = cached(&redis.url()).await;
    Product::insert(t.db(), product(1)).await.unwrap();
    Product::get_cached(t.db(), 1).await.unwrap();
    redis.kill();
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    for i in 0..50 {
        let t0 = Instant::now();
        // Different keys: L1 cannot answer, so every read passes Redis.
        let r = Product::find_cached(t.db(), 1000 + i).await;
        slowest = slowest.max(t0.elapsed());
        assert!(r.unwrap().is_none());
    }
    // Writes while Redis is dead succeed too.
    Product::patch(t.db(), 1, price(300)).await.unwrap();
    assert_eq!(Product::get_cached(t.db(), 1).await.unwrap().price, 300);
    let errors = t.metrics().cache.redis_errors;
    println!(
        "redis down: 50 reads in {:?}, slowest {slowest:?}, redis errors {errors}",
        started.elapsed()
    );
    assert!(
        (1..50).contains(&errors),
        "the breaker stops calling a dead redis: {errors}"
    );
    redis.restart();
    // The breaker lets a probe through after its cool-down; caching resumes.
    let mut resumed = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        Product::get_cached(t.db(), 1).await.unwrap();
        let b = other_process(&t).await;
        Product::get_cached(&b, 1).await.unwrap();
        if b.metrics().cache.l2_hits == 1 {
            resumed = true;
            break;
        }
    }
    assert!(resumed, "caching in redis resumed");
}

#[tokio::test]
async fn a_write_redis_missed_is_replayed_before_it_is_read_again() {
    let redis = TestRedis::start();
    // The writer reaches Redis through a proxy that can swallow its
    // commands, so its invalidation never arrives (a pause would only delay
    // it: Redis would run the queued command afterwards).
    let proxy = FaultProxy::start_raw(&format!("127.0.0.1:{}", redis.port())).await;
    let t = cached(&format!("redis://127.0.0.1:{}", proxy.port())).await;
    // An L2-only handle straight to Redis, so every read consults Redis.
    let b = Db::connect(t.config().redis_url(redis.url()).cache_l1_capacity(0))
        .await
        .unwrap();
    assert!(t.cache().ping().await, "redis through the proxy answers");
    Product::insert(t.db(), product(1)).await.unwrap();
    assert_eq!(Product::get_cached(&b, 1).await.unwrap().price, 100); // now in L2
    // The writer's Redis link goes silent: the write cannot invalidate.
    proxy.set_mode(Mode::Stall);
    Product::patch(t.db(), 1, price(150)).await.unwrap();
    proxy.cut_all();
    proxy.set_mode(Mode::Forward);
    // The writer never reads its own write stale: a missed invalidation is
    // replayed before its next Redis call (or Redis is skipped meanwhile).
    assert_eq!(Product::get_cached(t.db(), 1).await.unwrap().price, 150);
    // The other handle reads Redis directly: fresh once the writer has
    // replayed the invalidation, in the background (polled, bounded).
    let first = poll_until(Duration::from_secs(5), 150, || async {
        Product::get_cached(&b, 1).await.unwrap().price
    })
    .await;
    assert_eq!(first, 150, "the missed invalidation was never replayed");
    // And from then on, through either handle.
    let mut seen = Vec::new();
    for _ in 0..10 {
        seen.push(Product::get_cached(t.db(), 1).await.unwrap().price);
        seen.push(Product::get_cached(&b, 1).await.unwrap().price);
    }
    assert!(
        seen.iter().all(|p| *p == 150),
        "stale reads after recovery: {seen:?}"
    );
}

#[tokio::test]
async fn the_general_cache_api_round_trips() {
    let t = TestDb::with(strata_tests::with_redis).await;
    let c = t.cache();
    assert!(c.ping().await);
    c.set("greeting", &"hello", Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(
        c.get::<String>("greeting").await.unwrap().as_deref(),
        Some("hello")
    );
    assert!(c.exists("greeting").await.unwrap());
    c.mset(&[("a", 1u32), ("b", 2)], Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(
        c.mget::<u32>(&["a", "missing", "b"]).await.unwrap(),
        [Some(1), None, Some(2)]
    );
    assert_eq!(c.incr("hits", 5).await.unwrap(), 5);
    assert_eq!(c.incr("hits", -2).await.unwrap(), 3);
    assert!(c.delete("greeting").await.unwrap());
    assert!(!c.delete("greeting").await.unwrap());
    assert_eq!(c.get::<String>("greeting").await.unwrap(), None);
    let mut messages = c.subscribe("news").await.unwrap();
    let mut delivered = 0;
    for _ in 0..50 {
        delivered = c.publish("news", "strata 0.1").await.unwrap();
        if delivered > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(delivered, 1);
    let got = tokio::time::timeout(Duration::from_secs(2), messages.next())
        .await
        .unwrap();
    assert_eq!(got.as_deref(), Some("strata 0.1"));

    let plain = TestDb::new().await;
    let err = plain.cache().get::<String>("x").await.unwrap_err();
    assert!(matches!(err, Error::Cache(_)), "{err:?}");
}

/// Holds a row lock from another session, so a write to that row waits on
/// the server (it was sent, and will apply once the lock goes).
struct RowLock(tokio_postgres::Client);

impl RowLock {
    async fn take(t: &TestDb, id: i64) -> RowLock {
        let admin = strata_tests::admin().await;
        admin
            .batch_execute(&format!(
                "BEGIN; SELECT 1 FROM \"{}\".products WHERE id = {id} FOR UPDATE",
                t.schema()
            ))
            .await
            .unwrap();
        RowLock(admin)
    }

    async fn release(self) {
        self.0.batch_execute("COMMIT").await.unwrap();
    }
}

/// Polls (bounded) until a backend of `app` waits on a lock: its write
/// reached the server.
async fn wait_for_lock_wait(app: &str) {
    let admin = strata_tests::admin().await;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let waiting: bool = admin
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_stat_activity \
                 WHERE application_name = $1 AND wait_event_type = 'Lock')",
                &[&app],
            )
            .await
            .unwrap()
            .get(0);
        if waiting {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the write never reached the server"
        );
        tokio::task::yield_now().await;
    }
}

/// Polls `read` until it returns `want`, up to `limit`; returns what it saw last.
async fn poll_until<F, Fut>(limit: Duration, want: i32, mut read: F) -> i32
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = i32>,
{
    let deadline = Instant::now() + limit;
    loop {
        let seen = read().await;
        if seen == want || Instant::now() >= deadline {
            return seen;
        }
        // The poll's interval, not a synchronisation.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A caller drops its write while the statement waits on the server. The
/// write's guard invalidates at once, but the write commits only later: a
/// reader in between caches the old row again. Only the guard's second
/// invalidation, a statement timeout later (when the abandoned statement
/// can no longer commit), retires it.
#[tokio::test]
async fn a_write_abandoned_in_flight_is_invalidated_again_after_it_can_commit() {
    let (url, app) = (
        redis_url(),
        format!("abandon_{:08x}", rand::random::<u32>()),
    );
    let settle = Duration::from_secs(1);
    let t = {
        let app = app.clone();
        TestDb::with(move |c| {
            strata_tests::on_redis(c, &url)
                .statement_timeout(Some(settle))
                .application_name(app)
        })
        .await
    };
    t.execute(PRODUCTS, &[]).await.unwrap();
    let b = other_process(&t).await;
    Product::insert(t.db(), product(1)).await.unwrap();
    assert_eq!(Product::get_cached(&b, 1).await.unwrap().price, 100);

    let lock = RowLock::take(&t, 1).await;
    let write = {
        let a = t.db().clone();
        tokio::spawn(async move { Product::patch(&a, 1, price(500)).await })
    };
    wait_for_lock_wait(&app).await;
    let invalidations = t.metrics().cache.invalidations;
    write.abort();
    assert!(write.await.unwrap_err().is_cancelled());
    // The guard's first invalidation ran.
    let deadline = Instant::now() + Duration::from_secs(2);
    while t.metrics().cache.invalidations == invalidations {
        assert!(
            Instant::now() < deadline,
            "the abandoned write never invalidated"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The invalidation reaches the reader, which loads the row as it is
    // now (not written yet) and caches it again.
    let loads = b.metrics().cache.loads;
    let deadline = Instant::now() + Duration::from_secs(2);
    let recached = loop {
        let seen = Product::get_cached(&b, 1).await.unwrap().price;
        if b.metrics().cache.loads > loads {
            break seen;
        }
        assert!(
            Instant::now() < deadline,
            "the invalidation never reached the reader"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert_eq!(recached, 100);
    lock.release().await;
    // The abandoned statement commits.
    let stored = poll_until(Duration::from_secs(2), 500, || async {
        Product::get(t.db(), 1).await.unwrap().price
    })
    .await;
    assert_eq!(stored, 500, "the abandoned write committed");
    // Committed, but the reader's cache still holds the old row.
    let window = Product::get_cached(&b, 1).await.unwrap().price;
    assert_eq!(window, 100, "the test must open the stale window it guards");
    // Within a statement timeout (plus margin) of the abandon, the second
    // invalidation must have retired the stale row.
    let seen = poll_until(settle + Duration::from_secs(2), 500, || async {
        Product::get_cached(&b, 1).await.unwrap().price
    })
    .await;
    assert_eq!(
        seen, 500,
        "a stale row outlived the abandoned write's settle time"
    );
}

/// A write sent, applied by the server, whose answer never came back: its
/// outcome is unknown to strata, so the cache must treat it as applied.
#[tokio::test]
async fn a_write_of_unknown_outcome_invalidates_as_if_it_applied() {
    let t = TestDb::with(|c| {
        strata_tests::with_redis(c).statement_timeout(Some(Duration::from_millis(500)))
    })
    .await;
    t.execute(PRODUCTS, &[]).await.unwrap();
    let b = other_process(&t).await;
    Product::insert(t.db(), product(1)).await.unwrap();
    assert_eq!(Product::get_cached(&b, 1).await.unwrap().price, 100);
    // The writer reaches PostgreSQL through a proxy that can swallow answers.
    let proxy = FaultProxy::start("127.0.0.1:5432").await;
    let app = format!("unknown_{:08x}", rand::random::<u32>());
    let a = Db::connect(
        t.config()
            .port(proxy.port())
            .pool_max(1)
            .application_name(app.clone()),
    )
    .await
    .unwrap();
    let lock = RowLock::take(&t, 1).await;
    let write = {
        let a = a.clone();
        tokio::spawn(async move { Product::patch(&a, 1, price(700)).await })
    };
    wait_for_lock_wait(&app).await;
    // The UPDATE is on the server; its answer will be swallowed.
    proxy.set_mode(Mode::Stall);
    lock.release().await;
    let result = write.await.unwrap();
    assert!(
        matches!(result, Err(Error::OutcomeUnknown { .. })),
        "{result:?}"
    );
    proxy.set_mode(Mode::Forward);
    assert_eq!(
        Product::get(t.db(), 1).await.unwrap().price,
        700,
        "the server applied it"
    );
    let seen = poll_until(Duration::from_secs(2), 700, || async {
        Product::get_cached(&b, 1).await.unwrap().price
    })
    .await;
    assert_eq!(seen, 700, "the unknown write left the old row cached");
}

#[tokio::test]
async fn raw_sql_writes_are_invalidated_by_hand() {
    let t = cached(&redis_url()).await;
    let b = other_process(&t).await;
    Product::insert(t.db(), product(1)).await.unwrap();
    Product::insert(t.db(), product(2)).await.unwrap();
    Product::get_cached(&b, 1).await.unwrap();
    Product::get_cached(&b, 2).await.unwrap();
    // strata cannot see raw SQL: the cached rows stay until told.
    t.execute("UPDATE products SET price = 7", &[])
        .await
        .unwrap();
    assert_eq!(Product::get_cached(&b, 1).await.unwrap().price, 100);
    t.invalidate::<Product>(&1).await;
    assert_eq!(Product::get_cached(&b, 1).await.unwrap().price, 7);
    assert_eq!(Product::get_cached(&b, 2).await.unwrap().price, 100);
    t.invalidate_all::<Product>().await;
    assert_eq!(Product::get_cached(&b, 2).await.unwrap().price, 7);
}

/// Pub/sub is at most once: what was published while this process was not
/// subscribed is lost, so the moment the subscription is lost it flushes
/// its whole L1 and stops trusting its caches (and flushes again on
/// resubscribing). Here a change the cache cannot see (raw SQL, while Redis
/// is down) stands for an invalidation missed in the gap. On main this
/// read 100 until Redis came back.
#[tokio::test]
async fn l1_is_flushed_when_the_subscription_is_lost() {
    let mut redis = TestRedis::start();
    let t = cached(&redis.url()).await;
    Product::insert(t.db(), product(1)).await.unwrap();
    Product::get_cached(t.db(), 1).await.unwrap();
    let hits = t.metrics().cache.l1_hits;
    assert_eq!(Product::get_cached(t.db(), 1).await.unwrap().price, 100);
    assert_eq!(t.metrics().cache.l1_hits, hits + 1, "held in L1");
    redis.kill();
    t.execute("UPDATE products SET price = 555", &[])
        .await
        .unwrap();
    // The listener sees its connection close and flushes L1: the poll is
    // bounded by how soon it notices, not by Redis coming back.
    let seen = poll_until(Duration::from_secs(5), 555, || async {
        Product::get_cached(t.db(), 1).await.unwrap().price
    })
    .await;
    assert_eq!(
        seen, 555,
        "L1 still served the row with the subscription lost"
    );
    redis.restart();
    for _ in 0..20 {
        assert_eq!(Product::get_cached(t.db(), 1).await.unwrap().price, 555);
    }
}

/// A Redis that is slow, not dead (its connections stay open): a cached
/// read gives up on it at the Redis bound (`CACHE_REDIS_TIMEOUT_MS`, 250 ms)
/// and falls through to PostgreSQL, and health says so.
#[tokio::test]
async fn a_slow_redis_is_bypassed_at_its_bound_and_shows_in_health() {
    let redis = TestRedis::start();
    let t = cached(&redis.url()).await;
    Product::insert(t.db(), product(1)).await.unwrap();
    Product::insert(t.db(), product(2)).await.unwrap();
    // Row 2 is in Redis, not in this handle's L1.
    let b = other_process(&t).await;
    Product::get_cached(&b, 2).await.unwrap();
    let before = t.metrics().cache;
    // Every Redis client stalls for 3 s, far past the 250 ms bound.
    redis.pause(3_000);
    let row = Product::get_cached(t.db(), 2).await.unwrap();
    let report = t.health().await;
    let after = t.metrics().cache;
    println!("slow redis: {before:?} -> {after:?}; {report:?}");
    assert_eq!(row.price, 100);
    // Had the call waited the pause out, Redis would have answered (a hit,
    // no error); it gave up and loaded from PostgreSQL instead.
    assert!(after.redis_errors > before.redis_errors, "{after:?}");
    assert_eq!(after.l2_hits, before.l2_hits, "{after:?}");
    assert!(after.loads > before.loads, "{after:?}");
    assert_eq!(report.postgres.status, "up", "{report:?}");
    assert_eq!(report.redis.status, "down", "{report:?}");
    assert_eq!(report.status, Health::Degraded, "{report:?}");
}
