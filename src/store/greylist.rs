//! Greylisting state (the triplet store): which (client network, sender, recipient) triplets
//! were seen, when, and whether they came back — in `<spool>/greylist/`, one small file per
//! triplet, so that every process on the host (each smtpd under inetd, `serve`) shares it and a
//! restart keeps it.
//!
//! The decision is [`decide`], a pure function of an entry and the time; [`Greylist::check`]
//! reads the entry, decides and writes the new one (atomically, by rename; not fsynced: a crash
//! that loses an entry only greylists a triplet once more). Two processes meeting a new triplet
//! at once both defer it; the later write wins, which is the same entry give or take a second.
//! Entries not used within their lifetime are removed by [`Greylist::sweep`], which the queue
//! runners call when they clean the spool.

use std::fs;
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// The directory under the spool.
pub const DIR: &str = "greylist";
/// Longest entry file read.
const MAX_ENTRY: u64 = 128;
/// A known triplet's last-seen time is written again only after this long (not on every mail).
const TOUCH_AFTER: u64 = 3600;

/// How long a triplet waits, and how long it is remembered (seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Times {
    /// A new triplet is deferred until this long after it was first seen.
    pub delay: u64,
    /// ...and must come back within this long after the delay, or it counts as new again.
    pub window: u64,
    /// A triplet that passed is remembered this long after it was last seen.
    pub expire: u64,
}

/// One triplet's state (times in seconds since the epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub first: u64,
    /// When it came back after the delay.
    pub passed: Option<u64>,
    pub seen: u64,
}

/// What greylisting says of a triplet now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// First seen now: deferred for `delay`.
    New { wait: u64 },
    /// Seen before, but the delay is not over.
    TooSoon { wait: u64 },
    /// Came back after the delay: passes from now on.
    Passed,
    /// Passed before.
    Known,
}

impl Verdict {
    /// Whether the mail is deferred.
    pub fn defers(self) -> bool {
        matches!(self, Verdict::New { .. } | Verdict::TooSoon { .. })
    }
}

/// The verdict on `entry` at `now`, and the entry to write (none: leave it).
pub fn decide(entry: Option<Entry>, now: u64, t: Times) -> (Verdict, Option<Entry>) {
    let fresh = |e: &Entry| match e.passed {
        Some(_) => now.saturating_sub(e.seen) <= t.expire,
        None => now.saturating_sub(e.first) <= t.delay.saturating_add(t.window),
    };
    let Some(e) = entry.filter(fresh) else {
        let new = Entry {
            first: now,
            passed: None,
            seen: now,
        };
        return (Verdict::New { wait: t.delay }, Some(new));
    };
    if e.passed.is_some() {
        let touch = (now.saturating_sub(e.seen) >= TOUCH_AFTER).then_some(Entry { seen: now, ..e });
        return (Verdict::Known, touch);
    }
    // A clock that went back counts from now.
    let waited = now.saturating_sub(e.first);
    if waited < t.delay || now < e.first {
        return (
            Verdict::TooSoon {
                wait: t.delay.saturating_sub(waited).max(1),
            },
            None,
        );
    }
    let passed = Entry {
        passed: Some(now),
        seen: now,
        ..e
    };
    (Verdict::Passed, Some(passed))
}

/// The client network of a triplet: the /24 of an IPv4 address, the /64 of an IPv6 one (a
/// sender retrying from another address of its pool is the same sender).
pub fn network(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        IpAddr::V6(v6) => {
            let [a, b, c, d, ..] = v6.segments();
            format!("{a:x}:{b:x}:{c:x}:{d:x}::/64")
        }
    }
}

/// The greylist of a spool.
pub struct Greylist {
    dir: PathBuf,
}

impl Greylist {
    pub fn new(spool_root: &Path) -> Greylist {
        Greylist {
            dir: spool_root.join(DIR),
        }
    }

    /// The file of a triplet: a hash of it, so no client-chosen text names a file.
    fn path(&self, ip: IpAddr, sender: &str, recipient: &str) -> PathBuf {
        let key = format!(
            "{}\0{}\0{}",
            network(ip),
            sender.to_ascii_lowercase(),
            recipient.to_ascii_lowercase()
        );
        let hex = super::keyfile::name(&key);
        let (fan, rest) = hex.split_at(2);
        self.dir.join(fan).join(rest)
    }

    /// Decide on the triplet at `now` and record it (blocking: file work).
    pub fn check(
        &self,
        ip: IpAddr,
        sender: &str,
        recipient: &str,
        now: u64,
        t: Times,
    ) -> io::Result<Verdict> {
        let path = self.path(ip, sender, recipient);
        let entry = read(&path)?;
        let (verdict, write) = decide(entry, now, t);
        if let Some(e) = write {
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent)?;
            }
            let text = format!(
                "{} {} {}\n",
                e.first,
                e.passed.map_or("-".to_string(), |p| p.to_string()),
                e.seen
            );
            crate::store::durable::replace_cached(&path, text.as_bytes(), 0o600)?;
        }
        Ok(verdict)
    }

    /// Remove entries nobody will ask about again (older than the longest lifetime); how many.
    pub fn sweep(&self, now: u64, t: Times) -> usize {
        let life = t.expire.max(t.delay.saturating_add(t.window));
        let Ok(fans) = fs::read_dir(&self.dir) else {
            return 0;
        };
        let mut removed = 0;
        for fan in fans.flatten() {
            let Ok(files) = fs::read_dir(fan.path()) else {
                continue;
            };
            for f in files.flatten() {
                let stale = read(&f.path())
                    .ok()
                    .flatten()
                    .is_none_or(|e| now.saturating_sub(e.seen.max(e.first)) > life);
                if stale && fs::remove_file(f.path()).is_ok() {
                    removed += 1;
                }
            }
        }
        removed
    }
}

/// The entry in `path`; a missing or unreadable one is none (a new triplet).
fn read(path: &Path) -> io::Result<Option<Entry>> {
    use std::io::Read as _;
    let file = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut text = String::new();
    if file.take(MAX_ENTRY).read_to_string(&mut text).is_err() {
        return Ok(None);
    }
    let mut it = text.split_ascii_whitespace();
    let mut num = || it.next().map(|s| s.parse::<u64>().ok());
    let (Some(Some(first)), Some(passed), Some(Some(seen))) = (num(), num(), num()) else {
        return Ok(None);
    };
    Ok(Some(Entry {
        first,
        passed,
        seen,
    }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic
    use super::*;

    const T: Times = Times {
        delay: 300,
        window: 86_400,
        expire: 35 * 86_400,
    };

    #[test]
    fn a_triplet_waits_the_delay_then_passes_and_is_remembered() {
        // (seconds after first contact, verdict)
        let mut entry = None;
        let table = [
            (0, Verdict::New { wait: 300 }),
            (10, Verdict::TooSoon { wait: 290 }),
            (299, Verdict::TooSoon { wait: 1 }),
            (300, Verdict::Passed),
            (301, Verdict::Known),
            (300 + 30 * 86_400, Verdict::Known),
        ];
        for (at, want) in table {
            let (v, write) = decide(entry, 1_000_000 + at, T);
            assert_eq!(v, want, "at +{at}");
            if write.is_some() {
                entry = write;
            }
        }
    }

    #[test]
    fn expiry_and_clock_steps() {
        let start = 1_000_000;
        let (_, e) = decide(None, start, T);
        // Never came back within delay + window: new again.
        let late = start + 300 + 86_400 + 1;
        assert_eq!(decide(e, late, T).0, Verdict::New { wait: 300 });
        // A clock that went back: still too soon, never passed early.
        assert!(matches!(
            decide(e, start - 1000, T).0,
            Verdict::TooSoon { .. }
        ));
        // A known triplet unused for longer than `expire` is new again.
        let (_, passed) = decide(e, start + 300, T);
        let gone = start + 300 + T.expire + 1;
        assert_eq!(decide(passed, gone, T).0, Verdict::New { wait: 300 });
        // ...and one in use is touched at most hourly.
        assert_eq!(decide(passed, start + 400, T).1, None);
        assert!(decide(passed, start + 300 + 3600, T).1.is_some());
    }

    #[test]
    fn networks_are_slash_24_and_slash_64() {
        assert_eq!(network("192.0.2.77".parse().unwrap()), "192.0.2.0/24");
        assert_eq!(
            network("2001:db8:1:2:3:4:5:6".parse().unwrap()),
            "2001:db8:1:2::/64"
        );
    }

    #[test]
    fn the_store_is_shared_through_files_and_swept() {
        let dir = tempfile::tempdir().unwrap();
        let g = Greylist::new(dir.path());
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let other: IpAddr = "192.0.2.200".parse().unwrap(); // same /24
        let now = 2_000_000;
        assert!(g
            .check(ip, "a@x.test", "b@y.test", now, T)
            .unwrap()
            .defers());
        // Another instance (another process) sees the same entry; case does not matter.
        let g2 = Greylist::new(dir.path());
        let v = g2
            .check(other, "A@X.test", "b@Y.TEST", now + 301, T)
            .unwrap();
        assert_eq!(v, Verdict::Passed);
        assert_eq!(
            g.check(ip, "a@x.test", "b@y.test", now + 302, T).unwrap(),
            Verdict::Known
        );
        // A different recipient is a different triplet.
        assert!(g
            .check(ip, "a@x.test", "c@y.test", now + 303, T)
            .unwrap()
            .defers());
        // Nothing is swept while in use; all is once every lifetime is over.
        assert_eq!(g.sweep(now + 400, T), 0);
        assert_eq!(g.sweep(now + 303 + T.expire + 1, T), 2);
        // A damaged entry is a new triplet.
        let path = g.path(ip, "a@x.test", "d@y.test");
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, "garbage").unwrap();
        assert!(g
            .check(ip, "a@x.test", "d@y.test", now, T)
            .unwrap()
            .defers());
    }
}
