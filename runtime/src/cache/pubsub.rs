//! Cross-process L1 invalidation over Redis pub/sub.
//!
//! Pub/sub delivers at most once, and a dropped subscription loses whatever
//! was published meanwhile. So the moment the subscription is lost this
//! process flushes its whole L1 and stops trusting its caches (the lease,
//! `lease/`), and flushes again after every reconnect: it cannot know what
//! it missed.
//!
//! Each process acknowledges every invalidation it applied (its own
//! included) on the writer's ack channel, naming itself; the writer waits,
//! bounded by the Redis timeout, until every member it knows and as many
//! processes as Redis counted receivers have. A write that cannot see that
//! happen retires every entry instead (see `lease/`).

use std::collections::{HashMap, HashSet};
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
    /// The processes that acknowledged, by instance id.
    from: HashSet<u64>,
    /// The newest epoch an acknowledging process was on.
    newest: u64,
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
    /// The writer counts as having acknowledged its own message (`me`): it
    /// applied the invalidation before sending it, and its own
    /// subscription is the one every other acknowledgement arrives on.
    pub(crate) fn expect(&self, me: u64) -> Expected {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let notify = Arc::new(Notify::new());
        if let Ok(mut waiting) = self.waiting.lock() {
            waiting.insert(
                seq,
                Ack {
                    from: HashSet::from([me]),
                    newest: 0,
                    notify: notify.clone(),
                },
            );
        }
        Expected { seq, notify }
    }

    /// Records `from`'s acknowledgement of message `seq`, sent while it
    /// was on `epoch`.
    pub(crate) fn received(&self, seq: u64, from: u64, epoch: u64) {
        if let Ok(mut waiting) = self.waiting.lock()
            && let Some(ack) = waiting.get_mut(&seq)
        {
            ack.from.insert(from);
            ack.newest = ack.newest.max(epoch);
            ack.notify.notify_one();
        }
    }

    /// Waits (bounded by the timeout) until every one of `members` and as
    /// many processes as Redis counted `receivers` acknowledged the message;
    /// then stops counting. True only if they did: the message was sent,
    /// this process could hear the acks, and it had a member list to check;
    /// with the newest epoch an acknowledging process was on.
    pub(crate) async fn wait(
        &self,
        message: Expected,
        receivers: Option<usize>,
        members: Option<Vec<u64>>,
    ) -> (bool, u64) {
        let Expected { seq, notify } = message;
        let listening = self.listening.load(Ordering::Acquire);
        let mut delivered = false;
        if let (Some(receivers), Some(members), true) = (receivers, members, listening) {
            let all_acked = || {
                self.waiting
                    .lock()
                    .map(|a| {
                        a.get(&seq).is_some_and(|ack| {
                            ack.from.len() >= receivers
                                && members.iter().all(|m| ack.from.contains(m))
                        })
                    })
                    .unwrap_or(false)
            };
            delivered = tokio::time::timeout(self.timeout, async {
                while !all_acked() {
                    notify.notified().await;
                }
            })
            .await
            .is_ok();
        }
        let newest = self
            .waiting
            .lock()
            .ok()
            .and_then(|mut w| w.remove(&seq))
            .map_or(0, |ack| ack.newest);
        (delivered, newest)
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
            let mut pubsub = l2.redis.subscriber().get_async_pubsub().await?;
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
        match cache.upgrade() {
            Some(cache) => {
                if !first {
                    tracing::info!("redis subscription restored; flushing the in-process cache");
                    cache.flush_local();
                }
                if let Some(l2) = &cache.l2 {
                    l2.acks.set_listening(true);
                }
                if let Some(lease) = &cache.lease {
                    lease.hearing();
                }
            }
            None => return,
        }
        first = false;
        // Heartbeats arrive every L/4: a subscription silent for 2L is on a
        // node that stopped answering without closing (frozen, black-holed),
        // so it is dropped and made again (on a cluster, on another node).
        let silence = cache
            .upgrade()
            .and_then(|c| Some(c.lease.as_ref()?.heartbeat_every() * 8))
            .unwrap_or(Duration::from_secs(60));
        let mut messages = pubsub.into_on_message();
        while let Ok(Some(msg)) = tokio::time::timeout(silence, messages.next()).await {
            let Ok(payload) = msg.get_payload::<String>() else {
                continue;
            };
            let Some(cache) = cache.upgrade() else { return };
            let Some(l2) = cache.l2.clone() else { return };
            if msg.get_channel_name() == acks {
                if let Some(sent) = payload.strip_prefix("hb|") {
                    if let (Ok(sent), Some(lease)) = (sent.parse(), &cache.lease) {
                        lease.heard(sent);
                    }
                    continue;
                }
                // `seq|instance|epoch`
                let mut parts = payload.splitn(3, '|').map(str::parse::<u64>);
                if let (Some(Ok(seq)), Some(Ok(from)), Some(Ok(epoch))) =
                    (parts.next(), parts.next(), parts.next())
                {
                    l2.acks.received(seq, from, epoch);
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
            if from == instance {
                continue;
            }
            cache.invalidate_local(table, mode, row);
            // Applied; the acknowledgement goes out on its own, so that a
            // burst of writes elsewhere is not acknowledged one round trip
            // after another (nor delays the heartbeats behind it).
            if seq != "0" {
                let (from, seq) = (from.to_owned(), seq.to_owned());
                let cache = cache.clone();
                tokio::spawn(async move {
                    if let Some(l2) = &cache.l2 {
                        l2.acknowledge(&from, &seq, &cache.counters).await;
                    }
                });
            }
        }
        if let Some(cache) = cache.upgrade() {
            if let Some(l2) = &cache.l2 {
                l2.acks.set_listening(false);
            }
            if let Some(lease) = &cache.lease {
                lease.deaf();
            }
        }
        tracing::warn!("redis subscription lost; in-process cache flushed; resubscribing");
    }
}

/// Publishes a heartbeat to this process's own ack channel every `L/4`
/// (see `lease/`): hearing it back is what proves the subscription alive.
pub(super) async fn heartbeat(cache: Weak<Cache>) {
    loop {
        let Some((l2, every)) = cache.upgrade().and_then(|c| {
            let every = c.lease.as_ref()?.heartbeat_every();
            Some((c.l2.clone()?, every))
        }) else {
            return;
        };
        let Some(counters) = cache.upgrade().map(|c| c.counters.clone()) else {
            return;
        };
        l2.heartbeat(super::lease::Lease::heartbeat(), &counters)
            .await;
        drop(l2);
        tokio::time::sleep(every).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A write is confirmed only when every member named acknowledged and
    /// as many as Redis counted did; the newest epoch seen comes back.
    #[tokio::test]
    async fn a_write_is_confirmed_only_by_every_member() {
        let acks = Acks::new(Duration::from_millis(50));
        let me = 9;
        acks.set_listening(true);
        // Two of three members answer, though the count is met: not confirmed.
        let m = acks.expect(me);
        acks.received(m.seq, 1, 4);
        acks.received(m.seq, 2, 4);
        assert_eq!(
            acks.wait(m, Some(3), Some(vec![me, 1, 2, 3])).await,
            (false, 4)
        );
        // All three answer, one on a newer epoch.
        let m = acks.expect(me);
        for (from, epoch) in [(1, 4), (2, 5), (3, 4)] {
            acks.received(m.seq, from, epoch);
        }
        assert_eq!(
            acks.wait(m, Some(4), Some(vec![me, 1, 2, 3])).await,
            (true, 5)
        );
        // No member list (stale), or not sent, or not listening: never confirmed.
        let m = acks.expect(me);
        acks.received(m.seq, 1, 4);
        assert!(!acks.wait(m, Some(2), None).await.0);
        let m = acks.expect(me);
        assert!(!acks.wait(m, None, Some(vec![])).await.0);
        acks.set_listening(false);
        let m = acks.expect(me);
        acks.received(m.seq, 1, 4);
        assert!(!acks.wait(m, Some(2), Some(vec![me, 1])).await.0);
    }
}
