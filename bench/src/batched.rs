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
use crate::harness::{BoxError, BoxFut, Budget, Case, Contender, Op, OpResult, seeded_id};

/// Tasks in the concurrent case.
pub(crate) const TASKS: usize = 64;

/// `BenchUser::get` on a `Db` with batching on or off.
struct Gets {
    db: Db,
    name: &'static str,
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
