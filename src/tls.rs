//! TLS set-up for listeners and outbound connections (native-tls, OpenSSL on Unix).
//!
//! A listener's certificate and key are PEM files; the key must be PKCS#8
//! (`-----BEGIN PRIVATE KEY-----`, what `cert gen` writes). Loading checks that the pair really
//! works by running one TLS handshake against itself in memory, so a key that does not belong to
//! the certificate is reported at start-up, naming the files, instead of at the first client.

use native_tls::{Certificate, Identity, Protocol};
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The largest PEM file (certificate chain, key or trust anchors) read, in bytes.
pub const MAX_PEM_FILE: u64 = 1024 * 1024;

/// How long the load-time self-handshake may take.
const SELF_CHECK_TIMEOUT: Duration = Duration::from_secs(5);

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
    /// The key file holds no PKCS#8 PEM private key.
    #[error("{} holds no PKCS#8 PEM private key (-----BEGIN PRIVATE KEY-----){hint}", path.display())]
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
        /// What the TLS library said.
        reason: String,
    },
    /// The TLS library refused to build a client context.
    #[error("cannot set up TLS client: {0}")]
    Client(#[source] native_tls::Error),
}

/// Loads a listener's certificate (chain) and PKCS#8 key from PEM files into an acceptor.
pub fn load_acceptor(
    cert_pem: &Path,
    key_pem: &Path,
) -> Result<tokio_native_tls::TlsAcceptor, TlsError> {
    let cert = read_limited(cert_pem)?;
    let key = read_limited(key_pem)?;
    acceptor_from_pem(&cert, &key, cert_pem, key_pem)
}

/// Builds an acceptor from PEM bytes already in memory (the demo's generated certificate);
/// `cert_name` and `key_name` only label error messages.
pub fn acceptor_from_pem(
    cert: &[u8],
    key: &[u8],
    cert_name: &Path,
    key_name: &Path,
) -> Result<tokio_native_tls::TlsAcceptor, TlsError> {
    let bad_cert = || TlsError::BadCertificate {
        path: cert_name.to_owned(),
    };
    let certs = pem_certificates(cert).map_err(|()| bad_cert())?;
    if certs.is_empty() {
        return Err(bad_cert());
    }
    check_key_form(key, key_name)?;
    let identity_error = |reason: String| TlsError::Identity {
        cert: cert_name.to_owned(),
        key: key_name.to_owned(),
        reason,
    };
    let identity = Identity::from_pkcs8(cert, key).map_err(|e| identity_error(e.to_string()))?;
    let acceptor = native_tls::TlsAcceptor::builder(identity)
        .min_protocol_version(Some(Protocol::Tlsv12))
        .build()
        .map_err(|e| identity_error(e.to_string()))?;
    self_check(&acceptor).map_err(identity_error)?;
    Ok(tokio_native_tls::TlsAcceptor::from(acceptor))
}

/// A client-side connector. `trust_anchor` is a PEM file of extra trusted certificates (for
/// example a `cert gen` certificate); `accept_invalid` turns off certificate and host name
/// verification altogether (opportunistic TLS to unknown servers).
pub fn connector(
    trust_anchor: Option<&Path>,
    accept_invalid: bool,
) -> Result<tokio_native_tls::TlsConnector, TlsError> {
    let mut builder = native_tls::TlsConnector::builder();
    builder.min_protocol_version(Some(Protocol::Tlsv12));
    if let Some(path) = trust_anchor {
        let pem = read_limited(path)?;
        let certs = pem_certificates(&pem).map_err(|()| TlsError::BadCertificate {
            path: path.to_owned(),
        })?;
        if certs.is_empty() {
            return Err(TlsError::BadCertificate {
                path: path.to_owned(),
            });
        }
        for cert in certs {
            builder.add_root_certificate(cert);
        }
    }
    if accept_invalid {
        builder.danger_accept_invalid_certs(true);
        builder.danger_accept_invalid_hostnames(true);
    }
    let connector = builder.build().map_err(TlsError::Client)?;
    Ok(tokio_native_tls::TlsConnector::from(connector))
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

/// Every `CERTIFICATE` block of a PEM file, parsed; `Err` if one of them is invalid.
fn pem_certificates(pem: &[u8]) -> Result<Vec<Certificate>, ()> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let text = std::str::from_utf8(pem).map_err(|_| ())?;
    let mut certs = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        let block = rest.get(start..).unwrap_or_default();
        let end = block.find(END).ok_or(())? + END.len();
        let cert = Certificate::from_pem(block.get(..end).unwrap_or_default().as_bytes())
            .map_err(|_| ())?;
        certs.push(cert);
        rest = block.get(end..).unwrap_or_default();
    }
    Ok(certs)
}

/// Checks the key file is PKCS#8 PEM, with a hint for the other common forms.
fn check_key_form(key: &[u8], key_name: &Path) -> Result<(), TlsError> {
    let text = String::from_utf8_lossy(key);
    if text.contains("-----BEGIN PRIVATE KEY-----") {
        return Ok(());
    }
    let legacy = ["RSA PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY"]
        .iter()
        .any(|kind| text.contains(&format!("-----BEGIN {kind}-----")));
    Err(TlsError::BadKey {
        path: key_name.to_owned(),
        hint: if legacy {
            "; convert it with: openssl pkcs8 -topk8 -nocrypt -in OLD -out NEW"
        } else {
            ""
        },
    })
}

/// Runs one in-memory handshake against `acceptor` (client side not verifying), so a key that
/// does not match its certificate is found now.
fn self_check(acceptor: &native_tls::TlsAcceptor) -> Result<(), String> {
    let (server_end, client_end) = UnixStream::pair().map_err(|e| e.to_string())?;
    for end in [&server_end, &client_end] {
        end.set_read_timeout(Some(SELF_CHECK_TIMEOUT))
            .and_then(|()| end.set_write_timeout(Some(SELF_CHECK_TIMEOUT)))
            .map_err(|e| e.to_string())?;
    }
    let client = std::thread::spawn(move || -> Result<(), String> {
        let connector = native_tls::TlsConnector::builder()
            .danger_accept_invalid_certs(true)
            .danger_accept_invalid_hostnames(true)
            .build()
            .map_err(|e| e.to_string())?;
        let mut stream = connector
            .connect("self-check.invalid", client_end)
            .map_err(|e| e.to_string())?;
        let mut byte = [0u8; 1];
        stream.read_exact(&mut byte).map_err(|e| e.to_string())
    });
    let server = acceptor
        .accept(server_end)
        .map_err(|e| e.to_string())
        .and_then(|mut stream| stream.write_all(b"k").map_err(|e| e.to_string()));
    let client = client
        .join()
        .unwrap_or_else(|_| Err("self-check client panicked".to_owned()));
    server.and(client)
}

#[cfg(test)]
mod tests;
