//! The per-mailbox rendering cache beside the maildir (`postern-imap-cache`): two renderings
//! a reader made of each message (for IMAP, its ENVELOPE and BODYSTRUCTURE), keyed by the
//! message's base name (its identity on disk, stable across flag renames). Sizes and internal
//! dates already live in the mailbox state ([`super::state`]), so with this file a `FETCH 1:*
//! (FLAGS UID RFC822.SIZE ENVELOPE)` reads no message at all after the first visit.
//!
//! The file is only a cache: it is loaded on first need, entries for messages that are no
//! longer in the mailbox are dropped when it is saved, a damaged or foreign file is ignored,
//! and it is replaced atomically ([`crate::store::durable::replace_cached`]: a temporary file of its
//! own, renamed), so concurrent sessions — in one process or several — can only lose each
//! other's additions, never produce wrong answers.

use std::collections::HashMap;
use std::fs;

/// The cache file's name inside a maildir.
pub const CACHE_FILE: &str = "postern-imap-cache";
const MAGIC: &[u8] = b"postern-imap-cache 1\n";
/// A cache file larger than this is ignored (and rebuilt).
const MAX_FILE: u64 = 2 * 1024 * 1024 * 1024;
/// Longest cached item (an ENVELOPE or BODYSTRUCTURE); larger ones are not cached.
const MAX_ITEM: usize = 1024 * 1024;

use super::layout::Maildir;

/// The cached renderings of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The ENVELOPE, as sent after `ENVELOPE `.
    pub envelope: Vec<u8>,
    /// The BODYSTRUCTURE, as sent after `BODYSTRUCTURE `.
    pub body_structure: Vec<u8>,
}

/// The cache of one mailbox (see the module docs), held in memory by its reader.
#[derive(Debug, Default)]
pub struct Cache {
    loaded: bool,
    entries: HashMap<String, Entry>,
    dirty: bool,
}

impl Cache {
    /// An empty cache (nothing is read until [`Cache::load`]).
    pub fn new() -> Cache {
        Cache::default()
    }

    /// Reads the file of `maildir` if that has not happened yet (a missing or damaged file is
    /// empty).
    pub fn load(&mut self, maildir: &Maildir) {
        if self.loaded {
            return;
        }
        self.loaded = true;
        let path = maildir.path().join(CACHE_FILE);
        let Ok(meta) = fs::metadata(&path) else {
            return;
        };
        if meta.len() > MAX_FILE {
            return;
        }
        if let Ok(bytes) = fs::read(&path) {
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

    /// Whether entries were added since the cache was last written (a save would write it).
    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// Drops the entries of messages for which `present` does not hold, and reports whether
    /// the cache gained entries since it was last written (and so is worth writing).
    pub fn prune(&mut self, present: impl Fn(&str) -> bool) -> bool {
        if !self.dirty {
            return false;
        }
        self.entries.retain(|base, _| present(base));
        true
    }

    /// Writes the cache into `maildir` if it gained entries, keeping only messages for which
    /// `present` holds (the ones still in the mailbox).
    pub fn save(
        &mut self,
        maildir: &Maildir,
        present: impl Fn(&str) -> bool,
    ) -> std::io::Result<()> {
        if !self.prune(present) {
            return Ok(());
        }
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
        let path = maildir.path().join(CACHE_FILE);
        crate::store::durable::replace_cached(&path, &out, super::FILE_MODE)?;
        self.dirty = false;
        Ok(())
    }

    /// Marks the cache as written (a reader that keeps it elsewhere than in a file).
    pub fn mark_clean(&mut self) {
        self.dirty = false;
    }
}

/// Parses a cache file; stops at the first malformed record, keeping what came before.
fn parse(bytes: &[u8]) -> HashMap<String, Entry> {
    let mut map = HashMap::new();
    let Some(mut rest) = bytes.strip_prefix(MAGIC) else {
        return map;
    };
    while let Some((base, entry, after)) = record(rest) {
        map.insert(base.to_string(), entry);
        rest = after;
    }
    map
}

/// The first record of `bytes` (`base a b` LF, a + b bytes, LF) and what follows it.
fn record(bytes: &[u8]) -> Option<(&str, Entry, &[u8])> {
    let nl = bytes.iter().position(|&b| b == b'\n')?;
    let (head, body) = (bytes.get(..nl)?, bytes.get(nl + 1..)?);
    let mut parts = std::str::from_utf8(head).ok()?.split(' ');
    let (Some(base), Some(a), Some(b), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let (a, b) = (a.parse::<usize>().ok()?, b.parse::<usize>().ok()?);
    let total = a.checked_add(b)?;
    if body.get(total) != Some(&b'\n') {
        return None;
    }
    let entry = Entry {
        envelope: body.get(..a)?.to_vec(),
        body_structure: body.get(a..total)?.to_vec(),
    };
    Some((base, entry, body.get(total + 1..)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_prunes_and_survives_damage() {
        let dir = tempfile::tempdir().unwrap();
        let md = Maildir::create(dir.path()).unwrap();
        let mut c = Cache::new();
        c.load(&md);
        assert!(c.is_empty());
        let e = |s: &str| Entry {
            envelope: format!("(\"{s}\" NIL)").into_bytes(),
            body_structure: b"(\"TEXT\" \"PLAIN\")\n odd".to_vec(),
        };
        assert!(!c.is_dirty());
        c.insert("1.a.host", e("one"));
        c.insert("2.b.host", e("two"));
        assert!(c.is_dirty());
        c.save(&md, |b| b != "2.b.host").unwrap();
        assert!(!c.is_dirty());

        let mut d = Cache::new();
        d.load(&md);
        assert_eq!(d.len(), 1);
        assert_eq!(d.get("1.a.host"), Some(&e("one")));
        assert_eq!(d.get("2.b.host"), None);

        // A truncated file keeps the complete records before the damage.
        let path = dir.path().join(CACHE_FILE);
        let mut bytes = fs::read(&path).unwrap();
        bytes.extend_from_slice(b"3.c.host 99 99\nshort");
        fs::write(&path, &bytes).unwrap();
        let mut f = Cache::new();
        f.load(&md);
        assert_eq!(f.len(), 1);

        // A foreign file is ignored.
        fs::write(&path, b"garbage\n").unwrap();
        let mut g = Cache::new();
        g.load(&md);
        assert!(g.is_empty());
    }

    #[test]
    fn concurrent_saves_of_one_mailbox_never_collide() {
        let dir = tempfile::tempdir().unwrap();
        let md = Maildir::create(dir.path()).unwrap();
        let entry = |i: usize| Entry {
            envelope: format!("(\"{i}\")").into_bytes(),
            body_structure: vec![b'x'; 64 * 1024],
        };
        // Sessions of one process (same pid) saving the same mailbox at the same time.
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let md = md.clone();
                std::thread::spawn(move || {
                    for round in 0..20 {
                        let mut c = Cache::new();
                        for i in 0..16 {
                            c.insert(&format!("{t}.{round}.{i}.host"), entry(i));
                        }
                        c.save(&md, |_| true).expect("save");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        // The file is one whole save, and no temporary file is left behind.
        let mut c = Cache::new();
        c.load(&md);
        assert_eq!(c.len(), 16);
        let names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !["tmp", "new", "cur"].contains(&n.as_str()))
            .collect();
        assert_eq!(names, vec![CACHE_FILE.to_string()]);
    }
}
