//! The confirmation task: one PostgreSQL round trip every `L/4` (sooner
//! when a join is due or the subscription came back), for as long as the
//! cache lives.

use std::sync::Arc;

use super::{Lease, clock};

/// Confirms until the lease is the only owner left (the cache is gone).
pub(crate) async fn confirm(lease: Arc<Lease>) {
    // Members whose row is older than this are not waited for.
    let window = lease.length * 2;
    let mut failing = false;
    loop {
        if Arc::strong_count(&lease) == 1 {
            return;
        }
        let sent = clock::now();
        match lease.link.confirm(window).await {
            Ok((epoch, members)) => {
                failing = false;
                lease.confirmed(sent, epoch, members);
            }
            // Logged once per run of failures: until one succeeds, cached
            // reads go to PostgreSQL.
            Err(err) if !failing => {
                failing = true;
                tracing::warn!(error = %err, "cache lease not confirmed; caches bypassed until it is");
            }
            Err(err) => tracing::debug!(error = %err, "cache lease not confirmed"),
        }
        let pause = lease.next_confirmation();
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            () = lease.wake.notified() => {}
        }
    }
}
