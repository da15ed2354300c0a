//! Messages from one mailbox into another: COPY (hard links, new UIDs in the target) and MOVE.
//!
//! MOVE (RFC 6851) is one `rename(2)` per message, from the source's `new/` or `cur/` into the
//! target's `cur/` under a new unique name, made while holding both mailboxes' state locks
//! (taken in the order of their inodes, so two opposite MOVEs cannot deadlock); then the
//! target's state gets the new UIDs and the source's loses the old ones. A rename is atomic, so
//! a process killed at any point leaves every message in exactly one of the two maildirs; the
//! state files are only the record of what the directories hold, and the next sync of each
//! mailbox (which drops entries whose file is gone and numbers files it does not know) makes
//! them agree again. A message whose file cannot be renamed there (the target on another file
//! system) is reported back, for the caller to copy and expunge instead.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use super::error::{MaildirError, Result};
use super::files::{commit_from_tmp, entry_flags, link_or_copy, locate};
use super::layout::Maildir;
use super::lock::StateLock;
use super::name;
use super::state::{host, MailboxState};
use super::statefile::{sync_dir, Entry, State};

/// What [`MailboxState::move_to`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Moved {
    /// `(source uid, new uid)` of each message moved, in source UID order.
    pub pairs: Vec<(u32, u32)>,
    /// Source UIDs that could not be renamed into the target (another file system): to be
    /// copied and expunged instead.
    pub elsewhere: Vec<u32>,
}

/// The renames of one MOVE, before the states record them.
#[derive(Default)]
struct Renamed {
    /// Source UID and the target's entry (UID and modseq still to be given).
    moved: Vec<(u32, Entry)>,
    elsewhere: Vec<u32>,
    /// What stopped the MOVE part-way (what was renamed before it is still recorded).
    error: Option<MaildirError>,
}

impl MailboxState {
    /// Copies messages into another mailbox (IMAP COPY), keeping flags and internal dates;
    /// files are hard-linked when possible. Returns `(source uid, new uid)` pairs; messages
    /// that vanished meanwhile are skipped. Never holds both mailboxes' locks at once.
    pub fn copy_to(&mut self, uids: &[u32], target: &mut MailboxState) -> Result<Vec<(u32, u32)>> {
        let sources: Vec<Entry> = self.locked(|_, st| {
            let picked = uids
                .iter()
                .filter_map(|u| st.entries.binary_search_by_key(u, |e| e.uid).ok())
                .filter_map(|i| st.entries.get(i).cloned());
            Ok((picked.collect(), false))
        })?;
        let keywords = self.snapshot()?.keywords;
        let mut staged = Vec::new();
        for e in &sources {
            let base = name::unique_base(e.date, host(), e.size, e.vsize);
            let tmp = target.maildir().tmp().join(&base);
            if !link_or_copy(self.maildir(), e, &tmp)? {
                continue;
            }
            staged.push((
                e.uid,
                base,
                entry_flags(e, &keywords),
                e.size,
                e.vsize,
                e.date,
            ));
        }
        let tmps: Vec<PathBuf> = staged
            .iter()
            .map(|s| target.maildir().tmp().join(&s.1))
            .collect();
        let result = target.locked(|md, st| {
            let mut pairs = Vec::new();
            for (old, base, flags, size, vsize, date) in &staged {
                let uid = commit_from_tmp(md, st, base, flags, *size, *vsize, *date)?;
                pairs.push((*old, uid));
            }
            let changed = !pairs.is_empty();
            Ok((pairs, changed))
        });
        if result.is_err() {
            for t in tmps {
                let _ = fs::remove_file(t);
            }
        }
        result
    }

    /// Moves messages into another mailbox (IMAP MOVE; see the module docs), keeping flags and
    /// internal dates. Unknown UIDs and messages gone meanwhile are skipped. The target may be
    /// this same mailbox: the messages then get new UIDs in it.
    pub fn move_to(&mut self, uids: &[u32], target: &mut MailboxState) -> Result<Moved> {
        let mut wanted = uids.to_vec();
        wanted.sort_unstable();
        wanted.dedup();
        if self.maildir().path() == target.maildir().path() {
            let (moved, error) = self.locked(|md, st| {
                let mut keywords = st.keywords.clone();
                let r = rename_all(md, st, md, &mut keywords, &wanted);
                st.keywords = keywords;
                let gone: HashSet<u32> = r.moved.iter().map(|m| m.0).collect();
                st.entries.retain(|e| !gone.contains(&e.uid));
                let pairs = record(st, r.moved);
                let changed = !pairs.is_empty();
                if changed {
                    sync_dir(&md.cur())?;
                }
                let moved = Moved {
                    pairs,
                    elsewhere: r.elsewhere,
                };
                Ok(((moved, r.error), changed))
            })?;
            return error.map_or(Ok(moved), Err);
        }
        let (first, second) = if lock_order(self.maildir()) < lock_order(target.maildir()) {
            (self.maildir().clone(), target.maildir().clone())
        } else {
            (target.maildir().clone(), self.maildir().clone())
        };
        let first_lock = StateLock::acquire(&first)?;
        let second_lock = StateLock::acquire(&second)?;
        let (mut src, src_fresh) = self.load_locked()?;
        let (mut dst, dst_fresh) = target.load_locked()?;
        let r = rename_all(
            self.maildir(),
            &src,
            target.maildir(),
            &mut dst.keywords,
            &wanted,
        );
        let gone: HashSet<u32> = r.moved.iter().map(|m| m.0).collect();
        let changed = !gone.is_empty();
        if changed {
            src.entries.retain(|e| !gone.contains(&e.uid));
            src.highestmodseq += 1;
        }
        let pairs = record(&mut dst, r.moved);
        // What was renamed is recorded even when something stopped the MOVE part-way: the
        // target first, so that a crash in between leaves the source's entries to be dropped
        // by its next sync rather than the target's files to be numbered again.
        let synced = if changed {
            sync_dir(&target.maildir().cur()).and_then(|()| {
                sync_dir(&self.maildir().cur())?;
                sync_dir(&self.maildir().new_dir())
            })
        } else {
            Ok(())
        };
        target.save_locked(dst, changed || dst_fresh)?;
        self.save_locked(src, changed || src_fresh)?;
        drop((first_lock, second_lock));
        target.settle()?;
        self.settle()?;
        synced?;
        match r.error {
            Some(e) => Err(e),
            None => Ok(Moved {
                pairs,
                elsewhere: r.elsewhere,
            }),
        }
    }
}

/// Renames the files of `uids` (in `src`, the state of maildir `from`) into `to`'s `cur/`,
/// giving their flags the target's keyword letters.
fn rename_all(
    from: &Maildir,
    src: &State,
    to: &Maildir,
    keywords: &mut Vec<String>,
    uids: &[u32],
) -> Renamed {
    let mut out = Renamed::default();
    for &uid in uids {
        let Ok(i) = src.entries.binary_search_by_key(&uid, |e| e.uid) else {
            continue;
        };
        let Some(e) = src.entries.get(i) else {
            continue;
        };
        let letters = match entry_flags(e, &src.keywords).to_info_letters(keywords) {
            Ok(l) => l,
            Err(err) => {
                out.error = Some(err);
                break;
            }
        };
        let base = name::unique_base(e.date, host(), e.size, e.vsize);
        let file_name = name::with_letters(&base, &letters);
        match rename_entry(from, e, &to.cur().join(&file_name)) {
            Ok(true) => out.moved.push((
                uid,
                Entry {
                    uid: 0,
                    modseq: 0,
                    size: e.size,
                    vsize: e.vsize,
                    date: e.date,
                    in_new: false,
                    name: file_name.into(),
                },
            )),
            Ok(false) => {}
            Err(err) if cross_device(&err) => out.elsewhere.push(uid),
            Err(err) => {
                out.error = Some(err);
                break;
            }
        }
    }
    out
}

/// Gives the moved entries their UIDs (in order) and one new modseq in `st`.
fn record(st: &mut State, moved: Vec<(u32, Entry)>) -> Vec<(u32, u32)> {
    if moved.is_empty() {
        return Vec::new();
    }
    let modseq = st.highestmodseq + 1;
    let mut pairs = Vec::with_capacity(moved.len());
    for (old, mut e) in moved {
        e.uid = st.uidnext;
        e.modseq = modseq;
        st.uidnext = st.uidnext.saturating_add(1);
        pairs.push((old, e.uid));
        st.entries.push(e);
    }
    st.highestmodseq = modseq;
    pairs
}

/// Renames a message's file to `dest`, following a rename by another process (flags changed
/// by a client that does not take the state lock); `Ok(false)` when it is gone.
fn rename_entry(md: &Maildir, e: &Entry, dest: &Path) -> Result<bool> {
    let first = if e.in_new { md.new_dir() } else { md.cur() }.join(&*e.name);
    match fs::rename(&first, dest) {
        Ok(()) => return Ok(true),
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
            return Err(MaildirError::io(&first, err))
        }
        Err(_) => {}
    }
    let Some((n, in_new)) = locate(md, e.base())? else {
        return Ok(false);
    };
    let path = if in_new { md.new_dir() } else { md.cur() }.join(n);
    match fs::rename(&path, dest) {
        Ok(()) => Ok(true),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(err) => Err(MaildirError::io(&path, err)),
    }
}

/// Where a maildir comes in the order both locks of a MOVE are taken in: its device and inode,
/// the same in every process whatever path names it (its path when it cannot be read).
fn lock_order(md: &Maildir) -> (u64, u64, PathBuf) {
    use std::os::unix::fs::MetadataExt;
    match fs::metadata(md.path()) {
        Ok(m) => (m.dev(), m.ino(), PathBuf::new()),
        Err(_) => (u64::MAX, u64::MAX, md.path().to_path_buf()),
    }
}

/// Whether a rename failed because source and target are on different file systems.
fn cross_device(e: &MaildirError) -> bool {
    matches!(e, MaildirError::Io { source, .. } if source.raw_os_error() == Some(libc::EXDEV))
}
