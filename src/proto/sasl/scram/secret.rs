//! The stored SCRAM-SHA-256 verifier and the hash helpers it is built from.

use crate::proto::sasl::random::{self, RandomError};
use base64::prelude::{Engine as _, BASE64_STANDARD};
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use std::fmt;
use std::sync::OnceLock;

/// Iterations used by [`ScramSecret::derive`] (the RFC 7677 minimum recommendation).
pub const SCRAM_ITERATIONS: u32 = 4096;

/// The SCRAM-SHA-256 verifier of one user, stored in the users file at password-set time.
/// It lets a server check a client without holding the password (RFC 5802 section 3).
///
/// Serialized with base64 text for the byte fields. `Debug` hides the keys.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScramSecret {
    /// The salt (16 random bytes when derived here).
    #[serde(with = "b64")]
    pub salt: Vec<u8>,
    /// The PBKDF2 iteration count.
    pub iterations: u32,
    /// `H(HMAC(SaltedPassword, "Client Key"))`.
    #[serde(with = "b64")]
    pub stored_key: Vec<u8>,
    /// `HMAC(SaltedPassword, "Server Key")`.
    #[serde(with = "b64")]
    pub server_key: Vec<u8>,
}

impl fmt::Debug for ScramSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramSecret")
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

impl ScramSecret {
    /// Derives the verifier for `password` with a fresh random salt and
    /// [`SCRAM_ITERATIONS`] iterations.
    ///
    /// The password is used as given (no SASLprep normalisation), so clients must send the
    /// same Unicode form; ASCII passwords are unaffected.
    pub fn derive(password: &str) -> Result<ScramSecret, RandomError> {
        Ok(Self::derive_with(
            password,
            &random::bytes::<16>()?,
            SCRAM_ITERATIONS,
        ))
    }

    /// Derives the verifier for `password` with a given salt and iteration count.
    pub fn derive_with(password: &str, salt: &[u8], iterations: u32) -> ScramSecret {
        let mut salted = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), salt, iterations.max(1), &mut salted);
        let client_key = hmac_sha256(&salted, b"Client Key");
        ScramSecret {
            salt: salt.to_vec(),
            iterations: iterations.max(1),
            stored_key: sha256(&client_key).to_vec(),
            server_key: hmac_sha256(&salted, b"Server Key").to_vec(),
        }
    }

    /// Whether the stored values can be used (right key lengths, a salt, iterations).
    pub(super) fn is_usable(&self) -> bool {
        !self.salt.is_empty()
            && self.iterations > 0
            && self.stored_key.len() == 32
            && self.server_key.len() == 32
    }

    /// A stand-in verifier for an unknown user: the salt is HMAC(key, user), so it is the same
    /// in every process that has the same key (the spool's, see [`set_decoy_key`]) and repeated
    /// probes look alike, like a real user's; the keys are random (so no proof matches).
    pub(super) fn decoy(key: &[u8; 32], user: &str) -> Result<ScramSecret, RandomError> {
        let salt = hmac_sha256(key, user.as_bytes());
        Ok(ScramSecret {
            salt: salt.get(..16).unwrap_or_default().to_vec(),
            iterations: SCRAM_ITERATIONS,
            stored_key: random::bytes::<32>()?.to_vec(),
            server_key: random::bytes::<32>()?.to_vec(),
        })
    }
}

/// The key of this process's decoy salts, once [`set_decoy_key`] was given it.
static DECOY_KEY: OnceLock<[u8; 32]> = OnceLock::new();

/// Use `key` (the spool's kept secret, the same for every process) for the decoy salts of
/// unknown users. Until it is given, every SCRAM exchange fails closed
/// ([`crate::proto::sasl::SaslError::Unavailable`]): a key made up here would differ from the next
/// process's, and two connections would tell real users from unknown ones. The first key given
/// stays.
pub fn set_decoy_key(key: [u8; 32]) {
    let _ = DECOY_KEY.set(key);
}

/// The decoy key, if one was given.
pub(super) fn decoy_key() -> Option<&'static [u8; 32]> {
    DECOY_KEY.get()
}

/// HMAC-SHA-256 of `data` under `key`.
pub(crate) fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as KeyInit>::new(&hmac_key(key));
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// `key` as HMAC's key block (RFC 2104 §2): hashed first when longer than SHA-256's 64-byte
/// block, then padded with zeros to it — what HMAC does with a key of any length, done here so
/// that the fixed-size constructor, which cannot fail, takes it.
fn hmac_key(key: &[u8]) -> hmac::digest::Key<Hmac<Sha256>> {
    let mut block = hmac::digest::Key::<Hmac<Sha256>>::default();
    let hashed;
    let key = if key.len() > block.len() {
        hashed = Sha256::digest(key);
        hashed.as_slice()
    } else {
        key
    };
    block.iter_mut().zip(key).for_each(|(b, k)| *b = *k);
    block
}

/// SHA-256 of `data`.
pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// Serde adapter: `Vec<u8>` as standard base64 text.
mod b64 {
    use super::*;

    pub(super) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&BASE64_STANDARD.encode(bytes))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        BASE64_STANDARD
            .decode(text.as_bytes())
            .map_err(serde::de::Error::custom)
    }
}
