//! The TLS settings of a [`Config`]: libpq's `sslmode`, `sslrootcert`,
//! `sslcert` and `sslkey`, from the connection URL and the builder.
//!
//! tokio-postgres 0.7 rejects `sslmode=verify-ca`/`verify-full` and the
//! file parameters in its parser, so [`split_tls_params`] takes them out of
//! the URL first; the rest stays tokio-postgres's to parse. The files are
//! read by [`Config::validate`], before any connection.

use std::path::PathBuf;

use super::Config;
use crate::error::{Error, Result};
use crate::tls::{RootCert, SslMode, TlsSettings};

/// The parameters strata parses itself.
const TLS_PARAMS: [&str; 4] = ["sslmode", "sslrootcert", "sslcert", "sslkey"];

/// Records one TLS parameter in `tls`.
pub(super) fn apply(tls: &mut TlsSettings, key: &str, value: &str) -> Result<()> {
    match key {
        "sslmode" => {
            tls.mode = Some(value.parse().map_err(|reason| Error::Config {
                var: "sslmode",
                reason,
            })?);
        }
        "sslrootcert" => tls.root_cert = Some(RootCert::parse(value)),
        "sslcert" => tls.cert = Some(value.into()),
        "sslkey" => tls.key = Some(value.into()),
        _ => {}
    }
    Ok(())
}

/// `url` without its TLS parameters, and those parameters.
///
/// Handles both forms tokio-postgres accepts: a `postgres://` URL (query
/// parameters, percent-encoded) and a `key=value` string (values optionally
/// single-quoted, `\` escaping). A string that does not tokenize is
/// returned whole, for tokio-postgres to report.
pub(super) fn split_tls_params(url: &str) -> Result<(String, TlsSettings)> {
    let mut tls = TlsSettings::default();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let Some((base, query)) = url.split_once('?') else {
            return Ok((url.to_owned(), tls));
        };
        let mut kept = Vec::new();
        for pair in query.split('&') {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let key = percent_decode(key);
            if TLS_PARAMS.contains(&key.as_str()) {
                apply(&mut tls, &key, &percent_decode(value))?;
            } else {
                kept.push(pair);
            }
        }
        let rest = if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        return Ok((rest, tls));
    }
    let Some(pairs) = key_values(url) else {
        return Ok((url.to_owned(), tls));
    };
    let mut kept = Vec::new();
    for (raw, key, value) in pairs {
        if TLS_PARAMS.contains(&key.as_str()) {
            apply(&mut tls, &key, &value)?;
        } else {
            kept.push(raw);
        }
    }
    Ok((kept.join(" "), tls))
}

/// `%XX` decoded (libpq decodes no `+`).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The `key=value` pairs of a libpq connection string: (the pair as
/// written, key, unescaped value).
fn key_values(s: &str) -> Option<Vec<(&str, String, String)>> {
    let mut out = Vec::new();
    let mut chars = s.char_indices().peekable();
    loop {
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        let Some(&(start, _)) = chars.peek() else {
            return Some(out);
        };
        let mut key = String::new();
        while let Some((_, c)) = chars.next_if(|(_, c)| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        chars.next_if(|(_, c)| *c == '=')?;
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        let quoted = chars.next_if(|(_, c)| *c == '\'').is_some();
        let mut value = String::new();
        let mut end = s.len();
        while let Some(&(i, c)) = chars.peek() {
            if (quoted && c == '\'') || (!quoted && c.is_whitespace()) {
                end = i + usize::from(quoted);
                chars.next();
                break;
            }
            chars.next();
            if c == '\\' {
                value.push(chars.next()?.1);
            } else {
                value.push(c);
            }
        }
        out.push((s.get(start..end)?, key, value));
    }
}

impl Config {
    /// TLS mode (libpq's `sslmode`, `DB_SSLMODE`). Without one, TLS
    /// settings given mean `VerifyFull`, and none mean `Disable`.
    #[must_use]
    pub fn ssl(mut self, value: SslMode) -> Self {
        self.tls.mode = Some(value);
        self
    }

    /// Trusted roots for the server's certificate (`sslrootcert`,
    /// `DB_SSLROOTCERT`): a PEM file, or `"system"` for the platform's
    /// store. Without a mode this asks for `VerifyFull`.
    #[must_use]
    pub fn ssl_root_cert(mut self, value: impl AsRef<str>) -> Self {
        self.tls.root_cert = Some(RootCert::parse(value.as_ref()));
        self
    }

    /// The client certificate (chain), PEM (`sslcert`, `DB_SSLCERT`); needs [`Config::ssl_key`].
    #[must_use]
    pub fn ssl_cert(mut self, path: impl Into<PathBuf>) -> Self {
        self.tls.cert = Some(path.into());
        self
    }

    /// The client certificate's private key, PEM (`sslkey`, `DB_SSLKEY`).
    #[must_use]
    pub fn ssl_key(mut self, path: impl Into<PathBuf>) -> Self {
        self.tls.key = Some(path.into());
        self
    }

    /// Opts in to `sslmode=prefer`/`allow`, which connect in plaintext
    /// when the server or the network refuses TLS
    /// (`DB_SSL_ALLOW_PLAINTEXT`). Off by default, and logged as a warning
    /// at connect when on.
    #[must_use]
    pub fn allow_plaintext_fallback(mut self, value: bool) -> Self {
        self.tls.allow_plaintext_fallback = value;
        self
    }

    /// Trusted roots (PEM file) for a `rediss://` Redis URL
    /// (`REDIS_SSLROOTCERT`); without one, the platform's store.
    #[must_use]
    pub fn redis_ssl_root_cert(mut self, path: impl Into<PathBuf>) -> Self {
        self.redis_tls.root_cert = Some(path.into());
        self
    }

    /// A client certificate and its key (PEM files) for a `rediss://`
    /// Redis URL (`REDIS_SSLCERT`, `REDIS_SSLKEY`).
    #[must_use]
    pub fn redis_ssl_client_cert(
        mut self,
        cert: impl Into<PathBuf>,
        key: impl Into<PathBuf>,
    ) -> Self {
        self.redis_tls.cert = Some(cert.into());
        self.redis_tls.key = Some(key.into());
        self
    }

    /// The Redis TLS certificates, read from their files.
    pub(crate) fn load_redis_tls(&self) -> Result<Option<crate::tls::RedisTls>> {
        self.redis_tls
            .load(self.redis_url.as_ref().map(|u| u.expose()))
    }

    /// The TLS mode in force.
    pub fn get_ssl(&self) -> SslMode {
        self.tls.mode()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_params_leave_the_url_and_the_rest_stays() {
        let (rest, tls) = split_tls_params(
            "postgres://u@h/db?sslmode=verify-full&application_name=a\
             &sslrootcert=%2Fetc%2Fca.pem&sslcert=/c.pem&sslkey=/k.pem",
        )
        .unwrap();
        assert_eq!(rest, "postgres://u@h/db?application_name=a");
        assert_eq!(tls.mode, Some(SslMode::VerifyFull));
        assert_eq!(tls.root_cert, Some(RootCert::File("/etc/ca.pem".into())));
        assert_eq!(tls.cert, Some("/c.pem".into()));
        assert_eq!(tls.key, Some("/k.pem".into()));

        let (rest, tls) =
            split_tls_params("host=h sslmode = verify-ca  sslrootcert='/my ca\\'s.pem' user=u")
                .unwrap();
        assert_eq!(rest, "host=h user=u");
        assert_eq!(tls.mode(), SslMode::VerifyCa);
        assert_eq!(tls.root_cert, Some(RootCert::File("/my ca's.pem".into())));

        let (_, tls) = split_tls_params("postgres://h/db?sslrootcert=system").unwrap();
        assert_eq!(tls.root_cert, Some(RootCert::System));
    }

    #[test]
    fn modes_as_libpq_with_verify_full_when_tls_is_asked_without_one() {
        let mode = |url: &str| Config::from_url(url).unwrap().get_ssl();
        assert_eq!(mode("postgres://h/db"), SslMode::Disable);
        assert_eq!(mode("postgres://h/db?sslmode=disable"), SslMode::Disable);
        assert_eq!(mode("postgres://h/db?sslmode=require"), SslMode::Require);
        assert_eq!(
            mode("postgres://h/db?sslmode=require&sslrootcert=/ca.pem"),
            SslMode::VerifyCa
        );
        assert_eq!(
            mode("postgres://h/db?sslrootcert=/ca.pem"),
            SslMode::VerifyFull
        );
        assert_eq!(
            mode("postgres://h/db?sslcert=/c&sslkey=/k"),
            SslMode::VerifyFull
        );
        assert_eq!(
            Config::new().ssl_root_cert("system").get_ssl(),
            SslMode::VerifyFull
        );
        let pg = Config::from_url("postgres://h/db?sslmode=verify-ca")
            .unwrap()
            .to_pg();
        assert_eq!(
            pg.get_ssl_mode(),
            tokio_postgres::config::SslMode::Require,
            "tokio-postgres must never fall back to plaintext"
        );
    }

    #[test]
    fn an_unknown_mode_is_a_config_error() {
        let err = Config::from_url("postgres://h/db?sslmode=verify_full").unwrap_err();
        assert!(
            matches!(err, Error::Config { var: "sslmode", .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("verify_full"), "{err}");
    }

    #[test]
    #[cfg(feature = "tls")]
    fn prefer_and_allow_need_the_opt_in() {
        for mode in ["prefer", "allow"] {
            let c = Config::from_url(&format!("postgres://h/db?sslmode={mode}")).unwrap();
            let err = c.validate().unwrap_err();
            assert!(
                matches!(err, Error::Config { var: "sslmode", .. }),
                "{err:?}"
            );
            assert!(err.to_string().contains("plaintext"), "{err}");
            let c = c.allow_plaintext_fallback(true);
            assert!(c.validate().is_ok(), "{mode} with the opt-in");
            assert_eq!(
                c.to_pg().get_ssl_mode(),
                tokio_postgres::config::SslMode::Prefer
            );
        }
    }
}
