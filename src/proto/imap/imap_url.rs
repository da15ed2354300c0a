//! The IMAP URLs CATENATE (RFC 4469) names messages by (RFC 5092): absolute
//! (`imap://user@host/INBOX;UIDVALIDITY=7/;UID=20/;SECTION=1.2`) or server-relative
//! (`/INBOX;UIDVALIDITY=7/;UID=20`), always of this server's own mailboxes.

/// What an IMAP URL names: one message, or a section or part of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImapUrl {
    /// The mailbox name (IMAP form, percent-decoded).
    pub mailbox: String,
    /// `;UIDVALIDITY=`: the message is only what it names while this holds.
    pub uidvalidity: Option<u32>,
    /// `;UID=`.
    pub uid: u32,
    /// `;SECTION=` (a FETCH section spec, percent-decoded), if any.
    pub section: Option<String>,
    /// `;PARTIAL=origin[.length]`.
    pub partial: Option<(u32, Option<u32>)>,
}

impl ImapUrl {
    /// Parses an absolute or server-relative IMAP message URL; `None` when it is not one.
    pub fn parse(text: &str) -> Option<ImapUrl> {
        let path = match text.strip_prefix("imap://") {
            Some(rest) => rest.get(rest.find('/')?..)?,
            None => text,
        };
        let path = path.strip_prefix('/')?;
        let mut pieces = path.split("/;");
        let mut first = pieces.next()?.split(';');
        let mailbox = decode(first.next()?)?;
        let mut uidvalidity = None;
        for param in first {
            let (k, v) = param.split_once('=')?;
            if k.eq_ignore_ascii_case("UIDVALIDITY") {
                uidvalidity = Some(v.parse().ok()?);
            } else {
                return None;
            }
        }
        let mut uid = None;
        let mut section = None;
        let mut partial = None;
        for piece in pieces {
            let (k, v) = piece.split_once('=')?;
            match k.to_ascii_uppercase().as_str() {
                "UID" => uid = Some(v.parse::<u32>().ok().filter(|&u| u > 0)?),
                "SECTION" => section = Some(decode(v)?),
                "PARTIAL" => {
                    let (o, l) = match v.split_once('.') {
                        Some((o, l)) => (o.parse().ok()?, Some(l.parse().ok()?)),
                        None => (v.parse().ok()?, None),
                    };
                    partial = Some((o, l));
                }
                // URLAUTH and anything else this server does not grant.
                _ => return None,
            }
        }
        if mailbox.is_empty() {
            return None;
        }
        Some(ImapUrl {
            mailbox,
            uidvalidity,
            uid: uid?,
            section,
            partial,
        })
    }
}

/// Percent-decoding (RFC 3986) of a URL piece; `None` for a bad escape or non-UTF-8.
fn decode(piece: &str) -> Option<String> {
    let bytes = piece.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = ImapUrl::parse("imap://bob@mx.example/Lists%2Frust;UIDVALIDITY=385759045/;UID=20/;SECTION=1.2.TEXT/;PARTIAL=5.10").unwrap();
        assert_eq!(u.mailbox, "Lists/rust");
        assert_eq!(u.uidvalidity, Some(385759045));
        assert_eq!(u.uid, 20);
        assert_eq!(u.section.as_deref(), Some("1.2.TEXT"));
        assert_eq!(u.partial, Some((5, Some(10))));
        let r = ImapUrl::parse("/INBOX/;UID=3").unwrap();
        assert_eq!(
            (r.mailbox.as_str(), r.uidvalidity, r.uid),
            ("INBOX", None, 3)
        );
        for bad in [
            "INBOX/;UID=3",
            "/INBOX",
            "/INBOX/;UID=0",
            "/INBOX/;UID=3/;URLAUTH=x",
            "/%ZZ/;UID=1",
            "/INBOX;FOO=1/;UID=1",
            "imap://host",
        ] {
            assert_eq!(ImapUrl::parse(bad), None, "{bad}");
        }
    }
}
