//! strata's rustls connector for tokio-postgres, with SCRAM channel
//! binding (`tls-server-end-point`, RFC 5929).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use sha2::{Digest, Sha224, Sha256, Sha384, Sha512};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};
use tokio_rustls::TlsConnector;

/// Makes one [`RustlsConnect`] per server, named for the host connected to.
#[derive(Clone)]
pub(super) struct MakeRustls(Arc<ClientConfig>);

impl MakeRustls {
    pub(super) fn new(config: Arc<ClientConfig>) -> Self {
        MakeRustls(config)
    }
}

impl<S> MakeTlsConnect<S> for MakeRustls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type TlsConnect = RustlsConnect;
    type Error = io::Error;

    fn make_tls_connect(&mut self, domain: &str) -> io::Result<RustlsConnect> {
        let name = ServerName::try_from(domain.to_owned()).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{domain:?} is not a TLS server name ({e})"),
            )
        })?;
        Ok(RustlsConnect {
            config: self.0.clone(),
            name,
        })
    }
}

/// The TLS handshake with one server.
pub(super) struct RustlsConnect {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
}

impl<S> TlsConnect<S> for RustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<RustlsStream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            let tls = TlsConnector::from(self.config)
                .connect(self.name, stream)
                .await?;
            Ok(RustlsStream(tls))
        })
    }
}

/// An established TLS connection.
pub(super) struct RustlsStream<S>(tokio_rustls::client::TlsStream<S>);

impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream for RustlsStream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        let (_, session) = self.0.get_ref();
        session
            .peer_certificates()
            .and_then(|chain| chain.first())
            .and_then(|cert| server_end_point(cert))
            .map_or_else(ChannelBinding::none, ChannelBinding::tls_server_end_point)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for RustlsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for RustlsStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// The hash RFC 5929 section 4.1 picks for a certificate's signature
/// algorithm: the algorithm's own hash, except SHA-256 for MD5 and SHA-1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EndPointHash {
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

/// `tls-server-end-point` channel-binding data: the end-entity
/// certificate's hash, or `None` if its signature algorithm names no
/// single hash (Ed25519, RSA-PSS), where PostgreSQL has none either.
fn server_end_point(cert: &[u8]) -> Option<Vec<u8>> {
    Some(match end_point_hash(signature_algorithm(cert)?)? {
        EndPointHash::Sha224 => Sha224::digest(cert).to_vec(),
        EndPointHash::Sha256 => Sha256::digest(cert).to_vec(),
        EndPointHash::Sha384 => Sha384::digest(cert).to_vec(),
        EndPointHash::Sha512 => Sha512::digest(cert).to_vec(),
    })
}

/// `1.2.840.113549.1.1`: PKCS #1 (RSA) signature OIDs, last arc after.
const PKCS1: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01];
/// `1.2.840.10045.4`: ECDSA signature OIDs.
const ECDSA: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04];

fn end_point_hash(oid: &[u8]) -> Option<EndPointHash> {
    use EndPointHash::*;
    if let Some(arc) = oid.strip_prefix(PKCS1) {
        return match arc {
            // md5WithRSA, sha1WithRSA
            [0x04] | [0x05] => Some(Sha256),
            [0x0b] => Some(Sha256),
            [0x0c] => Some(Sha384),
            [0x0d] => Some(Sha512),
            [0x0e] => Some(Sha224),
            _ => None,
        };
    }
    match oid.strip_prefix(ECDSA)? {
        // ecdsa-with-SHA1
        [0x01] => Some(Sha256),
        [0x03, 0x01] => Some(Sha224),
        [0x03, 0x02] => Some(Sha256),
        [0x03, 0x03] => Some(Sha384),
        [0x03, 0x04] => Some(Sha512),
        _ => None,
    }
}

/// The OID (content bytes) of a DER certificate's outer
/// `signatureAlgorithm`: `Certificate ::= SEQUENCE { tbsCertificate,
/// signatureAlgorithm AlgorithmIdentifier, signature }`.
fn signature_algorithm(cert: &[u8]) -> Option<&[u8]> {
    const SEQUENCE: u8 = 0x30;
    const OID: u8 = 0x06;
    let (body, _) = der(cert, SEQUENCE)?;
    let (_tbs, rest) = der(body, SEQUENCE)?;
    let (algorithm, _) = der(rest, SEQUENCE)?;
    Some(der(algorithm, OID)?.0)
}

/// One DER element with `tag` at the start of `input`: (content, rest).
fn der(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&first, rest) = input.split_first()?;
    if first != tag {
        return None;
    }
    let (&len, rest) = rest.split_first()?;
    let (len, rest) = if len < 0x80 {
        (usize::from(len), rest)
    } else {
        let (bytes, rest) = rest.split_at_checked(usize::from(len & 0x7f))?;
        if bytes.is_empty() || bytes.len() > 4 {
            return None;
        }
        let len = bytes.iter().fold(0usize, |n, b| (n << 8) | usize::from(*b));
        (len, rest)
    };
    rest.split_at_checked(len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, KeyPair, SignatureAlgorithm};

    fn cert_signed_with(alg: &'static SignatureAlgorithm) -> Vec<u8> {
        let key = KeyPair::generate_for(alg).unwrap();
        let params = CertificateParams::new(vec!["localhost".into()]).unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    /// RFC 5929 4.1: the certificate's own signature hash, so a P-384
    /// (ecdsa-with-SHA384) certificate binds with SHA-384, not SHA-256.
    #[test]
    fn the_end_point_hash_follows_the_signature_algorithm() {
        for (alg, hash, len) in [
            (&rcgen::PKCS_ECDSA_P256_SHA256, EndPointHash::Sha256, 32),
            (&rcgen::PKCS_ECDSA_P384_SHA384, EndPointHash::Sha384, 48),
            (&rcgen::PKCS_RSA_SHA256, EndPointHash::Sha256, 32),
        ] {
            let Ok(key) = KeyPair::generate_for(alg) else {
                // ring cannot generate RSA keys; the OID table covers it.
                continue;
            };
            let params = CertificateParams::new(vec!["localhost".into()]).unwrap();
            let der = params.self_signed(&key).unwrap().der().to_vec();
            let oid = signature_algorithm(&der).unwrap();
            assert_eq!(end_point_hash(oid), Some(hash), "{alg:?}");
            assert_eq!(server_end_point(&der).unwrap().len(), len);
        }
        let p384 = cert_signed_with(&rcgen::PKCS_ECDSA_P384_SHA384);
        assert_eq!(
            server_end_point(&p384),
            Some(Sha384::digest(&p384).to_vec())
        );
        // Ed25519 names no hash: no binding, as PostgreSQL has none.
        assert_eq!(
            server_end_point(&cert_signed_with(&rcgen::PKCS_ED25519)),
            None
        );
        // MD5 and SHA-1 signatures bind with SHA-256.
        assert_eq!(
            end_point_hash(&[PKCS1, &[0x05]].concat()),
            Some(EndPointHash::Sha256)
        );
        assert_eq!(
            end_point_hash(&[ECDSA, &[0x01]].concat()),
            Some(EndPointHash::Sha256)
        );
        assert_eq!(
            end_point_hash(&[PKCS1, &[0x0d]].concat()),
            Some(EndPointHash::Sha512)
        );
    }

    #[test]
    fn garbage_is_no_certificate() {
        assert_eq!(signature_algorithm(b""), None);
        assert_eq!(signature_algorithm(&[0x30, 0x85, 1, 2, 3, 4, 5]), None);
        assert_eq!(signature_algorithm(&[0x30, 0x03, 0x30, 0x05, 0x00]), None);
    }
}
