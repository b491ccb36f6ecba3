//! The layered cache: `get_cached` reads L1 (in-process), then L2 (Redis),
//! then PostgreSQL; a model write invalidates both tiers in every process
//! before it returns, so a second `Db` handle (another process, as far as
//! the cache knows) sees the fresh row at once. Also: a cached list, raw
//! SQL plus `db.invalidate`, `db.cache()` for application data, and the
//! cache metrics.
//!
//! Run it against the local services:
//!
//! ```text
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/test REDIS_URL=redis://127.0.0.1:6379 \
//!   cargo run -p strata-examples --example cache
//! ```
//!
//! Without `REDIS_URL` it uses `redis://127.0.0.1:6379`. It works in its
//! own schema, `strata_example_cache` (which also holds the cache's lease
//! tables), dropped at the start and at the end, and exits non-zero if a
//! read is served from another tier than promised or returns a stale row.

use std::time::Duration;

use strata::prelude::*;
use strata::{CacheMetrics, Health};

/// The scratch schema this example owns.
const SCHEMA: &str = "strata_example_cache";

/// A cached model: `cache(ttl_secs = ..)` plus serde's traits (entries are
/// stored as MessagePack).
#[derive(Model, Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[model(
    schema = "strata_example_cache",
    table = "products",
    cache(ttl_secs = 60)
)]
struct Product {
    #[model(primary_key, generated)]
    id: i64,
    name: String,
    price: i32,
}

/// What changed in `db.metrics().cache` since `before`.
fn delta(db: &Db, before: &CacheMetrics) -> CacheMetrics {
    let now = db.metrics().cache;
    CacheMetrics {
        l1_hits: now.l1_hits - before.l1_hits,
        l2_hits: now.l2_hits - before.l2_hits,
        misses: now.misses - before.misses,
        loads: now.loads - before.loads,
        ..now
    }
}

/// One cached read, printed with the tier that answered.
async fn read(label: &str, db: &Db, id: i64) -> strata::Result<(Product, CacheMetrics)> {
    let before = db.metrics().cache;
    let p = Product::get_cached(db, id).await?;
    let d = delta(db, &before);
    let tier = match (d.l1_hits, d.l2_hits, d.loads) {
        (1, 0, 0) => "L1 hit",
        (0, 1, 0) => "L2 hit (Redis)",
        (0, 0, 1) => "miss: loaded from PostgreSQL",
        _ => "?",
    };
    println!("{label:<28} {} at {:>3}  <- {tier}", p.name, p.price);
    Ok((p, d))
}

#[tokio::main]
async fn main() -> strata::Result<()> {
    let base = Db::connect(Config::from_env()?).await?;
    base.execute(&format!("DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"), &[])
        .await?;
    base.execute(&format!("CREATE SCHEMA {SCHEMA}"), &[])
        .await?;
    base.execute(
        "CREATE TABLE strata_example_cache.products (
             id bigserial PRIMARY KEY, name text NOT NULL, price int NOT NULL)",
        &[],
    )
    .await?;

    let mut config = base.config().clone().search_path(SCHEMA);
    if std::env::var_os("REDIS_URL").is_none() {
        config = config.redis_url("redis://127.0.0.1:6379");
    }
    // Two handles with their own pools, L1 caches and Redis connections:
    // to the cache they are two processes.
    let writer = Db::connect(config.clone()).await?;
    let reader = Db::connect(config).await?;
    let outcome = walk_through(&writer, &reader).await;
    writer.close().await;
    reader.close().await;

    base.execute(&format!("DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"), &[])
        .await?;
    base.close().await;
    outcome
}

async fn walk_through(writer: &Db, reader: &Db) -> strata::Result<()> {
    let health = writer.health().await;
    println!(
        "redis: {} ({:?})",
        health.redis.status,
        health.redis.error.as_deref().unwrap_or("no error")
    );
    assert_ne!(health.status, Health::Unhealthy);
    assert_eq!(health.redis.status, "up", "this example needs Redis");

    let lamp = Product::insert(
        writer,
        NewProduct {
            name: "lamp".into(),
            price: 40,
        },
    )
    .await?;

    // Writer: a miss fills L1 and L2, the next read is an L1 hit.
    let (_, d) = read("writer, first read", writer, lamp.id).await?;
    assert_eq!((d.loads, d.l1_hits, d.l2_hits), (1, 0, 0));
    let (_, d) = read("writer, again", writer, lamp.id).await?;
    assert_eq!((d.loads, d.l1_hits, d.l2_hits), (0, 1, 0));

    // Reader: its own L1 is empty, Redis has the row.
    let (_, d) = read("reader, first read", reader, lamp.id).await?;
    assert_eq!((d.loads, d.l1_hits, d.l2_hits), (0, 0, 1));
    let (_, d) = read("reader, again", reader, lamp.id).await?;
    assert_eq!((d.loads, d.l1_hits, d.l2_hits), (0, 1, 0));

    // A cached list, retired by any write of the model.
    let cheap = || Product::query().filter(Product::PRICE.le(50)).cached();
    assert_eq!(cheap().all(reader).await?.len(), 1);

    // The writer patches. When `patch` returns, both tiers have dropped the
    // old row in both handles: the reader's next read goes to PostgreSQL.
    Product::patch(
        writer,
        lamp.id,
        ProductPatch {
            price: Some(55),
            ..Default::default()
        },
    )
    .await?;
    println!("writer patched the price to 55");
    let (fresh, d) = read("reader, after the write", reader, lamp.id).await?;
    assert_eq!(fresh.price, 55, "the reader must not see the old price");
    assert_eq!(d.loads, 1);
    let (fresh, _) = read("writer, after the write", writer, lamp.id).await?;
    assert_eq!(fresh.price, 55);
    assert!(
        cheap().all(reader).await?.is_empty(),
        "the cached list was retired"
    );

    // Raw SQL is invisible to the cache: invalidate by hand after it.
    writer
        .execute(
            "UPDATE strata_example_cache.products SET price = 60 WHERE id = $1",
            &[&lamp.id],
        )
        .await?;
    writer.invalidate::<Product>(&lamp.id).await;
    let (fresh, _) = read("reader, after raw SQL", reader, lamp.id).await?;
    assert_eq!(fresh.price, 60);

    // Application data in Redis, next to the model cache.
    let cache = writer.cache();
    cache
        .set("strata_example:greeting", &"hello", Duration::from_secs(60))
        .await?;
    let greeting: Option<String> = reader.cache().get("strata_example:greeting").await?;
    println!("db.cache(): greeting = {greeting:?}");
    assert_eq!(greeting.as_deref(), Some("hello"));
    assert!(cache.delete("strata_example:greeting").await?);

    for (name, db) in [("writer", writer), ("reader", reader)] {
        let m = db.metrics().cache;
        println!(
            "{name} cache metrics: L1 hits {}, L2 hits {}, misses {}, loads {}, \
             invalidations {}, refused stale sets {}, redis errors {}, hit rate {:.0}%",
            m.l1_hits,
            m.l2_hits,
            m.misses,
            m.loads,
            m.invalidations,
            m.stale_sets_refused,
            m.redis_errors,
            m.hit_rate() * 100.0
        );
        assert_eq!(m.redis_errors, 0);
    }
    Ok(())
}
