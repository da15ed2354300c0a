//! `BODY[section]` addressing (RFC 3501 §6.4.5): part paths, HEADER, HEADER.FIELDS
//! (.NOT), MIME and TEXT, resolved to the exact bytes of a [`Message`].

use std::borrow::Cow;

use super::message::{header_fields, Message, Part, PartKind};
use super::response::write_astring;

/// A `section-spec`: an optional part path and an optional text specifier.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Section {
    /// Part numbers (`1.2.3`), empty for the whole message.
    pub part: Vec<u32>,
    /// What of that part.
    pub text: Option<SectionText>,
}

/// The text specifier of a section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SectionText {
    /// `HEADER`
    Header,
    /// `HEADER.FIELDS (names)`
    HeaderFields(Vec<String>),
    /// `HEADER.FIELDS.NOT (names)`
    HeaderFieldsNot(Vec<String>),
    /// `TEXT`
    Text,
    /// `MIME` (only after a part number)
    Mime,
}

impl Section {
    /// Writes the section spec as it appears between the brackets in a response.
    pub fn write_spec(&self, out: &mut Vec<u8>) {
        let path: Vec<String> = self.part.iter().map(u32::to_string).collect();
        out.extend_from_slice(path.join(".").as_bytes());
        let Some(text) = &self.text else { return };
        if !self.part.is_empty() {
            out.push(b'.');
        }
        let (word, fields) = match text {
            SectionText::Header => ("HEADER", None),
            SectionText::Text => ("TEXT", None),
            SectionText::Mime => ("MIME", None),
            SectionText::HeaderFields(f) => ("HEADER.FIELDS", Some(f)),
            SectionText::HeaderFieldsNot(f) => ("HEADER.FIELDS.NOT", Some(f)),
        };
        out.extend_from_slice(word.as_bytes());
        if let Some(fields) = fields {
            out.extend_from_slice(b" (");
            for (i, f) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                write_astring(out, f.as_bytes());
            }
            out.push(b')');
        }
    }

    /// The bytes this section addresses in `message` (empty when it does not exist).
    pub fn extract<'m>(&self, message: &'m Message<'_>) -> Cow<'m, [u8]> {
        let root = message.root();
        let (part, is_top) = if self.part.is_empty() {
            (Some(root), true)
        } else {
            (find_part(root, &self.part), false)
        };
        let Some(part) = part else {
            return Cow::Borrowed(&[]);
        };
        // The message whose header/text HEADER and TEXT refer to.
        let embedded = if is_top {
            Some(part)
        } else {
            match &part.kind {
                PartKind::Message(inner) => Some(inner.as_ref()),
                _ => None,
            }
        };
        match &self.text {
            None if is_top => Cow::Borrowed(message.bytes()),
            None => Cow::Borrowed(message.slice(&part.body)),
            Some(SectionText::Mime) => Cow::Borrowed(message.slice(&part.header)),
            Some(SectionText::Header) => match embedded {
                Some(m) => Cow::Borrowed(message.slice(&m.header)),
                None => Cow::Borrowed(&[]),
            },
            Some(SectionText::Text) => match embedded {
                Some(m) => Cow::Borrowed(message.slice(&m.body)),
                None => Cow::Borrowed(&[]),
            },
            Some(SectionText::HeaderFields(names)) | Some(SectionText::HeaderFieldsNot(names)) => {
                let Some(m) = embedded else {
                    return Cow::Borrowed(&[]);
                };
                let keep = matches!(self.text, Some(SectionText::HeaderFields(_)));
                Cow::Owned(filter_header(message.slice(&m.header), names, keep))
            }
        }
    }
}

/// Finds the part at a path of 1-based numbers (see RFC 3501 §6.4.5: a non-multipart
/// message has a single part 1; a message/rfc822 part's sub-parts are those of the
/// embedded message).
pub fn find_part<'p>(root: &'p Part, path: &[u32]) -> Option<&'p Part> {
    let mut context = root;
    for (i, &n) in path.iter().enumerate() {
        let index = usize::try_from(n).ok()?.checked_sub(1)?;
        let target = match &context.kind {
            PartKind::Multipart(children) => children.get(index)?,
            _ if index == 0 => context,
            _ => return None,
        };
        if i + 1 == path.len() {
            return Some(target);
        }
        context = match &target.kind {
            PartKind::Message(inner) => inner,
            PartKind::Multipart(_) => target,
            PartKind::Leaf => return None,
        };
    }
    Some(context)
}

/// The header lines whose names are (or, with `keep == false`, are not) in `names`,
/// followed by the blank line.
pub fn filter_header(header: &[u8], names: &[String], keep: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for field in header_fields(header) {
        let listed = names.iter().any(|n| field.is(n));
        if listed == keep {
            out.extend_from_slice(field.raw);
            if !field.raw.ends_with(b"\n") {
                out.extend_from_slice(b"\r\n");
            }
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// A part's Content-Transfer-Encoding is none BINARY can undo (RFC 3516 `[UNKNOWN-CTE]`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown content-transfer-encoding {0:?}")]
pub struct UnknownCte(pub String);

/// RFC 3516: the content of the part at `path` with its Content-Transfer-Encoding undone
/// (base64 and quoted-printable decoded by mailparse; 7bit, 8bit and binary as they are).
/// `path` empty is the whole message; a part that does not exist is empty.
pub fn binary<'m>(message: &'m Message<'_>, path: &[u32]) -> Result<Cow<'m, [u8]>, UnknownCte> {
    if path.is_empty() {
        return Ok(Cow::Borrowed(message.bytes()));
    }
    let Some(part) = find_part(message.root(), path) else {
        return Ok(Cow::Borrowed(&[]));
    };
    let header = message.slice(&part.header);
    let cte = header_fields(header)
        .iter()
        .find(|f| f.is("Content-Transfer-Encoding"))
        .map(|f| {
            String::from_utf8_lossy(&f.value())
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    let body = message.slice(&part.body);
    match cte.as_str() {
        "" | "7bit" | "8bit" | "binary" => Ok(Cow::Borrowed(body)),
        "base64" | "quoted-printable" if matches!(part.kind, PartKind::Leaf) => {
            let entity = message.slice(&(part.header.start..part.body.end));
            Ok(mailparse::parse_mail(entity)
                .ok()
                .and_then(|m| m.get_body_raw().ok())
                .map_or(Cow::Borrowed(body), Cow::Owned))
        }
        "base64" | "quoted-printable" => Ok(Cow::Borrowed(body)),
        other => Err(UnknownCte(other.to_string())),
    }
}
