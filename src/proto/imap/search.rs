//! SEARCH programs (RFC 3501 §6.4.4, RFC 7162 MODSEQ) and their evaluation over
//! a [`MessageView`].
//!
//! Matching is case-insensitive substring matching on decoded text: header
//! values have RFC 2047 encoded words decoded, text bodies have their transfer
//! encoding and charset decoded. BEFORE/ON/SINCE compare the internal date;
//! SENT* compare the `Date:` header's date (falling back to the internal date).

use std::borrow::Cow;

use super::datetime::{Date, DateTime};
use super::envelope::parse_address_list;
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

    /// An address field (From, To, Cc, Bcc) contains `needle`: its text as written, or one of
    /// its addresses written plainly (`name mailbox@host`, comments and route left out), so that
    /// `user@domain.org` finds `<user (comment)@ (comment) domain.org>`.
    fn address_contains(&self, name: &str, needle: &str) -> bool {
        if self.header_contains(name, needle) {
            return true;
        }
        let Some(m) = self.message else { return false };
        let needle = needle.to_lowercase();
        header_fields(m.slice(&m.root().header))
            .iter()
            .filter(|f| f.is(name))
            .flat_map(|f| parse_address_list(&f.value()))
            .any(|a| {
                let mut plain = String::new();
                if let Some(n) = &a.name {
                    plain.push_str(&decode_header(&[b"X: ".as_slice(), n].concat()));
                    plain.push(' ');
                }
                plain.push_str(&String::from_utf8_lossy(
                    a.mailbox.as_deref().unwrap_or_default(),
                ));
                if let Some(h) = a.host.as_deref().filter(|h| !h.is_empty()) {
                    plain.push('@');
                    plain.push_str(&String::from_utf8_lossy(h));
                }
                plain.to_lowercase().contains(&needle)
            })
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
            Bcc(s) => self.address_contains("Bcc", s),
            Cc(s) => self.address_contains("Cc", s),
            From(s) => self.address_contains("From", s),
            To(s) => self.address_contains("To", s),
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
mod tests {
    use super::*;
    use crate::proto::imap::command::CommandKind;
    use crate::proto::imap::fetch::tests::TestView;
    use crate::proto::imap::parser::parse_command;

    fn key(text: &str) -> SearchKey {
        match parse_command(format!("a SEARCH {text}\r\n").as_bytes())
            .unwrap()
            .kind
        {
            CommandKind::Search { criteria, .. } => criteria,
            other => panic!("{other:?}"),
        }
    }

    const RAW: &str = "Date: Mon, 7 Feb 1994 21:52:25 -0800\n\
From: Fred Foobar <foobar@Blurdybloop.example>\n\
To: =?utf-8?q?J=C3=B6rg?= <jorg@example.com>\n\
Cc: carol@example.net\n\
Subject: =?iso-8859-1?q?Caf=E9?= meeting\n\
X-Custom: Hello\n\
Content-Type: multipart/alternative; boundary=b\n\
\n\
--b\n\
Content-Type: text/plain; charset=utf-8\n\
Content-Transfer-Encoding: quoted-printable\n\
\n\
Meet at the caf=C3=A9 at 3:30.\n\
--b\n\
Content-Type: text/html\n\
\n\
<b>BOLD words</b>\n\
--b--\n";

    fn view() -> TestView {
        let mut v = TestView::new(RAW.as_bytes());
        v.uid = 100;
        v.flags = vec![
            Flag::Seen,
            Flag::Flagged,
            Flag::Recent,
            Flag::Keyword("$Work".into()),
        ];
        v.date = DateTime::parse_imap("08-Feb-1994 06:00:00 +0000").unwrap();
        v.modseq = 50;
        v
    }

    #[test]
    fn address_keys_see_through_comments() {
        let raw = b"From: <user-from (comment)@ (comment) domain.org>\r\n\
To: bob@example.com (Bob Example), \"Doe, J\" <j.doe (x) @ example.net>\r\n\r\nhi\r\n";
        let v = TestView::new(raw);
        let ctx = SearchContext {
            seq: 1,
            max_seq: 1,
            max_uid: 1,
        };
        for (text, want) in [
            ("FROM user-from@domain.org", true),
            ("FROM USER-FROM@DOMAIN", true),
            ("FROM comment", true),
            ("FROM other@domain.org", false),
            ("TO \"bob example\"", true),
            ("TO j.doe@example.net", true),
            ("TO \"doe, j j.doe@\"", true),
            ("CC j.doe@example.net", false),
        ] {
            assert_eq!(matches(&key(text), ctx, &v).unwrap(), want, "{text}");
        }
    }

    #[test]
    fn evaluation_table() {
        let v = view();
        let ctx = SearchContext {
            seq: 3,
            max_seq: 10,
            max_uid: 200,
        };
        let size = crlf_size(RAW.as_bytes());
        let cases: Vec<(String, bool)> = vec![
            ("ALL".into(), true),
            ("SEEN".into(), true),
            ("UNSEEN".into(), false),
            ("FLAGGED ANSWERED".into(), false),
            ("UNANSWERED UNDELETED UNDRAFT".into(), true),
            ("DELETED".into(), false),
            ("DRAFT".into(), false),
            ("UNFLAGGED".into(), false),
            ("RECENT".into(), true),
            ("NEW".into(), false),
            ("OLD".into(), false),
            ("KEYWORD $work".into(), true),
            ("KEYWORD $Home".into(), false),
            ("UNKEYWORD $Home".into(), true),
            ("FROM foobar".into(), true),
            ("FROM \"fred FOOBAR\"".into(), true),
            ("FROM nobody".into(), false),
            ("TO \"jörg\"".into(), true),
            ("TO jorg@example".into(), true),
            ("CC carol".into(), true),
            ("BCC carol".into(), false),
            ("SUBJECT \"café\"".into(), true),
            ("SUBJECT \"CAFÉ MEET\"".into(), true),
            ("SUBJECT lunch".into(), false),
            ("HEADER X-Custom hello".into(), true),
            ("HEADER X-Custom \"\"".into(), true),
            ("HEADER X-Missing \"\"".into(), false),
            ("BODY \"the café\"".into(), true),
            ("BODY \"bold WORDS\"".into(), true),
            ("BODY Foobar".into(), false),
            ("TEXT foobar".into(), true),
            ("TEXT \"at 3:30\"".into(), true),
            ("TEXT absent".into(), false),
            ("ON 8-Feb-1994".into(), true),
            ("SINCE 8-Feb-1994".into(), true),
            ("BEFORE 8-Feb-1994".into(), false),
            ("BEFORE 9-Feb-1994".into(), true),
            ("SENTON 7-Feb-1994".into(), true),
            ("SENTBEFORE 7-Feb-1994".into(), false),
            ("SENTSINCE 7-Feb-1994".into(), true),
            ("SENTSINCE 8-Feb-1994".into(), false),
            (format!("LARGER {}", size - 1), true),
            (format!("LARGER {size}"), false),
            (format!("SMALLER {}", size + 1), true),
            (format!("SMALLER {size}"), false),
            ("UID 100".into(), true),
            ("UID 1:99,101:*".into(), false),
            ("UID *".into(), false),
            ("3".into(), true),
            ("1:2,4:*".into(), false),
            ("*".into(), false),
            ("NOT SEEN".into(), false),
            ("OR UNSEEN FLAGGED".into(), true),
            ("OR UNSEEN DELETED".into(), false),
            ("(SEEN FLAGGED) NOT DELETED".into(), true),
            ("MODSEQ 50".into(), true),
            ("MODSEQ 51".into(), false),
        ];
        for (text, want) in cases {
            assert_eq!(matches(&key(&text), ctx, &v).unwrap(), want, "{text}");
        }
    }

    #[test]
    fn sent_date_falls_back_to_internal_date() {
        let mut v = TestView::new(b"Subject: no date\r\n\r\nx");
        v.date = DateTime::parse_imap("01-Mar-2020 10:00:00 +0000").unwrap();
        let ctx = SearchContext {
            seq: 1,
            max_seq: 1,
            max_uid: v.uid,
        };
        assert!(matches(&key("SENTON 1-Mar-2020"), ctx, &v).unwrap());
        assert!(matches(&key("*"), ctx, &v).unwrap());
        assert!(matches(&key("UID *"), ctx, &v).unwrap());
    }

    #[test]
    fn flag_only_programs_do_not_read_content() {
        assert!(!key("SEEN UID 1:* OR NEW LARGER 5").needs_content());
        assert!(key("NOT (SEEN SUBJECT x)").needs_content());
        assert!(key("OR SEEN MODSEQ 4").uses_modseq());
        assert!(!key("SEEN").uses_modseq());
    }

    #[test]
    fn random_messages_never_panic_in_search() {
        let mut state = 0x1234_5678_9abc_def1u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let pieces: &[&[u8]] = &[
            b"Content-Type: multipart/mixed; boundary=x\r\n",
            b"Content-Type: text/plain; charset=\"utf-7\"\r\n",
            b"Content-Type: text/plain; charset=bogus\r\n",
            b"Content-Transfer-Encoding: base64\r\n",
            b"Content-Transfer-Encoding: quoted-printable\r\n",
            b"--x\r\n",
            b"\r\n",
            b"Subject: =?x?q?=FF?= =?utf-8?b?====?=\r\n",
            b"Date: 99 Foo 12345 99:99\r\n",
            b"=\r\n",
            b"\xff\xfe\x00",
            b"QUJD",
        ];
        let program = key("OR TEXT abc (BODY x SUBJECT y SENTSINCE 1-Jan-2000 HEADER Date 9)");
        for _ in 0..2000 {
            let n = (next() % 20) as usize;
            let mut raw = Vec::new();
            for _ in 0..n {
                raw.extend_from_slice(pieces[(next() % pieces.len() as u64) as usize]);
            }
            let v = TestView::new(&raw);
            let ctx = SearchContext {
                seq: 1,
                max_seq: 1,
                max_uid: 1,
            };
            let _ = matches(&program, ctx, &v).unwrap();
        }
    }
}
