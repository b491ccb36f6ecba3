//! The README's quickstart example, run as a test: its file is compiled
//! into this binary and its walk-through called on the test server.

#[allow(dead_code)] // its `main` is for `cargo run --example quickstart`
#[path = "../../../examples/quickstart.rs"]
mod example;

#[tokio::test]
async fn the_quickstart_example_runs() {
    let db = strata::Db::connect(
        strata::Config::from_url(&strata_tests::database_url()).expect("DATABASE_URL parses"),
    )
    .await
    .unwrap();
    // The example uses a fixed schema: runs of this test by other
    // checkouts on the same server take turns.
    let lock = strata_tests::admin().await;
    lock.execute("SELECT pg_advisory_lock(7472617)", &[])
        .await
        .unwrap();
    let rich = example::run(&db).await;
    lock.execute("SELECT pg_advisory_unlock(7472617)", &[])
        .await
        .unwrap();
    let rich = rich.expect("the quickstart runs");
    // ada 100 - 30, grace 50 + 30; the overdraft was refused.
    assert_eq!(rich, [("ada".to_owned(), 70), ("grace".to_owned(), 80)]);
}
