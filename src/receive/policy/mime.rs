//! The parts of a message, at any MIME depth (message/rfc822 parts included), for attachment
//! blocking and header ban lists. The structure comes from the one MIME parser, IMAP's
//! ([`crate::proto::imap::message`], with its limits: [`MAX_DEPTH`] levels, [`MAX_PARTS`] parts);
//! header values and parameters (RFC 2047 encoded words, RFC 2231 file names) are decoded as
//! IMAP SEARCH decodes them.

use mailparse::DispositionType;

use crate::proto::imap::message::{
    HeaderField, Message, Part as Entity, PartKind, MAX_DEPTH, MAX_PARTS,
};

/// One leaf part of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// `type/subtype`, lower case.
    pub content_type: String,
    /// The file name (Content-Disposition filename or Content-Type name), if any.
    pub filename: Option<String>,
    /// Marked as an attachment, or named like one.
    pub attachment: bool,
}

/// The top-level headers (name, unfolded and decoded value) and every leaf part. A message
/// without MIME structure is one text part.
pub fn scan(message: &[u8]) -> (Vec<(String, String)>, Vec<Part>) {
    let msg = Message::parse(message);
    let headers = msg.fields(msg.root()).iter().map(decoded).collect();
    let mut parts = Vec::new();
    walk(&msg, msg.root(), 0, &mut parts);
    (headers, parts)
}

/// A header field's name and its value unfolded, encoded words decoded.
fn decoded(field: &HeaderField<'_>) -> (String, String) {
    match mailparse::parse_header(field.raw) {
        Ok((header, _)) => (header.get_key(), header.get_value()),
        Err(_) => (
            String::from_utf8_lossy(field.name).into_owned(),
            String::from_utf8_lossy(&field.value()).into_owned(),
        ),
    }
}

fn walk(msg: &Message<'_>, entity: &Entity, depth: usize, out: &mut Vec<Part>) {
    if depth > MAX_DEPTH || out.len() >= MAX_PARTS {
        return;
    }
    match &entity.kind {
        PartKind::Multipart(children) => {
            for child in children {
                walk(msg, child, depth + 1, out);
            }
        }
        PartKind::Message(inner) => {
            out.push(leaf(msg, entity));
            walk(msg, inner, depth + 1, out);
        }
        PartKind::Leaf => {
            out.push(leaf(msg, entity));
            // An attached message the parser left whole (its body is base64 or
            // quoted-printable): decoded, and looked into too.
            if entity.content_type.is("MESSAGE", "RFC822") && depth < MAX_DEPTH {
                if let Some(body) = decoded_body(msg, entity) {
                    let inner = Message::parse(&body);
                    walk(&inner, inner.root(), depth + 1, out);
                }
            }
        }
    }
}

/// A part as the lists see it: its type (as its header declares it, else the parser's default
/// for where it is), its file name, whether it is an attachment.
fn leaf(msg: &Message<'_>, entity: &Entity) -> Part {
    let fields = msg.fields(entity);
    let value = |name: &str| fields.iter().find(|f| f.is(name)).map(|f| decoded(f).1);
    let declared = value("Content-Type").map(|v| mailparse::parse_content_type(&v));
    let content_type = match &declared {
        Some(ct) => ct.mimetype.to_ascii_lowercase(),
        None => {
            let ct = &entity.content_type;
            format!("{}/{}", ct.media_type, ct.subtype).to_ascii_lowercase()
        }
    };
    let disposition =
        value("Content-Disposition").map(|v| mailparse::parse_content_disposition(&v));
    let filename = disposition
        .as_ref()
        .and_then(|d| d.params.get("filename").cloned())
        .or_else(|| declared.and_then(|ct| ct.params.get("name").cloned()));
    let attachment = disposition
        .as_ref()
        .is_some_and(|d| d.disposition == DispositionType::Attachment)
        || filename.is_some();
    Part {
        content_type,
        filename,
        attachment,
    }
}

/// The body of `entity` with its Content-Transfer-Encoding undone.
fn decoded_body(msg: &Message<'_>, entity: &Entity) -> Option<Vec<u8>> {
    let whole = entity.header.start..entity.body.end;
    mailparse::parse_mail(msg.slice(&whole))
        .ok()?
        .get_body_raw()
        .ok()
}

/// The first part refused by the extension and content-type lists, described for the reply.
pub fn blocked(parts: &[Part], extensions: &[String], types: &[String]) -> Option<String> {
    for p in parts {
        if let Some(name) = &p.filename {
            let ext = name
                .rsplit_once('.')
                .map(|(_, e)| e.trim().to_ascii_lowercase());
            if let Some(ext) = ext {
                let hit = extensions
                    .iter()
                    .any(|e| e.trim_start_matches('.').eq_ignore_ascii_case(&ext));
                if hit {
                    return Some(format!("attachments of type .{ext} are not accepted"));
                }
            }
        }
        let hit = types.iter().any(|t| {
            let t = t.to_ascii_lowercase();
            match t.strip_suffix("/*") {
                Some(major) => p.content_type.split('/').next() == Some(major),
                None => p.content_type == t,
            }
        });
        if hit {
            return Some(format!(
                "content of type {} is not accepted",
                p.content_type
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const NESTED: &str = "From: a@b.test\r\nSubject: hi\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"X\"\r\n\r\n--X\r\nContent-Type: text/plain\r\n\r\nhello\r\n\
--X\r\nContent-Type: message/rfc822\r\n\r\nFrom: c@d.test\r\nContent-Type: multipart/mixed; boundary=\"Y\"\r\n\r\n\
--Y\r\nContent-Type: text/plain\r\n\r\ninner\r\n--Y\r\nContent-Type: application/octet-stream\r\n\
Content-Disposition: attachment; filename=\"setup.EXE\"\r\n\r\nMZ\r\n--Y--\r\n--X--\r\n";

    #[test]
    fn finds_attachments_at_any_depth() {
        let (headers, parts) = scan(NESTED.as_bytes());
        assert!(headers.iter().any(|(n, v)| n == "Subject" && v == "hi"));
        let exe = parts
            .iter()
            .find(|p| p.filename.as_deref() == Some("setup.EXE"))
            .expect("nested attachment found");
        assert!(exe.attachment);
        assert_eq!(
            blocked(&parts, &["exe".into()], &[]),
            Some("attachments of type .exe are not accepted".into())
        );
        assert!(blocked(&parts, &["zip".into()], &[]).is_none());
        assert!(blocked(&parts, &[], &["application/*".into()]).is_some());
        assert!(blocked(&parts, &[], &["image/png".into()]).is_none());
        let (_, plain) = scan(b"Subject: x\r\n\r\njust text\r\n");
        assert!(plain.iter().all(|p| !p.attachment));
        assert_eq!(plain.len(), 1);
        assert_eq!(plain[0].content_type, "text/plain");
    }

    #[test]
    fn decodes_names_and_encoded_attached_messages() {
        // An RFC 2231 file name, an encoded-word subject, and a message/rfc822 part in base64
        // whose own part is an attachment.
        let inner = "Subject: inner\r\nContent-Type: application/zip; name=\"a.zip\"\r\n\r\nPK\r\n";
        let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, inner);
        let msg = format!(
            "Subject: =?UTF-8?Q?caf=C3=A9?=\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n\
--B\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; \
filename*=UTF-8''r%C3%A9sum%C3%A9.pdf\r\n\r\n%PDF\r\n\
--B\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n{b64}\r\n--B--\r\n"
        );
        let (headers, parts) = scan(msg.as_bytes());
        assert!(
            headers.contains(&("Subject".into(), "café".into())),
            "{headers:?}"
        );
        let names: Vec<Option<&str>> = parts.iter().map(|p| p.filename.as_deref()).collect();
        assert_eq!(
            names,
            [Some("résumé.pdf"), None, Some("a.zip")],
            "{parts:?}"
        );
        assert_eq!(parts[1].content_type, "message/rfc822");
        assert!(parts[2].attachment);
    }
}
