//! Watching maildirs for IDLE: one inotify instance per process, shared by every idling
//! session. A session asks [`watch`] for its selected maildir and awaits
//! [`MaildirWatch::changed`]; a reader thread turns inotify events in `new/`, `cur/` and on the
//! state file (`postern-state`, replaced by rename) and its journal (`postern-state.log`,
//! appended to) into wake-ups of the sessions watching that
//! maildir. The watches of a maildir go away with its last [`MaildirWatch`].
//!
//! One instance for all sessions matters: the kernel allows a user only a few inotify instances
//! (`fs.inotify.max_user_instances`, often 128) but many watches. When watching is not
//! possible (no inotify, the limit reached, a filesystem without events) [`watch`] says why
//! and the caller polls instead; if the reader thread fails, every watch reports
//! [`MaildirWatch::changed`] `false` and its session falls back to polling.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask, Watches};
use tokio::sync::watch as channel;

use crate::store::maildir::{JOURNAL_FILE, STATE_FILE};

/// Which directory of a maildir a watch descriptor is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    /// `new/` or `cur/`: every entry event counts.
    Messages,
    /// The maildir itself: only the state file counts (not caches, locks, folders).
    Root,
}

struct Dir {
    refs: usize,
    wds: Vec<WatchDescriptor>,
    tx: channel::Sender<u64>,
}

struct Registry {
    watches: Watches,
    dirs: HashMap<PathBuf, Dir>,
    /// For each watch descriptor: the maildirs (normally one) and which part it watches.
    wds: HashMap<WatchDescriptor, Vec<(PathBuf, Part)>>,
    /// The reader thread has stopped: no new watches.
    broken: bool,
}

struct Watcher {
    registry: Mutex<Registry>,
}

static WATCHER: OnceLock<Result<Arc<Watcher>, String>> = OnceLock::new();

/// Why a maildir cannot be watched (the caller polls instead).
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// No inotify instance could be made.
    #[error("inotify is not available: {0}")]
    Unavailable(String),
    /// A watch could not be added (no such directory, too many watches…).
    #[error("cannot watch {path}: {source}")]
    Add {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The reader thread has stopped.
    #[error("the inotify reader stopped")]
    Stopped,
}

/// A registration for the changes of one maildir; unregistered when dropped.
pub struct MaildirWatch {
    watcher: Arc<Watcher>,
    dir: PathBuf,
    rx: channel::Receiver<u64>,
}

impl MaildirWatch {
    /// Waits until something changed in the maildir since the last call (or since the watch
    /// was made); `false` when watching has stopped and the caller must poll.
    pub async fn changed(&mut self) -> bool {
        self.rx.changed().await.is_ok()
    }
}

impl Drop for MaildirWatch {
    fn drop(&mut self) {
        let Ok(mut reg) = self.watcher.registry.lock() else {
            return;
        };
        let Some(dir) = reg.dirs.get_mut(&self.dir) else {
            return;
        };
        dir.refs -= 1;
        if dir.refs > 0 {
            return;
        }
        let Some(dir) = reg.dirs.remove(&self.dir) else {
            return;
        };
        for wd in dir.wds {
            let unused = match reg.wds.get_mut(&wd) {
                Some(users) => {
                    users.retain(|(p, _)| p != &self.dir);
                    users.is_empty()
                }
                None => false,
            };
            if unused {
                reg.wds.remove(&wd);
                // The watch may already be gone (directory deleted): nothing to undo then.
                let _ = reg.watches.remove(wd);
            }
        }
    }
}

/// Starts watching the maildir at `maildir` (its `new/`, `cur/` and state file).
pub fn watch(maildir: &Path) -> Result<MaildirWatch, WatchError> {
    let watcher = match WATCHER.get_or_init(start) {
        Ok(w) => w.clone(),
        Err(e) => return Err(WatchError::Unavailable(e.clone())),
    };
    let mut reg = watcher.registry.lock().map_err(|_| WatchError::Stopped)?;
    if reg.broken {
        return Err(WatchError::Stopped);
    }
    let key = maildir.to_path_buf();
    if let Some(dir) = reg.dirs.get_mut(&key) {
        dir.refs += 1;
        let rx = dir.tx.subscribe();
        drop(reg);
        return Ok(MaildirWatch {
            watcher,
            dir: key,
            rx,
        });
    }
    let entries = WatchMask::CREATE
        | WatchMask::MOVED_TO
        | WatchMask::MOVED_FROM
        | WatchMask::DELETE
        | WatchMask::DELETE_SELF
        | WatchMask::MOVE_SELF
        | WatchMask::ONLYDIR;
    let root =
        WatchMask::MOVED_TO | WatchMask::CLOSE_WRITE | WatchMask::MODIFY | WatchMask::ONLYDIR;
    let mut wds = Vec::new();
    for (path, mask, part) in [
        (maildir.join("new"), entries, Part::Messages),
        (maildir.join("cur"), entries, Part::Messages),
        (maildir.to_path_buf(), root, Part::Root),
    ] {
        match reg.watches.add(&path, mask) {
            Ok(wd) => {
                reg.wds
                    .entry(wd.clone())
                    .or_default()
                    .push((key.clone(), part));
                wds.push(wd);
            }
            Err(source) => {
                for wd in wds {
                    let unused = reg.wds.get_mut(&wd).is_some_and(|users| {
                        users.retain(|(p, _)| p != &key);
                        users.is_empty()
                    });
                    if unused {
                        reg.wds.remove(&wd);
                        let _ = reg.watches.remove(wd);
                    }
                }
                return Err(WatchError::Add { path, source });
            }
        }
    }
    let (tx, rx) = channel::channel(0);
    reg.dirs.insert(key.clone(), Dir { refs: 1, wds, tx });
    drop(reg);
    Ok(MaildirWatch {
        watcher,
        dir: key,
        rx,
    })
}

/// Makes the process's inotify instance and its reader thread.
fn start() -> Result<Arc<Watcher>, String> {
    let inotify = Inotify::init().map_err(|e| e.to_string())?;
    let watcher = Arc::new(Watcher {
        registry: Mutex::new(Registry {
            watches: inotify.watches(),
            dirs: HashMap::new(),
            wds: HashMap::new(),
            broken: false,
        }),
    });
    let reader = watcher.clone();
    std::thread::Builder::new()
        .name("imap-idle-watch".into())
        .spawn(move || read_events(inotify, &reader))
        .map_err(|e| e.to_string())?;
    Ok(watcher)
}

/// The reader thread: wakes the watchers of each maildir an event concerns.
fn read_events(mut inotify: Inotify, watcher: &Watcher) {
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let events = match inotify.read_events_blocking(&mut buffer) {
            Ok(events) => events,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                crate::events::event("idle_watch_failed")
                    .field("error", e)
                    .emit();
                break;
            }
        };
        let Ok(reg) = watcher.registry.lock() else {
            return;
        };
        for event in events {
            if event.mask.contains(EventMask::Q_OVERFLOW) {
                // Events were lost: everyone looks.
                for dir in reg.dirs.values() {
                    dir.tx.send_modify(|n| *n += 1);
                }
                continue;
            }
            let Some(users) = reg.wds.get(&event.wd) else {
                continue;
            };
            for (path, part) in users {
                if *part == Part::Root && !concerns_root(event.mask, event.name) {
                    continue;
                }
                if let Some(dir) = reg.dirs.get(path) {
                    dir.tx.send_modify(|n| *n += 1);
                }
            }
        }
    }
    // Stopped: drop every sender so each watch reports `false` and its session polls.
    if let Ok(mut reg) = watcher.registry.lock() {
        reg.broken = true;
        reg.dirs.clear();
        reg.wds.clear();
    }
}

/// Whether an event on the maildir directory itself is one a session must look at: the state
/// file replaced or written, its journal appended to, or the directory gone.
fn concerns_root(mask: EventMask, name: Option<&OsStr>) -> bool {
    mask.intersects(EventMask::IGNORED | EventMask::DELETE_SELF | EventMask::MOVE_SELF)
        || name == Some(OsStr::new(STATE_FILE))
        || name == Some(OsStr::new(JOURNAL_FILE))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn maildir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["new", "cur", "tmp"] {
            std::fs::create_dir(dir.path().join(sub)).unwrap();
        }
        dir
    }

    /// Waits for a change, at most `limit`; whether one came.
    async fn within(w: &mut MaildirWatch, limit: Duration) -> bool {
        matches!(tokio::time::timeout(limit, w.changed()).await, Ok(true))
    }

    /// Takes the wake-ups still on their way (a rename is two events, maybe read apart).
    async fn settle(w: &mut MaildirWatch) {
        while within(w, Duration::from_millis(100)).await {}
    }

    #[tokio::test]
    async fn deliveries_flag_changes_and_the_state_file_wake_watchers() {
        let md = maildir();
        let p = md.path();
        let mut a = watch(p).unwrap();
        let mut b = watch(p).unwrap();

        // A delivery: tmp/ → new/ by rename.
        std::fs::write(p.join("tmp/1.x.host"), b"Subject: x\n\nx\n").unwrap();
        let t = Instant::now();
        std::fs::rename(p.join("tmp/1.x.host"), p.join("new/1.x.host")).unwrap();
        assert!(within(&mut a, Duration::from_secs(1)).await);
        assert!(within(&mut b, Duration::from_secs(1)).await);
        assert!(t.elapsed() < Duration::from_secs(1));

        // A flag change: a rename inside cur/.
        std::fs::rename(p.join("new/1.x.host"), p.join("cur/1.x.host:2,")).unwrap();
        assert!(within(&mut a, Duration::from_secs(1)).await);
        std::fs::rename(p.join("cur/1.x.host:2,"), p.join("cur/1.x.host:2,S")).unwrap();
        assert!(within(&mut a, Duration::from_secs(1)).await);

        // Other files beside the maildir do not wake anyone; the state file does.
        settle(&mut a).await;
        std::fs::write(p.join("postern-imap-cache"), b"x").unwrap();
        assert!(!within(&mut a, Duration::from_millis(200)).await);
        std::fs::write(p.join("postern-state.tmp"), b"x").unwrap();
        std::fs::rename(p.join("postern-state.tmp"), p.join(STATE_FILE)).unwrap();
        assert!(within(&mut a, Duration::from_secs(1)).await);
        // So does a transaction appended to the journal by a writer that keeps it open.
        settle(&mut a).await;
        let mut journal = std::fs::File::create(p.join(JOURNAL_FILE)).unwrap();
        settle(&mut a).await;
        std::io::Write::write_all(&mut journal, b"x 1\n").unwrap();
        assert!(within(&mut a, Duration::from_secs(1)).await);

        // One watcher gone, the other still hears deletions.
        drop(b);
        std::fs::remove_file(p.join("cur/1.x.host:2,S")).unwrap();
        assert!(within(&mut a, Duration::from_secs(1)).await);
    }

    #[tokio::test]
    async fn the_last_watch_removes_the_kernel_watches() {
        let md = maildir();
        let w = watch(md.path()).unwrap();
        let watcher = w.watcher.clone();
        let count = |w: &Arc<Watcher>| {
            let reg = w.registry.lock().unwrap();
            reg.wds
                .values()
                .filter(|users| users.iter().any(|(p, _)| p == md.path()))
                .count()
        };
        assert_eq!(count(&watcher), 3);
        drop(w);
        assert_eq!(count(&watcher), 0);
        // A maildir that is not there cannot be watched (the caller polls).
        assert!(matches!(
            watch(&md.path().join("missing")),
            Err(WatchError::Add { .. })
        ));
    }
}
