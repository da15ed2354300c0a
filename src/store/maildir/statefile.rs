//! The mailbox state file `postern-state`: a small line-oriented text format, written
//! durably (temp file → fsync → rename → fsync of the directory) under the state lock. It is
//! the checkpoint; the changes made since are in the journal beside it ([`super::journal`]).
//!
//! ```text
//! postern-mailbox-state 1
//! generation 4                 (ties the journal to this checkpoint; absent: 0)
//! uidvalidity 1700000000
//! uidnext 43
//! highestmodseq 97
//! keyword $Junk                 (one line per keyword letter, a, b, c …)
//! m <uid> <modseq> <size> <vsize|-> <internal date> <c|n> <file name>
//! ```

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use super::error::{MaildirError, Result};
use super::name;

/// The state file name inside a maildir.
pub const STATE_FILE: &str = "postern-state";
const MAGIC: &str = "postern-mailbox-state 1";
/// A state file larger than this is treated as damaged (about 5 million messages).
const MAX_STATE_BYTES: u64 = 1 << 30;

/// The persistent state of one mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    /// The checkpoint's generation: a journal is applied only to the checkpoint of its own.
    pub generation: u64,
    pub uidvalidity: u32,
    pub uidnext: u32,
    pub highestmodseq: u64,
    pub keywords: Vec<String>,
    /// Messages in ascending UID order.
    pub entries: Vec<Entry>,
}

/// One message as the state remembers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub uid: u32,
    pub modseq: u64,
    pub size: u64,
    pub vsize: Option<u64>,
    pub date: i64,
    /// In `new/` (new mail stays there until its first flag change moves it to `cur/`).
    pub in_new: bool,
    /// The current file name (base name plus info); shared with the snapshots made of it.
    pub name: Arc<str>,
}

impl Entry {
    /// The base name: the part of the file name before `:`.
    pub fn base(&self) -> &str {
        name::split(&self.name).0
    }

    /// Appends the entry's line (`m …`, as in the state file and the journal) to `out`.
    pub fn render_into(&self, out: &mut String) {
        use std::fmt::Write as _;
        let _ = write!(out, "m {} {} {} ", self.uid, self.modseq, self.size);
        match self.vsize {
            Some(v) => {
                let _ = write!(out, "{v}");
            }
            None => out.push('-'),
        }
        let _ = writeln!(
            out,
            " {} {} {}",
            self.date,
            if self.in_new { 'n' } else { 'c' },
            self.name
        );
    }
}

/// Why a state file could not be read; the caller rebuilds the state.
#[derive(Debug, PartialEq, Eq)]
pub enum Damage {
    /// A line did not parse.
    Line(usize),
    /// Too large to be a state file.
    TooLarge,
}

impl State {
    /// A fresh, empty state with the given UIDVALIDITY.
    pub fn fresh(uidvalidity: u32) -> State {
        State {
            generation: 0,
            uidvalidity,
            uidnext: 1,
            highestmodseq: 1,
            keywords: Vec::new(),
            entries: Vec::new(),
        }
    }

    /// Serialises the state.
    pub fn render(&self) -> Vec<u8> {
        let mut out = String::with_capacity(64 + self.entries.len() * 96);
        out.push_str(MAGIC);
        out.push('\n');
        out.push_str(&format!(
            "generation {}\nuidvalidity {}\nuidnext {}\nhighestmodseq {}\n",
            self.generation, self.uidvalidity, self.uidnext, self.highestmodseq
        ));
        for k in &self.keywords {
            out.push_str("keyword ");
            out.push_str(k);
            out.push('\n');
        }
        for e in &self.entries {
            e.render_into(&mut out);
        }
        out.into_bytes()
    }

    /// Parses a state file's bytes.
    pub fn parse(bytes: &[u8]) -> std::result::Result<State, Damage> {
        let text = std::str::from_utf8(bytes).map_err(|_| Damage::Line(0))?;
        let mut lines = text.lines().enumerate();
        match lines.next() {
            Some((_, MAGIC)) => {}
            _ => return Err(Damage::Line(1)),
        }
        let mut state = State::fresh(0);
        let mut have = (false, false, false);
        for (i, line) in lines {
            let bad = || Damage::Line(i + 1);
            let (key, rest) = line.split_once(' ').ok_or_else(bad)?;
            match key {
                "generation" => state.generation = rest.parse().map_err(|_| bad())?,
                "uidvalidity" => {
                    state.uidvalidity = rest.parse().map_err(|_| bad())?;
                    have.0 = true;
                }
                "uidnext" => {
                    state.uidnext = rest.parse().map_err(|_| bad())?;
                    have.1 = true;
                }
                "highestmodseq" => {
                    state.highestmodseq = rest.parse().map_err(|_| bad())?;
                    have.2 = true;
                }
                "keyword" => state.keywords.push(rest.to_string()),
                "m" => state.entries.push(parse_entry(rest).ok_or_else(bad)?),
                _ => return Err(bad()),
            }
        }
        let ordered = (state.entries.windows(2)).all(|w| matches!(w, [a, b] if a.uid < b.uid));
        let below_next = state.entries.last().is_none_or(|e| e.uid < state.uidnext);
        let complete = have.0 && have.1 && have.2 && state.keywords.len() <= 26;
        if !(complete && ordered && below_next) {
            return Err(Damage::Line(0));
        }
        Ok(state)
    }

    /// Reads the state of the maildir at `dir`: `Ok(None)` when there is none yet,
    /// `Ok(Some(Err(_)))` when it is damaged.
    ///
    /// The file is opened once and read through that descriptor (what is checked is what is
    /// read). On a volume shared with other hosts (NFS, GlusterFS) a name replaced by another
    /// host's rename between the lookup and the open gives `ESTALE`: the name is looked up again
    /// (a few times), as NFS clients do.
    pub fn load(dir: &Path) -> Result<Option<std::result::Result<State, Damage>>> {
        let path = dir.join(STATE_FILE);
        let mut tries = 0;
        loop {
            tries += 1;
            match Self::load_once(&path) {
                Err(e) if tries < 4 && e.raw_os_error() == Some(libc::ESTALE) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(MaildirError::io(&path, e)),
                Ok(read) => return Ok(Some(read)),
            }
        }
    }

    fn load_once(path: &Path) -> std::io::Result<std::result::Result<State, Damage>> {
        use std::io::Read as _;
        let file = File::open(path)?;
        if file.metadata()?.len() > MAX_STATE_BYTES {
            return Ok(Err(Damage::TooLarge));
        }
        let mut bytes = Vec::new();
        file.take(MAX_STATE_BYTES + 1).read_to_end(&mut bytes)?;
        if bytes.len() as u64 > MAX_STATE_BYTES {
            return Ok(Err(Damage::TooLarge));
        }
        Ok(State::parse(&bytes))
    }

    /// Writes the state durably into the maildir at `dir` (caller holds the state lock).
    pub fn store(&self, dir: &Path) -> Result<()> {
        let path = dir.join(STATE_FILE);
        crate::store::durable::replace(&path, &self.render(), super::FILE_MODE)
            .map_err(|e| MaildirError::io(&path, e))
    }
}

/// fsyncs a directory so a rename or unlink in it is durable ([`crate::store::durable::sync_dir`]).
pub fn sync_dir(dir: &Path) -> Result<()> {
    crate::store::durable::sync_dir(dir).map_err(|e| MaildirError::io(dir, e))
}

pub(super) fn parse_entry(rest: &str) -> Option<Entry> {
    let mut parts = rest.splitn(7, ' ');
    let uid = parts.next()?.parse().ok()?;
    let modseq = parts.next()?.parse().ok()?;
    let size = parts.next()?.parse().ok()?;
    let vsize = match parts.next()? {
        "-" => None,
        v => Some(v.parse().ok()?),
    };
    let date = parts.next()?.parse().ok()?;
    let in_new = match parts.next()? {
        "n" => true,
        "c" => false,
        _ => return None,
    };
    let name = parts.next()?.to_string();
    if !name::acceptable(&name) || uid == 0 {
        return None;
    }
    Some(Entry {
        uid,
        modseq,
        size,
        vsize,
        date,
        in_new,
        name: name.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn sample() -> State {
        State {
            generation: 3,
            uidvalidity: 1_700_000_000,
            uidnext: 8,
            highestmodseq: 12,
            keywords: vec!["$Junk".into(), "Work".into()],
            entries: vec![
                Entry {
                    uid: 3,
                    modseq: 4,
                    size: 100,
                    vsize: Some(104),
                    date: 1_700_000_001,
                    in_new: false,
                    name: "1700000001.a.h,S=100:2,S".into(),
                },
                Entry {
                    uid: 7,
                    modseq: 12,
                    size: 5,
                    vsize: None,
                    date: 9,
                    in_new: true,
                    name: "name with space".into(),
                },
            ],
        }
    }

    #[test]
    fn round_trip() {
        let s = sample();
        assert_eq!(State::parse(&s.render()), Ok(s));
    }

    #[test]
    fn damaged_files_are_refused() {
        let good = String::from_utf8(sample().render()).unwrap();
        let cases = [
            String::new(),
            "postern-mailbox-state 2\n".to_string(),
            good.replace("uidnext 8", "uidnext x"),
            good.replace("uidnext 8", "uidnext 7"),
            good.replace("m 3 ", "m 9 "),
            good.replace(" c ", " q "),
            good.replace("highestmodseq 12\n", ""),
            good.replace("keyword Work", "bogus Work"),
            good.replace("m 3 4 100 104", "m 3 4 100"),
        ];
        for c in cases {
            assert!(State::parse(c.as_bytes()).is_err(), "{c:?}");
        }
    }

    #[test]
    fn store_and_load() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(State::load(dir.path()).unwrap(), None);
        sample().store(dir.path()).unwrap();
        assert_eq!(State::load(dir.path()).unwrap(), Some(Ok(sample())));
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [STATE_FILE], "no temporary file left");
    }
}
