//! The cache's promise, tested from the side that can break it: once a
//! model write returned `Ok`, no other handle (its own pool, its own Redis
//! connections: another process, as far as the cache can tell) serves the
//! previous row, whatever Redis does.
//!
//! Each test runs one outage mode against a Redis of its own
//! ([`TestRedis`]): a writer patches rows while two or more reader handles
//! read them through `get_cached`; after every write returns, every reader
//! reads every row. A read is stale when it returns a price other than the
//! last one written. Each test prints its figures (reads, stale, failed,
//! write latency during the outage) and asserts 0 stale and 0 failed reads
//! over at least 10⁴ sampled reads.

mod cluster;
mod memory;
mod modes;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use strata::prelude::*;
use strata_tests::TestDb;

use super::models::*;

/// Rows every test patches.
const ROWS: i64 = 20;
/// Reads sampled across one test, at least.
const MIN_READS: u64 = 10_000;

/// The lease used by these tests (shorter than the default, to keep each
/// test a few seconds; the argument does not depend on its length).
const LEASE: Duration = Duration::from_millis(300);

/// One writer, some readers, the prices last written, and the figures.
struct Rig {
    t: TestDb,
    readers: Vec<Db>,
    prices: HashMap<i64, i32>,
    next: i64,
    reads: u64,
    stale: u64,
    failed: u64,
    /// Write latencies while the outage lasts, and after it.
    during: Vec<Duration>,
    after: Vec<Duration>,
    outage: bool,
}

/// The config every handle of a rig uses, on its own Redis URL.
fn tuned(config: Config, redis: &str) -> Config {
    strata_tests::on_redis(config, redis).cache_lease(LEASE)
}

impl Rig {
    /// A schema with `ROWS` products, a writer on `writer`'s Redis URL and
    /// one reader per URL in `readers`, every row read once through each
    /// (so both tiers hold it).
    async fn new(writer: &str, readers: &[&str]) -> Rig {
        let url = writer.to_owned();
        let t = TestDb::with(move |c| tuned(c, &url)).await;
        t.execute(PRODUCTS, &[]).await.unwrap();
        let mut prices = HashMap::new();
        for id in 0..ROWS {
            Product::insert(t.db(), product(id)).await.unwrap();
            prices.insert(id, 100);
        }
        let mut rig = Rig {
            t,
            readers: Vec::new(),
            prices,
            next: 0,
            reads: 0,
            stale: 0,
            failed: 0,
            during: Vec::new(),
            after: Vec::new(),
            outage: false,
        };
        for url in readers {
            rig.add_reader(url).await;
        }
        for id in 0..ROWS {
            Product::get_cached(rig.t.db(), id).await.unwrap();
        }
        rig.sample(1).await;
        rig
    }

    /// Another handle (a fresh process) on `redis`.
    async fn add_reader(&mut self, redis: &str) {
        let db = Db::connect(tuned(self.t.config(), redis)).await.unwrap();
        self.readers.push(db);
    }

    /// Marks the start (`true`) or end of the outage, for the latencies.
    fn outage(&mut self, on: bool) {
        self.outage = on;
    }

    /// Patches the next row to a new price and records how long it took.
    async fn write(&mut self) {
        let id = self.next % ROWS;
        self.next += 1;
        let price = 1_000 + i32::try_from(self.next).unwrap();
        let started = Instant::now();
        Product::patch(
            self.t.db(),
            id,
            ProductPatch {
                price: Some(price),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let took = started.elapsed();
        if self.outage {
            self.during.push(took);
        } else {
            self.after.push(took);
        }
        self.prices.insert(id, price);
    }

    /// Every reader reads every row `rounds` times; counts stale and failed.
    async fn sample(&mut self, rounds: usize) {
        for _ in 0..rounds {
            for db in &self.readers {
                for id in 0..ROWS {
                    self.reads += 1;
                    match Product::get_cached(db, id).await {
                        Ok(row) if row.price == self.prices[&id] => {}
                        Ok(_) => self.stale += 1,
                        Err(err) => {
                            self.failed += 1;
                            eprintln!("read of {id} failed: {err}");
                        }
                    }
                }
            }
        }
    }

    /// A write, then `rounds` rounds of reads.
    async fn write_and_sample(&mut self, rounds: usize) {
        self.write().await;
        self.sample(rounds).await;
    }

    /// Rounds of reads after each of `writes` writes that bring the total
    /// to at least [`MIN_READS`].
    fn rounds_for(&self, writes: u64) -> usize {
        let per_round = self.readers.len() as u64 * ROWS as u64;
        let left = MIN_READS.saturating_sub(self.reads);
        usize::try_from(left.div_ceil(per_round * writes.max(1)))
            .unwrap_or(1)
            .max(1)
    }

    /// Prints the figures and asserts the promise.
    fn report(&self, mode: &str) {
        let stats = |v: &[Duration]| {
            let mut v = v.to_vec();
            v.sort();
            match (v.get(v.len() / 2), v.last()) {
                (Some(p50), Some(max)) => format!("p50 {p50:?} max {max:?} (n={})", v.len()),
                _ => "none".into(),
            }
        };
        let (mut l1, mut l2, mut loads) = (0, 0, 0);
        for db in &self.readers {
            let m = db.metrics().cache;
            (l1, l2, loads) = (l1 + m.l1_hits, l2 + m.l2_hits, loads + m.loads);
        }
        println!(
            "{mode}: {} reads, {} stale, {} failed (readers: {l1} L1 hits, {l2} L2 hits, \
             {loads} loads); writes during the outage: {}; after: {}",
            self.reads,
            self.stale,
            self.failed,
            stats(&self.during),
            stats(&self.after),
        );
        // Not vacuous: the readers did serve from their caches.
        assert!(
            l1 + l2 > self.reads / 4,
            "{mode}: the readers hardly used the cache"
        );
        assert_eq!(self.failed, 0, "{mode}: failed reads");
        assert_eq!(self.stale, 0, "{mode}: stale reads");
        assert!(self.reads >= MIN_READS, "{mode}: only {} reads", self.reads);
    }
}
