//! Connection, pool, retry and cache settings, from the environment or a builder.
//!
//! Every timeout has a finite default: tokio-postgres and deadpool set none,
//! and an unreachable server would otherwise hang callers forever. Secrets
//! never print: the password lives in tokio-postgres's config, whose
//! `Debug` shows it as `_`, and the Redis URL is a [`Secret`], so a config
//! can be logged as a whole.
//!
//! The connection settings are tokio-postgres's own config (`connection`);
//! this module holds strata's settings (pool, timeouts it enforces, retry,
//! breaker, cache) and `env` reads both from environment variables.

pub(crate) mod audit;
mod connection;
mod env;
pub(crate) mod replica;
mod secret;
mod sources;
mod tls;

use std::fmt;
use std::time::Duration;

pub use crate::tls::SslMode;
pub use secret::Secret;

use crate::error::{Error, Result};

/// Everything [`Db::connect`](crate::Db::connect) needs.
///
/// `Config` is its own builder: start from [`Config::new`] (defaults for the
/// local server), [`Config::from_url`] or [`Config::from_env`], then chain setters.
///
/// ```
/// use std::time::Duration;
/// let config = strata::Config::new()
///     .host("127.0.0.1")
///     .user("postgres")
///     .password("hunter2")
///     .dbname("test")
///     .pool_max(8)
///     .statement_timeout(Some(Duration::from_secs(2)));
/// assert!(!format!("{config:?}").contains("hunter2"));
/// ```
#[derive(Clone)]
pub struct Config {
    /// How to reach the server: hosts, user, password, database, TLS,
    /// connect timeout, keepalives (see `connection`).
    pg: tokio_postgres::Config,
    /// `sslmode`, `sslrootcert`, `sslcert`, `sslkey` (see `tls`); the
    /// mode in `pg` is set from it by `to_pg`.
    pub(crate) tls: crate::tls::TlsSettings,
    /// `REDIS_SSLROOTCERT`, `REDIS_SSLCERT`, `REDIS_SSLKEY`.
    pub(crate) redis_tls: crate::tls::RedisTlsSettings,
    pub(crate) search_path: Option<String>,
    pub(crate) pool_max: usize,
    pub(crate) pool_min: usize,
    pub(crate) acquire_timeout: Duration,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) statement_timeout: Option<Duration>,
    pub(crate) slow_query: Duration,
    pub(crate) retry_attempts: u32,
    pub(crate) tx_max_retries: u32,
    pub(crate) retry_delay: Duration,
    pub(crate) redis_url: Option<Secret>,
    pub(crate) redis_cluster: bool,
    pub(crate) cache_ttl: Duration,
    pub(crate) cache_l1_capacity: u64,
    pub(crate) cache_prefix: Option<String>,
    pub(crate) cache_redis_timeout: Duration,
    pub(crate) cache_feed: bool,
    pub(crate) cache_lease: Duration,
    pub(crate) breaker_threshold: u32,
    pub(crate) breaker_cooldown: Duration,
    pub(crate) leak_threshold: Duration,
    pub(crate) audit_without_actor: audit::WithoutActor,
    pub(crate) batch_gets: bool,
    /// Read replicas (see `replica`).
    pub(crate) replicas: replica::ReplicaSettings,
}

impl Default for Config {
    fn default() -> Self {
        Config::over(tokio_postgres::Config::new())
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            // tokio-postgres's `Debug` prints the password as `_`.
            .field("connection", &self.pg)
            .field("tls", &self.tls)
            .field("redis_tls", &self.redis_tls)
            .field("search_path", &self.search_path)
            .field("pool_max", &self.pool_max)
            .field("pool_min", &self.pool_min)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("statement_timeout", &self.statement_timeout)
            .field("slow_query", &self.slow_query)
            .field("retry_attempts", &self.retry_attempts)
            .field("tx_max_retries", &self.tx_max_retries)
            .field("retry_delay", &self.retry_delay)
            .field("redis_url", &self.redis_url)
            .field("redis_cluster", &self.redis_cluster)
            .field("cache_ttl", &self.cache_ttl)
            .field("cache_l1_capacity", &self.cache_l1_capacity)
            .field("cache_prefix", &self.cache_prefix)
            .field("cache_redis_timeout", &self.cache_redis_timeout)
            .field("cache_feed", &self.cache_feed)
            .field("cache_lease", &self.cache_lease)
            .field("breaker_threshold", &self.breaker_threshold)
            .field("breaker_cooldown", &self.breaker_cooldown)
            .field("leak_threshold", &self.leak_threshold)
            .field("audit_without_actor", &self.audit_without_actor)
            .field("batch_gets", &self.batch_gets)
            .field("replicas", &self.replicas)
            .finish()
    }
}

macro_rules! setter {
    ($(#[$doc:meta])* $name:ident: $ty:ty) => {
        $(#[$doc])*
        #[must_use]
        pub fn $name(mut self, value: $ty) -> Self {
            self.$name = value;
            self
        }
    };
}

impl Config {
    /// Defaults: `postgres@127.0.0.1:5432/postgres`, pool of 20, acquire 1 s,
    /// connect 2 s, statement 5 s, idle 10 min, 3 retry attempts.
    pub fn new() -> Self {
        Self::default()
    }

    /// strata's defaults around the connection settings `pg`, whose unset
    /// ones get strata's defaults too.
    pub(super) fn over(pg: tokio_postgres::Config) -> Self {
        Config {
            pg: connection::with_defaults(pg),
            tls: crate::tls::TlsSettings::default(),
            redis_tls: crate::tls::RedisTlsSettings::default(),
            search_path: None,
            pool_max: 20,
            pool_min: 0,
            acquire_timeout: Duration::from_secs(1),
            idle_timeout: Some(Duration::from_secs(600)),
            statement_timeout: Some(Duration::from_secs(5)),
            slow_query: Duration::from_millis(500),
            retry_attempts: 3,
            tx_max_retries: 10,
            retry_delay: Duration::from_millis(20),
            redis_url: None,
            redis_cluster: false,
            cache_ttl: Duration::from_secs(300),
            cache_l1_capacity: 10_000,
            cache_prefix: None,
            cache_redis_timeout: Duration::from_millis(250),
            cache_feed: false,
            cache_lease: Duration::from_secs(1),
            breaker_threshold: 5,
            breaker_cooldown: Duration::from_secs(1),
            leak_threshold: Duration::from_secs(30),
            audit_without_actor: audit::WithoutActor::Refuse,
            batch_gets: true,
            replicas: replica::ReplicaSettings::default(),
        }
    }

    /// Checks values that parse but make no sense together, and reads the
    /// TLS files (a bad one is `Error::Config` naming the setting and file).
    pub(crate) fn validate(&self) -> Result<()> {
        self.tls.check()?;
        self.load_redis_tls()?;
        self.replicas.check()?;
        if self.pool_max == 0 {
            return Err(Error::Config {
                var: "DB_POOL_MAX",
                reason: "must be at least 1".into(),
            });
        }
        if self.pool_min > self.pool_max {
            return Err(Error::Config {
                var: "DB_POOL_MIN",
                reason: format!(
                    "{} is larger than DB_POOL_MAX ({})",
                    self.pool_min, self.pool_max
                ),
            });
        }
        if let audit::WithoutActor::System(actor) = &self.audit_without_actor
            && (actor.is_empty() || actor.contains('\0'))
        {
            return Err(Error::Config {
                var: "AUDIT_WITHOUT_ACTOR",
                reason: format!(
                    "the system actor {actor:?} must be non-empty text without NUL bytes"
                ),
            });
        }
        if let Some(prefix) = &self.cache_prefix
            && prefix.contains(['{', '}'])
        {
            return Err(Error::Config {
                var: "CACHE_PREFIX",
                reason: format!(
                    "{prefix:?} contains a brace: strata puts each table's keys under a \
                     Redis Cluster hash tag `{{<prefix>:..}}`, which a brace would split"
                ),
            });
        }
        if self.cache_lease < Duration::from_millis(50) {
            return Err(Error::Config {
                var: "CACHE_LEASE_MS",
                reason: format!("{:?} is too short; at least 50 ms", self.cache_lease),
            });
        }
        Ok(())
    }

    setter!(
        /// Largest number of pooled connections (`DB_POOL_MAX`, default 20).
        pool_max: usize
    );
    setter!(
        /// Whether concurrent `get`s / `find`s of one model on `Db` are
        /// coalesced into one `= ANY($1)` statement (`DB_BATCH_GETS`,
        /// default `true`). A lone get is never delayed: see the README's
        /// "get_many and batched gets".
        batch_gets: bool
    );
    setter!(
        /// Connections opened at connect time and kept through idle trimming (`DB_POOL_MIN`).
        pool_min: usize
    );
    setter!(
        /// Bound on waiting for a free pooled connection (`DB_ACQUIRE_TIMEOUT_MS`, default 1 s).
        acquire_timeout: Duration
    );
    setter!(
        /// Idle connections above `pool_min` are closed after this long (`DB_IDLE_TIMEOUT_MS`).
        idle_timeout: Option<Duration>
    );
    setter!(
        /// Server-side `statement_timeout` for every connection (`DB_STATEMENT_TIMEOUT_MS`, default 5 s).
        statement_timeout: Option<Duration>
    );
    setter!(
        /// Statements slower than this are logged as slow (`DB_SLOW_QUERY_MS`).
        slow_query: Duration
    );
    setter!(
        /// How many times a failed connect is repeated (`DB_RETRY_ATTEMPTS`, default 3).
        retry_attempts: u32
    );
    setter!(
        /// How many times a transaction's closure is repeated after a
        /// serialization failure or deadlock (`DB_TX_MAX_RETRIES`, default
        /// 10; [`TxOptions::max_retries`](crate::TxOptions::max_retries)
        /// per call). Ten, not three: 8 tasks doing 100 SERIALIZABLE
        /// transfers each over 10 accounts had 33 of 800 give up with three.
        tx_max_retries: u32
    );
    setter!(
        /// Base delay of the exponential backoff (`DB_RETRY_DELAY_MS`).
        retry_delay: Duration
    );
    setter!(
        /// Default cache entry lifetime (`CACHE_TTL_SECS`).
        cache_ttl: Duration
    );
    setter!(
        /// Entries kept in the in-process cache (`CACHE_L1_CAPACITY`); 0 turns L1 off.
        cache_l1_capacity: u64
    );
    setter!(
        /// Consecutive connection failures that open the PostgreSQL breaker (`DB_BREAKER_THRESHOLD`, default 5).
        breaker_threshold: u32
    );
    setter!(
        /// How long the open breaker fails calls before letting one probe through (`DB_BREAKER_COOLDOWN_MS`, default 1 s).
        breaker_cooldown: Duration
    );
    setter!(
        /// A transaction holding its connection longer than this is reported with where it began (`DB_LEAK_THRESHOLD_MS`, default 30 s).
        leak_threshold: Duration
    );
    setter!(
        /// Bound on one Redis call before it falls through (`CACHE_REDIS_TIMEOUT_MS`, default 250 ms).
        cache_redis_timeout: Duration
    );
    setter!(
        /// Drop L1 entries from the change feed (`CACHE_FEED`, default off):
        /// the cache channel that works without Redis. Each cached model's
        /// table needs the feed's triggers (`db.install_changes::<M>()`);
        /// see the README's "Change feed" section for what it guarantees.
        cache_feed: bool
    );
    setter!(
        /// How long a process trusts its caches after PostgreSQL last confirmed them (`CACHE_LEASE_MS`, default 1 s; with Redis only).
        ///
        /// It is also what a write waits, at most, when it cannot confirm that every other
        /// process dropped the old row: see "Cache consistency" in the README.
        cache_lease: Duration
    );

    /// Key prefix in Redis (`CACHE_PREFIX`); default `strata:<dbname>:<search_path>`,
    /// so two apps or schemas sharing a Redis never read each other's entries.
    #[must_use]
    pub fn cache_prefix(mut self, value: impl Into<String>) -> Self {
        self.cache_prefix = Some(value.into());
        self
    }

    /// Sets `search_path` on every pooled connection at connect time, so
    /// unqualified table names resolve to this schema.
    #[must_use]
    pub fn search_path(mut self, schema: impl Into<String>) -> Self {
        self.search_path = Some(schema.into());
        self
    }

    /// Redis URL for the shared cache tier (`REDIS_URL`); never printed.
    /// For a Redis Cluster ([`Config::redis_cluster`]), one or more seed
    /// nodes' URLs, comma separated.
    #[must_use]
    pub fn redis_url(mut self, value: impl Into<String>) -> Self {
        self.redis_url = Some(Secret::new(value));
        self
    }

    /// Whether `REDIS_URL` names nodes of a Redis Cluster
    /// (`REDIS_CLUSTER`, default false). The slot map is read from the
    /// seeds and kept current; each command goes to its slot's master.
    #[must_use]
    pub fn redis_cluster(mut self, yes: bool) -> Self {
        self.redis_cluster = yes;
        self
    }

    /// What a write of an audited table (`#[model(audit)]`) does with no
    /// actor in context (`strata::audit::with_actor`): refuse it (the
    /// default, [`Error::NoActor`](crate::Error::NoActor)) or record a named
    /// system actor. Every pooled connection carries the policy, so it holds
    /// for raw SQL too.
    #[must_use]
    pub fn audit_without_actor(mut self, policy: audit::WithoutActor) -> Self {
        self.audit_without_actor = policy;
        self
    }

    /// The configured pool size.
    pub fn get_pool_max(&self) -> usize {
        self.pool_max
    }

    /// How often `db.transaction` runs a closure again after 40001/40P01
    /// (`DB_TX_MAX_RETRIES`) unless `TxOptions::max_retries` says otherwise.
    pub fn get_tx_max_retries(&self) -> u32 {
        self.tx_max_retries
    }

    /// The configured search path, if any.
    pub fn get_search_path(&self) -> Option<&str> {
        self.search_path.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_never_printed() {
        let secret = "s3cr3t-pa55";
        let configs = [
            Config::from_url(&format!("postgres://u:{secret}@h/db")).unwrap(),
            Config::new()
                .password(secret)
                .redis_url(format!("redis://:{secret}@r")),
            Config::from_lookup(|k| match k {
                "DB_PASSWORD" => Some(secret.to_owned()),
                "REDIS_URL" => Some(format!("redis://:{secret}@r")),
                _ => None,
            })
            .unwrap(),
        ];
        for c in configs {
            assert!(c.to_pg().get_password() == Some(secret.as_bytes()));
            let shown = [
                format!("{c:?}"),
                format!("{c:#?}"),
                c.to_string(),
                // The driver config: inside our `Debug`, and what we hand over.
                format!("{:?}", c.pg),
                format!("{:#?}", c.to_pg()),
            ];
            for shown in shown {
                assert!(!shown.contains(secret), "secret leaked: {shown}");
            }
            assert!(format!("{c:?}").contains("password: Some(_)"), "{c:?}");
        }
    }
}
