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
    BATCH, BoxError, BoxFut, Contender, Op, OpResult, PAGE, account_id, age_of, fresh_email,
    id_list, min_age_of, seeded_id, status_of, tenant_of,
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

/// A `bench_accounts` row (the 8-column shape) as hand-written code would
/// hold it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawAccount {
    pub(crate) id: i64,
    pub(crate) tenant_id: i32,
    pub(crate) email: String,
    pub(crate) name: String,
    pub(crate) status: String,
    pub(crate) age: i32,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) deleted_at: Option<DateTime<Utc>>,
}

impl RawAccount {
    fn from_row(row: &tokio_postgres::Row) -> RawAccount {
        RawAccount {
            id: row.get(0),
            tenant_id: row.get(1),
            email: row.get(2),
            name: row.get(3),
            status: row.get(4),
            age: row.get(5),
            created_at: row.get(6),
            deleted_at: row.get(7),
        }
    }
}

/// Every column of `bench_accounts`, four of them nullable.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawWideAccount {
    pub(crate) id: i64,
    pub(crate) tenant_id: i32,
    pub(crate) email: String,
    pub(crate) name: String,
    pub(crate) status: String,
    pub(crate) age: i32,
    pub(crate) nickname: Option<String>,
    pub(crate) last_login_at: Option<DateTime<Utc>>,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) deleted_at: Option<DateTime<Utc>>,
}

impl RawWideAccount {
    fn from_row(row: &tokio_postgres::Row) -> RawWideAccount {
        RawWideAccount {
            id: row.get(0),
            tenant_id: row.get(1),
            email: row.get(2),
            name: row.get(3),
            status: row.get(4),
            age: row.get(5),
            nickname: row.get(6),
            last_login_at: row.get(7),
            created_at: row.get(8),
            deleted_at: row.get(9),
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
// The `bench_accounts` statements as an engineer writes them by hand: the
// page size is part of the SQL text (`LIMIT 20`), not a parameter, and a
// list of ids is one array parameter (`= ANY($1)`), the tokio-postgres way
// to bind a list of any length to one prepared statement.
const ACCOUNT_LIST: &str = "SELECT id, tenant_id, email, name, status, age, created_at, deleted_at \
                            FROM strata_bench.bench_accounts \
                            WHERE tenant_id = $1 AND deleted_at IS NULL \
                            ORDER BY created_at DESC LIMIT 20";
const ACCOUNT_FILTERS: &str = "SELECT id, tenant_id, email, name, status, age, created_at, \
                               deleted_at FROM strata_bench.bench_accounts \
                               WHERE tenant_id = $1 AND status = $2 AND age > $3 \
                               AND deleted_at IS NULL \
                               ORDER BY created_at DESC LIMIT 20";
const ACCOUNT_IN: &str = "SELECT id, tenant_id, email, name, status, age, created_at, deleted_at \
                          FROM strata_bench.bench_accounts \
                          WHERE id = ANY($1) AND deleted_at IS NULL";
const ACCOUNT_WIDE: &str = "SELECT id, tenant_id, email, name, status, age, nickname, \
                            last_login_at, created_at, deleted_at \
                            FROM strata_bench.bench_accounts \
                            WHERE tenant_id = $1 AND deleted_at IS NULL \
                            ORDER BY created_at DESC LIMIT 20";
const ACCOUNT_FIND: &str = "SELECT id, tenant_id, email, name, status, age, created_at, deleted_at \
                            FROM strata_bench.bench_accounts \
                            WHERE id = $1 AND deleted_at IS NULL";
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

    /// [`Op::AccountList`].
    pub(crate) async fn account_list(&self, tenant: i32) -> Result<Vec<RawAccount>, BoxError> {
        let c = self.pool.get().await?;
        let stmt = c.prepare_cached(ACCOUNT_LIST).await?;
        let rows = c.query(&stmt, &[&tenant]).await?;
        Ok(rows.iter().map(RawAccount::from_row).collect())
    }

    /// [`Op::AccountFilters`].
    pub(crate) async fn account_filters(
        &self,
        tenant: i32,
        status: &str,
        min_age: i32,
    ) -> Result<Vec<RawAccount>, BoxError> {
        let c = self.pool.get().await?;
        let stmt = c.prepare_cached(ACCOUNT_FILTERS).await?;
        let rows = c.query(&stmt, &[&tenant, &status, &min_age]).await?;
        Ok(rows.iter().map(RawAccount::from_row).collect())
    }

    /// [`Op::AccountIn`].
    pub(crate) async fn account_in(&self, ids: Vec<i64>) -> Result<Vec<RawAccount>, BoxError> {
        let c = self.pool.get().await?;
        let stmt = c.prepare_cached(ACCOUNT_IN).await?;
        let rows = c.query(&stmt, &[&ids]).await?;
        Ok(rows.iter().map(RawAccount::from_row).collect())
    }

    /// [`Op::AccountWide`].
    pub(crate) async fn account_wide(&self, tenant: i32) -> Result<Vec<RawWideAccount>, BoxError> {
        let c = self.pool.get().await?;
        let stmt = c.prepare_cached(ACCOUNT_WIDE).await?;
        let rows = c.query(&stmt, &[&tenant]).await?;
        Ok(rows.iter().map(RawWideAccount::from_row).collect())
    }

    /// [`Op::AccountFind`].
    pub(crate) async fn account_find(&self, id: i64) -> Result<Option<RawAccount>, BoxError> {
        let c = self.pool.get().await?;
        let stmt = c.prepare_cached(ACCOUNT_FIND).await?;
        let row = c.query_opt(&stmt, &[&id]).await?;
        Ok(row.as_ref().map(RawAccount::from_row))
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
