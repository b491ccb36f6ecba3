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

use std::sync::Weak;
use std::time::Duration;

use futures_util::StreamExt;

use super::Cache;

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
            let mut pubsub = l2.client().get_async_pubsub().await?;
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
            l2.set_listening(true);
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
                    l2.acknowledged(seq);
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
            l2.set_listening(false);
        }
        tracing::warn!("redis subscription lost; resubscribing");
    }
}
