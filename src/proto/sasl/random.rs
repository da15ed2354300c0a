//! Random bytes for challenges, nonces and salts, from the operating system and nowhere else.
//!
//! When the OS source fails there is no fallback (a clock hash would be guessable): the caller
//! fails closed — an exchange answers with a temporary failure ([`super::SaslError::Unavailable`]),
//! POP3 leaves APOP out of that session's greeting, `user add` reports the error.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::prelude::{Engine as _, BASE64_STANDARD};

/// The operating system gave no random bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the system's random source failed: {0}")]
pub struct RandomError(String);

/// `N` random bytes from the operating system.
pub(crate) fn bytes<const N: usize>() -> Result<[u8; N], RandomError> {
    let mut out = [0u8; N];
    fill(&mut out)?;
    Ok(out)
}

fn fill(out: &mut [u8]) -> Result<(), RandomError> {
    #[cfg(test)]
    if failing::ON.with(std::cell::Cell::get) {
        return Err(RandomError("injected failure".into()));
    }
    getrandom::fill(out).map_err(|e| RandomError(e.to_string()))
}

/// A random unsigned number (for challenge strings).
pub(crate) fn number() -> Result<u64, RandomError> {
    bytes::<8>().map(u64::from_le_bytes)
}

/// A SCRAM server nonce: 18 random bytes in base64 (printable, no comma).
pub(crate) fn nonce() -> Result<String, RandomError> {
    bytes::<18>().map(|b| BASE64_STANDARD.encode(b))
}

/// Seconds and nanoseconds since the epoch (zero if the clock is before it).
pub(crate) fn clock() -> (u64, u32) {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or((0, 0), |d| (d.as_secs(), d.subsec_nanos()))
}

/// The injectable failure of the random source, for tests (per thread).
#[cfg(test)]
pub(crate) mod failing {
    thread_local! {
        pub(super) static ON: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }

    /// Run `f` with the random source failing on this thread.
    pub(crate) fn during<T>(f: impl FnOnce() -> T) -> T {
        ON.with(|on| on.set(true));
        let out = f();
        ON.with(|on| on.set(false));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_differ_between_calls() {
        assert_ne!(bytes::<16>(), bytes::<16>());
    }

    #[test]
    fn nonce_is_printable_without_comma() {
        let n = nonce().expect("random");
        assert_eq!(n.len(), 24);
        assert!(n.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b','));
    }

    #[test]
    fn a_failing_source_gives_errors_not_bytes() {
        failing::during(|| {
            assert!(bytes::<16>().is_err());
            assert!(number().is_err());
            assert!(nonce().is_err());
        });
        assert!(nonce().is_ok(), "only while injected");
    }
}
