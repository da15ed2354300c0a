//! What Sieve must remember between deliveries, per user: the vacation replies sent (RFC 5230
//! §4.2: one per sender and handle within the period) and the message ids the `duplicate` test
//! saw (RFC 7352). One small file per entry under `<maildir>/sieve/.state/<kind>/`, named by a
//! hash of the key (no text from a message names a file), holding the time the entry expires.
//! Entries are written with [`crate::store::durable::replace`], so a reply recorded before a
//! crash or restart is still recorded after it.

use std::fs;
use std::io::{self, Read as _};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

/// The two kinds of entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Vacation,
    Duplicate,
}

/// One user's entries of one kind.
#[derive(Debug, Clone)]
pub struct Tracker {
    dir: PathBuf,
}

impl Tracker {
    /// The entries of `kind` of the user whose maildir is `maildir`.
    pub fn new(maildir: &Path, kind: Kind) -> Tracker {
        let sub = match kind {
            Kind::Vacation => "vacation",
            Kind::Duplicate => "duplicate",
        };
        Tracker {
            dir: maildir.join("sieve").join(".state").join(sub),
        }
    }

    fn path(&self, key: &str) -> PathBuf {
        let hash = Sha256::digest(key.as_bytes());
        let hex: String = hash.iter().take(16).map(|b| format!("{b:02x}")).collect();
        let (fan, rest) = hex.split_at(2);
        self.dir.join(fan).join(rest)
    }

    /// Whether `key` was recorded and has not expired at `now` (seconds since the epoch).
    pub fn seen(&self, key: &str, now: u64) -> bool {
        read(&self.path(key)).is_some_and(|until| until > now)
    }

    /// Records `key` until `until` (seconds since the epoch), durably.
    pub fn record(&self, key: &str, until: u64) -> io::Result<()> {
        let path = self.path(key);
        if let Some(parent) = path.parent() {
            super::make_dirs_durably(parent)?;
        }
        crate::store::durable::replace(&path, format!("{until}\n").as_bytes(), 0o600)
    }

    /// Removes the entries expired at `now`; how many.
    pub fn sweep(&self, now: u64) -> usize {
        let Ok(fans) = fs::read_dir(&self.dir) else {
            return 0;
        };
        let mut removed = 0;
        for fan in fans.flatten() {
            let Ok(files) = fs::read_dir(fan.path()) else {
                continue;
            };
            for f in files.flatten() {
                let stale = read(&f.path()).is_none_or(|until| until <= now);
                if stale && fs::remove_file(f.path()).is_ok() {
                    removed += 1;
                }
            }
        }
        removed
    }
}

/// The expiry time in `path`; `None` for a missing or damaged entry.
fn read(path: &Path) -> Option<u64> {
    let mut text = String::new();
    fs::File::open(path)
        .ok()?
        .take(32)
        .read_to_string(&mut text)
        .ok()?;
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic
    use super::*;

    #[test]
    fn entries_last_until_they_expire_and_survive_a_new_tracker() {
        let dir = tempfile::tempdir().unwrap();
        let t = Tracker::new(dir.path(), Kind::Vacation);
        assert!(!t.seen("a@x\0h", 100));
        t.record("a@x\0h", 200).unwrap();
        let again = Tracker::new(dir.path(), Kind::Vacation);
        assert!(again.seen("a@x\0h", 199));
        assert!(!again.seen("a@x\0h", 200));
        assert!(!again.seen("b@x\0h", 150));
        assert!(!Tracker::new(dir.path(), Kind::Duplicate).seen("a@x\0h", 150));
        assert_eq!(again.sweep(150), 0);
        assert_eq!(again.sweep(250), 1);
        assert!(!again.seen("a@x\0h", 0));
    }
}
