//! Two small numbers kept beside a user's maildirs, each read and changed under an exclusive
//! `flock` on its own file, so that every process (delivery, `popd`, any number of `imapd`s)
//! agrees on them:
//!
//! - the **UIDVALIDITY counter** (`postern-uidvalidity` in the user's mail root, the INBOX
//!   maildir): the last UIDVALIDITY handed to a new mailbox state of this user. The next one is
//!   `max(now, last + 1)`, written durably before it is used, so that a mailbox name deleted and
//!   made again (or renamed away and made again) gets a strictly new UIDVALIDITY even within one
//!   second, after a crash, or after the clock stepped back (RFC 3501 §2.3.1.1);
//! - the **first unclaimed `\Recent` UID** (`postern-recent` in each maildir, with the
//!   UIDVALIDITY it belongs to): RFC 3501 §2.3.2 makes a message recent in exactly one session,
//!   the first to be told of it. A session that opens the mailbox read-write (IMAP SELECT, a
//!   POP3 session) claims every UID below the UIDNEXT it saw; EXAMINE and STATUS only read. It
//!   is not fsynced: a crash may make a message recent a second time, never lose a message.

use std::fs::{File, OpenOptions};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use super::error::{MaildirError, Result};
use super::layout::Maildir;

/// The UIDVALIDITY counter file in a user's mail root.
pub const UIDVALIDITY_FILE: &str = "postern-uidvalidity";
/// The first-unclaimed-recent-UID file in each maildir.
pub const RECENT_FILE: &str = "postern-recent";
/// Longest counter file read (they hold a line of two numbers).
const MAX_COUNTER_FILE: u64 = 256;

/// The mail root a maildir belongs to: a Maildir++ folder (it has a `maildirfolder` marker)
/// belongs to the directory above it, the INBOX is the root.
fn mail_root(md: &Maildir) -> PathBuf {
    let path = md.path();
    match path.parent() {
        Some(parent) if path.join("maildirfolder").exists() => parent.to_path_buf(),
        _ => path.to_path_buf(),
    }
}

/// A new UIDVALIDITY for a mailbox state of the user `md` belongs to (see the module docs).
pub fn next_uidvalidity(md: &Maildir) -> Result<u32> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let now = u32::try_from(now).unwrap_or(u32::MAX);
    let path = mail_root(md).join(UIDVALIDITY_FILE);
    let next_after = |text: &str| {
        let last: u32 = text.trim().parse().unwrap_or(0);
        now.max(last.saturating_add(1)).max(1)
    };
    match update(&path, true, |text| {
        let next = next_after(text);
        (next, Some(format!("{next}\n")))
    }) {
        // A full volume: the state this is for cannot be stored either (it is kept in memory
        // and made again by the next reader), so the counter is read, not advanced.
        Err(e) if e.is_no_space() => {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            Ok(next_after(&text))
        }
        other => other,
    }
}

/// The first UID of the mailbox at `md` (whose state has `uidvalidity`) that no session has
/// claimed as recent; with `claim_below`, every UID below it is claimed (the caller's session
/// holds them recent). A marker of another UIDVALIDITY counts as nothing claimed.
pub fn first_recent(md: &Maildir, uidvalidity: u32, claim_below: Option<u32>) -> Result<u32> {
    let path = md.path().join(RECENT_FILE);
    let parse = |text: &str| {
        let mut words = text.split_whitespace().map(str::parse::<u64>);
        match (words.next(), words.next()) {
            (Some(Ok(v)), Some(Ok(first))) if v == u64::from(uidvalidity) => {
                u32::try_from(first).unwrap_or(u32::MAX).max(1)
            }
            _ => 1,
        }
    };
    if claim_below.is_none() {
        // Only looking (EXAMINE, STATUS): a shared lock, and nothing made when there is no
        // marker yet (a full volume must not fail a STATUS).
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(1),
            Err(e) => return Err(MaildirError::io(&path, e)),
        };
        file.lock_shared().map_err(|e| MaildirError::io(&path, e))?;
        let mut text = String::new();
        let _ = (&file).take(MAX_COUNTER_FILE).read_to_string(&mut text);
        return Ok(parse(&text));
    }
    update(&path, false, |text| {
        let first = parse(text);
        let write = claim_below
            .filter(|&upto| upto > first)
            .map(|upto| format!("{uidvalidity} {upto}\n"));
        (first, write)
    })
}

/// Runs `f` on the text of the small file at `path` (empty when new) under an exclusive lock on
/// it, and writes what `f` returns in its place (fsynced when `durable`).
fn update<R>(path: &Path, durable: bool, f: impl FnOnce(&str) -> (R, Option<String>)) -> Result<R> {
    let io = |e| MaildirError::io(path, e);
    let mut file: File = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(super::FILE_MODE)
        .open(path)
        .map_err(io)?;
    file.lock().map_err(io)?;
    let mut text = String::new();
    // A file that is not text reads as empty: the counters start over from what `f` makes of it.
    let _ = (&file).take(MAX_COUNTER_FILE).read_to_string(&mut text);
    let (out, new) = f(&text);
    if let Some(new) = new {
        // Written over the old text (numbers only grow, so the new line is never shorter in
        // practice), then cut to its length: a crash leaves the old number or the new one.
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        file.write_all(new.as_bytes()).map_err(io)?;
        file.set_len(new.len() as u64).map_err(io)?;
        if durable {
            file.sync_data().map_err(io)?;
            if text.is_empty() {
                crate::store::durable::sync_dir(path.parent().unwrap_or(Path::new(".")))
                    .map_err(io)?;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uidvalidity_is_strictly_new_every_time_even_after_the_clock_stepped_back() {
        let dir = tempfile::tempdir().unwrap();
        let inbox = Maildir::create(dir.path().join("u")).unwrap();
        let folder = inbox.create_folder("Sent").unwrap();
        let a = next_uidvalidity(&inbox).unwrap();
        let b = next_uidvalidity(&folder).unwrap();
        let c = next_uidvalidity(&inbox).unwrap();
        assert!(a < b && b < c, "{a} {b} {c}");
        // The folder shares the user's counter (its file is in the mail root only).
        assert!(!folder.path().join(UIDVALIDITY_FILE).exists());
        // A counter ahead of the clock (it was stepped back since): still strictly new.
        let ahead = c + 100_000;
        std::fs::write(inbox.path().join(UIDVALIDITY_FILE), format!("{ahead}\n")).unwrap();
        assert_eq!(next_uidvalidity(&folder).unwrap(), ahead + 1);
        // A damaged counter falls back to the clock, never below it.
        std::fs::write(inbox.path().join(UIDVALIDITY_FILE), b"\xff junk").unwrap();
        assert!(next_uidvalidity(&inbox).unwrap() >= a);
    }

    #[test]
    fn concurrent_takers_never_get_the_same_uidvalidity() {
        let dir = tempfile::tempdir().unwrap();
        let inbox = Maildir::create(dir.path().join("u")).unwrap();
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let inbox = inbox.clone();
                std::thread::spawn(move || {
                    (0..25)
                        .map(|_| next_uidvalidity(&inbox).unwrap())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all: Vec<u32> = threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 100);
    }

    #[test]
    fn recent_uids_are_claimed_once_and_per_uidvalidity() {
        let dir = tempfile::tempdir().unwrap();
        let md = Maildir::create(dir.path().join("u")).unwrap();
        assert_eq!(first_recent(&md, 7, None).unwrap(), 1, "nothing claimed");
        assert_eq!(first_recent(&md, 7, Some(5)).unwrap(), 1, "claims 1..4");
        assert_eq!(first_recent(&md, 7, None).unwrap(), 5);
        assert_eq!(first_recent(&md, 7, Some(3)).unwrap(), 5, "never back");
        assert_eq!(first_recent(&md, 7, Some(9)).unwrap(), 5);
        assert_eq!(first_recent(&md, 7, None).unwrap(), 9);
        assert_eq!(first_recent(&md, 8, None).unwrap(), 1, "a new UIDVALIDITY");
    }
}
