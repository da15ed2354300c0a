//! Atomic file replacement and directory syncs: the one way postern writes a file that must be
//! either the old version or the new one, whole, after a crash (state files, caches, the users
//! file, certificates, keys).
//!
//! [`replace`] writes the bytes under a temporary name of its own beside the target (so
//! concurrent writers, in one process or several, never share one), fsyncs it, renames it over
//! the target and fsyncs the directory, so that once it returns the new file survives a crash.
//! [`replace_cached`] does the same without the two fsyncs, for files that are only a cache:
//! after a crash they are the old version, the new one or a damaged one their reader drops, and
//! never worth a disk flush. [`sync_dir`] makes a rename, link or unlink in a directory durable.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Attempts at a free temporary name before giving up (a name is taken only when another
/// writer picked the same random one, or a crash left it behind).
const NAME_ATTEMPTS: usize = 4;

/// Replaces `path` with `bytes` atomically and durably: a temporary file beside it (created with
/// `mode`, less the umask), fsynced, renamed over `path`, then the directory fsynced. On failure
/// `path` is untouched and the temporary file removed.
pub fn replace(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    write_and_rename(path, bytes, mode, true)
}

/// Like [`replace`], but the new file keeps the owner, group and mode of the one it replaces
/// (`mode` only for a new file): an administrator's command run as root leaves the users file
/// or the configuration readable by the daemon's user as before.
pub fn replace_keeping(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
    let old = match fs::metadata(path) {
        Ok(m) => Some(m),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    let Some(old) = old else {
        return replace(path, bytes, mode);
    };
    let (tmp, mut file) = create_temp(path, old.mode() & 0o7777)?;
    let written = (|| {
        let made = file.metadata()?;
        if (made.uid(), made.gid()) != (old.uid(), old.gid()) {
            std::os::unix::fs::fchown(&file, Some(old.uid()), Some(old.gid()))?;
        }
        // After the chown (which clears set-id bits) and past the umask.
        file.set_permissions(fs::Permissions::from_mode(old.mode() & 0o7777))?;
        file.write_all(bytes)?;
        file.sync_data()
    })();
    drop(file);
    if let Err(e) = written.and_then(|()| fs::rename(&tmp, path)) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// Gives `file` (a lock file beside `like`, say) the owner and group of `like` when they differ
/// and this process may (root): a lock made by root's command stays usable by the daemon's user.
pub fn same_owner(file: &File, like: &Path) {
    use std::os::unix::fs::MetadataExt as _;
    if let (Ok(have), Ok(want)) = (file.metadata(), fs::metadata(like)) {
        if (have.uid(), have.gid()) != (want.uid(), want.gid()) {
            let _ = std::os::unix::fs::fchown(file, Some(want.uid()), Some(want.gid()));
        }
    }
}

/// Like [`replace`] without the fsyncs: atomic, not durable — for caches, which a crash may
/// leave old or damaged but never half-new.
pub fn replace_cached(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    write_and_rename(path, bytes, mode, false)
}

/// fsyncs a directory so that a rename, link or unlink in it is durable. A file system that
/// cannot sync directories (`EINVAL`) has nothing more to offer and counts as done.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    match File::open(dir).and_then(|d| d.sync_all()) {
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(()),
        other => other,
    }
}

fn write_and_rename(path: &Path, bytes: &[u8], mode: u32, durable: bool) -> io::Result<()> {
    let (tmp, mut file) = create_temp(path, mode)?;
    let written = file
        .write_all(bytes)
        .and_then(|()| if durable { file.sync_data() } else { Ok(()) });
    drop(file);
    if let Err(e) = written.and_then(|()| fs::rename(&tmp, path)) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    if durable {
        sync_dir(path.parent().unwrap_or(Path::new(".")))?;
    }
    Ok(())
}

/// A new file beside `path` under a name no other writer uses: the target's name, this
/// process's id, a counter (sessions of one process) and a random part (a pid reused after a
/// crash left a file behind).
fn create_temp(path: &Path, mode: u32) -> io::Result<(PathBuf, File)> {
    static MADE: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name to replace"))?
        .to_string_lossy();
    let mut last = None;
    for _ in 0..NAME_ATTEMPTS {
        let mut random = [0u8; 8];
        if getrandom::fill(&mut random).is_err() {
            // The pid and the counter still keep this process's writers apart.
            random = nanos().to_le_bytes();
        }
        let tmp = path.with_file_name(format!(
            "{name}.{}.{}.{:016x}.tmp",
            std::process::id(),
            MADE.fetch_add(1, Ordering::Relaxed),
            u64::from_le_bytes(random)
        ));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)
        {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::ErrorKind::AlreadyExists.into()))
}

fn nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .expect("read dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn replaces_whole_with_its_mode_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state");
        replace(&path, b"one", 0o600).expect("first");
        replace(&path, b"two", 0o600).expect("second");
        assert_eq!(fs::read(&path).expect("read"), b"two");
        let mode = fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        replace_cached(&dir.path().join("cache"), b"c", 0o644).expect("cache");
        assert_eq!(names(dir.path()), ["cache", "state"]);
    }

    #[test]
    fn a_failed_replace_leaves_the_old_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("file");
        replace(&path, b"old", 0o600).expect("write");
        // The target is now a non-empty directory: the rename fails, nothing else changes.
        let blocked = dir.path().join("blocked");
        fs::create_dir_all(blocked.join("x")).expect("mkdir");
        assert!(replace(&blocked, b"new", 0o600).is_err());
        assert_eq!(fs::read(&path).expect("read"), b"old");
        assert_eq!(names(dir.path()), ["blocked", "file"]);
        assert!(
            replace(Path::new("/"), b"x", 0o600).is_err(),
            "no file name"
        );
    }

    #[test]
    fn concurrent_writers_never_share_a_temporary_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("shared");
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let path = path.clone();
                std::thread::spawn(move || {
                    for round in 0..20 {
                        let body = vec![b'a' + t as u8; 4096 + round];
                        replace_cached(&path, &body, 0o600).expect("replace");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("thread");
        }
        let bytes = fs::read(&path).expect("read");
        assert!(
            bytes.iter().all(|&b| b == bytes[0]),
            "one writer's file, whole"
        );
        assert_eq!(names(dir.path()), ["shared"]);
    }
}
