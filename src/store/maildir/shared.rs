//! One message list for every session of a process that has the same mailbox open and
//! unchanged: phones and desktop clients keep several connections on one INBOX, and on a
//! 100,000-message mailbox each private copy of the list would cost megabytes and each SELECT a
//! full directory scan.
//!
//! The list is published under the mailbox's [`Stamp`]: modification times (ns) of `new/` and
//! `cur/`, and modification time, inode and size of the state file (the checkpoint) and of its
//! journal (every change through the state lock grows the journal or replaces the checkpoint). A later SELECT or refresh
//! whose stamp is the same — nothing was delivered, renamed, removed or rewritten since — takes
//! the published list instead of scanning. When the stamp moved, one session looks (the others
//! of the process wait for it on the mailbox's gate, [`gate`]) and publishes the result, so a
//! change costs one look per process, not one per session: the state file as it is, read
//! without the state lock, when the directories hold exactly its files (every change made
//! through the lock is in it), else a sync under the lock (new deliveries get their UIDs).
//!
//! A stamp is only relied on ([`trusted`]) when the clock the kernel stamps files with (the
//! coarse real-time clock) had already moved past every one of its times when it was taken: a
//! change after that gets a different time, so a change in the same clock tick cannot hide.
//! On a file system that keeps whole seconds only (all nanoseconds zero), two seconds must have
//! passed. A list is published only after its stamp was trusted and the directories were read
//! after it and found to hold exactly its files ([`files_match`]); until then other sessions
//! take it unchecked and without a stamp (as good as a sync of their own a moment earlier), so
//! that their next look checks it.
//!
//! The registry keeps a published list alive while a session uses it, and also for
//! [`KEEP_FOR`] after that (at most [`KEEP_MESSAGES`] messages in all), so that the next login's
//! SELECT of an unchanged mailbox costs neither a scan nor a parse of the state file. A session
//! changing its list gets its own copy (`Arc::make_mut`) and stops matching.

use foldhash::HashSet;
use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use super::journal::JOURNAL_FILE;
use super::state::Position;
use super::statefile::STATE_FILE;
use super::{name, Maildir, MessageInfo, Snapshot};

/// Modification times (ns since the epoch) of a maildir's `new/` and `cur/`.
pub type DirTimes = [i128; 2];

/// Published lists nobody holds are kept this long after their last use.
pub const KEEP_FOR: Duration = Duration::from_secs(10 * 60);
/// Published lists nobody holds are kept up to this many messages in all (the newest first).
pub const KEEP_MESSAGES: usize = 300_000;
/// A session takes the state as the directories' contents on the strength of the times its
/// last change recorded ([`current`]) only while the process listed the directories and found
/// them holding a state's files less than this long ago: what another program changes in the
/// same clock tick as a recorded change does not move the times, and is seen within this.
pub const LIST_AT_LEAST_EVERY: Duration = Duration::from_secs(1);

/// What a mailbox looks like on disk, to tell whether anything changed since (see the module
/// docs). Two stamps are equal when the files are; when a stamp was taken does not count.
#[derive(Debug, Clone, Copy)]
pub struct Stamp {
    /// Modification times (ns) of `new/`, `cur/`, the state file and its journal (-1: missing).
    times: [i128; 4],
    /// Inode and size of the state file (it is replaced by rename) and of the journal (it grows,
    /// and is replaced at compaction).
    state_file: (u64, u64, u64, u64),
    /// The coarse real-time clock (ns) just before the files were looked at.
    seen_at: i128,
}

impl PartialEq for Stamp {
    fn eq(&self, other: &Stamp) -> bool {
        self.times == other.times && self.state_file == other.state_file
    }
}

impl Eq for Stamp {}

impl Stamp {
    /// A stamp from a version number (a store that counts its changes).
    pub fn version(version: u64) -> Stamp {
        Stamp {
            times: [i128::from(version), 0, 0, 0],
            state_file: (0, 0, 0, 0),
            seen_at: i128::MAX,
        }
    }
}

/// The stamp of `md` now (a missing directory or file counts as -1).
pub fn stamp_of(md: &Maildir) -> Stamp {
    let seen_at = coarse_now_ns();
    let state = fs::metadata(md.path().join(STATE_FILE)).ok();
    let journal = fs::metadata(md.path().join(JOURNAL_FILE)).ok();
    let (state_ino, state_len) = state.as_ref().map_or((0, 0), |m| (m.ino(), m.len()));
    let (journal_ino, journal_len) = journal.as_ref().map_or((0, 0), |m| (m.ino(), m.len()));
    Stamp {
        times: [
            mtime_ns(fs::metadata(md.new_dir()).ok().as_ref()),
            mtime_ns(fs::metadata(md.cur()).ok().as_ref()),
            mtime_ns(state.as_ref()),
            mtime_ns(journal.as_ref()),
        ],
        state_file: (state_ino, state_len, journal_ino, journal_len),
        seen_at,
    }
}

/// The modification times of `new/` and `cur/` (as a change under the state lock records
/// them: [`record_dirs`]); `None` when either cannot be looked at.
pub fn dir_times(md: &Maildir) -> Option<DirTimes> {
    let time = |p: PathBuf| fs::metadata(p).ok().map(|m| mtime_ns(Some(&m)));
    Some([time(md.new_dir())?, time(md.cur())?])
}

/// Like [`stamp_of`], through `dir`, a descriptor of the maildir held open (`O_PATH`): each of
/// the four looks (new/, cur/, the state file and its journal) is one `fstatat` relative to it rather than a walk of the whole path, which on
/// a FUSE or network volume is one round trip per path component (an idling IMAP session
/// stamps its mailbox every `[cluster] idle_poll`). A descriptor that no longer answers falls
/// back to the paths.
pub fn stamp_in(md: &Maildir, dir: &fs::File) -> Stamp {
    use nix::fcntl::AtFlags;
    use nix::sys::stat::{fstatat, FileStat};
    let seen_at = coarse_now_ns();
    let at = |name: &str| fstatat(dir, name, AtFlags::empty());
    let time = |st: &nix::Result<FileStat>| {
        st.as_ref().map_or(-1, |s| {
            i128::from(s.st_mtime) * 1_000_000_000 + i128::from(s.st_mtime_nsec)
        })
    };
    let (new, cur, state, journal) = (at("new"), at("cur"), at(STATE_FILE), at(JOURNAL_FILE));
    // Nothing there (the maildir deleted, perhaps made again) or the descriptor stale
    // (ESTALE): the paths say what is there.
    if [&new, &cur, &state].iter().all(|r| r.is_err()) {
        return stamp_of(md);
    }
    let file = |st: &nix::Result<FileStat>| {
        st.as_ref().map_or((0, 0), |s| {
            (s.st_ino, u64::try_from(s.st_size).unwrap_or(0))
        })
    };
    let ((state_ino, state_len), (journal_ino, journal_len)) = (file(&state), file(&journal));
    Stamp {
        times: [time(&new), time(&cur), time(&state), time(&journal)],
        state_file: (state_ino, state_len, journal_ino, journal_len),
        seen_at,
    }
}

/// The maildir's directory, opened to stamp it through ([`stamp_in`]).
pub fn open_dir(md: &Maildir) -> Option<fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(md.path())
        .ok()
}

/// `stamp` if no change can hide under it: the kernel's file clock had moved past all its
/// times when it was taken (by two seconds on a file system that keeps whole seconds only).
pub fn trusted(stamp: Stamp) -> Option<Stamp> {
    let newest = stamp.times.iter().copied().max().unwrap_or(-1);
    let whole_seconds = stamp
        .times
        .iter()
        .all(|t| *t < 0 || t.rem_euclid(1_000_000_000) == 0);
    let margin = if whole_seconds { 2_000_000_000 } else { 0 };
    (stamp.seen_at - newest > margin).then_some(stamp)
}

fn mtime_ns(meta: Option<&fs::Metadata>) -> i128 {
    meta.map_or(-1, |m| {
        i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec())
    })
}

/// The clock file times come from (`CLOCK_REALTIME_COARSE`), in ns since the epoch.
fn coarse_now_ns() -> i128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into the valid pointer given.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_REALTIME_COARSE, &mut ts) };
    if rc != 0 {
        return 0; // nothing is trusted then
    }
    i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec)
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

impl Header {
    /// The header of a snapshot.
    pub fn of(snap: &Snapshot) -> Header {
        Header {
            uidvalidity: snap.uidvalidity,
            uidnext: snap.uidnext,
            highestmodseq: snap.highestmodseq,
            keywords: snap.keywords.clone(),
        }
    }
}

/// A mailbox's messages as they are now ([`current`]).
#[derive(Debug, Clone)]
pub struct Current {
    /// UIDVALIDITY, UIDNEXT…
    pub header: Header,
    /// The messages, ascending by UID (shared with other sessions when published).
    pub messages: Arc<Vec<MessageInfo>>,
    /// The stamp the list is known to match, if it can be relied on.
    pub stamp: Option<Stamp>,
}

struct Published {
    stamp: Stamp,
    header: Header,
    /// The list; held here too, so an unchanged mailbox is found again by the next login.
    messages: Arc<Vec<MessageInfo>>,
    /// Whether the directories were read under a trusted stamp and found to hold exactly
    /// this list; until then the list is only offered to be checked.
    verified: bool,
    used: Instant,
}

#[derive(Default)]
struct Registry {
    views: HashMap<PathBuf, Published>,
    gates: HashMap<PathBuf, Weak<Mutex<()>>>,
    /// When a listing of each mailbox's directories last began that found them holding
    /// exactly a state's files.
    listed: HashMap<PathBuf, Instant>,
    /// The times of each mailbox's directories that the last change of this process under
    /// the state lock left, with the position of the state it left ([`record_dirs`]).
    dirs: HashMap<PathBuf, (Position, DirTimes)>,
}

static REGISTRY: Mutex<Option<Registry>> = Mutex::new(None);

fn with_registry<R>(f: impl FnOnce(&mut Registry) -> R) -> Option<R> {
    let mut reg = REGISTRY.lock().ok()?;
    Some(f(reg.get_or_insert_with(Registry::default)))
}

/// The list published for `maildir` under `stamp` (checked against the directories).
pub fn lookup(maildir: &Path, stamp: Stamp) -> Option<(Header, Arc<Vec<MessageInfo>>)> {
    with_registry(|reg| {
        let p = reg.views.get_mut(maildir)?;
        if p.stamp != stamp || !p.verified {
            return None;
        }
        p.used = Instant::now();
        Some((p.header.clone(), p.messages.clone()))
    })
    .flatten()
}

/// Publishes a list of `maildir` as current for `stamp`: the caller took `stamp` trusted and
/// then found the directories holding exactly `messages`.
pub fn publish(maildir: &Path, stamp: Stamp, header: &Header, messages: &Arc<Vec<MessageInfo>>) {
    register(maildir, stamp, header, messages, true);
}

/// Forgets the list published for `maildir` if it is `messages` (its holder is changing it).
pub fn unpublish(maildir: &Path, messages: &Arc<Vec<MessageInfo>>) {
    with_registry(|reg| {
        if reg
            .views
            .get(maildir)
            .is_some_and(|p| Arc::ptr_eq(&p.messages, messages))
        {
            reg.views.remove(maildir);
        }
    });
}

fn register(
    maildir: &Path,
    stamp: Stamp,
    header: &Header,
    messages: &Arc<Vec<MessageInfo>>,
    verified: bool,
) {
    with_registry(|reg| {
        reg.views.insert(
            maildir.to_path_buf(),
            Published {
                stamp,
                header: header.clone(),
                messages: messages.clone(),
                verified,
                used: Instant::now(),
            },
        );
        reg.housekeeping();
    });
}

impl Registry {
    /// Forgets lists nobody holds that are too old or beyond [`KEEP_MESSAGES`], and dead gates.
    fn housekeeping(&mut self) {
        self.views
            .retain(|_, p| Arc::strong_count(&p.messages) > 1 || p.used.elapsed() < KEEP_FOR);
        let mut unheld: Vec<(Instant, PathBuf, usize)> = self
            .views
            .iter()
            .filter(|(_, p)| Arc::strong_count(&p.messages) == 1)
            .map(|(k, p)| (p.used, k.clone(), p.messages.len()))
            .collect();
        unheld.sort_unstable_by_key(|u| std::cmp::Reverse(u.0));
        let mut total = 0usize;
        for (_, path, len) in unheld {
            total = total.saturating_add(len);
            if total > KEEP_MESSAGES {
                self.views.remove(&path);
            }
        }
        self.gates.retain(|_, g| g.strong_count() > 0);
        self.listed
            .retain(|_, at| at.elapsed() < LIST_AT_LEAST_EVERY);
        let (views, gates) = (&self.views, &self.gates);
        self.dirs
            .retain(|p, _| views.contains_key(p) || gates.contains_key(p));
    }
}

/// Records (or with `None`, forgets) for the process that `maildir`'s directories showed
/// these times when its state was at this position: what a change under the state lock left
/// (a sync: the times before it read the directories; a change of files: the times after it,
/// when state and times were as recorded before it). A reader whose state is at the position
/// and whose directories still show the times may take the state as their contents
/// ([`current`]).
pub fn record_dirs(maildir: &Path, record: Option<(Position, DirTimes)>) {
    with_registry(|reg| match record {
        Some(r) => {
            reg.dirs.insert(maildir.to_path_buf(), r);
        }
        None => {
            reg.dirs.remove(maildir);
        }
    });
}

/// What [`record_dirs`] last recorded for `maildir`.
pub fn recorded_dirs(maildir: &Path) -> Option<(Position, DirTimes)> {
    with_registry(|reg| reg.dirs.get(maildir).copied()).flatten()
}

/// Notes that a listing of `maildir` begun at `at` found the directories holding exactly the
/// state's files.
fn listed(maildir: &Path, at: Instant) {
    with_registry(|reg| {
        let last = reg.listed.entry(maildir.to_path_buf()).or_insert(at);
        *last = (*last).max(at);
    });
}

/// Whether the process listed `maildir` less than [`LIST_AT_LEAST_EVERY`] ago.
fn listed_lately(maildir: &Path) -> bool {
    with_registry(|reg| {
        reg.listed
            .get(maildir)
            .is_some_and(|at| at.elapsed() < LIST_AT_LEAST_EVERY)
    })
    .unwrap_or(false)
}

/// [`files_match`], noting a match for [`listed_lately`].
fn files_match_noted(md: &Maildir, messages: &[MessageInfo]) -> bool {
    let at = Instant::now();
    let matched = files_match(md, messages);
    if matched {
        listed(md.path(), at);
    }
    matched
}

/// The process's gate of one mailbox: held while a session syncs it, so the others of the
/// process wait for that sync's result instead of scanning too.
pub fn gate(maildir: &Path) -> Arc<Mutex<()>> {
    with_registry(|reg| {
        if let Some(g) = reg.gates.get(maildir).and_then(Weak::upgrade) {
            return g;
        }
        let g = Arc::new(Mutex::new(()));
        reg.gates.insert(maildir.to_path_buf(), Arc::downgrade(&g));
        g
    })
    .unwrap_or_else(|| Arc::new(Mutex::new(())))
}

/// The messages of `md` now: the published list while the mailbox is unchanged, else `sync`'s
/// result (a sync of the state, and the stamp taken right after it under the state lock),
/// registered for the other sessions of the process. One session of the process syncs at a
/// time; the others wait for it and take its list (checked against the directories once the
/// file clock has passed its stamp: see the module docs).
///
/// Between those checks, the state as the checkpoint and journal record it is taken without
/// listing the directories when they still show the times the last change recorded with it
/// ([`record_dirs`]: every change the process makes under the state lock records them, and
/// another program's change moves them or the state) and the process listed them less than
/// [`LIST_AT_LEAST_EVERY`] ago; such a list is handed out unchecked, so that the next look
/// checks again.
pub fn current<E, S>(
    md: &Maildir,
    state: &mut S,
    peek: impl FnOnce(&mut S) -> Result<Option<(Snapshot, Option<Position>)>, E>,
    try_sync: impl FnOnce(&mut S) -> Result<Option<(Snapshot, Stamp)>, E>,
    sync: impl FnOnce(&mut S) -> Result<(Snapshot, Stamp), E>,
) -> Result<Current, E> {
    let path = md.path();
    let found = |stamp: Stamp| {
        lookup(path, stamp).map(|(header, messages)| Current {
            header,
            messages,
            stamp: Some(stamp),
        })
    };
    if let Some(c) = found(stamp_of(md)) {
        return Ok(c);
    }
    let gate = gate(path);
    let _turn = gate
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let stamp = stamp_of(md);
    if let Some(c) = found(stamp) {
        return Ok(c);
    }
    // Another session's sync whose list is not checked yet: check it once the file clock has
    // passed its stamp; until then take it unchecked (as good as a sync of one's own a moment
    // earlier), without a stamp, so that the next look checks again.
    let pending = with_registry(|reg| {
        reg.views
            .get(path)
            .filter(|p| p.stamp == stamp && !p.verified)
            .map(|p| (p.header.clone(), p.messages.clone()))
    })
    .flatten();
    if let Some((header, messages)) = pending {
        match trusted(stamp) {
            None => {
                return Ok(Current {
                    header,
                    messages,
                    stamp: None,
                })
            }
            Some(s) if files_match_noted(md, &messages) => {
                publish(path, s, &header, &messages);
                return Ok(Current {
                    header,
                    messages,
                    stamp: Some(s),
                });
            }
            // Something changed in that clock tick after all: sync.
            Some(_) => {}
        }
    }
    let synced = match peek(state)? {
        Some((snap, position)) => {
            let header = Header::of(&snap);
            // The state and the directories as the last change under the state lock left them.
            let [new, cur, ..] = stamp.times;
            let as_recorded = matches!(
                (position, recorded_dirs(path)),
                (Some(p), Some(r)) if r == (p, [new, cur])
            );
            let unlisted = as_recorded && listed_lately(path);
            // The state file as it is, when the files agree with it (every change made through
            // the state lock is in it): no lock to wait for behind another session's writes.
            if unlisted || (files_match_noted(md, &snap.messages) && stamp_of(md) == stamp) {
                let messages = Arc::new(snap.messages);
                // Read after the stamp was taken: checked if the stamp can be trusted and the
                // directories were listed.
                let checked = trusted(stamp).filter(|_| !unlisted);
                register(path, stamp, &header, &messages, checked.is_some());
                return Ok(Current {
                    header,
                    messages,
                    stamp: checked,
                });
            }
            // The files differ from the state file. While another holder of the state lock is
            // making a change (not acknowledged to its client yet), the state file as it was is
            // a fair answer, without a stamp, so the next look sees the change; a delivery waits
            // for that next look.
            match try_sync(state)? {
                Some(done) => done,
                None => {
                    return Ok(Current {
                        header,
                        messages: Arc::new(snap.messages),
                        stamp: None,
                    })
                }
            }
        }
        None => sync(state)?,
    };
    let (snap, after) = synced;
    let header = Header::of(&snap);
    let messages = Arc::new(snap.messages);
    let checked = trusted(after).filter(|_| files_match_noted(md, &messages));
    register(path, after, &header, &messages, checked.is_some());
    Ok(Current {
        header,
        messages,
        stamp: checked,
    })
}

/// Whether `new/` and `cur/` hold exactly the files of `messages` (names included, so flag
/// renames count), read without changing anything.
pub fn files_match(maildir: &Maildir, messages: &[MessageInfo]) -> bool {
    let mut expected: [HashSet<&str>; 2] = [HashSet::default(), HashSet::default()];
    for m in messages {
        if let Some(set) = expected.get_mut(usize::from(m.in_new)) {
            set.insert(&m.file_name);
        }
    }
    // Streamed: each name the maildir layer's scan would see must be expected, and as many.
    // Read with readdir(3) directly: the names are borrowed, not copied one by one.
    let holds = |dir: &Path, want: &HashSet<&str>| -> bool {
        use nix::fcntl::OFlag;
        let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        let Ok(mut listing) = nix::dir::Dir::open(dir, flags, nix::sys::stat::Mode::empty()) else {
            return false;
        };
        let mut seen = 0usize;
        for entry in listing.iter() {
            let Ok(entry) = entry else {
                return false;
            };
            let Ok(n) = entry.file_name().to_str() else {
                continue;
            };
            if !name::acceptable(n) {
                continue;
            }
            if !want.contains(n) {
                return false;
            }
            seen += 1;
        }
        seen == want.len()
    };
    let [cur, new] = &expected;
    // A message listed twice under one name cannot match.
    cur.len() + new.len() == messages.len()
        && holds(&maildir.cur(), cur)
        && holds(&maildir.new_dir(), new)
}

/// The name of message `uid` (with base name `base`) in the list last registered for
/// `maildir`, if that differs from `stale`: where to look for a message another session has
/// just renamed, before listing the directories.
pub fn latest_name(maildir: &Path, uid: u32, base: &str, stale: &str) -> Option<(String, bool)> {
    with_registry(|reg| {
        let p = reg.views.get(maildir)?;
        let i = p.messages.binary_search_by_key(&uid, |m| m.uid).ok()?;
        let m = p.messages.get(i)?;
        (m.base() == base && &*m.file_name != stale).then(|| (m.file_name.to_string(), m.in_new))
    })
    .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(n: i128) -> Stamp {
        Stamp {
            times: [n, 2, 3, 4],
            state_file: (4, 5, 6, 7),
            seen_at: n + 10,
        }
    }

    #[test]
    fn a_list_is_found_under_its_stamp_and_kept_a_while() {
        let dir = PathBuf::from("/nonexistent/shared-test");
        let header = Header {
            uidvalidity: 7,
            uidnext: 1,
            highestmodseq: 1,
            keywords: Vec::new(),
        };
        let list = Arc::new(Vec::new());
        publish(&dir, stamp(1), &header, &list);
        let (h, found) = lookup(&dir, stamp(1)).unwrap();
        assert_eq!(h, header);
        assert!(Arc::ptr_eq(&found, &list));
        assert!(lookup(&dir, stamp(9)).is_none(), "another stamp");
        drop((found, list));
        assert!(lookup(&dir, stamp(1)).is_some(), "kept after its last user");
        // An unchecked list is not handed out.
        register(&dir, stamp(2), &header, &Arc::new(Vec::new()), false);
        assert!(lookup(&dir, stamp(2)).is_none());
    }

    #[test]
    fn only_a_stamp_the_file_clock_has_passed_is_trusted() {
        let t = 1_700_000_000_123_456_789i128;
        let s = |times: [i128; 4], seen_at: i128| Stamp {
            times,
            state_file: (1, 1, 0, 0),
            seen_at,
        };
        assert!(trusted(s([t, t - 5, -1, -1], t + 1)).is_some());
        assert!(trusted(s([t, t - 5, -1, -1], t)).is_none(), "the same tick");
        assert!(
            trusted(s([t - 5, t + 7, t, -1], t + 1)).is_none(),
            "a time ahead"
        );
        // Whole seconds only: two seconds must have passed.
        let w = 1_700_000_000_000_000_000i128;
        assert!(trusted(s([w, w, -1, -1], w + 1_500_000_000)).is_none());
        assert!(trusted(s([w, w, -1, -1], w + 2_000_000_001)).is_some());
        // Equal stamps: the same files, whenever looked at.
        assert_eq!(s([t, t, t, t], 1), s([t, t, t, t], 2));
        assert_ne!(
            s([t, t, t, t], 1),
            Stamp {
                state_file: (1, 1, 0, 1),
                ..s([t, t, t, t], 1)
            }
        );
    }

    #[test]
    fn a_fresh_maildir_is_trusted_within_a_clock_tick() {
        let dir = tempfile::tempdir().unwrap();
        let md = Maildir::create(dir.path()).unwrap();
        std::fs::write(md.new_dir().join("1.a.host"), b"x").unwrap();
        let s = stamp_of(&md);
        let t = Instant::now();
        while trusted(stamp_of(&md)).is_none() {
            assert!(
                t.elapsed() < Duration::from_millis(100),
                "{:?}",
                t.elapsed()
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(stamp_of(&md), s);
        // A change afterwards moves the stamp, however soon.
        std::fs::write(md.cur().join("2.b.host:2,"), b"x").unwrap();
        assert_ne!(stamp_of(&md), s);
    }

    fn deliver(md: &Maildir, name: &str) {
        let tmp = md.tmp().join(name);
        std::fs::write(&tmp, b"Subject: x\n\nx\n").unwrap();
        std::fs::rename(&tmp, md.new_dir().join(name)).unwrap();
    }

    fn now(state: &mut super::super::MailboxState) -> Current {
        let md = state.maildir().clone();
        current(
            &md,
            state,
            |s| s.peek_with_position(),
            |s| s.try_sync_then(stamp_of),
            |s| s.sync_then(stamp_of),
        )
        .unwrap()
    }

    #[test]
    fn one_sync_serves_every_session_and_a_change_in_the_same_tick_is_not_hidden() {
        use super::super::MailboxState;
        let dir = tempfile::tempdir().unwrap();
        let md = Maildir::create(dir.path()).unwrap();
        deliver(&md, "1.a.host");
        deliver(&md, "2.b.host");
        let mut a = MailboxState::new(md.clone());
        let mut b = MailboxState::new(md.clone());
        let first = now(&mut a);
        assert_eq!(first.messages.len(), 2);
        // The other session takes that list, checked or not yet.
        let second = now(&mut b);
        assert!(Arc::ptr_eq(&first.messages, &second.messages));
        // Once the file clock has moved on, the list is checked and trusted.
        let t = Instant::now();
        let settled = loop {
            let c = now(&mut b);
            if c.stamp.is_some() {
                break c;
            }
            assert!(t.elapsed() < Duration::from_millis(200));
            std::thread::sleep(Duration::from_millis(1));
        };
        assert!(Arc::ptr_eq(&first.messages, &settled.messages));

        // A sync whose stamp the file clock has not passed yet (times ahead of it), then a
        // delivery that leaves the directory times as they were (as in the same clock tick):
        // the unchecked list is not trusted, the check finds the file, a sync takes it.
        deliver(&md, "3.c.host");
        assert_eq!(now(&mut a).messages.len(), 3);
        let ahead = std::time::SystemTime::now() + Duration::from_millis(1200);
        let set_times = || {
            for p in [md.new_dir(), md.cur(), md.path().join(STATE_FILE)]
                .into_iter()
                .chain(Some(md.path().join(JOURNAL_FILE)).filter(|p| p.exists()))
            {
                fs::File::open(p).unwrap().set_modified(ahead).unwrap();
            }
        };
        set_times();
        let synced = now(&mut a);
        assert_eq!((synced.messages.len(), synced.stamp), (3, None));
        let before = stamp_of(&md);
        deliver(&md, "4.d.host");
        set_times();
        assert_eq!(stamp_of(&md), before, "the change hides in the tick");
        let unchecked = now(&mut b);
        assert_eq!((unchecked.messages.len(), unchecked.stamp), (3, None));
        let t = Instant::now();
        while trusted(stamp_of(&md)).is_none() {
            assert!(t.elapsed() < Duration::from_secs(3));
            std::thread::sleep(Duration::from_millis(5));
        }
        let found = now(&mut b);
        assert_eq!(found.messages.len(), 4, "the hidden delivery is found");
    }

    #[test]
    fn a_reader_does_not_wait_behind_a_change_in_progress() {
        use super::super::lock::StateLock;
        use super::super::MailboxState;
        let dir = tempfile::tempdir().unwrap();
        let md = Maildir::create(dir.path()).unwrap();
        deliver(&md, "1.a.host");
        let mut a = MailboxState::new(md.clone());
        assert_eq!(now(&mut a).messages.len(), 1);
        // Another holder is changing the mailbox (and a delivery came meanwhile): the reader
        // gets the state file as it is, without a stamp, at once.
        let held = StateLock::acquire(&md).unwrap();
        deliver(&md, "2.b.host");
        let mut b = MailboxState::new(md.clone());
        let t = Instant::now();
        let busy = now(&mut b);
        assert!(t.elapsed() < Duration::from_secs(1));
        assert_eq!((busy.messages.len(), busy.stamp), (1, None));
        // Once the lock is free, the next look numbers the delivery.
        drop(held);
        assert_eq!(now(&mut b).messages.len(), 2);
    }

    #[test]
    fn the_state_is_taken_unlisted_only_while_the_directories_show_its_times_and_a_listing_is_fresh(
    ) {
        use super::super::MailboxState;
        let dir = tempfile::tempdir().unwrap();
        let md = Maildir::create(dir.path()).unwrap();
        deliver(&md, "1.a.host");
        let mut st = MailboxState::new(md.clone());
        let one = st.sync().unwrap();
        // A file the state does not hold, in the directories at the times a change recorded
        // (as when another program writes in the same clock tick as that change).
        deliver(&md, "2.b.host");
        let recorded = dir_times(&md);
        // Each step starts from a process that has published no list of this mailbox.
        let forget = || {
            with_registry(|reg| {
                reg.views.remove(md.path());
                reg.listed.remove(md.path());
                reg.dirs.remove(md.path());
            });
        };
        // A look at the mailbox through a peek of the state at a position with which `times`
        // were recorded (none: nothing recorded), after a listing `listed_ago` (none: never):
        // how many messages it gave, whether it carries a stamp, and whether it synced.
        let look =
            |st: &mut MailboxState, times: Option<DirTimes>, listed_ago: Option<Duration>| {
                forget();
                record_dirs(md.path(), times.map(|t| (Position::default(), t)));
                if let Some(ago) = listed_ago {
                    listed(md.path(), Instant::now());
                    std::thread::sleep(ago);
                }
                let mut synced = false;
                let c = current(
                    &md,
                    st,
                    |_| {
                        let peeked = (one.clone(), Some(Position::default()));
                        Ok::<_, super::super::MaildirError>(Some(peeked))
                    },
                    |s| {
                        synced = true;
                        s.try_sync_then(stamp_of)
                    },
                    |s| s.sync_then(stamp_of),
                )
                .unwrap();
                (c.messages.len(), c.stamp.is_some(), synced)
            };
        // No listing lately: the directories are listed, the file found, a sync takes it.
        assert!(matches!(look(&mut st, recorded, None), (2, _, true)));
        // Listed just now: the recorded state is taken as it is, unchecked.
        let now = Some(Duration::ZERO);
        assert_eq!(look(&mut st, recorded, now), (1, false, false));
        // Other times than recorded, or none recorded: listed again whatever the last listing.
        assert!(matches!(look(&mut st, Some([1, 2]), now), (2, _, true)));
        assert!(matches!(look(&mut st, None, now), (2, _, true)));
        // A listing grows stale: listed again.
        let stale = Some(LIST_AT_LEAST_EVERY + Duration::from_millis(10));
        assert!(matches!(look(&mut st, recorded, stale), (2, _, true)));
    }
}
