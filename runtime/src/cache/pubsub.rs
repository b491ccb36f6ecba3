//! Cross-process L1 invalidation over Redis pub/sub.
//!
//! Pub/sub delivers at most once, and a dropped subscription loses whatever
//! was published meanwhile. So after every reconnect (not the first
//! subscribe) this process flushes its whole L1: it cannot know what it missed.
//!
//! Each process acknowledges every invalidation it applied (its own
//! included) on the writer's ack channel; the writer waits for as many acks
//! as Redis counted receivers, bounded by the Redis timeout. That makes a
//! write visible to every healthy process by the time it returns.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::Notify;

use super::Cache;

/// The writer's side of acknowledgements: message numbers, and the acks
/// still awaited for each.
pub(crate) struct Acks {
    /// The next message's sequence number (0 means "no ack wanted").
    seq: AtomicU64,
    /// Acknowledgements still awaited, by sequence number.
    waiting: Mutex<HashMap<u64, Ack>>,
    /// How long a write waits for other processes to acknowledge.
    timeout: Duration,
    /// Whether this process's subscriber is connected (it receives the acks).
    listening: AtomicBool,
}

struct Ack {
    received: usize,
    notify: Arc<Notify>,
}

/// A message whose acknowledgements are being counted; see [`Acks::wait`].
pub(crate) struct Expected {
    pub(crate) seq: u64,
    notify: Arc<Notify>,
}

impl Acks {
    pub(crate) fn new(timeout: Duration) -> Self {
        Acks {
            seq: AtomicU64::new(1),
            waiting: Mutex::new(HashMap::new()),
            timeout,
            listening: AtomicBool::new(false),
        }
    }

    /// Set by the subscriber task as it connects and disconnects.
    pub(crate) fn set_listening(&self, yes: bool) {
        self.listening.store(yes, Ordering::Release);
    }

    /// Numbers a new message and starts counting its acknowledgements,
    /// before it is sent (an ack may arrive before the send returns).
    pub(crate) fn expect(&self) -> Expected {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let notify = Arc::new(Notify::new());
        if let Ok(mut waiting) = self.waiting.lock() {
            waiting.insert(
                seq,
                Ack {
                    received: 0,
                    notify: notify.clone(),
                },
            );
        }
        Expected { seq, notify }
    }

    /// Records one acknowledgement of message `seq`.
    pub(crate) fn received(&self, seq: u64) {
        if let Ok(mut waiting) = self.waiting.lock()
            && let Some(ack) = waiting.get_mut(&seq)
        {
            ack.received += 1;
            ack.notify.notify_one();
        }
    }

    /// Waits (bounded by the timeout) until as many processes as Redis
    /// counted `receivers` acknowledged the message, when it was sent and
    /// this process can hear the acks; then stops counting.
    pub(crate) async fn wait(&self, message: Expected, receivers: Option<usize>) {
        let Expected { seq, notify } = message;
        let listening = self.listening.load(Ordering::Acquire);
        if let (Some(receivers), true) = (receivers, listening) {
            let all_acked = || {
                self.waiting
                    .lock()
                    .map(|a| a.get(&seq).is_none_or(|ack| ack.received >= receivers))
                    .unwrap_or(true)
            };
            let _ = tokio::time::timeout(self.timeout, async {
                while !all_acked() {
                    notify.notified().await;
                }
            })
            .await;
        }
        if let Ok(mut waiting) = self.waiting.lock() {
            waiting.remove(&seq);
        }
    }
}

pub(super) async fn listen(cache: Weak<Cache>) {
    let mut first = true;
    let mut delay = Duration::from_millis(50);
    loop {
        let Some(l2) = cache.upgrade().and_then(|c| c.l2.clone()) else {
            return;
        };
        let channel = l2.channel();
        let instance = l2.instance().to_string();
        let acks = l2.ack_channel(&instance);
        let subscribed = tokio::time::timeout(Duration::from_secs(2), async {
            let mut pubsub = l2.redis.client().get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            pubsub.subscribe(&acks).await?;
            Ok::<_, redis::RedisError>(pubsub)
        })
        .await;
        drop(l2);
        let pubsub = match subscribed {
            Ok(Ok(pubsub)) => pubsub,
            _ => {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
                continue;
            }
        };
        delay = Duration::from_millis(50);
        if let Some(l2) = cache.upgrade().and_then(|c| c.l2.clone()) {
            l2.acks.set_listening(true);
        }
        if !first {
            match cache.upgrade() {
                Some(cache) => {
                    tracing::info!("redis subscription restored; flushing the in-process cache");
                    cache.flush_local();
                }
                None => return,
            }
        }
        first = false;
        let mut messages = pubsub.into_on_message();
        while let Some(msg) = messages.next().await {
            let Ok(payload) = msg.get_payload::<String>() else {
                continue;
            };
            let Some(cache) = cache.upgrade() else { return };
            let Some(l2) = cache.l2.clone() else { return };
            if msg.get_channel_name() == acks {
                if let Ok(seq) = payload.parse() {
                    l2.acks.received(seq);
                }
                continue;
            }
            // `instance|seq|table|mode|row`; the row (a key's Debug form) may hold '|'.
            let mut parts = payload.splitn(5, '|');
            let (Some(from), Some(seq), Some(table), Some(mode), Some(row)) = (
                parts.next(),
                parts.next(),
                parts.next(),
                parts.next(),
                parts.next(),
            ) else {
                continue;
            };
            if from != instance {
                cache.invalidate_local(table, mode, row);
            }
            if seq != "0" {
                l2.acknowledge(from, seq, &cache.counters).await;
            }
        }
        if let Some(l2) = cache.upgrade().and_then(|c| c.l2.clone()) {
            l2.acks.set_listening(false);
        }
        tracing::warn!("redis subscription lost; resubscribing");
    }
}
