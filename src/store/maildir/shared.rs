//! One message list for every session of a process that has the same mailbox open and
//! unchanged: phones and desktop clients keep several connections on one INBOX, and on a
//! 100,000-message mailbox each private copy of the list would cost megabytes and each SELECT a
//! full directory scan.
//!
//! A session publishes its list after a sync, under the mailbox's [`Stamp`] (modification times
//! of `new/`, `cur/` and the state file, taken before that sync). A later SELECT whose stamp is
//! the same — nothing was delivered, renamed, removed or rewritten since — takes the published
//! list instead of scanning, and a session whose own list turns out equal to the published one
//! after a refresh adopts it. Stamps are only used once they are a second old ([`trusted`]), so
//! a change in the same clock tick cannot hide. The registry holds weak references: a list lives
//! as long as a session uses it, and a session changing its list gets its own copy
//! (`Arc::make_mut`) and stops matching.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::{SystemTime, UNIX_EPOCH};

use super::statefile::STATE_FILE;
use super::{name, Maildir, MessageInfo};

/// Modification times (ns) of `new/`, `cur/` and the state file.
pub type Stamp = (i128, i128, i128);

/// The stamp of `md` now (a missing directory or file counts as -1).
pub fn stamp_of(md: &Maildir) -> Stamp {
    (
        mtime_ns(&md.new_dir()),
        mtime_ns(&md.cur()),
        mtime_ns(&md.path().join(STATE_FILE)),
    )
}

/// A stamp taken within the last second may miss a change made in the same clock tick; such a
/// stamp is not trusted (`None`).
pub fn trusted(stamp: Stamp) -> Option<Stamp> {
    let newest = stamp.0.max(stamp.1).max(stamp.2);
    (now_ns() - newest > 1_000_000_000).then_some(stamp)
}

fn mtime_ns(path: &Path) -> i128 {
    fs::metadata(path)
        .map(|m| i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()))
        .unwrap_or(-1)
}

fn now_ns() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0)
}

/// What a reader of the list needs besides the messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// UIDVALIDITY.
    pub uidvalidity: u32,
    /// The UID the next message gets.
    pub uidnext: u32,
    /// The highest modseq.
    pub highestmodseq: u64,
    /// The mailbox's keywords.
    pub keywords: Vec<String>,
}

struct Published {
    stamp: Stamp,
    header: Header,
    messages: Weak<Vec<MessageInfo>>,
}

static VIEWS: Mutex<Option<HashMap<PathBuf, Published>>> = Mutex::new(None);

/// The list published for `maildir` under `stamp`, if a session still holds it.
pub fn lookup(maildir: &Path, stamp: Stamp) -> Option<(Header, Arc<Vec<MessageInfo>>)> {
    let views = VIEWS.lock().ok()?;
    let p = views.as_ref()?.get(maildir)?;
    if p.stamp != stamp {
        return None;
    }
    Some((p.header.clone(), p.messages.upgrade()?))
}

/// Publishes a session's list of `maildir` as current for `stamp`.
pub fn publish(maildir: &Path, stamp: Stamp, header: &Header, messages: &Arc<Vec<MessageInfo>>) {
    let Ok(mut views) = VIEWS.lock() else {
        return;
    };
    let views = views.get_or_insert_with(HashMap::new);
    // Forget mailboxes nobody has open any more.
    views.retain(|_, p| p.messages.strong_count() > 0);
    views.insert(
        maildir.to_path_buf(),
        Published {
            stamp,
            header: header.clone(),
            messages: Arc::downgrade(messages),
        },
    );
}

/// Whether `new/` and `cur/` hold exactly the files of `messages` (names included, so flag
/// renames count), read without changing anything.
pub fn files_match(maildir: &Maildir, messages: &[MessageInfo]) -> bool {
    // The names the maildir layer's scan would see.
    let names = |dir: &Path| -> Option<HashSet<String>> {
        let mut out = HashSet::new();
        for entry in fs::read_dir(dir).ok()? {
            if let Ok(n) = entry.ok()?.file_name().into_string() {
                if name::acceptable(&n) {
                    out.insert(n);
                }
            }
        }
        Some(out)
    };
    let (Some(new), Some(cur)) = (names(&maildir.new_dir()), names(&maildir.cur())) else {
        return false;
    };
    let in_new = messages.iter().filter(|m| m.in_new).count();
    new.len() == in_new
        && cur.len() == messages.len() - in_new
        && messages.iter().all(|m| {
            let set = if m.in_new { &new } else { &cur };
            set.contains(&m.file_name)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_is_found_under_its_stamp_while_someone_holds_it() {
        let dir = PathBuf::from("/nonexistent/shared-test");
        let header = Header {
            uidvalidity: 7,
            uidnext: 1,
            highestmodseq: 1,
            keywords: Vec::new(),
        };
        let list = Arc::new(Vec::new());
        publish(&dir, (1, 2, 3), &header, &list);
        let (h, found) = lookup(&dir, (1, 2, 3)).unwrap();
        assert_eq!(h, header);
        assert!(Arc::ptr_eq(&found, &list));
        assert!(lookup(&dir, (1, 2, 4)).is_none(), "another stamp");
        drop((found, list));
        assert!(lookup(&dir, (1, 2, 3)).is_none(), "nobody holds it");
    }
}
