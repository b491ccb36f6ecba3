//! Concurrency: a bank under SERIALIZABLE keeps its invariants; without
//! retries it reports its failures. The bank helpers are shared with the
//! fault tests and `tx.rs`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use strata::prelude::*;
use strata_tests::TestDb;

use super::Outcome;

#[derive(Debug, Clone)]
pub(super) struct Transfer {
    pub(super) id: i64,
    pub(super) src: i64,
    pub(super) dst: i64,
    pub(super) amount: i64,
    pub(super) outcome: Outcome,
    pub(super) done: Instant,
}

#[derive(Debug, Default)]
pub(super) struct Reads {
    pub(super) checked: AtomicU64,
    pub(super) bad: AtomicU64,
    pub(super) errors: AtomicU64,
}

/// Accounts without a CHECK (so a broken invariant shows as a negative
/// balance) and a transfer log without a unique id (so a duplicate shows).
pub(super) async fn create_bank(db: &Db, accounts: i64, balance: i64) {
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
pub(super) async fn run_bank(
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
pub(super) struct Ledger {
    pub(super) ok: u64,
    pub(super) declined: u64,
    pub(super) failed: u64,
    pub(super) unknown: u64,
    pub(super) unknown_applied: u64,
    pub(super) lost: u64,
    pub(super) duplicated: u64,
    pub(super) phantom: u64,
    pub(super) balances_off: u64,
}

/// Checks every transfer against the rows (by client-chosen id) and the
/// final balances against a replay of the applied transfers.
pub(super) async fn audit(db: &Db, log: &[Transfer], accounts: i64, balance: i64) -> Ledger {
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

pub(super) fn figures(name: &str, reads: &Reads, l: &Ledger, db: &Db, extra: &str) {
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

pub(super) fn assert_ledger(reads: &Reads, l: &Ledger) {
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
