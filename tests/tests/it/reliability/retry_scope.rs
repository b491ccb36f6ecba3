//! Retry scope: only serialization failures and deadlocks (and unique
//! violations when asked) are retried; an unknown COMMIT never is.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};

use strata::prelude::*;
use strata_tests::TestDb;
use strata_tests::proxy::{CommitCut, FaultProxy};

#[tokio::test]
async fn only_serialization_and_deadlock_are_retried() {
    let t = TestDb::new().await;
    t.execute("CREATE TABLE parent (id int PRIMARY KEY)", &[])
        .await
        .unwrap();
    t.execute("CREATE TABLE child (p int REFERENCES parent)", &[])
        .await
        .unwrap();
    t.execute("CREATE TABLE u (id int PRIMARY KEY)", &[])
        .await
        .unwrap();
    t.execute("INSERT INTO u VALUES (1)", &[]).await.unwrap();
    let raise = |code: &str| {
        format!("DO $$ BEGIN RAISE EXCEPTION 'injected' USING ERRCODE = '{code}'; END $$")
    };
    // Fails on the first attempt only, with `sql`; returns (attempts, result).
    async fn first_fails(db: &Db, opts: TxOptions, sql: String) -> (u32, Result<()>) {
        let attempts = Arc::new(AtomicU32::new(0));
        let result = db
            .transaction(opts, |tx| {
                let (attempts, sql) = (attempts.clone(), sql.clone());
                async move {
                    if attempts.fetch_add(1, Ordering::SeqCst) == 0 {
                        tx.execute(&sql, &[]).await?;
                    }
                    Ok(())
                }
            })
            .await;
        (attempts.load(Ordering::SeqCst), result)
    }
    let mut line = String::new();
    let cases: Vec<(&str, TxOptions, String, u32)> = vec![
        ("40001", TxOptions::new(), raise("40001"), 2),
        ("40P01", TxOptions::new(), raise("40P01"), 2),
        (
            "23505",
            TxOptions::new(),
            "INSERT INTO u VALUES (1)".into(),
            1,
        ),
        (
            "23505 retry_on_unique",
            TxOptions::new().retry_on_unique(true),
            "INSERT INTO u VALUES (1)".into(),
            2,
        ),
        (
            "23503",
            TxOptions::new(),
            "INSERT INTO child VALUES (42)".into(),
            1,
        ),
        (
            "I/O mid-statement",
            TxOptions::new(),
            "SELECT pg_terminate_backend(pg_backend_pid())".into(),
            1,
        ),
    ];
    for (name, opts, sql, want) in cases {
        let (attempts, result) = first_fails(&t, opts, sql).await;
        write!(
            line,
            "{name}: attempts {attempts} ({}); ",
            match &result {
                Ok(()) => "ok".into(),
                Err(e) => format!("{e:?}").chars().take(40).collect::<String>(),
            }
        )
        .unwrap();
        assert_eq!(attempts, want, "{name}: {result:?}");
        match name {
            "23505" => assert!(
                matches!(result, Err(Error::UniqueViolation { .. })),
                "{result:?}"
            ),
            "23503" => assert!(
                matches!(result, Err(Error::ForeignKeyViolation { .. })),
                "{result:?}"
            ),
            "I/O mid-statement" => assert!(
                matches!(result, Err(Error::Connection { .. })),
                "{result:?}"
            ),
            _ => assert!(result.is_ok(), "{name}: {result:?}"),
        }
    }
    // An unknown COMMIT: the connection is cut right after COMMIT is sent,
    // so the server commits. The marker table has no key: a repeat would
    // show as a second row, not as a unique violation.
    t.execute("CREATE TABLE marker (id int NOT NULL)", &[])
        .await
        .unwrap();
    let proxy = FaultProxy::start("127.0.0.1:5432").await;
    let db = Db::connect(t.config().port(proxy.port())).await.unwrap();
    proxy.cut_next_commit(CommitCut::After);
    let attempts = Arc::new(AtomicU32::new(0));
    let first_pid = Arc::new(AtomicI32::new(0));
    let result = db
        .transaction(TxOptions::serializable(), |tx| {
            let (attempts, first_pid) = (attempts.clone(), first_pid.clone());
            async move {
                let pid: i32 = tx.query_one("SELECT pg_backend_pid()", &[]).await?.get(0);
                if attempts.fetch_add(1, Ordering::SeqCst) == 0 {
                    first_pid.store(pid, Ordering::SeqCst);
                }
                tx.execute("INSERT INTO marker VALUES (7)", &[])
                    .await
                    .map(|_| ())
            }
        })
        .await;
    // The server decides once the cut backend has run what reached it.
    super::wait_backend_gone(first_pid.load(Ordering::SeqCst)).await;
    let applied: i64 = t
        .query_one("SELECT count(*) FROM marker WHERE id = 7", &[])
        .await
        .unwrap()
        .get(0);
    let m = t.metrics().transactions;
    println!(
        "retry scope: {line}unknown COMMIT: attempts {}, {:?}, applied {applied} time(s); retried serialization {}, deadlock {}, unique {}",
        attempts.load(Ordering::SeqCst),
        result.as_ref().err().map(|e| e.to_string()),
        m.retried_serialization,
        m.retried_deadlock,
        m.retried_unique
    );
    assert_eq!(
        applied, 1,
        "the COMMIT reached the server: applied once, never repeated"
    );
    assert!(
        matches!(result, Err(Error::OutcomeUnknown { .. })),
        "{result:?}"
    );
    assert_eq!(
        attempts.load(Ordering::SeqCst),
        1,
        "an unknown COMMIT was retried"
    );
    assert_eq!(
        (
            m.retried_serialization,
            m.retried_deadlock,
            m.retried_unique
        ),
        (1, 1, 1)
    );
    assert_eq!(db.metrics().transactions.retried(), 0);
}
