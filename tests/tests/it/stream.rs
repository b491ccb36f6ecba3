//! Streaming (`fetch_stream`, `Query::stream`): rows arrive in order and
//! complete, writes are refused before anything is sent, a stream dropped
//! half-way or failing mid-way leaves the pool's next borrower a clean
//! connection, and the model stream applies the query's filters and tenant.

use futures_util::StreamExt;
use strata::prelude::*;
use strata::{Db, Metrics, RowStream};
use strata_tests::TestDb;

/// A tenant model with soft delete: the stream must apply both, as `all()` does.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "stream_items", tenant = shop_id, soft_delete)]
pub(crate) struct StreamItem {
    #[model(primary_key, generated)]
    pub id: i64,
    pub shop_id: i64,
    pub n: i32,
    #[model(deleted_at)]
    pub deleted_at: Option<chrono::DateTime<chrono::Utc>>,
}

const ITEMS: &str = "CREATE TABLE stream_items (
    id bigserial PRIMARY KEY,
    shop_id bigint NOT NULL,
    n int NOT NULL,
    deleted_at timestamptz)";

/// Reads `g` from every row (column 0), checking they count up from 1.
async fn read_in_order(stream: &mut RowStream<'_>, limit: Option<i32>) -> i32 {
    let mut last = 0;
    while let Some(row) = stream.next().await {
        let g: i32 = row.unwrap().get(0);
        assert_eq!(
            g,
            last + 1,
            "rows arrive in order, none skipped or repeated"
        );
        last = g;
        if limit == Some(last) {
            break;
        }
    }
    last
}

/// The connection the pool lends next, as the server sees it once that
/// borrower's statement is done: its pid, and its state in
/// `pg_stat_activity` (`idle`: outside any transaction, running nothing).
async fn probe(db: &Db) -> (i32, String) {
    let pid: i32 = db
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    let state = strata_tests::admin()
        .await
        .query_one("SELECT state FROM pg_stat_activity WHERE pid = $1", &[&pid])
        .await
        .unwrap()
        .get(0);
    (pid, state)
}

fn delta(before: &Metrics, after: &Metrics) -> (u64, u64, u64) {
    (
        after.queries.total - before.queries.total,
        after.queries.failed - before.queries.failed,
        after.queries.connections_discarded - before.queries.connections_discarded,
    )
}

/// A pool of one connection, so "the next borrower" is certain.
async fn pool_of_one(t: &TestDb) -> Db {
    Db::connect(t.config().pool_min(0).pool_max(1))
        .await
        .unwrap()
}

#[tokio::test]
async fn rows_arrive_in_order_and_complete_and_the_connection_returns() {
    let t = TestDb::new().await;
    let db = pool_of_one(&t).await;
    let (pid, _) = probe(&db).await;
    let before = db.metrics();
    let mut rows = db
        .fetch_stream(
            "SELECT g, 'row ' || g, pg_backend_pid() FROM generate_series(1, $1::int) g",
            &[&20_000_i32],
        )
        .await
        .unwrap();
    assert_eq!(read_in_order(&mut rows, None).await, 20_000);
    assert_eq!(rows.rows_read(), 20_000);
    assert!(rows.next().await.is_none(), "an ended stream stays ended");
    drop(rows);
    assert_eq!(
        delta(&before, &db.metrics()),
        (1, 0, 0),
        "one query, no failure, nothing discarded"
    );
    let recent = db.recent_queries();
    let last = recent.last().unwrap();
    assert!(last.sql.contains("generate_series"), "{last:?}");
    assert_eq!((last.rows, last.ok), (20_000, true));
    // The same connection came back to the pool, outside any transaction.
    assert_eq!(probe(&db).await, (pid, "idle".to_string()));
    assert_eq!(db.metrics().pool.in_use, 0);
}

#[tokio::test]
async fn a_write_is_refused_before_anything_is_sent() {
    let t = TestDb::new().await;
    t.execute("CREATE TABLE t (v int)", &[]).await.unwrap();
    let before = t.metrics();
    for sql in [
        "INSERT INTO t VALUES (1) RETURNING v",
        "/* a read? */ DELETE FROM t RETURNING v",
        "WITH x AS (INSERT INTO t VALUES (1) RETURNING v) SELECT * FROM x",
        "SELECT v INTO t2 FROM t",
        "SELECT v FROM t FOR UPDATE",
    ] {
        let err = t.fetch_stream(sql, &[]).await.unwrap_err();
        assert!(
            matches!(&err, Error::InvalidInput { reason } if reason.contains("not a read")),
            "{sql}: {err}"
        );
    }
    let after = t.metrics();
    assert_eq!(delta(&before, &after), (5, 5, 0));
    assert_eq!(
        after.round_trips.sent, before.round_trips.sent,
        "nothing was sent"
    );
    // A function that writes is refused by the server: the stream runs
    // inside BEGIN READ ONLY.
    t.execute(
        "CREATE FUNCTION sneaky() RETURNS int LANGUAGE sql \
         AS 'INSERT INTO t VALUES (7) RETURNING v'",
        &[],
    )
    .await
    .unwrap();
    let failed = match t.fetch_stream("SELECT sneaky()", &[]).await {
        Err(err) => err,
        Ok(mut rows) => rows.next().await.unwrap().unwrap_err(),
    };
    assert!(
        matches!(&failed, Error::Database { code, .. } if code.code() == "25006"),
        "{failed}"
    );
    assert_eq!(t.count("t").await, 0);
}

#[tokio::test]
async fn a_stream_dropped_half_way_leaves_the_next_borrower_a_clean_connection() {
    let t = TestDb::new().await;
    let db = pool_of_one(&t).await;
    let before = db.metrics();
    let mut rows = db
        .fetch_stream(
            "SELECT g, pg_backend_pid() FROM generate_series(1, 1000000) g",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(read_in_order(&mut rows, Some(10)).await, 10);
    let pid: i32 = rows.next().await.unwrap().unwrap().get(1);
    drop(rows);
    // The next borrower: a connection outside any transaction, running
    // nothing else, with no rows of the old statement queued before its own.
    let (next_pid, state) = probe(&db).await;
    assert_eq!(state, "idle", "the next borrower's connection is clean");
    assert_ne!(
        next_pid, pid,
        "the half-read connection was closed, not pooled"
    );
    let v: i32 = db.query_read_one("SELECT 42", &[]).await.unwrap().get(0);
    assert_eq!(v, 42);
    let after = db.metrics();
    assert_eq!(delta(&before, &after), (3, 0, 1));
    assert_eq!(after.pool.in_use, 0);
    assert!(db.leaked_connections().is_empty());
    // The server ends the closed connection's backend, and its transaction.
    let admin = strata_tests::admin().await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let alive: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = $1",
                &[&pid],
            )
            .await
            .unwrap()
            .get(0);
        if alive == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "backend {pid} lives on"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_statement_error_mid_stream_is_one_err_and_the_connection_stays_usable() {
    let t = TestDb::new().await;
    let db = pool_of_one(&t).await;
    let (pid, _) = probe(&db).await;
    let before = db.metrics();
    let mut rows = db
        .fetch_stream(
            "SELECT g, 1 / (g - 50000) FROM generate_series(1, 1000000) g",
            &[],
        )
        .await
        .unwrap();
    let mut last = 0;
    let err = loop {
        match rows.next().await.expect("the stream ends with its error") {
            Ok(row) => {
                let g: i32 = row.get(0);
                assert_eq!(g, last + 1);
                last = g;
            }
            Err(err) => break err,
        }
    };
    assert!(last < 50_000, "no row past the failing one: {last}");
    assert!(
        matches!(&err, Error::Database { code, .. } if code.code() == "22012"),
        "{err}"
    );
    assert!(rows.next().await.is_none(), "the error is the last item");
    drop(rows);
    assert_eq!(delta(&before, &db.metrics()), (1, 1, 0));
    assert_eq!(db.recent_queries().last().map(|q| q.ok), Some(false));
    // The same connection serves the next borrower, cleanly.
    assert_eq!(probe(&db).await, (pid, "idle".to_string()));
}

#[tokio::test]
async fn a_connection_lost_mid_stream_is_one_connection_error_never_a_repeat() {
    let t = TestDb::new().await;
    let db = pool_of_one(&t).await;
    let before = db.metrics();
    let mut rows = db
        .fetch_stream(
            "SELECT g, pg_backend_pid() FROM generate_series(1, 10000000) g",
            &[],
        )
        .await
        .unwrap();
    let first = rows.next().await.unwrap().unwrap();
    let pid: i32 = first.get(1);
    let admin = strata_tests::admin().await;
    admin
        .execute("SELECT pg_terminate_backend($1)", &[&pid])
        .await
        .unwrap();
    let mut last: i32 = first.get(0);
    let err = loop {
        match rows.next().await.expect("a lost connection is an Err item") {
            Ok(row) => {
                let g: i32 = row.get(0);
                assert_eq!(g, last + 1, "rows already read are never read again");
                last = g;
            }
            Err(err) => break err,
        }
    };
    assert!(matches!(err, Error::Connection { .. }), "{err}");
    assert!(rows.next().await.is_none());
    drop(rows);
    let after = db.metrics();
    assert_eq!(delta(&before, &after), (1, 1, 1));
    let (next_pid, state) = probe(&db).await;
    assert_eq!(state, "idle");
    assert_ne!(next_pid, pid);
}

#[tokio::test]
async fn inside_a_transaction_the_stream_sees_its_writes_and_a_drop_keeps_it_usable() {
    let t = TestDb::new().await;
    t.execute("CREATE TABLE t (v int)", &[]).await.unwrap();
    let before = t.metrics();
    let outside_pid = t
        .transaction(TxOptions::new(), |tx| async move {
            tx.execute(
                "INSERT INTO t SELECT g FROM generate_series(1, 5000) g",
                &[],
            )
            .await?;
            let (tx_pid, xid): (i32, String) = {
                let row = tx
                    .query_one("SELECT pg_backend_pid(), pg_current_xact_id()::text", &[])
                    .await?;
                (row.get(0), row.get(1))
            };
            // The stream runs on the transaction's connection, in it.
            let mut rows = tx
                .fetch_stream(
                    "SELECT v, pg_backend_pid(), pg_current_xact_id()::text FROM t ORDER BY v",
                    &[],
                )
                .await?;
            let mut n = 0;
            while let Some(row) = rows.next().await {
                let row = row?;
                n += 1;
                assert_eq!(row.get::<_, i32>(0), n);
                assert_eq!(row.get::<_, i32>(1), tx_pid);
                assert_eq!(row.get::<_, String>(2), xid);
            }
            assert_eq!(n, 5000, "the uncommitted rows, all of them");
            drop(rows);
            // Dropped half-way: the transaction goes on.
            let mut rows = tx
                .fetch_stream("SELECT g FROM generate_series(1, 200000) g", &[])
                .await?;
            assert_eq!(read_in_order(&mut rows, Some(3)).await, 3);
            drop(rows);
            let v: i64 = tx.query_one("SELECT count(*) FROM t", &[]).await?.get(0);
            assert_eq!(v, 5000);
            // A write is refused in a transaction too, before sending.
            let err = tx
                .fetch_stream("UPDATE t SET v = 0 RETURNING v", &[])
                .await
                .unwrap_err();
            assert!(matches!(err, Error::InvalidInput { .. }), "{err}");
            tx.execute("INSERT INTO t VALUES (0)", &[]).await?;
            Ok(tx_pid)
        })
        .await
        .unwrap();
    assert_eq!(t.count("t").await, 5001, "the transaction committed");
    let m = t.metrics();
    assert_eq!(m.transactions.committed - before.transactions.committed, 1);
    assert_eq!(
        m.queries.connections_discarded,
        before.queries.connections_discarded
    );
    assert!(outside_pid > 0);
    assert!(t.leaked_connections().is_empty());
}

#[tokio::test]
async fn the_model_stream_applies_the_filters_order_and_tenant_as_all_does() {
    let t = TestDb::new().await;
    t.execute(ITEMS, &[]).await.unwrap();
    for shop in [1_i64, 2] {
        let rows: Vec<NewStreamItem> = (1..=3000).map(|n| NewStreamItem { n }).collect();
        StreamItem::insert_many(&t.tenant(shop), &rows)
            .await
            .unwrap();
    }
    let one = t.tenant(1_i64);
    let gone = StreamItem::query()
        .filter(StreamItem::N.eq(2000))
        .one(&one)
        .await
        .unwrap();
    StreamItem::delete(&one, gone.id).await.unwrap();
    let query = StreamItem::query()
        .filter(StreamItem::N.gt(1500))
        .order_by(StreamItem::N.desc());
    let before = t.metrics();
    let mut stream = query.stream(&one).await.unwrap();
    let mut streamed = Vec::new();
    while let Some(item) = stream.next().await {
        streamed.push(item.unwrap());
    }
    assert_eq!(stream.rows_read(), 1499);
    drop(stream);
    assert_eq!(delta(&before, &t.metrics()), (1, 0, 0));
    assert!(streamed.iter().all(|i| i.shop_id == 1 && i.n > 1500));
    assert!(
        streamed.iter().all(|i| i.n != 2000),
        "soft-deleted rows stay hidden"
    );
    assert!(
        streamed.windows(2).all(|w| w[0].n > w[1].n),
        "in the query's order"
    );
    assert_eq!(streamed, query.all(&one).await.unwrap());
    // In a tenant transaction too, with a limit.
    let first: Vec<i32> = one
        .transaction(TxOptions::new(), |tx| {
            let q = query.clone().limit(5);
            async move {
                let items: Vec<StreamItem> =
                    q.stream(&tx).await?.map(|i| i.unwrap()).collect().await;
                Ok(items.into_iter().map(|i| i.n).collect())
            }
        })
        .await
        .unwrap();
    assert_eq!(first, vec![3000, 2999, 2998, 2997, 2996]);
}

/// A raw row shape for `fetch_stream_as`: read by column name.
#[derive(FromRow, Debug, PartialEq)]
struct Numbered {
    label: String,
    #[from_row(rename = "g")]
    n: i32,
}

/// `fetch_stream_as` decodes by name (the columns in another order than
/// the struct's fields) and stops at the first row that does not decode.
#[tokio::test]
async fn a_typed_stream_decodes_rows_by_name_and_ends_at_the_first_bad_one() {
    let t = TestDb::new().await;
    let mut rows = t
        .fetch_stream_as::<Numbered>(
            "SELECT g, 'row ' || g AS label FROM generate_series(1, 10000) g",
            &[],
        )
        .await
        .unwrap();
    let mut n = 0;
    while let Some(row) = rows.next().await {
        n += 1;
        assert_eq!(
            row.unwrap(),
            Numbered {
                label: format!("row {n}"),
                n
            }
        );
    }
    assert_eq!(n, 10_000);
    drop(rows);

    let mut missing = t
        .fetch_stream_as::<Numbered>("SELECT g FROM generate_series(1, 10) g", &[])
        .await
        .unwrap();
    let first = missing.next().await.unwrap().unwrap_err();
    assert!(first.to_string().contains("label"), "{first}");
    assert!(
        missing.next().await.is_none(),
        "the stream ends at the error"
    );
    drop(missing);

    let mut nulls = t
        .fetch_stream_as::<Numbered>(
            "SELECT g, CASE WHEN g = 3 THEN NULL ELSE 'x' END AS label FROM generate_series(1, 10) g",
            &[],
        )
        .await
        .unwrap();
    let got: Vec<_> = (&mut nulls).collect().await;
    assert_eq!(got.len(), 3);
    assert!(got[..2].iter().all(|r| r.is_ok()));
    assert!(matches!(&got[2], Err(Error::Decode { column, .. }) if column == "label"));
}
