//! The per-mailbox IMAP cache beside the maildir (`postern-imap-cache`): the rendered
//! ENVELOPE and BODYSTRUCTURE of each message, keyed by the message's base name (its
//! identity on disk, stable across flag renames). Sizes and internal dates already live in
//! the mailbox state (`maildir::state`), so with this file a `FETCH 1:* (FLAGS UID
//! RFC822.SIZE ENVELOPE)` reads no message at all after the first visit.
//!
//! The file is only a cache: it is loaded on first need, entries for messages that are no
//! longer in the mailbox are dropped when it is saved, a damaged or foreign file is ignored,
//! and it is replaced atomically (write a temporary file, rename), so concurrent sessions
//! can only lose each other's additions, never produce wrong answers.

use std::collections::HashMap;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

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
        let tmp = self
            .path
            .with_file_name(format!("{CACHE_FILE}.{}.tmp", std::process::id()));
        let mut f = fs::File::create(&tmp)?;
        f.write_all(&out)?;
        drop(f);
        fs::rename(&tmp, &self.path)?;
        self.dirty = false;
        Ok(())
    }
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
}
