//! BODY and BODYSTRUCTURE (RFC 3501 §7.4.2) from a parsed [`Message`].
//!
//! Choices: type, subtype, encoding, parameter names and disposition types are
//! upper-cased (as in the RFC's examples); parameter values are sent as written.
//! A text part's line count is the number of LFs, plus one when the body does
//! not end with a line end. A text part without a charset gets
//! `("CHARSET" "US-ASCII")`, the RFC 2045 default.

use super::envelope::Envelope;
use super::message::{header_fields, HeaderField, Message, Part, PartKind};
use super::response::{write_nstring, write_string};

/// Writes BODYSTRUCTURE (`extended`) or BODY (not extended) for `part`.
pub fn write_body_structure(out: &mut Vec<u8>, message: &Message<'_>, part: &Part, extended: bool) {
    let fields = header_fields(message.slice(&part.header));
    let field = |name: &str| fields.iter().find(|f| f.is(name)).map(HeaderField::value);
    out.push(b'(');
    match &part.kind {
        PartKind::Multipart(children) => {
            for child in children {
                write_body_structure(out, message, child, extended);
            }
            out.push(b' ');
            write_string(out, part.content_type.subtype.as_bytes());
            if extended {
                out.push(b' ');
                write_params(out, &part.content_type.params);
                write_extension_tail(out, &field);
            }
        }
        kind => {
            let ct = &part.content_type;
            write_string(out, ct.media_type.as_bytes());
            out.push(b' ');
            write_string(out, ct.subtype.as_bytes());
            out.push(b' ');
            if ct.media_type == "TEXT" && ct.param("CHARSET").is_none() {
                // RFC 2045 §5.2: text without a charset is US-ASCII; say so, as Dovecot does.
                let mut params = ct.params.clone();
                params.push(("CHARSET".into(), "US-ASCII".into()));
                write_params(out, &params);
            } else {
                write_params(out, &ct.params);
            }
            out.push(b' ');
            write_nstring(out, field("Content-ID").as_deref());
            out.push(b' ');
            write_nstring(out, field("Content-Description").as_deref());
            out.push(b' ');
            let encoding = field("Content-Transfer-Encoding")
                .filter(|e| !e.is_empty())
                .map(|e| e.to_ascii_uppercase())
                .unwrap_or_else(|| b"7BIT".to_vec());
            write_string(out, &encoding);
            let body = message.slice(&part.body);
            out.extend_from_slice(format!(" {}", body.len()).as_bytes());
            if let PartKind::Message(inner) = kind {
                out.push(b' ');
                Envelope::from_header(message.slice(&inner.header)).write(out);
                out.push(b' ');
                write_body_structure(out, message, inner, extended);
                out.extend_from_slice(format!(" {}", count_lines(body)).as_bytes());
            } else if ct.media_type == "TEXT" {
                out.extend_from_slice(format!(" {}", count_lines(body)).as_bytes());
            }
            if extended {
                out.push(b' ');
                write_nstring(out, field("Content-MD5").as_deref());
                write_extension_tail(out, &field);
            }
        }
    }
    out.push(b')');
}

/// Renders BODYSTRUCTURE or BODY for the whole message.
pub fn body_structure(message: &Message<'_>, extended: bool) -> Vec<u8> {
    let mut out = Vec::new();
    write_body_structure(&mut out, message, message.root(), extended);
    out
}

/// Number of lines in a body (LF count, plus one for an unterminated last line).
pub fn count_lines(body: &[u8]) -> usize {
    let lf = body.iter().filter(|&&b| b == b'\n').count();
    lf + usize::from(body.last().is_some_and(|&b| b != b'\n'))
}

fn write_params(out: &mut Vec<u8>, params: &[(String, String)]) {
    if params.is_empty() {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    for (i, (k, v)) in params.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        write_string(out, k.as_bytes());
        out.push(b' ');
        write_string(out, v.as_bytes());
    }
    out.push(b')');
}

/// ` disposition language location`
fn write_extension_tail(out: &mut Vec<u8>, field: &dyn Fn(&str) -> Option<Vec<u8>>) {
    out.push(b' ');
    match field("Content-Disposition").and_then(|v| super::message::parse_mime_value(&v)) {
        Some((kind, params)) => {
            out.push(b'(');
            write_string(out, kind.to_ascii_uppercase().as_bytes());
            out.push(b' ');
            write_params(out, &params);
            out.push(b')');
        }
        None => out.extend_from_slice(b"NIL"),
    }
    out.push(b' ');
    let languages: Vec<Vec<u8>> = field("Content-Language")
        .map(|v| {
            v.split(|&b| b == b',')
                .map(|l| l.trim_ascii().to_vec())
                .filter(|l| !l.is_empty())
                .take(64)
                .collect()
        })
        .unwrap_or_default();
    match languages.as_slice() {
        [] => out.extend_from_slice(b"NIL"),
        [one] => write_string(out, one),
        many => {
            out.push(b'(');
            for (i, l) in many.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                write_string(out, l);
            }
            out.push(b')');
        }
    }
    out.push(b' ');
    write_nstring(out, field("Content-Location").as_deref());
}
