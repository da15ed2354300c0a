//! Locks beside a maildir: the state lock (every read-modify-write of the mailbox state) and
//! the POP3 session lock (one POP3 session per mailbox; IMAP and delivery ignore it).
//!
//! Both are `flock`-style locks on their own files (std `File::lock`), so they are released
//! when the holder exits or crashes, and two opens in one process still exclude each other.

use std::fs::{File, OpenOptions};
use std::path::Path;

use super::error::{MaildirError, Result};
use super::layout::Maildir;

/// The state lock file name inside a maildir.
pub const STATE_LOCK: &str = "postern-state.lock";
/// The POP3 session lock file name inside a maildir.
pub const POP3_LOCK: &str = "postern-pop3.lock";

fn open_lock_file(path: &Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| MaildirError::io(path, e))
}

/// An exclusive lock on the mailbox state, held until dropped.
#[derive(Debug)]
pub struct StateLock {
    _file: File,
}

impl StateLock {
    /// Waits for and takes the exclusive state lock of `maildir`.
    pub fn acquire(maildir: &Maildir) -> Result<StateLock> {
        let path = maildir.path().join(STATE_LOCK);
        let file = open_lock_file(&path)?;
        file.lock().map_err(|e| MaildirError::io(&path, e))?;
        Ok(StateLock { _file: file })
    }
}

impl StateLock {
    /// Takes the exclusive state lock of `maildir` if nobody holds it: `Ok(None)` when someone
    /// does (a change is being made).
    pub fn try_acquire(maildir: &Maildir) -> Result<Option<StateLock>> {
        let path = maildir.path().join(STATE_LOCK);
        let file = open_lock_file(&path)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(StateLock { _file: file })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(MaildirError::io(&path, e)),
        }
    }
}

/// The POP3 session lock of one mailbox, held until dropped.
#[derive(Debug)]
pub struct Pop3Lock {
    _file: File,
}

/// Tries to take the POP3 session lock without waiting: `Ok(None)` when another POP3
/// session holds it (the caller answers `-ERR [IN-USE]`).
pub fn try_lock_pop3(maildir: &Maildir) -> Result<Option<Pop3Lock>> {
    let path = maildir.path().join(POP3_LOCK);
    let file = open_lock_file(&path)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(Pop3Lock { _file: file })),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(MaildirError::io(&path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pop3_lock_excludes_second_session_only() {
        let dir = tempfile::tempdir().unwrap();
        let md = Maildir::create(dir.path().join("u")).unwrap();
        let first = try_lock_pop3(&md).unwrap();
        assert!(first.is_some());
        assert!(
            try_lock_pop3(&md).unwrap().is_none(),
            "second session refused"
        );
        // the state lock is independent of the POP3 lock
        let state = StateLock::acquire(&md).unwrap();
        drop(state);
        drop(first);
        assert!(
            try_lock_pop3(&md).unwrap().is_some(),
            "free again after drop"
        );
    }
}
