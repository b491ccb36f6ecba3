//! Batched gets (issue 20): 64 tasks doing `BenchUser::get` by id, which
//! the batch stage coalesces into `= ANY($1)` statements, against the same
//! gets with batching off (`strata unbatched`, the baseline) and
//! hand-written tokio-postgres; and at concurrency 1, where batching must
//! cost nothing. `pgbench -S -M prepared -c 8` runs in the same process
//! run, once per round, for the physical limit of one get per statement.

use std::sync::Arc;
use std::time::Duration;

use strata::prelude::*;
use strata::{Config, Db};

use crate::derived::BenchUser;
use crate::harness::{BoxError, BoxFut, Budget, Case, Contender, Op, OpResult, Report, seeded_id};

/// Tasks in the concurrent case.
pub(crate) const TASKS: usize = 64;

/// `BenchUser::get` on a `Db` (batching on or off, replicas or not).
pub(crate) struct Gets {
    pub(crate) db: Db,
    pub(crate) name: &'static str,
}

impl Contender for Gets {
    fn name(&self) -> &str {
        self.name
    }

    fn supports(&self, op: Op) -> bool {
        op == Op::Get
    }

    fn run(&self, _op: Op, arg: u64) -> BoxFut<'_, OpResult> {
        Box::pin(async move {
            drop(BenchUser::get(&self.db, seeded_id(arg)).await?);
            Ok(())
        })
    }
}

/// The two cases: c=1 and c=64, each with batching on, off, and raw.
pub(crate) async fn cases(
    url: &str,
    pool: usize,
    raw: Arc<dyn Contender>,
    budget: Budget,
) -> Result<Vec<Case>, BoxError> {
    let base = Config::from_url(url)?.pool_max(pool);
    let on: Arc<dyn Contender> = Arc::new(Gets {
        db: Db::connect(base.clone()).await?,
        name: "strata",
    });
    let off: Arc<dyn Contender> = Arc::new(Gets {
        db: Db::connect(base.batch_gets(false)).await?,
        name: "strata unbatched",
    });
    Ok([1, TASKS]
        .into_iter()
        .map(|c| Case {
            label: format!("batched get c={c}"),
            op: Op::Get,
            concurrency: c,
            budget,
            baseline: "strata unbatched".into(),
            contenders: vec![off.clone(), on.clone(), raw.clone()],
        })
        .collect())
}

/// `pgbench -S -M prepared -c 8 -j 2` for `secs` (at least 1 s), `rounds`
/// times, after `pgbench -i -s 1` if its tables are missing: select-only
/// transactions per second, one primary-key get each.
pub(crate) fn pgbench(url: &str, rounds: usize, secs: f64) -> Result<Vec<f64>, BoxError> {
    let have = std::process::Command::new("psql")
        .args([
            url,
            "-Atc",
            "SELECT to_regclass('public.pgbench_accounts') IS NOT NULL",
        ])
        .output()?;
    if String::from_utf8_lossy(&have.stdout).trim() != "t" {
        let init = std::process::Command::new("pgbench")
            .args(["-i", "-s", "1", "-q", url])
            .output()?;
        if !init.status.success() {
            return Err(format!("pgbench -i: {}", String::from_utf8_lossy(&init.stderr)).into());
        }
    }
    let secs = Duration::from_secs_f64(secs).as_secs().max(1).to_string();
    let mut tps = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let out = std::process::Command::new("pgbench")
            .args([
                "-n", "-S", "-M", "prepared", "-c", "8", "-j", "2", "-T", &secs, url,
            ])
            .output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text
            .lines()
            .find(|l| l.starts_with("tps = "))
            .ok_or_else(|| format!("pgbench printed no tps: {text}"))?;
        let value = line["tps = ".len()..]
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .parse::<f64>()?;
        tps.push(value);
    }
    Ok(tps)
}

/// pgbench's per-round figures, as a line of the report ("" if it did not run).
pub(crate) fn pgbench_line(tps: &[f64]) -> String {
    if tps.is_empty() {
        return String::new();
    }
    let rounds: Vec<String> = tps.iter().map(|t| format!("{t:.0}")).collect();
    format!(
        "\npgbench -S -M prepared -c 8 -j 2 (one get per statement), per round: {}\n",
        rounds.join(", ")
    )
}

/// Issue 20's two targets: 64 tasks' gets per second against pgbench's
/// select-only tps (medians of the same run), and batching's cost alone.
pub(crate) fn targets(r: &Report, pgbench: &[f64]) -> String {
    let c64 = format!("batched get c={}", TASKS);
    let mut tps = pgbench.to_vec();
    tps.sort_by(f64::total_cmp);
    let vs_pgbench = match (r.rate(&c64, "strata"), tps.get(tps.len() / 2)) {
        (Some(gets), Some(&tps)) if tps > 0.0 => Some(gets / tps),
        _ => None,
    };
    let alone = r.ratio(
        "batched get c=1",
        "strata",
        "batched get c=1",
        "strata unbatched",
    );
    let mut out = String::new();
    for (what, value, min) in [
        (
            format!("{c64}: strata gets/s / pgbench -S -c 8 tps"),
            vs_pgbench,
            2.0,
        ),
        (
            "batched get c=1: strata / strata unbatched".to_owned(),
            alone,
            0.97,
        ),
    ] {
        out.push_str(&match value {
            Some(v) => format!(
                "{what:<52} {v:>8.2}x  (target >= {min}x)  {}\n",
                if v >= min { "met" } else { "MISSED" }
            ),
            None => format!("{what:<52} not measured\n"),
        });
    }
    out
}
