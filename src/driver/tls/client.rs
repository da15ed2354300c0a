//! The client side: trust anchors (the system's, read once, plus a configured PEM file) and a
//! connector that verifies the server's certificate and name, or, for opportunistic TLS to
//! unknown servers, verifies nothing but the handshake signatures.

use std::io;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite};

use super::keys::pem_certificates;
use super::{provider, read_limited, TlsError, VERSIONS};

/// The system's trusted roots (`/etc/ssl/certs` or `SSL_CERT_FILE`/`SSL_CERT_DIR`), read once
/// per process; certificates that are not usable trust anchors are left out.
pub fn system_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        rustls_native_certs::load_native_certs()
            .certs
            .into_iter()
            .filter(|der| RootCertStore::empty().add(der.clone()).is_ok())
            .collect()
    })
}

/// The certificates of a PEM trust-anchor file (a CA or a self-signed server certificate), each
/// checked to be usable as a trust anchor.
pub fn trust_anchors(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bad = || TlsError::BadCertificate {
        path: path.to_owned(),
    };
    let certs = pem_certificates(&read_limited(path)?).map_err(|()| bad())?;
    let mut check = RootCertStore::empty();
    for cert in &certs {
        check.add(cert.clone()).map_err(|_| bad())?;
    }
    if certs.is_empty() {
        return Err(bad());
    }
    Ok(certs)
}

/// A TLS client configuration, cheap to clone.
#[derive(Clone)]
pub struct Connector(tokio_rustls::TlsConnector);

impl Connector {
    /// Handshake over `io` with the server called `host` (a DNS name or an IP address).
    pub async fn connect<IO>(
        &self,
        host: &str,
        io: IO,
    ) -> io::Result<tokio_rustls::client::TlsStream<IO>>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let name = ServerName::try_from(host)
            .map(|n| n.to_owned())
            .map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{host:?} is not a server name: {e}"),
                )
            })?;
        self.0.connect(name, io).await
    }
}

/// A client-side connector. `trust_anchor` is a PEM file of certificates trusted besides the
/// system's (for example a `cert gen` certificate); `accept_invalid` turns off certificate and
/// host name verification altogether (opportunistic TLS to unknown servers).
pub fn connector(trust_anchor: Option<&Path>, accept_invalid: bool) -> Result<Connector, TlsError> {
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(system_roots().iter().cloned());
    if let Some(path) = trust_anchor {
        roots.add_parsable_certificates(trust_anchors(path)?);
    }
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(VERSIONS)
        .map_err(TlsError::Setup)?;
    let config = if accept_invalid {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify))
            .with_no_client_auth()
    } else {
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    Ok(Connector(tokio_rustls::TlsConnector::from(Arc::new(
        config,
    ))))
}

/// Accepts any certificate for any name; the handshake's signatures are still checked, so the
/// peer holds the key of the certificate it sent.
#[derive(Debug)]
pub(super) struct NoVerify;

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &provider().signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &provider().signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}
