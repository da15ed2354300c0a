//! SEARCH programs (RFC 3501 §6.4.4, RFC 7162 MODSEQ) and their evaluation over
//! a [`MessageView`].
//!
//! Matching is case-insensitive substring matching on decoded text: header
//! values have RFC 2047 encoded words decoded, text bodies have their transfer
//! encoding and charset decoded. BEFORE/ON/SINCE compare the internal date;
//! SENT* compare the `Date:` header's date (falling back to the internal date).

use std::borrow::Cow;

use super::datetime::{Date, DateTime};
use super::fetch::{FetchError, MessageView};
use super::flag::Flag;
use super::message::{crlf_size, header_fields, Message, Part, PartKind};
use super::sequence::SequenceSet;

/// A search key; a program is an implicit AND ([`SearchKey::And`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchKey {
    /// `ALL`
    All,
    /// `ANSWERED`
    Answered,
    /// `BCC string`
    Bcc(String),
    /// `BEFORE date` (internal date)
    Before(Date),
    /// `BODY string`
    Body(String),
    /// `CC string`
    Cc(String),
    /// `DELETED`
    Deleted,
    /// `DRAFT`
    Draft,
    /// `FLAGGED`
    Flagged,
    /// `FROM string`
    From(String),
    /// `HEADER name string`
    Header(String, String),
    /// `KEYWORD flag`
    Keyword(String),
    /// `LARGER n`
    Larger(u32),
    /// `NEW` (recent and unseen)
    New,
    /// `NOT key`
    Not(Box<SearchKey>),
    /// `OLD` (not recent)
    Old,
    /// `ON date`
    On(Date),
    /// `OR a b`
    Or(Box<SearchKey>, Box<SearchKey>),
    /// `RECENT`
    Recent,
    /// `SEEN`
    Seen,
    /// `SENTBEFORE date`
    SentBefore(Date),
    /// `SENTON date`
    SentOn(Date),
    /// `SENTSINCE date`
    SentSince(Date),
    /// `SINCE date`
    Since(Date),
    /// `SMALLER n`
    Smaller(u32),
    /// `SUBJECT string`
    Subject(String),
    /// `TEXT string` (header and body)
    Text(String),
    /// `TO string`
    To(String),
    /// `UID set`
    Uid(SequenceSet),
    /// `UNANSWERED`
    Unanswered,
    /// `UNDELETED`
    Undeleted,
    /// `UNDRAFT`
    Undraft,
    /// `UNFLAGGED`
    Unflagged,
    /// `UNKEYWORD flag`
    Unkeyword(String),
    /// `UNSEEN`
    Unseen,
    /// A bare sequence set.
    Sequence(SequenceSet),
    /// Parenthesised list or the top-level program: all must match.
    And(Vec<SearchKey>),
    /// `MODSEQ [entry type] n`: messages with mod-sequence ≥ n.
    ModSeq {
        /// Optional metadata entry (accepted, not used for flags-only servers).
        entry: Option<ModSeqEntry>,
        /// The lower bound.
        modseq: u64,
    },
}

/// The `"/flags/\\Seen" priv` part of a MODSEQ search key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModSeqEntry {
    /// Entry name.
    pub name: String,
    /// `PRIV`, `SHARED` or `ALL`.
    pub kind: String,
}

impl SearchKey {
    /// Whether evaluating needs the message content (headers or body).
    pub fn needs_content(&self) -> bool {
        use SearchKey::*;
        match self {
            Bcc(_) | Body(_) | Cc(_) | From(_) | Header(..) | SentBefore(_) | SentOn(_)
            | SentSince(_) | Subject(_) | Text(_) | To(_) => true,
            Not(k) => k.needs_content(),
            Or(a, b) => a.needs_content() || b.needs_content(),
            And(keys) => keys.iter().any(SearchKey::needs_content),
            _ => false,
        }
    }

    /// Whether the program mentions MODSEQ (the response then carries `(MODSEQ n)`).
    pub fn uses_modseq(&self) -> bool {
        match self {
            SearchKey::ModSeq { .. } => true,
            SearchKey::Not(k) => k.uses_modseq(),
            SearchKey::Or(a, b) => a.uses_modseq() || b.uses_modseq(),
            SearchKey::And(keys) => keys.iter().any(SearchKey::uses_modseq),
            _ => false,
        }
    }
}

/// Where the message sits in the selected mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchContext {
    /// The message's sequence number.
    pub seq: u32,
    /// Number of messages (what `*` means for sequence sets).
    pub max_seq: u32,
    /// Largest UID in the mailbox (what `*` means for UID sets).
    pub max_uid: u32,
}

/// Whether a message matches a search program.
pub fn matches(
    key: &SearchKey,
    ctx: SearchContext,
    view: &dyn MessageView,
) -> Result<bool, FetchError> {
    let raw = if key.needs_content() {
        Some(view.raw()?)
    } else {
        None
    };
    let message = raw.as_deref().map(Message::parse);
    let size = match view.cached_size() {
        Some(s) => s,
        None if uses_size(key) => match &raw {
            Some(r) => crlf_size(r),
            None => crlf_size(&view.raw()?),
        },
        None => 0,
    };
    let eval = Eval {
        ctx,
        view,
        message: message.as_ref(),
        flags: view.flags(),
        size,
    };
    Ok(eval.key(key))
}

fn uses_size(key: &SearchKey) -> bool {
    match key {
        SearchKey::Larger(_) | SearchKey::Smaller(_) => true,
        SearchKey::Not(k) => uses_size(k),
        SearchKey::Or(a, b) => uses_size(a) || uses_size(b),
        SearchKey::And(keys) => keys.iter().any(uses_size),
        _ => false,
    }
}

struct Eval<'a> {
    ctx: SearchContext,
    view: &'a dyn MessageView,
    message: Option<&'a Message<'a>>,
    flags: Cow<'a, [Flag]>,
    size: u64,
}

impl Eval<'_> {
    fn has(&self, flag: &Flag) -> bool {
        self.flags.iter().any(|f| f.matches(flag))
    }

    fn keyword(&self, name: &str) -> bool {
        Flag::parse(name).is_some_and(|f| self.has(&f))
    }

    fn internal(&self) -> Date {
        self.view.internal_date().date
    }

    fn sent(&self) -> Date {
        self.message
            .and_then(|m| {
                header_fields(m.slice(&m.root().header))
                    .into_iter()
                    .find(|f| f.is("Date"))
                    .and_then(|f| DateTime::parse_rfc5322(&String::from_utf8_lossy(&f.value())))
            })
            .map(|d| d.date)
            .unwrap_or_else(|| self.internal())
    }

    fn header_contains(&self, name: &str, needle: &str) -> bool {
        let Some(m) = self.message else { return false };
        let needle = needle.to_lowercase();
        header_fields(m.slice(&m.root().header))
            .iter()
            .filter(|f| f.is(name))
            .any(|f| needle.is_empty() || decode_header(f.raw).to_lowercase().contains(&needle))
    }

    fn body_contains(&self, needle: &str) -> bool {
        let Some(m) = self.message else { return false };
        let needle = needle.to_lowercase();
        let mut found = false;
        visit_text_parts(m, m.root(), 0, &mut |text| {
            if !found && text.to_lowercase().contains(&needle) {
                found = true;
            }
        });
        found
    }

    fn text_contains(&self, needle: &str) -> bool {
        let Some(m) = self.message else { return false };
        let lowered = needle.to_lowercase();
        let header_hit = header_fields(m.slice(&m.root().header))
            .iter()
            .any(|f| decode_header(f.raw).to_lowercase().contains(&lowered));
        header_hit || self.body_contains(needle)
    }

    fn key(&self, key: &SearchKey) -> bool {
        use SearchKey::*;
        match key {
            All => true,
            Answered => self.has(&Flag::Answered),
            Deleted => self.has(&Flag::Deleted),
            Draft => self.has(&Flag::Draft),
            Flagged => self.has(&Flag::Flagged),
            Seen => self.has(&Flag::Seen),
            Recent => self.has(&Flag::Recent),
            New => self.has(&Flag::Recent) && !self.has(&Flag::Seen),
            Old => !self.has(&Flag::Recent),
            Unanswered => !self.has(&Flag::Answered),
            Undeleted => !self.has(&Flag::Deleted),
            Undraft => !self.has(&Flag::Draft),
            Unflagged => !self.has(&Flag::Flagged),
            Unseen => !self.has(&Flag::Seen),
            Keyword(k) => self.keyword(k),
            Unkeyword(k) => !self.keyword(k),
            Bcc(s) => self.header_contains("Bcc", s),
            Cc(s) => self.header_contains("Cc", s),
            From(s) => self.header_contains("From", s),
            To(s) => self.header_contains("To", s),
            Subject(s) => self.header_contains("Subject", s),
            Header(name, s) => self.header_contains(name, s),
            Body(s) => self.body_contains(s),
            Text(s) => self.text_contains(s),
            Before(d) => self.internal() < *d,
            On(d) => self.internal() == *d,
            Since(d) => self.internal() >= *d,
            SentBefore(d) => self.sent() < *d,
            SentOn(d) => self.sent() == *d,
            SentSince(d) => self.sent() >= *d,
            Larger(n) => self.size > u64::from(*n),
            Smaller(n) => self.size < u64::from(*n),
            Uid(set) => set.contains(self.view.uid(), self.ctx.max_uid),
            Sequence(set) => set.contains(self.ctx.seq, self.ctx.max_seq),
            ModSeq { modseq, .. } => self.view.modseq() >= *modseq,
            Not(k) => !self.key(k),
            Or(a, b) => self.key(a) || self.key(b),
            And(keys) => keys.iter().all(|k| self.key(k)),
        }
    }
}

/// A header field's value with RFC 2047 encoded words decoded (lossy fallback).
fn decode_header(raw: &[u8]) -> String {
    match mailparse::parse_header(raw) {
        Ok((header, _)) => header.get_value(),
        Err(_) => String::from_utf8_lossy(raw).into_owned(),
    }
}

/// Calls `f` with the decoded text of every text/* leaf part.
fn visit_text_parts(message: &Message<'_>, part: &Part, depth: usize, f: &mut dyn FnMut(&str)) {
    if depth > super::message::MAX_DEPTH {
        return;
    }
    match &part.kind {
        PartKind::Multipart(children) => {
            for child in children {
                visit_text_parts(message, child, depth + 1, f);
            }
        }
        PartKind::Message(inner) => visit_text_parts(message, inner, depth + 1, f),
        PartKind::Leaf if part.content_type.media_type == "TEXT" => {
            let entity = message.slice(&(part.header.start..part.body.end));
            // The header of a text leaf is not multipart, so mailparse does not recurse.
            let decoded = mailparse::parse_mail(entity)
                .ok()
                .filter(|p| p.subparts.is_empty())
                .and_then(|p| p.get_body().ok());
            match decoded {
                Some(text) => f(&text),
                None => f(&String::from_utf8_lossy(message.slice(&part.body))),
            }
        }
        PartKind::Leaf => {}
    }
}

#[cfg(test)]
mod tests;
