//! How to reach PostgreSQL: a `tokio_postgres::Config`, with strata's
//! defaults for what it leaves unset.
//!
//! tokio-postgres's config is the one place the connection settings live
//! (hosts, ports, user, password, database, `options`, TLS mode, timeouts,
//! keepalives, `target_session_attrs`, ...): `DATABASE_URL` is parsed by it
//! (see `env`), so every parameter it understands is kept, and the `DB_*`
//! variables and the builder's setters write into it. strata adds only what it owns on top
//! when it connects ([`Config::to_pg`]): the session's `statement_timeout`
//! and `search_path`, and a TCP user timeout derived from the connect
//! timeout.
//!
//! Its `host` and `port` setters append (one entry per server to try) and
//! nothing clears them, so replacing them builds a new tokio-postgres config
//! with every other setting carried over ([`replace_endpoints`]).

use std::time::Duration;

use tokio_postgres::Config as PgConfig;
use tokio_postgres::config::Host;
#[cfg(test)]
use tokio_postgres::config::SslMode as PgSslMode;

use super::Config;

const DEFAULT_HOST: &str = "127.0.0.1";
const DEFAULT_PORT: u16 = 5432;
const DEFAULT_USER: &str = "postgres";
const DEFAULT_DBNAME: &str = "postgres";
const DEFAULT_APPLICATION_NAME: &str = "strata";
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// strata's connection defaults, for each setting `pg` leaves unset: every
/// timeout finite (tokio-postgres sets none) and keepalives that notice a
/// dead peer within a minute. The TLS mode is not tokio-postgres's to
/// default (its `prefer` falls back to plaintext): [`Config::to_pg`] sets
/// it from strata's own TLS settings.
pub(super) fn with_defaults(mut pg: PgConfig) -> PgConfig {
    if pg.get_hosts().is_empty() && pg.get_hostaddrs().is_empty() {
        pg.host(DEFAULT_HOST);
    }
    if pg.get_user().is_none() {
        pg.user(DEFAULT_USER);
    }
    if pg.get_dbname().is_none() {
        pg.dbname(DEFAULT_DBNAME);
    }
    if pg.get_application_name().is_none() {
        pg.application_name(DEFAULT_APPLICATION_NAME);
    }
    if pg.get_connect_timeout().is_none() {
        pg.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
    }
    // The idle time has no "unset": tokio-postgres's own default (2 h) is
    // taken as not chosen.
    if pg.get_keepalives_idle() == PgConfig::new().get_keepalives_idle() {
        pg.keepalives_idle(Duration::from_secs(30));
    }
    if pg.get_keepalives_interval().is_none() {
        pg.keepalives_interval(Duration::from_secs(5));
    }
    if pg.get_keepalives_retries().is_none() {
        pg.keepalives_retries(3);
    }
    pg
}

/// `pg` with its hosts replaced by `host` (their `hostaddr`s dropped, the
/// first port kept) and/or its ports by `port`, every other setting as it
/// was.
fn replace_endpoints(pg: &PgConfig, host: Option<&str>, port: Option<u16>) -> PgConfig {
    let mut out = PgConfig::new();
    if let Some(host) = host {
        out.host(host);
    } else {
        for host in pg.get_hosts() {
            match host {
                Host::Tcp(name) => out.host(name),
                #[cfg(unix)]
                Host::Unix(path) => out.host_path(path),
            };
        }
        for addr in pg.get_hostaddrs() {
            out.hostaddr(*addr);
        }
    }
    let ports = match (port, host) {
        (Some(port), _) => &[port][..],
        (None, Some(_)) => pg.get_ports().get(..1).unwrap_or_default(),
        (None, None) => pg.get_ports(),
    };
    for port in ports {
        out.port(*port);
    }
    if let Some(user) = pg.get_user() {
        out.user(user);
    }
    if let Some(password) = pg.get_password() {
        out.password(password);
    }
    if let Some(dbname) = pg.get_dbname() {
        out.dbname(dbname);
    }
    if let Some(options) = pg.get_options() {
        out.options(options);
    }
    if let Some(name) = pg.get_application_name() {
        out.application_name(name);
    }
    if let Some(timeout) = pg.get_connect_timeout() {
        out.connect_timeout(*timeout);
    }
    if let Some(timeout) = pg.get_tcp_user_timeout() {
        out.tcp_user_timeout(*timeout);
    }
    if let Some(interval) = pg.get_keepalives_interval() {
        out.keepalives_interval(interval);
    }
    if let Some(retries) = pg.get_keepalives_retries() {
        out.keepalives_retries(retries);
    }
    out.ssl_mode(pg.get_ssl_mode())
        .ssl_negotiation(pg.get_ssl_negotiation())
        .keepalives(pg.get_keepalives())
        .keepalives_idle(pg.get_keepalives_idle())
        .target_session_attrs(pg.get_target_session_attrs())
        .channel_binding(pg.get_channel_binding())
        .load_balance_hosts(pg.get_load_balance_hosts());
    out
}

impl Config {
    /// Server host name or IP (or a Unix socket directory, starting with
    /// `/`), replacing any host given before.
    #[must_use]
    pub fn host(mut self, value: impl Into<String>) -> Self {
        self.pg = replace_endpoints(&self.pg, Some(&value.into()), None);
        self
    }

    /// Server port, replacing any port given before.
    #[must_use]
    pub fn port(mut self, value: u16) -> Self {
        self.pg = replace_endpoints(&self.pg, None, Some(value));
        self
    }

    /// Role to log in as.
    #[must_use]
    pub fn user(mut self, value: impl Into<String>) -> Self {
        self.pg.user(value);
        self
    }

    /// The password; never printed.
    #[must_use]
    pub fn password(mut self, value: impl Into<String>) -> Self {
        self.pg.password(value.into());
        self
    }

    /// Database name.
    #[must_use]
    pub fn dbname(mut self, value: impl Into<String>) -> Self {
        self.pg.dbname(value);
        self
    }

    /// `application_name` shown in `pg_stat_activity`.
    #[must_use]
    pub fn application_name(mut self, value: impl Into<String>) -> Self {
        self.pg.application_name(value);
        self
    }

    /// Bound on opening one connection, TCP plus startup (`DB_CONNECT_TIMEOUT_MS`, default 2 s).
    #[must_use]
    pub fn connect_timeout(mut self, value: Duration) -> Self {
        self.pg.connect_timeout(value);
        self
    }

    /// The role strata logs in as (`postgres` if none is set).
    pub fn get_user(&self) -> &str {
        self.pg.get_user().unwrap_or(DEFAULT_USER)
    }

    /// The database name (`postgres` if none is set).
    pub fn get_dbname(&self) -> &str {
        self.pg.get_dbname().unwrap_or(DEFAULT_DBNAME)
    }

    /// The bound on opening one connection.
    pub(crate) fn get_connect_timeout(&self) -> Duration {
        self.pg
            .get_connect_timeout()
            .copied()
            .unwrap_or(DEFAULT_CONNECT_TIMEOUT)
    }

    /// The tokio-postgres config this one connects with: the connection
    /// settings, plus strata's session settings in `options` (after the
    /// URL's own, so they win), a TCP user timeout unless one was given,
    /// and the `sslmode` that matches strata's TLS settings.
    pub(crate) fn to_pg(&self) -> PgConfig {
        let mut pg = self.pg.clone();
        pg.ssl_mode(self.tls.pg_mode());
        if pg.get_tcp_user_timeout().is_none() {
            // Detects a silently dead peer under unacknowledged writes, as
            // the keepalives do for idle connections.
            pg.tcp_user_timeout(self.get_connect_timeout().max(Duration::from_secs(10)));
        }
        let mut options: Vec<String> = pg.get_options().map(str::to_owned).into_iter().collect();
        if let Some(t) = self.statement_timeout {
            options.push(format!("-c statement_timeout={}", t.as_millis()));
        }
        if let Some(s) = &self.search_path {
            // The server splits `options` on spaces; a backslash escapes one
            // (so `app, public` stays one value).
            let escaped = s.replace('\\', "\\\\").replace(' ', "\\ ");
            options.push(format!("-c search_path={escaped}"));
        }
        options.push(super::audit::session_options(&self.audit_without_actor));
        pg.options(options.join(" "));
        pg
    }
}

impl Config {
    /// The first server's host (a name, an address or a socket directory)
    /// and port.
    pub(crate) fn endpoint(&self) -> (String, u16) {
        let host = match (self.pg.get_hosts().first(), self.pg.get_hostaddrs().first()) {
            (Some(Host::Tcp(name)), _) => name.clone(),
            #[cfg(unix)]
            (Some(Host::Unix(path)), _) => path.display().to_string(),
            (None, Some(addr)) => addr.to_string(),
            (None, None) => DEFAULT_HOST.to_owned(),
        };
        let port = self.pg.get_ports().first().copied().unwrap_or(DEFAULT_PORT);
        (host, port)
    }
}

/// `postgres://user@host:port/dbname` of the first host: never the password.
impl std::fmt::Display for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (host, port) = self.endpoint();
        write!(
            f,
            "postgres://{}@{host}:{port}/{}",
            self.get_user(),
            self.get_dbname()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pg(s: &str) -> PgConfig {
        s.parse().unwrap()
    }

    /// Every setting tokio-postgres parses, so a field the copy forgets
    /// makes the configs differ.
    const EVERY_SETTING: &str = "user=u password=p dbname=d options='-c work_mem=4MB' \
        application_name=a sslmode=require sslnegotiation=direct connect_timeout=3 \
        tcp_user_timeout=4 keepalives=0 keepalives_idle=5 keepalives_interval=6 \
        keepalives_retries=7 target_session_attrs=read-write channel_binding=require \
        load_balance_hosts=random";

    #[test]
    fn replacing_endpoints_keeps_every_other_setting() {
        let before = pg(&format!(
            "host=h1,h2 hostaddr=10.0.0.1,10.0.0.2 port=1,2 {EVERY_SETTING}"
        ));
        assert_eq!(
            replace_endpoints(&before, Some("h3"), None),
            pg(&format!("host=h3 port=1 {EVERY_SETTING}"))
        );
        assert_eq!(
            replace_endpoints(&before, None, Some(9)),
            pg(&format!(
                "host=h1,h2 hostaddr=10.0.0.1,10.0.0.2 port=9 {EVERY_SETTING}"
            ))
        );
        assert_eq!(
            replace_endpoints(&before, None, None),
            before,
            "a copy with nothing replaced is the same config"
        );
    }

    #[test]
    fn the_url_is_kept_whole() {
        let c = Config::from_url(
            "postgres://app@db1:6000,db2:6001/shop?options=-c%20work_mem%3D4MB\
             &target_session_attrs=read-write&keepalives_idle=60&connect_timeout=9",
        )
        .unwrap();
        let pg = c.to_pg();
        assert_eq!(pg.get_hosts().len(), 2);
        assert_eq!(pg.get_ports(), [6000, 6001]);
        assert_eq!(
            pg.get_target_session_attrs(),
            tokio_postgres::config::TargetSessionAttrs::ReadWrite
        );
        assert_eq!(pg.get_keepalives_idle(), Duration::from_secs(60));
        assert_eq!(c.get_connect_timeout(), Duration::from_secs(9));
        // strata's session settings follow the URL's options, so they win.
        assert_eq!(
            pg.get_options(),
            Some("-c work_mem=4MB -c statement_timeout=5000 -c strata.audit_without_actor=refuse")
        );
        assert_eq!(c.to_string(), "postgres://app@db1:6000/shop");
        let system = c.audit_without_actor(crate::audit::WithoutActor::System("cron job".into()));
        assert!(
            system.to_pg().get_options().unwrap().ends_with(
                "-c strata.audit_without_actor=system -c strata.audit_system_actor=cron\\ job"
            ),
            "{:?}",
            system.to_pg().get_options()
        );
    }

    #[test]
    fn defaults_fill_what_the_url_leaves_out() {
        let c = Config::from_url("postgres://").unwrap();
        assert_eq!(c.to_string(), "postgres://postgres@127.0.0.1:5432/postgres");
        let pg = c.to_pg();
        assert_eq!(pg.get_application_name(), Some("strata"));
        assert_eq!(pg.get_ssl_mode(), PgSslMode::Disable);
        assert_eq!(pg.get_keepalives_idle(), Duration::from_secs(30));
        assert_eq!(pg.get_tcp_user_timeout(), Some(&Duration::from_secs(10)));
        assert_eq!(c.get_connect_timeout(), DEFAULT_CONNECT_TIMEOUT);
        // `prefer` falls back to plaintext: kept as given, so that
        // `validate` refuses it without the opt-in.
        let prefer = Config::from_url("postgres://h/db?sslmode=prefer").unwrap();
        assert_eq!(prefer.get_ssl(), crate::SslMode::Prefer);
        assert!(prefer.validate().is_err());
        let require = Config::from_url("postgres://h/db?sslmode=require").unwrap();
        assert_eq!(require.get_ssl(), crate::SslMode::Require);
    }

    #[test]
    fn host_and_port_replace() {
        let c = Config::from_url("postgres://u@h1:7/db")
            .unwrap()
            .host("h2")
            .port(8);
        assert_eq!(c.to_string(), "postgres://u@h2:8/db");
        assert_eq!(c.to_pg().get_hosts().len(), 1);
    }
}
