//! The pool handle: [`Db`] owns a deadpool-postgres pool of tokio-postgres
//! connections, the retry schedule and the counters.
//!
//! Recycling uses deadpool's `Fast` method (an `is_closed()` check, no round
//! trip): a connection whose backend was killed is caught by the executor's
//! pre-send check and its one-shot read retry instead, which keeps a checkout
//! as cheap as a hand-written pool.

#[cfg(feature = "test-hooks")]
mod hooks;
mod recovery;
mod replicas;
mod upkeep;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use upkeep::{Leases, reap_idle, watch_leases};

use deadpool_postgres::{
    ManagerConfig, Object, Pool, PoolError, QueueMode, RecyclingMethod, Runtime, TimeoutType,
};

use crate::breaker::{Breaker, ProbeGuard};
use crate::cache::{Cache, CacheStore, Invalidation};
use crate::config::Config;
use crate::error::{Error, Result, TimeoutKind};
use crate::executor::Executor;
use crate::executor::handle::Handle;
use crate::observe::counters::{Counters, bump};
use crate::observe::{Metrics, PoolStatus};
use crate::observe::{Observer, QueryRecord};
use crate::pipeline::conn::Conn;
use crate::retry::Backoff;

/// A handle to the database: cheap to clone, shared by every task.
///
/// Statements run on it directly (each on a pooled connection, in autocommit
/// mode) or inside [`Db::transaction`].
#[derive(Clone)]
pub struct Db {
    pub(crate) inner: Arc<Inner>,
}

/// Type-erased per-model state of the batch stage (`model::batch`).
pub(crate) type BatchLanes = std::sync::RwLock<
    std::collections::HashMap<std::any::TypeId, Arc<dyn std::any::Any + Send + Sync>>,
>;

pub(crate) struct Inner {
    pub(crate) pool: Pool,
    pub(crate) cache: Arc<Cache>,
    cache_prefix: String,
    pub(crate) config: Config,
    pub(crate) backoff: Backoff,
    pub(crate) counters: Counters,
    pub(crate) observer: Observer,
    pub(crate) breaker: Breaker,
    pub(crate) leases: Leases,
    /// The change feed's listener (started on first use).
    pub(crate) hub: Arc<crate::notify::Hub>,
    closing: AtomicBool,
    reaper: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// Tables of RLS models whose policy and role this `Db` has checked.
    pub(crate) rls_checked: std::sync::Mutex<std::collections::HashSet<&'static str>>,
    /// Each model's lane of concurrent gets waiting to be coalesced, by the
    /// model's `TypeId` (`model::batch` owns what is in it).
    pub(crate) batch_lanes: BatchLanes,
    /// Read replicas and the write epoch (the route stage's state).
    pub(crate) replicas: crate::replica::Replicas,
    /// The primary, as spans name it.
    pub(crate) target: crate::pipeline::round_trip::Target,
}

impl Inner {
    /// One checkout. A free slot is taken without waiting, so the common
    /// case arms no timer; only when every connection is out does the call
    /// wait, under the pool's `wait_timeout`.
    async fn checkout(&self) -> std::result::Result<Object, PoolError> {
        let now = deadpool_postgres::Timeouts {
            wait: Some(Duration::ZERO),
            ..self.pool.timeouts()
        };
        match self.pool.timeout_get(&now).await {
            Err(PoolError::Timeout(TimeoutType::Wait)) => self.pool.get().await,
            got => got,
        }
    }
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("config", &self.inner.config)
            .field("pool", &self.pool_status())
            .finish()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Ok(tasks) = self.reaper.get_mut() {
            for task in tasks.drain(..) {
                task.abort();
            }
        }
    }
}

impl Db {
    /// Opens the pool and checks that the server answers.
    ///
    /// Opens `pool_min` connections (at least one) before returning, retrying
    /// refused connections with backoff. Returns `Error::Config` for a bad
    /// setting (a TLS file that is missing or does not match, `prefer`
    /// without the opt-in, TLS in a build without the `tls` feature) before
    /// connecting, and the connection error if the server cannot be reached
    /// (or fails the TLS checks).
    ///
    /// With read replicas (`DB_REPLICA_URLS`), each is checked once: one
    /// that cannot be reached is reported down and the handle starts on the
    /// primary; one that is not in recovery (a primary) is `Error::Config`.
    pub async fn connect(config: Config) -> Result<Db> {
        config.validate()?;
        let pool = build_pool(&config)?;
        let replicas = replicas::open(&config)?;
        let target = crate::pipeline::round_trip::Target::of(&config);
        let backoff = Backoff::new(config.retry_delay, Duration::from_secs(2));
        let mut settings = crate::cache::CacheSettings::from_config(&config);
        settings.redis_tls = config.load_redis_tls()?;
        let cache_prefix = settings.prefix.clone();
        let cache = Cache::new(settings)?;
        let hub = crate::notify::Hub::new(&config, &cache);
        let db = Db {
            inner: Arc::new(Inner {
                pool,
                cache,
                cache_prefix,
                observer: Observer::new(config.slow_query),
                breaker: Breaker::new(config.breaker_threshold, config.breaker_cooldown),
                leases: Leases::default(),
                hub,
                config,
                backoff,
                counters: Counters::default(),
                closing: AtomicBool::new(false),
                reaper: std::sync::Mutex::new(Vec::new()),
                rls_checked: std::sync::Mutex::new(std::collections::HashSet::new()),
                batch_lanes: BatchLanes::default(),
                replicas,
                target,
            }),
        };
        // With Redis, the caches serve nothing until their lease begins
        // (see `cache/lease/`): wait for it, bounded, so a new handle's
        // first reads can be cache hits.
        db.inner.cache.ready(db.inner.config.cache_lease * 2).await;
        let warm = db.inner.config.pool_min.max(1);
        let mut held = Vec::with_capacity(warm);
        for _ in 0..warm {
            held.push(db.acquire().await?);
        }
        drop(held);
        replicas::first_check(&db).await?;
        let mut tasks = vec![tokio::spawn(watch_leases(Arc::downgrade(&db.inner)))];
        if db.inner.replicas.any() {
            let every = db.inner.config.replicas.check_every;
            tasks.push(tokio::spawn(replicas::watch(
                Arc::downgrade(&db.inner),
                every,
            )));
        }
        if let Some(idle) = db.inner.config.idle_timeout {
            tasks.push(tokio::spawn(reap_idle(Arc::downgrade(&db.inner), idle)));
        }
        if let Ok(mut slot) = db.inner.reaper.lock() {
            *slot = tasks;
        }
        Ok(db)
    }

    /// The config this handle was opened with.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Pool occupancy now.
    pub fn pool_status(&self) -> PoolStatus {
        let s = self.inner.pool.status();
        PoolStatus {
            size: s.size,
            idle: s.available,
            in_use: s.size.saturating_sub(s.available),
            waiting: s.waiting,
            max: s.max_size,
        }
    }

    /// A snapshot of every counter: pool, statements (with latency
    /// percentiles), transactions, cache and breaker. Cheap: atomics only.
    pub fn metrics(&self) -> Metrics {
        self.inner.counters.snapshot(
            self.pool_status(),
            &self.inner.observer,
            self.inner.cache.metrics(),
            self.inner.breaker.state(),
            self.inner.hub.metrics(),
        )
    }

    /// Each read replica's state, lag and reads (empty without
    /// `DB_REPLICA_URLS`).
    pub fn replicas(&self) -> Vec<crate::replica::ReplicaStatus> {
        self.inner.replicas.status()
    }

    /// The most recent statements (SQL, duration, rows; never parameters), oldest first.
    pub fn recent_queries(&self) -> Vec<QueryRecord> {
        self.inner.observer.recent()
    }

    /// The most recent statements slower than `DB_SLOW_QUERY_MS`, oldest first.
    pub fn slow_queries(&self) -> Vec<QueryRecord> {
        self.inner.observer.slow_queries()
    }

    /// The general cache API (Redis): `get`, `set`, `delete`, `exists`,
    /// `mget`, `mset`, `incr`, `publish`, `subscribe`, for application data.
    pub fn cache(&self) -> CacheStore<'_> {
        CacheStore::new(&self.inner.cache, &self.inner.cache_prefix)
    }

    /// Checks a connection out of the pool.
    ///
    /// Refused or failed connection attempts are retried with backoff up to
    /// `retry_attempts` times: nothing was sent, so repeating is safe. A
    /// connect that timed out is returned at once (`Timeout`, kind `Connect`),
    /// so a call never waits longer than the configured bounds.
    /// Returns `PoolExhausted` when none frees up within the acquire timeout.
    pub(crate) async fn acquire(&self) -> Result<Object> {
        let inner = &self.inner;
        let mut attempt = 0;
        loop {
            if inner.closing.load(Ordering::Acquire) {
                return Err(Error::PoolClosed);
            }
            // An idle connection needs no network, so only a checkout that
            // must connect is refused while the breaker is open. With no
            // failure since the last success (the common case) the breaker
            // has nothing to say, and the pool's status is not even read.
            let connects = !inner.breaker.is_clean() && inner.pool.status().available == 0;
            if connects && !inner.breaker.allow() {
                return Err(Error::CircuitOpen);
            }
            // If this call is the half-open probe and ends without telling
            // the breaker how the connect went (cancelled, or it only timed
            // out waiting for a slot), the guard lets another call probe.
            let probe = connects.then(|| ProbeGuard(&inner.breaker));
            let started = Instant::now();
            let err = match inner.checkout().await {
                Ok(obj) => {
                    inner.observer.checkout(started.elapsed());
                    if connects {
                        inner.breaker.success();
                    }
                    return Ok(obj);
                }
                Err(PoolError::Timeout(TimeoutType::Wait)) => {
                    return Err(Error::PoolExhausted {
                        waited: inner.config.acquire_timeout,
                    });
                }
                Err(PoolError::Timeout(_)) => Error::Timeout {
                    kind: TimeoutKind::Connect,
                    source: None,
                },
                Err(PoolError::Backend(e)) => Error::from_pg(e),
                Err(PoolError::Closed) => return Err(Error::PoolClosed),
                Err(other) => Error::Connection {
                    source: other.to_string().into(),
                },
            };
            bump(&inner.counters.connects_failed);
            if matches!(err, Error::Connection { .. } | Error::Timeout { .. }) {
                std::mem::forget(probe);
                inner.breaker.failure(&err);
                // This failure opened the breaker: a retry could only be
                // refused after its backoff sleep, so fail now. A background
                // probe closes it as soon as the server accepts again.
                if inner.breaker.is_open() {
                    if inner.breaker.start_probing() {
                        tokio::spawn(recovery::probe_until_closed(Arc::downgrade(inner)));
                    }
                    return Err(err);
                }
            }
            // A connect that timed out is not repeated: a server that did
            // not answer within `connect_timeout` will not answer 20 ms
            // later, and repeating would stretch the call to several times
            // the configured bound. Refused and reset connects fail fast and
            // are worth repeating.
            // Nor is one the TLS handshake refused (a certificate that does
            // not verify, a server without TLS): it fails the same way again.
            if !err.is_transient()
                || matches!(err, Error::Timeout { .. })
                || crate::tls::is_refusal(&err)
                || attempt >= inner.config.retry_attempts
            {
                return Err(err);
            }
            tracing::debug!(attempt, error = %err, "connection attempt failed; retrying");
            bump(&inner.counters.connects_retried);
            inner.backoff.sleep(attempt).await;
            attempt += 1;
        }
    }

    /// Stops lending connections, waits up to `drain` for checked-out ones
    /// to come back (in-flight statements and transactions finish), then
    /// closes every connection.
    ///
    /// Calls made after `close` starts fail with `Error::PoolClosed`; change
    /// feeds end (their `next` returns `None`) and the listener's connection
    /// closes.
    /// Returns how many connections were still in use when `drain` ran out.
    pub async fn close_within(&self, drain: Duration) -> usize {
        self.inner.closing.store(true, Ordering::Release);
        self.inner.hub.shutdown();
        let deadline = Instant::now() + drain;
        let mut in_use = self.pool_status().in_use;
        while in_use > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
            in_use = self.pool_status().in_use;
        }
        self.inner.pool.close();
        for r in &self.inner.replicas.members {
            r.pool.close();
        }
        in_use
    }

    /// [`Db::close_within`] with a 30 second drain.
    pub async fn close(&self) {
        let left = self.close_within(Duration::from_secs(30)).await;
        if left > 0 {
            tracing::warn!(left, "closed the pool with connections still in use");
        }
    }

    /// True once [`Db::close`] has started.
    pub fn is_closed(&self) -> bool {
        self.inner.closing.load(Ordering::Acquire)
    }
}

/// The pool of one server (the primary, or a replica), with `config`'s
/// size and bounds.
fn build_pool(config: &Config) -> Result<Pool> {
    let manager = crate::tls::manager(
        config.to_pg(),
        &config.tls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    )?;
    Pool::builder(manager)
        .max_size(config.pool_max)
        .wait_timeout(Some(config.acquire_timeout))
        .create_timeout(Some(config.get_connect_timeout()))
        // `RecyclingMethod::Fast` only looks at the client's state, with
        // no I/O to bound: a timeout there would only cost a timer.
        .recycle_timeout(None)
        .runtime(Runtime::Tokio1)
        // Hand out the most recently used connection: its backend is
        // warm, and idle ones at the back can be trimmed.
        .queue_mode(QueueMode::Lifo)
        .build()
        .map_err(|e| Error::Config {
            var: "DB_POOL_MAX",
            reason: e.to_string(),
        })
}

impl Executor for Db {
    type Scope = crate::tenant::Unscoped;
}

impl Handle for Db {
    async fn __conn(&self, kind: crate::executor::OpKind) -> Result<Conn<'_>> {
        if kind == crate::executor::OpKind::Read
            && let Some(replica) = self.inner.replicas.route()
            && let Some(conn) = replicas::checkout(replica).await
        {
            return Ok(Conn::Replica(conn, replica));
        }
        self.acquire().await.map(Conn::Pooled)
    }

    fn __batches_gets(&self) -> bool {
        self.inner.config.batch_gets
    }

    async fn __invalidate(&self, inv: Invalidation) {
        if self.inner.cache.is_off() {
            return;
        }
        // In a task of its own: once the write is done, dropping the
        // caller's future must not skip its invalidation.
        let cache = self.inner.cache.clone();
        let _ = tokio::spawn(async move { cache.invalidate(&inv).await }).await;
    }

    fn __write_guard(&self, inv: Invalidation) -> Option<crate::cache::WriteGuard> {
        let cache = &self.inner.cache;
        (!cache.is_off()).then(|| {
            let settle = self
                .inner
                .config
                .statement_timeout
                .unwrap_or(Duration::from_secs(30));
            crate::cache::WriteGuard::new(cache.clone(), inv, settle)
        })
    }

    fn __db(&self) -> &Db {
        self
    }
}
