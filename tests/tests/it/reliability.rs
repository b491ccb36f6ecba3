//! Reliability: invariants under concurrency, cancellation and faults
//! (killed backends, cut COMMITs, a restarted server, a black-holed
//! network), the breaker, leak reports, retry scope and oversized input.
//!
//! Every test prints its figures on one line. Long variants are
//! `#[ignore]`d: `cargo test -p strata-tests --test it reliability -- --ignored`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use strata::prelude::*;
use strata::{BreakerState, TimeoutKind, ToSql};
use strata_tests::TestDb;
use strata_tests::cluster::TestCluster;
use strata_tests::proxy::{CommitCut, FaultProxy, Mode};

// ---------------------------------------------------------------- bank

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

#[derive(Debug, Clone)]
struct Transfer {
    id: i64,
    src: i64,
    dst: i64,
    amount: i64,
    outcome: Outcome,
    done: Instant,
}

#[derive(Debug, Default)]
struct Reads {
    checked: AtomicU64,
    bad: AtomicU64,
    errors: AtomicU64,
}

/// Accounts without a CHECK (so a broken invariant shows as a negative
/// balance) and a transfer log without a unique id (so a duplicate shows).
async fn create_bank(db: &Db, accounts: i64, balance: i64) {
    db.execute(
        "CREATE TABLE accounts (id bigint PRIMARY KEY, balance bigint NOT NULL)",
        &[],
    )
    .await
    .unwrap();
    db.execute(
        "CREATE TABLE transfers (id bigint NOT NULL, src bigint NOT NULL, dst bigint NOT NULL, amount bigint NOT NULL)",
        &[],
    )
    .await
    .unwrap();
    db.execute(
        "INSERT INTO accounts SELECT g, $1 FROM generate_series(1, $2::bigint) g",
        &[&balance, &accounts],
    )
    .await
    .unwrap();
}

/// One bank transfer (also used by `tx.rs`): read, two updates, a ledger row.
pub(crate) async fn transfer(
    db: &Db,
    opts: TxOptions,
    id: i64,
    src: i64,
    dst: i64,
    amount: i64,
) -> Outcome {
    let result = db
        .transaction(opts, |tx| async move {
            let balance: i64 = tx
                .query_one("SELECT balance FROM accounts WHERE id = $1", &[&src])
                .await?
                .get(0);
            if balance < amount {
                return Ok(false);
            }
            tx.execute(
                "UPDATE accounts SET balance = balance - $2 WHERE id = $1",
                &[&src, &amount],
            )
            .await?;
            tx.execute(
                "UPDATE accounts SET balance = balance + $2 WHERE id = $1",
                &[&dst, &amount],
            )
            .await?;
            tx.execute(
                "INSERT INTO transfers VALUES ($1, $2, $3, $4)",
                &[&id, &src, &dst, &amount],
            )
            .await?;
            Ok(true)
        })
        .await;
    match result {
        Ok(true) => Outcome::Ok,
        Ok(false) => Outcome::Declined,
        Err(Error::OutcomeUnknown { .. }) => Outcome::Unknown,
        Err(_) => Outcome::Failed,
    }
}

/// `tasks` writers doing at least `per_task` transfers each (and going on
/// until `until` is set, if given), and 2 readers summing all balances
/// every few milliseconds.
async fn run_bank(
    db: &Db,
    tasks: u64,
    per_task: u64,
    opts: TxOptions,
    accounts: i64,
    total: i64,
    until: Option<Arc<AtomicBool>>,
) -> (Vec<Transfer>, Arc<Reads>) {
    let reads = Arc::new(Reads::default());
    let stop_readers = Arc::new(AtomicBool::new(false));
    let mut readers = Vec::new();
    for _ in 0..2 {
        let (db, reads, stop) = (db.clone(), reads.clone(), stop_readers.clone());
        readers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                match db
                    .query_one(
                        "SELECT sum(balance)::bigint, min(balance) FROM accounts",
                        &[],
                    )
                    .await
                {
                    Ok(row) => {
                        reads.checked.fetch_add(1, Ordering::Relaxed);
                        let (sum, min): (i64, i64) = (row.get(0), row.get(1));
                        if sum != total || min < 0 {
                            reads.bad.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Err(_) => {
                        reads.errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
        }));
    }
    let next_id = Arc::new(AtomicU64::new(1));
    let mut writers = Vec::new();
    for _ in 0..tasks {
        let (db, opts, next_id, until) = (db.clone(), opts.clone(), next_id.clone(), until.clone());
        writers.push(tokio::spawn(async move {
            let mut log = Vec::new();
            for n in 0.. {
                if n >= per_task && until.as_ref().is_none_or(|u| u.load(Ordering::Relaxed)) {
                    break;
                }
                let id = i64::try_from(next_id.fetch_add(1, Ordering::Relaxed)).unwrap();
                let src = rand::random_range(1..=accounts);
                let dst = (src + rand::random_range(0..accounts - 1)) % accounts + 1;
                let amount = rand::random_range(1..=50);
                let outcome = transfer(&db, opts.clone(), id, src, dst, amount).await;
                if outcome == Outcome::Failed {
                    // Fail-fast errors (an open breaker) must not turn into a spin.
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                log.push(Transfer {
                    id,
                    src,
                    dst,
                    amount,
                    outcome,
                    done: Instant::now(),
                });
            }
            log
        }));
    }
    let mut log = Vec::new();
    for w in writers {
        log.extend(w.await.unwrap());
    }
    stop_readers.store(true, Ordering::Relaxed);
    for r in readers {
        r.await.unwrap();
    }
    (log, reads)
}

#[derive(Debug, Default)]
struct Ledger {
    ok: u64,
    declined: u64,
    failed: u64,
    unknown: u64,
    unknown_applied: u64,
    lost: u64,
    duplicated: u64,
    phantom: u64,
    balances_off: u64,
}

/// Checks every transfer against the rows (by client-chosen id) and the
/// final balances against a replay of the applied transfers.
async fn audit(db: &Db, log: &[Transfer], accounts: i64, balance: i64) -> Ledger {
    let rows: HashMap<i64, i64> = db
        .query("SELECT id, count(*) FROM transfers GROUP BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let mut l = Ledger::default();
    let mut replay = vec![balance; usize::try_from(accounts).unwrap() + 1];
    for t in log {
        let n = rows.get(&t.id).copied().unwrap_or(0);
        let applied = match t.outcome {
            Outcome::Ok => {
                l.ok += 1;
                l.lost += u64::from(n == 0);
                l.duplicated += u64::from(n > 1);
                n >= 1
            }
            Outcome::Declined | Outcome::Failed => {
                if t.outcome == Outcome::Declined {
                    l.declined += 1;
                } else {
                    l.failed += 1;
                }
                l.phantom += u64::from(n > 0);
                n >= 1
            }
            Outcome::Unknown => {
                l.unknown += 1;
                l.unknown_applied += u64::from(n == 1);
                l.duplicated += u64::from(n > 1);
                n >= 1
            }
        };
        if applied {
            replay[usize::try_from(t.src).unwrap()] -= t.amount;
            replay[usize::try_from(t.dst).unwrap()] += t.amount;
        }
    }
    let ids: std::collections::HashSet<i64> = log.iter().map(|t| t.id).collect();
    l.phantom += rows.keys().filter(|id| !ids.contains(id)).count() as u64;
    for row in db
        .query("SELECT id, balance FROM accounts", &[])
        .await
        .unwrap()
    {
        let (id, b): (i64, i64) = (row.get(0), row.get(1));
        l.balances_off += u64::from(replay[usize::try_from(id).unwrap()] != b);
    }
    l
}

fn figures(name: &str, reads: &Reads, l: &Ledger, db: &Db, extra: &str) {
    let m = db.metrics().transactions;
    println!(
        "{name}: reads checked {}, bad reads {}, read errors {}, transfers ok {} declined {} failed {} unknown {} (applied {}), \
         retries {} (serialization {}, deadlock {}), lost {}, duplicated {}, phantom {}, balances off {}{extra}",
        reads.checked.load(Ordering::Relaxed),
        reads.bad.load(Ordering::Relaxed),
        reads.errors.load(Ordering::Relaxed),
        l.ok,
        l.declined,
        l.failed,
        l.unknown,
        l.unknown_applied,
        m.retried(),
        m.retried_serialization,
        m.retried_deadlock,
        l.lost,
        l.duplicated,
        l.phantom,
        l.balances_off,
    );
}

fn assert_ledger(reads: &Reads, l: &Ledger) {
    assert!(reads.checked.load(Ordering::Relaxed) > 0, "no read checked");
    assert_eq!(
        reads.bad.load(Ordering::Relaxed),
        0,
        "a read saw a broken total or a negative balance"
    );
    assert_eq!(l.lost, 0, "an acknowledged transfer is missing");
    assert_eq!(l.duplicated, 0, "a transfer applied twice");
    assert_eq!(l.phantom, 0, "a failed transfer left a row");
    assert_eq!(
        l.balances_off, 0,
        "balances differ from a replay of the applied transfers"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bank_serializable_keeps_every_invariant() {
    let t = TestDb::with(|c| c.pool_max(8)).await;
    create_bank(&t, 10, 1_000).await;
    let started = Instant::now();
    let opts = TxOptions::serializable().max_retries(30);
    let (log, reads) = run_bank(&t, 8, 200, opts, 10, 10_000, None).await;
    let l = audit(&t, &log, 10, 1_000).await;
    figures(
        "bank serializable",
        &reads,
        &l,
        &t,
        &format!(", time {:?}", started.elapsed()),
    );
    assert_ledger(&reads, &l);
    assert_eq!(l.unknown, 0);
    assert!(
        t.metrics().transactions.retried() > 0,
        "8 writers on 10 rows must conflict"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bank_without_retries_reports_failures() {
    let t = TestDb::with(|c| c.pool_max(8)).await;
    create_bank(&t, 10, 1_000).await;
    let (log, reads) = run_bank(
        &t,
        8,
        50,
        TxOptions::serializable().max_retries(0),
        10,
        10_000,
        None,
    )
    .await;
    let l = audit(&t, &log, 10, 1_000).await;
    figures("bank max_retries(0)", &reads, &l, &t, "");
    assert_ledger(&reads, &l);
    assert!(l.failed > 0, "without retries some transfers must fail");
    assert_eq!(t.metrics().transactions.retried(), 0);
}

// ---------------------------------------------------------------- double spend

/// 1,000 accounts holding 10 (as a ledger of withdrawals, no CHECK), two
/// racing withdrawals of 9 each: read the balance, then insert the
/// withdrawal. Returns (accounts below 0, withdrawals ok, failed).
async fn double_spend(opts: TxOptions) -> (i64, u64, u64, u64) {
    let t = TestDb::with(|c| c.pool_max(16)).await;
    t.execute(
        "CREATE TABLE withdrawals (account int NOT NULL, amount int NOT NULL)",
        &[],
    )
    .await
    .unwrap();
    t.execute("CREATE INDEX ON withdrawals (account)", &[])
        .await
        .unwrap();
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut tasks = Vec::new();
    for w in 0..16 {
        let (db, opts, ok, failed) = (t.db().clone(), opts.clone(), ok.clone(), failed.clone());
        // Workers w and w + 8 walk the same accounts in the same order.
        tasks.push(tokio::spawn(async move {
            for account in ((w % 8)..1_000).step_by(8) {
                let result = db
                    .transaction(opts.clone(), |tx| async move {
                        let balance: i64 = tx
                            .query_one(
                                "SELECT 10 - coalesce(sum(amount), 0) FROM withdrawals WHERE account = $1",
                                &[&account],
                            )
                            .await?
                            .get(0);
                        if balance < 9 {
                            return Ok(());
                        }
                        tokio::task::yield_now().await;
                        tx.execute("INSERT INTO withdrawals VALUES ($1, 9)", &[&account])
                            .await?;
                        Ok(())
                    })
                    .await;
                match result {
                    Ok(()) => ok.fetch_add(1, Ordering::Relaxed),
                    Err(_) => failed.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let negative: i64 = t
        .query_one(
            "SELECT count(*) FROM (SELECT account FROM withdrawals GROUP BY account HAVING 10 - sum(amount) < 0) n",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let retries = t.metrics().transactions.retried();
    (
        negative,
        ok.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed),
        retries,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn double_spend_is_impossible_under_serializable_and_shows_under_repeatable_read() {
    let started = Instant::now();
    let (neg_ser, ok_ser, failed_ser, retries_ser) =
        double_spend(TxOptions::serializable().max_retries(10)).await;
    let (neg_rr, ok_rr, failed_rr, _) = double_spend(TxOptions::repeatable_read()).await;
    println!(
        "double spend: serializable accounts below 0 {neg_ser} (ok {ok_ser}, failed {failed_ser}, retries {retries_ser}); \
         repeatable read accounts below 0 {neg_rr} (ok {ok_rr}, failed {failed_rr}); time {:?}",
        started.elapsed()
    );
    assert_eq!(neg_ser, 0, "SERIALIZABLE let an account go below 0");
    assert!(
        neg_rr > 0,
        "REPEATABLE READ write skew must show (the test has no teeth otherwise)"
    );
}

// ---------------------------------------------------------------- bank under faults

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

/// Terminates the backends of `app` on `cluster` (all, or one at random);
/// returns how many. Errors (the server restarting) count as 0.
async fn terminate(cluster: &TestCluster, app: &str, all: bool) -> u64 {
    let Ok((client, conn)) = tokio_postgres::connect(&cluster.url(), tokio_postgres::NoTls).await
    else {
        return 0;
    };
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let sql = if all {
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1"
    } else {
        "SELECT count(pg_terminate_backend(pid)) FROM (SELECT pid FROM pg_stat_activity \
         WHERE application_name = $1 ORDER BY random() LIMIT 1) p"
    };
    client
        .query_one(sql, &[&app])
        .await
        .map(|r| u64::try_from(r.get::<_, i64>(0)).unwrap_or(0))
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bank_under_faults_never_loses_or_duplicates() {
    let _exclusive = TestCluster::exclusive().await;
    let cluster = TestCluster::shared();
    let proxy = FaultProxy::start(&cluster.addr()).await;
    let app = format!("rel_faults_{:08x}", rand::random::<u32>());
    let db = cluster_db(cluster, &proxy, &app, |c| {
        c.pool_max(8).breaker_cooldown(Duration::from_millis(200))
    })
    .await;
    create_bank(&db, 10, 1_000).await;
    let stop = Arc::new(AtomicBool::new(false));
    let bank = {
        let (db, stop) = (db.clone(), stop.clone());
        tokio::spawn(async move {
            run_bank(
                &db,
                8,
                100,
                TxOptions::serializable().max_retries(30),
                10,
                10_000,
                Some(stop),
            )
            .await
        })
    };
    let started = Instant::now();
    let (mut killed, mut restarted_at) = (0, None);
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    for n in 1..=12u32 {
        tick.tick().await;
        killed += terminate(cluster, &app, false).await;
        if n % 4 == 0 {
            proxy.cut_next_commit(if n % 8 == 0 {
                CommitCut::Before
            } else {
                CommitCut::After
            });
        }
        if n == 6 {
            tokio::task::spawn_blocking(|| TestCluster::shared().restart())
                .await
                .unwrap();
            restarted_at = Some(Instant::now());
        }
    }
    // Let the armed cuts land before the workload stops.
    let deadline = Instant::now() + Duration::from_secs(3);
    while proxy.commits_cut() < 3 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    proxy.disarm_commit_cuts();
    stop.store(true, Ordering::Relaxed);
    let (log, reads) = bank.await.unwrap();
    let restarted_at = restarted_at.unwrap();
    let recovered = log
        .iter()
        .filter(|t| t.outcome == Outcome::Ok && t.done > restarted_at)
        .map(|t| t.done - restarted_at)
        .min();
    let l = audit(&db, &log, 10, 1_000).await;
    figures(
        "bank under faults",
        &reads,
        &l,
        &db,
        &format!(
            ", backends terminated {killed}, commits cut {}, restarts 1, time to recover {recovered:?}, time {:?}",
            proxy.commits_cut(),
            started.elapsed()
        ),
    );
    assert_ledger(&reads, &l);
    assert!(proxy.commits_cut() >= 1, "no COMMIT was cut");
    assert!(
        l.unknown >= proxy.commits_cut(),
        "every cut COMMIT must surface as OutcomeUnknown"
    );
    assert!(
        l.ok > 0 && recovered.is_some(),
        "no transfer succeeded after the restart"
    );
}

// ---------------------------------------------------------------- cancellation

async fn cancellation(iterations: u32) {
    let t = TestDb::with(|c| c.pool_max(1)).await;
    t.execute("CREATE TABLE t (it int NOT NULL, part int NOT NULL)", &[])
        .await
        .unwrap();
    // 0: not in the closure yet (acquire, BEGIN); 1: query; 2: savepoint; 3: COMMIT.
    let phase = Arc::new(AtomicU32::new(0));
    let run = |it: i32| {
        let (db, phase) = (t.db().clone(), phase.clone());
        async move {
            phase.store(0, Ordering::SeqCst);
            db.transaction(TxOptions::new(), move |tx| {
                let phase = phase.clone();
                async move {
                    phase.store(1, Ordering::SeqCst);
                    tx.execute("INSERT INTO t VALUES ($1, 1)", &[&it]).await?;
                    phase.store(2, Ordering::SeqCst);
                    tx.savepoint(|sp| async move {
                        sp.execute("INSERT INTO t VALUES ($1, 2)", &[&it]).await
                    })
                    .await?;
                    phase.store(3, Ordering::SeqCst);
                    Ok(())
                }
            })
            .await
        }
    };
    // Calibrate: how long one uncancelled transaction takes here.
    let t0 = Instant::now();
    for it in 0..20 {
        run(-1 - it).await.unwrap();
    }
    let typical = t0.elapsed() / 20;
    t.execute("DELETE FROM t", &[]).await.unwrap();
    let started = Instant::now();
    let (mut cancelled, mut completed, mut in_tx, mut leaked_locks, mut aborted_25p02) =
        (0, 0, 0, 0, 0);
    let (mut partial, mut other_errors) = (0, 0);
    let mut by_phase = [0u32; 4];
    for it in 0..i32::try_from(iterations).unwrap() {
        let limit = typical.mul_f64(rand::random_range(0.0..1.3));
        match tokio::time::timeout(limit, run(it)).await {
            Ok(Ok(())) => completed += 1,
            Ok(Err(_)) => other_errors += 1,
            Err(_) => {
                cancelled += 1;
                by_phase[phase.load(Ordering::SeqCst) as usize] += 1;
            }
        }
        // The next borrower: not inside a transaction (two statements get
        // two transaction ids), no locks, sees only whole transactions.
        let check = async {
            let first: i64 = t.query_one("SELECT txid_current()", &[]).await?.get(0);
            let row = t
                .query_one(
                    "SELECT txid_current(), \
                     (SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid() AND relation = 't'::regclass)",
                    &[],
                )
                .await?;
            Ok::<_, Error>((first == row.get::<_, i64>(0), row.get::<_, i64>(1)))
        };
        match check.await {
            Ok((same_tx, locks)) => {
                in_tx += u32::from(same_tx);
                leaked_locks += locks;
            }
            Err(e) => {
                if e.code() == Some(&strata::SqlState::IN_FAILED_SQL_TRANSACTION) {
                    aborted_25p02 += 1;
                } else {
                    other_errors += 1;
                }
            }
        }
        let parts: i64 = t
            .query_one("SELECT count(*) FROM t WHERE it = $1", &[&it])
            .await
            .unwrap()
            .get(0);
        partial += u32::from(parts == 1);
    }
    println!(
        "cancellation: iterations {iterations}, cancelled {cancelled} (begin {}, query {}, savepoint {}, commit {}), \
         completed {completed}, next borrower in a transaction {in_tx}, leaked locks {leaked_locks}, 25P02 {aborted_25p02}, \
         partial transactions visible {partial}, other errors {other_errors}, typical tx {typical:?}, time {:?}",
        by_phase[0],
        by_phase[1],
        by_phase[2],
        by_phase[3],
        started.elapsed()
    );
    assert!(
        cancelled > 0 && completed > 0,
        "the random bound should both cancel and let through"
    );
    assert_eq!(in_tx, 0, "a borrower got a connection inside a transaction");
    assert_eq!(leaked_locks, 0);
    assert_eq!(aborted_25p02, 0);
    assert_eq!(partial, 0, "half a transaction became visible");
    assert_eq!(other_errors, 0);
}

#[tokio::test]
async fn cancellation_at_any_await_point_never_leaks_a_transaction() {
    cancellation(2_000).await;
}

#[tokio::test]
#[ignore = "long: cargo test -p strata-tests --test it reliability -- --ignored"]
async fn cancellation_at_any_await_point_long() {
    cancellation(10_000).await;
}

// ---------------------------------------------------------------- kill every backend

async fn kill_every_backend(rounds: u32) {
    let app = format!("rel_kill_{:08x}", rand::random::<u32>());
    let t = {
        let app = app.clone();
        TestDb::with(move |c| c.pool_max(8).application_name(app)).await
    };
    t.execute("CREATE TABLE kv (id int PRIMARY KEY, v int NOT NULL)", &[])
        .await
        .unwrap();
    t.execute(
        "INSERT INTO kv SELECT g, g * 7 FROM generate_series(1, 100) g",
        &[],
    )
    .await
    .unwrap();
    t.execute("CREATE TABLE w (id bigint NOT NULL)", &[])
        .await
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let (reads, read_failed, wrong) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let first_error = Arc::new(Mutex::new(None::<String>));
    let mut readers = Vec::new();
    for _ in 0..16 {
        let (db, stop, reads, read_failed, wrong, first_error) = (
            t.db().clone(),
            stop.clone(),
            reads.clone(),
            read_failed.clone(),
            wrong.clone(),
            first_error.clone(),
        );
        readers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let id = rand::random_range(1..=100i32);
                match db
                    .query_read_one("SELECT v FROM kv WHERE id = $1", &[&id])
                    .await
                {
                    Ok(row) => {
                        reads.fetch_add(1, Ordering::Relaxed);
                        wrong.fetch_add(
                            u64::from(row.get::<_, i32>(0) != id * 7),
                            Ordering::Relaxed,
                        );
                    }
                    Err(e) => {
                        read_failed.fetch_add(1, Ordering::Relaxed);
                        first_error.lock().unwrap().get_or_insert(format!("{e:?}"));
                    }
                }
            }
        }));
    }
    let mut writers = Vec::new();
    for w in 0..2i64 {
        let (db, stop) = (t.db().clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let mut log = Vec::new();
            for n in 0.. {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let id = w * 1_000_000 + n;
                let outcome = match db.execute("INSERT INTO w VALUES ($1)", &[&id]).await {
                    Ok(_) => Outcome::Ok,
                    Err(Error::OutcomeUnknown { .. }) => Outcome::Unknown,
                    Err(_) => Outcome::Failed,
                };
                log.push((id, outcome));
            }
            log
        }));
    }
    let admin = strata_tests::admin().await;
    let mut recoveries = Vec::new();
    let mut killed = 0;
    let started = Instant::now();
    for _ in 0..rounds {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let n: i64 = admin
            .query_one(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
                &[&app],
            )
            .await
            .unwrap()
            .get(0);
        killed += n;
        let kill = Instant::now();
        let mut back = None;
        while kill.elapsed() < Duration::from_millis(500) {
            let live: i64 = admin
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
                    &[&app],
                )
                .await
                .unwrap()
                .get(0);
            if live >= 8 {
                back = Some(kill.elapsed());
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        recoveries.push(back);
        tokio::time::sleep(Duration::from_millis(500).saturating_sub(kill.elapsed())).await;
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.await.unwrap();
    }
    let mut log = Vec::new();
    for w in writers {
        log.extend(w.await.unwrap());
    }
    let rows: HashMap<i64, i64> = t
        .query("SELECT id, count(*) FROM w GROUP BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let (mut lost, mut duplicated, mut phantom, mut unknown) = (0, 0, 0, 0);
    for (id, outcome) in &log {
        let n = rows.get(id).copied().unwrap_or(0);
        duplicated += u32::from(n > 1);
        match outcome {
            Outcome::Ok => lost += u32::from(n == 0),
            Outcome::Failed => phantom += u32::from(n > 0),
            Outcome::Unknown => unknown += 1,
            Outcome::Declined => {}
        }
    }
    let slowest = recoveries
        .iter()
        .map(|r| r.unwrap_or(Duration::MAX))
        .max()
        .unwrap_or_default();
    println!(
        "kill every backend: rounds {rounds}, backends terminated {killed}, reads checked {}, failed reads {}, wrong reads {}, \
         writes {}, unknown {unknown}, lost {lost}, duplicated {duplicated}, phantom {phantom}, reads retried {}, \
         pool back to 8 after each kill {:?}, slowest {slowest:?}, time {:?}, first error {:?}",
        reads.load(Ordering::Relaxed),
        read_failed.load(Ordering::Relaxed),
        wrong.load(Ordering::Relaxed),
        log.len(),
        t.metrics().queries.reads_retried,
        recoveries,
        started.elapsed(),
        first_error.lock().unwrap()
    );
    assert_eq!(
        read_failed.load(Ordering::Relaxed),
        0,
        "an idempotent read failed"
    );
    assert_eq!(wrong.load(Ordering::Relaxed), 0);
    assert_eq!((lost, duplicated, phantom), (0, 0, 0));
    assert!(
        recoveries
            .iter()
            .all(|r| r.is_some_and(|d| d <= Duration::from_secs(1))),
        "pool not back to full size within 1 s of a kill: {recoveries:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_every_backend_fails_no_read_and_loses_no_write() {
    kill_every_backend(5).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "long: cargo test -p strata-tests --test it reliability -- --ignored"]
async fn killing_every_backend_long() {
    kill_every_backend(30).await;
}

// ---------------------------------------------------------------- restart

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn restart_under_load_recovers_fast_and_fails_fast_meanwhile() {
    let _exclusive = TestCluster::exclusive().await;
    let cluster = TestCluster::shared();
    let proxy = FaultProxy::start(&cluster.addr()).await;
    let app = format!("rel_restart_{:08x}", rand::random::<u32>());
    let cooldown = Duration::from_millis(300);
    let db = cluster_db(cluster, &proxy, &app, |c| {
        c.pool_max(4)
            .breaker_threshold(3)
            .breaker_cooldown(cooldown)
            .connect_timeout(Duration::from_millis(500))
    })
    .await;
    db.execute("CREATE TABLE w (id bigint NOT NULL)", &[])
        .await
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    // (start, end, ok, circuit open, id if a write)
    type Call = (Instant, Instant, bool, bool, Option<(i64, Outcome)>);
    let mut tasks = Vec::new();
    for w in 0..4i64 {
        let (db, stop) = (db.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut calls: Vec<Call> = Vec::new();
            for n in 0.. {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let start = Instant::now();
                let (result, write) = if n % 2 == 0 {
                    let id = w * 1_000_000 + n;
                    let r = db
                        .execute("INSERT INTO w VALUES ($1)", &[&id])
                        .await
                        .map(|_| ());
                    let outcome = match &r {
                        Ok(()) => Outcome::Ok,
                        Err(Error::OutcomeUnknown { .. }) => Outcome::Unknown,
                        Err(_) => Outcome::Failed,
                    };
                    (r, Some((id, outcome)))
                } else {
                    (db.query_read("SELECT 1", &[]).await.map(|_| ()), None)
                };
                let end = Instant::now();
                let open = matches!(result, Err(Error::CircuitOpen));
                calls.push((start, end, result.is_ok(), open, write));
                if result.is_err() {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            }
            calls
        }));
    }
    // When the breaker first leaves `Closed`.
    let watch = {
        let (db, stop) = (db.clone(), stop.clone());
        tokio::spawn(async move {
            let mut open_since = None;
            while !stop.load(Ordering::Relaxed) {
                if open_since.is_none() && db.metrics().breaker != BreakerState::Closed {
                    open_since = Some(Instant::now());
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            open_since
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    // A thread that sees the server go down, then come up.
    let port = cluster.port();
    let updown = std::thread::spawn(move || {
        let connects = || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
        while connects() {
            std::thread::sleep(Duration::from_millis(1));
        }
        let down = Instant::now();
        while !connects() {
            std::thread::sleep(Duration::from_millis(1));
        }
        (down, Instant::now())
    });
    let accepts_before = proxy.accepted();
    let restart_began = Instant::now();
    tokio::task::spawn_blocking(|| TestCluster::shared().restart())
        .await
        .unwrap();
    let (down, up) = updown.join().unwrap();
    let accepts_at_up = proxy.accepted();
    let restart_for = restart_began.elapsed();
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    stop.store(true, Ordering::Relaxed);
    let open_since = watch.await.unwrap();
    let mut calls = Vec::new();
    for task in tasks {
        calls.extend(task.await.unwrap());
    }
    let first_success = calls
        .iter()
        .filter(|c| c.2 && c.1 > up)
        .map(|c| c.1 - up)
        .min();
    let mut fast: Vec<Duration> = calls.iter().filter(|c| c.3).map(|c| c.1 - c.0).collect();
    fast.sort();
    let p99 = fast.get(fast.len() * 99 / 100).copied().unwrap_or_default();
    let fast_max = fast.last().copied().unwrap_or_default();
    // Accepts while down: at most the failures that open the breaker plus
    // one background probe per probe interval (the cool-down, at most
    // 100 ms) over the whole restart (the server refuses connections while
    // it shuts down and starts, not only while its port is closed).
    let down_for = up - down;
    let probe_interval = cooldown.min(Duration::from_millis(100));
    // (The pool's own dead idle connections and the failures that open the
    // breaker come first: pool size + threshold.)
    let allowed =
        4 + 3 + u64::try_from(restart_for.as_millis() / probe_interval.as_millis()).unwrap() + 1;
    let accepts_down = accepts_at_up - accepts_before;
    let rows: HashMap<i64, i64> = db
        .query("SELECT id, count(*) FROM w GROUP BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let writes: Vec<(i64, Outcome)> = calls.iter().filter_map(|c| c.4).collect();
    let lost = writes
        .iter()
        .filter(|(id, o)| *o == Outcome::Ok && !rows.contains_key(id))
        .count();
    let duplicated = rows.values().filter(|n| **n > 1).count();
    println!(
        "restart: calls {}, ok {}, down for {down_for:?}, breaker opened {:?} after down, fail-fast calls {} (p99 {p99:?}, max {fast_max:?}), \
         proxy accepts while down {accepts_down} (allowed {allowed}), first success {first_success:?} after up, \
         acknowledged writes {}, lost {lost}, duplicated {duplicated}",
        calls.len(),
        calls.iter().filter(|c| c.2).count(),
        open_since.map(|o| o.saturating_duration_since(down)),
        fast.len(),
        writes.iter().filter(|w| w.1 == Outcome::Ok).count(),
    );
    assert!(
        !fast.is_empty(),
        "the breaker never failed a call fast while the server was down"
    );
    assert!(p99 < Duration::from_millis(5), "fail-fast p99 {p99:?}");
    assert!(
        accepts_down <= allowed,
        "{accepts_down} connects while down, allowed {allowed}"
    );
    assert!(
        first_success.is_some_and(|d| d <= Duration::from_secs(2)),
        "first success {first_success:?} after the server came back"
    );
    assert_eq!((lost, duplicated), (0, 0));
}

// ---------------------------------------------------------------- black hole

/// How long `f` took and what it returned, or `None` if it hung past `hang`.
async fn timed<T>(
    hang: Duration,
    f: impl std::future::Future<Output = T>,
) -> (Duration, Option<T>) {
    let t0 = Instant::now();
    let out = tokio::time::timeout(hang, f).await.ok();
    (t0.elapsed(), out)
}

/// What the black-hole calls did: hung, over their bound, and a report line.
#[derive(Default)]
struct Tally {
    report: String,
    hung: usize,
    over: Vec<(&'static str, Duration)>,
}

impl Tally {
    /// Records one call: it must not hang, must fail as `expected` says,
    /// and must return within `limit` + 10%.
    fn check<T: std::fmt::Debug>(
        &mut self,
        name: &'static str,
        took: Duration,
        out: Option<Result<T>>,
        expected: impl Fn(&Error) -> bool,
        limit: Duration,
    ) {
        write!(
            self.report,
            "{name} {took:?} {:?}; ",
            out.as_ref().map(|r| r.as_ref().err())
        )
        .unwrap();
        match out {
            None => self.hung += 1,
            Some(r) => {
                assert!(r.as_ref().is_err_and(&expected), "{name}: {r:?}");
                if took > limit.mul_f64(1.1) {
                    self.over.push((name, took));
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn black_hole_every_call_returns_a_typed_timeout_within_its_bound() {
    let t = TestDb::new().await;
    t.execute("CREATE TABLE bh (id int)", &[]).await.unwrap();
    let proxy = FaultProxy::start("127.0.0.1:5432").await;
    let (acquire, connect, statement) = (
        Duration::from_millis(400),
        Duration::from_millis(800),
        Duration::from_millis(1_000),
    );
    let db = Db::connect(
        t.config()
            .port(proxy.port())
            .pool_max(3)
            .pool_min(3)
            .acquire_timeout(acquire)
            .connect_timeout(connect)
            .statement_timeout(Some(statement))
            .breaker_threshold(1_000),
    )
    .await
    .unwrap();

    let hang = Duration::from_secs(8);
    let mut tally = Tally::default();
    // Three idle connections, then the network goes silent.
    proxy.set_mode(Mode::Stall);
    let stall = Instant::now();

    let statement_timeout = |e: &Error| {
        matches!(
            e,
            Error::Timeout {
                kind: TimeoutKind::Statement,
                ..
            }
        )
    };
    let connect_timeout = |e: &Error| {
        matches!(
            e,
            Error::Timeout {
                kind: TimeoutKind::Connect,
                ..
            }
        )
    };

    // A read on an established connection.
    let (took, out) = timed(hang, db.query_read("SELECT 1", &[])).await;
    tally.check("read", took, out, statement_timeout, statement);
    // A write: its outcome is unknown.
    let (took, out) = timed(hang, db.execute("INSERT INTO bh VALUES (1)", &[])).await;
    let unknown = |e: &Error| matches!(e, Error::OutcomeUnknown { .. }) || statement_timeout(e);
    tally.check("write", took, out, unknown, statement);
    // BEGIN on an established connection.
    let (took, out) = timed(
        hang,
        db.transaction(TxOptions::new(), |tx| async move {
            tx.query("SELECT 1", &[]).await.map(|_| ())
        }),
    )
    .await;
    tally.check("transaction", took, out, statement_timeout, statement);
    // Every connection is gone now: the next call must connect.
    let (took, out) = timed(hang, db.query_read("SELECT 1", &[])).await;
    tally.check("connect", took, out, connect_timeout, connect);
    // Three callers hold every slot while connecting; a fourth waits for one.
    let mut holders = Vec::new();
    for _ in 0..3 {
        let db = db.clone();
        holders.push(tokio::spawn(async move {
            timed(hang, db.query_read("SELECT 1", &[])).await
        }));
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (took, out) = timed(hang, db.query_read("SELECT 1", &[])).await;
    let exhausted = |e: &Error| matches!(e, Error::PoolExhausted { .. });
    tally.check("acquire", took, out, exhausted, acquire);
    for h in holders {
        let (took, out) = h.await.unwrap();
        tally.check("connect (holder)", took, out, connect_timeout, connect);
    }
    // The stall ends; the pool recovers.
    tokio::time::sleep(Duration::from_millis(4_000).saturating_sub(stall.elapsed())).await;
    proxy.set_mode(Mode::Forward);
    let healed = Instant::now();
    let mut recovered = None;
    while healed.elapsed() < Duration::from_secs(5) {
        if db.query_read("SELECT 1", &[]).await.is_ok() {
            recovered = Some(healed.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let Tally { report, hung, over } = tally;
    println!(
        "black hole: stalled {:?}, calls hung {hung}, over their bound {over:?}, recovered in {recovered:?}; {report}",
        healed - stall
    );
    assert_eq!(hung, 0, "calls hung in the black hole");
    assert!(
        over.is_empty(),
        "calls over their configured bound + 10%: {over:?}"
    );
    assert!(
        recovered.is_some_and(|d| d <= Duration::from_secs(2)),
        "{recovered:?}"
    );
}

// ---------------------------------------------------------------- breaker

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn breaker_counts_its_probes() {
    let t = TestDb::new().await;
    let proxy = FaultProxy::start("127.0.0.1:5432").await;
    let cooldown = Duration::from_millis(200);
    let db = Db::connect(
        t.config()
            .port(proxy.port())
            .pool_max(2)
            .retry_attempts(0)
            .breaker_threshold(3)
            .breaker_cooldown(cooldown),
    )
    .await
    .unwrap();
    db.query_read("SELECT 1", &[]).await.unwrap();
    proxy.set_mode(Mode::Reject);
    proxy.cut_all();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let before = proxy.accepted();
    let mut failures = 0;
    loop {
        match db.query_read("SELECT 1", &[]).await {
            Err(Error::CircuitOpen) => break,
            Err(_) => failures += 1,
            Ok(_) => panic!("the proxy rejects everything"),
        }
        assert!(failures < 10, "the breaker never opened");
    }
    let to_open = proxy.accepted() - before;
    // Open: four callers hammer it for ~1 s; only probes reach the network.
    let open_at = Instant::now();
    let before = proxy.accepted();
    let calls = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (db, calls) = (db.clone(), calls.clone());
        tasks.push(tokio::spawn(async move {
            while open_at.elapsed() < Duration::from_millis(1_000) {
                let _ = db.query_read("SELECT 1", &[]).await;
                calls.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let elapsed = open_at.elapsed();
    let probes = proxy.accepted() - before;
    // While open, a background probe connects once per probe interval (the
    // cool-down, at most 100 ms); calls never reach the network.
    let probe_interval = cooldown.min(Duration::from_millis(100));
    let intervals = u64::try_from(elapsed.as_millis() / probe_interval.as_millis()).unwrap();
    // Back: the next probe closes it, and its connection serves the next
    // call. A caller that gives up mid-call must not wedge the breaker.
    proxy.set_mode(Mode::Forward);
    let before = proxy.accepted();
    let _abandoned = tokio::time::timeout(Duration::ZERO, db.query_read("SELECT 1", &[])).await;
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match db.query_read("SELECT 1", &[]).await {
                Ok(_) => break,
                Err(Error::CircuitOpen) => tokio::time::sleep(Duration::from_millis(5)).await,
                Err(other) => panic!("{other:?}"),
            }
        }
    })
    .await
    .expect("the breaker closes once the server accepts");
    let closed = db.metrics().breaker;
    let to_close = proxy.accepted() - before;
    println!(
        "breaker: failures to open {failures} ({to_open} connects), while open {} calls in {elapsed:?}, probes {probes} \
         (probe intervals {intervals}), connects to close {to_close}, state after success {closed:?}",
        calls.load(Ordering::Relaxed)
    );
    assert_eq!(failures, 3);
    assert_eq!(to_open, 3);
    assert!(probes >= 1, "half-open never let a probe through");
    assert!(
        probes <= intervals + 1,
        "more than one probe per probe interval"
    );
    assert!(
        to_close <= 1,
        "{to_close} connects to close: one probe closes it"
    );
    assert_eq!(closed, BreakerState::Closed);
}

// ---------------------------------------------------------------- leak report

/// Captures WARN events on this thread: (when, fields).
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<(Instant, String)>>>);

struct Fields(String);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, "{}={value:?} ", field.name());
    }
}

impl tracing::Subscriber for Capture {
    fn register_callsite(
        &self,
        _: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        tracing::subscriber::Interest::sometimes()
    }
    fn enabled(&self, meta: &tracing::Metadata<'_>) -> bool {
        *meta.level() <= tracing::Level::WARN
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut fields = Fields(String::new());
        event.record(&mut fields);
        self.0.lock().unwrap().push((Instant::now(), fields.0));
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[tokio::test]
async fn leak_is_reported_within_threshold_plus_a_second_with_its_origin() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
    let threshold = Duration::from_millis(300);
    let t = TestDb::with(|c| c.pool_max(1).leak_threshold(threshold)).await;
    let taken = Instant::now();
    let holder = {
        let db = t.db().clone();
        tokio::spawn(async move {
            db.transaction(TxOptions::new(), |tx| async move {
                tx.query("SELECT 1", &[]).await?;
                tokio::time::sleep(Duration::from_millis(1_000)).await;
                Ok(())
            })
            .await
        })
    };
    let waiter = {
        let db = t.db().clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            db.query_read("SELECT 1", &[]).await
        })
    };
    let mut waiting_max = 0;
    let mut reported = None;
    while taken.elapsed() < threshold + Duration::from_millis(1_500) && reported.is_none() {
        waiting_max = waiting_max.max(t.pool_status().waiting);
        reported = capture
            .0
            .lock()
            .unwrap()
            .iter()
            .find(|(_, f)| f.contains("leak threshold"))
            .cloned();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _ = holder.await.unwrap();
    let _ = waiter.await.unwrap();
    let (at, fields) = reported.expect("no leak report");
    let after = at - taken;
    println!(
        "leak report: threshold {threshold:?}, reported after {after:?}, waiting gauge max {waiting_max}, report: {fields}"
    );
    assert!(
        after >= threshold && after <= threshold + Duration::from_secs(1),
        "{after:?}"
    );
    assert!(
        fields.contains("reliability.rs"),
        "the report names where it was taken: {fields}"
    );
    assert!(
        waiting_max >= 1,
        "the starved caller shows in the waiting gauge"
    );
}

// ---------------------------------------------------------------- retry scope

#[tokio::test]
async fn only_serialization_and_deadlock_are_retried() {
    let t = TestDb::new().await;
    t.execute("CREATE TABLE parent (id int PRIMARY KEY)", &[])
        .await
        .unwrap();
    t.execute("CREATE TABLE child (p int REFERENCES parent)", &[])
        .await
        .unwrap();
    t.execute("CREATE TABLE u (id int PRIMARY KEY)", &[])
        .await
        .unwrap();
    t.execute("INSERT INTO u VALUES (1)", &[]).await.unwrap();
    let raise = |code: &str| {
        format!("DO $$ BEGIN RAISE EXCEPTION 'injected' USING ERRCODE = '{code}'; END $$")
    };
    // Fails on the first attempt only, with `sql`; returns (attempts, result).
    async fn first_fails(db: &Db, opts: TxOptions, sql: String) -> (u32, Result<()>) {
        let attempts = Arc::new(AtomicU32::new(0));
        let result = db
            .transaction(opts, |tx| {
                let (attempts, sql) = (attempts.clone(), sql.clone());
                async move {
                    if attempts.fetch_add(1, Ordering::SeqCst) == 0 {
                        tx.execute(&sql, &[]).await?;
                    }
                    Ok(())
                }
            })
            .await;
        (attempts.load(Ordering::SeqCst), result)
    }
    let mut line = String::new();
    let cases: Vec<(&str, TxOptions, String, u32)> = vec![
        ("40001", TxOptions::new(), raise("40001"), 2),
        ("40P01", TxOptions::new(), raise("40P01"), 2),
        (
            "23505",
            TxOptions::new(),
            "INSERT INTO u VALUES (1)".into(),
            1,
        ),
        (
            "23505 retry_on_unique",
            TxOptions::new().retry_on_unique(true),
            "INSERT INTO u VALUES (1)".into(),
            2,
        ),
        (
            "23503",
            TxOptions::new(),
            "INSERT INTO child VALUES (42)".into(),
            1,
        ),
        (
            "I/O mid-statement",
            TxOptions::new(),
            "SELECT pg_terminate_backend(pg_backend_pid())".into(),
            1,
        ),
    ];
    for (name, opts, sql, want) in cases {
        let (attempts, result) = first_fails(&t, opts, sql).await;
        write!(
            line,
            "{name}: attempts {attempts} ({}); ",
            match &result {
                Ok(()) => "ok".into(),
                Err(e) => format!("{e:?}").chars().take(40).collect::<String>(),
            }
        )
        .unwrap();
        assert_eq!(attempts, want, "{name}: {result:?}");
        match name {
            "23505" => assert!(
                matches!(result, Err(Error::UniqueViolation { .. })),
                "{result:?}"
            ),
            "23503" => assert!(
                matches!(result, Err(Error::ForeignKeyViolation { .. })),
                "{result:?}"
            ),
            "I/O mid-statement" => assert!(
                matches!(result, Err(Error::Connection { .. })),
                "{result:?}"
            ),
            _ => assert!(result.is_ok(), "{name}: {result:?}"),
        }
    }
    // An unknown COMMIT: the connection is cut right after COMMIT is sent.
    let proxy = FaultProxy::start("127.0.0.1:5432").await;
    let db = Db::connect(t.config().port(proxy.port())).await.unwrap();
    proxy.cut_next_commit(CommitCut::After);
    let attempts = Arc::new(AtomicU32::new(0));
    let result = db
        .transaction(TxOptions::serializable(), |tx| {
            let attempts = attempts.clone();
            async move {
                attempts.fetch_add(1, Ordering::SeqCst);
                tx.execute("INSERT INTO parent VALUES (7)", &[])
                    .await
                    .map(|_| ())
            }
        })
        .await;
    let applied: i64 = t
        .query_one("SELECT count(*) FROM parent WHERE id = 7", &[])
        .await
        .unwrap()
        .get(0);
    let m = t.metrics().transactions;
    println!(
        "retry scope: {line}unknown COMMIT: attempts {}, {:?}, applied {applied} time(s); retried serialization {}, deadlock {}, unique {}",
        attempts.load(Ordering::SeqCst),
        result.as_ref().err().map(|e| e.to_string()),
        m.retried_serialization,
        m.retried_deadlock,
        m.retried_unique
    );
    assert!(
        matches!(result, Err(Error::OutcomeUnknown { .. })),
        "{result:?}"
    );
    assert_eq!(
        attempts.load(Ordering::SeqCst),
        1,
        "an unknown COMMIT was retried"
    );
    assert!(applied <= 1);
    assert_eq!(
        (
            m.retried_serialization,
            m.retried_deadlock,
            m.retried_unique
        ),
        (1, 1, 1)
    );
    assert_eq!(db.metrics().transactions.retried(), 0);
}

// ---------------------------------------------------------------- oversized input

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
