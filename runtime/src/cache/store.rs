//! The general-purpose cache API on the handle (`db.cache()`), for
//! application data that is not a model: sessions, rate-limit counters,
//! computed results, notifications between processes.
//!
//! It talks to Redis (values as MessagePack), under the handle's key prefix.
//! Unlike the model cache, it reports failures: the caller asked for Redis.

use std::time::Duration;

use futures_util::{Stream, StreamExt};
use redis::AsyncCommands;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Cache;
use super::l2::L2;
use crate::error::{Error, Result};

/// The general cache API; see [`Db::cache`](crate::Db::cache).
#[derive(Debug, Clone, Copy)]
pub struct CacheStore<'a> {
    cache: &'a Cache,
    prefix: &'a str,
}

fn err(reason: impl Into<String>) -> Error {
    Error::Cache(reason.into())
}

impl<'a> CacheStore<'a> {
    pub(crate) fn new(cache: &'a Cache, prefix: &'a str) -> Self {
        CacheStore { cache, prefix }
    }

    fn l2(&self) -> Result<&'a L2> {
        self.cache
            .l2
            .as_deref()
            .ok_or_else(|| err("no Redis configured (set REDIS_URL)"))
    }

    fn key(&self, key: &str) -> String {
        format!("{}:app:{key}", self.prefix)
    }

    async fn run<T, F, Fut>(&self, f: F) -> Result<T>
    where
        F: FnOnce(redis::aio::MultiplexedConnection) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        self.l2()?.raw(&self.cache.counters, f).await.map_err(err)
    }

    /// The value stored under `key`, if any.
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        let key = self.key(key);
        let bytes: Option<Vec<u8>> = self.run(|mut c| async move { c.get(key).await }).await?;
        bytes
            .map(|b| {
                rmp_serde::from_slice(&b).map_err(|e| err(format!("cannot decode value: {e}")))
            })
            .transpose()
    }

    /// Stores `value` under `key` for `ttl` (at least one second).
    pub async fn set<T: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &T,
        ttl: Duration,
    ) -> Result<()> {
        let key = self.key(key);
        let bytes =
            rmp_serde::to_vec(value).map_err(|e| err(format!("cannot encode value: {e}")))?;
        self.run(|mut c| async move { c.set_ex(key, bytes, ttl.as_secs().max(1)).await })
            .await
    }

    /// Removes `key`; true if it existed.
    pub async fn delete(&self, key: &str) -> Result<bool> {
        let key = self.key(key);
        let n: i64 = self.run(|mut c| async move { c.del(key).await }).await?;
        Ok(n > 0)
    }

    /// Whether `key` exists.
    pub async fn exists(&self, key: &str) -> Result<bool> {
        let key = self.key(key);
        self.run(|mut c| async move { c.exists(key).await }).await
    }

    /// Many values in one round trip, in `keys` order.
    pub async fn mget<T: DeserializeOwned>(&self, keys: &[&str]) -> Result<Vec<Option<T>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = keys.iter().map(|k| self.key(k)).collect();
        let values: Vec<Option<Vec<u8>>> = self
            .run(|mut c| async move { redis::cmd("MGET").arg(keys).query_async(&mut c).await })
            .await?;
        values
            .into_iter()
            .map(|v| {
                v.map(|b| {
                    rmp_serde::from_slice(&b).map_err(|e| err(format!("cannot decode value: {e}")))
                })
                .transpose()
            })
            .collect()
    }

    /// Stores many values, each for `ttl`, in one round trip.
    pub async fn mset<T: Serialize>(&self, items: &[(&str, T)], ttl: Duration) -> Result<()> {
        let mut pipe = redis::pipe();
        pipe.atomic();
        for (k, v) in items {
            let bytes =
                rmp_serde::to_vec(v).map_err(|e| err(format!("cannot encode value: {e}")))?;
            pipe.set_ex(self.key(k), bytes, ttl.as_secs().max(1))
                .ignore();
        }
        self.run(|mut c| async move { pipe.query_async::<()>(&mut c).await })
            .await
    }

    /// Adds `by` to the integer at `key` (0 if absent) and returns the result.
    pub async fn incr(&self, key: &str, by: i64) -> Result<i64> {
        let key = self.key(key);
        self.run(|mut c| async move { c.incr(key, by).await }).await
    }

    /// Publishes `message` on `channel` (prefixed); returns how many
    /// subscribers received it.
    pub async fn publish(&self, channel: &str, message: &str) -> Result<u64> {
        let channel = self.key(channel);
        let message = message.to_owned();
        self.run(|mut c| async move { c.publish(channel, message).await })
            .await
    }

    /// Subscribes to `channel` (prefixed). The stream ends if the
    /// connection drops (pub/sub is at most once; resubscribe and resync).
    pub async fn subscribe(
        &self,
        channel: &str,
    ) -> Result<impl Stream<Item = String> + Send + Unpin + use<>> {
        let l2 = self.l2()?;
        let channel = self.key(channel);
        // Bounded like every other Redis call: a silent Redis must not hang
        // the caller.
        let subscribed = tokio::time::timeout(l2.redis.timeout() * 4, async {
            let mut pubsub = l2.redis.client().get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        })
        .await;
        let pubsub = match subscribed {
            Ok(Ok(pubsub)) => pubsub,
            Ok(Err(e)) => return Err(err(format!("cannot subscribe: {e}"))),
            Err(_) => return Err(err("cannot subscribe: redis did not answer in time")),
        };
        Ok(pubsub
            .into_on_message()
            .filter_map(|m| futures_util::future::ready(m.get_payload::<String>().ok())))
    }

    /// True while the Redis breaker is open (calls skip Redis).
    pub fn is_redis_suspended(&self) -> bool {
        self.cache.l2.as_ref().is_some_and(|l2| l2.redis.is_open())
    }

    /// Whether Redis answers a PING now.
    pub async fn ping(&self) -> bool {
        match &self.cache.l2 {
            Some(l2) => l2.ping(&self.cache.counters).await,
            None => false,
        }
    }
}
