//! `strata-bench-peers`: the strata benchmark operations on sqlx and SeaORM,
//! interleaved round by round with the same hand-written tokio-postgres
//! baseline the main bench uses, so their ratios are comparable.
//!
//! ```text
//! cargo run --release --manifest-path bench/peers/Cargo.toml [-- --rounds 5 --secs 1 --logged]
//! ```
//!
//! The harness, the seeding, the baseline and the strata contender are the
//! main bench's own files (`bench/src/{harness,seed,raw,derived,alloc}.rs`),
//! included by path, so strata runs in the same rounds as the peers.
#![allow(dead_code)]

#[path = "../../src/alloc.rs"]
mod alloc;
#[path = "../../src/derived.rs"]
mod derived;
#[path = "../../src/harness.rs"]
mod harness;
#[path = "../../src/raw.rs"]
mod raw;
mod seaorm_impl;
#[path = "../../src/seed.rs"]
mod seed;
mod sqlx_impl;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use crate::harness::{BATCH, BoxError, Budget, Case, Contender, Op};

#[global_allocator]
static GLOBAL: alloc::Counting = alloc::Counting;

/// Pool size of every contender.
const POOL: usize = 8;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut rounds = 5usize;
    let mut secs = 1.0f64;
    let mut logged = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--logged" {
            logged = true;
            continue;
        }
        let v = it.next().map(String::as_str).unwrap_or("");
        match a.as_str() {
            "--rounds" => rounds = v.parse().unwrap_or(rounds),
            "--secs" => secs = v.parse().unwrap_or(secs),
            other => {
                eprintln!("unknown argument {other}");
                return ExitCode::FAILURE;
            }
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match rt.block_on(bench(rounds, secs, logged)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("strata-bench-peers: {}", harness::chain(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}

async fn bench(rounds: usize, secs: f64, logged: bool) -> Result<(), BoxError> {
    let url = seed::database_url();
    eprintln!("seeding strata_bench.bench_users ...");
    seed::recreate(&url, logged).await?;
    let raw = Arc::new(raw::Raw::connect(&url, POOL).await?);
    let redis = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let prefix = format!("strata-bench-peers:{}", std::process::id());
    let strata = Arc::new(derived::Strata::connect(&url, POOL, &redis, &prefix).await?);
    let size = POOL as u32;
    let all: Vec<Arc<dyn Contender>> = vec![
        raw.clone(),
        strata,
        Arc::new(sqlx_impl::Sqlx::connect(&url, size, true).await?),
        Arc::new(seaorm_impl::SeaOrm::connect(&url, size, true).await?),
        // The same with the pool's per-checkout ping off.
        Arc::new(sqlx_impl::Sqlx::connect(&url, size, false).await?),
        Arc::new(seaorm_impl::SeaOrm::connect(&url, size, false).await?),
    ];

    let budget = Budget::Time(Duration::from_secs_f64(secs));
    let mut cases = Vec::new();
    for (op, name) in [
        (Op::Get, "get"),
        (Op::Insert, "insert"),
        (Op::Patch, "patch"),
        (Op::List, "list page"),
    ] {
        for c in [1, POOL] {
            cases.push(Case {
                label: format!("{name} c={c}"),
                op,
                concurrency: c,
                budget,
                baseline: "tokio-postgres".into(),
                contenders: all.clone(),
            });
        }
    }
    cases.push(Case {
        label: format!("insert_many {}k", BATCH / 1000),
        op: Op::InsertMany,
        concurrency: 1,
        budget: Budget::Ops(3),
        baseline: "tokio-postgres".into(),
        contenders: all.clone(),
    });

    eprintln!("allocations per op ...");
    let mut allocs = String::new();
    for c in &all {
        let (a, b) = alloc::per_op(c.as_ref(), Op::Get, 5_000).await?;
        allocs.push_str(&format!(
            "get  {:<15} {a:>7.1} allocations/op {b:>9.0} bytes/op\n",
            c.name()
        ));
    }
    eprintln!("running {} cases x {rounds} rounds ...", cases.len());
    let report = harness::run_all(&cases, rounds).await?;
    println!(
        "strata-bench-peers: {rounds} rounds, pool {POOL}, {secs} s per timed run, {} table, {} cores\n",
        if logged { "logged" } else { "unlogged" },
        std::thread::available_parallelism().map_or(0, usize::from)
    );
    print!("{}", report.table());
    println!(
        "\nallocations per operation (counting allocator, all threads; includes the harness's one boxed future):"
    );
    print!("{allocs}");
    println!(
        "\nstrata against the peers (median over rounds of same-round ratios; target >= 2x for get and list page):"
    );
    for name in ["get", "insert", "patch", "list page"] {
        for c in [1, POOL] {
            let label = format!("{name} c={c}");
            for peer in ["sqlx", "SeaORM", "sqlx no-ping", "SeaORM no-ping"] {
                if let Some(v) = report.ratio(&label, "strata", &label, peer) {
                    println!("{:<44} {v:>6.2}x", format!("{label}: strata / {peer}"));
                }
            }
        }
    }
    Ok(())
}
