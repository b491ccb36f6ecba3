//! The hand-written baseline: tokio-postgres on a deadpool pool of the same
//! size, every statement prepared once per connection and cached
//! (`prepare_cached`), rows decoded by position into a plain struct, bulk
//! inserts through `BinaryCopyInWriter`. Shared with the peers binary.

use chrono::{DateTime, Utc};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};

use crate::harness::{
    BATCH, BoxError, BoxFut, Contender, Op, OpResult, PAGE, age_of, fresh_email, seeded_id,
    tenant_of,
};

/// A row as hand-written code would hold it.
#[derive(Debug, Clone)]
#[allow(dead_code)] // Decoded to pay the cost; not all fields are read.
pub(crate) struct RawUser {
    pub(crate) id: i64,
    pub(crate) tenant_id: i32,
    pub(crate) email: String,
    pub(crate) name: String,
    pub(crate) age: i32,
    pub(crate) active: bool,
    pub(crate) created_at: DateTime<Utc>,
}

impl RawUser {
    fn from_row(row: &tokio_postgres::Row) -> RawUser {
        RawUser {
            id: row.get(0),
            tenant_id: row.get(1),
            email: row.get(2),
            name: row.get(3),
            age: row.get(4),
            active: row.get(5),
            created_at: row.get(6),
        }
    }
}

const GET: &str = "SELECT id, tenant_id, email, name, age, active, created_at \
                   FROM strata_bench.bench_users WHERE id = $1";
const INSERT: &str = "INSERT INTO strata_bench.bench_users (tenant_id, email, name, age, active) \
                      VALUES ($1, $2, $3, $4, $5) \
                      RETURNING id, tenant_id, email, name, age, active, created_at";
const PATCH: &str = "UPDATE strata_bench.bench_users SET age = $2 WHERE id = $1 \
                     RETURNING id, tenant_id, email, name, age, active, created_at";
const LIST: &str = "SELECT id, tenant_id, email, name, age, active, created_at \
                    FROM strata_bench.bench_users WHERE tenant_id = $1 \
                    ORDER BY created_at DESC LIMIT $2";
const COPY: &str = "COPY strata_bench.bench_users (tenant_id, email, name, age, active) \
                    FROM STDIN BINARY";

/// tokio-postgres, by hand.
#[derive(Debug)]
pub(crate) struct Raw {
    pool: Pool,
}

impl Raw {
    /// A pool of `size` connections to `url`.
    pub(crate) async fn connect(url: &str, size: usize) -> Result<Raw, BoxError> {
        let cfg: tokio_postgres::Config = url.parse()?;
        let manager = Manager::from_config(
            cfg,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager).max_size(size).build()?;
        Ok(Raw { pool })
    }

    /// One row by id.
    pub(crate) async fn get(&self, id: i64) -> Result<RawUser, BoxError> {
        let c = self.pool.get().await?;
        let stmt = c.prepare_cached(GET).await?;
        let row = c.query_one(&stmt, &[&id]).await?;
        Ok(RawUser::from_row(&row))
    }

    async fn insert(&self, email: String) -> Result<RawUser, BoxError> {
        let c = self.pool.get().await?;
        let stmt = c.prepare_cached(INSERT).await?;
        let row = c
            .query_one(&stmt, &[&7_i32, &email, &"Bench User", &33_i32, &true])
            .await?;
        Ok(RawUser::from_row(&row))
    }

    async fn patch(&self, id: i64, age: i32) -> Result<RawUser, BoxError> {
        let c = self.pool.get().await?;
        let stmt = c.prepare_cached(PATCH).await?;
        let row = c.query_one(&stmt, &[&id, &age]).await?;
        Ok(RawUser::from_row(&row))
    }

    async fn list(&self, tenant: i32) -> Result<Vec<RawUser>, BoxError> {
        let c = self.pool.get().await?;
        let stmt = c.prepare_cached(LIST).await?;
        let rows = c.query(&stmt, &[&tenant, &PAGE]).await?;
        Ok(rows.iter().map(RawUser::from_row).collect())
    }

    async fn insert_many(&self) -> Result<u64, BoxError> {
        let rows: Vec<(i32, String, String, i32, bool)> = (0..BATCH)
            .map(|i| {
                let i = i32::try_from(i).unwrap_or(0);
                (
                    i % 100,
                    fresh_email("raw-copy"),
                    format!("Bulk {i}"),
                    i % 90,
                    i % 2 == 0,
                )
            })
            .collect();
        let c = self.pool.get().await?;
        let sink = c.copy_in(COPY).await?;
        let writer = BinaryCopyInWriter::new(
            sink,
            &[Type::INT4, Type::TEXT, Type::TEXT, Type::INT4, Type::BOOL],
        );
        futures_util::pin_mut!(writer);
        for (t, e, n, a, b) in &rows {
            let row: [&(dyn ToSql + Sync); 5] = [t, e, n, a, b];
            writer.as_mut().write(&row).await?;
        }
        Ok(writer.finish().await?)
    }

    async fn insert_row_by_row(&self) -> Result<(), BoxError> {
        let c = self.pool.get().await?;
        let stmt = c.prepare_cached(INSERT).await?;
        for i in 0..BATCH {
            let i = i32::try_from(i).unwrap_or(0);
            let email = fresh_email("raw-row");
            c.query_one(
                &stmt,
                &[&(i % 100), &email, &format!("Row {i}"), &(i % 90), &true],
            )
            .await?;
        }
        Ok(())
    }
}

impl Contender for Raw {
    fn name(&self) -> &str {
        "tokio-postgres"
    }

    fn supports(&self, op: Op) -> bool {
        !matches!(op, Op::CachedL1 | Op::CachedL2)
    }

    fn run(&self, op: Op, arg: u64) -> BoxFut<'_, OpResult> {
        Box::pin(async move {
            match op {
                Op::Get => drop(self.get(seeded_id(arg)).await?),
                Op::Insert => drop(self.insert(fresh_email("raw")).await?),
                Op::Patch => drop(self.patch(seeded_id(arg), age_of(arg)).await?),
                Op::List => drop(self.list(tenant_of(arg)).await?),
                Op::InsertMany => drop(self.insert_many().await?),
                Op::InsertRowByRow => self.insert_row_by_row().await?,
                Op::CachedL1 | Op::CachedL2 => return Err("not a cache".into()),
            }
            Ok(())
        })
    }
}
