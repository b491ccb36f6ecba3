//! The shared tier: Redis, behind a breaker and a per-call timeout.
//!
//! Every model-cache operation is one round trip: a Lua script reads the
//! model's generation counters and the entry together, and a fill only
//! lands if the write generation it was loaded under is still current (the
//! "no stale set" rule, checked atomically on the server). Invalidations
//! that cannot reach Redis are remembered and replayed as soon as Redis
//! answers again, before any other call, so a write made while Redis was
//! down cannot leave a stale entry behind once it is back.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Script};

use super::{CacheCounters, Invalidation};
use crate::breaker::Breaker;

/// Lets another call probe if a half-open probe is dropped before its verdict.
struct ProbeGuard<'a>(&'a Breaker);

impl Drop for ProbeGuard<'_> {
    fn drop(&mut self) {
        self.0.abandon_probe();
    }
}
use crate::observe::counters::bump;

/// Invalidations kept for replay while Redis is unreachable.
const MAX_PENDING: usize = 10_000;

/// `KEYS`: none. `ARGV`: prefix, table, row key. Returns
/// `{wgen, value-or-false}` for the row under the current row generation.
const GET_ROW: &str = r"
local base = ARGV[1] .. ':' .. ARGV[2]
local rgen = redis.call('GET', base .. ':rgen') or '0'
local wgen = redis.call('GET', base .. ':wgen') or '0'
return {wgen, redis.call('GET', base .. ':r' .. rgen .. ':' .. ARGV[3])}
";

/// `ARGV`: prefix, table, row keys... Returns `{wgen, v1, v2, ...}`.
const GET_ROWS: &str = r"
local base = ARGV[1] .. ':' .. ARGV[2]
local rgen = redis.call('GET', base .. ':rgen') or '0'
local out = {redis.call('GET', base .. ':wgen') or '0'}
for i = 3, #ARGV do
  out[#out + 1] = redis.call('GET', base .. ':r' .. rgen .. ':' .. ARGV[i])
end
return out
";

/// `ARGV`: prefix, table, wgen snapshot, ttl secs, then (row key, value)
/// pairs. Stores them only if no write happened since the snapshot (a
/// snapshot of `*` skips the check; only the stale-set test uses it).
const SET_ROWS: &str = r"
local base = ARGV[1] .. ':' .. ARGV[2]
if ARGV[3] ~= '*' and (redis.call('GET', base .. ':wgen') or '0') ~= ARGV[3] then return 0 end
local rgen = redis.call('GET', base .. ':rgen') or '0'
for i = 5, #ARGV, 2 do
  redis.call('SET', base .. ':r' .. rgen .. ':' .. ARGV[i], ARGV[i + 1], 'EX', ARGV[4])
end
return 1
";

/// `ARGV`: prefix, table, query hash. Returns `{wgen, value-or-false}`.
const GET_LIST: &str = r"
local base = ARGV[1] .. ':' .. ARGV[2]
local wgen = redis.call('GET', base .. ':wgen') or '0'
return {wgen, redis.call('GET', base .. ':q' .. wgen .. ':' .. ARGV[3])}
";

/// `ARGV`: prefix, table, wgen snapshot, ttl, query hash, value.
const SET_LIST: &str = r"
local base = ARGV[1] .. ':' .. ARGV[2]
if (redis.call('GET', base .. ':wgen') or '0') ~= ARGV[3] then return 0 end
redis.call('SET', base .. ':q' .. ARGV[3] .. ':' .. ARGV[5], ARGV[6], 'EX', ARGV[4])
return 1
";

/// `ARGV`: prefix, table, mode (`row`, `lists`, `all`), row key, message.
/// Bumps the write generation (every cached list goes stale), drops the row
/// (`row`) or bumps the row generation (`all`), and tells the other
/// processes; returns how many subscribers received the message.
const INVALIDATE: &str = r"
local base = ARGV[1] .. ':' .. ARGV[2]
redis.call('INCR', base .. ':wgen')
if ARGV[3] == 'all' then
  redis.call('INCR', base .. ':rgen')
elseif ARGV[3] == 'row' then
  local rgen = redis.call('GET', base .. ':rgen') or '0'
  redis.call('DEL', base .. ':r' .. rgen .. ':' .. ARGV[4])
end
return redis.call('PUBLISH', ARGV[1] .. ':invalidations', ARGV[5])
";

pub(crate) struct L2 {
    /// Key prefix: app and schema, so tenants of one Redis never collide.
    prefix: String,
    /// This process's id in invalidation messages, to skip its own.
    instance: u64,
    client: redis::Client,
    conn: Mutex<Option<ConnectionManager>>,
    breaker: Breaker,
    timeout: Duration,
    pending: Mutex<Pending>,
    /// Whether `pending` holds anything: checked (one load) before every call.
    has_pending: std::sync::atomic::AtomicBool,
    scripts: Scripts,
    /// Invalidation message sequence numbers, for acknowledgements.
    seq: std::sync::atomic::AtomicU64,
    /// Acknowledgements still awaited, by sequence number.
    acks: Mutex<std::collections::HashMap<u64, Ack>>,
    /// How long a write waits for other processes to acknowledge.
    ack_timeout: Duration,
    /// Whether this process's subscriber is connected (it receives the acks).
    listening: std::sync::atomic::AtomicBool,
    /// The row generation last seen in Redis, per table: what lets a row
    /// read be one `MGET` instead of a script (see [`L2::get_row`]).
    row_gens: std::sync::RwLock<std::collections::HashMap<String, u64>>,
}

struct Ack {
    received: usize,
    notify: std::sync::Arc<tokio::sync::Notify>,
}

#[derive(Default)]
struct Pending {
    rows: Vec<Invalidation>,
    /// Tables whose row invalidations overflowed: replayed as "every row".
    overflowed: HashSet<&'static str>,
}

struct Scripts {
    get_row: Script,
    get_rows: Script,
    set_rows: Script,
    get_list: Script,
    set_list: Script,
    invalidate: Script,
}

impl std::fmt::Debug for L2 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("L2")
            .field("breaker_open", &self.breaker.is_open())
            .finish_non_exhaustive()
    }
}

impl L2 {
    pub(crate) fn new(
        url: &str,
        prefix: String,
        instance: u64,
        timeout: Duration,
    ) -> Result<L2, redis::RedisError> {
        Ok(L2 {
            prefix,
            instance,
            client: redis::Client::open(url)?,
            conn: Mutex::new(None),
            breaker: Breaker::new(3, Duration::from_millis(500)),
            timeout,
            pending: Mutex::new(Pending::default()),
            has_pending: std::sync::atomic::AtomicBool::new(false),
            seq: std::sync::atomic::AtomicU64::new(1),
            acks: Mutex::new(std::collections::HashMap::new()),
            ack_timeout: timeout,
            listening: std::sync::atomic::AtomicBool::new(false),
            row_gens: std::sync::RwLock::default(),
            scripts: Scripts {
                get_row: Script::new(GET_ROW),
                get_rows: Script::new(GET_ROWS),
                set_rows: Script::new(SET_ROWS),
                get_list: Script::new(GET_LIST),
                set_list: Script::new(SET_LIST),
                invalidate: Script::new(INVALIDATE),
            },
        })
    }

    pub(crate) fn client(&self) -> &redis::Client {
        &self.client
    }

    /// The bound on one Redis call.
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
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

    /// Whether invalidations are waiting to be replayed.
    pub(crate) fn has_pending(&self) -> bool {
        self.has_pending.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Set by the subscriber task as it connects and disconnects.
    pub(crate) fn set_listening(&self, yes: bool) {
        self.listening
            .store(yes, std::sync::atomic::Ordering::Release);
    }

    /// Records one acknowledgement of message `seq`.
    pub(crate) fn acknowledged(&self, seq: u64) {
        if let Ok(mut acks) = self.acks.lock()
            && let Some(ack) = acks.get_mut(&seq)
        {
            ack.received += 1;
            ack.notify.notify_one();
        }
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

    pub(crate) fn instance(&self) -> u64 {
        self.instance
    }

    /// True while the breaker refuses calls.
    pub(crate) fn is_open(&self) -> bool {
        self.breaker.is_open()
    }

    /// A connection, if the breaker allows a call and Redis can be reached.
    ///
    /// When this call is the breaker's half-open probe, the guard returned
    /// with the connection lets another call probe if this one is dropped
    /// before its verdict (else the breaker would stay half-open for good).
    async fn connection(
        &self,
        counters: &CacheCounters,
    ) -> Option<(ConnectionManager, Option<ProbeGuard<'_>>)> {
        if !self.breaker.allow() {
            return None;
        }
        let probe = (self.breaker.state() == crate::breaker::BreakerState::HalfOpen)
            .then(|| ProbeGuard(&self.breaker));
        if let Some(conn) = self.conn.lock().ok().and_then(|c| c.clone()) {
            return Some((conn, probe));
        }
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(1);
        match tokio::time::timeout(
            self.timeout * 2,
            self.client.get_connection_manager_with_config(config),
        )
        .await
        {
            Ok(Ok(conn)) => {
                if let Ok(mut slot) = self.conn.lock() {
                    *slot = Some(conn.clone());
                }
                Some((conn, probe))
            }
            Ok(Err(err)) => {
                let auth = err.kind() == redis::ErrorKind::AuthenticationFailed
                    || matches!(err.code(), Some("WRONGPASS" | "NOAUTH"));
                let cause = if auth {
                    format!("authentication failed (check the credentials in REDIS_URL): {err}")
                } else {
                    format!("cannot connect: {err}")
                };
                self.failed(counters, cause);
                None
            }
            Err(_) => {
                let cause = format!("no answer within {:?} while connecting", self.timeout * 2);
                self.failed(counters, cause);
                None
            }
        }
    }

    /// A connect or call failed: feeds the breaker with the cause, which
    /// health reports, and logs it when it differs from the last one (so
    /// an outage logs once, not once per call).
    fn failed(&self, counters: &CacheCounters, cause: String) {
        bump(&counters.redis_errors);
        let err: Box<dyn std::error::Error + Send + Sync> = cause.into();
        if self.breaker.failure(&*err).as_deref() != Some(&err.to_string()) {
            tracing::warn!(error = %err, "redis failed; cached reads fall through to postgres");
        }
    }

    /// Why Redis last failed, since it last answered.
    pub(crate) fn last_cause(&self) -> Option<String> {
        self.breaker.last_cause()
    }

    /// Runs one call with the timeout, feeding the breaker: `None` when
    /// Redis is unavailable (breaker open, no connection, I/O error, timeout),
    /// `Some(Err)` when Redis answered with an error (the connection is fine).
    ///
    /// Invalidations Redis missed are replayed first, before the caller's
    /// own command, so a read never sees an entry a replayed write retires.
    async fn call_result<T, F, Fut>(
        &self,
        counters: &CacheCounters,
        f: F,
    ) -> Option<redis::RedisResult<T>>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let (conn, _probe) = self.connection(counters).await?;
        if self.has_pending.load(std::sync::atomic::Ordering::Acquire)
            && !self.replay(conn.clone(), counters).await
        {
            self.lost(counters, "replaying missed invalidations failed".into());
            return None;
        }
        match tokio::time::timeout(self.timeout, f(conn)).await {
            Ok(Ok(value)) => {
                self.breaker.success();
                Some(Ok(value))
            }
            Ok(Err(err))
                if !(err.is_io_error()
                    || err.is_timeout()
                    || err.is_connection_dropped()
                    || err.is_connection_refusal()) =>
            {
                // Redis answered (WRONGTYPE, a script error): not an outage.
                self.breaker.success();
                bump(&counters.redis_errors);
                Some(Err(err))
            }
            Ok(Err(err)) => {
                tracing::debug!(error = %err, "redis call failed; falling through");
                self.lost(counters, format!("call failed: {err}"));
                None
            }
            Err(_) => {
                tracing::debug!("redis call timed out; falling through");
                self.lost(counters, format!("no answer within {:?}", self.timeout));
                None
            }
        }
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

    /// An I/O failure or timeout: feed the breaker and drop the connection,
    /// so the next call connects afresh instead of reusing one that may be
    /// stalled or half-closed.
    fn lost(&self, counters: &CacheCounters, cause: String) {
        self.failed(counters, cause);
        if let Ok(mut slot) = self.conn.lock() {
            *slot = None;
        }
    }

    /// Replays the invalidations Redis missed; false if some still failed
    /// (they stay pending).
    async fn replay(&self, mut conn: ConnectionManager, counters: &CacheCounters) -> bool {
        let pending = match self.pending.lock() {
            Ok(mut p) => {
                self.has_pending
                    .store(false, std::sync::atomic::Ordering::Release);
                std::mem::take(&mut *p)
            }
            Err(_) => return false,
        };
        if pending.rows.is_empty() && pending.overflowed.is_empty() {
            return true;
        }
        tracing::info!(
            rows = pending.rows.len(),
            tables = pending.overflowed.len(),
            "redis is back; replaying missed invalidations"
        );
        let mut failed = Pending::default();
        let everything = pending.overflowed.iter().map(|t| Invalidation::all(t));
        for inv in pending.rows.into_iter().chain(everything) {
            let ok = tokio::time::timeout(self.timeout, self.invalidate_on(&mut conn, &inv))
                .await
                .is_ok_and(|r| r.is_ok());
            if !ok {
                bump(&counters.redis_errors);
                failed.rows.push(inv);
            }
        }
        if failed.rows.is_empty() {
            return true;
        }
        if let Ok(mut p) = self.pending.lock() {
            p.rows.extend(failed.rows);
            self.has_pending
                .store(true, std::sync::atomic::Ordering::Release);
        }
        false
    }

    async fn invalidate_on(
        &self,
        conn: &mut ConnectionManager,
        inv: &Invalidation,
    ) -> redis::RedisResult<()> {
        self.invalidate_seq(conn, inv, 0).await.map(|_| ())
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
        let seq = self.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let notify = std::sync::Arc::new(tokio::sync::Notify::new());
        if let Ok(mut acks) = self.acks.lock() {
            acks.insert(
                seq,
                Ack {
                    received: 0,
                    notify: notify.clone(),
                },
            );
        }
        let done = self
            .call(counters, |mut conn| async move {
                self.invalidate_seq(&mut conn, inv, seq).await
            })
            .await;
        let listening = self.listening.load(std::sync::atomic::Ordering::Acquire);
        if let (Some(receivers), true) = (done, listening) {
            let all_acked = || {
                self.acks
                    .lock()
                    .map(|a| a.get(&seq).is_none_or(|ack| ack.received >= receivers))
                    .unwrap_or(true)
            };
            let _ = tokio::time::timeout(self.ack_timeout, async {
                while !all_acked() {
                    notify.notified().await;
                }
            })
            .await;
        }
        if let Ok(mut acks) = self.acks.lock() {
            acks.remove(&seq);
        }
        if done.is_none()
            && let Ok(mut p) = self.pending.lock()
        {
            self.has_pending
                .store(true, std::sync::atomic::Ordering::Release);
            if p.rows.len() < MAX_PENDING {
                p.rows.push(inv.clone());
            } else {
                p.overflowed.insert(inv.table);
            }
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
    ) -> Option<(String, Option<Vec<u8>>)> {
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
        self.call(counters, |mut conn| async move {
            self.scripts
                .get_row
                .arg(&self.prefix)
                .arg(table)
                .arg(row)
                .invoke_async::<(String, Option<Vec<u8>>)>(&mut conn)
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

    /// `(wgen, bytes)` of a cached list.
    pub(crate) async fn get_list(
        &self,
        table: &str,
        hash: &str,
        counters: &CacheCounters,
    ) -> Option<(String, Option<Vec<u8>>)> {
        self.call(counters, |mut conn| async move {
            self.scripts
                .get_list
                .arg(&self.prefix)
                .arg(table)
                .arg(hash)
                .invoke_async::<(String, Option<Vec<u8>>)>(&mut conn)
                .await
        })
        .await
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
            None if self.breaker.is_open() => Err("redis is unreachable (breaker open)".into()),
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
