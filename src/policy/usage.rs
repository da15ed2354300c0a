//! Mailbox usage for quotas (SPEC §2 "Quotas"): how full a user's maildir is, and whether mail
//! to it must wait.
//!
//! Counting a maildir means reading every file name in it (sizes come from `,S=`), which for
//! 10,000 messages made each RCPT 250 times slower (bin/bench-quota-rcpt). So the count of each
//! `new/` and `cur/` directory is kept, in the spirit of Maildir++'s `maildirsize`, and used
//! again while the directory's modification time says nothing was added, removed or renamed
//! there. Only a count taken when that time was at least [`SETTLED`] old is kept: file times
//! advance in clock ticks, so a change right after a count in the same tick would otherwise go
//! unseen. The folders are listed each time (a short read of the maildir's top directory).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use crate::users::Users;

/// How full a user's mailbox is (the real one reads the maildir).
pub trait MailboxUsage: Sync {
    /// Bytes used, if known.
    fn bytes(&self, user: &str) -> Option<u64>;
}

/// Usage from the maildirs under the mail volume, with the per-directory cache.
pub struct MaildirUsage<'a>(pub &'a Path);

impl MailboxUsage for MaildirUsage<'_> {
    fn bytes(&self, user: &str) -> Option<u64> {
        if !crate::users::valid_user_name(user) {
            return None;
        }
        let md = crate::maildir::Maildir::open(self.0.join(user)).ok()?;
        crate::maildir::quota::usage_by(&md, cached_dir_usage)
            .ok()
            .map(|(bytes, _)| bytes)
    }
}

/// Whether `user` is at or over quota (mail is refused once the limit is reached).
pub fn over_quota(users: &Users, usage: &dyn MailboxUsage, user: &str) -> bool {
    exceeds_quota(users, usage, user, 0).is_some()
}

/// Whether adding `adding` bytes to the mail of `user` would take it over its quota:
/// `Some(Exceeded)` refuses the whole operation (RFC 9208 §5: nothing of it is stored).
pub fn exceeds_quota(
    users: &Users,
    usage: &dyn MailboxUsage,
    user: &str,
    adding: u64,
) -> Option<Exceeded> {
    let quota = users.get(user).and_then(|u| u.quota)?;
    would_exceed(Some(quota), usage.bytes(user), adding)
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

/// `(bytes, messages)` of a `new/` or `cur/` directory, from the cache while it is unchanged.
fn cached_dir_usage(dir: &Path) -> crate::maildir::error::Result<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let io = |e| crate::maildir::MaildirError::io(dir, e);
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
    let (bytes, messages) = crate::maildir::quota::dir_usage(dir)?;
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

    fn age(dir: &Path, secs: u64) {
        let t = SystemTime::now() - Duration::from_secs(secs);
        let f = std::fs::File::open(dir).expect("open dir");
        f.set_modified(t).expect("set mtime");
    }

    #[test]
    fn counts_are_kept_while_the_directory_is_unchanged() {
        let tmp = tempfile::tempdir().expect("tmp");
        let md = crate::maildir::Maildir::create(tmp.path().join("bob")).expect("maildir");
        let usage = MaildirUsage(tmp.path());
        std::fs::write(md.cur().join("1.a.h,S=100:2,S"), b"x").expect("write");
        // Just changed: counted, not kept.
        assert_eq!(usage.bytes("bob"), Some(100));
        std::fs::write(md.cur().join("2.a.h,S=50:2,S"), b"x").expect("write");
        assert_eq!(
            usage.bytes("bob"),
            Some(150),
            "a fresh directory is counted again"
        );
        // Settled: kept …
        age(&md.cur(), 10);
        assert_eq!(usage.bytes("bob"), Some(150));
        // … so a file slipped in without touching the time is not seen (the cache is used) …
        let t = std::fs::metadata(md.cur())
            .and_then(|m| m.modified())
            .expect("mtime");
        std::fs::write(md.cur().join("3.a.h,S=1:2,S"), b"x").expect("write");
        std::fs::File::open(md.cur())
            .and_then(|f| f.set_modified(t))
            .expect("reset mtime");
        assert_eq!(usage.bytes("bob"), Some(150));
        // … and any real change is: new mail, a removal, a folder, a rename (flags) in cur/.
        std::fs::write(md.new_dir().join("4.a.h,S=1000"), b"x").expect("write");
        assert_eq!(usage.bytes("bob"), Some(1150));
        std::fs::remove_file(md.new_dir().join("4.a.h,S=1000")).expect("rm");
        assert_eq!(usage.bytes("bob"), Some(150));
        let sent = md.create_folder("Sent").expect("folder");
        std::fs::write(sent.cur().join("5.a.h,S=7:2,S"), b"x").expect("write");
        assert_eq!(usage.bytes("bob"), Some(157));
        std::fs::rename(
            md.cur().join("1.a.h,S=100:2,S"),
            md.cur().join("1.a.h,S=100:2,RS"),
        )
        .expect("rename");
        assert_eq!(
            usage.bytes("bob"),
            Some(158),
            "cur/ counted again, with the slipped file"
        );
        assert_eq!(usage.bytes("nobody"), None);
        assert_eq!(usage.bytes("../etc"), None);
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
