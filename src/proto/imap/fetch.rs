//! FETCH attributes and the renderer of `* n FETCH (...)` responses.

use std::borrow::Cow;

use super::bodystructure::body_structure;
use super::datetime::DateTime;
use super::envelope::Envelope;
use super::flag::Flag;
use super::message::{crlf_size, extend_crlf, Message};
use super::response::{write_flag_list, write_literal, write_string};
use super::section::{self, Section, SectionText};

/// A `<origin.count>` partial range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partial {
    /// First octet (0-based).
    pub origin: u32,
    /// Most octets returned.
    pub count: u32,
}

/// One FETCH data item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchAttribute {
    /// `ENVELOPE`
    Envelope,
    /// `FLAGS`
    Flags,
    /// `INTERNALDATE`
    InternalDate,
    /// `RFC822` (sets `\Seen`)
    Rfc822,
    /// `RFC822.HEADER`
    Rfc822Header,
    /// `RFC822.SIZE`
    Rfc822Size,
    /// `RFC822.TEXT` (sets `\Seen`)
    Rfc822Text,
    /// `BODY` (non-extensible structure)
    Body,
    /// `BODYSTRUCTURE`
    BodyStructure,
    /// `UID`
    Uid,
    /// `MODSEQ` (CONDSTORE)
    ModSeq,
    /// `BINARY[part]<partial>` / `BINARY.PEEK[...]` (RFC 3516): the part decoded.
    Binary {
        /// The part number path (empty: the whole message).
        part: Vec<u32>,
        /// Optional sub-range of the decoded content.
        partial: Option<Partial>,
        /// `.PEEK`: do not set `\Seen`.
        peek: bool,
    },
    /// `BINARY.SIZE[part]` (RFC 3516): the size of the decoded part.
    BinarySize {
        /// The part number path.
        part: Vec<u32>,
    },
    /// `BODY[section]<partial>` / `BODY.PEEK[...]`
    BodySection {
        /// Which bytes.
        section: Section,
        /// Optional sub-range.
        partial: Option<Partial>,
        /// `.PEEK`: do not set `\Seen`.
        peek: bool,
    },
}

impl FetchAttribute {
    /// `ALL` = FLAGS INTERNALDATE RFC822.SIZE ENVELOPE
    pub fn all() -> Vec<FetchAttribute> {
        use FetchAttribute::*;
        vec![Flags, InternalDate, Rfc822Size, Envelope]
    }

    /// `FAST` = FLAGS INTERNALDATE RFC822.SIZE
    pub fn fast() -> Vec<FetchAttribute> {
        use FetchAttribute::*;
        vec![Flags, InternalDate, Rfc822Size]
    }

    /// `FULL` = FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODY
    pub fn full() -> Vec<FetchAttribute> {
        use FetchAttribute::*;
        vec![Flags, InternalDate, Rfc822Size, Envelope, Body]
    }

    /// Whether fetching this sets `\Seen` (in a read-write mailbox).
    pub fn sets_seen(&self) -> bool {
        matches!(
            self,
            FetchAttribute::Rfc822
                | FetchAttribute::Rfc822Text
                | FetchAttribute::BodySection { peek: false, .. }
                | FetchAttribute::Binary { peek: false, .. }
        )
    }

    /// Whether rendering needs the message bytes (not just the cached metadata).
    pub fn needs_content(&self) -> bool {
        !matches!(
            self,
            FetchAttribute::Flags
                | FetchAttribute::InternalDate
                | FetchAttribute::Uid
                | FetchAttribute::ModSeq
                | FetchAttribute::Rfc822Size
        )
    }
}

/// Whether any attribute sets `\Seen`.
pub fn sets_seen(attributes: &[FetchAttribute]) -> bool {
    attributes.iter().any(FetchAttribute::sets_seen)
}

/// What the renderer needs to know about one message. The session implements it
/// over the mailbox state; caches can answer ENVELOPE / BODYSTRUCTURE cheaply.
pub trait MessageView {
    /// The message's UID.
    fn uid(&self) -> u32;
    /// Current flags, including `\Recent` when it applies to this session.
    fn flags(&self) -> Cow<'_, [Flag]>;
    /// Internal date (delivery time).
    fn internal_date(&self) -> DateTime;
    /// CONDSTORE mod-sequence.
    fn modseq(&self) -> u64;
    /// The raw stored bytes (LF or CRLF line ends).
    fn raw(&self) -> std::io::Result<Cow<'_, [u8]>>;
    /// RFC822.SIZE (CRLF octets) if cached; otherwise computed from `raw`.
    fn cached_size(&self) -> Option<u64> {
        None
    }
    /// Appends the flag list of FLAGS (`(\\Seen $Junk)`): what [`MessageView::flags`] holds,
    /// unless a view can write it without building the list.
    fn write_flags(&self, out: &mut Vec<u8>) {
        write_flag_list(out, &self.flags());
    }
    /// Pre-rendered ENVELOPE if cached.
    fn cached_envelope(&self) -> Option<Cow<'_, [u8]>> {
        None
    }
    /// Pre-rendered BODYSTRUCTURE if cached.
    fn cached_body_structure(&self) -> Option<Cow<'_, [u8]>> {
        None
    }
}

/// Rendering failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The message content could not be read.
    #[error("cannot read message: {0}")]
    Read(#[from] std::io::Error),
    /// A BINARY part's encoding cannot be undone (RFC 3516 `[UNKNOWN-CTE]`).
    #[error("{0}")]
    UnknownCte(section::UnknownCte),
}

/// Renders `* seq FETCH (...)` CRLF for one message, attributes in request order.
/// A UID FETCH should include [`FetchAttribute::Uid`] (the session adds it).
pub fn render_fetch(
    seq: u32,
    attributes: &[FetchAttribute],
    view: &dyn MessageView,
) -> Result<Vec<u8>, FetchError> {
    let mut out = Vec::new();
    render_fetch_into(&mut out, seq, attributes, view)?;
    Ok(out)
}

/// [`render_fetch`] appending to `out` (a FETCH step's output: no buffer per message). On an
/// error nothing is appended.
pub fn render_fetch_into(
    out: &mut Vec<u8>,
    seq: u32,
    attributes: &[FetchAttribute],
    view: &dyn MessageView,
) -> Result<(), FetchError> {
    let raw = if attributes.iter().any(|a| needs_raw(a, view)) {
        Some(view.raw()?)
    } else {
        None
    };
    let binary = attributes.iter().any(|a| {
        matches!(
            a,
            FetchAttribute::Binary { .. } | FetchAttribute::BinarySize { .. }
        )
    });
    if binary {
        // RFC 3516: a part whose encoding cannot be undone fails the FETCH ([UNKNOWN-CTE]).
        let full = Message::parse(raw.as_deref().unwrap_or_default());
        for a in attributes {
            if let FetchAttribute::Binary { part, .. } | FetchAttribute::BinarySize { part } = a {
                if let Err(e) = section::binary(&full, part) {
                    return Err(FetchError::UnknownCte(e));
                }
            }
        }
    }
    let structured = attributes.iter().any(|a| needs_structure(a, view));
    // The whole message and its size come from the raw bytes: no parse (nor a CRLF copy of
    // the message) unless another item needs one.
    let parsed = structured
        || attributes.iter().any(|a| {
            needs_raw(a, view) && !whole_message(a) && !matches!(a, FetchAttribute::Rfc822Size)
        });
    let message = raw.as_deref().filter(|_| parsed).map(|r| {
        if structured {
            Message::parse(r)
        } else {
            Message::parse_shallow(r)
        }
    });
    let empty = Message::parse_shallow(b"");
    let msg = message.as_ref().unwrap_or(&empty);
    render(out, seq, attributes, view, msg, raw.as_deref(), false);
    Ok(())
}

/// Renders `* seq FETCH (...)` for a message whose content is gone (another session expunged
/// it since this one's view was taken): what the view holds (UID, FLAGS, INTERNALDATE, MODSEQ,
/// cached sizes and renderings), `NIL` for the message text, and the ENVELOPE and
/// BODYSTRUCTURE of an empty message where none is cached. The FETCH then completes `OK`, as
/// Dovecot's does (RFC 3501 §7.4.1 allows either; a NO makes clients treat a sync as failed).
pub fn render_fetch_gone(
    seq: u32,
    attributes: &[FetchAttribute],
    view: &dyn MessageView,
) -> Vec<u8> {
    let empty = Message::parse(b"");
    let mut out = Vec::new();
    render(&mut out, seq, attributes, view, &empty, None, true);
    out
}

/// Appends the decimal form of `n` (no formatter, no allocation: FETCH writes several numbers
/// for every message).
pub fn write_number(out: &mut Vec<u8>, n: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

fn render(
    out: &mut Vec<u8>,
    seq: u32,
    attributes: &[FetchAttribute],
    view: &dyn MessageView,
    msg: &Message<'_>,
    raw: Option<&[u8]>,
    gone: bool,
) {
    out.extend_from_slice(b"* ");
    write_number(out, seq);
    out.extend_from_slice(b" FETCH (");
    for (i, attr) in attributes.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        if gone && needs_raw(attr, view) {
            write_gone(out, attr);
        } else {
            render_attribute(out, attr, view, msg, raw);
        }
    }
    out.extend_from_slice(b")\r\n");
}

/// A content item of a message that is gone: its name and `NIL` (all are nstrings), or the
/// structure of an empty message for BODY.
fn write_gone(out: &mut Vec<u8>, attr: &FetchAttribute) {
    match attr {
        FetchAttribute::Rfc822 => out.extend_from_slice(b"RFC822 NIL"),
        FetchAttribute::Rfc822Header => out.extend_from_slice(b"RFC822.HEADER NIL"),
        FetchAttribute::Rfc822Text => out.extend_from_slice(b"RFC822.TEXT NIL"),
        FetchAttribute::BodySection {
            section, partial, ..
        } => {
            out.extend_from_slice(b"BODY[");
            section.write_spec(out);
            out.push(b']');
            if let Some(p) = partial {
                out.extend_from_slice(format!("<{}>", p.origin).as_bytes());
            }
            out.extend_from_slice(b" NIL");
        }
        FetchAttribute::Body => {
            out.extend_from_slice(b"BODY ");
            out.extend_from_slice(&body_structure(&Message::parse(b""), false));
        }
        FetchAttribute::BodyStructure => {
            out.extend_from_slice(b"BODYSTRUCTURE ");
            out.extend_from_slice(&body_structure(&Message::parse(b""), true));
        }
        FetchAttribute::Envelope => {
            out.extend_from_slice(b"ENVELOPE ");
            Envelope::default().write(out);
        }
        FetchAttribute::Rfc822Size => out.extend_from_slice(b"RFC822.SIZE 0"),
        FetchAttribute::Binary { part, partial, .. } => {
            out.extend_from_slice(b"BINARY[");
            write_part(out, part);
            out.push(b']');
            if let Some(p) = partial {
                out.extend_from_slice(format!("<{}>", p.origin).as_bytes());
            }
            out.extend_from_slice(b" NIL");
        }
        FetchAttribute::BinarySize { part } => {
            out.extend_from_slice(b"BINARY.SIZE[");
            write_part(out, part);
            out.extend_from_slice(b"] 0");
        }
        FetchAttribute::Uid
        | FetchAttribute::Flags
        | FetchAttribute::InternalDate
        | FetchAttribute::ModSeq => {}
    }
}

/// Whether the MIME part tree is needed (not just the header/body split).
fn needs_structure(attr: &FetchAttribute, view: &dyn MessageView) -> bool {
    match attr {
        FetchAttribute::Body => true,
        FetchAttribute::BodyStructure => view.cached_body_structure().is_none(),
        FetchAttribute::BodySection { section, .. } => !section.part.is_empty(),
        FetchAttribute::Binary { part, .. } | FetchAttribute::BinarySize { part } => {
            !part.is_empty()
        }
        _ => false,
    }
}

/// Whether `attr` is the whole message (RFC822, BODY[] without a range): written from the raw
/// bytes converted to CRLF straight into the output ([`write_crlf_literal`]).
fn whole_message(attr: &FetchAttribute) -> bool {
    match attr {
        FetchAttribute::Rfc822 => true,
        FetchAttribute::BodySection {
            section,
            partial: None,
            ..
        } => section.part.is_empty() && section.text.is_none(),
        _ => false,
    }
}

/// Writes `raw` in CRLF form as a literal: what [`write_literal`] of [`Message::bytes`] writes,
/// without the copy of the message. `known` is the CRLF size the state holds (RFC822.SIZE):
/// it saves counting the bare LFs first; converted bytes that do not come to it are written
/// again with the size counted, so the literal is always exact.
fn write_crlf_literal(out: &mut Vec<u8>, raw: &[u8], known: Option<u64>) {
    let start = out.len();
    let size = known.unwrap_or_else(|| crlf_size(raw));
    out.push(b'{');
    write_number(out, size);
    out.extend_from_slice(b"}\r\n");
    let body = out.len();
    extend_crlf(out, raw);
    if known.is_some() && (out.len() - body) as u64 != size {
        out.truncate(start);
        write_crlf_literal(out, raw, None);
    }
}

fn needs_raw(attr: &FetchAttribute, view: &dyn MessageView) -> bool {
    match attr {
        FetchAttribute::Rfc822Size => view.cached_size().is_none(),
        FetchAttribute::Envelope => view.cached_envelope().is_none(),
        FetchAttribute::BodyStructure => view.cached_body_structure().is_none(),
        other => other.needs_content(),
    }
}

fn render_attribute(
    out: &mut Vec<u8>,
    attr: &FetchAttribute,
    view: &dyn MessageView,
    msg: &Message<'_>,
    raw: Option<&[u8]>,
) {
    match attr {
        FetchAttribute::Uid => {
            out.extend_from_slice(b"UID ");
            write_number(out, view.uid());
        }
        FetchAttribute::Flags => {
            out.extend_from_slice(b"FLAGS ");
            view.write_flags(out);
        }
        FetchAttribute::InternalDate => {
            out.extend_from_slice(b"INTERNALDATE ");
            write_string(out, view.internal_date().to_string().as_bytes());
        }
        FetchAttribute::ModSeq => {
            out.extend_from_slice(b"MODSEQ (");
            write_number(out, view.modseq());
            out.push(b')');
        }
        FetchAttribute::Rfc822Size => {
            let size = view
                .cached_size()
                .unwrap_or_else(|| raw.map(crlf_size).unwrap_or_default());
            out.extend_from_slice(b"RFC822.SIZE ");
            write_number(out, size);
        }
        FetchAttribute::Envelope => {
            out.extend_from_slice(b"ENVELOPE ");
            match view.cached_envelope() {
                Some(cached) => out.extend_from_slice(&cached),
                None => Envelope::from_header(msg.slice(&msg.root().header)).write(out),
            }
        }
        FetchAttribute::BodyStructure => {
            out.extend_from_slice(b"BODYSTRUCTURE ");
            match view.cached_body_structure() {
                Some(cached) => out.extend_from_slice(&cached),
                None => out.extend_from_slice(&body_structure(msg, true)),
            }
        }
        FetchAttribute::Body => {
            out.extend_from_slice(b"BODY ");
            out.extend_from_slice(&body_structure(msg, false));
        }
        FetchAttribute::Rfc822 => {
            out.extend_from_slice(b"RFC822 ");
            write_crlf_literal(out, raw.unwrap_or_default(), view.cached_size());
        }
        FetchAttribute::Rfc822Header => {
            out.extend_from_slice(b"RFC822.HEADER ");
            write_literal(out, msg.slice(&msg.root().header));
        }
        FetchAttribute::Rfc822Text => {
            out.extend_from_slice(b"RFC822.TEXT ");
            write_literal(out, msg.slice(&msg.root().body));
        }
        FetchAttribute::Binary { part, partial, .. } => {
            out.extend_from_slice(b"BINARY[");
            write_part(out, part);
            out.push(b']');
            let decoded = section::binary(msg, part).unwrap_or_default();
            let bytes: &[u8] = match partial {
                Some(p) => {
                    out.extend_from_slice(format!("<{}>", p.origin).as_bytes());
                    let start = (p.origin as usize).min(decoded.len());
                    let end = start.saturating_add(p.count as usize).min(decoded.len());
                    decoded.get(start..end).unwrap_or_default()
                }
                None => &decoded,
            };
            out.push(b' ');
            // RFC 3516 §4.3: literal8 when the content holds a NUL.
            if bytes.contains(&0) {
                out.push(b'~');
            }
            write_literal(out, bytes);
        }
        FetchAttribute::BinarySize { part } => {
            out.extend_from_slice(b"BINARY.SIZE[");
            write_part(out, part);
            let size = section::binary(msg, part).map_or(0, |b| b.len());
            out.extend_from_slice(format!("] {size}").as_bytes());
        }
        FetchAttribute::BodySection {
            section, partial, ..
        } => {
            out.extend_from_slice(b"BODY[");
            section.write_spec(out);
            out.push(b']');
            if whole_message(attr) {
                out.push(b' ');
                write_crlf_literal(out, raw.unwrap_or_default(), view.cached_size());
                return;
            }
            let bytes = section.extract(msg);
            let bytes: &[u8] = match partial {
                Some(p) => {
                    out.extend_from_slice(format!("<{}>", p.origin).as_bytes());
                    let start = (p.origin as usize).min(bytes.len());
                    let end = start.saturating_add(p.count as usize).min(bytes.len());
                    bytes.get(start..end).unwrap_or_default()
                }
                None => &bytes,
            };
            out.push(b' ');
            write_literal(out, bytes);
        }
    }
}

/// Writes a part number path (`1.2.3`).
fn write_part(out: &mut Vec<u8>, part: &[u32]) {
    let text: Vec<String> = part.iter().map(u32::to_string).collect();
    out.extend_from_slice(text.join(".").as_bytes());
}

/// Whether a section is a pure header request (handy for caching decisions).
pub fn is_header_only(section: &Section) -> bool {
    matches!(
        section.text,
        Some(SectionText::Header)
            | Some(SectionText::HeaderFields(_))
            | Some(SectionText::HeaderFieldsNot(_))
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A literal of the whole message is exact whatever size the state claims: right, too
    /// small, too large, or none.
    #[test]
    fn a_whole_message_literal_is_exact_whatever_size_is_known() {
        let messages: [&[u8]; 5] = [
            b"",
            b"a\nb\n",
            b"a\r\nb\r\n",
            b"\n\n\r\n\rx",
            b"mixed\r\nand\nbare",
        ];
        for raw in messages {
            let mut want = Vec::new();
            write_literal(&mut want, &crate::proto::imap::message::to_crlf(raw));
            let right = crlf_size(raw);
            for known in [
                None,
                Some(right),
                Some(0),
                Some(right + 1),
                Some(right.saturating_sub(1)),
                Some(u64::MAX),
            ] {
                let mut out = b"* 1 FETCH (BODY[] ".to_vec();
                write_crlf_literal(&mut out, raw, known);
                assert_eq!(&out[18..], want.as_slice(), "{raw:?} {known:?}");
                assert_eq!(&out[..18], b"* 1 FETCH (BODY[] ");
            }
        }
    }
    use crate::proto::imap::command::CommandKind;
    use crate::proto::imap::parser::parse_command;

    /// A message held in memory, as a session's view would present it.
    pub(crate) struct TestView {
        pub uid: u32,
        pub flags: Vec<Flag>,
        pub date: DateTime,
        pub modseq: u64,
        pub raw: Vec<u8>,
        pub cached_envelope: Option<Vec<u8>>,
    }

    impl TestView {
        pub(crate) fn new(raw: &[u8]) -> Self {
            TestView {
                uid: 4827313,
                flags: vec![Flag::Seen],
                date: DateTime::parse_imap("17-Jul-1996 02:44:25 -0700").unwrap(),
                modseq: 12121231000,
                raw: raw.to_vec(),
                cached_envelope: None,
            }
        }
    }

    impl MessageView for TestView {
        fn uid(&self) -> u32 {
            self.uid
        }
        fn flags(&self) -> Cow<'_, [Flag]> {
            Cow::Borrowed(&self.flags)
        }
        fn internal_date(&self) -> DateTime {
            self.date
        }
        fn modseq(&self) -> u64 {
            self.modseq
        }
        fn raw(&self) -> std::io::Result<Cow<'_, [u8]>> {
            Ok(Cow::Borrowed(&self.raw))
        }
        fn cached_envelope(&self) -> Option<Cow<'_, [u8]>> {
            self.cached_envelope.as_deref().map(Cow::Borrowed)
        }
    }

    struct Unreadable;

    impl MessageView for Unreadable {
        fn uid(&self) -> u32 {
            9
        }
        fn flags(&self) -> Cow<'_, [Flag]> {
            Cow::Owned(vec![Flag::Recent])
        }
        fn internal_date(&self) -> DateTime {
            DateTime::from_unix(0, 0)
        }
        fn modseq(&self) -> u64 {
            1
        }
        fn raw(&self) -> std::io::Result<Cow<'_, [u8]>> {
            Err(std::io::Error::new(std::io::ErrorKind::NotFound, "gone"))
        }
        fn cached_size(&self) -> Option<u64> {
            Some(42)
        }
    }

    const RAW: &[u8] = b"Subject: hi\nFrom: a@b.example\n\nline one\nline two\n";

    fn attrs(text: &str) -> Vec<FetchAttribute> {
        match parse_command(format!("a FETCH 1 {text}\r\n").as_bytes())
            .unwrap()
            .kind
        {
            CommandKind::Fetch { attributes, .. } => attributes,
            other => panic!("{other:?}"),
        }
    }

    fn render(text: &str, view: &dyn MessageView) -> String {
        String::from_utf8(render_fetch(12, &attrs(text), view).unwrap()).unwrap()
    }

    #[test]
    fn render_table() {
        let view = TestView::new(RAW);
        let cases: &[(&str, &str)] = &[
        ("FLAGS", "* 12 FETCH (FLAGS (\\Seen))\r\n"),
        ("(UID FLAGS)", "* 12 FETCH (UID 4827313 FLAGS (\\Seen))\r\n"),
        ("INTERNALDATE", "* 12 FETCH (INTERNALDATE \"17-Jul-1996 02:44:25 -0700\")\r\n"),
        ("RFC822.SIZE", "* 12 FETCH (RFC822.SIZE 54)\r\n"),
        ("MODSEQ", "* 12 FETCH (MODSEQ (12121231000))\r\n"),
        ("FAST", "* 12 FETCH (FLAGS (\\Seen) INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" RFC822.SIZE 54)\r\n"),
        ("ENVELOPE", "* 12 FETCH (ENVELOPE (NIL \"hi\" ((NIL NIL \"a\" \"b.example\")) ((NIL NIL \"a\" \"b.example\")) ((NIL NIL \"a\" \"b.example\")) NIL NIL NIL NIL NIL))\r\n"),
        ("BODY", "* 12 FETCH (BODY (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 20 2))\r\n"),
        ("BODYSTRUCTURE", "* 12 FETCH (BODYSTRUCTURE (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 20 2 NIL NIL NIL NIL))\r\n"),
        ("RFC822", "* 12 FETCH (RFC822 {54}\r\nSubject: hi\r\nFrom: a@b.example\r\n\r\nline one\r\nline two\r\n)\r\n"),
        ("RFC822.HEADER", "* 12 FETCH (RFC822.HEADER {34}\r\nSubject: hi\r\nFrom: a@b.example\r\n\r\n)\r\n"),
        ("RFC822.TEXT", "* 12 FETCH (RFC822.TEXT {20}\r\nline one\r\nline two\r\n)\r\n"),
        ("BODY[TEXT]", "* 12 FETCH (BODY[TEXT] {20}\r\nline one\r\nline two\r\n)\r\n"),
        ("BODY.PEEK[HEADER.FIELDS (subject)]", "* 12 FETCH (BODY[HEADER.FIELDS (subject)] {15}\r\nSubject: hi\r\n\r\n)\r\n"),
        ("BODY[]<0.7>", "* 12 FETCH (BODY[]<0> {7}\r\nSubject)\r\n"),
        ("BODY[]<45.100>", "* 12 FETCH (BODY[]<45> {9}\r\nine two\r\n)\r\n"),
        ("BODY[]<1000.10>", "* 12 FETCH (BODY[]<1000> {0}\r\n)\r\n"),
        ("BODY[1]", "* 12 FETCH (BODY[1] {20}\r\nline one\r\nline two\r\n)\r\n"),
        ("BODY[2]", "* 12 FETCH (BODY[2] {0}\r\n)\r\n"),
        ("BODY[1.MIME]", "* 12 FETCH (BODY[1.MIME] {34}\r\nSubject: hi\r\nFrom: a@b.example\r\n\r\n)\r\n"),
    ];
        for &(request, want) in cases {
            assert_eq!(render(request, &view), want, "{request}");
        }
    }

    #[test]
    fn seen_table() {
        let cases: &[(&str, bool)] = &[
            ("FLAGS", false),
            ("ALL", false),
            ("FULL", false),
            ("RFC822", true),
            ("RFC822.TEXT", true),
            ("RFC822.HEADER", false),
            ("BODY[]", true),
            ("BODY.PEEK[]", false),
            ("(BODY.PEEK[] BODY[1])", true),
            ("BODYSTRUCTURE", false),
        ];
        for &(request, want) in cases {
            assert_eq!(sets_seen(&attrs(request)), want, "{request}");
        }
    }

    #[test]
    fn a_message_gone_renders_what_is_at_hand_and_nil_for_its_text() {
        let got = render_fetch_gone(
            3,
            &attrs("(UID FLAGS RFC822.SIZE BODY.PEEK[] BODY[HEADER.FIELDS (From)]<0.5> RFC822.TEXT ENVELOPE)"),
            &Unreadable,
        );
        assert_eq!(
            String::from_utf8(got).unwrap(),
            "* 3 FETCH (UID 9 FLAGS (\\Recent) RFC822.SIZE 42 BODY[] NIL \
BODY[HEADER.FIELDS (From)]<0> NIL RFC822.TEXT NIL \
ENVELOPE (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL))\r\n"
        );
        // Cached renderings are still at hand.
        let mut cached = TestView::new(RAW);
        cached.cached_envelope = Some(b"(CACHED)".to_vec());
        let got = render_fetch_gone(1, &attrs("(ENVELOPE BODYSTRUCTURE)"), &cached);
        let got = String::from_utf8(got).unwrap();
        assert!(
            got.starts_with("* 1 FETCH (ENVELOPE (CACHED) BODYSTRUCTURE (\"TEXT\""),
            "{got}"
        );
    }

    #[test]
    fn caches_avoid_reading_the_message() {
        let view = Unreadable;
        assert_eq!(
            render("(UID FLAGS RFC822.SIZE MODSEQ)", &view),
            "* 12 FETCH (UID 9 FLAGS (\\Recent) RFC822.SIZE 42 MODSEQ (1))\r\n"
        );
        assert!(render_fetch(1, &attrs("ENVELOPE"), &view).is_err());
        let mut cached = TestView::new(RAW);
        cached.cached_envelope = Some(b"(CACHED)".to_vec());
        assert_eq!(
            render("ENVELOPE", &cached),
            "* 12 FETCH (ENVELOPE (CACHED))\r\n"
        );
    }

    #[test]
    fn header_only_sections() {
        assert!(is_header_only(&Section {
            part: vec![],
            text: Some(SectionText::Header)
        }));
        assert!(!is_header_only(&Section {
            part: vec![],
            text: None
        }));
    }
}
