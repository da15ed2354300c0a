//! The parts of a message, at any MIME depth (message/rfc822 parts included), for attachment
//! blocking and header ban lists.

use mailparse::{DispositionType, ParsedMail};

/// Deepest nesting of multiparts and attached messages looked into.
const MAX_DEPTH: usize = 16;
/// Most parts looked at in one message.
const MAX_PARTS: usize = 1000;

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

/// The top-level headers (name, unfolded value) and every leaf part. A message that does not parse
/// as MIME is one text part.
pub fn scan(message: &[u8]) -> (Vec<(String, String)>, Vec<Part>) {
    let Ok(mail) = mailparse::parse_mail(message) else {
        return (Vec::new(), Vec::new());
    };
    let headers = mail
        .headers
        .iter()
        .map(|h| (h.get_key(), h.get_value()))
        .collect();
    let mut parts = Vec::new();
    walk(&mail, 0, &mut parts);
    (headers, parts)
}

fn walk(mail: &ParsedMail<'_>, depth: usize, out: &mut Vec<Part>) {
    if depth > MAX_DEPTH || out.len() >= MAX_PARTS {
        return;
    }
    if !mail.subparts.is_empty() {
        for p in &mail.subparts {
            walk(p, depth + 1, out);
        }
        return;
    }
    let ctype = mail.ctype.mimetype.to_ascii_lowercase();
    let disp = mail.get_content_disposition();
    let filename = disp
        .params
        .get("filename")
        .or_else(|| mail.ctype.params.get("name"))
        .cloned();
    let attachment = disp.disposition == DispositionType::Attachment || filename.is_some();
    let nested = ctype == "message/rfc822" && depth < MAX_DEPTH;
    out.push(Part {
        content_type: ctype,
        filename,
        attachment,
    });
    if nested {
        if let Ok(body) = mail.get_body_raw() {
            if let Ok(inner) = mailparse::parse_mail(&body) {
                walk(&inner, depth + 1, out);
            }
        }
    }
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
    }
}
