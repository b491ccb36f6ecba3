//! The contender under test: strata's derived model operations, and its
//! cache read (`get_cached`) for the cached-read cases.

use chrono::{DateTime, Utc};
use strata::prelude::*;
use strata::{CachedModelExt, Config, Db};

use crate::harness::{
    BATCH, BoxError, BoxFut, Contender, Op, OpResult, WARM_IDS, account_id, age_of, fresh_email,
    id_list, min_age_of, seeded_id, status_of, tenant_of, warm_id,
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

/// `bench_accounts` as the realistic shape of issue 14: eight columns, a
/// nullable `deleted_at` and soft delete, so every read adds `deleted_at
/// IS NULL` itself.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(schema = "strata_bench", table = "bench_accounts", soft_delete)]
pub(crate) struct Account {
    #[model(primary_key, generated)]
    pub(crate) id: i64,
    pub(crate) tenant_id: i32,
    pub(crate) email: String,
    pub(crate) name: String,
    pub(crate) status: String,
    pub(crate) age: i32,
    #[model(generated)]
    pub(crate) created_at: DateTime<Utc>,
    #[model(deleted_at)]
    pub(crate) deleted_at: Option<DateTime<Utc>>,
}

/// All ten columns of `bench_accounts`: [`Account`] plus a nullable text
/// and a nullable timestamp, for decoding `NULL`s into `Option`s.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(schema = "strata_bench", table = "bench_accounts", soft_delete)]
pub(crate) struct WideAccount {
    #[model(primary_key, generated)]
    pub(crate) id: i64,
    pub(crate) tenant_id: i32,
    pub(crate) email: String,
    pub(crate) name: String,
    pub(crate) status: String,
    pub(crate) age: i32,
    pub(crate) nickname: Option<String>,
    pub(crate) last_login_at: Option<DateTime<Utc>>,
    #[model(generated)]
    pub(crate) created_at: DateTime<Utc>,
    #[model(deleted_at)]
    pub(crate) deleted_at: Option<DateTime<Utc>>,
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

    /// [`Op::AccountList`]: a tenant's newest live accounts.
    pub(crate) async fn account_list(&self, tenant: i32) -> Result<Vec<Account>, BoxError> {
        Ok(Account::query()
            .filter(Account::TENANT_ID.eq(tenant))
            .order_by(Account::CREATED_AT.desc())
            .limit(20)
            .all(&self.db)
            .await?)
    }

    /// [`Op::AccountFilters`]: the list page narrowed by status and age.
    pub(crate) async fn account_filters(
        &self,
        tenant: i32,
        status: &str,
        min_age: i32,
    ) -> Result<Vec<Account>, BoxError> {
        Ok(Account::query()
            .filter(Account::TENANT_ID.eq(tenant))
            .filter(Account::STATUS.eq(status))
            .filter(Account::AGE.gt(min_age))
            .order_by(Account::CREATED_AT.desc())
            .limit(20)
            .all(&self.db)
            .await?)
    }

    /// [`Op::AccountIn`]: the live accounts among `ids`.
    pub(crate) async fn account_in(&self, ids: Vec<i64>) -> Result<Vec<Account>, BoxError> {
        Ok(Account::query()
            .filter(Account::ID.is_in(ids))
            .all(&self.db)
            .await?)
    }

    /// [`Op::AccountWide`]: the list page with every column.
    pub(crate) async fn account_wide(&self, tenant: i32) -> Result<Vec<WideAccount>, BoxError> {
        Ok(WideAccount::query()
            .filter(WideAccount::TENANT_ID.eq(tenant))
            .order_by(WideAccount::CREATED_AT.desc())
            .limit(20)
            .all(&self.db)
            .await?)
    }

    /// [`Op::AccountFind`]: one account if it is live.
    pub(crate) async fn account_find(&self, id: i64) -> Result<Option<Account>, BoxError> {
        Ok(Account::find(&self.db, id).await?)
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
                Op::AccountList => drop(self.account_list(tenant_of(arg)).await?),
                Op::AccountFilters => drop(
                    self.account_filters(tenant_of(arg), status_of(arg), min_age_of(arg))
                        .await?,
                ),
                Op::AccountIn => drop(self.account_in(id_list(arg)).await?),
                Op::AccountWide => drop(self.account_wide(tenant_of(arg)).await?),
                Op::AccountFind => drop(self.account_find(account_id(arg)).await?),
            }
            Ok(())
        })
    }
}
