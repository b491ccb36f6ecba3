//! Every failed statement is counted, by kind, those stopped before
//! anything was sent included: an outage the caller sees is an outage the
//! metrics show.

use std::time::Duration;

use strata::{Db, Error, Executor, ModelExt, TxOptions};
use strata_tests::TestDb;
use strata_tests::proxy::{FaultProxy, Mode};

fn failed(db: &Db, kind: &str) -> u64 {
    db.metrics().queries.failed_of(kind)
}

/// The Prometheus sample for one kind.
fn exported(db: &Db, kind: &str) -> u64 {
    let text = db.prometheus();
    let line = format!("strata_queries_failed_total{{kind=\"{kind}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&line))
        .unwrap_or_else(|| panic!("no {line} in:\n{text}"))
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_before_sending_are_counted_by_kind() {
    let t = TestDb::new().await;
    let proxy = FaultProxy::start("127.0.0.1:5432").await;
    let db = Db::connect(
        t.config()
            .port(proxy.port())
            .pool_max(1)
            .retry_attempts(0)
            .breaker_threshold(2)
            .breaker_cooldown(Duration::from_secs(60))
            .acquire_timeout(Duration::from_millis(50)),
    )
    .await
    .unwrap();

    // Refused by the SQL guard: nothing sent.
    assert!(db.execute("/* x */ BEGIN", &[]).await.is_err());
    assert_eq!(failed(&db, "invalid_input"), 1);

    // Pool exhausted: the only connection is held by a transaction.
    let held = db
        .transaction(TxOptions::new(), |_tx| {
            let db = db.clone();
            async move {
                let err = db.query("SELECT 1", &[]).await.unwrap_err();
                assert!(matches!(err, Error::PoolExhausted { .. }), "{err:?}");
                Ok(())
            }
        })
        .await;
    held.unwrap();
    assert_eq!(failed(&db, "pool"), 1);

    // PostgreSQL unreachable: connect failures, then the open breaker.
    proxy.set_mode(Mode::Reject);
    proxy.cut_all();
    let mut circuit_open = 0;
    for _ in 0..20 {
        match db.query_read("SELECT 1", &[]).await {
            Err(Error::CircuitOpen) => circuit_open += 1,
            Err(_) => {}
            Ok(_) => panic!("the proxy rejects everything"),
        }
    }
    assert!(circuit_open > 0, "the breaker opened");
    assert_eq!(failed(&db, "circuit_open"), circuit_open);
    let m = db.metrics().queries;
    assert_eq!(m.failed, m.failed_by_kind.iter().sum::<u64>());
    assert_eq!(m.failed, 2 + 20, "every failed call counted once");
    // A transaction that cannot begin is a failed statement too.
    let err = db
        .transaction(TxOptions::new(), |_tx| async { Ok(()) })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::CircuitOpen), "{err:?}");
    assert_eq!(failed(&db, "circuit_open"), circuit_open + 1);
    assert_eq!(exported(&db, "circuit_open"), circuit_open + 1);
    assert_eq!(exported(&db, "invalid_input"), 1);
}

/// Input the query builder refuses before any SQL exists is counted too.
#[tokio::test]
async fn refused_pages_are_counted() {
    let t = TestDb::new().await;
    t.execute(super::models::USERS, &[]).await.unwrap();
    let before = t.metrics().queries;
    let err = super::models::User::query()
        .page(0, 10)
        .fetch_page(t.db())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
    let after = t.metrics().queries;
    assert_eq!(after.total, before.total + 1);
    assert_eq!(
        after.failed_of("invalid_input"),
        before.failed_of("invalid_input") + 1
    );
}
