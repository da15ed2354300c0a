//! Queue files are recycled, not deleted: a finished message's file is moved to `free/` and
//! emptied, and the next message written takes it again.
//!
//! Why: on ext4 without a journal (common on VMs) every new inode is checked against the inodes
//! deleted in the last minute or more (`recently_deleted`), a scan that grows with the delivery
//! rate; deleting one queue file per message made inode allocation — for the spool and for the
//! maildir files beside it — the largest part of the mail path's CPU time. A file reused keeps
//! its inode; nothing is deleted, so nothing is scanned. On other file systems it costs nothing.
//!
//! Safety: a finished file is first moved out of `queue/` to a private name in `tmp/`, emptied,
//! unlocked and only then put in `free/`, so nobody can take it while it still holds the old
//! message or its lock. A free file is claimed by renaming it to the writer's `tmp/` name, which
//! only one process can do. Readers that go without a lock check afterwards that the path still
//! names the inode they read (`message::still_at`). A crash half-way leaves a file in `tmp/`,
//! removed by `Spool::clean` like any other stale temp file.
//!
//! Not on a spool shared with other hosts (a network or FUSE file system): there a file's
//! identity must never be reused. A replicated volume (GlusterFS) that loses a client or a
//! brick in the middle of a rename can bring an old name back when it heals (it merges
//! directory entries rather than lose one): a `queue/ID` of a finished message would come back
//! as a second name of the reused file — now another message — and finishing it again would
//! empty that other message. Fresh files and plain unlinks leave at worst a finished message
//! queued again, whose local delivery finds its earlier copy by name.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::QueueId;

/// The directory of free queue files, under the spool root.
pub const DIR: &str = "free";

/// At most this many free files are kept by [`FreeFiles::trim`] (empty inodes: no data blocks).
const KEEP: usize = 4096;

/// How often an empty list of names is refilled from the directory (other processes add to it).
const RESCAN: Duration = Duration::from_secs(1);

/// The free files of one spool: names known to this process, refilled from `free/`.
pub struct FreeFiles {
    /// Off on a spool shared with other hosts (see the module docs).
    enabled: bool,
    dir: PathBuf,
    tmp: PathBuf,
    names: Mutex<Names>,
}

struct Names {
    known: Vec<OsString>,
    scanned: Option<Instant>,
}

impl FreeFiles {
    /// The free files under spool `root`.
    pub fn new(root: &Path) -> FreeFiles {
        FreeFiles {
            enabled: !crate::store::volume_kind::is_network_fs(root),
            dir: root.join(DIR),
            tmp: root.join("tmp"),
            names: Mutex::new(Names {
                known: Vec::new(),
                scanned: None,
            }),
        }
    }

    /// An empty file at `tmp`, open for writing: a free file moved there, or a new one.
    pub fn take(&self, tmp: &Path) -> io::Result<File> {
        while let Some(name) = self.enabled.then(|| self.next_name()).flatten() {
            match fs::rename(self.dir.join(&name), tmp) {
                Ok(()) => {}
                // Another process took it first.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            }
            match OpenOptions::new().write(true).truncate(true).open(tmp) {
                Ok(f) => return Ok(f),
                // Left by another user (e.g. root's deliverer, a user's sendmail): not ours to
                // reuse; drop it and make a new one.
                Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                    let _ = fs::remove_file(tmp);
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(tmp)
    }

    fn next_name(&self) -> Option<OsString> {
        let mut names = self.names.lock().ok()?;
        if let Some(n) = names.known.pop() {
            return Some(n);
        }
        if names.scanned.is_some_and(|t| t.elapsed() < RESCAN) {
            return None;
        }
        names.scanned = Some(Instant::now());
        if let Ok(entries) = fs::read_dir(&self.dir) {
            names.known = entries
                .flatten()
                .map(|e| e.file_name())
                .take(KEEP)
                .collect();
        }
        names.known.pop()
    }

    /// Retire the queue file at `path` (open as `file`, locked by the caller): out of `queue/`,
    /// emptied, unlocked, then into `free/`. Deleted instead when that fails half-way.
    pub fn recycle(&self, file: &File, path: &Path, id: &QueueId) -> io::Result<()> {
        if !self.enabled {
            return fs::remove_file(path);
        }
        let hidden = self.tmp.join(format!("recycle.{id}"));
        if fs::rename(path, &hidden).is_err() {
            return fs::remove_file(path);
        }
        // (The caller's handle is read-only: empty it through a second one.)
        let emptied = OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&hidden)
            .and_then(|w| w.set_permissions(fs::Permissions::from_mode(0o600)))
            .and_then(|()| file.unlock());
        let dest = self.dir.join(id.as_str());
        if emptied.is_err() || fs::rename(&hidden, &dest).is_err() {
            let _ = fs::remove_file(&hidden);
            return Ok(());
        }
        if let Ok(mut names) = self.names.lock() {
            names.known.push(OsString::from(id.as_str()));
        }
        Ok(())
    }

    /// Delete free files beyond [`KEEP`]; how many were deleted.
    pub fn trim(&self) -> io::Result<usize> {
        let mut removed = 0;
        for (i, e) in fs::read_dir(&self.dir)?.flatten().enumerate() {
            if i >= KEEP && fs::remove_file(e.path()).is_ok() {
                removed += 1;
            }
        }
        if let Ok(mut names) = self.names.lock() {
            names.known.clear();
            names.scanned = None;
        }
        Ok(removed)
    }
}
