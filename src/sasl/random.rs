//! Random bytes for challenges, nonces and salts.

use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::prelude::{Engine as _, BASE64_STANDARD};

/// `N` random bytes from the operating system.
///
/// Should the OS source ever fail, the bytes come from hashing the clock, the process id and a
/// counter instead: unique but guessable, which keeps challenges and salts distinct (what SASL
/// needs of them) rather than taking the server down.
pub(crate) fn bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    if getrandom::fill(&mut out).is_err() {
        fallback_fill(&mut out);
    }
    out
}

/// A random unsigned number (for challenge strings).
pub(crate) fn number() -> u64 {
    u64::from_le_bytes(bytes::<8>())
}

/// A SCRAM server nonce: 18 random bytes in base64 (printable, no comma).
pub(crate) fn nonce() -> String {
    BASE64_STANDARD.encode(bytes::<18>())
}

/// Seconds and nanoseconds since the epoch (zero if the clock is before it).
pub(crate) fn clock() -> (u64, u32) {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or((0, 0), |d| (d.as_secs(), d.subsec_nanos()))
}

fn fallback_fill(out: &mut [u8]) {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    for (block, chunk) in out.chunks_mut(32).enumerate() {
        let (secs, nanos) = clock();
        let mut hash = Sha256::new();
        hash.update(secs.to_le_bytes());
        hash.update(nanos.to_le_bytes());
        hash.update(std::process::id().to_le_bytes());
        hash.update(COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
        hash.update(block.to_le_bytes());
        let digest = hash.finalize();
        for (dst, src) in chunk.iter_mut().zip(digest.iter()) {
            *dst = *src;
        }
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
    fn fallback_differs_between_calls() {
        let (mut a, mut b) = ([0u8; 40], [0u8; 40]);
        fallback_fill(&mut a);
        fallback_fill(&mut b);
        assert_ne!(a, b);
        assert_ne!(a[..32], [0u8; 32]);
        assert_ne!(a[32..], [0u8; 8]);
    }

    #[test]
    fn nonce_is_printable_without_comma() {
        let n = nonce();
        assert_eq!(n.len(), 24);
        assert!(n.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b','));
    }
}
