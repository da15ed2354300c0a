//! The mailbox state journal `postern-state.log`: the changes made since the checkpoint
//! (`postern-state`, [`super::statefile`]), appended as small records under the state lock, so
//! that a flag change, an expunge or an APPEND costs a few hundred bytes and one shared
//! `fdatasync` instead of a rewrite of the whole state and two `fsync`s.
//!
//! ```text
//! postern-state-log 1 <generation>                 (header, written whole by rename)
//! m <uid> <modseq> <size> <vsize|-> <date> <c|n> <file name>   (entry added or changed)
//! x <uid>                                          (entry removed)
//! keyword <keyword>                                (added to the keyword table)
//! uidnext <n>
//! highestmodseq <n>
//! commit <length> <crc32>                          (ends a transaction)
//! ```
//!
//! A transaction is the records of one change and its `commit` line, written with one `write`
//! on a descriptor opened with `O_APPEND`; the commit line carries the length of the records
//! before it and their CRC-32. Loading stops at the first transaction that is incomplete or
//! whose length or checksum do not match: a torn tail (a crash during a `write`, or a reader
//! looking while a writer writes) is not applied, and the next writer cuts it off under the
//! lock before appending. The header names the generation of the checkpoint the journal belongs
//! to; a journal of another generation (left by a crash during compaction) is ignored.
//!
//! # Durability (why no client is told what a crash could take back)
//!
//! - A writer holds the state lock only to load the state (checkpoint + journal), apply its
//!   change and append its transaction. After releasing the lock it waits until its
//!   transaction is on disk ([`JournalFile::make_durable`]) and only then does its caller
//!   answer the client. Many writers' transactions share one `fdatasync`: the process keeps,
//!   per journal file, the offset known to be durable; a writer whose end offset is already
//!   below it does not sync, and writers waiting while another syncs find themselves covered
//!   when it is done (leader/follower on one mutex).
//! - A reader (a SELECT, NOOP, IDLE or FETCH that looks at the state, in this process or
//!   another, with or without the lock) may see a transaction whose writer has not synced yet.
//!   Before anything it read is used, it makes the journal durable up to the offset it applied
//!   (the same call: free when a writer already did it, else one `fdatasync`, which covers every
//!   write of every process on this host since the page cache is shared). So no client is told a
//!   UID, a modseq, a flag or an expunge that a crash could take back, and a UID once reported
//!   (APPENDUID included) is never given again: `uidnext` in a durable transaction covers it.
//! - Compaction (the journal has outgrown max(64 KiB, checkpoint/4)) happens under the lock:
//!   the journal is made durable first, then the whole state is written as a checkpoint of the
//!   next generation (temp file, fsync, rename, fsync of the directory), then the journal is
//!   removed. A crash at any point leaves either the old checkpoint and a durable journal, or
//!   the new checkpoint (and maybe the old journal, ignored for its generation).
//! - A new journal is created whole with its header by rename and a directory fsync
//!   ([`crate::store::durable::replace`]) before its first transaction, so an appended
//!   transaction never depends on a directory entry that is not durable.
//! - Message files: an APPEND's file is written and fsynced in `tmp/` before the lock, renamed
//!   into `cur/` under it with its transaction; an expunge unlinks under the lock; a flag change
//!   renames. Every sync of the journal first fsyncs `cur/` ([`JournalFile::make_durable`]), so
//!   a transaction is never durable before the renames and unlinks it records, and whoever was
//!   told of it (the writer's client or a reader's) finds the files as told after a crash. (An
//!   expunge from `new/` fsyncs `new/` under the lock; a flag change's move from `new/` to
//!   `cur/`, if lost, shows as the old flags with a higher modseq at the next sync.) A file in
//!   `cur/` without an entry is numbered by the next sync.
//! - Across hosts (NFS, GlusterFS) the journal is read and appended under the same state lock
//!   as before; a reader's `fdatasync` there covers only its own host's writes, so another
//!   host's reader relies on the writer, which answers only after its own `fdatasync`.
//!
//! A journal damaged in its middle (not a torn tail) loses the transactions after the damage,
//! as a damaged checkpoint loses the state: the files are numbered again by the next sync.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::{FileExt as _, MetadataExt as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use super::name;
use super::statefile::{parse_entry, Entry, State};

/// The journal file name inside a maildir.
pub const JOURNAL_FILE: &str = "postern-state.log";
const MAGIC: &str = "postern-state-log 1";
/// A journal larger than this is not read (it is compacted long before: see [`due`]).
pub const MAX_JOURNAL_BYTES: u64 = 1 << 30;
/// Compaction is due when the journal outgrows this or a quarter of the checkpoint.
pub const COMPACT_MIN: u64 = 64 * 1024;

/// Whether a journal of `journal` bytes beside a checkpoint of `checkpoint` bytes is due for
/// compaction.
pub fn due(journal: u64, checkpoint: u64) -> bool {
    journal > COMPACT_MIN.max(checkpoint / 4)
}

/// The header of a journal of `generation`.
pub fn header(generation: u64) -> Vec<u8> {
    format!("{MAGIC} {generation}\n").into_bytes()
}

/// The generation a journal's first bytes name and the header's length; `None` when they are
/// not a header.
pub fn parse_header(bytes: &[u8]) -> Option<(u64, usize)> {
    let nl = bytes.iter().position(|&b| b == b'\n')?;
    let line = std::str::from_utf8(bytes.get(..nl)?).ok()?;
    let generation = line.strip_prefix(MAGIC)?.strip_prefix(' ')?.parse().ok()?;
    Some((generation, nl + 1))
}

/// The records that turn `old` into `new` (empty when they are equal); `None` when the change
/// cannot be written as records (another UIDVALIDITY, or a keyword table that is not `old`'s
/// with keywords added): a checkpoint is needed.
pub fn diff(old: &State, new: &State) -> Option<String> {
    if old.uidvalidity != new.uidvalidity || !new.keywords.starts_with(&old.keywords) {
        return None;
    }
    let mut out = String::new();
    for k in new.keywords.get(old.keywords.len()..).unwrap_or_default() {
        out.push_str("keyword ");
        out.push_str(k);
        out.push('\n');
    }
    let (mut a, mut b) = (old.entries.iter().peekable(), new.entries.iter().peekable());
    loop {
        match (a.peek(), b.peek()) {
            (None, None) => break,
            (Some(x), Some(y)) if x.uid == y.uid => {
                if x != y {
                    y.render_into(&mut out);
                }
                a.next();
                b.next();
            }
            (Some(x), y) if y.is_none_or(|y| x.uid < y.uid) => {
                out.push_str(&format!("x {}\n", x.uid));
                a.next();
            }
            (_, Some(y)) => {
                y.render_into(&mut out);
                b.next();
            }
            (_, None) => break,
        }
    }
    if old.uidnext != new.uidnext {
        out.push_str(&format!("uidnext {}\n", new.uidnext));
    }
    if old.highestmodseq != new.highestmodseq {
        out.push_str(&format!("highestmodseq {}\n", new.highestmodseq));
    }
    Some(out)
}

/// One transaction: `records` (from [`diff`]) and its commit line.
pub fn transaction(records: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(records.len() + 32);
    out.extend_from_slice(records.as_bytes());
    out.extend_from_slice(
        format!(
            "commit {} {:08x}\n",
            records.len(),
            crc32fast::hash(records.as_bytes())
        )
        .as_bytes(),
    );
    out
}

/// Applies the complete, intact transactions at the start of `bytes` (what follows a journal's
/// header, or the part of it not applied yet) to `state`; returns how many bytes they take.
/// Stops at the first incomplete or damaged transaction.
pub fn apply(state: &mut State, bytes: &[u8]) -> usize {
    let mut done = 0;
    let mut line_start = 0;
    while let Some(nl) = bytes
        .get(line_start..)
        .and_then(|rest| rest.iter().position(|&b| b == b'\n'))
    {
        let line_end = line_start + nl;
        let Some(line) = bytes.get(line_start..line_end) else {
            break;
        };
        if let Some(commit) = line.strip_prefix(b"commit ") {
            let Some(records) = bytes.get(done..line_start) else {
                break;
            };
            if !intact(commit, records) {
                break;
            }
            let Some(changes) = std::str::from_utf8(records).ok().and_then(parse_records) else {
                break;
            };
            for change in changes {
                change.apply(state);
            }
            done = line_end + 1;
        }
        line_start = line_end + 1;
    }
    done
}

fn intact(commit: &[u8], records: &[u8]) -> bool {
    let Some((len, crc)) = std::str::from_utf8(commit)
        .ok()
        .and_then(|c| c.split_once(' '))
    else {
        return false;
    };
    len.parse::<usize>().ok() == Some(records.len())
        && u32::from_str_radix(crc, 16).ok() == Some(crc32fast::hash(records))
}

/// One record.
#[derive(Debug, PartialEq, Eq)]
enum Change {
    Entry(Entry),
    Expunge(u32),
    Keyword(String),
    UidNext(u32),
    HighestModseq(u64),
}

fn parse_records(text: &str) -> Option<Vec<Change>> {
    text.lines()
        .map(|line| {
            let (key, rest) = line.split_once(' ')?;
            Some(match key {
                "m" => Change::Entry(parse_entry(rest)?),
                "x" => Change::Expunge(rest.parse().ok()?),
                "keyword" if !rest.is_empty() => Change::Keyword(rest.to_string()),
                "uidnext" => Change::UidNext(rest.parse().ok()?),
                "highestmodseq" => Change::HighestModseq(rest.parse().ok()?),
                _ => return None,
            })
        })
        .collect()
}

impl Change {
    fn apply(self, st: &mut State) {
        match self {
            Change::Entry(e) => match st.entries.binary_search_by_key(&e.uid, |x| x.uid) {
                Ok(i) => {
                    if let Some(slot) = st.entries.get_mut(i) {
                        *slot = e;
                    }
                }
                Err(i) => st.entries.insert(i, e),
            },
            Change::Expunge(uid) => {
                if let Ok(i) = st.entries.binary_search_by_key(&uid, |x| x.uid) {
                    st.entries.remove(i);
                }
            }
            Change::Keyword(k) => {
                if st.keywords.len() < 26 && name::acceptable(&k) {
                    st.keywords.push(k);
                }
            }
            Change::UidNext(n) => st.uidnext = n,
            Change::HighestModseq(n) => st.highestmodseq = n,
        }
    }
}

/// An open journal file, shared by every user in the process of the same file (by device and
/// inode), with the offset up to which it is known to be on disk.
#[derive(Debug)]
pub struct JournalFile {
    file: File,
    id: (u64, u64),
    /// The maildir's `cur/`, fsynced before the journal (see [`JournalFile::make_durable`]).
    cur: PathBuf,
    /// Every byte below this offset is durable.
    durable: Mutex<u64>,
}

type Registry = HashMap<(u64, u64), Weak<JournalFile>>;
static OPEN: Mutex<Option<Registry>> = Mutex::new(None);

impl JournalFile {
    /// Opens the journal at `path` (`Ok(None)` when there is none), or takes the process's
    /// handle on that same file.
    pub fn open(path: &Path) -> io::Result<Option<Arc<JournalFile>>> {
        let opened = OpenOptions::new().read(true).append(true).open(path);
        let file = match opened {
            Ok(f) => f,
            // A reader without write permission can still read and fdatasync.
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => match File::open(path) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e),
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let meta = file.metadata()?;
        let id = (meta.dev(), meta.ino());
        let cur = path.parent().unwrap_or(Path::new(".")).join("cur");
        let Ok(mut reg) = OPEN.lock() else {
            return Ok(Some(Arc::new(JournalFile::new(file, id, cur))));
        };
        let reg = reg.get_or_insert_with(HashMap::new);
        if let Some(known) = reg.get(&id).and_then(Weak::upgrade) {
            // The registry's entry holds the file open, so its inode cannot have been reused.
            return Ok(Some(known));
        }
        if reg.len() >= 64 {
            reg.retain(|_, w| w.strong_count() > 0);
        }
        let handle = Arc::new(JournalFile::new(file, id, cur));
        reg.insert(id, Arc::downgrade(&handle));
        Ok(Some(handle))
    }

    fn new(file: File, id: (u64, u64), cur: PathBuf) -> JournalFile {
        JournalFile {
            file,
            id,
            cur,
            durable: Mutex::new(0),
        }
    }

    /// Whether this is the file with `metadata`.
    pub fn is(&self, metadata: &std::fs::Metadata) -> bool {
        self.id == (metadata.dev(), metadata.ino())
    }

    /// The file's identity (device and inode).
    pub fn id(&self) -> (u64, u64) {
        self.id
    }

    /// The file's length now.
    pub fn len(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    /// The bytes from `offset` to `end` (fewer if the file is shorter now).
    pub fn read(&self, offset: u64, end: u64) -> io::Result<Vec<u8>> {
        let want = usize::try_from(end.saturating_sub(offset)).unwrap_or(0);
        let mut buf = vec![0u8; want];
        let mut got = 0;
        while got < want {
            let Some(rest) = buf.get_mut(got..) else {
                break;
            };
            match self.file.read_at(rest, offset + got as u64) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        buf.truncate(got);
        Ok(buf)
    }

    /// Appends one transaction (caller holds the state lock): one `write` on the `O_APPEND`
    /// descriptor.
    pub fn append(&self, bytes: &[u8]) -> io::Result<()> {
        (&self.file).write_all(bytes)
    }

    /// Cuts the file to `len` (a torn tail left by a crash; caller holds the state lock).
    pub fn truncate(&self, len: u64) -> io::Result<()> {
        self.file.set_len(len)
    }

    /// The offset below which this process knows the file is on disk.
    #[cfg(test)]
    pub fn durable_offset(&self) -> u64 {
        *self
            .durable
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Returns once every byte below `upto` is on disk, and every rename and unlink in the
    /// maildir's `cur/` made before those bytes were written (an APPEND's file, an expunge):
    /// at once when this process already knows it is, else after waiting for a sync in
    /// progress or doing one — `cur/` fsynced, then the journal fdatasynced — which covers
    /// every write made before it started, by any session or process of this host.
    pub fn make_durable(&self, upto: u64) -> io::Result<()> {
        let mut durable = self
            .durable
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if *durable >= upto {
            return Ok(());
        }
        let written = self.len()?;
        crate::store::durable::sync_dir(&self.cur)?;
        self.file.sync_data()?;
        *durable = (*durable).max(written);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(uid: u32, modseq: u64, name: &str) -> Entry {
        Entry {
            uid,
            modseq,
            size: 10,
            vsize: None,
            date: 1_700_000_000,
            in_new: false,
            name: name.into(),
        }
    }

    fn state(entries: Vec<Entry>) -> State {
        State {
            generation: 1,
            uidvalidity: 7,
            uidnext: entries.last().map_or(1, |e| e.uid + 1),
            highestmodseq: entries.iter().map(|e| e.modseq).max().unwrap_or(1),
            keywords: vec!["$Junk".into()],
            entries,
        }
    }

    #[test]
    fn a_diff_applied_gives_the_new_state() {
        let old = state(vec![
            entry(1, 1, "1.a.h:2,"),
            entry(2, 1, "2.b.h:2,"),
            entry(4, 1, "4.d.h:2,"),
        ]);
        let mut new = state(vec![
            entry(2, 5, "2.b.h:2,S"),
            entry(4, 1, "4.d.h:2,"),
            entry(5, 5, "5.e.h:2,a"),
            entry(6, 5, "6 with space:2,"),
        ]);
        new.keywords.push("Work".into());
        let records = diff(&old, &new).unwrap();
        assert!(records.contains("x 1\n") && records.contains("keyword Work\n"));
        assert!(
            !records.contains("m 4 "),
            "unchanged entries are not written"
        );
        let txn = transaction(&records);
        let mut got = old.clone();
        assert_eq!(apply(&mut got, &txn), txn.len());
        assert_eq!(got, new);
        assert_eq!(diff(&new, &new).as_deref(), Some(""));
        let mut other = new.clone();
        other.uidvalidity = 8;
        assert_eq!(
            diff(&new, &other),
            None,
            "another UIDVALIDITY needs a checkpoint"
        );
    }

    #[test]
    fn a_torn_or_damaged_transaction_stops_the_load() {
        let base = state(vec![entry(1, 1, "1.a.h:2,")]);
        let mut one = base.clone();
        one.entries.push(entry(2, 2, "2.b.h:2,"));
        one.uidnext = 3;
        one.highestmodseq = 2;
        let mut two = one.clone();
        two.entries.remove(0);
        two.highestmodseq = 3;
        let first = transaction(&diff(&base, &one).unwrap());
        let second = transaction(&diff(&one, &two).unwrap());
        let all = [first.clone(), second.clone()].concat();
        for cut in 0..=all.len() {
            let mut got = base.clone();
            let used = apply(&mut got, &all[..cut]);
            let want = if cut == all.len() {
                (&two, all.len())
            } else if cut >= first.len() {
                (&one, first.len())
            } else {
                (&base, 0)
            };
            assert_eq!((&got, used), want, "cut at {cut}");
        }
        // A changed byte fails the checksum: nothing from there on is applied.
        let mut bad = all.clone();
        let at = first.len() + 3;
        bad[at] ^= 1;
        let mut got = base.clone();
        assert_eq!(apply(&mut got, &bad), first.len());
        assert_eq!(got, one);
    }

    #[test]
    fn headers_name_their_generation() {
        let h = header(42);
        assert_eq!(parse_header(&h), Some((42, h.len())));
        assert_eq!(parse_header(b"postern-state-log 1 x\n"), None);
        assert_eq!(parse_header(b"postern-state-log 1 4"), None, "torn");
        assert_eq!(parse_header(b"other 1 4\n"), None);
    }
}
