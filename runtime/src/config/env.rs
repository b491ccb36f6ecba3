//! Reading a [`Config`] from a connection URL, or from environment
//! variables (or any lookup).
//!
//! tokio-postgres parses the URL. `DATABASE_URL` is read first; the `DB_*`
//! connection variables then override its parts through the builder's
//! setters, and the rest set strata's own settings. A malformed value is
//! `Error::Config` naming the variable, never a silent default.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use super::{Config, SslMode};
use crate::error::{Error, Result};

/// The `search_path` set in a libpq `options` string (`-c search_path=x`,
/// `-csearch_path=x` or `--search_path=x`), the last one if repeated.
fn search_path_option(options: &str) -> Option<String> {
    let mut words = options.split_whitespace();
    let mut found = None;
    while let Some(word) = words.next() {
        let setting = match word {
            "-c" => words.next(),
            w => w.strip_prefix("-c").or_else(|| w.strip_prefix("--")),
        };
        if let Some(value) = setting.and_then(|s| s.strip_prefix("search_path=")) {
            found = Some(value.to_owned());
        }
    }
    found
}

/// Every variable [`Config::from_lookup`] reads: the settings a `.env`
/// file or a settings file (serde) may name. A unit test checks this list
/// against what `from_lookup` asks for.
pub(super) const VARS: &[&str] = &[
    "DATABASE_URL",
    "DB_HOST",
    "DB_PORT",
    "DB_USER",
    "DB_PASSWORD",
    "DB_NAME",
    "DB_SSL",
    "DB_SSLMODE",
    "DB_SSLROOTCERT",
    "DB_SSLCERT",
    "DB_SSLKEY",
    "DB_SSL_ALLOW_PLAINTEXT",
    "REDIS_SSLROOTCERT",
    "REDIS_SSLCERT",
    "REDIS_SSLKEY",
    "DB_CONNECT_TIMEOUT_MS",
    "DB_POOL_MAX",
    "DB_POOL_MIN",
    "DB_BATCH_GETS",
    "DB_ACQUIRE_TIMEOUT_MS",
    "DB_IDLE_TIMEOUT_MS",
    "DB_STATEMENT_TIMEOUT_MS",
    "DB_SLOW_QUERY_MS",
    "DB_RETRY_ATTEMPTS",
    "DB_TX_MAX_RETRIES",
    "DB_RETRY_DELAY_MS",
    "DB_BREAKER_THRESHOLD",
    "DB_BREAKER_COOLDOWN_MS",
    "DB_LEAK_THRESHOLD_MS",
    "DB_SEARCH_PATH",
    "DB_REPLICA_URLS",
    "DB_REPLICA_MAX_LAG_MS",
    "DB_REPLICA_CHECK_MS",
    "DB_REPLICA_PRIMARY_READS",
    "REDIS_URL",
    "REDIS_CLUSTER",
    "CACHE_TTL_SECS",
    "CACHE_L1_CAPACITY",
    "CACHE_PREFIX",
    "CACHE_REDIS_TIMEOUT_MS",
    "CACHE_FEED",
    "CACHE_LEASE_MS",
    "AUDIT_WITHOUT_ACTOR",
];

/// The variables, with the parsing every setting shares.
struct Vars<F>(F);

impl<F: Fn(&str) -> Option<String>> Vars<F> {
    /// A set variable; blank counts as unset.
    fn text(&self, var: &str) -> Option<String> {
        (self.0)(var).filter(|v| !v.trim().is_empty())
    }

    /// A set variable parsed as `T`.
    fn parse<T: FromStr>(&self, var: &'static str) -> Result<Option<T>>
    where
        T::Err: fmt::Display,
    {
        self.text(var)
            .map(|value| {
                value.trim().parse().map_err(|e| Error::Config {
                    var,
                    reason: format!("cannot parse {value:?} ({e})"),
                })
            })
            .transpose()
    }

    /// Sets `field` to the variable parsed as `T`, if it is set.
    fn set<T: FromStr>(&self, var: &'static str, field: &mut T) -> Result<()>
    where
        T::Err: fmt::Display,
    {
        if let Some(value) = self.parse(var)? {
            *field = value;
        }
        Ok(())
    }

    /// A set variable in milliseconds.
    fn millis(&self, var: &'static str) -> Result<Option<Duration>> {
        Ok(self.parse::<u64>(var)?.map(Duration::from_millis))
    }

    /// Sets `field` to the variable in milliseconds, if it is set.
    fn set_millis(&self, var: &'static str, field: &mut Duration) -> Result<()> {
        if let Some(value) = self.millis(var)? {
            *field = value;
        }
        Ok(())
    }

    /// Sets `field` to the variable in milliseconds, where `0` means no
    /// bound, if it is set.
    fn set_bound(&self, var: &'static str, field: &mut Option<Duration>) -> Result<()> {
        if let Some(value) = self.millis(var)? {
            *field = Some(value).filter(|d| !d.is_zero());
        }
        Ok(())
    }

    /// A yes or a no.
    fn flag(&self, var: &'static str) -> Result<Option<bool>> {
        let Some(v) = self.text(var) else {
            return Ok(None);
        };
        match v.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "on" | "yes" => Ok(Some(true)),
            "0" | "false" | "off" | "no" => Ok(Some(false)),
            _ => Err(Error::Config {
                var,
                reason: format!("expected true or false, found {v:?}"),
            }),
        }
    }

    /// `DB_SSL` (a yes or a no; yes without `DB_SSLMODE` = verify-full, as
    /// is any other TLS setting given without a mode), then `DB_SSLMODE`,
    /// `DB_SSLROOTCERT`, `DB_SSLCERT`, `DB_SSLKEY`, `DB_SSL_ALLOW_PLAINTEXT`.
    fn tls(&self, c: &mut Config) -> Result<()> {
        match self.flag("DB_SSL")? {
            Some(true) if c.tls.mode.is_none_or(|m| m == SslMode::Disable) => {
                c.tls.mode = Some(SslMode::VerifyFull);
            }
            Some(false) => c.tls.mode = Some(SslMode::Disable),
            _ => {}
        }
        if let Some(v) = self.text("DB_SSLMODE") {
            c.tls.mode = Some(v.trim().parse().map_err(|reason| Error::Config {
                var: "DB_SSLMODE",
                reason,
            })?);
        }
        for (var, key) in [
            ("DB_SSLROOTCERT", "sslrootcert"),
            ("DB_SSLCERT", "sslcert"),
            ("DB_SSLKEY", "sslkey"),
        ] {
            if let Some(v) = self.text(var) {
                super::tls::apply(&mut c.tls, key, v.trim())?;
            }
        }
        for (var, field) in [
            ("REDIS_SSLROOTCERT", &mut c.redis_tls.root_cert),
            ("REDIS_SSLCERT", &mut c.redis_tls.cert),
            ("REDIS_SSLKEY", &mut c.redis_tls.key),
        ] {
            if let Some(v) = self.text(var) {
                *field = Some(v.trim().into());
            }
        }
        if let Some(v) = self.flag("DB_SSL_ALLOW_PLAINTEXT")? {
            c.tls.allow_plaintext_fallback = v;
        }
        Ok(())
    }
}

impl Config {
    /// Parses a `postgres://user:password@host:port/dbname?...` URL (or a
    /// `key=value` connection string) on top of the defaults.
    ///
    /// Every parameter tokio-postgres understands is kept (several hosts,
    /// `options`, keepalives, `target_session_attrs`, `channel_binding`,
    /// ...); a `search_path` in `options` also becomes
    /// [`Config::search_path`]. libpq's TLS parameters (`sslmode` with
    /// `verify-ca`/`verify-full`, `sslrootcert`, `sslcert`, `sslkey`) are
    /// strata's own: see [`Config::ssl`]. Files are read when the config is
    /// validated (by [`Config::from_lookup`] and [`Db::connect`](crate::Db::connect)).
    ///
    /// Returns `Error::Config` naming `DATABASE_URL` if it does not parse,
    /// or `sslmode` for an unknown mode.
    pub fn from_url(url: &str) -> Result<Self> {
        let (url, tls) = super::tls::split_tls_params(url)?;
        let pg: tokio_postgres::Config = url.parse().map_err(|e| Error::Config {
            var: "DATABASE_URL",
            reason: format!("not a PostgreSQL connection URL ({e})"),
        })?;
        let search_path = pg.get_options().and_then(search_path_option);
        Ok(Config {
            search_path,
            tls,
            ..Config::over(pg)
        })
    }

    /// Reads the process environment; see [`Config::from_lookup`] for the variables.
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    /// Builds a config from any variable source (the environment, a map in tests).
    ///
    /// `DATABASE_URL` is read first; `DB_HOST`, `DB_PORT`, `DB_USER`,
    /// `DB_PASSWORD`, `DB_NAME` and the TLS variables (`DB_SSL`, `DB_SSLMODE`,
    /// `DB_SSLROOTCERT`, `DB_SSLCERT`, `DB_SSLKEY`, `DB_SSL_ALLOW_PLAINTEXT`;
    /// see the README's "TLS") then override its parts. Pool and
    /// timing: `DB_POOL_MAX`, `DB_POOL_MIN`, `DB_BATCH_GETS`, `DB_CONNECT_TIMEOUT_MS`,
    /// `DB_ACQUIRE_TIMEOUT_MS`, `DB_IDLE_TIMEOUT_MS`, `DB_STATEMENT_TIMEOUT_MS`
    /// (0 = none), `DB_SLOW_QUERY_MS`, `DB_RETRY_ATTEMPTS` (connects), `DB_TX_MAX_RETRIES`
    /// (transactions after 40001/40P01), `DB_RETRY_DELAY_MS`,
    /// `DB_BREAKER_THRESHOLD`, `DB_BREAKER_COOLDOWN_MS`, `DB_LEAK_THRESHOLD_MS`.
    /// Replicas: `DB_REPLICA_URLS` (comma separated), `DB_REPLICA_MAX_LAG_MS`,
    /// `DB_REPLICA_CHECK_MS`, `DB_REPLICA_PRIMARY_READS`.
    /// Cache: `REDIS_URL`, `REDIS_CLUSTER`, `CACHE_TTL_SECS`, `CACHE_L1_CAPACITY` (0 = no
    /// in-process tier), `CACHE_PREFIX`, `CACHE_REDIS_TIMEOUT_MS`,
    /// `CACHE_FEED` (`true`: L1 invalidated by the change feed),
    /// `CACHE_LEASE_MS` (see the README's cache consistency). Audit:
    /// `AUDIT_WITHOUT_ACTOR` (`refuse`, or `system:<actor>`).
    ///
    /// A malformed value is `Error::Config` naming the variable. The same
    /// names are the keys of a `.env` file ([`Config::from_dotenv`]) and of
    /// a settings file (`Config` implements `serde::Deserialize`).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let vars = Vars(lookup);
        let mut c = match vars.text("DATABASE_URL") {
            Some(url) => Config::from_url(&url)?,
            None => Config::new(),
        };
        if let Some(v) = vars.text("DB_HOST") {
            c = c.host(v);
        }
        if let Some(v) = vars.parse("DB_PORT")? {
            c = c.port(v);
        }
        if let Some(v) = vars.text("DB_USER") {
            c = c.user(v);
        }
        // An empty password is a password.
        if let Some(v) = (vars.0)("DB_PASSWORD") {
            c = c.password(v);
        }
        if let Some(v) = vars.text("DB_NAME") {
            c = c.dbname(v);
        }
        vars.tls(&mut c)?;
        if let Some(v) = vars.millis("DB_CONNECT_TIMEOUT_MS")? {
            c = c.connect_timeout(v);
        }
        // Pool.
        vars.set("DB_POOL_MAX", &mut c.pool_max)?;
        vars.set("DB_POOL_MIN", &mut c.pool_min)?;
        vars.set("DB_BATCH_GETS", &mut c.batch_gets)?;
        vars.set_millis("DB_ACQUIRE_TIMEOUT_MS", &mut c.acquire_timeout)?;
        vars.set_bound("DB_IDLE_TIMEOUT_MS", &mut c.idle_timeout)?;
        // Statements, retries, the breaker, leaks.
        vars.set_bound("DB_STATEMENT_TIMEOUT_MS", &mut c.statement_timeout)?;
        vars.set_millis("DB_SLOW_QUERY_MS", &mut c.slow_query)?;
        // The schemas to search, as `Config::search_path` takes them.
        c.search_path = vars.text("DB_SEARCH_PATH").or(c.search_path);
        vars.set("DB_RETRY_ATTEMPTS", &mut c.retry_attempts)?;
        vars.set("DB_TX_MAX_RETRIES", &mut c.tx_max_retries)?;
        vars.set_millis("DB_RETRY_DELAY_MS", &mut c.retry_delay)?;
        vars.set("DB_BREAKER_THRESHOLD", &mut c.breaker_threshold)?;
        vars.set_millis("DB_BREAKER_COOLDOWN_MS", &mut c.breaker_cooldown)?;
        vars.set_millis("DB_LEAK_THRESHOLD_MS", &mut c.leak_threshold)?;
        // Replicas.
        if let Some(list) = vars.text("DB_REPLICA_URLS") {
            c.replicas.set_urls(&list);
        }
        vars.set_millis("DB_REPLICA_MAX_LAG_MS", &mut c.replicas.max_lag)?;
        vars.set_millis("DB_REPLICA_CHECK_MS", &mut c.replicas.check_every)?;
        vars.set("DB_REPLICA_PRIMARY_READS", &mut c.replicas.primary_reads)?;
        // Cache.
        if let Some(url) = vars.text("REDIS_URL") {
            c.redis_url = Some(super::Secret::new(url));
        }
        vars.set("REDIS_CLUSTER", &mut c.redis_cluster)?;
        if let Some(secs) = vars.parse("CACHE_TTL_SECS")? {
            c.cache_ttl = Duration::from_secs(secs);
        }
        vars.set("CACHE_L1_CAPACITY", &mut c.cache_l1_capacity)?;
        c.cache_prefix = vars.text("CACHE_PREFIX").or(c.cache_prefix);
        vars.set_millis("CACHE_REDIS_TIMEOUT_MS", &mut c.cache_redis_timeout)?;
        vars.set("CACHE_FEED", &mut c.cache_feed)?;
        vars.set_millis("CACHE_LEASE_MS", &mut c.cache_lease)?;
        // Audit.
        if let Some(v) = vars.text("AUDIT_WITHOUT_ACTOR") {
            c.audit_without_actor = match v.trim() {
                "refuse" => super::audit::WithoutActor::Refuse,
                other => match other.strip_prefix("system:") {
                    Some(name) => super::audit::WithoutActor::System(name.to_owned()),
                    None => {
                        return Err(Error::Config {
                            var: "AUDIT_WITHOUT_ACTOR",
                            reason: format!(
                                "`{other}` is neither `refuse` nor `system:<actor>` (e.g. `system:cron`)"
                            ),
                        });
                    }
                },
            };
        }
        c.validate()?;
        Ok(c)
    }
}

#[cfg(test)]
#[path = "env_tests.rs"]
mod tests;
