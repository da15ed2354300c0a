//! Rate counters shared by every process on the host: how many connections, messages and
//! recipients a client address, an authenticated user or a sender domain had in the current
//! minute — in `<spool>/rates/`, one small file per key (named by a hash of it), each changed
//! under an exclusive `flock`, so smtpd under inetd, `serve` and every listener count together.
//!
//! A window is a calendar minute; a file from an earlier minute starts from zero. Counting
//! happens before the verdict, so a client hammering at a limit stays over it. Files of past
//! minutes are removed by [`Rates::sweep`] (the queue runners, when they clean the spool).

use std::fs::{self, File};
use std::io::{self, Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

/// The directory under the spool.
pub const DIR: &str = "rates";
/// The window, in seconds.
pub const WINDOW: u64 = 60;
/// Longest counter file read.
const MAX_FILE: u64 = 64;

pub use crate::proto::smtp::lookups::{Rate as Counter, RateOver as Over};

/// The rate counters of a spool.
pub struct Rates {
    dir: PathBuf,
}

impl Rates {
    pub fn new(spool_root: &Path) -> Rates {
        Rates {
            dir: spool_root.join(DIR),
        }
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(super::keyfile::name(key))
    }

    /// Count one more for each counter at `now`; the first one over its limit, if any
    /// (blocking: file work).
    pub fn hit(&self, counters: &[Counter], now: u64) -> io::Result<Option<Over>> {
        let mut over = None;
        for c in counters.iter().filter(|c| c.limit > 0) {
            let count = self.bump(&c.key, now)?;
            if count > c.limit && over.is_none() {
                over = Some(Over {
                    key: c.key.clone(),
                    limit: c.limit,
                    count,
                    retry: WINDOW - now % WINDOW,
                });
            }
        }
        Ok(over)
    }

    /// Add one to `key`'s count in the window of `now`; the new count.
    fn bump(&self, key: &str, now: u64) -> io::Result<u32> {
        fs::create_dir_all(&self.dir)?;
        let path = self.path(key);
        let mut file = super::keyfile::open(&path)?;
        file.lock()?;
        let window = now - now % WINDOW;
        let count = match read(&mut file)? {
            Some((w, n)) if w == window => n.saturating_add(1),
            _ => 1,
        };
        file.set_len(0)?;
        file.seek(SeekFrom::Start(0))?;
        file.write_all(format!("{window} {count}\n").as_bytes())?;
        // The lock goes with the file.
        Ok(count)
    }

    /// Remove the counters of windows before `now`'s; how many.
    pub fn sweep(&self, now: u64) -> usize {
        let window = now - now % WINDOW;
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return 0;
        };
        let mut removed = 0;
        for e in entries.flatten() {
            let Ok(mut f) = File::open(e.path()) else {
                continue;
            };
            let old = read(&mut f).ok().flatten().is_none_or(|(w, _)| w < window);
            if old && fs::remove_file(e.path()).is_ok() {
                removed += 1;
            }
        }
        removed
    }
}

/// The (window, count) in a counter file; none when empty or damaged.
fn read(file: &mut File) -> io::Result<Option<(u64, u32)>> {
    let mut text = String::new();
    if file.take(MAX_FILE).read_to_string(&mut text).is_err() {
        return Ok(None);
    }
    let mut it = text.split_ascii_whitespace();
    let window = it.next().and_then(|w| w.parse().ok());
    let count = it.next().and_then(|n| n.parse().ok());
    Ok(window.zip(count))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic
    use super::*;

    fn counter(key: &str, limit: u32) -> Counter {
        Counter {
            key: key.into(),
            limit,
        }
    }

    #[test]
    fn counts_per_minute_across_instances_and_sweeps() {
        let dir = tempfile::tempdir().unwrap();
        let a = Rates::new(dir.path());
        let b = Rates::new(dir.path()); // another process
        let t = 6_000_000; // a window start
        let cs = [counter("msg-ip 192.0.2.1", 2), counter("msg-user bob", 0)];
        assert_eq!(a.hit(&cs, t).unwrap(), None);
        assert_eq!(b.hit(&cs, t + 10).unwrap(), None);
        let over = a.hit(&cs, t + 20).unwrap().expect("third is over");
        assert_eq!((over.count, over.limit, over.retry), (3, 2, 40));
        // Still over while hammering; a new minute starts from zero.
        assert!(b.hit(&cs, t + 59).unwrap().is_some());
        assert_eq!(a.hit(&cs, t + 60).unwrap(), None);
        // A limit of 0 counts nothing: only the one file.
        assert_eq!(fs::read_dir(dir.path().join(DIR)).unwrap().count(), 1);
        assert_eq!(a.sweep(t + 61), 0);
        assert_eq!(a.sweep(t + 120), 1);
    }

    #[test]
    fn concurrent_hits_are_all_counted() {
        let dir = tempfile::tempdir().unwrap();
        let t = 6_000_000;
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    let r = Rates::new(dir.path());
                    for _ in 0..50 {
                        r.hit(&[counter("k", 1000)], t).unwrap();
                    }
                });
            }
        });
        let over = Rates::new(dir.path())
            .hit(&[counter("k", 200)], t)
            .unwrap()
            .expect("201st");
        assert_eq!(over.count, 201);
    }
}
