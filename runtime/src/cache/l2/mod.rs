//! The shared tier's store: the model cache's rows and lists in Redis.
//!
//! Every model-cache operation is one round trip: a Lua script reads the
//! model's generation counters and the entry together, and a fill only
//! lands if the write generation it was loaded under is still current (the
//! "no stale set" rule, checked atomically on the server). Invalidations
//! bump the generations, drop the row and tell the other processes.
//!
//! Every model-cache key carries the epoch (`<prefix>:e<epoch>:<table>:..`,
//! see `lease/`): a new epoch retires all of them at once. A call for the
//! model cache names the epoch it was snapshotted under and is not sent if
//! its connection's server was verified under a newer one.
//!
//! The Redis connection, breaker and timeouts are `client.rs`'s; what is
//! re-sent after an outage is `replay.rs`'s; the reads and fills are
//! `entries.rs`'s. Every call here goes through [`L2::call_result`], which
//! checks a new connection's server, then replays missed invalidations
//! before the caller's own command, so a read never sees an entry a
//! replayed write retires.

mod client;
pub(crate) mod cluster;
mod connect;
mod entries;
mod identity;
mod map;
mod replay;
mod scripts;

pub(crate) use client::{RedisClient, Route};
pub(crate) use replay::replay_missed;

use std::time::Duration;

use redis::AsyncCommands;
use redis::aio::MultiplexedConnection;
use scripts::Scripts;

use super::lease::Lease;
use super::pubsub::Acks;
use super::{CacheCounters, Invalidation};
use client::Checkout;
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
    /// The write generation last seen, per table: the key of a cached list.
    list_gens: std::sync::RwLock<std::collections::HashMap<String, String>>,
    /// The epoch, and the check of a new connection's server.
    lease: std::sync::Arc<Lease>,
    /// The longest TTL stored, in seconds (see [`L2::generation_ttl`]).
    longest_ttl: std::sync::atomic::AtomicU64,
    /// The last epoch's key prefix (see [`L2::with_base`]).
    bases: std::sync::RwLock<(u64, String)>,
}

/// `(wgen, bytes)`: an entry and the write generation it was read under.
type Entry = (String, Option<Vec<u8>>);

/// A fill's guard: the epoch and write generation read before the load.
pub(crate) type Snap = (u64, String);

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
        cluster: bool,
        prefix: String,
        instance: u64,
        timeout: Duration,
        lease: std::sync::Arc<Lease>,
        tls: Option<&crate::tls::RedisTls>,
    ) -> Result<L2, redis::RedisError> {
        Ok(L2 {
            prefix,
            instance,
            redis: RedisClient::new(url, cluster, timeout, tls)?,
            replay: Replay::default(),
            acks: Acks::new(timeout),
            row_gens: std::sync::RwLock::default(),
            list_gens: std::sync::RwLock::default(),
            scripts: Scripts::new(),
            lease,
            longest_ttl: std::sync::atomic::AtomicU64::new(0),
            bases: std::sync::RwLock::new((0, String::new())),
        })
    }

    /// How long a generation key lives after a write bumped it, in
    /// seconds: longer than any entry under an older generation can (a
    /// day, or the longest TTL this process stored, if longer), so a
    /// generation that expired back to 0 cannot bring an old entry back.
    fn generation_ttl(&self) -> u64 {
        self.longest_ttl
            .load(std::sync::atomic::Ordering::Relaxed)
            .max(86_400)
            + 60
    }

    /// Notes that an entry was stored for `ttl` (see [`L2::generation_ttl`]).
    fn stored_for(&self, ttl: Duration) {
        self.longest_ttl
            .fetch_max(ttl.as_secs(), std::sync::atomic::Ordering::Relaxed);
    }

    /// Runs `f` on the key prefix under `epoch`, formatted once per epoch
    /// (a row hit then builds its keys without formatting a number).
    pub(super) fn with_base<R>(&self, epoch: u64, f: impl FnOnce(&str) -> R) -> R {
        if let Ok(cached) = self.bases.read()
            && cached.0 == epoch
            && !cached.1.is_empty()
        {
            return f(&cached.1);
        }
        let base = format!("{}:e{epoch}", self.prefix);
        let out = f(&base);
        if let Ok(mut cached) = self.bases.write() {
            *cached = (epoch, base);
        }
        out
    }

    /// True while a Redis node's breaker refuses calls (on a cluster, any
    /// master's: reads of its slots fall through to PostgreSQL).
    pub(crate) fn is_open(&self) -> bool {
        self.redis.is_open()
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

    /// Sends an acknowledgement of `seq` to the process `to`, naming this
    /// process and the epoch it is on (`seq|instance|epoch`).
    pub(crate) async fn acknowledge(&self, to: &str, seq: &str, counters: &CacheCounters) {
        let channel = self.ack_channel(to);
        let ack = format!("{seq}|{}|{}", self.instance, self.lease.epoch());
        self.call(
            "PUBLISH",
            counters,
            None,
            Route::Key(&channel.clone()),
            |mut conn| async move { conn.publish::<_, _, i64>(channel, ack).await },
        )
        .await;
    }

    /// Publishes a heartbeat (`hb|<sent>`) to this process's own ack channel.
    pub(crate) async fn heartbeat(&self, sent: u64, counters: &CacheCounters) {
        let channel = self.ack_channel(&self.instance.to_string());
        self.call(
            "PUBLISH",
            counters,
            None,
            Route::Key(&channel.clone()),
            |mut conn| async move {
                conn.publish::<_, _, i64>(channel, format!("hb|{sent}"))
                    .await
            },
        )
        .await;
    }

    /// One call on `route`: `None` when Redis is unavailable (breaker
    /// open, no connection, I/O error, timeout), `Some(Err)` when Redis
    /// answered with an error. With `epoch` (a model-cache call), `None`
    /// also when the server cannot be verified or was verified under a
    /// newer epoch. Invalidations Redis missed are replayed first.
    async fn call_result<T, F, Fut>(
        &self,
        op: &'static str,
        counters: &CacheCounters,
        epoch: Option<u64>,
        route: Route<'_>,
        f: F,
    ) -> Option<redis::RedisResult<T>>
    where
        F: FnOnce(MultiplexedConnection) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let checkout = self.redis.checkout(counters, route).await?;
        if let Some(epoch) = epoch {
            let verified = match checkout.verified {
                Some(v) => v,
                None => self.verify(&checkout, counters).await?,
            };
            if epoch < verified {
                return None;
            }
        }
        if self.replay.has_pending() && !self.replay_pending(&checkout, counters).await {
            return None;
        }
        let Checkout {
            conn, node, probe, ..
        } = checkout;
        self.redis.run(op, &node, probe, counters, f(conn)).await
    }

    /// Sends the invalidations Redis missed, each to its table's node (on
    /// a standalone Redis, on `checkout`'s connection); false if some did
    /// not land.
    async fn replay_pending(&self, checkout: &Checkout, counters: &CacheCounters) -> bool {
        let send = |inv: &Invalidation| {
            let inv = inv.clone();
            let epoch = self.lease.epoch();
            let same = self.redis.map.is_none().then(|| checkout.conn.clone());
            async move {
                let mut conn = match same {
                    Some(conn) => conn,
                    None => {
                        let tag = self.with_base(epoch, |base| scripts::tag(base, inv.table));
                        let other = self.redis.checkout(counters, Route::Key(&tag)).await;
                        match other {
                            Some(other) => other.conn,
                            None => {
                                return Err(redis::RedisError::from(std::io::Error::other(
                                    "the table's node is unreachable",
                                )));
                            }
                        }
                    }
                };
                self.invalidate_seq(&mut conn, &inv, 0, epoch)
                    .await
                    .map(|_| ())
            }
        };
        let sent = self.replay.run(self.redis.timeout(), counters, send).await;
        if !sent {
            let cause = "replaying missed invalidations failed".into();
            self.redis.lost(&checkout.node, counters, cause);
        }
        sent
    }

    /// [`L2::call_result`] for the model cache, where any failure means
    /// "fall through to PostgreSQL".
    async fn call<T, F, Fut>(
        &self,
        op: &'static str,
        counters: &CacheCounters,
        epoch: Option<u64>,
        route: Route<'_>,
        f: F,
    ) -> Option<T>
    where
        F: FnOnce(MultiplexedConnection) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        self.call_result(op, counters, epoch, route, f)
            .await
            .and_then(Result::ok)
    }

    /// Runs the invalidation script under `epoch` with message number
    /// `seq`; returns how many subscribers received the message.
    async fn invalidate_seq(
        &self,
        conn: &mut MultiplexedConnection,
        inv: &Invalidation,
        seq: u64,
        epoch: u64,
    ) -> redis::RedisResult<usize> {
        let message = inv.message(self.instance, seq);
        let (mode, row) = inv.mode();
        let rgen = self.row_gen(inv.table);
        let tag = self.with_base(epoch, |base| scripts::tag(base, inv.table));
        let (reached, now): (usize, String) = self
            .scripts
            .invalidate
            .key(format!("{tag}:wgen"))
            .key(format!("{tag}:rgen"))
            .key(format!("{tag}:r{rgen}:{row}"))
            .arg(mode)
            .arg(rgen)
            .arg(message)
            .arg(self.channel())
            .arg(self.generation_ttl())
            .invoke_async(conn)
            .await?;
        if let Ok(now) = now.parse() {
            self.saw_row_gen(inv.table, now);
        }
        Ok(reached)
    }

    /// Bumps the generations, drops the row and tells the other processes,
    /// then waits (bounded by the Redis timeout) until every member in
    /// `members` and every process that received the message has dropped
    /// its L1 entry. True only then: the caller must otherwise retire every
    /// entry (see `lease/`). If Redis cannot be reached, remembers the
    /// invalidation for replay.
    ///
    /// An acknowledgement names the epoch its sender is on: a process that
    /// has moved to a newer epoch than this one knows may have filled L2
    /// under it, so the script runs again under that epoch.
    pub(crate) async fn invalidate(
        &self,
        inv: &Invalidation,
        members: Option<Vec<u64>>,
        counters: &CacheCounters,
    ) -> bool {
        let message = self.acks.expect(self.instance);
        let seq = message.seq;
        let epoch = self.lease.epoch();
        let tag = self.with_base(epoch, |base| scripts::tag(base, inv.table));
        let done = self
            .call(
                "EVALSHA invalidate",
                counters,
                Some(epoch),
                Route::Key(&tag),
                |mut conn| async move { self.invalidate_seq(&mut conn, inv, seq, epoch).await },
            )
            .await;
        let (delivered, newest) = self.acks.wait(message, done, members).await;
        if done.is_none() {
            self.replay.remember(inv);
        }
        if delivered && newest > epoch {
            let tag = self.with_base(newest, |base| scripts::tag(base, inv.table));
            return self
                .call(
                    "EVALSHA invalidate",
                    counters,
                    Some(newest),
                    Route::Key(&tag),
                    |mut conn| async move { self.invalidate_seq(&mut conn, inv, 0, newest).await },
                )
                .await
                .is_some();
        }
        delivered
    }

    /// A plain command for the general cache API, to `route`; errors are
    /// returned. A command the cluster redirected (its slot moved) is sent
    /// once more, to the slot's master in the map read since.
    pub(crate) async fn raw<T, F, Fut>(
        &self,
        op: &'static str,
        counters: &CacheCounters,
        route: Route<'_>,
        f: F,
    ) -> Result<T, String>
    where
        F: Fn(MultiplexedConnection) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let mut result = self.call_result(op, counters, None, route, &f).await;
        if let Some(Err(err)) = &result
            && self.redis.map.is_some()
            && cluster::is_redirect(err)
        {
            result = self.call_result(op, counters, None, route, &f).await;
        }
        match result {
            Some(Ok(v)) => Ok(v),
            Some(Err(err)) => Err(format!("redis refused the command: {err}")),
            None if self.redis.is_open() => Err("redis is unreachable (breaker open)".into()),
            None => Err("redis call failed".into()),
        }
    }

    /// Pings Redis (health checks): every master, on a cluster.
    pub(crate) async fn ping(&self, counters: &CacheCounters) -> bool {
        let masters = self.redis.masters(counters).await;
        let pings = masters.iter().map(|addr| {
            self.call(
                "PING",
                counters,
                None,
                Route::Node(addr),
                |mut conn| async move { conn.ping::<String>().await },
            )
        });
        !masters.is_empty()
            && futures_util::future::join_all(pings)
                .await
                .iter()
                .all(Option::is_some)
    }
}
