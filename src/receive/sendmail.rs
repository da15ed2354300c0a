//! Local submission (`postern sendmail`): turning a message from standard input into spool bytes.

/// A message made ready for the spool.
pub struct Prepared {
    /// CRLF line ends, Bcc removed, Date/Message-ID added when missing.
    pub bytes: Vec<u8>,
    /// The original header section (for `-t` recipient extraction, Bcc included).
    pub headers_for_rcpts: Vec<u8>,
}

/// Normalise line ends to CRLF, stop at a lone `.` line unless `ignore_dots`, drop Bcc, and add
/// the Date and Message-ID headers a message must have when it has none.
///
/// Standard input is LF-terminated text: every bare LF — and every bare CR, which is a line end
/// too — becomes CRLF before anything else, as every MTA does with local submissions (refusing
/// them would refuse every Unix mail program). Nothing stored can then carry a bare line end.
pub fn prepare(raw: &[u8], ignore_dots: bool, hostname: &str) -> Prepared {
    let raw = crate::proto::smtp::lineends::canonical(raw);
    let mut lines: Vec<&[u8]> = Vec::new();
    for line in raw.split_inclusive(|&b| b == b'\n') {
        let content = line
            .strip_suffix(b"\n")
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
            .unwrap_or(line);
        if !ignore_dots && content == b"." {
            break;
        }
        lines.push(content);
    }
    let split = lines
        .iter()
        .position(|l| l.is_empty())
        .unwrap_or(lines.len());
    let (headers, body) = lines.split_at(split);
    let mut out = Vec::with_capacity(raw.len() + 256);
    let mut original = Vec::new();
    let mut has_date = false;
    let mut has_msgid = false;
    let mut in_bcc = false;
    for h in headers {
        original.extend_from_slice(h);
        original.extend_from_slice(b"\r\n");
        let continuation = h.first().is_some_and(|b| *b == b' ' || *b == b'\t');
        if !continuation {
            let name = h.split(|&b| b == b':').next().unwrap_or(b"");
            in_bcc = name.eq_ignore_ascii_case(b"bcc");
            has_date |= name.eq_ignore_ascii_case(b"date");
            has_msgid |= name.eq_ignore_ascii_case(b"message-id");
        }
        if !in_bcc {
            out.extend_from_slice(h);
            out.extend_from_slice(b"\r\n");
        }
    }
    let now = crate::queue::spool::now();
    if !has_date {
        out.extend_from_slice(
            format!("Date: {}\r\n", crate::proto::mail::date::rfc5322_date(now)).as_bytes(),
        );
    }
    if !has_msgid {
        let id = crate::queue::spool::QueueId::generate();
        out.extend_from_slice(format!("Message-ID: <{id}@{hostname}>\r\n").as_bytes());
    }
    for l in body {
        out.extend_from_slice(l);
        out.extend_from_slice(b"\r\n");
    }
    Prepared {
        bytes: out,
        headers_for_rcpts: original,
    }
}

/// Addresses in the To, Cc and Bcc headers.
pub fn header_recipients(headers: &[u8]) -> Vec<String> {
    let Ok((parsed, _)) = mailparse::parse_headers(headers) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for h in parsed.iter() {
        let key = h.get_key().to_ascii_lowercase();
        if !matches!(key.as_str(), "to" | "cc" | "bcc") {
            continue;
        }
        if let Ok(list) = mailparse::addrparse_header(h) {
            for addr in list.iter() {
                match addr {
                    mailparse::MailAddr::Single(s) => out.push(s.addr.clone()),
                    mailparse::MailAddr::Group(g) => {
                        out.extend(g.addrs.iter().map(|s| s.addr.clone()))
                    }
                }
            }
        }
    }
    out
}

/// A bare local name gets the server's domain: `root` → `root@mail.example.test`.
pub fn qualify(addr: &str, hostname: &str) -> String {
    if addr.is_empty() || addr.contains('@') {
        addr.to_string()
    } else {
        format!("{addr}@{hostname}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepares_local_submissions() {
        let p = prepare(
            b"To: a@x.test\nBcc: secret@x.test,\n  other@x.test\nSubject: s\n\nbody\n.\nafter\n",
            false,
            "h.test",
        );
        let text = String::from_utf8(p.bytes).expect("utf8");
        assert!(
            text.starts_with("To: a@x.test\r\nSubject: s\r\nDate: "),
            "{text}"
        );
        assert!(text.contains("Message-ID: <"));
        assert!(text.ends_with("\r\n\r\nbody\r\n"));
        assert!(!text.contains("secret"));
        let mut rcpts = header_recipients(&p.headers_for_rcpts);
        rcpts.sort();
        assert_eq!(rcpts, ["a@x.test", "other@x.test", "secret@x.test"]);
        let p = prepare(b"Subject: s\n\n.\nmore\n", true, "h.test");
        assert!(p.bytes.ends_with(b"\r\n\r\n.\r\nmore\r\n"));
        // Bare CR is a line end too; nothing bare is left.
        let p = prepare(
            b"Subject: s\rBcc: hidden@x.test\n\na\r.\rb\r\n",
            true,
            "h.test",
        );
        assert!(crate::proto::smtp::lineends::is_canonical(&p.bytes));
        assert!(!String::from_utf8_lossy(&p.bytes).contains("hidden"));
        assert!(p.bytes.ends_with(b"\r\n\r\na\r\n.\r\nb\r\n"));
        assert_eq!(qualify("root", "h.test"), "root@h.test");
        assert_eq!(qualify("a@b.test", "h.test"), "a@b.test");
    }
}
