//! sqlx 0.8, written the way its docs suggest: `query_as` with
//! `#[derive(FromRow)]` on a `PgPool` (statements are prepared and cached
//! per connection by default), and a bulk insert through `UNNEST` arrays.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use crate::harness::{
    BATCH, BoxError, BoxFut, Contender, Op, OpResult, PAGE, age_of, fresh_email, seeded_id,
    tenant_of,
};

/// The row.
#[derive(Debug, sqlx::FromRow)]
#[allow(dead_code)]
pub struct SqlxUser {
    id: i64,
    tenant_id: i32,
    email: String,
    name: String,
    age: i32,
    active: bool,
    created_at: DateTime<Utc>,
}

/// sqlx on a pool of the same size.
#[derive(Debug)]
pub struct Sqlx {
    pool: PgPool,
    name: &'static str,
}

impl Sqlx {
    /// A pool of `size` connections. sqlx's default `test_before_acquire`
    /// pings (one extra round trip) on every checkout; `ping = false`
    /// turns that off, for comparison.
    pub async fn connect(url: &str, size: u32, ping: bool) -> Result<Sqlx, BoxError> {
        let pool = PgPoolOptions::new()
            .max_connections(size)
            .min_connections(size)
            .test_before_acquire(ping)
            .connect(url)
            .await?;
        let name = if ping { "sqlx" } else { "sqlx no-ping" };
        Ok(Sqlx { pool, name })
    }
}

impl Contender for Sqlx {
    fn name(&self) -> &str {
        self.name
    }

    fn supports(&self, op: Op) -> bool {
        !matches!(
            op,
            Op::CachedL1
                | Op::CachedL2
                | Op::AccountList
                | Op::AccountFilters
                | Op::AccountIn
                | Op::AccountWide
                | Op::AccountFind
        )
    }

    fn run(&self, op: Op, arg: u64) -> BoxFut<'_, OpResult> {
        Box::pin(async move {
            match op {
                Op::Get => {
                    let u: SqlxUser = sqlx::query_as(
                        "SELECT id, tenant_id, email, name, age, active, created_at \
                         FROM strata_bench.bench_users WHERE id = $1",
                    )
                    .bind(seeded_id(arg))
                    .fetch_one(&self.pool)
                    .await?;
                    drop(u);
                }
                Op::Insert => {
                    let u: SqlxUser = sqlx::query_as(
                        "INSERT INTO strata_bench.bench_users (tenant_id, email, name, age, active) \
                         VALUES ($1, $2, $3, $4, $5) \
                         RETURNING id, tenant_id, email, name, age, active, created_at",
                    )
                    .bind(7_i32)
                    .bind(fresh_email("sqlx"))
                    .bind("Bench User")
                    .bind(33_i32)
                    .bind(true)
                    .fetch_one(&self.pool)
                    .await?;
                    drop(u);
                }
                Op::Patch => {
                    let u: SqlxUser = sqlx::query_as(
                        "UPDATE strata_bench.bench_users SET age = $2 WHERE id = $1 \
                         RETURNING id, tenant_id, email, name, age, active, created_at",
                    )
                    .bind(seeded_id(arg))
                    .bind(age_of(arg))
                    .fetch_one(&self.pool)
                    .await?;
                    drop(u);
                }
                Op::List => {
                    let page: Vec<SqlxUser> = sqlx::query_as(
                        "SELECT id, tenant_id, email, name, age, active, created_at \
                         FROM strata_bench.bench_users WHERE tenant_id = $1 \
                         ORDER BY created_at DESC LIMIT $2",
                    )
                    .bind(tenant_of(arg))
                    .bind(PAGE)
                    .fetch_all(&self.pool)
                    .await?;
                    drop(page);
                }
                Op::InsertMany => {
                    let mut tenants = Vec::with_capacity(BATCH);
                    let mut emails = Vec::with_capacity(BATCH);
                    let mut names = Vec::with_capacity(BATCH);
                    let mut ages = Vec::with_capacity(BATCH);
                    let mut actives = Vec::with_capacity(BATCH);
                    for i in 0..BATCH {
                        let i = i32::try_from(i)?;
                        tenants.push(i % 100);
                        emails.push(fresh_email("sqlx-bulk"));
                        names.push(format!("Bulk {i}"));
                        ages.push(i % 90);
                        actives.push(i % 2 == 0);
                    }
                    let done = sqlx::query(
                        "INSERT INTO strata_bench.bench_users (tenant_id, email, name, age, active) \
                         SELECT * FROM UNNEST($1::int[], $2::text[], $3::text[], $4::int[], $5::bool[])",
                    )
                    .bind(&tenants)
                    .bind(&emails)
                    .bind(&names)
                    .bind(&ages)
                    .bind(&actives)
                    .execute(&self.pool)
                    .await?;
                    if done.rows_affected() != BATCH as u64 {
                        return Err("short insert".into());
                    }
                }
                Op::InsertRowByRow
                | Op::CachedL1
                | Op::CachedL2
                | Op::AccountList
                | Op::AccountFilters
                | Op::AccountIn
                | Op::AccountWide
                | Op::AccountFind => {
                    return Err(format!("{op:?} not implemented for sqlx").into());
                }
            }
            Ok(())
        })
    }
}
