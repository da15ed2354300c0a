//! What one account has collected: `<spool>/collect/<account>.json` (the UIDLs already queued,
//! with their queue ids, the messages left on the server on purpose, and the time of the last
//! pass), a journal beside it that records each message durably as it is queued, and a lock so
//! that overlapping passes never fetch one message twice.
//!
//! Messages left on the server on purpose ([`Skipped`]: too big, unroutable, refused by the
//! content filter, malformed) are remembered so that each is logged once, not on every pass. A
//! message the filter refused for good is not fetched again (the filter would say the same), nor
//! is a malformed one (a UIDL names the same bytes for good); an unroutable one is fetched again
//! on each pass without a new log line, so that a user or catch-all added later gets it. Removing
//! the entry from `skipped` (or the state file) makes a pass try again.
//!
//! Per message the journal gets `intent UIDL ID` before the spool write and `queued UIDL ID`
//! after it, each fsynced. A pass that dies in between leaves an intent; the next one counts it
//! as queued when the id is still in the spool. The only window left: a crash after the spool
//! write and before `queued`, while another deliverer finishes that message in the same
//! milliseconds — then it is fetched again (at least once, never lost).

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Largest state or journal file read.
const MAX_STATE_FILE: u64 = 256 * 1024 * 1024;

/// One message already queued.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
pub struct Seen {
    /// Its queue id.
    pub id: String,
    /// When it was queued, seconds since the epoch.
    pub at: u64,
}

/// Why a message was left on the server.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum SkipReason {
    /// Larger than the account's limit (by LIST or by what RETR sent).
    TooBig,
    /// No recipient here and no catch-all.
    Unroutable,
    /// Rejected for good by the content filter: never fetched again.
    Refused,
    /// Not a message this server takes (a line longer than the client reads): never fetched again.
    Malformed,
    /// Delivered by this server before to every mailbox it would go to (its `Delivered-To`
    /// names them: collected from this server's own POP3): never fetched again.
    Duplicate,
}

/// A message left on the server on purpose (logged when first noted).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
pub struct Skipped {
    pub reason: SkipReason,
    /// When it was first noted, seconds since the epoch.
    pub at: u64,
}

/// The snapshot in `<account>.json`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct AccountState {
    /// End of the last pass that reached the server, seconds since the epoch.
    #[serde(default)]
    pub last_run: u64,
    /// UIDL → the message it was queued as.
    #[serde(default)]
    pub seen: BTreeMap<String, Seen>,
    /// UIDL → why it is left on the server (saved at the end of a pass).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub skipped: BTreeMap<String, Skipped>,
}

/// Why the state could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("collect state {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("collect state {path} is damaged: {reason}")]
    Damaged { path: PathBuf, reason: String },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StateError + '_ {
    move |source| StateError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The state of one account, locked for one pass.
pub struct StateStore {
    snapshot: PathBuf,
    journal_path: PathBuf,
    journal: File,
    _lock: File,
    pub state: AccountState,
}

/// The directory of the collect state under the spool.
pub fn dir(spool_root: &Path) -> PathBuf {
    spool_root.join("collect")
}

/// Read only the last-run time of an account (no lock), 0 if never run.
pub fn last_run(spool_root: &Path, account: &str) -> u64 {
    let path = dir(spool_root).join(format!("{account}.json"));
    read_limited(&path)
        .ok()
        .flatten()
        .and_then(|b| serde_json::from_slice::<AccountState>(&b).ok())
        .map(|s| s.last_run)
        .unwrap_or(0)
}

fn read_limited(path: &Path) -> io::Result<Option<Vec<u8>>> {
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut buf = Vec::new();
    f.take(MAX_STATE_FILE).read_to_end(&mut buf)?;
    Ok(Some(buf))
}

impl StateStore {
    /// Lock and load the state of `account` (a validated name). `Ok(None)` when another pass
    /// holds the lock. `in_spool` tells whether a queue id is still in the spool (to settle the
    /// intents of a pass that died).
    pub fn open(
        spool_root: &Path,
        account: &str,
        in_spool: impl Fn(&str) -> bool,
    ) -> Result<Option<StateStore>, StateError> {
        let dir = dir(spool_root);
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let lock_path = dir.join(format!("{account}.lock"));
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&lock_path)
            .map_err(io_err(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Ok(None),
            Err(fs::TryLockError::Error(e)) => return Err(io_err(&lock_path)(e)),
        }
        let snapshot = dir.join(format!("{account}.json"));
        let mut state = match read_limited(&snapshot).map_err(io_err(&snapshot))? {
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| StateError::Damaged {
                path: snapshot.clone(),
                reason: e.to_string(),
            })?,
            None => AccountState::default(),
        };
        let journal_path = dir.join(format!("{account}.journal"));
        if let Some(bytes) = read_limited(&journal_path).map_err(io_err(&journal_path))? {
            replay(&mut state, &bytes, in_spool);
        }
        let journal = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&journal_path)
            .map_err(io_err(&journal_path))?;
        let mut store = StateStore {
            snapshot,
            journal_path,
            journal,
            _lock: lock,
            state,
        };
        store.compact()?;
        Ok(Some(store))
    }

    fn append(&mut self, op: &str, uidl: &str, id: &str) -> Result<(), StateError> {
        let line = format!("{op} {uidl} {id}\n");
        self.journal
            .write_all(line.as_bytes())
            .and_then(|()| self.journal.sync_data())
            .map_err(io_err(&self.journal_path))
    }

    /// Before storing `uidl` as queue id `id`.
    pub fn intent(&mut self, uidl: &str, id: &str) -> Result<(), StateError> {
        self.append("intent", uidl, id)
    }

    /// After `uidl` is durably in the spool as `id`.
    pub fn queued(&mut self, uidl: &str, id: &str, now: u64) -> Result<(), StateError> {
        self.append("queued", uidl, id)?;
        self.state.skipped.remove(uidl);
        self.state.seen.insert(
            uidl.to_string(),
            Seen {
                id: id.to_string(),
                at: now,
            },
        );
        Ok(())
    }

    /// Forget UIDLs the server no longer lists.
    pub fn forget(&mut self, uidls: &[String]) {
        for u in uidls {
            self.state.seen.remove(u);
            self.state.skipped.remove(u);
        }
    }

    /// Note that `uidl` is left on the server for `reason`; whether that is news (to be logged).
    pub fn skip(&mut self, uidl: &str, reason: SkipReason, now: u64) -> bool {
        let news = self.state.skipped.get(uidl).map(|s| s.reason) != Some(reason);
        if news {
            self.state
                .skipped
                .insert(uidl.to_string(), Skipped { reason, at: now });
        }
        news
    }

    /// Write the snapshot atomically, then empty the journal.
    pub fn compact(&mut self) -> Result<(), StateError> {
        let bytes = serde_json::to_vec_pretty(&self.state).map_err(|e| StateError::Damaged {
            path: self.snapshot.clone(),
            reason: e.to_string(),
        })?;
        crate::store::durable::replace(&self.snapshot, &bytes, 0o600)
            .map_err(io_err(&self.snapshot))?;
        self.journal
            .set_len(0)
            .and_then(|()| self.journal.sync_data())
            .map_err(io_err(&self.journal_path))
    }

    /// End a pass that reached the server (the lock goes when the store is dropped).
    pub fn finish(&mut self, now: u64) -> Result<(), StateError> {
        self.state.last_run = now;
        self.compact()
    }
}

/// Apply journal lines to the snapshot; a torn last line (crash mid-write) is ignored.
fn replay(state: &mut AccountState, bytes: &[u8], in_spool: impl Fn(&str) -> bool) {
    let mut intents: BTreeMap<String, String> = BTreeMap::new();
    for line in bytes.split(|&b| b == b'\n') {
        let text = String::from_utf8_lossy(line);
        let mut words = text.split(' ');
        let (Some(op), Some(uidl), Some(id), None) =
            (words.next(), words.next(), words.next(), words.next())
        else {
            continue;
        };
        match op {
            "intent" => {
                intents.insert(uidl.to_string(), id.to_string());
            }
            "queued" => {
                intents.remove(uidl);
                state.seen.insert(
                    uidl.to_string(),
                    Seen {
                        id: id.to_string(),
                        at: crate::queue::spool::now(),
                    },
                );
            }
            _ => {}
        }
    }
    for (uidl, id) in intents {
        if in_spool(&id) {
            state.seen.insert(
                uidl,
                Seen {
                    id,
                    at: crate::queue::spool::now(),
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_survives_a_crash_and_the_lock_excludes() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut s = StateStore::open(dir.path(), "isp", |_| false)
            .expect("open")
            .expect("lock");
        assert!(StateStore::open(dir.path(), "isp", |_| false)
            .expect("open")
            .is_none());
        s.intent("u1", "ID1").expect("intent");
        s.queued("u1", "ID1", 5).expect("queued");
        s.intent("u2", "ID2").expect("intent");
        s.intent("u3", "ID3").expect("intent");
        // A crash: no finish, a torn line.
        s.journal.write_all(b"queued u4").expect("torn");
        drop(s);
        let mut s = StateStore::open(dir.path(), "isp", |id| id == "ID2")
            .expect("open")
            .expect("lock");
        let seen: Vec<_> = s.state.seen.keys().cloned().collect();
        assert_eq!(seen, ["u1", "u2"]);
        assert_eq!(fs::metadata(&s.journal_path).expect("meta").len(), 0);
        s.finish(42).expect("finish");
        assert_eq!(last_run(dir.path(), "isp"), 42);
    }

    #[test]
    fn skipped_messages_are_news_once_and_forgotten_with_the_server_copy() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut s = StateStore::open(dir.path(), "isp", |_| false)
            .expect("open")
            .expect("lock");
        assert!(s.skip("big", SkipReason::TooBig, 1));
        assert!(s.skip("nobody", SkipReason::Unroutable, 1));
        assert!(s.skip("virus", SkipReason::Refused, 1));
        assert!(s.skip("long-line", SkipReason::Malformed, 1));
        assert!(!s.skip("big", SkipReason::TooBig, 2));
        s.finish(3).expect("finish");
        drop(s); // the pass ends: its lock goes
        let mut s = StateStore::open(dir.path(), "isp", |_| false)
            .expect("open")
            .expect("lock");
        assert!(
            !s.skip("big", SkipReason::TooBig, 4),
            "remembered across passes"
        );
        assert!(!s.skip("nobody", SkipReason::Unroutable, 4));
        assert!(!s.skip("long-line", SkipReason::Malformed, 4));
        let json = fs::read_to_string(dir.path().join("collect/isp.json")).expect("state");
        assert!(json.contains("\"reason\": \"malformed\""), "{json}");
        // Unroutable, then routable (a user was added): queued, no longer skipped.
        s.queued("nobody", "ID1", 5).expect("queued");
        s.forget(&["virus".to_string(), "long-line".to_string()]);
        let left: Vec<_> = s.state.skipped.keys().cloned().collect();
        assert_eq!(left, ["big"]);
        // An old state file without `skipped` still loads.
        let old: AccountState =
            serde_json::from_str(r#"{"last_run": 7, "seen": {}}"#).expect("old state");
        assert!(old.skipped.is_empty());
    }
}
