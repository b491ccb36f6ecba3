//! The dealership example (issue 18), run as a test: every workflow is
//! all-or-nothing, watched from the tables and the audit log after the
//! failed attempts.

#[allow(dead_code)] // its `main` is for `cargo run --example dealership`
#[path = "../../../examples/dealership.rs"]
mod example;

#[tokio::test]
async fn the_dealership_workflows_are_all_or_nothing() {
    let db = strata::Db::connect(
        strata::Config::from_url(&strata_tests::database_url()).expect("DATABASE_URL parses"),
    )
    .await
    .unwrap();
    // A fixed schema: other checkouts' runs on the same server take turns.
    let lock = strata_tests::admin().await;
    lock.execute("SELECT pg_advisory_lock(7472618)", &[])
        .await
        .unwrap();
    let summary = example::run(&db).await;
    lock.execute(
        &format!("DROP SCHEMA IF EXISTS {} CASCADE", example::SCHEMA),
        &[],
    )
    .await
    .unwrap();
    lock.execute("SELECT pg_advisory_unlock(7472618)", &[])
        .await
        .unwrap();
    let s = summary.expect("the dealership example runs");
    // Dealership 1 numbered its two deals 1 and 2 (the failed ones left no
    // gap); dealership 2 counts from 1.
    assert_eq!(s.numbers, [1, 2, 1]);
    // Ann (both dealerships) and Bob: no Carl, no Dana.
    let rows: std::collections::HashMap<_, _> = s.rows.iter().cloned().collect();
    assert_eq!(rows["customers"], 3, "{:?}", s.rows);
    assert_eq!(rows["deals"], 3);
    assert_eq!(rows["scenarios"], 3);
    assert_eq!(rows["deal_customers"], 1);
    assert_eq!(rows["users"], 1);
    assert_eq!(rows["vehicles"], 4);
    assert_eq!(rows["vehicles pending"], 3, "VIN-C stays available");
    // Exactly the committed writes are in the audit log: 4 vehicles, 3
    // customers, 3 deals, 3 scenarios, 1 co-buyer, 1 user inserted; 3
    // vehicles marked pending.
    let audited: std::collections::HashMap<_, _> = s.audited.iter().cloned().collect();
    assert_eq!(audited.get("insert"), Some(&15), "{:?}", s.audited);
    assert_eq!(audited.get("update"), Some(&3), "{:?}", s.audited);
    assert_eq!(s.audited.len(), 2, "{:?}", s.audited);
    assert_eq!(
        s.actors,
        ["admin:root", "inventory", "sales:maria", "sales:omar"]
    );
    assert_eq!(s.failures.len(), 6, "{:#?}", s.failures);
    assert!(s.failures[0].contains("down_payment"), "{}", s.failures[0]);
    assert!(s.failures[1].contains("not available"), "{}", s.failures[1]);
    assert!(s.failures[4].contains("already taken"), "{}", s.failures[4]);
}
