//! TLS to Redis (`rediss://`): the files of `REDIS_SSLROOTCERT`,
//! `REDIS_SSLCERT` and `REDIS_SSLKEY`, read into the redis crate's
//! certificates (its rustls connector, host name always verified).

use std::path::PathBuf;

use crate::error::{Error, Result};

/// The Redis TLS settings of a config, as given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RedisTlsSettings {
    /// Trusted roots (PEM); without one, the platform's store.
    pub(crate) root_cert: Option<PathBuf>,
    /// Client certificate (PEM), with `key`.
    pub(crate) cert: Option<PathBuf>,
    /// Client key (PEM), with `cert`.
    pub(crate) key: Option<PathBuf>,
}

/// What the Redis client is built with: the redis crate's certificates.
#[cfg(all(feature = "tls", feature = "redis"))]
pub(crate) type RedisTls = redis::TlsCertificates;

/// Without the `tls` (or `redis`) feature there is nothing to build with.
#[cfg(not(all(feature = "tls", feature = "redis")))]
#[derive(Debug, Clone)]
pub(crate) enum RedisTls {}

impl RedisTlsSettings {
    fn given(&self) -> bool {
        self.root_cert.is_some() || self.cert.is_some() || self.key.is_some()
    }

    /// Checks the settings against `url` and reads the files: `None` when
    /// none is set.
    ///
    /// Returns `Error::Config` naming the variable (and the file) for a
    /// missing or unreadable file, half a client certificate, or TLS
    /// settings with a plaintext `redis://` URL (strata does not quietly
    /// ignore a request for TLS).
    pub(crate) fn load(&self, url: Option<&str>) -> Result<Option<RedisTls>> {
        if !self.given() {
            return Ok(None);
        }
        if !url.is_some_and(|u| u.starts_with("rediss://")) {
            return Err(Error::Config {
                var: "REDIS_URL",
                reason: "REDIS_SSLROOTCERT/REDIS_SSLCERT/REDIS_SSLKEY are set, so the URL \
                         must be rediss:// (TLS)"
                    .into(),
            });
        }
        self.read()
    }

    #[cfg(all(feature = "tls", feature = "redis"))]
    fn read(&self) -> Result<Option<RedisTls>> {
        let read = |var: &'static str, path: &PathBuf| {
            std::fs::read(path).map_err(|e| Error::Config {
                var,
                reason: format!("cannot read {} ({e})", path.display()),
            })
        };
        let client_tls = match (&self.cert, &self.key) {
            (None, None) => None,
            (Some(cert), Some(key)) => Some(redis::ClientTlsConfig {
                client_cert: read("REDIS_SSLCERT", cert)?,
                client_key: read("REDIS_SSLKEY", key)?,
            }),
            (Some(path), None) | (None, Some(path)) => {
                return Err(Error::Config {
                    var: if self.cert.is_none() {
                        "REDIS_SSLCERT"
                    } else {
                        "REDIS_SSLKEY"
                    },
                    reason: format!(
                        "{} is given alone; a client certificate needs both REDIS_SSLCERT \
                         and REDIS_SSLKEY",
                        path.display()
                    ),
                });
            }
        };
        let root_cert = match &self.root_cert {
            Some(path) => Some(read("REDIS_SSLROOTCERT", path)?),
            None => None,
        };
        Ok(Some(redis::TlsCertificates {
            client_tls,
            root_cert,
        }))
    }

    #[cfg(not(all(feature = "tls", feature = "redis")))]
    fn read(&self) -> Result<Option<RedisTls>> {
        Err(Error::Config {
            var: "REDIS_URL",
            reason: if cfg!(feature = "redis") {
                "TLS to Redis asked for, but strata was built without its `tls` feature"
            } else {
                "strata was built without its `redis` feature: enable it, or unset REDIS_URL"
            }
            .into(),
        })
    }
}

#[cfg(feature = "redis")]
/// The Redis client for `url`, over TLS with `tls`'s certificates if
/// given (a `rediss://` URL without them uses the platform's roots).
pub(crate) fn redis_client(url: &str, tls: Option<&RedisTls>) -> redis::RedisResult<redis::Client> {
    match tls {
        #[cfg(feature = "tls")]
        Some(certs) => redis::Client::build_with_tls(url, certs.clone()),
        #[cfg(not(feature = "tls"))]
        Some(never) => match *never {},
        None => redis::Client::open(url),
    }
}
