//! Group commit for directory fsyncs: concurrent writers share one fsync of the directory.
//!
//! A caller needs a directory fsync that *starts after* its rename. If one is already running it
//! waits for that one and then for the next, which one waiting caller runs for all the others.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};

#[derive(Default)]
struct Progress {
    started: u64,
    completed: u64,
    running: bool,
    /// The generation of the last failed fsync and its error.
    failed: Option<(u64, io::ErrorKind)>,
}

/// Shares directory fsyncs among threads.
pub struct DirSync {
    path: PathBuf,
    progress: Mutex<Progress>,
    done: Condvar,
}

impl DirSync {
    pub fn new(path: &Path) -> DirSync {
        DirSync {
            path: path.to_path_buf(),
            progress: Mutex::new(Progress::default()),
            done: Condvar::new(),
        }
    }

    /// Return once a directory fsync that started after this call has completed.
    pub fn sync(&self) -> io::Result<()> {
        let mut p = self
            .progress
            .lock()
            .map_err(|_| io::Error::other("directory sync lock poisoned"))?;
        let target = p.started + 1;
        loop {
            if p.completed >= target {
                return match p.failed {
                    Some((generation, kind)) if generation >= target => Err(io::Error::new(
                        kind,
                        format!("fsync of {} failed", self.path.display()),
                    )),
                    _ => Ok(()),
                };
            }
            if !p.running {
                p.running = true;
                p.started += 1;
                let generation = p.started;
                drop(p);
                let result = crate::store::durable::sync_dir(&self.path);
                p = self
                    .progress
                    .lock()
                    .map_err(|_| io::Error::other("directory sync lock poisoned"))?;
                p.running = false;
                p.completed = generation;
                if let Err(e) = &result {
                    p.failed = Some((generation, e.kind()));
                }
                self.done.notify_all();
                if generation >= target {
                    return result;
                }
                continue;
            }
            p = self
                .done
                .wait(p)
                .map_err(|_| io::Error::other("directory sync lock poisoned"))?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn many_threads_share_syncs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ds = Arc::new(DirSync::new(dir.path()));
        let handles: Vec<_> = (0..16)
            .map(|_| {
                let ds = ds.clone();
                std::thread::spawn(move || {
                    for _ in 0..20 {
                        ds.sync().expect("sync");
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().expect("thread");
        }
        let p = ds.progress.lock().expect("lock");
        assert!(p.completed >= 20 && p.completed <= 320, "{}", p.completed);
        assert!(!p.running);
    }

    #[test]
    fn missing_directory_is_an_error() {
        let ds = DirSync::new(Path::new("/nonexistent/postern-test"));
        assert!(ds.sync().is_err());
    }
}
