//! Mailbox state: UIDVALIDITY, UIDNEXT, the UID ↔ base-name map, modseqs and a size/date
//! cache, kept beside the maildir as a checkpoint (`postern-state`) and a journal of the changes
//! since (`postern-state.log`, [`super::journal`]: its module docs give the durability
//! argument), changed only under the state lock, so that delivery, `popd` and any number of
//! `imapd` processes agree on one mailbox. A change holds the lock only to read the journal's
//! new transactions, apply itself and append its own; it is made durable (one `fdatasync`
//! shared with the changes of other sessions) after the lock is released and before its caller
//! answers anyone.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::ErrorKind;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::counters::next_uidvalidity;
use super::error::{MaildirError, Result};
pub use super::files::open_message;
use super::files::{
    commit_from_tmp, entry_flags, entry_path, locate, remove_entry_file, virtual_size,
    write_durably,
};
use super::flags::Flags;
use super::journal::{self, JournalFile, JOURNAL_FILE};
use super::layout::Maildir;
use super::lock::StateLock;
use super::name;
use super::scan::{snapshot, sync_locked};
use super::shared;
use super::statefile::{sync_dir, State, STATE_FILE};

/// One message of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageInfo {
    /// Its UID, unique and never reused within the UIDVALIDITY.
    pub uid: u32,
    /// The file name at snapshot time (may change when another process changes flags); shared
    /// with the state it was taken from.
    pub file_name: Arc<str>,
    /// Whether the file is in `new/` (new mail stays there until its first flag change).
    pub in_new: bool,
    /// Size of the file in octets.
    pub size: u64,
    /// Size with CRLF line ends, when known (see [`MailboxState::fill_virtual_sizes`]).
    pub vsize: Option<u64>,
    /// Internal date, seconds since the epoch.
    pub internal_date: i64,
    /// Flags from the file name.
    pub flags: Flags,
    /// The modseq of the last change to this message.
    pub modseq: u64,
}

impl MessageInfo {
    /// The base name (before `:`), the message's identity on disk (not stored separately:
    /// a selected 100,000-message mailbox holds one name per message, not two).
    pub fn base(&self) -> &str {
        name::split(&self.file_name).0
    }

    /// The path of the message file as of the snapshot.
    pub fn path(&self, maildir: &Maildir) -> PathBuf {
        let dir = if self.in_new {
            maildir.new_dir()
        } else {
            maildir.cur()
        };
        dir.join(&*self.file_name)
    }
}

/// The mailbox as one `sync` saw it: messages in ascending UID order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// UIDVALIDITY.
    pub uidvalidity: u32,
    /// The UID the next new message will get.
    pub uidnext: u32,
    /// The highest modseq in the mailbox.
    pub highestmodseq: u64,
    /// Keywords known in this mailbox (for IMAP FLAGS/PERMANENTFLAGS).
    pub keywords: Vec<String>,
    /// The messages, ascending by UID.
    pub messages: Vec<MessageInfo>,
    /// UIDs assigned by this very sync (IMAP `\Recent` for the session that synced).
    pub recent: Vec<u32>,
}

impl Snapshot {
    /// The message with this UID.
    pub fn get(&self, uid: u32) -> Option<&MessageInfo> {
        self.messages
            .binary_search_by_key(&uid, |m| m.uid)
            .ok()
            .and_then(|i| self.messages.get(i))
    }
}

/// How `store_flags` changes flags (IMAP `FLAGS`, `+FLAGS`, `-FLAGS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlagOp {
    /// Replace all flags.
    Replace(Flags),
    /// Add these flags.
    Add(Flags),
    /// Remove these flags.
    Remove(Flags),
}

impl FlagOp {
    /// The flags a message with `current` ones has after this change.
    pub fn apply(&self, current: &Flags) -> Flags {
        match self {
            FlagOp::Replace(f) => f.clone(),
            FlagOp::Add(f) => {
                let mut n = current.clone();
                n.union(f);
                n
            }
            FlagOp::Remove(f) => {
                let mut n = current.clone();
                n.subtract(f);
                n
            }
        }
    }
}

/// What `store_flags` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreOutcome {
    /// Messages now carrying the resulting flags: `(uid, flags, modseq)`.
    pub stored: Vec<(u32, Flags, u64)>,
    /// Messages left alone because their modseq was above UNCHANGEDSINCE.
    pub modified: Vec<u32>,
    /// UIDs that no longer exist.
    pub missing: Vec<u32>,
}

/// Identity of the checkpoint file last read, to skip re-parsing it when nobody changed it.
type FileId = (u64, u64, i64, i64, u64);

/// A state that could not be written, and why.
#[derive(Debug)]
pub(super) struct NotStored(pub MaildirError, pub Box<State>);

impl From<NotStored> for MaildirError {
    fn from(n: NotStored) -> MaildirError {
        n.0
    }
}

/// Where a handle's cached state stands on disk: the checkpoint it was read from and how far
/// into which journal (equal positions: the same state, as every change is a transaction).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Position {
    checkpoint: Option<FileId>,
    journal: Option<((u64, u64), u64)>,
}

/// What a change under the state lock does to the maildir's directories, and so which of their
/// times it records ([`shared::record_dirs`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dirs {
    /// Reads them (a sync): the times before it read them.
    Read,
    /// May change files in them: the times after the change.
    Write,
    /// Leaves them alone and records nothing.
    Keep,
}

/// The journal applied on top of a cached checkpoint.
#[derive(Debug, Clone)]
struct Applied {
    file: Arc<JournalFile>,
    /// The end of the last transaction applied: the next one starts here.
    offset: u64,
}

/// The state last read or written, and what on disk it was made from.
#[derive(Debug)]
struct Cached {
    /// The checkpoint it was built from (`None`: there was none).
    checkpoint: Option<FileId>,
    /// That checkpoint's size (compaction is due when the journal outgrows a quarter of it).
    checkpoint_len: u64,
    /// The journal applied on top (`None`: none of this checkpoint's generation).
    journal: Option<Applied>,
    state: State,
    /// Holds changes that are not on disk (a fresh state, or one the disk had no room for):
    /// the next change writes a whole checkpoint.
    unstored: bool,
}

/// Handle on the state of one maildir; cheap to create, caches the parsed state (checkpoint
/// and journal, [`super::journal`]) and reads only the journal's new transactions while the
/// checkpoint is unchanged.
#[derive(Debug)]
pub struct MailboxState {
    maildir: Maildir,
    cache: Option<Cached>,
}

fn now() -> (i64, u32) {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    (d.as_secs() as i64, d.subsec_micros())
}

pub(super) fn host() -> &'static str {
    static HOST: OnceLock<String> = OnceLock::new();
    HOST.get_or_init(name::hostname)
}

fn file_id(m: &fs::Metadata) -> FileId {
    (m.dev(), m.ino(), m.mtime(), m.mtime_nsec(), m.len())
}

fn metadata(path: &Path) -> Result<Option<fs::Metadata>> {
    match fs::metadata(path) {
        Ok(m) => Ok(Some(m)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(MaildirError::io(path, e)),
    }
}

/// Applies the journal `file` from `offset` to its end to `state`; returns the end of the last
/// intact transaction, and whether bytes follow it (a torn tail, or a write in progress).
fn apply_journal(
    file: &JournalFile,
    state: &mut State,
    offset: u64,
    path: &Path,
) -> Result<(u64, bool)> {
    let len = file.len().map_err(|e| MaildirError::io(path, e))?;
    if len <= offset {
        return Ok((offset, len < offset));
    }
    let end = len.min(offset.saturating_add(journal::MAX_JOURNAL_BYTES));
    let bytes = file
        .read(offset, end)
        .map_err(|e| MaildirError::io(path, e))?;
    let used = journal::apply(state, &bytes) as u64;
    Ok((offset + used, offset + used < len))
}

/// States of at most this many messages are put aside between commands
/// ([`MailboxState::release`]).
pub const PARK_ENTRIES: usize = 20_000;
/// At most this many states are put aside per mailbox (one per handle busy at once), and at
/// most [`PARK_MESSAGES`] messages in them together.
const PARK_PER_MAILBOX: usize = 16;
const PARK_MESSAGES: usize = 40_000;
/// States put aside are dropped after this long unused.
const PARK_FOR: Duration = Duration::from_secs(30);

type ParkedStates = HashMap<PathBuf, Vec<(Instant, Cached)>>;
static PARKED: Mutex<Option<ParkedStates>> = Mutex::new(None);

/// Puts a parsed state aside for the process's next handle on `maildir`.
fn park(maildir: &Path, cached: Cached) {
    let Ok(mut parked) = PARKED.lock() else {
        return;
    };
    let parked = parked.get_or_insert_with(HashMap::new);
    let now = Instant::now();
    parked.retain(|_, states| {
        states.retain(|(at, _)| now.duration_since(*at) < PARK_FOR);
        !states.is_empty()
    });
    let states = parked.entry(maildir.to_path_buf()).or_default();
    states.push((now, cached));
    let mut total: usize = states.iter().map(|(_, c)| c.state.entries.len()).sum();
    while states.len() > PARK_PER_MAILBOX || (total > PARK_MESSAGES && states.len() > 1) {
        let (_, oldest) = states.remove(0);
        total -= oldest.state.entries.len();
    }
}

/// The state last put aside for `maildir`, if any (brought up to date by its user).
fn unpark(maildir: &Path) -> Option<Cached> {
    let mut parked = PARKED.lock().ok()?;
    let states = parked.as_mut()?.get_mut(maildir)?;
    let (at, cached) = states.pop()?;
    (at.elapsed() < PARK_FOR).then_some(cached)
}

impl MailboxState {
    /// A handle on the state of `maildir` (nothing is read until used).
    pub fn new(maildir: Maildir) -> MailboxState {
        MailboxState {
            maildir,
            cache: None,
        }
    }

    /// The maildir this state belongs to.
    pub fn maildir(&self) -> &Maildir {
        &self.maildir
    }

    /// Drops the parsed state kept between calls: a long-lived holder such as an idle IMAP
    /// session keeps only its own snapshot. A state of up to [`PARK_ENTRIES`] messages is put
    /// aside for the process's next handle on the mailbox (which then reads only the journal's
    /// new transactions, not the whole state again); a larger one is freed. Returns how many
    /// message entries were freed.
    pub fn release(&mut self) -> usize {
        let Some(cached) = self.cache.take() else {
            return 0;
        };
        let n = cached.state.entries.len();
        if n > PARK_ENTRIES || cached.unstored {
            return n;
        }
        park(self.maildir.path(), cached);
        0
    }

    /// Runs `f` on the state under the exclusive lock; `f` returns whether it changed the
    /// state, in which case the change is written (to the journal) before the lock is
    /// released, and made durable before this returns. `f` may change the maildir's files
    /// ([`Dirs::Write`]).
    pub(super) fn locked<R>(
        &mut self,
        f: impl FnOnce(&Maildir, &mut State) -> Result<(R, bool)>,
    ) -> Result<R> {
        self.locked_with(false, Dirs::Write, f)
    }

    /// Like [`MailboxState::locked`] for changes the maildir's files already record (a sync, a
    /// flag rename, an expunge): when the state cannot be written because the file system is
    /// full, the change stands and the state is kept in memory, to be written by a later change
    /// (every reader recomputes it from the files meanwhile).
    fn locked_lenient<R>(
        &mut self,
        dirs: Dirs,
        f: impl FnOnce(&Maildir, &mut State) -> Result<(R, bool)>,
    ) -> Result<R> {
        self.locked_with(true, dirs, f)
    }

    fn locked_with<R>(
        &mut self,
        lenient: bool,
        dirs: Dirs,
        f: impl FnOnce(&Maildir, &mut State) -> Result<(R, bool)>,
    ) -> Result<R> {
        self.locked_then(lenient, dirs, f, |_| ())
            .map(|(out, ())| out)
    }

    /// Like [`MailboxState::locked_with`], then runs `after` still under the lock, once the
    /// state is written.
    fn locked_then<R, A>(
        &mut self,
        lenient: bool,
        dirs: Dirs,
        f: impl FnOnce(&Maildir, &mut State) -> Result<(R, bool)>,
        after: impl FnOnce(&Maildir) -> A,
    ) -> Result<(R, A)> {
        let lock = StateLock::acquire(&self.maildir)?;
        self.under_lock(lock, lenient, dirs, f, after)
    }

    /// The work of [`MailboxState::locked_then`] once `lock` is held. The lock is released
    /// before the journal is made durable (group commit: see [`super::journal`]); the result
    /// is returned only after that.
    ///
    /// The directories' times are recorded for the process with the state's position as `dirs`
    /// says ([`shared::record_dirs`]). A change of files ([`Dirs::Write`]) records the times
    /// after it only when the state and the directories were as last recorded before it
    /// (nothing else changed either since): otherwise (a delivery, another process, no record
    /// yet) the record is dropped, until the next sync makes one.
    fn under_lock<R, A>(
        &mut self,
        lock: StateLock,
        lenient: bool,
        dirs: Dirs,
        f: impl FnOnce(&Maildir, &mut State) -> Result<(R, bool)>,
        after: impl FnOnce(&Maildir) -> A,
    ) -> Result<(R, A)> {
        let (mut state, fresh) = self.load_locked()?;
        let before = match dirs {
            Dirs::Keep => None,
            Dirs::Read | Dirs::Write => shared::dir_times(&self.maildir),
        };
        // The recorded times still stand for the files the state holds.
        let chained = matches!(
            (self.position(), before, shared::recorded_dirs(self.maildir.path())),
            (Some(p), Some(t), Some(r)) if (p, t) == r
        );
        let (out, changed) = f(&self.maildir, &mut state)?;
        match self.save_locked(state, changed || fresh) {
            Err(NotStored(e, state)) if lenient && e.is_no_space() => self.keep_unstored(*state),
            Err(NotStored(e, _)) => return Err(e),
            Ok(()) => {}
        }
        let now = match dirs {
            Dirs::Keep => None,
            Dirs::Read => Some(before),
            Dirs::Write if changed && chained => Some(shared::dir_times(&self.maildir)),
            Dirs::Write if changed => Some(None),
            Dirs::Write => None,
        };
        if let Some(times) = now {
            shared::record_dirs(self.maildir.path(), self.position().zip(times));
        }
        let after = after(&self.maildir);
        drop(lock);
        self.settle()?;
        Ok((out, after))
    }

    /// Waits until every journal transaction the cached state holds is on disk (free when a
    /// writer of this process already synced past it): nothing read from the journal is used
    /// before that.
    pub(super) fn settle(&self) -> Result<()> {
        let Some(Cached {
            journal: Some(a), ..
        }) = &self.cache
        else {
            return Ok(());
        };
        a.file
            .make_durable(a.offset)
            .map_err(|e| MaildirError::io(self.maildir.path().join(JOURNAL_FILE), e))
    }

    /// Brings the cache up to date with the checkpoint and the journal: only the journal's new
    /// transactions are read while the checkpoint is unchanged. `Ok(false)` when there is no
    /// usable checkpoint (none yet, or a damaged one); the cache is empty then. With `locked`
    /// (the caller holds the state lock) a torn tail of the journal is cut off.
    fn refresh(&mut self, locked: bool) -> Result<bool> {
        if self.cache.is_none() {
            self.cache = unpark(self.maildir.path());
        }
        let dir = self.maildir.path().to_path_buf();
        let journal_path = dir.join(JOURNAL_FILE);
        let checkpoint = metadata(&dir.join(STATE_FILE))?;
        let journal_meta = metadata(&journal_path)?;
        let id = checkpoint.as_ref().map(file_id);
        let mut cached = match self.cache.take() {
            Some(c) if c.checkpoint == id && (id.is_some() || c.unstored) => c,
            _ => {
                let Some(Ok(state)) = State::load(&dir)? else {
                    return Ok(false);
                };
                Cached {
                    checkpoint: id,
                    checkpoint_len: checkpoint.as_ref().map_or(0, fs::Metadata::len),
                    journal: None,
                    state,
                    unstored: false,
                }
            }
        };
        let same_journal = match (&cached.journal, &journal_meta) {
            (None, None) => true,
            (Some(a), Some(m)) => a.file.is(m) && m.len() >= a.offset,
            _ => false,
        };
        if cached.unstored {
            // Changes of this process not on disk: kept while nobody else wrote.
            let unchanged = same_journal
                && match (&cached.journal, &journal_meta) {
                    (Some(a), Some(m)) => m.len() == a.offset,
                    _ => true,
                };
            if unchanged {
                self.cache = Some(cached);
                return Ok(true);
            }
            self.cache = None;
            return self.refresh(locked);
        }
        if !same_journal {
            if cached.journal.is_some() {
                // The journal was replaced under an unchanged checkpoint (not by postern):
                // read both again.
                let Some(Ok(state)) = State::load(&dir)? else {
                    return Ok(false);
                };
                cached.state = state;
                cached.journal = None;
            }
            if journal_meta.is_some() {
                if let Some(file) =
                    JournalFile::open(&journal_path).map_err(|e| MaildirError::io(&dir, e))?
                {
                    let head = file
                        .read(0, 64)
                        .map_err(|e| MaildirError::io(&journal_path, e))?;
                    if let Some((generation, len)) = journal::parse_header(&head) {
                        if generation == cached.state.generation {
                            cached.journal = Some(Applied {
                                file,
                                offset: len as u64,
                            });
                        }
                    }
                }
            }
        }
        if let Some(a) = cached.journal.as_mut() {
            let (end, torn) = apply_journal(&a.file, &mut cached.state, a.offset, &journal_path)?;
            a.offset = end;
            if torn && locked {
                // A writer died in the middle of a transaction: cut it off before appending.
                a.file
                    .truncate(end)
                    .map_err(|e| MaildirError::io(&journal_path, e))?;
            }
        }
        self.cache = Some(cached);
        Ok(true)
    }

    /// The state, read as far as it changed since the last call (caller holds the state
    /// lock); `true` with a fresh state (none yet, or a damaged one: a new UIDVALIDITY) or one
    /// not stored yet, which must be stored.
    pub(super) fn load_locked(&mut self) -> Result<(State, bool)> {
        if self.refresh(true)? {
            if let Some(c) = &self.cache {
                return Ok((c.state.clone(), c.unstored && c.checkpoint.is_none()));
            }
        }
        // A generation above that of any journal left beside a damaged or missing checkpoint.
        let journal_path = self.maildir.path().join(JOURNAL_FILE);
        let old = match fs::read(&journal_path) {
            Ok(bytes) => journal::parse_header(&bytes).map_or(0, |(g, _)| g),
            Err(_) => 0,
        };
        let mut state = State::fresh(next_uidvalidity(&self.maildir)?);
        state.generation = old + 1;
        self.cache = Some(Cached {
            checkpoint: None,
            checkpoint_len: 0,
            journal: None,
            state: state.clone(),
            unstored: true,
        });
        Ok((state, true))
    }

    /// Records `state` when `store` (caller holds the state lock, after
    /// [`MailboxState::load_locked`]): as a journal transaction of what changed, compacting
    /// the journal into a new checkpoint when it has grown too large, or as a whole checkpoint
    /// for a fresh state. The caller makes it durable ([`MailboxState::settle`]) after
    /// releasing the lock. On failure the state comes back with the error.
    pub(super) fn save_locked(
        &mut self,
        state: State,
        store: bool,
    ) -> std::result::Result<(), NotStored> {
        let Some(cached) = self.cache.as_mut() else {
            return self.checkpoint_locked(state);
        };
        if !store {
            cached.state = state;
            return Ok(());
        }
        let records = if cached.unstored || cached.checkpoint.is_none() {
            None
        } else {
            journal::diff(&cached.state, &state)
        };
        let Some(records) = records else {
            return self.checkpoint_locked(state);
        };
        if records.is_empty() {
            cached.state = state;
            return Ok(());
        }
        if let Err(e) = self.append_locked(&journal::transaction(&records)) {
            return Err(NotStored(e, Box::new(state)));
        }
        let Some(cached) = self.cache.as_mut() else {
            return Ok(());
        };
        cached.state = state;
        let journal_len = cached.journal.as_ref().map_or(0, |a| a.offset);
        if journal::due(journal_len, cached.checkpoint_len) {
            // The change is in the journal already; a compaction that fails is tried again
            // by the next writer.
            let state = cached.state.clone();
            let _ = self.compact_locked(state);
        }
        Ok(())
    }

    /// Appends one transaction to the journal, making a new journal (header only, by rename)
    /// when the checkpoint has none.
    fn append_locked(&mut self, txn: &[u8]) -> Result<()> {
        let path = self.maildir.path().join(JOURNAL_FILE);
        let Some(cached) = self.cache.as_mut() else {
            return Ok(());
        };
        if cached.journal.is_none() {
            // Whatever is at the name belongs to another generation.
            let header = journal::header(cached.state.generation);
            crate::store::durable::replace(&path, &header, super::FILE_MODE)
                .map_err(|e| MaildirError::io(&path, e))?;
            let file = JournalFile::open(&path)
                .map_err(|e| MaildirError::io(&path, e))?
                .ok_or_else(|| {
                    MaildirError::io(&path, std::io::Error::from(ErrorKind::NotFound))
                })?;
            cached.journal = Some(Applied {
                file,
                offset: header.len() as u64,
            });
        }
        let Some(a) = cached.journal.as_mut() else {
            return Ok(());
        };
        a.file.append(txn).map_err(|e| MaildirError::io(&path, e))?;
        a.offset += txn.len() as u64;
        Ok(())
    }

    /// Compaction: the journal made durable, `state` written as the checkpoint of the next
    /// generation, the journal removed (see [`super::journal`]).
    fn compact_locked(&mut self, state: State) -> std::result::Result<(), NotStored> {
        if let Err(e) = self.settle() {
            return Err(NotStored(e, Box::new(state)));
        }
        self.checkpoint_locked(state)
    }

    /// Writes `state` as a whole checkpoint of the next generation and removes the journal
    /// (caller holds the state lock).
    fn checkpoint_locked(&mut self, mut state: State) -> std::result::Result<(), NotStored> {
        let dir = self.maildir.path().to_path_buf();
        let current = self.cache.as_ref().map_or(0, |c| c.state.generation);
        state.generation = current.max(state.generation) + 1;
        // The renames and unlinks the state records first (as a journal sync does).
        let stored = sync_dir(&self.maildir.cur()).and_then(|()| state.store(&dir));
        if let Err(e) = stored {
            return Err(NotStored(e, Box::new(state)));
        }
        // A journal left by a crash here is of the old generation, and ignored.
        let _ = fs::remove_file(dir.join(JOURNAL_FILE));
        let path = dir.join(STATE_FILE);
        match fs::metadata(&path) {
            Ok(m) => {
                self.cache = Some(Cached {
                    checkpoint: Some(file_id(&m)),
                    checkpoint_len: m.len(),
                    journal: None,
                    state,
                    unstored: false,
                });
                Ok(())
            }
            Err(e) => Err(NotStored(MaildirError::io(&path, e), Box::new(state))),
        }
    }

    /// Keeps a state that could not be stored as the cache, until the files change.
    fn keep_unstored(&mut self, state: State) {
        match self.cache.as_mut() {
            Some(c) => {
                c.state = state;
                c.unstored = true;
            }
            None => {
                self.cache = Some(Cached {
                    checkpoint: None,
                    checkpoint_len: 0,
                    journal: None,
                    state,
                    unstored: true,
                })
            }
        }
    }

    /// Brings the state up to date with the directories: gives UIDs to new files where they
    /// lie (`new/` included: nothing is renamed; ordered by delivery time in the name, then
    /// name), drops
    /// vanished ones, picks up flag changes made by renames, and returns the snapshot.
    pub fn sync(&mut self) -> Result<Snapshot> {
        self.locked_lenient(Dirs::Read, |md, st| {
            let (changed, recent) = sync_locked(md, st)?;
            Ok((snapshot(st, recent), changed))
        })
    }

    /// [`MailboxState::sync`], and what `after` finds still under the state lock once the
    /// state is written (a stamp of the maildir that matches the snapshot as far as every
    /// holder of the lock is concerned).
    pub fn sync_then<A>(&mut self, after: impl FnOnce(&Maildir) -> A) -> Result<(Snapshot, A)> {
        self.locked_then(
            true,
            Dirs::Read,
            |md, st| {
                let (changed, recent) = sync_locked(md, st)?;
                Ok((snapshot(st, recent), changed))
            },
            after,
        )
    }

    /// [`MailboxState::sync_then`] if the state lock is free now; `Ok(None)` when another
    /// holder is changing the mailbox (its change is not acknowledged yet, so a reader may
    /// go on without it).
    pub fn try_sync_then<A>(
        &mut self,
        after: impl FnOnce(&Maildir) -> A,
    ) -> Result<Option<(Snapshot, A)>> {
        let Some(lock) = StateLock::try_acquire(&self.maildir)? else {
            return Ok(None);
        };
        self.under_lock(
            lock,
            true,
            Dirs::Read,
            |md, st| {
                let (changed, recent) = sync_locked(md, st)?;
                Ok((snapshot(st, recent), changed))
            },
            after,
        )
        .map(Some)
    }

    /// The snapshot the state records (checkpoint and journal), read without the state lock
    /// (the checkpoint is replaced whole, by rename; a journal transaction being written is not
    /// applied until it is complete): `None` when there is none yet or the checkpoint is
    /// damaged (a sync under the lock makes one). Nothing is written; whether the files agree
    /// is the caller's check. What it read of the journal is durable when it returns.
    pub fn peek(&mut self) -> Result<Option<Snapshot>> {
        Ok(self.peek_with_position()?.map(|(snap, _)| snap))
    }

    /// [`MailboxState::peek`], with the state's position (to compare with the one recorded
    /// with the directories' times: [`shared::recorded_dirs`]).
    pub fn peek_with_position(&mut self) -> Result<Option<(Snapshot, Option<Position>)>> {
        if !self.refresh(false)? {
            return Ok(None);
        }
        self.settle()?;
        let position = self.position();
        Ok(self
            .cache
            .as_ref()
            .map(|c| (snapshot(&c.state, Vec::new()), position)))
    }

    /// Where the cached state stands on disk; `None` when it holds changes not on disk.
    fn position(&self) -> Option<Position> {
        let c = self.cache.as_ref().filter(|c| !c.unstored)?;
        Some(Position {
            checkpoint: c.checkpoint,
            journal: c.journal.as_ref().map(|a| (a.file.id(), a.offset)),
        })
    }

    /// UIDVALIDITY and the keywords as this handle's last change under the lock left them (or
    /// its last read), without reading anything: `None` before either.
    pub fn last_header(&self) -> Option<(u32, Vec<String>)> {
        let st = &self.cache.as_ref()?.state;
        Some((st.uidvalidity, st.keywords.clone()))
    }

    /// The current snapshot from the state file alone (no directory scan).
    pub fn snapshot(&mut self) -> Result<Snapshot> {
        self.locked_lenient(Dirs::Keep, |_, st| Ok((snapshot(st, Vec::new()), false)))
    }

    /// Changes the flags of `uids` (renaming their files), bumping their modseq. With
    /// `unchanged_since`, messages whose modseq is higher are left alone (CONDSTORE).
    pub fn store_flags(
        &mut self,
        uids: &[u32],
        op: &FlagOp,
        unchanged_since: Option<u64>,
    ) -> Result<StoreOutcome> {
        self.locked_lenient(Dirs::Write, |md, st| {
            let mut out = StoreOutcome::default();
            let mut renames = Vec::new();
            for &uid in uids {
                let found = st.entries.binary_search_by_key(&uid, |e| e.uid).ok();
                let Some((i, entry)) = found.and_then(|i| Some((i, st.entries.get(i)?))) else {
                    out.missing.push(uid);
                    continue;
                };
                if unchanged_since.is_some_and(|m| entry.modseq > m) {
                    out.modified.push(uid);
                    continue;
                }
                renames.push(i);
            }
            if renames.is_empty() {
                return Ok((out, false));
            }
            let modseq = st.highestmodseq + 1;
            let mut changed = false;
            for i in renames {
                let Some(entry) = st.entries.get(i) else {
                    continue;
                };
                let current = entry_flags(entry, &st.keywords);
                let wanted = op.apply(&current);
                let uid = entry.uid;
                if wanted == current && !entry.in_new {
                    out.stored.push((uid, current, entry.modseq));
                    continue;
                }
                let base = entry.base().to_string();
                let from = entry_path(md, entry);
                let mut wanted = wanted;
                let mut new_name =
                    name::with_letters(&base, &wanted.to_info_letters(&mut st.keywords)?);
                if let Err(e) = fs::rename(&from, md.cur().join(&new_name)) {
                    if e.kind() != ErrorKind::NotFound {
                        return Err(MaildirError::io(&from, e));
                    }
                    // Renamed by someone else since: apply the change to its current flags.
                    let Some((n, in_new)) = locate(md, &base)? else {
                        out.missing.push(uid);
                        continue;
                    };
                    let letters = name::info_letters(name::split(&n).1).unwrap_or("");
                    wanted = op.apply(&Flags::from_info_letters(letters, &st.keywords));
                    new_name =
                        name::with_letters(&base, &wanted.to_info_letters(&mut st.keywords)?);
                    let from = if in_new { md.new_dir() } else { md.cur() }.join(n);
                    match fs::rename(&from, md.cur().join(&new_name)) {
                        Ok(()) => {}
                        Err(e) if e.kind() == ErrorKind::NotFound => {
                            out.missing.push(uid);
                            continue;
                        }
                        Err(e) => return Err(MaildirError::io(&from, e)),
                    }
                }
                if let Some(e) = st.entries.get_mut(i) {
                    e.name = new_name.into();
                    e.in_new = false;
                    e.modseq = modseq;
                    changed = true;
                    out.stored.push((uid, wanted, modseq));
                }
            }
            if changed {
                // No fsync of cur/ for a flag rename: the state file written durably next
                // records it, and should a crash lose the rename itself, the next sync finds
                // the old name and records that with a higher modseq (the flags revert
                // visibly, never silently).
                st.highestmodseq = modseq;
            }
            Ok((out, changed))
        })
    }

    /// Replaces the flags of one message; `Ok(false)` when it no longer exists.
    pub fn set_flags(&mut self, uid: u32, flags: Flags) -> Result<bool> {
        let out = self.store_flags(&[uid], &FlagOp::Replace(flags), None)?;
        Ok(out.missing.is_empty())
    }

    /// Deletes the files of `uids` and forgets them; returns the UIDs removed from the state
    /// (including ones another process already deleted). Unknown UIDs are ignored.
    pub fn expunge(&mut self, uids: &[u32]) -> Result<Vec<u32>> {
        self.locked_lenient(Dirs::Write, |md, st| {
            let mut wanted: Vec<u32> = uids.to_vec();
            wanted.sort_unstable();
            let mut removed = Vec::new();
            let mut from_new = false;
            let mut failure = None;
            st.entries.retain(|e| {
                if failure.is_some() || wanted.binary_search(&e.uid).is_err() {
                    return true;
                }
                match remove_entry_file(md, e) {
                    Ok(()) => {
                        removed.push(e.uid);
                        from_new |= e.in_new;
                        false
                    }
                    Err(err) => {
                        failure = Some(err);
                        true
                    }
                }
            });
            let changed = !removed.is_empty();
            if changed {
                st.highestmodseq += 1;
                // `cur/` is fsynced with the journal; `new/` is not, so here.
                if from_new {
                    sync_dir(&md.new_dir())?;
                }
            }
            Ok(((removed, failure), changed))
        })
        .and_then(|(removed, failure)| failure.map_or(Ok(removed), Err))
    }

    /// Stores a new message directly into `cur/` (IMAP APPEND): written and fsynced in `tmp/`
    /// before the state lock, renamed into `cur/` with the given flags and numbered under it,
    /// made durable with the journal (`cur/` fsynced, then the journal) after it. Returns its
    /// UID, with the internal date given (default now).
    pub fn append(
        &mut self,
        bytes: &[u8],
        flags: &Flags,
        internal_date: Option<i64>,
    ) -> Result<u32> {
        let (secs, _) = now();
        let date = internal_date.unwrap_or(secs).max(0);
        let vsize = name::crlf_size(bytes, false);
        let base = name::unique_base(date, host(), bytes.len() as u64, Some(vsize));
        let tmp = self.maildir.tmp().join(&base);
        write_durably(&tmp, bytes, date)?;
        let size = bytes.len() as u64;
        let result = self.locked(|md, st| {
            let uid = commit_from_tmp(md, st, &base, flags, size, Some(vsize), date)?;
            Ok((uid, true))
        });
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    /// The maildir info letters (`a`–`z`, sorted) that stand for `keywords` in this mailbox,
    /// adding the keywords its table lacks — under the state lock, stored durably before the
    /// caller names a file with them (local delivery of a Sieve script's imap4flags, written
    /// as Dovecot does: the letters in the delivered file's name). A keyword matches a table
    /// entry without case (IMAP flags are case-insensitive; the table's spelling stays). The
    /// keywords that cannot be stored come back apart: invalid ones, and those beyond the 26
    /// letters maildir has.
    pub fn keyword_letters(&mut self, keywords: &[String]) -> Result<(String, Vec<String>)> {
        self.locked(|_, st| {
            let mut letters: Vec<char> = Vec::new();
            let mut dropped = Vec::new();
            let mut changed = false;
            for k in keywords {
                if !super::flags::valid_keyword(k) {
                    dropped.push(k.clone());
                    continue;
                }
                let idx = match st.keywords.iter().position(|t| t.eq_ignore_ascii_case(k)) {
                    Some(i) => i,
                    None if st.keywords.len() < 26 => {
                        st.keywords.push(k.clone());
                        changed = true;
                        st.keywords.len() - 1
                    }
                    None => {
                        dropped.push(k.clone());
                        continue;
                    }
                };
                let Some(l) = u8::try_from(idx)
                    .ok()
                    .filter(|i| *i < 26)
                    .map(|i| char::from(b'a' + i))
                else {
                    dropped.push(k.clone());
                    continue;
                };
                if !letters.contains(&l) {
                    letters.push(l);
                }
            }
            letters.sort_unstable();
            Ok(((letters.into_iter().collect(), dropped), changed))
        })
    }

    /// Computes and caches the CRLF sizes missing from `snapshot` (reading those files).
    pub fn fill_virtual_sizes(&mut self, snapshot: &mut Snapshot) -> Result<()> {
        let mut computed = Vec::new();
        for m in snapshot.messages.iter_mut().filter(|m| m.vsize.is_none()) {
            if let Some(v) = virtual_size(&self.maildir, m)? {
                m.vsize = Some(v);
                computed.push((m.uid, v));
            }
        }
        self.record_virtual_sizes(&computed)
    }

    /// Stores virtual sizes (`(uid, size with CRLF line ends)`) a reader computed from the
    /// message bytes it read anyway (an IMAP FETCH of whole messages).
    pub fn record_virtual_sizes(&mut self, computed: &[(u32, u64)]) -> Result<()> {
        if computed.is_empty() {
            return Ok(());
        }
        self.locked(|_, st| {
            let mut changed = false;
            for (uid, v) in computed {
                let found = st.entries.binary_search_by_key(uid, |e| e.uid).ok();
                if let Some(e) = found.and_then(|i| st.entries.get_mut(i)) {
                    if e.vsize.is_none() {
                        e.vsize = Some(*v);
                        changed = true;
                    }
                }
            }
            Ok(((), changed))
        })
    }

    /// Opens a message of a snapshot, following a rename by another process;
    /// `Ok(None)` when it has been deleted meanwhile.
    pub fn open_message(&self, info: &MessageInfo) -> Result<Option<File>> {
        open_message(&self.maildir, info)
    }
}

#[cfg(test)]
mod tests;
