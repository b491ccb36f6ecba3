//! Reliability: invariants under concurrency, cancellation and faults
//! (killed backends, cut COMMITs, a restarted server, a black-holed
//! network), the breaker, leak reports, retry scope and oversized input.
//!
//! Every test prints its figures on one line. Long variants are
//! `#[ignore]`d: `cargo test -p strata-tests --test it reliability -- --ignored`.

mod bank;
mod bank_under_faults;
mod black_hole;
mod breaker;
mod cancellation;
mod commit_cut;
mod double_spend;
mod killed_backends;
mod leak;
mod oversized_input;
mod restart;
mod retry_scope;

pub(crate) use bank::transfer;

use strata::prelude::*;
use strata_tests::cluster::TestCluster;
use strata_tests::proxy::FaultProxy;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Committed and acknowledged.
    Ok,
    /// Committed, but found too little money: wrote nothing.
    Declined,
    /// Failed with an error that means nothing was applied.
    Failed,
    /// `Error::OutcomeUnknown`: applied 0 or 1 times.
    Unknown,
}

/// A fresh schema on the test-owned cluster, and a `Db` reaching it through `proxy`.
async fn cluster_db(
    cluster: &TestCluster,
    proxy: &FaultProxy,
    app: &str,
    tune: impl FnOnce(Config) -> Config,
) -> Db {
    let schema = format!("rel_{:08x}", rand::random::<u32>());
    cluster
        .admin()
        .await
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .await
        .unwrap();
    let config = cluster
        .config()
        .port(proxy.port())
        .search_path(schema)
        .application_name(app);
    Db::connect(tune(config)).await.unwrap()
}

/// Waits (up to 5 s) until backend `pid` of the shared server has exited:
/// a connection the client gave up on keeps running until its backend has
/// read everything sent before the cut and seen the EOF.
pub(crate) async fn wait_backend_gone(pid: i32) {
    let admin = strata_tests::admin().await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let alive: bool = admin
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1)",
                &[&pid],
            )
            .await
            .unwrap()
            .get(0);
        if !alive {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "backend {pid} still running"
        );
        tokio::task::yield_now().await;
    }
}
