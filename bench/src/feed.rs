//! The change feed's cost to writers (issue 16): `insert` and `patch` on
//! two copies of `bench_users`, one with the feed's triggers installed and
//! a subscriber listening, one without, each by strata and by hand-written
//! tokio-postgres, in the same rounds.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use strata::prelude::*;
use strata::{Config, Db};
use tokio_postgres::NoTls;

use crate::harness::{BoxError, BoxFut, Contender, Op, OpResult, age_of, fresh_email, seeded_id};

macro_rules! feed_model {
    ($name:ident, $new:ident, $patch:ident, $table:literal) => {
        /// A copy of `bench_users`.
        #[derive(Model, Debug, Clone)]
        #[allow(dead_code)] // Decoded to pay the cost; not every field is read.
        #[model(schema = "strata_bench", table = $table)]
        pub(crate) struct $name {
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

        impl FeedWrite for $name {
            async fn insert_one(db: &Db, email: String) -> strata::Result<()> {
                let new = $new {
                    tenant_id: 7,
                    email,
                    name: "Bench User".to_owned(),
                    age: 33,
                    active: true,
                };
                $name::insert(db, new).await.map(drop)
            }

            async fn patch_one(db: &Db, id: i64, age: i32) -> strata::Result<()> {
                let patch = $patch {
                    age: Some(age),
                    ..Default::default()
                };
                $name::patch(db, id, patch).await.map(drop)
            }
        }
    };
}

/// The two writes, on either copy.
trait FeedWrite {
    fn insert_one(db: &Db, email: String) -> impl Future<Output = strata::Result<()>> + Send;
    fn patch_one(db: &Db, id: i64, age: i32) -> impl Future<Output = strata::Result<()>> + Send;
}

feed_model!(FeedPlain, NewFeedPlain, FeedPlainPatch, "feed_plain");
feed_model!(FeedOn, NewFeedOn, FeedOnPatch, "feed_on");

/// The contenders of the feed cases, and the subscriber's event count.
pub(crate) struct Feed {
    pub(crate) contenders: Vec<Arc<dyn Contender>>,
    /// Row events the subscriber received.
    pub(crate) events: Arc<AtomicU64>,
    _listener: Db,
}

impl std::fmt::Debug for Feed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Feed")
            .field("events", &self.events)
            .finish()
    }
}

/// Creates `feed_plain` and `feed_on` (copies of the seeded `bench_users`),
/// installs the triggers on `feed_on` and subscribes to it.
pub(crate) async fn setup(url: &str, pool: usize) -> Result<Feed, BoxError> {
    let config = Config::from_url(url)?.pool_max(pool);
    let plain_db = Db::connect(config.clone()).await?;
    let on_db = Db::connect(config.clone()).await?;
    for table in ["feed_plain", "feed_on"] {
        plain_db
            .execute(
                &format!(
                    "CREATE UNLOGGED TABLE strata_bench.{table} \
                     (LIKE strata_bench.bench_users INCLUDING ALL)"
                ),
                &[],
            )
            .await?;
        plain_db
            .execute(
                &format!("INSERT INTO strata_bench.{table} SELECT * FROM strata_bench.bench_users"),
                &[],
            )
            .await?;
    }
    on_db.install_changes::<FeedOn>().await?;
    let listener = Db::connect(config).await?;
    let mut changes = listener.changes::<FeedOn>().await?;
    let events = Arc::new(AtomicU64::new(0));
    let count = events.clone();
    tokio::spawn(async move {
        while let Some(e) = changes.next().await {
            if matches!(e, strata::changes::ChangeEvent::Row { .. }) {
                count.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    let raw = |table: &'static str, name: &'static str| -> Result<Arc<dyn Contender>, BoxError> {
        let cfg: tokio_postgres::Config = url.parse()?;
        let manager = Manager::from_config(
            cfg,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        Ok(Arc::new(RawFeed {
            pool: Pool::builder(manager).max_size(pool).build()?,
            insert: format!(
                "INSERT INTO strata_bench.{table} (tenant_id, email, name, age, active) \
                 VALUES ($1, $2, $3, $4, $5) \
                 RETURNING id, tenant_id, email, name, age, active, created_at"
            ),
            patch: format!(
                "UPDATE strata_bench.{table} SET age = $2 WHERE id = $1 \
                 RETURNING id, tenant_id, email, name, age, active, created_at"
            ),
            name,
        }))
    };
    let contenders: Vec<Arc<dyn Contender>> = vec![
        Arc::new(StrataFeed::<FeedPlain> {
            db: plain_db,
            name: "strata",
            _m: std::marker::PhantomData,
        }),
        Arc::new(StrataFeed::<FeedOn> {
            db: on_db,
            name: "strata+feed",
            _m: std::marker::PhantomData,
        }),
        raw("feed_plain", "tokio-postgres")?,
        raw("feed_on", "tokio-postgres+feed")?,
    ];
    Ok(Feed {
        contenders,
        events,
        _listener: listener,
    })
}

/// strata's `insert` / `patch` on one of the two tables.
#[derive(Debug)]
struct StrataFeed<M> {
    db: Db,
    name: &'static str,
    _m: std::marker::PhantomData<fn() -> M>,
}

impl<M: FeedWrite + Send + Sync> Contender for StrataFeed<M> {
    fn name(&self) -> &str {
        self.name
    }

    fn supports(&self, op: Op) -> bool {
        matches!(op, Op::Insert | Op::Patch)
    }

    fn run(&self, op: Op, arg: u64) -> BoxFut<'_, OpResult> {
        Box::pin(async move {
            match op {
                Op::Insert => M::insert_one(&self.db, fresh_email(self.name)).await?,
                Op::Patch => M::patch_one(&self.db, seeded_id(arg), age_of(arg)).await?,
                _ => return Err("not a feed case".into()),
            }
            Ok(())
        })
    }
}

/// The hand-written statements on one of the two tables.
struct RawFeed {
    pool: Pool,
    insert: String,
    patch: String,
    name: &'static str,
}

impl std::fmt::Debug for RawFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawFeed").field("name", &self.name).finish()
    }
}

impl Contender for RawFeed {
    fn name(&self) -> &str {
        self.name
    }

    fn supports(&self, op: Op) -> bool {
        matches!(op, Op::Insert | Op::Patch)
    }

    fn run(&self, op: Op, arg: u64) -> BoxFut<'_, OpResult> {
        Box::pin(async move {
            let c = self.pool.get().await?;
            match op {
                Op::Insert => {
                    let stmt = c.prepare_cached(&self.insert).await?;
                    let email = fresh_email(self.name);
                    c.query_one(&stmt, &[&7_i32, &email, &"Bench User", &33_i32, &true])
                        .await?;
                }
                Op::Patch => {
                    let stmt = c.prepare_cached(&self.patch).await?;
                    c.query_one(&stmt, &[&seeded_id(arg), &age_of(arg)]).await?;
                }
                _ => return Err("not a feed case".into()),
            }
            Ok(())
        })
    }
}
