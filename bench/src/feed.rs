//! The change feed's cost to writers (issue 16): `insert` and `patch` on
//! two identical tables shaped like `bench_users`, one with the feed's
//! triggers installed and a subscriber listening, one without, each by
//! strata and by hand-written tokio-postgres, in the same rounds; and a
//! third table with the triggers but no listener (`strata+triggers`).
//!
//! The audit log's cost (issue 18) shares the setup: `audit patch` and
//! `audit insert` run on `feed_audited`, whose writes the audit trigger
//! records (inside `with_actor`), against the same write on `feed_plain`.
//!
//! The tables live in schema `strata_bench_feed`, seeded here, so `--only
//! feed` needs nothing else (and another run recreating `strata_bench`
//! cannot pull the tables away mid-run).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use strata::prelude::*;
use strata::{Config, Db};
use tokio_postgres::NoTls;

use crate::harness::{
    BoxError, BoxFut, Case, Contender, Op, OpResult, SEED_ROWS, TENANTS, age_of, fresh_email,
    seeded_id,
};

macro_rules! feed_model {
    ($name:ident, $new:ident, $patch:ident, $table:literal $(, $flag:ident)?) => {
        /// A table shaped like `bench_users`.
        #[derive(Model, Debug, Clone)]
        #[allow(dead_code)] // Decoded to pay the cost; not every field is read.
        #[model(schema = "strata_bench_feed", table = $table $(, $flag)?)]
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
feed_model!(FeedQuiet, NewFeedQuiet, FeedQuietPatch, "feed_quiet");
feed_model!(
    FeedAudited,
    NewFeedAudited,
    FeedAuditedPatch,
    "feed_audited",
    audit
);

/// The contenders of the feed cases, and the subscriber's event count.
pub(crate) struct Feed {
    pub(crate) contenders: Vec<Arc<dyn Contender>>,
    /// strata on `feed_plain` and `feed_audited`, and tokio-postgres on
    /// `feed_plain`: the audit cases.
    pub(crate) audit: Vec<Arc<dyn Contender>>,
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

/// The four feed cases: insert and patch at concurrency 1 and `pool`.
pub(crate) fn cases(feed: &Feed, pool: usize, budget: crate::harness::Budget) -> Vec<Case> {
    let mut cases = Vec::new();
    for (op, name) in [(Op::Insert, "feed insert"), (Op::Patch, "feed patch")] {
        for c in [1, pool] {
            cases.push(Case {
                label: format!("{name} c={c}"),
                op,
                concurrency: c,
                budget,
                baseline: "tokio-postgres".into(),
                contenders: feed.contenders.clone(),
            });
        }
    }
    for (op, name) in [(Op::Patch, "audit patch"), (Op::Insert, "audit insert")] {
        for c in [1, pool] {
            cases.push(Case {
                label: format!("{name} c={c}"),
                op,
                concurrency: c,
                budget,
                baseline: "strata".into(),
                contenders: feed.audit.clone(),
            });
        }
    }
    cases
}

/// Creates `feed_plain` and `feed_on` (shaped and seeded like `bench_users`),
/// installs the triggers on `feed_on` and subscribes to it.
pub(crate) async fn setup(url: &str, pool: usize, logged: bool) -> Result<Feed, BoxError> {
    let unlogged = if logged { "" } else { "UNLOGGED" };
    let config = Config::from_url(url)?.pool_max(pool);
    let plain_db = Db::connect(config.clone()).await?;
    let on_db = Db::connect(config.clone()).await?;
    plain_db
        .execute("DROP SCHEMA IF EXISTS strata_bench_feed CASCADE", &[])
        .await?;
    plain_db
        .execute("CREATE SCHEMA strata_bench_feed", &[])
        .await?;
    for table in ["feed_plain", "feed_on", "feed_quiet", "feed_audited"] {
        plain_db
            .execute(
                &format!(
                    "CREATE {unlogged} TABLE strata_bench_feed.{table} (
                         id bigserial PRIMARY KEY,
                         tenant_id int NOT NULL,
                         email text NOT NULL UNIQUE,
                         name text NOT NULL,
                         age int NOT NULL,
                         active bool NOT NULL,
                         created_at timestamptz NOT NULL DEFAULT now())"
                ),
                &[],
            )
            .await?;
        plain_db
            .execute(
                &format!(
                    "INSERT INTO strata_bench_feed.{table} (tenant_id, email, name, age, active, created_at) \
                     SELECT g % {TENANTS}, 'seed' || g || '@bench.example', 'User ' || g, g % 90, \
                            g % 2 = 0, now() - g * interval '1 second' \
                     FROM generate_series(1, {SEED_ROWS}) AS g"
                ),
                &[],
            )
            .await?;
    }
    on_db.install_changes::<FeedOn>().await?;
    // The same triggers with nobody listening: what the writer pays
    // without a listener backend to wake.
    on_db.install_changes::<FeedQuiet>().await?;
    on_db.install_audit::<FeedAudited>().await?;
    // The audit table is as durable as the tables it audits: an unlogged
    // run measures CPU and round trips, not the disk, on both sides.
    let persistence = if logged { "LOGGED" } else { "UNLOGGED" };
    on_db.execute("TRUNCATE strata_audit", &[]).await?;
    on_db
        .execute(&format!("ALTER TABLE strata_audit SET {persistence}"), &[])
        .await?;
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
                "INSERT INTO strata_bench_feed.{table} (tenant_id, email, name, age, active) \
                 VALUES ($1, $2, $3, $4, $5) \
                 RETURNING id, tenant_id, email, name, age, active, created_at"
            ),
            patch: format!(
                "UPDATE strata_bench_feed.{table} SET age = $2 WHERE id = $1 \
                 RETURNING id, tenant_id, email, name, age, active, created_at"
            ),
            name,
        }))
    };
    let contenders: Vec<Arc<dyn Contender>> = vec![
        Arc::new(StrataFeed::<FeedPlain> {
            db: plain_db,
            name: "strata",
            actor: false,
            _m: std::marker::PhantomData,
        }),
        Arc::new(StrataFeed::<FeedOn> {
            db: on_db,
            name: "strata+feed",
            actor: false,
            _m: std::marker::PhantomData,
        }),
        Arc::new(StrataFeed::<FeedQuiet> {
            db: Db::connect(Config::from_url(url)?.pool_max(pool)).await?,
            name: "strata+triggers",
            actor: false,
            _m: std::marker::PhantomData,
        }),
        raw("feed_plain", "tokio-postgres")?,
        raw("feed_on", "tokio-postgres+feed")?,
    ];
    let audit: Vec<Arc<dyn Contender>> = vec![
        contenders[0].clone(),
        Arc::new(StrataFeed::<FeedAudited> {
            db: Db::connect(Config::from_url(url)?.pool_max(pool)).await?,
            name: "strata+audit",
            actor: true,
            _m: std::marker::PhantomData,
        }),
        contenders[3].clone(),
    ];
    Ok(Feed {
        contenders,
        audit,
        events,
        _listener: listener,
    })
}

/// strata's `insert` / `patch` on one of the two tables.
#[derive(Debug)]
struct StrataFeed<M> {
    db: Db,
    name: &'static str,
    /// Writes run inside `strata::audit::with_actor`, as a request handler
    /// of an audited app runs them.
    actor: bool,
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
        let write = async move {
            match op {
                Op::Insert => M::insert_one(&self.db, fresh_email(self.name)).await?,
                Op::Patch => M::patch_one(&self.db, seeded_id(arg), age_of(arg)).await?,
                _ => return Err("not a feed case".into()),
            }
            Ok(())
        };
        if self.actor {
            Box::pin(strata::audit::with_actor("bench-user", write))
        } else {
            Box::pin(write)
        }
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
