//! TEMPORARY until the interpreter is wired: accepts everything but "bad".
use crate::config::sieve::Sieve;
pub fn capability() -> String {
    "fileinto vacation".into()
}
pub fn check(_config: &Sieve, text: &[u8]) -> Result<(), String> {
    if text.starts_with(b"bad") {
        Err("line 1: bad".into())
    } else {
        Ok(())
    }
}
