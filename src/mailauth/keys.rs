//! DKIM keys: made by `postern dkim keygen` (RSA-2048 or Ed25519, PKCS#8 PEM, mode 0600), loaded
//! for signing (PKCS#8 or PKCS#1 PEM, as OpenSSL and `opendkim-genkey` write them too), and the
//! TXT record that publishes the public half (`v=DKIM1; k=…; p=…`, RFC 6376 §3.6.1, RFC 8463).
//!
//! Ed25519 is mail-auth's (on ring). RSA is aws-lc-rs's: it makes, loads and signs with RSA
//! keys (ring makes none) and signs RSA-2048 in about half ring's time (0.37 against 0.65 ms here),
//! the cost that bounds signed relaying on a small host; it also writes the public key as the
//! SubjectPublicKeyInfo that every verifier reads (OpenDKIM reads no other form).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::KeyPair;
use base64::Engine;
use mail_auth::common::crypto::{Ed25519Key, Sha256};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::PrivateKeyDer;

use crate::config::mailauth::DkimAlgorithm;

/// Why a key cannot be made, read or used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read DKIM key {path}: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("DKIM key {path} is not a PEM private key")]
    NotPem { path: PathBuf },
    #[error("DKIM key {path} is not a usable {algorithm} key: {why}")]
    Unusable {
        path: PathBuf,
        algorithm: &'static str,
        why: String,
    },
    #[error("cannot make a DKIM key: {0}")]
    Generate(String),
}

/// A private key ready to sign with.
pub enum SigningKey {
    Rsa(RsaSigner),
    Ed25519(Ed25519Key),
}

/// An RSA private key (RSASSA-PKCS1-v1_5 with SHA-256, RFC 6376 §3.3.1).
pub struct RsaSigner {
    pair: aws_lc_rs::rsa::KeyPair,
    rng: aws_lc_rs::rand::SystemRandom,
}

impl RsaSigner {
    fn new(pair: aws_lc_rs::rsa::KeyPair) -> RsaSigner {
        RsaSigner {
            pair,
            rng: aws_lc_rs::rand::SystemRandom::new(),
        }
    }

    fn sign(&self, input: impl mail_auth::common::headers::Writable) -> mail_auth::Result<Vec<u8>> {
        let mut data = Vec::with_capacity(512);
        input.write(&mut data);
        let mut signature = vec![0; self.pair.public_modulus_len()];
        self.pair
            .sign(
                &aws_lc_rs::signature::RSA_PKCS1_SHA256,
                &self.rng,
                &data,
                &mut signature,
            )
            .map_err(|e| {
                mail_auth::Error::Crypto(mail_auth::common::crypto::CryptoError::Library(
                    e.to_string(),
                ))
            })?;
        Ok(signature)
    }

    /// The public key as SubjectPublicKeyInfo DER.
    fn spki(&self) -> Result<Vec<u8>, KeyError> {
        self.pair
            .public_key()
            .as_der()
            .map(|d| d.as_ref().to_vec())
            .map_err(|e| KeyError::Generate(format!("RSA public key: {e}")))
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SigningKey::Rsa(_) => "SigningKey::Rsa",
            SigningKey::Ed25519(_) => "SigningKey::Ed25519",
        })
    }
}

/// mail-auth signs with a borrowed key (the keys are shared between messages).
impl mail_auth::common::crypto::SigningKey for &SigningKey {
    type Hasher = Sha256;

    fn sign(&self, input: impl mail_auth::common::headers::Writable) -> mail_auth::Result<Vec<u8>> {
        match self {
            SigningKey::Rsa(k) => k.sign(input),
            SigningKey::Ed25519(k) => k.sign(input),
        }
    }

    fn algorithm(&self) -> mail_auth::common::crypto::Algorithm {
        match self {
            SigningKey::Rsa(_) => mail_auth::common::crypto::Algorithm::RsaSha256,
            SigningKey::Ed25519(k) => k.algorithm(),
        }
    }
}

/// Private key files are small; anything bigger is not one.
const KEY_FILE_LIMIT: u64 = 64 * 1024;

impl SigningKey {
    /// Read the PEM key at `path` for `algorithm`.
    pub fn load(path: &Path, algorithm: DkimAlgorithm) -> Result<SigningKey, KeyError> {
        use std::io::Read;
        let read = |error| KeyError::Read {
            path: path.to_path_buf(),
            error,
        };
        let mut pem = Vec::new();
        std::fs::File::open(path)
            .map_err(read)?
            .take(KEY_FILE_LIMIT)
            .read_to_end(&mut pem)
            .map_err(read)?;
        SigningKey::from_pem(&pem, algorithm).map_err(|e| match e {
            KeyError::Unusable { algorithm, why, .. } => KeyError::Unusable {
                path: path.to_path_buf(),
                algorithm,
                why,
            },
            KeyError::NotPem { .. } => KeyError::NotPem {
                path: path.to_path_buf(),
            },
            other => other,
        })
    }

    /// A key from PEM text.
    pub fn from_pem(pem: &[u8], algorithm: DkimAlgorithm) -> Result<SigningKey, KeyError> {
        let der = PrivateKeyDer::from_pem_slice(pem).map_err(|_| KeyError::NotPem {
            path: PathBuf::new(),
        })?;
        let unusable = |why: String| KeyError::Unusable {
            path: PathBuf::new(),
            algorithm: algorithm.name(),
            why,
        };
        match algorithm {
            DkimAlgorithm::RsaSha256 => {
                let pair = match &der {
                    PrivateKeyDer::Pkcs1(k) => {
                        aws_lc_rs::rsa::KeyPair::from_der(k.secret_pkcs1_der())
                    }
                    PrivateKeyDer::Pkcs8(k) => {
                        aws_lc_rs::rsa::KeyPair::from_pkcs8(k.secret_pkcs8_der())
                    }
                    _ => return Err(unusable("not a PKCS#1 or PKCS#8 RSA key".into())),
                };
                pair.map(|p| SigningKey::Rsa(RsaSigner::new(p)))
                    .map_err(|e| unusable(format!("{e} (RSA keys of 2048 to 8192 bits)")))
            }
            DkimAlgorithm::Ed25519Sha256 => match der {
                PrivateKeyDer::Pkcs8(p) => {
                    Ed25519Key::from_pkcs8_maybe_unchecked_der(p.secret_pkcs8_der())
                        .map(SigningKey::Ed25519)
                        .map_err(|e| unusable(e.to_string()))
                }
                _ => Err(unusable("an Ed25519 key is a PKCS#8 PEM key".into())),
            },
        }
    }

    /// The public half as the `p=` of its DNS record (base64): RSA as SubjectPublicKeyInfo,
    /// Ed25519 as the raw 32 bytes (RFC 8463 §4.2).
    pub fn public_key(&self) -> Result<String, KeyError> {
        let bytes = match self {
            SigningKey::Rsa(k) => k.spki()?,
            SigningKey::Ed25519(k) => k.public_key(),
        };
        Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    pub fn algorithm(&self) -> DkimAlgorithm {
        match self {
            SigningKey::Rsa(_) => DkimAlgorithm::RsaSha256,
            SigningKey::Ed25519(_) => DkimAlgorithm::Ed25519Sha256,
        }
    }

    /// The TXT record that publishes this key (`v=DKIM1; k=…; p=…`).
    pub fn record(&self) -> Result<String, KeyError> {
        Ok(format!(
            "v=DKIM1; k={}; p={}",
            self.algorithm().key_type(),
            self.public_key()?
        ))
    }
}

/// A new private key for `algorithm`, as PKCS#8 PEM.
pub fn generate(algorithm: DkimAlgorithm) -> Result<String, KeyError> {
    let fail = |e: &dyn std::fmt::Display| KeyError::Generate(e.to_string());
    let der = match algorithm {
        DkimAlgorithm::RsaSha256 => rsa2048_pkcs8().map_err(|e| fail(&e))?,
        DkimAlgorithm::Ed25519Sha256 => Ed25519Key::generate_pkcs8().map_err(|e| fail(&e))?,
    };
    Ok(pkcs8_pem(&der))
}

/// A new RSA-2048 private key as PKCS#8 DER (also the ACME account's and certificates' RSA keys).
pub fn rsa2048_pkcs8() -> Result<Vec<u8>, aws_lc_rs::error::Unspecified> {
    let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)?;
    let der: aws_lc_rs::encoding::Pkcs8V1Der<'static> = pair.as_der()?;
    Ok(der.as_ref().to_vec())
}

/// PKCS#8 DER as PEM (`PRIVATE KEY`, 64 columns, LF).
fn pkcs8_pem(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    pem
}

/// The TXT record strings for a record text: DNS character-strings hold 255 bytes at most, so a
/// longer record is published as several quoted strings (joined by the verifier).
pub fn txt_strings(record: &str) -> String {
    let bytes = record.as_bytes();
    bytes
        .chunks(255)
        .map(|c| format!("\"{}\"", String::from_utf8_lossy(c)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Loaded keys by file, kept while the file is unchanged (a key is parsed and checked once, not
/// per message; a replaced file is read again).
type Cache = HashMap<(PathBuf, DkimAlgorithm), (Option<SystemTime>, Arc<SigningKey>)>;

static CACHE: Mutex<Option<Cache>> = Mutex::new(None);

/// The key at `path`, from the cache when the file has not changed.
pub fn cached(path: &Path, algorithm: DkimAlgorithm) -> Result<Arc<SigningKey>, KeyError> {
    let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let key = (path.to_path_buf(), algorithm);
    if let Ok(guard) = CACHE.lock() {
        if let Some((m, k)) = guard.as_ref().and_then(|c| c.get(&key)) {
            if *m == modified && modified.is_some() {
                return Ok(k.clone());
            }
        }
    }
    let loaded = Arc::new(SigningKey::load(path, algorithm)?);
    if let Ok(mut guard) = CACHE.lock() {
        guard
            .get_or_insert_with(HashMap::new)
            .insert(key, (modified, loaded.clone()));
    }
    Ok(loaded)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic
    use super::*;

    #[test]
    fn ed25519_keys_round_trip() {
        let pem = generate(DkimAlgorithm::Ed25519Sha256).unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        let key = SigningKey::from_pem(pem.as_bytes(), DkimAlgorithm::Ed25519Sha256).unwrap();
        let record = key.record().unwrap();
        assert!(record.starts_with("v=DKIM1; k=ed25519; p="), "{record}");
        // 32 bytes in base64.
        assert_eq!(record.len(), "v=DKIM1; k=ed25519; p=".len() + 44);
        assert!(SigningKey::from_pem(pem.as_bytes(), DkimAlgorithm::RsaSha256).is_err());
        assert!(SigningKey::from_pem(b"not a key", DkimAlgorithm::RsaSha256).is_err());
    }

    #[test]
    fn long_records_are_split_into_strings() {
        let r = "x".repeat(300);
        assert_eq!(
            txt_strings(&r),
            format!("\"{}\" \"{}\"", "x".repeat(255), "x".repeat(45))
        );
    }
}
