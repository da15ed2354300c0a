//! PEM certificates and private keys (RFC 7468) into a rustls certified key, with the check that
//! the key belongs to the certificate (their SubjectPublicKeyInfo compared; no handshake).

use std::path::Path;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::ParsedCertificate;
use rustls::sign::CertifiedKey;
use rustls::InconsistentKeys;

use super::{read_limited, TlsError};

/// Reads a certificate chain and its key from PEM files.
pub(super) fn load_pair(cert_pem: &Path, key_pem: &Path) -> Result<CertifiedKey, TlsError> {
    let cert = read_limited(cert_pem)?;
    let key = read_limited(key_pem)?;
    certified_key(&cert, &key, cert_pem, key_pem)
}

/// A certificate chain (end-entity first) and its key from PEM bytes; `cert_name` and
/// `key_name` label error messages.
pub(super) fn certified_key(
    cert: &[u8],
    key: &[u8],
    cert_name: &Path,
    key_name: &Path,
) -> Result<CertifiedKey, TlsError> {
    let bad_cert = || TlsError::BadCertificate {
        path: cert_name.to_owned(),
    };
    let chain = pem_certificates(cert).map_err(|()| bad_cert())?;
    if chain.is_empty() {
        return Err(bad_cert());
    }
    let key = private_key(key, key_name)?;
    let identity = |reason: String| TlsError::Identity {
        cert: cert_name.to_owned(),
        key: key_name.to_owned(),
        reason,
    };
    let signing = super::provider()
        .key_provider
        .load_private_key(key)
        .map_err(|e| identity(format!("unsupported private key ({e})")))?;
    let certified = CertifiedKey::new(chain, signing);
    match certified.keys_match() {
        Ok(()) => Ok(certified),
        Err(rustls::Error::InconsistentKeys(InconsistentKeys::KeyMismatch)) => Err(identity(
            "the key does not belong to the certificate (their public keys differ)".to_owned(),
        )),
        Err(e) => Err(identity(e.to_string())),
    }
}

/// Every `CERTIFICATE` block of a PEM file, each a parsable X.509 certificate; `Err` if a block
/// is broken. Text around the blocks is ignored.
pub(super) fn pem_certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, ()> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| ())?;
    for cert in &certs {
        ParsedCertificate::try_from(cert).map_err(|_| ())?;
    }
    Ok(certs)
}

/// The first private key of a PEM file: PKCS#8, PKCS#1 (RSA) or SEC1 (EC); a hint for the forms
/// rustls does not read.
fn private_key(pem: &[u8], key_name: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|_| {
        let text = String::from_utf8_lossy(pem);
        let hint = if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----")
            || text.contains("Proc-Type: 4,ENCRYPTED")
        {
            "; it is encrypted: write it without a passphrase with: openssl pkey -in OLD -out NEW"
        } else {
            ""
        };
        TlsError::BadKey {
            path: key_name.to_owned(),
            hint,
        }
    })
}
