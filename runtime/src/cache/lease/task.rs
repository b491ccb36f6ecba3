//! The confirmation task: one PostgreSQL round trip every `L/4` (sooner
//! when a join is due or the subscription came back), for as long as the
//! cache lives.

use std::sync::Arc;

use super::{Lease, clock};

/// Confirms until the lease is the only owner left (the cache is gone).
pub(crate) async fn confirm(lease: Arc<Lease>) {
    // Members whose row is older than this are not waited for.
    let window = lease.length * 2;
    loop {
        if Arc::strong_count(&lease) == 1 {
            return;
        }
        let sent = clock::now();
        match lease.link.confirm(window).await {
            Ok((epoch, members)) => lease.confirmed(sent, epoch, members),
            Err(err) => tracing::debug!(error = %err, "cache lease not confirmed"),
        }
        let pause = lease.next_confirmation();
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            () = lease.wake.notified() => {}
        }
    }
}
