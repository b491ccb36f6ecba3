//! The raw-SQL guards, held against an adversarial corpus: every spelling
//! of transaction control and session state, every way a "read" can write.
//!
//! Each statement runs three ways on a pool of one connection, so the next
//! borrower is the connection the statement ran on unless strata closed it:
//! `db.execute` (D), `db.query_read` (R) and `tx.execute` inside a
//! transaction that then rolls back (T). For each: whether it was refused
//! before sending, that a refused statement or a declared read wrote
//! nothing, and that the next borrower finds the connection outside any
//! transaction and with the session it had at the start.

use std::sync::{Arc, Mutex};

use strata::{Error, Executor, TxOptions};
use strata_tests::TestDb;

/// What a statement gets on one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    /// `Error::InvalidInput`, before anything is sent.
    Refused,
    /// Runs, successfully.
    Runs,
    /// Sent, and refused by the server.
    ServerError,
}
use Want::{Refused as R, Runs as O, ServerError as S};

/// (sql, D, R, T)
const CORPUS: &[(&str, Want, Want, Want)] = &[
    // Transaction control, in every spelling.
    ("BEGIN", R, R, R),
    ("begin", R, R, R),
    ("BeGiN WORK", R, R, R),
    ("/* x */ BEGIN", R, R, R),
    ("-- c\nBEGIN", R, R, R),
    ("/* a /* nested */ b */ BEGIN", R, R, R),
    ("/**/BEGIN", R, R, R),
    ("\n\t  BEGIN ISOLATION LEVEL SERIALIZABLE", R, R, R),
    (";BEGIN", R, R, R),
    (" ; ;\n begin transaction read only", R, R, R),
    ("START TRANSACTION", R, R, R),
    ("/* x */ COMMIT", R, R, R),
    ("-- c\ncommit", R, R, R),
    ("COMMIT AND CHAIN", R, R, R),
    ("END", R, R, R),
    ("ABORT", R, R, R),
    ("ROLLBACK", R, R, R),
    ("PREPARE TRANSACTION 'strata_x'", R, R, R),
    ("COMMIT PREPARED 'strata_x'", R, R, R),
    // Savepoints: only inside a transaction.
    ("SAVEPOINT a", R, R, O),
    ("/* x */ RELEASE SAVEPOINT a", R, R, S),
    ("ROLLBACK TO SAVEPOINT a", R, R, S),
    // Session state: a pooled connection's session is every borrower's.
    ("SET search_path = public", R, R, R),
    ("set search_path to public", R, R, R),
    ("/* x */ SET ROLE postgres", R, R, R),
    (
        "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
        R,
        R,
        R,
    ),
    ("SET SESSION AUTHORIZATION DEFAULT", R, R, R),
    ("SET statement_timeout = 1", R, R, R),
    ("SET TIME ZONE 'UTC'", R, R, R),
    ("RESET ALL", R, R, R),
    ("reset search_path", R, R, R),
    ("DISCARD ALL", R, R, R),
    ("LISTEN strata_c", R, R, R),
    ("UNLISTEN *", R, R, R),
    ("PREPARE p AS SELECT 1", R, R, R),
    ("DEALLOCATE ALL", R, R, R),
    ("DECLARE c CURSOR WITH HOLD FOR SELECT 1", R, R, R),
    ("CREATE TEMP TABLE tt (a int)", R, R, R),
    ("SELECT 1 INTO TEMP tt", R, R, R),
    ("SET LOCAL search_path = public", O, R, O),
    // Session state changed by functions: runs; the server is asked.
    ("SELECT set_config('search_path', 'public', false)", O, O, O),
    ("SELECT pg_advisory_lock(42)", O, O, O),
    ("SELECT sets_path()", O, O, O),
    // Settings pg_settings does not list, and writes that set or create
    // session state without a session command (found in review).
    ("SELECT set_config('app.tenant', '42', false)", O, O, O),
    (
        "UPDATE pg_settings SET setting = 'public' WHERE name = 'search_path'",
        O,
        R,
        O,
    ),
    ("SELECT 1 AS a INTO pg_temp.leak1", O, R, O),
    (
        "EXPLAIN ANALYZE CREATE TEMP TABLE leak2 AS SELECT 1",
        O,
        R,
        O,
    ),
    ("EXPLAIN (\"analyze\") SELECT 1", O, R, O),
    ("SELECT pg_notify('strata_c', 'x')", O, R, O),
    // Reads that write.
    ("EXPLAIN ANALYZE DELETE FROM t", O, R, O),
    ("EXPLAIN (ANALYZE) DELETE FROM t", O, R, O),
    ("EXPLAIN (FORMAT JSON, ANALYZE) DELETE FROM t", O, R, O),
    ("EXPLAIN ANALYSE DELETE FROM t", O, R, O),
    ("explain (analyse true, costs off) delete from t", O, R, O),
    ("EXPLAIN /* c */ ANALYZE DELETE FROM t", O, R, O),
    ("EXPLAIN (ANALYZE false) DELETE FROM t", O, R, O),
    ("SELECT * INTO t2 FROM t", O, R, O),
    ("select a into t3 from t", O, R, O),
    ("SELECT * FROM t FOR UPDATE", O, R, O),
    ("SELECT * FROM t FOR NO KEY UPDATE", O, R, O),
    ("SELECT * FROM t FOR SHARE", O, R, O),
    ("SELECT * FROM t FOR KEY SHARE", O, R, O),
    (
        "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
        O,
        R,
        O,
    ),
    (
        "WITH i AS (INSERT INTO t VALUES (9) RETURNING *) SELECT 1",
        O,
        R,
        O,
    ),
    (
        "with u as (update t set a = 2 returning *) select * from u",
        O,
        R,
        O,
    ),
    ("WITH x AS (SELECT 1) DELETE FROM t", O, R, O),
    // A read by its text that writes through a function: the server refuses.
    ("SELECT write_fn()", O, S, O),
    ("SELECT nextval('s')", O, S, O),
    ("VALUES (nextval('s'))", O, S, O),
    // Several statements in one string.
    ("SELECT 1; DELETE FROM t", R, R, R),
    ("(SELECT 1); DELETE FROM t", R, R, R),
    ("SELECT 1;\n-- comment\nDELETE FROM t", R, R, R),
    ("VALUES (1); BEGIN", R, R, R),
    ("SELECT 'x'; COMMIT", R, R, R),
    // Writes.
    ("INSERT INTO t VALUES (5)", O, R, O),
    ("/* SELECT */ DELETE FROM t", O, R, O),
    ("-- SELECT\nDELETE FROM t", O, R, O),
    ("DELETE FROM t -- SELECT", O, R, O),
    ("UPDATE t SET a = 3", O, R, O),
    (
        "MERGE INTO t USING (SELECT 1 AS a) s ON t.a = s.a WHEN MATCHED THEN DELETE",
        O,
        R,
        O,
    ),
    ("CALL write_proc()", O, R, O),
    ("DO $$ BEGIN INSERT INTO t VALUES (7); END $$", O, R, O),
    // Reads, however they are spelled.
    ("SELECT 1", O, O, O),
    ("/* c */ SELECT a FROM t", O, O, O),
    ("-- c\nselect a from t", O, O, O),
    ("(SELECT 1) UNION (SELECT 2)", O, O, O),
    ("SELECT 'BEGIN; DELETE FROM t'", O, O, O),
    ("SELECT $$ ; COMMIT $$", O, O, O),
    ("SELECT $tag$ ; DELETE FROM t $tag$", O, O, O),
    ("SELECT E'\\'; DELETE FROM t'", O, O, O),
    ("SELECT 'it''s; COMMIT'", O, O, O),
    ("SELECT \"a\" FROM t", O, O, O),
    ("SHOW search_path", O, O, O),
    ("VALUES (1), (2)", O, O, O),
    ("TABLE t", O, O, O),
    ("EXPLAIN SELECT * FROM t", O, O, O),
    ("EXPLAIN (FORMAT JSON) SELECT * FROM t", O, O, O),
    ("WITH x AS (SELECT a FROM t) SELECT * FROM x", O, O, O),
    ("SELECT count(*) FROM t WHERE a IN (1, 2)", O, O, O),
    ("/* BEGIN */ SELECT 1 -- COMMIT", O, O, O),
    // Text that does not parse.
    ("SELECT 'open", S, R, S),
    ("/* open SELECT 1", S, R, S),
];

const SETUP: &str = "
    CREATE TABLE t (a int);
    CREATE TABLE marker (n int);
    CREATE SEQUENCE s;
    CREATE FUNCTION write_fn() RETURNS int LANGUAGE sql AS 'INSERT INTO t VALUES (100) RETURNING a';
    CREATE FUNCTION sets_path() RETURNS text LANGUAGE sql AS $$ SELECT set_config('search_path', 'public', false) $$;
    CREATE PROCEDURE write_proc() LANGUAGE sql AS 'INSERT INTO t VALUES (200)';
";

/// What the next borrower sees of its session, and whether it is clean.
async fn session(t: &TestDb) -> String {
    let row = t
        .query_one(
            "SELECT current_setting('search_path') || ' ' || current_user || ' ' || session_user
                 || ' ro=' || current_setting('transaction_read_only')
                 || ' st=' || current_setting('statement_timeout')
                 || ' tz=' || current_setting('TimeZone')
                 || ' app=' || coalesce(nullif(current_setting('app.tenant', true), ''), '-')
                 || ' dtro=' || current_setting('default_transaction_read_only')
                 || ' locks=' || (SELECT count(*) FROM pg_locks
                                  WHERE locktype = 'advisory' AND pid = pg_backend_pid())
                 || ' listen=' || (SELECT count(*) FROM pg_listening_channels())
                 || ' prepared=' || (SELECT count(*) FROM pg_prepared_statements WHERE from_sql)
                 || ' cursors=' || (SELECT count(*) FROM pg_cursors)
                 || ' temp=' || (SELECT count(*) FROM pg_class
                                 WHERE relnamespace = pg_my_temp_schema())",
            &[],
        )
        .await
        .expect("the next borrower can run a statement");
    row.get(0)
}

/// The rows of `t`, the sequence and the tables a statement could create.
async fn data(admin: &tokio_postgres::Client, schema: &str) -> String {
    let row = admin
        .query_one(
            &format!(
                "SELECT (SELECT coalesce(string_agg(a::text, ',' ORDER BY a), '') FROM \"{schema}\".t)
                     || ' seq=' || (SELECT last_value || '/' || is_called FROM \"{schema}\".s)
                     || ' t2=' || (to_regclass('\"{schema}\".t2') IS NOT NULL)
                     || ' t3=' || (to_regclass('\"{schema}\".t3') IS NOT NULL)"
            ),
            &[],
        )
        .await
        .unwrap();
    row.get(0)
}

async fn reset_data(admin: &tokio_postgres::Client, schema: &str) {
    admin
        .batch_execute(&format!(
            "TRUNCATE \"{schema}\".t; INSERT INTO \"{schema}\".t VALUES (1);
             SELECT setval('\"{schema}\".s', 1, false);
             DROP TABLE IF EXISTS \"{schema}\".t2, \"{schema}\".t3;"
        ))
        .await
        .unwrap();
}

/// A write through the next borrower commits at once: it is visible from
/// another connection (a borrower left inside a transaction would hide it
/// until a COMMIT that never comes).
async fn autocommit_holds(t: &TestDb, admin: &tokio_postgres::Client, n: i32) {
    t.execute("INSERT INTO marker VALUES ($1)", &[&n])
        .await
        .unwrap();
    let seen: i64 = admin
        .query_one(
            &format!(
                "SELECT count(*) FROM \"{}\".marker WHERE n = $1",
                t.schema()
            ),
            &[&n],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        seen, 1,
        "write {n} through the next borrower is not visible"
    );
}

fn outcome<T>(r: &strata::Result<T>) -> Want {
    match r {
        Ok(_) => Want::Runs,
        Err(Error::InvalidInput { .. }) => Want::Refused,
        Err(_) => Want::ServerError,
    }
}

#[tokio::test]
async fn adversarial_corpus_holds_on_every_path() {
    assert!(CORPUS.len() >= 60);
    let t = TestDb::with(|c| c.pool_max(1)).await;
    t.db().query("SELECT 1", &[]).await.unwrap();
    for stmt in SETUP.split(";\n").filter(|s| !s.trim().is_empty()) {
        t.execute(stmt, &[]).await.unwrap();
    }
    let admin = strata_tests::admin().await;
    let schema = t.schema().to_owned();
    reset_data(&admin, &schema).await;
    let clean_session = session(&t).await;
    let clean_data = data(&admin, &schema).await;
    let mut marker = 0;
    let mut failures = Vec::new();
    for &(sql, d, r, tx) in CORPUS {
        for (path, want) in [("D", d), ("R", r), ("T", tx)] {
            reset_data(&admin, &schema).await;
            let pid_before: i32 = t
                .query_one("SELECT pg_backend_pid()", &[])
                .await
                .unwrap()
                .get(0);
            let discarded_before = t.metrics().queries.connections_discarded;
            let got = match path {
                "D" => outcome(&t.execute(sql, &[]).await),
                "R" => outcome(&t.query_read(sql, &[]).await),
                _ => {
                    let seen = Arc::new(Mutex::new(None));
                    let slot = seen.clone();
                    let _ = t
                        .transaction(TxOptions::new(), move |tx| {
                            let slot = slot.clone();
                            async move {
                                let r = tx.execute(sql, &[]).await;
                                *slot.lock().unwrap() = Some(outcome(&r));
                                Err::<(), _>(Error::NotFound { what: "rollback" })
                            }
                        })
                        .await;
                    seen.lock().unwrap().take().expect("the closure ran")
                }
            };
            if got != want {
                failures.push(format!("{path} {sql:?}: wanted {want:?}, got {got:?}"));
                continue;
            }
            if want == Want::Refused {
                // Refused before sending: same connection, nothing closed.
                let pid_after: i32 = t
                    .query_one("SELECT pg_backend_pid()", &[])
                    .await
                    .unwrap()
                    .get(0);
                if pid_after != pid_before
                    || t.metrics().queries.connections_discarded != discarded_before
                {
                    failures.push(format!("{path} {sql:?}: refused, but after sending"));
                }
            }
            // Refused statements, declared reads and rolled-back
            // transactions write nothing.
            if want != Want::Runs || path != "D" {
                let mut now = data(&admin, &schema).await;
                if path == "T" && want == Want::Runs {
                    // Sequences are not transactional: a rolled-back
                    // nextval still moved the sequence. Compare the rows.
                    now = now.replace(" seq=1/true", " seq=1/false");
                }
                if now != clean_data {
                    failures.push(format!("{path} {sql:?}: wrote: {now} (was {clean_data})"));
                }
            }
            let now = session(&t).await;
            if now != clean_session {
                failures.push(format!(
                    "{path} {sql:?}: next borrower inherited: {now} (was {clean_session})"
                ));
            }
            marker += 1;
            autocommit_holds(&t, &admin, marker).await;
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        CORPUS.len() * 3,
        failures.join("\n")
    );
}

/// The write that was lost: a raw `BEGIN` used to send the connection back
/// to the pool inside a transaction, and the next autocommit write on it
/// returned `Ok(1)` and vanished with the pool.
#[tokio::test]
async fn a_commented_begin_cannot_swallow_later_writes() {
    let t = TestDb::with(|c| c.pool_max(1)).await;
    t.execute("CREATE TABLE w (n int)", &[]).await.unwrap();
    for sql in ["/* x */ BEGIN", "-- c\nBEGIN"] {
        let err = t.execute(sql, &[]).await.unwrap_err();
        assert!(matches!(err, Error::InvalidInput { .. }), "{sql}: {err:?}");
    }
    assert_eq!(t.execute("INSERT INTO w VALUES (1)", &[]).await.unwrap(), 1);
    let admin = strata_tests::admin().await;
    t.db().close().await;
    let n: i64 = admin
        .query_one(&format!("SELECT count(*) FROM \"{}\".w", t.schema()), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1, "the write survived the pool's close");
}

/// Inside `db.transaction`, a commented `COMMIT` used to commit half-way:
/// the closure's `Err` afterwards still left both rows.
#[tokio::test]
async fn a_commented_commit_cannot_end_the_transaction_half_way() {
    let t = TestDb::new().await;
    t.execute("CREATE TABLE w (n int)", &[]).await.unwrap();
    let err = t
        .transaction(TxOptions::new(), |tx| async move {
            tx.execute("INSERT INTO w VALUES (1)", &[]).await?;
            let refused = tx.execute("/* x */ COMMIT", &[]).await;
            assert!(matches!(refused, Err(Error::InvalidInput { .. })));
            tx.execute("INSERT INTO w VALUES (2)", &[]).await?;
            Err::<(), _>(Error::NotFound { what: "give up" })
        })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }));
    assert_eq!(t.count("w").await, 0, "both rows rolled back");
}

/// Session state a committed transaction leaves behind through a function
/// (the text cannot show it): the server is asked after COMMIT, and the
/// connection is closed rather than handed on.
#[tokio::test]
async fn a_committed_transaction_cannot_leak_session_state() {
    let t = TestDb::with(|c| c.pool_max(1)).await;
    let clean = session(&t).await;
    // Settings are put back (RESET ALL) and the connection kept; a session
    // advisory lock cannot be undone that way, so its connection is closed.
    for (sql, closed) in [
        ("SELECT set_config('search_path', 'public', false)", 0),
        ("SELECT pg_advisory_lock(7)", 1),
        ("SELECT set_config('app.tenant', '42', false)", 0),
        (
            "UPDATE pg_settings SET setting = 'on' WHERE name = 'default_transaction_read_only'",
            0,
        ),
    ] {
        let before = t.metrics().queries.connections_discarded;
        t.transaction(TxOptions::new(), |tx| async move {
            tx.execute(sql, &[]).await.map(|_| ())
        })
        .await
        .unwrap();
        assert_eq!(session(&t).await, clean, "{sql}");
        assert_eq!(
            t.metrics().queries.connections_discarded,
            before + closed,
            "{sql}: connections closed"
        );
    }
    // A clean transaction keeps its connection.
    let before = t.metrics().queries.connections_discarded;
    t.transaction(TxOptions::new(), |tx| async move {
        tx.execute("CREATE TABLE kept (a int)", &[])
            .await
            .map(|_| ())
    })
    .await
    .unwrap();
    assert_eq!(t.metrics().queries.connections_discarded, before);
}

/// A caller that gives up while a statement the guard cannot vouch for is
/// in flight (a request timeout, a client gone) must not hand its changed
/// session to the next borrower: at every cancellation point, the
/// connection is closed or found clean.
#[tokio::test]
async fn a_cancelled_statement_cannot_leak_session_state() {
    let t = TestDb::with(|c| c.pool_max(1)).await;
    let clean = session(&t).await;
    for yields in 0..40 {
        let sql = "SELECT pg_catalog.set_config('search_path', 'evil', false)";
        tokio::select! {
            biased;
            _ = t.execute(sql, &[]) => {}
            _ = async {
                for _ in 0..yields {
                    tokio::task::yield_now().await;
                }
            } => {}
        }
        assert_eq!(session(&t).await, clean, "cancelled after {yields} yields");
    }
    // And a transaction dropped after its statement.
    for yields in 0..40 {
        tokio::select! {
            biased;
            _ = t.transaction(TxOptions::new(), |tx| async move {
                tx.execute("SELECT set_config('app.tenant', '7', false)", &[]).await.map(|_| ())
            }) => {}
            _ = async {
                for _ in 0..yields {
                    tokio::task::yield_now().await;
                }
            } => {}
        }
        assert_eq!(
            session(&t).await,
            clean,
            "transaction cancelled after {yields} yields"
        );
    }
}

/// A rule's parenthesised action list is one statement to the server and to
/// psql, so it is not refused as "several statements".
#[tokio::test]
async fn a_rule_with_several_actions_is_one_statement() {
    let t = TestDb::new().await;
    t.execute("CREATE TABLE a (x int)", &[]).await.unwrap();
    t.execute("CREATE TABLE b (y int)", &[]).await.unwrap();
    t.execute(
        "CREATE RULE copy_twice AS ON INSERT TO a DO ALSO (
             INSERT INTO b VALUES (new.x);
             INSERT INTO b VALUES (new.x + 1)
         )",
        &[],
    )
    .await
    .unwrap();
    t.execute("INSERT INTO a VALUES (1)", &[]).await.unwrap();
    let got: i64 = t
        .query_one("SELECT sum(y) FROM b", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(got, 3, "both actions ran");
    // Two statements are still two.
    let err = t
        .execute("INSERT INTO a VALUES (2); INSERT INTO a VALUES (3)", &[])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
}
