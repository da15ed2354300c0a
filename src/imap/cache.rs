//! The per-mailbox IMAP cache beside the maildir (`postern-imap-cache`): the rendered
//! ENVELOPE and BODYSTRUCTURE of each message, keyed by the message's base name (its
//! identity on disk, stable across flag renames). Sizes and internal dates already live in
//! the mailbox state (`maildir::state`), so with this file a `FETCH 1:* (FLAGS UID
//! RFC822.SIZE ENVELOPE)` reads no message at all after the first visit.
//!
//! The file is only a cache: it is loaded on first need, entries for messages that are no
//! longer in the mailbox are dropped when it is saved, a damaged or foreign file is ignored,
//! and it is replaced atomically (write a temporary file of its own, rename), so concurrent
//! sessions — in one process or several — can only lose each other's additions, never
//! produce wrong answers.

use std::collections::HashMap;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The cache file's name inside a maildir.
pub const CACHE_FILE: &str = "postern-imap-cache";
const MAGIC: &[u8] = b"postern-imap-cache 1\n";
/// A cache file larger than this is ignored (and rebuilt).
const MAX_FILE: u64 = 2 * 1024 * 1024 * 1024;
/// Longest cached item (an ENVELOPE or BODYSTRUCTURE); larger ones are not cached.
const MAX_ITEM: usize = 1024 * 1024;

/// The cached renderings of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The ENVELOPE, as sent after `ENVELOPE `.
    pub envelope: Vec<u8>,
    /// The BODYSTRUCTURE, as sent after `BODYSTRUCTURE `.
    pub body_structure: Vec<u8>,
}

/// The cache of one mailbox (see the module docs).
#[derive(Debug)]
pub struct Cache {
    path: PathBuf,
    loaded: bool,
    entries: HashMap<String, Entry>,
    dirty: bool,
}

impl Cache {
    /// The cache of the maildir at `maildir` (nothing is read until needed).
    pub fn new(maildir: &Path) -> Cache {
        Cache {
            path: maildir.join(CACHE_FILE),
            loaded: false,
            entries: HashMap::new(),
            dirty: false,
        }
    }

    /// Reads the file if that has not happened yet (a missing or damaged file is empty).
    pub fn load(&mut self) {
        if self.loaded {
            return;
        }
        self.loaded = true;
        let Ok(meta) = fs::metadata(&self.path) else {
            return;
        };
        if meta.len() > MAX_FILE {
            return;
        }
        if let Ok(bytes) = fs::read(&self.path) {
            self.entries = parse(&bytes);
        }
    }

    /// The entry of a message, by base name (after [`Cache::load`]).
    pub fn get(&self, base: &str) -> Option<&Entry> {
        self.entries.get(base)
    }

    /// Adds an entry (kept in memory until [`Cache::save`]).
    pub fn insert(&mut self, base: &str, entry: Entry) {
        if entry.envelope.len() > MAX_ITEM || entry.body_structure.len() > MAX_ITEM {
            return;
        }
        self.entries.insert(base.to_string(), entry);
        self.dirty = true;
    }

    /// Number of entries held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Writes the cache if it gained entries, keeping only messages for which `present`
    /// holds (the ones still in the mailbox).
    pub fn save(&mut self, present: impl Fn(&str) -> bool) -> std::io::Result<()> {
        if !self.dirty {
            return Ok(());
        }
        self.entries.retain(|base, _| present(base));
        let mut out = Vec::with_capacity(self.entries.len() * 512 + MAGIC.len());
        out.extend_from_slice(MAGIC);
        for (base, e) in &self.entries {
            out.extend_from_slice(
                format!("{base} {} {}\n", e.envelope.len(), e.body_structure.len()).as_bytes(),
            );
            out.extend_from_slice(&e.envelope);
            out.extend_from_slice(&e.body_structure);
            out.push(b'\n');
        }
        let tmp = self.path.with_file_name(temp_name());
        let written = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .and_then(|mut f| f.write_all(&out))
            .and_then(|()| fs::rename(&tmp, &self.path));
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        written?;
        self.dirty = false;
        Ok(())
    }
}

/// A temporary file name no other save uses, in this process (all of `serve`'s sessions share
/// its pid: a counter tells them apart) or in another (pid, and a random part for pids reused
/// after a crash left a file behind).
fn temp_name() -> String {
    static SAVES: AtomicU64 = AtomicU64::new(0);
    let n = SAVES.fetch_add(1, Ordering::Relaxed);
    let mut random = [0u8; 8];
    // Without randomness the pid and counter still keep this process's saves apart.
    let _ = getrandom::fill(&mut random);
    format!(
        "{CACHE_FILE}.{}.{n}.{:016x}.tmp",
        std::process::id(),
        u64::from_le_bytes(random)
    )
}

/// Parses a cache file; stops at the first malformed record, keeping what came before.
fn parse(bytes: &[u8]) -> HashMap<String, Entry> {
    let mut map = HashMap::new();
    let Some(mut rest) = bytes.strip_prefix(MAGIC) else {
        return map;
    };
    while !rest.is_empty() {
        let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
            break;
        };
        let Ok(head) = std::str::from_utf8(&rest[..nl]) else {
            break;
        };
        let mut parts = head.split(' ');
        let (Some(base), Some(a), Some(b), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            break;
        };
        let (Ok(a), Ok(b)) = (a.parse::<usize>(), b.parse::<usize>()) else {
            break;
        };
        let body = &rest[nl + 1..];
        let Some(total) = a.checked_add(b) else { break };
        if body.len() < total + 1 || body[total] != b'\n' {
            break;
        }
        map.insert(
            base.to_string(),
            Entry {
                envelope: body[..a].to_vec(),
                body_structure: body[a..total].to_vec(),
            },
        );
        rest = &body[total + 1..];
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_prunes_and_survives_damage() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Cache::new(dir.path());
        c.load();
        assert!(c.is_empty());
        let e = |s: &str| Entry {
            envelope: format!("(\"{s}\" NIL)").into_bytes(),
            body_structure: b"(\"TEXT\" \"PLAIN\")\n odd".to_vec(),
        };
        c.insert("1.a.host", e("one"));
        c.insert("2.b.host", e("two"));
        c.save(|b| b != "2.b.host").unwrap();

        let mut d = Cache::new(dir.path());
        d.load();
        assert_eq!(d.len(), 1);
        assert_eq!(d.get("1.a.host"), Some(&e("one")));
        assert_eq!(d.get("2.b.host"), None);

        // A truncated file keeps the complete records before the damage.
        let path = dir.path().join(CACHE_FILE);
        let mut bytes = fs::read(&path).unwrap();
        bytes.extend_from_slice(b"3.c.host 99 99\nshort");
        fs::write(&path, &bytes).unwrap();
        let mut f = Cache::new(dir.path());
        f.load();
        assert_eq!(f.len(), 1);

        // A foreign file is ignored.
        fs::write(&path, b"garbage\n").unwrap();
        let mut g = Cache::new(dir.path());
        g.load();
        assert!(g.is_empty());
    }

    #[test]
    fn concurrent_saves_of_one_mailbox_never_collide() {
        let dir = tempfile::tempdir().unwrap();
        let entry = |i: usize| Entry {
            envelope: format!("(\"{i}\")").into_bytes(),
            body_structure: vec![b'x'; 64 * 1024],
        };
        // Sessions of one process (same pid) saving the same mailbox at the same time.
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let path = dir.path().to_path_buf();
                std::thread::spawn(move || {
                    for round in 0..20 {
                        let mut c = Cache::new(&path);
                        for i in 0..16 {
                            c.insert(&format!("{t}.{round}.{i}.host"), entry(i));
                        }
                        c.save(|_| true).expect("save");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        // The file is one whole save, and no temporary file is left behind.
        let mut c = Cache::new(dir.path());
        c.load();
        assert_eq!(c.len(), 16);
        let names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec![CACHE_FILE.to_string()]);
    }
}
