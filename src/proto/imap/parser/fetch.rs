//! FETCH command grammar: attributes, macros, sections, partials, CHANGEDSINCE.

use super::super::command::CommandKind;
use super::super::fetch::{FetchAttribute, Partial};
use super::super::section::{Section, SectionText};
use super::lexer::{Lex, Lexer, MAX_LIST_ITEMS};
use super::ParseErrorKind;

/// Deepest section part path accepted (`1.2.3...`).
const MAX_PART_DEPTH: usize = 32;

pub(super) fn parse_fetch(lx: &mut Lexer<'_>, uid: bool) -> Lex<CommandKind> {
    lx.sp()?;
    let set = lx.sequence_set()?;
    lx.sp()?;
    let attributes = if lx.peek() == Some(b'(') {
        lx.paren_list(fetch_attribute)?
    } else {
        let name = lx.name()?;
        match name.as_str() {
            "ALL" => FetchAttribute::all(),
            "FAST" => FetchAttribute::fast(),
            "FULL" => FetchAttribute::full(),
            _ => vec![attribute_named(lx, name)?],
        }
    };
    let mut changed_since = None;
    let mut vanished = false;
    if lx.eat(b' ') {
        let modifiers = lx.paren_list(|lx| match lx.name()?.as_str() {
            "CHANGEDSINCE" => {
                lx.sp()?;
                lx.number64().map(Some)
            }
            "VANISHED" => Ok(None),
            _ => Err(ParseErrorKind::Unknown("fetch modifier")),
        })?;
        for m in modifiers {
            match m {
                Some(n) => changed_since = Some(n),
                None => vanished = true,
            }
        }
    }
    Ok(CommandKind::Fetch {
        uid,
        set,
        attributes,
        changed_since,
        vanished,
    })
}

fn fetch_attribute(lx: &mut Lexer<'_>) -> Lex<FetchAttribute> {
    let name = lx.name()?;
    attribute_named(lx, name)
}

fn attribute_named(lx: &mut Lexer<'_>, name: String) -> Lex<FetchAttribute> {
    Ok(match name.as_str() {
        "ENVELOPE" => FetchAttribute::Envelope,
        "FLAGS" => FetchAttribute::Flags,
        "INTERNALDATE" => FetchAttribute::InternalDate,
        "RFC822" => FetchAttribute::Rfc822,
        "RFC822.HEADER" => FetchAttribute::Rfc822Header,
        "RFC822.SIZE" => FetchAttribute::Rfc822Size,
        "RFC822.TEXT" => FetchAttribute::Rfc822Text,
        "BODYSTRUCTURE" => FetchAttribute::BodyStructure,
        "UID" => FetchAttribute::Uid,
        "MODSEQ" => FetchAttribute::ModSeq,
        "BODY" if lx.peek() != Some(b'[') => FetchAttribute::Body,
        "BINARY" | "BINARY.PEEK" => {
            let part = section_binary(lx)?;
            let partial = partial(lx)?;
            FetchAttribute::Binary {
                part,
                partial,
                peek: name == "BINARY.PEEK",
            }
        }
        "BINARY.SIZE" => FetchAttribute::BinarySize {
            part: section_binary(lx)?,
        },
        "BODY" | "BODY.PEEK" => {
            let section = section(lx)?;
            let partial = partial(lx)?;
            FetchAttribute::BodySection {
                section,
                partial,
                peek: name == "BODY.PEEK",
            }
        }
        _ => return Err(ParseErrorKind::Unknown("fetch attribute")),
    })
}

/// `"[" [section-spec] "]"`
pub(crate) fn section(lx: &mut Lexer<'_>) -> Lex<Section> {
    lx.expect(b'[', "'['")?;
    let mut part = Vec::new();
    let mut text = None;
    if !lx.eat(b']') {
        while lx.peek().is_some_and(|b| b.is_ascii_digit()) {
            if part.len() >= MAX_PART_DEPTH {
                return Err(ParseErrorKind::TooMany);
            }
            part.push(lx.nz_number()?);
            if !lx.eat(b'.') {
                break;
            }
        }
        if lx.peek() != Some(b']') {
            let word = lx.name()?;
            text = Some(match word.as_str() {
                "HEADER" => SectionText::Header,
                "TEXT" => SectionText::Text,
                "MIME" if !part.is_empty() => SectionText::Mime,
                "HEADER.FIELDS" | "HEADER.FIELDS.NOT" => {
                    lx.sp()?;
                    let fields = lx.paren_list(|lx| {
                        String::from_utf8(lx.astring()?).map_err(|_| ParseErrorKind::InvalidUtf8)
                    })?;
                    if fields.len() > MAX_LIST_ITEMS {
                        return Err(ParseErrorKind::TooMany);
                    }
                    if word == "HEADER.FIELDS" {
                        SectionText::HeaderFields(fields)
                    } else {
                        SectionText::HeaderFieldsNot(fields)
                    }
                }
                _ => return Err(ParseErrorKind::Unknown("section")),
            });
        }
        lx.expect(b']', "']'")?;
    }
    Ok(Section { part, text })
}

/// `section-binary`: `"[" [part-number *("." part-number)] "]"` (RFC 3516).
fn section_binary(lx: &mut Lexer<'_>) -> Lex<Vec<u32>> {
    lx.expect(b'[', "'['")?;
    let mut part = Vec::new();
    if !lx.eat(b']') {
        loop {
            if part.len() >= MAX_PART_DEPTH {
                return Err(ParseErrorKind::TooMany);
            }
            part.push(lx.nz_number()?);
            if !lx.eat(b'.') {
                break;
            }
        }
        lx.expect(b']', "']'")?;
    }
    Ok(part)
}

/// `"<" number "." nz-number ">"`
fn partial(lx: &mut Lexer<'_>) -> Lex<Option<Partial>> {
    if !lx.eat(b'<') {
        return Ok(None);
    }
    let origin = lx.number()?;
    lx.expect(b'.', "'.'")?;
    let count = lx.nz_number()?;
    lx.expect(b'>', "'>'")?;
    Ok(Some(Partial { origin, count }))
}
