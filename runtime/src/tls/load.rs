//! Reading the files a [`TlsSettings`] names into a rustls client config.
//! Every failure is `Error::Config` naming the setting and the file.

use std::path::Path;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};

use super::verify::{AnyCertificate, AnyHostName};
use super::{RootCert, SslMode, TlsSettings};
use crate::error::{Error, Result};

/// The rustls config for `tls`, or `None` for `disable`.
pub(super) fn client_config(tls: &TlsSettings) -> Result<Option<Arc<ClientConfig>>> {
    let mode = tls.mode();
    if mode == SslMode::Disable {
        return Ok(None);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier: Arc<dyn ServerCertVerifier> = match mode {
        SslMode::VerifyCa | SslMode::VerifyFull => {
            let roots = roots(tls.root_cert.as_ref().unwrap_or(&RootCert::System))?;
            let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
                .build()
                .map_err(|e| Error::Config {
                    var: "sslrootcert",
                    reason: format!("cannot use the root certificates ({e})"),
                })?;
            if mode == SslMode::VerifyCa {
                Arc::new(AnyHostName(webpki))
            } else {
                webpki
            }
        }
        _ => Arc::new(AnyCertificate(provider.clone())),
    };
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config {
            var: "sslmode",
            reason: format!("no TLS protocol version available ({e})"),
        })?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match (&tls.cert, &tls.key) {
        (None, None) => builder.with_no_client_auth(),
        (Some(cert), None) => return Err(missing("sslkey", "sslcert", cert)),
        (None, Some(key)) => return Err(missing("sslcert", "sslkey", key)),
        (Some(cert_path), Some(key_path)) => {
            let chain = certificates("sslcert", cert_path)?;
            let key = private_key(key_path)?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| Error::Config {
                    var: "sslkey",
                    reason: match e {
                        rustls::Error::InconsistentKeys(_) => format!(
                            "the key in {} does not match the certificate in {}",
                            key_path.display(),
                            cert_path.display()
                        ),
                        other => format!("cannot use {} ({other})", key_path.display()),
                    },
                })?
        }
    };
    // PostgreSQL 17's direct TLS (`sslnegotiation=direct`) requires the
    // ALPN protocol libpq sends; older servers ignore it.
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    Ok(Some(Arc::new(config)))
}

fn missing(var: &'static str, given: &str, path: &Path) -> Error {
    Error::Config {
        var,
        reason: format!(
            "{given} is set ({}) but {var} is not; a client certificate needs both",
            path.display()
        ),
    }
}

fn read(var: &'static str, path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::Config {
        var,
        reason: format!("cannot read {} ({e})", path.display()),
    })
}

/// Every PEM certificate in the file, at least one.
fn certificates(var: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let bytes = read(var, path)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::Config {
            var,
            reason: format!("{} is not a PEM certificate file ({e})", path.display()),
        })?;
    if certs.is_empty() {
        return Err(Error::Config {
            var,
            reason: format!("{} holds no PEM certificate", path.display()),
        });
    }
    Ok(certs)
}

fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>> {
    let bytes = read("sslkey", path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| Error::Config {
        var: "sslkey",
        reason: format!(
            "{} holds no PEM private key (PKCS#8, PKCS#1 or SEC1) ({e})",
            path.display()
        ),
    })
}

fn roots(source: &RootCert) -> Result<Arc<RootCertStore>> {
    let mut store = RootCertStore::empty();
    match source {
        RootCert::File(path) => {
            for cert in certificates("sslrootcert", path)? {
                store.add(cert).map_err(|e| Error::Config {
                    var: "sslrootcert",
                    reason: format!("{} holds an unusable certificate ({e})", path.display()),
                })?;
            }
        }
        RootCert::System => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _) = store.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(Error::Config {
                    var: "sslrootcert",
                    reason: format!(
                        "sslrootcert=system, but the platform has no usable root certificates ({} errors)",
                        found.errors.len()
                    ),
                });
            }
        }
    }
    Ok(Arc::new(store))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// A directory of PEM files for one test, removed at the end.
    struct Files(PathBuf);

    impl Files {
        fn new() -> Files {
            let dir = std::env::temp_dir().join(format!(
                "strata-tls-{}-{:08x}",
                std::process::id(),
                rand::random::<u32>()
            ));
            std::fs::create_dir_all(&dir).unwrap();
            Files(dir)
        }

        fn write(&self, name: &str, text: &str) -> PathBuf {
            let path = self.0.join(name);
            std::fs::write(&path, text).unwrap();
            path
        }
    }

    impl Drop for Files {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn cert_and_key() -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["client".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn settings(root: Option<&Path>, cert: Option<&Path>, key: Option<&Path>) -> TlsSettings {
        TlsSettings {
            mode: Some(SslMode::VerifyFull),
            root_cert: root.map(|p| RootCert::File(p.into())),
            cert: cert.map(Into::into),
            key: key.map(Into::into),
            allow_plaintext_fallback: false,
        }
    }

    /// The error's setting, and that its text names `file`.
    fn refused(tls: &TlsSettings, file: &Path) -> &'static str {
        let err = tls.check().unwrap_err();
        let Error::Config { var, .. } = err else {
            panic!("expected Error::Config, got {err:?}");
        };
        assert!(
            err.to_string().contains(&file.display().to_string()),
            "{err}"
        );
        var
    }

    #[test]
    fn good_files_load() {
        let files = Files::new();
        let (cert, key) = cert_and_key();
        let ca = files.write("ca.pem", &cert);
        let cert = files.write("c.pem", &cert);
        let key = files.write("k.pem", &key);
        assert!(settings(Some(&ca), Some(&cert), Some(&key)).check().is_ok());
        assert!(settings(Some(&ca), None, None).check().is_ok());
    }

    #[test]
    fn bad_files_are_config_errors_naming_setting_and_file() {
        let files = Files::new();
        let (cert_pem, key_pem) = cert_and_key();
        let (_, other_key_pem) = cert_and_key();
        let ca = files.write("ca.pem", &cert_pem);
        let cert = files.write("c.pem", &cert_pem);
        let key = files.write("k.pem", &key_pem);
        let other_key = files.write("other.pem", &other_key_pem);
        let garbage = files.write("garbage.pem", "not a certificate\n");
        let missing = files.0.join("missing.pem");

        assert_eq!(
            refused(&settings(Some(&missing), None, None), &missing),
            "sslrootcert"
        );
        assert_eq!(
            refused(&settings(Some(&garbage), None, None), &garbage),
            "sslrootcert"
        );
        // A directory cannot be read as a file.
        assert_eq!(
            refused(&settings(Some(&files.0), None, None), &files.0),
            "sslrootcert"
        );
        assert_eq!(
            refused(&settings(Some(&ca), Some(&missing), Some(&key)), &missing),
            "sslcert"
        );
        assert_eq!(
            refused(&settings(Some(&ca), Some(&cert), Some(&missing)), &missing),
            "sslkey"
        );
        assert_eq!(
            refused(&settings(Some(&ca), Some(&cert), Some(&garbage)), &garbage),
            "sslkey"
        );
        // A key of another certificate: both files named.
        let mismatch = settings(Some(&ca), Some(&cert), Some(&other_key));
        assert_eq!(refused(&mismatch, &other_key), "sslkey");
        assert_eq!(refused(&mismatch, &cert), "sslkey");
        // Half a client certificate.
        assert_eq!(
            refused(&settings(Some(&ca), Some(&cert), None), &cert),
            "sslkey"
        );
        assert_eq!(
            refused(&settings(Some(&ca), None, Some(&key)), &key),
            "sslcert"
        );
    }
}
