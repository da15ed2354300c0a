//! Connections at once, counted by every process on the host: a client address gets at most
//! `limit` places, each a small file in `<spool>/slots/` held under an exclusive `flock` for
//! the connection's life. The kernel lets go of the lock when the connection's process ends
//! however it ends, so a crash never leaves a place taken; smtpd under inetd (a process per
//! connection) and `serve`'s listeners share the places.
//!
//! Files whose lock nobody holds are removed by [`Slots::sweep`] (under the lock, so a taker
//! that opened the file just before notices that its file is gone and tries the next one).

use std::fs::{self, File, TryLockError};
use std::io;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

/// The directory under the spool.
pub const DIR: &str = "slots";

/// The connection places of a spool.
pub struct Slots {
    dir: PathBuf,
}

/// A place held; dropping it (or the process ending) gives it back.
#[derive(Debug)]
pub struct Slot {
    _file: File,
}

impl Slots {
    pub fn new(spool_root: &Path) -> Slots {
        Slots {
            dir: spool_root.join(DIR),
        }
    }

    /// One of `key`'s `limit` places, or `None` when every one is taken (blocking: file work).
    pub fn take(&self, key: &str, limit: u32) -> io::Result<Option<Slot>> {
        fs::create_dir_all(&self.dir)?;
        let base = super::keyfile::name(key);
        for i in 0..limit {
            let path = self.dir.join(format!("{base}.{i}"));
            let file = super::keyfile::open(&path)?;
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => continue,
                Err(TryLockError::Error(e)) => return Err(e),
            }
            // A sweep may have removed the file between our open and our lock.
            let held = file.metadata()?.ino();
            if fs::metadata(&path).is_ok_and(|m| m.ino() == held) {
                return Ok(Some(Slot { _file: file }));
            }
        }
        Ok(None)
    }

    /// Remove the files of places nobody holds; how many.
    pub fn sweep(&self) -> usize {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return 0;
        };
        let mut removed = 0;
        for e in entries.flatten() {
            let Ok(file) = File::open(e.path()) else {
                continue;
            };
            if file.try_lock().is_ok() && fs::remove_file(e.path()).is_ok() {
                removed += 1;
            }
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic
    use super::*;

    #[test]
    fn places_are_shared_given_back_and_swept() {
        let dir = tempfile::tempdir().unwrap();
        let a = Slots::new(dir.path());
        let b = Slots::new(dir.path()); // another process's view
        let one = a.take("conn 192.0.2.1", 2).unwrap().expect("first");
        let two = b.take("conn 192.0.2.1", 2).unwrap().expect("second");
        assert!(a.take("conn 192.0.2.1", 2).unwrap().is_none(), "third");
        assert!(
            b.take("conn 192.0.2.2", 2).unwrap().is_some(),
            "another key"
        );
        // Held places are not swept; a given-back one is, and can be taken again.
        // (The other key's place was given back at once: its guard was not kept.)
        assert_eq!(a.sweep(), 1, "the other key's place, nothing held");
        drop(one);
        assert_eq!(a.sweep(), 1);
        let again = b.take("conn 192.0.2.1", 2).unwrap();
        assert!(again.is_some());
        drop(two);
    }
}
