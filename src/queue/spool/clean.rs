//! Cleaning the spool of what crashes and finished messages leave behind: temp files older than
//! an hour in `tmp/` (a writer or a recycling killed half-way), state files whose message is gone
//! (and their own leftover temp files), and free files beyond the pool kept for reuse.
//!
//! Every queue runner — `serve`, `deliver --watch`, and `deliver --once` from cron — asks for a
//! clean with [`Spool::clean_if_due`]; it runs at most once per [`CLEAN_INTERVAL`] whoever asks.
//! The last clean's time is the modification time of `clean.stamp` in the spool root, read and
//! set under an exclusive `flock` on that file: a runner that finds the lock taken (another one
//! is cleaning) or the stamp recent leaves it.

use std::fs::{self, File, OpenOptions};
use std::io::ErrorKind;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{io_err, recycle, QueueId, Spool, SpoolError};

/// How often the spool is cleaned at most, by all runners together.
pub const CLEAN_INTERVAL: Duration = Duration::from_secs(15 * 60);

/// A temp file this old was left by a process that is gone.
const STALE: Duration = Duration::from_secs(3600);

/// The stamp (and lock) file in the spool root.
const STAMP: &str = "clean.stamp";

impl Spool {
    /// Clean ([`Spool::clean`]) when the last clean by any process is at least `interval` ago
    /// and no other process is cleaning right now. `Ok(None)` when it was not due.
    pub fn clean_if_due(&self, interval: Duration) -> Result<Option<usize>, SpoolError> {
        let path = self.root.join(STAMP);
        let stamp = open_stamp(&path).map_err(io_err(&path))?;
        match stamp.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Ok(None),
            Err(fs::TryLockError::Error(e)) => return Err(io_err(&path)(e)),
        }
        let last = stamp
            .metadata()
            .and_then(|m| m.modified())
            .map_err(io_err(&path))?;
        let now = SystemTime::now();
        // A stamp in the future (the clock went back) counts as due.
        if now.duration_since(last).is_ok_and(|age| age < interval) {
            return Ok(None);
        }
        let removed = self.clean()?;
        stamp.set_modified(now).map_err(io_err(&path))?;
        Ok(Some(removed))
    }

    /// Remove temp files older than an hour (left by crashed writers), state files whose
    /// message is gone, and free files beyond what is kept for reuse; how many were removed.
    pub fn clean(&self) -> Result<usize, SpoolError> {
        let mut removed = self
            .free
            .trim()
            .map_err(io_err(&self.root.join(recycle::DIR)))?;
        let cutoff = SystemTime::now() - STALE;
        let old = |e: &fs::DirEntry| {
            e.metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t < cutoff)
        };
        let tmp = self.root.join("tmp");
        for e in fs::read_dir(&tmp).map_err(io_err(&tmp))?.flatten() {
            if old(&e) && fs::remove_file(e.path()).is_ok() {
                removed += 1;
            }
        }
        let state = self.root.join("state");
        for e in fs::read_dir(&state).map_err(io_err(&state))?.flatten() {
            let name = e.file_name();
            let Some(name) = name.to_str() else {
                continue;
            };
            let Some(id) = name.split('.').next().and_then(QueueId::parse) else {
                continue;
            };
            // `ID.json.<pid>.<n>.<random>.tmp`: a state write that never got renamed.
            let leftover = !name.ends_with(".json") && old(&e);
            if (leftover || self.find(&id).is_none()) && fs::remove_file(e.path()).is_ok() {
                removed += 1;
            }
        }
        removed += super::claim::sweep(self, STALE);
        Ok(removed)
    }
}

/// Opens the stamp file; a new one gets the epoch as its time, so the first clean is due.
fn open_stamp(path: &Path) -> std::io::Result<File> {
    match OpenOptions::new().write(true).create_new(true).open(path) {
        Ok(f) => {
            f.set_modified(UNIX_EPOCH)?;
            Ok(f)
        }
        Err(e) if e.kind() == ErrorKind::AlreadyExists => OpenOptions::new().write(true).open(path),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clean_is_due_once_per_interval() {
        let dir = tempfile::tempdir().expect("tempdir");
        let spool = Spool::open(dir.path()).expect("open");
        let hour = Duration::from_secs(3600);
        assert_eq!(spool.clean_if_due(hour).expect("clean"), Some(0));
        assert_eq!(spool.clean_if_due(hour).expect("clean"), None);
        // While another holder has the lock, nobody cleans.
        let stamp = dir.path().join(STAMP);
        let f = File::open(&stamp).expect("stamp");
        f.set_modified(UNIX_EPOCH).expect("age");
        f.lock().expect("lock");
        assert_eq!(spool.clean_if_due(hour).expect("clean"), None);
        drop(f);
        assert_eq!(spool.clean_if_due(hour).expect("clean"), Some(0));
        assert_eq!(spool.clean_if_due(Duration::ZERO).expect("clean"), Some(0));
    }
}
