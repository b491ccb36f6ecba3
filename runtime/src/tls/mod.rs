//! TLS to PostgreSQL: libpq's `sslmode`, `sslrootcert`, `sslcert` and
//! `sslkey`, and the connector every pooled connection is opened with.
//!
//! Part of the *acquire* stage: it decides how a new connection's bytes are
//! protected, before the first statement. The settings ([`TlsSettings`]) are
//! plain values the config parses; [`TlsSettings::check`] reads every file
//! they name (so a missing or mismatched one is `Error::Config` before any
//! connection), and [`manager`] builds the pool's connection factory with
//! strata's rustls connector (`connect.rs`, certificate checks per mode in
//! `verify.rs`) or, for `disable`, plain TCP.
//!
//! It fails closed: `require` and the `verify-*` modes never fall back to
//! plaintext, and `prefer`/`allow` (which do) are refused unless
//! [`Config::allow_plaintext_fallback`](crate::Config::allow_plaintext_fallback)
//! opts in.

#[cfg(feature = "tls")]
mod connect;
#[cfg(feature = "tls")]
mod load;
mod redis;
#[cfg(feature = "tls")]
mod verify;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use deadpool_postgres::{Manager, ManagerConfig};
use tokio_postgres::config::SslMode as PgSslMode;

use crate::error::{Error, Result};

#[cfg(feature = "redis")]
pub(crate) use self::redis::redis_client;
pub(crate) use self::redis::{RedisTls, RedisTlsSettings};

/// libpq's `sslmode`: whether to use TLS and what to check of the server.
///
/// strata never falls back to plaintext when TLS was asked for: `prefer`
/// and `allow` (which do) are refused unless the config opts in with
/// [`Config::allow_plaintext_fallback`](crate::Config::allow_plaintext_fallback).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SslMode {
    /// Plain TCP.
    Disable,
    /// libpq's `allow`; strata tries TLS first, as `prefer` does. Refused
    /// without the plaintext opt-in.
    Allow,
    /// TLS if the server offers it, else plaintext, without checking the
    /// certificate. Refused without the plaintext opt-in.
    Prefer,
    /// TLS or nothing; the certificate is not checked (as libpq), unless
    /// `sslrootcert` is given, which makes it `VerifyCa` (as libpq).
    Require,
    /// TLS with a certificate chain to a trusted root; any host name.
    VerifyCa,
    /// TLS with a certificate chain to a trusted root, issued for the host
    /// connected to. The default whenever TLS is asked for without a mode.
    VerifyFull,
}

impl SslMode {
    /// libpq's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    /// Whether a connection in this mode may end up unencrypted.
    fn falls_back(self) -> bool {
        matches!(self, SslMode::Allow | SslMode::Prefer)
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SslMode {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Ok(match s {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(format!(
                    "unknown sslmode {other:?}; expected one of disable, require, verify-ca, \
                     verify-full (prefer and allow only with the plaintext opt-in)"
                ));
            }
        })
    }
}

/// Where the trusted roots come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RootCert {
    /// The platform's store (`sslrootcert=system`).
    System,
    /// A PEM file of one or more CA certificates.
    File(PathBuf),
}

impl RootCert {
    /// libpq's spelling: `system` or a path.
    pub(crate) fn parse(value: &str) -> RootCert {
        match value {
            "system" => RootCert::System,
            path => RootCert::File(path.into()),
        }
    }
}

/// The TLS settings of a config, as given (files are read by [`TlsSettings::check`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TlsSettings {
    /// `sslmode`, if given.
    pub(crate) mode: Option<SslMode>,
    /// `sslrootcert`.
    pub(crate) root_cert: Option<RootCert>,
    /// `sslcert`: the client certificate (chain), PEM.
    pub(crate) cert: Option<PathBuf>,
    /// `sslkey`: the client certificate's private key, PEM.
    pub(crate) key: Option<PathBuf>,
    /// The explicit opt-in to `prefer`/`allow`.
    pub(crate) allow_plaintext_fallback: bool,
}

impl TlsSettings {
    /// The mode in force: the one given (`require` with a root certificate
    /// is `verify-ca`, as in libpq); without one, `verify-full` when any
    /// TLS setting was given, else `disable`.
    pub(crate) fn mode(&self) -> SslMode {
        match self.mode {
            Some(SslMode::Require) if self.root_cert.is_some() => SslMode::VerifyCa,
            Some(mode) => mode,
            None if self.root_cert.is_some() || self.cert.is_some() || self.key.is_some() => {
                SslMode::VerifyFull
            }
            None => SslMode::Disable,
        }
    }

    /// What tokio-postgres is told: it only knows whether to ask for TLS
    /// and whether to give up without it; the checks are the connector's.
    pub(crate) fn pg_mode(&self) -> PgSslMode {
        match self.mode() {
            SslMode::Disable => PgSslMode::Disable,
            SslMode::Allow | SslMode::Prefer => PgSslMode::Prefer,
            _ => PgSslMode::Require,
        }
    }

    /// Checks the settings and reads every file they name, without
    /// connecting.
    ///
    /// Returns `Error::Config` naming the setting (and the file) for a
    /// missing, unreadable or malformed certificate or key, a key that does
    /// not match its certificate, a certificate without its key (or the
    /// reverse), `prefer`/`allow` without the opt-in, or TLS asked for in a
    /// build without the `tls` feature.
    pub(crate) fn check(&self) -> Result<()> {
        self.client_config().map(drop)
    }

    #[cfg(feature = "tls")]
    fn client_config(&self) -> Result<Option<std::sync::Arc<rustls::ClientConfig>>> {
        self.refuse_fallback()?;
        load::client_config(self)
    }

    #[cfg(not(feature = "tls"))]
    fn client_config(&self) -> Result<Option<()>> {
        self.refuse_fallback()?;
        match self.mode() {
            SslMode::Disable => Ok(None),
            mode => Err(Error::Config {
                var: "sslmode",
                reason: format!(
                    "{mode} asks for TLS, but strata was built without its `tls` feature; \
                     refusing to connect in plaintext"
                ),
            }),
        }
    }

    fn refuse_fallback(&self) -> Result<()> {
        let mode = self.mode();
        if mode.falls_back() && !self.allow_plaintext_fallback {
            return Err(Error::Config {
                var: "sslmode",
                reason: format!(
                    "{mode} silently falls back to plaintext; use verify-full (or require), \
                     or opt in with DB_SSL_ALLOW_PLAINTEXT=true"
                ),
            });
        }
        Ok(())
    }
}

/// The pool's connection factory for `pg` (whose `sslmode` must come from
/// [`TlsSettings::pg_mode`]): strata's rustls connector when TLS is on,
/// plain TCP for `disable`.
///
/// Returns `Error::Config` as [`TlsSettings::check`] does.
pub(crate) fn manager(
    pg: tokio_postgres::Config,
    tls: &TlsSettings,
    config: ManagerConfig,
) -> Result<Manager> {
    let client = tls.client_config()?;
    if tls.mode().falls_back() {
        tracing::warn!(
            sslmode = %tls.mode(),
            "TLS is optional (plaintext fallback opted in): a server or network that refuses \
             TLS gets this connection in plaintext"
        );
    }
    #[cfg(feature = "tls")]
    if let Some(client) = client {
        return Ok(Manager::from_config(
            pg,
            connect::MakeRustls::new(client),
            config,
        ));
    }
    #[cfg(not(feature = "tls"))]
    let _: Option<()> = client;
    Ok(Manager::from_config(pg, tokio_postgres::NoTls, config))
}

/// The notifications and other messages of a dedicated connection.
pub(crate) type Messages = std::pin::Pin<
    Box<
        dyn futures_util::Stream<
                Item = std::result::Result<tokio_postgres::AsyncMessage, tokio_postgres::Error>,
            > + Send,
    >,
>;

/// Opens one connection outside the pool (the change feed's listener)
/// with the same TLS as the pool's: the client, and its messages, which
/// the caller must poll to drive the connection.
///
/// Returns `Error::Config` as [`TlsSettings::check`] does, and the driver's
/// error (classified) if the connect fails.
pub(crate) async fn connect(
    pg: &tokio_postgres::Config,
    tls: &TlsSettings,
) -> Result<(tokio_postgres::Client, Messages)> {
    fn messages<S, T>(mut connection: tokio_postgres::Connection<S, T>) -> Messages
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
        T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        Box::pin(futures_util::stream::poll_fn(move |cx| {
            connection.poll_message(cx)
        }))
    }
    let client = tls.client_config()?;
    #[cfg(feature = "tls")]
    if let Some(client) = client {
        let (c, connection) = pg
            .connect(connect::MakeRustls::new(client))
            .await
            .map_err(Error::from_pg)?;
        return Ok((c, messages(connection)));
    }
    #[cfg(not(feature = "tls"))]
    let _: Option<()> = client;
    let (c, connection) = pg
        .connect(tokio_postgres::NoTls)
        .await
        .map_err(Error::from_pg)?;
    Ok((c, messages(connection)))
}

/// Whether `err` is the TLS handshake refusing the server: a certificate
/// that fails verification (unknown CA, wrong host name, expired), any
/// other TLS protocol error, or a server without TLS when TLS is required.
/// These do not pass by themselves, so a connect that failed this way is
/// not repeated.
pub(crate) fn is_refusal(err: &crate::Error) -> bool {
    let mut source = std::error::Error::source(err);
    while let Some(e) = source {
        // tokio-rustls reports rustls's error inside an `io::Error`, whose
        // `source()` skips it: look inside.
        #[cfg(feature = "tls")]
        if e.downcast_ref::<rustls::Error>().is_some()
            || e.downcast_ref::<std::io::Error>()
                .and_then(std::io::Error::get_ref)
                .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some())
        {
            return true;
        }
        if e.to_string() == "server does not support TLS" {
            return true;
        }
        source = e.source();
    }
    false
}
