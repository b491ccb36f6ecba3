//! The logging setup the README recommends shows no bind-parameter values,
//! even at `debug`: tokio-postgres logs them (through the `log` crate), and
//! `strata::observe::DRIVER_LOG_DIRECTIVE` must keep them out.
//!
//! Its own test binary: it installs the process-wide subscriber and `log`
//! bridge, as an application does.

use std::time::Duration;

use strata::Executor;
use strata_tests::TestDb;
use tracing_subscriber::EnvFilter;

#[tokio::test]
async fn debug_logs_never_show_parameter_values() {
    let captured = strata_tests::logs::Captured::default();
    // The README's setup, with RUST_LOG=debug.
    let filter = EnvFilter::builder()
        .parse_lossy("debug")
        .add_directive(strata::observe::DRIVER_LOG_DIRECTIVE.parse().unwrap());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(captured.clone())
        .init();

    // Every statement is "slow", so strata logs each one (SQL, no values).
    let t = TestDb::with(|c| c.slow_query(Duration::ZERO)).await;
    t.execute("CREATE TABLE secrets (id int, value text)", &[])
        .await
        .unwrap();
    let canary = format!("canary-{:08x}", rand::random::<u32>());
    t.execute("INSERT INTO secrets VALUES ($1, $2)", &[&1i32, &canary])
        .await
        .unwrap();
    let row = t
        .query_one("SELECT value FROM secrets WHERE value = $1", &[&canary])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), canary);

    let logs = captured.text();
    assert!(
        logs.contains("INSERT INTO secrets VALUES ($1, $2)"),
        "strata's own statement events still show: {logs}"
    );
    assert!(
        !logs.contains(&canary),
        "a bind-parameter value reached the logs:\n{logs}"
    );
}
