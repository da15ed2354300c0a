//! The failed-login ledger's counts shared by every process on the host: one small file per
//! key in `<spool>/logins/` (named by a hash of the key), each changed under an exclusive
//! `flock`, so a client guessing passwords through smtpd under inetd, `serve` and every
//! listener meets one budget. The rules are [`crate::proto::sasl::Ledger`]'s; this is only
//! where its counts live.
//!
//! Known (user, address) pairs are empty files whose modification time is the last login;
//! [`LoginFiles::sweep`] (the queue runners, when they clean the spool) removes counts that say
//! nothing any more and pairs not seen for [`KNOWN_FOR`].

use std::fs::{self, File};
use std::io::{self, Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::proto::sasl::{Count, LedgerPolicy, Millis, Table};

/// The directory under the spool.
pub const DIR: &str = "logins";
/// How long a (user, address) pair stays known without a login.
pub const KNOWN_FOR: Duration = Duration::from_secs(90 * 24 * 3600);
/// Longest count file read.
const MAX_FILE: u64 = 128;

/// The ledger's table in a spool. File errors leave the ledger as if the key had no count: a
/// broken spool must not lock everybody out (the per-connection limits still apply).
pub struct LoginFiles {
    dir: PathBuf,
}

impl LoginFiles {
    pub fn new(spool_root: &Path) -> LoginFiles {
        LoginFiles {
            dir: spool_root.join(DIR),
        }
    }

    /// A count's file (`c…`) or a known pair's (`k…`).
    fn path(&self, kind: char, key: &str) -> PathBuf {
        self.dir
            .join(format!("{kind}{}", super::keyfile::name(key)))
    }

    fn try_update(
        &self,
        key: &str,
        fresh: Count,
        change: &mut dyn FnMut(&mut Count),
    ) -> io::Result<()> {
        fs::create_dir_all(&self.dir)?;
        let mut file = super::keyfile::open(&self.path('c', key))?;
        file.lock()?;
        let mut count = read(&mut file).unwrap_or(fresh);
        change(&mut count);
        file.set_len(0)?;
        file.seek(SeekFrom::Start(0))?;
        file.write_all(count.line().as_bytes())
        // The lock goes with the file.
    }

    /// Removes counts that say nothing at `now` and pairs not seen for [`KNOWN_FOR`]; how many.
    pub fn sweep(&self, now: Millis, policy: &LedgerPolicy) -> usize {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return 0;
        };
        let stale = SystemTime::now().checked_sub(KNOWN_FOR);
        let mut removed = 0;
        for e in entries.flatten() {
            let name = e.file_name();
            let old = match name.to_string_lossy().chars().next() {
                Some('c') => File::open(e.path())
                    .ok()
                    .and_then(|mut f| read(&mut f))
                    .is_none_or(|c| c.expired(now, policy)),
                Some('k') => e
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .zip(stale)
                    .is_some_and(|(seen, stale)| seen < stale),
                _ => false,
            };
            if old && fs::remove_file(e.path()).is_ok() {
                removed += 1;
            }
        }
        removed
    }
}

impl Table for LoginFiles {
    fn get(&mut self, key: &str) -> Option<Count> {
        let mut file = File::open(self.path('c', key)).ok()?;
        file.lock_shared().ok()?;
        read(&mut file)
    }

    fn update(&mut self, key: &str, fresh: Count, change: &mut dyn FnMut(&mut Count)) {
        // Best effort: see the type's comment.
        let _ = self.try_update(key, fresh, change);
    }

    fn known(&mut self, key: &str) -> bool {
        self.path('k', key).exists()
    }

    fn remember(&mut self, key: &str, _now: Millis) {
        let _ = fs::create_dir_all(&self.dir);
        let _ = super::keyfile::open(&self.path('k', key))
            .and_then(|f| f.set_modified(SystemTime::now()));
    }
}

/// The count in a file; none when empty or damaged.
fn read(file: &mut File) -> Option<Count> {
    let mut text = String::new();
    file.take(MAX_FILE).read_to_string(&mut text).ok()?;
    Count::parse(&text)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic
    use super::*;
    use crate::proto::sasl::{Ledger, Lockout};

    fn policy() -> LedgerPolicy {
        LedgerPolicy {
            address_limit: 3,
            user_limit: 4,
            window: Duration::from_secs(60),
            lockout: Duration::from_secs(10),
            max_lockout: Duration::from_secs(40),
        }
    }

    #[test]
    fn processes_count_together_and_sweeping_forgets_what_expired() {
        let dir = tempfile::tempdir().unwrap();
        let ip = "192.0.2.9".parse().ok();
        let t0: Millis = 5_000_000;
        // Three "processes", one guess each.
        for i in 0..3 {
            let mut l = Ledger::new(policy(), LoginFiles::new(dir.path()));
            assert_eq!(l.lockout(ip, Some("bob"), t0 + i), None);
            l.failure(ip, Some("bob"), t0 + i);
        }
        let mut fresh = Ledger::new(policy(), LoginFiles::new(dir.path()));
        assert_eq!(fresh.lockout(ip, None, t0 + 5), Some(Lockout::Address));
        assert_eq!(fresh.lockout(ip, None, t0 + 10_003), None);
        // Nothing expires while the lockout history still counts.
        let files = LoginFiles::new(dir.path());
        assert_eq!(files.sweep(t0 + 20_000, &policy()), 0);
        assert_eq!(files.sweep(t0 + 200_000, &policy()), 2);
    }

    #[test]
    fn a_known_pair_outlives_the_process_that_logged_in() {
        let dir = tempfile::tempdir().unwrap();
        let home = "198.51.100.4".parse().ok();
        let t0: Millis = 5_000_000;
        Ledger::new(policy(), LoginFiles::new(dir.path())).success(home, "carol", t0);
        let mut l = Ledger::new(policy(), LoginFiles::new(dir.path()));
        for i in 1..=4u8 {
            l.failure(
                Some(std::net::IpAddr::from([203, 0, 113, i])),
                Some("carol"),
                t0,
            );
        }
        let elsewhere = "203.0.113.50".parse().ok();
        assert_eq!(l.lockout(elsewhere, Some("carol"), t0), Some(Lockout::User));
        assert_eq!(l.lockout(home, Some("carol"), t0), None);
    }

    #[test]
    fn a_damaged_count_file_is_a_fresh_count() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = Ledger::new(policy(), LoginFiles::new(dir.path()));
        let ip = "192.0.2.1".parse().ok();
        l.failure(ip, None, 1000);
        for e in fs::read_dir(dir.path().join(DIR)).unwrap() {
            fs::write(e.unwrap().path(), "garbage").unwrap();
        }
        assert_eq!(l.lockout(ip, None, 1000), None);
        for _ in 0..3 {
            l.failure(ip, None, 2000);
        }
        assert_eq!(l.lockout(ip, None, 2000), Some(Lockout::Address));
    }
}
