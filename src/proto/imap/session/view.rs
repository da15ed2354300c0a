//! One message of the selected mailbox as the FETCH renderer and SEARCH see it, and the
//! mapping between IMAP flags and maildir flags.

use std::borrow::Cow;
use std::cell::{Cell, OnceCell};

use crate::proto::imap::datetime::DateTime;
use crate::proto::imap::fetch::MessageView;
use crate::proto::imap::flag::Flag;
use crate::proto::imap::store::Mailbox;
use crate::store::maildir::{self, cache, MessageInfo};

/// Largest message file read into memory for FETCH/SEARCH.
pub const MAX_MESSAGE: u64 = 1024 * 1024 * 1024;

/// IMAP flags of a message (`\Recent` when this session holds it recent).
pub fn imap_flags(flags: &maildir::Flags, recent: bool) -> Vec<Flag> {
    let mut out: Vec<Flag> = flags
        .imap_names()
        .iter()
        .filter_map(|n| Flag::parse(n))
        .collect();
    if recent {
        out.push(Flag::Recent);
    }
    out
}

/// Maildir flags for IMAP flags (`\Recent` and unknown `\Extension` flags are ignored);
/// `Err` names a keyword maildir cannot store.
pub fn maildir_flags(flags: &[Flag]) -> Result<maildir::Flags, String> {
    let mut out = maildir::Flags::new();
    for f in flags {
        match f {
            Flag::Seen => out.insert(maildir::Flag::Seen),
            Flag::Answered => out.insert(maildir::Flag::Answered),
            Flag::Flagged => out.insert(maildir::Flag::Flagged),
            Flag::Deleted => out.insert(maildir::Flag::Deleted),
            Flag::Draft => out.insert(maildir::Flag::Draft),
            Flag::Recent | Flag::Extension(_) => {}
            Flag::Keyword(k) => out.insert_keyword(k).map_err(|_| k.clone())?,
        }
    }
    Ok(out)
}

/// A message of the selected mailbox, with its content read at most once.
pub struct View<'a, M> {
    /// The message.
    pub info: &'a MessageInfo,
    /// `\Recent` for this session.
    pub recent: bool,
    /// The mailbox the message is in.
    pub mailbox: &'a M,
    /// Its cached ENVELOPE/BODYSTRUCTURE, if any.
    pub cached: Option<&'a cache::Entry>,
    raw: OnceCell<Vec<u8>>,
    /// The buffer the bytes are read into (a FETCH hands the same one to every message's view).
    buffer: Cell<Vec<u8>>,
}

impl<'a, M: Mailbox> View<'a, M> {
    /// A view without cached renderings.
    pub fn new(info: &'a MessageInfo, recent: bool, mailbox: &'a M) -> View<'a, M> {
        View::with_buffer(info, recent, mailbox, Vec::new())
    }

    /// A view that reads the message into `buffer` (its old content is dropped first), to be
    /// taken back with [`View::into_buffer`]: one allocation for a whole FETCH, not one a
    /// message.
    pub fn with_buffer(
        info: &'a MessageInfo,
        recent: bool,
        mailbox: &'a M,
        buffer: Vec<u8>,
    ) -> View<'a, M> {
        View {
            info,
            recent,
            mailbox,
            cached: None,
            raw: OnceCell::new(),
            buffer: Cell::new(buffer),
        }
    }

    /// The buffer given to [`View::with_buffer`], holding this message's bytes if they were read.
    pub fn into_buffer(self) -> Vec<u8> {
        self.raw.into_inner().unwrap_or_else(|| self.buffer.take())
    }

    /// The message bytes (read on first use).
    pub fn bytes(&self) -> std::io::Result<&[u8]> {
        if let Some(r) = self.raw.get() {
            return Ok(r);
        }
        let mut bytes = self.buffer.take();
        if let Err(e) = self.mailbox.read_into(self.info, MAX_MESSAGE, &mut bytes) {
            bytes.clear();
            self.buffer.set(bytes);
            return Err(e);
        }
        Ok(self.raw.get_or_init(|| bytes))
    }

    /// The bytes if they were read and are the whole message (not cut at [`MAX_MESSAGE`]).
    pub fn read_whole(&self) -> Option<&[u8]> {
        self.raw
            .get()
            .filter(|r| r.len() as u64 == self.info.size)
            .map(Vec::as_slice)
    }
}

impl<M: Mailbox> MessageView for View<'_, M> {
    fn uid(&self) -> u32 {
        self.info.uid
    }

    fn flags(&self) -> Cow<'_, [Flag]> {
        Cow::Owned(imap_flags(&self.info.flags, self.recent))
    }

    /// System flags are written straight from the maildir letters; keywords go through
    /// [`imap_flags`] (which leaves out those that are not valid IMAP flags).
    fn write_flags(&self, out: &mut Vec<u8>) {
        if self.info.flags.keywords().next().is_some() {
            crate::proto::imap::response::write_flag_list(out, &self.flags());
            return;
        }
        out.push(b'(');
        let mut first = true;
        let names = maildir::Flag::ALL
            .iter()
            .filter(|f| self.info.flags.contains(**f))
            .filter_map(|f| f.imap_name())
            .chain(self.recent.then_some("\\Recent"));
        for name in names {
            if !first {
                out.push(b' ');
            }
            first = false;
            out.extend_from_slice(name.as_bytes());
        }
        out.push(b')');
    }

    fn internal_date(&self) -> DateTime {
        DateTime::from_unix(self.info.internal_date, 0)
    }

    fn modseq(&self) -> u64 {
        self.info.modseq.max(1)
    }

    fn raw(&self) -> std::io::Result<Cow<'_, [u8]>> {
        self.bytes().map(Cow::Borrowed)
    }

    fn cached_size(&self) -> Option<u64> {
        self.info.vsize
    }

    fn cached_envelope(&self) -> Option<Cow<'_, [u8]>> {
        self.cached.map(|c| Cow::Borrowed(c.envelope.as_slice()))
    }

    fn cached_body_structure(&self) -> Option<Cow<'_, [u8]>> {
        self.cached
            .map(|c| Cow::Borrowed(c.body_structure.as_slice()))
    }
}

/// Renders the cache entry of a message from its bytes.
pub fn cache_entry(raw: &[u8]) -> cache::Entry {
    use crate::proto::imap::message::Message;
    let shallow = Message::parse_shallow(raw);
    let envelope =
        crate::proto::imap::envelope::Envelope::from_header(shallow.slice(&shallow.root().header))
            .to_bytes();
    let full = Message::parse(raw);
    let body_structure = crate::proto::imap::bodystructure::body_structure(&full, true);
    cache::Entry {
        envelope,
        body_structure,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic
    use super::*;
    use crate::proto::imap::response::write_flag_list;
    use crate::proto::imap::store::memory::MemoryStore;
    use crate::proto::imap::store::{Account as _, MailStore as _};

    #[test]
    fn flags_written_straight_from_the_letters_are_those_of_the_flag_list() {
        let store = MemoryStore::new();
        let account = store.open("alice").unwrap();
        let mailbox = account
            .mailbox(&crate::proto::imap::mailbox_name::MailboxName::inbox())
            .unwrap();
        let letters = "DFPRST";
        for mask in 0..(1u32 << letters.len()) {
            let chosen: String = letters
                .chars()
                .enumerate()
                .filter(|(i, _)| mask & (1 << i) != 0)
                .map(|(_, c)| c)
                .collect();
            for keywords in [&[][..], &["$Junk".to_string(), "NonJunk".to_string()][..]] {
                let mut table = keywords.to_vec();
                let kw_letters: String = ('a'..='z').take(table.len()).collect();
                let flags =
                    maildir::Flags::from_info_letters(&format!("{chosen}{kw_letters}"), &table);
                table.clear();
                for recent in [false, true] {
                    let info = MessageInfo {
                        uid: 1,
                        file_name: "1.a.host".into(),
                        in_new: false,
                        size: 0,
                        vsize: None,
                        internal_date: 0,
                        flags: flags.clone(),
                        modseq: 1,
                    };
                    let view = View::new(&info, recent, &mailbox);
                    let mut fast = Vec::new();
                    view.write_flags(&mut fast);
                    let mut listed = Vec::new();
                    write_flag_list(&mut listed, &imap_flags(&flags, recent));
                    assert_eq!(
                        String::from_utf8(fast).unwrap(),
                        String::from_utf8(listed).unwrap(),
                        "{chosen} {keywords:?} {recent}"
                    );
                }
            }
        }
    }
}
