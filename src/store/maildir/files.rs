//! File operations on maildir messages: finding a message by base name after another
//! process renamed it, opening, unlinking, durable writes, links into `tmp/`.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use super::error::{MaildirError, Result};
use super::flags::Flags;
use super::layout::Maildir;
use super::name;
use super::state::MessageInfo;
use super::statefile::{Entry, State};

pub(super) fn mtime_secs(m: &fs::Metadata) -> i64 {
    m.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs() as i64)
}

/// Lists acceptable entry names of a directory (non-UTF-8 and hidden names are skipped).
pub(super) fn list_dir(dir: &Path) -> Result<Vec<String>> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) => return Err(MaildirError::io(dir, e)),
    };
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| MaildirError::io(dir, e))?;
        if let Ok(n) = entry.file_name().into_string() {
            if name::acceptable(&n) {
                out.push(n);
            }
        }
    }
    Ok(out)
}

/// Finds the current file of a base name: `(file name, in new/)`.
pub(super) fn locate(md: &Maildir, base: &str) -> Result<Option<(String, bool)>> {
    for (dir, in_new) in [(md.cur(), false), (md.new_dir(), true)] {
        if let Some(n) = list_dir(&dir)?
            .into_iter()
            .find(|n| name::split(n).0 == base)
        {
            return Ok(Some((n, in_new)));
        }
    }
    Ok(None)
}

pub(super) fn entry_path(md: &Maildir, e: &Entry) -> PathBuf {
    let dir = if e.in_new { md.new_dir() } else { md.cur() };
    dir.join(&*e.name)
}

pub(super) fn entry_flags(e: &Entry, keywords: &[String]) -> Flags {
    let letters = name::info_letters(name::split(&e.name).1).unwrap_or("");
    Flags::from_info_letters(letters, keywords)
}

/// Opens a message file, following a rename by base name; `Ok(None)` when it is gone. The
/// name in the process's latest list of the mailbox is tried before the directories are
/// listed (another session's flag change renamed it, most likely).
pub fn open_message(md: &Maildir, info: &MessageInfo) -> Result<Option<File>> {
    let path = info.path(md);
    match File::open(&path) {
        Ok(f) => return Ok(Some(f)),
        Err(e) if e.kind() != ErrorKind::NotFound => return Err(MaildirError::io(&path, e)),
        Err(_) => {}
    }
    if let Some((n, in_new)) =
        super::shared::latest_name(md.path(), info.uid, info.base(), &info.file_name)
    {
        let path = if in_new { md.new_dir() } else { md.cur() }.join(n);
        if let Ok(f) = File::open(&path) {
            return Ok(Some(f));
        }
    }
    let Some((n, in_new)) = locate(md, info.base())? else {
        return Ok(None);
    };
    let path = if in_new { md.new_dir() } else { md.cur() }.join(n);
    match File::open(&path) {
        Ok(f) => Ok(Some(f)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(MaildirError::io(&path, e)),
    }
}

pub(super) fn virtual_size(md: &Maildir, info: &MessageInfo) -> Result<Option<u64>> {
    use std::io::Read;
    let Some(mut f) = open_message(md, info)? else {
        return Ok(None);
    };
    let mut buf = vec![0u8; 64 * 1024];
    let (mut total, mut prev_cr) = (0u64, false);
    loop {
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(MaildirError::io(info.path(md), e)),
        };
        let read = buf.get(..n).unwrap_or_default();
        total += name::crlf_size(read, prev_cr);
        prev_cr = read.last() == Some(&b'\r');
    }
    Ok(Some(total))
}

pub(super) fn remove_entry_file(md: &Maildir, e: &Entry) -> Result<()> {
    let path = entry_path(md, e);
    match fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == ErrorKind::NotFound => match locate(md, e.base())? {
            Some((n, in_new)) => {
                let p = if in_new { md.new_dir() } else { md.cur() }.join(n);
                match fs::remove_file(&p) {
                    Err(err) if err.kind() != ErrorKind::NotFound => Err(MaildirError::io(&p, err)),
                    _ => Ok(()),
                }
            }
            None => Ok(()),
        },
        Err(err) => Err(MaildirError::io(&path, err)),
    }
}

pub(super) fn write_durably(path: &Path, bytes: &[u8], date: i64) -> Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| MaildirError::io(path, e))?;
    let res = f
        .write_all(bytes)
        .and_then(|_| f.set_modified(UNIX_EPOCH + Duration::from_secs(date as u64)))
        .and_then(|_| f.sync_all());
    if let Err(e) = res {
        let _ = fs::remove_file(path);
        return Err(MaildirError::io(path, e));
    }
    Ok(())
}

/// Hard-links (or copies) a message into `tmp`; `Ok(false)` when the source is gone.
pub(super) fn link_or_copy(md: &Maildir, e: &Entry, tmp: &Path) -> Result<bool> {
    let mut src = entry_path(md, e);
    for attempt in 0..2 {
        match fs::hard_link(&src, tmp) {
            Ok(()) => return Ok(true),
            Err(err) if err.kind() == ErrorKind::NotFound && attempt == 0 => {
                match locate(md, e.base())? {
                    Some((n, in_new)) => src = if in_new { md.new_dir() } else { md.cur() }.join(n),
                    None => return Ok(false),
                }
            }
            Err(err) if err.kind() == ErrorKind::NotFound => return Ok(false),
            Err(_) => {
                let bytes = match fs::read(&src) {
                    Ok(b) => b,
                    Err(err) if err.kind() == ErrorKind::NotFound => return Ok(false),
                    Err(err) => return Err(MaildirError::io(&src, err)),
                };
                write_durably(tmp, &bytes, e.date)?;
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// Moves `tmp/<base>` into `cur/` with its flags and records it with the next UID (caller
/// holds the state lock and makes it durable through the journal).
pub(super) fn commit_from_tmp(
    md: &Maildir,
    st: &mut State,
    base: &str,
    flags: &Flags,
    size: u64,
    vsize: Option<u64>,
    date: i64,
) -> Result<u32> {
    let letters = flags.to_info_letters(&mut st.keywords)?;
    let file_name = name::with_letters(base, &letters);
    let from = md.tmp().join(base);
    let to = md.cur().join(&file_name);
    fs::rename(&from, &to).map_err(|e| MaildirError::io(&from, e))?;
    // `cur/` is fsynced with the journal, before the UID is told to anyone
    // (super::journal::JournalFile::make_durable).
    let uid = st.uidnext;
    st.uidnext = st.uidnext.saturating_add(1);
    st.highestmodseq += 1;
    st.entries.push(Entry {
        uid,
        modseq: st.highestmodseq,
        size,
        vsize,
        date,
        in_new: false,
        name: file_name.into(),
    });
    Ok(uid)
}

/// Starts reading `infos`' files into the page cache, so that the reads that follow overlap
/// instead of waiting for the disk one by one (a FETCH of 10,000 bodies from a cold cache: six
/// times faster on the development VM's disk). One probe first: when the last of them is already
/// cached, the others are taken to be as well, and nothing more is done (a warm FETCH pays one
/// open for the window, not one per message). Only a hint: every failure is ignored.
pub fn prefetch(md: &Maildir, infos: &[&MessageInfo]) {
    prefetch_with(infos, |info| open_message(md, info).ok().flatten());
}

/// [`prefetch`] with the messages opened by `open` (through [`MessageDirs`], say).
pub fn prefetch_with(infos: &[&MessageInfo], open: impl Fn(&MessageInfo) -> Option<File>) {
    let Some(last) = infos.last() else {
        return;
    };
    if matches!(open(last), Some(f) if cached(&f)) {
        return;
    }
    for info in infos {
        if let Some(f) = open(info) {
            let _ = nix::fcntl::posix_fadvise(
                &f,
                0,
                0,
                nix::fcntl::PosixFadviseAdvice::POSIX_FADV_WILLNEED,
            );
        }
    }
}

/// Whether the first byte of `file` can be read without waiting for the disk
/// (`preadv2(RWF_NOWAIT)`: `EAGAIN` when it is not in the page cache).
pub(super) fn cached(file: &File) -> bool {
    use std::os::fd::AsRawFd;
    let mut byte = [0u8; 1];
    let iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: byte.len(),
    };
    // SAFETY: one iovec over a live 1-byte buffer, on a descriptor this function borrows.
    let n = unsafe { libc::preadv2(file.as_raw_fd(), &iov, 1, 0, libc::RWF_NOWAIT) };
    n >= 0
}

/// A maildir's `cur/` and `new/` held open, so that a message is opened relative to its
/// directory (`openat`: one name to look up, not every component of the full path). A reader
/// keeps them for a burst of commands; a name not found through them is looked for by path as
/// before ([`open_message`]), so a directory renamed or replaced meanwhile costs a retry only.
#[derive(Debug)]
pub struct MessageDirs {
    cur: std::os::fd::OwnedFd,
    new: std::os::fd::OwnedFd,
}

impl MessageDirs {
    /// Opens `md`'s `cur/` and `new/`.
    pub fn open(md: &Maildir) -> std::io::Result<MessageDirs> {
        let dir = |path: PathBuf| {
            nix::fcntl::open(
                &path,
                nix::fcntl::OFlag::O_RDONLY
                    | nix::fcntl::OFlag::O_DIRECTORY
                    | nix::fcntl::OFlag::O_CLOEXEC,
                nix::sys::stat::Mode::empty(),
            )
            .map_err(std::io::Error::from)
        };
        Ok(MessageDirs {
            cur: dir(md.cur())?,
            new: dir(md.new_dir())?,
        })
    }

    /// Opens the message file by the name the snapshot has (`NotFound` when it was renamed or
    /// removed since).
    pub fn open_message(&self, info: &MessageInfo) -> std::io::Result<File> {
        let dir = if info.in_new { &self.new } else { &self.cur };
        nix::fcntl::openat(
            dir,
            &*info.file_name,
            nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .map(File::from)
        .map_err(std::io::Error::from)
    }
}

/// Reads a message file into `buf` (emptied first), at most `limit` bytes. `expected` is the
/// size the state knows: a read that stops short exactly there is taken as the end of the file
/// (a maildir message never changes), which spares the second `read` that would only say so;
/// any other length is read to the end as usual.
pub fn read_message_into(
    file: &mut File,
    expected: u64,
    limit: u64,
    buf: &mut Vec<u8>,
) -> std::io::Result<()> {
    use std::io::Read;
    buf.clear();
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let expected = usize::try_from(expected).unwrap_or(usize::MAX).min(limit);
    // The first read asks for one byte beyond the expected end: a file that grew shows at once.
    let first = expected.saturating_add(1).min(limit);
    loop {
        let start = buf.len();
        if start >= limit {
            return Ok(());
        }
        let room = if start < first {
            first - start
        } else {
            (start / 2).clamp(8 * 1024, 1024 * 1024).min(limit - start)
        };
        buf.resize(start + room, 0);
        let n = match file.read(buf.get_mut(start..).unwrap_or_default()) {
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {
                buf.truncate(start);
                continue;
            }
            Err(e) => {
                buf.truncate(start);
                return Err(e);
            }
        };
        buf.truncate(start + n);
        if n == 0 || (n < room && buf.len() == expected) {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic
    use super::*;

    #[test]
    fn a_message_is_read_whole_whatever_size_the_state_expected_and_never_past_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m");
        let content: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &content).unwrap();
        let len = content.len() as u64;
        // Expected right, too small, too large, zero; a buffer holding other bytes before.
        for expected in [len, len - 1, 10, len + 1, 2 * len, 0] {
            let mut buf = vec![7u8; 100_000];
            let mut f = File::open(&path).unwrap();
            read_message_into(&mut f, expected, u64::MAX, &mut buf).unwrap();
            assert_eq!(buf, content, "expected {expected}");
        }
        for limit in [0, 1, 4096, len - 1, len, len + 1] {
            let mut buf = b"old".to_vec();
            let mut f = File::open(&path).unwrap();
            read_message_into(&mut f, len, limit, &mut buf).unwrap();
            let end = usize::try_from(limit.min(len)).unwrap();
            assert_eq!(buf, &content[..end], "limit {limit}");
        }
        std::fs::write(&path, b"").unwrap();
        let mut buf = b"old".to_vec();
        read_message_into(&mut File::open(&path).unwrap(), 0, 10, &mut buf).unwrap();
        assert!(buf.is_empty());
    }

    #[test]
    fn messages_open_relative_to_their_directory_and_not_found_once_moved() {
        let dir = tempfile::tempdir().unwrap();
        let md = Maildir::create(dir.path().join("box")).unwrap();
        fs::write(md.new_dir().join("1.a.host"), b"in new").unwrap();
        fs::write(md.cur().join("2.b.host:2,S"), b"in cur").unwrap();
        let dirs = MessageDirs::open(&md).unwrap();
        let info = |name: &str, in_new| MessageInfo {
            uid: 1,
            file_name: name.into(),
            in_new,
            size: 6,
            vsize: None,
            internal_date: 0,
            flags: Flags::new(),
            modseq: 1,
        };
        let read = |i: &MessageInfo| {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut dirs.open_message(i)?, &mut s)?;
            std::io::Result::Ok(s)
        };
        assert_eq!(read(&info("1.a.host", true)).unwrap(), "in new");
        assert_eq!(read(&info("2.b.host:2,S", false)).unwrap(), "in cur");
        let moved = read(&info("1.a.host", false)).unwrap_err();
        assert_eq!(moved.kind(), ErrorKind::NotFound);
    }
}
