//! TLS set-up for listeners and outbound connections: rustls with the *ring* crypto provider.
//!
//! TLS 1.3 and 1.2 only (RFC 8996 retired 1.0 and 1.1; RFC 9325 says to offer 1.3), with rustls'
//! default suites for *ring*: AES-GCM and ChaCha20-Poly1305, ECDHE key exchange only (X25519,
//! P-256, P-384): no CBC, RC4, 3DES or static RSA.
//!
//! A listener's certificate (chain) and key are PEM files; the key may be PKCS#8
//! (`BEGIN PRIVATE KEY`, what `cert gen` writes), PKCS#1 (`BEGIN RSA PRIVATE KEY`) or SEC1
//! (`BEGIN EC PRIVATE KEY`). Loading compares the key's public half with the certificate's, so a
//! key that does not belong to the certificate is reported at start-up, naming both files. A
//! listener re-reads the files when they change (`tls/reload.rs`): a renewed certificate is served
//! without a restart.

mod client;
mod keys;
mod reload;

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustls::crypto::CryptoProvider;
use rustls::server::ResolvesServerCert;
use rustls::{ServerConfig, SupportedProtocolVersion};

pub use client::{connector, system_roots, trust_anchors, Connector};
pub use reload::RELOAD_CHECK;

/// The largest PEM file (certificate chain, key or trust anchors) read, in bytes.
pub const MAX_PEM_FILE: u64 = 1024 * 1024;

/// The protocol versions offered, client and server side.
pub const VERSIONS: &[&SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

/// Why TLS could not be set up. Every message names the file concerned.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The file is larger than [`MAX_PEM_FILE`].
    #[error("{} is larger than {MAX_PEM_FILE} bytes; is it really a PEM file?", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
    },
    /// The certificate file holds no usable PEM certificate.
    #[error("{} holds no valid PEM certificate (-----BEGIN CERTIFICATE-----)", path.display())]
    BadCertificate {
        /// The file.
        path: PathBuf,
    },
    /// The key file holds no PEM private key in a form we read.
    #[error(
        "{} holds no PEM private key (BEGIN PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY){hint}",
        path.display()
    )]
    BadKey {
        /// The file.
        path: PathBuf,
        /// A conversion hint for keys in another PEM form.
        hint: &'static str,
    },
    /// Certificate and key do not form a working identity (wrong key, unsupported algorithm).
    #[error("certificate {} and key {} do not work together: {reason}", cert.display(), key.display())]
    Identity {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// Why.
        reason: String,
    },
    /// The TLS library refused the configuration (not expected with the built-in provider).
    #[error("cannot set up TLS: {0}")]
    Setup(#[source] rustls::Error),
}

/// The crypto provider every configuration uses (*ring*, its default suites and groups).
pub fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

/// Loads a listener's certificate (chain) and key from PEM files into an acceptor that re-reads
/// them when they change (`tls/reload.rs`).
pub fn load_acceptor(
    cert_pem: &Path,
    key_pem: &Path,
) -> Result<tokio_rustls::TlsAcceptor, TlsError> {
    let resolver = reload::Reloading::load(cert_pem, key_pem, RELOAD_CHECK)?;
    acceptor(Arc::new(resolver))
}

/// Builds an acceptor from PEM bytes already in memory (never reloaded); `cert_name` and
/// `key_name` only label error messages.
pub fn acceptor_from_pem(
    cert: &[u8],
    key: &[u8],
    cert_name: &Path,
    key_name: &Path,
) -> Result<tokio_rustls::TlsAcceptor, TlsError> {
    let key = keys::certified_key(cert, key, cert_name, key_name)?;
    acceptor(Arc::new(rustls::sign::SingleCertAndKey::from(key)))
}

/// The ALPN protocol of TLS-ALPN-01 (RFC 8737 §6.2).
pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";

/// An acceptor for the TLS-ALPN-01 responder: it negotiates only `acme-tls/1` (a client
/// offering anything else fails the handshake) and presents the validation certificate
/// `resolver` picks by server name.
pub fn acme_alpn_acceptor(
    resolver: Arc<dyn ResolvesServerCert>,
) -> Result<tokio_rustls::TlsAcceptor, TlsError> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(VERSIONS)
        .map_err(TlsError::Setup)?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = vec![ACME_TLS_ALPN.to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// A server configuration choosing its certificate through `resolver`.
fn acceptor(resolver: Arc<dyn ResolvesServerCert>) -> Result<tokio_rustls::TlsAcceptor, TlsError> {
    let config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(VERSIONS)
        .map_err(TlsError::Setup)?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// Reads a whole file of at most [`MAX_PEM_FILE`] bytes.
fn read_limited(path: &Path) -> Result<Vec<u8>, TlsError> {
    let read_error = |source| TlsError::Read {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_error)?;
    let mut data = Vec::new();
    file.take(MAX_PEM_FILE + 1)
        .read_to_end(&mut data)
        .map_err(read_error)?;
    if data.len() as u64 > MAX_PEM_FILE {
        return Err(TlsError::TooLarge {
            path: path.to_owned(),
        });
    }
    Ok(data)
}

#[cfg(test)]
mod tests;
