//! The TLS-ALPN-01 responder (RFC 8737): a TLS listener that negotiates only `acme-tls/1` and
//! presents, for the server name asked for, a self-signed validation certificate carrying the
//! critical `acmeIdentifier` extension (the SHA-256 of the key authorization). A client that
//! does not offer `acme-tls/1`, or asks for a name not being validated, gets no certificate.
//! Handshakes must finish within [`HANDSHAKE_TIMEOUT`]; the connection is closed after it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rcgen::{CertificateParams, CustomExtension, DistinguishedName, KeyPair, SanType};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

use crate::driver::tls::{provider, ACME_TLS_ALPN};

/// The time a validation handshake may take.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes at once.
pub const MAX_CONNECTIONS: usize = 32;

/// The validation certificates being presented now, by server name (lower case).
#[derive(Default, Debug)]
pub struct Validations(Mutex<HashMap<String, Arc<CertifiedKey>>>);

impl Validations {
    /// Present a validation certificate for `name` proving `key_auth_digest` (32 bytes).
    pub fn insert(&self, name: &str, key_auth_digest: &[u8]) -> Result<(), String> {
        let key = validation_certificate(name, key_auth_digest)?;
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name.to_ascii_lowercase(), Arc::new(key));
        Ok(())
    }
}

impl ResolvesServerCert for Validations {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let acme = hello
            .alpn()
            .is_some_and(|mut offered| offered.any(|p| p == ACME_TLS_ALPN));
        if !acme {
            return None;
        }
        let name = hello.server_name()?.to_ascii_lowercase();
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&name)
            .cloned()
    }
}

/// A self-signed certificate for `name` with the critical acmeIdentifier extension.
fn validation_certificate(name: &str, digest: &[u8]) -> Result<CertifiedKey, String> {
    if digest.len() != 32 {
        return Err("the key authorization digest is not 32 bytes".into());
    }
    let fail = |e: rcgen::Error| format!("validation certificate for {name}: {e}");
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(fail)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.subject_alt_names = vec![SanType::DnsName(
        name.try_into()
            .map_err(|_| format!("{name:?} is not a DNS name"))?,
    )];
    params.custom_extensions = vec![CustomExtension::new_acme_identifier(digest)];
    let cert = params.self_signed(&key).map_err(fail)?;
    let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let signing = provider()
        .key_provider
        .load_private_key(der)
        .map_err(|e| format!("validation key: {e}"))?;
    Ok(CertifiedKey::new(vec![cert.der().clone()], signing))
}

/// Answers on `listener` until the task is aborted.
pub async fn serve(listener: TcpListener, acceptor: tokio_rustls::TlsAcceptor) {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            continue;
        };
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let done = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await;
            let outcome = match done {
                Ok(Ok(mut tls)) => {
                    let name = tls.get_ref().1.server_name().unwrap_or("").to_owned();
                    let _ = tls.shutdown().await;
                    format!("validated {name}")
                }
                Ok(Err(e)) => format!("handshake failed: {e}"),
                Err(_) => "handshake timed out".to_owned(),
            };
            crate::events::event("acme_challenge_request")
                .field("challenge", "tls-alpn-01")
                .field("client", peer.ip())
                .field("outcome", outcome)
                .emit();
        });
    }
}
