//! `fetch_stream` in bounded memory: 1,000,000 rows of about 100 bytes
//! (about 100 MB of result) stream through a heap that never holds more
//! than a small fixed amount above where it started.
//!
//! A binary of its own: its `#[global_allocator]` counts the live heap
//! bytes of the whole process and their peak, which other tests running
//! beside it in the `it` binary would disturb. Everything (the test, the
//! driver's connection task) runs on one current-thread runtime.

use std::time::Instant;

use futures_util::StreamExt;
use peak_alloc::PeakAlloc;
use strata::Executor;
use strata_tests::TestDb;

#[global_allocator]
static HEAP: PeakAlloc = PeakAlloc;

/// How many rows, and the most the live heap may grow while they stream.
const ROWS: i32 = 1_000_000;
const BOUND: usize = 16 << 20;

/// Rows of an int and 96 bytes of text: about 100 bytes on the wire each.
const SQL: &str = "SELECT g, lpad(g::text, 96, 'x') FROM generate_series(1, $1::int) g";

/// Streams `n` rows, checking their order; the rows and text bytes read.
async fn stream(t: &TestDb, n: i32) -> (i32, usize) {
    let mut rows = t.fetch_stream(SQL, &[&n]).await.unwrap();
    let (mut seen, mut bytes) = (0, 0);
    while let Some(row) = rows.next().await {
        let row = row.unwrap();
        let g: i32 = row.get(0);
        let text: &str = row.get(1);
        seen += 1;
        assert_eq!(g, seen, "rows arrive in order");
        bytes += 4 + text.len();
    }
    (seen, bytes)
}

#[tokio::test]
async fn a_million_rows_stream_in_flat_memory() {
    // The whole stream is one statement: give it more than the default 5 s
    // of server-side statement time in a debug build.
    let t = TestDb::with(|c| c.statement_timeout(Some(std::time::Duration::from_secs(300)))).await;
    // Warm up: the pool's connection, its statement cache, lazy statics.
    assert_eq!(stream(&t, 1000).await.0, 1000);

    let base = HEAP.current_usage();
    HEAP.reset_peak_usage();
    let started = Instant::now();
    let (rows, bytes) = stream(&t, ROWS).await;
    let took = started.elapsed();
    let peak = HEAP.peak_usage().saturating_sub(base);
    println!(
        "streamed {rows} rows, {} MB of row data, in {took:.2?}; peak live heap above the start: \
         {:.2} MiB (bound {} MiB)",
        bytes / 1_000_000,
        peak as f64 / f64::from(1 << 20),
        BOUND >> 20
    );
    assert_eq!(rows, ROWS);
    assert!(bytes > 95_000_000, "the result is about 100 MB: {bytes}");
    assert!(
        peak < BOUND,
        "the live heap grew by {peak} bytes while streaming, more than {BOUND}"
    );

    // The measurement sees rows that are kept: the same rows collected by
    // `query_read` (a fifth of them) go far past the bound.
    let base = HEAP.current_usage();
    HEAP.reset_peak_usage();
    let kept = t.query_read(SQL, &[&(ROWS / 5)]).await.unwrap();
    let peak = HEAP.peak_usage().saturating_sub(base);
    println!(
        "collected {} rows: peak live heap above the start {:.2} MiB",
        kept.len(),
        peak as f64 / f64::from(1 << 20)
    );
    assert!(
        peak > BOUND,
        "collecting 200,000 rows stayed under {BOUND}: {peak}"
    );
}
