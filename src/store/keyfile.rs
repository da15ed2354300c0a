//! Small state files named by a hash of their key and shared by every process on the host
//! (rate counters, failed-login counts, connection places, greylisting): no client-chosen text
//! ever names a file, and each is opened the one way they all need.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

use sha2::{Digest, Sha256};

/// The file name of `key`: the first 128 bits of its SHA-256, in hex.
pub fn name(key: &str) -> String {
    let hash = Sha256::digest(key.as_bytes());
    hash.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// Open (making it, mode 0600, when missing) a key file for reading and writing in place.
pub fn open(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_are_fixed_length_hex_and_differ_by_key() {
        let a = super::name("connections from 192.0.2.1");
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, super::name("connections from 192.0.2.2"));
        assert_eq!(super::name("../../etc/passwd").len(), 32);
    }
}
