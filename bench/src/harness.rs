//! The benchmark harness: the [`Contender`] trait every library implements,
//! the interleaved round runner and the result table.
//!
//! Shared with the peers binary (`bench/peers`) through `#[path]`, so both
//! measure the same way. It depends on nothing but tokio and std.

use std::fmt::Write as _;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A boxed, sendable future: what [`Contender::run`] returns, so contenders
/// can sit behind `Arc<dyn Contender>`.
pub(crate) type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Any error a contender's operation returns.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// An error with its chain of sources, one `: ` apart (tokio-postgres's
/// own Display is just "db error").
pub(crate) fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(src) = cur {
        s.push_str(": ");
        s.push_str(&src.to_string());
        cur = src.source();
    }
    s
}

/// The result of one operation.
pub(crate) type OpResult = Result<(), BoxError>;

/// Rows seeded into `strata_bench.bench_users` (ids `1..=SEED_ROWS`).
pub(crate) const SEED_ROWS: u64 = 100_000;
/// Distinct `tenant_id`s among the seeded rows (1000 rows each).
pub(crate) const TENANTS: u64 = 100;
/// Rows per `insert_many` (and per row-at-a-time run).
pub(crate) const BATCH: usize = 10_000;
/// Ids whose cache entries are warmed before the cached-read cases.
pub(crate) const WARM_IDS: u64 = 1_000;
/// Page size of the list operation.
pub(crate) const PAGE: i64 = 20;
/// Rows seeded into `strata_bench.bench_accounts` (ids `1..=ACCOUNT_ROWS`,
/// the same [`TENANTS`]); one in 19 is soft-deleted.
pub(crate) const ACCOUNT_ROWS: u64 = 100_000;
/// The `status` values of `bench_accounts`, evenly spread within a tenant.
pub(crate) const STATUSES: [&str; 4] = ["active", "pending", "suspended", "closed"];

/// The operations measured. Each contender runs the idiomatic equivalent
/// of each one it [`supports`](Contender::supports).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    /// One row by primary key.
    Get,
    /// One row, returning it with its generated columns.
    Insert,
    /// One column of one row by primary key, returning the row.
    Patch,
    /// `WHERE tenant_id = $1 ORDER BY created_at DESC LIMIT 20`.
    List,
    /// [`BATCH`] rows in one call (binary COPY where the library has it).
    InsertMany,
    /// [`BATCH`] rows, one INSERT each, one after the other.
    InsertRowByRow,
    /// A cached row that is in the in-process tier.
    CachedL1,
    /// A cached row that is in Redis (the in-process tier off).
    CachedL2,
    /// The realistic list page on `bench_accounts` (8 columns, soft
    /// delete): `WHERE tenant_id = $1 AND deleted_at IS NULL ORDER BY
    /// created_at DESC LIMIT 20`.
    AccountList,
    /// Three filters: `WHERE tenant_id = $1 AND status = $2 AND age > $3
    /// AND deleted_at IS NULL ORDER BY created_at DESC LIMIT 20`.
    AccountFilters,
    /// An `IN` list of 5 to 10 ids ([`id_list`]): `WHERE id IN (..) AND
    /// deleted_at IS NULL`.
    AccountIn,
    /// The list page on the 10-column view of `bench_accounts`, with two
    /// more nullable columns (`Option<String>`, `Option<DateTime>`).
    AccountWide,
    /// One row by primary key, `Option` (`find`): soft-deleted ids
    /// (1 in 19) come back `None`.
    AccountFind,
}

/// The row id an operation's argument selects among the seeded rows.
pub(crate) fn seeded_id(arg: u64) -> i64 {
    i64::try_from(1 + arg % SEED_ROWS).unwrap_or(1)
}

/// The tenant an operation's argument selects.
pub(crate) fn tenant_of(arg: u64) -> i32 {
    i32::try_from(arg % TENANTS).unwrap_or(0)
}

/// The warmed (cached) row id an operation's argument selects.
pub(crate) fn warm_id(arg: u64) -> i64 {
    i64::try_from(1 + arg % WARM_IDS).unwrap_or(1)
}

/// The `bench_accounts` row id an operation's argument selects.
pub(crate) fn account_id(arg: u64) -> i64 {
    i64::try_from(1 + arg % ACCOUNT_ROWS).unwrap_or(1)
}

/// The `status` filter value an operation's argument selects.
pub(crate) fn status_of(arg: u64) -> &'static str {
    STATUSES[usize::try_from((arg >> 8) % STATUSES.len() as u64).unwrap_or(0)]
}

/// The `age >` bound an operation's argument selects (18 to 47: a third to
/// four fifths of a tenant's rows pass).
pub(crate) fn min_age_of(arg: u64) -> i32 {
    i32::try_from(18 + (arg >> 16) % 30).unwrap_or(18)
}

/// 5 to 10 distinct-ish `bench_accounts` ids derived from an argument, for
/// the `IN` list.
pub(crate) fn id_list(arg: u64) -> Vec<i64> {
    let n = 5 + arg % 6;
    (0..n)
        .map(|k| account_id(arg.rotate_left(7 * u32::try_from(k).unwrap_or(0)) ^ (k * 7919)))
        .collect()
}

/// An age value derived from an argument, for patches.
pub(crate) fn age_of(arg: u64) -> i32 {
    i32::try_from(arg % 90).unwrap_or(0)
}

static EMAIL_SEQ: AtomicU64 = AtomicU64::new(0);

/// A fresh unique email (inserted rows never collide on the unique index).
pub(crate) fn fresh_email(who: &str) -> String {
    let n = EMAIL_SEQ.fetch_add(1, Ordering::Relaxed);
    format!("{who}-{}-{n}@bench.example", std::process::id())
}

/// One library under test.
///
/// Adding a contender is one file: a struct holding its pool, and a
/// `run` that matches on [`Op`].
pub(crate) trait Contender: Send + Sync {
    /// Its name in the result table.
    fn name(&self) -> &str;
    /// Whether it has an implementation of `op`.
    fn supports(&self, op: Op) -> bool;
    /// Runs `op` once; `arg` is a pseudo-random number to pick ids and
    /// tenants from (see [`seeded_id`], [`tenant_of`], [`warm_id`]).
    fn run(&self, op: Op, arg: u64) -> BoxFut<'_, OpResult>;
}

/// How long each contender runs in each round of a case.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Budget {
    /// Run for this long.
    Time(Duration),
    /// Run exactly this many operations.
    Ops(u64),
}

/// One row group of the table: an operation at a concurrency, the
/// contenders that race on it, and which of them is the baseline.
pub(crate) struct Case {
    /// Shown in the table, e.g. `get c=8`.
    pub(crate) label: String,
    /// The operation.
    pub(crate) op: Op,
    /// Tasks issuing operations at once.
    pub(crate) concurrency: usize,
    /// Per contender per round.
    pub(crate) budget: Budget,
    /// Name of the contender ratios are taken against.
    pub(crate) baseline: String,
    /// The contenders, in table order.
    pub(crate) contenders: Vec<Arc<dyn Contender>>,
}

impl std::fmt::Debug for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Case").field("label", &self.label).finish()
    }
}

/// What one contender did in one round.
#[derive(Debug, Default, Clone)]
struct Round {
    ops: u64,
    elapsed: Duration,
    latencies_ns: Vec<u64>,
}

/// Every round of one contender in one case.
#[derive(Debug, Default)]
struct Series {
    rounds: Vec<Round>,
}

impl Series {
    fn ops_per_sec(&self) -> f64 {
        let ops: u64 = self.rounds.iter().map(|r| r.ops).sum();
        let secs: f64 = self.rounds.iter().map(|r| r.elapsed.as_secs_f64()).sum();
        if secs > 0.0 { ops as f64 / secs } else { 0.0 }
    }

    fn round_rate(&self, i: usize) -> f64 {
        let r = &self.rounds[i];
        r.ops as f64 / r.elapsed.as_secs_f64().max(1e-9)
    }

    /// The latency at `permille` (500 = p50, 990 = p99), nearest rank.
    fn percentile(&self, permille: usize) -> Duration {
        let mut all: Vec<u64> = self
            .rounds
            .iter()
            .flat_map(|r| r.latencies_ns.iter().copied())
            .collect();
        if all.is_empty() {
            return Duration::ZERO;
        }
        all.sort_unstable();
        let idx = ((all.len() - 1) * permille.min(1000) + 500) / 1000;
        Duration::from_nanos(all[idx])
    }
}

/// Throughput ratio of `a` to `b`, round by round.
fn per_round_ratios(a: &Series, b: &Series) -> Vec<f64> {
    (0..a.rounds.len().min(b.rounds.len()))
        .map(|i| a.round_rate(i) / b.round_rate(i))
        .collect()
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// A tiny xorshift generator: pseudo-random ids without a dependency.
fn next_rand(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    x
}

/// Runs one contender once for `budget` at `concurrency`.
async fn run_round(
    contender: Arc<dyn Contender>,
    op: Op,
    concurrency: usize,
    budget: Budget,
    seed: u64,
) -> Result<Round, BoxError> {
    let started = Instant::now();
    let deadline = match budget {
        Budget::Time(d) => Some(started + d),
        Budget::Ops(_) => None,
    };
    let remaining = Arc::new(AtomicU64::new(match budget {
        Budget::Ops(n) => n,
        Budget::Time(_) => u64::MAX,
    }));
    let mut tasks = Vec::with_capacity(concurrency);
    for t in 0..concurrency {
        let contender = contender.clone();
        let remaining = remaining.clone();
        let mut state = seed
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(t as u64 + 1)
            | 1;
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(1 << 16);
            loop {
                if let Some(d) = deadline
                    && Instant::now() >= d
                {
                    break;
                }
                if remaining
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                    .is_err()
                {
                    break;
                }
                let arg = next_rand(&mut state);
                let t0 = Instant::now();
                contender.run(op, arg).await?;
                latencies.push(u64::try_from(t0.elapsed().as_nanos()).unwrap_or(u64::MAX));
            }
            Ok::<_, BoxError>(latencies)
        }));
    }
    let mut round = Round::default();
    for task in tasks {
        let latencies = task.await.map_err(|e| -> BoxError { Box::new(e) })??;
        round.ops += latencies.len() as u64;
        round.latencies_ns.extend(latencies);
    }
    round.elapsed = started.elapsed();
    Ok(round)
}

/// One case's label, baseline name, and each contender's name and rounds.
type CaseResult = (String, String, Vec<(String, Series)>);

/// Results of every case, in case order.
#[derive(Debug, Default)]
pub(crate) struct Report {
    cases: Vec<CaseResult>,
}

/// Runs every case for `rounds` rounds, interleaved: in each round every
/// case runs every contender once, in alternating order (reversed on odd
/// rounds), so slow drift of the machine hits all contenders alike.
pub(crate) async fn run_all(cases: &[Case], rounds: usize) -> Result<Report, BoxError> {
    let mut series: Vec<Vec<Series>> = cases
        .iter()
        .map(|c| c.contenders.iter().map(|_| Series::default()).collect())
        .collect();
    for case in cases {
        for c in &case.contenders {
            if !c.supports(case.op) {
                return Err(format!("{} does not support {:?}", c.name(), case.op).into());
            }
        }
    }
    let mut seed = 0x5EED_u64;
    for round in 0..rounds {
        eprintln!("round {}/{rounds}", round + 1);
        for (ci, case) in cases.iter().enumerate() {
            let mut order: Vec<usize> = (0..case.contenders.len()).collect();
            if round % 2 == 1 {
                order.reverse();
            }
            for i in order {
                let contender = case.contenders[i].clone();
                seed = seed.wrapping_add(1);
                let r = run_round(contender, case.op, case.concurrency, case.budget, seed)
                    .await
                    .map_err(|e| -> BoxError {
                        format!(
                            "{} / {}: {}",
                            case.label,
                            case.contenders[i].name(),
                            chain(e.as_ref())
                        )
                        .into()
                    })?;
                series[ci][i].rounds.push(r);
            }
        }
    }
    let mut report = Report::default();
    for (case, s) in cases.iter().zip(series) {
        let named = case
            .contenders
            .iter()
            .map(|c| c.name().to_owned())
            .zip(s)
            .collect();
        report
            .cases
            .push((case.label.clone(), case.baseline.clone(), named));
    }
    Ok(report)
}

/// `12.3 µs`, `4.56 ms`: a latency in a readable unit.
fn fmt_latency(d: Duration) -> String {
    let ns = d.as_nanos() as f64;
    if ns < 10_000.0 {
        format!("{:.2} µs", ns / 1e3)
    } else if ns < 10_000_000.0 {
        format!("{:.1} µs", ns / 1e3)
    } else {
        format!("{:.1} ms", ns / 1e6)
    }
}

impl Report {
    fn series(&self, label: &str, contender: &str) -> Option<&Series> {
        let (_, _, s) = self.cases.iter().find(|(l, _, _)| l == label)?;
        s.iter().find(|(n, _)| n == contender).map(|(_, s)| s)
    }

    /// The median over rounds of `a`'s throughput in case `la` divided by
    /// `b`'s in case `lb` in the same round: robust to a round that a
    /// burst of background load hit.
    pub(crate) fn ratio(&self, la: &str, a: &str, lb: &str, b: &str) -> Option<f64> {
        median(per_round_ratios(self.series(la, a)?, self.series(lb, b)?))
    }

    /// The median over rounds of `contender`'s ops/s in case `label`.
    pub(crate) fn rate(&self, label: &str, contender: &str) -> Option<f64> {
        let s = self.series(label, contender)?;
        median((0..s.rounds.len()).map(|i| s.round_rate(i)).collect())
    }

    /// The aligned result table: ops/s (all rounds), p50, p99, the median
    /// over rounds of the ops/s ratio to the case's baseline in the same
    /// round, and the lowest and highest per-round ratio.
    pub(crate) fn table(&self) -> String {
        let mut rows = vec![[
            "case".to_owned(),
            "contender".to_owned(),
            "ops/s".to_owned(),
            "p50".to_owned(),
            "p99".to_owned(),
            "vs baseline (median)".to_owned(),
            "per-round range".to_owned(),
        ]];
        for (label, baseline, series) in &self.cases {
            let base = series.iter().find(|(n, _)| n == baseline).map(|(_, s)| s);
            for (name, s) in series {
                let rate = s.ops_per_sec();
                let (ratio, range) = match base {
                    Some(b) if name != baseline => {
                        let per_round = per_round_ratios(s, b);
                        let lo = per_round.iter().copied().fold(f64::INFINITY, f64::min);
                        let hi = per_round.iter().copied().fold(0.0, f64::max);
                        (
                            format!("{:.2}x", median(per_round).unwrap_or(0.0)),
                            format!("{lo:.2}-{hi:.2}"),
                        )
                    }
                    Some(_) => ("baseline".to_owned(), String::new()),
                    None => (String::new(), String::new()),
                };
                let rate = if rate >= 100.0 {
                    format!("{rate:.0}")
                } else {
                    format!("{rate:.2}")
                };
                rows.push([
                    label.clone(),
                    name.clone(),
                    rate,
                    fmt_latency(s.percentile(500)),
                    fmt_latency(s.percentile(990)),
                    ratio,
                    range,
                ]);
            }
        }
        let mut widths = [0usize; 7];
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for (r, row) in rows.iter().enumerate() {
            for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
                let pad = w - cell.chars().count();
                // Text columns left-aligned, figures right-aligned.
                if i < 2 {
                    let _ = write!(out, "{cell}{}  ", " ".repeat(pad));
                } else {
                    let _ = write!(out, "{}{cell}  ", " ".repeat(pad));
                }
            }
            out.truncate(out.trim_end().len());
            out.push('\n');
            if r == 0 {
                let total: usize = widths.iter().sum::<usize>() + 2 * (widths.len() - 1);
                out.push_str(&"-".repeat(total));
                out.push('\n');
            }
        }
        out
    }
}
