//! Making a message 7-bit safe before it is signed: every body part with 8-bit bytes or a line
//! longer than SMTP's 998 octets is re-encoded as quoted-printable (base64 when it has no line
//! structure to keep), with its `Content-Transfer-Encoding` changed to match. A next hop without
//! 8BITMIME then needs no conversion — a conversion after signing would break the signature —
//! and nothing has to wrap an over-long line. Multiparts and attached messages are walked into;
//! parts that are already 7-bit, and the header fields, are left byte for byte as they were.
//!
//! A message without MIME header fields but with an 8-bit body becomes a MIME `text/plain`
//! (charset `utf-8` when the body is valid UTF-8, else `unknown-8bit`, RFC 1428). Header
//! fields with 8-bit bytes (SMTPUTF8 mail) cannot be made 7-bit without changing them: such a
//! message is left alone.

use mailparse::{MailHeader, MailHeaderMap};

/// The longest line SMTP carries, without its CRLF (RFC 5321 §4.5.3.1.6).
const MAX_LINE: usize = 998;
/// How deep multiparts and attached messages are walked (deeper parts are left as they are).
const MAX_DEPTH: usize = 20;

/// `message` made 7-bit safe, or `None` when it already is or cannot be (8-bit header fields).
pub fn downgrade(message: &[u8]) -> Option<Vec<u8>> {
    let (head, _) = split(message);
    if !head.is_ascii() || safe(message) {
        return None;
    }
    let (headers, _) = mailparse::parse_headers(message).ok()?;
    let mime = headers.get_first_header("MIME-Version").is_some()
        || headers.get_first_header("Content-Type").is_some();
    if mime {
        entity(message, 0)
    } else {
        plain(message)
    }
}

/// Whether every line is 7-bit and at most [`MAX_LINE`] octets long.
fn safe(bytes: &[u8]) -> bool {
    bytes.is_ascii()
        && bytes
            .split(|&b| b == b'\n')
            .all(|l| l.strip_suffix(b"\r").unwrap_or(l).len() <= MAX_LINE)
}

/// The header block (with the empty line ending it) and the body.
fn split(message: &[u8]) -> (&[u8], &[u8]) {
    let mut at = 0;
    for line in message.split_inclusive(|&b| b == b'\n') {
        at += line.len();
        if line == b"\n" || line == b"\r\n" {
            return message.split_at(at);
        }
    }
    (message, &[])
}

/// The line ending the header block uses (what a field added to it ends with).
fn eol(head: &[u8]) -> &'static str {
    if head.windows(2).any(|w| w == b"\r\n") {
        "\r\n"
    } else {
        "\n"
    }
}

/// One MIME entity (a message or a body part) made 7-bit safe; `None` when unchanged.
fn entity(bytes: &[u8], depth: usize) -> Option<Vec<u8>> {
    if safe(bytes) || depth > MAX_DEPTH {
        return None;
    }
    let (head, body) = split(bytes);
    let (headers, _) = mailparse::parse_headers(bytes).ok()?;
    let ctype = headers
        .get_first_value("Content-Type")
        .map(|v| mailparse::parse_content_type(&v))
        .unwrap_or_default();
    let cte = headers
        .get_first_value("Content-Transfer-Encoding")
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    if ctype.mimetype.starts_with("multipart/") {
        let boundary = ctype.params.get("boundary")?;
        let body = multipart(body, boundary.as_bytes(), depth)?;
        return Some([head, &body[..]].concat());
    }
    if ctype.mimetype == "message/rfc822" {
        let inner = entity(body, depth + 1)?;
        return Some([head, &inner[..]].concat());
    }
    // Already encoded: 8-bit bytes in it are damage no re-encoding of ours should hide.
    if !matches!(cte.as_str(), "" | "7bit" | "8bit" | "binary") {
        return None;
    }
    let textual = ctype.mimetype.starts_with("text/") || cte != "binary";
    Some(reencode(head, &headers, body, textual))
}

/// The part with its body encoded (quoted-printable for text, else base64) and its
/// `Content-Transfer-Encoding` field replaced.
fn reencode(head: &[u8], headers: &[MailHeader<'_>], body: &[u8], textual: bool) -> Vec<u8> {
    let nl = eol(head);
    let (encoded, name) = if textual {
        (quoted_printable(body, nl), "quoted-printable")
    } else {
        (base64(body, nl), "base64")
    };
    let mut out = without_field(head, headers, "Content-Transfer-Encoding");
    // The empty line ending the header block goes after the new field.
    let blank = if out.ends_with(b"\r\n\r\n") || (out.ends_with(b"\n\n") && nl == "\n") {
        nl.len()
    } else {
        0
    };
    out.truncate(out.len() - blank);
    out.extend_from_slice(format!("Content-Transfer-Encoding: {name}{nl}{nl}").as_bytes());
    out.extend_from_slice(&encoded);
    out
}

/// `head` without the fields called `name` (continuation lines included).
fn without_field(head: &[u8], headers: &[MailHeader<'_>], name: &str) -> Vec<u8> {
    if !headers
        .iter()
        .any(|h| h.get_key_ref().eq_ignore_ascii_case(name))
    {
        return head.to_vec();
    }
    let mut out = Vec::with_capacity(head.len());
    let mut skipping = false;
    for line in head.split_inclusive(|&b| b == b'\n') {
        let continuation = matches!(line.first(), Some(b' ' | b'\t'));
        if !continuation {
            let field = line.split(|&b| b == b':').next().unwrap_or_default();
            skipping = field.trim_ascii().eq_ignore_ascii_case(name.as_bytes());
        }
        if !skipping {
            out.extend_from_slice(line);
        }
    }
    out
}

/// A multipart body with each part made 7-bit safe; `None` when no part changed.
fn multipart(body: &[u8], boundary: &[u8], depth: usize) -> Option<Vec<u8>> {
    let delimiter = [b"--", boundary].concat();
    let is_delimiter = |line: &[u8]| {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line).trim_ascii_end();
        line.strip_prefix(&delimiter[..])
            .is_some_and(|rest| rest.is_empty() || rest == b"--")
    };
    // Segments between delimiter lines: the preamble, the parts, the epilogue.
    let mut out = Vec::with_capacity(body.len() + body.len() / 3);
    let mut part: Vec<&[u8]> = Vec::new();
    let mut in_part = false;
    let mut changed = false;
    let flush = |part: &mut Vec<&[u8]>, out: &mut Vec<u8>, in_part: bool, changed: &mut bool| {
        let bytes = part.concat();
        part.clear();
        match in_part.then(|| entity(&bytes, depth + 1)).flatten() {
            Some(new) => {
                *changed = true;
                out.extend_from_slice(&new);
            }
            None => out.extend_from_slice(&bytes),
        }
    };
    for line in body.split_inclusive(|&b| b == b'\n') {
        if is_delimiter(line) {
            flush(&mut part, &mut out, in_part, &mut changed);
            out.extend_from_slice(line);
            in_part = !line.trim_ascii_end().ends_with(b"--");
        } else {
            part.push(line);
        }
    }
    flush(&mut part, &mut out, false, &mut changed);
    changed.then_some(out)
}

/// A non-MIME message with an 8-bit or over-long body as a quoted-printable `text/plain`.
fn plain(message: &[u8]) -> Option<Vec<u8>> {
    let (head, body) = split(message);
    let nl = eol(head);
    let charset = if std::str::from_utf8(body).is_ok() {
        "utf-8"
    } else {
        "unknown-8bit"
    };
    let mut out = head.to_vec();
    let blank = if out.ends_with(b"\r\n\r\n") || out.ends_with(b"\n\n") {
        nl.len()
    } else {
        0
    };
    out.truncate(out.len() - blank);
    out.extend_from_slice(
        format!(
            "MIME-Version: 1.0{nl}Content-Type: text/plain; charset={charset}{nl}\
             Content-Transfer-Encoding: quoted-printable{nl}{nl}"
        )
        .as_bytes(),
    );
    out.extend_from_slice(&quoted_printable(body, nl));
    Some(out)
}

/// `body` as quoted-printable lines ending in `nl`; its line breaks stay line breaks.
fn quoted_printable(body: &[u8], nl: &str) -> Vec<u8> {
    let options = || {
        quoted_printable::Options::default()
            .input_mode(quoted_printable::InputMode::Text)
            .line_length_limit(76)
    };
    let mut out = Vec::with_capacity(body.len() + body.len() / 2);
    let mut lines = body.split_inclusive(|&b| b == b'\n').peekable();
    while let Some(line) = lines.next() {
        let ended = line.ends_with(b"\n");
        let text = line.strip_suffix(b"\n").unwrap_or(line);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        let encoded = quoted_printable::encode_with_options(text, options());
        // The crate breaks long lines with CRLF soft breaks; keep the message's own line end.
        for (i, piece) in encoded.as_bytes().split(|&b| b == b'\n').enumerate() {
            if i > 0 {
                out.extend_from_slice(nl.as_bytes());
            }
            out.extend_from_slice(piece.strip_suffix(b"\r").unwrap_or(piece));
        }
        if ended || lines.peek().is_some() {
            out.extend_from_slice(nl.as_bytes());
        }
    }
    out
}

/// `body` as base64 in lines of 76 characters ending in `nl`.
fn base64(body: &[u8], nl: &str) -> Vec<u8> {
    use base64::prelude::{Engine as _, BASE64_STANDARD};
    let text = BASE64_STANDARD.encode(body);
    let mut out = Vec::with_capacity(text.len() + text.len() / 38 + 2);
    for chunk in text.as_bytes().chunks(76) {
        out.extend_from_slice(chunk);
        out.extend_from_slice(nl.as_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic
    use super::*;

    /// The decoded text of `message`'s body parts, as Python's `email` would give it back.
    fn decoded(message: &[u8]) -> Vec<Vec<u8>> {
        let parsed = mailparse::parse_mail(message).unwrap();
        let mut out = Vec::new();
        fn walk(p: &mailparse::ParsedMail<'_>, out: &mut Vec<Vec<u8>>) {
            if p.subparts.is_empty() {
                out.push(p.get_body_raw().unwrap());
            }
            for s in &p.subparts {
                walk(s, out);
            }
        }
        walk(&parsed, &mut out);
        out
    }

    #[test]
    fn seven_bit_mail_is_left_alone() {
        let m = b"From: a@b.test\r\nSubject: hi\r\n\r\nplain text\r\n";
        assert_eq!(downgrade(m), None);
    }

    #[test]
    fn an_eight_bit_text_part_becomes_quoted_printable_and_decodes_to_the_same() {
        let m =
            "From: a@b.test\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\
                 Content-Transfer-Encoding: 8bit\r\n\r\nGrüße aus Köln = 1\r\nzweite Zeile\r\n";
        let out = downgrade(m.as_bytes()).expect("changed");
        assert!(safe(&out), "{}", String::from_utf8_lossy(&out));
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(text.contains("Content-Transfer-Encoding: quoted-printable\r\n\r\n"));
        assert!(!text.contains("8bit"), "{text}");
        assert_eq!(
            decoded(&out),
            vec![b"Gr\xc3\xbc\xc3\x9fe aus K\xc3\xb6ln = 1\r\nzweite Zeile\r\n".to_vec()]
        );
    }

    #[test]
    fn only_the_eight_bit_parts_of_a_multipart_change() {
        let m = "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"XX\"\n\npreamble\n\
                 --XX\nContent-Type: text/plain\n\nascii part\n\
                 --XX\nContent-Type: text/plain; charset=utf-8\n\nnaïve\n\
                 --XX\nContent-Type: message/rfc822\n\nSubject: inner\nContent-Type: text/plain\n\nüber\n\
                 --XX--\nepilogue\n";
        let out = downgrade(m.as_bytes()).expect("changed");
        assert!(safe(&out), "{}", String::from_utf8_lossy(&out));
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(
            text.contains("--XX\nContent-Type: text/plain\n\nascii part\n"),
            "{text}"
        );
        assert!(
            text.contains("preamble\n") && text.ends_with("--XX--\nepilogue\n"),
            "{text}"
        );
        assert_eq!(text.matches("quoted-printable").count(), 2, "{text}");
        assert!(text.contains("na=C3=AFve"), "{text}");
        assert!(text.contains("=C3=BCber"), "{text}");
    }

    #[test]
    fn long_lines_are_wrapped_by_soft_breaks_and_binary_goes_base64() {
        let long = "x".repeat(3000);
        let m = format!("Content-Type: text/plain\n\n{long}\n");
        let out = downgrade(m.as_bytes()).expect("changed");
        assert!(safe(&out));
        let back = decoded(&out).remove(0);
        assert!(
            back.trim_ascii_end() == long.as_bytes(),
            "{} bytes back",
            back.len()
        );
        let bin = [
            b"Content-Type: application/octet-stream\nContent-Transfer-Encoding: binary\n\n"
                .as_slice(),
            &[0u8, 0xff, 0x80, 1, 2],
        ]
        .concat();
        let out = downgrade(&bin).expect("changed");
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(
            text.contains("Content-Transfer-Encoding: base64\n\nAP+AAQI=\n"),
            "{text}"
        );
    }

    #[test]
    fn a_non_mime_message_becomes_text_plain_and_eight_bit_headers_are_left() {
        let m = "From: a@b.test\nSubject: x\n\nsmörgåsbord\n";
        let out = String::from_utf8(downgrade(m.as_bytes()).unwrap()).unwrap();
        assert!(
            out.contains("MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"),
            "{out}"
        );
        assert!(out.ends_with("\n\nsm=C3=B6rg=C3=A5sbord\n"), "{out}");
        assert_eq!(downgrade("Subject: Grüße\n\nbody ä\n".as_bytes()), None);
    }
}
