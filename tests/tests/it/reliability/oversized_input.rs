//! Oversized input: what the protocol cannot carry is refused before
//! sending, and the connection survives.

use std::fmt::Write as _;

use strata::ToSql;
use strata::prelude::*;
use strata_tests::TestDb;

#[tokio::test]
async fn oversized_input_is_refused_before_sending_and_the_connection_survives() {
    let t = TestDb::with(|c| c.pool_max(1)).await;
    t.execute("CREATE TABLE o (a int)", &[]).await.unwrap();
    let pid: i32 = t
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    // More parameters than the protocol's 16-bit count can carry.
    let n = 70_000;
    let mut sql = String::from("SELECT 1 WHERE 1 IN (");
    for i in 1..=n {
        write!(sql, "{}${i}", if i == 1 { "" } else { "," }).unwrap();
    }
    sql.push(')');
    let one = 1i32;
    let values: Vec<&(dyn ToSql + Sync)> = vec![&one; n];
    let queries_before = t.metrics().queries.total;
    let too_many = t.query(&sql, &values).await;
    let too_many_write = t
        .execute(
            &sql.replacen("SELECT 1", "INSERT INTO o SELECT 1", 1),
            &values,
        )
        .await;
    // A parameter count that does not match the statement: a write must not
    // be reported as "outcome unknown", nor its connection thrown away.
    let mismatch = t
        .execute("INSERT INTO o VALUES ($1)", &[&1i32, &2i32])
        .await;
    let discarded = t.metrics().queries.connections_discarded;
    let pid_after: i32 = t
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    let rows = t.count("o").await;
    println!(
        "oversized input: {n} parameters -> {:?}; as a write -> {:?}; 2 values for 1 parameter -> {:?}; \
         connections discarded {discarded}, same backend after {}, rows written {rows}, statements {}",
        too_many.as_ref().err().map(|e| e.to_string()),
        too_many_write.as_ref().err().map(|e| e.to_string()),
        mismatch.as_ref().err().map(|e| e.to_string()),
        pid == pid_after,
        t.metrics().queries.total - queries_before,
    );
    for r in [
        too_many.map(|_| ()),
        too_many_write.map(|_| ()),
        mismatch.map(|_| ()),
    ] {
        assert!(matches!(r, Err(Error::InvalidInput { .. })), "{r:?}");
    }
    assert_eq!(discarded, 0, "a refused input cost the connection");
    assert_eq!(pid, pid_after);
    assert_eq!(rows, 0);
}
