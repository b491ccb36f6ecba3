//! Loading many rows by key: `get_many` (input order, duplicates, missing
//! rows, 100k keys) and the batch stage, which coalesces concurrent `get`s
//! of one model into one `= ANY($1)` statement. Watched from the callers'
//! side (each gets its own row or error, cancelled ones disturb nobody)
//! and from the statement counters (how many statements really ran).

use std::sync::Arc;

use futures_util::FutureExt;
use strata::Db;
use strata::prelude::*;
use strata_tests::TestDb;

/// A soft-deleted row is invisible to `get`, so to a batch too. `note` is
/// nullable in the table but not in the model: a NULL there is a decode
/// error for the caller who asked for that row only.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "items", soft_delete)]
pub(crate) struct Item {
    #[model(primary_key)]
    pub id: i64,
    pub label: String,
    pub note: String,
    #[model(deleted_at)]
    pub deleted_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Rows 1..=n; row 13 soft-deleted; row 17's `note` NULL.
async fn items(t: &TestDb, n: i64) {
    t.execute(
        "CREATE TABLE items (id bigint PRIMARY KEY, label text NOT NULL, note text, deleted_at timestamptz)",
        &[],
    )
    .await
    .unwrap();
    t.execute(
        "INSERT INTO items SELECT g, 'item ' || g, 'n' || g, NULL FROM generate_series(1, $1::bigint) g",
        &[&n],
    )
    .await
    .unwrap();
    t.execute("UPDATE items SET deleted_at = now() WHERE id = 13", &[])
        .await
        .unwrap();
    t.execute("UPDATE items SET note = NULL WHERE id = 17", &[])
        .await
        .unwrap();
}

fn statements(db: &Db) -> u64 {
    db.metrics().queries.total
}

#[tokio::test]
async fn get_many_answers_each_key_in_order_with_one_statement() {
    let t = TestDb::new().await;
    items(&t, 1_000).await;
    let db = t.db();
    let before = statements(db);
    let got = Item::get_many(db, &[5, 2, 999_999, 5, 13, 1])
        .await
        .unwrap();
    assert_eq!(statements(db) - before, 1);
    let ids: Vec<Option<i64>> = got.iter().map(|r| r.as_ref().map(|i| i.id)).collect();
    assert_eq!(ids, [Some(5), Some(2), None, Some(5), None, Some(1)]);
    assert_eq!(got[1].as_ref().unwrap().label, "item 2");
    assert!(Item::get_many(db, &[]).await.unwrap().is_empty());

    // 100,000 keys, most missing, some repeated: one statement, one array
    // parameter (the protocol carries at most 65,535), one slot per key.
    let keys: Vec<i64> = (0..100_000).map(|i| (i * 7) % 150_000).collect();
    let before = statements(db);
    let got = Item::get_many(db, &keys).await;
    // Row 17 cannot decode: the whole call says so, naming the column.
    let err = got.unwrap_err();
    assert!(err.to_string().contains("note"), "{err}");
    let keys: Vec<i64> = keys.into_iter().filter(|&k| k != 17).collect();
    let got = Item::get_many(db, &keys).await.unwrap();
    assert_eq!(statements(db) - before, 2);
    assert_eq!(got.len(), keys.len());
    for (k, row) in keys.iter().zip(&got) {
        let visible = (1..=1_000).contains(k) && *k != 13;
        assert_eq!(row.as_ref().map(|r| r.id), visible.then_some(*k), "key {k}");
    }
    // The same keys through `find_many`: the rows found, once each.
    let found = Item::find_many(db, &[5, 2, 5, 999_999]).await.unwrap();
    let mut ids: Vec<i64> = found.iter().map(|r| r.id).collect();
    ids.sort();
    assert_eq!(ids, [2, 5]);
}

/// 64 tasks released together, each asking for its own key (some shared,
/// some missing, one soft-deleted, one that cannot decode): every task
/// gets exactly its own answer, and far fewer statements run than gets.
#[tokio::test]
async fn concurrent_gets_are_coalesced_and_each_caller_gets_its_own_answer() {
    let t = TestDb::new().await;
    items(&t, 100).await;
    let db = t.db().clone();
    let start = Arc::new(tokio::sync::Barrier::new(64));
    let before = statements(&db);
    let mut tasks = Vec::new();
    for i in 0..64i64 {
        let (db, start) = (db.clone(), start.clone());
        // Keys 1..=48, then repeats of 1..=8, missing ones, 13 and 17.
        let key = match i {
            0..48 => i + 1,
            48..56 => i - 47,
            56..62 => 1_000 + i,
            62 => 13,
            _ => 17,
        };
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            (key, Item::find(&db, key).await)
        }));
    }
    for task in tasks {
        let (key, got) = task.await.unwrap();
        match key {
            13 | 1_000.. => assert_eq!(got.unwrap(), None, "key {key}"),
            17 => {
                let err = got.unwrap_err();
                assert!(
                    matches!(&err, Error::Decode { column, .. } if column == "note"),
                    "{err:?}"
                );
            }
            _ => {
                let row = got.unwrap().unwrap();
                assert_eq!((row.id, row.label), (key, format!("item {key}")));
            }
        }
    }
    let ran = statements(&db) - before;
    assert!(ran < 32, "64 concurrent gets ran {ran} statements");
    let batched = db.metrics().queries.gets_batched;
    assert!(
        batched >= 64 - ran,
        "{batched} of 64 gets batched in {ran} statements"
    );

    // `Item::get` is `find` plus NotFound: batched the same way.
    let shared = &db;
    let gets = (1..=20).map(|k| async move { (k, Item::get(shared, k).await) });
    let rows = futures_util::future::join_all(gets).await;
    assert!(rows.iter().all(|(k, r)| match k {
        13 => matches!(r, Err(Error::NotFound { .. })),
        17 => matches!(r, Err(Error::Decode { .. })),
        k => r.as_ref().is_ok_and(|row| row.id == *k),
    }));
}

/// More waiters than one batch holds (3,000 gets at once, 1,024 keys a
/// batch): their statements go out together, pipelined on one
/// connection, and every caller still gets its own row.
#[tokio::test]
async fn a_burst_larger_than_a_batch_is_answered_by_pipelined_statements() {
    let t = TestDb::new().await;
    items(&t, 3_000).await;
    let db = t.db().clone();
    let start = Arc::new(tokio::sync::Barrier::new(3_000));
    let before = statements(&db);
    let tasks: Vec<_> = (1..=3_000i64)
        .map(|key| {
            let (db, start) = (db.clone(), start.clone());
            tokio::spawn(async move {
                start.wait().await;
                (key, Item::find(&db, key).await)
            })
        })
        .collect();
    for task in tasks {
        let (key, got) = task.await.unwrap();
        match key {
            13 => assert_eq!(got.unwrap(), None),
            17 => assert!(matches!(got, Err(Error::Decode { .. })), "{got:?}"),
            _ => assert_eq!(got.unwrap().unwrap().id, key),
        }
    }
    let ran = statements(&db) - before;
    assert!(ran < 40, "3,000 concurrent gets ran {ran} statements");
    assert!(db.metrics().queries.gets_batched >= 3_000 - ran);
}

/// Callers that go away (their futures dropped while their statements are
/// in flight, or while they wait in a batch) leave the others' answers
/// intact, and their slots are handed on.
#[tokio::test]
async fn a_cancelled_get_disturbs_no_other_caller() {
    let t = TestDb::new().await;
    items(&t, 100).await;
    // A pool of 8: 4 statement slots per model.
    let db = Db::connect(t.config().pool_max(8)).await.unwrap();
    // Fill every statement slot (and queue 4 more): polled once, each has
    // taken its slot or its place in the queue.
    let mut holders: Vec<_> = (1..=8).map(|k| Box::pin(Item::find(&db, k))).collect();
    for h in &mut holders {
        assert!(h.as_mut().now_or_never().is_none());
    }
    // These wait for a slot; half of them are then cancelled too.
    let mut waiting: Vec<_> = (20..40i64)
        .map(|k| {
            let db = db.clone();
            tokio::spawn(async move { (k, Item::find(&db, k).await) })
        })
        .collect();
    tokio::task::yield_now().await;
    for w in waiting.iter().step_by(2) {
        w.abort();
    }
    drop(holders);
    let mut answered = 0;
    for w in waiting.drain(..) {
        match w.await {
            Ok((k, got)) => {
                assert_eq!(got.unwrap().unwrap().id, k);
                answered += 1;
            }
            Err(e) => assert!(e.is_cancelled()),
        }
    }
    assert_eq!(answered, 10);
    // The lane is free again: a lone get runs at once, alone.
    let before = statements(&db);
    assert_eq!(Item::get(&db, 3).await.unwrap().id, 3);
    assert_eq!(statements(&db) - before, 1);
}

/// Not batched: inside a transaction (its statements run in order on its
/// connection), and with `Config::batch_gets(false)`.
#[tokio::test]
async fn gets_in_a_transaction_or_with_batching_off_run_one_statement_each() {
    let t = TestDb::new().await;
    items(&t, 100).await;
    let off = Db::connect(t.config().batch_gets(false)).await.unwrap();
    let before = statements(&off);
    let gets = (1..=30).map(|k| Item::get(&off, k));
    let rows = futures_util::future::join_all(gets).await;
    assert_eq!(rows.iter().filter(|r| r.is_ok()).count(), 28);
    assert_eq!(statements(&off) - before, 30);
    assert_eq!(off.metrics().queries.gets_batched, 0);

    let db = t.db().clone();
    let before = statements(&db);
    let ids = db
        .transaction(TxOptions::default(), |tx| async move {
            let gets = (1..=10).map(|k| Item::get(&tx, k));
            let rows = futures_util::future::join_all(gets).await;
            Ok::<_, Error>(rows.into_iter().map(|r| r.unwrap().id).collect::<Vec<_>>())
        })
        .await
        .unwrap();
    assert_eq!(ids, (1..=10).collect::<Vec<_>>());
    // BEGIN and COMMIT are not statements here; the ten gets are.
    assert_eq!(statements(&db) - before, 10);
}

/// A batch that fails for a reason that is not its keys' (here: the only
/// connection is held, so the pool is exhausted) fails every waiter with
/// that error at once, instead of each waiter waiting again alone.
#[tokio::test]
async fn a_batch_failed_by_the_pool_fails_its_waiters_without_a_second_wait() {
    let t = TestDb::new().await;
    items(&t, 10).await;
    let db = Db::connect(
        t.config()
            .pool_min(0)
            .pool_max(1)
            .acquire_timeout(std::time::Duration::from_millis(200)),
    )
    .await
    .unwrap();
    let taken = Arc::new(tokio::sync::Notify::new());
    let release = Arc::new(tokio::sync::Notify::new());
    let holder = {
        let (db, taken, release) = (db.clone(), taken.clone(), release.clone());
        tokio::spawn(async move {
            db.transaction(TxOptions::default(), move |tx| {
                let (taken, release) = (taken.clone(), release.clone());
                async move {
                    tx.execute("SELECT 1", &[]).await?;
                    taken.notify_one();
                    release.notified().await;
                    Ok::<_, Error>(())
                }
            })
            .await
        })
    };
    taken.notified().await;
    let before = statements(&db);
    let gets = (1..=10).map(|k| Item::find(&db, k));
    let all = futures_util::future::join_all(gets).await;
    for r in &all {
        assert!(matches!(r, Err(Error::PoolExhausted { .. })), "{r:?}");
    }
    // One slot (half a pool of one, at least one): the lone get and one
    // batch for the nine that queued, not nine more waits.
    let ran = statements(&db) - before;
    assert!(
        ran <= 3,
        "{ran} statements for 10 gets on an exhausted pool"
    );
    release.notify_one();
    holder.await.unwrap().unwrap();
}
