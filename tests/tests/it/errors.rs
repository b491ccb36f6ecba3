//! SQLSTATE classification: each code maps to its variant.

use strata::prelude::*;
use strata_tests::TestDb;

#[tokio::test]
async fn sqlstates_map_to_variants() {
    let t = TestDb::new().await;
    t.execute(
        "CREATE TABLE parent (id int PRIMARY KEY);
         ",
        &[],
    )
    .await
    .unwrap();
    t.execute(
        "CREATE TABLE child (id int PRIMARY KEY, parent int REFERENCES parent (id),
           email text NOT NULL CONSTRAINT child_email_key UNIQUE,
           age int CONSTRAINT child_age_check CHECK (age >= 0))",
        &[],
    )
    .await
    .unwrap();
    t.execute("INSERT INTO parent VALUES (1)", &[])
        .await
        .unwrap();
    t.execute("INSERT INTO child VALUES (1, 1, 'a@x', 1)", &[])
        .await
        .unwrap();

    let err = t
        .execute("INSERT INTO child VALUES (2, 1, 'a@x', 1)", &[])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::UniqueViolation { .. }), "{err:?}");
    assert_eq!(err.constraint(), Some("child_email_key"));
    assert!(!err.is_transient());

    let err = t
        .execute("INSERT INTO child VALUES (3, 99, 'b@x', 1)", &[])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ForeignKeyViolation { .. }), "{err:?}");
    assert_eq!(err.constraint(), Some("child_parent_fkey"));

    let err = t
        .execute("INSERT INTO child VALUES (4, 1, 'c@x', -1)", &[])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::CheckViolation { .. }), "{err:?}");
    assert_eq!(err.constraint(), Some("child_age_check"));

    let err = t
        .execute("INSERT INTO child VALUES (5, 1, NULL, 1)", &[])
        .await
        .unwrap_err();
    match &err {
        Error::NotNullViolation { column, .. } => assert_eq!(column.as_deref(), Some("email")),
        other => panic!("{other:?}"),
    }

    let err = t
        .execute(
            "DO $$ BEGIN RAISE EXCEPTION USING ERRCODE = '40001'; END $$",
            &[],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Serialization { .. }), "{err:?}");
    assert!(err.is_transient());

    let err = t
        .execute(
            "DO $$ BEGIN RAISE EXCEPTION USING ERRCODE = '40P01'; END $$",
            &[],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Deadlock { .. }), "{err:?}");
    assert!(err.is_transient());

    let err = t
        .transaction(TxOptions::new(), |tx| async move {
            tx.execute("SET LOCAL statement_timeout = 50", &[]).await?;
            tx.execute("SELECT pg_sleep(1)", &[]).await
        })
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Timeout {
                kind: strata::TimeoutKind::Statement,
                ..
            }
        ),
        "{err:?}"
    );

    let err = t.execute("SELEC 1", &[]).await.unwrap_err();
    match &err {
        Error::Database { code, message, .. } => {
            assert_eq!(code, &strata::SqlState::SYNTAX_ERROR);
            assert!(message.contains("SELEC"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    // Display never repeats the driver error; source() carries it.
    let shown = err.to_string();
    assert_eq!(shown.matches("syntax error").count(), 1, "{shown}");
    assert!(std::error::Error::source(&err).is_some());

    let err = t.query_one("SELECT 1 WHERE false", &[]).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }));
}

#[tokio::test]
async fn connection_failures_are_typed() {
    // Nothing listens on port 1: refused, retried, then a transient Connection error.
    let config = strata::Config::new().port(1).retry_attempts(1);
    let err = Db::connect(config).await.unwrap_err();
    assert!(matches!(err, Error::Connection { .. }), "{err:?}");
    assert!(err.is_transient());

    // A mode that may fall back to plaintext is refused before connecting
    // (TLS itself is tested in tls.rs).
    let config = strata::Config::new().port(1).ssl(strata::SslMode::Prefer);
    let err = Db::connect(config).await.unwrap_err();
    assert!(
        matches!(err, Error::Config { var: "sslmode", .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn pool_exhaustion_is_typed() {
    let t = TestDb::with(|c| {
        c.pool_max(1)
            .acquire_timeout(std::time::Duration::from_millis(100))
    })
    .await;
    let db = t.db().clone();
    let holder = tokio::spawn(async move {
        db.transaction(TxOptions::new(), |tx| async move {
            tx.execute("SELECT pg_sleep(0.5)", &[]).await
        })
        .await
    });
    // The holder has the only connection (polled, bounded).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while t.pool_status().in_use != 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the holder never took the connection"
        );
        tokio::task::yield_now().await;
    }
    let err = t.query("SELECT 1", &[]).await.unwrap_err();
    assert!(matches!(err, Error::PoolExhausted { .. }), "{err:?}");
    holder.await.unwrap().unwrap();
    t.query("SELECT 1", &[]).await.unwrap();
}

#[tokio::test]
async fn a_value_that_cannot_be_encoded_is_invalid_input_and_keeps_the_connection() {
    let t = TestDb::with(|c| c.pool_max(1)).await;
    t.execute("CREATE TABLE t (n int)", &[]).await.unwrap();
    let pid: i32 = t
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    // An i64 for an int4 parameter: refused while encoding, before sending.
    let err = t.query("SELECT $1::int4", &[&5i64]).await.unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
    assert!(err.to_string().contains("parameter 0"), "{err}");
    let err = t
        .execute("INSERT INTO t VALUES ($1)", &[&"five"])
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::InvalidInput { .. }),
        "a write is not of unknown outcome: {err:?}"
    );
    assert!(!err.is_transient());
    // Same connection, nothing discarded, nothing written.
    let again: i32 = t
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(again, pid);
    assert_eq!(t.metrics().queries.connections_discarded, 0);
    let n = t.count("t").await;
    assert_eq!(n, 0);
}

#[tokio::test]
async fn raw_transaction_control_is_refused() {
    let t = TestDb::with(|c| c.pool_max(1)).await;
    for sql in [
        "BEGIN",
        "begin isolation level serializable",
        "START TRANSACTION",
        "COMMIT",
        "SAVEPOINT a",
        // Empty statements before it are dropped by the server's parser.
        ";BEGIN",
        " ; ;\n commit",
    ] {
        let err = t.execute(sql, &[]).await.unwrap_err();
        assert!(matches!(err, Error::InvalidInput { .. }), "{sql}: {err:?}");
    }
    // Refused before sending: the only connection never saw a BEGIN, so a
    // write through it commits at once and is visible from elsewhere.
    t.execute("CREATE TABLE seen (n int)", &[]).await.unwrap();
    t.execute("INSERT INTO seen VALUES (1)", &[]).await.unwrap();
    let other = strata_tests::admin().await;
    let visible: i64 = other
        .query_one(
            &format!("SELECT count(*) FROM \"{}\".seen", t.schema()),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(visible, 1);
    let err = t
        .transaction(TxOptions::new(), |tx| async move {
            // Savepoints by hand are fine; ending the transaction is not.
            tx.execute("SAVEPOINT mine", &[]).await?;
            tx.execute("ROLLBACK TO SAVEPOINT mine", &[]).await?;
            tx.execute("COMMIT", &[]).await
        })
        .await
        .unwrap_err();
    assert!(err.to_string().contains("inside `db.transaction"), "{err}");
}

#[tokio::test]
async fn a_statement_longer_than_the_protocol_allows_is_refused_before_sending() {
    let t = TestDb::with(|c| c.pool_max(1)).await;
    let pid: i32 = t
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    // 1 GiB of SQL: PostgreSQL would close the connection on reading it.
    let mut bytes = vec![b'x'; (1 << 30) + 9];
    bytes[..8].copy_from_slice(b"SELECT '");
    *bytes.last_mut().unwrap() = b'\'';
    let sql = String::from_utf8(bytes).unwrap();
    let err = t.query(&sql, &[]).await.unwrap_err();
    drop(sql);
    assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
    assert!(err.to_string().contains("as parameters"), "{err}");
    let again: i32 = t
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(again, pid, "the connection stays");
}

/// A refused connect is repeated `retry_attempts` times, and no more: the
/// proxy counts every attempt that reached the network.
#[tokio::test]
async fn refused_connects_are_retried_exactly_retry_attempts_times() {
    use strata_tests::proxy::{FaultProxy, Mode};
    let t = TestDb::new().await;
    let proxy = FaultProxy::start("127.0.0.1:5432").await;
    proxy.set_mode(Mode::Reject);
    for retries in [0u32, 2] {
        let before = proxy.accepted();
        let err = Db::connect(
            t.config()
                .port(proxy.port())
                .retry_attempts(retries)
                .retry_delay(std::time::Duration::from_millis(1))
                .breaker_threshold(100),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, Error::Connection { .. }), "{err:?}");
        assert_eq!(
            proxy.accepted() - before,
            u64::from(retries) + 1,
            "connect attempts with retry_attempts({retries})"
        );
    }
    // The server back: the same settings connect at the first attempt.
    proxy.set_mode(Mode::Forward);
    let before = proxy.accepted();
    let db = Db::connect(t.config().port(proxy.port()).retry_attempts(2))
        .await
        .unwrap();
    db.query("SELECT 1", &[]).await.unwrap();
    assert_eq!(proxy.accepted() - before, 1);
    let m = db.metrics().pool;
    assert_eq!((m.connect_failures, m.connect_retries), (0, 0), "{m:?}");

    // A call that must open a connection while connects are refused: each
    // failed attempt and each retry is counted, as the proxy saw them.
    let db = Db::connect(
        t.config()
            .port(proxy.port())
            .pool_max(2)
            .retry_attempts(2)
            .retry_delay(std::time::Duration::from_millis(1))
            .breaker_threshold(100),
    )
    .await
    .unwrap();
    let held = std::sync::Arc::new(tokio::sync::Notify::new());
    let release = std::sync::Arc::new(tokio::sync::Notify::new());
    let holder = tokio::spawn({
        let (db, held, release) = (db.clone(), held.clone(), release.clone());
        async move {
            db.transaction(TxOptions::new(), |tx| {
                let (held, release) = (held.clone(), release.clone());
                async move {
                    tx.execute("SELECT 1", &[]).await?;
                    held.notify_one();
                    release.notified().await;
                    Ok(())
                }
            })
            .await
        }
    });
    held.notified().await;
    proxy.set_mode(Mode::Reject);
    let before = proxy.accepted();
    let err = db.query("SELECT 1", &[]).await.unwrap_err();
    assert!(matches!(err, Error::Connection { .. }), "{err:?}");
    let m = db.metrics().pool;
    println!(
        "connect attempts at the proxy {}, connect_failures {}, connect_retries {}",
        proxy.accepted() - before,
        m.connect_failures,
        m.connect_retries
    );
    assert_eq!(m.connect_failures, proxy.accepted() - before, "{m:?}");
    assert_eq!((m.connect_failures, m.connect_retries), (3, 2), "{m:?}");
    release.notify_one();
    proxy.set_mode(Mode::Forward);
    holder.await.unwrap().unwrap();
}
