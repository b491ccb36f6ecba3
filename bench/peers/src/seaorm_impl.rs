//! SeaORM 1.x, written the way its docs suggest: a `DeriveEntityModel`
//! entity, `find_by_id` / `find().filter().order_by_desc().limit()`,
//! `ActiveModel::insert` / `update`, and `Entity::insert_many`.

use sea_orm::entity::prelude::*;
use sea_orm::{
    ActiveValue::Set, ActiveValue::Unchanged, ConnectOptions, Database, QueryOrder, QuerySelect,
};

use crate::harness::{
    BATCH, BoxError, BoxFut, Contender, Op, OpResult, age_of, fresh_email, seeded_id, tenant_of,
};

/// The entity.
pub mod bench_user {
    use sea_orm::entity::prelude::*;

    /// A row of `strata_bench.bench_users`.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(schema_name = "strata_bench", table_name = "bench_users")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub tenant_id: i32,
        #[sea_orm(unique)]
        pub email: String,
        pub name: String,
        pub age: i32,
        pub active: bool,
        pub created_at: DateTimeUtc,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use bench_user::{ActiveModel, Column, Entity};

/// SeaORM (over sqlx) on a pool of the same size.
#[derive(Debug)]
pub struct SeaOrm {
    db: DatabaseConnection,
    name: &'static str,
}

impl SeaOrm {
    /// A pool of `size` connections; `ping = false` turns off the
    /// underlying sqlx pool's `test_before_acquire` round trip.
    pub async fn connect(url: &str, size: u32, ping: bool) -> Result<SeaOrm, BoxError> {
        let mut opt = ConnectOptions::new(url.to_owned());
        opt.max_connections(size)
            .min_connections(size)
            .test_before_acquire(ping)
            .sqlx_logging(false);
        Ok(SeaOrm {
            db: Database::connect(opt).await?,
            name: if ping { "SeaORM" } else { "SeaORM no-ping" },
        })
    }
}

fn new_row(i: usize, who: &str) -> ActiveModel {
    let i = i32::try_from(i).unwrap_or(0);
    ActiveModel {
        tenant_id: Set(i % 100),
        email: Set(fresh_email(who)),
        name: Set(format!("Bulk {i}")),
        age: Set(i % 90),
        active: Set(i % 2 == 0),
        ..Default::default()
    }
}

impl Contender for SeaOrm {
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
                    let u = Entity::find_by_id(seeded_id(arg))
                        .one(&self.db)
                        .await?
                        .ok_or("missing")?;
                    drop(u);
                }
                Op::Insert => {
                    let row = ActiveModel {
                        tenant_id: Set(7),
                        email: Set(fresh_email("seaorm")),
                        name: Set("Bench User".to_owned()),
                        age: Set(33),
                        active: Set(true),
                        ..Default::default()
                    };
                    drop(row.insert(&self.db).await?);
                }
                Op::Patch => {
                    let row = ActiveModel {
                        id: Unchanged(seeded_id(arg)),
                        age: Set(age_of(arg)),
                        ..Default::default()
                    };
                    drop(row.update(&self.db).await?);
                }
                Op::List => {
                    let page = Entity::find()
                        .filter(Column::TenantId.eq(tenant_of(arg)))
                        .order_by_desc(Column::CreatedAt)
                        .limit(20)
                        .all(&self.db)
                        .await?;
                    drop(page);
                }
                Op::InsertMany => {
                    let rows = (0..BATCH).map(|i| new_row(i, "seaorm-bulk"));
                    Entity::insert_many(rows).exec(&self.db).await?;
                }
                Op::InsertRowByRow
                | Op::CachedL1
                | Op::CachedL2
                | Op::AccountList
                | Op::AccountFilters
                | Op::AccountIn
                | Op::AccountWide
                | Op::AccountFind => {
                    return Err(format!("{op:?} not implemented for SeaORM").into());
                }
            }
            Ok::<(), BoxError>(())
        })
    }
}
