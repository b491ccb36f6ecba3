//! The contender under test: strata's derived model operations, and its
//! cache read (`get_cached`) for the cached-read cases.

use chrono::{DateTime, Utc};
use strata::prelude::*;
use strata::{CachedModelExt, Config, Db};

use crate::harness::{
    BATCH, BoxError, BoxFut, Contender, Op, OpResult, WARM_IDS, age_of, fresh_email, seeded_id,
    tenant_of, warm_id,
};

/// `bench_users` as an uncached model: what `get`, `insert`, `patch`,
/// list and `insert_many` run on.
#[derive(Model, Debug, Clone)]
#[allow(dead_code)] // Decoded to pay the cost; not every field is read.
#[model(schema = "strata_bench", table = "bench_users")]
pub(crate) struct BenchUser {
    #[model(primary_key, generated)]
    pub(crate) id: i64,
    pub(crate) tenant_id: i32,
    #[model(unique)]
    pub(crate) email: String,
    pub(crate) name: String,
    pub(crate) age: i32,
    pub(crate) active: bool,
    #[model(generated)]
    pub(crate) created_at: DateTime<Utc>,
}

/// The same table as a cached model, for `get_cached`.
#[derive(Model, Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[model(schema = "strata_bench", table = "bench_users", cache(ttl_secs = 3600))]
pub(crate) struct CachedUser {
    #[model(primary_key, generated)]
    pub(crate) id: i64,
    pub(crate) tenant_id: i32,
    #[model(unique)]
    pub(crate) email: String,
    pub(crate) name: String,
    pub(crate) age: i32,
    pub(crate) active: bool,
    #[model(generated)]
    pub(crate) created_at: DateTime<Utc>,
}

/// strata, with three handles: no Redis (CRUD), Redis + L1, Redis only.
#[derive(Debug)]
pub(crate) struct Strata {
    /// Pool of `pool` connections, no Redis: the CRUD cases.
    pub(crate) db: Db,
    /// Redis and the in-process tier: L1 hits.
    pub(crate) l1: Db,
    /// Redis with `cache_l1_capacity(0)`: L2 hits.
    pub(crate) l2: Db,
}

fn new_user(i: usize, who: &str) -> NewBenchUser {
    let i = i32::try_from(i).unwrap_or(0);
    NewBenchUser {
        tenant_id: i % 100,
        email: fresh_email(who),
        name: format!("Bulk {i}"),
        age: i % 90,
        active: i % 2 == 0,
    }
}

impl Strata {
    /// Connects the three handles; cache keys go under `cache_prefix`.
    pub(crate) async fn connect(
        url: &str,
        pool: usize,
        redis: &str,
        cache_prefix: &str,
    ) -> Result<Strata, BoxError> {
        let base = Config::from_url(url)?.pool_max(pool);
        let db = Db::connect(base.clone()).await?;
        let cached = base.redis_url(redis).cache_prefix(cache_prefix);
        let l1 = Db::connect(cached.clone()).await?;
        let l2 = Db::connect(cached.cache_l1_capacity(0)).await?;
        Ok(Strata { db, l1, l2 })
    }

    /// Reads every warmed id through both cached handles, filling L1 of
    /// `l1` and Redis (through `l2`).
    pub(crate) async fn warm(&self) -> Result<(), BoxError> {
        for id in 1..=i64::try_from(WARM_IDS)? {
            let a = CachedUser::get_cached(&self.l2, id).await?;
            let b = CachedUser::get_cached(&self.l1, id).await?;
            if a != b {
                return Err(format!("row {id}: L1 and L2 disagree").into());
            }
        }
        Ok(())
    }
}

impl Contender for Strata {
    fn name(&self) -> &str {
        "strata"
    }

    fn supports(&self, _op: Op) -> bool {
        true
    }

    fn run(&self, op: Op, arg: u64) -> BoxFut<'_, OpResult> {
        Box::pin(async move {
            match op {
                Op::Get => drop(BenchUser::get(&self.db, seeded_id(arg)).await?),
                Op::Insert => {
                    let new = NewBenchUser {
                        tenant_id: 7,
                        email: fresh_email("strata"),
                        name: "Bench User".to_owned(),
                        age: 33,
                        active: true,
                    };
                    drop(BenchUser::insert(&self.db, new).await?);
                }
                Op::Patch => {
                    let patch = BenchUserPatch {
                        age: Some(age_of(arg)),
                        ..Default::default()
                    };
                    drop(BenchUser::patch(&self.db, seeded_id(arg), patch).await?);
                }
                Op::List => {
                    let page = BenchUser::query()
                        .filter(BenchUser::TENANT_ID.eq(tenant_of(arg)))
                        .order_by(BenchUser::CREATED_AT.desc())
                        .limit(20)
                        .all(&self.db)
                        .await?;
                    drop(page);
                }
                Op::InsertMany => {
                    let rows: Vec<_> = (0..BATCH).map(|i| new_user(i, "strata-copy")).collect();
                    let n = BenchUser::insert_many(&self.db, rows).await?;
                    if n != BATCH as u64 {
                        return Err(format!("insert_many wrote {n} rows").into());
                    }
                }
                Op::InsertRowByRow => {
                    for i in 0..BATCH {
                        drop(BenchUser::insert(&self.db, new_user(i, "strata-row")).await?);
                    }
                }
                Op::CachedL1 => drop(CachedUser::get_cached(&self.l1, warm_id(arg)).await?),
                Op::CachedL2 => drop(CachedUser::get_cached(&self.l2, warm_id(arg)).await?),
            }
            Ok(())
        })
    }
}
