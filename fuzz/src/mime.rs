//! A message from the input through everything that reads messages: the IMAP part tree,
//! ENVELOPE and BODYSTRUCTURE, a FETCH of every section of every part, the receiving policy's
//! MIME scan (attachments, header bans), the collect client's header recipients and sender, and
//! the Date header. Every IMAP structure rendered must be well formed (balanced parentheses,
//! quoted strings closed and 7-bit, literals whole, no line end outside a literal), or a client
//! would misread the rest of the response.

use std::borrow::Cow;

use postern::proto::imap::bodystructure::body_structure;
use postern::proto::imap::datetime::DateTime;
use postern::proto::imap::envelope::Envelope as ImapEnvelope;
use postern::proto::imap::fetch::{render_fetch, FetchAttribute, MessageView, Partial};
use postern::proto::imap::flag::Flag;
use postern::proto::imap::message::{header_value, Message, Part, PartKind};
use postern::proto::imap::section::{Section, SectionText};

/// One message as the FETCH renderer sees it.
struct View<'a>(&'a [u8]);

impl MessageView for View<'_> {
    fn uid(&self) -> u32 {
        7
    }
    fn flags(&self) -> Cow<'_, [Flag]> {
        Cow::Owned(vec![Flag::Seen, Flag::Recent])
    }
    fn internal_date(&self) -> DateTime {
        DateTime::from_unix(1_700_000_000, 60)
    }
    fn modseq(&self) -> u64 {
        5
    }
    fn raw(&self) -> std::io::Result<Cow<'_, [u8]>> {
        Ok(Cow::Borrowed(self.0))
    }
}

/// Part paths of the tree (`1`, `1.2`, …), at most `limit`.
fn paths(part: &Part, prefix: &[u32], out: &mut Vec<Vec<u32>>, limit: usize) {
    let children: Vec<&Part> = match &part.kind {
        PartKind::Leaf => Vec::new(),
        PartKind::Multipart(parts) => parts.iter().collect(),
        PartKind::Message(inner) => match &inner.kind {
            PartKind::Multipart(parts) => parts.iter().collect(),
            _ => vec![&**inner],
        },
    };
    for (i, child) in children.into_iter().enumerate() {
        if out.len() >= limit {
            return;
        }
        let mut path = prefix.to_vec();
        path.push(i as u32 + 1);
        out.push(path.clone());
        paths(child, &path, out, limit);
    }
}

fn section(part: Vec<u32>, text: Option<SectionText>, partial: Option<Partial>) -> FetchAttribute {
    FetchAttribute::BodySection {
        section: Section { part, text },
        partial,
        peek: true,
    }
}

pub fn message(raw: &[u8]) {
    // Made 7-bit before signing: whatever it returns has 7-bit header fields (it never touches
    // them) and decodes as a message again.
    if let Some(seven) = postern::mailauth::sevenbit::downgrade(raw) {
        assert!(
            seven.len() <= raw.len() * 4 + 256,
            "re-encoding grew without bound"
        );
        let _ = Message::parse(&seven);
    }
    let m = Message::parse(raw);
    let mut bs = body_structure(&m, true);
    check_imap(&bs).unwrap_or_else(|e| panic!("BODYSTRUCTURE {e}: {:?}", lossy(&bs)));
    bs = body_structure(&m, false);
    check_imap(&bs).unwrap_or_else(|e| panic!("BODY {e}: {:?}", lossy(&bs)));
    let header = m.slice(&m.root().header);
    let env = ImapEnvelope::from_header(header).to_bytes();
    check_imap(&env).unwrap_or_else(|e| panic!("ENVELOPE {e}: {:?}", lossy(&env)));

    use FetchAttribute::*;
    let mut attrs = vec![
        Uid,
        Flags,
        InternalDate,
        ModSeq,
        Rfc822Size,
        Envelope,
        Body,
        BodyStructure,
        Rfc822Header,
        Rfc822Text,
        section(Vec::new(), Some(SectionText::Header), None),
        section(
            Vec::new(),
            Some(SectionText::Text),
            Some(Partial {
                origin: 3,
                count: 40,
            }),
        ),
        section(
            Vec::new(),
            Some(SectionText::HeaderFields(vec![
                "subject".into(),
                "FROM".into(),
            ])),
            None,
        ),
        section(
            Vec::new(),
            Some(SectionText::HeaderFieldsNot(vec!["Received".into()])),
            None,
        ),
    ];
    let mut found = Vec::new();
    paths(m.root(), &[], &mut found, 24);
    if found.is_empty() {
        found.push(vec![1]);
    }
    for path in found {
        attrs.push(section(path.clone(), None, None));
        attrs.push(section(path.clone(), Some(SectionText::Mime), None));
        attrs.push(section(path.clone(), Some(SectionText::Header), None));
        attrs.push(section(
            path,
            Some(SectionText::Text),
            Some(Partial {
                origin: 0,
                count: 9,
            }),
        ));
    }
    let view = View(raw);
    let out = render_fetch(1, &attrs, &view).expect("rendering from memory");
    let inner = out
        .strip_prefix(b"* 1 FETCH ")
        .and_then(|r| r.strip_suffix(b"\r\n"))
        .expect("a FETCH response line");
    check_imap(inner).unwrap_or_else(|e| panic!("FETCH {e}: {:?}", lossy(&out)));

    let (headers, parts) = postern::receive::policy::mime::scan(raw);
    let _ = postern::receive::policy::mime::blocked(
        &parts,
        &["exe".into(), "scr".into()],
        &["application/x-msdownload".into(), "video/*".into()],
    );
    drop(headers);
    let _ = postern::receive::collect::recipients::header_addresses(raw);
    let _ = postern::receive::collect::recipients::envelope_sender(raw);
    if let Some(date) = header_value(header, "Date") {
        let _ = DateTime::parse_rfc5322(&String::from_utf8_lossy(&date));
    }
}

fn lossy(b: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(b)
}

/// Whether `data` is well-formed IMAP response data: parenthesised lists that balance, quoted
/// strings of 7-bit text with only `\"` and `\\` escaped, `{n}` CRLF literals with their n bytes,
/// and no CR, LF or other control byte anywhere else.
pub fn check_imap(data: &[u8]) -> Result<(), String> {
    let mut depth = 0usize;
    let mut i = 0;
    while i < data.len() {
        match data[i] {
            b'(' => depth += 1,
            b')' => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| format!("closes a list never opened at {i}"))?
            }
            b'"' => {
                i += 1;
                loop {
                    match data.get(i) {
                        None => return Err("has an unterminated quoted string".into()),
                        Some(b'"') => break,
                        Some(b'\\') => {
                            if !matches!(data.get(i + 1), Some(b'"' | b'\\')) {
                                return Err(format!("has a bad escape at {i}"));
                            }
                            i += 1;
                        }
                        Some(&b) if b == 0 || b == b'\r' || b == b'\n' || b >= 0x80 => {
                            return Err(format!("has byte {b:#x} in a quoted string at {i}"))
                        }
                        Some(_) => {}
                    }
                    i += 1;
                }
            }
            b'{' => {
                let close = data[i..]
                    .iter()
                    .position(|&b| b == b'}')
                    .ok_or("has an unclosed literal size")?;
                let digits = &data[i + 1..i + close];
                let n: usize = std::str::from_utf8(digits)
                    .ok()
                    .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|d| d.parse().ok())
                    .ok_or_else(|| format!("has a bad literal size at {i}"))?;
                let start = i + close + 1;
                if data.get(start..start + 2) != Some(b"\r\n") {
                    return Err(format!("has a literal size without CRLF at {i}"));
                }
                if data.len() < start + 2 + n {
                    return Err(format!("has a literal cut short at {i}"));
                }
                i = start + 2 + n;
                continue;
            }
            b if !(0x20..0x7f).contains(&b) => return Err(format!("has byte {b:#x} at {i}")),
            _ => {}
        }
        i += 1;
    }
    if depth != 0 {
        return Err(format!("leaves {depth} lists open"));
    }
    Ok(())
}
