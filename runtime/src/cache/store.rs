//! The general-purpose cache API on the handle (`db.cache()`), for
//! application data that is not a model: sessions, rate-limit counters,
//! computed results, notifications between processes.
//!
//! It talks to Redis (values as MessagePack), under the handle's key prefix.
//! Unlike the model cache, it reports failures: the caller asked for Redis.
//! Without the `redis` feature only the health probes (`ping`,
//! `is_redis_suspended`) exist: the rest cannot be called, rather than fail.

#[cfg(feature = "redis")]
use std::time::Duration;

#[cfg(feature = "redis")]
use futures_util::{Stream, StreamExt};
#[cfg(feature = "redis")]
use redis::AsyncCommands;
#[cfg(feature = "redis")]
use serde::Serialize;
#[cfg(feature = "redis")]
use serde::de::DeserializeOwned;

use super::Cache;
#[cfg(feature = "redis")]
use super::l2::cluster::slot;
#[cfg(feature = "redis")]
use super::l2::{L2, Route};
#[cfg(feature = "redis")]
use crate::error::{Error, Result};

/// The general cache API; see [`Db::cache`](crate::Db::cache).
#[derive(Debug, Clone, Copy)]
pub struct CacheStore<'a> {
    cache: &'a Cache,
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    prefix: &'a str,
}

#[cfg(feature = "redis")]
fn err(reason: impl Into<String>) -> Error {
    Error::Cache(reason.into())
}

impl<'a> CacheStore<'a> {
    pub(crate) fn new(cache: &'a Cache, prefix: &'a str) -> Self {
        CacheStore { cache, prefix }
    }

    /// True while the Redis breaker is open (calls skip Redis).
    pub fn is_redis_suspended(&self) -> bool {
        self.cache.l2.as_ref().is_some_and(|l2| l2.is_open())
    }

    /// Whether Redis answers a PING now.
    pub async fn ping(&self) -> bool {
        match &self.cache.l2 {
            Some(l2) => l2.ping(&self.cache.counters).await,
            None => false,
        }
    }
}

#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
impl<'a> CacheStore<'a> {
    fn l2(&self) -> Result<&'a L2> {
        self.cache
            .l2
            .as_deref()
            .ok_or_else(|| err("no Redis configured (set REDIS_URL)"))
    }

    fn key(&self, key: &str) -> String {
        format!("{}:app:{key}", self.prefix)
    }

    /// One command to the node serving `key` (on a cluster, its slot's
    /// master).
    async fn run<T, F, Fut>(&self, op: &'static str, key: &str, f: F) -> Result<T>
    where
        F: Fn(redis::aio::MultiplexedConnection) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        self.l2()?
            .raw(op, &self.cache.counters, Route::Key(key), f)
            .await
            .map_err(err)
    }

    /// The positions of `keys`, grouped by slot (one group without a
    /// cluster): a multi-key command must not span slots.
    fn by_slot(&self, keys: &[String]) -> Result<Vec<Vec<usize>>> {
        if !self.l2()?.redis.is_cluster() {
            return Ok(vec![(0..keys.len()).collect()]);
        }
        let mut groups: Vec<(u16, Vec<usize>)> = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            let slot = slot(key);
            match groups.iter_mut().find(|g| g.0 == slot) {
                Some(group) => group.1.push(i),
                None => groups.push((slot, vec![i])),
            }
        }
        Ok(groups.into_iter().map(|g| g.1).collect())
    }

    /// The value stored under `key`, if any.
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        let key = self.key(key);
        let k = &key;
        let bytes: Option<Vec<u8>> = self
            .run("GET", k, |mut c| async move { c.get(k).await })
            .await?;
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
        let (k, bytes) = (&key, &bytes);
        self.run("SET", k, |mut c| async move {
            c.set_ex(k, bytes, ttl.as_secs().max(1)).await
        })
        .await
    }

    /// Removes `key`; true if it existed.
    pub async fn delete(&self, key: &str) -> Result<bool> {
        let key = self.key(key);
        let k = &key;
        let n: i64 = self
            .run("DEL", k, |mut c| async move { c.del(k).await })
            .await?;
        Ok(n > 0)
    }

    /// Whether `key` exists.
    pub async fn exists(&self, key: &str) -> Result<bool> {
        let key = self.key(key);
        let k = &key;
        self.run("EXISTS", k, |mut c| async move { c.exists(k).await })
            .await
    }

    /// Many values in one round trip, in `keys` order (on a cluster, one
    /// `MGET` per slot, sent together).
    pub async fn mget<T: DeserializeOwned>(&self, keys: &[&str]) -> Result<Vec<Option<T>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = keys.iter().map(|k| self.key(k)).collect();
        let groups = self.by_slot(&keys)?;
        let gets = groups.iter().map(|group| {
            let keys: Vec<&str> = group.iter().map(|&i| keys[i].as_str()).collect();
            async move {
                let keys = &keys;
                self.run("MGET", keys[0], |mut c| async move {
                    redis::cmd("MGET")
                        .arg(keys)
                        .query_async::<Vec<Option<Vec<u8>>>>(&mut c)
                        .await
                })
                .await
            }
        });
        let mut values: Vec<Option<Vec<u8>>> = vec![None; keys.len()];
        for (group, got) in groups
            .iter()
            .zip(futures_util::future::join_all(gets).await)
        {
            for (&i, value) in group.iter().zip(got?) {
                values[i] = value;
            }
        }
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

    /// Stores many values, each for `ttl`, in one round trip, atomically
    /// (on a cluster: one transaction per slot, sent together, so only keys
    /// of one slot, such as keys sharing a `{hash tag}`, land together).
    pub async fn mset<T: Serialize>(&self, items: &[(&str, T)], ttl: Duration) -> Result<()> {
        let mut encoded = Vec::with_capacity(items.len());
        let mut keys = Vec::with_capacity(items.len());
        for (k, v) in items {
            encoded
                .push(rmp_serde::to_vec(v).map_err(|e| err(format!("cannot encode value: {e}")))?);
            keys.push(self.key(k));
        }
        let groups = self.by_slot(&keys)?;
        let sets = groups.iter().filter(|g| !g.is_empty()).map(|group| {
            let mut pipe = redis::pipe();
            pipe.atomic();
            for &i in group {
                pipe.set_ex(&keys[i], &encoded[i], ttl.as_secs().max(1))
                    .ignore();
            }
            let (pipe, key) = (pipe, keys[group[0]].as_str());
            async move {
                let pipe = &pipe;
                self.run("MULTI SET", key, |mut c| async move {
                    pipe.query_async::<()>(&mut c).await
                })
                .await
            }
        });
        futures_util::future::join_all(sets)
            .await
            .into_iter()
            .collect()
    }

    /// Adds `by` to the integer at `key` (0 if absent) and returns the result.
    pub async fn incr(&self, key: &str, by: i64) -> Result<i64> {
        let key = self.key(key);
        let k = &key;
        self.run("INCRBY", k, |mut c| async move { c.incr(k, by).await })
            .await
    }

    /// Publishes `message` on `channel` (prefixed); returns how many
    /// subscribers received it. On a Redis Cluster the message reaches
    /// every subscriber, but the count is the node's own (Redis's rule):
    /// subscribers made through [`CacheStore::subscribe`] are on the node a
    /// publish goes to, so they are counted until a failover moves it.
    pub async fn publish(&self, channel: &str, message: &str) -> Result<u64> {
        let channel = self.key(channel);
        let ch = &channel;
        self.run("PUBLISH", ch, |mut c| async move {
            c.publish(ch, message).await
        })
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
            let client = l2
                .redis
                .subscriber_for(&channel, &self.cache.counters)
                .await;
            let mut pubsub = client.get_async_pubsub().await?;
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
}
