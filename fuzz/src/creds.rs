//! Credentials that answer at once (the users file hashes with argon2, far too slow for a fuzzer):
//! `alice` with password `secret`, a CRAM-MD5/APOP shared secret and a SCRAM verifier of one
//! iteration, and a quota of 20,000 bytes.

use std::sync::OnceLock;

use postern::proto::sasl::{Credentials, ScramSecret};

pub const USER: &str = "alice";
pub const PASSWORD: &str = "secret";
pub const SHARED_SECRET: &str = "tanstaaf";
pub const QUOTA: u64 = 20_000;

pub struct Fast;

impl Credentials for Fast {
    fn verify_password(&self, user: &str, password: &str) -> bool {
        user == USER && password == PASSWORD
    }
    fn shared_secret(&self, user: &str) -> Option<String> {
        (user == USER).then(|| SHARED_SECRET.to_string())
    }
    fn scram_sha256(&self, user: &str) -> Option<ScramSecret> {
        static SECRET: OnceLock<ScramSecret> = OnceLock::new();
        (user == USER).then(|| {
            SECRET
                .get_or_init(|| ScramSecret::derive_with(PASSWORD, b"fuzz-salt", 1))
                .clone()
        })
    }
    fn nt_hash(&self, user: &str) -> Option<[u8; 16]> {
        (user == USER).then(|| postern::proto::sasl::ntlm::nt_hash(PASSWORD))
    }
    /// Room for the fixture messages and a few appended ones: APPEND and COPY reach the limit.
    fn quota(&self, user: &str) -> Option<u64> {
        (user == USER).then_some(QUOTA)
    }
}
