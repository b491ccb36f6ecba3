//! `strata-bench`: strata's model operations and cache against hand-written
//! tokio-postgres, Redis and moka, interleaved round by round in one run.
//!
//! ```text
//! cargo run --release -p strata-bench [-- --rounds 5 --secs 1 --only get --logged]
//! cargo run --release -p strata-bench -- --only 'get c=1' --contender strata --skip-allocs --ops 20000
//! cargo run --release -p strata-bench -- --only acct   # the realistic shapes alone
//! cargo run --release -p strata-bench -- compile-cost
//! ```
//!
//! `DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/test`) and
//! `REDIS_URL` (default `redis://127.0.0.1:6379`) say where to connect.
//! Schema `strata_bench` is dropped and recreated.

mod alloc;
mod batched;
mod cluster;
mod compile_cost;
mod derived;
mod feed;
mod harness;
mod moka_raw;
mod raw;
mod redis_raw;
mod replicas;
mod seed;
mod tenant;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use strata::CachedModelExt;

use crate::derived::{CachedUser, Strata};
use crate::harness::{BATCH, BoxError, Budget, Case, Contender, Op, Report};
use crate::moka_raw::MokaGet;
use crate::raw::Raw;
use crate::redis_raw::RedisGet;

#[global_allocator]
static GLOBAL: alloc::Counting = alloc::Counting;

/// Pool size of every contender.
const POOL: usize = 8;

/// Command-line options of a benchmark run.
#[derive(Debug)]
struct Options {
    rounds: usize,
    secs: f64,
    only: Option<String>,
    contender: Option<String>,
    skip_allocs: bool,
    ops: Option<u64>,
    logged: bool,
}

fn parse(args: &[String]) -> Result<Options, BoxError> {
    let mut o = Options {
        rounds: 5,
        secs: 1.0,
        only: None,
        contender: None,
        skip_allocs: false,
        ops: None,
        logged: false,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--rounds" => o.rounds = value()?.parse()?,
            "--secs" => o.secs = value()?.parse()?,
            "--only" => o.only = Some(value()?.clone()),
            "--contender" => o.contender = Some(value()?.clone()),
            "--skip-allocs" => o.skip_allocs = true,
            "--ops" => o.ops = Some(value()?.parse()?),
            "--logged" => o.logged = true,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    Ok(o)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = if args.first().map(String::as_str) == Some("compile-cost") {
        compile_cost::run(&args[1..])
    } else {
        parse(&args).and_then(|o| {
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?
                .block_on(bench(o))
        })
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("strata-bench: {}", harness::chain(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}

async fn bench(o: Options) -> Result<(), BoxError> {
    let url = seed::database_url();
    eprintln!("seeding strata_bench_feed ...");
    let feed = feed::setup(&url, POOL, o.logged).await?;
    if o.only
        .as_deref()
        .is_some_and(|s| s.starts_with("feed") || s.starts_with("audit"))
    {
        return feed_alone(&o, &feed).await;
    }
    let redis = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    eprintln!("seeding strata_bench.bench_users and bench_accounts ...");
    seed::recreate(&url, o.logged).await?;

    let prefix = format!("strata-bench:{}", std::process::id());
    let strata = Arc::new(Strata::connect(&url, POOL, &redis, &prefix).await?);
    let raw = Arc::new(Raw::connect(&url, POOL).await?);
    eprintln!("warming caches ...");
    strata.warm().await?;
    let moka = Arc::new(MokaGet::warm(&raw).await?);
    let row_prefix = redis_raw::row_prefix(&redis, &prefix)
        .await?
        .ok_or("no L2 entry for id 1")?;
    let redis_get = Arc::new(RedisGet::connect(&redis, row_prefix).await?);
    // The baseline must read the very entry strata reads.
    let bytes = redis_get
        .get_bytes(1)
        .await?
        .ok_or("no L2 entry for id 1")?;
    let stored: CachedUser = rmp_serde::from_slice(&bytes)?;
    if stored != CachedUser::get_cached(&strata.l2, 1).await? {
        return Err("raw Redis entry differs from strata's L2 hit".into());
    }

    eprintln!("checking that both sides read the same accounts ...");
    check_accounts(&strata, &raw).await?;

    // `--ops N` runs a fixed number of operations instead (for callgrind).
    let timed = match o.ops {
        Some(n) => Budget::Ops(n),
        None => Budget::Time(Duration::from_secs_f64(o.secs)),
    };
    let pg: Vec<Arc<dyn Contender>> = vec![strata.clone(), raw.clone()];
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
                budget: timed,
                baseline: "tokio-postgres".into(),
                contenders: pg.clone(),
            });
        }
    }
    // The shapes users write (issue 14), on `bench_accounts`.
    for (op, name) in ACCOUNT_CASES {
        for c in [1, POOL] {
            cases.push(Case {
                label: format!("{name} c={c}"),
                op,
                concurrency: c,
                budget: timed,
                baseline: "tokio-postgres".into(),
                contenders: pg.clone(),
            });
        }
    }
    cases.push(Case {
        label: format!("insert_many {}k", BATCH / 1000),
        op: Op::InsertMany,
        concurrency: 1,
        budget: Budget::Ops(3),
        baseline: "tokio-postgres".into(),
        contenders: pg.clone(),
    });
    cases.push(Case {
        label: format!("row-at-a-time {}k", BATCH / 1000),
        op: Op::InsertRowByRow,
        concurrency: 1,
        budget: Budget::Ops(1),
        baseline: "tokio-postgres".into(),
        contenders: pg.clone(),
    });
    cases.push(Case {
        label: "get_cached L1".into(),
        op: Op::CachedL1,
        concurrency: 1,
        budget: timed,
        baseline: "moka get".into(),
        contenders: vec![strata.clone(), moka.clone()],
    });
    cases.push(Case {
        label: "get_cached L2".into(),
        op: Op::CachedL2,
        concurrency: 1,
        budget: timed,
        baseline: "redis GET".into(),
        contenders: vec![strata.clone(), redis_get.clone()],
    });
    // A tenant-scoped find against the plain one (issue 17).
    let scoped: Arc<dyn Contender> = Arc::new(tenant::Scoped {
        db: strata.db.clone(),
    });
    for c in [1, POOL] {
        cases.push(Case {
            label: format!("tenant find c={c}"),
            op: Op::AccountFind,
            concurrency: c,
            budget: timed,
            baseline: "strata".into(),
            contenders: vec![strata.clone(), scoped.clone()],
        });
    }
    // Concurrent gets coalesced by the batch stage (issue 20).
    let raw_gets: Arc<dyn Contender> = raw.clone();
    cases.extend(batched::cases(&url, POOL, raw_gets, timed).await?);
    // Reads over a primary and a streaming replica (issue 22): servers of
    // its own, started only when the case is selected.
    let _servers = match o.only.as_deref() {
        Some(only) if !"replica get c=8".contains(only) => None,
        _ => {
            eprintln!("starting a primary and a streaming replica ...");
            let (case, servers) = replicas::case(POOL, timed).await?;
            cases.push(case);
            Some(servers)
        }
    };
    // L2 hits on a Redis Cluster (issue 22), started only when selected.
    let _cluster = match o.only.as_deref() {
        Some(only) if !"cluster get_cached c=8".contains(only) => None,
        _ => {
            eprintln!("starting a Redis Cluster ...");
            let raw_gets: Arc<dyn Contender> = raw.clone();
            let (case, servers) =
                cluster::case(&url, POOL, &strata, (&redis, &prefix), raw_gets, timed).await?;
            cases.push(case);
            Some(servers)
        }
    };
    // The change feed's cost to writers (issue 16); `--only feed` selects them.
    cases.extend(feed::cases(&feed, POOL, timed));
    if let Some(only) = &o.only {
        cases.retain(|c| c.label.contains(only.as_str()));
    }
    // For profiling one contender alone (`--contender strata`).
    if let Some(name) = &o.contender {
        for case in &mut cases {
            case.contenders.retain(|c| c.name() == name.as_str());
        }
    }

    let mut allocs = String::new();
    let measured: &[(&str, &dyn Contender, Op)] = if o.skip_allocs {
        &[]
    } else {
        &[
            ("get", strata.as_ref() as &dyn Contender, Op::Get),
            ("get", raw.as_ref(), Op::Get),
            ("acct list", strata.as_ref(), Op::AccountList),
            ("acct list", raw.as_ref(), Op::AccountList),
            ("get_cached L1", strata.as_ref(), Op::CachedL1),
            ("get_cached L1", moka.as_ref(), Op::CachedL1),
            ("get_cached L2", strata.as_ref(), Op::CachedL2),
            ("get_cached L2", redis_get.as_ref(), Op::CachedL2),
        ]
    };
    eprintln!("allocations per op ...");
    for &(label, c, op) in measured {
        let (a, b) = alloc::per_op(c, op, 5_000).await?;
        allocs.push_str(&format!(
            "{label:<14} {:<15} {a:>7.1} allocations/op {b:>9.0} bytes/op\n",
            c.name()
        ));
    }

    eprintln!(
        "running {} cases x {} rounds ({:.1} s per timed contender-round) ...",
        cases.len(),
        o.rounds,
        o.secs
    );
    let report = harness::run_all(&cases, o.rounds).await?;
    println!(
        "strata-bench: {} rounds, pool {POOL}, {} s per timed run, {} table, {} cores\n",
        o.rounds,
        o.secs,
        if o.logged { "logged" } else { "unlogged" },
        std::thread::available_parallelism().map_or(0, usize::from)
    );
    print!("{}", report.table());
    println!(
        "\nallocations per operation (counting allocator, all threads; includes the harness's one boxed future):"
    );
    print!("{allocs}");
    println!(
        "\nchange feed: {} row events received by the subscriber of feed_on",
        feed.events.load(std::sync::atomic::Ordering::Relaxed)
    );
    let pgbench = match cases.iter().any(|c| c.label.starts_with("batched get")) {
        true => {
            eprintln!("pgbench -S -M prepared -c 8 ...");
            batched::pgbench(&url, o.rounds, o.secs)?
        }
        false => Vec::new(),
    };
    print!("{}", batched::pgbench_line(&pgbench));
    println!("\ntargets:");
    print!("{}", targets(&report));
    print!("{}", batched::targets(&report, &pgbench));
    Ok(())
}

/// `--only feed..` / `--only audit..`: the feed and audit cases alone, without seeding or warming the
/// rest.
async fn feed_alone(o: &Options, feed: &feed::Feed) -> Result<(), BoxError> {
    let timed = match o.ops {
        Some(n) => Budget::Ops(n),
        None => Budget::Time(Duration::from_secs_f64(o.secs)),
    };
    let mut cases = feed::cases(feed, POOL, timed);
    if let Some(only) = &o.only {
        cases.retain(|c| c.label.contains(only.as_str()));
    }
    eprintln!(
        "running {} feed cases x {} rounds ...",
        cases.len(),
        o.rounds
    );
    let report = harness::run_all(&cases, o.rounds).await?;
    println!(
        "strata-bench: {} rounds, pool {POOL}, {} s per timed run, {} tables, {} cores\n",
        o.rounds,
        o.secs,
        if o.logged { "logged" } else { "unlogged" },
        std::thread::available_parallelism().map_or(0, usize::from)
    );
    print!("{}", report.table());
    println!(
        "\nchange feed: {} row events received by the subscriber of feed_on",
        feed.events.load(std::sync::atomic::Ordering::Relaxed)
    );
    Ok(())
}

/// The `bench_accounts` cases (each at c=1 and c=[`POOL`]); every label
/// starts with `acct`, so `--only acct` selects them all.
const ACCOUNT_CASES: [(Op, &str); 5] = [
    (Op::AccountList, "acct list"),
    (Op::AccountFilters, "acct 3 filters"),
    (Op::AccountIn, "acct id IN"),
    (Op::AccountWide, "acct nullable"),
    (Op::AccountFind, "acct find"),
];

/// Before anything is timed: for a spread of arguments, strata and the
/// hand-written code return the same rows (in the same order, except the
/// unordered `IN` list), so both sides of every account case do the same
/// work. Fails if a check would pass vacuously (no rows, no `None`).
async fn check_accounts(strata: &Strata, raw: &Raw) -> Result<(), BoxError> {
    use crate::harness::{account_id, id_list, min_age_of, status_of, tenant_of};
    let (mut rows, mut nones, mut nulls) = (0usize, 0usize, 0usize);
    for arg in (0..400u64).map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1) {
        let t = tenant_of(arg);
        let same = |what: &str, ok: bool| -> Result<(), BoxError> {
            if ok {
                Ok(())
            } else {
                Err(format!("{what} (arg {arg}): strata and tokio-postgres disagree").into())
            }
        };
        let (a, b) = (strata.account_list(t).await?, raw.account_list(t).await?);
        rows += a.len();
        same("acct list", a.len() == 20 && same_accounts(&a, &b))?;
        let (s, m) = (status_of(arg), min_age_of(arg));
        let (a, b) = (
            strata.account_filters(t, s, m).await?,
            raw.account_filters(t, s, m).await?,
        );
        rows += a.len();
        same("acct 3 filters", !a.is_empty() && same_accounts(&a, &b))?;
        let (mut a, mut b) = (
            strata.account_in(id_list(arg)).await?,
            raw.account_in(id_list(arg)).await?,
        );
        a.sort_by_key(|r| r.id);
        b.sort_by_key(|r| r.id);
        rows += a.len();
        same("acct id IN", same_accounts(&a, &b))?;
        let (a, b) = (strata.account_wide(t).await?, raw.account_wide(t).await?);
        rows += a.len();
        nulls += a.iter().filter(|r| r.nickname.is_none()).count();
        nulls += a.iter().filter(|r| r.last_login_at.is_none()).count();
        same(
            "acct nullable",
            a.len() == b.len()
                && a.iter().zip(&b).all(|(a, b)| {
                    (
                        a.id,
                        a.tenant_id,
                        &a.email,
                        &a.name,
                        &a.status,
                        a.age,
                        &a.nickname,
                        a.last_login_at,
                        a.created_at,
                        a.deleted_at,
                    ) == (
                        b.id,
                        b.tenant_id,
                        &b.email,
                        &b.name,
                        &b.status,
                        b.age,
                        &b.nickname,
                        b.last_login_at,
                        b.created_at,
                        b.deleted_at,
                    )
                }),
        )?;
        let id = account_id(arg);
        let (a, b) = (strata.account_find(id).await?, raw.account_find(id).await?);
        nones += usize::from(a.is_none());
        same(
            "acct find",
            same_accounts(a.as_slice(), b.as_slice()) && a.is_some() == b.is_some(),
        )?;
    }
    if rows == 0 || nones == 0 || nulls == 0 {
        return Err(format!(
            "account check saw {rows} rows, {nones} soft-deleted finds, {nulls} NULLs: the seed is wrong"
        )
        .into());
    }
    Ok(())
}

/// Whether strata's and the hand-written rows hold the same values.
fn same_accounts(a: &[derived::Account], b: &[raw::RawAccount]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(a, b)| {
            (
                a.id,
                a.tenant_id,
                &a.email,
                &a.name,
                &a.status,
                a.age,
                a.created_at,
                a.deleted_at,
            ) == (
                b.id,
                b.tenant_id,
                &b.email,
                &b.name,
                &b.status,
                b.age,
                b.created_at,
                b.deleted_at,
            )
        })
}

/// Checks the issue's targets: medians over rounds of same-round ratios.
fn targets(r: &Report) -> String {
    let mut out = String::new();
    let mut check = |what: String, value: Option<f64>, min: f64| {
        let line = match value {
            Some(v) => format!(
                "{what:<52} {v:>8.2}x  (target >= {min}x)  {}\n",
                if v >= min { "met" } else { "MISSED" }
            ),
            None => format!("{what:<52} not measured\n"),
        };
        out.push_str(&line);
    };
    for name in ["get", "insert", "patch", "list page"] {
        for c in [1, POOL] {
            let label = format!("{name} c={c}");
            check(
                format!("{label}: strata / tokio-postgres"),
                r.ratio(&label, "strata", &label, "tokio-postgres"),
                0.95,
            );
        }
    }
    for (_, name) in ACCOUNT_CASES {
        for c in [1, POOL] {
            let label = format!("{name} c={c}");
            check(
                format!("{label}: strata / tokio-postgres"),
                r.ratio(&label, "strata", &label, "tokio-postgres"),
                0.95,
            );
        }
    }
    let many = format!("insert_many {}k", BATCH / 1000);
    let rows = format!("row-at-a-time {}k", BATCH / 1000);
    check(
        format!("{many}: strata / binary COPY"),
        r.ratio(&many, "strata", &many, "tokio-postgres"),
        0.9,
    );
    check(
        format!("{many}: strata / strata row-at-a-time"),
        r.ratio(&many, "strata", &rows, "strata"),
        10.0,
    );
    check(
        "get_cached L1 hit / uncached get c=1".into(),
        r.ratio("get_cached L1", "strata", "get c=1", "strata"),
        50.0,
    );
    check(
        "get_cached L2 hit / raw redis GET".into(),
        r.ratio("get_cached L2", "strata", "get_cached L2", "redis GET"),
        0.8,
    );
    out
}
