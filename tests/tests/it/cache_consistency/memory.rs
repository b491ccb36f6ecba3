//! Redis memory stays bounded: after `N` distinct rows (default 10⁶) were
//! cached, written and their TTLs passed, what is left in Redis. Ignored by
//! default (minutes, not seconds); run it with
//!
//! ```text
//! cargo test --release -p strata-tests --test it -- --ignored --nocapture \
//!     cache_consistency::memory
//! STRATA_MEMORY_ROWS=100000 cargo test ...   # a smaller run
//! ```
//!
//! It prints `used_memory` and the key count of the test's own Redis
//! before, after the writes, and once every entry's TTL has passed.

use std::time::Duration;

use strata::prelude::*;
use strata_tests::{TestDb, TestRedis};

/// A cached model whose entries live one second.
#[derive(Model, Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[model(table = "blips", cache(ttl_secs = 1))]
struct Blip {
    id: i64,
    v: i32,
}

/// `(used_memory, keys)` of the server.
fn memory(redis: &TestRedis) -> (u64, u64) {
    let info = redis.cli(&["INFO", "memory"]);
    let used = info
        .lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let keys = redis.cli(&["DBSIZE"]).trim().parse().unwrap_or(0);
    (used, keys)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "minutes: run with --ignored (see the module docs)"]
async fn redis_memory_is_bounded_after_a_million_rows_were_written() {
    let rows: i64 = std::env::var("STRATA_MEMORY_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let redis = TestRedis::start();
    let url = redis.url();
    let t = TestDb::with(move |c| {
        c.redis_url(url)
            .cache_l1_capacity(0)
            .pool_max(32)
            .acquire_timeout(Duration::from_secs(10))
    })
    .await;
    t.execute(
        "CREATE TABLE blips (id bigint PRIMARY KEY, v int NOT NULL)",
        &[],
    )
    .await
    .unwrap();
    t.execute(
        "INSERT INTO blips SELECT g, 0 FROM generate_series(0, $1::bigint - 1) g",
        &[&rows],
    )
    .await
    .unwrap();
    let before = memory(&redis);
    // Cache every row (L2), then write every row, 32 at a time.
    let db = t.db().clone();
    let mut tasks = Vec::new();
    for part in 0..32 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            let mut id = part;
            while id < rows {
                let keys: Vec<i64> = (id..rows).step_by(32).take(200).collect();
                Blip::find_many_cached(&db, &keys).await.unwrap();
                for k in &keys {
                    Blip::patch(&db, *k, BlipPatch { v: Some(1) })
                        .await
                        .unwrap();
                }
                id = keys.last().copied().unwrap_or(rows) + 32;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let written = memory(&redis);
    // Every entry lived one second; Redis drops expired keys lazily and in
    // its background cycle, which `SCAN` over the keyspace speeds up.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut after = memory(&redis);
    for _ in 0..20 {
        redis.cli(&["SCAN", "0", "COUNT", "1000000"]);
        after = memory(&redis);
        if after.1 < 100 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    println!(
        "redis memory, {rows} rows cached and written: before {} bytes / {} keys; \
         after the writes {} bytes / {} keys; TTLs passed {} bytes / {} keys",
        before.0, before.1, written.0, written.1, after.0, after.1
    );
    // How many writes could not confirm delivery and bumped the epoch
    // (there is no epoch table before the leases).
    let epoch = t
        .query_read_one("SELECT epoch FROM strata_cache_epoch", &[])
        .await
        .map(|r| r.get::<_, i64>(0).to_string())
        .unwrap_or_else(|_| "none".into());
    println!("cache epoch at the end: {epoch}");
    assert!(after.1 < 100, "keys left in redis: {}", after.1);
    // What is left (the generation counters) expires too: no key is kept
    // for ever (on main, `wgen` and `rgen` had no TTL).
    let left = redis.cli(&["--scan"]);
    for key in left.lines().filter(|k| !k.is_empty()) {
        let ttl: i64 = redis.cli(&["TTL", key]).trim().parse().unwrap();
        println!("left: {key} (ttl {ttl} s)");
        assert!(ttl >= 0, "{key} never expires");
    }
}
