//! Quota usage: bytes and messages over the INBOX and every Maildir++ folder, the per-directory
//! counts kept between calls, and the quota rule itself (SPEC §2 "Quotas").
//!
//! Counting a maildir means reading every file name in it (sizes come from `,S=`), which for
//! 10,000 messages made each RCPT 250 times slower (bin/bench-quota-rcpt). So the count of each
//! `new/` and `cur/` directory is kept ([`usage_cached`]), in the spirit of Maildir++'s
//! `maildirsize`, and used again while the directory's modification time says nothing was added,
//! removed or renamed there. Only a count taken when that time was at least [`SETTLED`] old is
//! kept: file times advance in clock ticks, so a change right after a count in the same tick
//! would otherwise go unseen. The folders are listed each time (a short read of the maildir's top
//! directory).

use std::collections::HashMap;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use super::error::{MaildirError, Result};
use super::layout::Maildir;
use super::name;

/// Mail usage of a user's mail root: `(bytes, messages)` over `new/` and `cur/` of the INBOX
/// and all folders. Sizes come from `,S=` in the name when present, else from `stat`.
pub fn usage(inbox: &Maildir) -> Result<(u64, u64)> {
    usage_by(inbox, dir_usage)
}

/// Like [`usage`], counting each `new/` and `cur/` directory with `count` (e.g. from a cache).
pub fn usage_by(
    inbox: &Maildir,
    mut count: impl FnMut(&Path) -> Result<(u64, u64)>,
) -> Result<(u64, u64)> {
    let mut folders = vec![inbox.clone()];
    for name in inbox.folders()? {
        match inbox.folder(&name) {
            Ok(md) => folders.push(md),
            Err(MaildirError::NoSuchFolder(_)) => continue, // removed meanwhile
            Err(e) => return Err(e),
        }
    }
    let (mut bytes, mut messages) = (0u64, 0u64);
    for md in &folders {
        for dir in [md.new_dir(), md.cur()] {
            let (b, m) = count(&dir)?;
            bytes += b;
            messages += m;
        }
    }
    Ok((bytes, messages))
}

/// `(bytes, messages)` of one `new/` or `cur/` directory (nothing when it is missing).
pub fn dir_usage(dir: &Path) -> Result<(u64, u64)> {
    let (mut bytes, mut count) = (0u64, 0u64);
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok((0, 0)),
        Err(e) => return Err(MaildirError::io(dir, e)),
    };
    for entry in rd {
        let entry = entry.map_err(|e| MaildirError::io(dir, e))?;
        let Ok(n) = entry.file_name().into_string() else {
            continue;
        };
        if !name::acceptable(&n) {
            continue;
        }
        let size = match name::size_field(name::split(&n).0) {
            Some(s) => s,
            None => match entry.metadata() {
                Ok(m) => m.len(),
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(MaildirError::io(entry.path(), e)),
            },
        };
        bytes += size;
        count += 1;
    }
    Ok((bytes, count))
}

/// A refusal for the quota: what is used, the limit, and what the operation would add.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exceeded {
    pub used: u64,
    pub quota: u64,
    pub adding: u64,
}

impl std::fmt::Display for Exceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} bytes used of a quota of {}; this would add {}",
            self.used, self.quota, self.adding
        )
    }
}

/// The quota rule itself: a mailbox at or over its quota takes nothing more, and an operation
/// that would take it over is refused whole. No quota, or usage unknown: allowed.
pub fn would_exceed(quota: Option<u64>, used: Option<u64>, adding: u64) -> Option<Exceeded> {
    let (quota, used) = (quota?, used?);
    (used >= quota || used.saturating_add(adding) > quota).then_some(Exceeded {
        used,
        quota,
        adding,
    })
}

/// A count is kept only when the directory had not changed for this long.
pub const SETTLED: Duration = Duration::from_secs(2);

/// Directories remembered at most (the cache starts over beyond that).
const MAX_DIRS: usize = 50_000;

/// One directory's count and the state it was taken in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Counted {
    ino: u64,
    mtime: SystemTime,
    bytes: u64,
    messages: u64,
}

static CACHE: Mutex<Option<HashMap<PathBuf, Counted>>> = Mutex::new(None);

/// Like [`usage`], with each directory's count kept while the directory is unchanged.
pub fn usage_cached(inbox: &Maildir) -> Result<(u64, u64)> {
    usage_by(inbox, cached_dir_usage)
}

/// `(bytes, messages)` of a `new/` or `cur/` directory, from the cache while it is unchanged.
fn cached_dir_usage(dir: &Path) -> Result<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let io = |e| MaildirError::io(dir, e);
    let meta = match std::fs::metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((0, 0)),
        Err(e) => return Err(io(e)),
    };
    let (ino, mtime) = (meta.ino(), meta.modified().map_err(io)?);
    let cached = CACHE
        .lock()
        .ok()
        .and_then(|c| c.as_ref()?.get(dir).copied());
    if let Some(c) = cached.filter(|c| c.ino == ino && c.mtime == mtime) {
        return Ok((c.bytes, c.messages));
    }
    let (bytes, messages) = dir_usage(dir)?;
    if keep(mtime, SystemTime::now()) {
        if let Ok(mut c) = CACHE.lock() {
            let map = c.get_or_insert_with(HashMap::new);
            if map.len() >= MAX_DIRS {
                map.clear();
            }
            let counted = Counted {
                ino,
                mtime,
                bytes,
                messages,
            };
            map.insert(dir.to_path_buf(), counted);
        }
    }
    Ok((bytes, messages))
}

/// Whether a count of a directory last changed at `mtime`, finished at `now`, may be kept.
fn keep(mtime: SystemTime, now: SystemTime) -> bool {
    now.duration_since(mtime).is_ok_and(|age| age >= SETTLED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_counts_inbox_and_folders() {
        let dir = tempfile::tempdir().unwrap();
        let inbox = Maildir::create(dir.path().join("u")).unwrap();
        assert_eq!(usage(&inbox).unwrap(), (0, 0));
        fs::write(inbox.new_dir().join("1.a.h,S=1000"), b"x").unwrap();
        fs::write(inbox.cur().join("2.b.h:2,S"), b"12345").unwrap();
        fs::write(inbox.tmp().join("3.c.h"), b"ignored in tmp").unwrap();
        let sent = inbox.create_folder("Sent").unwrap();
        fs::write(sent.cur().join("4.d.h,S=7:2,"), b"1234567").unwrap();
        fs::write(sent.cur().join(".hidden"), b"ignored").unwrap();
        assert_eq!(usage(&inbox).unwrap(), (1000 + 5 + 7, 3));
    }

    fn age(dir: &Path, secs: u64) {
        let t = SystemTime::now() - Duration::from_secs(secs);
        let f = std::fs::File::open(dir).expect("open dir");
        f.set_modified(t).expect("set mtime");
    }

    #[test]
    fn counts_are_kept_while_the_directory_is_unchanged() {
        let tmp = tempfile::tempdir().expect("tmp");
        let md = Maildir::create(tmp.path().join("bob")).expect("maildir");
        let volume = crate::store::maildir::MailVolume::new(tmp.path());
        let usage = |user: &str| volume.usage(user).map(|(bytes, _)| bytes);
        std::fs::write(md.cur().join("1.a.h,S=100:2,S"), b"x").expect("write");
        // Just changed: counted, not kept.
        assert_eq!(usage("bob"), Some(100));
        std::fs::write(md.cur().join("2.a.h,S=50:2,S"), b"x").expect("write");
        assert_eq!(
            usage("bob"),
            Some(150),
            "a fresh directory is counted again"
        );
        // Settled: kept …
        age(&md.cur(), 10);
        assert_eq!(usage("bob"), Some(150));
        // … so a file slipped in without touching the time is not seen (the cache is used) …
        let t = std::fs::metadata(md.cur())
            .and_then(|m| m.modified())
            .expect("mtime");
        std::fs::write(md.cur().join("3.a.h,S=1:2,S"), b"x").expect("write");
        std::fs::File::open(md.cur())
            .and_then(|f| f.set_modified(t))
            .expect("reset mtime");
        assert_eq!(usage("bob"), Some(150));
        // … and any real change is: new mail, a removal, a folder, a rename (flags) in cur/.
        std::fs::write(md.new_dir().join("4.a.h,S=1000"), b"x").expect("write");
        assert_eq!(usage("bob"), Some(1150));
        std::fs::remove_file(md.new_dir().join("4.a.h,S=1000")).expect("rm");
        assert_eq!(usage("bob"), Some(150));
        let sent = md.create_folder("Sent").expect("folder");
        std::fs::write(sent.cur().join("5.a.h,S=7:2,S"), b"x").expect("write");
        assert_eq!(usage("bob"), Some(157));
        std::fs::rename(
            md.cur().join("1.a.h,S=100:2,S"),
            md.cur().join("1.a.h,S=100:2,RS"),
        )
        .expect("rename");
        assert_eq!(
            usage("bob"),
            Some(158),
            "cur/ counted again, with the slipped file"
        );
        assert_eq!(usage("nobody"), None);
        assert_eq!(usage("../etc"), None);
    }

    #[test]
    fn an_operation_over_the_quota_is_refused_whole() {
        assert_eq!(would_exceed(None, Some(10), 5), None);
        assert_eq!(would_exceed(Some(100), None, 5), None);
        assert_eq!(would_exceed(Some(100), Some(10), 90), None);
        let e = would_exceed(Some(100), Some(10), 91).expect("over");
        assert_eq!((e.used, e.quota, e.adding), (10, 100, 91));
        assert!(would_exceed(Some(100), Some(100), 0).is_some(), "full");
        assert!(would_exceed(Some(100), Some(150), 0).is_some(), "over");
        assert!(would_exceed(Some(100), Some(10), u64::MAX).is_some());
    }

    #[test]
    fn only_settled_counts_are_kept() {
        let now = SystemTime::now();
        assert!(!keep(now, now));
        assert!(!keep(now - Duration::from_millis(1500), now));
        assert!(keep(now - SETTLED, now));
        assert!(
            !keep(now + Duration::from_secs(5), now),
            "a time in the future"
        );
    }
}
