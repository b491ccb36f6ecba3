//! A counting global allocator: every `alloc`, `alloc_zeroed` and `realloc`
//! on any thread bumps one counter, so "allocations per operation" includes
//! the work tokio-postgres's connection task does for a statement.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

/// The system allocator, counting.
#[derive(Debug)]
pub(crate) struct Counting;

// SAFETY: every method forwards to `System` unchanged; the counters are
// plain atomics and never allocate.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(new_size as u64, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// `(allocations, bytes)` so far, process-wide.
pub(crate) fn snapshot() -> (u64, u64) {
    (
        ALLOCATIONS.load(Ordering::Relaxed),
        BYTES.load(Ordering::Relaxed),
    )
}

/// Allocations (and bytes) per operation, over `n` sequential operations
/// after a warm-up. Counts every thread, so the connection task's share is
/// included; the harness's boxed future is one of the allocations.
pub(crate) async fn per_op(
    c: &dyn crate::harness::Contender,
    op: crate::harness::Op,
    n: u64,
) -> Result<(f64, f64), crate::harness::BoxError> {
    for i in 0..200 {
        c.run(op, i).await?;
    }
    let (a0, b0) = snapshot();
    for i in 0..n {
        c.run(op, i.wrapping_mul(7919)).await?;
    }
    let (a1, b1) = snapshot();
    Ok(((a1 - a0) as f64 / n as f64, (b1 - b0) as f64 / n as f64))
}
