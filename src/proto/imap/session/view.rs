//! One message of the selected mailbox as the FETCH renderer and SEARCH see it, and the
//! mapping between IMAP flags and maildir flags.

use std::borrow::Cow;
use std::cell::OnceCell;

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
}

impl<'a, M: Mailbox> View<'a, M> {
    /// A view without cached renderings.
    pub fn new(info: &'a MessageInfo, recent: bool, mailbox: &'a M) -> View<'a, M> {
        View {
            info,
            recent,
            mailbox,
            cached: None,
            raw: OnceCell::new(),
        }
    }

    /// The message bytes (read on first use).
    pub fn bytes(&self) -> std::io::Result<&[u8]> {
        if let Some(r) = self.raw.get() {
            return Ok(r);
        }
        let bytes = self.mailbox.read(self.info, MAX_MESSAGE)?;
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
