//! A message as IMAP sees it: raw bytes normalised to CRLF line ends and split
//! into a MIME part tree with exact byte ranges (RFC 2045/2046), never panicking
//! on malformed input.
//!
//! Every range indexes [`Message::bytes`], the CRLF form, so RFC822.SIZE, partial
//! fetches and section bytes all agree.

use std::borrow::Cow;
use std::ops::Range;

/// Deepest multipart / message nesting parsed; deeper parts become leaves.
pub const MAX_DEPTH: usize = 32;
/// Most parts parsed in one message; later parts are folded into their parent's body.
pub const MAX_PARTS: usize = 5000;

/// `raw` with every bare LF turned into CRLF (bare CR is left alone).
pub fn to_crlf(raw: &[u8]) -> Cow<'_, [u8]> {
    let bare = count_bare_lf(raw);
    if bare == 0 {
        return Cow::Borrowed(raw);
    }
    let mut out = Vec::with_capacity(raw.len() + bare);
    extend_crlf(&mut out, raw);
    Cow::Owned(out)
}

/// Appends `raw` to `out` with every bare LF turned into CRLF ([`to_crlf`] without a buffer of
/// its own: a FETCH converts each message straight into its output).
pub fn extend_crlf(out: &mut Vec<u8>, raw: &[u8]) {
    // Whole lines copied at once between the bare LFs (memchr finds them), not byte by byte:
    // this runs over every byte of every message body a FETCH sends.
    let mut start = 0;
    for at in memchr::memchr_iter(b'\n', raw) {
        if at == 0 || raw.get(at - 1) != Some(&b'\r') {
            out.extend_from_slice(raw.get(start..at).unwrap_or_default());
            out.push(b'\r');
            start = at;
        }
    }
    out.extend_from_slice(raw.get(start..).unwrap_or_default());
}

/// Size of `raw` once normalised to CRLF (the RFC822.SIZE), without copying.
pub fn crlf_size(raw: &[u8]) -> u64 {
    (raw.len() + count_bare_lf(raw)) as u64
}

fn count_bare_lf(raw: &[u8]) -> usize {
    memchr::memchr_iter(b'\n', raw)
        .filter(|&at| at == 0 || raw.get(at - 1) != Some(&b'\r'))
        .count()
}

/// A parsed `Content-Type` (or the RFC 2045 default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentType {
    /// Top-level type, upper-cased (`TEXT`).
    pub media_type: String,
    /// Subtype, upper-cased (`PLAIN`).
    pub subtype: String,
    /// Parameters: names upper-cased, values as written (unquoted).
    pub params: Vec<(String, String)>,
}

impl ContentType {
    /// `text/plain; charset=us-ascii`, the RFC 2045 default.
    pub fn default_text() -> Self {
        ContentType {
            media_type: "TEXT".into(),
            subtype: "PLAIN".into(),
            params: vec![("CHARSET".into(), "US-ASCII".into())],
        }
    }

    /// `message/rfc822`, the default inside multipart/digest.
    pub fn default_message() -> Self {
        ContentType {
            media_type: "MESSAGE".into(),
            subtype: "RFC822".into(),
            params: Vec::new(),
        }
    }

    /// Value of a parameter by (case-insensitive) name.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether this is `type/subtype` (case-insensitive).
    pub fn is(&self, media_type: &str, subtype: &str) -> bool {
        self.media_type.eq_ignore_ascii_case(media_type)
            && self.subtype.eq_ignore_ascii_case(subtype)
    }
}

/// What a part contains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartKind {
    /// A leaf body.
    Leaf,
    /// `multipart/*` with its children (at least one).
    Multipart(Vec<Part>),
    /// `message/rfc822`: the embedded message (its header + body).
    Message(Box<Part>),
}

/// One MIME entity: a header, a body, and for containers the nested parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// Header bytes, including the blank line that ends them (if present).
    pub header: Range<usize>,
    /// Body bytes.
    pub body: Range<usize>,
    /// The effective content type.
    pub content_type: ContentType,
    /// Children, if any.
    pub kind: PartKind,
}

/// A message in CRLF form with its part tree.
#[derive(Debug, Clone)]
pub struct Message<'a> {
    bytes: Cow<'a, [u8]>,
    root: Part,
}

impl<'a> Message<'a> {
    /// Parses a message stored with LF or CRLF line ends.
    pub fn parse(raw: &'a [u8]) -> Self {
        let bytes = to_crlf(raw);
        let mut budget = MAX_PARTS;
        let root = parse_part(
            &bytes,
            0..bytes.len(),
            ContentType::default_text(),
            0,
            &mut budget,
        );
        Message { bytes, root }
    }

    /// Splits header and body only, without the MIME tree: enough for
    /// `BODY[]`, `HEADER`, `TEXT`, `HEADER.FIELDS`, `RFC822.*` and ENVELOPE,
    /// and much cheaper for large messages. The root is reported as a leaf.
    pub fn parse_shallow(raw: &'a [u8]) -> Self {
        let bytes = to_crlf(raw);
        let (header, body) = split_header(&bytes, 0..bytes.len());
        let root = Part {
            header,
            body,
            content_type: ContentType::default_text(),
            kind: PartKind::Leaf,
        };
        Message { bytes, root }
    }

    /// The whole message in CRLF form (what `RFC822` / `BODY[]` return).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The top-level entity (header = message header).
    pub fn root(&self) -> &Part {
        &self.root
    }

    /// Bytes of a range (empty if out of range).
    pub fn slice(&self, range: &Range<usize>) -> &[u8] {
        self.bytes.get(range.clone()).unwrap_or_default()
    }

    /// The header of `part` as fields.
    pub fn fields(&self, part: &Part) -> Vec<HeaderField<'_>> {
        header_fields(self.slice(&part.header))
    }
}

/// One header field: its name, its unfolded value, and the raw lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderField<'a> {
    /// Field name as written.
    pub name: &'a [u8],
    /// Raw value after the colon (folding kept).
    pub raw_value: &'a [u8],
    /// The complete raw lines including the final CRLF.
    pub raw: &'a [u8],
}

impl HeaderField<'_> {
    /// The value with CRLFs removed and surrounding whitespace trimmed.
    pub fn value(&self) -> Vec<u8> {
        let unfolded: Vec<u8> = self
            .raw_value
            .iter()
            .copied()
            .filter(|&b| b != b'\r' && b != b'\n')
            .collect();
        unfolded.trim_ascii().to_vec()
    }

    /// Whether the field is named `name` (case-insensitive).
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name.as_bytes())
    }
}

/// Splits a header block into fields (lines without a colon are skipped).
pub fn header_fields(header: &[u8]) -> Vec<HeaderField<'_>> {
    let mut fields = Vec::new();
    let mut pos = 0;
    while pos < header.len() {
        let start = pos;
        // A field runs until a line end not followed by whitespace.
        let mut end = pos;
        loop {
            let rest = header.get(end..).unwrap_or_default();
            match rest.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    end += i + 1;
                    if !matches!(header.get(end), Some(b' ') | Some(b'\t')) {
                        break;
                    }
                }
                None => {
                    end = header.len();
                    break;
                }
            }
        }
        pos = end;
        let raw = header.get(start..end).unwrap_or_default();
        if let Some(colon) = raw.iter().position(|&b| b == b':') {
            let (name, value) = raw.split_at(colon);
            let name = name.trim_ascii();
            if !name.is_empty() && !name.iter().any(|b| b.is_ascii_whitespace()) {
                fields.push(HeaderField {
                    name,
                    raw_value: value.get(1..).unwrap_or_default(),
                    raw,
                });
            }
        }
    }
    fields
}

/// First value of a header field in a header block, unfolded and trimmed.
pub fn header_value(header: &[u8], name: &str) -> Option<Vec<u8>> {
    header_fields(header)
        .into_iter()
        .find(|f| f.is(name))
        .map(|f| f.value())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Splits an entity into its header (with the blank line) and its body.
fn split_header(bytes: &[u8], range: Range<usize>) -> (Range<usize>, Range<usize>) {
    let region = bytes.get(range.clone()).unwrap_or_default();
    let header_len = if region.starts_with(b"\r\n") {
        2
    } else {
        match find(region, b"\r\n\r\n") {
            Some(i) => i + 4,
            None => region.len(),
        }
    };
    let header = range.start..range.start + header_len;
    let body = header.end..range.end;
    (header, body)
}

fn parse_part(
    bytes: &[u8],
    range: Range<usize>,
    default: ContentType,
    depth: usize,
    budget: &mut usize,
) -> Part {
    *budget = budget.saturating_sub(1);
    let (header, body) = split_header(bytes, range);
    let header_bytes = bytes.get(header.clone()).unwrap_or_default();
    let content_type = header_value(header_bytes, "Content-Type")
        .and_then(|v| parse_content_type(&v))
        .unwrap_or(default);
    let encoding = header_value(header_bytes, "Content-Transfer-Encoding")
        .map(|v| String::from_utf8_lossy(&v).to_ascii_lowercase())
        .unwrap_or_default();
    let identity = matches!(encoding.as_str(), "" | "7bit" | "8bit" | "binary");
    let mut part = Part {
        header,
        body: body.clone(),
        content_type,
        kind: PartKind::Leaf,
    };
    if depth >= MAX_DEPTH || *budget == 0 {
        if part.content_type.media_type == "MULTIPART" || part.content_type.media_type == "MESSAGE"
        {
            part.content_type = ContentType {
                media_type: "APPLICATION".into(),
                subtype: "OCTET-STREAM".into(),
                params: Vec::new(),
            };
        }
        return part;
    }
    if part.content_type.media_type == "MULTIPART" {
        match part
            .content_type
            .param("BOUNDARY")
            .map(|b| b.as_bytes().to_vec())
        {
            Some(boundary) if !boundary.is_empty() => {
                let child_default = if part.content_type.subtype == "DIGEST" {
                    ContentType::default_message()
                } else {
                    ContentType::default_text()
                };
                let mut children = Vec::new();
                for child in split_multipart(bytes, body.clone(), &boundary) {
                    if *budget == 0 {
                        break;
                    }
                    children.push(parse_part(
                        bytes,
                        child,
                        child_default.clone(),
                        depth + 1,
                        budget,
                    ));
                }
                if children.is_empty() {
                    // No delimiter found: present one empty text part so the
                    // structure stays valid.
                    children.push(Part {
                        header: body.end..body.end,
                        body: body.end..body.end,
                        content_type: ContentType::default_text(),
                        kind: PartKind::Leaf,
                    });
                }
                part.kind = PartKind::Multipart(children);
            }
            _ => part.content_type = ContentType::default_text(),
        }
    } else if (part.content_type.is("MESSAGE", "RFC822")
        || part.content_type.is("MESSAGE", "GLOBAL"))
        && identity
    {
        let inner = parse_part(bytes, body, ContentType::default_text(), depth + 1, budget);
        part.kind = PartKind::Message(Box::new(inner));
    }
    part
}

/// The byte ranges of the parts of a multipart body (RFC 2046 §5.1.1): the CRLF
/// before a delimiter belongs to the delimiter; preamble and epilogue are dropped.
pub fn split_multipart(bytes: &[u8], body: Range<usize>, boundary: &[u8]) -> Vec<Range<usize>> {
    let mut parts = Vec::new();
    let mut current: Option<usize> = None;
    let mut line_start = body.start;
    while line_start < body.end {
        let line_end = bytes
            .get(line_start..body.end)
            .unwrap_or_default()
            .iter()
            .position(|&b| b == b'\n')
            .map(|i| line_start + i + 1)
            .unwrap_or(body.end);
        let line = bytes
            .get(line_start..line_end)
            .unwrap_or_default()
            .trim_ascii_end();
        if let Some(rest) = line
            .strip_prefix(b"--")
            .and_then(|l| l.strip_prefix(boundary))
        {
            let (close, after) = match rest.strip_prefix(b"--") {
                Some(after) => (true, after),
                None => (false, rest),
            };
            if after.iter().all(|b| b.is_ascii_whitespace()) {
                if let Some(start) = current.take() {
                    let mut end = line_start;
                    if end >= start + 2 && bytes.get(end - 2..end) == Some(b"\r\n") {
                        end -= 2;
                    }
                    parts.push(start..end.max(start));
                }
                if close {
                    return parts;
                }
                current = Some(line_end);
            }
        }
        line_start = line_end;
    }
    if let Some(start) = current {
        parts.push(start..body.end);
    }
    parts
}

/// Parses a MIME header value of the form `token[/token] *(; name=value)`, skipping
/// comments. Returns the leading value (lower-case kept as written) and the params.
pub fn parse_mime_value(value: &[u8]) -> Option<(String, Vec<(String, String)>)> {
    let mut tokens = MimeTokens { s: value, pos: 0 };
    let mut main = tokens.token()?;
    if tokens.eat(b'/') {
        let sub = tokens.token()?;
        main = format!("{main}/{sub}");
    }
    let mut params = Vec::new();
    while params.len() < 64 {
        if !tokens.eat(b';') {
            break;
        }
        let Some(name) = tokens.token() else { continue };
        if !tokens.eat(b'=') {
            continue;
        }
        let value = tokens.value().unwrap_or_default();
        params.push((name.to_ascii_uppercase(), value));
    }
    Some((main, params))
}

/// Parses a Content-Type value; `None` when it is not `type/subtype`.
pub fn parse_content_type(value: &[u8]) -> Option<ContentType> {
    let (main, params) = parse_mime_value(value)?;
    let (media_type, subtype) = main.split_once('/')?;
    Some(ContentType {
        media_type: media_type.to_ascii_uppercase(),
        subtype: subtype.to_ascii_uppercase(),
        params,
    })
}

struct MimeTokens<'a> {
    s: &'a [u8],
    pos: usize,
}

impl MimeTokens<'_> {
    fn skip_cfws(&mut self) {
        loop {
            while self
                .s
                .get(self.pos)
                .is_some_and(|b| b.is_ascii_whitespace())
            {
                self.pos += 1;
            }
            if self.s.get(self.pos) != Some(&b'(') {
                return;
            }
            let mut depth = 0usize;
            while let Some(&b) = self.s.get(self.pos) {
                self.pos += 1;
                match b {
                    b'(' => depth += 1,
                    b')' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    b'\\' => self.pos += 1,
                    _ => {}
                }
            }
        }
    }

    /// What was read since `start`, if anything.
    fn taken(&self, start: usize) -> Option<String> {
        let bytes = self.s.get(start..self.pos).filter(|b| !b.is_empty())?;
        Some(String::from_utf8_lossy(bytes).into_owned())
    }

    fn eat(&mut self, c: u8) -> bool {
        self.skip_cfws();
        if self.s.get(self.pos) == Some(&c) {
            self.pos += 1;
            true
        } else {
            // Resynchronise on junk: skip to the next ';' when looking for one.
            if c == b';' {
                if let Some(i) = self
                    .s
                    .get(self.pos.min(self.s.len())..)
                    .unwrap_or_default()
                    .iter()
                    .position(|&b| b == b';')
                {
                    self.pos += i + 1;
                    return true;
                }
            }
            false
        }
    }

    fn token(&mut self) -> Option<String> {
        self.skip_cfws();
        let start = self.pos;
        while self
            .s
            .get(self.pos)
            .is_some_and(|&b| b > b' ' && b < 0x7f && !b"()<>@,;:\\\"/[]?=".contains(&b))
        {
            self.pos += 1;
        }
        self.taken(start)
    }

    fn value(&mut self) -> Option<String> {
        self.skip_cfws();
        if self.s.get(self.pos) == Some(&b'"') {
            self.pos += 1;
            let mut out = Vec::new();
            while let Some(&b) = self.s.get(self.pos) {
                self.pos += 1;
                match b {
                    b'"' => break,
                    b'\\' => {
                        if let Some(&c) = self.s.get(self.pos) {
                            out.push(c);
                            self.pos += 1;
                        }
                    }
                    _ => out.push(b),
                }
            }
            return Some(String::from_utf8_lossy(&out).into_owned());
        }
        // Lenient: accept 8-bit and '/' etc. up to ';' or whitespace.
        let start = self.pos;
        while self
            .s
            .get(self.pos)
            .is_some_and(|&b| b != b';' && !b.is_ascii_whitespace())
        {
            self.pos += 1;
        }
        self.taken(start)
    }
}

/// Where the header block of `raw` ends: the offset just after the empty line that ends it
/// (CRLF or bare LF line ends), `None` while no empty line has been seen.
pub fn header_end(raw: &[u8]) -> Option<usize> {
    if raw.starts_with(b"\r\n") {
        return Some(2);
    }
    if raw.starts_with(b"\n") {
        return Some(1);
    }
    let mut i = 0;
    while let Some(nl) = raw
        .get(i..)
        .and_then(|r| r.iter().position(|&b| b == b'\n'))
    {
        let after = i + nl + 1;
        match raw.get(after..) {
            Some([b'\n', ..]) => return Some(after + 1),
            Some([b'\r', b'\n', ..]) => return Some(after + 2),
            _ => i = after,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_end_finds_the_empty_line() {
        assert_eq!(header_end(b"A: 1\r\nB: 2\r\n\r\nbody\r\n"), Some(14));
        assert_eq!(header_end(b"A: 1\nB: 2\n\nbody\n"), Some(11));
        assert_eq!(header_end(b"\r\nbody"), Some(2));
        assert_eq!(header_end(b"\nbody"), Some(1));
        assert_eq!(header_end(b"A: 1\r\nB: 2\r\n"), None);
        assert_eq!(header_end(b"A: 1\r\n\r"), None);
        assert_eq!(header_end(b""), None);
    }
    use crate::proto::imap::bodystructure::body_structure;
    use crate::proto::imap::envelope::Envelope;
    use crate::proto::imap::section::{Section, SectionText};

    const CORPUS: &[&str] = &["plain", "alternative", "attachment", "nested", "malformed"];

    fn corpus_dir() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/imap")
    }

    /// Renders the known-answer file for one corpus message.
    fn render_known_answers(raw: &[u8]) -> String {
        let message = Message::parse(raw);
        let mut out = Vec::new();
        out.extend_from_slice(b"RFC822.SIZE ");
        out.extend_from_slice(crlf_size(raw).to_string().as_bytes());
        out.extend_from_slice(b"\nENVELOPE ");
        Envelope::from_header(message.slice(&message.root().header)).write(&mut out);
        out.extend_from_slice(b"\nBODY ");
        out.extend_from_slice(&body_structure(&message, false));
        out.extend_from_slice(b"\nBODYSTRUCTURE ");
        out.extend_from_slice(&body_structure(&message, true));
        out.push(b'\n');
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn corpus_known_answers() {
        let bless = std::env::var_os("IMAP_BLESS").is_some();
        for name in CORPUS {
            let raw = std::fs::read(corpus_dir().join(format!("{name}.eml"))).unwrap();
            let got = render_known_answers(&raw);
            let path = corpus_dir().join(format!("{name}.expected"));
            if bless {
                std::fs::write(&path, &got).unwrap();
            }
            let want = std::fs::read_to_string(&path).unwrap();
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn crlf_normalisation() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"a\nb\n", b"a\r\nb\r\n"),
            (b"a\r\nb\r\n", b"a\r\nb\r\n"),
            (b"a\rb\n", b"a\rb\r\n"),
            (b"\n\n", b"\r\n\r\n"),
            (b"", b""),
            (b"mixed\r\nand\nbare", b"mixed\r\nand\r\nbare"),
        ];
        for &(raw, want) in cases {
            assert_eq!(&*to_crlf(raw), want);
            assert_eq!(crlf_size(raw), want.len() as u64);
        }
        assert!(matches!(to_crlf(b"x\r\n"), Cow::Borrowed(_)));
    }

    /// Every string of up to 7 bytes over `a`, CR and LF normalises as a byte-by-byte pass does.
    #[test]
    fn crlf_normalisation_matches_a_byte_by_byte_pass() {
        fn reference(raw: &[u8]) -> Vec<u8> {
            let mut out = Vec::new();
            let mut prev = 0u8;
            for &b in raw {
                if b == b'\n' && prev != b'\r' {
                    out.push(b'\r');
                }
                out.push(b);
                prev = b;
            }
            out
        }
        for len in 0..=7u32 {
            for code in 0..3usize.pow(len) {
                let raw: Vec<u8> = (0..len)
                    .map(|k| [b'a', b'\r', b'\n'][code / 3usize.pow(k) % 3])
                    .collect();
                let want = reference(&raw);
                assert_eq!(&*to_crlf(&raw), want.as_slice(), "{raw:?}");
                let mut appended = b"before".to_vec();
                extend_crlf(&mut appended, &raw);
                assert_eq!(&appended[..6], b"before");
                assert_eq!(&appended[6..], want.as_slice(), "{raw:?}");
                assert_eq!(crlf_size(&raw), want.len() as u64, "{raw:?}");
            }
        }
    }

    #[test]
    fn header_fields_unfold_and_skip_junk() {
        let header = b"Subject: one\r\n two\r\nbad line\r\nX-Empty:\r\nFrom:a@b\r\n\r\n";
        let fields = header_fields(header);
        let names: Vec<&[u8]> = fields.iter().map(|f| f.name).collect();
        assert_eq!(names, vec![&b"Subject"[..], b"X-Empty", b"From"]);
        assert_eq!(fields[0].value(), b"one two");
        assert_eq!(fields[0].raw, b"Subject: one\r\n two\r\n");
        assert_eq!(fields[1].value(), b"");
        assert_eq!(header_value(header, "from").as_deref(), Some(&b"a@b"[..]));
        assert_eq!(header_value(header, "to"), None);
    }

    #[test]
    fn content_type_parsing() {
        type Want<'a> = Option<(&'a str, &'a str, Vec<(&'a str, &'a str)>)>;
        let cases: &[(&str, Want)] = &[
            ("text/plain", Some(("TEXT", "PLAIN", vec![]))),
            (
                "Text/HTML; Charset=\"utf-8\"",
                Some(("TEXT", "HTML", vec![("CHARSET", "utf-8")])),
            ),
            (
                "multipart/mixed; boundary=\"a;b\" (comment); x=y",
                Some(("MULTIPART", "MIXED", vec![("BOUNDARY", "a;b"), ("X", "y")])),
            ),
            ("text/plain; charset", Some(("TEXT", "PLAIN", vec![]))),
            (
                "text/plain;; name=\"a \\\"q\\\" b\"",
                Some(("TEXT", "PLAIN", vec![("NAME", "a \"q\" b")])),
            ),
            ("text", None),
            ("", None),
            ("/plain", None),
        ];
        for (value, want) in cases {
            let got = parse_content_type(value.as_bytes());
            let want = want.as_ref().map(|(t, s, p)| ContentType {
                media_type: t.to_string(),
                subtype: s.to_string(),
                params: p
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            });
            assert_eq!(got, want, "{value}");
        }
    }

    #[test]
    fn multipart_split_ranges_are_exact() {
        let body = b"preamble\r\n--b\r\none\r\n--b  \r\nHeader: x\r\n\r\ntwo\r\n--b--\r\nepilogue";
        let ranges = split_multipart(body, 0..body.len(), b"b");
        let parts: Vec<&[u8]> = ranges.iter().map(|r| &body[r.clone()]).collect();
        assert_eq!(parts, vec![&b"one"[..], b"Header: x\r\n\r\ntwo"]);
        // Look-alike boundaries are not delimiters.
        let body = b"--b\r\n--bx\r\n--b-\r\n";
        let ranges = split_multipart(body, 0..body.len(), b"b");
        assert_eq!(ranges.len(), 1);
        assert_eq!(&body[ranges[0].clone()], b"--bx\r\n--b-\r\n");
        // Empty part between adjacent delimiters.
        let body = b"--b\r\n--b\r\nx\r\n--b--";
        let ranges = split_multipart(body, 0..body.len(), b"b");
        assert_eq!(
            ranges.iter().map(|r| r.len()).collect::<Vec<_>>(),
            vec![0, 1]
        );
    }

    fn section(part: &[u32], text: Option<SectionText>) -> Section {
        Section {
            part: part.to_vec(),
            text,
        }
    }

    #[test]
    fn sections_of_nested_message() {
        let raw = std::fs::read(corpus_dir().join("nested.eml")).unwrap();
        let message = Message::parse(&raw);
        let get = |s: Section| String::from_utf8_lossy(&s.extract(&message)).into_owned();
        let cases: Vec<(Section, &str)> = vec![
            (section(&[1], None), "See below."),
            (
                section(&[1], Some(SectionText::Mime)),
                "Content-Type: text/plain; charset=us-ascii\r\n\r\n",
            ),
            (
                section(&[2, 1], Some(SectionText::Mime)),
                "Content-Type: text/plain\r\n\r\n",
            ),
            (section(&[2, 1], None), "Lunch at noon?"),
            (section(&[2, 2], None), "<p>Lunch at noon?</p>"),
            (
                section(
                    &[2],
                    Some(SectionText::HeaderFields(vec![
                        "subject".into(),
                        "TO".into(),
                    ])),
                ),
                "To: bob@example.net\r\nSubject: Lunch\r\n\r\n",
            ),
            (
                section(&[], Some(SectionText::HeaderFields(vec!["Subject".into()]))),
                "Subject: Fwd: Lunch\r\n\r\n",
            ),
            (
                section(&[], Some(SectionText::HeaderFields(vec!["X-None".into()]))),
                "\r\n",
            ),
            (section(&[2, 3], None), ""),
            (section(&[3], None), ""),
            (section(&[1, 1], None), ""),
            (section(&[1], Some(SectionText::Header)), ""),
        ];
        for (s, want) in cases {
            assert_eq!(get(s.clone()), want, "{s:?}");
        }
        let text = get(section(&[2], Some(SectionText::Text)));
        assert!(
            text.starts_with("--inner\r\n") && text.ends_with("--inner--\r\n"),
            "{text:?}"
        );
        let whole = get(section(&[2], None));
        assert!(
            whole.starts_with("From: \"Doe, Jane\"") && whole.ends_with("--inner--\r\n"),
            "{whole:?}"
        );
        let not = get(section(
            &[],
            Some(SectionText::HeaderFieldsNot(vec![
                "From".into(),
                "To".into(),
                "Date".into(),
                "Message-ID".into(),
                "MIME-Version".into(),
                "Content-Type".into(),
            ])),
        ));
        assert_eq!(not, "Subject: Fwd: Lunch\r\n\r\n");
        assert_eq!(get(section(&[], None)).len() as u64, crlf_size(&raw));
        let header = get(section(&[], Some(SectionText::Header)));
        assert!(header.ends_with("\r\n\r\n") && header.starts_with("From: Alice"));
    }

    #[test]
    fn sections_of_single_part_message() {
        let raw = b"Subject: hi\n\nbody line\n";
        let message = Message::parse(raw);
        let get = |s: Section| s.extract(&message).into_owned();
        assert_eq!(get(section(&[1], None)), b"body line\r\n");
        assert_eq!(get(section(&[], Some(SectionText::Text))), b"body line\r\n");
        assert_eq!(
            get(section(&[1], Some(SectionText::Mime))),
            b"Subject: hi\r\n\r\n"
        );
        assert_eq!(get(section(&[2], None)), b"");
    }

    #[test]
    fn header_only_and_empty_messages() {
        for raw in [
            &b""[..],
            b"Subject: x",
            b"\r\n",
            b"\n\nbody",
            b"no colon at all",
        ] {
            let message = Message::parse(raw);
            let root = message.root();
            assert_eq!(root.header.end, root.body.start);
            assert_eq!(root.body.end, message.bytes().len());
            let _ = body_structure(&message, true);
        }
        let message = Message::parse(b"\r\nbody");
        assert_eq!(message.slice(&message.root().body), b"body");
    }

    fn nested_multiparts(depth: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for i in 0..depth {
            out.extend_from_slice(
                format!("Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n")
                    .as_bytes(),
            );
        }
        out.extend_from_slice(b"Content-Type: text/plain\r\n\r\ndeep\r\n");
        out
    }

    #[test]
    fn nesting_depth_is_bounded() {
        let raw = nested_multiparts(1000);
        let message = Message::parse(&raw);
        let mut depth = 0;
        let mut part = message.root();
        while let PartKind::Multipart(children) = &part.kind {
            depth += 1;
            part = &children[0];
        }
        assert!(depth <= MAX_DEPTH, "{depth}");
        let rendered = body_structure(&message, true);
        assert!(rendered.len() < 100_000);
        let raw = nested_multiparts(5);
        let message = Message::parse(&raw);
        let deep = Section {
            part: vec![1, 1, 1, 1, 1],
            text: None,
        };
        assert_eq!(&*deep.extract(&message), b"deep\r\n");
    }

    #[test]
    fn random_messages_never_panic() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let pieces: &[&[u8]] = &[
            b"Content-Type: multipart/mixed; boundary=x\r\n",
            b"Content-Type: message/rfc822\r\n",
            b"Content-Type: text/plain\n",
            b"--x\r\n",
            b"--x--\r\n",
            b"\r\n",
            b"\n",
            b"From: a <b@c>, (x) \"y\" <@r:z@w>;\r\n",
            b"Subject: \xff\xfe\r\n",
            b" folded\r\n",
            b"body text\r\n",
            b"=?utf-8?b?AAAA?=",
            b"Content-Disposition: attachment; filename=\"a\r\n",
        ];
        for _ in 0..3000 {
            let n = (next() % 30) as usize;
            let mut raw = Vec::new();
            for _ in 0..n {
                raw.extend_from_slice(pieces[(next() % pieces.len() as u64) as usize]);
            }
            let message = Message::parse(&raw);
            let _ = body_structure(&message, true);
            let _ = Envelope::from_header(message.slice(&message.root().header)).to_bytes();
            for path in [&[1u32][..], &[1, 1], &[2, 1, 1], &[]] {
                for text in [
                    None,
                    Some(SectionText::Text),
                    Some(SectionText::Header),
                    Some(SectionText::Mime),
                ] {
                    if text == Some(SectionText::Mime) && path.is_empty() {
                        continue;
                    }
                    let _ = section(path, text).extract(&message);
                }
            }
        }
    }

    #[test]
    fn digest_children_default_to_message_rfc822() {
        let raw = b"Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\nSubject: one\r\n\r\nfirst\r\n--d\r\nContent-Type: text/plain\r\n\r\nplain\r\n--d--\r\n";
        let message = Message::parse(raw);
        let got = String::from_utf8(body_structure(&message, false)).unwrap();
        assert_eq!(
        got,
        "((\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 21 (NIL \"one\" NIL NIL NIL NIL NIL NIL NIL NIL) (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 5 1) 3)(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 5 1) \"DIGEST\")"
    );
    }

    #[test]
    fn encoded_message_rfc822_is_a_leaf() {
        let raw = b"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\nU3ViamVjdDogeA==\r\n";
        let message = Message::parse(raw);
        assert_eq!(message.root().kind, PartKind::Leaf);
        let got = String::from_utf8(body_structure(&message, false)).unwrap();
        assert_eq!(got, "(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"BASE64\" 18)");
    }

    #[test]
    fn shallow_parse_agrees_on_top_level_sections() {
        for name in CORPUS {
            let raw = std::fs::read(corpus_dir().join(format!("{name}.eml"))).unwrap();
            let full = Message::parse(&raw);
            let shallow = Message::parse_shallow(&raw);
            for text in [
                None,
                Some(SectionText::Header),
                Some(SectionText::Text),
                Some(SectionText::HeaderFields(vec![
                    "Subject".into(),
                    "From".into(),
                ])),
                Some(SectionText::HeaderFieldsNot(vec!["Subject".into()])),
            ] {
                let s = section(&[], text);
                assert_eq!(s.extract(&full), s.extract(&shallow), "{name} {s:?}");
            }
        }
    }
}
