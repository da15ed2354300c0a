//! Credentials that answer at once (the users file hashes with argon2, far too slow for a fuzzer):
//! `alice` with password `secret`, a CRAM-MD5/APOP shared secret and a SCRAM verifier of one
//! iteration.

use std::sync::OnceLock;

use postern::sasl::{Credentials, ScramSecret};

pub const USER: &str = "alice";
pub const PASSWORD: &str = "secret";
pub const SHARED_SECRET: &str = "tanstaaf";

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
}
