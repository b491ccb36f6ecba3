//! Read replicas: their URLs (`DB_REPLICA_URLS`), how stale one may be
//! (`DB_REPLICA_MAX_LAG_MS`) and how often each is checked
//! (`DB_REPLICA_CHECK_MS`). Routing itself is `crate::replica`'s.
//!
//! A replica URL names a server; what it leaves out (user, password,
//! database) is the primary's, and every strata setting of the primary
//! (timeouts, `search_path`, TLS, the audit policy) applies to it too: a
//! replica is the same database, reached elsewhere.

use std::time::Duration;

use tokio_postgres::Config as PgConfig;
use tokio_postgres::config::Host;

use super::{Config, Secret};
use crate::error::{Error, Result};

/// The replica settings of a [`Config`].
#[derive(Clone, Debug)]
pub(crate) struct ReplicaSettings {
    /// One URL per replica; they may hold passwords, so they never print.
    pub(crate) urls: Vec<Secret>,
    /// A replica further behind the primary than this serves no reads.
    pub(crate) max_lag: Duration,
    /// How often each replica (and the primary's WAL position) is read.
    pub(crate) check_every: Duration,
    /// Whether the primary takes a share of the reads too.
    pub(crate) primary_reads: bool,
}

impl Default for ReplicaSettings {
    fn default() -> Self {
        ReplicaSettings {
            urls: Vec::new(),
            max_lag: Duration::from_secs(1),
            check_every: Duration::from_millis(100),
            primary_reads: false,
        }
    }
}

/// `url` parsed, or `Error::Config` naming `DB_REPLICA_URLS` and which entry.
fn parse(i: usize, url: &str) -> Result<PgConfig> {
    url.parse().map_err(|e| Error::Config {
        var: "DB_REPLICA_URLS",
        reason: format!("entry {} is not a PostgreSQL connection URL ({e})", i + 1),
    })
}

impl ReplicaSettings {
    /// Splits `DB_REPLICA_URLS` (comma separated; blanks skipped).
    pub(crate) fn set_urls(&mut self, list: &str) {
        self.urls = list
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(Secret::new)
            .collect();
    }

    pub(crate) fn check(&self) -> Result<()> {
        for (i, url) in self.urls.iter().enumerate() {
            let pg = parse(i, url.expose())?;
            if pg.get_hosts().is_empty() && pg.get_hostaddrs().is_empty() {
                return Err(Error::Config {
                    var: "DB_REPLICA_URLS",
                    reason: format!("entry {} names no host", i + 1),
                });
            }
        }
        if self.check_every.is_zero() {
            return Err(Error::Config {
                var: "DB_REPLICA_CHECK_MS",
                reason: "must be at least 1".into(),
            });
        }
        Ok(())
    }
}

impl Config {
    /// Adds a read replica (`DB_REPLICA_URLS`, comma separated). Reads
    /// outside a transaction go to a healthy replica that has replayed the
    /// caller's writes; see the README's "Read replicas".
    ///
    /// What the URL leaves out (user, password, database) is the
    /// primary's; every other strata setting applies to it as well.
    #[must_use]
    pub fn replica_url(mut self, url: impl Into<String>) -> Self {
        self.replicas.urls.push(Secret::new(url));
        self
    }

    /// A replica more than this behind the primary serves no reads
    /// (`DB_REPLICA_MAX_LAG_MS`, default 1 s).
    #[must_use]
    pub fn replica_max_lag(mut self, lag: Duration) -> Self {
        self.replicas.max_lag = lag;
        self
    }

    /// How often each replica's replay position and health are read
    /// (`DB_REPLICA_CHECK_MS`, default 100 ms). A write's reads return to
    /// replicas within about this long after it, once they have replayed it.
    #[must_use]
    pub fn replica_check_interval(mut self, every: Duration) -> Self {
        self.replicas.check_every = every;
        self
    }

    /// Whether the primary takes an equal share of the reads the replicas
    /// may serve (`DB_REPLICA_PRIMARY_READS`, default `false`: replicas
    /// take them all, to offload the primary). With one replica and a
    /// primary that has room, `true` spreads reads over both.
    #[must_use]
    pub fn replica_primary_reads(mut self, on: bool) -> Self {
        self.replicas.primary_reads = on;
        self
    }

    /// The config replica `i` connects with: this one, with the replica's
    /// server, and its user, password and database where its URL has them.
    pub(crate) fn for_replica(&self, i: usize) -> Result<Config> {
        let url = parse(i, self.replicas.urls[i].expose())?;
        let mut pg = PgConfig::new();
        match (url.get_hosts().first(), url.get_hostaddrs().first()) {
            (Some(Host::Tcp(name)), _) => {
                pg.host(name);
            }
            #[cfg(unix)]
            (Some(Host::Unix(path)), _) => {
                pg.host_path(path);
            }
            (None, Some(addr)) => {
                pg.hostaddr(*addr);
            }
            (None, None) => unreachable!("checked: a replica URL names a host"),
        }
        if let Some(port) = url.get_ports().first() {
            pg.port(*port);
        }
        let primary = &self.pg;
        // One role on every server: the session check after raw SQL and
        // the row-level-security role check hold for the primary's login.
        if let Some(own) = url.get_user()
            && own != self.get_user()
        {
            return Err(Error::Config {
                var: "DB_REPLICA_URLS",
                reason: format!(
                    "entry {} logs in as {own:?}, not the primary's role {:?}: every \
                     server must be reached as the same role",
                    i + 1,
                    self.get_user()
                ),
            });
        }
        let user = url.get_user().or(primary.get_user());
        let password = url.get_password().or(primary.get_password());
        let dbname = url.get_dbname().or(primary.get_dbname());
        if let Some(user) = user {
            pg.user(user);
        }
        if let Some(password) = password {
            pg.password(password);
        }
        if let Some(dbname) = dbname {
            pg.dbname(dbname);
        }
        if let Some(options) = primary.get_options() {
            pg.options(options);
        }
        if let Some(name) = primary.get_application_name() {
            pg.application_name(name);
        }
        pg.connect_timeout(self.get_connect_timeout());
        Ok(Config {
            pg: super::connection::with_defaults(pg),
            ..self.clone()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replica_inherits_what_its_url_leaves_out() {
        let c = Config::from_url("postgres://app:pw@db1:5432/shop")
            .unwrap()
            .replica_url("postgres://db2:6543")
            .replica_url("postgres://app@db3/reports")
            .replica_url("postgres://other@db4");
        let r = c.for_replica(0).unwrap();
        assert_eq!(r.to_string(), "postgres://app@db2:6543/shop");
        assert_eq!(r.pg.get_password(), Some(&b"pw"[..]));
        let own_db = c.for_replica(1).unwrap().to_string();
        assert_eq!(own_db, "postgres://app@db3:5432/reports");
        let err = c.for_replica(2).unwrap_err().to_string();
        assert!(err.contains("not the primary's role"), "{err}");
    }

    #[test]
    fn bad_replica_urls_name_the_entry() {
        let mut s = ReplicaSettings::default();
        s.set_urls("postgres://a, ,postgres://b:notaport");
        assert_eq!(s.urls.len(), 2);
        let err = s.check().unwrap_err().to_string();
        assert!(
            err.contains("DB_REPLICA_URLS") && err.contains("entry 2"),
            "{err}"
        );
    }
}
