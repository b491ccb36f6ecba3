//! Connection, pool, retry and cache settings, from the environment or a builder.
//!
//! Every timeout has a finite default: tokio-postgres and deadpool set none,
//! and an unreachable server would otherwise hang callers forever. The
//! password is a [`Secret`] whose `Debug` and `Display` print `_`, so a config
//! can be logged as a whole.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::error::{Error, Result};

/// A string that never prints: `Debug` and `Display` show `_`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself. Call only where it is needed (the connect call).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("_")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("_")
    }
}

/// Whether to use TLS to reach PostgreSQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SslMode {
    /// Plain TCP.
    Disable,
    /// TLS or nothing: strata never falls back to plaintext when TLS was asked for.
    Require,
}

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
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) user: String,
    pub(crate) password: Option<Secret>,
    pub(crate) dbname: String,
    pub(crate) ssl: SslMode,
    pub(crate) search_path: Option<String>,
    pub(crate) application_name: String,
    pub(crate) pool_max: usize,
    pub(crate) pool_min: usize,
    pub(crate) connect_timeout: Duration,
    pub(crate) acquire_timeout: Duration,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) statement_timeout: Option<Duration>,
    pub(crate) slow_query: Duration,
    pub(crate) retry_attempts: u32,
    pub(crate) retry_delay: Duration,
    pub(crate) redis_url: Option<Secret>,
    pub(crate) cache_ttl: Duration,
    pub(crate) cache_l1_capacity: u64,
    pub(crate) cache_prefix: Option<String>,
    pub(crate) cache_redis_timeout: Duration,
    pub(crate) breaker_threshold: u32,
    pub(crate) breaker_cooldown: Duration,
    pub(crate) leak_threshold: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            host: "127.0.0.1".into(),
            port: 5432,
            user: "postgres".into(),
            password: None,
            dbname: "postgres".into(),
            ssl: SslMode::Disable,
            search_path: None,
            application_name: "strata".into(),
            pool_max: 20,
            pool_min: 0,
            connect_timeout: Duration::from_secs(2),
            acquire_timeout: Duration::from_secs(1),
            idle_timeout: Some(Duration::from_secs(600)),
            statement_timeout: Some(Duration::from_secs(5)),
            slow_query: Duration::from_millis(500),
            retry_attempts: 3,
            retry_delay: Duration::from_millis(20),
            redis_url: None,
            cache_ttl: Duration::from_secs(300),
            cache_l1_capacity: 10_000,
            cache_prefix: None,
            cache_redis_timeout: Duration::from_millis(250),
            breaker_threshold: 5,
            breaker_cooldown: Duration::from_secs(1),
            leak_threshold: Duration::from_secs(30),
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &self.password)
            .field("dbname", &self.dbname)
            .field("ssl", &self.ssl)
            .field("search_path", &self.search_path)
            .field("application_name", &self.application_name)
            .field("pool_max", &self.pool_max)
            .field("pool_min", &self.pool_min)
            .field("connect_timeout", &self.connect_timeout)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("statement_timeout", &self.statement_timeout)
            .field("slow_query", &self.slow_query)
            .field("retry_attempts", &self.retry_attempts)
            .field("retry_delay", &self.retry_delay)
            .field("redis_url", &self.redis_url)
            .field("cache_ttl", &self.cache_ttl)
            .field("cache_l1_capacity", &self.cache_l1_capacity)
            .field("cache_prefix", &self.cache_prefix)
            .field("cache_redis_timeout", &self.cache_redis_timeout)
            .field("breaker_threshold", &self.breaker_threshold)
            .field("breaker_cooldown", &self.breaker_cooldown)
            .field("leak_threshold", &self.leak_threshold)
            .finish()
    }
}

/// `postgres://user@host:port/dbname`: never the password.
impl fmt::Display for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "postgres://{}@{}:{}/{}",
            self.user, self.host, self.port, self.dbname
        )
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

    /// Parses a `postgres://user:password@host:port/dbname?...` URL (or a
    /// `key=value` connection string) on top of the defaults.
    ///
    /// Returns `Error::Config` naming `DATABASE_URL` if it does not parse.
    pub fn from_url(url: &str) -> Result<Self> {
        Config::new().apply_url(url)
    }

    fn apply_url(mut self, url: &str) -> Result<Self> {
        let pg = tokio_postgres::Config::from_str(url).map_err(|e| Error::Config {
            var: "DATABASE_URL",
            reason: format!("not a PostgreSQL connection URL ({e})"),
        })?;
        if let Some(tokio_postgres::config::Host::Tcp(h)) = pg.get_hosts().first() {
            self.host = h.clone();
        }
        if let Some(p) = pg.get_ports().first() {
            self.port = *p;
        }
        if let Some(u) = pg.get_user() {
            self.user = u.to_owned();
        }
        if let Some(p) = pg.get_password() {
            self.password = Some(Secret(String::from_utf8_lossy(p).into_owned()));
        }
        if let Some(d) = pg.get_dbname() {
            self.dbname = d.to_owned();
        }
        if let Some(a) = pg.get_application_name() {
            self.application_name = a.to_owned();
        }
        if let Some(t) = pg.get_connect_timeout() {
            self.connect_timeout = *t;
        }
        // `?options=-csearch_path%3Dapp` picks the schema; other options
        // are not carried over.
        if let Some(path) = pg.get_options().and_then(search_path_option) {
            self.search_path = Some(path);
        }
        // tokio-postgres defaults to `prefer`, which silently falls back to
        // plaintext; only an explicit `require` asks for TLS here.
        if pg.get_ssl_mode() == tokio_postgres::config::SslMode::Require {
            self.ssl = SslMode::Require;
        }
        Ok(self)
    }

    /// Reads the process environment; see [`Config::from_lookup`] for the variables.
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    /// Builds a config from any variable source (the environment, a map in tests).
    ///
    /// `DATABASE_URL` is read first; `DB_HOST`, `DB_PORT`, `DB_USER`,
    /// `DB_PASSWORD`, `DB_NAME` and `DB_SSL` then override its parts. Pool and
    /// timing: `DB_POOL_MAX`, `DB_POOL_MIN`, `DB_CONNECT_TIMEOUT_MS`,
    /// `DB_ACQUIRE_TIMEOUT_MS`, `DB_IDLE_TIMEOUT_MS`, `DB_STATEMENT_TIMEOUT_MS`
    /// (0 = none), `DB_SLOW_QUERY_MS`, `DB_RETRY_ATTEMPTS`, `DB_RETRY_DELAY_MS`,
    /// `DB_BREAKER_THRESHOLD`, `DB_BREAKER_COOLDOWN_MS`, `DB_LEAK_THRESHOLD_MS`.
    /// Cache: `REDIS_URL`, `CACHE_TTL_SECS`, `CACHE_L1_CAPACITY` (0 = no
    /// in-process tier), `CACHE_PREFIX`, `CACHE_REDIS_TIMEOUT_MS`.
    ///
    /// A malformed value is `Error::Config` naming the variable.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let get = |key: &str| lookup(key).filter(|v| !v.trim().is_empty());
        let mut c = Config::new();
        if let Some(url) = get("DATABASE_URL") {
            c = c.apply_url(&url)?;
        }
        if let Some(v) = get("DB_HOST") {
            c.host = v;
        }
        if let Some(v) = get("DB_PORT") {
            c.port = parse("DB_PORT", &v)?;
        }
        if let Some(v) = get("DB_USER") {
            c.user = v;
        }
        if let Some(v) = lookup("DB_PASSWORD") {
            c.password = Some(Secret(v));
        }
        if let Some(v) = get("DB_NAME") {
            c.dbname = v;
        }
        if let Some(v) = get("DB_SSL") {
            c.ssl = match v.to_ascii_lowercase().as_str() {
                "1" | "true" | "on" | "require" | "yes" => SslMode::Require,
                "0" | "false" | "off" | "disable" | "no" => SslMode::Disable,
                _ => {
                    return Err(Error::Config {
                        var: "DB_SSL",
                        reason: format!("expected true or false, found {v:?}"),
                    });
                }
            };
        }
        if let Some(v) = get("DB_POOL_MAX") {
            c.pool_max = parse("DB_POOL_MAX", &v)?;
        }
        if let Some(v) = get("DB_POOL_MIN") {
            c.pool_min = parse("DB_POOL_MIN", &v)?;
        }
        if let Some(v) = get("DB_CONNECT_TIMEOUT_MS") {
            c.connect_timeout = millis("DB_CONNECT_TIMEOUT_MS", &v)?;
        }
        if let Some(v) = get("DB_ACQUIRE_TIMEOUT_MS") {
            c.acquire_timeout = millis("DB_ACQUIRE_TIMEOUT_MS", &v)?;
        }
        if let Some(v) = get("DB_IDLE_TIMEOUT_MS") {
            c.idle_timeout = Some(millis("DB_IDLE_TIMEOUT_MS", &v)?).filter(|d| !d.is_zero());
        }
        if let Some(v) = get("DB_STATEMENT_TIMEOUT_MS") {
            c.statement_timeout =
                Some(millis("DB_STATEMENT_TIMEOUT_MS", &v)?).filter(|d| !d.is_zero());
        }
        if let Some(v) = get("DB_SLOW_QUERY_MS") {
            c.slow_query = millis("DB_SLOW_QUERY_MS", &v)?;
        }
        if let Some(v) = get("DB_RETRY_ATTEMPTS") {
            c.retry_attempts = parse("DB_RETRY_ATTEMPTS", &v)?;
        }
        if let Some(v) = get("DB_RETRY_DELAY_MS") {
            c.retry_delay = millis("DB_RETRY_DELAY_MS", &v)?;
        }
        if let Some(v) = get("REDIS_URL") {
            c.redis_url = Some(Secret(v));
        }
        if let Some(v) = get("CACHE_TTL_SECS") {
            c.cache_ttl = Duration::from_secs(parse("CACHE_TTL_SECS", &v)?);
        }
        if let Some(v) = get("CACHE_L1_CAPACITY") {
            c.cache_l1_capacity = parse("CACHE_L1_CAPACITY", &v)?;
        }
        if let Some(v) = get("CACHE_PREFIX") {
            c.cache_prefix = Some(v);
        }
        if let Some(v) = get("DB_BREAKER_THRESHOLD") {
            c.breaker_threshold = parse("DB_BREAKER_THRESHOLD", &v)?;
        }
        if let Some(v) = get("DB_BREAKER_COOLDOWN_MS") {
            c.breaker_cooldown = millis("DB_BREAKER_COOLDOWN_MS", &v)?;
        }
        if let Some(v) = get("DB_LEAK_THRESHOLD_MS") {
            c.leak_threshold = millis("DB_LEAK_THRESHOLD_MS", &v)?;
        }
        if let Some(v) = get("CACHE_REDIS_TIMEOUT_MS") {
            c.cache_redis_timeout = millis("CACHE_REDIS_TIMEOUT_MS", &v)?;
        }
        c.validate()?;
        Ok(c)
    }

    /// Checks values that parse but make no sense together.
    pub(crate) fn validate(&self) -> Result<()> {
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
        Ok(())
    }

    /// Server host name or IP.
    #[must_use]
    pub fn host(mut self, value: impl Into<String>) -> Self {
        self.host = value.into();
        self
    }

    setter!(
        /// Server port.
        port: u16
    );
    /// Role to log in as.
    #[must_use]
    pub fn user(mut self, value: impl Into<String>) -> Self {
        self.user = value.into();
        self
    }

    /// Database name.
    #[must_use]
    pub fn dbname(mut self, value: impl Into<String>) -> Self {
        self.dbname = value.into();
        self
    }

    setter!(
        /// TLS policy; `Require` fails closed.
        ssl: SslMode
    );
    setter!(
        /// Largest number of pooled connections (`DB_POOL_MAX`, default 20).
        pool_max: usize
    );
    setter!(
        /// Connections opened at connect time and kept through idle trimming (`DB_POOL_MIN`).
        pool_min: usize
    );
    setter!(
        /// Bound on opening one connection, TCP plus startup (`DB_CONNECT_TIMEOUT_MS`, default 2 s).
        connect_timeout: Duration
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
        /// Attempts for connecting and for retried transactions (`DB_RETRY_ATTEMPTS`, default 3).
        retry_attempts: u32
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

    /// Key prefix in Redis (`CACHE_PREFIX`); default `strata:<dbname>:<search_path>`,
    /// so two apps or schemas sharing a Redis never read each other's entries.
    #[must_use]
    pub fn cache_prefix(mut self, value: impl Into<String>) -> Self {
        self.cache_prefix = Some(value.into());
        self
    }

    pub(crate) fn cache_settings(&self) -> crate::cache::CacheSettings {
        crate::cache::CacheSettings {
            l1_capacity: self.cache_l1_capacity,
            redis_url: self.redis_url.as_ref().map(|s| s.expose().to_owned()),
            prefix: self.cache_prefix.clone().unwrap_or_else(|| {
                format!(
                    "strata:{}:{}",
                    self.dbname,
                    self.search_path.as_deref().unwrap_or("public")
                )
            }),
            ttl: self.cache_ttl,
            redis_timeout: self.cache_redis_timeout,
        }
    }

    /// The password; never printed.
    #[must_use]
    pub fn password(mut self, value: impl Into<String>) -> Self {
        self.password = Some(Secret(value.into()));
        self
    }

    /// Sets `search_path` on every pooled connection at connect time, so
    /// unqualified table names resolve to this schema.
    #[must_use]
    pub fn search_path(mut self, schema: impl Into<String>) -> Self {
        self.search_path = Some(schema.into());
        self
    }

    /// `application_name` shown in `pg_stat_activity`.
    #[must_use]
    pub fn application_name(mut self, value: impl Into<String>) -> Self {
        self.application_name = value.into();
        self
    }

    /// Redis URL for the shared cache tier (`REDIS_URL`); never printed.
    #[must_use]
    pub fn redis_url(mut self, value: impl Into<String>) -> Self {
        self.redis_url = Some(Secret(value.into()));
        self
    }

    /// The configured pool size.
    pub fn get_pool_max(&self) -> usize {
        self.pool_max
    }

    /// The configured search path, if any.
    pub fn get_search_path(&self) -> Option<&str> {
        self.search_path.as_deref()
    }

    /// The tokio-postgres config this one connects with.
    pub(crate) fn to_pg(&self) -> tokio_postgres::Config {
        let mut pg = tokio_postgres::Config::new();
        pg.host(&self.host)
            .port(self.port)
            .user(&self.user)
            .dbname(&self.dbname)
            .application_name(&self.application_name)
            .connect_timeout(self.connect_timeout)
            // Detect a silently dead peer: keepalives for idle connections,
            // a TCP user timeout for unacknowledged writes.
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(30))
            .keepalives_interval(Duration::from_secs(5))
            .keepalives_retries(3)
            .tcp_user_timeout(self.connect_timeout.max(Duration::from_secs(10)))
            .ssl_mode(match self.ssl {
                SslMode::Disable => tokio_postgres::config::SslMode::Disable,
                SslMode::Require => tokio_postgres::config::SslMode::Require,
            });
        if let Some(p) = &self.password {
            pg.password(p.expose());
        }
        let mut options = String::new();
        if let Some(t) = self.statement_timeout {
            options.push_str(&format!("-c statement_timeout={} ", t.as_millis()));
        }
        if let Some(s) = &self.search_path {
            // The server splits `options` on spaces; a backslash escapes one
            // (so `app, public` stays one value).
            let escaped = s.replace('\\', "\\\\").replace(' ', "\\ ");
            options.push_str(&format!("-c search_path={escaped}"));
        }
        if !options.is_empty() {
            pg.options(options.trim_end());
        }
        pg
    }
}

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

fn parse<T: FromStr>(var: &'static str, value: &str) -> Result<T>
where
    T::Err: fmt::Display,
{
    value.trim().parse().map_err(|e| Error::Config {
        var,
        reason: format!("cannot parse {value:?} ({e})"),
    })
}

fn millis(var: &'static str, value: &str) -> Result<Duration> {
    parse::<u64>(var, value).map(Duration::from_millis)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from(vars: &[(&str, &str)]) -> Result<Config> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn url_options_set_the_search_path() {
        for url in [
            "postgres://u@h/db?options=-csearch_path%3Dapp",
            "postgres://u@h/db?options=-c%20search_path%3Dapp",
            "postgres://u@h/db?options=--search_path%3Dapp",
        ] {
            let c = from(&[("DATABASE_URL", url)]).unwrap();
            assert_eq!(c.get_search_path(), Some("app"), "{url}");
        }
        let c = from(&[("DATABASE_URL", "postgres://u@h/db")]).unwrap();
        assert_eq!(c.get_search_path(), None);
    }

    #[test]
    fn url_then_overrides() {
        let c = from(&[
            ("DATABASE_URL", "postgres://app:pw@db.example:6543/shop"),
            ("DB_NAME", "other"),
            ("DB_POOL_MAX", "7"),
            ("DB_STATEMENT_TIMEOUT_MS", "0"),
        ])
        .unwrap();
        assert_eq!(
            (c.host.as_str(), c.port, c.user.as_str()),
            ("db.example", 6543, "app")
        );
        assert_eq!(c.dbname, "other");
        assert_eq!(c.pool_max, 7);
        assert_eq!(c.statement_timeout, None);
        assert_eq!(c.password.as_ref().unwrap().expose(), "pw");
    }

    #[test]
    fn defaults() {
        let c = from(&[]).unwrap();
        assert_eq!(c.pool_max, 20);
        assert_eq!(c.retry_attempts, 3);
        assert_eq!(c.ssl, SslMode::Disable);
    }

    #[test]
    fn malformed_values_name_the_variable() {
        for (var, value) in [
            ("DB_PORT", "54x"),
            ("DB_POOL_MAX", "-1"),
            ("DB_CONNECT_TIMEOUT_MS", "soon"),
            ("DB_RETRY_ATTEMPTS", "three"),
            ("DB_SSL", "maybe"),
            ("CACHE_L1_CAPACITY", "1e9"),
            ("DATABASE_URL", "postgres://a:b@h:notaport/db"),
        ] {
            let err = from(&[(var, value)]).unwrap_err();
            match &err {
                Error::Config { var: v, .. } => assert_eq!(*v, var, "{err}"),
                other => panic!("expected Config error for {var}, got {other:?}"),
            }
            assert!(err.to_string().contains(var), "{err}");
        }
        let err = from(&[("DB_POOL_MAX", "2"), ("DB_POOL_MIN", "3")]).unwrap_err();
        assert!(err.to_string().contains("DB_POOL_MIN"), "{err}");
    }

    #[test]
    fn password_is_never_printed() {
        let secret = "s3cr3t-pa55";
        for c in [
            from(&[("DATABASE_URL", &format!("postgres://u:{secret}@h/db"))]).unwrap(),
            from(&[
                ("DB_PASSWORD", secret),
                ("REDIS_URL", &format!("redis://:{secret}@r")),
            ])
            .unwrap(),
        ] {
            for shown in [format!("{c:?}"), format!("{c:#?}"), c.to_string()] {
                assert!(!shown.contains(secret), "password leaked: {shown}");
            }
            // The driver config we hand over redacts it too.
            assert!(!format!("{:?}", c.to_pg()).contains(secret));
        }
    }
}
