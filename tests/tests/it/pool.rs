//! The pool handle: raw SQL, statement cache, broken connections, draining.

use std::time::Duration;

use strata::prelude::*;
use strata_tests::{TestDb, admin};

#[tokio::test]
async fn raw_sql_round_trips() {
    let t = TestDb::new().await;
    t.execute("CREATE TABLE t (id int PRIMARY KEY, name text)", &[])
        .await
        .unwrap();
    let n = t
        .execute(
            "INSERT INTO t VALUES ($1, $2), ($3, $4)",
            &[&1, &"a", &2, &"b"],
        )
        .await
        .unwrap();
    assert_eq!(n, 2);
    let rows = t
        .query("SELECT id, name FROM t ORDER BY id", &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1].get::<_, String>("name"), "b");
    let one = t
        .query_one("SELECT name FROM t WHERE id = $1", &[&1])
        .await
        .unwrap();
    assert_eq!(one.get::<_, &str>(0), "a");
    assert!(
        t.query_opt("SELECT 1 FROM t WHERE id = 9", &[])
            .await
            .unwrap()
            .is_none()
    );
    let s = t.pool_status();
    assert!(s.size >= 1 && s.size <= s.max && s.in_use == 0, "{s:?}");
    assert_eq!(s.max, 20);
}

/// The backend pids of the connections opened with `application_name = app`.
async fn backends(admin: &tokio_postgres::Client, app: &str) -> Vec<i32> {
    let rows = admin
        .query(
            "SELECT pid FROM pg_stat_activity WHERE application_name = $1",
            &[&app],
        )
        .await
        .unwrap();
    rows.iter().map(|r| r.get(0)).collect()
}

#[tokio::test]
async fn killed_backends_are_replaced_transparently() {
    let t = TestDb::new().await;
    let name = t.schema().to_owned();
    let t2 = TestDb::with(|c| c.application_name(name.clone()).pool_max(4)).await;
    // Fill the pool with four live connections.
    let held: Vec<_> = (0..4)
        .map(|_| t2.query("SELECT pg_sleep(0.05)", &[]))
        .collect();
    for r in futures_util::future::join_all(held).await {
        r.unwrap();
    }
    let admin = admin().await;
    let before = t2.metrics().queries;
    let mut all_killed = Vec::new();
    for round in 0..3 {
        let pids = backends(&admin, &name).await;
        assert!(!pids.is_empty(), "round {round}: nothing to kill");
        for pid in &pids {
            admin
                .execute("SELECT pg_terminate_backend($1)", &[pid])
                .await
                .unwrap();
        }
        // pg_terminate_backend only signals: wait (bounded) until every
        // killed backend has exited, so the next call meets dead connections.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while backends(&admin, &name)
            .await
            .iter()
            .any(|p| pids.contains(p))
        {
            assert!(
                std::time::Instant::now() < deadline,
                "round {round}: backends still alive"
            );
            tokio::task::yield_now().await;
        }
        all_killed.extend(pids);
        // The very next call succeeds, without waiting for anything.
        let v: i32 = t2.query_read_one("SELECT 42", &[]).await.unwrap().get(0);
        assert_eq!(v, 42);
        // So does a write, and so does a transaction.
        t2.execute("SELECT 1", &[]).await.unwrap();
        t2.transaction(TxOptions::new(), |tx| async move {
            tx.query("SELECT 1", &[]).await
        })
        .await
        .unwrap();
        // On new backends only.
        let now = backends(&admin, &name).await;
        assert!(
            !now.is_empty() && now.iter().all(|p| !all_killed.contains(p)),
            "round {round}: {now:?} reuses a killed pid of {all_killed:?}"
        );
    }
    let after = t2.metrics().queries;
    let (discarded, retried) = (
        after.connections_discarded - before.connections_discarded,
        after.reads_retried - before.reads_retried,
    );
    println!(
        "kill rounds: 3, backends killed {}, connections discarded {discarded}, reads retried {retried}",
        all_killed.len()
    );
    // Once the killed backends are gone the client has usually seen their
    // sockets close, and the pool's recycle check drops them before any
    // statement gets one (strata's discard and retry counters then stay
    // 0); a dead one that slipped through is discarded or retried. Either
    // way no call failed, and every round ran on new backends (above).
    assert_eq!(after.failed - before.failed, 0, "a call failed");
}

#[tokio::test]
async fn close_drains_in_flight_work() {
    let t = TestDb::new().await;
    let db = t.db().clone();
    let slow = tokio::spawn(async move { db.query("SELECT pg_sleep(0.3)", &[]).await });
    // The slow query has its connection (polled, bounded).
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while t.pool_status().in_use != 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the query never took a connection"
        );
        tokio::task::yield_now().await;
    }
    let left = t.close_within(Duration::from_secs(5)).await;
    assert_eq!(
        left, 0,
        "close returned before the in-flight query finished"
    );
    slow.await.unwrap().unwrap();
    assert!(t.is_closed());
    let err = t.query("SELECT 1", &[]).await.unwrap_err();
    assert!(matches!(err, Error::PoolClosed), "{err:?}");
    assert_eq!(t.pool_status().size, 0);
}

#[tokio::test]
async fn statements_are_prepared_once_per_connection() {
    let t = TestDb::with(|c| c.pool_max(1)).await;
    for i in 0..5i32 {
        let v: i32 = t
            .query_one("SELECT $1::int + 1", &[&i])
            .await
            .unwrap()
            .get(0);
        assert_eq!(v, i + 1);
    }
    let prepared: i64 = t
        .query_one(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement = 'SELECT $1::int + 1'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(prepared, 1);
}

#[tokio::test]
async fn a_search_path_with_spaces_and_several_schemas_connects() {
    let t = TestDb::new().await;
    let path = format!("\"{}\", public", t.schema());
    let db = Db::connect(t.config().search_path(path.clone()))
        .await
        .unwrap();
    let shown: String = db.query_one("SHOW search_path", &[]).await.unwrap().get(0);
    assert_eq!(shown, path);
}

/// Raw SQL is never repeated once sent, even a `SELECT`: this one advances
/// a sequence and then loses its connection. `query_read` is the caller
/// saying a statement is safe to repeat, and it is repeated once; the
/// server makes sure it cannot write.
#[tokio::test]
async fn a_raw_select_is_not_repeated_but_a_declared_read_is() {
    let t = TestDb::new().await;
    t.execute("CREATE SEQUENCE s", &[]).await.unwrap();
    let last = || async {
        let row = t
            .query_read_one("SELECT last_value FROM s", &[])
            .await
            .unwrap();
        row.get::<_, i64>(0)
    };
    let dies = "SELECT nextval('s'), pg_terminate_backend(pg_backend_pid())";
    let err = t.query(dies, &[]).await.unwrap_err();
    assert!(matches!(err, Error::OutcomeUnknown { .. }), "{err:?}");
    assert_eq!(last().await, 1, "run once");

    // Declared a read, but it writes: the server refuses it (read-only).
    let retried = t.metrics().queries.reads_retried;
    let err = t.query_read(dies, &[]).await.unwrap_err();
    assert_eq!(
        err.code(),
        Some(&strata::SqlState::READ_ONLY_SQL_TRANSACTION),
        "{err:?}"
    );
    assert_eq!(last().await, 1, "nothing ran");
    assert_eq!(t.metrics().queries.reads_retried, retried);

    // A true read that loses its connection is repeated once.
    let err = t
        .query_read("SELECT pg_terminate_backend(pg_backend_pid())", &[])
        .await
        .unwrap_err();
    assert!(err.is_connection(), "{err:?}");
    assert_eq!(t.metrics().queries.reads_retried, retried + 1);

    // Like query_one: exactly one row, more is an error.
    let err = t
        .query_read_one("SELECT generate_series(1, 3)", &[])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TooManyRows { rows: 3 }), "{err:?}");

    let err = t
        .query_read("INSERT INTO nowhere VALUES (1)", &[])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
}

#[tokio::test]
async fn query_read_opt_returns_the_row_or_none_and_takes_only_reads() {
    let t = TestDb::new().await;
    let one = t
        .query_read_opt("SELECT g FROM generate_series(5, 7) g WHERE g = 6", &[])
        .await
        .unwrap()
        .map(|r| r.get::<_, i32>(0));
    assert_eq!(one, Some(6));
    let err = t
        .query_read_opt("SELECT g FROM generate_series(5, 7) g", &[])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TooManyRows { rows: 3 }), "{err:?}");
    let none = t
        .query_read_opt("SELECT 1 WHERE $1::int > 1", &[&0i32])
        .await
        .unwrap();
    assert!(none.is_none());
    let err = t
        .query_read_opt("DELETE FROM nowhere RETURNING 1", &[])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
    // A declared read: repeated once when its connection dies.
    let retried = t.metrics().queries.reads_retried;
    let dies = "SELECT pg_terminate_backend(pg_backend_pid())";
    assert!(t.query_read_opt(dies, &[]).await.is_err());
    assert_eq!(t.metrics().queries.reads_retried, retried + 1);
}

/// When the keepalive timer of this process's TCP socket on local port
/// `port` fires next, from /proc/net/tcp (its `tr:tm->when` field: timer 2
/// is the keepalive timer, `when` in clock ticks of 1/100 s); `None` if no
/// keepalive timer shows within a second.
///
/// The field shows one timer: while a segment waits for its ACK (timer 1,
/// retransmit or loss probe, common on a busy machine) it hides the
/// keepalive timer, so this reads again until the socket is quiet.
fn keepalive_due_in(port: u16) -> Option<Duration> {
    let local = format!("0100007F:{port:04X}");
    let mut seen = Vec::new();
    for _ in 0..50 {
        let table = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp (Linux)");
        let line = table
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(local.as_str()))
            .unwrap_or_else(|| panic!("no socket on local port {port}"));
        let field = line
            .split_whitespace()
            .nth(5)
            .unwrap_or_default()
            .to_owned();
        if let Some(("02", when)) = field.split_once(':') {
            return Some(Duration::from_millis(
                u64::from_str_radix(when, 16).unwrap() * 10,
            ));
        }
        seen.push(field);
        std::thread::sleep(Duration::from_millis(20));
    }
    println!("no keepalive timer on port {port}; tr:tm->when read {seen:?}");
    None
}

/// The client port of `client`'s connection, as the server sees it.
async fn client_port(client: &impl std::ops::Deref<Target = Db>) -> u16 {
    let port: i32 = client
        .query_one(
            "SELECT client_port FROM pg_stat_activity WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    u16::try_from(port).unwrap()
}

/// The README: connections use TCP keepalives, so a silently dead server
/// is noticed. strata probes an idle connection after 30 s, where the
/// kernel's and tokio-postgres's default waits two hours.
#[tokio::test]
async fn connections_probe_an_idle_peer_within_30_seconds() {
    let t = TestDb::with(|c| c.pool_max(1)).await;
    let due = keepalive_due_in(client_port(&t).await);
    assert!(
        due.is_some_and(|d| d <= Duration::from_secs(30)),
        "keepalive timer on the pooled connection: {due:?}"
    );
    // A plain tokio-postgres connection (default keepalive idle: 2 h)
    // shows the check tells the two apart.
    let plain = admin().await;
    let port: i32 = plain
        .query_one(
            "SELECT client_port FROM pg_stat_activity WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let due = keepalive_due_in(u16::try_from(port).unwrap());
    assert!(due.is_none_or(|d| d > Duration::from_secs(60)), "{due:?}");
}
