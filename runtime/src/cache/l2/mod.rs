//! The shared tier's store: the model cache's rows and lists in Redis.
//!
//! Every model-cache operation is one round trip: a Lua script reads the
//! model's generation counters and the entry together, and a fill only
//! lands if the write generation it was loaded under is still current (the
//! "no stale set" rule, checked atomically on the server). Invalidations
//! bump the generations, drop the row and tell the other processes.
//!
//! The Redis connection, breaker and timeouts are `client.rs`'s; what is
//! re-sent after an outage is `replay.rs`'s. Every call here goes through
//! [`L2::call_result`], which replays missed invalidations before the
//! caller's own command, so a read never sees an entry a replayed write
//! retires.

mod client;
mod replay;
mod scripts;

pub(crate) use client::RedisClient;
pub(crate) use replay::replay_missed;

use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Script};
use scripts::Scripts;

use super::pubsub::Acks;
use super::{CacheCounters, Invalidation};
use replay::Replay;

/// The model cache in Redis; see the module docs.
pub(crate) struct L2 {
    /// Key prefix: app and schema, so tenants of one Redis never collide.
    prefix: String,
    /// This process's id in invalidation messages, to skip its own.
    instance: u64,
    /// The client: its breaker, its timeout, connections for subscribers.
    pub(crate) redis: RedisClient,
    replay: Replay,
    /// The acknowledgements of this process's invalidation messages.
    pub(crate) acks: Acks,
    scripts: Scripts,
    /// The row generation last seen in Redis, per table: what lets a row
    /// read be one `MGET` instead of a script (see [`L2::get_row`]).
    row_gens: std::sync::RwLock<std::collections::HashMap<String, u64>>,
}

/// `(wgen, bytes)`: an entry and the write generation it was read under.
type Entry = (String, Option<Vec<u8>>);

impl std::fmt::Debug for L2 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("L2")
            .field("breaker_open", &self.redis.is_open())
            .finish_non_exhaustive()
    }
}

impl L2 {
    pub(crate) fn new(
        url: &str,
        prefix: String,
        instance: u64,
        timeout: Duration,
        tls: Option<&crate::tls::RedisTls>,
    ) -> Result<L2, redis::RedisError> {
        Ok(L2 {
            prefix,
            instance,
            redis: RedisClient::new(url, timeout, tls)?,
            replay: Replay::default(),
            acks: Acks::new(timeout),
            row_gens: std::sync::RwLock::default(),
            scripts: Scripts::new(),
        })
    }

    /// Why Redis last failed, since it last answered.
    pub(crate) fn last_cause(&self) -> Option<String> {
        self.redis.last_cause()
    }

    /// The channel invalidation messages go out on.
    pub(crate) fn channel(&self) -> String {
        format!("{}:invalidations", self.prefix)
    }

    /// The channel on which other processes acknowledge `instance`'s
    /// invalidations.
    pub(crate) fn ack_channel(&self, instance: &str) -> String {
        format!("{}:acks:{instance}", self.prefix)
    }

    pub(crate) fn instance(&self) -> u64 {
        self.instance
    }

    /// Whether invalidations are waiting to be replayed.
    pub(crate) fn has_pending(&self) -> bool {
        self.replay.has_pending()
    }

    /// Sends an acknowledgement of `seq` to the process `to`.
    pub(crate) async fn acknowledge(&self, to: &str, seq: &str, counters: &CacheCounters) {
        let channel = self.ack_channel(to);
        let seq = seq.to_owned();
        self.call(counters, |mut conn| async move {
            conn.publish::<_, _, i64>(channel, seq).await
        })
        .await;
    }

    /// One call: `None` when Redis is unavailable (breaker open, no
    /// connection, I/O error, timeout), `Some(Err)` when Redis answered
    /// with an error. Invalidations Redis missed are replayed first.
    async fn call_result<T, F, Fut>(
        &self,
        counters: &CacheCounters,
        f: F,
    ) -> Option<redis::RedisResult<T>>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let (conn, probe) = self.redis.checkout(counters).await?;
        if self.replay.has_pending() {
            let send = |inv: &Invalidation| {
                let (mut conn, inv) = (conn.clone(), inv.clone());
                async move { self.invalidate_seq(&mut conn, &inv, 0).await.map(|_| ()) }
            };
            let sent = self.replay.run(self.redis.timeout(), counters, send).await;
            if !sent {
                let cause = "replaying missed invalidations failed".into();
                self.redis.lost(counters, cause);
                return None;
            }
        }
        self.redis.run(probe, counters, f(conn)).await
    }

    /// [`L2::call_result`] for the model cache, where any failure means
    /// "fall through to PostgreSQL".
    async fn call<T, F, Fut>(&self, counters: &CacheCounters, f: F) -> Option<T>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        self.call_result(counters, f).await.and_then(Result::ok)
    }

    /// Runs the invalidation script with message number `seq`; returns how
    /// many subscribers received the message.
    async fn invalidate_seq(
        &self,
        conn: &mut ConnectionManager,
        inv: &Invalidation,
        seq: u64,
    ) -> redis::RedisResult<usize> {
        let message = inv.message(self.instance, seq);
        let (mode, row) = inv.mode();
        self.scripts
            .invalidate
            .arg(&self.prefix)
            .arg(inv.table)
            .arg(mode)
            .arg(row)
            .arg(message)
            .invoke_async(conn)
            .await
    }

    /// Bumps the generations, drops the row and tells the other processes,
    /// then waits (bounded by the Redis timeout) until every process that
    /// received the message has dropped its L1 entry, so a read anywhere
    /// after the write returns sees the write. If Redis cannot be reached,
    /// remembers the invalidation for replay.
    pub(crate) async fn invalidate(&self, inv: &Invalidation, counters: &CacheCounters) {
        let message = self.acks.expect();
        let seq = message.seq;
        let done = self
            .call(counters, |mut conn| async move {
                self.invalidate_seq(&mut conn, inv, seq).await
            })
            .await;
        self.acks.wait(message, done).await;
        if done.is_none() {
            self.replay.remember(inv);
        }
    }

    /// `(wgen, bytes)` of one row.
    ///
    /// One `MGET` of the row generation, the write generation and the row
    /// under the row generation last seen: when the generation read back is
    /// that one, the three values are a consistent snapshot (`MGET` is
    /// atomic), exactly what the `GET_ROW` script returns, without running
    /// Lua on the server. A generation that moved is remembered and tried
    /// once more; after that the script answers.
    pub(crate) async fn get_row(
        &self,
        table: &str,
        row: &str,
        counters: &CacheCounters,
    ) -> Option<Entry> {
        for _ in 0..2 {
            let rgen = self.row_gen(table);
            let (keys, [k1, k2, k3]) = self.row_keys(table, rgen, row);
            let (now, wgen, value): (Option<String>, Option<String>, Option<Vec<u8>>) = self
                .call(counters, |mut conn| async move {
                    redis::cmd("MGET")
                        .arg(&keys[k1])
                        .arg(&keys[k2])
                        .arg(&keys[k3])
                        .query_async(&mut conn)
                        .await
                })
                .await?;
            let Some(now) = now.as_deref().map_or(Some(0), |n| n.parse::<u64>().ok()) else {
                break;
            };
            if now == rgen {
                return Some((wgen.unwrap_or_else(|| "0".to_owned()), value));
            }
            if let Ok(mut gens) = self.row_gens.write() {
                gens.insert(table.to_owned(), now);
            }
        }
        self.get_entry(&self.scripts.get_row, table, row, counters)
            .await
    }

    /// `(wgen, bytes)` of a cached list.
    pub(crate) async fn get_list(
        &self,
        table: &str,
        hash: &str,
        counters: &CacheCounters,
    ) -> Option<Entry> {
        self.get_entry(&self.scripts.get_list, table, hash, counters)
            .await
    }

    /// Runs `GET_ROW` or `GET_LIST` (which take the same arguments).
    async fn get_entry(
        &self,
        script: &Script,
        table: &str,
        key: &str,
        counters: &CacheCounters,
    ) -> Option<Entry> {
        self.call(counters, |mut conn| async move {
            script
                .arg(&self.prefix)
                .arg(table)
                .arg(key)
                .invoke_async::<Entry>(&mut conn)
                .await
        })
        .await
    }

    /// The row generation of `table` last seen in Redis (0 before any).
    fn row_gen(&self, table: &str) -> u64 {
        self.row_gens
            .read()
            .ok()
            .and_then(|gens| gens.get(table).copied())
            .unwrap_or(0)
    }

    /// `<base>:rgen`, `<base>:wgen` and `<base>:r<rgen>:<row>` (the keys
    /// the `GET_ROW` script reads), written into one buffer.
    fn row_keys(&self, table: &str, rgen: u64, row: &str) -> (String, [std::ops::Range<usize>; 3]) {
        use std::fmt::Write as _;
        let base = self.prefix.len() + 1 + table.len();
        let mut keys = String::with_capacity(3 * base + row.len() + 32);
        let key = |keys: &mut String, tail: &dyn Fn(&mut String)| {
            let start = keys.len();
            keys.push_str(&self.prefix);
            keys.push(':');
            keys.push_str(table);
            tail(keys);
            start..keys.len()
        };
        let k1 = key(&mut keys, &|k| k.push_str(":rgen"));
        let k2 = key(&mut keys, &|k| k.push_str(":wgen"));
        let k3 = key(&mut keys, &|k| {
            let _ = write!(k, ":r{rgen}:{row}");
        });
        (keys, [k1, k2, k3])
    }

    /// `(wgen, [bytes])` of many rows, in one round trip.
    pub(crate) async fn get_rows(
        &self,
        table: &str,
        rows: &[String],
        counters: &CacheCounters,
    ) -> Option<(String, Vec<Option<Vec<u8>>>)> {
        self.call(counters, |mut conn| async move {
            let mut inv = self.scripts.get_rows.arg(&self.prefix);
            inv.arg(table);
            for r in rows {
                inv.arg(r);
            }
            let mut out: Vec<redis::Value> = inv.invoke_async(&mut conn).await?;
            if out.is_empty() {
                return Ok((String::from("0"), Vec::new()));
            }
            let wgen: String = redis::FromRedisValue::from_redis_value(out.remove(0))?;
            let values = out
                .into_iter()
                .map(|v| match v {
                    redis::Value::BulkString(b) => Some(b),
                    _ => None,
                })
                .collect();
            Ok((wgen, values))
        })
        .await
    }

    /// Stores rows if the write generation is still `wgen`.
    pub(crate) async fn set_rows(
        &self,
        table: &str,
        wgen: &str,
        ttl: Duration,
        rows: &[(String, Vec<u8>)],
        counters: &CacheCounters,
    ) -> bool {
        if rows.is_empty() {
            return true;
        }
        self.call(counters, |mut conn| async move {
            let mut inv = self.scripts.set_rows.arg(&self.prefix);
            inv.arg(table).arg(wgen).arg(ttl.as_secs().max(1));
            for (k, v) in rows {
                inv.arg(k).arg(v.as_slice());
            }
            inv.invoke_async::<i64>(&mut conn).await
        })
        .await
            == Some(1)
    }

    /// Stores a list if the write generation is still `wgen`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn set_list(
        &self,
        table: &str,
        wgen: &str,
        ttl: Duration,
        hash: &str,
        bytes: &[u8],
        counters: &CacheCounters,
    ) -> bool {
        self.call(counters, |mut conn| async move {
            self.scripts
                .set_list
                .arg(&self.prefix)
                .arg(table)
                .arg(wgen)
                .arg(ttl.as_secs().max(1))
                .arg(hash)
                .arg(bytes)
                .invoke_async::<i64>(&mut conn)
                .await
        })
        .await
            == Some(1)
    }

    /// A plain command for the general cache API; errors are returned.
    pub(crate) async fn raw<T, F, Fut>(&self, counters: &CacheCounters, f: F) -> Result<T, String>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        match self.call_result(counters, f).await {
            Some(Ok(v)) => Ok(v),
            Some(Err(err)) => Err(format!("redis refused the command: {err}")),
            None if self.redis.is_open() => Err("redis is unreachable (breaker open)".into()),
            None => Err("redis call failed".into()),
        }
    }

    /// Pings Redis (health checks).
    pub(crate) async fn ping(&self, counters: &CacheCounters) -> bool {
        self.call(
            counters,
            |mut conn| async move { conn.ping::<String>().await },
        )
        .await
        .is_some()
    }
}
