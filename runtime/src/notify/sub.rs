//! One subscriber's bounded buffer, and how a full buffer becomes a `Gap`.
//!
//! The listener never waits for a slow subscriber: when a buffer is full it
//! drops the event and sets the subscriber's `lagged` flag, and keeps
//! dropping while the flag is set. The subscriber reads what is buffered
//! (all of it older than what was dropped), then finds the flag, clears it
//! and yields `Gap`. Events are sent again only once the flag is clear, so
//! nothing dropped can sort after the `Gap` that covers it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};

use tokio::sync::{Notify, mpsc};

use super::{Cmd, Hub, Raw};

/// Notifications buffered per subscriber before it counts as lagging.
pub(crate) const BUFFER: usize = 1024;

#[derive(Debug, Default)]
pub(super) struct Shared {
    lagged: AtomicBool,
    wake: Notify,
}

/// The listener's end of a subscription.
#[derive(Debug)]
pub(super) struct Slot {
    pub(super) id: u64,
    tx: mpsc::Sender<Raw>,
    shared: Arc<Shared>,
}

impl Slot {
    /// Hands `raw` over without waiting. Returns false once the subscriber
    /// is gone.
    pub(super) fn deliver(&self, raw: Raw) -> bool {
        if !self.shared.lagged.load(Ordering::Acquire) {
            match self.tx.try_send(raw) {
                Ok(()) => return true,
                Err(mpsc::error::TrySendError::Closed(_)) => return false,
                Err(mpsc::error::TrySendError::Full(_)) => {}
            }
        }
        self.shared.lagged.store(true, Ordering::Release);
        self.shared.wake.notify_one();
        !self.tx.is_closed()
    }
}

/// The subscriber's end: a bounded queue of notifications of one channel.
/// Dropping it unsubscribes.
#[derive(Debug)]
pub(crate) struct Subscription {
    id: u64,
    channel: String,
    rx: mpsc::Receiver<Raw>,
    shared: Arc<Shared>,
    hub: Weak<Hub>,
}

/// A new subscription and the listener's end of it.
pub(super) fn pair(id: u64, channel: String, hub: Weak<Hub>) -> (Slot, Subscription) {
    let (tx, rx) = mpsc::channel(BUFFER);
    let shared = Arc::new(Shared::default());
    let slot = Slot {
        id,
        tx,
        shared: shared.clone(),
    };
    let sub = Subscription {
        id,
        channel,
        rx,
        shared,
        hub,
    };
    (slot, sub)
}

impl Subscription {
    /// The next notification, or `Gap` where some were dropped; `None`
    /// once the listener is gone for good (its `Db` was dropped).
    pub(crate) async fn next(&mut self) -> Option<Raw> {
        loop {
            match self.rx.try_recv() {
                Ok(raw) => return Some(raw),
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    return self.take_lag().then_some(Raw::Gap);
                }
                Err(mpsc::error::TryRecvError::Empty) => {}
            }
            if self.take_lag() {
                return Some(Raw::Gap);
            }
            tokio::select! {
                raw = self.rx.recv() => match raw {
                    Some(raw) => return Some(raw),
                    None => return self.take_lag().then_some(Raw::Gap),
                },
                () = self.shared.wake.notified() => {}
            }
        }
    }

    fn take_lag(&self) -> bool {
        self.shared.lagged.swap(false, Ordering::AcqRel)
    }

    /// The NOTIFY channel this subscription listens on.
    pub(crate) fn channel(&self) -> &str {
        &self.channel
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(hub) = self.hub.upgrade() {
            hub.send(Cmd::Unsubscribe {
                channel: std::mem::take(&mut self.channel),
                id: self.id,
            });
        }
    }
}
